// ONNX writer for the deploy IR: one ModelProto with the weights as raw little-endian
// initializers and an NCHW body (Conv, ConvTranspose, activations, Add/Mul, Concat, Slice,
// DepthToSpace, SpaceToDepth, Resize, a layer norm as ReduceMean and arithmetic; a video step
// graph's translate as Gathers and its estimateShift as float64 ops with a Loop), optionally
// wrapped in Transposes for NHWC inputs and outputs, which are named by their node ids (several
// for a step graph). A quantized graph (graph/quant.ts) exports in the QDQ form: every int8 tensor
// as QuantizeLinear + DequantizeLinear at its scale and zero point, conv weights int8 per output
// channel and biases int32 behind DequantizeLinear, so onnxruntime fuses them into its integer
// kernels (QLinearConv, ...). Browser-safe (no Node imports); writeOnnxFile in write.node.ts puts
// the bytes in a file.
import {
  type Graph, type GraphNode, type Act, type GraphWeight, type SpaceToDepthNode, type EstimateShiftNode,
  graphError, graphInputs, graphOutputs, validateGraph, weightOf, type WindowAttentionNode,
} from '../graph/ir.js';
import { inferChannels, inferShapes } from '../graph/shapes.js';
import { optimizeGraph } from '../graph/passes.js';
import { attentionScale } from '../tensor/ops/attention.js';
import { ProtoWriter, ProtoMessage } from './protobuf.js';
import {
  ONNX_FLOAT, ONNX_INT64, ONNX_FLOAT16, ONNX_DOUBLE, ONNX_BOOL, ONNX_INT8, ONNX_INT32, toFloat16Bits, fromFloat16Bits, toFloat16Array, fromFloat16Array,
  OnnxGraphBuilder, type Attr, type OnnxNode, type SubGraph, type Initializer, type Dim, type ValueInfo,
} from './onnx-builder.js';
import { translateNode, estimateShiftNode } from './onnx-align.js';
import { type QuantGraph, validateQuant, quantizeWeight, quantizeBias, quantizeValue, weightAxis } from '../graph/quant.js';
import { actTables, requantizeTable } from '../graph/int8-tables.js';

export { ONNX_FLOAT, ONNX_INT64, ONNX_FLOAT16, ONNX_DOUBLE, ONNX_BOOL, toFloat16Bits, fromFloat16Bits, toFloat16Array, fromFloat16Array };

export interface OnnxExportOptions {
  /** Tensor layout of the model's input and output (default 'nchw'; the body is NCHW either way). */
  layout?: 'nchw' | 'nhwc';
  /**
   * Weights, input, output and every intermediate in float16 (Resize scales stay float32 as the
   * spec requires). Weights are rounded to nearest-even half precision and sums accumulate in
   * whatever precision the runtime's fp16 kernels use, so expect differences of about 1e-3 of
   * the value range (a few 1/255 steps on large or deep models), more where activations exceed
   * fp16's 11-bit mantissa or its range (65504). onnxruntime's CPU provider runs some fp16 nodes
   * in float32 behind casts it inserts; GPU providers compute in fp16 throughout.
   */
  fp16?: boolean;
  /** Symbolic 'N', 'H', 'W' input dimensions (default: true unless inputShape is given). */
  dynamic?: boolean;
  /** Operator set version, 13..20 (default 17). */
  opset?: number;
  /** Fixed input [H, W] (batch 1) when not dynamic: the base size; an input of scale k is [H*k, W*k]. */
  inputShape?: [number, number];
  /**
   * How estimateShift nodes are exported: 'onnx' (default), as ONNX ops in float64 that compute
   * what mvsr computes (see estimateShiftNode; some runtimes, e.g. TensorRT or WebGPU, have no
   * float64 kernels and fall back or refuse); 'host', each node becomes an extra graph input named
   * by its id (float32 also in fp16 models, [1,1,1,2] NHWC / [1,2,1,1] NCHW, listed in metadata
   * 'mvsr.external') that the host fills with mvsr's estimateShift(prev, cur, radius) of the two
   * frames (which must be graph inputs).
   */
  estimateShift?: 'onnx' | 'host';
  /**
   * Quantized models only: the int8 ops that mvsr and TFLite compute through tables (activations
   * other than ReLU, PReLU, and the requantization of a concat's inputs) as int8 lookups
   * (QuantizeLinear, Cast, Add, Gather on the table, DequantizeLinear), and a bilinear resize as
   * TFLite's fixed-point resize in integer ops (bilinearInt8), instead of float ops between QDQ
   * pairs, which onnxruntime rounds otherwise (float, where TFLite uses fixed point).
   * Exact in any runtime, but no longer the plain QDQ pattern that accelerators fuse (default false).
   */
  int8Tables?: boolean;
}

export const ONNX_DEFAULT_OPSET = 17;
const MIN_OPSET = 13, MAX_OPSET = 20;

/** Probe sizes for affineDimName: odd ones first (as always), then multiples of 8 for graphs that need divisible sizes (spaceToDepth). */
const DIM_PROBES: [number, number, number][] = [[61, 64, 97], [120, 128, 192]];

/**
 * The dimension of output `outId` along `axis` for a symbolic base size `name`: `${name}*a+b` when
 * inferShapes shows it is affine in the base size, the number b when it does not depend on it
 * (an estimateShift's 1 x 1), else `fallback`.
 */
function affineDim(g: Graph, axis: 0 | 1, name: string, outId: string, fallback: string): Dim {
  for (const probes of DIM_PROBES) {
    let outs: number[];
    try {
      outs = probes.map((p) => inferShapes(g, p, p).get(outId)![axis]);
    } catch {
      continue;
    }
    const a = (outs[1]! - outs[0]!) / (probes[1]! - probes[0]!), b = outs[0]! - a * probes[0]!;
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || outs[2] !== a * probes[2]! + b) return fallback;
    if (a === 0) return b >= 1 ? b : fallback;
    return `${a === 1 ? name : `${name}*${a}`}${b > 0 ? `+${b}` : b < 0 ? `-${-b}` : ''}`;
  }
  return fallback;
}

/** The output's size as a multiple of the base size (a when it is exactly a x H by a x W), else null. */
function outputScale(g: Graph, outId: string): number | null {
  for (const probes of DIM_PROBES) {
    try {
      const s = probes.map((p) => inferShapes(g, p, p).get(outId)!);
      const a = s[0]![0] / probes[0]!;
      return Number.isInteger(a) && a >= 1 && s.every((t, i) => t[0] === a * probes[i]! && t[1] === a * probes[i]!) ? a : null;
    } catch {
      continue;
    }
  }
  return null;
}


