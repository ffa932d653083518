// ONNX export of video step graphs: several named inputs (one at 4x the frame size) and outputs,
// spaceToDepth in both pixel orders, translate by a shift tensor and estimateShift as ONNX ops,
// run in onnxruntime-node against references computed here in float64 (naive loops for conv,
// pixel (un)shuffle and the bilinear translation; mvsr's estimateShift for the shift); the
// estimateShift lowering agrees bit for bit with mvsr's and with the plain JavaScript estimate
// on random pictures with sub-pixel pans, on ties, flat, tiny and NaN frames; I/O names, dims,
// the Loop body and metadata read back; 'host' mode takes the shifts as inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, mulberry32, skipReason } from './helpers.js';
import { Tensor } from '../src/tensor/tensor.js';
import { GraphBuilder, type Graph, type GraphWeight, type VideoStepMeta } from '../src/graph/index.js';
import {
  exportOnnx, readOnnxModel, fromFloat16Array, toFloat16Array, ONNX_FLOAT, ONNX_FLOAT16, ONNX_INT64, ONNX_BOOL, ONNX_DOUBLE, type OnnxExportOptions, type OnnxGraphInfo,
} from '../src/export/onnx.js';
import { estimateShift } from '../src/autograd/ops/align.js';
import { estimateShiftRef } from './ref/align.js';
import { loadOrtNode, type OrtNodeModule } from '../src/runtime/ort.node.js';

const noOrt = await skipReason(loadOrtNode, 'onnxruntime-node');
const ortP: Promise<OrtNodeModule> | null = noOrt ? null : loadOrtNode();

// ---- arrays, onnxruntime ------------------------------------------------------------------------

/** An NHWC array (float32 values for inputs, float64 for references). */
interface Arr { shape: number[]; data: Float32Array | Float64Array }

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const zerosArr = (shape: number[]): Arr => ({ shape, data: new Float64Array(numel(shape)) });

function nhwcToNchw(a: ArrayLike<number>, N: number, H: number, W: number, C: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) {
    out[((n * C + c) * H + h) * W + w] = a[((n * H + h) * W + w) * C + c]!;
  }
  return out;
}

function nchwToNhwc(a: ArrayLike<number>, N: number, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    out[((n * H + h) * W + w) * C + c] = a[((n * C + c) * H + h) * W + w]!;
  }
  return out;
}

type Session = Awaited<ReturnType<OrtNodeModule['InferenceSession']['create']>>;
type OrtTensor = InstanceType<OrtNodeModule['Tensor']>;

const SESSION = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 } as const;

/** Run an exported model on named NHWC float32 inputs; returns every output as NHWC float32. */
async function runOrt(bytes: Uint8Array, feeds: Record<string, Arr>, o: OnnxExportOptions): Promise<Record<string, Arr>> {
  const ort = await ortP!;
  const s = await ort.InferenceSession.create(bytes, SESSION);
  try {
    return await runSession(ort, s, feeds, o);
  } finally {
    await s.release();
  }
}

async function runSession(ort: OrtNodeModule, s: Session, feeds: Record<string, Arr>, o: OnnxExportOptions): Promise<Record<string, Arr>> {
  const nchw = o.layout !== 'nhwc';
  const t: Record<string, OrtTensor> = {};
  for (const [k, x] of Object.entries(feeds)) {
    const [N, H, W, C] = x.shape as [number, number, number, number];
    const d = nchw ? nhwcToNchw(x.data, N, H, W, C) : Float32Array.from(x.data);
    const dims = nchw ? [N, C, H, W] : [N, H, W, C];
    t[k] = o.fp16 ? new ort.Tensor('float16', toFloat16Array(d), dims) : new ort.Tensor('float32', d, dims);
  }
  const r = await s.run(t);
  const out: Record<string, Arr> = {};
  for (const [k, y] of Object.entries(r) as [string, OrtTensor][]) {
    const d = o.fp16 ? fromFloat16Array(y.data as Uint16Array) : Float32Array.from(y.data as Float32Array);
    const dims = y.dims as number[];
    if (!nchw) out[k] = { shape: [...dims], data: d };
    else {
      const [N, C, H, W] = dims as [number, number, number, number];
      out[k] = { shape: [N, H, W, C], data: nchwToNhwc(d, N, C, H, W) };
    }
  }
  return out;
}

function maxDiff(a: Arr, b: Arr, what: string): number {
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

// ---- float64 references, written out naively ------------------------------------------------------

const at = (x: Arr, n: number, y: number, xx: number, c: number): number => {
  const [, H, W, C] = x.shape as [number, number, number, number];
  return x.data[((n * H + y) * W + xx) * C + c]!;
};

/** Zero-padded stride-1 conv, weight OIHW, optional ReLU. */
function convRef(x: Arr, w: GraphWeight, b: GraphWeight, relu: boolean): Arr {
  const [N, H, W, Ci] = x.shape as [number, number, number, number];
  const [Co, , k] = w.shape as [number, number, number];
  const p = (k - 1) / 2;
  const y = zerosArr([N, H, W, Co]);
  for (let n = 0; n < N; n++) for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) for (let o = 0; o < Co; o++) {
    let s = b.data[o]!;
    for (let i = 0; i < Ci; i++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
      const sy = yy + ky - p, sx = xx + kx - p;
      if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
      s += w.data[((o * Ci + i) * k + ky) * k + kx]! * at(x, n, sy, sx, i);
    }
    y.data[((n * H + yy) * W + xx) * Co + o] = relu ? Math.max(0, s) : s;
  }
  return y;
}

