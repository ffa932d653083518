// Channel layout ops (concat, split, depth_to_space, space_to_depth) against the float64
// reference, gradients against finite differences, 1 vs 2 threads, and input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, toRT, gradCheck, mulberry32, randomRT, assertSameOnThreadCounts } from './helpers.js';
import * as ref from './ref/index.js';
import { concat as concatRaw, split as splitRaw, depthToSpace as d2sRaw, spaceToDepth as s2dRaw } from '../src/tensor/ops/layout.js';
import { concat, split, depthToSpace, spaceToDepth, channelShuffle } from '../src/autograd/ops/layout.js';
import { GraphBuilder } from '../src/graph/ir.js';
import { runGraph } from '../src/runtime/wasm.js';
import { leaf, noGrad } from '../src/autograd/var.js';
import { Tensor } from '../src/tensor/tensor.js';

/** Layout ops only move values: the result must equal the float32-rounded reference exactly. */
function assertExact(t: Tensor, r: ref.RT, what: string): void {
  assert.deepEqual([...t.shape], r.shape, `${what}: shape`);
  assert.deepEqual(t.toArray(), Float32Array.from(r.data), `${what}: values`);
}

// [N, H, W] with per-input channel counts
const CONCAT_CASES: [number, number, number, number[]][] = [
  [1, 1, 1, [1, 2]],
  [2, 3, 5, [3, 4, 5]],
  [1, 4, 7, [8, 1]],
  [3, 2, 3, [5]],
  [1, 5, 4, [2, 0, 6, 3]],
];

// [N, H, W, C, s] for depth_to_space (input has C*s*s channels)
const D2S_CASES: [number, number, number, number, number][] = [
  [1, 1, 1, 1, 2],
  [2, 3, 5, 3, 2],
  [1, 4, 3, 5, 3],
  [1, 2, 2, 4, 4],
  [3, 1, 2, 2, 1],
  [1, 3, 1, 7, 2],
];

for (const threads of [1, 2]) {
  test(`concat and split match the reference (${threads} thread(s))`, async () => {
    await useEngine(threads);
    CONCAT_CASES.forEach(([N, H, W, Cs], k) => {
      const rng = mulberry32(10 + k);
      const xs = Cs.map((C) => randomRT([N, H, W, C], rng));
      const ts = xs.map(toTensor);
      const y = concatRaw(ts);
      const r = ref.concat(xs);
      assertExact(y, r, `concat ${JSON.stringify(Cs)}`);
      const pieces = splitRaw(y, Cs);
      const rp = ref.split(r, Cs);
      pieces.forEach((p, i) => assertExact(p, rp[i]!, `split ${JSON.stringify(Cs)} piece ${i}`));
      [...ts, y, ...pieces].forEach((t) => t.dispose());
    });
  });

  test(`depth_to_space and space_to_depth match the reference in both orders (${threads} thread(s))`, async () => {
    await useEngine(threads);
    for (const order of ['pytorch', 'tf'] as const) {
      D2S_CASES.forEach(([N, H, W, C, s], k) => {
        const rng = mulberry32(30 + k);
        const x = randomRT([N, H, W, C * s * s], rng);
        const xt = toTensor(x);
        const y = d2sRaw(xt, s, order);
        assertExact(y, ref.depthToSpace(x, s, order), `depthToSpace ${order} ${[N, H, W, C, s]}`);
        const back = s2dRaw(y, s, order);
        assertExact(back, x, `spaceToDepth(depthToSpace) ${order} ${[N, H, W, C, s]}`);
        const z = randomRT([N, H * s, W * s, C], rng);
        const zt = toTensor(z);
        const zd = s2dRaw(zt, s, order);
        assertExact(zd, ref.spaceToDepth(z, s, order), `spaceToDepth ${order} ${[N, H, W, C, s]}`);
        [xt, y, back, zt, zd].forEach((t) => t.dispose());
      });
    }
  });

  test(`layout gradients match finite differences (${threads} thread(s))`, async () => {
    await useEngine(threads);
    const rng = mulberry32(77 + threads);
    const a = randomRT([2, 2, 3, 3], rng), b = randomRT([2, 2, 3, 5], rng), c = randomRT([2, 2, 3, 1], rng);
    gradCheck({
      name: 'concat',
      inputs: [a, b, c],
      grad: [true, false, true],
      op: (vs) => concat(vs),
      ref: (ins) => ref.concat(ins),
    });
    const x = randomRT([1, 3, 2, 9], rng);
    gradCheck({
      name: 'split (piece 1 unused)',
      inputs: [x],
      grad: [true],
      op: ([v]) => {
        const [p0, , p2] = split(v!, [2, 3, 4]);
        return concat([p2!, p0!]);
      },
      ref: ([r]) => {
        const [p0, , p2] = ref.split(r!, [2, 3, 4]);
        return ref.concat([p2!, p0!]);
      },
    });
    gradCheck({
      name: 'split (pieces used twice)',
      inputs: [x],
      grad: [true],
      op: ([v]) => {
        const [p0, p1] = split(v!, [4, 5]);
        return concat([p1!, p0!, p1!]);
      },
      ref: ([r]) => {
        const [p0, p1] = ref.split(r!, [4, 5]);
        return ref.concat([p1!, p0!, p1!]);
      },
    });
    for (const order of ['pytorch', 'tf'] as const) {
      for (const [N, H, W, C, s] of [[1, 2, 3, 3, 2], [2, 1, 2, 2, 3]] as const) {
        gradCheck({
          name: `depthToSpace ${order} ${[N, H, W, C, s]}`,
          inputs: [randomRT([N, H, W, C * s * s], rng)],
          grad: [true],
          op: ([v]) => depthToSpace(v!, s, order),
          ref: ([r]) => ref.depthToSpace(r!, s, order),
        });
        gradCheck({
          name: `spaceToDepth ${order} ${[N, H, W, C, s]}`,
          inputs: [randomRT([N, H * s, W * s, C], rng)],
          grad: [true],
          op: ([v]) => spaceToDepth(v!, s, order),
          ref: ([r]) => ref.spaceToDepth(r!, s, order),
        });
      }
    }
  });
}

