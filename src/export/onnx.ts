// ONNX writer for the deploy IR: one ModelProto with the weights as raw little-endian
// initializers and an NCHW body (Conv, ConvTranspose, activations, Add/Mul, Concat, Slice,
// DepthToSpace, Resize), optionally wrapped in Transposes for NHWC input and output.
// Browser-safe (no Node imports); writeOnnxFile in onnx.node.ts puts the bytes in a file.
import {
  type Graph, type GraphNode, type Act, type GraphWeight, graphError, inputNode, outputNode, validateGraph, weightOf,
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
  /** Fixed input [H, W] (batch 1) when not dynamic. */
  inputShape?: [number, number];
}

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;
export const ONNX_FLOAT16 = 10;
export const ONNX_DOUBLE = 11;

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
  | { name: string; str: string };

interface OnnxNode { op: string; name: string; inputs: string[]; outputs: string[]; attrs: Attr[] }
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

function rawInt64(data: readonly number[]): Uint8Array {
  const out = new Uint8Array(data.length * 8);
  const dv = new DataView(out.buffer);
  data.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
  return out;
}

/** The symbolic name of an output dimension: `${name}*a+b` when inferShapes shows it is affine in the input. */
function affineDimName(g: Graph, axis: 0 | 1, name: string): string {
  try {
    const probes = [61, 64, 97];
    const outs = probes.map((p) => {
      const s = inferShapes(g, p, p).get(outputNode(g).id)!;
      return s[axis];
    });
    const a = (outs[1]! - outs[0]!) / (probes[1]! - probes[0]!), b = outs[0]! - a * probes[0]!;
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1 || outs[2] !== a * probes[2]! + b) return `${name}_out`;
    return `${a === 1 ? name : `${name}*${a}`}${b > 0 ? `+${b}` : b < 0 ? `-${-b}` : ''}`;
  } catch {
    return `${name}_out`;
  }
}

class OnnxGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly inits: Initializer[] = [];
  private readonly names = new Set<string>();

  constructor(private readonly fp16: boolean) {}

  /** A value name not used yet: base, else base_1, base_2, ... */
  fresh(base: string): string {
    let n = base, i = 0;
    while (this.names.has(n)) n = `${base}_${++i}`;
    this.names.add(n);
    return n;
  }

  node(op: string, inputs: string[], output: string, attrs: Attr[] = [], name = output): string {
    this.nodes.push({ op, name, inputs, outputs: [output], attrs });
    return output;
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
 * input and output are NHWC and Transposes convert at both ends. Channel slices of convs are
 * folded into the convs' weights first (fewer MACs, same values). Throws an error naming the node
 * for ops ONNX cannot express (MATLAB's antialiased bicubic resize).
 */
export function exportOnnx(g0: Graph, o: OnnxExportOptions = {}): Uint8Array {
  validateGraph(g0);
  for (const n of g0.nodes) {
    if (n.op === 'resize' && n.mode === 'matlabBicubic') {
      throw graphError(g0, n, 'matlabBicubic (MATLAB imresize, antialiased bicubic) has no ONNX operator; it cannot be exported (use bicubic, which is PyTorch\'s, or resize outside the model)');
    }
  }
  inferChannels(g0); // channel errors name the node of the graph as given
  // the interpreter's passes: activations join their convs (emitted right after them anyway), so a
  // channel slice of conv + act becomes a conv with just those rows (the ET forms' drop-last at x3)
  const g = optimizeGraph(g0);
  const channels = inferChannels(g);
  const opt = checkOptions(g, o);
  const fp16 = o.fp16 ?? false;
  const b = new OnnxGraphBuilder(fp16);
  const elemType = fp16 ? ONNX_FLOAT16 : ONNX_FLOAT;

  // names: graph I/O first, then every used weight keeps its own name
  const inName = b.fresh('input'), outName = b.fresh('output');
  const inN = inputNode(g), outN = outputNode(g);
  const value = new Map<string, string>();
  let x0 = inName;
  if (opt.layout === 'nhwc') x0 = b.node('Transpose', [inName], b.fresh('input_nchw'), [{ name: 'perm', ints: [0, 3, 1, 2] }]);
  value.set(inN.id, x0);

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
      case 'resize':
        resizeNode(g, n, b, inOf(n), out);
        break;
    }
    value.set(n.id, out);
  }

  const last = value.get(outN.inputs[0]!)!;
  if (opt.layout === 'nhwc') b.node('Transpose', [last], outName, [{ name: 'perm', ints: [0, 2, 3, 1] }]);
  else b.node('Identity', [last], outName);

  // I/O shapes
  const Cin = inN.channels, Cout = channels.get(outN.id)!;
  let inHW: [Dim, Dim], outHW: [Dim, Dim];
  let batch: Dim;
  if (opt.shape) {
    const s = inferShapes(g, opt.shape[0], opt.shape[1]).get(outN.id)!;
    inHW = opt.shape;
    outHW = [s[0], s[1]];
    batch = 1;
  } else {
    inHW = ['H', 'W'];
    outHW = [affineDimName(g, 0, 'H'), affineDimName(g, 1, 'W')];
    batch = 'N';
  }
  const dims = (C: number, [H, W]: [Dim, Dim]): Dim[] => (opt.layout === 'nhwc' ? [batch, H, W, C] : [batch, C, H, W]);

  return encodeModel({
    opset: opt.opset,
    name: g.meta.arch,
    doc: `${g.meta.arch}${g.meta.from ? ` (deploy form of ${g.meta.from})` : ''} x${g.meta.scale}: ${opt.layout.toUpperCase()} ${fp16 ? 'float16' : 'float32'} input with ${Cin} channel(s) (values as in training, typically 0..1)`,
    nodes: b.nodes,
    inits: b.inits,
    input: { name: inName, elemType, dims: dims(Cin, inHW) },
    output: { name: outName, elemType, dims: dims(Cout, outHW) },
    metadata: {
      'mvsr.arch': g.meta.arch,
      ...(g.meta.from ? { 'mvsr.from': g.meta.from } : {}),
      'mvsr.scale': String(g.meta.scale),
      'mvsr.args': JSON.stringify(g.meta.args),
      'mvsr.layout': opt.layout,
      'mvsr.dtype': fp16 ? 'float16' : 'float32',
    },
  });
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
  input: ValueInfo;
  output: ValueInfo;
  metadata: Record<string, string>;
}

