// Windowed multi-head self-attention (MobileSR's transformer core): the raw op against the float64
// reference written from the definition (zero padding to whole windows, per-head softmax, crop),
// its gradient against finite differences (windows that cross the edge included), the same bits on
// 1 and 2 threads, the saved probabilities freed with the tape, and input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, assertClose, gradCheck, mulberry32, randomRT, assertSameOnThreadCounts } from './helpers.js';
import * as ref from './ref/index.js';
import * as At from '../src/tensor/ops/attention.js';
import { windowAttention } from '../src/autograd/ops/attention.js';
import { leaf, backward, clearTape } from '../src/autograd/var.js';
import { Tensor, liveTensorCount } from '../src/tensor/tensor.js';

// [N, H, W, C, heads, window]: whole windows, windows crossing the bottom and right edges, a map
// smaller than one window, one head, one channel per head, MobileSR's 8x8 windows of 8 heads of 5
const CASES: [number, number, number, number, number, number][] = [
  [1, 4, 4, 4, 2, 2], [2, 5, 7, 6, 3, 3], [1, 3, 2, 4, 1, 4], [1, 6, 5, 8, 8, 4], [1, 9, 11, 40, 8, 8], [3, 2, 3, 2, 2, 2],
];

test('windowAttention matches the float64 reference (padding, heads, batches) and gives the same bits on 1 and 2 threads', async () => {
  const rng = mulberry32(3);
  const inputs = CASES.map(([N, H, W, C]) => randomRT([N, H, W, 3 * C], rng, -2, 2));
  const outs = await assertSameOnThreadCounts(() => CASES.map(([, , , , heads, window], i) => {
    const x = toTensor(inputs[i]!);
    const y = At.windowAttention(x, { heads, window });
    const got = y.toArray();
    x.dispose();
    y.dispose();
    return got;
  }));
  CASES.forEach(([N, H, W, C, heads, window], i) => {
    const want = ref.windowAttention(inputs[i]!, heads, window);
    assert.deepEqual(want.shape, [N, H, W, C]);
    assertClose(outs[i]!, want.data, 1e-5, 1e-5, `N=${N} H=${H} W=${W} C=${C} heads=${heads} window=${window}`);
  });
});

test('the reference attends within windows only, and padding keys count in the softmax', () => {
  // one head, window 2 on a 2x3 map: pixel (0,2) is in the second window with a padding column
  const x = randomRT([1, 2, 3, 3], mulberry32(9));
  const y = ref.windowAttention(x, 1, 2);
  // changing a pixel of the first window leaves the second window's outputs alone
  const x2 = { shape: x.shape, data: Float64Array.from(x.data) };
  x2.data[1] += 1; // the key of pixel (0,0)
  const y2 = ref.windowAttention(x2, 1, 2);
  for (const p of [2, 5]) assert.equal(y2.data[p], y.data[p]);
  assert.notEqual(y2.data[1], y.data[1]);
  // pixel (0,2): its window holds itself, (1,2) and two zero tokens (score 0, value 0)
  const v = (p: number) => x.data[p * 3 + 2]!, s = (p: number, u: number) => x.data[p * 3]! * x.data[u * 3 + 1]!;
  const e = [s(2, 2), s(2, 5), 0, 0].map(Math.exp), z = e.reduce((a, b) => a + b);
  assert.ok(Math.abs(y.data[2]! - (e[0]! * v(2) + e[1]! * v(5)) / z) < 1e-12);
});

test('windowAttention gradients match finite differences (edge windows, several heads)', async () => {
  await useEngine(1);
  const rng = mulberry32(21);
  for (const [N, H, W, C, heads, window] of [[1, 3, 5, 4, 2, 2], [2, 4, 3, 3, 1, 3], [1, 5, 5, 6, 3, 4]] as const) {
    gradCheck({
      name: `windowAttention N=${N} H=${H} W=${W} C=${C} heads=${heads} window=${window}`,
      inputs: [randomRT([N, H, W, 3 * C], rng)],
      grad: [true],
      op: ([v]) => windowAttention(v!, { heads, window }),
      ref: ([r]) => ref.windowAttention(r!, heads, window),
    });
  }
});

test('windowAttention keeps its probabilities on the tape and frees them with it; bad inputs are one line naming the op', async () => {
  await useEngine(2);
  const live = liveTensorCount();
  const x = leaf(toTensor(randomRT([1, 9, 9, 24], mulberry32(2))), true);
  const y = windowAttention(x, { heads: 4, window: 8 });
  const dy = Tensor.full(y.shape, 1);
  backward(y, dy);
  dy.dispose();
  assert.ok(x.grad && x.grad.data.some((v) => v !== 0));
  clearTape();
  x.value.dispose();
  x.grad?.dispose();
  assert.equal(liveTensorCount(), live, 'no tensor left behind');
  const z = Tensor.zeros([1, 4, 4, 12]);
  assert.throws(() => At.windowAttention(z, { heads: 3, window: 2 }), /^Error: mvsr: windowAttention: input \[1,4,4,12\] must hold q, k and v of C channels each, C divisible by 3 heads/);
  assert.throws(() => At.windowAttention(z, { heads: 2, window: 0 }), /^Error: mvsr: windowAttention: window must be a positive integer, got 0/);
  assert.throws(() => At.windowAttention(Tensor.zeros([4, 4, 12]), { heads: 2, window: 2 }), /^Error: mvsr: windowAttention: input must be NHWC \(rank 4\), got shape \[4,4,12\]/);
  assert.throws(() => At.windowAttention(z, { heads: 2, window: 33 }), /^Error: mvsr: windowAttention: window 33 is larger than 32/);
  z.dispose();
});
