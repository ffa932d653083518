// The int8 runtime: runs a quantized deploy graph (graph/quant.ts) with the integer arithmetic of
// TFLite's reference kernels: int8 tensors with zero points, int32 accumulation, per-channel
// requantization by fixed-point multipliers (double rounding), saturation, and TFLite's formulas
// for ADD (inputs rescaled at a 2^20 left shift), PRELU, LEAKY_RELU, lookup-table TANH/LOGISTIC.
// Where TFLite's CPU runtime (the XNNPACK delegate, on by default, what a phone's CPU runs)
// computes otherwise, mvsr follows it: conv and MUL requantization by a float32 scale (round to
// even), int8 -> int8 requantize by an 8-bit multiplier, bilinear resize with 11-bit weights, ADD
// by XNNPACK's qs8 formula where TFLite hands it the node. Against LiteRT.js the zoo's int8 graphs'
// tensors then match (test/quant.test.ts: >= 99.9% of values equal, none more than a step off).
// Groups-1 convs and concats run on WASM kernels (kernels/conv8.ts) when the engine is up, the
// rest as JavaScript loops, which also serve as the kernels' reference. Browser-safe.
import { Tensor } from '../tensor/tensor.js';
import { engine, type Engine } from '../tensor/engine.js';
import { type Graph, type GraphNode, type DepthToSpaceNode, type Act, graphError, graphInputs, graphOutputs, weightOf } from '../graph/ir.js';
import { inferShapes, type NodeShape } from '../graph/shapes.js';
import { estimateShiftTensor, translateTensor } from '../tensor/ops/align.js';
import {
  type QParams, type QuantGraph, validateQuant, quantizeWeight, quantizeBias, quantizeMultiplier, multiplyByQuantizedMultiplier,
  quantizeValue, roundHalfEven, requantizeFp32, convScale, INT8_MIN, INT8_MAX,
} from '../graph/quant.js';
import { sat8, requantize, requantizeTable, pairTable, actTables, addTable } from '../graph/int8-tables.js';

/**
 * An int8 NHWC tensor (batch 1) with its quantization. An estimateShift's value is not int8: its
 * (dx, dy) is in `shift` (float32, data empty).
 */
export interface Int8Tensor { h: number; w: number; c: number; data: Int8Array; q: QParams; shift?: Float32Array }

/**
 * Values that WASM kernels wrote and left in the engine's memory during a run (data a view at the
 * pointer): the next kernel reads them where they are, and the run releases them after their last
 * reader. The memory is shared, so a view stays valid when it grows.
 */
const resident = new WeakMap<Int8Array, number>();

/** data's place in the engine's memory: where it already is, or a copy made there (`copied`: release it after use). */
function inEngine(e: Engine, data: Int8Array): { ptr: number; copied: boolean } {
  const at = resident.get(data);
  if (at !== undefined) return { ptr: at, copied: false };
  const ptr = e.alloc(data.length);
  new Int8Array(e.memory.buffer, ptr, data.length).set(data);
  return { ptr, copied: true };
}

/** n bytes at ptr as a resident value's data. */
function residentView(e: Engine, ptr: number, n: number): Int8Array {
  const v = new Int8Array(e.memory.buffer, ptr, n);
  resident.set(v, ptr);
  return v;
}


/**
 * int8 -> int8 requantization as XNNPACK's convert does it (TFLite's CPU path for QUANTIZE
 * between int8 tensors): an 8-bit fixed-point multiplier round(256 * in/out), rounded at 2^7.
 * Outside XNNPACK's ratio range [2^-8, 2^7] TFLite's reference Requantize runs instead.
 */
export function requantizeInt8(src: Int8Array, from: QParams, to: QParams): Int8Array {
  return gather(src, requantizeTable(from, to));
}


/**
 * out[i] = table[src[i] & 255]: an int8 op of one int8 input takes at most 256 values, so each
 * one is computed once, by the op's own arithmetic, into a table that the run then reads.
 */
function gather(src: Int8Array, table: Int8Array): Int8Array {
  const out = new Int8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]! & 255]!;
  return out;
}


function gather2(a: Int8Array, b: Int8Array, table: Int8Array): Int8Array {
  const out = new Int8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = table[((a[i]! & 255) << 8) | (b[i]! & 255)]!;
  return out;
}


type Exec = (ins: Int8Tensor[]) => Int8Tensor;

const roundUp = (v: number, m: number): number => Math.ceil(v / m) * m;

/** The int8 table of 256 that maps every value to itself (indexed by the value's low byte). */
const IDENTITY8 = Int8Array.from({ length: 256 }, (_, i) => i);

/**
 * int8 ops that a WASM conv applies in its stores (conv8.ts epi), each the only reader of the one
 * before: an activation (its tables), then an ADD (its table indexed by the conv's or activation's
 * value and the residual's; ch[co]: the residual tensor's channel that output channel co adds;
 * lut: when the added value is a pointwise conv's of that channel, its tables of 256 per output
 * channel, read by the residual's value), then a depth_to_space (the stores' positions). q: the
 * last one's parameters. A 1x1 conv that makes each channel from the same channel (ETDS's
 * conv_clip) joins as its tables composed into the activation's or the ADD's.
 */
export interface ConvEpilogue {
  act?: { tables: Int8Array; perChannel: boolean };
  add?: { table: Int8Array; ch: Int32Array; lut?: Int8Array };
  d2s?: DepthToSpaceNode;
  q?: QParams;
}

/**
 * A groups-1 conv on the WASM kernel conv2d_s8 (int16 dot products, the same float32
 * requantization): weights packed once as int16 in the kernel's reading order; per run the input
 * is padded and offset by its zero point into int16 (channel groups of 8, group-major per row).
 * Bit-exact with the JavaScript loop below.
 */