function checkOptions(g: Graph, o: OnnxExportOptions): { layout: 'nchw' | 'nhwc'; opset: number; dynamic: boolean; shape: [number, number] | null } {
  const layout = o.layout ?? 'nchw';
  if (layout !== 'nchw' && layout !== 'nhwc') throw new Error(`mvsr: exportOnnx: layout '${String(layout)}' is not 'nchw' or 'nhwc'`);
  const opset = o.opset ?? ONNX_DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new Error(`mvsr: exportOnnx: opset ${opset} is not supported (use ${MIN_OPSET}..${MAX_OPSET})`);
  }
  const dynamic = o.dynamic ?? o.inputShape === undefined;
  if (dynamic && o.inputShape !== undefined) throw new Error('mvsr: exportOnnx: give either dynamic: true or a fixed inputShape, not both');
  if (!dynamic) {
    const s = o.inputShape;
    if (!s || s.length !== 2 || !s.every((v) => Number.isInteger(v) && v >= 1)) {
      throw new Error(`mvsr: exportOnnx: a fixed-shape export needs inputShape [H, W] of positive integers, got ${JSON.stringify(s)}`);
    }
    inferShapes(g, s[0], s[1]); // size errors name the node
    return { layout, opset, dynamic, shape: [s[0], s[1]] };
  }
  return { layout, opset, dynamic, shape: null };
}

/** ONNX IR version for an opset: 8 up to opset 18 (ONNX 1.13), 9 for 19-20. */
function irVersionFor(opset: number): number {
  return opset <= 18 ? 8 : 9;
}

/**
 * The graph as an ONNX model (ModelProto bytes). The body runs in NCHW; with layout 'nhwc' the
 * inputs and outputs are NHWC and Transposes convert at both ends. Channel slices of convs are
 * folded into the convs' weights first (fewer MACs, same values). Throws an error naming the node
 * for ops ONNX cannot express (MATLAB's antialiased bicubic resize).
 *
 * Graph inputs and outputs are named by their node ids, in graph order (an image model's are
 * 'input' and 'output'); an input of scale k is k times the base size (dims 'H*k', 'W*k' when
 * dynamic; inputShape fixes the base size). A graph with estimateShift or translate has batch 1
 * (its shift is one value per item and the lowering handles one item): its inputs' batch dim is 1
 * even when dynamic, so onnxruntime refuses a larger batch. Metadata 'mvsr.inputs' and
 * 'mvsr.outputs' list the I/O (name, channels, scale), 'mvsr.video' holds a step graph's
 * meta.video (which outputs feed back as which inputs).
 */
