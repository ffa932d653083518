// INT8 quantization: TFLite's fixed-point helpers against a BigInt transcription of their C
// definitions; every zoo family's int8 graph run by mvsr's integer executor against LiteRT.js
// running the full-integer .tflite (float32 and uint8 I/O; video step graphs frame by frame with
// the state fed back as uint8); the quantized file round trip; mvsr quantize / eval / export
// --int8 from the command line, and their one-line errors that leave no file behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useEngine, mulberry32, randomize, skipReason, w, SMALL_FAMILIES, sized, layerNormGraph } from './helpers.js';
import { SMALL_VIDEO, RLFB_VIDEO, model } from './video-helpers.js';
import { createModel, toGraph, stepGraph } from '../src/models/registry.js';
import { GraphBuilder, graphInputs, graphOutputs, windowIndices, type Graph, type GraphNode, type ConvNode } from '../src/graph/ir.js';
import { inferShapes } from '../src/graph/shapes.js';
import {
  quantizeMultiplier, multiplyByQuantizedMultiplier, srdhm, roundingDivideByPOT, requantizeFp32, quantizeValue, quantizeBias, chooseQParams, qRange, UINT8_PIXELS, roundHalfAway,
  int8Graph, assignQParams, quantizeWeights, splitOutlierWeights, reluFedAdds, quantizationReport, type QParams, type QuantGraph,
} from '../src/graph/quant.js';
import { calibrateGraph, RangeObserver, type CalibrationSample } from '../src/eval/calibrate.js';
import { compileInt8, dequantizeTensor, quantizeTensor, requantizeInt8, int8EstimateShift, int8Translate, type Int8Tensor } from '../src/runtime/int8.js';
import { hostAlignment, type HostAlign } from '../src/graph/host-align.js';
import { requantize } from '../src/graph/int8-tables.js';
import { exportTflite, readTfliteMetadata, type TfliteIo } from '../src/export/tflite.js';
import { loadLiteRtNode, TfliteModel, type TfliteData } from '../src/runtime/tflite.node.js';
import { loadOrtNode, sessionOptions } from '../src/runtime/ort.node.js';
import { exportOnnx } from '../src/export/onnx.js';
import { saveGraphFile, loadGraphFile } from '../src/api/graph-file.node.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Rng } from '../src/tensor/random.js';
import { manualSeed } from '../src/nn/init.js';
import type { ETDS } from '../src/models/etds.js';
import type { Conv2d } from '../src/nn/layers.js';

const noLiteRt = await skipReason(() => loadLiteRtNode(), '@litertjs/core');
const noOrt = await skipReason(() => loadOrtNode(), 'onnxruntime-node');
const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const mvsr = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8' });

// ---- the fixed-point helpers, against BigInt transcriptions of tensorflow/lite/kernels/internal/common.h ----

const I32_MIN = -(2n ** 31n), I32_MAX = 2n ** 31n - 1n;
function srdhmBig(a: bigint, b: bigint): bigint {
  if (a === I32_MIN && b === I32_MIN) return I32_MAX;
  const ab = a * b, nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return (ab + nudge) / (1n << 31n); // BigInt division truncates toward zero, as C's
}
function rdbpBig(x: bigint, e: bigint): bigint {
  const mask = (1n << e) - 1n, rem = x & mask, threshold = (mask >> 1n) + (x < 0n ? 1n : 0n);
  return (x >> e) + (rem > threshold ? 1n : 0n);
}

test('SaturatingRoundingDoublingHighMul, RoundingDivideByPOT and MultiplyByQuantizedMultiplier equal their C definitions (BigInt) on random and edge inputs', () => {
  const r = new Rng(11);
  const i32 = (): number => Math.floor(r.next() * 2 ** 32) - 2 ** 31;
  const edges = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 30, -(2 ** 30), 12345, -98765];
  for (let k = 0; k < 20000; k++) {
    const a = k < edges.length ** 2 ? edges[k % edges.length]! : i32(), b = k < edges.length ** 2 ? edges[Math.floor(k / edges.length)]! : i32();
    assert.equal(srdhm(a, b), Number(srdhmBig(BigInt(a), BigInt(b))), `srdhm(${a}, ${b})`);
    const e = k % 32;
    assert.equal(roundingDivideByPOT(a, e), Number(rdbpBig(BigInt(a), BigInt(e))), `rdbp(${a}, ${e})`);
  }
  for (let k = 0; k < 5000; k++) {
    const real = 2 ** (r.next() * 24 - 20); // 1e-6 .. 16
    const [m, s] = quantizeMultiplier(real);
    assert.ok(m >= 2 ** 30 && m < 2 ** 31, `multiplier ${m} of ${real} in [2^30, 2^31)`);
    assert.ok(Math.abs(m * 2 ** (s - 31) - real) <= real * 2 ** -30, `${m} * 2^(${s} - 31) represents ${real}`);
    const x = Math.floor((r.next() - 0.5) * 2 ** 20);
    const left = BigInt(Math.max(s, 0)), right = BigInt(Math.max(-s, 0));
    assert.equal(multiplyByQuantizedMultiplier(x, m, s), Number(rdbpBig(srdhmBig(BigInt(x) * (1n << left), BigInt(m)), right)));
  }
  // the XNNPACK-path requantization rounds halves to even, in float32
  assert.deepEqual([5, 7, -5, -7, 6].map((acc) => requantizeFp32(acc, 0.5)), [2, 4, -2, -4, 3]);
});

test('chooseQParams covers the range with 0 exact; the observers: minmax keeps the extremes, percentile and mse stay inside them', () => {
  for (const [lo, hi] of [[0, 1], [-0.3, 2.5], [0.2, 0.9], [-4, -1], [0, 0]] as const) {
    const q = chooseQParams(lo, hi), [a, b] = qRange(q);
    assert.ok(a <= Math.min(lo, 0) + q.scale / 2 && b >= Math.max(hi, 0) - q.scale / 2, `[${lo}, ${hi}] inside [${a}, ${b}]`);
    assert.ok(Number.isInteger(q.zeroPoint) && q.zeroPoint >= -128 && q.zeroPoint <= 127);
  }
  // a constant-zero tensor (a ReLU that was all zeros in calibration) holds 0 exactly, at a scale
  // where a conv reading it still gets int32 biases (a 1e-8 range overflowed them)
  const zero = chooseQParams(0, 0);
  assert.equal(quantizeValue(0, zero), zero.zeroPoint);
  assert.doesNotThrow(() => quantizeBias(Float32Array.of(0.5, -3), 2, zero.scale, [1e-3, 1e-4]));
  const ob = new RangeObserver(4096, new Rng(3)), r = new Rng(5);
  const v = Float32Array.from({ length: 50000 }, () => r.normal());
  v[17] = 40; // one outlier
  ob.add(v);
  const [mlo, mhi] = ob.range('minmax');
  assert.equal(mhi, 40);
  assert.equal(mlo, Math.min(...v));
  for (const m of ['percentile', 'mse'] as const) {
    const [lo, hi] = ob.range(m);
    assert.ok(lo >= mlo && hi <= mhi && hi < 40, `${m}: [${lo}, ${hi}] clips the outlier`);
  }
});

// ---- the integer executor against LiteRT.js ----

function randomInt8(shape: readonly number[], r: () => number): Int8Array {
  return Int8Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.floor(r() * 256) - 128);
}

/** One run of a quantized graph by mvsr and by LiteRT.js on the same int8 inputs; per output: values equal and the largest difference in int8 steps. */
async function agreement(qg: QuantGraph, H: number, W: number, io: TfliteIo, seed: number): Promise<{ id: string; equal: number; maxSteps: number }[]> {
  const shapes = inferShapes(qg, H, W), r = mulberry32(seed);
  const frames = new Set(qg.meta.video?.frames ?? [graphInputs(qg)[0]!.id]);
  const ins: Record<string, Int8Tensor> = {}, feeds: Record<string, TfliteData> = {};
  for (const n of graphInputs(qg)) {
    const [h, w, c] = shapes.get(n.id)!, q = qg.quant.act[n.id]!, data = randomInt8([h, w, c], r);
    ins[n.id] = { h, w, c, data, q };
    feeds[n.id] = io === 'uint8' ? Uint8Array.from(data, (v) => v + 128) : Float32Array.from(data, (v) => q.scale * (v - q.zeroPoint));
    if (io === 'uint8' && frames.has(n.id)) assert.deepEqual(q, { scale: UINT8_PIXELS.scale, zeroPoint: -128 }); // pixels: uint8 p is int8 p - 128
  }
  const ref = compileInt8(qg).run(ins);
  const tm = await TfliteModel.create(exportTflite(qg, { inputShape: [H, W], int8: true, io }));
  try {
    const got = await tm.run(feeds);
    return graphOutputs(qg).map((o) => {
      const y = ref[o.id]!, g = got[o.id]!.data;
      // compare in real values; a step is the int8 output's
      const want = Array.from(y.data, (v) => y.q.scale * (v - y.q.zeroPoint));
      const outQ: QParams = io === 'float32' ? { scale: 1, zeroPoint: 0 } : frames.size && (qg.meta.video?.outputs ?? [o.id]).includes(o.id) ? UINT8_PIXELS : { scale: y.q.scale, zeroPoint: y.q.zeroPoint + 128 };
      let equal = 0, maxSteps = 0;
      const wantU8 = io === 'uint8' ? requantize(y.data, y.q, outQ, 0, 255, new Uint8Array(y.data.length)) : null;
      for (let i = 0; i < want.length; i++) {
        const gv = io === 'uint8' ? outQ.scale * (g[i]! - outQ.zeroPoint) : g[i]!;
        const wv = wantU8 ? outQ.scale * (wantU8[i]! - outQ.zeroPoint) : want[i]!;
        const d = Math.abs(gv - wv) / y.q.scale;
        if (d < 1e-3) equal++;
        maxSteps = Math.max(maxSteps, d);
      }
      return { id: o.id, equal: equal / want.length, maxSteps };
    });
  } finally {
    tm.dispose();
  }
}

/** Calibration on seeded random frames: `n` samples of `frames` frames. */
function randomSamples(n: number, frames: number, H: number, W: number, C: number, seed: number): CalibrationSample[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => ({ frames: Array.from({ length: frames }, () => Tensor.from([1, H, W, C], Array.from({ length: H * W * C }, () => r()))) }));
}
const freeSamples = (s: CalibrationSample[]): void => { for (const x of s) for (const t of x.frames) t.dispose(); };

function assertAgreement(rows: { id: string; equal: number; maxSteps: number }[], what: string): void {
  for (const row of rows) {
    assert.ok(row.equal >= 0.999, `${what} ${row.id}: only ${(100 * row.equal).toFixed(3)}% of the values equal mvsr's integer inference`);
    assert.ok(row.maxSteps <= 1 + 1e-3, `${what} ${row.id}: ${row.maxSteps.toFixed(2)} quantization steps off`);
  }
}

/** A zoo model's deploy graph with seeded random weights. */
function randomGraph(arch: string, args: Record<string, unknown>, seed: number, scale = 0.25): Graph {
  manualSeed(seed);
  const m = createModel(arch, args);
  randomize(m, scale, seed);
  const g = toGraph(m);
  m.dispose();
  return g;
}

/** `g` quantized on `n` seeded random H x W patches. */
async function calibrated(g: Graph, n: number, H: number, W: number, seed: number, method: 'minmax' | 'percentile' | 'mse' = 'minmax'): Promise<QuantGraph> {
  const samples = randomSamples(n, 1, H, W, graphInputs(g)[0]!.channels, seed);
  try {
    return await calibrateGraph(g, samples, { method });
  } finally {
    freeSamples(samples);
  }
}

