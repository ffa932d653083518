// TFLite writer for the deploy IR: one Model flatbuffer (TFLite's schema.fbs, file identifier
// "TFL3", vendored in vendor/tflite with its licence) with one subgraph of builtin ops in NHWC,
// float32 inputs and outputs of a fixed size named by the graph's input and output node ids
// through the SignatureDef 'serving_default'. Weights are float32, or float16 with DEQUANTIZE ops
// (the layout the TFLite converter emits for the GPU delegate). PyTorch's channel orders
// (pixel shuffle / unshuffle) become TF's by permuting the producing conv's output channels
// where it is read only there, else by a GATHER. A quantized graph (graph/quant.ts) exports as
// full integer: int8 tensors with their scales and zero points, int8 per-channel weights, int32
// biases, and float32, int8 or uint8 (0-255 pixels) inputs and outputs. Browser-safe.
import { Builder, ByteBuffer, type Offset } from 'flatbuffers';
import {
  type Graph, type GraphNode, type Act, type GraphWeight, graphError, graphInputs, graphOutputs, validateGraph, weightOf,
  convSpan,
} from '../graph/ir.js';
import { inferShapes, inferChannels } from '../graph/shapes.js';
import { optimizeGraph, useCounts, splitGroupedConvs } from '../graph/passes.js';
import { hostAlignment } from '../graph/host-align.js';
import { attentionScale } from '../tensor/ops/attention.js';
import { toFloat16Array } from './onnx-builder.js';
import {
  type QParams, type QuantGraph, UINT8_PIXELS, validateQuant, quantizeWeight, quantizeBias, quantizeValue,
} from '../graph/quant.js';

/** Input and output types of an int8 model: float32 (QUANTIZE / DEQUANTIZE inside), int8, or uint8 0-255 pixels. */
export type TfliteIo = 'float32' | 'int8' | 'uint8';
export const TFLITE_IO: readonly TfliteIo[] = ['float32', 'int8', 'uint8'];

export interface TfliteExportOptions {
  /** Float16 weights, each followed by a DEQUANTIZE to float32 (inputs, outputs and arithmetic stay float32). */
  fp16?: boolean;
  /** The base input size [H, W] (batch 1); an input of scale k is [H*k, W*k]. TFLite tensors have fixed shapes. */
  inputShape: [number, number];
  /** Full integer export of a quantized graph (one with a quant section, from mvsr quantize). */
  int8?: boolean;
  /** With int8: the type of the frame inputs and outputs (default float32); a video state stays int8 (float32 with io float32). */
  io?: TfliteIo;
}

/** schema.fbs enums used here. */
const TensorType = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT8: 9 } as const;
const Op = {
  ADD: 0, CONCATENATION: 2, CONV_2D: 3, DEPTHWISE_CONV_2D: 4, DEPTH_TO_SPACE: 5, DEQUANTIZE: 6, LOGISTIC: 14, MUL: 18, RELU: 19,
  RESHAPE: 22, RESIZE_BILINEAR: 23, SPACE_TO_DEPTH: 26, TANH: 28, GATHER: 36, STRIDED_SLICE: 45, PRELU: 54, MAXIMUM: 55, MINIMUM: 57,
  TRANSPOSE_CONV: 67, RESIZE_NEAREST_NEIGHBOR: 97, LEAKY_RELU: 98, QUANTIZE: 114, MEAN: 40, SUB: 41, SQRT: 75, GELU: 150, MAX_POOL_2D: 17, RSQRT: 76,
  SOFTMAX: 25, PAD: 34, TRANSPOSE: 39, BATCH_MATMUL: 126,
} as const;
/** BuiltinOptions union indices (1-based, in schema order). */
const Opt = {
  Conv2D: 1, DepthwiseConv2D: 2, Concatenation: 10, Add: 11, ResizeBilinear: 15, SpaceToDepth: 19, Mul: 21, Gather: 23,
  StridedSlice: 32, Reducer: 27, Sub: 28, Gelu: 116, Pool2D: 5, Dequantize: 38, MaximumMinimum: 39, TransposeConv: 49, ResizeNearestNeighbor: 74, LeakyRelu: 75, DepthToSpace: 94,
  Softmax: 9, Pad: 22, Transpose: 26, BatchMatMul: 101,
} as const;
const PADDING_SAME = 0, PADDING_VALID = 1;
const ACT_NONE = 0, ACT_RELU = 1;

/** A tensor's quantization: one scale and zero point, or one per index of dimension `dim`. */
interface TensorQuant { scale: number[]; zeroPoint: number[]; dim: number }
interface TensorSpec { name: string; shape: number[]; type: number; buffer: number; quant?: TensorQuant }
const perTensor = (q: QParams): TensorQuant => ({ scale: [q.scale], zeroPoint: [q.zeroPoint], dim: 0 });
/** An option table: its union index and the fields to write ([slot, kind, value]). */
interface Options { type: number; fields: [number, 'i8' | 'i32' | 'f32' | 'bool', number][] }
interface OpSpec { op: number; inputs: number[]; outputs: number[]; options?: Options }

/** The model being assembled: tensors, constant buffers, operators. */
class TfliteModel {
  readonly tensors: TensorSpec[] = [];
  readonly buffers: Uint8Array[] = [new Uint8Array(0)]; // buffer 0: the empty sentinel
  readonly ops: OpSpec[] = [];
  private readonly consts = new Map<string, number>();

  constructor(private readonly fp16: boolean) {}

  tensor(name: string, shape: number[], type: number = TensorType.FLOAT32, data?: Uint8Array, quant?: TensorQuant): number {
    let buffer = 0;
    if (data) {
      buffer = this.buffers.length;
      this.buffers.push(data);
    }
    this.tensors.push({ name, shape: [...shape], type, buffer, ...(quant ? { quant } : {}) });
    return this.tensors.length - 1;
  }

