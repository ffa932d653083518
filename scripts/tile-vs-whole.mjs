// Tiled against whole-image inference (README, Tiles): a W x H crop from the top left of an image,
// upscaled by each model with the Upscaler's default tiles (256 + 16 halo) and as one tile; prints
// the PSNR between the two outputs, the largest difference in 8-bit levels and how many differ.
//   npm run build && node scripts/tile-vs-whole.mjs <image> <WxH> <model> [model ...]
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const here = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (f) => import(pathToFileURL(path.join(here, 'dist/src', f)).href);
const [{ createUpscaler }, { readImage }] = await Promise.all(['api/create.node.js', 'io/image.node.js'].map(load));
const [file, size, ...models] = process.argv.slice(2);
const m = /^(\d+)x(\d+)$/.exec(size ?? '');
if (!file || !m || !models.length) {
  console.error('usage: node scripts/tile-vs-whole.mjs <image> <WxH> <model> [model ...]');
  process.exit(2);
}
const [W, H] = [Number(m[1]), Number(m[2])];
const src = await readImage(file), c = src.channels;
if (src.width < W || src.height < H) throw new Error(`${file}: ${src.width}x${src.height} is smaller than ${W}x${H}`);
const data = new Uint8Array(W * H * 3);
for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let k = 0; k < 3; k++) data[(y * W + x) * 3 + k] = src.data[(y * src.width + x) * c + Math.min(k, c - 1)];
const img = { width: W, height: H, channels: 3, bitDepth: 8, data };
for (const model of models) {
  const outs = [];
  for (const tile of [256, 100000]) {
    const up = await createUpscaler({ model, tile, threads: 2 });
    outs.push((await up.upscale(img)).data);
    await up.dispose?.();
  }
  let se = 0, max = 0, n = 0;
  for (let i = 0; i < outs[0].length; i++) {
    const d = outs[0][i] - outs[1][i];
    se += d * d;
    max = Math.max(max, Math.abs(d));
    if (d) n++;
  }
  const psnr = se ? (10 * Math.log10((255 * 255) / (se / outs[0].length))).toFixed(2) : 'inf';
  console.log(`${path.basename(model)}: tiled vs whole PSNR ${psnr} dB, at most ${max} level(s), ${((100 * n) / outs[0].length).toFixed(2)}% of values differ`);
}
