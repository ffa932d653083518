// MATLAB bicubic imresize: hand-computed values, an independent float64 implementation written
// here from MATLAB's documented algorithm (continuous kernel, symmetric padding, normalised
// weights), the uint8 path's rounding, output sizes and option handling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, mulberry32, assertClose } from './helpers.js';
import { Tensor } from '../src/tensor/tensor.js';
import type { Image } from '../src/io/image.js';
import { matlabImresize, imresizeUint8, matlabCubic, matlabOutputSize, matlabContributions, matlabToUint8 } from '../src/data/imresize.js';

// ---------------------------------------------------------------------------------------------
// Reference: out(j) = sum_k h(u_j - k) xpad(k) / sum_k h(u_j - k) over all integers k, with
// u_j = (j - 0.5) / s + 0.5 (output pixel centres mapped to input coordinates, 1-based), h the
// Keys cubic (a = -0.5) widened by 1/s when shrinking, and xpad the input extended by mirror
// images that repeat the edge sample (MATLAB's 'symmetric').

function keys(t: number): number {
  const a = -0.5, x = Math.abs(t);
  if (x < 1) return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1;
  if (x < 2) return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a;
  return 0;
}

function refResize1d(x: ArrayLike<number>, s: number, antialias = true): number[] {
  const n = x.length, m = Math.ceil(n * s);
  const wide = s < 1 && antialias;
  const h = (t: number) => (wide ? keys(t * s) : keys(t));
  const reach = wide ? 2 / s : 2;
  const at = (k: number): number => {
    let i = k;
    while (i < 1 || i > n) i = i < 1 ? 1 - i : 2 * n + 1 - i;
    return x[i - 1]!;
  };
  const out: number[] = [];
  for (let j = 1; j <= m; j++) {
    const u = (j - 0.5) / s + 0.5;
    let num = 0, den = 0;
    for (let k = Math.ceil(u - reach); k <= Math.floor(u + reach); k++) {
      const w = h(u - k);
      num += w * at(k);
      den += w;
    }
    out.push(num / den);
  }
  return out;
}

/** [H][W][C] float64 image resized along H, then along W. */
function refResize2d(x: Float64Array, H: number, W: number, C: number, s: number, antialias = true): { data: Float64Array; H: number; W: number } {
  const Ho = Math.ceil(H * s), Wo = Math.ceil(W * s);
  const mid = new Float64Array(Ho * W * C);
  for (let xx = 0; xx < W; xx++) for (let c = 0; c < C; c++) {
    const col = Array.from({ length: H }, (_, y) => x[(y * W + xx) * C + c]!);
    refResize1d(col, s, antialias).forEach((v, y) => (mid[(y * W + xx) * C + c] = v));
  }
  const out = new Float64Array(Ho * Wo * C);
  for (let y = 0; y < Ho; y++) for (let c = 0; c < C; c++) {
    const row = Array.from({ length: W }, (_, xx) => mid[(y * W + xx) * C + c]!);
    refResize1d(row, s, antialias).forEach((v, xx) => (out[(y * Wo + xx) * C + c] = v));
  }
  return { data: out, H: Ho, W: Wo };
}

