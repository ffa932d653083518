// Kill campaign: a short training run (ETDS x2 on three rendered images, 1200 iterations,
// validation every 25, a checkpoint every 10, batches prepared ahead by the loader worker) is SIGKILLed at N random moments
// and resumed each time; after every kill its checkpoint must load, and the finished run must equal
// an uninterrupted one bit for bit (loss curve, final weights, optimizer state).
//   node scripts/kill-campaign.mjs [kills=20] [seed=1]     (after npm run build)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (f) => import(path.join(root, 'dist', 'src', f));
const [{ initEngine }, { encodePng }, { readSafetensors }, { loadCheckpoint }] = await Promise.all(
  ['tensor/engine.js', 'io/image.node.js', 'io/safetensors.js', 'train/checkpoint.node.js'].map(dist));
const CLI = path.join(root, 'dist', 'src', 'cli', 'main.js');
const kills = Number(process.argv[2] ?? 20);
let seed = Number(process.argv[3] ?? 1);
const rnd = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};

const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-kill-'));
const imgs = path.join(dir, 'images'), val = path.join(dir, 'val');
mkdirSync(imgs);
mkdirSync(val);
await initEngine({ threads: 1 });
for (let k = 0; k < 4; k++) {
  const W = 96 + 8 * k, H = 80;
  const d = Uint8Array.from({ length: W * H * 3 }, (_, i) => {
    const p = Math.floor(i / 3), x = p % W, y = Math.floor(p / W);
    return Math.round(127 + 120 * Math.sin(x / (5 + k) + (i % 3)) * Math.cos(y / 7));
  });
  writeFileSync(path.join(k < 3 ? imgs : val, `img${k}.png`), await encodePng({ width: W, height: H, channels: 3, bitDepth: 8, data: d }));
}
const cfg = path.join(dir, 'train.yml');
writeFileSync(cfg, `name: kill_campaign
scale: 2
manual_seed: 5
network_g: {type: ETDS, upscale: 2, num_block: 2, num_feat: 8}
datasets:
  train: {type: HRFolder, dataroot_gt: ${imgs}, gt_size: 48, use_hflip: true, use_rot: true, batch_size_per_gpu: 8, prefetch: 2}
  val: {type: HRFolder, dataroot_gt: ${val}}
train:
  ema_decay: 0.99
  optim_g: {type: Adam, lr: 0.001, betas: [0.9, 0.99]}
  scheduler: {type: MultiStepLR, milestones: [600], gamma: 0.5}
  total_iter: 1200
  pixel_opt: {type: L1Loss, loss_weight: 1.0}
val: {val_freq: 25, metrics: {psnr: {type: calculate_psnr, crop_border: 2}}}
logger: {print_freq: 1, save_checkpoint_freq: 10}
`);

const train = (runDir, resume) => [CLI, 'train', cfg, '--run-dir', runDir, '--threads', '2', ...(resume ? ['--resume'] : [])];
const a = path.join(dir, 'A'), b = path.join(dir, 'B');
let t0 = performance.now();
const ra = spawnSync(process.execPath, train(a, false), { encoding: 'utf8' });
if (ra.status !== 0) throw new Error(`uninterrupted run failed: ${ra.stderr}`);
const full = (performance.now() - t0) / 1000;
console.error(`uninterrupted run: ${full.toFixed(1)} s`);

const logLines = (runDir) => {
  const f = path.join(runDir, 'train_log.jsonl');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
};
const rows = [];
for (let k = 0; k < kills; k++) {
  const resume = existsSync(path.join(b, 'checkpoint')) || existsSync(path.join(b, 'checkpoint.old'));
  const child = spawn(process.execPath, train(b, resume), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  // uniform over [0.3 s, 0.8 s + a 1/kills share of the run]: about half a share of progress per
  // kill, so all the kills land before the end (some in start-up, some in validation or a
  // checkpoint write)
  const wait = (0.3 + rnd() * (0.5 + full / kills)) * 1000;
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  const timer = setTimeout(() => child.kill('SIGKILL'), wait);
  const { code, sig } = await exited;
  clearTimeout(timer);
  if (sig !== 'SIGKILL') {
    if (code !== 0) throw new Error(`run ${k} failed (exit ${code}): ${stderr}`);
    console.error(`kill ${k + 1}: the run finished before the kill at ${(wait / 1000).toFixed(2)} s; the campaign stops at ${k} kills`);
    break;
  }
  const log = logLines(b), last = log.at(-1);
  const ck = loadCheckpoint(b); // must load (or be absent before the first save)
  rows.push({ kill: k + 1, afterSeconds: +(wait / 1000).toFixed(2), lastLogged: last?.iter ?? null, checkpointIter: ck ? ck.state.iter : null });
  console.error(`kill ${k + 1}: after ${(wait / 1000).toFixed(2)} s, last logged iteration ${rows.at(-1).lastLogged}, checkpoint at ${rows.at(-1).checkpointIter ?? 'none yet'}`);
}
t0 = performance.now();
const rb = spawnSync(process.execPath, train(b, true), { encoding: 'utf8' });
if (rb.status !== 0) throw new Error(`final resume failed: ${rb.stderr}`);

const losses = (runDir) => logLines(runDir).filter((r) => r.loss !== undefined).map((r) => [r.iter, r.loss]);
const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);
const la = losses(a), lb = losses(b);
const byIter = new Map(lb.map(([i, l]) => [i, l]));
const curveOk = la.every(([i, l]) => byIter.get(i) === l);
const weights = (f) => readSafetensors(readFileSync(f)).tensors;
let weightsOk = true;
for (const f of ['model.safetensors', 'checkpoint/optimizer.safetensors']) {
  const wa = weights(path.join(a, f)), wb = weights(path.join(b, f));
  for (const key of Object.keys(wa)) if (!wb[key] || !same(Array.from(wa[key].data), Array.from(wb[key].data))) weightsOk = false;
}
console.log(JSON.stringify({ kills: rows.length, rows, lossCurveIdentical: curveOk, weightsAndOptimizerIdentical: weightsOk, runDir: dir }, null, 1));
if (!curveOk || !weightsOk) process.exit(1);