const NO_INT8 = /Bicubic|^IMDN$|^vapsr$|^BSRN$|^MobileSR$/;

test('every zoo image family: the full-integer .tflite in LiteRT.js equals mvsr\'s integer inference on >= 99.9% of the values, never more than 1 step off (float32 and uint8 I/O)', { skip: noLiteRt }, async (t) => {
  await useEngine(1);
  let seed = 900;
  for (const [arch, argsOf] of SMALL_FAMILIES) {
    const args = argsOf(4), name = `${arch} x4 ${JSON.stringify(args)}`;
    await t.test(name, async () => {
      const g = randomGraph(arch, args, seed++);
      if (NO_INT8.test(arch)) {
        await assert.rejects(calibrated(g, 4, ...sized(arch, 12, 16), seed), /mvsr: graph \w+: node '[^']+' \((resize|convTranspose|globalPool|conv|layerNorm)\): .*(no integer form|not quantized yet)/);
        return;
      }
      const qg = await calibrated(g, 4, ...sized(arch, 12, 16), seed);
      for (const io of ['float32', ...(graphInputs(g)[0]!.channels === 3 ? ['uint8'] as const : [])] as const) assertAgreement(await agreement(qg, ...sized(arch, 9, 11), io, seed), `${name} ${io}`);
    });
  }
});

test('the erf behind the int8 GELU table matches the float64 reference (Simpson integration) on [-8, 8], and is odd', async () => {
  const { erf } = await import('../src/graph/int8-tables.js');
  const ref = await import('./ref/index.js');
  for (let x = -8; x <= 8; x += 0.0173) {
    assert.ok(Math.abs(erf(x) - ref.erf(x)) < 1e-12, `erf(${x}) = ${erf(x)}, reference ${ref.erf(x)}`);
    assert.equal(erf(-x), -erf(x));
  }
});

test('int8 refuses a layer norm by name, before calibrating', async () => {
  await useEngine(1);
  const g = layerNormGraph();
  const why = /mvsr: graph layer_norm: node 'n1' \(layerNorm\): layer normalisation is not quantized yet; the model cannot be quantized to int8/;
  assert.throws(() => int8Graph(g), why);
  await assert.rejects(calibrated(g, 2, 6, 8, 1), why);
});

/** SiLU as IMDN+ writes it (x * sigmoid(x)): a conv output read by a sigmoid and by the mul of the two, twice, then a conv. */
function siluGraph(): Graph {
  const b = new GraphBuilder({ arch: 'silu_hand', args: {}, scale: 1 });
  let x = b.input(3);
  for (let k = 0; k < 2; k++) {
    const c = b.conv(`c${k}`, x, w([8, k ? 8 : 3, 3, 3], 40 + 2 * k, 0.6), w([8], 41 + 2 * k));
    x = b.mul(`silu${k}`, c, b.act(`sig${k}`, c, { kind: 'sigmoid' }));
  }
  return b.output(b.conv('last', x, w([3, 8, 3, 3], 50), w([3], 51)));
}

test('int8 MUL equals LiteRT.js on every pair of int8 inputs; SiLU (a conv output read by both a sigmoid and the mul, as IMDN+ has it) equals LiteRT.js and onnxruntime', { skip: noLiteRt }, async () => {
  await useEngine(1);
  // every (a, b) pair of int8 values through one MUL (channel 0: a, channel 1: b), at several output ranges
  const b = new GraphBuilder({ arch: 'mul_pairs', args: {}, scale: 1 });
  const x = b.input(2);
  const g = int8Graph(b.output(b.mul('m', b.slice('a', x, 0, 1), b.slice('b', x, 1, 2))));
  const data = Int8Array.from({ length: 256 * 256 * 2 }, (_, i) => (i % 2 === 0 ? (i >> 9) : ((i >> 1) & 255)) - 128);
  for (const range of [[0, 1], [-0.3, 0.8], [0, 0.21], [0, 3.7]] as [number, number][]) {
    const act = assignQParams(g, new Map([['m', range]]));
    const qg: QuantGraph = { ...g, quant: { scheme: 'int8', method: 'minmax', act, weights: {}, alpha: {} } };
    const q = act['input']!, y = compileInt8(qg).run({ input: { h: 256, w: 256, c: 2, data, q } }).output!;
    const tm = await TfliteModel.create(exportTflite(qg, { inputShape: [256, 256], int8: true }));
    try {
      const got = (await tm.run({ input: Float32Array.from(data, (v) => q.scale * (v - q.zeroPoint)) })).output!.data;
      const off: string[] = [];
      for (let i = 0; i < y.data.length; i++) {
        const t = Math.round(got[i]! / y.q.scale) + y.q.zeroPoint;
        if (t !== y.data[i]) off.push(`(${data[2 * i]}, ${data[2 * i + 1]}): mvsr ${y.data[i]}, LiteRT.js ${t}`);
      }
      assert.equal(off.length, 0, `output range [${range}]: ${off.length} of 65536 pairs differ, e.g. ${off.slice(0, 3).join('; ')}`);
    } finally {
      tm.dispose();
    }
  }
  // SiLU in a network, calibrated like the zoo families
  const qg = await calibrated(siluGraph(), 4, 12, 16, 31);
  for (const io of ['float32', 'uint8'] as const) assertAgreement(await agreement(qg, 9, 11, io, 32), `SiLU ${io}`);
  if (!noOrt) assertAgreement(await ortAgreement(await loadOrtNode(), qg, 9, 11, 33), 'SiLU QDQ in onnxruntime');
});

test('int8 ADD of inputs at unequal scales equals LiteRT.js on every pair of int8 values: XNNPACK\'s qs8 add where both rescales lie in [2^-10, 2^8), TFLite\'s own kernel outside', { skip: noLiteRt }, async () => {
  await useEngine(1);
  const data = Int8Array.from({ length: 256 * 256 * 2 }, (_, i) => (i % 2 === 0 ? (i >> 9) : ((i >> 1) & 255)) - 128);
  const f = Math.fround;
  // (a, b, out): etds-t-x4's split conv_first add (small corrections plus the image, out at the
  // ReLU's range) and the parameters among 200 random ones where the two kernels differ most (on 4
  // and 10 pairs), then a rescale below 2^-10 (TFLite's kernel)
  const cases: [QParams, QParams, QParams][] = [
    [{ scale: f(0.0001365320204058662), zeroPoint: 102 }, { scale: f(0.003992627840489149), zeroPoint: -128 }, { scale: f(0.003922074101865292), zeroPoint: -128 }],
    [{ scale: f(0.016843091696500778), zeroPoint: 110 }, { scale: f(0.0018184480722993612), zeroPoint: 113 }, { scale: f(0.017871009185910225), zeroPoint: 104 }],
    [{ scale: f(2e-6), zeroPoint: 0 }, { scale: f(0.01), zeroPoint: -128 }, { scale: f(0.011), zeroPoint: -100 }],
  ];
  for (const [qa, qb, qm] of cases) {
    // a and b: 1x1 convs that give each input channel's int8 value unchanged at their own
    // parameters (b's bias moves its zero point), so the add sees every (a, b) pair
    const s = f(1 / 128), qin = { scale: s, zeroPoint: qa.zeroPoint };
    const gb = new GraphBuilder({ arch: 'add_pairs', args: {}, scale: 1 });
    const x = gb.input(2);
    const ca = gb.conv('a', x, { shape: [1, 2, 1, 1], data: Float32Array.of(qa.scale / s, 0) }, null, { padding: 0 });
    const cb = gb.conv('b', x, { shape: [1, 2, 1, 1], data: Float32Array.of(0, qb.scale / s) }, { shape: [1], data: Float32Array.of(qb.scale * (qa.zeroPoint - qb.zeroPoint)) }, { padding: 0 });
    const g0 = gb.output(gb.add('m', ca, cb));
    const g: Graph = { ...g0, meta: { ...g0.meta, probe: true }, nodes: [...g0.nodes, { op: 'output', id: 'outA', inputs: ['a'] }, { op: 'output', id: 'outB', inputs: ['b'] }] };
    const act = { input: qin, a: qa, b: qb, m: qm, output: qm, outA: qa, outB: qb };
    const qg: QuantGraph = { ...g, quant: { scheme: 'int8', method: 'minmax', act, ...quantizeWeights(g) } };
    const y = compileInt8(qg, { kernels: false }).run({ input: { h: 256, w: 256, c: 2, data, q: qin } });
    for (let i = 0; i < 65536; i++) assert.ok(y.outA!.data[i] === data[2 * i] && y.outB!.data[i] === data[2 * i + 1], `pair ${i}: the convs pass the int8 values through`);
    const tm = await TfliteModel.create(exportTflite(qg, { inputShape: [256, 256], int8: true }));
    try {
      const got = (await tm.run({ input: Float32Array.from(data, (v) => s * (v - qin.zeroPoint)) })).output!.data;
      const off: string[] = [];
      for (let i = 0; i < 65536; i++) {
        const t = Math.round(got[i]! / qm.scale) + qm.zeroPoint;
        if (t !== y.output!.data[i]) off.push(`(${data[2 * i]}, ${data[2 * i + 1]}): mvsr ${y.output!.data[i]}, LiteRT.js ${t}`);
      }
      assert.equal(off.length, 0, `scales ${qa.scale}, ${qb.scale} -> ${qm.scale}: ${off.length} of 65536 pairs differ, e.g. ${off.slice(0, 3).join('; ')}`);
    } finally {
      tm.dispose();
    }
  }
});

/**
 * An x2 ETDS whose residual stream has learned a little, as a trained one has: the identity
 * weights that carry the image plus small random ones (and the features reading the image):
 * its deploy graph, in which the carrier channels' centre weight is ~100x their others.
 */
function carrierEtds(seed: number): Graph {
  manualSeed(seed);
  const m = createModel('ETDS', { upscale: 2, num_block: 2, num_feat: 12, num_residual_feat: 3 }) as ETDS;
  const r = mulberry32(seed);
  const nudge = (c: Conv2d, amp: number): void => {
    const t = c.weight.value;
    t.data.set(t.toArray().map((v) => v + amp * (2 * r() - 1)));
  };
  nudge(m.conv_residual_first, 0.01);
  for (const c of m.residual_convs) nudge(c, 0.01);
  for (const c of m.add_residual_convs) nudge(c, 0.1);
  nudge(m.conv_residual_last, 0.01);
  const g = toGraph(m);
  m.dispose();
  return g;
}