  op(op: number, inputs: number[], outputs: number[], options?: Options): void {
    this.ops.push({ op, inputs, outputs, options });
  }

  /** A float constant (float16 + DEQUANTIZE when fp16; one tensor per name). */
  float(name: string, shape: number[], values: ArrayLike<number>): number {
    const have = this.consts.get(name);
    if (have !== undefined) return have;
    let t: number;
    if (this.fp16) {
      const h = this.tensor(`${name}.fp16`, shape, TensorType.FLOAT16, bytesOf(toFloat16Array(values)));
      t = this.tensor(name, shape);
      this.op(Op.DEQUANTIZE, [h], [t]);
    } else {
      t = this.tensor(name, shape, TensorType.FLOAT32, bytesOf(Float32Array.from(values)));
    }
    this.consts.set(name, t);
    return t;
  }

  int32(name: string, values: readonly number[]): number {
    return this.tensor(name, [values.length], TensorType.INT32, bytesOf(Int32Array.from(values)));
  }
}

function bytesOf(a: Float32Array | Int32Array | Uint16Array | Int8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

/** OIHW [O, I, k, k] (PyTorch conv) as OHWI [O, k, k, I] (TFLite), output rows in `order`. */
function ohwi(w: GraphWeight, order?: number[]): Float32Array {
  const [O, I, K] = w.shape as [number, number, number];
  const out = new Float32Array(w.data.length);
  for (let o = 0; o < O; o++) {
    const src = order ? order[o]! : o;
    for (let y = 0; y < K; y++) for (let x = 0; x < K; x++) for (let i = 0; i < I; i++) out[((o * K + y) * K + x) * I + i] = w.data[((src * I + i) * K + y) * K + x]!;
  }
  return out;
}

/**
 * Channel orders of depth_to_space: TF's (DCR) output pixel (i, j) of channel c reads input
 * channel (i*s + j)*C + c, PyTorch's (CRD) c*s^2 + i*s + j. tfFromPytorch[t] is the PyTorch
 * channel that TF channel t must hold.
 */
function tfFromPytorch(channels: number, s: number): number[] {
  const C = channels / (s * s), out: number[] = [];
  for (let ij = 0; ij < s * s; ij++) for (let c = 0; c < C; c++) out.push(c * s * s + ij);
  return out;
}

/**
 * The graph as a .tflite flatbuffer. Every node needs a TFLite builtin: bicubic / MATLAB resize
 * and the alignment ops (estimateShift, translate) have none and stop the export with an error
 * naming the node.
 */
export function exportTflite(g0: Graph, o: TfliteExportOptions): Uint8Array {
  validateGraph(g0);
  const [H, W] = o.inputShape ?? [];
  if (!Number.isInteger(H) || !Number.isInteger(W) || H! < 1 || W! < 1) {
    throw new Error(`mvsr: exportTflite: needs a fixed input size inputShape [H, W] (TFLite tensors have fixed shapes), got ${JSON.stringify(o.inputShape)}`);
  }
  const int8 = o.int8 ?? false, io = o.io ?? 'float32';
  if (!TFLITE_IO.includes(io)) throw new Error(`mvsr: exportTflite: io '${String(io)}' is not one of ${TFLITE_IO.join(', ')}`);
  if (o.io !== undefined && !int8) throw new Error('mvsr: exportTflite: io types other than float32 need an int8 export (--int8)');
  if (int8 && o.fp16) throw new Error('mvsr: exportTflite: --int8 and --fp16 are different exports; pick one');
  if (int8 && !(g0 as Partial<QuantGraph>).quant) {
    throw new Error(`mvsr: exportTflite: ${g0.meta.arch} has no int8 calibration: quantize it first (mvsr quantize <model> --calib <folder> -o m-int8.safetensors), then export that file with --int8`);
  }
  if (int8) validateQuant(g0);
  // global alignment (estimateShift, translate) has no TFLite op: the model takes the moved inputs
  // and the host computes them (graph/host-align.ts; the 'mvsr_host_align' metadata says how)
  const { graph: gc, align } = hostAlignment(g0);
  for (const n of gc.nodes) {
    const why = n.op === 'resize' && (n.mode === 'bicubic' || n.mode === 'matlabBicubic') ? `${n.mode} resize` : null;
    if (why) throw graphError(gc, n, `${why} has no TFLite builtin op; it cannot be exported to TFLite`);
    if (int8 && n.op === 'conv' && n.groups !== 1) {
      const Cin = inferChannels(gc).get(n.inputs[0]!)!, Cout = weightOf(gc, n, n.weight).shape[0]!;
      if (!(n.groups === Cin && Cout === Cin)) throw graphError(gc, n, `a grouped conv (groups ${n.groups}) that is not depthwise has no TFLite builtin op`);
    }
  }
  inferChannels(gc);
  // an int8 graph is already optimized, its activations split as its integer tensors need; a float
  // graph's grouped convs become one conv per group (TFLite convs have no groups)
  const g = int8 ? gc : optimizeGraph(splitGroupedConvs(gc, inferChannels(gc)));
  const quant = int8 ? (g0 as QuantGraph).quant : null;
  const shapes = inferShapes(g, H!, W!);
  const uses = useCounts(g);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const m = new TfliteModel(o.fp16 ?? false);
  const value = new Map<string, number>();
  const nhwc = (id: string): number[] => [1, ...shapes.get(id)!];
  const inOf = (n: GraphNode, i = 0): number => value.get(n.inputs[i]!)!;
  /** The tensor of node `id`'s value (int8 at its parameters in an int8 export). */
  const act8 = (name: string, shape: number[], id: string): number =>
    quant ? m.tensor(name, shape, TensorType.INT8, undefined, perTensor(quant.act[id]!)) : m.tensor(name, shape);
  /** A scalar or vector constant in the value space of node `id` (int8 at its parameters in an int8 export). */
  const constLike = (name: string, shape: number[], values: number[], id: string): number => {
    if (!quant) return m.float(name, shape, values);
    const q = quant.act[id]!;
    return m.tensor(name, shape, TensorType.INT8, bytesOf(Int8Array.from(values, (v) => quantizeValue(v, q))), perTensor(q));
  };
  // convs whose output channels are emitted in TF depth_to_space order (their only reader is that d2s)
  const permuted = new Map<string, number[]>();
  for (const n of g.nodes) {
    if (n.op !== 'depthToSpace' || n.order !== 'pytorch' || n.scale === 1) continue;
    const src = byId.get(n.inputs[0]!)!;
    const C = shapes.get(src.id)![2];
    if (src.op === 'conv' && uses.get(src.id) === 1 && !(src.act?.kind === 'prelu' && g.weights[src.act.alpha]!.data.length > 1)) permuted.set(src.id, tfFromPytorch(C, n.scale));
  }

  const act = (n: GraphNode, a: Act, x: number, name: string, shape: number[]): number => {
    const y = act8(name, shape, n.id);
    switch (a.kind) {
      case 'relu': m.op(Op.RELU, [x], [y]); break;
      case 'tanh': m.op(Op.TANH, [x], [y]); break;
      case 'sigmoid': m.op(Op.LOGISTIC, [x], [y]); break;
      case 'gelu': m.op(Op.GELU, [x], [y], { type: Opt.Gelu, fields: [[0, 'bool', 0]] }); break;
      case 'leaky': m.op(Op.LEAKY_RELU, [x], [y], { type: Opt.LeakyRelu, fields: [[0, 'f32', a.slope]] }); break;
      case 'clamp': {
        const lo = constLike(`${n.id}.min`, [], [a.lo], n.id), hi = constLike(`${n.id}.max`, [], [a.hi], n.id);
        const mid = act8(`${name}.max`, shape, n.id);
        m.op(Op.MAXIMUM, [x, lo], [mid], { type: Opt.MaximumMinimum, fields: [] });
        m.op(Op.MINIMUM, [mid, hi], [y], { type: Opt.MaximumMinimum, fields: [] });
        break;
      }
      case 'prelu': {
        const w = weightOf(g, n, a.alpha), C = shape[3]!;
        const alpha = w.data.length === 1 ? new Float32Array(C).fill(w.data[0]!) : Float32Array.from(w.data);
        const order = permuted.get(n.id), values = order ? order.map((k) => alpha[k]!) : alpha, aname = `${a.alpha}${order ? '.tf' : ''}`;
        const qa = quant?.alpha[a.alpha];
        const slope = qa ? m.tensor(aname, [1, 1, C], TensorType.INT8, bytesOf(Int8Array.from(values, (v) => quantizeValue(v, qa))), perTensor(qa)) : m.float(aname, [1, 1, C], values);
        m.op(Op.PRELU, [x, slope], [y]);
        break;
      }
    }
    return y;
  };
  const gather = (name: string, x: number, order: number[], shape: number[], id: string): number => {
    const y = act8(name, shape, id);
    m.op(Op.GATHER, [x, m.int32(`${name}.indices`, order)], [y], { type: Opt.Gather, fields: [[0, 'i32', 3]] });
    return y;
  };

  const frameIns = new Set(g.meta.video?.frames ?? graphInputs(g).map((i) => i.id));
  const frameOuts = new Set(g.meta.video?.outputs ?? graphOutputs(g).map((i) => i.id));
  const ioTensors = new Map<string, number>(); // input id -> the tensor the model takes
  // uint8 io: frames as 0-255 pixels; a state at its int8 scale, zero point + 128 (LiteRT.js takes no int8 inputs)
  const uint8Of = (id: string, frames: Set<string>): QParams => {
    if (frames.has(id)) return UINT8_PIXELS;
    const q = quant!.act[id]!;
    return { scale: q.scale, zeroPoint: q.zeroPoint + 128 };
  };
  for (const inp of graphInputs(g)) {
    const shape = nhwc(inp.id);
    if (!quant) { value.set(inp.id, m.tensor(inp.id, shape)); continue; }
    if (io === 'int8') {
      value.set(inp.id, act8(inp.id, shape, inp.id));
      continue;
    }
    // float32: QUANTIZE to int8; uint8: QUANTIZE (a requantize) to int8 from 0-255 pixels, or
    // for a state from the same scale with the zero point moved by 128 (exact)
    const given = io === 'uint8' ? m.tensor(inp.id, shape, TensorType.UINT8, undefined, perTensor(uint8Of(inp.id, frameIns))) : m.tensor(inp.id, shape);
    const t = act8(`${inp.id}.int8`, shape, inp.id);
    m.op(Op.QUANTIZE, [given], [t]);
    ioTensors.set(inp.id, given);
    value.set(inp.id, t);
  }
  for (const n of g.nodes) {
    if (n.op === 'input' || n.op === 'output') continue;
    const shape = nhwc(n.id);
    let y: number;
    switch (n.op) {
      case 'conv': {
        const w0 = weightOf(g, n, n.weight), K = n.kernel, order = permuted.get(n.id);
        // int8: the values quantizeWeight gives (the ones mvsr's integer inference uses), laid out as the floats are
        const w: GraphWeight = quant ? { shape: w0.shape, data: Float32Array.from(quantizeWeight(w0, quant.weights[n.weight]!)) } : w0;
        const Cout = w.shape[0]!;
        const { dilation: D, span } = convSpan(n), S = n.stride ?? 1;
        // TFLite pads SAME (stride 1: (span-1)/2 each side) or VALID (none); a strided SAME pads unevenly, unlike PyTorch
        const padMode = n.padding === 0 && span > 1 ? PADDING_VALID : PADDING_SAME;
        if (padMode === PADDING_SAME && span > 1 && (S > 1 || n.padding * 2 !== span - 1)) throw graphError(g, n, `padding ${n.padding} with kernel ${K}${D > 1 ? ` (dilation ${D})` : ''}${S > 1 ? ` and stride ${S}` : ''} is neither TFLite's SAME nor its VALID padding`);
        const bias = n.bias === null ? new Float32Array(Cout) : weightOf(g, n, n.bias).data;
        const bname = `${n.bias ?? `${n.id}.bias`}${order ? '.tf' : ''}`, wname = `${n.weight}${order ? '.tf' : ''}`;
        const reorder = <T>(xs: ArrayLike<T>): T[] => (order ? order.map((k) => xs[k]!) : Array.from(xs));
        // int8: weights int8 per output channel, biases int32 at input scale x weight scale
        const scales = quant ? reorder(quant.weights[n.weight]!) : null;
        const inScale = quant ? quant.act[n.inputs[0]!]!.scale : 0;
        const b = scales
          ? m.tensor(bname, [Cout], TensorType.INT32, bytesOf(quantizeBias(Float32Array.from(reorder(bias)), Cout, inScale, scales)), { scale: scales.map((sc) => Math.fround(inScale * sc)), zeroPoint: scales.map(() => 0), dim: 0 })
          : m.float(bname, [Cout], reorder(bias));
        const weight = (shape4: number[], values: Float32Array, dim: number): number => (scales
          ? m.tensor(wname, shape4, TensorType.INT8, bytesOf(Int8Array.from(values)), { scale: scales, zeroPoint: scales.map(() => 0), dim })
          : m.float(wname, shape4, values));
        const fuseRelu = n.act?.kind === 'relu';
        const out = n.act && !fuseRelu ? m.tensor(`${n.id}.conv`, shape) : (y = act8(n.id, shape, n.id));
        if (n.groups === 1) {
          const filt = weight([Cout, K, K, w.shape[1]!], ohwi(w, order), 0);
          m.op(Op.CONV_2D, [inOf(n), filt, b], [out], {
            type: Opt.Conv2D, fields: [[0, 'i8', padMode], [1, 'i32', S], [2, 'i32', S], [3, 'i8', fuseRelu ? ACT_RELU : ACT_NONE], [4, 'i32', D], [5, 'i32', D]],
          });
        } else {
          // depthwise: PyTorch [C, 1, k, k] -> TFLite [1, k, k, C]
          const dw = new Float32Array(w.data.length);
          for (let c = 0; c < Cout; c++) for (let t = 0; t < K * K; t++) dw[t * Cout + c] = w.data[(order ? order[c]! : c) * K * K + t]!;
          m.op(Op.DEPTHWISE_CONV_2D, [inOf(n), weight([1, K, K, Cout], dw, 3), b], [out], {
            type: Opt.DepthwiseConv2D, fields: [[0, 'i8', padMode], [1, 'i32', S], [2, 'i32', S], [3, 'i32', 1], [4, 'i8', fuseRelu ? ACT_RELU : ACT_NONE], [5, 'i32', D], [6, 'i32', D]],
          });
        }
        if (n.act && !fuseRelu) y = act(n, n.act, out, n.id, shape);
        y = y!;
        break;
      }
      case 'convTranspose': {
        // PyTorch's padding p crops p pixels of the full (VALID) output on each side, output_padding adds at the end
        const w = weightOf(g, n, n.weight), [Cin, Cout, K] = w.shape as [number, number, number];
        const [, Hi, Wi] = nhwc(n.inputs[0]!) as [number, number, number];
        const full = [1, (Hi - 1) * n.stride + K, (Wi - 1) * n.stride + K, Cout];
        // int8: the weights quantizeWeight gives per output channel (axis 1 of PyTorch's layout)
        const scales = quant ? quant.weights[n.weight]! : null;
        const wv = scales ? Float32Array.from(quantizeWeight(w, scales, 1)) : w.data;
        const filt = new Float32Array(w.data.length); // [Cin, Cout, k, k] -> [Cout, k, k, Cin]
        for (let i = 0; i < Cin; i++) for (let oc = 0; oc < Cout; oc++) for (let t = 0; t < K * K; t++) filt[(oc * K * K + t) * Cin + i] = wv[(i * Cout + oc) * K * K + t]!;
        const bias = n.bias === null ? new Float32Array(Cout) : weightOf(g, n, n.bias).data;
        const inScale = quant ? quant.act[n.inputs[0]!]!.scale : 0, bname = n.bias ?? `${n.id}.bias`;
        const filter = scales
          ? m.tensor(n.weight, [Cout, K, K, Cin], TensorType.INT8, bytesOf(Int8Array.from(filt)), { scale: scales, zeroPoint: scales.map(() => 0), dim: 0 })
          : m.float(n.weight, [Cout, K, K, Cin], filt);
        const b = scales
          ? m.tensor(bname, [Cout], TensorType.INT32, bytesOf(quantizeBias(bias, Cout, inScale, scales)), { scale: scales.map((sc) => Math.fround(inScale * sc)), zeroPoint: scales.map(() => 0), dim: 0 })
          : m.float(bname, [Cout], bias);
        const big = act8(`${n.id}.full`, full, n.id);
        m.op(Op.TRANSPOSE_CONV, [m.int32(`${n.id}.output_shape`, full), filter, inOf(n), b], [big], {
          type: Opt.TransposeConv, fields: [[0, 'i8', PADDING_VALID], [1, 'i32', n.stride], [2, 'i32', n.stride], [3, 'i8', ACT_NONE]],
        });
        y = act8(n.id, shape, n.id);
        const p = n.padding;
        m.op(Op.STRIDED_SLICE, [big, m.int32(`${n.id}.begin`, [0, p, p, 0]), m.int32(`${n.id}.end`, [1, p + shape[1]!, p + shape[2]!, Cout]), m.int32(`${n.id}.strides`, [1, 1, 1, 1])], [y], {
          type: Opt.StridedSlice, fields: [],
        });
        // output_padding beyond the full output would need a PAD; the zoo's (FSRCNN) stays inside it
        if (p + shape[1]! > full[1]! || p + shape[2]! > full[2]!) throw graphError(g, n, 'output_padding beyond the full transposed-conv output has no TFLite form here');
        break;
      }
      case 'act':
        y = act(n, n.act, inOf(n), n.id, shape);
        break;
      case 'add':
      case 'mul':
        y = act8(n.id, shape, n.id);
        m.op(n.op === 'add' ? Op.ADD : Op.MUL, [inOf(n, 0), inOf(n, 1)], [y], { type: n.op === 'add' ? Opt.Add : Opt.Mul, fields: [[0, 'i8', ACT_NONE]] });
        break;
      case 'concat':
        if (n.inputs.length === 1) { y = inOf(n); break; }
        y = act8(n.id, shape, n.id);
        {
          // TFLite's int8 CONCATENATION takes inputs at the output's parameters: requantize the others
          const parts = n.inputs.map((src, i) => {
            const qs = quant?.act[src], qo = quant?.act[n.id];
            if (!qs || !qo || (qs.scale === qo.scale && qs.zeroPoint === qo.zeroPoint)) return inOf(n, i);
            const t = act8(`${n.id}.in${i}`, nhwc(src), n.id);
            m.op(Op.QUANTIZE, [inOf(n, i)], [t]);
            return t;
          });
          m.op(Op.CONCATENATION, parts, [y], { type: Opt.Concatenation, fields: [[0, 'i32', 3], [1, 'i8', ACT_NONE]] });
        }
        break;
      case 'slice': {
        y = act8(n.id, shape, n.id);
        const [, h, w] = nhwc(n.inputs[0]!) as [number, number, number];
        m.op(Op.STRIDED_SLICE, [inOf(n), m.int32(`${n.id}.begin`, [0, 0, 0, n.start]), m.int32(`${n.id}.end`, [1, h, w, n.end]), m.int32(`${n.id}.strides`, [1, 1, 1, 1])], [y], {
          type: Opt.StridedSlice, fields: [],
        });
        break;
      }
      case 'depthToSpace': {
        let x = inOf(n);
        const src = shapes.get(n.inputs[0]!)!;
        if (n.order === 'pytorch' && n.scale > 1 && !permuted.has(n.inputs[0]!)) x = gather(`${n.id}.tf_order`, x, tfFromPytorch(src[2], n.scale), [1, ...src], n.id);
        y = act8(n.id, shape, n.id);
        m.op(Op.DEPTH_TO_SPACE, [x], [y], { type: Opt.DepthToSpace, fields: [[0, 'i32', n.scale]] });
        break;
      }
      case 'spaceToDepth': {
        const tf = n.order === 'pytorch' && n.scale > 1 ? act8(`${n.id}.tf`, shape, n.id) : (y = act8(n.id, shape, n.id));
        m.op(Op.SPACE_TO_DEPTH, [inOf(n)], [tf], { type: Opt.SpaceToDepth, fields: [[0, 'i32', n.scale]] });
        if (n.order === 'pytorch' && n.scale > 1) {
          // PyTorch channel c*s^2 + ij is TF channel ij*C + c
          const tfOrder = tfFromPytorch(shape[3]!, n.scale), inverse: number[] = new Array(tfOrder.length);
          tfOrder.forEach((pt, t) => { inverse[pt] = t; });
          y = gather(n.id, tf, inverse, shape, n.id);
        }
        y = y!;
        break;
      }
      case 'resize': {
        y = act8(n.id, shape, n.id);
        const size = m.int32(`${n.id}.size`, [shape[1]!, shape[2]!]);
        // PyTorch align_corners=False: half-pixel centres; 'nearest' is floor(dst * in / out), TF's legacy nearest
        if (n.mode === 'bilinear') m.op(Op.RESIZE_BILINEAR, [inOf(n), size], [y], { type: Opt.ResizeBilinear, fields: [[2, 'bool', 0], [3, 'bool', 1]] });
        else m.op(Op.RESIZE_NEAREST_NEIGHBOR, [inOf(n), size], [y], { type: Opt.ResizeNearestNeighbor, fields: [[0, 'bool', 0], [1, 'bool', 0]] });
        break;
      }
      case 'globalPool': {
        // MEAN over H, W keeping them as 1; the deviation as sqrt(mean((x - mean)^2))
        const axes = m.int32(`${n.id}.axes`, [1, 2]);
        const mean = (x: number, out: number): void => m.op(Op.MEAN, [x, axes], [out], { type: Opt.Reducer, fields: [[0, 'bool', 1]] });
        y = act8(n.id, shape, n.id);
        if (n.stat === 'mean') {
          mean(inOf(n), y);
          break;
        }
        const src = nhwc(n.inputs[0]!);
        const mu = m.tensor(`${n.id}.mean`, shape), dev = m.tensor(`${n.id}.dev`, src), sq = m.tensor(`${n.id}.sq`, src), v = m.tensor(`${n.id}.var`, shape);
        mean(inOf(n), mu);
        m.op(Op.SUB, [inOf(n), mu], [dev], { type: Opt.Sub, fields: [[0, 'i8', ACT_NONE]] });
        m.op(Op.MUL, [dev, dev], [sq], { type: Opt.Mul, fields: [[0, 'i8', ACT_NONE]] });
        mean(sq, v);
        m.op(Op.SQRT, [v], [y]);
        break;
      }
      case 'maxPool':
        y = act8(n.id, shape, n.id);
        m.op(Op.MAX_POOL_2D, [inOf(n)], [y], {
          type: Opt.Pool2D, fields: [[0, 'i8', PADDING_VALID], [1, 'i32', n.stride], [2, 'i32', n.stride], [3, 'i32', n.kernel], [4, 'i32', n.kernel], [5, 'i8', ACT_NONE]],
        });
        break;
      case 'resizeLike': {
        y = act8(n.id, shape, n.id);
        const size = m.int32(`${n.id}.size`, [shape[1]!, shape[2]!]);
        if (n.mode === 'bilinear') m.op(Op.RESIZE_BILINEAR, [inOf(n), size], [y], { type: Opt.ResizeBilinear, fields: [[2, 'bool', 0], [3, 'bool', 1]] });
        else m.op(Op.RESIZE_NEAREST_NEIGHBOR, [inOf(n), size], [y], { type: Opt.ResizeNearestNeighbor, fields: [[0, 'bool', 0], [1, 'bool', 0]] });
        break;
      }
      case 'scaleChannels':
        // MUL broadcasts the [1,1,1,C] scale over the pixels
        y = act8(n.id, shape, n.id);
        m.op(Op.MUL, [inOf(n, 0), inOf(n, 1)], [y], { type: Opt.Mul, fields: [[0, 'i8', ACT_NONE]] });
        break;
      case 'layerNorm': {
        // MEAN over the channels (axis 3, kept as 1), the variance from the deviations as mvsr
        // computes it, RSQRT of var + eps; MUL and ADD broadcast the per-pixel and [C] factors
        const C = shape[3]!, stat = [...shape.slice(0, 3), 1];
        const axes = m.int32(`${n.id}.axes`, [3]);
        const mean = (x: number, out: number): void => m.op(Op.MEAN, [x, axes], [out], { type: Opt.Reducer, fields: [[0, 'bool', 1]] });
        const mul = (a: number, b: number, out: number): void => m.op(Op.MUL, [a, b], [out], { type: Opt.Mul, fields: [[0, 'i8', ACT_NONE]] });
        const add = (a: number, b: number, out: number): void => m.op(Op.ADD, [a, b], [out], { type: Opt.Add, fields: [[0, 'i8', ACT_NONE]] });
        const mu = m.tensor(`${n.id}.mean`, stat), dev = m.tensor(`${n.id}.dev`, shape), sq = m.tensor(`${n.id}.sq`, shape);
        const v = m.tensor(`${n.id}.var`, stat), ve = m.tensor(`${n.id}.var_eps`, stat), r = m.tensor(`${n.id}.rstd`, stat);
        const xh = m.tensor(`${n.id}.norm`, shape), sc = m.tensor(`${n.id}.scaled`, shape);
        mean(inOf(n), mu);
        m.op(Op.SUB, [inOf(n), mu], [dev], { type: Opt.Sub, fields: [[0, 'i8', ACT_NONE]] });
        mul(dev, dev, sq);
        mean(sq, v);
        add(v, m.float(`${n.id}.eps`, [], [n.eps]), ve);
        m.op(Op.RSQRT, [ve], [r]);
        mul(dev, r, xh);
        mul(xh, m.float(n.weight, [C], weightOf(g, n, n.weight).data), sc);
        y = act8(n.id, shape, n.id);
        add(sc, m.float(n.bias, [C], weightOf(g, n, n.bias).data), y);
        break;
      }
      case 'windowAttention': {
        // every tensor at most 5-D (TFLite's TRANSPOSE limit): pad to whole windows, tiles of
        // [nH, ws, nW, ws*3C] -> [nH, nW, ws, ws*3C] -> [B, T, 3, heads, D] -> [3, B, heads, T, D],
        // q k^T (BATCH_MATMUL adj_y), SOFTMAX with beta = the score scale, times v, and back
        const [, H, W, C3] = nhwc(n.inputs[0]!) as [number, number, number, number];
        const C = C3 / 3, ws = n.window, heads = n.heads, D = C / heads, T = ws * ws;
        const nH = Math.ceil(H / ws), nW = Math.ceil(W / ws), Hp = nH * ws, Wp = nW * ws, B = nH * nW;
        const t = (name: string, dims: number[]) => m.tensor(`${n.id}.${name}`, dims);
        const reshape = (x: number, dims: number[], name: string): number => {
          const out = t(name, dims);
          m.op(Op.RESHAPE, [x, m.int32(`${n.id}.${name}_shape`, dims)], [out]);
          return out;
        };
        const transpose = (x: number, perm: number[], dims: number[], name: string): number => {
          const out = t(name, dims);
          m.op(Op.TRANSPOSE, [x, m.int32(`${n.id}.${name}_perm`, perm)], [out], { type: Opt.Transpose, fields: [] });
          return out;
        };
        let x = inOf(n);
        if (Hp !== H || Wp !== W) {
          const padded = t('padded', [1, Hp, Wp, C3]);
          const pads = m.tensor(`${n.id}.pads`, [4, 2], TensorType.INT32, bytesOf(Int32Array.of(0, 0, 0, Hp - H, 0, Wp - W, 0, 0)));
          m.op(Op.PAD, [x, pads], [padded], { type: Opt.Pad, fields: [] });
          x = padded;
        }
        const tiles = transpose(reshape(x, [nH, ws, nW, ws * C3], 'rows'), [0, 2, 1, 3], [nH, nW, ws, ws * C3], 'tiles');
        const qkv = transpose(reshape(tiles, [B, T, 3, heads, D], 'tokens'), [2, 0, 3, 1, 4], [3, B, heads, T, D], 'qkv');
        const part = (i: number, name: string): number => {
          const out = t(name, [B, heads, T, D]);
          m.op(Op.STRIDED_SLICE, [qkv, m.int32(`${n.id}.${name}_begin`, [i, 0, 0, 0, 0]), m.int32(`${n.id}.${name}_end`, [i + 1, B, heads, T, D]), m.int32(`${n.id}.${name}_strides`, [1, 1, 1, 1, 1])], [out], {
            type: Opt.StridedSlice, fields: [[4, 'i32', 1]], // shrink_axis_mask: drop the q/k/v axis
          });
          return out;
        };
        const q = part(0, 'q'), k = part(1, 'k'), v = part(2, 'v');
        const scores = t('scores', [B, heads, T, T]), probs = t('probs', [B, heads, T, T]), o = t('attended', [B, heads, T, D]);
        m.op(Op.BATCH_MATMUL, [q, k], [scores], { type: Opt.BatchMatMul, fields: [[1, 'bool', 1]] });
        m.op(Op.SOFTMAX, [scores], [probs], { type: Opt.Softmax, fields: [[0, 'f32', attentionScale(C, heads)]] });
        m.op(Op.BATCH_MATMUL, [probs, v], [o], { type: Opt.BatchMatMul, fields: [] });
        const perToken = transpose(o, [0, 2, 1, 3], [B, T, heads, D], 'per_token');
        const back = transpose(reshape(perToken, [nH, nW, ws, ws * C], 'back_tiles'), [0, 2, 1, 3], [nH, ws, nW, ws * C], 'back_rows');
        if (Hp === H && Wp === W) {
          y = act8(n.id, shape, n.id);
          m.op(Op.RESHAPE, [back, m.int32(`${n.id}.out_shape`, [1, H, W, C])], [y]);
        } else {
          const full = reshape(back, [1, Hp, Wp, C], 'full');
          y = act8(n.id, shape, n.id);
          m.op(Op.STRIDED_SLICE, [full, m.int32(`${n.id}.crop_begin`, [0, 0, 0, 0]), m.int32(`${n.id}.crop_end`, [1, H, W, C]), m.int32(`${n.id}.crop_strides`, [1, 1, 1, 1])], [y], {
            type: Opt.StridedSlice, fields: [],
          });
        }
        break;
      }
      default:
        throw graphError(g, n, `op '${n.op}' has no TFLite form`);
    }
    value.set(n.id, y);
  }
  // outputs: the tensor of the node each output reads, renamed to the output's id; one that is an
  // input or already another output (RLSP's HR frame is also its state) gets a copy (a RESHAPE)
  const taken = new Set(graphInputs(g).map((i) => value.get(i.id)!));
  const outs = graphOutputs(g).map((out) => {
    let t = value.get(out.inputs[0]!)!;
    if (quant && io !== 'int8') {
      // DEQUANTIZE to float32, or QUANTIZE (a requantize) to uint8 pixels or a uint8 state
      const shape = m.tensors[t]!.shape;
      const y = io === 'uint8' ? m.tensor(out.id, shape, TensorType.UINT8, undefined, perTensor(uint8Of(out.id, frameOuts))) : m.tensor(out.id, shape);
      m.op(io === 'uint8' ? Op.QUANTIZE : Op.DEQUANTIZE, [t], [y]);
      return { name: out.id, tensor: y };
    }
    if (taken.has(t)) {
      const { shape, type, quant: tq } = m.tensors[t]!, copy = m.tensor(out.id, shape, type, undefined, tq);
      m.op(Op.RESHAPE, [t, m.int32(`${out.id}.shape`, shape)], [copy]);
      t = copy;
    }
    taken.add(t);
    m.tensors[t]!.name = out.id;
    return { name: out.id, tensor: t };
  });
  const ins = graphInputs(g).map((i) => ({ name: i.id, tensor: ioTensors.get(i.id) ?? value.get(i.id)! }));
  return serialize(m, ins, outs, g0, align ? { mvsr_host_align: JSON.stringify(align) } : {});
}

/** The Model flatbuffer (schema.fbs field slots in the comments' order). */
function serialize(m: TfliteModel, ins: { name: string; tensor: number }[], outs: { name: string; tensor: number }[], g: Graph, metadata: Record<string, string>): Uint8Array {
  // Model.metadata: a named buffer each (UTF-8)
  const meta = Object.entries(metadata).map(([name, text]) => ({ name, buffer: m.buffers.push(new TextEncoder().encode(text)) - 1 }));
  const b = new Builder(1024 + m.buffers.reduce((a, x) => a + x.length, 0));
  const ints = (xs: readonly number[]): Offset => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!);
    return b.endVector();
  };
  const offsets = (xs: readonly Offset[]): Offset => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!);
    return b.endVector();
  };
  // Buffer { data:[ubyte] (force_align 16) }
  const buffers = m.buffers.map((d) => {
    let data = 0;
    if (d.length) {
      b.startVector(1, d.length, 16);
      for (let i = d.length - 1; i >= 0; i--) b.addInt8(d[i]!);
      data = b.endVector();
    }
    b.startObject(3);
    if (data) b.addFieldOffset(0, data, 0);
    return b.endObject();
  });
  // Tensor { shape, type, buffer, name }
  // QuantizationParameters { min, max, scale:[float], zero_point:[long], details_type, details, quantized_dimension }
  const quantization = (q: TensorQuant): Offset => {
    b.startVector(4, q.scale.length, 4);
    for (let i = q.scale.length - 1; i >= 0; i--) b.addFloat32(q.scale[i]!);
    const scale = b.endVector();
    b.startVector(8, q.zeroPoint.length, 8);
    for (let i = q.zeroPoint.length - 1; i >= 0; i--) b.addInt64(BigInt(q.zeroPoint[i]!));
    const zp = b.endVector();
    b.startObject(7);
    b.addFieldOffset(2, scale, 0);
    b.addFieldOffset(3, zp, 0);
    b.addFieldInt32(6, q.dim, -1);
    return b.endObject();
  };
  const tensors = m.tensors.map((t) => {
    const shape = ints(t.shape), name = b.createString(t.name), quant = t.quant ? quantization(t.quant) : 0;
    b.startObject(12);
    b.addFieldOffset(0, shape, 0);
    b.addFieldInt8(1, t.type, 0);
    b.addFieldInt32(2, t.buffer, 0);
    b.addFieldOffset(3, name, 0);
    if (quant) b.addFieldOffset(4, quant, 0);
    return b.endObject();
  });
  // OperatorCode { deprecated_builtin_code:byte, custom_code, version, builtin_code:int }
  const codes: number[] = [];
  const opcodeIndex = (op: number): number => {
    let i = codes.indexOf(op);
    if (i < 0) i = codes.push(op) - 1;
    return i;
  };
  // Operator { opcode_index, inputs, outputs, builtin_options_type (slot 3), builtin_options (slot 4) }
  const operators = m.ops.map((op) => {
    const inputs = ints(op.inputs), outputs = ints(op.outputs);
    let options = 0;
    if (op.options) {
      b.startObject(Math.max(0, ...op.options.fields.map(([slot]) => slot + 1)));
      for (const [slot, kind, v] of op.options.fields) {
        if (kind === 'i32') b.addFieldInt32(slot, v, -1); // -1: never equal, so every field is written
        else if (kind === 'f32') b.addFieldFloat32(slot, v, Number.NaN);
        else b.addFieldInt8(slot, v, -1);
      }
      options = b.endObject();
    }
    const index = opcodeIndex(op.op);
    b.startObject(6);
    b.addFieldInt32(0, index, -1);
    b.addFieldOffset(1, inputs, 0);
    b.addFieldOffset(2, outputs, 0);
    if (op.options) {
      b.addFieldInt8(3, op.options.type, 0);
      b.addFieldOffset(4, options, 0);
    }
    return b.endObject();
  });
  const opcodes = codes.map((op) => {
    b.startObject(4);
    b.addFieldInt8(0, Math.min(op, 127), -1);
    b.addFieldInt32(2, 1, 0);
    b.addFieldInt32(3, op, -1);
    return b.endObject();
  });
  // SubGraph { tensors, inputs, outputs, operators, name }
  const sgTensors = offsets(tensors), sgIn = ints(ins.map((x) => x.tensor)), sgOut = ints(outs.map((x) => x.tensor));
  const sgOps = offsets(operators), sgName = b.createString('main');
  b.startObject(5);
  b.addFieldOffset(0, sgTensors, 0);
  b.addFieldOffset(1, sgIn, 0);
  b.addFieldOffset(2, sgOut, 0);
  b.addFieldOffset(3, sgOps, 0);
  b.addFieldOffset(4, sgName, 0);
  const subgraph = b.endObject();
  // SignatureDef { inputs:[TensorMap], outputs:[TensorMap], signature_key, (deprecated_tag), subgraph_index }
  const tensorMap = (x: { name: string; tensor: number }): Offset => {
    const name = b.createString(x.name);
    b.startObject(2);
    b.addFieldOffset(0, name, 0);
    b.addFieldInt32(1, x.tensor, -1);
    return b.endObject();
  };
  const sigIn = offsets(ins.map(tensorMap)), sigOut = offsets(outs.map(tensorMap)), key = b.createString('serving_default');
  b.startObject(5);
  b.addFieldOffset(0, sigIn, 0);
  b.addFieldOffset(1, sigOut, 0);
  b.addFieldOffset(2, key, 0);
  b.addFieldInt32(4, 0, -1);
  const signature = b.endObject();
  // Model { version, operator_codes, subgraphs, description, buffers, metadata_buffer, metadata, signature_defs }
  const modelCodes = offsets(opcodes), subgraphs = offsets([subgraph]);
  const description = b.createString(`mvsr ${g.meta.arch}${g.meta.from ? ` (deploy form of ${g.meta.from})` : ''} x${g.meta.scale}${g.meta.video ? ' video step' : ''}: ${JSON.stringify(g.meta.args)}${g.meta.video ? ` ${JSON.stringify(g.meta.video)}` : ''}`);
  const modelBuffers = offsets(buffers), signatures = offsets([signature]);
  // Metadata { name, buffer }
  const metas = meta.length ? offsets(meta.map((x) => {
    const name = b.createString(x.name);
    b.startObject(2);
    b.addFieldOffset(0, name, 0);
    b.addFieldInt32(1, x.buffer, 0);
    return b.endObject();
  })) : 0;
  b.startObject(8);
  b.addFieldInt32(0, 3, -1);
  b.addFieldOffset(1, modelCodes, 0);
  b.addFieldOffset(2, subgraphs, 0);
  b.addFieldOffset(3, description, 0);
  b.addFieldOffset(4, modelBuffers, 0);
  if (metas) b.addFieldOffset(6, metas, 0);
  b.addFieldOffset(7, signatures, 0);
  b.finish(b.endObject(), 'TFL3');
  return b.asUint8Array().slice();
}

