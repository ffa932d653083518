// ONNX writer for the deploy IR: one ModelProto with the weights as raw little-endian
// initializers and an NCHW body (Conv, ConvTranspose, activations, Add/Mul, Concat, Slice,
// DepthToSpace, SpaceToDepth, Resize; a video step graph's translate as Gathers and its
// estimateShift as float64 ops with a Loop), optionally wrapped in Transposes for NHWC inputs
// and outputs, which are named by their node ids (several for a step graph).
// Browser-safe (no Node imports); writeOnnxFile in onnx.node.ts puts the bytes in a file.
import {
  type Graph, type GraphNode, type Act, type GraphWeight, type EstimateShiftNode, type SpaceToDepthNode, type TranslateNode,
  graphError, graphInputs, graphOutputs, validateGraph, weightOf,
} from '../graph/ir.js';
import { inferChannels, inferShapes } from '../graph/shapes.js';
import { optimizeGraph } from '../graph/passes.js';
import { ProtoWriter, ProtoMessage } from './protobuf.js';

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
}

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;
export const ONNX_FLOAT16 = 10;
export const ONNX_DOUBLE = 11;
export const ONNX_BOOL = 9;

export const ONNX_DEFAULT_OPSET = 17;
const MIN_OPSET = 13, MAX_OPSET = 20;

// ---- float16 ----------------------------------------------------------------------------------

const f32Box = new Float32Array(1);
const u32Box = new Uint32Array(f32Box.buffer);

/** IEEE binary16 bits of float32(v), rounded to nearest, ties to even (overflow to infinity). */
export function toFloat16Bits(v: number): number {
  f32Box[0] = v;
  const x = u32Box[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half: the implicit bit joins the mantissa, shifted further right
    if (e < -10) return sign;
    const full = mant | 0x800000, shift = 14 - e;
    const half = 2 ** (shift - 1);
    let m = Math.floor(full / 2 ** shift);
    const rem = full - m * 2 ** shift;
    if (rem > half || (rem === half && m & 1)) m++;
    return sign | m; // m may reach 0x400, which is the smallest normal's encoding
  }
  const m = mant >>> 13, rem = mant & 0x1fff;
  let h = sign | (e << 10) | m;
  if (rem > 0x1000 || (rem === 0x1000 && m & 1)) h++; // a carry rolls into the exponent correctly
  return h;
}

/** The value of IEEE binary16 bits. */
export function fromFloat16Bits(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function toFloat16Array(a: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = toFloat16Bits(a[i]!);
  return out;
}

export function fromFloat16Array(a: ArrayLike<number>): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = fromFloat16Bits(a[i]!);
  return out;
}

// ---- model building ---------------------------------------------------------------------------

type Attr =
  | { name: string; int: number }
  | { name: string; ints: number[] }
  | { name: string; float: number }
  | { name: string; str: string }
  | { name: string; graph: SubGraph };

interface OnnxNode { op: string; name: string; inputs: string[]; outputs: string[]; attrs: Attr[] }
/** A node attribute's graph (a Loop body): its nodes may read any value of the enclosing graph. */
interface SubGraph { name: string; nodes: OnnxNode[]; inputs: ValueInfo[]; outputs: ValueInfo[] }
interface Initializer { name: string; type: number; dims: number[]; raw: Uint8Array }
type Dim = number | string;

function rawFloat32(data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i]!, true);
  return out;
}

function rawFloat16(data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(data.length * 2);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setUint16(2 * i, toFloat16Bits(data[i]!), true);
  return out;
}

function rawFloat64(data: readonly number[]): Uint8Array {
  const out = new Uint8Array(data.length * 8);
  const dv = new DataView(out.buffer);
  data.forEach((v, i) => dv.setFloat64(8 * i, v, true));
  return out;
}

function rawInt64(data: readonly number[]): Uint8Array {
  const out = new Uint8Array(data.length * 8);
  const dv = new DataView(out.buffer);
  data.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
  return out;
}

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

class OnnxGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly inits: Initializer[] = [];
  private readonly names = new Set<string>();
  /** Where node() appends: the main graph, or a subgraph being built by body(). */
  private target: OnnxNode[] = this.nodes;

  constructor(private readonly fp16: boolean) {}

  /** A value name not used yet: base, else base_1, base_2, ... */
  fresh(base: string): string {
    let n = base, i = 0;
    while (this.names.has(n)) n = `${base}_${++i}`;
    this.names.add(n);
    return n;
  }

  node(op: string, inputs: string[], output: string, attrs: Attr[] = [], name = output): string {
    this.target.push({ op, name, inputs, outputs: [output], attrs });
    return output;
  }

  /** A node with several outputs. */
  nodeMulti(op: string, inputs: string[], outputs: string[], attrs: Attr[], name: string): string[] {
    this.target.push({ op, name, inputs, outputs, attrs });
    return outputs;
  }

  /** The nodes `build` appends, collected for a subgraph (names stay unique model-wide). */
  body(build: () => void): OnnxNode[] {
    const outer = this.target, nodes: OnnxNode[] = [];
    this.target = nodes;
    try {
      build();
    } finally {
      this.target = outer;
    }
    return nodes;
  }

  /** A float initializer in the model's float type (float16 when fp16). */
  float(base: string, dims: number[], data: ArrayLike<number>): string {
    const name = this.fresh(base);
    this.inits.push({ name, type: this.fp16 ? ONNX_FLOAT16 : ONNX_FLOAT, dims, raw: this.fp16 ? rawFloat16(data) : rawFloat32(data) });
    return name;
  }

  /** A float32 initializer regardless of fp16 (Resize scales). */
  float32(base: string, dims: number[], data: ArrayLike<number>): string {
    const name = this.fresh(base);
    this.inits.push({ name, type: ONNX_FLOAT, dims, raw: rawFloat32(data) });
    return name;
  }

  /** A float64 scalar of shape [1] (the size arithmetic of fractional resizes). */
  float64(base: string, v: number): string {
    const name = this.fresh(base);
    const raw = new Uint8Array(8);
    new DataView(raw.buffer).setFloat64(0, v, true);
    this.inits.push({ name, type: ONNX_DOUBLE, dims: [1], raw });
    return name;
  }

  int64(base: string, data: number[]): string {
    const name = this.fresh(base);
    this.inits.push({ name, type: ONNX_INT64, dims: [data.length], raw: rawInt64(data) });
    return name;
  }

  /** An int64 scalar (shape []), e.g. for Range. */
  int64Scalar(base: string, v: number): string {
    const name = this.fresh(base);
    this.inits.push({ name, type: ONNX_INT64, dims: [], raw: rawInt64([v]) });
    return name;
  }
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
  // the interpreter's passes: activations join their convs (emitted right after them anyway), so a
  // channel slice of conv + act becomes a conv with just those rows (the ET forms' drop-last at x3)
  const g = optimizeGraph(g0);
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
  inNodes.forEach((n, i) => value.set(n.id, toNchw(inNames[i]!)));
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
      init = b.float(name, dims ?? [...w.shape], w.data);
      weightInit.set(key, init);
    }
    return init;
  };
  const inOf = (n: GraphNode, i = 0): string => value.get(n.inputs[i]!)!;

  const act = (n: GraphNode, a: Act, x: string, out: string): string => {
    switch (a.kind) {
      case 'relu': return b.node('Relu', [x], out);
      case 'tanh': return b.node('Tanh', [x], out);
      case 'sigmoid': return b.node('Sigmoid', [x], out);
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
          { name: 'strides', ints: [1, 1] }, { name: 'dilations', ints: [1, 1] }, { name: 'group', int: n.groups },
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
        act(n, n.act, inOf(n), out);
        break;
      case 'add':
        b.node('Add', [inOf(n, 0), inOf(n, 1)], out);
        break;
      case 'mul':
        b.node('Mul', [inOf(n, 0), inOf(n, 1)], out);
        break;
      case 'concat':
        if (n.inputs.length === 1) b.node('Identity', [inOf(n)], out);
        else b.node('Concat', n.inputs.map((_, i) => inOf(n, i)), out, [{ name: 'axis', int: 1 }]);
        break;
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
        resizeNode(g, n, b, inOf(n), out);
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
    }
    value.set(n.id, out);
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

const INT64_BIG = Number.MAX_SAFE_INTEGER;

/**
 * translate on NCHW (batch 1): out(x, y) = in(x - f dx, y - f dy) with edges clamped, as mvsr's
 * taps(): per axis t = -f d in float64, i0 = clamp(x + floor(t)), i1 = clamp(x + floor(t) + 1),
 * w1 = t - floor(t), w0 = 1 - w1; Gather along W and then along H, each a weighted sum of two
 * taps (in the model's float type; the weights are computed in float64 and cast).
 */
function translateNode(n: TranslateNode, b: OnnxGraphBuilder, x: string, shift: string, elemType: number, out: string): void {
  const id = n.id;
  const op = (type: string, inputs: string[], name: string, attrs: Attr[] = []): string => b.node(type, inputs, b.fresh(`${id}.${name}`), attrs);
  const to = (t: number): Attr[] => [{ name: 'to', int: t }];
  const sd = op('Cast', [shift], 'shift_f64', to(ONNX_DOUBLE));
  const t = op('Neg', [op('Mul', [sd, b.float64(`${id}.factor`, n.factor)], 'moved')], 'source'); // -f d, [1, 2, 1, 1]
  const fl = op('Floor', [t], 'floor');
  const w1 = op('Sub', [t, fl], 'w1');
  const w0 = op('Sub', [b.float64(`${id}.one`, 1), w1], 'w0');
  const w0e = op('Cast', [w0], 'w0_cast', to(elemType)), w1e = op('Cast', [w1], 'w1_cast', to(elemType));
  const offs = op('Reshape', [op('Cast', [fl], 'floor_i64', to(ONNX_INT64)), b.int64(`${id}.flat`, [2])], 'offsets');
  const shape = op('Shape', [x], 'shape');
  const zero = b.int64(`${id}.zero`, [0]);
  let y = x;
  // channel 0 of the shift moves along W (axis 3), channel 1 along H (axis 2)
  for (const [k, axis, tag] of [[0, 3, 'x'], [1, 2, 'y']] as const) {
    const ch = (v: string, name: string): string => op('Slice', [v, b.int64(`${id}.${tag}_c0`, [k]), b.int64(`${id}.${tag}_c1`, [k + 1]), b.int64(`${id}.${tag}_axis_c`, [1])], name);
    const len = op('Slice', [shape, b.int64(`${id}.${tag}_a0`, [axis]), b.int64(`${id}.${tag}_a1`, [axis + 1])], `${tag}_len`);
    const last = op('Sub', [len, b.int64(`${id}.${tag}_one`, [1])], `${tag}_last`);
    const idx = op('Range', [b.int64Scalar(`${id}.${tag}_start`, 0), op('Squeeze', [len, zero], `${tag}_len_scalar`), b.int64Scalar(`${id}.${tag}_delta`, 1)], `${tag}_range`);
    const f = op('Slice', [offs, b.int64(`${id}.${tag}_o0`, [k]), b.int64(`${id}.${tag}_o1`, [k + 1])], `${tag}_offset`);
    const i0 = op('Add', [idx, f], `${tag}_i0_raw`);
    const i1 = op('Add', [i0, b.int64(`${id}.${tag}_next`, [1])], `${tag}_i1_raw`);
    const clamp = (v: string, name: string): string => op('Min', [op('Max', [v, zero], `${name}_lo`), last], name);
    const g0 = op('Gather', [y, clamp(i0, `${tag}_i0`)], `${tag}_tap0`, [{ name: 'axis', int: axis }]);
    const g1 = op('Gather', [y, clamp(i1, `${tag}_i1`)], `${tag}_tap1`, [{ name: 'axis', int: axis }]);
    const a = op('Mul', [g0, ch(w0e, `${tag}_w0`)], `${tag}_part0`), c = op('Mul', [g1, ch(w1e, `${tag}_w1`)], `${tag}_part1`);
    y = axis === 2 ? b.node('Add', [a, c], out) : op('Add', [a, c], `${tag}_moved`);
  }
}

/**
 * estimateShift on NCHW frames (batch 1) as ONNX ops in float64, step for step mvsr's
 * estimateShift (autograd/ops/align.ts); returns the (dx, dy) value [1, 2, 1, 1] in float64.
 * - channel means in float64, rounded to float32 (mvsr keeps them in a Float32Array);
 * - the effective radius R = max(0, min(radius, floor((min(H, W) - 4) / 3))) and the subsampling
 *   step (2 when H*W > 64*64) from the frame size: constants for a fixed-size export, int64
 *   arithmetic on Shape otherwise (then every candidate up to `radius` is built, its slice clamped
 *   to R, and those beyond R get an infinite cost);
 * - the integer search unrolled: per candidate (u, v) a strided Slice of each frame, the mean
 *   squared difference (ReduceSum / count), NaN as +inf (mvsr never picks a NaN cost); ArgMin over
 *   the candidates sorted by |u| + |v| and then in mvsr's scan order (v outer, u inner), so
 *   ArgMin's first-index rule is mvsr's tie rule;
 * - central-difference gradients (float32-rounded, zero on the border rows and columns);
 * - up to 8 Gauss-Newton iterations as a Loop whose condition is mvsr's "no break" (one body, so
 *   the model stays small and stops as early as mvsr does), the bilinear taps as Slices at the
 *   data-dependent offset floor(-d), the decisions as Where masks: keep the iterate when its cost
 *   is below the best so far, else stop; stop when !(ss > 0 && det > 1e-4 (hxx + hyy)^2); step,
 *   clamp to +-1 px of the integer minimum; on |ddx| + |ddy| < 1e-3 take the step unevaluated and
 *   stop.
 * Only the summation order of the reductions differs from mvsr's.
 */
function estimateShiftNode(n: EstimateShiftNode, b: OnnxGraphBuilder, prev: string, cur: string, C: number, size: [number, number] | null): string {
  const id = n.id;
  const op = (type: string, inputs: string[], name: string, attrs: Attr[] = []): string => b.node(type, inputs, b.fresh(`${id}.${name}`), attrs);
  const i64 = (name: string, v: number[]): string => b.int64(`${id}.${name}`, v);
  const f64 = (name: string, v: number): string => b.float64(`${id}.${name}`, v);
  const to = (t: number): Attr[] => [{ name: 'to', int: t }];
  const keep: Attr[] = [{ name: 'keepdims', int: 1 }];
  const axesHW = i64('axes_hw', [2, 3]), axesAll = i64('axes_all', [1, 2, 3]);
  const sum = (x: string, name: string): string => op('ReduceSum', [x, axesAll], name, keep);
  const slice = (x: string, starts: string, ends: string, name: string, steps?: string): string => op('Slice', [x, starts, ends, axesHW, ...(steps ? [steps] : [])], name);

  const channelsF = f64('channels', C);
  const grey = (x: string, tag: string): string => {
    const s = op('ReduceSum', [op('Cast', [x], `${tag}_f64`, to(ONNX_DOUBLE)), i64(`${tag}_axis_c`, [1])], `${tag}_sum`, keep);
    const m32 = op('Cast', [op('Div', [s, channelsF], `${tag}_mean`)], `${tag}_mean_f32`, to(ONNX_FLOAT));
    return op('Cast', [m32], `${tag}_grey`, to(ONNX_DOUBLE));
  };
  const a = grey(prev, 'prev'), c = grey(cur, 'cur');

  // frame size, effective radius, subsampling step
  let HW: string, Hs: string, Ws: string, RR: string, R1: string | null = null, STEP: string, Rmax: number;
  if (size) {
    const [H, W] = size;
    Rmax = Math.max(0, Math.min(Math.floor(n.radius), Math.floor((Math.min(H, W) - 4) / 3)));
    const st = H * W > 64 * 64 ? 2 : 1;
    HW = i64('hw', [H, W]);
    Hs = b.int64Scalar(`${id}.h`, H);
    Ws = b.int64Scalar(`${id}.w`, W);
    RR = i64('rr', [Rmax, Rmax]);
    STEP = i64('steps', [st, st]);
  } else {
    Rmax = n.radius;
    HW = op('Slice', [op('Shape', [a], 'shape'), i64('hw_from', [2]), i64('hw_to', [4])], 'hw');
    const H1 = op('Slice', [HW, i64('h_from', [0]), i64('h_to', [1])], 'h1'), W1 = op('Slice', [HW, i64('w_from', [1]), i64('w_to', [2])], 'w1');
    Hs = op('Squeeze', [H1, i64('h_axis', [0])], 'h');
    Ws = op('Squeeze', [W1, i64('w_axis', [0])], 'w');
    // floor((min - 4) / 3) by truncating int64 division: they differ only below 0, where max(0, .) gives 0 either way
    const fit = op('Div', [op('Sub', [op('Min', [H1, W1], 'min_hw'), i64('four', [4])], 'min_hw_4'), i64('three', [3])], 'r_fit');
    R1 = op('Max', [i64('zero', [0]), op('Min', [i64('radius', [n.radius]), fit], 'r_min')], 'r');
    RR = op('Concat', [R1, R1], 'rr', [{ name: 'axis', int: 0 }]);
    const big = op('Cast', [op('Greater', [op('Mul', [H1, W1], 'area'), i64('area_max', [64 * 64])], 'subsample')], 'subsample_i64', to(ONNX_INT64));
    const st = op('Add', [i64('one', [1]), big], 'step');
    STEP = op('Concat', [st, st], 'steps', [{ name: 'axis', int: 0 }]);
  }

  // integer search
  const searchEnds = op('Sub', [HW, RR], 'search_ends');
  const curRegion = slice(c, RR, searchEnds, 'search_cur', STEP);
  const count = op('Cast', [op('Size', [curRegion], 'search_count')], 'search_count_f64', to(ONNX_DOUBLE));
  const cands: { u: number; v: number; scan: number }[] = [];
  for (let v = -Rmax, scan = 0; v <= Rmax; v++) for (let u = -Rmax; u <= Rmax; u++) cands.push({ u, v, scan: scan++ });
  cands.sort((p, q) => Math.abs(p.u) + Math.abs(p.v) - (Math.abs(q.u) + Math.abs(q.v)) || p.scan - q.scan);
  const negRR = R1 ? op('Neg', [RR], 'neg_rr') : null;
  const costs = cands.map(({ u, v }) => {
    const tag = `u${u}_v${v}`.replace(/-/g, 'm');
    let off = i64(`off_${tag}`, [v, u]);
    if (negRR) off = op('Min', [op('Max', [off, negRR], `off_${tag}_lo`), RR], `off_${tag}_clamped`); // beyond R: any valid slice, masked below
    const prevRegion = slice(a, op('Sub', [RR, off], `start_${tag}`), op('Sub', [searchEnds, off], `end_${tag}`), `search_prev_${tag}`, STEP);
    const e = op('Sub', [curRegion, prevRegion], `diff_${tag}`);
    return op('Div', [sum(op('Mul', [e, e], `sq_${tag}`), `ss_${tag}`), count], `cost_${tag}`);
  });
  const inf = f64('inf', Infinity);
  let all = costs.length === 1 ? costs[0]! : op('Concat', costs, 'costs', [{ name: 'axis', int: 1 }]); // [1, K, 1, 1]
  all = op('Where', [op('IsNaN', [all], 'cost_nan'), inf, all], 'costs_finite');
  if (R1) {
    const reach = b.int64(`${id}.reach`, cands.map(({ u, v }) => Math.max(Math.abs(u), Math.abs(v))));
    const within = op('LessOrEqual', [op('Reshape', [reach, i64('reach_shape', [1, -1, 1, 1])], 'reach_4d'), R1], 'within');
    all = op('Where', [within, all, inf], 'costs_within');
  }
  const best = op('ArgMin', [all], 'best', [{ name: 'axis', int: 1 }, { name: 'keepdims', int: 1 }]);
  const table = (name: string, vals: number[]): string => {
    const t = b.fresh(`${id}.${name}`);
    b.inits.push({ name: t, type: ONNX_DOUBLE, dims: [vals.length], raw: rawFloat64(vals) });
    return t;
  };
  const bu = op('Gather', [table('cand_u', cands.map((p) => p.u)), best], 'best_u');
  const bv = op('Gather', [table('cand_v', cands.map((p) => p.v)), best], 'best_v');

  // central differences (a[x+1] - a[x-1]) / 2, rounded to float32, zero on the border
  const interior = (len: string, tag: string, shape: number[]): string => {
    const i = op('Reshape', [op('Range', [b.int64Scalar(`${id}.${tag}_start`, 0), len, b.int64Scalar(`${id}.${tag}_delta`, 1)], `${tag}_range`), i64(`${tag}_shape`, shape)], `${tag}_index`);
    const last = op('Sub', [op('Unsqueeze', [len, i64(`${tag}_axis`, [0])], `${tag}_len`), i64(`${tag}_one`, [1])], `${tag}_last`);
    return op('And', [op('GreaterOrEqual', [i, i64(`${tag}_first`, [1])], `${tag}_ge1`), op('Less', [i, last], `${tag}_lt_last`)], `${tag}_inner`);
  };
  const inner = op('And', [interior(Hs, 'rows', [1, 1, -1, 1]), interior(Ws, 'cols', [1, 1, 1, -1])], 'inner');
  const zeroF = f64('zero_f', 0), two = f64('two', 2);
  const gradient = (axis: 2 | 3, tag: string): string => {
    const pads = axis === 3 ? [0, 0, 0, 1, 0, 0, 0, 1] : [0, 0, 1, 0, 0, 0, 1, 0];
    const p = op('Pad', [a, i64(`${tag}_pads`, pads)], `${tag}_padded`);
    const ax = i64(`${tag}_axis`, [axis]);
    const hi = op('Slice', [p, i64(`${tag}_hi_from`, [2]), i64(`${tag}_hi_to`, [INT64_BIG]), ax], `${tag}_next`);
    const lo = op('Slice', [p, i64(`${tag}_lo_from`, [0]), i64(`${tag}_lo_to`, [-2]), ax], `${tag}_prev`);
    const d = op('Div', [op('Sub', [hi, lo], `${tag}_diff`), two], `${tag}_half`);
    const r = op('Cast', [op('Cast', [d], `${tag}_f32`, to(ONNX_FLOAT))], `${tag}_rounded`, to(ONNX_DOUBLE));
    return op('Where', [inner, r, zeroF], tag);
  };
  const gx = gradient(3, 'grad_x'), gy = gradient(2, 'grad_y');

  // Gauss-Newton over the region [m, H - m) x [m, W - m), m = R + 2
  const MM = op('Add', [RR, i64('two_i', [2])], 'margin');
  const gnEnds = op('Sub', [HW, MM], 'gn_ends');
  const curGN = slice(c, MM, gnEnds, 'gn_cur');
  const one = f64('one', 1), flat1 = i64('flat1', [1]);
  const loU = op('Sub', [bu, one], 'lo_u'), hiU = op('Add', [bu, one], 'hi_u');
  const loV = op('Sub', [bv, one], 'lo_v'), hiV = op('Add', [bv, one], 'hi_v');
  const threshold = f64('cond', 1e-4), converged = f64('converged', 1e-3);
  const tapOff = { x: i64('tap_x', [0, 1]), y: i64('tap_y', [1, 0]), xy: i64('tap_xy', [1, 1]) };
  // one iteration as a Loop body (at most 8 trips, ending when mvsr's loop would break): carried
  // the iterate (dx, dy) and the best (kdx, kdy, kcost), all [1, 1, 1, 1] float64
  const scalar4 = [1, 1, 1, 1];
  const carried = ['dx', 'dy', 'kdx', 'kdy', 'kcost'];
  const vin = carried.map((k) => b.fresh(`${id}.gn.${k}_in`));
  const iterIn = b.fresh(`${id}.gn.iter`), condIn = b.fresh(`${id}.gn.cond_in`);
  let outs: string[] = [];
  const body = b.body(() => {
    const [dx, dy, kdx0, kdy0, kcost0] = vin as [string, string, string, string, string];
    const t = 'gn';
    const nx = op('Neg', [dx], `${t}_ndx`), ny = op('Neg', [dy], `${t}_ndy`);
    const fx = op('Floor', [nx], `${t}_fx`), fy = op('Floor', [ny], `${t}_fy`);
    const wx = op('Sub', [nx, fx], `${t}_wx`), wy = op('Sub', [ny, fy], `${t}_wy`);
    const ux = op('Sub', [one, wx], `${t}_1mwx`), uy = op('Sub', [one, wy], `${t}_1mwy`);
    const w00 = op('Mul', [uy, ux], `${t}_w00`), w01 = op('Mul', [uy, wx], `${t}_w01`);
    const w10 = op('Mul', [wy, ux], `${t}_w10`), w11 = op('Mul', [wy, wx], `${t}_w11`);
    const off = op('Cast', [op('Concat', [op('Reshape', [fy, flat1], `${t}_fy1`), op('Reshape', [fx, flat1], `${t}_fx1`)], `${t}_off_f`, [{ name: 'axis', int: 0 }])], `${t}_off`, to(ONNX_INT64));
    const s00 = op('Add', [MM, off], `${t}_s00`), e00 = op('Add', [gnEnds, off], `${t}_e00`);
    const s01 = op('Add', [s00, tapOff.x], `${t}_s01`), e01 = op('Add', [e00, tapOff.x], `${t}_e01`);
    const s10 = op('Add', [s00, tapOff.y], `${t}_s10`), e10 = op('Add', [e00, tapOff.y], `${t}_e10`);
    const s11 = op('Add', [s00, tapOff.xy], `${t}_s11`), e11 = op('Add', [e00, tapOff.xy], `${t}_e11`);
    // w00 a[q] + w01 a[q + 1] + w10 a[q + W] + w11 a[q + W + 1], summed left to right as mvsr does
    const sample = (x: string, tag: string): string => {
      const p = (st: string, en: string, w: string, k: string): string => op('Mul', [w, slice(x, st, en, `${t}_${tag}${k}`)], `${t}_${tag}${k}_w`);
      const s0 = op('Add', [p(s00, e00, w00, '00'), p(s01, e01, w01, '01')], `${t}_${tag}_s0`);
      const s1 = op('Add', [s0, p(s10, e10, w10, '10')], `${t}_${tag}_s1`);
      return op('Add', [s1, p(s11, e11, w11, '11')], `${t}_${tag}`);
    };
    const w = sample(a, 'w'), ix = sample(gx, 'ix'), iy = sample(gy, 'iy');
    const r = op('Sub', [curGN, w], `${t}_r`);
    const dot = (p: string, q: string, name: string): string => sum(op('Mul', [p, q], `${t}_${name}_terms`), `${t}_${name}`);
    const hxx = dot(ix, ix, 'hxx'), hxy = dot(ix, iy, 'hxy'), hyy = dot(iy, iy, 'hyy');
    const gxs = dot(ix, r, 'gx'), gys = dot(iy, r, 'gy'), ss = dot(r, r, 'ss');
    // keep the iterate when its cost is below the best so far; otherwise stop
    const improve = op('Less', [ss, kcost0], `${t}_lower`);
    const kcost = op('Where', [improve, ss, kcost0], `${t}_kcost`);
    let kdx = op('Where', [improve, dx, kdx0], `${t}_kdx`);
    let kdy = op('Where', [improve, dy, kdy0], `${t}_kdy`);
    // stop when ill-conditioned: !(ss > 0 && det > 1e-4 (hxx + hyy)^2)
    const det = op('Sub', [op('Mul', [hxx, hyy], `${t}_hxxhyy`), op('Mul', [hxy, hxy], `${t}_hxy2`)], `${t}_det`);
    const tr = op('Add', [hxx, hyy], `${t}_trace`);
    const bound = op('Mul', [op('Mul', [threshold, tr], `${t}_bound0`), tr], `${t}_bound`);
    const well = op('And', [op('Greater', [ss, zeroF], `${t}_ss_pos`), op('Greater', [det, bound], `${t}_det_ok`)], `${t}_well`);
    const go = op('And', [improve, well], `${t}_go`);
    const ddx = op('Div', [op('Neg', [op('Sub', [op('Mul', [hyy, gxs], `${t}_hyygx`), op('Mul', [hxy, gys], `${t}_hxygy`)], `${t}_nx_num`)], `${t}_x_num`), det], `${t}_ddx`);
    const ddy = op('Div', [op('Neg', [op('Sub', [op('Mul', [hxx, gys], `${t}_hxxgy`), op('Mul', [hxy, gxs], `${t}_hxygx`)], `${t}_ny_num`)], `${t}_y_num`), det], `${t}_ddy`);
    // the step, clamped to +-1 px of the integer minimum
    const ndx = op('Max', [loU, op('Min', [hiU, op('Add', [dx, ddx], `${t}_dx_step`)], `${t}_dx_hi`)], `${t}_dx_new`);
    const ndy = op('Max', [loV, op('Min', [hiV, op('Add', [dy, ddy], `${t}_dy_step`)], `${t}_dy_hi`)], `${t}_dy_new`);
    const dxOut = op('Where', [go, ndx, dx], `${t}_dx`);
    const dyOut = op('Where', [go, ndy, dy], `${t}_dy`);
    // converged: the last small step is taken without evaluating it
    const small = op('Less', [op('Add', [op('Abs', [ddx], `${t}_abs_ddx`), op('Abs', [ddy], `${t}_abs_ddy`)], `${t}_step_size`), converged], `${t}_small`);
    const done = op('And', [go, small], `${t}_converged`);
    kdx = op('Where', [done, dxOut, kdx], `${t}_kdx_final`);
    kdy = op('Where', [done, dyOut, kdy], `${t}_kdy_final`);
    const more = op('Reshape', [op('And', [go, op('Not', [small], `${t}_not_small`)], `${t}_more4`), i64('scalar_shape', [])], `${t}_more`);
    outs = [more, dxOut, dyOut, kdx, kdy, kcost];
  });
  const f64T = (name: string): ValueInfo => ({ name, elemType: ONNX_DOUBLE, dims: scalar4 });
  const graph: SubGraph = {
    name: `${id}.gauss_newton`, nodes: body,
    inputs: [{ name: iterIn, elemType: ONNX_INT64, dims: [] }, { name: condIn, elemType: ONNX_BOOL, dims: [] }, ...vin.map(f64T)],
    outputs: [{ name: outs[0]!, elemType: ONNX_BOOL, dims: [] }, ...outs.slice(1).map(f64T)],
  };
  const start = b.fresh(`${id}.gn.start`);
  b.inits.push({ name: start, type: ONNX_BOOL, dims: [], raw: Uint8Array.of(1) });
  const inf4 = b.fresh(`${id}.inf4`);
  b.inits.push({ name: inf4, type: ONNX_DOUBLE, dims: scalar4, raw: rawFloat64([Infinity]) });
  const finals = carried.map((k) => b.fresh(`${id}.gn.${k}`));
  const [, , kdx, kdy] = b.nodeMulti('Loop', [b.int64Scalar(`${id}.gn.trips`, 8), start, bu, bv, bu, bv, inf4], finals, [{ name: 'body', graph }], b.fresh(`${id}.gn.loop`));
  return op('Concat', [kdx, kdy], 'shift', [{ name: 'axis', int: 1 }]);
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

// ---- encoding ---------------------------------------------------------------------------------

interface ValueInfo { name: string; elemType: number; dims: Dim[] }

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
        const sg = a.message(6)!;
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