function wasmConvExec(e: Engine, n: GraphNode & { op: 'conv' }, wq: Int8Array, bias: Int32Array, scale: Float32Array, Ig: number, O: number, K: number, qin: QParams, qout: QParams, lo: number, held: number[], ep: ConvEpilogue = {}): Exec {
  const CinP = roundUp(Ig, 8), CoP = roundUp(O, 4);
  const wp = e.alloc(CoP * K * K * CinP * 2), bp = e.alloc(CoP * 4), sp = e.alloc(CoP * 4), op = e.alloc(CoP * 4);
  held.push(wp, bp, sp, op);
  const d2s = ep.d2s, qfinal = ep.q ?? qout;
  // the epilogue's tables and its header (conv8.ts epi: lut, lutStride, pair, resOffs, res, resPix, resLut)
  let hp = 0;
  if (ep.act || ep.add) {
    const put = (bytes: Int8Array | Int32Array): number => {
      const p = e.alloc(bytes.byteLength);
      held.push(p);
      new Uint8Array(e.memory.buffer, p, bytes.byteLength).set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return p;
    };
    const header = new Int32Array(7);
    if (ep.act) header.set([put(ep.act.tables), ep.act.perChannel ? 256 : 0], 0);
    if (ep.add) header.set([put(ep.add.table), put(ep.add.ch)], 2);
    if (ep.add?.lut) header[6] = put(ep.add.lut);
    hp = put(header);
  }
  // where channel co of a pixel goes: co itself, or (fused depth_to_space) its place among the s x s output pixels
  const s = d2s?.scale ?? 1, C = O / (s * s); // C: the channels after the depth_to_space
  const offsFor = (Wo: number): Int32Array => Int32Array.from({ length: CoP }, (_, co) => {
    if (co >= O) return 0;
    if (!d2s) return co;
    const [c, ij] = d2s.order === 'pytorch' ? [Math.floor(co / (s * s)), co % (s * s)] : [co % C, Math.floor(co / C)];
    return (Math.floor(ij / s) * Wo * s + (ij % s)) * C + c;
  });
  let offsW = -1;
  // [CoP/4][ky][CinP/8][kx][4 output channels][8 input channels] (conv2d_s8's order of reading)
  const w16 = new Int16Array(e.memory.buffer, wp, CoP * K * K * CinP).fill(0), G = CinP / 8;
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < Ig; i++) {
      for (let ky = 0; ky < K; ky++) {
        for (let kx = 0; kx < K; kx++) {
          w16[((((o >> 2) * K + ky) * G + (i >> 3)) * K + kx) * 32 + (o & 3) * 8 + (i & 7)] = wq[(o * Ig + i) * K * K + ky * K + kx]!;
        }
      }
    }
  }
  new Int32Array(e.memory.buffer, bp, CoP).fill(0).set(bias);
  new Float32Array(e.memory.buffer, sp, CoP).fill(0).set(scale);
  const pad = n.padding;
  return ([x, res]) => {
    const { h: H, w: W, c: Cin } = x!;
    const Ho = H + 2 * pad - K + 1, Wo = W + 2 * pad - K + 1, Hp = H + 2 * pad, Wp = W + 2 * pad;
    if (ep.add && (res!.h !== Ho || res!.w !== Wo)) throw new Error(`mvsr: int8: conv '${n.id}': its ${Ho}x${Wo} output and the ${res!.h}x${res!.w} tensor added to it differ in size`);
    const x8 = inEngine(e, x!.data), rp = ep.add ? inEngine(e, res!.data) : null;
    const xp = e.alloc(Hp * Wp * CinP * 2), yp = e.alloc(Ho * Wo * O);
    try {
      e.run('pad_s8_i16', [x8.ptr, H, W, Cin, pad, qin.zeroPoint, CinP, xp]);
      if (offsW !== Wo) new Int32Array(e.memory.buffer, op, CoP).set(offsFor((offsW = Wo)));
      if (rp) new Int32Array(e.memory.buffer, hp, 6).set([rp.ptr, res!.c], 4);
      const [rowStride, pixStride] = d2s ? [s * Wo * s * C, s * C] : [Wo * O, O];
      e.run('conv2d_s8', [xp, Ho, Wo, CinP, K, wp, O, bp, sp, qout.zeroPoint, lo, yp, rowStride, pixStride, op, hp]);
    } catch (err) {
      e.release(yp);
      throw err;
    } finally {
      if (x8.copied) e.release(x8.ptr);
      if (rp?.copied) e.release(rp.ptr);
      e.release(xp);
    }
    const data = residentView(e, yp, Ho * Wo * O); // left in place for the next kernel; the run releases it
    return d2s ? { h: Ho * s, w: Wo * s, c: C, data, q: qfinal } : { h: Ho, w: Wo, c: O, data, q: qfinal };
  };
}

/**
 * A transposed conv (PyTorch ConvTranspose2d, groups 1) in int8, as TFLite's TRANSPOSE_CONV runs it:
 * each input value minus its zero point scattered times the int8 weights into int32 accumulators,
 * the int32 bias added, requantized per output channel by a float32 scale (rounded to even, as for
 * CONV_2D) and saturated. PyTorch's padding crops the full output, output_padding extends it at the end.
 */