/**
 * A .tflite's Model.metadata entries as text by name (e.g. 'mvsr_host_align', the JSON of what
 * the host computes for an aligned video model: graph/host-align.ts HostAlign).
 */
export function readTfliteMetadata(bytes: Uint8Array): Record<string, string> {
  const bb = new ByteBuffer(bytes);
  const root = bb.readInt32(0);
  const field = (table: number, slot: number): number => {
    const o = bb.__offset(table, 4 + 2 * slot);
    return o ? table + o : 0;
  };
  const metas = field(root, 6), buffers = field(root, 4), out: Record<string, string> = {};
  if (!metas || !buffers) return out;
  for (let i = 0; i < bb.__vector_len(metas); i++) {
    const t = bb.__indirect(bb.__vector(metas) + 4 * i);
    const nameAt = field(t, 0), bufAt = field(t, 1);
    if (!nameAt || !bufAt) continue;
    const buf = bb.__indirect(bb.__vector(buffers) + 4 * bb.readUint32(bufAt)), dataAt = field(buf, 0);
    const data = dataAt ? bytes.subarray(bb.__vector(dataAt), bb.__vector(dataAt) + bb.__vector_len(dataAt)) : new Uint8Array(0);
    out[bb.__string(nameAt) as string] = new TextDecoder().decode(data);
  }
  return out;
}