test('outlier split (mvsr quantize\'s default): a conv whose channel carries the image with one centre weight ~100x its others becomes carrier rows (main + 1x1 centre, added, ReLU) concatenated with the rest; the float function is unchanged, the int8 weights keep the small ones, calibration keeps the carriers\' extremes, the int8 output is closer to float, and LiteRT.js and the WASM kernels run it as mvsr\'s integer reference does', async () => {
  await useEngine(1);
  const g = carrierEtds(41);
  const whole = int8Graph(g, { splitOutliers: false }), split = splitOutlierWeights(whole);
  const ids = new Set(split.nodes.map((n) => n.id));
  // conv_first and the backbone convs: 9 feature rows whole, the 3 image carriers split; conv_last
  // (every channel carries the image beside weights under 0.1): split whole. The next carrier rows
  // read the carriers' piece, not the concat, so the image never takes the features' step
  const node = (id: string): GraphNode => split.nodes.find((n) => n.id === id)!;
  for (const id of ['conv_first', 'backbone_convs.0', 'backbone_convs.1']) {
    for (const part of ['rows0', 'rows9.main', 'rows9.centre', 'rows9.add', 'rows9']) assert.ok(ids.has(`${id}.${part}`), `${id}.${part} in ${[...ids].join(', ')}`);
    assert.equal(node(id).op, 'concat');
  }
  for (const [id, prev] of [['backbone_convs.0', 'conv_first'], ['backbone_convs.1', 'backbone_convs.0']]) {
    assert.deepEqual(node(`${id}.rows0`).inputs, [prev], `${id}: the features read every channel`);
    assert.deepEqual([node(`${id}.rows9.main`).inputs, node(`${id}.rows9.centre`).inputs], [[`${prev}.rows9`], [`${prev}.rows9`]], `${id}: the carriers read only the carriers`);
  }
  for (const part of ['main', 'centre', 'add']) assert.ok(ids.has(`conv_last.${part}`), `conv_last.${part}`);
  assert.deepEqual(node('conv_last.centre').inputs, ['backbone_convs.1.rows9']);
  assert.deepEqual([...reluFedAdds(split).keys()].sort(), ['backbone_convs.0.rows9.add', 'backbone_convs.1.rows9.add', 'conv_first.rows9.add', 'conv_last.add']);
  assert.ok(!ids.has('conv_clip.main'), 'a conv with one weight per channel (the clip, -I) is exact already and stays whole');
  // one carrier among 4 channels: its rows split when only convs read them, and stay whole when
  // something else does (that reader would keep no carrier tensor of its own)
  const tiny = (reader: 'conv' | 'act'): Graph => {
    const r2 = mulberry32(9), gb = new GraphBuilder({ arch: `carrier_read_by_${reader}`, args: {}, scale: 1 });
    const wdata = Float32Array.from({ length: 4 * 3 * 9 }, () => 0.2 * (r2() - 0.5));
    wdata[4] = 1; // channel 0, input 0, centre tap: 1 beside weights under 0.1
    const c = gb.conv('c', gb.input(3), { shape: [4, 3, 3, 3], data: wdata }, null, { padding: 1 });
    return gb.output(reader === 'conv' ? gb.conv('d', c, { shape: [3, 4, 1, 1], data: Float32Array.from({ length: 12 }, () => r2() - 0.5) }, null, { padding: 0 }) : gb.act('a', c, { kind: 'sigmoid' }));
  };
  const byConv = splitOutlierWeights(tiny('conv')).nodes.map((n) => n.id);
  for (const id of ['c.rows0.main', 'c.rows0.centre', 'c.rows0', 'c.rows1', 'c', 'd']) assert.ok(byConv.includes(id), `${id} in ${byConv.join(', ')}`);
  assert.deepEqual(splitOutlierWeights(tiny('act')).nodes.map((n) => n.id), tiny('act').nodes.map((n) => n.id));
  // the same function in float, against the graph before the pass
  const { compileGraph } = await import('../src/runtime/wasm.js');
  const r = mulberry32(5), H = 11, W = 13;
  const x = Tensor.from([1, H, W, 3], Array.from({ length: H * W * 3 }, () => r()));
  const [a, b] = [whole, split].map((q) => { const c = compileGraph(q, { fuse: false }); try { return c.run(x).toArray(); } finally { c.dispose(); } });
  x.dispose();
  let maxDiff = 0;
  for (let i = 0; i < a!.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a![i]! - b![i]!));
  assert.ok(maxDiff < 1e-5, `split graph differs from the whole one by ${maxDiff}`);
  // int8: both calibrated on the same patches; the split one's weights keep the carriers' small
  // weights (weight SNR) and its output is nearer the float model's
  const samples = randomSamples(4, 1, 16, 16, 3, 42);
  try {
    const [qw, qs] = [await calibrateGraph(g, samples, { splitOutliers: false }), await calibrateGraph(g, samples)];
    // the carriers' centre, add and ReLU hold the image: mse keeps their observed extremes (minmax's parameters), not a clipping of them
    const [qmse, qmin] = [await calibrateGraph(g, samples, { method: 'mse' }), await calibrateGraph(g, samples, { method: 'minmax' })];
    for (const id of ['conv_first.rows9.centre', 'conv_first.rows9.add', 'conv_first.rows9', 'conv_last.centre', 'conv_last']) assert.deepEqual(qmse.quant.act[id], qmin.quant.act[id], `${id}: mse keeps the extremes`);
    const clipped = Object.keys(qmin.quant.act).filter((id) => qmse.quant.act[id]!.scale < qmin.quant.act[id]!.scale);
    assert.ok(clipped.length >= 2, `mse clips other tensors (${clipped.join(', ')})`);
    const snr = (q: QuantGraph, id: string): number => quantizationReport(q).find((row) => row.id === id)!.weightSnrDb;
    for (const id of ['conv_first', 'backbone_convs.0', 'backbone_convs.1']) {
      // the carriers' small weights (every weight of rows 9-11 but each row's largest) as the whole conv rounds them
      const wt = qw.weights[(qw.nodes.find((n) => n.id === id) as ConvNode).weight]!, per = wt.data.length / wt.shape[0]!;
      let sig = 0, err = 0;
      for (let o = 9; o < 12; o++) {
        const row = wt.data.subarray(o * per, (o + 1) * per), m = Math.max(...Array.from(row, Math.abs)), step = m / 127;
        for (const v of row) if (Math.abs(v) < m) { sig += v * v; err += (v - Math.round(v / step) * step) ** 2; }
      }
      const carriedSnr = 10 * Math.log10(sig / err);
      assert.ok(snr(qs, `${id}.rows9.main`) > carriedSnr + 20, `${id}: the carriers' small weights at ${snr(qs, `${id}.rows9.main`).toFixed(1)} dB split, ${carriedSnr.toFixed(1)} dB whole`);
      assert.ok(snr(qs, `${id}.rows9.centre`) > 120, `${id}: the centre weights are exact up to float32 (${snr(qs, `${id}.rows9.centre`).toFixed(1)} dB)`);
      assert.deepEqual(qs.quant.act[`${id}.rows9.add`], qs.quant.act[`${id}.rows9`], `${id}: the add before the ReLU has the ReLU's parameters`);
    }
    const rr = mulberry32(6), XH = 14, XW = 15;
    const img = Float32Array.from({ length: XH * XW * 3 }, (_, i) => 0.5 + 0.4 * Math.sin(i / 17) * Math.cos(i / 41) + 0.05 * rr());
    const xf = Tensor.from([1, XH, XW, 3], img);
    const c = compileGraph(g);
    const want = c.run(xf).toArray();
    c.dispose();
    xf.dispose();
    const rms = (q: QuantGraph): number => {
      const xq: Int8Tensor = { h: XH, w: XW, c: 3, data: Int8Array.from(img, (v) => quantizeValue(v, q.quant.act['input']!)), q: q.quant.act['input']! };
      const y = compileInt8(q, { kernels: false }).run({ input: xq }).output!;
      let e = 0;
      for (let i = 0; i < want.length; i++) e += (y.q.scale * (y.data[i]! - y.q.zeroPoint) - want[i]!) ** 2;
      return Math.sqrt(e / want.length);
    };
    const [ew, es] = [rms(qw), rms(qs)];
    assert.ok(es < 0.8 * ew, `int8 output RMS error against float: ${es.toExponential(3)} split, ${ew.toExponential(3)} whole`);
    // the WASM kernels (the conv fused with the add, its centre conv as per-channel tables, and the ReLU after it) bit-exact with the JavaScript reference
    const xi: Int8Tensor = { h: 9, w: 10, c: 3, data: randomInt8([9, 10, 3], rr), q: qs.quant.act['input']! };
    const fast = compileInt8(qs);
    try {
      assert.deepEqual(fast.run({ input: xi }).output!.data, compileInt8(qs, { kernels: false }).run({ input: xi }).output!.data);
      for (const id of ['conv_first.rows9', 'conv_first.rows9.centre', 'conv_last.centre', 'conv_clip']) assert.ok(fast.fused.includes(id), `${id} runs in the conv's stores (fused: ${fast.fused.join(', ')})`);
    } finally {
      fast.dispose();
    }
    if (!noLiteRt) for (const io of ['float32', 'uint8'] as const) assertAgreement(await agreement(qs, 9, 11, io, 43), `split ETDS ${io}`);
  } finally {
    freeSamples(samples);
  }
});

test('a 1x1 int8 conv that makes each channel from the same channel (ETDS\'s conv_clip) runs as tables composed into the conv before it: after its ReLU, its PReLU, or its ADD when every channel\'s table is the same; bit-exact with the JavaScript reference', async () => {
  await useEngine(2);
  const diag = (d: number[]) => ({ shape: [d.length, d.length, 1, 1], data: Float32Array.from({ length: d.length * d.length }, (_, i) => (i % (d.length + 1) === 0 ? d[i / (d.length + 1)]! : 0)) });
  const r = mulberry32(77), C = 12;
  const differ = Array.from({ length: C }, () => -0.3 - r());
  const same = Array.from({ length: C }, () => -1);
  const bias1 = { shape: [C], data: new Float32Array(C).fill(1) };
  // conv 3 -> 12 [act] [+ residual conv] -> the 1x1 (ReLU) -> pixel shuffle
  const chain = (act: 'relu' | 'prelu', add: boolean, d: number[], seed: number): Graph => {
    const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 2 });
    const x = b.input(3);
    let h = b.conv('a', x, w([C, 3, 3, 3], seed), w([C], seed + 1), act === 'relu' ? { act: { kind: 'relu' } } : {});
    if (act === 'prelu') h = b.act('a.act', h, { kind: 'prelu', alpha: w([C], seed + 2) });
    if (add) h = b.act('a.relu', b.add('a.add', h, b.conv('r', x, w([C, 3, 3, 3], seed + 3), null)), { kind: 'relu' });
    return b.output(b.depthToSpace('d2s', b.conv('clip', h, diag(d), bias1, { act: { kind: 'relu' } }), 2));
  };
  const cases: Array<{ what: string; g: Graph; fused: boolean }> = [
    { what: 'after a ReLU, the same table for every channel', g: chain('relu', false, same, 10), fused: true },
    { what: 'after a ReLU, a table per channel', g: chain('relu', false, differ, 20), fused: true },
    { what: 'after a per-channel PReLU, a table per channel', g: chain('prelu', false, differ, 30), fused: true },
    { what: 'after an ADD and its ReLU, the same table for every channel', g: chain('relu', true, same, 40), fused: true },
    { what: 'after an ADD, a table per channel (not fused: the ADD table is shared)', g: chain('relu', true, differ, 50), fused: false },
  ];
  for (const { what, g, fused } of cases) {
    const qg = await calibrated(g, 3, 10, 12, 91);
    const x: Int8Tensor = { h: 7, w: 9, c: 3, data: randomInt8([7, 9, 3], r), q: qg.quant.act['input']! };
    const fast = compileInt8(qg), ref = compileInt8(qg, { kernels: false });
    try {
      assert.equal(fast.fused.includes('clip'), fused, `${what}: fused ${fast.fused.join(', ')}`);
      const y = fast.run({ input: x }).output!.data, want = ref.run({ input: x }).output!.data;
      assert.deepEqual(y, want, what);
      assert.ok(new Set(want).size > 8, `${what}: the output takes many values`);
    } finally {
      fast.dispose();
      ref.dispose();
    }
  }
});