function convTransposeExec(g: QuantGraph, n: GraphNode & { op: 'convTranspose' }, qin: QParams, qout: QParams): Exec {
  const w = weightOf(g, n, n.weight), scales = g.quant.weights[n.weight]!;
  const [Ci, O, K] = w.shape as [number, number, number];
  const wq = quantizeWeight(w, scales, 1); // [Ci, O, K, K]
  const bias = quantizeBias(n.bias === null ? null : weightOf(g, n, n.bias).data, O, qin.scale, scales);
  const scale = Float32Array.from(scales, (s) => convScale(qin.scale, s, qout.scale));
  const S = n.stride, p = n.padding;
  return ([x]) => {
    const { h: H, w: W, c: C } = x!;
    if (C !== Ci) throw graphError(g, n, `int8: input has ${C} channels, the weight ${Ci}`);
    const Ho = (H - 1) * S - 2 * p + K + n.outputPadding, Wo = (W - 1) * S - 2 * p + K + n.outputPadding;
    const acc = new Int32Array(Ho * Wo * O);
    for (let i = 0; i < acc.length; i++) acc[i] = bias[i % O]!;
    for (let iy = 0; iy < H; iy++) {
      for (let ix = 0; ix < W; ix++) {
        for (let ci = 0; ci < C; ci++) {
          const v = x!.data[(iy * W + ix) * C + ci]! - qin.zeroPoint;
          if (v === 0) continue;
          for (let ky = 0; ky < K; ky++) {
            const oy = iy * S - p + ky;
            if (oy < 0 || oy >= Ho) continue;
            for (let kx = 0; kx < K; kx++) {
              const ox = ix * S - p + kx;
              if (ox < 0 || ox >= Wo) continue;
              const a = (oy * Wo + ox) * O, wb = (ci * O * K + ky) * K + kx;
              for (let o = 0; o < O; o++) acc[a + o] += v * wq[wb + o * K * K]!;
            }
          }
        }
      }
    }
    const out = new Int8Array(acc.length);
    for (let i = 0; i < acc.length; i++) {
      const r = requantizeFp32(acc[i]!, scale[i % O]!) + qout.zeroPoint;
      out[i] = r < INT8_MIN ? INT8_MIN : r > INT8_MAX ? INT8_MAX : r;
    }
    return { h: Ho, w: Wo, c: O, data: out, q: qout };
  };
}

/** One conv (groups 1 or depthwise) in int8: precomputed weights, int32 biases and per-channel multipliers. */
function convExec(g: QuantGraph, n: GraphNode & { op: 'conv' }, qin: QParams, qout: QParams, e: Engine | null, held: number[], ep?: ConvEpilogue): Exec {
  const w = weightOf(g, n, n.weight), scales = g.quant.weights[n.weight]!;
  const [O, Ig, K] = w.shape as [number, number, number];
  const wq = quantizeWeight(w, scales); // OIHW
  const bias = quantizeBias(n.bias === null ? null : weightOf(g, n, n.bias).data, O, qin.scale, scales);
  const scale = Float32Array.from(scales, (s) => convScale(qin.scale, s, qout.scale));
  const lo = n.act?.kind === 'relu' ? Math.max(INT8_MIN, qout.zeroPoint) : INT8_MIN;
  const depthwise = n.groups !== 1, S = n.stride ?? 1;
  if (e && !depthwise && S === 1) return wasmConvExec(e, n, wq, bias, scale, Ig, O, K, qin, qout, lo, held, ep);
  if (ep) throw new Error(`mvsr: int8: conv '${n.id}': ops are fused only into a WASM conv`);
  // OIHW -> per output channel [ky][kx][i], matching the patch layout below
  const wt = new Int32Array(wq.length);
  for (let o = 0; o < O; o++) for (let i = 0; i < Ig; i++) for (let t = 0; t < K * K; t++) wt[(o * K * K + t) * Ig + i] = wq[(o * Ig + i) * K * K + t]!;
  const pad = n.padding;
  return ([x]) => {
    const { h: H, w: W, c: C } = x!;
    const Ho = Math.floor((H + 2 * pad - K) / S) + 1, Wo = Math.floor((W + 2 * pad - K) / S) + 1;
    // input minus its zero point, zero-padded: padding is the real value 0
    const Hp = H + 2 * pad, Wp = W + 2 * pad, xs = new Int32Array(Hp * Wp * C);
    for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < C; c++) xs[((y + pad) * Wp + xx + pad) * C + c] = x!.data[(y * W + xx) * C + c]! - qin.zeroPoint;
    const out = new Int8Array(Ho * Wo * O);
    const patch = new Int32Array(K * K * C);
    for (let y = 0; y < Ho; y++) {
      for (let xx = 0; xx < Wo; xx++) {
        let p = 0;
        for (let ky = 0; ky < K; ky++) { const row = ((y * S + ky) * Wp + xx * S) * C; for (let k = 0; k < K * C; k++) patch[p++] = xs[row + k]!; }
        const o0 = (y * Wo + xx) * O;
        for (let o = 0; o < O; o++) {
          let acc = bias[o]!;
          if (depthwise) {
            for (let t = 0; t < K * K; t++) acc += patch[t * C + o]! * wt[o * K * K + t]!;
          } else {
            const wo = o * K * K * Ig;
            for (let k = 0; k < K * K * Ig; k++) acc += patch[k]! * wt[wo + k]!;
          }
          const v = requantizeFp32(acc, scale[o]!) + qout.zeroPoint;
          out[o0 + o] = v < lo ? lo : v > INT8_MAX ? INT8_MAX : v;
        }
      }
    }
    return { h: Ho, w: Wo, c: O, data: out, q: qout };
  };
}




/**
 * A 1x1 conv (groups 1, stride 1, no padding; no activation, or a ReLU when `relu`) whose int8
 * weights have at most one nonzero per output channel (the outlier split's centre convs, ETDS's
 * conv_clip) makes each output channel from one input channel: its int8 value is a table of that
 * channel's. Per output channel, the input channel read (0 when every weight is zero) and its table
 * of 256 (indexed by the input value's low byte), by convExec's arithmetic; undefined for any other conv.
 */
