// INT8 quantization of the deploy IR, in TFLite's scheme: activations int8 per tensor, asymmetric
// (scale, zero point); conv weights int8 per output channel, symmetric in [-127, 127]; biases
// int32 at scale input_scale * weight_scale. Here: the quantized graph's shape (which ops exist
// as int8 tensors), choosing scales from calibration statistics, and TFLite's fixed-point
// arithmetic (QuantizeMultiplier, SaturatingRoundingDoublingHighMul, RoundingDivideByPOT, and the
// float32 requantization of TFLite's XNNPACK path), which runtime/int8.ts and the TFLite writer share. Browser-safe.
import { type Graph, type GraphNode, type GraphWeight, graphError, graphInputs, usedWeights, validateGraph, weightOf } from './ir.js';
import { optimizeGraph, rows, splitGroupedConvs } from './passes.js';
import { inferChannels } from './shapes.js';

/** A tensor's affine int8 quantization: real = scale * (q - zeroPoint); scale is a float32 value. */
export interface QParams { scale: number; zeroPoint: number }

export type CalibrationMethod = 'minmax' | 'percentile' | 'mse';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'mse'];

/** What makes a float graph an int8 one (Graph.quant). */
export interface GraphQuant {
  scheme: 'int8';
  method: CalibrationMethod;
  /** Every node's output tensor (outputs share their source's; inputs included). */
  act: Record<string, QParams>;
  /** Per-output-channel scales of each conv weight (the int8 values are round(w / scale)). */
  weights: Record<string, number[]>;
  /** PReLU slopes: int8 per tensor, asymmetric. */
  alpha: Record<string, QParams>;
  /** Where the ranges came from (file count, patch count, seed) and the percentile used. */
  calibration?: Record<string, unknown>;
}

export type QuantGraph = Graph & { quant: GraphQuant };

export const INT8_MIN = -128, INT8_MAX = 127;
/** PReLU slopes, tanh and sigmoid outputs have the ranges TFLite's int8 kernels require. */
export const TANH_QPARAMS: QParams = { scale: 1 / 128, zeroPoint: 0 };
export const SIGMOID_QPARAMS: QParams = { scale: 1 / 256, zeroPoint: -128 };
/** Graph inputs are pixels in [0, 1]: 0..255 in uint8 is -128..127 in int8 at the same scale. */
export const PIXEL_QPARAMS: QParams = { scale: Math.fround(1 / 255), zeroPoint: -128 };
/** uint8 pixel tensors (a model with uint8 input and output): 0..255 is 0..1. */
export const UINT8_PIXELS: QParams = { scale: Math.fround(1 / 255), zeroPoint: 0 };

/** lrintf / nearbyint: to nearest, halves to even (Math.round rounds them up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/** C's round (TfLiteRound): halves away from zero. */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

const clampInt = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

/** Int8 parameters covering [lo, hi] (widened to hold 0 exactly, as TFLite requires). */
export function chooseQParams(lo: number, hi: number): QParams {
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  // a constant-zero tensor (e.g. a ReLU whose inputs were all negative in calibration) is exact
  // at any scale: give it [0, 1], so that the biases of the convs that read it still fit int32
  if (!(hi - lo > 1e-8)) hi = lo + 1;
  const scale = Math.fround((hi - lo) / 255);
  const zeroPoint = clampInt(roundHalfAway(INT8_MIN - lo / scale), INT8_MIN, INT8_MAX);
  return { scale, zeroPoint };
}

/** The real range a tensor's int8 values cover. */
export function qRange(q: QParams): [number, number] {
  return [q.scale * (INT8_MIN - q.zeroPoint), q.scale * (INT8_MAX - q.zeroPoint)];
}

/** The output-channel axis of a node's weight: 0 for a conv (OIHW), 1 for a transposed conv ([Cin, Cout, k, k]). */
export function weightAxis(n: GraphNode): 0 | 1 {
  return n.op === 'convTranspose' ? 1 : 0;
}

/** The output channel of each value of a weight whose channels lie along `axis`. */
function channelOf(w: GraphWeight, axis: 0 | 1): (i: number) => number {
  const O = w.shape[axis]!, inner = w.data.length / w.shape.slice(0, axis + 1).reduce((a, b) => a * b, 1);
  return (i) => Math.floor(i / inner) % O;
}

