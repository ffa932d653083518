// Global mean / standard-deviation pooling and channel scaling (IMDN's contrast-aware channel
// attention) against the float64 reference, their gradients against finite differences, the
// same bits on 1 and 2 threads, and input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, assertClose, gradCheck, mulberry32, randomRT, assertSameOnThreadCounts } from './helpers.js';
import * as ref from './ref/index.js';
import * as Ch from '../src/tensor/ops/channels.js';
import * as A from '../src/autograd/ops/channels.js';
import { reshape } from '../src/autograd/ops/layout.js';
import { conv2d } from '../src/autograd/ops/conv.js';
import { Linear } from '../src/nn/layers.js';
import { leaf, clearTape } from '../src/autograd/var.js';
import type { RT } from './ref/index.js';

// channel counts below, at and past a multiple of 4; 1x1 images; more pixels than one 1,024-pixel chunk
const SHAPES = [[1, 1, 1, 1], [2, 3, 5, 3], [1, 7, 9, 5], [3, 4, 4, 8], [2, 40, 33, 7], [1, 2, 2, 12]];

test('globalPool (mean, std) and scaleChannels match the float64 reference', async () => {
  await useEngine(2);
  const rng = mulberry32(5);
  for (const shape of SHAPES) {
    const r = randomRT(shape, rng);
    // an offset makes the mean large against the spread: a one-pass E[x^2] - E[x]^2 would lose digits
    for (let i = 0; i < r.data.length; i++) r.data[i] = Math.fround(r.data[i]! + 30);
    const x = toTensor(r);
    try {
      for (const stat of ['mean', 'std'] as const) {
        const y = Ch.globalPool(x, stat);
        assert.deepEqual([...y.shape], [shape[0], 1, 1, shape[3]]);
        assertClose(y.data, ref.globalPool(r, stat).data, 2e-5, 2e-5, `${stat} ${shape}`);
        y.dispose();
      }
      const sr = randomRT([shape[0]!, 1, 1, shape[3]!], rng);
      const s = toTensor(sr);
      const y = Ch.scaleChannels(x, s);
      assertClose(y.data, ref.scaleChannels(r, sr).data, 1e-6, 1e-6, `scaleChannels ${shape}`);
      y.dispose();
      s.dispose();
    } finally {
      x.dispose();
    }
  }
});

test('globalPool and scaleChannels gradients match finite differences', async () => {
  await useEngine(1);
  const rng = mulberry32(9);
  for (const shape of [[1, 1, 2, 3], [2, 3, 2, 5], [1, 4, 3, 8]]) {
    const N = shape[0]!, C = shape[3]!;
    for (const stat of ['mean', 'std'] as const) {
      gradCheck({ name: `globalPool ${stat} ${shape}`, inputs: [randomRT(shape, rng)], grad: [true], op: ([x]) => A.globalPool(x!, stat), ref: ([x]) => ref.globalPool(x!, stat) });
    }
    gradCheck({
      name: `scaleChannels ${shape}`, inputs: [randomRT(shape, rng), randomRT([N, 1, 1, C], rng)], grad: [true, true],
      op: ([x, s]) => A.scaleChannels(x!, s!), ref: ([x, s]) => ref.scaleChannels(x!, s!),
    });
    // the attention as IMDN computes it: x scaled by a function of its own statistics
    gradCheck({
      name: `contrast attention ${shape}`, inputs: [randomRT(shape, rng)], grad: [true],
      op: ([x]) => A.scaleChannels(x!, A.globalPool(x!, 'std')),
      ref: ([x]) => ref.scaleChannels(x!, ref.globalPool(x!, 'std')),
    });
  }
});

test('globalPool and its gradients give the same bits on 1 and 2 threads', async () => {
  const r = randomRT([2, 50, 47, 6], mulberry32(3));
  const sr = randomRT([2, 1, 1, 6], mulberry32(4));
  await assertSameOnThreadCounts(() => {
    const x = toTensor(r), s = toTensor(sr);
    try {
      const outs = [Ch.globalPool(x, 'mean'), Ch.globalPool(x, 'std')];
      outs.push(Ch.globalPoolBackward(x, 'std', s, outs[1]!), Ch.scaleChannelsBackward(x, s, x).ds!);
      const arrays = outs.map((t) => Array.from(t.data));
      for (const t of outs) t.dispose();
      return arrays;
    } finally {
      x.dispose();
      s.dispose();
    }
  });
});