function pointwiseTables(g: QuantGraph, n: GraphNode, qin: QParams, qout: QParams, relu = false): { ch: Int32Array; tables: Int8Array } | undefined {
  if (n.op !== 'conv' || n.groups !== 1 || (n.stride ?? 1) !== 1 || n.padding !== 0 || (n.dilation ?? 1) !== 1) return undefined;
  if (n.act && !(relu && n.act.kind === 'relu')) return undefined;
  const lo = n.act ? Math.max(INT8_MIN, qout.zeroPoint) : INT8_MIN;
  const w = weightOf(g, n, n.weight), [O, I, K] = w.shape as [number, number, number];
  if (K !== 1) return undefined;
  const scales = g.quant.weights[n.weight]!, wq = quantizeWeight(w, scales);
  const bias = quantizeBias(n.bias === null ? null : weightOf(g, n, n.bias).data, O, qin.scale, scales);
  const ch = new Int32Array(O), tables = new Int8Array(O * 256);
  for (let o = 0; o < O; o++) {
    let at = -1;
    for (let i = 0; i < I; i++) {
      if (wq[o * I + i] === 0) continue;
      if (at >= 0) return undefined;
      at = i;
    }
    ch[o] = Math.max(at, 0);
    const wo = at >= 0 ? wq[o * I + at]! : 0, scale = convScale(qin.scale, scales[o]!, qout.scale);
    for (let v = INT8_MIN; v <= INT8_MAX; v++) tables[o * 256 + (v & 255)] = Math.max(lo, sat8(requantizeFp32(bias[o]! + wo * (v - qin.zeroPoint), scale) + qout.zeroPoint));
  }
  return { ch, tables };
}

function actExec(g: QuantGraph, n: GraphNode, a: Act, qin: QParams, qout: QParams): Exec {
  const { tables, perChannel } = actTables(g, n, a, qin, qout);
  return ([x]) => {
    if (!perChannel) return { ...x!, data: gather(x!.data, tables), q: qout };
    const C = x!.c, src = x!.data, out = new Int8Array(src.length);
    for (let p = 0; p < src.length; p += C) for (let c = 0; c < C; c++) out[p + c] = tables[(c << 8) | (src[p + c]! & 255)]!;
    return { ...x!, data: out, q: qout };
  };
}


function addExec(qa: QParams, qb: QParams, qout: QParams): Exec {
  const table = addTable(qa, qb, qout);
  return ([a, b]) => ({ ...a!, data: gather2(a!.data, b!.data, table), q: qout });
}

/**
 * int8 MUL as TFLite's CPU runtime computes it (XNNPACK's qs8 vmul, fp32 requantization): the
 * exact product (a - za)(b - zb) times the float32 scale fround(fround(sa * sb) / so), rounded to
 * nearest with ties to even, plus the output zero point. TFLite's reference MulElementwise
 * (MultiplyByQuantizedMultiplier) rounds twice and is one step off where the scaled product
 * lands just below a half step (48.498 -> 49, not 48). XNNPACK takes the node only
 * for a scale in [2^-16, 2^8); outside it TFLite's own kernel, the fixed-point form, runs.
 */
function mulExec(qa: QParams, qb: QParams, qout: QParams): Exec {
  const scale = convScale(qa.scale, qb.scale, qout.scale);
  let rescale: (acc: number) => number;
  if (scale >= 2 ** -16 && scale < 2 ** 8) rescale = (acc) => requantizeFp32(acc, scale);
  else {
    const [m, s] = quantizeMultiplier((qa.scale * qb.scale) / qout.scale);
    rescale = (acc) => multiplyByQuantizedMultiplier(acc, m, s);
  }
  const table = pairTable((va, vb) => sat8(rescale((va - qa.zeroPoint) * (vb - qb.zeroPoint)) + qout.zeroPoint));
  return ([a, b]) => ({ ...a!, data: gather2(a!.data, b!.data, table), q: qout });
}

/**
 * int8 bilinear resize (half-pixel centres) as XNNPACK computes it (TFLite's CPU path): source
 * positions in float32, clamped to the image, fractions as 11-bit weights (round to even), a
 * horizontal then a vertical blend in integers, rounded at 2^21.
 */
function resizeBilinearInt8(x: Int8Tensor, Ho: number, Wo: number): Int8Array {
  const { h: H, w: W, c: C } = x;
  const f = Math.fround;
  const taps = (size: number, out: number): { lo: Int32Array; hi: Int32Array; a: Int32Array } => {
    const scale = f(size / out), offset = f(f(0.5 * scale) - 0.5);
    const lo = new Int32Array(out), hi = new Int32Array(out), a = new Int32Array(out);
    for (let i = 0; i < out; i++) {
      const p = Math.min(Math.max(f(f(i * scale) + offset), 0), size - 1);
      lo[i] = Math.trunc(p);
      hi[i] = Math.min(lo[i]! + 1, size - 1);
      a[i] = roundHalfEven(f(p - lo[i]!) * 2048);
    }
    return { lo, hi, a };
  };
  const ty = taps(H, Ho), tx = taps(W, Wo);
  const out = new Int8Array(Ho * Wo * C);
  for (let y = 0; y < Ho; y++) {
    const r0 = ty.lo[y]! * W, r1 = ty.hi[y]! * W, av = ty.a[y]!;
    for (let xx = 0; xx < Wo; xx++) {
      const c0 = tx.lo[xx]!, c1 = tx.hi[xx]!, ah = tx.a[xx]!;
      for (let c = 0; c < C; c++) {
        const tl = x.data[(r0 + c0) * C + c]!, tr = x.data[(r0 + c1) * C + c]!, bl = x.data[(r1 + c0) * C + c]!, br = x.data[(r1 + c1) * C + c]!;
        const vt = tl * 2048 + (tr - tl) * ah, vb = bl * 2048 + (br - bl) * ah;
        out[(y * Wo + xx) * C + c] = Math.floor((vt * 2048 + (vb - vt) * av + 2097152) / 4194304);
      }
    }
  }
  return out;
}

