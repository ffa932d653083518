// Resize (PyTorch F.interpolate, align_corners=False: nearest, bilinear, bicubic) against the
// float64 reference, hand-known values, gradients against finite differences, 1 vs 2 threads,
// and input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, toRT, assertClose, gradCheck, mulberry32, randomRT, assertSameOnThreadCounts } from './helpers.js';
import * as ref from './ref/index.js';
import {
  resize as resizeRaw, resizeBackward, upsample as upsampleRaw, interpolateMatrix, transposeMatrix,
  nearestSourceIndex, type ResizeMode, type ResampleMatrix,
} from '../src/tensor/ops/resize.js';
import { resize, upsample } from '../src/autograd/ops/resize.js';
import { Tensor } from '../src/tensor/tensor.js';

const MODES: ResizeMode[] = ['nearest', 'bilinear', 'bicubic'];

function dense(m: ResampleMatrix): Float64Array {
  const d = new Float64Array(m.outSize * m.inSize);
  for (let r = 0; r < m.outSize; r++) {
    for (let k = m.rowPtr[r]!; k < m.rowPtr[r + 1]!; k++) d[r * m.inSize + m.col[k]!]! += m.weight[k]!;
  }
  return d;
}

function denseRef(inSize: number, outSize: number, mode: ResizeMode): Float64Array {
  const { idx, w } = ref.resizeWeights1d(inSize, outSize, mode);
  const d = new Float64Array(outSize * inSize);
  for (let r = 0; r < outSize; r++) idx[r]!.forEach((i, k) => { d[r * inSize + i]! += w[r]![k]!; });
  return d;
}

// [N, H, W, C, outH, outW]
const SHAPES: [number, number, number, number, number, number][] = [
  [1, 1, 1, 3, 4, 3],   // 1x1 image
  [1, 4, 5, 3, 8, 10],  // x2
  [2, 3, 4, 5, 9, 12],  // x3, batch, C not multiple of 4
  [1, 5, 7, 4, 3, 2],   // downsample
  [1, 6, 4, 8, 6, 4],   // identity size
  [2, 7, 3, 1, 5, 11],  // mixed, C = 1
  [1, 4, 6, 6, 7, 13],  // non-integer ratios, C = 6
  [1, 9, 8, 2, 3, 4],   // /3, /2
  [1, 2, 2, 19, 5, 5],  // many channels
];

test('weight matrices equal the reference weights for all modes and sizes', () => {
  for (const mode of MODES) {
    for (let inSize = 1; inSize <= 24; inSize++) {
      for (let outSize = 1; outSize <= 50; outSize += inSize % 3 === 0 ? 1 : 3) {
        const m = interpolateMatrix(inSize, outSize, mode);
        assertClose(dense(m), denseRef(inSize, outSize, mode), 1e-12, 0, `${mode} ${inSize}->${outSize}`);
        const t = transposeMatrix(m);
        const dm = dense(m), dt = dense(t);
        for (let r = 0; r < outSize; r++) {
          for (let c = 0; c < inSize; c++) assert.equal(dt[c * outSize + r], dm[r * inSize + c], `${mode} transpose ${inSize}->${outSize}`);
        }
      }
    }
  }
  // PyTorch's float32 nearest index (e.g. 2 -> 82 maps output 41 to input 0)
  for (const [i, o] of [[2, 82], [3, 7], [5, 3], [7, 100], [10, 3], [13, 29], [100, 7]] as const) {
    for (let d = 0; d < o; d++) assert.equal(nearestSourceIndex(d, i, o), ref.nearestSourceIndex(d, i, o), `nearest ${i}->${o} at ${d}`);
  }
  assert.equal(nearestSourceIndex(41, 2, 82), 0);
});

