// `mvsr demo`: the whole job on the bundled sample. HR frames (mvsr's own procedurally rendered
// clip, or a video you give) are shrunk by MATLAB bicubic, upscaled by a shipped model through a
// VideoUpscaler and by plain bicubic, and measured against the HR: the outputs, a side-by-side
// comparison (bicubic | model) and the LR input are written as MP4 when ffmpeg is there and as Y4M
// (no dependency) otherwise.
import { join } from 'node:path';
import type { Image } from '../io/image.js';
import { makePair } from '../data/pairs.js';
import { sampleClip } from '../data/synthetic.js';
import { openVideo, createVideoWriter, type OpenedWriter } from '../io/video.node.js';
import { haveFfmpeg } from '../io/ffmpeg.node.js';
import { calculatePsnr, calculateSsim } from '../metrics/index.js';
import type { SRModel } from '../models/registry.js';
import type { VideoSRModel } from '../models/vsr.js';
import { defaultShippedModel } from './shipped.node.js';
import { resolveAnyModel } from './models.node.js';
import { VideoUpscaler } from './video.js';
import { Upscaler, bicubicGraph } from './upscaler.js';
import { makeDirs } from '../io/files.node.js';

export interface DemoOptions {
  outDir: string;
  /** A model (weights file or shipped name); default: the shipped x4 model (video models first). */
  model?: string;
  /** An HR video to use instead of the bundled sample (cropped to a multiple of the scale). */
  input?: string;
  /** Frames of the bundled sample (default 48) or the most taken from --input (default all). */
  frames?: number;
  /** 'mp4' needs ffmpeg; default: mp4 when ffmpeg is found, else y4m. */
  format?: 'mp4' | 'y4m';
  /** Runtime backend of the model's graph: 'wasm' (default), 'ort', 'auto'. */
  backend?: string;
  signal?: AbortSignal;
  onFrame?: (done: number, total: number) => void;
}

export interface DemoScores { psnrY: number; ssimY: number }

export interface DemoResult {
  model: { name: string; arch: string; scale: number; params: number };
  /** The runtime backend the model ran on. */
  backend: string;
  source: string;
  frames: number;
  lr: { width: number; height: number };
  hr: { width: number; height: number };
  bicubic: DemoScores;
  sr: DemoScores;
  /** Frames per second of the model alone (LR in, HR out, inside the VideoUpscaler). */
  modelFps: number;
  seconds: number;
  files: { input: string; output: string; sideBySide: string };
  format: 'mp4' | 'y4m';
  /** Whether ffmpeg was found (the format defaults to y4m without it). */
  ffmpeg: boolean;
}

/** The default demo model: the shipped default at x4 (DEFAULT_MODELS), else any shipped x4 model. */
export function defaultDemoModel(): string {
  const pick = defaultShippedModel(4);
  if (!pick) throw new Error('mvsr demo: no shipped x4 model in weights/ (pass --model <weights file>)');
  return pick.name;
}