function permute(x: Int8Tensor, Ho: number, Wo: number, Co: number, src: (y: number, x: number, c: number) => number, q: QParams): Int8Tensor {
  const out = new Int8Array(Ho * Wo * Co);
  for (let y = 0, i = 0; y < Ho; y++) for (let xx = 0; xx < Wo; xx++) for (let c = 0; c < Co; c++) out[i++] = x.data[src(y, xx, c)]!;
  return { h: Ho, w: Wo, c: Co, data: out, q };
}

function layoutExec(n: GraphNode, shape: (id: string) => NodeShape, q: QParams): Exec {
  switch (n.op) {
    case 'slice':
      return ([x]) => permute(x!, x!.h, x!.w, n.end - n.start, (y, xx, c) => (y * x!.w + xx) * x!.c + n.start + c, q);
    case 'depthToSpace': {
      const s = n.scale;
      return ([x]) => {
        const { h: H, w: W, c: Cin, data: src } = x!, C = Cin / (s * s), Wo = W * s, out = new Int8Array(src.length);
        // PyTorch (CRD): channel c*s^2 + i*s + j; TF (DCR): (i*s + j)*C + c
        const cs = n.order === 'pytorch' ? s * s : 1, ijs = n.order === 'pytorch' ? 1 : C;
        for (let y = 0; y < H; y++) {
          for (let xx = 0; xx < W; xx++) {
            const p = (y * W + xx) * Cin;
            for (let i = 0; i < s; i++) {
              for (let j = 0; j < s; j++) {
                const o = ((y * s + i) * Wo + xx * s + j) * C, ij = (i * s + j) * ijs;
                for (let c = 0; c < C; c++) out[o + c] = src[p + c * cs + ij]!;
              }
            }
          }
        }
        return { h: H * s, w: Wo, c: C, data: out, q };
      };
    }
    case 'spaceToDepth': {
      const s = n.scale;
      return ([x]) => {
        const C = x!.c, Co = C * s * s;
        return permute(x!, x!.h / s, x!.w / s, Co, (y, xx, k) => {
          const [c, ij] = n.order === 'pytorch' ? [Math.floor(k / (s * s)), k % (s * s)] : [k % C, Math.floor(k / C)];
          return ((y * s + Math.floor(ij / s)) * x!.w + xx * s + (ij % s)) * C + c;
        }, q);
      };
    }
    case 'maxPool':
      // the input's parameters (MAX_POOL_2D keeps them): the max of the int8 values
      return ([x]) => {
        const [Ho, Wo] = shape(n.id), { w: W, c: C } = x!, out = new Int8Array(Ho * Wo * C);
        for (let y = 0; y < Ho; y++) {
          for (let xx = 0; xx < Wo; xx++) {
            for (let c = 0; c < C; c++) {
              let m = INT8_MIN;
              for (let dy = 0; dy < n.kernel; dy++) for (let dx = 0; dx < n.kernel; dx++) m = Math.max(m, x!.data[((y * n.stride + dy) * W + xx * n.stride + dx) * C + c]!);
              out[(y * Wo + xx) * C + c] = m;
            }
          }
        }
        return { h: Ho, w: Wo, c: C, data: out, q };
      };
    case 'resizeLike': case 'resize':
      return ([x]) => {
        const [Ho, Wo] = shape(n.id);
        if (n.mode === 'bilinear') return { h: Ho, w: Wo, c: x!.c, data: resizeBilinearInt8(x!, Ho, Wo), q };
        // PyTorch 'nearest': floor(dst * in / out)
        return permute(x!, Ho, Wo, x!.c, (y, xx, c) => (Math.floor((y * x!.h) / Ho) * x!.w + Math.floor((xx * x!.w) / Wo)) * x!.c + c, q);
      };
    default:
      throw new Error(`mvsr: int8: ${n.op} is not a layout op`);
  }
}

/**
 * An int8 concat along channels: each input copied into its channels, one at other parameters
 * than the output's requantized as it is copied (its 256-entry table). On the WASM kernel
 * s8_concat_into when the engine is up (the output left in the engine's memory for the next
 * kernel), else the JavaScript loop, which is its reference.
 */
function concatExec(qins: QParams[], qout: QParams, e: Engine | null, held: number[]): Exec {
  const tables = qins.map((qi) => (qi.scale === qout.scale && qi.zeroPoint === qout.zeroPoint ? null : requantizeTable(qi, qout)));
  if (e) {
    const tp = tables.map((t) => {
      if (!t) return 0;
      const p = e.alloc(256);
      held.push(p);
      new Int8Array(e.memory.buffer, p, 256).set(t);
      return p;
    });
    return (xs) => {
      const C = xs.reduce((a, x) => a + x.c, 0), { h, w } = xs[0]!, len = h * w * C, yp = e.alloc(len);
      try {
        let c0 = 0;
        xs.forEach((x, k) => {
          const xp = inEngine(e, x.data);
          try {
            e.run('s8_concat_into', [xp.ptr, h * w, x.c, tp[k]!, yp, C, c0]);
          } finally {
            if (xp.copied) e.release(xp.ptr);
          }
          c0 += x.c;
        });
      } catch (err) {
        e.release(yp);
        throw err;
      }
      return { h, w, c: C, data: residentView(e, yp, len), q: qout };
    };
  }
  return (xs) => {
    const C = xs.reduce((a, x) => a + x.c, 0), { h, w } = xs[0]!, out = new Int8Array(h * w * C);
    let c0 = 0;
    xs.forEach((x, k) => {
      const src = x.data, Ck = x.c, t = tables[k];
      for (let p = 0, o = c0; p < src.length; p += Ck, o += C) {
        if (t) for (let c = 0; c < Ck; c++) out[o + c] = t[src[p + c]! & 255]!;
        else for (let c = 0; c < Ck; c++) out[o + c] = src[p + c]!;
      }
      c0 += Ck;
    });
    return { h, w, c: C, data: out, q: qout };
  };
}