for (const threads of [1, 2]) {
  test(`resize forward matches the float64 reference (${threads} thread(s))`, async () => {
    await useEngine(threads);
    for (const mode of MODES) {
      SHAPES.forEach(([N, H, W, C, oh, ow], k) => {
        const x = randomRT([N, H, W, C], mulberry32(40 + k));
        const xt = toTensor(x);
        const y = resizeRaw(xt, oh, ow, mode);
        const r = ref.resize(x, oh, ow, mode);
        assert.deepEqual([...y.shape], r.shape);
        assertClose(y.data, r.data, 1e-5, 1e-5, `resize ${mode} ${JSON.stringify([N, H, W, C, oh, ow])}`);
        [xt, y].forEach((t) => t.dispose());
      });
    }
  });

  test(`resize gradients match finite differences (${threads} thread(s))`, async () => {
    await useEngine(threads);
    const cases: [number, number, number, number, number, number][] = [
      [1, 3, 2, 3, 6, 4],
      [2, 4, 5, 2, 3, 2],
      [1, 1, 1, 5, 2, 3],
      [1, 3, 4, 4, 7, 5],
    ];
    for (const mode of MODES) {
      cases.forEach(([N, H, W, C, oh, ow], k) => {
        gradCheck({
          name: `resize ${mode} ${JSON.stringify([N, H, W, C, oh, ow])}`,
          inputs: [randomRT([N, H, W, C], mulberry32(60 + k))],
          grad: [true],
          op: ([v]) => resize(v!, oh, ow, mode),
          ref: ([r]) => ref.resize(r!, oh, ow, mode),
        });
      });
      gradCheck({
        name: `upsample x2 ${mode}`,
        inputs: [randomRT([1, 2, 3, 3], mulberry32(70))],
        grad: [true],
        op: ([v]) => upsample(v!, 2, mode),
        ref: ([r]) => ref.resize(r!, 4, 6, mode),
      });
    }
  });
}

test('resize reproduces hand-computed values', async () => {
  await useEngine(1);
  const along = (vals: number[], out: number, mode: ResizeMode, axis: 'H' | 'W'): number[] => {
    const shape = axis === 'W' ? [1, 1, vals.length, 1] : [1, vals.length, 1, 1];
    const x = Tensor.from(shape, vals);
    const y = resizeRaw(x, axis === 'W' ? 1 : out, axis === 'W' ? out : 1, mode);
    const r = [...y.data];
    x.dispose(); y.dispose();
    return r;
  };
  for (const axis of ['H', 'W'] as const) {
    assert.deepEqual(along([0, 1], 4, 'bilinear', axis), [0, 0.25, 0.75, 1], `bilinear x2 along ${axis}`);
    assert.deepEqual(along([0, 1, 2, 3], 2, 'bilinear', axis), [0.5, 2.5], `bilinear /2 along ${axis}`);
    assert.deepEqual(along([5, 7], 4, 'nearest', axis), [5, 5, 7, 7], `nearest x2 along ${axis}`);
    assert.deepEqual(along([1, 2, 3, 4, 5, 6], 2, 'nearest', axis), [1, 4], `nearest /3 along ${axis}`);
    assert.deepEqual(along([2, 2, 2], 7, 'bicubic', axis).map((v) => Math.round(v * 1e5) / 1e5), [2, 2, 2, 2, 2, 2, 2], `bicubic of a constant along ${axis}`);
    // bicubic x2 of a step [0, 0, 1, 1]: output 3 sits at source 1.25, t = 0.25;
    // taps 0, 1, 2, 3 with weights cc2(1.25), cc1(0.25), cc1(0.75), cc2(1.75)
    const A = -0.75;
    const cc1 = (t: number) => ((A + 2) * t - (A + 3)) * t * t + 1;
    const cc2 = (t: number) => ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
    const got = along([0, 0, 1, 1], 8, 'bicubic', axis);
    assert.ok(Math.abs(got[3]! - (cc1(0.75) + cc2(1.75))) < 1e-6, `bicubic step along ${axis}: ${got[3]}`);
  }
  const x = Tensor.from([1, 2, 2, 1], [0, 1, 2, 3]);
  const y = resizeRaw(x, 4, 4, 'bilinear');
  const row = (a: number, b: number) => [a, a + 0.25 * (b - a), a + 0.75 * (b - a), b];
  const top = row(0, 1), bot = row(2, 3);
  const expect = [0, 0.25, 0.75, 1].flatMap((t) => top.map((v, i) => v + t * (bot[i]! - v)));
  assertClose(y.data, expect, 1e-7, 0, 'bilinear 2x2 -> 4x4');
  x.dispose(); y.dispose();
});