test('the WASM int8 kernels (conv by int16 dot products with float32 requantization, with an activation, an ADD and a depth_to_space fused into its stores; depth_to_space) are bit-exact with the JavaScript reference on every quantizable zoo image family and odd sizes; dequantization gives scale * (q - zero point) in float32', async () => {
  await useEngine(1);
  // dequantization on the kernel: every int8 value, float64 product rounded once to float32
  const all = Int8Array.from({ length: 256 * 3 }, (_, i) => (i % 256) - 128);
  const qp = { scale: 0.0123456789, zeroPoint: -7 };
  const dq = dequantizeTensor({ h: 1, w: 256, c: 3, data: all, q: qp });
  assert.deepEqual(dq.toArray(), Float32Array.from(all, (v) => qp.scale * (v - qp.zeroPoint)));
  dq.dispose();
  // quantization on the kernel: quantizeValue's float32 division and rounding half away from zero
  const vals = [0, -0, 0.5, -0.5, 1.5, -1.5, 2.5, 1e-8, -1e-8, 1e30, -1e30, Infinity, -Infinity, NaN];
  for (let k = -300; k <= 300; k++) vals.push(k * qp.scale * 0.5, k * qp.scale * 0.5 + 1e-7, Math.fround(k * 0.01234));
  const xt = Tensor.from([1, 1, vals.length, 1], vals);
  const qt = quantizeTensor(xt, qp);
  xt.dispose();
  assert.deepEqual(qt.data, Int8Array.from(vals, (v) => quantizeValue(v, qp)));
  let seed = 1700;
  const fusedOps = new Set<string>();
  const eng = (await import('../src/tensor/engine.js')).engine();
  for (const [arch, argsOf] of SMALL_FAMILIES) {
    if (NO_INT8.test(arch)) continue;
    for (const s of [2, 3]) {
      const qg = await calibrated(randomGraph(arch, argsOf(s), seed++), 3, ...sized(arch, 10, 14), seed);
      const C = graphInputs(qg)[0]!.channels, r = mulberry32(seed);
      for (const [H, W] of [sized(arch, 5, 7), sized(arch, 13, 6)]) {
        const x: Int8Tensor = { h: H, w: W, c: C, data: randomInt8([H, W, C], r), q: qg.quant.act['input']! };
        const fast = compileInt8(qg), ref = compileInt8(qg, { kernels: false });
        try {
          const inUse = eng.bytesInUse, y = fast.run({ input: x }).output!;
          // the kernels' outputs stay in the engine's memory during the run: all released after it, the output copied out
          assert.equal(eng.bytesInUse, inUse, `${arch}: a run releases what it left in the engine's memory`);
          assert.ok(!(y.data.buffer instanceof SharedArrayBuffer), `${arch}: the output is a copy, not a view of the engine's memory`);
          assert.deepEqual(y.data, ref.run({ input: x }).output!.data, `${arch} x${s} ${H}x${W}`);
          for (const id of fast.fused) fusedOps.add(qg.nodes.find((n) => n.id === id)!.op);
        } finally {
          fast.dispose();
        }
      }
    }
  }
  // what the conv kernel's stores computed, in some family: activations (tanh, sigmoid, PReLU), a tail's ADD with its repeated input (the concat not built),
  // an outlier split's centre conv added through its per-channel tables (EFDN's re-parameterized convs split), depth_to_space
  assert.deepEqual([...fusedOps].sort(), ['act', 'add', 'concat', 'conv', 'depthToSpace']);
});

test('the int8 concat on the WASM kernel (s8_concat_into, 2 threads) puts each input in its channels, one at other parameters requantized as TFLite converts int8, as the JavaScript reference does', async () => {
  await useEngine(2);
  try {
    // inputs of 20, 11 and 5 channels (the kernel's 16-, 8- and 1-byte copies), b at other parameters than the concat's
    const r = mulberry32(4242), gb = new GraphBuilder({ arch: 'concat_probe', args: {}, scale: 1 });
    const x = gb.input(3);
    const conv = (id: string, O: number): string => gb.conv(id, x, { shape: [O, 3, 3, 3], data: Float32Array.from({ length: O * 27 }, () => r() - 0.5) }, null, { padding: 1 });
    const ids = [conv('a', 20), conv('b', 11), conv('c', 5)];
    const g0 = gb.output(gb.concat('cat', ids));
    const g: Graph = { ...g0, meta: { ...g0.meta, probe: true }, nodes: [...g0.nodes, ...ids.map((i) => ({ op: 'output' as const, id: `out_${i}`, inputs: [i] }))] };
    const qcat = { scale: 0.02, zeroPoint: -3 }, qb = { scale: 0.013, zeroPoint: 9 };
    const act = { input: { scale: 1 / 255, zeroPoint: -128 }, a: qcat, b: qb, c: qcat, cat: qcat, output: qcat, out_a: qcat, out_b: qb, out_c: qcat };
    const qg: QuantGraph = { ...g, quant: { scheme: 'int8', method: 'minmax', act, ...quantizeWeights(g) } };
    for (const [H, W] of [[7, 9], [12, 5]] as const) {
      const xi: Int8Tensor = { h: H, w: W, c: 3, data: randomInt8([H, W, 3], r), q: act.input };
      const fast = compileInt8(qg);
      try {
        const y = fast.run({ input: xi }), ref = compileInt8(qg, { kernels: false }).run({ input: xi });
        assert.deepEqual(y.output!.data, ref.output!.data, `${H}x${W}: kernel and reference`);
        // independently: each input's values (b's converted) at its channels of every pixel
        const parts = [y.out_a!.data, requantizeInt8(y.out_b!.data, qb, qcat), y.out_c!.data], Cs = [20, 11, 5];
        const want = new Int8Array(H * W * 36);
        for (let p = 0; p < H * W; p++) for (let k = 0, c0 = 0; k < 3; c0 += Cs[k]!, k++) for (let c = 0; c < Cs[k]!; c++) want[p * 36 + c0 + c] = parts[k]![p * Cs[k]! + c]!;
        assert.deepEqual(y.output!.data, want, `${H}x${W}: channels in place`);
        assert.ok(parts[1]!.some((v, i) => v !== y.out_b!.data[i]), 'b is converted, not copied');
      } finally {
        fast.dispose();
      }
    }
  } finally {
    await useEngine(1);
  }
});

/** One run of a quantized graph by mvsr and by onnxruntime-node (its QDQ .onnx, NHWC) on the same int8 input: values equal and the largest difference in int8 steps. */
async function ortAgreement(ort: Awaited<ReturnType<typeof loadOrtNode>>, qg: QuantGraph, H: number, W: number, seed: number, int8Tables = false): Promise<{ id: string; equal: number; maxSteps: number }[]> {
  const C = graphInputs(qg)[0]!.channels, r = mulberry32(seed), q = qg.quant.act['input']!;
  const x: Int8Tensor = { h: H, w: W, c: C, data: randomInt8([H, W, C], r), q };
  const y = compileInt8(qg).run({ input: x }).output!;
  const s = await ort.InferenceSession.create(exportOnnx(qg, { layout: 'nhwc', inputShape: [H, W], int8Tables }), sessionOptions(1));
  try {
    const got = (await s.run({ input: new ort.Tensor('float32', Float32Array.from(x.data, (v) => q.scale * (v - q.zeroPoint)), [1, H, W, C]) })).output!.data as Float32Array;
    let equal = 0, maxSteps = 0;
    for (let i = 0; i < got.length; i++) {
      const d = Math.abs(got[i]! - y.q.scale * (y.data[i]! - y.q.zeroPoint)) / y.q.scale;
      if (d < 1e-3) equal++;
      maxSteps = Math.max(maxSteps, d);
    }
    return [{ id: 'output', equal: equal / got.length, maxSteps }];
  } finally {
    await s.release();
  }
}

/** The first concat of an int8 graph with an input at other parameters than its own (requantized into it), or null. */
function requantizingConcat(qg: QuantGraph): string | null {
  const same = (a: QParams, b: QParams): boolean => a.scale === b.scale && a.zeroPoint === b.zeroPoint;
  return qg.nodes.find((n) => n.op === 'concat' && n.inputs.some((i) => !same(qg.quant.act[i]!, qg.quant.act[n.id]!)))?.id ?? null;
}

test('the QDQ .onnx of every quantizable zoo image family without PReLU or a requantizing concat runs in onnxruntime-node and equals mvsr\'s integer inference on >= 99.9% of the values, never more than 1 step off', { skip: noOrt }, async (t) => {
  await useEngine(1);
  const ort = await loadOrtNode();
  let seed = 1300;
  for (const [arch, argsOf] of SMALL_FAMILIES) {
    const args = argsOf(4), name = `${arch} x4 ${JSON.stringify(args)}`;
    // onnxruntime runs PRelu in float between DequantizeLinear and QuantizeLinear, TFLite in fixed point: one step apart on ~0.2% of values per layer
    if (NO_INT8.test(arch) || args.act_type === 'prelu' || arch === 'ELSR') continue;
    await t.test(name, async (st) => {
      const qg = await calibrated(randomGraph(arch, args, seed++), 4, ...sized(arch, 12, 16), seed);
      // onnxruntime requantizes a concat's inputs in float (DequantizeLinear, QuantizeLinear: exact rounding), TFLite's
      // XNNPACK path (and so mvsr) by an 8-bit multiplier: ~3% of an IMDN+ concat's values one step apart, compounding after it
      const cat = requantizingConcat(qg);
      if (cat) {
        st.skip(`concat '${cat}' requantizes its inputs, which onnxruntime rounds otherwise than TFLite`);
        return;
      }
      // onnxruntime runs an int8 bilinear resize in float between DequantizeLinear and QuantizeLinear,
      // TFLite's XNNPACK path (and mvsr) with 11-bit fixed-point weights: ~0.5% of a resize's values
      // one step apart (a lone conv -> stride-2 conv -> resize graph: 99.46%), compounding after it;
      // PReLU likewise (float in onnxruntime, fixed point in TFLite)
      const other = qg.nodes.find((n) => ((n.op === 'resize' || n.op === 'resizeLike') && n.mode === 'bilinear') || (n.op === 'act' && n.act.kind === 'prelu'));
      if (other) {
        st.skip(`${other.op} '${other.id}' is rounded otherwise by onnxruntime than by TFLite`);
        return;
      }
      assertAgreement(await ortAgreement(ort, qg, ...sized(arch, 9, 11), seed), `${name} QDQ in onnxruntime`);
    });
  }
});

test('with int8Tables the .onnx of every quantizable zoo image family, PReLU, tanh / sigmoid, requantizing concats and bilinear resizes (ESA) included, equals mvsr\'s integer inference in onnxruntime-node on >= 99.9% of the values, never more than 1 step off', { skip: noOrt }, async (t) => {
  await useEngine(1);
  const ort = await loadOrtNode();
  let seed = 1500, tabled = 0, resized = 0;
  for (const [arch, argsOf] of SMALL_FAMILIES) {
    if (NO_INT8.test(arch)) continue;
    for (const args of [argsOf(4), { ...argsOf(4), act_type: 'prelu' }].filter((a, i) => i === 0 || 'act_type' in argsOf(4))) {
      const name = `${arch} x4 ${JSON.stringify(args)}`;
      await t.test(name, async (st) => {
        const qg = await calibrated(randomGraph(arch, args, seed++), 4, ...sized(arch, 12, 16), seed);
        if (qg.nodes.some((n) => (n.op === 'resize' || n.op === 'resizeLike') && n.mode === 'bilinear')) resized++;
        if (qg.nodes.some((n) => (n.op === 'act' && n.act.kind !== 'relu' && n.act.kind !== 'clamp') || requantizingConcat(qg))) tabled++;
        assertAgreement(await ortAgreement(ort, qg, ...sized(arch, 9, 11), seed, true), `${name} QDQ with tables in onnxruntime`);
      });
    }
  }
  assert.ok(tabled >= 3, `families with table ops were exported with int8Tables (${tabled})`);
  assert.ok(resized >= 3, `families with bilinear resizes were exported with int8Tables (${resized})`);
});