function concatRef(xs: Arr[]): Arr {
  const [N, H, W] = xs[0]!.shape as [number, number, number];
  const C = xs.reduce((a, x) => a + x.shape[3]!, 0);
  const y = zerosArr([N, H, W, C]);
  for (let n = 0; n < N; n++) for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) {
    let c0 = 0;
    for (const x of xs) {
      for (let c = 0; c < x.shape[3]!; c++) y.data[((n * H + yy) * W + xx) * C + c0 + c] = at(x, n, yy, xx, c);
      c0 += x.shape[3]!;
    }
  }
  return y;
}

function addRef(a: Arr, b: Arr): Arr {
  return { shape: [...a.shape], data: Float64Array.from(a.data, (v, i) => v + b.data[i]!) };
}

/** The channel of block offset (i, j), colour c: PyTorch c*s*s + i*s + j, TF (i*s + j)*C + c. */
const packed = (c: number, i: number, j: number, C: number, s: number, order: 'pytorch' | 'tf'): number => (order === 'pytorch' ? c * s * s + i * s + j : (i * s + j) * C + c);

function spaceToDepthRef(x: Arr, s: number, order: 'pytorch' | 'tf'): Arr {
  const [N, Hi, Wi, C] = x.shape as [number, number, number, number];
  const H = Hi / s, W = Wi / s, Co = C * s * s;
  const y = zerosArr([N, H, W, Co]);
  for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) for (let c = 0; c < C; c++) {
    y.data[((n * H + h) * W + w) * Co + packed(c, i, j, C, s, order)] = at(x, n, h * s + i, w * s + j, c);
  }
  return y;
}

function depthToSpaceRef(x: Arr, s: number, order: 'pytorch' | 'tf'): Arr {
  const [N, H, W, Ci] = x.shape as [number, number, number, number];
  const C = Ci / (s * s), Ho = H * s, Wo = W * s;
  const y = zerosArr([N, Ho, Wo, C]);
  for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) for (let c = 0; c < C; c++) {
    y.data[((n * Ho + h * s + i) * Wo + w * s + j) * C + c] = at(x, n, h, w, packed(c, i, j, C, s, order));
  }
  return y;
}

/** out(x, y) = in(x - dx, y - dy): bilinear between the two pixels around the source point, indices clamped to the picture. */
function translateRef(x: Arr, dx: number, dy: number): Arr {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  const y = zerosArr([N, H, W, C]);
  const clampI = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  for (let n = 0; n < N; n++) for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) {
    const sx = xx - dx, sy = yy - dy;
    const x0 = Math.floor(sx), y0 = Math.floor(sy), tx = sx - x0, ty = sy - y0;
    for (let c = 0; c < C; c++) {
      const v = (yi: number, xi: number) => at(x, n, clampI(yi, H), clampI(xi, W), c);
      y.data[((n * H + yy) * W + xx) * C + c] = (1 - ty) * ((1 - tx) * v(y0, x0) + tx * v(y0, x0 + 1)) + ty * ((1 - tx) * v(y0 + 1, x0) + tx * v(y0 + 1, x0 + 1));
    }
  }
  return y;
}

/** mvsr's estimateShift of two NHWC arrays, as the float32 (dx, dy) its interpreter hands on. */
function mvsrShift(prev: Arr, cur: Arr, radius: number): [number, number] {
  const a = Tensor.from(prev.shape, Float32Array.from(prev.data)), b = Tensor.from(cur.shape, Float32Array.from(cur.data));
  try {
    const [d] = estimateShift(a, b, radius);
    return [Math.fround(d!.dx), Math.fround(d!.dy)];
  } finally {
    a.dispose();
    b.dispose();
  }
}

/** The estimate of align.ts before its kernels (test/ref/align.ts), the algorithm the ONNX lowering unrolls; one batch item, (dx, dy) rounded to float32. */
function estimateShiftJs(prev: Arr, cur: Arr, radius: number): [number, number] {
  const f32 = (x: Arr) => ({ shape: x.shape, data: Float32Array.from(x.data) });
  const [d] = estimateShiftRef(f32(prev), f32(cur), radius);
  return [Math.fround(d!.dx), Math.fround(d!.dy)];
}

// ---- inputs -----------------------------------------------------------------------------------------

type Wave = [number, number, number, number];

/** A smooth picture (a few sinusoids per channel) seen moved by (dx, dy): content at (x, y) moves to (x + dx, y + dy). */
function smooth(H: number, W: number, C: number, waves: Wave[], dx = 0, dy = 0): Arr {
  const d = new Float32Array(H * W * C);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) {
    let v = 0.5;
    for (const [fx, fy, ph, amp] of waves) v += amp * Math.sin(fx * (x - dx) + fy * (y - dy) + ph + 0.9 * c);
    d[(y * W + x) * C + c] = v;
  }
  return { shape: [1, H, W, C], data: d };
}

function randomWaves(r: () => number, n = 4): Wave[] {
  return Array.from({ length: n }, () => [(r() - 0.5) * 0.9, (r() - 0.5) * 0.9, r() * 6.3, 0.05 + 0.1 * r()] as Wave);
}

function randomArr(shape: number[], r: () => number): Arr {
  return { shape, data: Float32Array.from({ length: numel(shape) }, () => r()) };
}

function weightGen(seed: number): (shape: number[], a?: number) => GraphWeight {
  const r = mulberry32(seed);
  return (shape, a = 0.2) => ({ shape, data: Float32Array.from({ length: numel(shape) }, () => (2 * r() - 1) * a) });
}

// ---- graphs -----------------------------------------------------------------------------------------

const RADIUS = 2;

