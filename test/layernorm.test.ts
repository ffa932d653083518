// Layer normalisation over the channels (PyTorch nn.LayerNorm(C) on NHWC, VapSR's norm): the raw
// op against the float64 reference, its gradients of x, weight and bias against finite
// differences, the same bits on 1 and 2 threads, the nn layer's PyTorch names and initial values,
// the saved tensors freed with the tape, and input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, assertClose, gradCheck, mulberry32, randomRT, assertSameOnThreadCounts } from './helpers.js';
import * as ref from './ref/index.js';
import * as Ln from '../src/tensor/ops/norm.js';
import * as A from '../src/autograd/ops/norm.js';
import { leaf, backward, clearTape, noGrad, tapeLength } from '../src/autograd/var.js';
import { LayerNorm } from '../src/nn/layers.js';
import { Tensor, liveTensorCount } from '../src/tensor/tensor.js';

// channel counts below, at and past a multiple of 4 (and 1); 1x1 images; batches; more pixels than one 1,024-pixel chunk
const SHAPES = [[1, 1, 1, 1], [1, 1, 1, 6], [2, 3, 5, 3], [1, 7, 9, 5], [3, 4, 4, 8], [2, 40, 33, 7], [1, 2, 2, 12], [4, 1, 1, 13]];

const f32 = (r: ref.RT): ref.RT => ({ shape: r.shape, data: r.data.map((v) => Math.fround(v)) });

test('the float64 reference normalises: every pixel has mean 0 and variance var / (var + eps) before the affine map', () => {
  const x = randomRT([2, 3, 4, 7], mulberry32(1), -3, 5);
  const C = 7, eps = 0.01;
  const y = ref.layerNorm(x, new Array(C).fill(1), new Array(C).fill(0), eps);
  for (let p = 0; p < 24; p++) {
    const xs = Array.from(x.data.subarray(p * C, (p + 1) * C)), ys = Array.from(y.data.subarray(p * C, (p + 1) * C));
    const m = xs.reduce((a, b) => a + b) / C, v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / C;
    const my = ys.reduce((a, b) => a + b) / C, vy = ys.reduce((a, b) => a + (b - my) ** 2, 0) / C;
    assert.ok(Math.abs(my) < 1e-12, `pixel ${p}: mean ${my}`);
    assert.ok(Math.abs(vy - v / (v + eps)) < 1e-12, `pixel ${p}: variance ${vy} vs ${v / (v + eps)}`);
  }
  // weight and bias act per channel afterwards
  const w = Array.from({ length: C }, (_, c) => c - 2), b = Array.from({ length: C }, (_, c) => 0.5 * c);
  const z = ref.layerNorm(x, w, b, eps);
  for (let i = 0; i < z.data.length; i++) assert.ok(Math.abs(z.data[i]! - (y.data[i]! * w[i % C]! + b[i % C]!)) < 1e-12);
});

test('layerNorm matches the float64 reference (C = 1..13, 1x1 images, batches, a large mean against the spread)', async () => {
  await useEngine(2);
  const rng = mulberry32(5);
  for (const shape of SHAPES) {
    const C = shape[3]!;
    for (const offset of [0, 30]) {
      // an offset of 30 makes the mean large against the spread: a one-pass E[x^2] - E[x]^2 in float32 would lose digits
      const r = f32(randomRT(shape, rng, offset - 1, offset + 1));
      const wr = f32(randomRT([C], rng, -1.5, 1.5)), br = f32(randomRT([C], rng));
      const x = toTensor(r), w = toTensor(wr), b = toTensor(br);
      try {
        for (const eps of [1e-5, 0.1]) {
          const y = Ln.layerNorm(x, w, b, eps);
          assert.deepEqual([...y.shape], shape);
          assertClose(y.data, ref.layerNorm(r, wr, br, eps).data, 2e-6, 2e-6, `layerNorm ${shape} offset ${offset} eps ${eps}`);
          y.dispose();
        }
      } finally {
        for (const t of [x, w, b]) t.dispose();
      }
    }
  }
});

test('layerNorm gradients of x, weight and bias match finite differences', async () => {
  await useEngine(1);
  const rng = mulberry32(9);
  for (const shape of [[1, 1, 1, 1], [1, 1, 2, 3], [2, 3, 2, 5], [1, 2, 2, 8], [1, 1, 1, 9]]) {
    const C = shape[3]!;
    for (const eps of [1e-5, 0.5]) {
      gradCheck({
        name: `layerNorm ${shape} eps ${eps}`,
        inputs: [randomRT(shape, rng), randomRT([C], rng, -1.5, 1.5), randomRT([C], rng)],
        grad: [true, true, true],
        op: ([x, w, b]) => A.layerNorm(x!, w!, b!, eps),
        ref: ([x, w, b]) => ref.layerNorm(x!, w!, b!, eps),
      });
    }
  }
  // only x needs a gradient (a frozen norm), and only the parameters (the input is data)
  const x = randomRT([2, 2, 3, 6], rng), w = randomRT([6], rng), b = randomRT([6], rng);
  for (const grad of [[true, false, false], [false, true, true]]) {
    gradCheck({ name: `layerNorm grads ${grad}`, inputs: [x, w, b], grad, op: ([x, w, b]) => A.layerNorm(x!, w!, b!), ref: ([x, w, b]) => ref.layerNorm(x!, w!, b!) });
  }
});

