// The video commands end to end: eval-video against the image evaluation and an independent
// tPSNR, upscale of a video with a recurrent model (output = VideoUpscaler in process), and
// `mvsr demo` on the Y4M path without ffmpeg and on the MP4 path with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './data.js';
import { useEngine, randomize, mulberry32 } from './helpers.js';
import { encodePng } from '../src/io/image.node.js';
import { openVideo, createVideoWriter } from '../src/io/video.node.js';
import { saveSafetensorsFile } from '../src/io/weights.node.js';
import { encodeModelMetadata } from '../src/io/weights.js';
import { createVideoModel } from '../src/models/registry.js';
import { renderSampleFrame } from '../src/data/synthetic.js';
import { VideoUpscaler } from '../src/api/video.js';
import { loadAnyModelFile } from '../src/api/models.node.js';
import { listShippedModels } from '../src/api/shipped.node.js';
import { defaultDemoModel } from '../src/api/demo.node.js';
import { temporalSquaredError } from '../src/metrics/index.js';
import type { Image } from '../src/io/image.js';
import { makePair } from '../src/data/pairs.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
const HAVE_FFMPEG = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('ffprobe', ['-version'], { stdio: 'ignore' }).status === 0;
const NO_FFMPEG = 'ffmpeg/ffprobe are not on PATH (apt-get install ffmpeg to run the MP4 demo test)';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mvsr-vcli-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function mvsr(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function clipFolder(dir: string, frames: number, t0: number): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  for (let t = 0; t < frames; t++) fs.writeFileSync(path.join(dir, `im${t + 1}.png`), await encodePng(renderSampleFrame(t0 + 3 * t, { width: 96, height: 64 })));
  return dir;
}

async function mobileRrnFile(): Promise<string> {
  await useEngine(1);
  const m = createVideoModel('MobileRRN', { upscale: 2, num_feat: 6, num_block: 1 });
  randomize(m, 0.15, 3);
  const file = path.join(tmp, 'mrrn.safetensors');
  saveSafetensorsFile(file, m.stateDict(), encodeModelMetadata({ arch: m.arch, args: m.args, scale: m.scale, provenance: { note: 'random test weights' } }));
  m.dispose();
  return file;
}

/** Independent tPSNR: Y by the BT.601 formula in float64, frame-difference errors, mean over all. */
function naiveTemporalMse(out: Image[], gt: Image[], crop: number): number {
  const Y = (img: Image, x: number, y: number) => {
    const i = (y * img.width + x) * 3, d = img.data;
    return 16 + (65.481 * d[i]! + 128.553 * d[i + 1]! + 24.966 * d[i + 2]!) / 255;
  };
  let s = 0, n = 0;
  for (let t = 1; t < out.length; t++) {
    for (let y = crop; y < gt[t]!.height - crop; y++) {
      for (let x = crop; x < gt[t]!.width - crop; x++) {
        const d = (Y(out[t]!, x, y) - Y(out[t - 1]!, x, y)) - (Y(gt[t]!, x, y) - Y(gt[t - 1]!, x, y));
        s += d * d;
        n++;
      }
    }
  }
  return s / n;
}

test('temporalSquaredError equals a naive float64 computation on Y', () => {
  const r = mulberry32(2);
  const img = (): Image => ({ width: 13, height: 9, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: 13 * 9 * 3 }, () => Math.floor(r() * 256)) });
  const out = [img(), img()], gt = [img(), img()];
  const e = temporalSquaredError(out[0]!, out[1]!, gt[0]!, gt[1]!, { cropBorder: 2, testY: true });
  const ref = naiveTemporalMse(out, gt, 2);
  assert.ok(Math.abs(e.sum / e.n - ref) <= 1e-6 * ref, `${e.sum / e.n} vs ${ref}`);
});