/**
 * A step graph like RLSP's with alignment: frames lr0, lr1 (3 ch), state prev (3 ch at 4x).
 * shift = estimateShift(lr0, lr1); lr0 and prev moved by it (prev by 4x); prev folded to LR in
 * both pixel orders (the moved one PyTorch's, the raw one TF's); concat, conv + ReLU, conv, pixel
 * shuffle to hr0; prev_next = hr0 + the moved prev.
 */
function stepGraph(seed = 11): { g: Graph; w: Record<string, GraphWeight> } {
  const wg = weightGen(seed);
  const w = { c1w: wg([8, 102, 3, 3], 0.05), c1b: wg([8]), c2w: wg([48, 8, 3, 3]), c2b: wg([48]) };
  const b = new GraphBuilder({ arch: 'ToyVSR', args: { radius: RADIUS }, scale: 4 });
  const lr0 = b.input(3, 'lr0'), lr1 = b.input(3, 'lr1'), prev = b.input(3, 'prev', 4);
  const d = b.estimateShift('shift', lr0, lr1, RADIUS);
  const a0 = b.translate('align_lr0', lr0, d);
  const ap = b.translate('align_prev', prev, d, 4);
  const cat = b.concat('cat', [a0, lr1, b.spaceToDepth('fold_prev', ap, 4, 'pytorch'), b.spaceToDepth('fold_raw', prev, 4, 'tf')]);
  const c1 = b.conv('c1', cat, w.c1w, w.c1b, { act: { kind: 'relu' } });
  const hr = b.depthToSpace('up', b.conv('c2', c1, w.c2w, w.c2b), 4);
  const next = b.add('next', hr, ap);
  const video: VideoStepMeta = { window: { past: 1, future: 0 }, count: 1, frames: ['lr0', 'lr1'], outputs: ['hr0'], state: [{ input: 'prev', output: 'prev_next' }] };
  return { g: b.outputs([['hr0', hr], ['prev_next', next]], video), w };
}

/** The step graph in float64, with mvsr's shift of the frames or the one given. */
function stepRef(w: Record<string, GraphWeight>, lr0: Arr, lr1: Arr, prev: Arr, shift?: [number, number]): { hr0: Arr; prev_next: Arr; shift: [number, number] } {
  const [dx, dy] = shift ?? mvsrShift(lr0, lr1, RADIUS);
  const a0 = translateRef(lr0, dx, dy), ap = translateRef(prev, 4 * dx, 4 * dy);
  const cat = concatRef([a0, lr1, spaceToDepthRef(ap, 4, 'pytorch'), spaceToDepthRef(prev, 4, 'tf')]);
  const hr = depthToSpaceRef(convRef(convRef(cat, w.c1w!, w.c1b!, true), w.c2w!, w.c2b!, false), 4, 'pytorch');
  return { hr0: hr, prev_next: addRef(hr, ap), shift: [dx, dy] };
}

function stepInputs(H: number, W: number, seed: number): { lr0: Arr; lr1: Arr; prev: Arr } {
  const r = mulberry32(seed);
  const waves = randomWaves(r);
  const dx = (2 * r() - 1) * 1.8, dy = (2 * r() - 1) * 1.8;
  return { lr0: smooth(H, W, 3, waves), lr1: smooth(H, W, 3, waves, dx, dy), prev: randomArr([1, 4 * H, 4 * W, 3], r) };
}

/** Two frames in, the shift and the earlier frame moved by factor x shift out. */
function shiftGraph(radius: number, factor = 1): Graph {
  const b = new GraphBuilder({ arch: 'ShiftProbe', args: {}, scale: 1 });
  const p = b.input(3, 'prev'), c = b.input(3, 'cur');
  const d = b.estimateShift('shift', p, c, radius);
  const m = b.translate('moved', p, d, factor);
  return b.outputs([['d', d], ['y', m]], { window: { past: 0, future: 0 }, count: 2, frames: ['prev', 'cur'], outputs: ['d', 'y'], state: [] });
}

/** fp32 tolerance on outputs of order 1 (float32 conv sums of ~900 terms, separable bilinear weights). */
const TOL = 2e-5;

// ---- tests ------------------------------------------------------------------------------------------

test('a step graph (3 inputs, one at 4x; 2 outputs; estimateShift, translate, spaceToDepth both orders, concat, conv): onnxruntime equals the float64 reference, NCHW and NHWC, fixed and dynamic sizes, opsets 13 and 20', { skip: noOrt }, async () => {
  await useEngine(1);
  const { g, w } = stepGraph();
  const sizes: [number, number][] = [[12, 16], [7, 9], [20, 14]]; // 7x9 searches only radius 1
  const cases = sizes.map(([H, W], i) => {
    const x = stepInputs(H, W, 40 + i);
    return { H, W, x, ref: stepRef(w, x.lr0, x.lr1, x.prev) };
  });
  const table: string[] = [];
  for (const layout of ['nchw', 'nhwc'] as const) {
    const dyn: OnnxExportOptions = { layout, dynamic: true };
    const bytes = exportOnnx(g, dyn);
    const ort = await ortP!;
    const s = await ort.InferenceSession.create(bytes, SESSION);
    try {
      for (const { H, W, x, ref } of cases) {
        const y = await runSession(ort, s, x, dyn);
        assert.deepEqual(Object.keys(y).sort(), ['hr0', 'prev_next']);
        const e = Math.max(maxDiff(y.hr0!, ref.hr0, 'hr0'), maxDiff(y.prev_next!, ref.prev_next, 'prev_next'));
        table.push(`${layout} dynamic ${H}x${W}: shift (${ref.shift.map((v) => v.toFixed(4)).join(', ')}), max |onnx - ref| ${e.toExponential(2)}`);
        assert.ok(e < TOL, `${layout} dynamic ${H}x${W}: max |onnx - ref| = ${e}`);
      }
    } finally {
      await s.release();
    }
    for (const { H, W, x, ref } of cases.slice(0, 2)) {
      for (const o of [{ layout, inputShape: [H, W] }, { layout, dynamic: true, opset: 13 }, { layout, inputShape: [H, W], opset: 20 }] as OnnxExportOptions[]) {
        const y = await runOrt(exportOnnx(g, o), x, o);
        const e = Math.max(maxDiff(y.hr0!, ref.hr0, 'hr0'), maxDiff(y.prev_next!, ref.prev_next, 'prev_next'));
        assert.ok(e < TOL, `${JSON.stringify(o)} ${H}x${W}: max |onnx - ref| = ${e}`);
      }
    }
  }
  console.log(table.join('\n'));
});

