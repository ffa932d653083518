// conv_transpose2d (groups = 1, PyTorch weight layout [Cin, Cout, K, K]) against the float64
// reference, gradients against finite differences, 1 vs 2 threads, and input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, toRT, assertClose, gradCheck, mulberry32, randomRT, assertSameOnThreadCounts } from './helpers.js';
import * as ref from './ref/index.js';
import { convTranspose2d as convTRaw, convTranspose2dBackward } from '../src/tensor/ops/convTranspose.js';
import { convTranspose2d } from '../src/autograd/ops/convTranspose.js';
import { Tensor } from '../src/tensor/tensor.js';

// [N, H, W, Cin, Cout, K, stride, padding, outputPadding]
type Case = [number, number, number, number, number, number, number, number, number];
const SHAPES: Case[] = [
  [1, 5, 6, 56, 3, 9, 2, 4, 1], // FSRCNN last layer x2
  [1, 4, 3, 56, 3, 9, 3, 4, 2], // x3
  [1, 3, 4, 56, 3, 9, 4, 4, 3], // x4
  [2, 3, 5, 4, 5, 3, 2, 1, 1],
  [1, 1, 1, 3, 2, 3, 2, 0, 0],  // 1x1 input
  [1, 1, 1, 2, 7, 4, 3, 1, 2],
  [3, 4, 2, 5, 6, 4, 2, 1, 0],  // even kernel, batch 3
  [1, 6, 5, 7, 12, 3, 1, 1, 0], // stride 1 (a "same" conv with flipped taps)
  [2, 2, 3, 9, 10, 2, 2, 0, 1], // Cout spanning three 4-lane blocks
  [1, 3, 3, 1, 1, 5, 3, 0, 0],
  [1, 3, 3, 3, 4, 3, 2, 3, 1],  // padding larger than K-1
];

// Small shapes for finite differences.
const GRAD_SHAPES: Case[] = [
  [1, 3, 2, 3, 2, 3, 2, 1, 1],
  [2, 2, 2, 2, 5, 4, 2, 1, 0],
  [1, 1, 1, 3, 3, 3, 2, 0, 0],
  [1, 2, 3, 4, 3, 9, 3, 4, 2], // FSRCNN-like K=9, padding 4
  [1, 3, 3, 5, 6, 3, 1, 1, 0],
];

function make(seed: number, s: Case) {
  const [N, H, W, Cin, Cout, K, stride, padding, outputPadding] = s;
  const rng = mulberry32(seed);
  return {
    x: randomRT([N, H, W, Cin], rng),
    w: randomRT([Cin, Cout, K, K], rng),
    b: randomRT([Cout], rng),
    opts: { stride, padding, outputPadding },
  };
}

for (const threads of [1, 2]) {
  test(`convTranspose2d forward matches the float64 reference (${threads} thread(s))`, async () => {
    await useEngine(threads);
    SHAPES.forEach((s, k) => {
      const c = make(300 + k, s);
      const [x, w, b] = [c.x, c.w, c.b].map(toTensor) as [Tensor, Tensor, Tensor];
      for (const withBias of [true, false]) {
        const y = convTRaw(x, w, withBias ? b : null, c.opts);
        const r = ref.convTranspose2d(c.x, c.w, withBias ? c.b : null, c.opts);
        assert.deepEqual([...y.shape], r.shape, `shape ${JSON.stringify(s)}`);
        assertClose(y.data, r.data, 1e-4, 1e-4, `convTranspose2d ${JSON.stringify(s)} bias=${withBias}`);
        y.dispose();
      }
      [x, w, b].forEach((t) => t.dispose());
    });
  });

  test(`convTranspose2d gradients match finite differences (${threads} thread(s))`, async () => {
    await useEngine(threads);
    GRAD_SHAPES.forEach((s, k) => {
      const c = make(400 + k, s);
      gradCheck({
        name: `convTranspose2d ${JSON.stringify(s)}`,
        inputs: [c.x, c.w, c.b],
        grad: [true, true, true],
        op: ([x, w, b]) => convTranspose2d(x!, w!, b!, c.opts),
        ref: ([x, w, b]) => ref.convTranspose2d(x!, w!, b!, c.opts),
      });
    });
    const c = make(450, [1, 3, 2, 3, 2, 4, 2, 1, 1]);
    gradCheck({
      name: 'convTranspose2d without bias, weight frozen',
      inputs: [c.x, c.w],
      grad: [true, false],
      op: ([x, w]) => convTranspose2d(x!, w!, null, c.opts),
      ref: ([x, w]) => ref.convTranspose2d(x!, w!, null, c.opts),
    });
  });
}

