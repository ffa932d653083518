// L1 / MSE / Charbonnier losses against the float64 reference, their gradients against finite
// differences, bit-identical reductions on 1 and 2 threads, and input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, assertClose, gradCheck, mulberry32, randomRT, assertSameOnThreadCounts } from './helpers.js';
import * as ref from './ref/index.js';
import type { RT } from './ref/index.js';
import * as L from '../src/tensor/ops/loss.js';
import * as A from '../src/autograd/ops/loss.js';
import { leaf, backward, clearTape } from '../src/autograd/var.js';
import { Tensor } from '../src/tensor/tensor.js';

// element counts: 1, 3, 7, 90, 315, 1365 (two chunks), 4100 (five chunks, odd tail)
const SHAPES: number[][] = [
  [1, 1, 1, 1],
  [1, 1, 1, 3],
  [1, 1, 1, 7],
  [2, 3, 5, 3],
  [1, 7, 9, 5],
  [3, 7, 13, 5],
  [2, 5, 10, 41],
  [4, 4, 4, 4],
];
const GRAD_SHAPES: number[][] = [[1, 1, 1, 1], [1, 1, 1, 3], [2, 3, 2, 5], [1, 3, 3, 4]];

function f32(r: RT): RT {
  return { shape: [...r.shape], data: Float64Array.from(Float32Array.from(r.data)) };
}

/** pred and target whose differences are at least `margin` away from 0 (L1's kink). */
function pair(shape: number[], seed: number, margin = 0.02): [RT, RT] {
  const rng = mulberry32(seed);
  const target = f32(randomRT(shape, rng));
  const pred = ref.rt(shape);
  for (let i = 0; i < pred.data.length; i++) {
    const u = 2 * rng() - 1;
    pred.data[i] = target.data[i]! + (u < 0 ? -1 : 1) * (margin + Math.abs(u));
  }
  return [f32(pred), target];
}

const LOSSES = [
  {
    name: 'l1', fwd: L.l1Loss, bwd: L.l1LossBackward, ref: ref.l1Loss, var: A.l1Loss,
    d: (p: number, t: number, n: number) => Math.sign(p - t) / n,
  },
  {
    name: 'mse', fwd: L.mseLoss, bwd: L.mseLossBackward, ref: ref.mseLoss, var: A.mseLoss,
    d: (p: number, t: number, n: number) => (2 * (p - t)) / n,
  },
  {
    name: 'charbonnier', fwd: (a: Tensor, b: Tensor) => L.charbonnierLoss(a, b),
    bwd: (a: Tensor, b: Tensor, s: number) => L.charbonnierLossBackward(a, b, s),
    ref: (a: RT, b: RT) => ref.charbonnierLoss(a, b), var: A.charbonnierLoss,
    d: (p: number, t: number, n: number) => (p - t) / Math.sqrt((p - t) ** 2 + 1e-12) / n,
  },
  {
    name: 'charbonnier eps=1e-3', fwd: (a: Tensor, b: Tensor) => L.charbonnierLoss(a, b, 1e-3),
    bwd: (a: Tensor, b: Tensor, s: number) => L.charbonnierLossBackward(a, b, s, 1e-3),
    ref: (a: RT, b: RT) => ref.charbonnierLoss(a, b, 1e-3), var: (a: A_Var, b: A_Var) => A.charbonnierLoss(a, b, 1e-3),
    d: (p: number, t: number, n: number) => (p - t) / Math.sqrt((p - t) ** 2 + 1e-3) / n,
  },
];
type A_Var = Parameters<typeof A.l1Loss>[0];

for (const threads of [1, 2]) {
  test(`losses and their gradients match the float64 reference (${threads} thread(s))`, async () => {
    await useEngine(threads);
    SHAPES.forEach((s, k) => {
      const [pr, tr] = pair(s, 10 + k);
      const p = toTensor(pr), t = toTensor(tr);
      const n = pr.data.length;
      for (const l of LOSSES) {
        const tag = `${l.name} ${JSON.stringify(s)}`;
        const v = l.fwd(p, t);
        const r = l.ref(pr, tr);
        assert.ok(Math.abs(v - r) <= 1e-6 * Math.abs(r) + 1e-9, `${tag}: loss ${v} vs ${r}`);
        const scale = -1.75;
        const g = l.bwd(p, t, scale);
        const expect = pr.data.map((pv, i) => scale * l.d(pv, tr.data[i]!, n));
        assertClose(g.data, expect, 1e-9, 1e-5, `${tag}: gradient`);
        g.dispose();
      }
      p.dispose();
      t.dispose();
    });
  });

  test(`loss gradients match float64 finite differences (${threads} thread(s))`, async () => {
    await useEngine(threads);
    GRAD_SHAPES.forEach((s, k) => {
      const [pr, tr] = pair(s, 100 + k);
      for (const l of LOSSES) {
        gradCheck({
          name: `${l.name} ${JSON.stringify(s)}`,
          inputs: [pr, tr],
          grad: [true, true],
          op: ([p, t]) => l.var(p!, t!),
          ref: ([p, t]) => ref.rt([1], [l.ref(p!, t!)]),
        });
        gradCheck({
          name: `${l.name} pred only ${JSON.stringify(s)}`,
          inputs: [pr, tr],
          grad: [true, false],
          op: ([p, t]) => l.var(p!, t!),
          ref: ([p, t]) => ref.rt([1], [l.ref(p!, t!)]),
        });
      }
    });
  });
}

