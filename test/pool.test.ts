// Max pooling (ESA's 7x7 stride 3) against the float64 reference, its gradient against finite
// differences (inputs with distinct values, so every window has one maximum), and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, assertClose, gradCheck, mulberry32, randomRT } from './helpers.js';
import * as ref from './ref/index.js';
import { maxPool2d, maxPool2dBackward } from '../src/tensor/ops/pool.js';
import * as A from '../src/autograd/ops/pool.js';

/** A random tensor whose values are a shuffled ramp: distinct, at least 1/n apart. */
function distinct(shape: number[], seed: number): ref.RT {
  const r = randomRT(shape, mulberry32(seed));
  const order = [...r.data.keys()].sort((a, b) => r.data[a]! - r.data[b]!);
  order.forEach((i, rank) => { r.data[i] = rank / order.length - 0.5; });
  return r;
}

test('maxPool2d matches the reference: ESA\'s 7x7 stride 3, overlapping 3x3 stride 2, 1x1, batches, C not a multiple of 4', async () => {
  await useEngine(1);
  for (const [shape, k, s] of [[[1, 23, 20, 3], 7, 3], [[2, 9, 8, 5], 3, 2], [[1, 4, 5, 2], 1, 1], [[1, 7, 7, 12], 7, 3]] as [number[], number, number][]) {
    const r = randomRT(shape, mulberry32(k * 10 + s));
    r.data.forEach((v, i) => { r.data[i] = Math.fround(v); }); // the engine holds float32: compare exactly
    const x = toTensor(r);
    const y = maxPool2d(x, k, s);
    const want = ref.maxPool2d(r, k, s);
    assert.deepEqual([...y.shape], want.shape);
    assertClose(y.data, want.data, 0, 0, `maxPool2d ${shape} k${k} s${s}`);
    x.dispose();
    y.dispose();
  }
});

test('maxPool2d gradient matches finite differences, overlapping windows included', async () => {
  await useEngine(1);
  for (const [shape, k, s] of [[[1, 9, 8, 2], 3, 2], [[2, 10, 10, 3], 7, 3]] as [number[], number, number][]) {
    gradCheck({ name: `maxPool2d ${shape} k${k} s${s}`, inputs: [distinct(shape, k + s)], grad: [true], op: ([x]) => A.maxPool2d(x!, k, s), ref: ([x]) => ref.maxPool2d(x!, k, s), h: 1e-4 });
  }
});

test('maxPool2d refuses a window larger than the input and a gradient of the wrong shape, naming both', async () => {
  await useEngine(1);
  const x = toTensor(randomRT([1, 5, 9, 2], mulberry32(1)));
  assert.throws(() => maxPool2d(x, 7, 3), /maxPool2d: input \[1,5,9,2\] is smaller than the 7x7 window/);
  const dy = toTensor(randomRT([1, 2, 2, 2], mulberry32(2)));
  assert.throws(() => maxPool2dBackward(x, dy, 3, 2), /output gradient \[1,2,2,2\] does not match the output \[1,2,4,2\]/);
  x.dispose();
  dy.dispose();
});
