// The commands of `mvsr`. Each parses its flags and calls the library; no logic a library user
// would also want lives here.
import { serveCmd } from './serve.js';
import { existsSync, statSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { parse, intFlag, jsonArgs, backendFlag, shellQuote, type Command } from './args.js';
import { MODEL_FLAGS, EVAL_FLAGS, EVAL_VIDEO_FLAGS, EXPORT_FLAGS } from './flags.js';
import { Progress } from './progress.js';
import { initEngine } from '../tensor/engine.js';
import { readImage, writePngStream } from '../io/image.node.js';
import { openVideo, createVideoWriter, VIDEO_EXTENSIONS } from '../io/video.node.js';
import { saveSafetensorsFile } from '../io/weights.node.js';
import { encodeModelMetadata } from '../io/weights.js';
import { resolveModel, resolveAnyModel, resolveGraph, loadModelFile, archByName, scaleArg } from '../api/models.node.js';
import { VideoUpscaler } from '../api/video.js';
import { type FrameRow } from '../eval/video.js';
import { evaluateFolder, evaluateClips } from '../eval/files.node.js';
import { listImages } from '../data/sources.node.js';
import { listClips } from '../data/clips.node.js';
import { runDemo } from '../api/demo.node.js';
import { listShippedModels, shippedWeightsDir, findShippedModel } from '../api/shipped.node.js';
import { Upscaler } from '../api/upscaler.js';
import { type EvalRow } from '../eval/image.js';
import { listArchs, getArch, createAnyModel, type SRModel } from '../models/registry.js';
import { officialCheckpointSpec } from '../models/official.js';
import { isVideoModel, type VideoSRModel } from '../models/vsr.js';
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { leaf, noGrad, clearTape } from '../autograd/var.js';
import { loadTrainConfig } from '../train/config.node.js';
import { train } from '../train/trainer.node.js';
import { lineageOf, teachersOf } from '../train/lineage.js';
import { plotTrainingLog } from '../bench/plot.js';
import { toGraph, stepGraph, deployModel } from '../models/registry.js';
import { profileGraph } from '../graph/profile.js';
import { hostAlignment } from '../graph/host-align.js';
import { writeOnnxFile, writeTfliteFile, writeFileAtomic } from '../export/write.node.js';
import { queueCmd, workerCmd } from './queue.js';
import { quantizeCmd } from './quantize.js';
import { compressCmd } from './compress.js';
import { loadGraphFile } from '../api/graph-file.node.js';
import type { Graph } from '../graph/ir.js';
import { TFLITE_IO, type TfliteIo } from '../export/tflite.js';
import { makeDirs } from '../io/files.node.js';


const out = (s: string) => process.stdout.write(s + '\n');
const err = (s: string) => process.stderr.write(s + '\n');


const MODEL_HELP = `  -m, --model <m>     a weights file (.safetensors with its arch in the metadata, or .pth with --arch) or "bicubic"
      --arch <A>      architecture for .pth files (${listArchs().join(', ')})
      --args <a>      architecture arguments: JSON or key=value,key=value (e.g. num_block=5,num_feat=16)
  -s, --scale <n>     upscaling factor (checked against the model)
  -t, --threads <n>   worker threads (default: all cores)
  -b, --backend <b>   runtime backend of the deploy graph: wasm (mvsr's engine, default), ort
                      (onnxruntime-node on the exported ONNX), tflite / tflite-fp16 (LiteRT.js on the
                      exported .tflite, float32 or float16 weights: measures the file a phone would
                      get), webgpu (WGSL on the GPU through the webgpu package) or auto (times the
                      float ones but webgpu, keeps the fastest); ort, tflite and webgpu need their npm
                      package installed`;


async function modelFromFlags(cmd: string, v: Record<string, string | boolean | undefined>): Promise<SRModel>;
async function modelFromFlags(cmd: string, v: Record<string, string | boolean | undefined>, video: true): Promise<SRModel | VideoSRModel>;
async function modelFromFlags(cmd: string, v: Record<string, string | boolean | undefined>, video = false): Promise<SRModel | VideoSRModel> {
  if (typeof v.model !== 'string') throw new Error(`mvsr ${cmd}: --model is required (see "mvsr ${cmd} --help")`);
  await initEngine({ threads: intFlag(cmd, v.threads, 'threads') });
  const scale = intFlag(cmd, v.scale, 'scale');
  const req = { arch: typeof v.arch === 'string' ? v.arch : undefined, args: jsonArgs(cmd, v.args), scale };
  const model = video ? resolveAnyModel(v.model, req) : resolveModel(v.model, req);
  if (scale !== undefined && model.scale !== scale) {
    model.dispose();
    throw new Error(`mvsr ${cmd}: ${v.model} upscales x${model.scale}, not x${scale}`);
  }
  return model;
}

/** --model as a zoo model, or a graph file (mvsr quantize's int8 models, mvsr compress's pruned or clustered ones). */
async function runnableFromFlags(cmd: string, v: Record<string, string | boolean | undefined>): Promise<{ model: SRModel | Graph; arch: string; scale: number; args: Record<string, unknown>; dispose(): void }>;
async function runnableFromFlags(cmd: string, v: Record<string, string | boolean | undefined>, video: true): Promise<{ model: SRModel | VideoSRModel | Graph; arch: string; scale: number; args: Record<string, unknown>; dispose(): void }>;
async function runnableFromFlags(cmd: string, v: Record<string, string | boolean | undefined>, video = false): Promise<{ model: SRModel | VideoSRModel | Graph; arch: string; scale: number; args: Record<string, unknown>; dispose(): void }> {
  const q = typeof v.model === 'string' && existsSync(v.model) ? loadGraphFile(v.model) : null;
  if (!q) {
    const m = video ? await modelFromFlags(cmd, v, true) : await modelFromFlags(cmd, v);
    return { model: m, arch: m.arch, scale: m.scale, args: m.args, dispose: () => m.dispose() };
  }
  if (q.meta.video && !video) throw new Error(`mvsr ${cmd}: ${v.model} is a video step graph; mvsr ${cmd} takes image models (export it with "mvsr export")`);
  const scale = intFlag(cmd, v.scale, 'scale');
  if (scale !== undefined && scale !== q.meta.scale) throw new Error(`mvsr ${cmd}: ${v.model} upscales x${q.meta.scale}, not x${scale}`);
  await initEngine({ threads: intFlag(cmd, v.threads, 'threads') });
  const int8 = 'quant' in q;
  return { model: q, arch: `${q.meta.arch}${int8 ? ' int8' : ''}`, scale: q.meta.scale, args: q.meta.args, dispose: () => {} };
}

// ---- upscale --------------------------------------------------------------------------------

const VIDEO_EXT = VIDEO_EXTENSIONS;

/** A video through the upscaler frame by frame: constant memory, audio and frame rate carried. */
async function upscaleVideo(input: string, output: string, v: Record<string, string | boolean | undefined>): Promise<number> {
  if (!VIDEO_EXT.has(extname(output).toLowerCase())) {
    throw new Error(`mvsr upscale: ${output}: a video needs a video output (.mp4, .mkv, .webm, .y4m)`);
  }
  const video = await openVideo(input);
  const model = await modelFromFlags('upscale', v, true);
  const up = new VideoUpscaler(model, { tile: intFlag('upscale', v.tile, 'tile'), halo: intFlag('upscale', v.halo, 'halo', 0), backend: backendFlag('upscale', v.backend) });
  const { width, height, fps } = video.info;
  const ac = new AbortController();
  const onSignal = () => ac.abort(new Error('mvsr upscale: interrupted; no partial output was left'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const writer = await createVideoWriter(output, { width: width * up.scale, height: height * up.scale, fps }, { audioFrom: video.info.hasAudio ? input : undefined, signal: ac.signal });
  const bar = new Progress(basename(input), video.info.frames ?? 0, ' frames');
  const t0 = performance.now();
  let n = 0;
  const write = async (frames: Awaited<ReturnType<VideoUpscaler['push']>>) => {
    for (const f of frames) {
      await writer.write(f);
      bar.update(++n);
    }
    up.recycle(frames); // written (the writers are done with a frame when write resolves)
  };
  try {
    for await (const frame of video.frames({ signal: ac.signal })) await write(await up.push(frame, { signal: ac.signal }));
    await write(await up.flush({ signal: ac.signal }));
    if (ac.signal.aborted) throw ac.signal.reason;
    await writer.close();
  } catch (e) {
    await writer.abort();
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await up.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const maxRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  const result = { input, output, frames: n, width: width * up.scale, height: height * up.scale, fps, seconds, framesPerSecond: n / seconds, audio: writer.carriesAudio ?? false, maxRssMiB };
  if (v.json) out(JSON.stringify(result, null, 2));
  else err(`${input} (${width}x${height}, ${n} frames) -> ${output} (${result.width}x${result.height}) in ${seconds.toFixed(1)} s, ${(n / seconds).toFixed(2)} fps${result.audio ? ', audio carried' : ''}; peak memory ${maxRssMiB} MiB`);
  return 0;
}

const upscale: Command = {
  summary: 'upscale images (files or a folder) with an SR model',
  help: `usage: mvsr upscale <input>... -o <output> --model <m> [options]

Inputs are PNG, JPEG or WebP files, or one folder of them, or one video (.y4m natively;
.mp4/.mkv/.webm/.avi/.mov through ffmpeg), upscaled frame by frame with its frame rate and
audio carried to the output video (.mp4, .mkv, .webm or .y4m). A single input goes to the output
file (PNG), several inputs or a folder go into the output folder as <name>.png. Large images
are processed in overlapping tiles with a seamless result; alpha is upscaled with bicubic;
grey and 16-bit images keep their format. Output is written to a temporary name and renamed
when complete.

options:
  -o, --output <path> output file (.png) or folder
${MODEL_HELP}
      --tile <n>      tile edge in input pixels (default 256)
      --halo <n>      context pixels around each tile (default 16)
      --json          print one JSON document with the results on stdout`,
  async run(argv) {
    const { values: v, positionals } = parse('upscale', argv, {
      ...MODEL_FLAGS, output: { type: 'string', short: 'o' }, tile: { type: 'string' }, halo: { type: 'string' }, json: { type: 'boolean' },
    });
    if (!positionals.length) throw new Error('mvsr upscale: no input given (see "mvsr upscale --help")');
    if (typeof v.output !== 'string') throw new Error('mvsr upscale: --output is required');
    for (const p of positionals) if (!existsSync(p)) throw new Error(`mvsr: ${p}: no such file or folder`);
    if (positionals.length === 1 && VIDEO_EXT.has(extname(positionals[0]!).toLowerCase())) {
      return upscaleVideo(positionals[0]!, v.output, v);
    }
    const folderIn = positionals.length === 1 && statSync(positionals[0]!).isDirectory();
    const inputs = folderIn ? await listImages(positionals[0]!) : positionals;
    if (!inputs.length) throw new Error(`mvsr upscale: no PNG/JPEG/WebP images in ${positionals[0]}`);
    const toFolder = folderIn || inputs.length > 1 || (existsSync(v.output) && statSync(v.output).isDirectory()) || v.output.endsWith('/');
    if (!toFolder && extname(v.output).toLowerCase() !== '.png') {
      throw new Error(`mvsr upscale: ${v.output}: only PNG output is supported (name the output .png)`);
    }
    if (toFolder) makeDirs(v.output);
    const backend = backendFlag('upscale', v.backend);
    const model = await runnableFromFlags('upscale', v);
    const modelInfo = { arch: model.arch, scale: model.scale, args: model.args };
    const up = new Upscaler(model.model, { tile: intFlag('upscale', v.tile, 'tile'), halo: intFlag('upscale', v.halo, 'halo', 0), backend });
    const ac = new AbortController();
    const onSignal = () => ac.abort(new Error('mvsr upscale: interrupted; no partial output was left'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const results: { input: string; output: string; width: number; height: number; seconds: number }[] = [];
    try {
      for (const [i, file] of inputs.entries()) {
        const img = await readImage(file);
        const target = toFolder ? join(v.output, basename(file, extname(file)) + '.png') : v.output;
        const info = up.outputInfo(img);
        const label = inputs.length > 1 ? `[${i + 1}/${inputs.length}] ${basename(file)}` : basename(file);
        const bar = new Progress(label, 1, ' tiles');
        const t0 = performance.now();
        const rows = (async function* () {
          for await (const b of up.upscaleRows(img, { signal: ac.signal, onProgress: (d, t) => { bar.setTotal(t); bar.update(d); } })) yield b.data;
        })();
        await writePngStream(target, info.width, info.height, info.channels, info.bitDepth, rows);
        const seconds = (performance.now() - t0) / 1000;
        results.push({ input: file, output: target, width: info.width, height: info.height, seconds });
        if (!v.json) err(`${file} (${img.width}x${img.height}) -> ${target} (${info.width}x${info.height}) in ${seconds.toFixed(2)} s`);
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await up.dispose();
    }
    const maxRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
    if (v.json) out(JSON.stringify({ model: modelInfo, backend: (await up.backend()).name, results, maxRssMiB }, null, 2));
    else err(`peak memory (RSS): ${maxRssMiB} MiB`);
    return 0;
  },
};

// ---- eval -----------------------------------------------------------------------------------

const evalCmd: Command = {
  summary: 'PSNR/SSIM of a model on a folder of HR images, the way papers measure it',
  help: `usage: mvsr eval --model <m> --data <folder> [options]

Each HR image is cropped to a multiple of --mod, its LR made by MATLAB bicubic imresize (uint8),
upscaled, rounded to uint8 and compared with the HR: PSNR and SSIM on Y (BT.601, as BasicSR) or
RGB, with a border of --crop pixels removed. Defaults match BasicSR and the published tables.

options:
      --data <folder> folder of HR images (PNG/JPEG/WebP; sub-folders searched, as training does)
${MODEL_HELP}
      --y             metrics on the Y channel (default)
      --rgb           metrics on RGB
      --y-uint8       Y rounded to 8 bits first, as MATLAB's rgb2ycbcr on uint8 images (the
                      protocol of RCAN's Evaluate_PSNR_SSIM.m, which IMDN's published table uses)
      --crop <n>      border pixels cropped before the metrics (default: scale)
      --mod <n>       crop the HR to a multiple of n (default 12)
      --json          print one JSON document on stdout`,
  async run(argv) {
    const { values: v } = parse('eval', argv, EVAL_FLAGS);
    if (typeof v.data !== 'string') throw new Error('mvsr eval: --data is required');
    if (v.y && v.rgb) throw new Error('mvsr eval: choose one of --y and --rgb');
    if (v['y-uint8'] && v.rgb) throw new Error('mvsr eval: --y-uint8 measures Y; it does not go with --rgb');
    if (!existsSync(v.data) || !statSync(v.data).isDirectory()) throw new Error(`mvsr: ${v.data}: not a folder`);
    const backend = backendFlag('eval', v.backend);
    const model = await runnableFromFlags('eval', v);
    const bar = new Progress('eval', 0, ' img');
    try {
      const r = await evaluateFolder(
        model.model, v.data,
        { scale: model.scale, testY: !v.rgb, yUint8: v['y-uint8'] === true, cropBorder: intFlag('eval', v.crop, 'crop', 0), modCrop: intFlag('eval', v.mod, 'mod'), backend },
        (_row: EvalRow, done: number, n: number) => { bar.setTotal(n); bar.update(done); },
      );
      if (v.json) {
        out(JSON.stringify({ model: { arch: model.arch, scale: model.scale, args: model.args, source: v.model }, data: v.data, ...r }, null, 2));
        return 0;
      }
      const w = Math.max(5, ...r.rows.map((x) => x.name.length));
      out(`model ${v.model} (${model.arch} x${model.scale}), ${r.protocol.testY ? (r.protocol.yUint8 ? 'Y (8-bit)' : 'Y') : 'RGB'}, crop ${r.protocol.cropBorder}, HR mod ${r.protocol.modCrop}, LR: ${r.protocol.lr}`);
      out(`${'image'.padEnd(w)}  ${'size'.padStart(9)}  ${'PSNR'.padStart(7)}  ${'SSIM'.padStart(6)}`);
      for (const x of r.rows) out(`${x.name.padEnd(w)}  ${`${x.width}x${x.height}`.padStart(9)}  ${x.psnr.toFixed(3).padStart(7)}  ${x.ssim.toFixed(4)}`);
      out(`${'mean'.padEnd(w)}  ${''.padStart(9)}  ${r.psnr.toFixed(3).padStart(7)}  ${r.ssim.toFixed(4)}`);
      return 0;
    } finally {
      model.dispose();
    }
  },
};

// ---- eval-video ------------------------------------------------------------------------------

const evalVideoCmd: Command = {
  summary: 'per-frame and per-clip PSNR/SSIM and temporal consistency of a model on video clips',
  help: `usage: mvsr eval-video --model <m> --data <clips> [options]

Every frame of every clip (first and last included) is mod-cropped, its LR made by MATLAB bicubic
imresize, upscaled by a VideoUpscaler (recurrent models start each clip from an empty state and
see only the look-ahead they declare) and compared with the HR frame: PSNR and SSIM on Y (BT.601,
BasicSR) and RGB with --crop pixels removed. Per clip: the means and tPSNR, the PSNR of the
output's frame-to-frame change against the ground truth's (Y). The overall figures are means over
clips. Image models run frame by frame.

options:
      --data <path>   a video file, a folder of frames, or a root of clips (Vimeo-90K, REDS, video files)
      --clips <globs> only clips whose name matches (comma-separated, e.g. "00001_*")
      --exclude <globs> leave these clips out
${MODEL_HELP}
      --crop <n>      border pixels cropped before the metrics (default: scale)
      --mod <n>       crop HR frames to a multiple of n (default: scale)
      --restart-every <n> restart the model every n frames of a clip (empty state, no frames across
                      the cut); 1 = every frame alone: the gain of a video model from other frames
                      is its figure without this flag minus its figure with --restart-every 1
      --frames        print every frame's figures too
      --by-position   print PSNR-Y / SSIM-Y by position in the clip (frame 1, 2, ... averaged over
                      the clips that have it; always in --json as byPosition): how a recurrent
                      model warms up, or how a clip set changes along its frames
      --json          print one JSON document on stdout (per-frame rows included)`,
  async run(argv) {
    const { values: v } = parse('eval-video', argv, EVAL_VIDEO_FLAGS);
    if (typeof v.data !== 'string') throw new Error('mvsr eval-video: --data is required');
    const list = (x: unknown) => (typeof x === 'string' ? x.split(',').map((g) => g.trim()).filter(Boolean) : undefined);
    const backend = backendFlag('eval-video', v.backend);
    const clips = await listClips(v.data, { include: list(v.clips), exclude: list(v.exclude) });
    const model = await runnableFromFlags('eval-video', v, true);
    const bar = new Progress('eval-video', 0, ' frames');
    let done = 0;
    try {
      const r = await evaluateClips(
        model.model, clips,
        { scale: model.scale, cropBorder: intFlag('eval-video', v.crop, 'crop', 0), modCrop: intFlag('eval-video', v.mod, 'mod'), restartEvery: intFlag('eval-video', v['restart-every'], 'restart-every'), backend },
        (_clip: string, _f: number, _row: FrameRow) => bar.update(++done),
      );
      if (v.json) {
        out(JSON.stringify({ model: { arch: model.arch, scale: model.scale, args: model.args, source: v.model }, data: v.data, ...r }, null, 2));
        return 0;
      }
      const w = Math.max(6, ...r.clips.map((x) => x.name.length));
      const p = r.protocol;
      out(`model ${v.model} (${model.arch} x${model.scale}), ${r.clips.length} clips, ${r.frames} frames, crop ${p.cropBorder}, HR mod ${p.modCrop}, LR: ${p.lr}${p.restart ? `; ${p.restart}` : ''}`);
      out(`${'clip'.padEnd(w)}  ${'frames'.padStart(6)}  ${'PSNR-Y'.padStart(7)}  ${'SSIM-Y'.padStart(6)}  ${'PSNR'.padStart(7)}  ${'SSIM'.padStart(6)}  ${'tPSNR-Y'.padStart(7)}`);
      const t = (x: number | null) => (x === null ? '-' : x.toFixed(3)).padStart(7);
      for (const c of r.clips) {
        out(`${c.name.padEnd(w)}  ${String(c.frames.length).padStart(6)}  ${c.psnrY.toFixed(3).padStart(7)}  ${c.ssimY.toFixed(4)}  ${c.psnrRGB.toFixed(3).padStart(7)}  ${c.ssimRGB.toFixed(4)}  ${t(c.tPsnrY)}`);
        if (v.frames) for (const f of c.frames) out(`${`  #${f.frame}`.padEnd(w)}  ${''.padStart(6)}  ${f.psnrY.toFixed(3).padStart(7)}  ${f.ssimY.toFixed(4)}  ${f.psnrRGB.toFixed(3).padStart(7)}  ${f.ssimRGB.toFixed(4)}`);
      }
      out(`${'mean'.padEnd(w)}  ${String(r.frames).padStart(6)}  ${r.psnrY.toFixed(3).padStart(7)}  ${r.ssimY.toFixed(4)}  ${r.psnrRGB.toFixed(3).padStart(7)}  ${r.ssimRGB.toFixed(4)}  ${t(r.tPsnrY)}`);
      if (v['by-position']) {
        out('by position in the clip (mean over the clips that reach it):');
        out(`${'frame'.padStart(6)}  ${'clips'.padStart(5)}  ${'PSNR-Y'.padStart(7)}  ${'SSIM-Y'.padStart(6)}`);
        for (const q of r.byPosition) out(`${String(q.frame + 1).padStart(6)}  ${String(q.clips).padStart(5)}  ${q.psnrY.toFixed(3).padStart(7)}  ${q.ssimY.toFixed(4)}`);
      }
      return 0;
    } finally {
      model.dispose();
    }
  },
};

// ---- demo ------------------------------------------------------------------------------------

const demoCmd: Command = {
  summary: 'the whole job on the bundled sample clip: upscale, compare with bicubic, write videos',
  help: `usage: mvsr demo [--out <folder>] [--model <m>] [--input <video>] [--frames <n>] [--format mp4|y4m] [--json]

Takes HR frames (by default mvsr's own procedurally rendered sample clip, 640x360, 48 frames; or
--input <video>), makes their LR by MATLAB bicubic (x the model's scale), upscales them with a
shipped model through the streaming VideoUpscaler and with plain bicubic, and prints PSNR/SSIM
(Y, crop = scale) of both against the HR and the model's frames per second. Writes into --out
(default ./mvsr-demo): input-lr.y4m, output.<fmt> and side-by-side.<fmt> (bicubic | model). The
format is mp4 when ffmpeg is installed and y4m (no dependency) otherwise.

options:
  -o, --out <folder>  where the videos go (default mvsr-demo)
  -m, --model <m>     a weights file or shipped model (default: etds-t-kd-vapsr-x4; mobilerrn-x4 is the recurrent one)
      --input <video> an HR video (file or frame folder) instead of the bundled sample
      --frames <n>    frames to use (default 48 for the sample, all for --input)
      --format <f>    mp4 (needs ffmpeg) or y4m
  -t, --threads <n>   worker threads (default: all cores)
  -b, --backend <b>   runtime backend: wasm (default), ort (onnxruntime-node), tflite (LiteRT.js), webgpu or auto
      --json          print one JSON document on stdout`,
  async run(argv) {
    const { values: v } = parse('demo', argv, {
      out: { type: 'string', short: 'o' }, model: { type: 'string', short: 'm' }, input: { type: 'string' }, backend: { type: 'string', short: 'b' },
      frames: { type: 'string' }, format: { type: 'string' }, threads: { type: 'string', short: 't' }, json: { type: 'boolean' },
    });
    const backend = backendFlag('demo', v.backend);
    if (v.format !== undefined && v.format !== 'mp4' && v.format !== 'y4m') throw new Error(`mvsr demo: --format must be mp4 or y4m, got "${v.format}"`);
    await initEngine({ threads: intFlag('demo', v.threads, 'threads') });
    const ac = new AbortController();
    const onSignal = () => ac.abort(new Error('mvsr demo: interrupted; no partial output was left'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const bar = new Progress('demo', 0, ' frames');
    try {
      const r = await runDemo({
        outDir: typeof v.out === 'string' ? v.out : 'mvsr-demo',
        model: typeof v.model === 'string' ? v.model : undefined,
        input: typeof v.input === 'string' ? v.input : undefined,
        frames: intFlag('demo', v.frames, 'frames'),
        format: v.format as 'mp4' | 'y4m' | undefined,
        backend,
        signal: ac.signal,
        onFrame: (d, t) => { if (t) bar.setTotal(t); bar.update(d); },
      });
      if (v.json) {
        out(JSON.stringify(r, null, 2));
        return 0;
      }
      err('');
      out(`${r.source}: ${r.frames} frames, ${r.lr.width}x${r.lr.height} -> ${r.hr.width}x${r.hr.height} (x${r.model.scale})`);
      out(`model ${r.model.name} (${r.model.arch}, ${r.model.params} parameters): ${r.modelFps.toFixed(1)} frames/s on this machine (${(1000 / r.modelFps).toFixed(1)} ms per frame)`);
      out(`                     PSNR-Y   SSIM-Y   (against the HR frames, crop ${r.model.scale})`);
      out(`  bicubic            ${r.bicubic.psnrY.toFixed(3).padStart(7)}   ${r.bicubic.ssimY.toFixed(4)}`);
      out(`  ${r.model.name.padEnd(18)} ${r.sr.psnrY.toFixed(3).padStart(7)}   ${r.sr.ssimY.toFixed(4)}   (${(r.sr.psnrY - r.bicubic.psnrY >= 0 ? '+' : '')}${(r.sr.psnrY - r.bicubic.psnrY).toFixed(2)} dB)`);
      out(`wrote ${r.files.input}, ${r.files.output}, ${r.files.sideBySide} (bicubic | ${r.model.name}) in ${r.seconds.toFixed(1)} s${r.format === 'y4m' && !r.ffmpeg ? '; Y4M because ffmpeg was not found (play with mpv, vlc or ffplay; apt-get install -y ffmpeg for MP4)' : ''}`);
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

// ---- convert-weights -------------------------------------------------------------------------

const convertWeights: Command = {
  summary: 'convert a checkpoint (.pth or .safetensors) into a self-describing mvsr .safetensors model',
  help: `usage: mvsr convert-weights <in.pth|in.safetensors> <out.safetensors> [--arch A] [options]

The weights are checked against the architecture (every name and shape must fit) and written
with the architecture, its arguments, the scale and the source's SHA-256 in the metadata, so
the output alone is a usable model. The architecture is inferred from official ETDS-repository
file names (e.g. ETDS_M5C16_x4.pth, IMDN_x4.pth, team39_imdn_plus.pth) when --arch is not given.

options:
      --arch <A>        ${listArchs().join(', ')}
      --blocks <n>      num_block
      --channels <n>    num_feat
  -s, --scale <n>       upscaling factor
      --args <a>        any other arguments: JSON or key=value,key=value`,
  async run(argv) {
    const { values: v, positionals } = parse('convert-weights', argv, {
      arch: { type: 'string' }, blocks: { type: 'string' }, channels: { type: 'string' }, scale: { type: 'string', short: 's' }, args: { type: 'string' },
    });
    const [src, dst] = positionals;
    if (!src || !dst || positionals.length > 2) throw new Error('mvsr convert-weights: give an input and an output file (see --help)');
    if (extname(dst).toLowerCase() !== '.safetensors') throw new Error(`mvsr convert-weights: ${dst}: the output must be a .safetensors file`);
    if (!existsSync(src)) throw new Error(`mvsr: ${src}: no such file`);
    const inferred = officialCheckpointSpec(src);
    const arch = typeof v.arch === 'string' ? archByName(v.arch) ?? v.arch : inferred?.arch;
    if (!arch) throw new Error(`mvsr convert-weights: cannot infer the architecture from "${basename(src)}": pass --arch (${listArchs().join(', ')})`);
    const args: Record<string, unknown> = { ...(!v.arch || inferred?.arch === arch ? inferred?.args : {}), ...(jsonArgs('convert-weights', v.args) ?? {}) };
    const blocks = intFlag('convert-weights', v.blocks, 'blocks'), channels = intFlag('convert-weights', v.channels, 'channels');
    if (blocks !== undefined) args.num_block = blocks;
    if (channels !== undefined) args.num_feat = channels;
    await initEngine({ threads: 1 });
    const model = loadModelFile(src, { arch, args, scale: intFlag('convert-weights', v.scale, 'scale') });
    try {
      const sha = createHash('sha256').update(readFileSync(src)).digest('hex');
      const meta = encodeModelMetadata({
        arch: model.arch, args: model.args, scale: model.scale,
        provenance: { source: basename(src), source_sha256: sha, created: new Date().toISOString(), mvsr_version: '0.1.0' },
      });
      saveSafetensorsFile(dst, model.stateDict(), meta);
      err(`${src} -> ${dst}: ${model.arch} ${JSON.stringify(model.args)}, x${model.scale}, ${model.numParameters()} parameters`);
    } finally {
      model.dispose();
    }
    return 0;
  },
};

// ---- models ----------------------------------------------------------------------------------

const models: Command = {
  summary: 'list the models mvsr ships and the architectures of the zoo',
  help: `usage: mvsr models [--json]

Lists the trained models that ship in the package's weights/ folder (usable by name:
--model <name>) and every architecture of the zoo (usable with a weights file), with scale,
kind and parameter count.`,
  async run(argv) {
    const { values: v } = parse('models', argv, { json: { type: 'boolean' } });
    await initEngine({ threads: 1 });
    const shipped = listShippedModels().map((m) => {
      // every mvsr run behind the file, its own last: a fine-tune of a fine-tune states its whole training
      const lineage = lineageOf(m.file, m.metadata);
      return {
      name: m.name, arch: m.arch, scale: m.scale, kind: archByName(m.arch) ? getArch(archByName(m.arch)!).kind : '?', params: m.params, weightsShipped: true,
      trained: {
        iterations: m.metadata.iterations ?? null, total_iter: m.metadata.total_iter ?? null, snapshot: m.metadata.snapshot === 'true',
        data: m.metadata.data ?? null, val_psnr: m.metadata.val_psnr ?? null, set5_psnr: m.metadata.set5_psnr ?? null,
        vimeo00001_psnr_y: m.metadata.vimeo00001_psnr_y ?? null, distilled_from: m.metadata.distilled_from ?? null,
        lineage, total_iterations: lineage.reduce((a, l) => a + (Number(l.iterations) || 0), 0) || null,
        teachers: teachersOf(m.file, m.metadata, lineage),
      },
      };
    });
    const archs = listArchs().map((a) => {
      const m = createAnyModel(a, {});
      const r = { name: a, arch: a, scale: m.scale, kind: getArch(a).kind, params: m.numParameters(), weightsShipped: false, defaults: getArch(a).defaults };
      m.dispose();
      return r;
    });
    if (v.json) {
      out(JSON.stringify({ shipped, architectures: archs }, null, 2));
      return 0;
    }
    out(`shipped models (${shippedWeightsDir()}):`);
    if (!shipped.length) out('  none yet');
    const w = Math.max(18, ...shipped.map((r) => r.name.length));
    for (const r of shipped) {
      const t = r.trained;
      const its = t.iterations ? `, ${t.iterations}${t.snapshot && t.total_iter ? ` of ${t.total_iter}` : ''} iterations${t.snapshot ? ' (snapshot of an unfinished run)' : ''}` : '';
      const quality = t.set5_psnr ? `, Set5 ${t.set5_psnr} dB` : t.vimeo00001_psnr_y ? `, Vimeo 00001 ${t.vimeo00001_psnr_y} dB` : '';
      const runs = t.lineage.length > 1 ? ` (${t.total_iterations} over ${t.lineage.length} runs)` : '';
      const teacher = t.teachers.length ? `, distilled from ${t.teachers.join(', then ')}` : '';
      out(`  ${r.name.padEnd(w)} ${r.arch.padEnd(18)} x${r.scale}  ${String(r.params).padStart(8)} params${its}${runs}${quality}${teacher}`);
    }
    out('');
    out(`${'architecture'.padEnd(18)} ${'kind'.padEnd(6)} ${'scale'.padStart(5)} ${'params'.padStart(8)}  defaults`);
    for (const r of archs) out(`${r.arch.padEnd(18)} ${r.kind.padEnd(6)} ${String(r.scale).padStart(5)} ${String(r.params).padStart(8)}  ${JSON.stringify(r.defaults)}`);
    return 0;
  },
};

// ---- train ------------------------------------------------------------------------------------

const trainCmd: Command = {
  summary: 'train an SR model from a BasicSR-style YAML config (resumable)',
  help: `usage: mvsr train <config.yml> [options] [key.path=value ...]

Trains the config's network_g on its datasets: random LR patches (MATLAB-bicubic LR made once per
image and cached), flips/rotations, Adam(W) with the config's schedule, EMA, validation every
val_freq iterations, a JSONL log and atomic checkpoints in the run directory
(<experiments_root>/<name>). A run stopped by Ctrl-C, --max-minutes or a crash continues exactly
where its last checkpoint left it with --resume. key.path=value arguments override config keys
(e.g. train.total_iter=2000 datasets.train.batch_size_per_gpu=8).

options:
      --resume          continue the run from its checkpoint
      --max-minutes <n> stop cleanly, with a checkpoint, after n minutes
      --init <file|run> initialise the weights from another model (fine-tuning): a model file, or a
                        run directory, whose checkpoint holds the training form (ECBSR, ETDS);
                        a conv with more input channels than the source's is widened with zero
                        weights (an ECBSRT into RECBSR starts as that image model)
      --run-dir <dir>   run directory (default <experiments_root>/<name>)
  -t, --threads <n>     worker threads (default: all cores)
      --json            print the result as one JSON document on stdout`,
  async run(argv) {
    const { values: v, positionals } = parse('train', argv, {
      resume: { type: 'boolean' }, 'max-minutes': { type: 'string' }, init: { type: 'string' }, 'run-dir': { type: 'string' },
      threads: { type: 'string', short: 't' }, json: { type: 'boolean' },
    });
    const [file, ...overrides] = positionals;
    if (!file) throw new Error('mvsr train: give a config file (see "mvsr train --help")');
    const bad = overrides.find((x) => !x.includes('='));
    if (bad) throw new Error(`mvsr train: "${bad}" is not a key.path=value override`);
    const cfg = loadTrainConfig(file, overrides);
    const mm = v['max-minutes'];
    const maxMinutes = mm === undefined ? undefined : Number(mm);
    if (maxMinutes !== undefined && !(maxMinutes > 0)) throw new Error(`mvsr train: --max-minutes must be a positive number, got "${mm}"`);
    const ac = new AbortController();
    let signalled: string | null = null;
    const onSignal = (sig: string) => () => {
      signalled = sig;
      err(`\n${sig}: stopping after this iteration and saving a checkpoint...`);
      ac.abort();
    };
    const onInt = onSignal('SIGINT'), onTerm = onSignal('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    const bar = new Progress(cfg.name, cfg.train.total_iter, '');
    try {
      const r = await train(cfg, {
        resume: !!v.resume, maxMinutes, init: typeof v.init === 'string' ? v.init : undefined,
        runDir: typeof v['run-dir'] === 'string' ? v['run-dir'] : undefined,
        threads: intFlag('train', v.threads, 'threads'), signal: ac.signal,
        onStatus: (st) => bar.update(st.iter, `loss ${st.loss.toExponential(3)} lr ${st.lr.toExponential(2)}${st.lastVal ? ` val ${st.lastVal.psnr.toFixed(2)} dB` : ''}`,
          { rate: st.itPerSec, eta: st.etaSeconds }),
        onMessage: err,
        loadTeacher: (d) => {
          const { type, ...args } = d.network ?? { type: undefined };
          const m = resolveModel(d.teacher, { arch: type, args: d.network ? args : undefined, scale: cfg.scale });
          const file = existsSync(d.teacher) ? d.teacher : findShippedModel(d.teacher, cfg.scale)?.file;
          if (!file) {
            m.dispose();
            throw new Error(`mvsr train: distill.teacher ${d.teacher}: distillation needs a teacher with weights (a file or a shipped model)`);
          }
          return { model: m, name: basename(file), sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
        },
      });
      const how = { done: 'finished', time: `stopped after --max-minutes ${maxMinutes}`, signal: `stopped by ${signalled}`, nan: 'stopped: loss not finite' }[r.stoppedBy];
      err(`${cfg.name}: ${how} at iteration ${r.iter}/${cfg.train.total_iter} (${(r.elapsedSeconds / 60).toFixed(1)} min of training)${r.lastVal ? `, last validation ${r.lastVal.psnr.toFixed(3)} dB / ${r.lastVal.ssim.toFixed(4)}` : ''}`);
      if (r.stoppedBy !== 'done' && r.stoppedBy !== 'nan') {
        // quoted, so that it can be pasted: an override such as 'train.scheduler.milestones=[15000, 20000]' holds a space
        const again = [file, '--resume', ...(typeof v['run-dir'] === 'string' ? ['--run-dir', v['run-dir']] : []), ...overrides];
        err(`continue with: mvsr train ${again.map(shellQuote).join(' ')}`);
        if (r.iter > 0) err(`the model as it stands: ${join(r.runDir, 'snapshot.safetensors')}`);
      }
      if (r.modelFile) err(`model: ${r.modelFile}`);
      if (v.json) out(JSON.stringify(r, null, 2));
      return r.stoppedBy === 'nan' ? 1 : r.stoppedBy === 'signal' ? 130 : 0;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  },
};

// ---- plot-log -----------------------------------------------------------------------------------

const plotLog: Command = {
  summary: 'draw a run\'s loss and validation curves as SVG',
  help: `usage: mvsr plot-log <run-dir | train_log.jsonl> [-o out.svg]

Reads the run's train_log.jsonl and writes an SVG with the training loss (log scale) and the
validation PSNR against the iteration (default <run-dir>/train_log.svg).`,
  async run(argv) {
    const { values: v, positionals } = parse('plot-log', argv, { output: { type: 'string', short: 'o' } });
    const [p] = positionals;
    if (!p) throw new Error('mvsr plot-log: give a run directory or a train_log.jsonl');
    const file = existsSync(p) && statSync(p).isDirectory() ? join(p, 'train_log.jsonl') : p;
    if (!existsSync(file)) throw new Error(`mvsr: ${file}: no such file`);
    const target = typeof v.output === 'string' ? v.output : file.replace(/\.jsonl$/, '') + '.svg';
    writeFileAtomic(target, Buffer.from(plotTrainingLog(readFileSync(file, 'utf8'))), 'plot-log');
    err(`${file} -> ${target}`);
    return 0;
  },
};

// ---- profile ------------------------------------------------------------------------------------

const profileCmd: Command = {
  summary: 'params, MACs, activations and peak memory of a model\'s deploy graph',
  help: `usage: mvsr profile <model> [--input HxW] [--json]

<model> is a weights file (as for upscale) or an architecture name with --args (weights are not
needed to count). Counts follow the KAIR / NTIRE convention (conv: k^2*Cin*Cout/groups per output
pixel, transposed conv on its output, PReLU one multiply per element) on the deploy form
(ECBSR -> ECBSRT, ETDS -> ETDSForInference); at --input 360x640 they reproduce ETDS Table 2.
A video model is profiled on its step graph, per frame in steady state, with its state named.

options:
      --input <HxW>   LR input size (default 180x320, the MAI setting)
      --arch, --args, --scale as for upscale
      --json          print one JSON document on stdout`,
  async run(argv) {
    const { values: v, positionals } = parse('profile', argv, {
      input: { type: 'string' }, arch: { type: 'string' }, args: { type: 'string' }, scale: { type: 'string', short: 's' }, json: { type: 'boolean' },
    });
    const [spec] = positionals;
    if (!spec) throw new Error('mvsr profile: give a model (see "mvsr profile --help")');
    const m = /^(\d+)x(\d+)$/.exec(typeof v.input === 'string' ? v.input : '180x320');
    if (!m) throw new Error(`mvsr profile: --input must look like 180x320, got "${v.input}"`);
    const H = Number(m[1]), W = Number(m[2]);
    await initEngine({ threads: 1 });
    const scale = intFlag('profile', v.scale, 'scale');
    const archName = archByName(spec);
    const any = archName && !existsSync(spec)
      ? createAnyModel(archName, { ...(jsonArgs('profile', v.args) ?? {}), ...(scale !== undefined ? { [scaleArg(archName)]: scale } : {}) })
      : resolveAnyModel(spec, { arch: typeof v.arch === 'string' ? v.arch : undefined, args: jsonArgs('profile', v.args), scale });
    if (isVideoModel(any)) {
      try {
        // one step of the step graph (a chunk for SWRN), per frame in steady state
        const g = stepGraph(any), vm = g.meta.video!;
        const p = profileGraph(g, H, W);
        const r = {
          model: spec, arch: any.arch, scale: any.scale, input: [H, W], kind: 'video', params: any.numParameters(), macs: p.macs / vm.count, convMacs: p.convMacs / vm.count,
          activations: p.activations / vm.count, peakActivationBytes: p.peakActivationBytes, window: vm.window, chunk: any.chunk,
          inputs: { frames: vm.frames, state: vm.state.map((x) => x.input) }, outputs: { frames: vm.outputs, state: vm.state.map((x) => x.output) },
        };
        if (v.json) out(JSON.stringify(r, null, 2));
        else {
          out(`${spec}: ${any.arch} x${any.scale} (video step graph) at ${H}x${W} -> ${H * any.scale}x${W * any.scale}, per frame`);
          out(`  params       ${(r.params / 1e3).toFixed(2)} K`);
          out(`  MACs         ${(r.macs / 1e9).toFixed(2)} G per frame`);
          out(`  activations  ${(r.activations / 1e6).toFixed(2)} M per frame`);
          out(`  peak memory  ${(p.peakActivationBytes / 2 ** 20).toFixed(1)} MiB (activations of one step${vm.count > 1 ? ` of ${vm.count} frames` : ''}, batch 1)`);
          out(`  reads        ${vm.window.past} frame(s) back, ${vm.window.future} ahead${any.chunk > 1 ? `; backward recurrence in chunks of ${any.chunk}` : ''}`);
          out(`  state        ${vm.state.length ? vm.state.map((x) => `${x.input} -> ${x.output}`).join(', ') : 'none'}`);
        }
        return 0;
      } finally {
        any.dispose();
      }
    }
    const model = any;
    try {
      const g = toGraph(model);
      const p = profileGraph(g, H, W);
      const r = { model: spec, arch: g.meta.arch, scale: g.meta.scale, input: [H, W], params: p.params, macs: p.macs, activations: p.activations, convs: p.convs, peakActivationBytes: p.peakActivationBytes };
      if (v.json) out(JSON.stringify(r, null, 2));
      else {
        out(`${spec}: ${g.meta.arch} x${g.meta.scale} at ${H}x${W} -> ${H * g.meta.scale}x${W * g.meta.scale}`);
        out(`  params       ${(p.params / 1e3).toFixed(2)} K`);
        out(`  MACs         ${(p.macs / 1e9).toFixed(2)} G`);
        out(`  activations  ${(p.activations / 1e6).toFixed(2)} M`);
        out(`  convs        ${p.convs}`);
        out(`  peak memory  ${(p.peakActivationBytes / 2 ** 20).toFixed(1)} MiB (activations, batch 1)`);
      }
      return 0;
    } finally {
      model.dispose();
    }
  },
};

// ---- export -------------------------------------------------------------------------------------

const exportCmd: Command = {
  summary: 'write a model\'s deploy graph as ONNX or TFLite',
  help: `usage: mvsr export <model> -o <out.onnx|out.tflite> [--fp16] [--dynamic | --input HxW] [--nhwc]

Writes the deploy form (ECBSR -> ECBSRT, ETDS -> ETDSForInference) as an ONNX model (opset 17,
NCHW in and out; --nhwc wraps it in NHWC transposes). --dynamic makes N, H and W symbolic
(the default when no --input is given); --fp16 stores weights and I/O in float16. A video model
exports its step graph: inputs lr0, lr1, ... (the window of LR frames) and its state (zeros at
the start of a clip), outputs hr0, ... and the new state <name>_next, to feed back as <name>
for the next step (the metadata key mvsr.video lists them).

A quantized model (from mvsr quantize) written as .onnx is in the QDQ form: QuantizeLinear /
DequantizeLinear at every int8 tensor, int8 per-channel weights and int32 biases behind
DequantizeLinear, which onnxruntime turns into its integer kernels. --int8-tables writes the ops
mvsr and TFLite compute through tables (activations other than ReLU, PReLU, a concat's
requantized inputs) as int8 lookups (Gather) instead, and a bilinear resize as TFLite's
fixed-point resize in integer ops, so that onnxruntime computes their exact values (it rounds the
float forms otherwise); accelerators that fuse QDQ patterns will not fuse them.

A .tflite output is a TFLite model (schema in vendor/tflite): NHWC float32 inputs and outputs of
a fixed size (--input, default 180x320), named through the SignatureDef 'serving_default';
--fp16 stores float16 weights with DEQUANTIZE ops (the TFLite converter's GPU-delegate layout).
--int8 writes a quantized model (from mvsr quantize) as full integer: int8 tensors, int8
per-channel weights, int32 biases; --io sets the type of its inputs and outputs: float32
(default, QUANTIZE/DEQUANTIZE inside), uint8 (frames as 0-255 pixels, a video state as uint8
at its own scale) or int8. Ops with no TFLite builtin (bicubic resize) stop the export. The
alignment of align: global runs on the host: the model takes the moved frames and state as
inputs, and its metadata 'mvsr_host_align' says how to compute them.

options:
  -o, --output <file>  the .onnx file
      --input <HxW>    fixed input size
      --dynamic        symbolic batch and spatial dimensions
      --fp16           float16 weights and I/O
      --int8           full-integer .tflite of a quantized model file
      --io <t>         with --int8: float32 | uint8 | int8 inputs and outputs
      --nhwc           NHWC input and output
      --opset <n>      13..20 (default 17)
      --int8-tables    a quantized model's table ops as exact int8 lookups (.onnx)
      --arch, --args, --scale as for upscale`,
  async run(argv) {
    const { values: v, positionals } = parse('export', argv, EXPORT_FLAGS);
    const [spec] = positionals;
    if (v.io !== undefined && !TFLITE_IO.includes(v.io as TfliteIo)) throw new Error(`mvsr export: --io must be one of ${TFLITE_IO.join(', ')}, got "${String(v.io)}"`);
    if (v.io !== undefined && !v.int8) throw new Error('mvsr export: --io goes with --int8');
    if (!spec) throw new Error('mvsr export: give a model (see "mvsr export --help")');
    if (typeof v.output !== 'string') throw new Error('mvsr export: --output is required');
    if (v.dynamic && v.input) throw new Error('mvsr export: choose one of --dynamic and --input');
    const ext = extname(v.output).toLowerCase(), tflite = ext === '.tflite';
    if (!tflite && ext !== '.onnx') throw new Error(`mvsr export: ${v.output}: the output must be a .onnx or .tflite file`);
    if (tflite && (v.dynamic || v.opset || v.nhwc || v['int8-tables'])) throw new Error('mvsr export: --dynamic, --opset, --nhwc and --int8-tables are ONNX options (a .tflite is NHWC with a fixed --input size)');
    let inputShape: [number, number] | undefined;
    if (typeof v.input === 'string') {
      const m = /^(\d+)x(\d+)$/.exec(v.input);
      if (!m) throw new Error(`mvsr export: --input must look like 180x320, got "${v.input}"`);
      inputShape = [Number(m[1]), Number(m[2])];
    }
    if (v.int8 && !tflite) throw new Error('mvsr export: --int8 is for .tflite; a quantized model written as .onnx is in the QDQ form anyway');
    await initEngine({ threads: 1 });
    const scale = intFlag('export', v.scale, 'scale');
    const g = resolveGraph(spec, { arch: typeof v.arch === 'string' ? v.arch : undefined, args: jsonArgs('export', v.args), scale });
    const quantized = 'quant' in g;
    if (v['int8-tables'] && !quantized) throw new Error(`mvsr export: --int8-tables: ${spec} is not a quantized model (mvsr quantize makes one)`);
    if (v.int8 && !quantized) {
      throw new Error(`mvsr export: ${spec} is not a quantized model: --int8 needs calibration first (mvsr quantize ${spec} --calib <folder> -o m-int8.safetensors, then mvsr export m-int8.safetensors --int8)`);
    }
    if (tflite) {
      const shape = inputShape ?? [180, 320];
      const io = (v.io ?? 'float32') as TfliteIo;
      const bytes = writeTfliteFile(v.output, g, { fp16: !!v.fp16, inputShape: shape, ...(v.int8 ? { int8: true, io } : {}) });
      err(`${spec} -> ${v.output}: ${g.meta.arch} x${g.meta.scale}, ${bytes} bytes, TFLite ${v.int8 ? `int8 (${io} in and out)` : v.fp16 ? 'float16 weights' : 'float32'}, NHWC, input ${shape.join('x')}`);
      const { align } = hostAlignment(g);
      if (align) err(`global alignment runs on the host (TFLite has no op for it): the model takes ${align.inputs.map((t) => `${t.id} (${t.from} moved by ${t.factor === 1 ? '' : `${t.factor} x `}${t.shift})`).join(', ')}; the shifts are estimateShift(${align.shifts.map((d) => `${d.prev}, ${d.cur}`).join('; ')}); metadata 'mvsr_host_align' has the JSON`);
      return 0;
    }
    const bytes = writeOnnxFile(v.output, g, {
      layout: v.nhwc ? 'nhwc' : 'nchw', fp16: !!v.fp16, dynamic: inputShape ? false : true, inputShape,
      opset: intFlag('export', v.opset, 'opset'), int8Tables: !!v['int8-tables'],
    });
    err(`${spec} -> ${v.output}: ${g.meta.arch} x${g.meta.scale}, ${bytes} bytes, ${quantized ? `int8 QDQ${v['int8-tables'] ? ' with table lookups' : ''} (float32 in and out)` : v.fp16 ? 'float16' : 'float32'}, ${v.nhwc ? 'NHWC' : 'NCHW'}, ${inputShape ? `input ${inputShape.join('x')}` : 'dynamic shape'}`);
    return 0;
  },
};

// ---- convert ------------------------------------------------------------------------------------

const convertCmd: Command = {
  summary: 'convert a model to its plain deploy form (re-parameterisation, optionally ETDS\'s equivalent transformation)',
  help: `usage: mvsr convert <model> -o <deploy.safetensors> [--et]

Folds a training-form model into the plain conv net it deploys as: ECBSR's edge-oriented blocks
into single 3x3 convs (-> ECBSRT), ETDS's dual stream into one plain net (-> ETDSForInference).
--et applies the equivalent transformation of the ETDS paper to ABPN and ECBSR (the anchor /
input shortcut carried in extra channels, the clamp as ReLUs: -> ABPN_ET / ECBSRET). The result
is checked numerically against the original on a random image before it is written.

options:
  -o, --output <file>  the deploy model (.safetensors)
      --et             also apply the equivalent transformation (ABPN, ECBSR)
      --arch, --args, --scale as for upscale`,
  async run(argv) {
    const { values: v, positionals } = parse('convert', argv, {
      output: { type: 'string', short: 'o' }, et: { type: 'boolean' }, arch: { type: 'string' }, args: { type: 'string' }, scale: { type: 'string', short: 's' },
    });
    const [spec] = positionals;
    if (!spec) throw new Error('mvsr convert: give a model (see "mvsr convert --help")');
    if (typeof v.output !== 'string' || extname(v.output).toLowerCase() !== '.safetensors') throw new Error('mvsr convert: --output must name a .safetensors file');
    await initEngine({});
    const model = resolveModel(spec, { arch: typeof v.arch === 'string' ? v.arch : undefined, args: jsonArgs('convert', v.args), scale: intFlag('convert', v.scale, 'scale') });
    const owned: SRModel[] = [model];
    try {
      let out = deployModel(model);
      if (out !== model) owned.push(out);
      if (v.et) {
        const spec = getArch(out.arch);
        if (spec.kind !== 'image' || !spec.et) throw new Error(`mvsr convert: --et applies to ABPN and ECBSR, not ${out.arch}`);
        out = spec.et(out);
        owned.push(out);
      }
      // the conversion must not change the function: compare on a random image
      const rng = new Rng(1);
      const x = Tensor.empty([1, 24, 20, 3]);
      const xd = x.data;
      for (let i = 0; i < xd.length; i++) xd[i] = rng.next();
      const a = noGrad(() => model.eval().forward(leaf(x))).value.toArray();
      const b = noGrad(() => out.eval().forward(leaf(x))).value.toArray();
      clearTape();
      x.dispose();
      let maxDiff = 0;
      // ET forms clamp to [0, 1] by construction; compare the clamped original
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs((v.et || out.arch === 'ETDSForInference' ? Math.min(1, Math.max(0, a[i]!)) : a[i]!) - b[i]!));
      if (!(maxDiff * 255 < 0.01)) throw new Error(`mvsr convert: the converted model differs from the original by ${(maxDiff * 255).toFixed(4)}/255 (limit 0.01)`);
      saveSafetensorsFile(v.output, out.stateDict(), encodeModelMetadata({
        arch: out.arch, args: out.args, scale: out.scale, provenance: { converted_from: model.arch, source: basename(spec), max_abs_diff_255: (maxDiff * 255).toExponential(2) },
      }));
      err(`${spec} (${model.arch}, ${model.numParameters()} parameters) -> ${v.output} (${out.arch}, ${out.numParameters()} parameters), max |diff| ${(maxDiff * 255).toExponential(2)}/255`);
      return 0;
    } finally {
      for (const m of new Set(owned)) m.dispose();
    }
  },
};

// ---- bench --------------------------------------------------------------------------------------

const benchCmd: Command = {
  summary: 'inference speed of the shipped architectures against onnxruntime and TensorFlow.js, same run',
  help: `usage: mvsr bench [--quick] [--json] [--models A,B] [--settings mai,etds | --input HxW] [--engines E,F]

Times the deploy graphs of ELSR, ESPCN, ECBSR-M4C16, ETDS-T and ABPN-M4C28 (x4, the shipped
models' weights; --init-weights: the seeded initialisation) at the MAI setting (180x320 ->
720x1280) and the ETDS setting (360x640 -> 1440x2560) on mvsr's wasm engine, onnxruntime-node and
onnxruntime-web's wasm backend (each on 1 and 2 threads) and TensorFlow.js's wasm backend (1
thread: it has none in Node), all on the same graph and weights, and the same graph quantized to
int8 on mvsr's int8 kernels and onnxruntime-node (1 and 2 threads). Every engine's output is
first checked against mvsr's (max |diff| * 255 < 0.01 on a small input; int8 engines within the
stated steps); an engine that does not load is skipped with the reason. Prints median and p90 ms
per frame, fps, GFLOP/s and % of the SIMD128 peak measured on this machine (its definition is
printed with the table). Exits 1 when an output check fails. Run it on an otherwise idle
machine.

options:
      --quick            1 warm-up and 3 timed runs (default 2 and 10)
      --models <list>    a subset, e.g. ELSR,ETDS-T; also the efficient-SR families at their official
                         x4 sizes: IMDN, IMDN+, RFDN, RLFN, RLFN-S, RLFN-NTIRE, VapSR, VapSR-S
      --settings <list>  mai, etds (default both)
      --input <HxW>      one custom input size instead of the settings
      --engines <list>   mvsr-1, mvsr-2, ort-node-1, ort-node-2, ort-web-1, ort-web-2, tfjs-wasm, and
                         the int8 model (calibrated once per model) on mvsr-int8-1, mvsr-int8-2,
                         ort-node-int8-1, ort-node-int8-2 (onnxruntime on the QDQ export), checked
                         against mvsr's integer inference (default all these; onnxruntime-web on 2
                         threads runs in a child process), and on
                         the GPU through the webgpu package (Dawn) mvsr-webgpu and ort-web-webgpu, timed
                         with the frames on the GPU (round trip beside it); an emulated adapter
                         (SwiftShader) is flagged: its timings say nothing about a GPU
      --warmup <n>, --reps <n>  runs before and during timing
      --rounds <n>       split the timed runs into n rounds, each timing every engine in turn, so
                         that a machine whose speed drifts slows every engine alike (default 3;
                         --quick: 1)
      --gpu-frames <n>   frames per timed sample on a GPU engine (default 50)
      --check <HxW>      input size of the output check (default 23x37)
      --init-weights     run the architectures' seeded initialisation instead of the shipped
                         models' weights (the default for the five shipped architectures; the int8
                         graph depends on the weights: etds-t-x4's outlier split)
      --json             print one JSON document on stdout`,
  async run(argv) {
    const { values: v } = parse('bench', argv, {
      quick: { type: 'boolean' }, json: { type: 'boolean' }, 'init-weights': { type: 'boolean' }, models: { type: 'string' }, settings: { type: 'string' }, input: { type: 'string' },
      engines: { type: 'string' }, warmup: { type: 'string' }, reps: { type: 'string' }, rounds: { type: 'string' }, check: { type: 'string' }, 'gpu-frames': { type: 'string' },
    });
    const { runInferBench, formatInferMarkdown, parseSize, INFER_SETTINGS } = await import('../bench/infer.js');
    if (typeof v.input === 'string' && typeof v.settings === 'string') throw new Error('mvsr bench: choose one of --settings and --input');
    let settings;
    if (typeof v.input === 'string') {
      const [H, W] = parseSize('--input', v.input);
      settings = [{ name: `${H}x${W}`, H, W }];
    } else if (typeof v.settings === 'string') {
      settings = v.settings.split(',').map((k) => {
        const s = INFER_SETTINGS[k.trim().toLowerCase()];
        if (!s) throw new Error(`mvsr bench: unknown setting '${k}' (have: ${Object.keys(INFER_SETTINGS).join(', ')})`);
        return s;
      });
    }
    const list = (x: string | boolean | undefined) => (typeof x === 'string' ? x.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
    const r = await runInferBench({
      quick: !!v.quick, models: list(v.models), engines: list(v.engines), settings, initWeights: !!v['init-weights'],
      warmup: intFlag('bench', v.warmup, 'warmup', 0), reps: intFlag('bench', v.reps, 'reps'), rounds: intFlag('bench', v.rounds, 'rounds'), gpuFrames: intFlag('bench', v['gpu-frames'], 'gpu-frames'),
      checkSize: typeof v.check === 'string' ? parseSize('--check', v.check) : undefined,
      log: err,
    });
    out(v.json ? JSON.stringify(r, null, 2) : formatInferMarkdown(r).trimEnd());
    return r.failures.length ? 1 : 0;
  },
};

// ---- report -------------------------------------------------------------------------------------

const reportCmd: Command = {
  summary: 'an HTML and markdown report of the x4 models: leaderboard, PSNR-vs-latency plot, zoomed crops',
  help: `usage: mvsr report [-o <folder>] [--models <list>] [--data <folder>] [--bench <file>] [--crop-image <name>] [--screenshot] [--json]

Writes report.html and report.md into the output folder with a leaderboard of x4 models (source,
params and MACs of the deploy graph at 180x320, Set5 and Set14 PSNR/SSIM on Y with crop 4 as
"mvsr eval" measures them, and median ms per frame at the MAI setting for every engine of a
"mvsr bench --json" file, taken from the benchmarked network with the same deploy graph), a
PSNR-vs-latency scatter plot (inline SVG, also psnr-vs-latency.svg) and zoomed crops of one image
(ground truth | bicubic | each model, crop-*.png). Nothing is timed here.

options:
  -o, --out <folder>     output folder (default mvsr-report)
      --models <list>    comma-separated: weights files (.safetensors, or official .pth such as
                         ETDS_M5C16_x4.pth), shipped model names (etds-t-x4) or bicubic (default:
                         bicubic, the official x4 checkpoints in <data>/checkpoints/etds-official
                         of the benchmarked architectures, and the shipped x4 models)
      --data <folder>    shared data root with benchmarks/Set5 and benchmarks/Set14
                         (default $MVSR_DATA, else ../shared/data)
      --bench <file>     a "mvsr bench --json" file (default docs/bench/infer-intel-xeon-2c-2026-12-06.json)
      --crop-image <n>   the crops' image: a Set14 or Set5 name, or a path (default baboon)
      --screenshot       also render the page to report.png with headless Chromium
  -t, --threads <n>      worker threads (default: all cores)
      --json             print the report data as one JSON document on stdout`,
  async run(argv) {
    const { values: v, positionals } = parse('report', argv, {
      out: { type: 'string', short: 'o' }, models: { type: 'string' }, data: { type: 'string' }, bench: { type: 'string' },
      'crop-image': { type: 'string' }, screenshot: { type: 'boolean' }, threads: { type: 'string', short: 't' }, json: { type: 'boolean' },
    });
    if (positionals.length) throw new Error(`mvsr report: unexpected argument "${positionals[0]}" (see "mvsr report --help")`);
    const { buildReport, defaultDataDir, defaultBenchFile } = await import('../bench/report.node.js');
    const { leaderboardMarkdown } = await import('../bench/report.js');
    const models = typeof v.models === 'string' ? v.models.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    if (models && !models.length) throw new Error('mvsr report: --models is empty');
    await initEngine({ threads: intFlag('report', v.threads, 'threads') });
    const bar = new Progress('report', 0, ' img');
    const r = await buildReport({
      outDir: typeof v.out === 'string' ? v.out : 'mvsr-report',
      dataDir: typeof v.data === 'string' ? v.data : defaultDataDir(),
      benchFile: typeof v.bench === 'string' ? v.bench : defaultBenchFile(),
      models, cropImage: typeof v['crop-image'] === 'string' ? v['crop-image'] : undefined, screenshot: !!v.screenshot,
      onProgress: (done, total) => {
        bar.setTotal(total);
        bar.update(done);
      },
    });
    if (v.json) out(JSON.stringify({ ...r.data, files: r.files, screenshot: r.screenshot }, null, 2));
    else out(leaderboardMarkdown(r.data).trimEnd());
    err(`wrote ${[r.files.html, r.files.markdown, r.files.plot, ...(r.files.screenshot ? [r.files.screenshot] : [])].join(', ')} and ${r.files.crops.length} crops`);
    return 0;
  },
};

export const commands: Record<string, Command> = {
  demo: demoCmd, upscale, quantize: quantizeCmd, compress: compressCmd, eval: evalCmd, 'eval-video': evalVideoCmd, 'convert-weights': convertWeights, convert: convertCmd, models, profile: profileCmd, export: exportCmd, train: trainCmd, 'plot-log': plotLog, bench: benchCmd, report: reportCmd, queue: queueCmd, worker: workerCmd, serve: serveCmd,
};
