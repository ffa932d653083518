// The pieces every ONNX writer of mvsr's shares: TensorProto data types, IEEE float16 rounding,
// raw little-endian initializer bytes, and OnnxGraphBuilder, which names values uniquely and
// collects nodes (or a Loop body's nodes) and initializers. Browser-safe.

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT8 = 3;
export const ONNX_INT32 = 6;
export const ONNX_INT64 = 7;
export const ONNX_FLOAT16 = 10;
export const ONNX_DOUBLE = 11;
export const ONNX_BOOL = 9;


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

export type Attr =
  | { name: string; int: number }
  | { name: string; ints: number[] }
  | { name: string; float: number }
  | { name: string; str: string }
  | { name: string; graph: SubGraph };

export interface OnnxNode { op: string; name: string; inputs: string[]; outputs: string[]; attrs: Attr[] }
/** A node attribute's graph (a Loop body): its nodes may read any value of the enclosing graph. */
export interface SubGraph { name: string; nodes: OnnxNode[]; inputs: ValueInfo[]; outputs: ValueInfo[] }
export interface Initializer { name: string; type: number; dims: number[]; raw: Uint8Array }
export type Dim = number | string;
export interface ValueInfo { name: string; elemType: number; dims: Dim[] }

export function rawFloat32(data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i]!, true);
  return out;
}

export function rawFloat16(data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(data.length * 2);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setUint16(2 * i, toFloat16Bits(data[i]!), true);
  return out;
}

export function rawFloat64(data: readonly number[]): Uint8Array {
  const out = new Uint8Array(data.length * 8);
  const dv = new DataView(out.buffer);
  data.forEach((v, i) => dv.setFloat64(8 * i, v, true));
  return out;
}

export function rawInt64(data: readonly number[]): Uint8Array {
  const out = new Uint8Array(data.length * 8);
  const dv = new DataView(out.buffer);
  data.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
  return out;
}

/** Names values uniquely and collects nodes and initializers (float16 ones when fp16). */
export class OnnxGraphBuilder {
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

  /** An initializer of raw little-endian bytes of any element type (int8 weights, int32 biases). */
  raw(base: string, type: number, dims: number[], raw: Uint8Array): string {
    const name = this.fresh(base);
    this.inits.push({ name, type, dims, raw });
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
