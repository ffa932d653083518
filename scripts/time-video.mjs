// A/B of builds on the video models (VIDEO_NETS of src/bench/video.ts) at the MAI setting
// (180x320 -> 720x1280): each checkout's own VideoUpscaler (8-bit RGB frames in and out, steady
// state), timed by this checkout's timeStreaming, wasm backend. Checkouts run one after another,
// each in its own process, so `old . old .` alternates two builds; run on an idle machine.
//   node scripts/time-video.mjs [--threads N] [--only text[,text]] [--reps N] [checkout ...]
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (k, d) => { const i = argv.indexOf(k); if (i < 0) return d; const v = argv[i + 1]; argv.splice(i, 2); return v; };
const threads = Number(flag('--threads', '2'));
const only = flag('--only', 'RLSP 7-16,MobileRRN (16,SWRN').split(',');
const reps = Number(flag('--reps', '12'));
const root = process.env.MVSR_TIME_ROOT;
if (root) {
  const load = (f) => import(pathToFileURL(path.join(root, 'dist/src', f)).href);
  const [{ initEngine }, { manualSeed }, { createVideoModel }, { VideoUpscaler }] = await Promise.all(
    ['tensor/engine.js', 'nn/init.js', 'models/registry.js', 'api/video.js'].map(load));
  const { VIDEO_NETS, timeStreaming } = await import(pathToFileURL(path.join(here, 'dist/src/bench/video.js')).href);
  const { median } = await import(pathToFileURL(path.join(here, 'dist/src/bench/timing.js')).href);
  await initEngine({ threads });
  const rows = [];
  for (const n of VIDEO_NETS.filter((x) => only.some((o) => x.name.includes(o)))) {
    manualSeed(0);
    const up = new VideoUpscaler(createVideoModel(n.arch, n.args), { backend: 'wasm' });
    const t = await timeStreaming(up, 180, 320, reps);
    await up.dispose();
    rows.push({ net: n.name, ms: median(t) });
  }
  process.stdout.write(JSON.stringify({ root, threads, rows }) + '\n');
} else {
  const roots = argv.length ? argv : [here];
  for (const r of roots) {
    execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--threads', String(threads), '--only', only.join(','), '--reps', String(reps)], { stdio: 'inherit', env: { ...process.env, MVSR_TIME_ROOT: path.resolve(r) } });
  }
}