export function exportOnnx(g0: Graph, o: OnnxExportOptions = {}): Uint8Array {
  validateGraph(g0);
  for (const n of g0.nodes) {
    if (n.op === 'resize' && n.mode === 'matlabBicubic') {
      throw graphError(g0, n, 'matlabBicubic (MATLAB imresize, antialiased bicubic) has no ONNX operator; it cannot be exported (use bicubic, which is PyTorch\'s, or resize outside the model)');
    }
  }
  const shiftMode = o.estimateShift ?? 'onnx';
  if (shiftMode !== 'onnx' && shiftMode !== 'host') throw new Error(`mvsr: exportOnnx: estimateShift '${String(shiftMode)}' is not 'onnx' or 'host'`);
  inferChannels(g0); // channel errors name the node of the graph as given
  const quant = (g0 as Partial<QuantGraph>).quant ?? null;
  if (quant) {
    validateQuant(g0);
    if (o.fp16) throw new Error('mvsr: exportOnnx: the model is quantized (int8, QDQ); --fp16 does not apply');
  }
  // the interpreter's passes: activations join their convs (emitted right after them anyway), so a
  // channel slice of conv + act becomes a conv with just those rows (the ET forms' drop-last at x3);
  // an int8 graph is exported as it is (its tensors are the quantized ones)
  const g = quant ? g0 : optimizeGraph(g0);
  const channels = inferChannels(g);
  const opt = checkOptions(g, o);
  const fp16 = o.fp16 ?? false;
  const b = new OnnxGraphBuilder(fp16);
  const elemType = fp16 ? ONNX_FLOAT16 : ONNX_FLOAT;
  const inNodes = graphInputs(g), outNodes = graphOutputs(g);
  const image = !g.meta.video && inNodes.length === 1 && outNodes.length === 1;
  const shifts = g.nodes.filter((n): n is EstimateShiftNode => n.op === 'estimateShift');
  const external = shiftMode === 'host' ? shifts : [];
  for (const n of external) {
    for (const src of n.inputs) {
      if (!inNodes.some((i) => i.id === src)) throw graphError(g, n, `reads '${src}', which is not a graph input: with estimateShift 'host' the host computes the shift, so both frames must be graph inputs`);
    }
  }
  const perItem = g.nodes.some((n) => n.op === 'estimateShift' || n.op === 'translate');
  const shapes = opt.shape ? inferShapes(g, opt.shape[0], opt.shape[1]) : null;

  // names: graph I/O first (the node ids), then every used weight keeps its own name
  const inNames = inNodes.map((n) => b.fresh(n.id)), extNames = external.map((n) => b.fresh(n.id)), outNames = outNodes.map((n) => b.fresh(n.id));
  const value = new Map<string, string>();
  const toNchw = (name: string): string => (opt.layout === 'nhwc' ? b.node('Transpose', [name], b.fresh(`${name}_nchw`), [{ name: 'perm', ints: [0, 3, 1, 2] }]) : name);
  /** QDQ: the value `x` of node `id` through QuantizeLinear + DequantizeLinear at its int8 parameters. */
  const qdq = (id: string, x: string): string => {
    if (!quant) return x;
    const q = quant.act[id]!;
    const s = b.float32(`${id}.scale`, [], [q.scale]), z = b.raw(`${id}.zero_point`, ONNX_INT8, [], Uint8Array.of(q.zeroPoint & 255));
    return b.node('DequantizeLinear', [b.node('QuantizeLinear', [x, s, z], b.fresh(`${id}.q`)), s, z], b.fresh(`${id}.dq`));
  };
  inNodes.forEach((n, i) => value.set(n.id, qdq(n.id, toNchw(inNames[i]!))));
  const tables = quant !== null && (o.int8Tables ?? false);
  if (o.int8Tables && !quant) throw new Error('mvsr: exportOnnx: int8Tables applies to quantized models only');
  /**
   * int8Tables: the float value x (at `from`'s int8 parameters) through table t (mvsr's layout:
   * entry v & 255, channel c's at c * 256 when perChannel) as int8 ops, dequantized at `to`'s.
   */
  const lookup = (id: string, from: string, to: string, x: string, t: Int8Array, perChannel: boolean, out: string): string => {
    const qi = quant!.act[from]!, qo = quant!.act[to]!, C = perChannel ? t.length / 256 : 1;
    const zp = (q: typeof qi, name: string): string => b.raw(name, ONNX_INT8, [], Uint8Array.of(q.zeroPoint & 255));
    const q8 = b.node('QuantizeLinear', [x, b.float32(`${id}.lut_in_scale`, [], [qi.scale]), zp(qi, `${id}.lut_in_zero_point`)], b.fresh(`${id}.lut_in`));
    const i32 = b.node('Cast', [q8], b.fresh(`${id}.lut_in_i32`), [{ name: 'to', int: ONNX_INT32 }]);
    // entry v + 128 (+ 256 c) of the table as written holds mvsr's entry (v & 255) (+ 256 c)
    const table = new Uint8Array(C * 256);
    for (let c = 0; c < C; c++) for (let v = -128; v < 128; v++) table[c * 256 + v + 128] = t[c * 256 + (v & 255)]! & 255;
    const offsets = Int32Array.from({ length: C }, (_, c) => c * 256 + 128);
    const idx = b.node('Add', [i32, b.raw(`${id}.lut_offset`, ONNX_INT32, perChannel ? [1, C, 1, 1] : [], new Uint8Array(offsets.buffer))], b.fresh(`${id}.lut_index`));
    const y8 = b.node('Gather', [b.raw(`${id}.lut`, ONNX_INT8, [C * 256], table), idx], b.fresh(`${id}.lut_out`), [{ name: 'axis', int: 0 }]);
    return b.node('DequantizeLinear', [y8, b.float32(`${id}.lut_out_scale`, [], [qo.scale]), zp(qo, `${id}.lut_out_zero_point`)], out);
  };
  // an estimateShift's result in float32 (what mvsr's interpreter hands to translate), also in fp16 models
  const shiftF32 = new Map<string, string>();
  external.forEach((n, i) => {
    // host shifts come in float32 whatever the model's type (fp16 would round them to ~0.004 px)
    const d = toNchw(extNames[i]!);
    shiftF32.set(n.id, d);
    value.set(n.id, fp16 ? b.node('Cast', [d], b.fresh(`${n.id}_f16`), [{ name: 'to', int: ONNX_FLOAT16 }]) : d);
  });

  const weightInit = new Map<string, string>();
  const weight = (n: GraphNode, name: string, dims?: number[]): string => {
    const key = `${name}|${dims?.join(',') ?? ''}`;
    let init = weightInit.get(key);
    if (init === undefined) {
      const w: GraphWeight = weightOf(g, n, name);
      init = quant ? quantizedWeight(n, name, w, dims ?? [...w.shape]) : b.float(name, dims ?? [...w.shape], w.data);
      weightInit.set(key, init);
    }
    return init;
  };
  // QDQ weights: conv weights int8 per output channel (axis 0), biases int32 at input x weight scale, PReLU slopes int8 per tensor
  const quantizedWeight = (n: GraphNode, name: string, w: GraphWeight, dims: number[]): string => {
    const q = quant!, axis = (scales: number[], k = 0): Attr[] => (scales.length > 1 ? [{ name: 'axis', int: k }] : []);
    const dq = (raw: string, scales: number[], zp: string, k = 0): string =>
      b.node('DequantizeLinear', [raw, b.float32(`${name}.scale`, scales.length > 1 ? [scales.length] : [], scales), zp], b.fresh(`${name}.dq`), axis(scales, k));
    if ((n.op === 'conv' || n.op === 'convTranspose') && name === n.weight) {
      // a ConvTranspose weight [Cin, Cout, k, k] has its output channels on axis 1
      const s = q.weights[name]!, k = weightAxis(n);
      const raw = b.raw(name, ONNX_INT8, dims, new Uint8Array(quantizeWeight(w, s, k).buffer));
      return dq(raw, s, b.raw(`${name}.zero_point`, ONNX_INT8, s.length > 1 ? [s.length] : [], new Uint8Array(s.length)), k);
    }
    if ((n.op === 'conv' || n.op === 'convTranspose') && name === n.bias) {
      const ws = q.weights[n.weight]!, sIn = q.act[n.inputs[0]!]!.scale, s = ws.map((x) => Math.fround(sIn * x));
      const raw = b.raw(name, ONNX_INT32, dims, new Uint8Array(quantizeBias(w.data, w.data.length, sIn, ws).buffer));
      return dq(raw, s, b.raw(`${name}.zero_point`, ONNX_INT32, s.length > 1 ? [s.length] : [], new Uint8Array(4 * s.length)));
    }
    const qa = q.alpha[name];
    if (!qa) throw graphError(g, n, `weight '${name}' has no int8 form in the QDQ export`);
    const raw = b.raw(name, ONNX_INT8, dims, Uint8Array.from(w.data, (v) => quantizeValue(v, qa) & 255));
    return dq(raw, [qa.scale], b.raw(`${name}.zero_point`, ONNX_INT8, [], Uint8Array.of(qa.zeroPoint & 255)));
  };
  const inOf = (n: GraphNode, i = 0): string => value.get(n.inputs[i]!)!;

  const act = (n: GraphNode, a: Act, x: string, out: string): string => {
    switch (a.kind) {
      case 'relu': return b.node('Relu', [x], out);
      case 'tanh': return b.node('Tanh', [x], out);
      case 'sigmoid': return b.node('Sigmoid', [x], out);
      case 'gelu': {
        // x (1 + erf(x / sqrt 2)) / 2 from Erf (ONNX's Gelu op needs opset 20)
        const e = b.node('Erf', [b.node('Mul', [x, b.float(`${n.id}.rsqrt2`, [], [Math.SQRT1_2])], b.fresh(`${n.id}.scaled`))], b.fresh(`${n.id}.erf`));
        const onePlus = b.node('Add', [e, b.float(`${n.id}.one`, [], [1])], b.fresh(`${n.id}.cdf2`));
        return b.node('Mul', [b.node('Mul', [x, b.float(`${n.id}.half`, [], [0.5])], b.fresh(`${n.id}.halfx`)), onePlus], out);
      }
      case 'leaky': return b.node('LeakyRelu', [x], out, [{ name: 'alpha', float: a.slope }]);
      case 'clamp': {
        const lo = b.float(`${n.id}.min`, [], [a.lo]), hi = b.float(`${n.id}.max`, [], [a.hi]);
        return b.node('Clip', [x, lo, hi], out);
      }
      case 'prelu': {
        // slopes [C] broadcast against NCHW as [C, 1, 1]; one shared slope stays [1]
        const C = weightOf(g, n, a.alpha).shape[0]!;
        return b.node('PRelu', [x, weight(n, a.alpha, C === 1 ? [1] : [C, 1, 1])], out);
      }
    }
  };

  for (const n of g.nodes) {
    if (n.op === 'input' || n.op === 'output') continue;
    if (n.op === 'estimateShift' && shiftMode === 'host') continue;
    const out = b.fresh(n.id);
    switch (n.op) {
      case 'conv': {
        const ins = [inOf(n), weight(n, n.weight)];
        if (n.bias !== null) ins.push(weight(n, n.bias));
        const p = n.padding, k = n.kernel;
        const attrs: Attr[] = [
          { name: 'kernel_shape', ints: [k, k] }, { name: 'pads', ints: [p, p, p, p] },
          { name: 'strides', ints: [n.stride ?? 1, n.stride ?? 1] }, { name: 'dilations', ints: [n.dilation ?? 1, n.dilation ?? 1] }, { name: 'group', int: n.groups },
        ];
        if (n.act) {
          const y = b.node('Conv', ins, b.fresh(`${n.id}.conv`), attrs);
          act(n, n.act, y, out);
        } else {
          b.node('Conv', ins, out, attrs);
        }
        break;
      }
      case 'convTranspose': {
        const ins = [inOf(n), weight(n, n.weight)];
        if (n.bias !== null) ins.push(weight(n, n.bias));
        const p = n.padding, k = n.kernel, s = n.stride;
        b.node('ConvTranspose', ins, out, [
          { name: 'kernel_shape', ints: [k, k] }, { name: 'strides', ints: [s, s] }, { name: 'pads', ints: [p, p, p, p] },
          { name: 'output_padding', ints: [n.outputPadding, n.outputPadding] }, { name: 'dilations', ints: [1, 1] }, { name: 'group', int: 1 },
        ]);
        break;
      }
      case 'act':
        if (tables && n.act.kind !== 'relu' && n.act.kind !== 'clamp') {
          const t = actTables(g as QuantGraph, n, n.act, quant!.act[n.inputs[0]!]!, quant!.act[n.id]!);
          lookup(n.id, n.inputs[0]!, n.id, inOf(n), t.tables, t.perChannel, out);
        } else act(n, n.act, inOf(n), out);
        break;
      case 'add':
        b.node('Add', [inOf(n, 0), inOf(n, 1)], out);
        break;
      case 'mul':
        b.node('Mul', [inOf(n, 0), inOf(n, 1)], out);
        break;
      case 'concat': {
        // int8Tables: an input at other int8 parameters is requantized into the concat's by its table
        const ins = n.inputs.map((src, i) => {
          const qi = quant?.act[src], qo = quant?.act[n.id];
          if (!tables || (qi!.scale === qo!.scale && qi!.zeroPoint === qo!.zeroPoint)) return inOf(n, i);
          return lookup(`${n.id}.${i}`, src, n.id, inOf(n, i), requantizeTable(qi!, qo!), false, b.fresh(`${n.id}.requantized${i}`));
        });
        if (ins.length === 1) b.node('Identity', ins, out);
        else b.node('Concat', ins, out, [{ name: 'axis', int: 1 }]);
        break;
      }
      case 'slice':
        b.node('Slice', [inOf(n), b.int64(`${n.id}.starts`, [n.start]), b.int64(`${n.id}.ends`, [n.end]), b.int64(`${n.id}.axes`, [1])], out);
        break;
      case 'depthToSpace':
        // PyTorch pixel_shuffle reads channel c*s^2 + i*s + j (CRD); TF depth_to_space (i*s + j)*C + c (DCR)
        b.node('DepthToSpace', [inOf(n)], out, [{ name: 'blocksize', int: n.scale }, { name: 'mode', str: n.order === 'pytorch' ? 'CRD' : 'DCR' }]);
        break;
      case 'spaceToDepth':
        spaceToDepthNode(n, b, inOf(n), channels.get(n.inputs[0]!)!, out);
        break;
      case 'resize':
        if (tables && n.mode === 'bilinear') {
          const hw = b.node('Slice', [b.node('Shape', [inOf(n)], b.fresh(`${n.id}.shape`)), b.int64(`${n.id}.hw.starts`, [2]), b.int64(`${n.id}.hw.ends`, [4])], b.fresh(`${n.id}.hw`));
          const scaled = b.node('Floor', [b.node('Mul', [b.node('Cast', [hw], b.fresh(`${n.id}.hw_f64`), [{ name: 'to', int: ONNX_DOUBLE }]), b.float64(`${n.id}.scale`, n.scale)], b.fresh(`${n.id}.hw_scaled`))], b.fresh(`${n.id}.hw_floor`));
          bilinearInt8(g, n, b, quant!, inOf(n), b.node('Cast', [scaled], b.fresh(`${n.id}.hw_out`), [{ name: 'to', int: ONNX_INT64 }]), out);
        } else resizeNode(g, n, b, inOf(n), out);
        break;
      case 'estimateShift': {
        const size = shapes ? shapes.get(n.inputs[0]!)! : null;
        const d = estimateShiftNode(n, b, inOf(n, 0), inOf(n, 1), channels.get(n.inputs[0]!)!, size ? [size[0], size[1]] : null);
        const f32 = b.node('Cast', [d], fp16 ? b.fresh(`${n.id}.f32`) : out, [{ name: 'to', int: ONNX_FLOAT }]);
        if (fp16) b.node('Cast', [d], out, [{ name: 'to', int: ONNX_FLOAT16 }]);
        shiftF32.set(n.id, f32);
        break;
      }
      case 'translate':
        translateNode(n, b, inOf(n, 0), shiftF32.get(n.inputs[1]!) ?? inOf(n, 1), elemType, out);
        break;
      case 'globalPool': {
        const x = inOf(n);
        if (n.stat === 'mean') {
          b.node('GlobalAveragePool', [x], out);
          break;
        }
        // population standard deviation: sqrt(mean((x - mean)^2)), as IMDN's stdv_channels
        const m = b.node('GlobalAveragePool', [x], b.fresh(`${n.id}.mean`));
        const d = b.node('Sub', [x, m], b.fresh(`${n.id}.dev`));
        const v = b.node('GlobalAveragePool', [b.node('Mul', [d, d], b.fresh(`${n.id}.sq`))], b.fresh(`${n.id}.var`));
        b.node('Sqrt', [v], out);
        break;
      }
      case 'maxPool':
        b.node('MaxPool', [inOf(n)], out, [{ name: 'kernel_shape', ints: [n.kernel, n.kernel] }, { name: 'strides', ints: [n.stride, n.stride] }, { name: 'pads', ints: [0, 0, 0, 0] }]);
        break;
      case 'resizeLike': {
        if (tables && n.mode === 'bilinear') {
          const hw = b.node('Slice', [b.node('Shape', [inOf(n, 1)], b.fresh(`${n.id}.like_shape`)), b.int64(`${n.id}.hw.starts`, [2]), b.int64(`${n.id}.hw.ends`, [4])], b.fresh(`${n.id}.hw`));
          bilinearInt8(g, n, b, quant!, inOf(n, 0), hw, out);
          break;
        }
        // sizes = concat(shape(x)[0:2], shape(like)[2:4])
        const nc = b.node('Slice', [b.node('Shape', [inOf(n, 0)], b.fresh(`${n.id}.shape`)), b.int64(`${n.id}.nc.starts`, [0]), b.int64(`${n.id}.nc.ends`, [2])], b.fresh(`${n.id}.nc`));
        const hw = b.node('Slice', [b.node('Shape', [inOf(n, 1)], b.fresh(`${n.id}.like_shape`)), b.int64(`${n.id}.hw.starts`, [2]), b.int64(`${n.id}.hw.ends`, [4])], b.fresh(`${n.id}.hw`));
        const sizes = b.node('Concat', [nc, hw], b.fresh(`${n.id}.sizes`), [{ name: 'axis', int: 0 }]);
        const attrs: Attr[] = n.mode === 'bilinear'
          ? [{ name: 'mode', str: 'linear' }, { name: 'coordinate_transformation_mode', str: 'half_pixel' }]
          : [{ name: 'mode', str: 'nearest' }, { name: 'coordinate_transformation_mode', str: 'asymmetric' }, { name: 'nearest_mode', str: 'floor' }];
        b.node('Resize', [inOf(n, 0), '', '', sizes], out, attrs);
        break;
      }
      case 'scaleChannels':
        // [N,C,H,W] times [N,C,1,1]: ONNX broadcasting does the rest
        b.node('Mul', [inOf(n, 0), inOf(n, 1)], out);
        break;
      case 'windowAttention':
        windowAttentionNode(n, b, inOf(n), channels.get(n.inputs[0]!)! / 3, out);
        break;
      case 'layerNorm': {
        // over the channel axis (1 in NCHW) from basic ops, the variance from the deviations as mvsr
        // computes it; ReduceMean takes its axes as an attribute up to opset 17, as an input from 18
        const x = inOf(n), C = channels.get(n.id)!;
        const axes = opt.opset >= 18 ? b.int64(`${n.id}.axes`, [1]) : null;
        const mean = (v: string, name: string): string => (axes
          ? b.node('ReduceMean', [v, axes], b.fresh(name), [{ name: 'keepdims', int: 1 }])
          : b.node('ReduceMean', [v], b.fresh(name), [{ name: 'axes', ints: [1] }, { name: 'keepdims', int: 1 }]));
        const d = b.node('Sub', [x, mean(x, `${n.id}.mean`)], b.fresh(`${n.id}.dev`));
        const v = mean(b.node('Mul', [d, d], b.fresh(`${n.id}.sq`)), `${n.id}.var`);
        const sd = b.node('Sqrt', [b.node('Add', [v, b.float(`${n.id}.eps`, [], [n.eps])], b.fresh(`${n.id}.var_eps`))], b.fresh(`${n.id}.std`));
        const xh = b.node('Div', [d, sd], b.fresh(`${n.id}.norm`));
        // weight and bias [C] broadcast against NCHW as [C, 1, 1]
        b.node('Add', [b.node('Mul', [xh, weight(n, n.weight, [C, 1, 1])], b.fresh(`${n.id}.scaled`)), weight(n, n.bias, [C, 1, 1])], out);
        break;
      }
    }
    // an estimateShift's value is a float shift, not an int8 tensor
    value.set(n.id, n.op === 'estimateShift' ? out : qdq(n.id, out));
  }

  outNodes.forEach((n, i) => {
    const last = value.get(n.inputs[0]!)!;
    if (opt.layout === 'nhwc') b.node('Transpose', [last], outNames[i]!, [{ name: 'perm', ints: [0, 2, 3, 1] }]);
    else b.node('Identity', [last], outNames[i]!);
  });

  // I/O shapes
  const batch: Dim = opt.shape || perItem ? 1 : 'N';
  const dims = (C: number, [H, W]: [Dim, Dim]): Dim[] => (opt.layout === 'nhwc' ? [batch, H, W, C] : [batch, C, H, W]);
  const scaled = (name: string, k: number): Dim => (k === 1 ? name : `${name}*${k}`);
  const inputs: ValueInfo[] = inNodes.map((n, i) => {
    const k = n.scale ?? 1;
    const hw: [Dim, Dim] = opt.shape ? [opt.shape[0] * k, opt.shape[1] * k] : [scaled('H', k), scaled('W', k)];
    return { name: inNames[i]!, elemType, dims: dims(n.channels, hw) };
  });
  external.forEach((_, i) => inputs.push({ name: extNames[i]!, elemType: ONNX_FLOAT, dims: dims(2, [1, 1]) }));
  const outputs: ValueInfo[] = outNodes.map((n, i) => {
    let hw: [Dim, Dim];
    if (shapes) {
      const s = shapes.get(n.id)!;
      hw = [s[0], s[1]];
    } else {
      const tail = image ? 'out' : n.id;
      hw = [affineDim(g, 0, 'H', n.id, `H_${tail}`), affineDim(g, 1, 'W', n.id, `W_${tail}`)];
    }
    return { name: outNames[i]!, elemType, dims: dims(channels.get(n.id)!, hw) };
  });

  const Cin = inNodes[0]!.channels;
  const dtype = fp16 ? 'float16' : 'float32';
  const doc = image
    ? `${g.meta.arch}${g.meta.from ? ` (deploy form of ${g.meta.from})` : ''} x${g.meta.scale}: ${opt.layout.toUpperCase()} ${dtype} input with ${Cin} channel(s) (values as in training, typically 0..1)`
    : `${g.meta.arch}${g.meta.from ? ` (deploy form of ${g.meta.from})` : ''} x${g.meta.scale}${g.meta.video ? ' video step' : ''}: ${opt.layout.toUpperCase()} ${dtype} inputs ${inNodes.map((n) => `${n.id} (${n.channels} ch${(n.scale ?? 1) !== 1 ? ` at ${n.scale}x` : ''})`).join(', ')}${external.length ? `, shifts ${external.map((n) => n.id).join(', ')} (computed by the host)` : ''}; outputs ${outNodes.map((n) => n.id).join(', ')}${perItem ? '; batch 1' : ''} (values as in training, typically 0..1)`;
  const metadata: Record<string, string> = {
    'mvsr.arch': g.meta.arch,
    ...(g.meta.from ? { 'mvsr.from': g.meta.from } : {}),
    'mvsr.scale': String(g.meta.scale),
    'mvsr.args': JSON.stringify(g.meta.args),
    'mvsr.layout': opt.layout,
    'mvsr.dtype': dtype,
    'mvsr.inputs': JSON.stringify([
      ...inNodes.map((n) => ({ name: n.id, channels: n.channels, scale: n.scale ?? 1 })),
      ...external.map((n) => ({ name: n.id, channels: 2, scale: null })),
    ]),
    'mvsr.outputs': JSON.stringify(outNodes.map((n) => ({ name: n.id, channels: channels.get(n.id)!, scale: outputScale(g, n.id) }))),
  };
  if (g.meta.video) metadata['mvsr.video'] = JSON.stringify(g.meta.video);
  if (external.length) {
    metadata['mvsr.external'] = JSON.stringify(external.map((n) => ({
      name: n.id, prev: n.inputs[0], cur: n.inputs[1], radius: n.radius,
      note: `computed by the host: mvsr's estimateShift(prev, cur, radius), (dx, dy) as ${opt.layout === 'nhwc' ? '[1,1,1,2]' : '[1,2,1,1]'}`,
    })));
  }

  return encodeModel({ opset: opt.opset, name: g.meta.arch, doc, nodes: b.nodes, inits: b.inits, inputs, outputs, metadata });
}

