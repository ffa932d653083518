// The Upscaler API: tiled inference equals whole-image inference, alpha is carried through by
// bicubic upsampling, grey and 16-bit inputs keep their format, progress and abort work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, mulberry32 } from './helpers.js';
import * as ref from './ref/index.js';
import { createModel } from '../src/models/registry.js';
import { manualSeed } from '../src/nn/init.js';
import { Upscaler } from '../src/api/upscaler.js';
import type { Image } from '../src/io/image.js';

function randomImage(w: number, h: number, c: 1 | 2 | 3 | 4, bitDepth: 8 | 16, seed: number): Image {
  const rng = mulberry32(seed);
  const max = bitDepth === 16 ? 65535 : 255;
  const data = bitDepth === 16 ? new Uint16Array(w * h * c) : new Uint8Array(w * h * c);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng() * (max + 1));
  return { width: w, height: h, channels: c, bitDepth, data };
}

function model(scale: number) {
  manualSeed(11);
  return createModel('ETDSForInference', { num_block: 3, num_feat: 8, upscale: scale });
}

test('tiled upscaling equals whole-image inference exactly (and a too-small halo does not)', async () => {
  await useEngine(2);
  const img = randomImage(50, 37, 3, 8, 1);
  const m = model(3);
  const whole = await new Upscaler(m, { tile: 1 << 20 }).upscale(img);
  const tiled = await new Upscaler(m, { tile: 16, halo: 16 }).upscale(img);
  assert.deepEqual([whole.width, whole.height, whole.channels], [150, 111, 3]);
  assert.deepEqual(tiled.data, whole.data, 'tiles with a full halo reproduce whole-image inference');
  const thin = await new Upscaler(m, { tile: 16, halo: 1 }).upscale(img);
  assert.notDeepEqual(thin.data, whole.data, 'a halo smaller than the receptive field shows seams');
  m.dispose();
});

test('alpha is upscaled with bicubic, grey and 16-bit inputs keep their format', async () => {
  await useEngine(2);
  const m = model(2);
  const up = new Upscaler(m, { tile: 12 });
  const rgba = randomImage(20, 15, 4, 8, 2);
  const out = await up.upscale(rgba);
  assert.deepEqual([out.width, out.height, out.channels, out.bitDepth], [40, 30, 4, 8]);
  // the alpha plane equals PyTorch-style bicubic x2 of the input alpha, clamped and rounded
  const a = Float64Array.from({ length: 300 }, (_, i) => rgba.data[i * 4 + 3]! / 255);
  const expected = ref.resize({ shape: [1, 15, 20, 1], data: a }, 30, 40, 'bicubic');
  for (let i = 0; i < 1200; i++) {
    const e = Math.round(Math.min(1, Math.max(0, expected.data[i]!)) * 255);
    assert.ok(Math.abs(out.data[i * 4 + 3]! - e) <= 1, `alpha ${i}: ${out.data[i * 4 + 3]} vs ${e}`);
  }
  // the colour channels equal those of the same image without alpha
  const rgb: Image = { width: 20, height: 15, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: 900 }, (_, i) => rgba.data[Math.floor(i / 3) * 4 + (i % 3)]!) };
  const outRgb = await up.upscale(rgb);
  for (let i = 0; i < 1200; i++) for (let k = 0; k < 3; k++) assert.equal(out.data[i * 4 + k], outRgb.data[i * 3 + k]);

  const grey16 = randomImage(9, 7, 1, 16, 3);
  const g = await up.upscale(grey16);
  assert.deepEqual([g.width, g.height, g.channels, g.bitDepth], [18, 14, 1, 16]);
  assert.ok(g.data instanceof Uint16Array);
  const greyAlpha = await up.upscale(randomImage(9, 7, 2, 8, 4));
  assert.equal(greyAlpha.channels, 2);
  m.dispose();
});

test('progress reaches the total and an abort signal stops the work', async () => {
  await useEngine(1);
  const m = model(2);
  const up = new Upscaler(m, { tile: 8 });
  const img = randomImage(32, 24, 3, 8, 5);
  const seen: [number, number][] = [];
  await up.upscale(img, { onProgress: (d, t) => seen.push([d, t]) });
  assert.deepEqual(seen[seen.length - 1], [12, 12]);
  assert.ok(seen.every(([d], i) => i === 0 || d > seen[i - 1]![0]), 'progress increases');
  const ac = new AbortController();
  await assert.rejects(
    up.upscale(img, { signal: ac.signal, onProgress: (d) => { if (d === 2) ac.abort(new Error('stop here')); } }),
    /stop here/,
  );
  m.dispose();
});

test('the MATLAB-bicubic upscaler equals the float64 MATLAB imresize reference', async () => {
  await useEngine(2);
  const { createModel: cm } = await import('../src/models/registry.js');
  const { imresizeUint8 } = await import('../src/data/imresize.js');
  const img = randomImage(13, 9, 3, 8, 6);
  const m = cm('MatlabBicubic', { upscale: 3 });
  const out = await new Upscaler(m, { tile: 5 }).upscale(img); // tiled, too
  const expected = imresizeUint8(img, 3);
  assert.deepEqual([out.width, out.height], [39, 27]);
  let maxDiff = 0;
  for (let i = 0; i < out.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out.data[i]! - expected.data[i]!));
  assert.ok(maxDiff <= 1, `uint8 difference ${maxDiff} (float32 engine vs float64 reference, rounding ties)`);
});