test('a step graph: batch 1 (refused clearly by onnxruntime beyond), float16 export close to the reference', { skip: noOrt }, async () => {
  await useEngine(1);
  const { g, w } = stepGraph(12);
  const x = stepInputs(12, 16, 7);
  const two = (a: Arr): Arr => ({ shape: [2, ...a.shape.slice(1)], data: Float32Array.from([...a.data, ...a.data]) });
  await assert.rejects(runOrt(exportOnnx(g, { layout: 'nhwc' }), { lr0: two(x.lr0), lr1: two(x.lr1), prev: two(x.prev) }, { layout: 'nhwc' }), /invalid dimensions for input: lr0.*index: 0 Got: 2 Expected: 1/s);
  // the reference of the inputs rounded to float16 (the shift is estimated from the rounded frames, in float64, and not rounded itself)
  const half = (a: Arr): Arr => ({ shape: a.shape, data: fromFloat16Array(toFloat16Array(a.data)) });
  const ref16 = stepRef(w, half(x.lr0), half(x.lr1), half(x.prev));
  for (const layout of ['nchw', 'nhwc'] as const) {
    const o: OnnxExportOptions = { layout, dynamic: true, fp16: true };
    const y = await runOrt(exportOnnx(g, o), x, o);
    const range = Math.max(1, ...ref16.prev_next.data.map(Math.abs));
    const e = Math.max(maxDiff(y.hr0!, ref16.hr0, 'hr0'), maxDiff(y.prev_next!, ref16.prev_next, 'prev_next')) / range;
    console.log(`fp16 ${layout}: max |onnx - ref| / range ${e.toExponential(2)}`);
    assert.ok(e * 255 < 0.5, `fp16 ${layout}: max |onnx - ref| / range * 255 = ${e * 255}`);
  }
});

test('spaceToDepth: both pixel orders at scales 2, 3 and 4 from a scaled input, next to an unscaled one, are exact permutations (fp32 and fp16, batch 2)', { skip: noOrt }, async () => {
  await useEngine(1);
  for (const s of [2, 3, 4]) {
    const b = new GraphBuilder({ arch: 'Fold', args: {}, scale: s });
    const hr = b.input(2, 'hr', s), lr = b.input(1, 'lr');
    const pt = b.concat('pt_lr', [b.spaceToDepth('pt', hr, s, 'pytorch'), lr]), tf = b.spaceToDepth('tf', hr, s, 'tf');
    const g = b.outputs([['o_pt', pt], ['o_tf', tf]], { window: { past: 0, future: 0 }, count: 2, frames: ['hr', 'lr'], outputs: ['o_pt', 'o_tf'], state: [] });
    const r = mulberry32(s);
    const [H, W] = [3, 5];
    const x = { hr: randomArr([2, H * s, W * s, 2], r), lr: randomArr([2, H, W, 1], r) };
    const ref = { o_pt: concatRef([spaceToDepthRef(x.hr, s, 'pytorch'), x.lr]), o_tf: spaceToDepthRef(x.hr, s, 'tf') };
    for (const o of [{ layout: 'nchw' }, { layout: 'nhwc' }, { layout: 'nhwc', fp16: true }] as OnnxExportOptions[]) {
      const y = await runOrt(exportOnnx(g, o), x, o);
      for (const k of ['o_pt', 'o_tf'] as const) {
        const want = o.fp16 ? { shape: ref[k].shape, data: fromFloat16Array(toFloat16Array(ref[k].data)) } : ref[k];
        assert.equal(maxDiff(y[k]!, want, `x${s} ${k} ${JSON.stringify(o)}`), 0, `x${s} ${k} ${JSON.stringify(o)}: not the exact permutation`);
      }
    }
    // fixed size: batch 1
    const one = { hr: { shape: [1, H * s, W * s, 2], data: x.hr.data.slice(0, H * s * W * s * 2) }, lr: { shape: [1, H, W, 1], data: x.lr.data.slice(0, H * W) } };
    const y = await runOrt(exportOnnx(g, { inputShape: [H, W] }), one, {});
    assert.equal(maxDiff(y.o_tf!, spaceToDepthRef(one.hr, s, 'tf'), 'fixed'), 0);
  }
});