for (const [arch, args] of [...SMALL_VIDEO, RLFB_VIDEO]) {
  // what has no integer form yet is refused by name: channel attention's global pooling, VAB's
  // dilated depthwise conv (and layer norm); grouped convs are split per group. Global alignment
  // runs on the host: the .tflite takes the moved frames and state (graph/host-align.ts)
  const refused = args.block === 'imdb' ? /node '[^']+' \(globalPool\): global pooling \(channel attention\) is not quantized yet/
        : args.block === 'vab' ? /node '[^']+' \(conv\): a dilated conv \(dilation \d+\) is not quantized yet/ : null;
  test(`${arch} ${JSON.stringify(args)}: the int8 step graph${refused ? ' (no integer form yet: refused by name)' : ', run a clip frame by frame in LiteRT.js with the state fed back as uint8, equals mvsr\'s integer inference'}`, { skip: noLiteRt }, async () => {
    await useEngine(1);
    const m = model(arch, args);
    const g = stepGraph(m);
    m.dispose();
    const [H, W] = args.block === 'rlfb' ? [16, 20] : [8, 10];
    const v = g.meta.video!, T = v.count > 1 ? 2 * v.count : 6;
    const samples = randomSamples(2, T, H, W, 3, 77);
    try {
      if (refused) {
        await assert.rejects(calibrateGraph(g, samples), refused);
        return;
      }
      const qg = await calibrateGraph(g, samples, { method: 'minmax' });
      const prog = compileInt8(qg), shapes = inferShapes(qg, H, W), r = mulberry32(5), { align } = hostAlignment(qg);
      const tm = await TfliteModel.create(exportTflite(qg, { inputShape: [H, W], int8: true, io: 'uint8' }));
      try {
        const clip = Array.from({ length: T }, () => randomInt8([H, W, 3], r));
        let state: Record<string, Int8Array> = Object.fromEntries(v.state.map((s) => [s.input, new Int8Array(shapes.get(s.input)!.reduce((a, b) => a * b, 1)).fill(qg.quant.act[s.input]!.zeroPoint)]));
        let stateU8: Record<string, Uint8Array> = Object.fromEntries(Object.entries(state).map(([k, x]) => [k, Uint8Array.from(x, (y) => y + 128)]));
        for (let first = 0; first + v.count <= T; first += v.count) {
          const idx = Array.from({ length: v.frames.length }, (_, k) => Math.min(T - 1, Math.max(0, first - v.window.past + k)));
          const ins: Record<string, Int8Tensor> = {}, feeds: Record<string, TfliteData> = { ...stateU8 };
          v.frames.forEach((id, k) => {
            ins[id] = { h: H, w: W, c: 3, data: clip[idx[k]!]!, q: qg.quant.act[id]! };
            feeds[id] = Uint8Array.from(clip[idx[k]!]!, (y) => y + 128);
          });
          for (const s of v.state) { const [h, w, c] = shapes.get(s.input)!; ins[s.input] = { h, w, c, data: state[s.input]!, q: qg.quant.act[s.input]! }; }
          if (align) {
            // the host's part, on LiteRT's side of the state: shifts from the frames, then the moved inputs as uint8
            const own: Record<string, Int8Tensor> = { ...ins };
            for (const s of v.state) own[s.input] = { ...ins[s.input]!, data: Int8Array.from(stateU8[s.input]!, (y) => y - 128) };
            const shift = new Map(align.shifts.map((d) => [d.id, int8EstimateShift(own[d.prev]!, own[d.cur]!, d.radius)]));
            for (const t of align.inputs) feeds[t.id] = Uint8Array.from(int8Translate(own[t.from]!, shift.get(t.shift)!, t.factor).data, (y) => y + 128);
          }
          const ref = prog.run(ins), got = await tm.run(feeds);
          for (const id of v.outputs) {
            const want = requantize(ref[id]!.data, ref[id]!.q, UINT8_PIXELS, 0, 255, new Uint8Array(ref[id]!.data.length));
            const g8 = got[id]!.data as Uint8Array;
            // one int8 step of the output is 255 * scale pixel levels, and never less than one level
            const step = Math.max(1, Math.ceil(255 * ref[id]!.q.scale - 1e-9));
            let equal = 0, max = 0;
            for (let i = 0; i < want.length; i++) { const d = Math.abs(want[i]! - g8[i]!); if (d === 0) equal++; max = Math.max(max, d); }
            // (at least 99.9 % equal; on the 960-value frames of 8x10 that allows one value)
            assert.ok(want.length - equal <= Math.max(1, 0.001 * want.length) && max <= step, `frame ${first} ${id}: ${(100 * equal / want.length).toFixed(2)}% equal, ${max} levels apart (one step is ${step})`);
          }
          // each side carries its own state, as an app would
          state = Object.fromEntries(v.state.map((s) => [s.input, ref[s.output]!.data]));
          stateU8 = Object.fromEntries(v.state.map((s) => [s.input, got[s.output]!.data as Uint8Array]));
        }
      } finally {
        tm.dispose();
      }
    } finally {
      freeSamples(samples);
    }
  });
}