/**
 * spaceToDepth on NCHW. 'tf' order (output channel (i*s + j)*C + c) is ONNX SpaceToDepth; PyTorch's
 * pixel_unshuffle (c*s*s + i*s + j) regroups its channels: reshape [N, s*s, C, H'W'], swap the two
 * channel axes, reshape back to SpaceToDepth's output shape.
 */
/**
 * Windowed multi-head self-attention from basic ops, the sizes taken from the input's shape (so
 * dynamic exports work): zero padding to whole windows (Pad), [N, 3, heads, D, nH, ws, nW, ws]
 * -> [3, N*nH*nW, heads, ws*ws, D] (Reshape, Transpose), q k^T (MatMul), scale, Softmax over the
 * keys, times v (MatMul), back to [N, C, Hp, Wp] and cropped to H x W (Slice).
 */
function windowAttentionNode(n: WindowAttentionNode, b: OnnxGraphBuilder, x: string, C: number, out: string): void {
  const ws = n.window, heads = n.heads, D = C / heads, T = ws * ws, id = n.id;
  const shape = b.node('Shape', [x], b.fresh(`${id}.shape`));
  const dim = (i: number, name: string) => b.node('Slice', [shape, b.int64(`${id}.${name}_at`, [i]), b.int64(`${id}.${name}_end`, [i + 1])], b.fresh(`${id}.${name}`));
  const H = dim(2, 'H'), W = dim(3, 'W'), wsC = b.int64(`${id}.ws`, [ws]);
  // (ws - size % ws) % ws rows and columns of zeros at the bottom and right
  const padOf = (v: string, name: string) => b.node('Mod', [b.node('Sub', [wsC, b.node('Mod', [v, wsC], b.fresh(`${id}.${name}_rem`))], b.fresh(`${id}.${name}_short`)), wsC], b.fresh(`${id}.${name}_pad`));
  const pb = padOf(H, 'H'), pr = padOf(W, 'W');
  const pads = b.node('Concat', [b.int64(`${id}.pads_head`, [0, 0, 0, 0, 0, 0]), pb, pr], b.fresh(`${id}.pads`), [{ name: 'axis', int: 0 }]);
  const xp = b.node('Pad', [x, pads], b.fresh(`${id}.padded`));
  const Hp = b.node('Add', [H, pb], b.fresh(`${id}.Hp`)), Wp = b.node('Add', [W, pr], b.fresh(`${id}.Wp`));
  const nH = b.node('Div', [Hp, wsC], b.fresh(`${id}.nH`)), nW = b.node('Div', [Wp, wsC], b.fresh(`${id}.nW`));
  const cat = (parts: string[], name: string) => b.node('Concat', parts, b.fresh(`${id}.${name}`), [{ name: 'axis', int: 0 }]);
  const split = b.node('Reshape', [xp, cat([b.int64(`${id}.lead`, [-1, 3, heads, D]), nH, wsC, nW, wsC], 'split_shape')], b.fresh(`${id}.split`));
  // [N, 3, heads, D, nH, wy, nW, wx] -> [3, N, nH, nW, heads, wy, wx, D] -> [3, B, heads, T, D]
  const tok = b.node('Transpose', [split], b.fresh(`${id}.tokens`), [{ name: 'perm', ints: [1, 0, 4, 6, 2, 5, 7, 3] }]);
  const qkv = b.node('Reshape', [tok, b.int64(`${id}.qkv_shape`, [3, -1, heads, T, D])], b.fresh(`${id}.qkv`));
  const part = (i: number, name: string) => b.node('Gather', [qkv, b.int64Scalar(`${id}.${name}_index`, i)], b.fresh(`${id}.${name}`), [{ name: 'axis', int: 0 }]);
  const q = part(0, 'q'), k = part(1, 'k'), v = part(2, 'v');
  const kT = b.node('Transpose', [k], b.fresh(`${id}.kT`), [{ name: 'perm', ints: [0, 1, 3, 2] }]);
  const scores = b.node('Mul', [b.node('MatMul', [q, kT], b.fresh(`${id}.qk`)), b.float(`${id}.scale`, [], [attentionScale(C, heads)])], b.fresh(`${id}.scores`));
  const probs = b.node('Softmax', [scores], b.fresh(`${id}.probs`), [{ name: 'axis', int: -1 }]);
  const o = b.node('MatMul', [probs, v], b.fresh(`${id}.attended`));
  // [B, heads, T, D] -> [N, nH, nW, heads, wy, wx, D] -> [N, heads, D, nH, wy, nW, wx] -> [N, C, Hp, Wp]
  const back = b.node('Reshape', [o, cat([b.int64(`${id}.back_lead`, [-1]), nH, nW, b.int64(`${id}.back_tail`, [heads, ws, ws, D])], 'back_shape')], b.fresh(`${id}.windows`));
  const nchw = b.node('Transpose', [back], b.fresh(`${id}.nchw_tiles`), [{ name: 'perm', ints: [0, 3, 6, 1, 4, 2, 5] }]);
  const full = b.node('Reshape', [nchw, cat([b.int64(`${id}.full_lead`, [-1, C]), Hp, Wp], 'full_shape')], b.fresh(`${id}.full`));
  b.node('Slice', [full, b.int64(`${id}.crop_start`, [0, 0]), cat([H, W], 'crop_end'), b.int64(`${id}.crop_axes`, [2, 3])], out);
}