test('translate: any shift (sub-pixel, integer, negative, beyond the picture) times factors 1, -1, 4, 0.5 matches the naive bilinear reference (shifts fed as host inputs)', { skip: noOrt }, async () => {
  await useEngine(1);
  const b = new GraphBuilder({ arch: 'Move', args: {}, scale: 4 });
  const p = b.input(1, 'p'), c = b.input(1, 'c'), x = b.input(3, 'x'), hr = b.input(2, 'hr', 4);
  const d = b.estimateShift('d', p, c, 1);
  const outs: [string, string][] = [['m1', b.translate('t1', x, d, 1)], ['mneg', b.translate('tneg', x, d, -1)], ['m4', b.translate('t4', hr, d, 4)], ['mhalf', b.translate('thalf', hr, d, 0.5)]];
  const g = b.outputs(outs, { window: { past: 0, future: 0 }, count: 2, frames: ['p', 'c'], outputs: ['m1', 'mneg'], state: [{ input: 'x', output: 'm4' }, { input: 'hr', output: 'mhalf' }] });
  const [H, W] = [6, 7];
  const r = mulberry32(3);
  const base = { p: randomArr([1, H, W, 1], r), c: randomArr([1, H, W, 1], r), x: randomArr([1, H, W, 3], r), hr: randomArr([1, 4 * H, 4 * W, 2], r) };
  const shifts: [number, number][] = [[0, 0], [0.25, -0.75], [1, 2], [-1.5, 0.3], [2.999, -3.001], [-9.3, 12.6], [40, -40], [1e-7, -1e-7], [0.5, 0.5]];
  for (const layout of ['nchw', 'nhwc'] as const) {
    for (const o of [{ layout, estimateShift: 'host' }, { layout, estimateShift: 'host', inputShape: [H, W] }] as OnnxExportOptions[]) {
      const bytes = exportOnnx(g, o);
      const ort = await ortP!;
      const s = await ort.InferenceSession.create(bytes, SESSION);
      try {
        let worst = 0;
        for (const [dx, dy] of shifts) {
          const sd = { shape: [1, 1, 1, 2], data: Float32Array.of(dx, dy) };
          const y = await runSession(ort, s, { ...base, d: sd }, o);
          const [fx, fy] = [Math.fround(dx), Math.fround(dy)];
          const want = { m1: translateRef(base.x, fx, fy), mneg: translateRef(base.x, -fx, -fy), m4: translateRef(base.hr, 4 * fx, 4 * fy), mhalf: translateRef(base.hr, 0.5 * fx, 0.5 * fy) };
          for (const k of ['m1', 'mneg', 'm4', 'mhalf'] as const) worst = Math.max(worst, maxDiff(y[k]!, want[k], `${k} (${dx}, ${dy})`));
        }
        console.log(`translate ${JSON.stringify(o)}: max |onnx - ref| ${worst.toExponential(2)} over ${shifts.length} shifts`);
        assert.ok(worst < 1e-6, `translate ${JSON.stringify(o)}: max |onnx - ref| = ${worst}`);
      } finally {
        await s.release();
      }
    }
  }
});

type Kind = 'smooth' | 'sharp' | 'noisy' | '8-bit';

/** Two frames of a random picture of `kind`, the second moved by (dx, dy) (exactly: the picture is a function of the position) plus fresh noise. */
function panned(H: number, W: number, kind: Kind, dx: number, dy: number, r: () => number): { prev: Arr; cur: Arr } {
  const waves = kind === 'sharp' ? Array.from({ length: 6 }, () => [(r() - 0.5) * 2.5, (r() - 0.5) * 2.5, r() * 6.3, 0.03 + 0.08 * r()] as Wave) : randomWaves(r, 6);
  const noise = kind === 'noisy' ? 0.05 : kind === '8-bit' ? 0.01 : 0;
  const frame = (mx: number, my: number): Arr => {
    const f = smooth(H, W, 3, waves, mx, my);
    for (let i = 0; i < f.data.length; i++) {
      const v = f.data[i]! + noise * (r() - 0.5);
      f.data[i] = kind === '8-bit' ? Math.round(Math.min(1, Math.max(0, v)) * 255) / 255 : v;
    }
    return f;
  };
  return { prev: frame(0, 0), cur: frame(dx, dy) };
}

interface Agreement { cases: number; sameMvsr: number; sameJs: number; worstMvsr: number; worstJs: number }

/** The ONNX estimateShift against mvsr's and the JavaScript one over `cases` random pictures (kinds in turn) with pans up to radius + 1 px. */
async function shiftAgreement(H: number, W: number, radius: number, cases: number, seed: number): Promise<Agreement> {
  const o: OnnxExportOptions = { layout: 'nhwc' };
  const ort = await ortP!;
  const s = await ort.InferenceSession.create(exportOnnx(shiftGraph(radius), o), SESSION);
  const r = mulberry32(seed);
  const kinds: Kind[] = ['smooth', 'sharp', 'noisy', '8-bit'];
  const res: Agreement = { cases, sameMvsr: 0, sameJs: 0, worstMvsr: 0, worstJs: 0 };
  try {
    for (let i = 0; i < cases; i++) {
      const dx = (2 * r() - 1) * (radius + 1), dy = (2 * r() - 1) * (radius + 1);
      const { prev, cur } = panned(H, W, kinds[i % kinds.length]!, dx, dy, r);
      const got = (await runSession(ort, s, { prev, cur }, o)).d!.data;
      const diff = (w: [number, number]): number => Math.max(Math.abs(got[0]! - w[0]), Math.abs(got[1]! - w[1]));
      const eM = diff(mvsrShift(prev, cur, radius)), eJ = diff(estimateShiftJs(prev, cur, radius));
      if (eM === 0) res.sameMvsr++;
      if (eJ === 0) res.sameJs++;
      res.worstMvsr = Math.max(res.worstMvsr, eM);
      res.worstJs = Math.max(res.worstJs, eJ);
    }
  } finally {
    await s.release();
  }
  return res;
}