test('globalPool of a constant image has std 0 and a zero gradient, not NaN', async () => {
  await useEngine(1);
  const x = toTensor({ shape: [1, 3, 3, 2], data: new Float64Array(18).fill(0.5) });
  const y = Ch.globalPool(x, 'std');
  const dy = toTensor({ shape: [1, 1, 1, 2], data: Float64Array.of(1, -1) });
  const dx = Ch.globalPoolBackward(x, 'std', dy, y);
  assert.deepEqual(Array.from(y.data), [0, 0]);
  assert.ok(Array.from(dx.data).every((v) => v === 0));
  for (const t of [x, y, dy, dx]) t.dispose();
});

test('scaleChannels refuses a scale of the wrong shape, naming both shapes', async () => {
  await useEngine(1);
  const x = toTensor(randomRT([1, 2, 2, 4], mulberry32(1)));
  const s = toTensor(randomRT([1, 2, 2, 4], mulberry32(2)));
  assert.throws(() => Ch.scaleChannels(x, s), /scaleChannels: scale \[1,2,2,4\] must be \[1,1,1,4\] for input \[1,2,2,4\]/);
  x.dispose();
  s.dispose();
});

/** y[n, c] = w[c] for every image: the naive tiling of a [1, C] weight. */
function tileRef(w: RT, N: number): RT {
  const C = w.data.length;
  return { shape: [N, 1, 1, C], data: Float64Array.from({ length: N * C }, (_, i) => w.data[i % C]!) };
}

/** nn.Linear over the channels of each pixel, written as the per-pixel matrix-vector product. */
function linearRef(x: RT, w: RT, b: RT): RT {
  const [O, I] = w.shape as [number, number];
  const P = x.data.length / I;
  const out: RT = { shape: [...x.shape.slice(0, 3), O], data: new Float64Array(P * O) };
  for (let p = 0; p < P; p++) {
    for (let o = 0; o < O; o++) {
      let acc = b.data[o]!;
      for (let i = 0; i < I; i++) acc += x.data[p * I + i]! * w.data[o * I + i]!;
      out.data[p * O + o] = acc;
    }
  }
  return out;
}

test('BSRN-S\'s ops: one [1, C] channel weight shared by the images (repeatImages) and nn.Linear over channels (reshape to a 1x1 conv) match naive references; gradients match finite differences', async () => {
  await useEngine(1);
  const rng = mulberry32(21);
  for (const [N, H, W, C, O] of [[1, 2, 3, 5, 4], [3, 2, 2, 4, 6], [2, 1, 4, 8, 3]] as const) {
    gradCheck({
      name: `x * cw ${[N, H, W, C]}`, inputs: [randomRT([N, H, W, C], rng), randomRT([1, C], rng)], grad: [true, true],
      op: ([x, w]) => A.scaleChannels(x!, A.repeatImages(w!, N)), ref: ([x, w]) => ref.scaleChannels(x!, tileRef(w!, N)),
    });
    gradCheck({
      name: `Linear(${C}, ${O}) as reshape + 1x1 conv ${[N, H, W, C]}`, inputs: [randomRT([N, H, W, C], rng), randomRT([O, C], rng), randomRT([O], rng)], grad: [true, true, true],
      op: ([x, w, b]) => conv2d(x!, reshape(w!, [O, C, 1, 1]), b!, { padding: 0 }),
      ref: ([x, w, b]) => linearRef(x!, w!, b!),
    });
    // the layer itself: PyTorch's [out, in] weight, its forward the per-pixel product
    const lin = new Linear(C, O);
    const named = new Map(lin.namedParameters());
    assert.deepEqual([...named.get('weight')!.value.shape], [O, C]);
    const xr = randomRT([N, H, W, C], rng);
    const toRT = (t: { shape: readonly number[]; data: Float32Array }): RT => ({ shape: [...t.shape], data: Float64Array.from(t.data) });
    const want = linearRef(xr, toRT(named.get('weight')!.value), toRT(named.get('bias')!.value));
    const xv = leaf(toTensor(xr));
    try {
      assertClose(lin.forward(xv).value.data, want.data, 1e-5, 1e-5, `Linear(${C}, ${O}).forward`);
    } finally {
      clearTape();
      xv.value.dispose();
      lin.dispose();
    }
  }
  // reshape refuses a shape of another size, naming both
  const v = leaf(toTensor(randomRT([2, 3], rng)));
  try {
    assert.throws(() => reshape(v, [4, 2]), /mvsr: reshape \[2,3\] -> \[4,2\] changes the element count/);
  } finally {
    clearTape();
    v.value.dispose();
  }
});