function resizeTensor(values: number[], shape: [number, number, number, number], s: number, antialias = true): { shape: number[]; data: number[] } {
  const x = Tensor.from(shape, values);
  try {
    const y = matlabImresize(x, s, { antialias });
    try {
      return { shape: [...y.shape], data: Array.from(y.data) };
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
  }
}

const RAMP = [0, 1, 2, 3, 4, 5, 6, 7];
// Worked by hand from the kernel: taps 0.5 * cubic(0.5 t) at t = ±0.5, ±1.5, ±2.5, ±3.5 are
// 0.43359375, 0.11328125, -0.03515625, -0.01171875 (they sum to 1/2 per side); mirrored taps
// at the ends replace x[-1], x[-2], x[-3] by x[0], x[1], x[2].
const RAMP_DOWN2 = [0.44921875, 2.48828125, 4.51171875, 6.55078125];
// Upscaling: cubic(0.25) = 0.8671875, cubic(0.75) = 0.2265625, cubic(1.25) = -0.0703125,
// cubic(1.75) = -0.0234375; inside, a ramp stays a ramp (out[k] = k/2 - 1/4).
const RAMP_UP2 = [-0.09375, 0.1796875, 0.7265625, ...Array.from({ length: 10 }, (_, i) => (i + 3) / 2 - 0.25), 6.2734375, 6.8203125, 7.09375];

test('hand-computed: [0..7] down by 1/2 and up by 2, along H and along W', async () => {
  await useEngine(1);
  assert.deepEqual(refResize1d(RAMP, 0.5), RAMP_DOWN2, 'the reference agrees with the hand computation');
  assert.deepEqual(refResize1d(RAMP, 2), RAMP_UP2);
  const h = resizeTensor(RAMP, [1, 8, 1, 1], 0.5);
  assert.deepEqual(h.shape, [1, 4, 1, 1]);
  assert.deepEqual(h.data, RAMP_DOWN2); // dyadic weights: exact even in float32
  const w = resizeTensor(RAMP, [1, 1, 8, 1], 0.5);
  assert.deepEqual(w.shape, [1, 1, 4, 1]);
  assert.deepEqual(w.data, RAMP_DOWN2);
  const up = resizeTensor(RAMP, [1, 8, 1, 1], 2);
  assert.deepEqual(up.shape, [1, 16, 2, 1]);
  assert.deepEqual(up.data, RAMP_UP2.flatMap((v) => [v, v]));
  assert.deepEqual([matlabCubic(0.25), matlabCubic(0.75), matlabCubic(1.25), matlabCubic(1.75), matlabCubic(2), matlabCubic(-0.5)], [0.8671875, 0.2265625, -0.0703125, -0.0234375, 0, 0.5625]);
});

test('matlabImresize (engine, float32) matches the float64 reference: shrink with antialias, enlarge', async () => {
  await useEngine(2);
  const rng = mulberry32(42);
  const cases: [number, number, number, number][] = [
    [12, 12, 3, 1 / 2], [12, 24, 3, 1 / 3], [24, 12, 1, 1 / 4], [13, 7, 2, 1 / 2], [5, 9, 3, 2], [6, 4, 3, 3], [7, 5, 1, 4],
    [10, 11, 3, 0.75], [9, 8, 1, 1.5], [3, 3, 1, 1 / 4],
  ];
  for (const [H, W, C, s] of cases) {
    const x = Float64Array.from({ length: H * W * C }, () => rng());
    const ref = refResize2d(x, H, W, C, s);
    const got = resizeTensor(Array.from(x), [1, H, W, C], s);
    assert.deepEqual(got.shape, [1, ref.H, ref.W, C], `${H}x${W}x${C} by ${s}: shape`);
    assertClose(got.data, ref.data, 2e-6, 2e-6, `${H}x${W}x${C} by ${s}`);
  }
  // without antialiasing the shrinking kernel keeps width 4
  const x = Float64Array.from({ length: 16 * 16 }, () => rng());
  const ref = refResize2d(x, 16, 16, 1, 1 / 4, false);
  assertClose(resizeTensor(Array.from(x), [1, 16, 16, 1], 1 / 4, false).data, ref.data, 2e-6, 2e-6, 'no antialias');
});

test('weights: every output row sums to 1 (so constants stay constant) and indices stay inside the input', () => {
  for (const [n, s] of [[10, 1 / 3], [7, 1 / 4], [5, 3], [1, 2], [2, 1 / 2]] as const) {
    const c = matlabContributions(n, matlabOutputSize(n, s), s);
    for (let d = 0; d < c.outSize; d++) {
      let sum = 0;
      for (let j = 0; j < c.taps; j++) {
        sum += c.weight[d * c.taps + j]!;
        const i = c.index[d * c.taps + j]!;
        assert.ok(i >= 0 && i < n, `index ${i} for n = ${n}`);
      }
      assert.ok(Math.abs(sum - 1) < 1e-12, `row ${d} sums to ${sum}`);
    }
  }
});

test('output size is ceil(in * scale) in double arithmetic, as MATLAB', () => {
  assert.equal(matlabOutputSize(504, 1 / 3), 168);
  assert.equal(matlabOutputSize(13, 1 / 4), 4);
  assert.equal(matlabOutputSize(255, 1 / 2), 128);
  assert.equal(matlabOutputSize(7, 3), 21);
  assert.equal(matlabOutputSize(10, 0.7), 7);
});

function randomU8(w: number, h: number, seed: number): Image {
  const rng = mulberry32(seed);
  // smooth content plus noise: overshoot below 0 and above 255 happens at the hard edges
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    const dark = (x * 13 + y * 7 + c * 80) % 256 < 128;
    const noise = Math.floor(rng() * 6);
    data[(y * w + x) * 3 + c] = dark ? noise : 255 - noise;
  }
  return { width: w, height: h, channels: 3, bitDepth: 8, data };
}