/** Per-output-channel symmetric scales of a conv weight (channels along `axis`): max |w| / 127 (1 for an all-zero channel). */
export function weightScales(w: GraphWeight, axis: 0 | 1 = 0): number[] {
  const O = w.shape[axis]!, m = new Float64Array(O), ch = channelOf(w, axis);
  for (let i = 0; i < w.data.length; i++) m[ch(i)] = Math.max(m[ch(i)]!, Math.abs(w.data[i]!));
  return Array.from(m, (x) => (x > 0 ? Math.fround(x / 127) : 1));
}

/** A weight value in symmetric int8 at `scale` ([-127, 127]). */
function quantizeSymmetric(v: number, scale: number): number {
  return clampInt(roundHalfAway(v / scale), -127, 127);
}

/** The int8 values of a weight at per-output-channel scales (channels along `axis`). */
export function quantizeWeight(w: GraphWeight, scales: readonly number[], axis: 0 | 1 = 0): Int8Array {
  const q = new Int8Array(w.data.length), ch = channelOf(w, axis);
  for (let i = 0; i < w.data.length; i++) q[i] = quantizeSymmetric(w.data[i]!, scales[ch(i)]!);
  return q;
}

/**
 * Per conv of an int8 graph: the signal-to-noise ratio (dB) of its int8 weight against the float
 * one (sum w^2 / sum (w - scale * q)^2; Infinity when every value is on the grid) and its output's
 * real range: where a model loses precision in quantization (`mvsr quantize --report`).
 */
export function quantizationReport(g: QuantGraph): { id: string; weight: string; weightSnrDb: number; range: [number, number] }[] {
  const rows = [];
  for (const n of g.nodes) {
    if (n.op !== 'conv' && n.op !== 'convTranspose') continue;
    const w = weightOf(g, n, n.weight), axis = weightAxis(n), s = g.quant.weights[n.weight]!, q = quantizeWeight(w, s, axis), ch = channelOf(w, axis);
    let sig = 0, err = 0;
    for (let i = 0; i < w.data.length; i++) {
      sig += w.data[i]! ** 2;
      err += (w.data[i]! - q[i]! * s[ch(i)]!) ** 2;
    }
    rows.push({ id: n.id, weight: n.weight, weightSnrDb: err > 0 ? 10 * Math.log10(sig / err) : Infinity, range: qRange(g.quant.act[n.id]!) });
  }
  return rows;
}

/** A real tensor in int8 at q (TFLite's AffineQuantize: round(x / scale) + zero point, in float32, saturated). */
export function quantizeValue(x: number, q: QParams): number {
  return clampInt(roundHalfAway(Math.fround(Math.fround(x) / q.scale)) + q.zeroPoint, INT8_MIN, INT8_MAX);
}

/** int32 biases at scale inputScale * weightScale[c] (float32 product, as the converter does). */
export function quantizeBias(bias: Float32Array | null, count: number, inputScale: number, scales: readonly number[]): Int32Array {
  const out = new Int32Array(count);
  for (let c = 0; c < count; c++) {
    const v = roundHalfAway((bias ? bias[c]! : 0) / Math.fround(inputScale * scales[c]!));
    if (Math.abs(v) > 2 ** 31 - 1) throw new Error(`mvsr: quantize: bias ${bias?.[c]} of channel ${c} does not fit int32 at scale ${inputScale * scales[c]!}`);
    out[c] = v;
  }
  return out;
}

// ---- TFLite's fixed-point arithmetic (tensorflow/lite/kernels/internal/common.h, the default double rounding) ----

/** QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31). */
export function quantizeMultiplier(real: number): [number, number] {
  if (real === 0) return [0, 0];
  let shift = Math.floor(Math.log2(Math.abs(real))) + 1; // frexp: real = q * 2^shift, q in [0.5, 1)
  let q = real / 2 ** shift;
  if (Math.abs(q) >= 1) { q /= 2; shift++; }
  if (Math.abs(q) < 0.5) { q *= 2; shift--; }
  let fixed = roundHalfAway(q * 2 ** 31);
  if (fixed === 2 ** 31) { fixed /= 2; shift++; }
  if (shift < -31) return [0, 0];
  return [fixed, shift];
}