function spaceToDepthNode(n: SpaceToDepthNode, b: OnnxGraphBuilder, x: string, C: number, out: string): void {
  const s = n.scale;
  if (n.order === 'tf') {
    b.node('SpaceToDepth', [x], out, [{ name: 'blocksize', int: s }]);
    return;
  }
  const d = b.node('SpaceToDepth', [x], b.fresh(`${n.id}.dcr`), [{ name: 'blocksize', int: s }]);
  const shape = b.node('Shape', [d], b.fresh(`${n.id}.shape`));
  const r = b.node('Reshape', [d, b.int64(`${n.id}.split`, [0, s * s, C, -1])], b.fresh(`${n.id}.split`));
  const t = b.node('Transpose', [r], b.fresh(`${n.id}.crd`), [{ name: 'perm', ints: [0, 2, 1, 3] }]);
  b.node('Reshape', [t, shape], out);
}

/**
 * Resize as PyTorch F.interpolate(align_corners=False): half_pixel coordinates with edge-clamped
 * taps for linear and cubic (a = -0.75, exclude_outside 0); 'nearest' is PyTorch's
 * floor(dst * in / out), ONNX's asymmetric + floor. Integer scales go in `scales`; other scales
 * as `sizes` = floor(in * scale) computed from the input's shape, so the coordinates use the
 * size ratio as mvsr does.
 */
