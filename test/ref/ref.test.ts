/**
 * Self-tests of the float64 reference implementations in test/ref/.
 * Every expectation is either hand-computed (with the arithmetic shown) or an
 * identity checked against code written independently inside this file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RT,
  rt,
  randomRT,
  mulberry32,
  cloneRT,
  numel,
  maxAbsDiff,
  dot,
  conv2d,
  convTranspose2d,
  addBias,
  relu,
  leakyRelu,
  prelu,
  tanh,
  sigmoid,
  clamp,
  add,
  mul,
  concat,
  split,
  depthToSpace,
  spaceToDepth,
  PixelOrder,
  resize,
  resizeWeights1d,
  ResizeMode,
  nearestSourceIndex,
  float32Div,
  cubicConv1,
  cubicConv2,
  l1Loss,
  mseLoss,
  charbonnierLoss,
  adamStep,
  AdamOptions,
  numericalGradient,
} from './index.js';

// ---------------------------------------------------------------- helpers

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12, msg = ''): void {
  assert.equal(actual.length, expected.length, `${msg} length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok = Math.abs(a - e) <= tol * Math.max(1, Math.abs(e));
    assert.ok(ok, `${msg} element ${i}: got ${a}, expected ${e} (tol ${tol})`);
  }
}

function assertRTClose(actual: RT, expected: RT, tol = 1e-12, msg = ''): void {
  assert.deepEqual(actual.shape, expected.shape, `${msg} shape`);
  assertClose(actual.data, expected.data, tol, msg);
}

/** NHWC element access used only by the tests. */
function at(x: RT, n: number, y: number, xx: number, c: number): number {
  const [, H, W, C] = x.shape;
  return x.data[((n * H + y) * W + xx) * C + c];
}

const ALL_MODES: ResizeMode[] = ['nearest', 'bilinear', 'bicubic'];
const ORDERS: PixelOrder[] = ['pytorch', 'tf'];

// ---------------------------------------------------------------- tensor helpers

test('rt: zeros, copy semantics and validation', () => {
  const z = rt([2, 3]);
  assert.deepEqual(z.shape, [2, 3]);
  assert.deepEqual(Array.from(z.data), [0, 0, 0, 0, 0, 0]);
  const src = new Float64Array([1, 2, 3, 4]);
  const t = rt([2, 2], src);
  src[0] = 99;
  assert.equal(t.data[0], 1, 'rt copies its data');
  assert.throws(() => rt([2, 2], [1, 2, 3]));
  assert.throws(() => rt([2, -1]));
  assert.throws(() => rt([1.5]));
  assert.equal(numel([]), 1);
  assert.equal(numel([3, 0, 2]), 0);
});

test('mulberry32 is deterministic, in [0,1), and randomRT respects bounds', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const c = mulberry32(43);
  const sa = Array.from({ length: 20 }, () => a());
  const sb = Array.from({ length: 20 }, () => b());
  const sc = Array.from({ length: 20 }, () => c());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  for (const v of sa) assert.ok(v >= 0 && v < 1);
  const r = randomRT([3, 4, 5], mulberry32(1), 2, 3);
  for (const v of r.data) assert.ok(v >= 2 && v < 3);
  const d = randomRT([1000], mulberry32(7));
  let mean = 0;
  for (const v of d.data) mean += v / d.data.length;
  assert.ok(Math.abs(mean) < 0.1, `mean of uniform[-1,1) samples should be near 0, got ${mean}`);
});

// ---------------------------------------------------------------- conv2d

