// nn layers: PyTorch parameter names and layouts, default initialisation bounds, state dicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, assertClose, mulberry32, randomRT } from './helpers.js';
import * as ref from './ref/index.js';
import { Sequential, Conv2d, ConvTranspose2d, PReLU, ReLU, PixelShuffle, manualSeed } from '../src/nn/index.js';
import { leaf, noGrad, clearTape } from '../src/autograd/var.js';
import { Module } from '../src/nn/module.js';
import type { Var } from '../src/autograd/var.js';

class Named extends Module {
  readonly conv1: Conv2d;
  readonly body: Sequential;
  constructor() {
    super();
    this.conv1 = this.child('conv1', new Conv2d(3, 4, 3));
    this.body = this.child('body', new Sequential(new Conv2d(4, 4, 1, { groups: 2 }), new PReLU(4), new ConvTranspose2d(4, 3, 4, { stride: 2, padding: 1 })));
  }
  forward(x: Var): Var {
    return this.body.forward(this.conv1.forward(x));
  }
}

test('parameter names and shapes follow PyTorch', async () => {
  await useEngine(1);
  const m = new Named();
  const shapes = Object.fromEntries([...m.namedParameters()].map(([n, p]) => [n, [...p.value.shape]]));
  assert.deepEqual(shapes, {
    'conv1.weight': [4, 3, 3, 3],
    'conv1.bias': [4],
    'body.0.weight': [4, 2, 1, 1],
    'body.0.bias': [4],
    'body.1.weight': [4],
    'body.2.weight': [4, 3, 4, 4],
    'body.2.bias': [3],
  });
  assert.equal(m.numParameters(), 108 + 4 + 8 + 4 + 4 + 192 + 3);
  m.dispose();
});

test('default initialisation matches PyTorch bounds (U(-1/sqrt(fan_in), 1/sqrt(fan_in))) and is seeded', async () => {
  await useEngine(1);
  manualSeed(3);
  const a = new Conv2d(16, 32, 3);
  const bound = 1 / Math.sqrt(16 * 9);
  const w = a.weight.value.data;
  let max = 0, sum = 0, sq = 0;
  for (const v of w) { max = Math.max(max, Math.abs(v)); sum += v; sq += v * v; }
  assert.ok(max <= bound, `weights within the bound ${bound}`);
  assert.ok(max > 0.95 * bound, 'weights fill the bound');
  // variance of U(-b, b) is b^2/3
  assertClose([sq / w.length - (sum / w.length) ** 2], [bound * bound / 3], 0, 0.1, 'weight variance');
  manualSeed(3);
  const b = new Conv2d(16, 32, 3);
  assert.deepEqual(b.weight.value.toArray(), a.weight.value.toArray(), 'same seed, same weights');
  const t = new ConvTranspose2d(8, 3, 9, { stride: 4, padding: 4, outputPadding: 3 });
  const tb = 1 / Math.sqrt(3 * 81); // PyTorch takes fan_in from weight dim 1 for transposed convs
  assert.ok(Math.max(...t.weight.value.data.map(Math.abs)) <= tb);
  [a, b, t].forEach((x) => x.dispose());
  assert.equal(new PReLU(3).weight.value.data[2], 0.25);
});

test('forward of a Sequential equals the float64 reference composition with the same weights', async () => {
  await useEngine(2);
  manualSeed(5);
  const net = new Sequential(new Conv2d(3, 8, 3), new ReLU(), new Conv2d(8, 12, 5), new PixelShuffle(2));
  const sd = net.stateDict();
  const rt = (k: string) => ({ shape: sd[k]!.shape, data: Float64Array.from(sd[k]!.data) });
  const x = randomRT([2, 7, 6, 3], mulberry32(1));
  const expected = ref.depthToSpace(ref.conv2d(ref.relu(ref.conv2d(x, rt('0.weight'), rt('0.bias'))), rt('2.weight'), rt('2.bias')), 2);
  const y = noGrad(() => net.forward(leaf(toTensor(x))));
  assert.deepEqual([...y.shape], expected.shape);
  assertClose(y.value.data, expected.data, 1e-5, 1e-4, 'Sequential forward');
  clearTape();
  net.dispose();
});