function resizeNode(g: Graph, n: Extract<GraphNode, { op: 'resize' }>, b: OnnxGraphBuilder, x: string, out: string): void {
  let attrs: Attr[];
  switch (n.mode) {
    case 'nearest':
      attrs = [{ name: 'mode', str: 'nearest' }, { name: 'coordinate_transformation_mode', str: 'asymmetric' }, { name: 'nearest_mode', str: 'floor' }];
      break;
    case 'bilinear':
      attrs = [{ name: 'mode', str: 'linear' }, { name: 'coordinate_transformation_mode', str: 'half_pixel' }];
      break;
    case 'bicubic':
      attrs = [
        { name: 'mode', str: 'cubic' }, { name: 'coordinate_transformation_mode', str: 'half_pixel' },
        { name: 'cubic_coeff_a', float: -0.75 }, { name: 'exclude_outside', int: 0 },
      ];
      break;
    default:
      throw graphError(g, n, `resize mode '${n.mode}' has no ONNX form`);
  }
  if (Number.isInteger(n.scale)) {
    b.node('Resize', [x, '', b.float32(`${n.id}.scales`, [4], [1, 1, n.scale, n.scale])], out, attrs);
    return;
  }
  // sizes = concat(shape[0:2], int64(floor(double(shape[2:4]) * scale)))
  const shape = b.node('Shape', [x], b.fresh(`${n.id}.shape`));
  const nc = b.node('Slice', [shape, b.int64(`${n.id}.nc.starts`, [0]), b.int64(`${n.id}.nc.ends`, [2])], b.fresh(`${n.id}.nc`));
  const hw = b.node('Slice', [shape, b.int64(`${n.id}.hw.starts`, [2]), b.int64(`${n.id}.hw.ends`, [4])], b.fresh(`${n.id}.hw`));
  const hwd = b.node('Cast', [hw], b.fresh(`${n.id}.hw_f64`), [{ name: 'to', int: ONNX_DOUBLE }]);
  const scale = b.float64(`${n.id}.scale`, n.scale);
  const scaled = b.node('Floor', [b.node('Mul', [hwd, scale], b.fresh(`${n.id}.hw_scaled`))], b.fresh(`${n.id}.hw_floor`));
  const hwo = b.node('Cast', [scaled], b.fresh(`${n.id}.hw_out`), [{ name: 'to', int: ONNX_INT64 }]);
  const sizes = b.node('Concat', [nc, hwo], b.fresh(`${n.id}.sizes`), [{ name: 'axis', int: 0 }]);
  b.node('Resize', [x, '', '', sizes], out, attrs);
}