/** SaturatingRoundingDoublingHighMul(a, b) of int32s, exactly (the 64-bit product is split so doubles stay exact). */
export function srdhm(a: number, b: number): number {
  if (a === -2147483648 && b === -2147483648) return 2147483647;
  // a*b = hi * 2^16 + lo with hi = a * (b >> 16), lo = a * (b & 0xffff): both exact in a double
  const bh = Math.floor(b / 65536), bl = b - bh * 65536;
  const hi = a * bh, lo = a * bl;
  const nudge = (a >= 0) === (b >= 0) || a === 0 || b === 0 ? 2 ** 30 : 1 - 2 ** 30;
  // (hi * 2^16 + lo + nudge) / 2^31, truncated toward zero
  const qh = Math.floor(hi / 32768), rh = hi - qh * 32768;
  const rest = rh * 65536 + lo + nudge; // exact: |rest| < 2^49
  const qr = Math.floor(rest / 2 ** 31);
  let q = qh + qr;
  const exact = rest - qr * 2 ** 31 === 0;
  if (q < 0 && !exact) q += 1; // floor -> toward zero
  return q;
}

/** RoundingDivideByPOT: x / 2^e rounded to nearest, halves away from zero. */
export function roundingDivideByPOT(x: number, e: number): number {
  if (e === 0) return x;
  const p = 2 ** e;
  const floor = Math.floor(x / p), rem = x - floor * p; // x & mask (two's complement)
  const threshold = p / 2 - 1 + (x < 0 ? 1 : 0); // (mask >> 1) + (x < 0)
  return floor + (rem > threshold ? 1 : 0);
}

/** MultiplyByQuantizedMultiplier(x, multiplier, shift). */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number): number {
  const left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  // x * 2^left wraps in int32 in C; the callers' values never get near that
  return roundingDivideByPOT(srdhm(x * 2 ** left, multiplier), right);
}

/**
 * Requantization as TFLite's CPU runtime (XNNPACK, its default for int8 convolutions) does it:
 * the int32 accumulator times a float32 scale, rounded to nearest (ties to even). TFLite's
 * reference kernels' fixed-point form (multiplyByQuantizedMultiplier) rounds twice and differs
 * from it by one step on about 0.2% of a conv's outputs, which compounds over a network's depth.
 */
export function requantizeFp32(acc: number, scale: number): number {
  return roundHalfEven(Math.fround(Math.fround(acc) * scale));
}

/** The float32 requantization scale of a conv channel: input scale x weight scale / output scale, in float32 steps. */
export function convScale(inScale: number, weightScale: number, outScale: number): number {
  return Math.fround(Math.fround(inScale * weightScale) / outScale);
}

// ---- the quantized graph's shape ----

const NO_INT8: Partial<Record<GraphNode['op'], string>> = {
  globalPool: 'global pooling (channel attention) is not quantized yet',
  scaleChannels: 'channel scaling (channel attention) is not quantized yet',
  layerNorm: 'layer normalisation is not quantized yet',
  windowAttention: 'window attention is not quantized yet',
};

/**
 * The float graph an int8 model computes, before quantization: the optimized graph with every
 * fused conv activation other than ReLU split off into an act node (TFLite fuses only ReLU into
 * CONV_2D; PReLU, tanh and sigmoid are ops of their own with an int8 tensor in between). The act
 * keeps the node's id, the conv becomes `<id>.conv`. A grouped conv that is not depthwise is split
 * per group (slices, convs, a concat). Ops with no integer form stop with an error
 * naming the node.
 */
export function int8Graph(g0: Graph, o: { splitOutliers?: boolean } = {}): Graph {
  // a grouped conv that is not depthwise (one input channel per group) becomes one conv per group
  // over its channel slice and a concat, as the TFLite export writes it; depthwise ones stay whole
  const g1 = optimizeGraph(g0);
  const g = splitGroupedConvs(g1, inferChannels(g1), (n) => weightOf(g1, n, n.weight).shape[1] === 1);
  const nodes: GraphNode[] = [];
  for (const n of g.nodes) {
    const why = NO_INT8[n.op] ?? (n.op === 'resize' && n.mode !== 'nearest' && n.mode !== 'bilinear' ? `${n.mode} resize has no integer form` : null);
    if (why) throw graphError(g, n, `${why}; the model cannot be quantized to int8`);
    if (n.op === 'conv' && (n.dilation ?? 1) !== 1) throw graphError(g, n, `a dilated conv (dilation ${n.dilation}) is not quantized yet; the model cannot be quantized to int8`);
    if (n.op === 'conv' && n.act && n.act.kind !== 'relu') {
      const conv = { ...n, id: `${n.id}.conv` };
      delete conv.act;
      nodes.push(conv, { op: 'act', id: n.id, inputs: [conv.id], act: n.act });
    } else nodes.push(n);
  }
  const out: Graph = { meta: g.meta, nodes, weights: g.weights };
  validateGraph(out);
  return o.splitOutliers === false ? out : splitOutlierWeights(out);
}