test('estimateShift in ONNX (float64) agrees with mvsr\'s and with the plain JavaScript estimate bit for bit on random pictures (smooth, sharp, noisy, 8-bit) with sub-pixel pans, with and without subsampling', { skip: noOrt }, async () => {
  await useEngine(1);
  const rows: string[] = [];
  const all: Agreement = { cases: 0, sameMvsr: 0, sameJs: 0, worstMvsr: 0, worstJs: 0 };
  for (const [H, W, radius, cases] of [[18, 32, 2, 80], [40, 40, 3, 60], [65, 64, 4, 60], [90, 160, 4, 24]] as const) {
    const a = await shiftAgreement(H, W, radius, cases, H * 1000 + W);
    rows.push(`${H}x${W} radius ${radius} (step ${H * W > 4096 ? 2 : 1}): ${a.sameMvsr}/${a.cases} bit-identical to mvsr (max ${a.worstMvsr.toExponential(2)} px), ${a.sameJs}/${a.cases} to the JavaScript estimate (max ${a.worstJs.toExponential(2)} px)`);
    all.cases += a.cases;
    all.sameMvsr += a.sameMvsr;
    all.sameJs += a.sameJs;
    all.worstMvsr = Math.max(all.worstMvsr, a.worstMvsr);
    all.worstJs = Math.max(all.worstJs, a.worstJs);
  }
  console.log(`estimateShift agreement (pans up to radius + 1 px):\n${rows.join('\n')}`);
  // float64 in all three; only the reductions' summation order differs, which can flip a decision
  // only on a near-tie (a stop rule at the 1e-3 px convergence threshold, or two equal search costs)
  assert.ok(all.sameJs >= 0.99 * all.cases, `only ${all.sameJs}/${all.cases} estimates bit-identical to the JavaScript estimate`);
  assert.ok(all.sameMvsr >= 0.99 * all.cases, `only ${all.sameMvsr}/${all.cases} estimates bit-identical to mvsr's`);
  assert.ok(all.worstJs < 2e-3 && all.worstMvsr < 2e-3, `max |onnx - mvsr| ${all.worstMvsr} px, |onnx - js| ${all.worstJs} px`);
});

test('estimateShift in ONNX: ties (periodic stripes), equal, flat and tiny frames, a NaN pixel, as mvsr', { skip: noOrt }, async () => {
  await useEngine(1);
  const cases: { name: string; prev: Arr; cur: Arr; radius: number }[] = [];
  const r = mulberry32(9);
  const waves = randomWaves(r);
  const pic = smooth(16, 20, 3, waves);
  cases.push({ name: 'equal frames', prev: pic, cur: pic, radius: 3 });
  const flat = { shape: [1, 16, 20, 3], data: new Float32Array(16 * 20 * 3).fill(0.25) };
  cases.push({ name: 'flat frames', prev: flat, cur: flat, radius: 3 });
  // vertical stripes of period 2 and 3, moved by 2 and 1: several integer moves fit exactly; the structure along x only stops the refinement
  const stripes = (period: number, shift: number): Arr => {
    const H = 14, W = 18, d = new Float32Array(H * W * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) d[(y * W + x) * 3 + c] = ((x - shift + 3 * period) % period) / period;
    return { shape: [1, H, W, 3], data: d };
  };
  cases.push({ name: 'stripes period 2 moved 2', prev: stripes(2, 0), cur: stripes(2, 2), radius: 3 });
  cases.push({ name: 'stripes period 3 moved 1', prev: stripes(3, 0), cur: stripes(3, 1), radius: 3 });
  cases.push({ name: 'stripes period 3 moved -1', prev: stripes(3, 0), cur: stripes(3, -1), radius: 3 });
  const checker = (s: number): Arr => {
    const H = 12, W = 12, d = new Float32Array(H * W * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) d[(y * W + x) * 3 + c] = (x + y + s) % 2;
    return { shape: [1, H, W, 3], data: d };
  };
  cases.push({ name: 'checkerboard moved 1', prev: checker(0), cur: checker(1), radius: 2 });
  for (const [H, W] of [[1, 1], [2, 9], [3, 5], [4, 4], [5, 13], [9, 4], [7, 7], [10, 11]]) {
    const w = randomWaves(r);
    cases.push({ name: `tiny ${H}x${W}`, prev: smooth(H, W, 3, w), cur: smooth(H, W, 3, w, 0.7, -0.4), radius: 3 });
  }
  const nan = smooth(16, 20, 3, waves, 0.6, 0.2);
  nan.data[(5 * 20 + 7) * 3 + 1] = NaN;
  cases.push({ name: 'a NaN pixel', prev: pic, cur: nan, radius: 2 });
  const ort = await ortP!;
  const sessions = new Map<number, Session>();
  try {
    for (const c of cases) {
      let s = sessions.get(c.radius);
      if (!s) sessions.set(c.radius, s = await ort.InferenceSession.create(exportOnnx(shiftGraph(c.radius), { layout: 'nhwc' }), SESSION));
      const want = mvsrShift(c.prev, c.cur, c.radius);
      const js = estimateShiftJs(c.prev, c.cur, c.radius);
      assert.ok(js[0] === want[0] && js[1] === want[1], `${c.name}: mvsr (${want[0]}, ${want[1]}), the JavaScript estimate (${js[0]}, ${js[1]})`);
      for (const [what, got] of [
        ['dynamic', (await runSession(ort, s, { prev: c.prev, cur: c.cur }, { layout: 'nhwc' })).d!.data],
        ['fixed', (await runOrt(exportOnnx(shiftGraph(c.radius), { inputShape: [c.prev.shape[1]!, c.prev.shape[2]!] }), { prev: c.prev, cur: c.cur }, {})).d!.data],
      ] as const) {
        assert.ok(got[0] === want[0] && got[1] === want[1], `${c.name} (${what}): onnx (${got[0]}, ${got[1]}), mvsr (${want[0]}, ${want[1]})`);
      }
    }
  } finally {
    for (const s of sessions.values()) await s.release();
  }
});

