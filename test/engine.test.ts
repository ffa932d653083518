// Engine: build selection, threads, allocator pooling and growth, input validation, reductions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, engine } from '../src/tensor/engine.js';
import { Tensor } from '../src/tensor/tensor.js';
import { conv2d } from '../src/tensor/ops/conv.js';
import { channelSum } from '../src/tensor/ops/util.js';
import { nodeCpuCount } from '../src/tensor/platform.js';
import { mulberry32, randomRT, toTensor, assertClose } from './helpers.js';

test('thread count defaults to the number of cores and can be set', async () => {
  const e = await initEngine();
  assert.equal(e.threads, await nodeCpuCount());
  assert.equal((await initEngine({ threads: 1 })).threads, 1);
  assert.equal((await initEngine({ threads: 3 })).threads, 3);
});

test('relaxed-SIMD and SIMD128 builds agree (relaxed is picked when the runtime supports it)', async () => {
  const rng = mulberry32(3);
  const x = randomRT([2, 9, 11, 13], rng), w = randomRT([10, 13, 3, 3], rng);
  const outs: Float32Array[] = [];
  for (const simd of ['simd128', 'auto'] as const) {
    const e = await initEngine({ threads: 2, simd });
    if (simd === 'auto') assert.equal(e.simd, 'relaxed', 'Node 20 supports relaxed SIMD behind a flag the engine sets');
    const y = conv2d(toTensor(x), toTensor(w), null);
    outs.push(y.toArray());
  }
  assertClose(outs[1]!, outs[0]!, 1e-5, 1e-5, 'relaxed vs simd128');
});

test('allocator reuses freed blocks and keeps contents across memory growth', async () => {
  const e = await initEngine({ threads: 1 });
  const a = Tensor.from([3], [1, 2, 3]);
  const p = a.ptr;
  a.dispose();
  const b = Tensor.zeros([3]);
  assert.equal(b.ptr, p, 'a block of the same size class is reused');
  b.data.set([4, 5, 6]);
  const before = e.memory.buffer.byteLength;
  const big = Tensor.empty([64 * 1024 * 1024]); // 256 MiB forces growth
  assert.ok(e.memory.buffer.byteLength > before);
  assert.deepEqual(Array.from(b.data), [4, 5, 6]);
  big.dispose();
  b.dispose();
  assert.throws(() => b.data, /use of a disposed tensor of shape \[3\]/);
});

test('NaN or Inf in an op input raises an error naming the op and the shape', async () => {
  await initEngine({ threads: 2 });
  const x = Tensor.zeros([1, 5, 6, 3]);
  const w = Tensor.zeros([4, 3, 3, 3]);
  x.data[47] = NaN;
  assert.throws(() => conv2d(x, w, null), /mvsr: conv2d: input of shape \[1,5,6,3\] contains NaN at index 47/);
  x.data[47] = 0;
  w.data[5] = Infinity;
  assert.throws(() => conv2d(x, w, null), /mvsr: conv2d: weight of shape \[4,3,3,3\] contains Infinity at index 5/);
  const off = await initEngine({ threads: 1, checkFinite: false });
  assert.equal(off.checkFinite, false);
});

test('channelSum matches a float64 sum and is identical on 1 and 2 threads', async () => {
  const rng = mulberry32(9);
  const r = randomRT([3000, 7], rng);
  const expect = new Float64Array(7);
  for (let p = 0; p < 3000; p++) for (let c = 0; c < 7; c++) expect[c] += r.data[p * 7 + c]!;
  const got: Float32Array[] = [];
  for (const threads of [1, 2]) {
    await initEngine({ threads });
    const t = toTensor(r);
    const out = Tensor.empty([7]);
    channelSum(t.ptr, 3000, 7, 7, out.ptr);
    got.push(out.toArray());
    assertClose(out.data, expect, 1e-4, 1e-5, 'channel sums');
  }
  assert.deepEqual(got[0], got[1]);
  assert.ok(engine());
});
