// Shared test utilities: engine set-up per thread count, conversions to the float64
// reference tensors, and a gradient check against central finite differences in float64.
import assert from 'node:assert/strict';
import { initEngine, type Engine } from '../src/tensor/engine.js';
import { Tensor } from '../src/tensor/tensor.js';
import { leaf, backward, clearTape, type Var } from '../src/autograd/var.js';
import { type RT, mulberry32, randomRT, numericalGradient } from './ref/index.js';
import type { Module } from '../src/nn/module.js';
import { runGraph } from '../src/runtime/wasm.js';
import { GraphBuilder, type Graph, type GraphWeight } from '../src/graph/ir.js';

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
  ['IMDN', (s) => ({ upscale: s, nf: 16, num_modules: 2 })],
  ['IMDN_plus', (s) => ({ upscale: s, nf: 12, nb: 2 })],
  ['IMDN_baseline', (s) => ({ upscale: s, nc: 8, nb: 2 })],
  ['RFDN', (s) => ({ upscale: s, nf: 8, num_modules: 2 })],
  ['RLFN', (s) => ({ upscale: s, feature_channels: 8, mid_channels: 6, num_blocks: 2, esa_channels: 4 })],
  ['RLFN', (s) => ({ upscale: s, feature_channels: 6, mid_channels: 6, num_blocks: 1, esa_channels: 2, img_range: 255 })],
  ['vapsr', (s) => ({ scale: s, num_feat: 8, num_block: 2, d_atten: 6 })],
  ['vapsr', (s) => ({ scale: s, num_feat: 8, num_block: 1, d_atten: 4, conv_groups: 2 })],
  ['RFDNFINALB5', (s) => ({ upscale: s, num_feat: 8, num_block: 2 })],
  ['BSRN', (s) => ({ upscale: s, num_feat: 16, num_block: 2 })],
  ['EFDN', (s) => ({ scale: s, n_feats: 8 })],
  ['EFDN_EDBB', (s) => ({ scale: s, n_feats: 8, extra: '1x1-3x3+identity' })],
  ['MobileSR', (s) => ({ upscale: s, n_feats: 8, n_heads: 2, ratios: '2,1', window_size: 4 })],
];

/** ESA (RFDN, RLFN, BSRN, EFDN) pools a 7x7 window of a half-size map: such families get inputs 12 pixels larger than the others. */
export function sized(arch: string, H: number, W: number): [number, number] {
  return /^(RFDN|RLFN|RFDNFINALB5|BSRN|EFDN|EFDN_EDBB)$/.test(arch) ? [H + 12, W + 12] : [H, W];
}

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

/** Seeded U(-a, a) weights of a shape. */
export const w = (shape: number[], seed: number, a = 0.3): GraphWeight => {
  const r = mulberry32(seed);
  return { shape, data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => (2 * r() - 1) * a) };
};

/** Every op and activation the peers map: shared PReLU, depthwise, leaky, 1x1, mul, tanh, sigmoid, concat of slices, clamp, both resizes, TF-order depth_to_space, explicit padding. */
export function everyOpGraph(): Graph {
  const b = new GraphBuilder({ arch: 'every_op', args: {}, scale: 2 });
  const x = b.input(3);
  const a = b.conv('c1', x, w([8, 3, 3, 3], 1), w([8], 2), { act: { kind: 'prelu', alpha: { shape: [1], data: Float32Array.of(0.2) } } });
  let d = b.conv('dw', a, w([8, 1, 3, 3], 3), w([8], 4), { groups: 8 });
  d = b.act('leaky', d, { kind: 'leaky', slope: 0.1 });
  const e = b.conv('c2', d, w([8, 8, 1, 1], 5), null);
  const t = b.act('tanh', b.mul('m', e, d), { kind: 'tanh' });
  const s = b.act('sig', e, { kind: 'sigmoid' });
  const c = b.act('clamp', b.concat('cat', [t, s, b.slice('x01', x, 0, 2)]), { kind: 'clamp', lo: -0.4, hi: 0.45 });
  const r = b.add('sum', b.resize('rn', c, 2, 'nearest'), b.resize('rb', c, 2, 'bilinear'));
  let q = b.conv('c3', r, w([12, 18, 3, 3], 6), w([12], 7), { act: { kind: 'relu' } });
  q = b.conv('c4', q, w([12, 12, 3, 3], 8), w([12], 9), { padding: 2 }); // explicit padding: grows by 2
  q = b.conv('c5', q, w([12, 12, 3, 3], 10), w([12], 11), { padding: 0 }); // and shrinks back
  return b.output(b.depthToSpace('d2s', q, 2, 'tf'));
}

/** The efficient-SR families' ops by hand: GELU, a groups-2 conv with per-channel PReLU, a dilated 5x5 depthwise, CCA-style attention (std + mean pooling, channel scaling). */
export function groupedDilatedGraph(): Graph {
  const b = new GraphBuilder({ arch: 'grouped_dilated', args: {}, scale: 2 });
  let y = b.conv('c0', b.input(3), w([8, 3, 3, 3], 61), w([8], 62), { act: { kind: 'gelu' } });
  y = b.conv('grouped', y, w([6, 4, 3, 3], 63), w([6], 64), { groups: 2, act: { kind: 'prelu', alpha: w([6], 65) } });
  y = b.conv('dw', y, w([6, 1, 5, 5], 66), w([6], 67), { groups: 6, dilation: 3 });
  const att = b.add('stats', b.globalPool('std', y, 'std'), b.globalPool('mean', y, 'mean'));
  y = b.scaleChannels('scaled', y, b.conv('att', att, w([6, 6, 1, 1], 68), w([6], 69), { act: { kind: 'sigmoid' } }));
  y = b.conv('c1', y, w([12, 3, 3, 3], 70), w([12], 71), { groups: 2 });
  return b.output(b.depthToSpace('d2s', y, 2));
}