test('the MAI deliverable: mvsr quantize rlsp-x4, mvsr export --int8 --io uint8 --input 180x320; LiteRT.js runs the file on a 180x320 clip frame by frame, the host aligning as its metadata says, and equals mvsr\'s integer inference', { skip: noLiteRt }, async () => {
  await useEngine(1);
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-mai-'));
  try {
    const { writeImage } = await import('../src/io/image.node.js');
    const { renderSampleFrame } = await import('../src/data/synthetic.js');
    // calibration: one panning clip (frames of the sample scene, 128x96 HR -> 32x24 LR)
    const clip = join(dir, 'calib', 'pan');
    mkdirSync(clip, { recursive: true });
    for (let t = 0; t < 4; t++) await writeImage(join(clip, `im${t}.png`), renderSampleFrame(4 * t, { width: 128, height: 96, supersample: 1 }));
    const q = join(dir, 'rlsp-int8.safetensors'), file = join(dir, 'rlsp-int8.tflite');
    const a = mvsr('quantize', 'rlsp-x4', '--calib', join(dir, 'calib'), '--frames', '4', '-o', q);
    assert.equal(a.status, 0, a.stderr);
    const e = mvsr('export', q, '--int8', '--io', 'uint8', '--input', '180x320', '-o', file);
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stderr, /global alignment runs on the host/);
    const bytes = new Uint8Array(readFileSync(file));
    // what the host must do comes from the file itself
    const align = JSON.parse(readTfliteMetadata(bytes).mvsr_host_align!) as HostAlign;
    const qg = loadGraphFile(q) as QuantGraph, v = qg.meta.video!, shapes = inferShapes(qg, 180, 320);
    const tm = await TfliteModel.create(bytes);
    try {
      const ins = new Map(tm.inputs().map((i) => [i.name, i]));
      for (const t of align.inputs) assert.deepEqual([ins.get(t.id)?.dtype, ins.get(t.id)?.shape], ['uint8', [1, ...shapes.get(t.from)!]], `input ${t.id}`);
      assert.deepEqual(tm.outputs().find((o) => o.name === v.outputs[0])?.shape, [1, 720, 1280, 3]);
      const prog = compileInt8(qg);
      // the clip: 4 LR frames of a pan, 180x320, as uint8 pixels (int8 = uint8 - 128 at the pixel parameters)
      const frames = Array.from({ length: 4 }, (_, t) => Int8Array.from(renderSampleFrame(3 * t, { width: 320, height: 180, supersample: 1 }).data, (y) => y - 128));
      const zeros = (id: string): Int8Array => new Int8Array(shapes.get(id)!.reduce((x, y) => x * y, 1)).fill(qg.quant.act[id]!.zeroPoint);
      let mine: Record<string, Int8Array> = Object.fromEntries(v.state.map((st) => [st.input, zeros(st.input)]));
      let theirs: Record<string, Int8Array> = { ...mine };
      const tensor = (id: string, data: Int8Array): Int8Tensor => { const [h, w, c] = shapes.get(id)!; return { h, w, c, data, q: qg.quant.act[id]! }; };
      let moved = 0;
      for (let t = 0; t < frames.length; t++) {
        const idx = windowIndices(frames.length, t, v.count, v.window);
        const step: Record<string, Int8Array> = Object.fromEntries(v.frames.map((id, k) => [id, frames[idx[k]!]!]));
        const ref = prog.run(Object.fromEntries([...Object.entries({ ...step, ...mine })].map(([id, d]) => [id, tensor(id, d)])));
        // the host: shifts from the frames, the moved frames and state (LiteRT's own) as uint8
        const own = { ...step, ...theirs };
        const shift = new Map(align.shifts.map((d) => [d.id, int8EstimateShift(tensor(d.prev, own[d.prev]!), tensor(d.cur, own[d.cur]!), d.radius)]));
        for (const d of shift.values()) if (d[0] !== 0 || d[1] !== 0) moved++;
        const feeds: Record<string, TfliteData> = {};
        for (const [id, d] of Object.entries(own)) feeds[id] = Uint8Array.from(d, (y) => y + 128);
        for (const m of align.inputs) feeds[m.id] = Uint8Array.from(int8Translate(tensor(m.from, own[m.from]!), shift.get(m.shift)!, m.factor).data, (y) => y + 128);
        const got = await tm.run(feeds);
        for (const id of v.outputs) {
          const want = requantize(ref[id]!.data, ref[id]!.q, UINT8_PIXELS, 0, 255, new Uint8Array(ref[id]!.data.length)), g8 = got[id]!.data as Uint8Array;
          const stepLevels = Math.max(1, Math.ceil(255 * ref[id]!.q.scale - 1e-9));
          let equal = 0, max = 0;
          for (let i = 0; i < want.length; i++) { const d = Math.abs(want[i]! - g8[i]!); if (d === 0) equal++; max = Math.max(max, d); }
          assert.ok(equal >= 0.999 * want.length && max <= stepLevels, `frame ${t}: ${(100 * equal / want.length).toFixed(3)}% equal, ${max} levels apart (one step is ${stepLevels})`);
          console.log(`rlsp-x4 int8 .tflite, frame ${t}: shifts ${[...shift.values()].map((d) => `(${d[0]!.toFixed(2)}, ${d[1]!.toFixed(2)})`).join(' ')}; ${(100 * equal / want.length).toFixed(3)}% of the HR values equal mvsr's, at most ${max} level(s) apart`);
        }
        mine = Object.fromEntries(v.state.map((st) => [st.input, ref[st.output]!.data]));
        theirs = Object.fromEntries(v.state.map((st) => [st.input, Int8Array.from(got[st.output]!.data as Uint8Array, (y) => y - 128)]));
      }
      assert.ok(moved >= 3, `the pan moves the frames (${moved} non-zero shifts)`);
      prog.dispose();
    } finally {
      tm.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a quantized model file round-trips: the same int8 outputs, the same .tflite bytes', async () => {
  await useEngine(1);
  const qg = await calibrated(randomGraph('ECBSR', { upscale: 2, num_block: 2, num_feat: 8, act_type: 'prelu' }, 3), 3, 10, 10, 4, 'percentile');
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-quant-'));
  try {
    const file = join(dir, 'm-int8.safetensors');
    saveGraphFile(file, qg);
    const back = loadGraphFile(file) as QuantGraph;
    assert.deepEqual(back.quant, qg.quant);
    const x: Int8Tensor = { h: 6, w: 7, c: 3, data: randomInt8([6, 7, 3], mulberry32(1)), q: qg.quant.act['input']! };
    assert.deepEqual(compileInt8(back).run({ input: x }).output!.data, compileInt8(qg).run({ input: x }).output!.data);
    assert.deepEqual(exportTflite(back, { inputShape: [6, 7], int8: true }), exportTflite(qg, { inputShape: [6, 7], int8: true }));
    assert.equal(loadGraphFile(join(dir, 'nope.onnx')), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mvsr quantize -> eval (int8) -> export --int8 --io uint8 runs in LiteRT.js; bad input is one line and leaves no file', { skip: noLiteRt }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-quant-cli-'));
  try {
    // calibration and test images: smooth random pictures written by mvsr's own PNG writer
    const calib = join(dir, 'calib'), data = join(dir, 'data'), empty = join(dir, 'empty');
    for (const d of [calib, data, empty]) mkdirSync(d);
    const { writeImage } = await import('../src/io/image.node.js');
    const r = mulberry32(9);
    for (const [folder, n] of [[calib, 3], [data, 2]] as const) {
      for (let i = 0; i < n; i++) {
        const W = 48, H = 36, px = new Uint8Array(W * H * 3);
        const fx = 1 + r() * 4, fy = 1 + r() * 4;
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) px[(y * W + x) * 3 + c] = Math.round(127.5 + 100 * Math.sin(x / fx + c) * Math.cos(y / fy) + 20 * (r() - 0.5));
        await writeImage(join(folder, `p${i}.png`), { width: W, height: H, channels: 3, bitDepth: 8, data: px });
      }
    }
    const q = join(dir, 'etds-int8.safetensors');
    const a = mvsr('quantize', 'etds-t-x4', '--calib', calib, '--samples', '6', '--patch', '8', '-o', q);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stderr, /int8 \(mse\) from 6 patches of 3 file\(s\)/);
    const e = mvsr('eval', '-m', q, '--data', data, '--json');
    assert.equal(e.status, 0, e.stderr);
    const ej = JSON.parse(e.stdout) as { psnr: number; model: { arch: string } };
    assert.match(ej.model.arch, /int8/);
    const f = mvsr('eval', '-m', 'etds-t-x4', '--data', data, '--json');
    const fj = JSON.parse(f.stdout) as { psnr: number };
    assert.ok(Math.abs(ej.psnr - fj.psnr) < 2, `int8 ${ej.psnr} dB vs float ${fj.psnr} dB`);
    const t8 = join(dir, 'etds-int8.tflite');
    const x = mvsr('export', q, '--int8', '--io', 'uint8', '--input', '9x12', '-o', t8);
    assert.equal(x.status, 0, x.stderr);
    const tm = await TfliteModel.create(new Uint8Array(readFileSync(t8)));
    try {
      assert.deepEqual(tm.inputs().map((i) => [i.name, i.dtype, i.shape]), [['input', 'uint8', [1, 9, 12, 3]]]);
      assert.deepEqual(tm.outputs().map((i) => [i.name, i.dtype, i.shape]), [['output', 'uint8', [1, 36, 48, 3]]]);
    } finally {
      tm.dispose();
    }
    // the table form of the .onnx: a Gather per table op (etds-t-x4 has only ReLUs: none, so the file is the plain QDQ one)
    const o8 = join(dir, 'etds-int8.onnx');
    const xo = mvsr('export', q, '--int8-tables', '--nhwc', '--input', '9x12', '-o', o8);
    assert.equal(xo.status, 0, xo.stderr);
    assert.match(xo.stderr, /int8 QDQ with table lookups/);
    const before = readdirSync(dir).sort();
    const bad: [string[], RegExp][] = [
      [['export', 'etds-t-x4', '--int8-tables', '-o', join(dir, 'u.onnx')], /--int8-tables: etds-t-x4 is not a quantized model/],
      [['export', q, '--int8-tables', '-o', join(dir, 'u.tflite')], /--int8-tables are ONNX options/],
      [['export', 'etds-t-x4', '--int8', '-o', join(dir, 'x.tflite')], /etds-t-x4 is not a quantized model: --int8 needs calibration first/],
      [['quantize', 'etds-t-x4', '--calib', empty, '-o', join(dir, 'y.safetensors')], /empty: no PNG\/JPEG\/WebP images to calibrate on/],
      [['quantize', 'rlsp-x4', '--calib', empty, '-o', join(dir, 'z.safetensors')], /empty: no clips \(a clip is a video file or a folder/],
      [['quantize', 'etds-t-x4', '--calib', calib, '--method', 'kl', '-o', join(dir, 'w.safetensors')], /--method must be one of minmax, percentile, mse/],
      [['export', q, '--io', 'uint8', '-o', join(dir, 'v.tflite')], /--io goes with --int8/],
    ];
    for (const [args, re] of bad) {
      const b = mvsr(...args);
      assert.notEqual(b.status, 0);
      assert.match(b.stderr, re);
      assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
    }
    assert.deepEqual(readdirSync(dir).sort(), before, 'no partial output');
    assert.ok(existsSync(q));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- quantization-aware training ----

test('fakeQuant rounds to the int8 grid and passes the gradient only inside the representable range (straight-through); per-channel weights keep every value in range', async () => {
  await useEngine(1);
  const { leaf, backward, clearTape } = await import('../src/autograd/var.js');
  const { fakeQuant, fakeQuantPerChannel } = await import('../src/autograd/ops/quant.js');
  const q = { scale: 0.05, zeroPoint: -20 }, lo = Math.fround(q.scale * (-128 - q.zeroPoint)), hi = Math.fround(q.scale * (127 - q.zeroPoint));
  const xs = [-10, lo - 0.01, lo, -0.024, 0.026, 1.234, hi, hi + 0.5, 0];
  const x = leaf(Tensor.from([1, 1, 1, xs.length], xs), true);
  const y = fakeQuant(x, q.scale, q.zeroPoint);
  xs.forEach((v, i) => {
    const k = Math.min(127, Math.max(-128, Math.round(v / q.scale) + q.zeroPoint));
    assert.ok(Math.abs(y.value.data[i]! - q.scale * (k - q.zeroPoint)) < 1e-6, `${v} -> ${y.value.data[i]}`);
  });
  backward(y);
  assert.deepEqual(Array.from(x.grad!.data), xs.map((v) => (Math.fround(v) >= lo && Math.fround(v) <= hi ? 1 : 0)));
  clearTape();
  const w = leaf(Tensor.from([2, 1, 1, 3], [0.5, -1, 0.25, 3, 0.01, -2]), true);
  const wq = fakeQuantPerChannel(w);
  assert.deepEqual(Array.from(wq.value.data).map((v) => +v.toFixed(4)), [0.5, -1, 0.252, 3, 0, -2].map((v, i) => +(i < 3 ? Math.round(v * 127) / 127 : Math.round(v / (3 / 127)) * (3 / 127)).toFixed(4)));
  clearTape();
  x.value.dispose();
  w.value.dispose();
});

test('quantizationReport (mvsr quantize --report): each conv\'s int8 weight SNR equals a naive per-channel symmetric quantization\'s; a weight on the grid is exact (Infinity)', async () => {
  await useEngine(1);
  const g = randomGraph('Plain', { upscale: 2, num_block: 2, num_feat: 8 }, 77, 0.3);
  const conv0 = g.nodes.find((n) => n.op === 'conv')!;
  if (conv0.op !== 'conv') throw new Error('unreachable');
  // the first conv's weights made integers in [-127, 127] with 127 in every output channel: scale 1, all on the grid
  const w0 = g.weights[conv0.weight]!, inner = w0.data.length / w0.shape[0]!;
  for (let i = 0; i < w0.data.length; i++) w0.data[i] = i % inner === 0 ? 127 : Math.round(w0.data[i]! * 300) % 127;
  const qg = await calibrated(g, 2, 10, 10, 78);
  const { quantizationReport } = await import('../src/graph/quant.js');
  const rows = quantizationReport(qg);
  assert.equal(rows.length, qg.nodes.filter((n) => n.op === 'conv').length);
  for (const r of rows) {
    const w = qg.weights[r.weight]!, O = w.shape[0]!, k = w.data.length / O;
    let sig = 0, err = 0;
    for (let o = 0; o < O; o++) {
      let m = 0;
      for (let i = 0; i < k; i++) m = Math.max(m, Math.abs(w.data[o * k + i]!));
      const sc = Math.fround(m / 127);
      for (let i = 0; i < k; i++) {
        const v = w.data[o * k + i]!, q = Math.max(-127, Math.min(127, Math.sign(v) * Math.round(Math.abs(v) / sc)));
        sig += v * v;
        err += (v - q * sc) ** 2;
      }
    }
    const want = err > 0 ? 10 * Math.log10(sig / err) : Infinity;
    if (r.id === conv0.id) assert.equal(r.weightSnrDb, Infinity, 'integer weights at scale 1 are exact');
    else assert.ok(Math.abs(r.weightSnrDb - want) < 1e-9, `${r.id}: ${r.weightSnrDb} vs naive ${want}`);
    assert.deepEqual(r.range, qRange(qg.quant.act[r.id]!));
  }
});

test('learned ranges (fakeQuantRange): the clipping gradient equals finite differences; trained on Gaussian data from too wide and too narrow a range, the range reaches the round-trip error of the best clipping a brute-force search finds', async () => {
  await useEngine(1);
  const { leaf, backward, clearTape } = await import('../src/autograd/var.js');
  const { fakeQuantRange } = await import('../src/autograd/ops/quant.js');
  const { l1Loss, mseLoss } = await import('../src/autograd/ops/loss.js');
  const { Adam } = await import('../src/train/optim.js');
  // every value above the range: the output is hi, so d sum(y) / d hi = N (scaled by LSQ's 1 / sqrt(N * 255))
  {
    const xs = [3, 4.5, 10, 7], N = xs.length, f = (hi: number) => { const q = chooseQParams(0, hi); return N * q.scale * (127 - q.zeroPoint); };
    const x = leaf(Tensor.from([N], xs)), range = leaf(Tensor.from([2], [0, 2]), true);
    const y = fakeQuantRange(x, range, chooseQParams(0, 2));
    const zero = leaf(Tensor.zeros([N]));
    backward(l1Loss(y, zero));
    zero.value.dispose();
    const fd = (f(2 + 1e-3) - f(2 - 1e-3)) / 2e-3 / N;
    assert.ok(Math.abs(range.grad!.data[1]! * Math.sqrt(N * 255) - fd) < 1e-3, `d/dhi ${range.grad!.data[1]! * Math.sqrt(N * 255)} vs finite differences ${fd}`);
    assert.equal(range.grad!.data[0], 0);
    clearTape();
    x.value.dispose();
    range.value.dispose();
  }
  // N(0, 1) samples: MSE of the round trip at symmetric clipping c, brute force over c
  const r = new Rng(5), N = 4096, xs = Array.from({ length: N }, () => r.normal());
  const mse = (q: QParams): number => xs.reduce((a, v) => a + (q.scale * (Math.max(-128, Math.min(127, roundHalfAway(v / q.scale) + q.zeroPoint)) - q.zeroPoint) - v) ** 2, 0) / N;
  let best = Infinity;
  for (let c = 0.5; c <= 8; c += 0.01) best = Math.min(best, mse(chooseQParams(-c, c)));
  for (const start of [[-16, 16], [-0.6, 0.6]]) {
    const x = leaf(Tensor.from([N], xs)), range = leaf(Tensor.from([2], start), true);
    const opt = new Adam([range], { lr: 0.1, betas: [0.9, 0.99] }); // as fineTuneGraph trains ranges
    const first = mse(chooseQParams(start[0]!, start[1]!));
    for (let it = 0; it < 2000; it++) {
      opt.lr = 0.1 * 0.5 * (1 + Math.cos((Math.PI * it) / 2000)); // cosine-decayed, as fineTuneGraph does
      const [lo, hi] = range.value.toArray();
      backward(mseLoss(fakeQuantRange(x, range, chooseQParams(lo!, hi!)), x));
      opt.update();
      opt.zeroGrad();
      clearTape();
    }
    const [lo, hi] = range.value.toArray();
    const got = mse(chooseQParams(lo!, hi!));
    console.log(`from [${start}]: learned [${lo!.toFixed(3)}, ${hi!.toFixed(3)}], MSE ${got.toExponential(3)}, best clipping ${best.toExponential(3)}`);
    assert.ok(got < 1.15 * best && got < 0.5 * first, `from [${start}]: learned [${lo!.toFixed(3)}, ${hi!.toFixed(3)}], MSE ${got.toExponential(3)} against the best clipping's ${best.toExponential(3)} (start ${first.toExponential(3)})`);
    opt.dispose();
    x.value.dispose();
    range.value.dispose();
  }
});

/** Three 64x64 smooth pictures (products of sines) written as PNGs into `dir`: QAT tests' training photos. */
async function smoothPictures(dir: string, r: () => number): Promise<{ hr: Uint8Array; W: number; H: number }[]> {
  const { writeImage } = await import('../src/io/image.node.js');
  const pics: { hr: Uint8Array; W: number; H: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const PW = 64, PH = 64, px = new Uint8Array(PW * PH * 3), fx = 3 + 4 * r(), fy = 3 + 4 * r();
    for (let y = 0; y < PH; y++) for (let x = 0; x < PW; x++) for (let c = 0; c < 3; c++) px[(y * PW + x) * 3 + c] = Math.round(127.5 + 110 * Math.sin(x / fx + 2 * c) * Math.cos(y / fy));
    await writeImage(join(dir, `s${i}.png`), { width: PW, height: PH, channels: 3, bitDepth: 8, data: px });
    pics.push({ hr: px, W: PW, H: PH });
  }
  return pics;
}

test('QAT to the float model (--qat-target float): fine-tuning lowers the int8 model\'s distance to the float model\'s own output (mvsr\'s float runtime), and the file records the target', async () => {
  await useEngine(1);
  const { fineTuneGraph } = await import('../src/train/graph-tune.node.js');
  const { compileGraph } = await import('../src/runtime/wasm.js');
  const { makePair } = await import('../src/data/pairs.js');
  const g = randomGraph('ECBSRT', { upscale: 2, num_block: 2, num_feat: 8, act_type: 'prelu' }, 12, 0.3);
  const qg = await calibrated(g, 4, 12, 12, 13);
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-qat-float-'));
  try {
    const pics = await smoothPictures(dir, mulberry32(3));
    const fl = compileGraph(g);
    const dist = (q: QuantGraph): number => {
      let s = 0, n = 0;
      const prog = compileInt8(q);
      for (const p of pics) {
        const { lr } = makePair({ width: p.W, height: p.H, channels: 3, bitDepth: 8, data: p.hr }, 2, 2);
        const xf = Tensor.from([1, lr.height, lr.width, 3], Float32Array.from(lr.data, (v) => v / 255));
        const want = fl.run(xf).toArray();
        xf.dispose();
        const y = prog.run({ input: { h: lr.height, w: lr.width, c: 3, data: Int8Array.from(lr.data, (v) => v - 128), q: q.quant.act['input']! } }).output!;
        for (let i = 0; i < y.data.length; i++) { s += Math.abs(y.q.scale * (y.data[i]! - y.q.zeroPoint) - want[i]!); n++; }
      }
      return s / n;
    };
    // the same 40 steps to the HR patches move the int8 model away from the float one; to the float model, towards it
    const before = dist(qg);
    const tuned = await fineTuneGraph(qg, { dirs: [dir], iterations: 40, lr: 3e-4, batchSize: 4, patch: 12, seed: 1, target: 'float' });
    const toHr = await fineTuneGraph(qg, { dirs: [dir], iterations: 40, lr: 3e-4, batchSize: 4, patch: 12, seed: 1 });
    const [after, afterHr] = [dist(tuned), dist(toHr)];
    fl.dispose();
    assert.ok(after < before && after < 0.8 * afterHr, `int8 to float L1 ${before.toFixed(5)} -> ${after.toFixed(5)} after 40 QAT steps to the float model, ${afterHr.toFixed(5)} to the HR`);
    assert.equal((tuned.quant.calibration as { qat?: { target?: string } }).qat?.target, 'float');
    await assert.rejects(fineTuneGraph(qg, { dirs: [dir], iterations: 1, target: 'teacher' as never }), /the target must be hr or float/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('QAT: the fake-quantized graph tracks mvsr\'s integer inference, and fine-tuning through it lowers the int8 model\'s L1 on its training patches', async () => {
  await useEngine(1);
  const { GraphNet } = await import('../src/train/graph-net.js');
  const { fineTuneGraph } = await import('../src/train/graph-tune.node.js');
  const { noGrad, leaf, clearTape } = await import('../src/autograd/var.js');
  const qg = await calibrated(randomGraph('ECBSRT', { upscale: 2, num_block: 2, num_feat: 8, act_type: 'prelu' }, 12, 0.3), 4, 12, 12, 13);
  // simulated vs integer: the same int8 model to within a few output steps
  const r = mulberry32(2), H = 10, W = 12;
  const xi: Int8Tensor = { h: H, w: W, c: 3, data: randomInt8([H, W, 3], r), q: qg.quant.act['input']! };
  const ref = compileInt8(qg).run({ input: xi }).output!;
  const net = new GraphNet(qg);
  const xf = Tensor.from([1, H, W, 3], Array.from(xi.data, (v) => xi.q.scale * (v - xi.q.zeroPoint)));
  const sim = noGrad(() => net.forward(leaf(xf))).value.toArray();
  clearTape();
  net.dispose();
  xf.dispose();
  let close = 0;
  for (let i = 0; i < sim.length; i++) if (Math.abs(sim[i]! - ref.q.scale * (ref.data[i]! - ref.q.zeroPoint)) <= 2 * ref.q.scale + 1e-6) close++;
  assert.ok(close / sim.length >= 0.99, `only ${(100 * close / sim.length).toFixed(2)}% of the fake-quantized outputs within 2 steps of the integer ones`);
  // fine-tuning on smooth pictures: the int8 model (integer executor) gets closer to the HR
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-qat-'));
  try {
    const pics = await smoothPictures(dir, r);
    const { makePair } = await import('../src/data/pairs.js');
    const l1 = (q: QuantGraph): number => {
      let s = 0, n = 0;
      const prog = compileInt8(q);
      for (const p of pics) {
        const { hr, lr } = makePair({ width: p.W, height: p.H, channels: 3, bitDepth: 8, data: p.hr }, 2, 2);
        const xq: Int8Tensor = { h: lr.height, w: lr.width, c: 3, data: Int8Array.from(lr.data, (v) => v - 128), q: q.quant.act['input']! };
        const y = prog.run({ input: xq }).output!;
        for (let i = 0; i < y.data.length; i++) { s += Math.abs(y.q.scale * (y.data[i]! - y.q.zeroPoint) - hr.data[i]! / 255); n++; }
      }
      return s / n;
    };
    const before = l1(qg);
    const tuned = await fineTuneGraph(qg, { dirs: [dir], iterations: 40, lr: 3e-3, batchSize: 4, patch: 12, seed: 1 });
    const after = l1(tuned);
    assert.ok(after < before * 0.9, `int8 L1 ${before.toFixed(5)} -> ${after.toFixed(5)} after 40 QAT steps`);
    assert.deepEqual(tuned.quant.act, qg.quant.act, 'activation parameters are kept');
    assert.ok((tuned.quant.calibration as { qat?: { iterations?: number } }).qat?.iterations === 40);
    // learned ranges: the same run training the observed tensors' ranges too; the int8 file it
    // writes has new, consistent parameters (LiteRT.js runs its .tflite exactly as mvsr does)
    const learned = await fineTuneGraph(qg, { dirs: [dir], iterations: 40, lr: 3e-3, batchSize: 4, patch: 12, seed: 1, learnRanges: true, rangeLr: 3e-2 });
    const afterLearned = l1(learned);
    assert.ok(afterLearned < before * 0.9, `int8 L1 ${before.toFixed(5)} -> ${afterLearned.toFixed(5)} after 40 QAT steps with learned ranges`);
    const moved = Object.keys(qg.quant.act).filter((id) => learned.quant.act[id]!.scale !== qg.quant.act[id]!.scale);
    assert.ok(moved.length >= 3, `the learned ranges moved (${moved.length} tensors)`);
    assert.equal((learned.quant.calibration as { qat?: { learnedRanges?: number } }).qat?.learnedRanges! > 0, true);
    if (!noLiteRt) assertAgreement(await agreement(learned, 9, 11, 'float32', 14), 'learned ranges in LiteRT.js');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('video QAT: an aligned step graph fake-quantized and run frame by frame tracks mvsr\'s integer inference; fine-tuning on sequences (state carried, BPTT) lowers the int8 model\'s L1 on its clip', async () => {
  await useEngine(1);
  const { GraphNet } = await import('../src/train/graph-net.js');
  const { fineTuneGraph, runSequence } = await import('../src/train/graph-tune.node.js');
  const { noGrad, leaf, clearTape } = await import('../src/autograd/var.js');
  const { writeImage } = await import('../src/io/image.node.js');
  const { renderSampleFrame } = await import('../src/data/synthetic.js');
  const { makePair } = await import('../src/data/pairs.js');
  // random weights small enough that the recurrence does not amplify a rounding difference (as trained ones)
  const m = model('RLSP', { upscale: 2, num_feat: 6, num_layer: 3, align: 'global', align_radius: 2 }, 7, 0.15);
  const g = stepGraph(m);
  m.dispose();
  // a pan of the sample scene: HR 64x48 frames, LR 32x24 by MATLAB bicubic
  const T = 4, pairs = Array.from({ length: T }, (_, t) => makePair(renderSampleFrame(4 * t, { width: 64, height: 48, supersample: 1 }), 2, 2));
  const lrT = (t: number) => Tensor.from([1, 24, 32, 3], Array.from(pairs[t]!.lr.data, (v) => v / 255));
  const samples: CalibrationSample[] = [{ frames: Array.from({ length: T }, (_, t) => lrT(t)) }];
  const qg = await calibrateGraph(g, samples, { method: 'minmax' });
  freeSamples(samples);
  const v = qg.meta.video!, shapes = inferShapes(qg, 24, 32);
  // the int8 model on the clip, step by step with its state carried: its L1 to the HR frames and its outputs
  const integer = (q: QuantGraph): { l1: number; outs: Float32Array[] } => {
    const prog = compileInt8(q);
    let state: Record<string, Int8Tensor> = Object.fromEntries(v.state.map((st) => { const [h, w, c] = shapes.get(st.input)!; return [st.input, { h, w, c, data: new Int8Array(h * w * c).fill(q.quant.act[st.input]!.zeroPoint), q: q.quant.act[st.input]! }]; }));
    let s = 0, n = 0;
    const outs: Float32Array[] = [];
    for (let t = 0; t < T; t++) {
      const idx = windowIndices(T, t, 1, v.window);
      const ins: Record<string, Int8Tensor> = { ...state };
      v.frames.forEach((id, k) => { ins[id] = { h: 24, w: 32, c: 3, data: Int8Array.from(pairs[idx[k]!]!.lr.data, (x) => x - 128), q: q.quant.act[id]! }; });
      const r = prog.run(ins), y = r[v.outputs[0]!]!, hr = pairs[t]!.hr.data;
      const f = Float32Array.from(y.data, (x) => y.q.scale * (x - y.q.zeroPoint));
      outs.push(f);
      for (let i = 0; i < f.length; i++) { s += Math.abs(f[i]! - hr[i]! / 255); n++; }
      state = Object.fromEntries(v.state.map((st) => [st.input, r[st.output]!]));
    }
    prog.dispose();
    return { l1: s / n, outs };
  };
  const before = integer(qg);
  // simulated (GraphNet, fake quantization, the shift from the fake-quantized frames) against integer, the whole clip
  const net = new GraphNet(qg);
  const frames = Array.from({ length: T }, (_, t) => leaf(lrT(t)));
  const own: Tensor[] = [];
  const sim = noGrad(() => runSequence(net, qg, frames, own).map((y) => y.value.toArray()));
  clearTape();
  for (const x of [...frames.map((f) => f.value), ...own]) x.dispose();
  net.dispose();
  const step = qg.quant.act[graphOutputs(qg).find((o) => o.id === v.outputs[0])!.inputs[0]!]!.scale;
  let close = 0, total = 0;
  sim.forEach((f, t) => { for (let i = 0; i < f.length; i++) { total++; if (Math.abs(f[i]! - before.outs[t]![i]!) <= 2 * step + 1e-6) close++; } });
  const perFrame = sim.map((f, t) => { let c = 0; for (let i = 0; i < f.length; i++) if (Math.abs(f[i]! - before.outs[t]![i]!) <= 2 * step + 1e-6) c++; return (100 * c / f.length).toFixed(2); });
  const maxd = sim.map((f, t) => { let d = 0; for (let i = 0; i < f.length; i++) d = Math.max(d, Math.abs(f[i]! - before.outs[t]![i]!)); return (d / step).toFixed(1); });
  assert.ok(close / total >= 0.99, `only ${(100 * close / total).toFixed(2)}% of the fake-quantized frames within 2 steps of the integer ones (per frame ${perFrame.join(', ')}; max steps ${maxd.join(', ')})`);
  console.log(`video QAT: fake-quantized vs integer, % within 2 steps per frame ${perFrame.join(', ')}; max steps apart ${maxd.join(', ')}`);
  // fine-tuning on the clip's sequences
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-vqat-'));
  try {
    mkdirSync(join(dir, 'pan'));
    for (let t = 0; t < T; t++) await writeImage(join(dir, 'pan', `im${t}.png`), pairs[t]!.hr);
    const tuned = await fineTuneGraph(qg, { dirs: [dir], iterations: 30, lr: 3e-3, batchSize: 2, patch: 12, numFrame: 3, seed: 1 });
    const after = integer(tuned).l1;
    assert.ok(after < before.l1 * 0.9, `int8 L1 ${before.l1.toFixed(5)} -> ${after.toFixed(5)} after 30 QAT steps on 3-frame sequences`);
    assert.deepEqual(tuned.quant.act, qg.quant.act, 'activation parameters are kept');
    assert.equal((tuned.quant.calibration as { qat?: { frames?: number } }).qat?.frames, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mvsr train with a quant: section quantizes the --init model (calibration, then QAT steps) into an int8 graph file that mvsr eval runs; without --init it stops in one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-qat-yaml-'));
  try {
    const { writeImage } = await import('../src/io/image.node.js');
    const hr = join(dir, 'hr');
    mkdirSync(hr);
    const r = mulberry32(21);
    for (let i = 0; i < 3; i++) {
      const W = 64, H = 64, px = new Uint8Array(W * H * 3), f = 3 + 5 * r();
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) px[(y * W + x) * 3 + c] = Math.round(127.5 + 100 * Math.sin(x / f + c) * Math.cos(y / (f + 1)));
      await writeImage(join(hr, `h${i}.png`), { width: W, height: H, channels: 3, bitDepth: 8, data: px });
    }
    const cfg = join(dir, 'qat.yml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(cfg, `name: elsr-int8
scale: 4
network_g:
  type: ELSR
  num_feat: 6
datasets:
  train:
    type: HRFolder
    dataroot_gt: ${hr}
    gt_size: 32
    batch_size_per_gpu: 2
train:
  optim_g:
    lr: !!float 1e-4
  total_iter: 3
path:
  experiments_root: ${join(dir, 'runs')}
quant:
  calib: ${hr}
  samples: 4
  patch: 8
  ranges: learn
`);
    const weights = new URL('../../weights/elsr-x4.safetensors', import.meta.url).pathname;
    const t = mvsr('train', cfg, '--init', weights);
    assert.equal(t.status, 0, t.stderr);
    const file = join(dir, 'runs', 'elsr-int8', 'models', 'elsr-int8-int8.safetensors');
    const g = loadGraphFile(file) as QuantGraph;
    assert.equal(g.quant.scheme, 'int8');
    assert.equal((g.quant.calibration as { qat?: { iterations?: number } }).qat?.iterations, 3);
    assert.ok(((g.quant.calibration as { qat?: { learnedRanges?: number } }).qat?.learnedRanges ?? 0) > 0, 'quant.ranges: learn trained the ranges');
    const e = mvsr('eval', '-m', file, '--data', hr, '--json');
    assert.equal(e.status, 0, e.stderr);
    assert.ok((JSON.parse(e.stdout) as { psnr: number }).psnr > 15);
    const bad = mvsr('train', cfg, '--run-dir', join(dir, 'other'));
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /a quant: run quantizes a trained float model: pass it with --init <model file>/);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mvsr train with a quant: section fine-tunes a video model into an int8 step graph on a VideoFolder\'s clips (sequences, state carried, exclude honoured) that mvsr eval-video runs; clips all excluded or stills stop in one line with no model file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-qat-video-yaml-'));
  try {
    const { writeImage } = await import('../src/io/image.node.js');
    const { writeFileSync, existsSync } = await import('node:fs');
    for (const [name, speed] of [['pan', 2], ['drift', -1], ['held', 3]] as const) {
      const clip = join(dir, 'clips', name);
      mkdirSync(clip, { recursive: true });
      for (let t = 0; t < 6; t++) {
        const W = 64, H = 48, px = new Uint8Array(W * H * 3);
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) px[(y * W + x) * 3 + c] = Math.round(127.5 + 100 * Math.sin((x + speed * t) / 5 + c) * Math.cos(y / 7));
        await writeImage(join(clip, `f${t}.png`), { width: W, height: H, channels: 3, bitDepth: 8, data: px });
      }
    }
    const yaml = (name: string, exclude: string, type = 'VideoFolder') => {
      const f = join(dir, `${name}.yml`);
      writeFileSync(f, `name: ${name}
scale: 4
network_g:
  type: MobileRRN
datasets:
  train:
    type: ${type}
    dataroot_gt: ${join(dir, 'clips')}
${type === 'VideoFolder' ? `    exclude: ['${exclude}']\n` : ''}    num_frame: 4
    gt_size: 32
    batch_size_per_gpu: 2
train:
  optim_g:
    lr: !!float 1e-5
  total_iter: 2
path:
  experiments_root: ${join(dir, 'runs')}
quant:
  calib: ${join(dir, 'clips')}
  samples: 2
  frames: 4
  patch: 12
`);
      return f;
    };
    const weights = new URL('../../weights/mobilerrn-x4.safetensors', import.meta.url).pathname;
    const t = mvsr('train', yaml('rrn-int8', 'held'), '--init', weights);
    assert.equal(t.status, 0, t.stderr);
    const file = join(dir, 'runs', 'rrn-int8', 'models', 'rrn-int8-int8.safetensors');
    const g = loadGraphFile(file) as QuantGraph;
    assert.equal(g.quant.scheme, 'int8');
    assert.ok(g.meta.video, 'the int8 file is a video step graph');
    const qat = (g.quant.calibration as { qat?: { iterations?: number; frames?: number; exclude?: string[] } }).qat;
    assert.deepEqual([qat?.iterations, qat?.frames, qat?.exclude], [2, 4, ['held']]);
    const run = (m: string) => {
      const r = mvsr('eval-video', '-m', m, '--data', join(dir, 'clips'), '--clips', 'held', '--json');
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { psnrY: number; frames: number };
    };
    const i8 = run(file), f32 = run('mobilerrn-x4');
    assert.equal(i8.frames, 6);
    assert.ok(Math.abs(i8.psnrY - f32.psnrY) < 1.5, `int8 after QAT ${i8.psnrY} vs float ${f32.psnrY}`);
    // every clip excluded: the loader finds nothing to train on
    const none = mvsr('train', yaml('none-int8', '*'), '--init', weights);
    assert.notEqual(none.status, 0);
    assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr);
    assert.match(none.stderr, /clip/);
    assert.ok(!existsSync(join(dir, 'runs', 'none-int8', 'models', 'none-int8-int8.safetensors')));
    // stills filmed by a moving camera are float pre-training data, not QAT data
    const stills = mvsr('train', yaml('stills-int8', '', 'HRFolder'), '--init', weights);
    assert.notEqual(stills.status, 0);
    assert.match(stills.stderr, /^mvsr train: quant: fine-tunes the video model MobileRRN on clips: datasets.train must be a VideoFolder, not HRFolder\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mvsr quantize of a video model calibrates on clips (state carried) and mvsr eval-video runs the int8 step graph; PSNR stays near the float model\'s', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-quant-video-'));
  try {
    const { writeImage } = await import('../src/io/image.node.js');
    const clip = join(dir, 'clips', 'pan');
    mkdirSync(clip, { recursive: true });
    for (let t = 0; t < 5; t++) {
      const W = 64, H = 48, px = new Uint8Array(W * H * 3);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) px[(y * W + x) * 3 + c] = Math.round(127.5 + 100 * Math.sin((x + 2 * t) / 5 + c) * Math.cos(y / 7));
      await writeImage(join(clip, `f${t}.png`), { width: W, height: H, channels: 3, bitDepth: 8, data: px });
    }
    const q = join(dir, 'm-int8.safetensors');
    const a = mvsr('quantize', 'mobilerrn-x4', '--calib', join(dir, 'clips'), '--frames', '4', '-o', q);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stderr, /from 1 clips of 1 file\(s\)/);
    const run = (m: string) => {
      const r = mvsr('eval-video', '-m', m, '--data', join(dir, 'clips'), '--json');
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { psnrY: number; frames: number };
    };
    const i8 = run(q), f32 = run('mobilerrn-x4');
    assert.equal(i8.frames, 5);
    assert.ok(Math.abs(i8.psnrY - f32.psnrY) < 1.5, `int8 ${i8.psnrY} vs float ${f32.psnrY}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