// field numbers of onnx.proto
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

function writeAttr(w: ProtoWriter, a: Attr): void {
  w.string(1, a.name);
  if ('int' in a) w.varint(20, ATTR.INT).varint(3, a.int);
  else if ('float' in a) w.varint(20, ATTR.FLOAT).float(2, a.float);
  else if ('str' in a) w.varint(20, ATTR.STRING).string(4, a.str);
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

function encodeModel(m: ModelSpec): Uint8Array {
  const w = new ProtoWriter();
  w.varint(1, irVersionFor(m.opset));
  w.string(2, 'mvsr');
  w.string(6, m.doc);
  w.message(7, (gw) => {
    for (const n of m.nodes) {
      gw.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        nw.string(3, n.name);
        nw.string(4, n.op);
        for (const a of n.attrs) nw.message(5, (aw) => writeAttr(aw, a));
      });
    }
    gw.string(2, m.name);
    for (const t of m.inits) {
      gw.message(5, (tw) => {
        for (const d of t.dims) tw.varint(1, d);
        tw.varint(2, t.type);
        tw.string(8, t.name);
        tw.bytes(9, t.raw);
      });
    }
    gw.message(11, (vw) => writeValueInfo(vw, m.input));
    gw.message(12, (vw) => writeValueInfo(vw, m.output));
  });
  w.message(8, (ow) => ow.string(1, '').varint(2, m.opset));
  for (const [k, v] of Object.entries(m.metadata)) w.message(14, (e) => e.string(1, k).string(2, v));
  return w.finish();
}

// ---- reading back (for tests and `inspect`-style tools) ----------------------------------------

export interface OnnxTensorInfo { name: string; dataType: number; dims: number[]; raw: Uint8Array }
export interface OnnxValueInfo { name: string; elemType: number; dims: Dim[] }
export interface OnnxNodeInfo { opType: string; name: string; inputs: string[]; outputs: string[]; attributes: Record<string, number | number[] | string> }

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

/** Parse the parts of a ModelProto this writer emits (no external data, no subgraphs). */
export function readOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  const m = new ProtoMessage(bytes);
  const g = m.message(7);
  if (!g) throw new Error('mvsr: readOnnxModel: the ModelProto has no graph');
  const attrValue = (a: ProtoMessage): number | number[] | string => {
    switch (a.int(20)) {
      case ATTR.FLOAT: return a.float(2)!;
      case ATTR.INT: return a.int(3)!;
      case ATTR.STRING: return a.string(4)!;
      case ATTR.INTS: return a.ints(8);
      default: throw new Error(`mvsr: readOnnxModel: attribute '${a.string(1)}' has unsupported type ${a.int(20)}`);
    }
  };
  return {
    irVersion: m.int(1) ?? 0,
    producer: m.string(2) ?? '',
    opsets: m.messages(8).map((o) => ({ domain: o.string(1) ?? '', version: o.int(2) ?? 0 })),
    graphName: g.string(2) ?? '',
    doc: m.string(6) ?? '',
    inputs: g.messages(11).map(readValueInfo),
    outputs: g.messages(12).map(readValueInfo),
    initializers: g.messages(5).map((t) => ({ name: t.string(8) ?? '', dataType: t.int(2) ?? 0, dims: t.ints(1), raw: t.bytes(9) ?? new Uint8Array(0) })),
    nodes: g.messages(1).map((n) => ({
      opType: n.string(4) ?? '', name: n.string(3) ?? '', inputs: n.strings(1), outputs: n.strings(2),
      attributes: Object.fromEntries(n.messages(5).map((a) => [a.string(1) ?? '', attrValue(a)])),
    })),
    metadata: Object.fromEntries(m.messages(14).map((e) => [e.string(1) ?? '', e.string(2) ?? ''])),
  };
}
