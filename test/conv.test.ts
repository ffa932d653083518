// conv2d kernels (dense, grouped, depthwise, fused epilogues) against the float64 reference,
// gradients against finite differences, and 1-thread vs 2-thread agreement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, toRT, assertClose, gradCheck, mulberry32, randomRT, assertSameOnThreadCounts } from './helpers.js';
import * as ref from './ref/index.js';
import { conv2d as conv2dRaw, conv2dBackward, conv2dDepthToSpace } from '../src/tensor/ops/conv.js';
import { conv2d } from '../src/autograd/ops/conv.js';
import { Tensor } from '../src/tensor/tensor.js';

// [N, H, W, Cin, Cout, K, groups]
const SHAPES: [number, number, number, number, number, number, number][] = [
  [1, 1, 1, 3, 5, 3, 1],
  [2, 7, 9, 5, 7, 3, 1],
  [1, 6, 5, 28, 28, 3, 1],
  [3, 5, 11, 3, 48, 5, 1],
  [1, 4, 6, 2, 3, 1, 1],
  [2, 10, 3, 1, 6, 9, 1],
  [1, 5, 7, 6, 6, 3, 6], // depthwise
  [2, 3, 4, 5, 5, 5, 5], // depthwise K=5, C not multiple of 4
  [1, 5, 5, 6, 9, 3, 3], // grouped
  [2, 4, 3, 8, 4, 1, 2], // grouped 1x1
];

// Smaller shapes for finite differences (two float64 reference forwards per input element).
const GRAD_SHAPES: (typeof SHAPES)[number][] = [
  [1, 1, 1, 3, 5, 3, 1],
  [2, 4, 5, 5, 7, 3, 1],
  [1, 3, 4, 2, 3, 5, 1],
  [1, 3, 3, 6, 6, 3, 6],
  [1, 4, 3, 6, 9, 3, 3],
  [2, 3, 4, 5, 4, 1, 1],
  // 8 or more output channels: the input gradient runs on the Winograd kernel (and the forward too with 8 in)
  [1, 3, 5, 4, 9, 3, 1],
  [2, 2, 3, 8, 8, 3, 1],
];

function forwardCase(seed: number, s: (typeof SHAPES)[number]) {
  const [N, H, W, Cin, Cout, K, groups] = s;
  const rng = mulberry32(seed);
  return {
    x: randomRT([N, H, W, Cin], rng),
    w: randomRT([Cout, Cin / groups, K, K], rng),
    b: randomRT([Cout], rng),
    groups,
  };
}

for (const threads of [1, 2]) {
  test(`conv2d forward matches the float64 reference (${threads} thread(s))`, async () => {
    await useEngine(threads);
    SHAPES.forEach((s, k) => {
      const c = forwardCase(100 + k, s);
      const x = toTensor(c.x), w = toTensor(c.w), b = toTensor(c.b);
      const y = conv2dRaw(x, w, b, { groups: c.groups });
      const r = ref.conv2d(c.x, c.w, c.b, { groups: c.groups });
      assert.deepEqual([...y.shape], r.shape);
      assertClose(y.data, r.data, 1e-4, 1e-4, `conv2d ${JSON.stringify(s)}`);
      [x, w, b, y].forEach((t) => t.dispose());
    });
  });

  test(`conv2d backward matches the float64 reference adjoints (${threads} thread(s))`, async () => {
    await useEngine(threads);
    GRAD_SHAPES.forEach((s, k) => {
      const c = forwardCase(200 + k, s);
      gradCheck({
        name: `conv2d ${JSON.stringify(s)}`,
        inputs: [c.x, c.w, c.b],
        grad: [true, true, true],
        op: ([x, w, b]) => conv2d(x!, w!, b!, { groups: c.groups }),
        ref: ([x, w, b]) => ref.conv2d(x!, w!, b!, { groups: c.groups }),
      });
    });
  });
}

// [N, H, W, Cin, Cout, K, groups] with dilation, stride and padding: VapSR's 5x5 depthwise at
// dilation 3 (padding 6), dilated dense and grouped convs, ESA's 3x3 stride-2 conv without padding,
// a strided padded depthwise and a strided 1x1
const SPREAD: [(typeof SHAPES)[number], { dilation?: number; stride?: number; padding: number }][] = [
  [[1, 9, 8, 6, 6, 5, 6], { dilation: 3, padding: 6 }],
  [[2, 5, 7, 5, 5, 3, 5], { dilation: 2, padding: 2 }],
  [[1, 7, 6, 3, 5, 3, 1], { dilation: 2, padding: 2 }],
  [[1, 6, 7, 4, 6, 3, 2], { dilation: 3, padding: 1 }],
  [[1, 9, 8, 4, 4, 3, 1], { stride: 2, padding: 0 }],
  [[2, 7, 10, 3, 5, 3, 1], { stride: 2, padding: 1 }],
  [[1, 8, 7, 6, 6, 3, 6], { stride: 3, padding: 1 }],
  [[1, 5, 6, 2, 3, 1, 1], { stride: 2, padding: 0 }],
  [[1, 7, 6, 3, 8, 3, 1], { stride: 2, padding: 0 }],
];