/** depth_to_space on the WASM kernel (the value permutation of layoutExec's loops, on the engine's threads). */
function depthToSpaceKernel(n: DepthToSpaceNode, qout: QParams, e: Engine): Exec {
  const s = n.scale;
  return ([x]) => {
    const { h: H, w: W, c: Cin, data } = x!, C = Cin / (s * s), len = data.length;
    const xp = inEngine(e, data), yp = e.alloc(len);
    try {
      e.run('s8_depth_to_space', [xp.ptr, H, W, C, s, n.order === 'pytorch' ? 0 : 1, yp]);
    } catch (err) {
      e.release(yp);
      throw err;
    } finally {
      if (xp.copied) e.release(xp.ptr);
    }
    return { h: H * s, w: W * s, c: C, data: residentView(e, yp, len), q: qout };
  };
}

export interface Int8Program {
  readonly graph: QuantGraph;
  /**
   * Run on int8 inputs (each at its input node's parameters); returns the int8 output tensors by
   * output id. `onStep(node, ms)` is called after each node's step (a per-op profile).
   */
  run(inputs: Record<string, Int8Tensor>, onStep?: (n: GraphNode, ms: number) => void): Record<string, Int8Tensor>;
  /** Free the packed weights of the WASM kernels. */
  dispose(): void;
  /** The nodes whose values their conv computes in its stores (WASM kernels only): activations, ADDs (and a concat of the residual not built, or a pointwise conv of it computed by tables), depth_to_space. */
  readonly fused: readonly string[];
}

export interface CompileInt8Options {
  /** Run groups-1 convs on the WASM kernel when the engine is up (default true); false: the JavaScript reference loops only. */
  kernels?: boolean;
}

