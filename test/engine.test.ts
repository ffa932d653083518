// Engine: build selection, threads, allocator pooling and growth, input validation, reductions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, engine, sizeClass } from '../src/tensor/engine.js';
import * as ref from './ref/index.js';
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

test('size classes bound the slack at 25% and let different sizes share freed blocks', async () => {
  for (const b of [1, 63, 64, 65, 4095, 4097, 10_000, 123_456, 7_777_777]) {
    const c = sizeClass(b);
    assert.ok(c >= b && c % 64 === 0, `class of ${b}`);
    if (b > 4096) assert.ok(c <= 1.25 * b + 64, `slack of ${b}: ${c}`);
  }
  const e = await initEngine({ threads: 1 });
  const a = Tensor.empty([100_000]);
  const p = a.ptr;
  a.dispose();
  const b = Tensor.empty([95_000]); // a different size in the same class reuses the block
  assert.equal(b.ptr, p);
  b.dispose();
  const top = e.heapBytes;
  for (let i = 0; i < 50; i++) Tensor.empty([60_000 + 1000 * i]).dispose(); // varied sizes, one at a time
  assert.ok(e.heapBytes - top <= 4 * 1024 * 1024, `heap grew by ${e.heapBytes - top} bytes for one live tensor at a time`);
});

test('tensors above 2 GiB of WebAssembly memory are addressed correctly', async () => {
  await initEngine({ threads: 2 });
  const filler = Tensor.empty([600_000_000]); // 2.4 GB pushes the next blocks past 2^31
  const rng = mulberry32(4);
  const x = randomRT([1, 6, 7, 5], rng), w = randomRT([4, 5, 3, 3], rng);
  const xt = toTensor(x), wt = toTensor(w);
  assert.ok(xt.ptr >= 2 ** 31, `pointer ${xt.ptr} is above 2 GiB`);
  assertClose(xt.data, x.data, 1e-6, 1e-6, 'data view above 2 GiB');
  const y = conv2d(xt, wt, null);
  assertClose(y.data, ref.conv2d(x, w, null).data, 1e-4, 1e-4, 'conv2d above 2 GiB');
  [filler, xt, wt, y].forEach((t) => t.dispose());
});

test('a kernel that traps on the calling thread leaves the thread pool in step', async () => {
  const e = await initEngine({ threads: 2 });
  // share 0 (the caller) reads past the end of memory and traps at once; share 1 wraps around
  // to low memory and keeps scanning (read-only) for a while: the caller must wait for it
  const n = 20_000_000;
  const out = Tensor.empty([2]);
  const big = Tensor.empty([n / 2]); // make sure the wrapped reads stay inside memory
  for (let k = 0; k < 5; k++) assert.throws(() => e.run('nonfinite_scan', [2 ** 32 - 4 * (n / 2), n, out.ptr]), /out of bounds|RuntimeError/i);
  big.dispose();
  out.dispose();
  // every later multi-threaded run must still be complete and correct
  const rng = mulberry32(12);
  for (let k = 0; k < 300; k++) {
    const len = 1 + Math.floor(rng() * 5000);
    const t = Tensor.empty([len]);
    e.run('fill', [t.ptr, len, k]);
    const d = t.data;
    assert.ok(d[0] === k && d[len - 1] === k && d[len >> 1] === k, `run ${k} incomplete`);
    t.dispose();
  }
});