test('eval-video: per-frame PSNR/SSIM equal mvsr eval on the same frames; every frame counted; clip selection', async () => {
  const root = path.join(tmp, 'clips');
  await clipFolder(path.join(root, '00001_0001'), 5, 0);
  await clipFolder(path.join(root, '00002_0001'), 4, 30);
  const r = mvsr(['eval-video', '--model', 'bicubic', '--scale', '4', '--data', root, '--json', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { clips: { name: string; frames: { psnrY: number; ssimY: number }[]; psnrY: number; tPsnrY: number }[]; psnrY: number; frames: number };
  assert.deepEqual(j.clips.map((c) => [c.name, c.frames.length]), [['00001_0001', 5], ['00002_0001', 4]]);
  assert.equal(j.frames, 9);
  // the image evaluation (tiled upscaler, HR mod 4, same crop) of each frame gives the same figures
  for (const c of j.clips) {
    const e = mvsr(['eval', '--model', 'bicubic', '--scale', '4', '--data', path.join(root, c.name), '--mod', '4', '--json', '--threads', '1']);
    assert.equal(e.code, 0, e.stderr);
    const rows = (JSON.parse(e.stdout) as { rows: { name: string; psnr: number; ssim: number }[] }).rows;
    c.frames.forEach((f, k) => {
      const row = rows.find((x) => x.name === `im${k + 1}.png`)!;
      assert.ok(Math.abs(f.psnrY - row.psnr) < 1e-9 && Math.abs(f.ssimY - row.ssim) < 1e-9, `${c.name} frame ${k}: ${f.psnrY}/${f.ssimY} vs eval ${row.psnr}/${row.ssim}`);
    });
  }
  assert.ok(Math.abs(j.psnrY - (j.clips[0]!.psnrY + j.clips[1]!.psnrY) / 2) < 1e-9, 'overall = mean over clips');
  const only = mvsr(['eval-video', '--model', 'bicubic', '--scale', '4', '--data', root, '--clips', '00001_*', '--json', '--threads', '1']);
  assert.deepEqual((JSON.parse(only.stdout) as { clips: { name: string }[] }).clips.map((c) => c.name), ['00001_0001']);
  const none = mvsr(['eval-video', '--model', 'bicubic', '--data', root, '--clips', 'nothing*']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no clips match the selection/);
  // the clips are listed before the model loads: a bad --data is reported even with a bad --model
  const both = mvsr(['eval-video', '--model', path.join(tmp, 'no-such-model.safetensors'), '--data', root, '--clips', 'nothing*']);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /no clips match the selection/);
});

test('upscale a Y4M clip with a recurrent model: every frame out, equal to VideoUpscaler in process; eval-video tPSNR matches a naive computation', async () => {
  const model = await mobileRrnFile();
  const dir = await clipFolder(path.join(tmp, 'rrnclip'), 6, 5);
  const input = path.join(tmp, 'rrn-in.y4m'), output = path.join(tmp, 'rrn-out.y4m');
  const src = await openVideo(dir);
  const w = await createVideoWriter(input, { width: 96, height: 64, fps: [25, 1] }, { y4mChroma: '444' });
  const frames: Image[] = [];
  for await (const f of src.frames()) { frames.push(f); await w.write(f); }
  await w.close();
  const r = mvsr(['upscale', input, '-o', output, '--model', model, '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  const got: Image[] = [];
  const back = await openVideo(input);
  for await (const f of (await openVideo(output)).frames()) got.push(f);
  assert.equal(got.length, 6);
  // the same frames (as the Y4M stores them) through the library
  await useEngine(1);
  const up = new VideoUpscaler(loadAnyModelFile(model));
  const want: Image[] = [];
  for await (const f of back.frames()) want.push(...(await up.push(f)));
  want.push(...(await up.flush()));
  up.dispose();
  assert.equal(want.length, 6);
  // written the way upscale writes (Y4M 4:2:0), the library's frames give the same file
  const ref = path.join(tmp, 'rrn-ref.y4m');
  const rw = await createVideoWriter(ref, { width: 192, height: 128, fps: [25, 1] });
  for (const f of want) await rw.write(f);
  await rw.close();
  assert.ok(fs.readFileSync(ref).equals(fs.readFileSync(output)), 'upscale output = VideoUpscaler frames');
  assert.ok(got.length === 6 && got[0]!.width === 192);
  // eval-video on the frame folder: tPSNR against a naive float64 computation of the same outputs
  const ev = mvsr(['eval-video', '--model', model, '--data', dir, '--json', '--threads', '1']);
  assert.equal(ev.code, 0, ev.stderr);
  const j = JSON.parse(ev.stdout) as { clips: { frames: unknown[]; tPsnrY: number }[] };
  assert.equal(j.clips[0]!.frames.length, 6, 'first and last frames of the recurrent model are counted');
  const up2 = new VideoUpscaler(loadAnyModelFile(model));
  const outs: Image[] = [];
  const pairs = frames.map((f) => makePair(f, 2, 2));
  for (const p of pairs) outs.push(...(await up2.push(p.lr)));
  outs.push(...(await up2.flush()));
  up2.dispose();
  const tp = 10 * Math.log10((255 * 255) / naiveTemporalMse(outs, pairs.map((p) => p.hr), 2));
  assert.ok(Math.abs(j.clips[0]!.tPsnrY - tp) < 1e-6, `tPSNR ${j.clips[0]!.tPsnrY} vs naive ${tp}`);
});

test('eval-video --restart-every n scores each n-frame segment as a clip of its own; 1 = every frame alone', async () => {
  const model = await mobileRrnFile();
  const dir = await clipFolder(path.join(tmp, 'restartclip'), 6, 11);
  const rows = (args: string[]) => {
    const r = mvsr(['eval-video', '--model', model, '--json', '--threads', '1', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { clips: { frames: { psnrY: number; ssimRGB: number }[] }[] }).clips.flatMap((c) => c.frames.map((f) => [f.psnrY, f.ssimRGB]));
  };
  // reference: the segments as separate clip folders
  const seg = (name: string, from: number, to: number) => {
    const d = path.join(tmp, name);
    fs.mkdirSync(d, { recursive: true });
    for (let t = from; t < to; t++) fs.copyFileSync(path.join(dir, `im${t + 1}.png`), path.join(d, `im${t + 1}.png`));
    return d;
  };
  const want4 = [...rows(['--data', seg('seg-a', 0, 4)]), ...rows(['--data', seg('seg-b', 4, 6)])];
  assert.deepEqual(rows(['--data', dir, '--restart-every', '4']), want4);
  const want1 = Array.from({ length: 6 }, (_, t) => rows(['--data', seg(`one-${t}`, t, t + 1)])).flat();
  const alone = rows(['--data', dir, '--restart-every', '1']);
  assert.deepEqual(alone, want1);
  const whole = rows(['--data', dir]);
  assert.deepEqual(whole[0], alone[0], 'frame 0 has no history either way');
  assert.notDeepEqual(whole.slice(1), alone.slice(1), 'the later frames of a recurrent model depend on the earlier ones');
  // --by-position: the mean of each position's rows over the clips that reach it
  const two = path.join(tmp, 'twoclips');
  fs.mkdirSync(two, { recursive: true });
  fs.cpSync(dir, path.join(two, 'a'), { recursive: true });
  fs.cpSync(seg('short', 0, 3), path.join(two, 'b'), { recursive: true });
  const text = mvsr(['eval-video', '--model', model, '--data', two, '--by-position', '--threads', '1']);
  assert.equal(text.code, 0, text.stderr);
  const js = JSON.parse(mvsr(['eval-video', '--model', model, '--data', two, '--json', '--threads', '1']).stdout) as { clips: { frames: { psnrY: number }[] }[] };
  const table = text.stdout.slice(text.stdout.indexOf('by position'));
  for (let i = 0; i < 6; i++) {
    const at = js.clips.filter((c) => c.frames.length > i).map((c) => c.frames[i]!.psnrY);
    const m = table.match(new RegExp(`^\\s+${i + 1}\\s+(\\d+)\\s+([\\d.]+)`, 'm'));
    assert.ok(m, `row ${i + 1} in ${table}`);
    assert.equal(Number(m[1]), at.length);
    assert.ok(Math.abs(Number(m[2]) - at.reduce((a, b) => a + b, 0) / at.length) < 6e-4, `position ${i + 1}`);
  }
  const bad = mvsr(['eval-video', '--model', model, '--data', dir, '--restart-every', '0']);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /--restart-every must be an integer >= 1/);
});

test('mvsr demo without ffmpeg writes Y4M: the three videos, frames, sizes and a model that beats bicubic is reported', async () => {
  const model = await mobileRrnFile();
  const out = path.join(tmp, 'demo-y4m');
  const r = mvsr(['demo', '--model', model, '--frames', '5', '--out', out, '--json', '--threads', '1'], { MVSR_FFMPEG: '/nonexistent/ffmpeg', MVSR_FFPROBE: '/nonexistent/ffprobe' });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { format: string; frames: number; lr: { width: number }; hr: { width: number; height: number }; files: Record<string, string>; bicubic: { psnrY: number }; sr: { psnrY: number } };
  assert.equal(j.format, 'y4m');
  assert.equal(j.frames, 5);
  assert.deepEqual([j.lr.width, j.hr.width, j.hr.height], [320, 640, 360]);
  const sizes: Record<string, [number, number, number]> = {};
  for (const [k, f] of Object.entries(j.files)) {
    const v = await openVideo(f);
    let n = 0;
    for await (const _ of v.frames()) n++;
    sizes[k] = [v.info.width, v.info.height, n];
  }
  assert.deepEqual(sizes, { input: [320, 180, 5], output: [640, 360, 5], sideBySide: [1284, 360, 5] });
  assert.ok(Number.isFinite(j.sr.psnrY) && Number.isFinite(j.bicubic.psnrY));
  assert.deepEqual(fs.readdirSync(out).sort(), ['input-lr.y4m', 'output.y4m', 'side-by-side.y4m']);
});

test('mvsr demo with ffmpeg writes MP4 by default, readable by ffprobe with every frame', { skip: HAVE_FFMPEG ? false : NO_FFMPEG }, async () => {
  const shipped = listShippedModels().some((m) => m.scale === 4);
  const model = shipped ? [] : ['--model', await mobileRrnFile()];
  const out = path.join(tmp, 'demo-mp4');
  const r = mvsr(['demo', ...model, '--frames', '4', '--out', out, '--json', '--threads', '2']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { format: string; model: { name: string }; files: Record<string, string>; bicubic: { psnrY: number }; sr: { psnrY: number } };
  assert.equal(j.format, 'mp4');
  for (const f of [j.files.output!, j.files.sideBySide!]) {
    const p = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,width,height', '-of', 'csv=p=0', f], { encoding: 'utf8' });
    const [w, h, n] = p.stdout.trim().split(',').map(Number);
    assert.equal(n, 4, `${f}: ${p.stdout}`);
    assert.equal(h, 360);
    assert.ok(w === 640 || w === 1284);
  }
  // the default (shipped, trained) model must beat bicubic on the sample
  if (shipped) {
    assert.equal(j.model.name, defaultDemoModel());
    assert.ok(j.sr.psnrY > j.bicubic.psnrY + 0.5, `${j.model.name}: ${j.sr.psnrY} vs bicubic ${j.bicubic.psnrY}`);
  }
});
