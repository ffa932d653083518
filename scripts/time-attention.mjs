// One MobileSR window-attention layer at the MAI setting (180x320 LR, 40 channels = 8 heads of 5,
// 8x8 windows): ms per call of the raw op on this build, 1 warm-up then 3 timed runs.
//   npm run build && node scripts/time-attention.mjs [threads]
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const here = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (f) => import(pathToFileURL(path.join(here, 'dist/src', f)).href);
const [{ initEngine }, { Tensor }, { windowAttention }] = await Promise.all(['tensor/engine.js', 'tensor/tensor.js', 'tensor/ops/attention.js'].map(load));
const threads = Number(process.argv[2] ?? 1);
await initEngine({ threads });
const H = 180, W = 320, C = 40;
const x = Tensor.from([1, H, W, 3 * C], Float32Array.from({ length: H * W * 3 * C }, (_, i) => Math.sin(i)));
const ms = [];
for (let r = 0; r < 4; r++) {
  const t = performance.now();
  windowAttention(x, { heads: 8, window: 8 }).dispose();
  if (r > 0) ms.push(performance.now() - t);
}
x.dispose();
console.log(`windowAttention ${H}x${W}x${3 * C} -> ${C}, 8 heads, 8x8 windows, ${threads} thread(s): ${ms.map((v) => v.toFixed(1)).join(', ')} ms`);