test('layerNorm and its gradients give the same bits on 1 and 2 threads', async () => {
  const rng = mulberry32(3);
  const r = randomRT([2, 50, 47, 6], rng), wr = randomRT([6], rng), br = randomRT([6], rng), gr = randomRT([2, 50, 47, 6], rng);
  await assertSameOnThreadCounts(() => {
    const x = toTensor(r), w = toTensor(wr), b = toTensor(br), dy = toTensor(gr);
    const outs: Tensor[] = [];
    try {
      const { y, xhat, rstd } = Ln.layerNormTrain(x, w, b);
      outs.push(y, xhat, rstd, Ln.layerNorm(x, w, b));
      const g = Ln.layerNormBackward(dy, { xhat, rstd }, w);
      outs.push(g.dx!, g.dweight!, g.dbias!);
      return outs.map((t) => Array.from(t.data));
    } finally {
      for (const t of [x, w, b, dy, ...outs]) t.dispose();
    }
  });
});

test('nn.LayerNorm: PyTorch names and initial values (weight ones, bias zeros); the saved tensors go with the tape, none are kept without gradients', async () => {
  await useEngine(1);
  const m = new LayerNorm(5);
  assert.deepEqual([...m.namedParameters()].map(([n, p]) => [n, [...p.value.shape]]), [['weight', [5]], ['bias', [5]]]);
  assert.deepEqual(Array.from(m.weight.value.data), [1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(m.bias.value.data), [0, 0, 0, 0, 0]);
  assert.equal(m.eps, 1e-5);
  const r = randomRT([2, 3, 3, 5], mulberry32(4));
  const live = liveTensorCount();
  const x = leaf(toTensor(r));
  const y = m.forward(x);
  assertClose(y.value.data, ref.layerNorm(r, [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]).data, 2e-6, 2e-6, 'nn.LayerNorm(5)');
  assert.equal(tapeLength(), 3, 'x̂ and 1/σ kept for the backward, then the output');
  backward(y);
  assert.ok(m.weight.grad && m.bias.grad && !x.grad);
  // d sum(y) / d bias = the pixel count; d / d weight[c] = sum of x̂[., c], and x̂ sums to 0 over each pixel's channels
  assert.deepEqual(Array.from(m.bias.grad.data), [18, 18, 18, 18, 18]);
  const dw = Array.from(m.weight.grad.data);
  assert.ok(Math.abs(dw.reduce((a, b) => a + b)) < 1e-4 && dw.some((v) => Math.abs(v) > 0.1), `weight gradient ${dw}`);
  clearTape();
  noGrad(() => m.forward(x));
  assert.equal(tapeLength(), 1, 'without gradients only the output is taped');
  clearTape();
  m.zeroGrad();
  x.value.dispose();
  assert.equal(liveTensorCount(), live, 'nothing but the parameters remains');
  for (const p of m.parameters()) p.value.dispose();
  assert.throws(() => new LayerNorm(0), /LayerNorm\(0\): the channel count must be a positive integer/);
  assert.throws(() => new LayerNorm(4, 0), /LayerNorm\(4\): eps must be a finite number > 0, got 0/);
});

test('layerNorm refuses a weight or bias that does not match the channels, naming the shapes, and a bad eps', async () => {
  await useEngine(1);
  const x = toTensor(randomRT([1, 2, 2, 4], mulberry32(1)));
  const w4 = Tensor.full([4], 1), w5 = Tensor.full([5], 1), b22 = Tensor.zeros([2, 2]);
  try {
    assert.throws(() => Ln.layerNorm(x, w5, w4), /mvsr: layerNorm: weight \[5\] must be \[4\] \(one value per channel of input \[1,2,2,4\]\)/);
    assert.throws(() => Ln.layerNorm(x, w4, b22), /mvsr: layerNorm: bias \[2,2\] must be \[4\] \(one value per channel of input \[1,2,2,4\]\)/);
    assert.throws(() => Ln.layerNorm(x, w4, w4, 0), /mvsr: layerNorm: eps must be a finite number > 0, got 0/);
    assert.throws(() => Ln.layerNorm(x, w4, w4, NaN), /eps must be a finite number > 0, got NaN/);
    const dy = Tensor.zeros([1, 2, 2, 5]);
    const s = Ln.layerNormTrain(x, w4, w4);
    assert.throws(() => Ln.layerNormBackward(dy, s, w4), /layerNormBackward: shapes differ: normalised input \[1,2,2,4\] vs output gradient \[1,2,2,5\]/);
    for (const t of [dy, s.y, s.xhat, s.rstd]) t.dispose();
  } finally {
    for (const t of [x, w4, w5, b22]) t.dispose();
  }
});