/**
 * int8Tables: an int8 bilinear resize (half-pixel centres) as TFLite's XNNPACK path and mvsr's
 * int8 runtime compute it (runtime/int8.ts resizeBilinearInt8), in ONNX integer ops: source
 * positions in float32 (Range, Mul, Add, clamped), 11-bit weights rounded to even, the four taps
 * gathered as int32, a horizontal then a vertical blend, rounded at 2^21 and floored at 2^22 (an
 * offset of 2^29 keeps the dividend non-negative, so Div's truncation is the floor). x is the
 * dequantized input, hwOut the output's [H, W] (int64); the result is dequantized at the node's
 * parameters, which a resize shares with its input.
 */
function bilinearInt8(g: Graph, n: GraphNode, b: OnnxGraphBuilder, quant: QuantGraph['quant'], x: string, hwOut: string, out: string): string {
  const q = quant.act[n.id]!, qi = quant.act[n.inputs[0]!]!;
  if (q.scale !== qi.scale || q.zeroPoint !== qi.zeroPoint) throw graphError(g, n, 'an int8 resize must keep its input\'s scale and zero point');
  const id = n.id, s = b.float32(`${id}.rs_scale`, [], [q.scale]), z = b.raw(`${id}.rs_zero_point`, ONNX_INT8, [], Uint8Array.of(q.zeroPoint & 255));
  const v = b.node('Cast', [b.node('QuantizeLinear', [x, s, z], b.fresh(`${id}.rs_q`))], b.fresh(`${id}.rs_i32`), [{ name: 'to', int: ONNX_INT32 }]);
  const hwIn = b.node('Slice', [b.node('Shape', [x], b.fresh(`${id}.rs_in_shape`)), b.int64(`${id}.rs_hw.starts`, [2]), b.int64(`${id}.rs_hw.ends`, [4])], b.fresh(`${id}.rs_in_hw`));
  const f32 = (name: string, v: number): string => b.float32(`${id}.${name}`, [], [v]);
  const i32 = (name: string, v: number): string => b.raw(`${id}.${name}`, ONNX_INT32, [], new Uint8Array(Int32Array.of(v).buffer));
  /** One axis (0: rows, 1: columns): the low and high source index (int64) and the weight of the high one (int32, of 2048). */
  const taps = (axis: number): { lo: string; hi: string; a: string } => {
    const pick = (t: string, name: string): string => b.node('Slice', [t, b.int64(`${id}.${name}.starts`, [axis]), b.int64(`${id}.${name}.ends`, [axis + 1])], b.fresh(`${id}.${name}`));
    const size = pick(hwIn, `rs_size${axis}`), outN = pick(hwOut, `rs_out${axis}`);
    const sizeF = b.node('Cast', [size], b.fresh(`${id}.rs_size_f${axis}`), [{ name: 'to', int: ONNX_FLOAT }]);
    const outF = b.node('Cast', [outN], b.fresh(`${id}.rs_out_f${axis}`), [{ name: 'to', int: ONNX_FLOAT }]);
    const scale = b.node('Div', [sizeF, outF], b.fresh(`${id}.rs_ratio${axis}`));
    const offset = b.node('Sub', [b.node('Mul', [scale, f32(`rs_half${axis}`, 0.5)], b.fresh(`${id}.rs_half_ratio${axis}`)), f32(`rs_half_px${axis}`, 0.5)], b.fresh(`${id}.rs_offset${axis}`));
    const limit = b.node('Reshape', [outN, b.int64(`${id}.rs_scalar${axis}`, [])], b.fresh(`${id}.rs_limit${axis}`));
    const idx = b.node('Range', [b.int64Scalar(`${id}.rs_zero${axis}`, 0), limit, b.int64Scalar(`${id}.rs_one${axis}`, 1)], b.fresh(`${id}.rs_range${axis}`));
    const pos = b.node('Add', [b.node('Mul', [b.node('Cast', [idx], b.fresh(`${id}.rs_range_f${axis}`), [{ name: 'to', int: ONNX_FLOAT }]), scale], b.fresh(`${id}.rs_scaled${axis}`)), offset], b.fresh(`${id}.rs_src${axis}`));
    const last = b.node('Sub', [sizeF, f32(`rs_one_f${axis}`, 1)], b.fresh(`${id}.rs_last${axis}`));
    const p = b.node('Min', [b.node('Max', [pos, f32(`rs_zero_f${axis}`, 0)], b.fresh(`${id}.rs_src_lo${axis}`)), last], b.fresh(`${id}.rs_src_clamped${axis}`));
    const loF = b.node('Floor', [p], b.fresh(`${id}.rs_lo_f${axis}`));
    const lo = b.node('Cast', [loF], b.fresh(`${id}.rs_lo${axis}`), [{ name: 'to', int: ONNX_INT64 }]);
    const lastI = b.node('Sub', [size, b.int64(`${id}.rs_one_i${axis}`, [1])], b.fresh(`${id}.rs_last_i${axis}`));
    const hi = b.node('Min', [b.node('Add', [lo, b.int64(`${id}.rs_step${axis}`, [1])], b.fresh(`${id}.rs_next${axis}`)), lastI], b.fresh(`${id}.rs_hi${axis}`));
    const w = b.node('Round', [b.node('Mul', [b.node('Sub', [p, loF], b.fresh(`${id}.rs_frac${axis}`)), f32(`rs_2048_${axis}`, 2048)], b.fresh(`${id}.rs_frac2048_${axis}`))], b.fresh(`${id}.rs_weight_f${axis}`));
    const a = b.node('Reshape', [b.node('Cast', [w], b.fresh(`${id}.rs_weight${axis}`), [{ name: 'to', int: ONNX_INT32 }]), b.int64(`${id}.rs_wshape${axis}`, axis === 0 ? [1, 1, -1, 1] : [1, 1, 1, -1])], b.fresh(`${id}.rs_weight_b${axis}`));
    return { lo, hi, a };
  };
  const ty = taps(0), tx = taps(1);
  const gather = (t: string, idx: string, axis: number, name: string): string => b.node('Gather', [t, idx], b.fresh(`${id}.${name}`), [{ name: 'axis', int: axis }]);
  const top = gather(v, ty.lo, 2, 'rs_top'), bottom = gather(v, ty.hi, 2, 'rs_bottom');
  const blend = (p0: string, p1: string, a: string, name: string): string =>
    b.node('Add', [b.node('Mul', [p0, i32(`${name}_2048`, 2048)], b.fresh(`${id}.${name}_base`)), b.node('Mul', [b.node('Sub', [p1, p0], b.fresh(`${id}.${name}_diff`)), a], b.fresh(`${id}.${name}_step`))], b.fresh(`${id}.${name}`));
  const vt = blend(gather(top, tx.lo, 3, 'rs_tl'), gather(top, tx.hi, 3, 'rs_tr'), tx.a, 'rs_vt');
  const vb = blend(gather(bottom, tx.lo, 3, 'rs_bl'), gather(bottom, tx.hi, 3, 'rs_br'), tx.a, 'rs_vb');
  const sum = b.node('Add', [blend(vt, vb, ty.a, 'rs_v'), i32('rs_round', 2 ** 21 + 2 ** 29)], b.fresh(`${id}.rs_rounded`));
  const r = b.node('Sub', [b.node('Div', [sum, i32('rs_pot', 2 ** 22)], b.fresh(`${id}.rs_div`)), i32('rs_unoffset', 128)], b.fresh(`${id}.rs_int`));
  const r8 = b.node('Cast', [r], b.fresh(`${id}.rs_int8`), [{ name: 'to', int: ONNX_INT8 }]);
  return b.node('DequantizeLinear', [r8, s, z], out);
}

