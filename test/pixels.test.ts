// The float-to-pixel kernel (tensorToImage, tiles, video frames) against float32ToImage, the
// JavaScript rounding it replaces: clamp to [0, 1], times 255 / 65535 in float32, half to even;
// and the pixel-to-float kernel (imageToTensor) against imageToFloat32's float64 division.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, mulberry32 } from './helpers.js';
import { Tensor } from '../src/tensor/tensor.js';
import { float32ToImage, tensorToImage, imageToFloat32, imageToTensor } from '../src/io/image.js';

/** Values around every rounding boundary (k + 0.5) / max, outside [0, 1], signed zeros and infinities. */
function tricky(n: number, max: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, (_, i) => {
    switch (i % 7) {
      case 0: return (Math.floor(r() * max) + 0.5) / max; // a tie after the multiply (or next to one)
      case 1: return Math.fround((Math.floor(r() * max) + 0.5) / max) + (r() - 0.5) * 1e-7;
      case 2: return r() * 1.4 - 0.2;
      case 3: return [0, -0, 1, -1e-30, 1 + 1e-7, Infinity, -Infinity][Math.floor(r() * 7)]!;
      default: return r();
    }
  });
}

for (const threads of [1, 2]) {
  test(`tensorToImage equals float32ToImage value for value, 8 and 16 bits (${threads} thread(s))`, async () => {
    await useEngine(threads);
    for (const [H, W, C] of [[1, 1, 1], [3, 5, 3], [7, 13, 4], [64, 33, 3]] as const) {
      for (const bits of [8, 16] as const) {
        const x = tricky(H * W * C, bits === 8 ? 255 : 65535, H * W + bits);
        const t = Tensor.from([1, H, W, C], x);
        try {
          const got = tensorToImage(t, bits), want = float32ToImage(x, W, H, C, bits);
          assert.equal(got.data.constructor, want.data.constructor);
          assert.deepEqual([got.width, got.height, got.channels, got.bitDepth], [W, H, C, bits]);
          const bad = want.data.findIndex((v, i) => v !== got.data[i]);
          assert.equal(bad, -1, `${H}x${W}x${C}, ${bits} bits: value ${bad} (${x[bad]}) -> ${got.data[bad]}, expected ${want.data[bad]}`);
        } finally {
          t.dispose();
        }
      }
    }
  });
}

test('a NaN is reported with its index, as float32ToImage does', async () => {
  await useEngine(2);
  const x = new Float32Array(100).fill(0.5);
  x[77] = NaN;
  const t = Tensor.from([1, 5, 20, 1], x);
  try {
    assert.throws(() => float32ToImage(x, 20, 5, 1), /value 77 is NaN/);
    assert.throws(() => tensorToImage(t), /value 77 is NaN/);
  } finally {
    t.dispose();
  }
});

test('imageToTensor equals imageToFloat32 bit for bit: every 8-bit and 16-bit value, odd lengths, 1 and 2 threads', async () => {
  for (const threads of [1, 2]) {
    await useEngine(threads);
    for (const bitDepth of [8, 16] as const) {
      const max = bitDepth === 16 ? 65535 : 255;
      // every value, then a length that leaves a tail after the 16-sample blocks of each thread
      for (const width of [max + 1, 37]) {
        const data = bitDepth === 16 ? new Uint16Array(width) : new Uint8Array(width);
        for (let i = 0; i < width; i++) data[i] = (i * 7919) % (max + 1);
        const img = { width, height: 1, channels: 1 as const, bitDepth, data };
        const t = imageToTensor(img);
        assert.deepEqual([...t.shape], [1, 1, width, 1]);
        const want = imageToFloat32(img);
        for (let i = 0; i < width; i++) assert.ok(Object.is(t.data[i], want[i]), `${bitDepth}-bit value ${data[i]}: ${t.data[i]} vs ${want[i]}`);
        t.dispose();
      }
    }
  }
});
