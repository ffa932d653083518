#!/usr/bin/env node
// What kind of motion and sharpness a set of clips has, frame to frame: for each clip, the global
// integer translation between consecutive frames that minimises the mean squared difference (green
// channel, a 24-pixel margin left out, every second pixel; searched within +-R pixels) with the
// residual MSE it leaves, and each frame's sharpness as the RMS of its discrete Laplacian (centre,
// 60-pixel margin). A clip filmed by a real camera keeps its sharpness; a clip made by resampling
// each frame from the previous one loses it frame after frame.
// With --scale S, also the sub-pixel translation that the video models' `align: global` estimates
// (estimateShift) on the MATLAB-bicubic x1/S LR frames, multiplied by S (HR pixels).
//   node scripts/clip-stats.mjs ../shared/data/train/video/vimeo [--clips '00001_*'] [--radius 12] [--scale 4]
// --clips takes comma-separated name patterns with * and ? (as mvsr eval-video --clips).
import { listClips } from '../dist/src/data/clips.node.js';
import { openVideo } from '../dist/src/io/video.node.js';
import { initEngine } from '../dist/src/tensor/engine.js';
import { imageToTensor } from '../dist/src/io/image.js';
import { estimateShift } from '../dist/src/autograd/ops/align.js';
import { makePair } from '../dist/src/data/pairs.js';
import { intFlag } from '../dist/src/cli/args.js';

const args = process.argv.slice(2);
const root = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
if (!root) {
  process.stderr.write("usage: node scripts/clip-stats.mjs <clips root, folder or video> [--clips 'glob,glob'] [--radius R] [--scale S]\n");
  process.exit(2);
}
const flag = (n) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
let R, S;
try {
  R = intFlag('clip-stats', flag('--radius'), 'radius') ?? 12;
  S = intFlag('clip-stats', flag('--scale'), 'scale', 2) ?? 0;
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exit(2);
}
const include = flag('--clips')?.split(',');

function shift(a, b) {
  const { width: W, height: H, channels: C } = a;
  const m = Math.max(24, R);
  let best = { mse: Infinity, dx: 0, dy: 0 };
  for (let dy = -R; dy <= R; dy++) {
    for (let dx = -R; dx <= R; dx++) {
      let s = 0, n = 0;
      for (let y = m; y < H - m; y += 2) {
        for (let x = m; x < W - m; x += 2) {
          const d = a.data[(y * W + x) * C + 1] - b.data[((y + dy) * W + x + dx) * C + 1];
          s += d * d;
          n++;
        }
      }
      if (s / n < best.mse) best = { mse: s / n, dx, dy };
    }
  }
  return best;
}

function sharpness(a) {
  const { width: W, height: H, channels: C } = a;
  let s = 0, n = 0;
  for (let y = 60; y < H - 60; y++) {
    for (let x = 60; x < W - 60; x++) {
      const p = (y * W + x) * C + 1, d = a.data;
      const l = 4 * d[p] - d[p - C] - d[p + C] - d[p - W * C] - d[p + W * C];
      s += l * l;
      n++;
    }
  }
  return Math.sqrt(s / Math.max(1, n));
}

if (S) await initEngine({ threads: 1 });
let clips;
try {
  clips = await listClips(root, { include });
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
}
for (const c of clips) {
  const frames = [];
  for await (const f of (await openVideo(c.path)).frames()) frames.push(f);
  const moves = frames.slice(1).map((f, i) => shift(frames[i], f));
  const sharp = frames.map(sharpness);
  process.stdout.write(`${c.name}: ${frames.length} frames, ${frames[0].width}x${frames[0].height}\n`);
  process.stdout.write(`  shift (dx,dy) px and residual MSE: ${moves.map((m) => `(${m.dx},${m.dy}) ${m.mse.toFixed(1)}`).join('  ')}\n`);
  if (S) {
    // MATLAB-bicubic LR as mvsr eval-video makes it (HR mod 12), searched within R/S LR pixels
    const lr = frames.map((f) => imageToTensor(makePair(f, S).lr));
    const est = lr.slice(1).map((f, i) => estimateShift(lr[i], f, Math.max(1, Math.ceil(R / S)))[0]);
    lr.forEach((t) => t.dispose());
    process.stdout.write(`  align: global estimate x${S} (dx,dy) HR px: ${est.map((m) => `(${(m.dx * S).toFixed(2)},${(m.dy * S).toFixed(2)})`).join('  ')}\n`);
  }
  process.stdout.write(`  Laplacian RMS: ${sharp.map((v) => v.toFixed(2)).join(' ')}  (last/first ${(sharp.at(-1) / sharp[0]).toFixed(2)})\n`);
}