/** The nodes that read each node's value, by id (a node reading a value twice listed once). */
function readersOf(g: Graph): Map<string, GraphNode[]> {
  const readers = new Map<string, GraphNode[]>();
  for (const n of g.nodes) for (const i of new Set(n.inputs)) readers.set(i, [...(readers.get(i) ?? []), n]);
  return readers;
}

/** A conv is split when some channel's centre weight is at least this many times every other weight of the channel... */
export const OUTLIER_TRIGGER = 4;
/** ...and when at least half its channels' centre weights are this many times the rest, the whole conv is split by weights. */
export const OUTLIER_RATIO = 1.5;

/**
 * Per-channel int8 weights lose a channel's small weights when one weight dwarfs them: the step
 * is max |w| / 127. ETDS's residual channels carry the image through every conv with a centre
 * weight near 1 beside learned weights below 0.01 (ratio ~100), and each of its conv_last
 * channels has one of 0.92-1.05 beside weights of RMS 0.05-0.09; rounding those weights alone
 * costs etds-t-x4 0.31 dB on Set5. This pass moves such a centre weight into a 1x1 conv of its
 * own, added back before the activation: conv(x) = main(x) + centre(x), where `centre` holds one
 * weight per output channel (exact in int8: it is its channel's max) and `main` the rest, at its
 * own steps. It applies to a stride-1, groups-1, 'same'-padded conv (no activation or ReLU; a
 * 1x1 conv too: etds-t-kd-x4's fine-tuned clip, -I plus small weights) in which some channel's
 * centre weight is >= OUTLIER_TRIGGER x the channel's next largest:
 * - when at least half the channels' are >= OUTLIER_RATIO x, the whole conv splits (`<id>.main`,
 *   `<id>.centre`, their add), every channel whose largest weight is a centre one moving it;
 * - otherwise, when every reader of the conv is a groups-1 conv, only the channels at >=
 *   OUTLIER_TRIGGER x (the carriers) split, and the others stay one conv: each run of
 *   consecutive channels becomes a conv over those output channels (`<id>.rows<first>`, split
 *   as above for carriers), concatenated back in order. A next conv
 *   that reads only the carriers reads their piece (`<id>.from<first>` weights), so the image
 *   keeps an int8 tensor of its own from layer to layer instead of the features' coarser step.
 * The float graph computes the same function (up to float summation order). An add that a ReLU
 * reads takes the ReLU's int8 parameters (reluFedAdds).
 */