test('I/O names in graph order, dims (symbolic H, W, H*4; fixed; batch 1 with alignment, N without), metadata inputs/outputs/video', async () => {
  await useEngine(1);
  const { g } = stepGraph();
  const m = readOnnxModel(exportOnnx(g, { layout: 'nhwc' }));
  assert.deepEqual(m.inputs, [
    { name: 'lr0', elemType: ONNX_FLOAT, dims: [1, 'H', 'W', 3] },
    { name: 'lr1', elemType: ONNX_FLOAT, dims: [1, 'H', 'W', 3] },
    { name: 'prev', elemType: ONNX_FLOAT, dims: [1, 'H*4', 'W*4', 3] },
  ]);
  assert.deepEqual(m.outputs, [
    { name: 'hr0', elemType: ONNX_FLOAT, dims: [1, 'H*4', 'W*4', 3] },
    { name: 'prev_next', elemType: ONNX_FLOAT, dims: [1, 'H*4', 'W*4', 3] },
  ]);
  assert.deepEqual(JSON.parse(m.metadata['mvsr.inputs']!), [
    { name: 'lr0', channels: 3, scale: 1 }, { name: 'lr1', channels: 3, scale: 1 }, { name: 'prev', channels: 3, scale: 4 },
  ]);
  assert.deepEqual(JSON.parse(m.metadata['mvsr.outputs']!), [{ name: 'hr0', channels: 3, scale: 4 }, { name: 'prev_next', channels: 3, scale: 4 }]);
  assert.deepEqual(JSON.parse(m.metadata['mvsr.video']!), g.meta.video);
  assert.equal(m.metadata['mvsr.external'], undefined);
  assert.match(m.doc, /ToyVSR x4 video step: NHWC float32 inputs lr0 \(3 ch\), lr1 \(3 ch\), prev \(3 ch at 4x\); outputs hr0, prev_next; batch 1/);
  // the first nodes transpose the inputs in order; spaceToDepth in PyTorch order regroups SpaceToDepth's channels
  assert.deepEqual(m.nodes.slice(0, 3).map((n) => [n.opType, n.inputs[0]]), [['Transpose', 'lr0'], ['Transpose', 'lr1'], ['Transpose', 'prev']]);
  const s2d = m.nodes.filter((n) => n.opType === 'SpaceToDepth');
  assert.equal(s2d.length, 2);
  assert.ok(m.nodes.some((n) => n.opType === 'ArgMin') && m.nodes.filter((n) => n.opType === 'Gather').length >= 4);
  // the refinement is one Loop: 8 trips at most, carrying (dx, dy) and the best (dx, dy, cost)
  const loop = m.nodes.find((n) => n.opType === 'Loop')!;
  assert.equal(loop.inputs.length, 7);
  assert.equal(loop.outputs.length, 5);
  const body = loop.attributes.body as OnnxGraphInfo;
  assert.deepEqual(body.inputs.map((i) => [i.elemType, i.dims]), [[ONNX_INT64, []], [ONNX_BOOL, []], ...Array.from({ length: 5 }, () => [ONNX_DOUBLE, [1, 1, 1, 1]])]);
  assert.deepEqual(body.outputs.map((i) => i.elemType), [ONNX_BOOL, ...Array.from({ length: 5 }, () => ONNX_DOUBLE)]);
  assert.equal(body.nodes.filter((n) => n.opType === 'Slice').length, 12, 'four bilinear taps of the frame and its two gradients');
  // fixed size: every input and output follows the base size
  const f = readOnnxModel(exportOnnx(g, { inputShape: [18, 32] }));
  assert.deepEqual(f.inputs.map((i) => i.dims), [[1, 3, 18, 32], [1, 3, 18, 32], [1, 3, 72, 128]]);
  assert.deepEqual(f.outputs.map((i) => i.dims), [[1, 3, 72, 128], [1, 3, 72, 128]]);
  // without estimateShift / translate the batch stays symbolic; a shift output is 1 x 1 x 2
  const b = new GraphBuilder({ arch: 'Plain2', args: {}, scale: 2 });
  const x = b.input(3, 'x'), st = b.input(12, 'st');
  const y = b.depthToSpace('up', b.concat('cat', [b.spaceToDepth('fold', b.depthToSpace('unfold', st, 2), 2), x]), 1);
  const plain = readOnnxModel(exportOnnx(b.outputs([['y', y], ['st_next', st]], { window: { past: 0, future: 0 }, count: 1, frames: ['x'], outputs: ['y'], state: [{ input: 'st', output: 'st_next' }] })));
  assert.deepEqual(plain.inputs.map((i) => i.dims), [['N', 3, 'H', 'W'], ['N', 12, 'H', 'W']]);
  assert.deepEqual(plain.outputs.map((i) => [i.name, i.dims]), [['y', ['N', 15, 'H', 'W']], ['st_next', ['N', 12, 'H', 'W']]]);
  const sg = readOnnxModel(exportOnnx(shiftGraph(2), { layout: 'nhwc' }));
  assert.deepEqual(sg.outputs.map((i) => [i.name, i.dims]), [['d', [1, 1, 1, 2]], ['y', [1, 'H', 'W', 3]]]);
  assert.deepEqual(JSON.parse(sg.metadata['mvsr.outputs']!), [{ name: 'd', channels: 2, scale: null }, { name: 'y', channels: 3, scale: 1 }]);
  // an image graph keeps 'input' / 'output' and its metadata, plus the I/O lists
  const ib = new GraphBuilder({ arch: 'Img', args: {}, scale: 2 });
  const im = readOnnxModel(exportOnnx(ib.output(ib.depthToSpace('d2s', ib.input(4), 2)), { layout: 'nhwc' }));
  assert.deepEqual(im.inputs, [{ name: 'input', elemType: ONNX_FLOAT, dims: ['N', 'H', 'W', 4] }]);
  assert.deepEqual(im.outputs, [{ name: 'output', elemType: ONNX_FLOAT, dims: ['N', 'H*2', 'W*2', 1] }]);
  assert.equal(im.doc, 'Img x2: NHWC float32 input with 4 channel(s) (values as in training, typically 0..1)');
  assert.deepEqual(Object.keys(im.metadata), ['mvsr.arch', 'mvsr.scale', 'mvsr.args', 'mvsr.layout', 'mvsr.dtype', 'mvsr.inputs', 'mvsr.outputs']);
  assert.equal(im.metadata['mvsr.video'], undefined);
});