/** Compile a quantized graph for the integer executor (checks its quant section; shapes are checked per run). */
export function compileInt8(g: Graph, o: CompileInt8Options = {}): Int8Program {
  validateQuant(g);
  const q = g.quant;
  let e: Engine | null = null;
  if (o.kernels ?? true) {
    try {
      e = engine();
    } catch {
      e = null; // no engine: the JavaScript loops
    }
  }
  const held: number[] = [];
  const steps = new Map<string, Exec>();
  let shapes = new Map<string, NodeShape>();
  const shape = (id: string): NodeShape => shapes.get(id)!;
  // ops fused into a WASM conv's stores (ConvEpilogue): an activation, an ADD, a depth_to_space at
  // its input's parameters, in that order, each the only reader of the one before; the conv then
  // runs at the last one's place with [its input, the residual]. An ADD's residual that is a concat
  // of one tensor's channels (a tail's repeated input) is read from that tensor: the concat is not built.
  const readers = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const soleReader = (id: string): GraphNode | undefined => (readers.get(id) === 1 ? g.nodes.find((m) => m.inputs.includes(id)) : undefined);
  const sameQ = (a: string, b: string): boolean => q.act[a]!.scale === q.act[b]!.scale && q.act[a]!.zeroPoint === q.act[b]!.zeroPoint;
  /** The tensor and channels a concat copies, when all of them come from one tensor at its parameters (directly or through channel slices). */
  const channelsOf = (id: string): { src: string; ch: number[] } | undefined => {
    const c = byId.get(id);
    if (c?.op !== 'concat' || readers.get(id) !== 1) return undefined;
    let src: string | undefined;
    const ch: number[] = [];
    for (const i of c.inputs) {
      const m = byId.get(i)!, [from, chans] = m.op === 'slice' ? [m.inputs[0]!, Array.from({ length: m.end - m.start }, (_, k) => m.start + k)] : [i, Array.from({ length: shapeC(i) }, (_, k) => k)];
      if ((src !== undefined && from !== src) || !sameQ(from, id) || !sameQ(i, id)) return undefined;
      src = from;
      ch.push(...chans);
    }
    return src === undefined ? undefined : { src, ch };
  };
  let channelCounts: Map<string, NodeShape> | undefined;
  const shapeC = (id: string): number => {
    // channels do not depend on the size: the first size the graph takes
    for (const size of [16, 48, 64]) {
      if (channelCounts) break;
      try { channelCounts = inferShapes(g, size, size); } catch { /* a size this graph does not take */ }
    }
    if (!channelCounts) throw graphError(g, byId.get(id)!, 'int8: no input size gives this graph shapes');
    return channelCounts.get(id)![2];
  };
  const fusion = new Map<string, { conv: GraphNode & { op: 'conv' }; ep: ConvEpilogue; res?: string }>(); // by the last fused node's id
  const absorbed = new Set<string>(); // nodes whose values no step computes
  const claimed = new Set<string>(); // nodes in some conv's epilogue
  for (const c of e ? g.nodes : []) {
    if (c.op !== 'conv' || c.groups !== 1 || (c.stride ?? 1) !== 1) continue;
    const ep: ConvEpilogue = {}, nodes: string[] = [];
    const next = (id: string): GraphNode | undefined => { const r = soleReader(id); return r && !claimed.has(r.id) ? r : undefined; };
    let cur: string = c.id, m = next(cur), res: string | undefined;
    if (m?.op === 'act') {
      ep.act = actTables(g, m, m.act, q.act[cur]!, q.act[m.id]!);
      nodes.push((cur = m.id));
      m = next(cur);
    }
    if (m?.op === 'add' && m.inputs[0] !== m.inputs[1]) {
      const first = m.inputs[0] === cur, other = first ? m.inputs[1]! : m.inputs[0]!;
      const t = addTable(q.act[m.inputs[0]!]!, q.act[m.inputs[1]!]!, q.act[m.id]!);
      // indexed by (the conv's value, the residual's)
      const table = first ? t : Int8Array.from({ length: 65536 }, (_, i) => t[((i & 255) << 8) | (i >> 8)]!);
      // the residual: a concat of one tensor's channels read from that tensor; a pointwise conv
      // of one input channel per output (pointwiseTables) read through its tables from its input
      const rep = channelsOf(other), on = byId.get(other)!;
      const pw = !rep && readers.get(other) === 1 && !claimed.has(other) ? pointwiseTables(g, on, q.act[on.inputs[0]!]!, q.act[other]!) : undefined;
      res = rep?.src ?? (pw ? on.inputs[0]! : other);
      if (rep || pw) nodes.push(other);
      ep.add = { table, ch: pw?.ch ?? Int32Array.from(rep?.ch ?? Array.from({ length: shapeC(other) }, (_, k) => k)), lut: pw?.tables };
      nodes.push((cur = m.id));
      m = next(cur);
      // an activation after the add (a split conv's ReLU): its table composed into the add's
      if (m?.op === 'act') {
        const after = actTables(g, m, m.act, q.act[cur]!, q.act[m.id]!);
        if (!after.perChannel) {
          const t = after.tables;
          ep.add.table = ep.add.table.map((v) => t[v & 255]!);
          nodes.push((cur = m.id));
          m = next(cur);
        }
      }
    }
    // a 1x1 conv that makes each channel from the same channel (ETDS's conv_clip): its tables
    // composed into what the stores already look up (an ADD's table only when every channel's is the same)
    if (m?.op === 'conv' && m.inputs[0] === cur) {
      const pw = pointwiseTables(g, m, q.act[cur]!, q.act[m.id]!, true);
      const C = shapeC(cur), t = pw?.tables;
      const shared = !!t && t.every((v, i) => v === t[i & 255]);
      if (t && pw.ch.length === C && pw.ch.every((i, o) => i === o) && (!ep.add || shared)) {
        // channel c's value v becomes t[c][v]: after the ADD's table, or after the activation's (none: the identity)
        if (ep.add) ep.add.table = ep.add.table.map((v) => t[v & 255]!);
        else {
          const a = ep.act ?? { tables: IDENTITY8, perChannel: false };
          ep.act = shared && !a.perChannel ? { tables: a.tables.map((v) => t[v & 255]!), perChannel: false }
            : { tables: Int8Array.from({ length: C * 256 }, (_, i) => t[(i & ~255) | (a.tables[a.perChannel ? i : i & 255]! & 255)]!), perChannel: true };
        }
        nodes.push((cur = m.id));
        m = next(cur);
      }
    }
    if (m?.op === 'depthToSpace' && sameQ(cur, m.id)) {
      ep.d2s = m as DepthToSpaceNode;
      nodes.push((cur = m.id));
    }
    if (!nodes.length) continue;
    ep.q = q.act[cur]!;
    fusion.set(cur, { conv: c, ep, res });
    absorbed.add(c.id);
    for (const id of nodes) {
      claimed.add(id);
      if (id !== cur) absorbed.add(id);
    }
  }
  const hosts = new Set([...fusion.values()].map((f) => f.conv.id));
  for (const [id, f] of fusion) if (f.res && absorbed.has(f.res)) throw graphError(g, byId.get(id)!, `int8: the residual '${f.res}' of the fused conv '${f.conv.id}' is itself fused away`);
  const inputsOf = new Map<string, string[]>();
  for (const n of g.nodes) {
    const qout = q.act[n.id]!, qin = n.inputs.length ? q.act[n.inputs[0]!]! : qout;
    const f = fusion.get(n.id);
    if (f) {
      steps.set(n.id, convExec(g, f.conv, q.act[f.conv.inputs[0]!]!, q.act[f.conv.id]!, e, held, f.ep));
      inputsOf.set(n.id, f.res ? [f.conv.inputs[0]!, f.res] : [f.conv.inputs[0]!]);
      continue;
    }
    if (absorbed.has(n.id)) continue; // computed by its conv's stores
    switch (n.op) {
      case 'input': case 'output': break;
      case 'estimateShift': steps.set(n.id, ([a, b]) => ({ h: 1, w: 1, c: 2, data: new Int8Array(0), q: qin, shift: int8EstimateShift(a!, b!, n.radius) })); break;
      case 'translate': steps.set(n.id, ([x, d]) => int8Translate(x!, d!.shift!, n.factor)); break;
      case 'conv': steps.set(n.id, convExec(g, n, qin, qout, e, held)); break;
      case 'convTranspose': steps.set(n.id, convTransposeExec(g, n, qin, qout)); break;
      case 'act': steps.set(n.id, actExec(g, n, n.act, qin, qout)); break;
      case 'add': steps.set(n.id, addExec(qin, q.act[n.inputs[1]!]!, qout)); break;
      case 'mul': steps.set(n.id, mulExec(qin, q.act[n.inputs[1]!]!, qout)); break;
      case 'concat': steps.set(n.id, concatExec(n.inputs.map((i) => q.act[i]!), qout, e, held)); break;
      default: steps.set(n.id, n.op === 'depthToSpace' && e ? depthToSpaceKernel(n, qout, e) : layoutExec(n, shape, qout));
    }
  }
  // how often a run reads each value (graph outputs: never released during the run)
  const reads = new Map<string, number>();
  for (const n of g.nodes) {
    if (n.op === 'input' || absorbed.has(n.id)) continue;
    for (const i of n.op === 'output' ? [] : inputsOf.get(n.id) ?? n.inputs) reads.set(i, (reads.get(i) ?? 0) + 1);
  }
  for (const o of graphOutputs(g)) reads.set(o.inputs[0]!, Infinity);
  return {
    graph: g,
    fused: [...absorbed].filter((id) => !hosts.has(id)).concat([...fusion.keys()]),
    run(inputs, onStep) {
      const first = graphInputs(g)[0]!, x0 = inputs[first.id];
      if (!x0) throw graphError(g, first, 'no tensor given for this input');
      const k = first.scale ?? 1;
      shapes = inferShapes(g, x0.h / k, x0.w / k);
      const vals = new Map<string, Int8Tensor>();
      // kernel outputs stay in the engine's memory (resident): each is released after its last
      // read, graph outputs copied out at the end
      const pending = new Map<number, number>(); // pointer -> reads left
      const hold = (id: string, v: Int8Tensor): void => {
        const p = resident.get(v.data);
        if (p === undefined) return;
        const left = (pending.get(p) ?? 0) + (reads.get(id) ?? 0);
        if (left > 0) pending.set(p, left);
        else {
          pending.delete(p);
          e!.release(p);
        }
      };
      const consume = (ids: readonly string[]): void => {
        for (const i of ids) {
          const p = resident.get(vals.get(i)!.data);
          if (p === undefined) continue;
          const left = pending.get(p)! - 1;
          if (left > 0) pending.set(p, left);
          else {
            pending.delete(p);
            e!.release(p);
          }
        }
      };
      try {
        for (const n of g.nodes) {
          if (n.op === 'input') {
            const x = inputs[n.id], [H, W, C] = shape(n.id);
            if (!x || x.h !== H || x.w !== W || x.c !== C || x.data.length !== H * W * C) throw graphError(g, n, `needs an int8 tensor ${H}x${W}x${C}`);
            const want = q.act[n.id]!;
            if (x.q.scale !== want.scale || x.q.zeroPoint !== want.zeroPoint) throw graphError(g, n, `input quantized at scale ${x.q.scale} zero point ${x.q.zeroPoint}, the graph's is ${want.scale}, ${want.zeroPoint}`);
            vals.set(n.id, x);
          } else if (n.op === 'output') vals.set(n.id, vals.get(n.inputs[0]!)!);
          else if (absorbed.has(n.id)) continue;
          else {
            const t0 = onStep ? performance.now() : 0;
            const ins = inputsOf.get(n.id) ?? n.inputs, v = steps.get(n.id)!(ins.map((i) => vals.get(i)!));
            vals.set(n.id, v);
            hold(n.id, v);
            consume(ins);
            onStep?.(n, performance.now() - t0);
          }
        }
        return Object.fromEntries(graphOutputs(g).map((o) => {
          const v = vals.get(o.id)!;
          return [o.id, resident.has(v.data) ? { ...v, data: v.data.slice() } : v];
        }));
      } finally {
        for (const p of pending.keys()) e!.release(p); // the outputs' (copied) and, after an error, any left
      }
    },
    dispose() {
      for (const p of held.splice(0)) e!.release(p);
    },
  };
}