test('loadStateDict round-trips and names missing, unexpected and mis-shaped keys', async () => {
  await useEngine(1);
  manualSeed(1);
  const a = new Named();
  manualSeed(2);
  const b = new Named();
  b.loadStateDict(a.stateDict());
  for (const [n, p] of a.namedParameters()) {
    assert.deepEqual(p.value.toArray(), b.stateDict()[n]!.data, n);
  }
  const sd = a.stateDict();
  const { ['conv1.bias']: _drop, ...missing } = sd;
  assert.throws(() => b.loadStateDict(missing), /missing keys \[conv1\.bias\], unexpected keys \[\]/);
  assert.throws(() => b.loadStateDict({ ...sd, extra: { shape: [1], data: new Float32Array(1) } }), /unexpected keys \[extra\]/);
  b.loadStateDict(missing, false); // non-strict: loads what matches
  assert.throws(
    () => b.loadStateDict({ ...sd, 'conv1.weight': { shape: [4, 3, 5, 5], data: new Float32Array(300) } }),
    /conv1\.weight has shape \[4,3,5,5\], the model expects \[4,3,3,3\]/,
  );
  a.dispose();
  b.dispose();
});

test('Conv2d.forwardRelu equals relu(forward): values and every gradient bit for bit', async () => {
  const { Conv2d } = await import('../src/nn/layers.js');
  const { relu } = await import('../src/autograd/ops/pointwise.js');
  const { leaf, backward, clearTape } = await import('../src/autograd/var.js');
  const { Tensor } = await import('../src/tensor/tensor.js');
  const { mulberry32, useEngine } = await import('./helpers.js');
  await useEngine(2);
  const r = mulberry32(5);
  const c = new Conv2d(5, 7, 3);
  const xData = Float32Array.from({ length: 2 * 9 * 11 * 5 }, () => r() - 0.5);
  const seed = Float32Array.from({ length: 2 * 9 * 11 * 7 }, () => r() - 0.5);
  const run = (fused: boolean) => {
    const x = leaf(Tensor.from([2, 9, 11, 5], xData), true);
    c.zeroGrad();
    const y = fused ? c.forwardRelu(x) : relu(c.forward(x));
    const yv = y.value.toArray();
    const s = Tensor.from([2, 9, 11, 7], seed);
    backward(y, s);
    s.dispose();
    const out = { y: yv, dx: x.grad!.toArray(), dw: c.weight.grad!.toArray(), db: c.bias!.grad!.toArray() };
    clearTape();
    x.value.dispose();
    x.zeroGrad();
    return out;
  };
  const a = run(false), b = run(true);
  assert.ok(a.y.some((v) => v === 0) && a.y.some((v) => v > 0), 'the ReLU both clips and passes');
  assert.deepEqual(b, a);
  c.dispose();
});

test('constant(): a step constant used in a loss is freed by clearTape, where a leaf would leak', async () => {
  const { constant, leaf, backward, clearTape } = await import('../src/autograd/var.js');
  const { mul } = await import('../src/autograd/ops/pointwise.js');
  const { Tensor, liveTensorCount } = await import('../src/tensor/tensor.js');
  const { useEngine } = await import('./helpers.js');
  await useEngine(1);
  const p = leaf(Tensor.from([1], [3]), true);
  const before = liveTensorCount();
  for (let i = 0; i < 5; i++) {
    backward(mul(p, constant(Tensor.full([1], 0.5))));
    clearTape();
  }
  assert.equal(p.grad!.data[0], 2.5, 'the constant scaled the gradient');
  assert.equal(liveTensorCount(), before + 1, 'only the accumulated gradient stays');
  p.zeroGrad();
  p.value.dispose();
});