export function splitOutlierWeights(g: Graph): Graph {
  const nodes: GraphNode[] = [];
  const weights = { ...g.weights };
  const built = new Map<string, { id: string; start: number; end: number }[]>(); // concats of row pieces: their pieces' channels
  const readers = readersOf(g);
  const put = (n: GraphNode, name: string, w: GraphWeight): string => {
    if (weights[name]) throw graphError(g, n, `splitting its outlier weights needs the weight name '${name}', which the graph uses already`);
    weights[name] = w;
    return name;
  };
  for (const n of g.nodes) {
    const k = n.op === 'conv' ? n.kernel : 0;
    if (n.op !== 'conv' || k % 2 === 0 || n.groups !== 1 || (n.stride ?? 1) !== 1 || (n.dilation ?? 1) !== 1 || n.padding !== (k - 1) / 2 || n.linear || (n.act && n.act.kind !== 'relu')) {
      nodes.push(n);
      continue;
    }
    const w = weightOf(g, n, n.weight), [O, I] = w.shape as [number, number], kk = k * k, per = I * kk, centre = (kk - 1) / 2;
    const bias = n.bias === null ? null : weightOf(g, n, n.bias);
    // per channel: the index of its centre outlier and how many times the next largest weight it is (0: none)
    const at = new Int32Array(O).fill(-1), ratio = new Float64Array(O);
    for (let o = 0; o < O; o++) {
      let m1 = 0, j1 = -1, m2 = 0;
      for (let j = 0; j < per; j++) {
        const v = Math.abs(w.data[o * per + j]!);
        if (v > m1) { m2 = m1; m1 = v; j1 = j; } else if (v > m2) m2 = v;
      }
      // a channel with one nonzero weight is exact already
      if (j1 >= 0 && j1 % kk === centre && m2 > 0) { at[o] = j1; ratio[o] = m1 / m2; }
    }
    if (!ratio.some((r) => r >= OUTLIER_TRIGGER)) {
      nodes.push(n);
      continue;
    }
    const whole = 2 * ratio.filter((r) => r >= OUTLIER_RATIO).length >= O;
    // split rows pay only where the next convs can read the carriers as a tensor of their own: a
    // concat that something else reads (ECBSR's PReLU) would put them back at the features' step
    if (!whole && !(readers.get(n.id) ?? []).every((r) => r.op === 'conv' && r.groups === 1)) {
      nodes.push(n);
      continue;
    }
    // whole: every channel whose largest weight is a centre one moves it
    const carrier = (o: number): boolean => (whole ? at[o]! >= 0 : ratio[o]! >= OUTLIER_TRIGGER);
    // runs of consecutive channels of one kind: [first, end)
    const runs: [number, number][] = [];
    for (let o = 0; o < O; o++) {
      if (o > 0 && carrier(o) === carrier(o - 1)) runs[runs.length - 1]![1] = o + 1;
      else runs.push([o, o + 1]);
    }
    const pieces: string[] = [];
    for (const [a, b] of runs) {
      const id = whole ? n.id : `${n.id}.rows${a}`, wr = rows(w, a, b), br = bias && (whole ? bias : rows(bias, a, b));
      const biasName = bias === null ? null : whole ? n.bias : put(n, `${id}.bias`, br!);
      if (!carrier(a)) {
        nodes.push({ ...n, id, weight: put(n, `${id}.weight`, wr), bias: biasName });
        pieces.push(id);
        continue;
      }
      const main = Float32Array.from(wr.data), c = new Float32Array((b - a) * I);
      for (let o = a; o < b; o++) {
        const j = at[o]!, r = (o - a) * per + j;
        c[(o - a) * I + Math.floor(j / kk)] = main[r]!;
        main[r] = 0;
      }
      const mainNode: GraphNode = { ...n, id: `${id}.main`, weight: put(n, `${id}.main.weight`, { shape: wr.shape, data: main }), bias: biasName };
      delete (mainNode as { act?: unknown }).act;
      const addId = n.act ? `${id}.add` : id;
      nodes.push(
        mainNode,
        { op: 'conv', id: `${id}.centre`, inputs: [n.inputs[0]!], weight: put(n, `${id}.centre.weight`, { shape: [b - a, I, 1, 1], data: c }), bias: null, kernel: 1, groups: 1, padding: 0 },
        { op: 'add', id: addId, inputs: [`${id}.main`, `${id}.centre`] },
      );
      if (n.act) nodes.push({ op: 'act', id, inputs: [addId], act: n.act });
      pieces.push(id);
    }
    if (!whole) {
      nodes.push({ op: 'concat', id: n.id, inputs: pieces });
      built.set(n.id, runs.map(([a, b], k) => ({ id: pieces[k]!, start: a, end: b })));
    }
  }
  // a conv reading such a concat whose weights read only one piece (the carriers' next rows read
  // only the carriers) reads that piece directly: the image then passes from layer to layer in a
  // tensor of its own, at its own step. Convs that read both kinds keep reading the concat (reading
  // each piece through a conv of its own, added, measured no better on etds-t-x4 and 1.6x slower
  // in int8).
  const final: GraphNode[] = [];
  for (const n of nodes) {
    const parts = n.op === 'conv' && n.groups === 1 ? built.get(n.inputs[0]!) : undefined;
    if (!parts || n.op !== 'conv') {
      final.push(n);
      continue;
    }
    const w = weightOf({ ...g, weights }, n, n.weight), [O, I, kh, kw] = w.shape as [number, number, number, number], kk = kh * kw;
    const cols = (p: { start: number; end: number }): Float32Array => {
      const data = new Float32Array(O * (p.end - p.start) * kk);
      for (let o = 0; o < O; o++) data.set(w.data.subarray((o * I + p.start) * kk, (o * I + p.end) * kk), o * (p.end - p.start) * kk);
      return data;
    };
    const used = parts.filter((p) => cols(p).some((v) => v !== 0));
    if (used.length !== 1) {
      final.push(n);
      continue;
    }
    const p = used[0]!;
    final.push({ ...n, inputs: [p.id], weight: put(n, `${n.id}.from${p.start}.weight`, { shape: [O, p.end - p.start, kh, kw], data: cols(p) }) });
  }
  // concats that no node reads any more
  const read = new Set(final.flatMap((n) => n.inputs));
  const out: Graph = { meta: g.meta, nodes: final.filter((n) => !built.has(n.id) || read.has(n.id)), weights };
  const keep = new Set(usedWeights(out));
  out.weights = Object.fromEntries(Object.entries(weights).filter(([name]) => keep.has(name)));
  validateGraph(out);
  return out;
}