/**
 * Global alignment on int8 frames (align: global), which TFLite has no op for and a .tflite
 * leaves to its host (graph/host-align.ts): the shift from frame a to frame b estimated on their
 * dequantized values, as the float graph estimates it (float32 dx, dy).
 */
export function int8EstimateShift(a: Int8Tensor, b: Int8Tensor, radius: number): Float32Array {
  const fa = dequantizeTensor(a), fb = dequantizeTensor(b);
  try {
    const d = estimateShiftTensor(fa, fb, radius);
    try { return d.toArray(); } finally { d.dispose(); }
  } finally {
    fa.dispose();
    fb.dispose();
  }
}

/** x moved by factor x shift (bilinear, edges replicated) on its dequantized values, quantized back at x's parameters. */
export function int8Translate(x: Int8Tensor, shift: Float32Array, factor: number): Int8Tensor {
  if (shift[0] === 0 && shift[1] === 0) return x;
  const fx = dequantizeTensor(x), d = Tensor.from([1, 1, 1, 2], shift);
  try {
    const y = translateTensor(fx, d, factor);
    try { return quantizeTensor(y, x.q); } finally { y.dispose(); }
  } finally {
    fx.dispose();
    d.dispose();
  }
}

/** A float NHWC tensor (batch 1) in int8 at q. */
export function quantizeTensor(x: Tensor, q: QParams): Int8Tensor {
  const [N, h, w, c] = x.shape as [number, number, number, number];
  if (N !== 1) throw new Error(`mvsr: int8: batch ${N} is not supported (batch 1 only)`);
  // quantizeValue's arithmetic on the engine's threads (the tensor lives in its memory)
  const e = engine(), n = h * w * c, yp = e.alloc(n);
  try {
    e.run('f32_quant_s8', [x.ptr, n, q.scale, q.zeroPoint, yp]);
    return { h, w, c, data: new Int8Array(e.memory.buffer, yp, n).slice(), q };
  } finally {
    e.release(yp);
  }
}

/** DEQUANTIZE: scale * (q - zero point) in float32. */
export function dequantizeTensor(x: Int8Tensor): Tensor {
  const t = Tensor.empty([1, x.h, x.w, x.c]);
  const table = new Float32Array(256);
  for (let v = INT8_MIN; v <= INT8_MAX; v++) table[v & 255] = x.q.scale * (v - x.q.zeroPoint);
  // the gather through the table on the engine's threads (the tensor lives in its memory)
  const e = engine(), n = x.data.length, xp = e.alloc(n), tp = e.alloc(1024);
  try {
    new Int8Array(e.memory.buffer, xp, n).set(x.data);
    new Float32Array(e.memory.buffer, tp, 256).set(table);
    e.run('s8_dequant', [xp, n, tp, t.ptr]);
  } finally {
    e.release(xp);
    e.release(tp);
  }
  return t;
}