test('conv2d: hand-computed 3x3 all-ones kernel on 1..9', () => {
  // x = [[1,2,3],[4,5,6],[7,8,9]], kernel of ones, padding 1 ("same"):
  // each output = sum of the 3x3 neighbourhood inside the image.
  // (0,0): 1+2+4+5 = 12; (0,1): 1+2+3+4+5+6 = 21; (0,2): 2+3+5+6 = 16
  // (1,0): 1+2+4+5+7+8 = 27; (1,1): 45; (1,2): 2+3+5+6+8+9 = 33
  // (2,0): 4+5+7+8 = 24; (2,1): 4+5+6+7+8+9 = 39; (2,2): 5+6+8+9 = 28
  const x = rt([1, 3, 3, 1], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = rt([1, 1, 3, 3], new Array(9).fill(1));
  const y = conv2d(x, w, [0.5]);
  assert.deepEqual(y.shape, [1, 3, 3, 1]);
  assertClose(y.data, [12, 21, 16, 27, 45, 33, 24, 39, 28].map((v) => v + 0.5));
  // padding 0 -> single "valid" output = 45
  const v = conv2d(x, w, null, { padding: 0 });
  assert.deepEqual(v.shape, [1, 1, 1, 1]);
  assertClose(v.data, [45]);
});

test('conv2d: is cross-correlation (kernel not flipped), hand-computed', () => {
  // x = [[1,2],[3,4]], 2x2 kernel w = [[1,10],[100,1000]]
  // padding 0: out = 1*1 + 2*10 + 3*100 + 4*1000 = 4321
  const x = rt([1, 2, 2, 1], [1, 2, 3, 4]);
  const w = rt([1, 1, 2, 2], [1, 10, 100, 1000]);
  const y = conv2d(x, w, null, { padding: 0 });
  assert.deepEqual(y.shape, [1, 1, 1, 1]);
  assertClose(y.data, [4321]);
  // padding 1 -> 3x3 output, out[oy,ox] = sum_{ky,kx} x[oy-1+ky, ox-1+kx] * w[ky,kx]:
  // (0,0): x00*w11 = 1000            (0,1): x00*w10 + x01*w11 = 100 + 2000 = 2100
  // (0,2): x01*w10 = 200             (1,0): x00*w01 + x10*w11 = 10 + 3000 = 3010
  // (1,1): 4321                      (1,2): x01*w00 + x11*w10 = 2 + 400 = 402
  // (2,0): x10*w01 = 30              (2,1): x10*w00 + x11*w01 = 3 + 40 = 43
  // (2,2): x11*w00 = 4
  const yp = conv2d(x, w, null, { padding: 1 });
  assert.deepEqual(yp.shape, [1, 3, 3, 1]);
  assertClose(yp.data, [1000, 2100, 200, 3010, 4321, 402, 30, 43, 4]);
});

test('conv2d: 1x1 kernel equals a per-pixel matrix product plus bias', () => {
  const rng = mulberry32(1);
  const N = 2, H = 3, W = 2, Cin = 3, Cout = 4;
  const x = randomRT([N, H, W, Cin], rng);
  const w = randomRT([Cout, Cin, 1, 1], rng);
  const b = randomRT([Cout], rng);
  const y = conv2d(x, w, b);
  assert.deepEqual(y.shape, [N, H, W, Cout]);
  const expected = rt([N, H, W, Cout]);
  for (let p = 0; p < N * H * W; p++) {
    for (let o = 0; o < Cout; o++) {
      let s = b.data[o];
      for (let i = 0; i < Cin; i++) s += w.data[o * Cin + i] * x.data[p * Cin + i];
      expected.data[p * Cout + o] = s;
    }
  }
  assertRTClose(y, expected);
});

test('conv2d: delta kernels give identity and shifts', () => {
  const rng = mulberry32(2);
  const N = 1, H = 4, W = 5, C = 2;
  const x = randomRT([N, H, W, C], rng);
  const delta = (ky: number, kx: number): RT => {
    const w = rt([C, C, 3, 3]);
    for (let c = 0; c < C; c++) w.data[((c * C + c) * 3 + ky) * 3 + kx] = 1;
    return w;
  };
  // centre tap -> identity
  assertRTClose(conv2d(x, delta(1, 1), null), x, 0);
  // tap (0, 2): out[y, x] = x[y - 1, x + 1] (zero outside)
  const s = conv2d(x, delta(0, 2), null);
  for (let y = 0; y < H; y++) {
    for (let xx = 0; xx < W; xx++) {
      for (let c = 0; c < C; c++) {
        const inside = y - 1 >= 0 && xx + 1 < W;
        const e = inside ? at(x, 0, y - 1, xx + 1, c) : 0;
        assert.equal(at(s, 0, y, xx, c), e);
      }
    }
  }
  // channel swap with a 1x1 kernel: out[..., 0] = x[..., 1], out[..., 1] = x[..., 0]
  const swap = rt([2, 2, 1, 1], [0, 1, 1, 0]);
  const sw = conv2d(x, swap, null);
  for (let p = 0; p < H * W; p++) {
    assert.equal(sw.data[p * 2], x.data[p * 2 + 1]);
    assert.equal(sw.data[p * 2 + 1], x.data[p * 2]);
  }
});

test('conv2d: grouped conv equals concatenated per-group convs', () => {
  const rng = mulberry32(3);
  const N = 1, H = 4, W = 3;
  for (const [Cin, Cout, groups] of [
    [4, 6, 2],
    [6, 3, 3],
    [3, 3, 3], // depthwise
    [4, 8, 4], // depthwise with multiplier 2
  ]) {
    const x = randomRT([N, H, W, Cin], rng);
    const w = randomRT([Cout, Cin / groups, 3, 3], rng);
    const b = randomRT([Cout], rng);
    const y = conv2d(x, w, b, { groups });
    const xs = split(x, new Array(groups).fill(Cin / groups));
    const perGroup: RT[] = [];
    const og = Cout / groups;
    const wPer = og * (Cin / groups) * 9;
    for (let g = 0; g < groups; g++) {
      const wg = rt([og, Cin / groups, 3, 3], w.data.subarray(g * wPer, (g + 1) * wPer));
      const bg = b.data.slice(g * og, (g + 1) * og);
      perGroup.push(conv2d(xs[g], wg, bg));
    }
    assertRTClose(y, concat(perGroup), 1e-12, `groups=${groups}`);
  }
});

test('conv2d: output shapes and validation errors', () => {
  const x = rt([2, 5, 6, 4]);
  assert.deepEqual(conv2d(x, rt([3, 4, 3, 3]), null).shape, [2, 5, 6, 3]);
  assert.deepEqual(conv2d(x, rt([3, 4, 5, 5]), null).shape, [2, 5, 6, 3]);
  assert.deepEqual(conv2d(x, rt([3, 4, 3, 3]), null, { padding: 0 }).shape, [2, 3, 4, 3]);
  assert.deepEqual(conv2d(x, rt([3, 4, 2, 2]), null, { padding: 0 }).shape, [2, 4, 5, 3]);
  assert.deepEqual(conv2d(x, rt([3, 4, 3, 3]), null, { padding: 2 }).shape, [2, 7, 8, 3]);
  assert.throws(() => conv2d(x, rt([3, 3, 3, 3]), null), /input channels/);
  assert.throws(() => conv2d(x, rt([3, 4, 3, 3]), [1, 2]), /length/);
  assert.throws(() => conv2d(x, rt([3, 4, 2, 2]), null), /odd kernel/);
  assert.throws(() => conv2d(x, rt([3, 2, 3, 3]), null, { groups: 2 }), /divisible/);
  assert.throws(() => conv2d(x, rt([4, 4, 3, 3]), null, { groups: 3 }), /divisible/);
  assert.throws(() => conv2d(rt([5, 6, 4]), rt([3, 4, 3, 3]), null), /rank/);
  assert.throws(() => conv2d(x, rt([3, 4, 9, 9]), null, { padding: 0 }), /too small/);
  assert.throws(() => conv2d({ shape: [1, 1, 1, 2], data: new Float64Array(3) }, rt([1, 2, 1, 1]), null), /length/);
});

// ---------------------------------------------------------------- convTranspose2d

test('convTranspose2d: hand-computed scatter examples', () => {
  // single pixel 2, stride 2, K=2, w = [[1,2],[3,4]] -> 2x2 block [[2,4],[6,8]]
  const y1 = convTranspose2d(rt([1, 1, 1, 1], [2]), rt([1, 1, 2, 2], [1, 2, 3, 4]), null, { stride: 2 });
  assert.deepEqual(y1.shape, [1, 2, 2, 1]);
  assertClose(y1.data, [2, 4, 6, 8]);
  // 1-D along W: x = [1, 10], kernel 1x3 [1,2,3], stride 2: Wout = (2-1)*2 + 3 = 5
  //   ix=0 scatters 1*[1,2,3] to ox 0..2; ix=1 scatters 10*[1,2,3] to ox 2..4
  //   -> [1, 2, 3+10, 20, 30] = [1, 2, 13, 20, 30]
  const x = rt([1, 1, 2, 1], [1, 10]);
  const w = rt([1, 1, 1, 3], [1, 2, 3]);
  const y2 = convTranspose2d(x, w, [0.5], { stride: 2 });
  assert.deepEqual(y2.shape, [1, 1, 5, 1]);
  assertClose(y2.data, [1.5, 2.5, 13.5, 20.5, 30.5]);
  // outputPadding 1: Hout = 0*2 + 1 + 1 = 2, Wout = 1*2 + 3 + 1 = 6; the extra row/col only get the bias
  const y3 = convTranspose2d(x, w, [0.5], { stride: 2, outputPadding: 1 });
  assert.deepEqual(y3.shape, [1, 2, 6, 1]);
  assertClose(y3.data, [1.5, 2.5, 13.5, 20.5, 30.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  // padding 1 with a 3x3 kernel (centre row [1,2,3], other rows 0), x as above, stride 2:
  //   Hout = 0*2 - 2 + 3 = 1, Wout = 1*2 - 2 + 3 = 3; output positions shift left by 1:
  //   full = [1,2,13,20,30] cropped by 1 on each side -> [2, 13, 20]
  const w3 = rt([1, 1, 3, 3], [0, 0, 0, 1, 2, 3, 0, 0, 0]);
  const y4 = convTranspose2d(x, w3, null, { stride: 2, padding: 1 });
  assert.deepEqual(y4.shape, [1, 1, 3, 1]);
  assertClose(y4.data, [2, 13, 20]);
});

test('convTranspose2d: output shape formula and validation', () => {
  const cases: [number, number, number, number, number][] = [
    // H, stride, padding, K, outputPadding
    [3, 2, 1, 3, 1], // 2*2 - 2 + 3 + 1 = 6 = 2H
    [3, 2, 0, 2, 0], // 4 + 2 = 6
    [4, 3, 0, 3, 0], // 9 + 3 = 12
    [4, 3, 1, 5, 2], // 9 - 2 + 5 + 2 = 14
    [5, 1, 1, 3, 0], // 4 - 2 + 3 = 5
  ];
  for (const [H, stride, padding, K, outputPadding] of cases) {
    const y = convTranspose2d(rt([1, H, H + 1, 2]), rt([2, 3, K, K]), null, { stride, padding, outputPadding });
    const e = (H - 1) * stride - 2 * padding + K + outputPadding;
    const ew = H * stride - 2 * padding + K + outputPadding;
    assert.deepEqual(y.shape, [1, e, ew, 3]);
  }
  assert.throws(() => convTranspose2d(rt([1, 2, 2, 2]), rt([2, 1, 3, 3]), null, { stride: 2, outputPadding: 2 }), /smaller than stride/);
  assert.throws(() => convTranspose2d(rt([1, 2, 2, 2]), rt([3, 1, 3, 3]), null, { stride: 2 }), /input channels/);
  assert.throws(() => convTranspose2d(rt([1, 2, 2, 3]), rt([3, 1, 3, 3]), null, { stride: 2, groups: 2 }), /divisible/);
  assert.throws(() => convTranspose2d(rt([1, 2, 2, 2]), rt([2, 1, 3, 3]), [1, 2], { stride: 2 }), /length/);
  assert.throws(() => convTranspose2d(rt([1, 2, 2, 2]), rt([2, 1, 3, 3]), null, { stride: 0 }));
});

/**
 * Independent strided convolution (gather form), written here only for the adjoint test.
 * y: [N, Hy, Wy, Cout], w: [Cin, Cout/groups, K, K] read as an OIHW conv weight whose
 * "output" channels are the convT input channels.
 * z[n, iy, ix, ci] = sum_{j, ky, kx} y[n, iy*stride - padding + ky, ix*stride - padding + kx, g*Cout/groups + j] * w[ci, j, ky, kx]
 */
function stridedConvForAdjoint(y: RT, w: RT, stride: number, padding: number, groups: number): RT {
  const [N, Hy, Wy] = y.shape;
  const [Cin, CoutG, K] = w.shape;
  const CinG = Cin / groups;
  const Hz = Math.floor((Hy + 2 * padding - K) / stride) + 1;
  const Wz = Math.floor((Wy + 2 * padding - K) / stride) + 1;
  const z = rt([N, Hz, Wz, Cin]);
  for (let n = 0; n < N; n++)
    for (let iy = 0; iy < Hz; iy++)
      for (let ix = 0; ix < Wz; ix++)
        for (let ci = 0; ci < Cin; ci++) {
          const g = Math.floor(ci / CinG);
          let s = 0;
          for (let j = 0; j < CoutG; j++)
            for (let ky = 0; ky < K; ky++)
              for (let kx = 0; kx < K; kx++) {
                const yy = iy * stride - padding + ky;
                const yx = ix * stride - padding + kx;
                if (yy >= 0 && yy < Hy && yx >= 0 && yx < Wy) {
                  s += at(y, n, yy, yx, g * CoutG + j) * w.data[((ci * CoutG + j) * K + ky) * K + kx];
                }
              }
          z.data[((n * Hz + iy) * Wz + ix) * Cin + ci] = s;
        }
  return z;
}

test('convTranspose2d is the adjoint of the strided convolution: <convT(x), y> == <x, conv(y)>', () => {
  const rng = mulberry32(4);
  const configs = [
    // Cin, CoutPerGroup, groups, K, stride, padding, outputPadding
    { Cin: 2, CoutG: 3, groups: 1, K: 3, stride: 2, padding: 1, outputPadding: 1 },
    { Cin: 3, CoutG: 2, groups: 1, K: 4, stride: 2, padding: 1, outputPadding: 0 },
    { Cin: 4, CoutG: 1, groups: 2, K: 3, stride: 3, padding: 0, outputPadding: 2 },
    { Cin: 2, CoutG: 2, groups: 2, K: 2, stride: 2, padding: 0, outputPadding: 0 },
    { Cin: 2, CoutG: 2, groups: 1, K: 3, stride: 1, padding: 1, outputPadding: 0 },
  ];
  for (const c of configs) {
    const N = 1, H = 3, W = 2;
    const x = randomRT([N, H, W, c.Cin], rng);
    const w = randomRT([c.Cin, c.CoutG, c.K, c.K], rng);
    const tx = convTranspose2d(x, w, null, { stride: c.stride, padding: c.padding, outputPadding: c.outputPadding, groups: c.groups });
    const y = randomRT(tx.shape, rng);
    const cy = stridedConvForAdjoint(y, w, c.stride, c.padding, c.groups);
    assert.deepEqual(cy.shape, x.shape, `adjoint shape ${JSON.stringify(c)}`);
    const lhs = dot(tx, y);
    const rhs = dot(x, cy);
    assert.ok(Math.abs(lhs - rhs) <= 1e-12 * Math.max(1, Math.abs(lhs)), `${JSON.stringify(c)}: ${lhs} vs ${rhs}`);
  }
});

test('convTranspose2d with stride 1 equals conv2d with the flipped, transposed kernel', () => {
  const rng = mulberry32(5);
  const Cin = 3, Cout = 2, K = 3;
  const x = randomRT([2, 4, 3, Cin], rng);
  const w = randomRT([Cin, Cout, K, K], rng);
  const b = randomRT([Cout], rng);
  for (const padding of [0, 1, 2]) {
    const wf = rt([Cout, Cin, K, K]);
    for (let ci = 0; ci < Cin; ci++)
      for (let co = 0; co < Cout; co++)
        for (let ky = 0; ky < K; ky++)
          for (let kx = 0; kx < K; kx++)
            wf.data[((co * Cin + ci) * K + ky) * K + kx] = w.data[((ci * Cout + co) * K + (K - 1 - ky)) * K + (K - 1 - kx)];
    const t = convTranspose2d(x, w, b, { stride: 1, padding });
    const c = conv2d(x, wf, b, { padding: K - 1 - padding });
    assertRTClose(t, c, 1e-12, `padding=${padding}`);
  }
});

// ---------------------------------------------------------------- element-wise

test('element-wise ops: hand-computed values', () => {
  const x = rt([1, 1, 2, 3], [-2, -0.5, 0, 0.5, 2, 3]);
  assertClose(relu(x).data, [0, 0, 0, 0.5, 2, 3]);
  assertClose(leakyRelu(x, 0.1).data, [-0.2, -0.05, 0, 0.5, 2, 3]);
  assertClose(prelu(x, [0.25]).data, [-0.5, -0.125, 0, 0.5, 2, 3]);
  // per-channel alpha over the last axis (C=3): channels of the first pixel are -2, -0.5, 0
  assertClose(prelu(x, rt([3], [0.1, 0.2, 0.3])).data, [-0.2, -0.1, 0, 0.5, 2, 3]);
  assertClose(clamp(x, -1, 1).data, [-1, -0.5, 0, 0.5, 1, 1]);
  assertClose(addBias(x, [1, 2, 3]).data, [-1, 1.5, 3, 1.5, 4, 6]);
  assertClose(tanh(x).data, [-2, -0.5, 0, 0.5, 2, 3].map((v) => (Math.exp(2 * v) - 1) / (Math.exp(2 * v) + 1)));
  assertClose(sigmoid(rt([3], [0, Math.log(3), -Math.log(3)])).data, [0.5, 0.75, 0.25]);
  assert.equal(sigmoid(rt([1], [-1000])).data[0], 0);
  assert.equal(sigmoid(rt([1], [1000])).data[0], 1);
  const y = rt([1, 1, 2, 3], [1, 2, 3, 4, 5, 6]);
  assertClose(add(x, y).data, [-1, 1.5, 3, 4.5, 7, 9]);
  assertClose(mul(x, y).data, [-2, -1, 0, 2, 10, 18]);
  // inputs are untouched
  assertClose(x.data, [-2, -0.5, 0, 0.5, 2, 3]);
});

test('element-wise ops: validation errors', () => {
  const x = rt([1, 2, 2, 3]);
  assert.throws(() => add(x, rt([1, 2, 3, 2])), /mismatch/);
  assert.throws(() => mul(x, rt([12])), /mismatch/);
  assert.throws(() => addBias(x, [1, 2]), /length/);
  assert.throws(() => prelu(x, [1, 2]), /length 1 or C/);
  assert.throws(() => clamp(x, 1, 0), /lo <= hi/);
});

test('concat / split on the channel axis', () => {
  // a: 2 pixels x 2 channels, b: 2 pixels x 1 channel
  const a = rt([1, 1, 2, 2], [1, 2, 3, 4]);
  const b = rt([1, 1, 2, 1], [10, 20]);
  const c = concat([a, b]);
  assert.deepEqual(c.shape, [1, 1, 2, 3]);
  assertClose(c.data, [1, 2, 10, 3, 4, 20]);
  const [a2, b2] = split(c, [2, 1]);
  assertRTClose(a2, a, 0);
  assertRTClose(b2, b, 0);
  // random round trip with an empty piece
  const rng = mulberry32(6);
  const x = randomRT([2, 3, 2, 7], rng);
  const parts = split(x, [3, 0, 4]);
  assert.deepEqual(parts.map((p) => p.shape), [[2, 3, 2, 3], [2, 3, 2, 0], [2, 3, 2, 4]]);
  assertRTClose(concat(parts), x, 0);
  assert.throws(() => concat([a, rt([1, 2, 2, 1])]), /mismatch/);
  assert.throws(() => concat([]), /at least one/);
  assert.throws(() => split(c, [2, 2]), /sum/);
});

// ---------------------------------------------------------------- depthToSpace / spaceToDepth

test('depthToSpace / spaceToDepth: hand-worked examples', () => {
  // 1x1x1x4, s = 2, C = 1: both orders put channel k at block position (k >> 1, k & 1)
  //   pytorch: channel = c*4 + i*2 + j = i*2 + j;  tf: channel = (i*2 + j)*1 + c = i*2 + j
  //   -> [[a, b], [c, d]] (identical for C = 1, so this case cannot tell the orders apart)
  for (const order of ORDERS) {
    const y = depthToSpace(rt([1, 1, 1, 4], [1, 2, 3, 4]), 2, order);
    assert.deepEqual(y.shape, [1, 2, 2, 1]);
    assertClose(y.data, [1, 2, 3, 4], 0, order);
    assertClose(spaceToDepth(y, 2, order).data, [1, 2, 3, 4], 0, order);
  }
  // 1x1x1x8, s = 2, C = 2, input channels 0..7; output [1,2,2,2] listed as (y, x, c):
  //   pytorch: channel = c*4 + i*2 + j -> (0,0): [0,4], (0,1): [1,5], (1,0): [2,6], (1,1): [3,7]
  //   tf:      channel = (i*2 + j)*2 + c -> (0,0): [0,1], (0,1): [2,3], (1,0): [4,5], (1,1): [6,7]
  const x8 = rt([1, 1, 1, 8], [0, 1, 2, 3, 4, 5, 6, 7]);
  const pt = depthToSpace(x8, 2, 'pytorch');
  assert.deepEqual(pt.shape, [1, 2, 2, 2]);
  assertClose(pt.data, [0, 4, 1, 5, 2, 6, 3, 7], 0);
  const tf = depthToSpace(x8, 2, 'tf');
  assertClose(tf.data, [0, 1, 2, 3, 4, 5, 6, 7], 0);
  assertClose(depthToSpace(x8, 2).data, pt.data, 0, 'default order is pytorch');
  // s = 3, C = 1, pytorch: channel i*3 + j lands at (i, j) -> row-major copy
  const x9 = rt([1, 1, 1, 9], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assertClose(depthToSpace(x9, 3).data, [0, 1, 2, 3, 4, 5, 6, 7, 8], 0);
  // 1x1x2x4 (two input pixels side by side), s = 2, C = 1 -> 2x4 image:
  //   row 0 = [p0c0, p0c1, p1c0, p1c1], row 1 = [p0c2, p0c3, p1c2, p1c3]
  const x2 = rt([1, 1, 2, 4], [0, 1, 2, 3, 10, 11, 12, 13]);
  const y2 = depthToSpace(x2, 2);
  assert.deepEqual(y2.shape, [1, 2, 4, 1]);
  assertClose(y2.data, [0, 1, 10, 11, 2, 3, 12, 13], 0);
});

test('depthToSpace / spaceToDepth are exact inverses for both orders', () => {
  const rng = mulberry32(7);
  for (const order of ORDERS) {
    for (const s of [1, 2, 3]) {
      const x = randomRT([2, 2, 3, 2 * s * s], rng);
      const y = depthToSpace(x, s, order);
      assert.deepEqual(y.shape, [2, 2 * s, 3 * s, 2]);
      assertRTClose(spaceToDepth(y, s, order), x, 0, `${order} s=${s}`);
      const z = randomRT([1, 2 * s, 2 * s, 3], rng);
      assertRTClose(depthToSpace(spaceToDepth(z, s, order), s, order), z, 0, `${order} s=${s} (other direction)`);
    }
  }
  // the two orders really differ for C > 1
  const x = randomRT([1, 1, 1, 8], rng);
  assert.ok(maxAbsDiff(depthToSpace(x, 2, 'pytorch'), depthToSpace(x, 2, 'tf')) > 0);
  assert.throws(() => depthToSpace(rt([1, 1, 1, 6]), 2), /divisible/);
  assert.throws(() => spaceToDepth(rt([1, 3, 4, 1]), 2), /divisible/);
  assert.throws(() => depthToSpace(rt([1, 1, 1, 4]), 2, 'nchw' as PixelOrder), /order/);
});

// ---------------------------------------------------------------- resize

test('resizeWeights1d: every output row sums to 1 and indices are in range', () => {
  for (const mode of ALL_MODES) {
    for (const [inSize, outSize] of [[1, 3], [2, 4], [3, 7], [4, 8], [5, 3], [8, 2], [6, 6], [7, 1]]) {
      const { idx, w } = resizeWeights1d(inSize, outSize, mode);
      assert.equal(idx.length, outSize);
      assert.equal(w.length, outSize);
      for (let d = 0; d < outSize; d++) {
        assert.equal(idx[d].length, w[d].length);
        let sum = 0;
        for (let k = 0; k < w[d].length; k++) {
          sum += w[d][k];
          assert.ok(idx[d][k] >= 0 && idx[d][k] < inSize, `${mode} ${inSize}->${outSize} index`);
        }
        assert.ok(Math.abs(sum - 1) < 1e-12, `${mode} ${inSize}->${outSize} row ${d} sums to ${sum}`);
      }
    }
  }
  assert.throws(() => resizeWeights1d(0, 3, 'bilinear'));
  assert.throws(() => resizeWeights1d(3, 0, 'bilinear'));
  assert.throws(() => resizeWeights1d(3, 4, 'area' as ResizeMode), /mode/);
});

test('resize: bilinear 2x of [0, 1] along one axis is [0, 0.25, 0.75, 1]', () => {
  // in = 2, out = 4, scale = 0.5, src = max((d + 0.5) * 0.5 - 0.5, 0):
  //   d=0: -0.25 -> 0 -> 0;  d=1: 0.25 -> 0.25;  d=2: 0.75 -> 0.75;  d=3: 1.25 -> i0 = i1 = 1 -> 1
  const alongW = resize(rt([1, 1, 2, 1], [0, 1]), 1, 4, 'bilinear');
  assert.deepEqual(alongW.shape, [1, 1, 4, 1]);
  assertClose(alongW.data, [0, 0.25, 0.75, 1]);
  const alongH = resize(rt([1, 2, 1, 1], [0, 1]), 4, 1, 'bilinear');
  assertClose(alongH.data, [0, 0.25, 0.75, 1]);
  // 2-D: f(y, x) = x + 2y on a 2x2 grid is linear, so bilinear 4x4 output is
  // f at the clamped source coordinates [0, 0.25, 0.75, 1] on each axis.
  const img = rt([1, 2, 2, 1], [0, 1, 2, 3]);
  const up = resize(img, 4, 4, 'bilinear');
  const coord = [0, 0.25, 0.75, 1];
  const expected: number[] = [];
  for (const cy of coord) for (const cx of coord) expected.push(cx + 2 * cy);
  assertClose(up.data, expected);
});

test('resize: nearest', () => {
  // 2x duplicates every pixel along both axes
  const x = rt([1, 2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const y = resize(x, 4, 4, 'nearest');
  assert.deepEqual(y.shape, [1, 4, 4, 2]);
  for (let oy = 0; oy < 4; oy++)
    for (let ox = 0; ox < 4; ox++)
      for (let c = 0; c < 2; c++) assert.equal(at(y, 0, oy, ox, c), at(x, 0, oy >> 1, ox >> 1, c));
  // 3 -> 5: src = floor(d * 3/5) = floor(0, 0.6, 1.2, 1.8, 2.4) = [0, 0, 1, 1, 2]
  assert.deepEqual(Array.from(resizeWeights1d(3, 5, 'nearest').idx, (a) => a[0]), [0, 0, 1, 1, 2]);
  // 4 -> 2 (downsample): src = floor(d * 2) = [0, 2]
  assertClose(resize(rt([1, 1, 4, 1], [10, 11, 12, 13]), 1, 2, 'nearest').data, [10, 12]);
  // 5 -> 3: src = floor(d * 5/3) = floor(0, 1.67, 3.33) = [0, 1, 3]
  assert.deepEqual(Array.from(resizeWeights1d(5, 3, 'nearest').idx, (a) => a[0]), [0, 1, 3]);
  // PyTorch evaluates d * float32(in/out) in float32: for in=2, out=82, d=41 the exact value is
  // 41*2/82 = 1 but float32(2/82) < 2/82 and the float32 product is 0.99999994 -> index 0.
  assert.equal(nearestSourceIndex(41, 2, 82), 0);
  assert.equal(nearestSourceIndex(40, 2, 82), 0);
  assert.equal(nearestSourceIndex(42, 2, 82), 1);
  assert.equal(float32Div(1, 3), Math.fround(1 / 3));
  assert.equal(float32Div(2, 82), Math.fround(2 / 82));
  assert.ok(float32Div(2, 82) * 82 < 2);
});

test('resize: the same size is the identity and a constant image stays constant', () => {
  const rng = mulberry32(8);
  const x = randomRT([1, 3, 4, 2], rng);
  for (const mode of ALL_MODES) {
    assertRTClose(resize(x, 3, 4, mode), x, 1e-15, mode);
    for (const [oh, ow] of [[7, 5], [2, 9], [1, 1], [6, 8]]) {
      const k = rt([2, 3, 4, 2], new Array(48).fill(0.375));
      const y = resize(k, oh, ow, mode);
      assert.deepEqual(y.shape, [2, oh, ow, 2]);
      for (const v of y.data) assert.ok(Math.abs(v - 0.375) < 1e-14, `${mode} ${oh}x${ow}: ${v}`);
    }
  }
});

test('resize: separable result equals the 2-D tensor product of the 1-D weights', () => {
  const rng = mulberry32(9);
  const x = randomRT([1, 4, 3, 2], rng);
  for (const mode of ALL_MODES) {
    const [oh, ow] = [7, 5];
    const y = resize(x, oh, ow, mode);
    const wy = resizeWeights1d(4, oh, mode);
    const wx = resizeWeights1d(3, ow, mode);
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let c = 0; c < 2; c++) {
          let s = 0;
          for (let a = 0; a < wy.idx[oy].length; a++)
            for (let b = 0; b < wx.idx[ox].length; b++)
              s += wy.w[oy][a] * wx.w[ox][b] * at(x, 0, wy.idx[oy][a], wx.idx[ox][b], c);
          assert.ok(Math.abs(at(y, 0, oy, ox, c) - s) < 1e-14, `${mode} (${oy},${ox},${c})`);
        }
  }
});

test('resize: bicubic kernel coefficients (A = -0.75), hand-computed', () => {
  // cc1(x) = (1.25x - 2.25)x^2 + 1,  cc2(x) = ((-0.75x + 3.75)x - 6)x + 3
  // t = 0.75: cc2(1.75) = ((-1.3125 + 3.75)*1.75 - 6)*1.75 + 3 = (4.265625 - 6)*1.75 + 3 = -0.03515625
  //           cc1(0.75) = (0.9375 - 2.25)*0.5625 + 1 = 0.26171875
  //           cc1(0.25) = (0.3125 - 2.25)*0.0625 + 1 = 0.87890625
  //           cc2(1.25) = ((-0.9375 + 3.75)*1.25 - 6)*1.25 + 3 = (3.515625 - 6)*1.25 + 3 = -0.10546875
  assertClose([cubicConv2(1.75), cubicConv1(0.75), cubicConv1(0.25), cubicConv2(1.25)], [-0.03515625, 0.26171875, 0.87890625, -0.10546875], 0);
  // t = 0 gives the interpolating weights [0, 1, 0, 0]
  assertClose([cubicConv2(1), cubicConv1(0), cubicConv1(1), cubicConv2(2)], [0, 1, 0, 0], 0);
  const { idx, w } = resizeWeights1d(4, 8, 'bicubic');
  // d = 0: src = 0.5*0.5 - 0.5 = -0.25 -> i = -1, t = 0.75, taps -2..1 clamped to [0,0,0,1]
  assert.deepEqual(Array.from(idx[0]), [0, 0, 0, 1]);
  assertClose(w[0], [-0.03515625, 0.26171875, 0.87890625, -0.10546875], 0);
  // d = 1: src = 0.25 -> i = 0, t = 0.25, taps -1..2 clamped to [0,0,1,2], weights mirrored
  assert.deepEqual(Array.from(idx[1]), [0, 0, 1, 2]);
  assertClose(w[1], [-0.10546875, 0.87890625, 0.26171875, -0.03515625], 0);
});

test('resize: bicubic upsampling of [1,2,3,4] to length 8 matches hand-computed PyTorch values', () => {
  // scale = 4/8 = 0.5, src(d) = (d + 0.5)*0.5 - 0.5 = d/2 - 0.25 (not clamped)
  // weights for t = 0.75: W75 = [-0.03515625, 0.26171875, 0.87890625, -0.10546875]
  //         for t = 0.25: W25 = [-0.10546875, 0.87890625, 0.26171875, -0.03515625]
  // d=0: src=-0.25, i=-1, t=0.75, taps -2..1 -> values [1,1,1,2]
  //      = -0.03515625 + 0.26171875 + 0.87890625 - 2*0.10546875 = 0.89453125
  // d=1: src=0.25, i=0, t=0.25, taps -1..2 -> values [1,1,2,3]
  //      = -0.10546875 + 0.87890625 + 2*0.26171875 - 3*0.03515625 = 1.19140625
  // d=2: src=0.75, i=0, t=0.75, values [1,1,2,3]
  //      = -0.03515625 + 0.26171875 + 2*0.87890625 - 3*0.10546875 = 1.66796875
  // d=3: src=1.25, i=1, t=0.25, values [1,2,3,4]
  //      = -0.10546875 + 2*0.87890625 + 3*0.26171875 - 4*0.03515625 = 2.296875
  // d=4: src=1.75, i=1, t=0.75, values [1,2,3,4]
  //      = -0.03515625 + 2*0.26171875 + 3*0.87890625 - 4*0.10546875 = 2.703125
  // d=5: src=2.25, i=2, t=0.25, taps 1..4 -> values [2,3,4,4]
  //      = -2*0.10546875 + 3*0.87890625 + 4*0.26171875 - 4*0.03515625 = 3.33203125
  // d=6: src=2.75, i=2, t=0.75, values [2,3,4,4]
  //      = -2*0.03515625 + 3*0.26171875 + 4*0.87890625 - 4*0.10546875 = 3.80859375
  // d=7: src=3.25, i=3, t=0.25, taps 2..5 -> values [3,4,4,4]
  //      = -3*0.10546875 + 4*(0.87890625 + 0.26171875 - 0.03515625) = 4.10546875
  // (A = -0.75 does not reproduce linear ramps exactly: d=3 gives 2.296875, not 2.25.)
  const expected = [0.89453125, 1.19140625, 1.66796875, 2.296875, 2.703125, 3.33203125, 3.80859375, 4.10546875];
  const alongW = resize(rt([1, 1, 4, 1], [1, 2, 3, 4]), 1, 8, 'bicubic');
  assertClose(alongW.data, expected, 1e-15);
  const alongH = resize(rt([1, 4, 1, 1], [1, 2, 3, 4]), 8, 1, 'bicubic');
  assertClose(alongH.data, expected, 1e-15);
});

test('resize: bicubic downsampling of [1,2,3,4] to length 2, hand-computed', () => {
  // scale = 2, src(d) = (d + 0.5)*2 - 0.5 = 2d + 0.5, t = 0.5 for both outputs
  // cc1(0.5) = (0.625 - 2.25)*0.25 + 1 = 0.59375; cc2(1.5) = ((-1.125 + 3.75)*1.5 - 6)*1.5 + 3 = -0.09375
  // d=0: i=0, taps -1..2 -> values [1,1,2,3]: -0.09375 + 0.59375 + 2*0.59375 - 3*0.09375 = 1.40625
  // d=1: i=2, taps 1..4 -> values [2,3,4,4]: -2*0.09375 + 3*0.59375 + 4*0.59375 - 4*0.09375 = 3.59375
  assertClose(resize(rt([1, 1, 4, 1], [1, 2, 3, 4]), 1, 2, 'bicubic').data, [1.40625, 3.59375], 1e-15);
  // bilinear 4 -> 2: src = 2d + 0.5 -> [1.5, 3.5]
  assertClose(resize(rt([1, 1, 4, 1], [1, 2, 3, 4]), 1, 2, 'bilinear').data, [1.5, 3.5], 1e-15);
});

test('resize: validation errors', () => {
  assert.throws(() => resize(rt([3, 4, 2]), 2, 2, 'bilinear'), /rank/);
  assert.throws(() => resize(rt([1, 3, 4, 2]), 0, 2, 'bilinear'));
  assert.throws(() => resize(rt([1, 3, 4, 2]), 2, 2.5, 'nearest'));
});

// ---------------------------------------------------------------- losses

test('losses: hand-computed values', () => {
  // diff = pred - target = [1, 0, -2]
  const pred = rt([3], [1, 2, 3]);
  const target = rt([3], [0, 2, 5]);
  assert.equal(l1Loss(pred, target), 1); // (1 + 0 + 2) / 3
  assertClose([mseLoss(pred, target)], [5 / 3]); // (1 + 0 + 4) / 3
  assertClose([charbonnierLoss(pred, target, 0)], [1]);
  assertClose([charbonnierLoss(pred, target, 1)], [(Math.SQRT2 + 1 + Math.sqrt(5)) / 3]); // sqrt(d^2 + 1)
  // default eps = 1e-12 inside the sqrt: identical inputs give sqrt(1e-12) = 1e-6
  assertClose([charbonnierLoss(pred, pred)], [1e-6]);
  assert.throws(() => l1Loss(pred, rt([1, 3])), /mismatch/);
  assert.throws(() => mseLoss(pred, rt([4])), /mismatch/);
  assert.throws(() => charbonnierLoss(pred, rt([2])), /mismatch/);
});

// ---------------------------------------------------------------- Adam / AdamW

const ADAM: AdamOptions = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };

test('adamStep: first step from m = v = 0 moves each param by ~lr * sign(grad)', () => {
  const p0 = [0.5, -1, 2, 0];
  const g = [0.3, -0.02, -5, 1e-3];
  const param = Float64Array.from(p0);
  const grad = Float64Array.from(g);
  const m = new Float64Array(4);
  const v = new Float64Array(4);
  adamStep(param, grad, m, v, 1, ADAM);
  for (let i = 0; i < 4; i++) {
    // exact update is lr * g / (|g| + eps), i.e. lr * sign(g) up to a relative eps/|g|
    assert.ok(Math.abs(p0[i] - param[i] - ADAM.lr * Math.sign(g[i])) <= ADAM.lr * 1e-5, `param ${i}: ${param[i]}`);
    assertClose([m[i], v[i]], [0.1 * g[i], 0.001 * g[i] * g[i]], 1e-12, `moments ${i}`);
  }
  assertClose(grad, g, 0, 'grad is not modified');
});

test('adamStep: hand-computed two steps (beta1 = beta2 = 0.5, lr = 1, eps = 0)', () => {
  const o: AdamOptions = { lr: 1, beta1: 0.5, beta2: 0.5, eps: 0, weightDecay: 0, decoupled: false };
  const param = Float64Array.of(0);
  const m = new Float64Array(1);
  const v = new Float64Array(1);
  // step 1, g = 1: m = 0.5, v = 0.5, bc1 = bc2 = 0.5
  //   update = (1/0.5) * 0.5 / (sqrt(0.5)/sqrt(0.5)) = 1 -> param = -1
  adamStep(param, Float64Array.of(1), m, v, 1, o);
  assertClose([param[0], m[0], v[0]], [-1, 0.5, 0.5]);
  // step 2, g = 3: m = 0.25 + 1.5 = 1.75, v = 0.25 + 4.5 = 4.75, bc1 = bc2 = 0.75
  //   update = (1/0.75) * 1.75 / (sqrt(4.75)/sqrt(0.75)) = (7/3) / sqrt(19/3) = 7/sqrt(57)
  adamStep(param, Float64Array.of(3), m, v, 2, o);
  assertClose([param[0], m[0], v[0]], [-1 - 7 / Math.sqrt(57), 1.75, 4.75]);
});

test('adamStep: constant gradient moves lr * sign(g) per step (bias correction is exact)', () => {
  const param = Float64Array.of(1, -1);
  const grad = Float64Array.of(0.5, -2);
  const m = new Float64Array(2);
  const v = new Float64Array(2);
  for (let t = 1; t <= 5; t++) adamStep(param, grad, m, v, t, ADAM);
  assertClose(param, [1 - 5e-3, -1 + 5e-3], 1e-9);
});

test('adamStep: weight decay, Adam (L2 in the gradient) vs AdamW (decoupled)', () => {
  // Adam: p = 1, g = 0, wd = 0.1 -> effective gradient 0.1 -> first step moves ~lr
  const o = { ...ADAM, lr: 0.01, weightDecay: 0.1 };
  const pa = Float64Array.of(1);
  adamStep(pa, Float64Array.of(0), new Float64Array(1), new Float64Array(1), 1, o);
  assertClose(pa, [1 - 0.01 * 0.1 / (0.1 + 1e-8)], 1e-12);
  // AdamW: p *= 1 - lr*wd = 0.999; with g = 0 the moments stay 0 and the Adam update is 0
  const pw = Float64Array.of(1);
  const mw = new Float64Array(1);
  const vw = new Float64Array(1);
  adamStep(pw, Float64Array.of(0), mw, vw, 1, { ...o, decoupled: true });
  assert.equal(pw[0], 1 - 0.01 * 0.1);
  assert.equal(mw[0], 0);
  assert.equal(vw[0], 0);
  // AdamW with a gradient: decay first, then the usual update (~lr * sign(g))
  const pg = Float64Array.of(2);
  adamStep(pg, Float64Array.of(-4), new Float64Array(1), new Float64Array(1), 1, { ...o, decoupled: true });
  assertClose(pg, [2 * (1 - 0.001) + 0.01 * 4 / (4 + 1e-8)], 1e-12);
});

test('adamStep: validation errors', () => {
  const a = new Float64Array(2);
  assert.throws(() => adamStep(a, new Float64Array(3), new Float64Array(2), new Float64Array(2), 1, ADAM), /length/);
  assert.throws(() => adamStep(a, new Float64Array(2), new Float64Array(2), new Float64Array(2), 0, ADAM), /step/);
  assert.throws(() => adamStep(a, new Float64Array(2), new Float64Array(2), new Float64Array(2), 1, { ...ADAM, beta1: 1 }), /beta1/);
});

// ---------------------------------------------------------------- numerical gradient

test('numericalGradient of sum(x^2) is 2x, and the input is restored exactly', () => {
  const rng = mulberry32(10);
  const x = randomRT([2, 3, 2], rng);
  const before = cloneRT(x);
  const f = (inp: RT[]): number => {
    let s = 0;
    for (const v of inp[0].data) s += v * v;
    return s;
  };
  const g = numericalGradient(f, [x], 0);
  assert.deepEqual(g.shape, x.shape);
  assertClose(g.data, Array.from(x.data, (v) => 2 * v), 1e-8);
  assert.deepEqual(Array.from(x.data), Array.from(before.data));
});

test('numericalGradient: second input, mseLoss gradient, restore on throw', () => {
  const rng = mulberry32(11);
  const pred = randomRT([2, 3], rng);
  const target = randomRT([2, 3], rng);
  // d mse / d pred = 2 (pred - target) / n ; d mse / d target = -2 (pred - target) / n
  const f = (inp: RT[]): number => mseLoss(inp[0], inp[1]);
  const gp = numericalGradient(f, [pred, target], 0);
  const gt = numericalGradient(f, [pred, target], 1);
  for (let i = 0; i < 6; i++) {
    const d = pred.data[i] - target.data[i];
    assert.ok(Math.abs(gp.data[i] - (2 * d) / 6) < 1e-8);
    assert.ok(Math.abs(gt.data[i] + (2 * d) / 6) < 1e-8);
  }
  const x = rt([2], [1, 2]);
  let calls = 0;
  assert.throws(() =>
    numericalGradient(() => {
      calls++;
      throw new Error('boom');
    }, [x], 0),
  /boom/);
  assert.equal(calls, 1);
  assert.deepEqual(Array.from(x.data), [1, 2]);
  assert.throws(() => numericalGradient(f, [pred, target], 2), /out of range/);
});

test('numericalGradient of <conv2d(x, w), g> w.r.t. x equals convTranspose2d(g, w) (stride 1)', () => {
  const rng = mulberry32(12);
  for (const groups of [1, 2]) {
    const x = randomRT([1, 3, 3, 4], rng);
    const w = randomRT([2, 4 / groups, 3, 3], rng);
    const g = randomRT([1, 3, 3, 2], rng);
    const f = (inp: RT[]): number => dot(conv2d(inp[0], w, null, { groups }), g);
    const num = numericalGradient(f, [x], 0);
    // conv2d weight [Cout, Cin/groups, K, K] is exactly the ConvTranspose2d layout [in=Cout, out/groups=Cin/groups, K, K]
    const analytic = convTranspose2d(g, w, null, { stride: 1, padding: 1, groups });
    assert.deepEqual(analytic.shape, x.shape);
    assertClose(num.data, analytic.data, 1e-8, `groups=${groups}`);
  }
});