/** RFDN's enhanced spatial attention by hand: 1x1 squeeze, 3x3 stride-2 conv, 7x7 stride-3 max pool, convs, bilinear resize back to the input's size, sigmoid gate. Inputs of at least 15x15. */
export function esaGraph(): Graph {
  const b = new GraphBuilder({ arch: 'esa', args: {}, scale: 2 });
  const x = b.conv('head', b.input(3), w([8, 3, 3, 3], 81), w([8], 82), { act: { kind: 'leaky', slope: 0.05 } });
  const c1a = b.conv('conv1', x, w([4, 8, 1, 1], 83), w([4], 84));
  const c1 = b.conv('conv2', c1a, w([4, 4, 3, 3], 85), w([4], 86), { stride: 2, padding: 0 });
  const vmax = b.maxPool('pool', c1, 7, 3);
  let c3 = b.conv('conv_max', vmax, w([4, 4, 3, 3], 87), w([4], 88), { act: { kind: 'relu' } });
  c3 = b.conv('conv3', c3, w([4, 4, 3, 3], 89), w([4], 90), { act: { kind: 'relu' } });
  c3 = b.resizeLike('up', b.conv('conv3_', c3, w([4, 4, 3, 3], 91), w([4], 92)), x);
  const m = b.conv('conv4', b.add('sum', c3, b.conv('conv_f', c1a, w([4, 4, 1, 1], 93), w([4], 94))), w([8, 4, 1, 1], 95), w([8], 96), { act: { kind: 'sigmoid' } });
  const y = b.conv('tail', b.mul('gate', x, m), w([12, 8, 3, 3], 97), w([12], 98));
  return b.output(b.depthToSpace('d2s', y, 2));
}

/** PyTorch pixel shuffles whose producer has other readers: tfjs must reorder channels with a gather. */
export function sharedProducerGraph(): Graph {
  const b = new GraphBuilder({ arch: 'shared_producer', args: {}, scale: 2 });
  const c = b.conv('c', b.input(3), w([12, 3, 3, 3], 21), w([12], 22));
  const y1 = b.depthToSpace('ps1', c, 2);
  const y2 = b.depthToSpace('ps2', b.act('relu', c, { kind: 'relu' }), 2);
  return b.output(b.add('sum', y1, y2));
}

/** A pixel shuffle after conv + residual concat of input slices, with a PReLU per channel (the ECBSR tail, by hand). */
export function residualTailGraph(): Graph {
  const b = new GraphBuilder({ arch: 'residual_tail', args: {}, scale: 3 });
  const x = b.input(2);
  const h = b.conv('h', x, w([8, 2, 3, 3], 31), w([8], 32), { act: { kind: 'prelu', alpha: w([8], 33) } });
  const y = b.conv('last', h, w([18, 8, 3, 3], 34), w([18], 35));
  const parts: string[] = [];
  for (let c = 0; c < 2; c++) {
    const sl = b.slice(`s${c}`, x, c, c + 1);
    for (let j = 0; j < 9; j++) parts.push(sl);
  }
  return b.output(b.depthToSpace('ps', b.add('res', y, b.concat('rep', parts)), 3));
}

/** The weights of a layer norm: U(center - a, center + a), seeded. */
const around = (shape: number[], seed: number, center: number, a: number): GraphWeight => {
  const v = w(shape, seed, a);
  return { shape, data: v.data.map((x) => x + center) };
};

/**
 * Layer norms over 6 channels (not a multiple of 4; a conv after it is prunable) and 12 (whole
 * blocks, eps 0.01) between convs, a residual around the first, a pixel shuffle after the second
 * (VapSR's pattern); the last norm's affine map keeps the output near 0.5 +- 0.25.
 */
export function layerNormGraph(): Graph {
  const b = new GraphBuilder({ arch: 'layer_norm', args: {}, scale: 2 });
  const x = b.input(3);
  const c1 = b.conv('c1', x, w([6, 3, 3, 3], 61, 0.5), w([6], 62));
  const n1 = b.layerNorm('n1', c1, around([6], 63, 1, 0.3), w([6], 64, 0.2));
  const c2 = b.conv('c2', n1, w([8, 6, 1, 1], 65, 0.4), w([8], 66), { act: { kind: 'relu' } });
  const r = b.add('res', b.conv('c2b', c2, w([6, 8, 3, 3], 67, 0.2), null), c1);
  const c3 = b.conv('c3', r, w([12, 6, 3, 3], 68, 0.3), w([12], 69));
  const n2 = b.layerNorm('n2', c3, around([12], 70, 0.2, 0.05), around([12], 71, 0.5, 0.1), 0.01);
  return b.output(b.depthToSpace('up', n2, 2));
}

/** Hand-built graphs that exercise every op, fused and unfused tails (the peers' and backends' equivalence tests). */
export const HAND: [string, () => Graph][] = [
  ['every op', everyOpGraph], ['shared producer', sharedProducerGraph], ['residual tail', residualTailGraph], ['layer norm', layerNormGraph],
];