test('dilated and strided conv2d (depthwise, dense, grouped) match the float64 reference, forward on 1 and 2 threads and gradients', async () => {
  for (const threads of [1, 2]) {
    await useEngine(threads);
    SPREAD.forEach(([shape, spread], k) => {
      const c = forwardCase(300 + k, shape);
      const o = { groups: c.groups, ...spread };
      const x = toTensor(c.x), w = toTensor(c.w), b = toTensor(c.b);
      const y = conv2dRaw(x, w, b, o);
      const r = ref.conv2d(c.x, c.w, c.b, o);
      assert.deepEqual([...y.shape], r.shape);
      assertClose(y.data, r.data, 1e-4, 1e-4, `conv2d ${JSON.stringify(shape)} ${JSON.stringify(spread)}`);
      [x, w, b, y].forEach((t) => t.dispose());
      if (threads === 1) {
        gradCheck({
          name: `conv2d ${JSON.stringify(shape)} ${JSON.stringify(spread)}`, inputs: [c.x, c.w, c.b], grad: [true, true, true],
          op: ([xv, wv, bv]) => conv2d(xv!, wv!, bv!, o), ref: ([xr, wr, br]) => ref.conv2d(xr!, wr!, br!, o),
        });
      }
    });
  }
});

test('conv2d fused activations equal conv followed by the reference activation', async () => {
  await useEngine(2);
  const rng = mulberry32(7);
  const x = randomRT([2, 6, 7, 5], rng), w = randomRT([6, 5, 3, 3], rng), b = randomRT([6], rng);
  const alpha = randomRT([6], rng, 0, 0.5);
  const pre = ref.conv2d(x, w, b);
  const cases = [
    { act: { kind: 'relu' as const }, r: ref.relu(pre) },
    { act: { kind: 'leaky' as const, slope: 0.1 }, r: ref.leakyRelu(pre, 0.1) },
    { act: { kind: 'prelu' as const, alpha: toTensor(alpha) }, r: ref.prelu(pre, alpha) },
    { act: { kind: 'clamp' as const, lo: -0.5, hi: 0.5 }, r: ref.clamp(pre, -0.5, 0.5) },
    { act: { kind: 'tanh' as const }, r: ref.tanh(pre) },
    { act: { kind: 'sigmoid' as const }, r: ref.sigmoid(pre) },
  ];
  const xt = toTensor(x), wt = toTensor(w), bt = toTensor(b);
  for (const c of cases) {
    const y = conv2dRaw(xt, wt, bt, { act: c.act });
    assertClose(y.data, c.r.data, 1e-4, 1e-4, `fused ${c.act.kind}`);
    y.dispose();
  }
});

test('3x3 convs with 8 or more input channels, or 6-7 in and 32 or more out (the Winograd F(2x2, 3x3) kernel) match the float64 reference: odd sizes, 1x1 images, valid padding, a chunk of tiles and a bit, Cout not a multiple of 4, every activation; the same bits on 1 and 2 threads', async () => {
  const rng = mulberry32(23);
  // [N, H, W, Cin, Cout, padding]: W 17 and 35 give 9 and 18 tiles a row (chunks of 8 and a rest)
  const shapes = [[1, 1, 1, 8, 4, 1], [2, 5, 7, 9, 5, 1], [1, 4, 17, 16, 13, 1], [1, 6, 35, 12, 20, 1], [1, 7, 9, 8, 1, 0], [1, 3, 3, 10, 8, 0], [1, 2, 2, 24, 16, 1], [1, 5, 17, 6, 33, 1], [1, 4, 6, 7, 48, 0]] as const;
  const acts = [undefined, { kind: 'relu' as const }, { kind: 'leaky' as const, slope: 0.1 }, { kind: 'clamp' as const, lo: -0.5, hi: 0.5 }, { kind: 'tanh' as const }, { kind: 'sigmoid' as const }, { kind: 'gelu' as const }];
  const refAct = (a: (typeof acts)[number], v: ReturnType<typeof ref.conv2d>) => {
    if (!a) return v;
    switch (a.kind) {
      case 'relu': return ref.relu(v);
      case 'leaky': return ref.leakyRelu(v, a.slope);
      case 'clamp': return ref.clamp(v, a.lo, a.hi);
      case 'tanh': return ref.tanh(v);
      case 'sigmoid': return ref.sigmoid(v);
      default: return { ...v, data: v.data.map((u) => 0.5 * u * (1 + ref.erf(u / Math.SQRT2))) };
    }
  };
  const cases = shapes.map(([N, H, W, Cin, Cout, padding], k) => {
    const x = randomRT([N, H, W, Cin], rng), w = randomRT([Cout, Cin, 3, 3], rng), b = k % 2 ? null : randomRT([Cout], rng);
    return { x, w, b, padding, act: acts[k % acts.length], alpha: randomRT([Cout], rng, 0, 0.5) };
  });
  const outs = await assertSameOnThreadCounts(() => cases.flatMap((c) => {
    const [xt, wt] = [toTensor(c.x), toTensor(c.w)];
    const bt = c.b ? toTensor(c.b) : null, at = toTensor(c.alpha);
    const y = conv2dRaw(xt, wt, bt, { padding: c.padding, act: c.act });
    const yp = conv2dRaw(xt, wt, bt, { padding: c.padding, act: { kind: 'prelu', alpha: at } });
    const out = [[...y.data], [...yp.data]];
    [xt, wt, at, y, yp, ...(bt ? [bt] : [])].forEach((t) => t.dispose());
    return out;
  }));
  cases.forEach((c, k) => {
    const pre = ref.conv2d(c.x, c.w, c.b, { padding: c.padding });
    assertClose(outs[2 * k]!, refAct(c.act, pre).data, 1e-4, 1e-4, `winograd ${JSON.stringify(shapes[k])} ${c.act?.kind ?? 'none'}`);
    assertClose(outs[2 * k + 1]!, ref.prelu(pre, c.alpha).data, 1e-4, 1e-4, `winograd ${JSON.stringify(shapes[k])} prelu`);
  });
});