/**
 * The tensors of splitOutlierWeights' result that carry the carriers' values themselves (ETDS:
 * the image): each centre conv, the add that takes it, and the ReLU after that add. Empty for a
 * graph the pass left whole.
 */
export function outlierCarriers(g: Graph): Set<string> {
  const carriers = new Set<string>();
  for (const n of g.nodes) {
    const centre = n.op === 'add' ? n.inputs.find((i) => i.endsWith('.centre')) : undefined;
    if (centre) carriers.add(n.id).add(centre);
  }
  for (const n of g.nodes) if (n.op === 'act' && carriers.has(n.inputs[0]!)) carriers.add(n.id);
  return carriers;
}

/**
 * Adds whose only reader is a ReLU, by id, with that ReLU's id. Such an add takes the ReLU's
 * int8 parameters: saturating at their zero point (real 0) is the ReLU, as TFLite's ADD with a
 * fused RELU does, and the add's values keep the ReLU's finer step instead of a range that also
 * holds the negatives; the ReLU then maps each int8 value to itself.
 */
export function reluFedAdds(g: Graph): Map<string, string> {
  const readers = readersOf(g);
  const out = new Map<string, string>();
  for (const n of g.nodes) {
    const r = readers.get(n.id);
    if (n.op === 'add' && r?.length === 1 && r[0]!.op === 'act' && r[0]!.act.kind === 'relu' && r[0]!.inputs.length === 1) out.set(n.id, r[0]!.id);
  }
  return out;
}

/** How a node's output range is set: observed in calibration, fixed by the op, or the same as its input's. */
export function rangeKind(n: GraphNode): 'observed' | 'fixed' | 'same' | 'union' {
  switch (n.op) {
    case 'conv': case 'convTranspose': case 'add': case 'mul': return 'observed';
    case 'act': return n.act.kind === 'tanh' || n.act.kind === 'sigmoid' ? 'fixed' : n.act.kind === 'clamp' ? 'same' : 'observed';
    case 'input': return 'fixed';
    case 'concat': return 'union';
    default: return 'same';
  }
}

/**
 * Assign every tensor its parameters: observed ranges (from `ranges`, per node id) where the op
 * produces new values; TFLite's fixed ranges for tanh, sigmoid and pixel inputs; the input's
 * parameters where int8 values pass through unchanged (slice, depth_to_space, resize, clamp,
 * outputs); the union of the inputs' ranges for a concat. A video state input takes the
 * parameters of the tensor its state output carries, so the state passes between steps as int8.
 */