test('imresizeUint8: double precision throughout, one uint8 rounding (half away from zero, saturating)', () => {
  for (const [w, h, s, seed] of [[36, 24, 1 / 2, 1], [36, 24, 1 / 3, 2], [48, 36, 1 / 4, 3], [9, 7, 2, 4], [8, 8, 3, 5]] as const) {
    const img = randomU8(w, h, seed);
    const got = imresizeUint8(img, s);
    const ref = refResize2d(Float64Array.from(img.data), h, w, 3, s);
    assert.deepEqual([got.width, got.height, got.channels, got.bitDepth], [ref.W, ref.H, 3, 8]);
    let clipped = 0;
    for (let i = 0; i < ref.data.length; i++) {
      const v = ref.data[i]!;
      if (v < 0 || v > 255) clipped++;
      const frac = v - Math.floor(v);
      if (Math.abs(frac - 0.5) < 1e-9) continue; // a tie: the two float64 evaluations may land either side
      const want = v <= 0 ? 0 : v >= 255 ? 255 : Math.floor(v + 0.5);
      if (got.data[i] !== want) assert.fail(`${w}x${h} by ${s}: sample ${i} is ${got.data[i]}, reference ${v} rounds to ${want}`);
    }
    assert.ok(clipped > 0, `${w}x${h} by ${s}: the test content overshoots, so saturation is exercised`);
  }
  assert.deepEqual([0.5, 1.5, 2.5, 254.5, 255.2, -0.5, -3, NaN].map(matlabToUint8), [1, 2, 3, 255, 255, 0, 0, 0]);
});

test('imresizeUint8: grey becomes RGB, alpha is dropped, 16-bit goes to 8-bit first; rounding between passes is optional', () => {
  const grey: Image = { width: 8, height: 8, channels: 1, bitDepth: 8, data: Uint8Array.from({ length: 64 }, (_, i) => (i * 37) % 256) };
  const rgb: Image = { width: 8, height: 8, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: 192 }, (_, i) => grey.data[Math.floor(i / 3)]!) };
  assert.deepEqual(imresizeUint8(grey, 1 / 2), imresizeUint8(rgb, 1 / 2));
  const rgba: Image = { width: 8, height: 8, channels: 4, bitDepth: 16, data: Uint16Array.from({ length: 256 }, (_, i) => (i % 4 === 3 ? 7 : grey.data[Math.floor(i / 4)]! * 257)) };
  assert.deepEqual(imresizeUint8(rgba, 1 / 2), imresizeUint8(rgb, 1 / 2));
  const rng = mulberry32(9);
  const img: Image = { width: 40, height: 40, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: 4800 }, () => 64 + Math.floor(rng() * 128)) };
  const once = imresizeUint8(img, 1 / 3), twice = imresizeUint8(img, 1 / 3, { roundBetweenPasses: true });
  // mid-range content (no saturation): the intermediate rounding moves some samples by one level
  let differ = 0, sum = 0;
  once.data.forEach((v, i) => {
    assert.ok(Math.abs(v - twice.data[i]!) <= 1);
    sum += Math.abs(v - twice.data[i]!);
    if (v !== twice.data[i]) differ++;
  });
  assert.ok(differ > 0 && sum / once.data.length < 0.3, `${differ} samples differ, mean ${sum / once.data.length}`);
  assert.throws(() => imresizeUint8(img, 0), /scale 0 must be a positive finite number/);
  assert.throws(() => imresizeUint8(img, Infinity), /scale Infinity/);
});
