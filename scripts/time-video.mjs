// A/B of builds on the video models (VIDEO_NETS of src/bench/video.ts) at the MAI setting
// (180x320 -> 720x1280): each checkout's own VideoUpscaler (8-bit RGB frames in and out, steady
// state, wasm backend) and its own engine, all loaded in this one process and fed the same frames
// in turn, frame by frame, so that a machine whose speed drifts (ours moved by 30% within
// minutes) slows every build alike. Per build: the median over the timed chunks of ms per output
// frame (a chunked model's call is spread over its frames), and the first build's paired speed-up
// over each other one (median over chunks of their time / its time). Output frames are handed back with
// recycle() where the build has it (as mvsr upscale does once it has written them); --no-recycle
// turns that off. Run on an idle machine.
//   node scripts/time-video.mjs [--threads N] [--only text[,text]] [--reps N] [--no-recycle] [checkout ...]
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (k, d) => { const i = argv.indexOf(k); if (i < 0) return d; const v = argv[i + 1]; argv.splice(i, 2); return v; };
const threads = Number(flag('--threads', '2'));
const only = flag('--only', 'RLSP 7-16,MobileRRN (16,SWRN').split(',');
const reps = Number(flag('--reps', '16'));
const recycle = !argv.includes('--no-recycle');
const roots = (argv.filter((a) => a !== '--no-recycle').length ? argv.filter((a) => a !== '--no-recycle') : [here]).map((r) => path.resolve(r));
const { VIDEO_NETS } = await import(pathToFileURL(path.join(here, 'dist/src/bench/video.js')).href);
const { median } = await import(pathToFileURL(path.join(here, 'dist/src/bench/timing.js')).href);
const { Rng } = await import(pathToFileURL(path.join(here, 'dist/src/tensor/random.js')).href);
const H = 180, W = 320;
const rng = new Rng(1);
const frames = Array.from({ length: 4 }, () => ({ width: W, height: H, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: W * H * 3 }, () => Math.floor(rng.next() * 256)) }));
const builds = [];
for (const root of roots) {
  const load = (f) => import(pathToFileURL(path.join(root, 'dist/src', f)).href);
  const [{ initEngine }, { manualSeed }, { createVideoModel }, { VideoUpscaler }] = await Promise.all(
    ['tensor/engine.js', 'nn/init.js', 'models/registry.js', 'api/video.js'].map(load));
  await initEngine({ threads });
  builds.push({ root, manualSeed, createVideoModel, VideoUpscaler });
}
const rows = [];
for (const n of VIDEO_NETS.filter((x) => only.some((o) => x.name.includes(o)))) {
  const ups = builds.map((b) => { b.manualSeed(0); return new b.VideoUpscaler(b.createVideoModel(n.arch, n.args), { backend: 'wasm' }); });
  const chunk = (ups[0].latency ?? 0) + 1, warm = 2 * chunk, total = warm + Math.ceil(reps / chunk) * chunk;
  const perChunk = ups.map(() => []), acc = ups.map(() => ({ ms: 0, frames: 0 }));
  for (let i = 0; i < total; i++) {
    for (let u = 0; u < ups.length; u++) {
      const t = performance.now();
      const out = await ups[u].push(frames[i % frames.length]);
      const ms = performance.now() - t;
      if (recycle) ups[u].recycle?.(out);
      if (i < warm) continue;
      acc[u].ms += ms; acc[u].frames += out.length;
      if ((i + 1) % chunk === 0) { perChunk[u].push(acc[u].ms / Math.max(1, acc[u].frames)); acc[u] = { ms: 0, frames: 0 }; }
    }
  }
  for (const u of ups) await u.dispose();
  const row = { net: n.name, ms: Object.fromEntries(builds.map((b, u) => [b.root, +median(perChunk[u]).toFixed(2)])) };
  // the first build's speed-up over each other one: the median over chunks of their time / its time
  if (builds.length > 1) row.speedup = Object.fromEntries(builds.slice(1).map((b, k) => [b.root, +median(perChunk[0].map((t, j) => perChunk[k + 1][j] / t)).toFixed(2)]));
  rows.push(row);
}
process.stdout.write(JSON.stringify({ threads, recycle, rows }, null, 1) + '\n');