export function assignQParams(g: Graph, ranges: Map<string, [number, number]>): Record<string, QParams> {
  const act: Record<string, QParams> = {};
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const observed = (n: GraphNode): QParams => {
    const r = ranges.get(n.id);
    if (!r) throw graphError(g, n, 'no calibration range was recorded for this tensor');
    return chooseQParams(r[0], r[1]);
  };
  const reluOf = reluFedAdds(g);
  const stateSource = new Map<string, string>(); // state input id -> the node its output reads
  for (const s of g.meta.video?.state ?? []) stateSource.set(s.input, byId.get(s.output)!.inputs[0]!);
  const resolve = (n: GraphNode, seen: Set<string>): QParams => {
    if (act[n.id]) return act[n.id]!;
    if (seen.has(n.id)) return observed(n); // a state that passes through unchanged: its own range
    seen.add(n.id);
    let q: QParams;
    switch (rangeKind(n)) {
      case 'observed': q = observed(reluOf.has(n.id) ? byId.get(reluOf.get(n.id)!)! : n); break;
      case 'fixed':
        if (n.op === 'input') {
          const src = stateSource.get(n.id);
          q = src ? resolve(byId.get(src)!, seen) : PIXEL_QPARAMS;
        } else q = n.op === 'act' && n.act.kind === 'tanh' ? TANH_QPARAMS : SIGMOID_QPARAMS;
        break;
      case 'union': {
        const qs = n.inputs.map((i) => resolve(byId.get(i)!, seen));
        if (qs.every((x) => x.scale === qs[0]!.scale && x.zeroPoint === qs[0]!.zeroPoint)) q = qs[0]!;
        else q = chooseQParams(Math.min(...qs.map((x) => qRange(x)[0])), Math.max(...qs.map((x) => qRange(x)[1])));
        break;
      }
      default: q = resolve(byId.get(n.inputs[0]!)!, seen);
    }
    act[n.id] = q;
    return q;
  };
  for (const inp of graphInputs(g)) resolve(inp, new Set());
  // an estimateShift's value is a float shift, not an int8 tensor: no parameters
  for (const n of g.nodes) if (n.op !== 'estimateShift') resolve(n, new Set());
  return act;
}

/** Weight scales and PReLU slope parameters of an int8 graph. */
export function quantizeWeights(g: Graph): Pick<GraphQuant, 'weights' | 'alpha'> {
  const weights: Record<string, number[]> = {}, alpha: Record<string, QParams> = {};
  for (const n of g.nodes) {
    if (n.op === 'conv' || n.op === 'convTranspose') weights[n.weight] = weightScales(weightOf(g, n, n.weight), weightAxis(n));
    const a = n.op === 'act' ? n.act : n.op === 'conv' ? n.act : undefined;
    if (a?.kind === 'prelu') {
      const d = weightOf(g, n, a.alpha).data;
      let lo = 0, hi = 0;
      for (const v of d) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      alpha[a.alpha] = chooseQParams(lo, hi);
    }
  }
  return { weights, alpha };
}

/** Structural check of a graph's quant section against its nodes; errors name what is missing. */
export function validateQuant(g: Graph): asserts g is QuantGraph {
  const q = (g as Partial<QuantGraph>).quant;
  if (!q || q.scheme !== 'int8') throw graphError(g, null, 'is not an int8 graph (no quant section with scheme int8)');
  const isMap = (x: unknown): boolean => !!x && typeof x === 'object' && !Array.isArray(x);
  for (const k of ['act', 'weights', 'alpha'] as const) if (!isMap(q[k])) throw graphError(g, null, `quant.${k} must be an object`);
  const own = <T>(m: Record<string, T>, k: string): T | undefined => (Object.hasOwn(m, k) ? m[k] : undefined);
  const okQ = (p: QParams | undefined): boolean => !!p && p.scale > 0 && Number.isFinite(p.scale) && Number.isInteger(p.zeroPoint) && p.zeroPoint >= INT8_MIN && p.zeroPoint <= INT8_MAX;
  for (const n of g.nodes) {
    if (n.op === 'estimateShift') continue; // a float shift (the host's, in a .tflite)
    if (!okQ(own(q.act, n.id))) throw graphError(g, n, 'has no valid int8 scale and zero point in the quant section');
    if (n.op === 'conv' || n.op === 'convTranspose') {
      if (n.op === 'conv' && n.act && n.act.kind !== 'relu') throw graphError(g, n, `an int8 conv fuses only relu, not ${n.act.kind}`);
      const s = own(q.weights, n.weight), O = weightOf(g, n, n.weight).shape[weightAxis(n)]!;
      if (!Array.isArray(s) || s.length !== O || !s.every((v) => typeof v === 'number' && v > 0 && Number.isFinite(v))) throw graphError(g, n, `weight '${n.weight}' needs ${O} positive per-channel scales in the quant section`);
    }
    if (n.op === 'act' && n.act.kind === 'prelu' && !okQ(own(q.alpha, n.act.alpha))) throw graphError(g, n, `PReLU slope '${n.act.alpha}' has no int8 parameters`);
    const why = NO_INT8[n.op];
    if (why) throw graphError(g, n, why);
  }
}