test('layout ops are bit-identical on 1 and 2 threads', async () => {
  const rng = mulberry32(5);
  const a = randomRT([3, 9, 7, 6], rng), b = randomRT([3, 9, 7, 3], rng), c = randomRT([2, 6, 10, 45], rng);
  const one = await assertSameOnThreadCounts(() => {
    const [at, bt, ct] = [a, b, c].map(toTensor) as [Tensor, Tensor, Tensor];
    const cat = concatRaw([at, bt, at]);
    const parts = splitRaw(cat, [4, 5, 6]);
    const d = d2sRaw(ct, 3, 'pytorch'), e = d2sRaw(ct, 3, 'tf');
    const s = s2dRaw(d, 3, 'tf');
    return [cat, ...parts, d, e, s].map((t) => toRT(t).data);
  });
});

/**
 * ShuffleNet's channel shuffle written out as its definition: view the C channels as a [g, C/g]
 * matrix, transpose it to [C/g, g] and flatten, so output channel j*g + i is input channel i*(C/g) + j.
 */
function refShuffle(x: ref.RT, g: number): ref.RT {
  const C = x.shape[3]!, n = C / g, pix = x.data.length / C;
  const out = new Float64Array(x.data.length);
  for (let p = 0; p < pix; p++) for (let i = 0; i < g; i++) for (let j = 0; j < n; j++) out[p * C + j * g + i] = x.data[p * C + i * n + j]!;
  return { shape: [...x.shape], data: out };
}

test('channel shuffle (autograd op and graph node) matches its definition; its gradient matches finite differences', async () => {
  await useEngine(1);
  const rng = mulberry32(41);
  for (const [C, g] of [[8, 2], [12, 3], [12, 4], [6, 6], [5, 1]] as const) {
    const x = randomRT([2, 3, 4, C], rng);
    const want = refShuffle(x, g);
    const xt = toTensor(x);
    const y = noGrad(() => channelShuffle(leaf(xt), g)).value;
    assertExact(y, want, `autograd channelShuffle C=${C} g=${g}`);
    const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 1 });
    const gr = b.output(b.channelShuffle('sh', b.input(C), C, g));
    const yg = runGraph(gr, xt);
    assertExact(yg, want, `graph channelShuffle C=${C} g=${g}`);
    [xt, yg].forEach((t) => t.dispose());
    if (y !== xt) y.dispose();
    gradCheck({ name: `channelShuffle C=${C} g=${g}`, inputs: [randomRT([1, 2, 3, C], rng)], grad: [true], op: ([v]) => channelShuffle(v!, g), ref: ([r]) => refShuffle(r!, g) });
  }
  assert.throws(() => channelShuffle(leaf(Tensor.zeros([1, 2, 2, 6])), 4), /^Error: mvsr: channel shuffle: 4 groups do not divide 6 channels/);
});

/** fn must throw an Error whose message matches re (anchored patterns check the "mvsr: op:" prefix). */

test('layout ops reject bad inputs with errors that name the op and the shapes', async () => {
  await useEngine(1);
  const x = Tensor.zeros([1, 4, 4, 3]);
  assert.throws(() => concatRaw([x, Tensor.zeros([1, 5, 4, 2])]), /^Error: mvsr: concat: input 1 \[1,5,4,2\] does not match input 0 \[1,4,4,3\]/);
  assert.throws(() => concatRaw([]), /^Error: mvsr: concat: need at least one tensor/);
  assert.throws(() => concatRaw([x, Tensor.zeros([4, 4, 3])]), /^Error: mvsr: concat: input 1 must be NHWC \(rank 4\), got shape \[4,4,3\]/);
  assert.throws(() => splitRaw(x, [1, 1]), /^Error: mvsr: split: sizes \[1,1\] sum to 2 but input \[1,4,4,3\] has 3 channels/);
  assert.throws(() => splitRaw(x, [4, -1]), /^Error: mvsr: split: size -1/);
  assert.throws(() => d2sRaw(Tensor.zeros([1, 2, 2, 10]), 2), /^Error: mvsr: depthToSpace: input \[1,2,2,10\] has 10 channels, not divisible by s\*s = 4/);
  assert.throws(() => d2sRaw(x, 0), /^Error: mvsr: depthToSpace: block size 0/);
  assert.throws(() => d2sRaw(Tensor.zeros([1, 2, 2, 4]), 2, 'nchw' as 'tf'), /^Error: mvsr: depthToSpace: unknown order 'nchw'/);
  assert.throws(() => s2dRaw(Tensor.zeros([1, 4, 5, 3]), 2), /^Error: mvsr: spaceToDepth: input \[1,4,5,3\] has spatial size 4x5, not divisible by s = 2/);
});