test('upsample(x, s) equals resize to floor(size * s)', async () => {
  await useEngine(2);
  const x = toTensor(randomRT([2, 3, 5, 3], mulberry32(3)));
  for (const mode of MODES) {
    for (const s of [2, 3, 0.5, 1.5]) {
      const u = upsampleRaw(x, s, mode);
      const r = resizeRaw(x, Math.floor(3 * s), Math.floor(5 * s), mode);
      assert.deepEqual([...u.shape], [...r.shape]);
      assert.deepEqual(u.toArray(), r.toArray());
      u.dispose(); r.dispose();
    }
  }
  x.dispose();
});

test('resize forward and backward are bit-identical on 1 and 2 threads', async () => {
  const rng = mulberry32(9);
  const x = randomRT([2, 11, 9, 7], rng), dy = randomRT([2, 23, 17, 7], rng);
  const x1 = randomRT([3, 8, 10, 1], rng), dy1 = randomRT([3, 3, 4, 1], rng);
  const one = await assertSameOnThreadCounts(() => {
    const out: Float64Array[] = [];
    for (const mode of MODES) {
      const [xt, dyt, x1t, dy1t] = [x, dy, x1, dy1].map(toTensor) as [Tensor, Tensor, Tensor, Tensor];
      const ts = [resizeRaw(xt, 23, 17, mode), resizeBackward(dyt, 11, 9, mode), resizeRaw(x1t, 3, 4, mode), resizeBackward(dy1t, 8, 10, mode)];
      out.push(...ts.map((t) => toRT(t).data));
      [xt, dyt, x1t, dy1t, ...ts].forEach((t) => t.dispose());
    }
    return out;
  });
});


test('resize rejects bad inputs with errors that name the op and the shapes', async () => {
  await useEngine(1);
  const x = Tensor.zeros([1, 4, 4, 3]);
  assert.throws(() => resizeRaw(x, 0, 5, 'bilinear'), /^Error: mvsr: resize: output size 0x5 must be positive integers \(tensor \[1,4,4,3\]\)/);
  assert.throws(() => resizeRaw(x, 2.5, 5, 'bilinear'), /^Error: mvsr: resize: output size 2.5x5/);
  assert.throws(() => resizeRaw(Tensor.zeros([4, 4, 3]), 8, 8, 'nearest'), /^Error: mvsr: resize: input must be NHWC \(rank 4\), got shape \[4,4,3\]/);
  assert.throws(() => resizeRaw(Tensor.zeros([1, 0, 4, 3]), 8, 8, 'nearest'), /^Error: mvsr: resize: input size 0x4 .*\[1,0,4,3\]/);
  assert.throws(() => resizeRaw(x, 8, 8, 'area' as ResizeMode), /^Error: mvsr: resize: unknown mode 'area'/);
  assert.throws(() => resizeBackward(x, 0, 2, 'bicubic'), /^Error: mvsr: resizeBackward: input size 0x2 .*\[1,4,4,3\]/);
  assert.throws(() => upsampleRaw(x, 0, 'nearest'), /^Error: mvsr: upsample: scale 0 .*\[1,4,4,3\]/);
  assert.throws(() => upsampleRaw(x, 0.1, 'nearest'), /^Error: mvsr: upsample: output \(scale 0.1\) size 0x0/);
});