test('convTranspose2d gradients of a larger case match the float64 adjoints', async () => {
  // Direct check of dx, dw, db against the reference's adjoint identities:
  // <dy, y(x)> is linear in x and in w, so dx_i = <dy, y(e_i)>; here via small random probes.
  await useEngine(2);
  const c = make(500, [2, 5, 4, 56, 3, 9, 3, 4, 2]);
  const [x, w] = [c.x, c.w].map(toTensor) as [Tensor, Tensor];
  const r = ref.convTranspose2d(c.x, c.w, null, c.opts);
  const dyR = randomRT(r.shape, mulberry32(501));
  const dy = toTensor(dyR);
  const g = convTranspose2dBackward(x, w, dy, c.opts, { dx: true, dw: true, db: true });
  // <dy, convT(x, w)> = <dx, x> = <dw, w> (bilinear in x and w)
  const lhs = ref.dot(dyR, r);
  const dxx = ref.dot(toRT(g.dx!), c.x), dww = ref.dot(toRT(g.dw!), c.w);
  assert.ok(Math.abs(dxx - lhs) < 1e-3 * (1 + Math.abs(lhs)), `<dx, x> = ${dxx} vs ${lhs}`);
  assert.ok(Math.abs(dww - lhs) < 1e-3 * (1 + Math.abs(lhs)), `<dw, w> = ${dww} vs ${lhs}`);
  // db = sum of dy over pixels
  const db = new Float64Array(3);
  for (let i = 0; i < dyR.data.length; i++) db[i % 3]! += dyR.data[i]!;
  assertClose(g.db!.data, db, 1e-4, 1e-5, 'db');
  // a few individual weight gradients by directional derivative of the (linear) reference
  for (const idx of [0, 17, 4000, c.w.data.length - 1]) {
    const e = ref.rt(c.w.shape);
    e.data[idx] = 1;
    const d = ref.dot(dyR, ref.convTranspose2d(c.x, e, null, c.opts));
    assert.ok(Math.abs(g.dw!.data[idx]! - d) < 1e-4 * (1 + Math.abs(d)), `dw[${idx}] = ${g.dw!.data[idx]} vs ${d}`);
  }
  [x, w, dy, g.dx!, g.dw!, g.db!].forEach((t) => t.dispose());
});

test('convTranspose2d forward and backward are bit-identical on 1 and 2 threads', async () => {
  const cases = [make(600, [2, 7, 5, 56, 3, 9, 3, 4, 2]), make(601, [3, 5, 6, 13, 9, 4, 2, 1, 1])];
  const one = await assertSameOnThreadCounts(() => {
    const out: Float64Array[] = [];
    for (const c of cases) {
      const [x, w, b] = [c.x, c.w, c.b].map(toTensor) as [Tensor, Tensor, Tensor];
      const y = convTRaw(x, w, b, c.opts);
      const dy = toTensor(randomRT([...y.shape], mulberry32(7)));
      const g = convTranspose2dBackward(x, w, dy, c.opts, { dx: true, dw: true, db: true });
      out.push(...[y, g.dx!, g.dw!, g.db!].map((t) => toRT(t).data));
      [x, w, b, y, dy, g.dx!, g.dw!, g.db!].forEach((t) => t.dispose());
    }
    return out;
  });
});


test('convTranspose2d rejects bad inputs with errors that name the op and the shapes', async () => {
  await useEngine(1);
  const x = Tensor.zeros([1, 4, 4, 3]);
  const w = Tensor.zeros([3, 2, 3, 3]);
  assert.throws(() => convTRaw(x, Tensor.zeros([4, 2, 3, 3]), null, { stride: 2 }),
    /^Error: mvsr: convTranspose2d: input \[1,4,4,3\] has 3 channels but weight \[4,2,3,3\] expects 4/);
  assert.throws(() => convTRaw(x, w, null, { stride: 2, groups: 3 }), /^Error: mvsr: convTranspose2d: groups=3 is not supported .*\[1,4,4,3\].*\[3,2,3,3\]/);
  assert.throws(() => convTRaw(x, w, Tensor.zeros([3]), { stride: 2 }), /^Error: mvsr: convTranspose2d: bias \[3\] does not match 2 output channels/);
  assert.throws(() => convTRaw(x, w, null, { stride: 2, outputPadding: 2 }), /^Error: mvsr: convTranspose2d: outputPadding 2 must be .* smaller than stride 2/);
  assert.throws(() => convTRaw(x, w, null, { stride: 0 }), /^Error: mvsr: convTranspose2d: stride 0/);
  assert.throws(() => convTRaw(x, Tensor.zeros([3, 2, 3, 2]), null, { stride: 1 }), /^Error: mvsr: convTranspose2d: only square kernels .*\[3,2,3,2\]/);
  assert.throws(() => convTRaw(Tensor.zeros([1, 1, 1, 3]), w, null, { stride: 1, padding: 2 }), /^Error: mvsr: convTranspose2d: input \[1,1,1,3\] .* empty output -1x-1/);
  assert.throws(() => convTRaw(Tensor.zeros([4, 4, 3]), w, null, { stride: 2 }), /^Error: mvsr: convTranspose2d: input must be NHWC \(rank 4\), got shape \[4,4,3\]/);
  assert.throws(() => convTranspose2dBackward(x, w, Tensor.zeros([1, 8, 8, 2]), { stride: 2 }, { dx: true, dw: true, db: true }),
    /^Error: mvsr: convTranspose2dBackward: output gradient \[1,8,8,2\] does not match output \[1,9,9,2\]/);
});
