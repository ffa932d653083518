// Shared test utilities: engine set-up per thread count, conversions to the float64
// reference tensors, and a gradient check against central finite differences in float64.
import assert from 'node:assert/strict';
import { initEngine, type Engine } from '../src/tensor/engine.js';
import { Tensor } from '../src/tensor/tensor.js';
import { leaf, backward, clearTape, type Var } from '../src/autograd/var.js';
import { type RT, mulberry32, randomRT, numericalGradient } from './ref/index.js';
import type { Module } from '../src/nn/module.js';
import { runGraph } from '../src/runtime/wasm.js';
import type { Graph } from '../src/graph/ir.js';

export { mulberry32, randomRT };

/** Engines are process-wide; each test file sets the thread count it needs. */
/** false when `load` succeeds, else a skip message naming `what` and why it does not load. */
export async function skipReason(load: () => Promise<unknown>, what: string): Promise<string | false> {
  try {
    await load();
    return false;
  } catch (e) {
    return `${what} cannot load here: ${(e as Error).message.split('\n')[0]!.replace(/^mvsr: /, '')}`;
  }
}

export async function useEngine(threads: number): Promise<Engine> {
  return initEngine({ threads });
}

export function toTensor(r: RT): Tensor {
  return Tensor.from(r.shape, r.data);
}

export function toRT(t: Tensor): RT {
  return { shape: [...t.shape], data: Float64Array.from(t.data) };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Assert |a - b| <= atol + rtol * |b| element-wise, reporting the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${what}: element ${i}: got ${a}, expected ${e} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

export interface GradCheckCase {
  name: string;
  /** float64 inputs; those with grad[i] true are differentiated. */
  inputs: RT[];
  grad: boolean[];
  /** The op under test built from engine Vars (autograd). */
  op: (vars: Var[]) => Var;
  /** The float64 reference forward. */
  ref: (inputs: RT[]) => RT;
  seed?: number;
  /** Finite-difference step and tolerances (defaults suit float32 engines on O(1) data). */
  h?: number;
  atol?: number;
  rtol?: number;
}

/**
 * Checks (1) the engine forward against the float64 reference, and (2) every analytic
 * gradient of L = sum(op(x) * r), r random, against central differences of the float64
 * reference L. The analytic gradient runs in float32 in the engine; FD runs in float64.
 */
export function gradCheck(c: GradCheckCase): void {
  const rng = mulberry32(c.seed ?? 1234);
  const vars = c.inputs.map((r, i) => leaf(toTensor(r), c.grad[i]));
  try {
    const y = c.op(vars);
    const yRef = c.ref(c.inputs);
    assert.deepEqual([...y.shape], yRef.shape, `${c.name}: output shape`);
    assertClose(y.value.data, yRef.data, 1e-4, 1e-4, `${c.name}: forward`);
    const r = randomRT(yRef.shape, rng);
    const seedT = toTensor(r);
    backward(y, seedT);
    seedT.dispose();
    const L = (ins: RT[]): number => {
      const o = c.ref(ins);
      let s = 0;
      for (let i = 0; i < o.data.length; i++) s += o.data[i]! * r.data[i]!;
      return s;
    };
    c.inputs.forEach((_, i) => {
      if (!c.grad[i]) return;
      const fd = numericalGradient(L, c.inputs, i, c.h ?? 1e-5);
      const g = vars[i]!.grad;
      assert.ok(g, `${c.name}: input ${i} got no gradient`);
      assertClose(g.data, fd.data, c.atol ?? 2e-3, c.rtol ?? 2e-3, `${c.name}: gradient of input ${i}`);
    });
  } finally {
    clearTape();
    for (const v of vars) {
      v.value.dispose();
      v.zeroGrad();
    }
  }
}

/**
 * Run `run` on a 1-thread and then a 2-thread engine and assert that every output is
 * bit-identical; returns the 1-thread outputs.
 */
export async function assertSameOnThreadCounts<T>(run: () => T[]): Promise<T[]> {
  const outs: T[][] = [];
  for (const threads of [1, 2]) {
    await useEngine(threads);
    outs.push(run());
  }
  const [one, two] = outs as [T[], T[]];
  assert.equal(one.length, two.length);
  one.forEach((v, i) => assert.deepEqual(v, two[i], `output ${i} differs between 1 and 2 threads`));
  return one;
}

/** Overwrite a module's parameters (not the fixed ECB masks) with U(-a, a), seeded. */
export function randomize(m: Module, a: number, seed: number): void {
  const r = mulberry32(seed);
  for (const [n, p] of m.namedParameters()) {
    if (/(^|\.)mask$/.test(n)) continue;
    const d = p.value.data;
    for (let i = 0; i < d.length; i++) d[i] = (2 * r() - 1) * a;
  }
}

/** Small configurations of every zoo family (arguments for a given scale), for equivalence tests. */
export const SMALL_FAMILIES: [string, (s: number) => Record<string, unknown>][] = [
  ['Bicubic', (s) => ({ upscale: s })],
  ['MatlabBicubic', (s) => ({ upscale: s })],
  ['ESPCN', (s) => ({ colors: 3, upscale: s })],
  ['FSRCNN', (s) => ({ upscale: s })],
  ['ECBSR', (s) => ({ upscale: s, num_block: 2, num_feat: 8, act_type: 'prelu' })],
  ['ECBSR', (s) => ({ upscale: s, num_block: 1, num_feat: 8, act_type: 'relu', num_in_ch: 1 })],
  ['ECBSRT', (s) => ({ upscale: s, num_block: 2, num_feat: 8, act_type: 'linear' })],
  ['ECBSRET', (s) => ({ upscale: s, num_block: 2, num_feat: 8, act_type: 'prelu' })],
  ['ABPN', (s) => ({ scale: s, num_block: 2, num_feat: 8 })],
  ['ABPN_ET', (s) => ({ scale: s, num_block: 2, num_feat: 8 })],
  ['Plain', (s) => ({ upscale: s, num_block: 2, num_feat: 8 })],
  ['ETDS', (s) => ({ upscale: s, num_block: 2, num_feat: 12, num_residual_feat: 4 })],
  ['ETDSForInference', (s) => ({ upscale: s, num_block: 2, num_feat: 12, num_residual_feat: 4 })],
  ['ELSR', (s) => ({ upscale: s, num_feat: 6 })],
];

/** mvsr's graph interpreter on an NHWC array: the reference other engines must reproduce. */
export function runGraphArray(g: Graph, x: { shape: number[]; data: Float32Array }): { shape: number[]; data: Float32Array } {
  const t = Tensor.from(x.shape, x.data);
  try {
    const y = runGraph(g, t);
    try {
      return { shape: [...y.shape], data: y.toArray() };
    } finally {
      y.dispose();
    }
  } finally {
    t.dispose();
  }
}