test('loss Vars hold a [1] value and backward scales by the upstream gradient', async () => {
  await useEngine(2);
  const [pr, tr] = pair([1, 3, 3, 3], 5);
  pr.data[4] = tr.data[4]!; // an exact match: L1 gradient sign(0) = 0 like PyTorch
  const p = leaf(toTensor(pr), true), t = leaf(toTensor(tr), false);
  try {
    const y = A.l1Loss(p, t);
    assert.deepEqual([...y.shape], [1]);
    assert.ok(Math.abs(y.value.data[0]! - ref.l1Loss(pr, tr)) < 1e-6);
    backward(y, Tensor.from([1], [3]));
    const g = p.grad!.data;
    assert.equal(g[4], 0);
    for (let i = 0; i < g.length; i++) {
      if (i !== 4) assert.ok(Math.abs(g[i]! - (3 * Math.sign(pr.data[i]! - tr.data[i]!)) / 27) < 1e-7, `element ${i}`);
    }
    assert.equal(t.grad, null);
  } finally {
    clearTape();
    p.value.dispose();
    t.value.dispose();
    p.zeroGrad();
  }
});

test('loss values are bit-identical on 1 and 2 threads', async () => {
  const [pr, tr] = pair([2, 17, 19, 7], 3); // 4522 elements: 5 chunks, tail of 2
  const one = await assertSameOnThreadCounts((): number[] => {
    const p = toTensor(pr), t = toTensor(tr);
    const out = [L.l1Loss(p, t), L.mseLoss(p, t), L.charbonnierLoss(p, t), L.charbonnierLoss(p, t, 1e-3)];
    const gs = [L.l1LossBackward(p, t, 0.5), L.mseLossBackward(p, t, 0.5), L.charbonnierLossBackward(p, t, 0.5)];
    for (const g of gs) out.push(...g.data);
    [p, t, ...gs].forEach((x) => x.dispose());
    return out;
  });
  assert.ok(Math.abs(one[0]! - ref.l1Loss(pr, tr)) <= 1e-6 * ref.l1Loss(pr, tr));
  assert.ok(Math.abs(one[1]! - ref.mseLoss(pr, tr)) <= 1e-6 * ref.mseLoss(pr, tr));
});

test('losses reject bad inputs with errors that name the op and the shapes', async () => {
  await useEngine(1);
  const a = Tensor.zeros([1, 4, 4, 3]);
  const b = Tensor.zeros([1, 4, 4, 4]);
  const e = Tensor.zeros([0, 4, 4, 3]);
  assert.throws(() => L.l1Loss(a, b), /^Error: mvsr: l1Loss: shapes differ: pred \[1,4,4,3\] vs target \[1,4,4,4\]/);
  assert.throws(() => L.mseLoss(b, a), /mvsr: mseLoss: shapes differ: pred \[1,4,4,4\] vs target \[1,4,4,3\]/);
  assert.throws(() => L.charbonnierLoss(a, b), /mvsr: charbonnierLoss: shapes differ/);
  assert.throws(() => L.l1LossBackward(a, b), /mvsr: l1LossBackward: shapes differ/);
  assert.throws(() => L.mseLossBackward(a, b), /mvsr: mseLossBackward: shapes differ/);
  assert.throws(() => L.charbonnierLossBackward(a, b), /mvsr: charbonnierLossBackward: shapes differ/);
  assert.throws(() => L.l1Loss(e, e), /mvsr: l1Loss: empty tensors pred \[0,4,4,3\]/);
  assert.throws(() => L.charbonnierLoss(a, a, -1), /mvsr: charbonnierLoss: eps must be a finite number >= 0, got -1/);
  assert.throws(() => A.mseLoss(leaf(a), leaf(b)), /mvsr: mseLoss: shapes differ/);
  [a, b, e].forEach((t) => t.dispose());
});