test('fused last layer (conv [+ residual] + clamp or sigmoid + depth_to_space) equals the unfused reference', async () => {
  await useEngine(2);
  const rng = mulberry32(11);
  for (const order of ['pytorch', 'tf'] as const) {
    for (const [N, H, W, Cin, s] of [[1, 5, 7, 8, 4], [2, 3, 4, 6, 2], [1, 1, 1, 4, 3]] as const) {
      const Cout = 3 * s * s;
      const x = randomRT([N, H, W, Cin], rng), w = randomRT([Cout, Cin, 3, 3], rng), b = randomRT([Cout], rng);
      const img = randomRT([N, H, W, 3], rng);
      // ABPN-style anchor: the 3-channel input repeated s*s times (channel co uses input co % 3)
      const map = Array.from({ length: Cout }, (_, co) => co % 3);
      const repeated = ref.concat(Array.from({ length: s * s }, () => img));
      const expected = ref.depthToSpace(ref.clamp(ref.add(ref.conv2d(x, w, b), repeated), 0, 1), s, order);
      const [xt, wt, bt, it] = [x, w, b, img].map(toTensor) as [Tensor, Tensor, Tensor, Tensor];
      const y = conv2dDepthToSpace(xt, wt, bt, { scale: s, order, residual: it, residualMap: map }, { act: { kind: 'clamp', lo: 0, hi: 1 } });
      assert.deepEqual([...y.shape], expected.shape);
      assertClose(y.data, expected.data, 1e-4, 1e-4, `d2s ${order} ${[N, H, W, Cin, s]}`);
      // ESPCN's tail: conv + sigmoid + depth_to_space, no residual
      const sig = conv2dDepthToSpace(xt, wt, bt, { scale: s, order }, { act: { kind: 'sigmoid' } });
      assertClose(sig.data, ref.depthToSpace(ref.sigmoid(ref.conv2d(x, w, b)), s, order).data, 1e-4, 1e-4, `d2s + sigmoid ${order} ${[N, H, W, Cin, s]}`);
      [xt, wt, bt, it, y, sig].forEach((t) => t.dispose());
    }
  }
});

test('conv2d results are bit-identical on 1 and 2 threads', async () => {
  const rng = mulberry32(5);
  const x = randomRT([3, 17, 13, 12], rng), w = randomRT([20, 12, 3, 3], rng), dy = randomRT([3, 17, 13, 20], rng);
  const one = await assertSameOnThreadCounts(() => {
    const [xt, wt, dyt] = [x, w, dy].map(toTensor) as [Tensor, Tensor, Tensor];
    const y = conv2dRaw(xt, wt, null);
    const g = conv2dBackward(xt, wt, dyt, {}, { dx: true, dw: true, db: true });
    return [y, g.dx!, g.dw!, g.db!].map((t) => toRT(t).data);
  });
});

test('conv2d rejects bad shapes with errors that name the op and the shapes', async () => {
  await useEngine(1);
  const x = Tensor.zeros([1, 4, 4, 3]);
  const w = Tensor.zeros([8, 4, 3, 3]);
  assert.throws(() => conv2dRaw(x, w, null), /conv2d: input \[1,4,4,3\] has 3 channels but weight \[8,4,3,3\]/);
  const w2 = Tensor.zeros([8, 3, 3, 3]);
  assert.throws(() => conv2dRaw(x, w2, Tensor.zeros([7])), /conv2d: bias \[7\] does not match 8 output channels/);
  assert.throws(() => conv2dRaw(Tensor.zeros([4, 4, 3]), w2, null), /conv2d: input must be NHWC \(rank 4\), got shape \[4,4,3\]/);
  assert.throws(() => conv2dRaw(x, w2, null, { groups: 2 }), /groups=2 must divide/);
});