// ---- encoding ---------------------------------------------------------------------------------


interface ModelSpec {
  opset: number;
  name: string;
  doc: string;
  nodes: OnnxNode[];
  inits: Initializer[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  metadata: Record<string, string>;
}

// field numbers of onnx.proto
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, GRAPH: 5, INTS: 7 } as const;

function writeAttr(w: ProtoWriter, a: Attr): void {
  w.string(1, a.name);
  if ('int' in a) w.varint(20, ATTR.INT).varint(3, a.int);
  else if ('float' in a) w.varint(20, ATTR.FLOAT).float(2, a.float);
  else if ('str' in a) w.varint(20, ATTR.STRING).string(4, a.str);
  else if ('graph' in a) w.varint(20, ATTR.GRAPH).message(6, (gw) => writeGraph(gw, a.graph, []));
  else {
    w.varint(20, ATTR.INTS);
    for (const v of a.ints) w.varint(8, v);
  }
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (t) => t.message(1, (tt) => {
    tt.varint(1, v.elemType);
    tt.message(2, (s) => {
      for (const d of v.dims) s.message(1, (dim) => (typeof d === 'number' ? dim.varint(1, d) : dim.string(2, d)));
    });
  }));
}

function writeGraph(gw: ProtoWriter, g: SubGraph, inits: Initializer[]): void {
  for (const n of g.nodes) {
    gw.message(1, (nw) => {
      for (const i of n.inputs) nw.string(1, i);
      for (const o of n.outputs) nw.string(2, o);
      nw.string(3, n.name);
      nw.string(4, n.op);
      for (const a of n.attrs) nw.message(5, (aw) => writeAttr(aw, a));
    });
  }
  gw.string(2, g.name);
  for (const t of inits) {
    gw.message(5, (tw) => {
      for (const d of t.dims) tw.varint(1, d);
      tw.varint(2, t.type);
      tw.string(8, t.name);
      tw.bytes(9, t.raw);
    });
  }
  for (const v of g.inputs) gw.message(11, (vw) => writeValueInfo(vw, v));
  for (const v of g.outputs) gw.message(12, (vw) => writeValueInfo(vw, v));
}

function encodeModel(m: ModelSpec): Uint8Array {
  const w = new ProtoWriter();
  w.varint(1, irVersionFor(m.opset));
  w.string(2, 'mvsr');
  w.string(6, m.doc);
  w.message(7, (gw) => writeGraph(gw, { name: m.name, nodes: m.nodes, inputs: m.inputs, outputs: m.outputs }, m.inits));
  w.message(8, (ow) => ow.string(1, '').varint(2, m.opset));
  for (const [k, v] of Object.entries(m.metadata)) w.message(14, (e) => e.string(1, k).string(2, v));
  return w.finish();
}

// ---- reading back (for tests and `inspect`-style tools) ----------------------------------------

export interface OnnxTensorInfo { name: string; dataType: number; dims: number[]; raw: Uint8Array }
export interface OnnxValueInfo { name: string; elemType: number; dims: Dim[] }
export interface OnnxNodeInfo { opType: string; name: string; inputs: string[]; outputs: string[]; attributes: Record<string, number | number[] | string | OnnxGraphInfo> }
/** A graph attribute (a Loop body): its nodes, inputs and outputs. */
export interface OnnxGraphInfo { name: string; nodes: OnnxNodeInfo[]; inputs: OnnxValueInfo[]; outputs: OnnxValueInfo[] }

export interface OnnxModelInfo {
  irVersion: number;
  producer: string;
  opsets: { domain: string; version: number }[];
  graphName: string;
  doc: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers: OnnxTensorInfo[];
  nodes: OnnxNodeInfo[];
  metadata: Record<string, string>;
}

function readValueInfo(v: ProtoMessage): OnnxValueInfo {
  const tt = v.message(2)?.message(1);
  const dims = (tt?.message(2)?.messages(1) ?? []).map((d): Dim => (d.has(2) ? d.string(2)! : d.int(1) ?? 0));
  return { name: v.string(1) ?? '', elemType: tt?.int(1) ?? 0, dims };
}

/** Parse the parts of a ModelProto this writer emits (no external data; Loop bodies as OnnxGraphInfo). */
export function readOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  const m = new ProtoMessage(bytes);
  const g = m.message(7);
  if (!g) throw new Error('mvsr: readOnnxModel: the ModelProto has no graph');
  const attrValue = (a: ProtoMessage): number | number[] | string | OnnxGraphInfo => {
    switch (a.int(20)) {
      case ATTR.FLOAT: return a.float(2)!;
      case ATTR.INT: return a.int(3)!;
      case ATTR.STRING: return a.string(4)!;
      case ATTR.INTS: return a.ints(8);
      case ATTR.GRAPH: {
        const sg = a.message(6);
        if (!sg) throw new Error(`mvsr: readOnnxModel: graph attribute '${a.string(1)}' holds no graph`);
        return { name: sg.string(2) ?? '', nodes: sg.messages(1).map(readNode), inputs: sg.messages(11).map(readValueInfo), outputs: sg.messages(12).map(readValueInfo) };
      }
      default: throw new Error(`mvsr: readOnnxModel: attribute '${a.string(1)}' has unsupported type ${a.int(20)}`);
    }
  };
  const readNode = (n: ProtoMessage): OnnxNodeInfo => ({
    opType: n.string(4) ?? '', name: n.string(3) ?? '', inputs: n.strings(1), outputs: n.strings(2),
    attributes: Object.fromEntries(n.messages(5).map((a) => [a.string(1) ?? '', attrValue(a)])),
  });
  return {
    irVersion: m.int(1) ?? 0,
    producer: m.string(2) ?? '',
    opsets: m.messages(8).map((o) => ({ domain: o.string(1) ?? '', version: o.int(2) ?? 0 })),
    graphName: g.string(2) ?? '',
    doc: m.string(6) ?? '',
    inputs: g.messages(11).map(readValueInfo),
    outputs: g.messages(12).map(readValueInfo),
    initializers: g.messages(5).map((t) => ({ name: t.string(8) ?? '', dataType: t.int(2) ?? 0, dims: t.ints(1), raw: t.bytes(9) ?? new Uint8Array(0) })),
    nodes: g.messages(1).map(readNode),
    metadata: Object.fromEntries(m.messages(14).map((e) => [e.string(1) ?? '', e.string(2) ?? ''])),
  };
}