test('estimateShift \'host\': each estimateShift node becomes an input named by its id, listed in mvsr.external; fed mvsr\'s shift, the step graph equals the reference', { skip: noOrt }, async () => {
  await useEngine(1);
  const { g, w } = stepGraph(13);
  for (const layout of ['nchw', 'nhwc'] as const) {
    const o: OnnxExportOptions = { layout, estimateShift: 'host' };
    const bytes = exportOnnx(g, o);
    const m = readOnnxModel(bytes);
    assert.deepEqual(m.inputs.map((i) => [i.name, i.dims]), [
      ['lr0', layout === 'nhwc' ? [1, 'H', 'W', 3] : [1, 3, 'H', 'W']], ['lr1', layout === 'nhwc' ? [1, 'H', 'W', 3] : [1, 3, 'H', 'W']],
      ['prev', layout === 'nhwc' ? [1, 'H*4', 'W*4', 3] : [1, 3, 'H*4', 'W*4']], ['shift', layout === 'nhwc' ? [1, 1, 1, 2] : [1, 2, 1, 1]],
    ]);
    const ext = JSON.parse(m.metadata['mvsr.external']!) as { name: string; prev: string; cur: string; radius: number; note: string }[];
    assert.deepEqual(ext.map(({ name, prev, cur, radius }) => ({ name, prev, cur, radius })), [{ name: 'shift', prev: 'lr0', cur: 'lr1', radius: RADIUS }]);
    assert.match(ext[0]!.note, /computed by the host: mvsr's estimateShift\(prev, cur, radius\)/);
    assert.ok(!m.nodes.some((n) => n.opType === 'ArgMin'), 'no search in the model');
    const x = stepInputs(10, 13, 77);
    const ref = stepRef(w, x.lr0, x.lr1, x.prev);
    const y = await runOrt(bytes, { ...x, shift: { shape: [1, 1, 1, 2], data: Float32Array.from(ref.shift) } }, o);
    const e = Math.max(maxDiff(y.hr0!, ref.hr0, 'hr0'), maxDiff(y.prev_next!, ref.prev_next, 'prev_next'));
    assert.ok(e < TOL, `host ${layout}: max |onnx - ref| = ${e}`);
  }
  // fp16: the frames in float16, the host shift stays float32
  const o16: OnnxExportOptions = { layout: 'nhwc', estimateShift: 'host', fp16: true };
  const m16 = readOnnxModel(exportOnnx(g, o16));
  assert.deepEqual(m16.inputs.map((i) => i.elemType), [ONNX_FLOAT16, ONNX_FLOAT16, ONNX_FLOAT16, ONNX_FLOAT]);
  const x = stepInputs(10, 13, 78);
  const ref = stepRef(w, x.lr0, x.lr1, x.prev);
  const ort = await ortP!;
  const s = await ort.InferenceSession.create(exportOnnx(g, o16), SESSION);
  try {
    const half = (a: Arr): OrtTensor => new ort.Tensor('float16', toFloat16Array(a.data), a.shape);
    const r = await s.run({ lr0: half(x.lr0), lr1: half(x.lr1), prev: half(x.prev), shift: new ort.Tensor('float32', Float32Array.from(ref.shift), [1, 1, 1, 2]) });
    // against the reference of the float16-rounded inputs moved by the same float32 shift
    const h = (a: Arr): Arr => ({ shape: a.shape, data: fromFloat16Array(toFloat16Array(a.data)) });
    const ref16 = stepRef(w, h(x.lr0), h(x.lr1), h(x.prev), ref.shift);
    const got = { shape: ref16.prev_next.shape, data: fromFloat16Array(r.prev_next!.data as Uint16Array) };
    const range = Math.max(1, ...ref16.prev_next.data.map(Math.abs));
    const e = maxDiff(got, ref16.prev_next, 'fp16 host') / range;
    assert.ok(e * 255 < 0.5, `fp16 host: max |onnx - ref| / range * 255 = ${e * 255}`);
  } finally {
    await s.release();
  }
});

test('errors: a host shift needs frames that are graph inputs; unknown estimateShift mode', async () => {
  await useEngine(1);
  const b = new GraphBuilder({ arch: 'Bad', args: {}, scale: 1 });
  const p = b.input(3, 'p'), c = b.input(3, 'c');
  const d = b.estimateShift('est', b.act('r', p, { kind: 'relu' }), c, 1);
  const g = b.outputs([['y', b.translate('t', c, d)], ['z', p]], { window: { past: 0, future: 0 }, count: 2, frames: ['p', 'c'], outputs: ['y', 'z'], state: [] });
  assert.throws(() => exportOnnx(g, { estimateShift: 'host' }), /node 'est' \(estimateShift\): reads 'r', which is not a graph input/);
  assert.throws(() => exportOnnx(g, { estimateShift: 'guess' as 'host' }), /estimateShift 'guess' is not 'onnx' or 'host'/);
  assert.doesNotThrow(() => exportOnnx(g));
});