/** [a | divider | b], all at b's size. */
export function sideBySide(a: Image, b: Image, divider = 4): Image {
  const W = a.width + divider + b.width, H = a.height, out = new Uint8Array(W * H * 3).fill(255);
  for (let y = 0; y < H; y++) {
    out.set(a.data.subarray(y * a.width * 3, (y + 1) * a.width * 3), y * W * 3);
    out.set(b.data.subarray(y * b.width * 3, (y + 1) * b.width * 3), (y * W + a.width + divider) * 3);
  }
  return { width: W, height: H, channels: 3, bitDepth: 8, data: out };
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const ffmpeg = await haveFfmpeg();
  const format = o.format ?? (ffmpeg ? 'mp4' : 'y4m');
  if (format === 'mp4' && !ffmpeg) throw new Error('mvsr demo: --format mp4 needs ffmpeg (apt-get install -y ffmpeg); Y4M needs nothing');
  const name = o.model ?? defaultDemoModel();
  const model: SRModel | VideoSRModel = resolveAnyModel(name);
  const s = model.scale;
  const params = model.numParameters();
  const up = new VideoUpscaler(model, { backend: o.backend });
  const bicubic = new Upscaler(bicubicGraph(s), { tile: 1 << 20 });
  makeDirs(o.outDir);
  const files = { input: join(o.outDir, 'input-lr.y4m'), output: join(o.outDir, `output.${format}`), sideBySide: join(o.outDir, `side-by-side.${format}`) };

  let total: number, hrFrames: AsyncIterable<Image> | Iterable<Image>, fps: [number, number], source: string;
  if (o.input) {
    const v = await openVideo(o.input);
    total = Math.min(o.frames ?? Infinity, v.info.frames ?? Infinity);
    const n = total;
    hrFrames = (async function* () {
      let k = 0;
      for await (const f of v.frames({ signal: o.signal })) {
        if (k++ >= n) break;
        yield f;
      }
    })();
    fps = v.info.fps;
    source = o.input;
  } else {
    total = o.frames ?? 48;
    hrFrames = sampleClip({ frames: total });
    fps = [24, 1];
    source = 'bundled sample (mvsr procedural clip, 640x360)';
  }

  let lrW: OpenedWriter | null = null, srW: OpenedWriter | null = null, sbsW: OpenedWriter | null = null;
  const pending: { hr: Image; bic: Image }[] = [];
  const sum = { bp: 0, bs: 0, sp: 0, ss: 0 };
  let done = 0, modelMs = 0;
  const t0 = performance.now();
  const m = { cropBorder: s, testY: true };
  const emit = async (srs: Image[]) => {
    for (const sr of srs) {
      const { hr, bic } = pending.shift()!;
      sum.bp += calculatePsnr(bic, hr, m); sum.bs += calculateSsim(bic, hr, m);
      sum.sp += calculatePsnr(sr, hr, m); sum.ss += calculateSsim(sr, hr, m);
      await srW!.write(sr);
      await sbsW!.write(sideBySide(bic, sr));
      o.onFrame?.(++done, Number.isFinite(total) ? total : 0);
    }
    up.recycle(srs); // written and scored: their arrays take the next frames (a video model's)
  };
  let backendName = '';
  let lrSize = { width: 0, height: 0 }, hrSize = { width: 0, height: 0 };
  try {
    for await (const hrIn of hrFrames) {
      const { hr, lr } = makePair(hrIn, s, s);
      if (!lrW) {
        lrSize = { width: lr.width, height: lr.height };
        hrSize = { width: hr.width, height: hr.height };
        lrW = await createVideoWriter(files.input, { ...lrSize, fps });
        srW = await createVideoWriter(files.output, { ...hrSize, fps }, { signal: o.signal });
        sbsW = await createVideoWriter(files.sideBySide, { width: 2 * hr.width + 4, height: hr.height, fps }, { signal: o.signal });
      }
      await lrW.write(lr);
      pending.push({ hr, bic: await bicubic.upscale(lr) });
      const t = performance.now();
      const srs = await up.push(lr, { signal: o.signal });
      modelMs += performance.now() - t;
      await emit(srs);
    }
    if (!lrW) throw new Error(`mvsr demo: ${source}: no frames`);
    const t = performance.now();
    const rest = await up.flush({ signal: o.signal });
    modelMs += performance.now() - t;
    await emit(rest);
    backendName = (await up.backend()).name;
    await lrW.close();
    await srW!.close();
    await sbsW!.close();
  } catch (e) {
    await Promise.all([lrW?.abort(), srW?.abort(), sbsW?.abort()]);
    throw e;
  } finally {
    await up.dispose();
    await bicubic.dispose();
  }
  return {
    model: { name, arch: model.arch, scale: s, params },
    backend: backendName,
    source, frames: done, lr: lrSize, hr: hrSize,
    bicubic: { psnrY: sum.bp / done, ssimY: sum.bs / done },
    sr: { psnrY: sum.sp / done, ssimY: sum.ss / done },
    modelFps: done / (modelMs / 1000),
    seconds: (performance.now() - t0) / 1000,
    files, format, ffmpeg,
  };
}
