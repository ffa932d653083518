/**
 * Naive float64 reference element-wise ops and channel (last-axis) manipulation.
 * Channel-wise ops treat the LAST axis as the channel axis (NHWC).
 */
import { RT, VecLike, rt, checkRT, assertSameShape, shapeStr, vecData, checkInt } from './tensor.js';

/** Applies `f` to every element, returning a new tensor of the same shape. */
export function map(x: RT, f: (v: number) => number, what = 'map'): RT {
  checkRT(x, what);
  const out = rt(x.shape);
  for (let i = 0; i < x.data.length; i++) out.data[i] = f(x.data[i]);
  return out;
}

function lastDim(x: RT, what: string): number {
  checkRT(x, what);
  if (x.shape.length < 1) throw new Error(`${what}: tensor must have at least one axis, got shape ${shapeStr(x.shape)}`);
  return x.shape[x.shape.length - 1];
}

/** out[..., c] = x[..., c] + b[c]  (b has length C = last axis). */
export function addBias(x: RT, b: VecLike): RT {
  const C = lastDim(x, 'addBias x');
  const bd = vecData(b, 'addBias b', C);
  const out = rt(x.shape);
  for (let i = 0; i < x.data.length; i++) out.data[i] = x.data[i] + bd[i % C];
  return out;
}

/** max(x, 0). */
export function relu(x: RT): RT {
  return map(x, (v) => (v > 0 ? v : 0), 'relu');
}

/** x for x >= 0, slope * x otherwise (PyTorch LeakyReLU). */
export function leakyRelu(x: RT, slope: number): RT {
  if (!Number.isFinite(slope)) throw new Error(`leakyRelu: slope must be finite, got ${slope}`);
  return map(x, (v) => (v >= 0 ? v : slope * v), 'leakyRelu');
}

/**
 * PyTorch PReLU: x for x >= 0, alpha * x otherwise. `alpha` has length 1
 * (shared by all channels) or C (one per channel, C = last axis).
 */
export function prelu(x: RT, alpha: VecLike): RT {
  const C = lastDim(x, 'prelu x');
  const a = vecData(alpha, 'prelu alpha');
  if (a.length !== 1 && a.length !== C) {
    throw new Error(`prelu: alpha must have length 1 or C=${C}, got ${a.length}`);
  }
  const out = rt(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i];
    const slope = a.length === 1 ? a[0] : a[i % C];
    out.data[i] = v >= 0 ? v : slope * v;
  }
  return out;
}

export function tanh(x: RT): RT {
  return map(x, (v) => Math.tanh(v), 'tanh');
}

/** 1 / (1 + exp(-x)). */
export function sigmoid(x: RT): RT {
  return map(x, (v) => 1 / (1 + Math.exp(-v)), 'sigmoid');
}

/**
 * erf by composite Simpson integration of 2/sqrt(pi) e^{-t^2} over [0, |x|] (4,000 intervals: error
 * below 1e-13), odd in x; beyond |x| = 6 it is +-1 to double precision.
 */
export function erf(x: number): number {
  const a = Math.min(Math.abs(x), 6), n = 4000, h = a / n;
  let s = 1 + Math.exp(-a * a);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return Math.sign(x) * ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}

/** GELU, the erf form: x (1 + erf(x / sqrt 2)) / 2. */
export function gelu(x: RT): RT {
  return map(x, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)), 'gelu');
}

/** min(max(x, lo), hi). */
export function clamp(x: RT, lo: number, hi: number): RT {
  if (!(lo <= hi)) throw new Error(`clamp: need lo <= hi, got lo=${lo} hi=${hi}`);
  return map(x, (v) => Math.min(Math.max(v, lo), hi), 'clamp');
}

/** Element-wise a + b (identical shapes, no broadcasting). */
export function add(a: RT, b: RT): RT {
  assertSameShape(a, b, 'add');
  const out = rt(a.shape);
  for (let i = 0; i < a.data.length; i++) out.data[i] = a.data[i] + b.data[i];
  return out;
}

/** Element-wise a * b (identical shapes, no broadcasting). */
export function mul(a: RT, b: RT): RT {
  assertSameShape(a, b, 'mul');
  const out = rt(a.shape);
  for (let i = 0; i < a.data.length; i++) out.data[i] = a.data[i] * b.data[i];
  return out;
}

/**
 * Concatenates tensors along the last (channel) axis. All tensors must have the
 * same rank and identical leading dimensions.
 */
export function concat(list: readonly RT[]): RT {
  if (!Array.isArray(list as unknown) || list.length === 0) throw new Error('concat: need at least one tensor');
  const first = list[0];
  lastDim(first, 'concat[0]');
  const lead = first.shape.slice(0, -1);
  let Ctotal = 0;
  list.forEach((t, k) => {
    lastDim(t, `concat[${k}]`);
    const tl = t.shape.slice(0, -1);
    if (tl.length !== lead.length || tl.some((d, i) => d !== lead[i])) {
      throw new Error(`concat: shape mismatch ${shapeStr(first.shape)} vs ${shapeStr(t.shape)} (all but the last axis must agree)`);
    }
    Ctotal += t.shape[t.shape.length - 1];
  });
  const out = rt([...lead, Ctotal]);
  const rows = out.data.length / (Ctotal || 1);
  let offset = 0;
  for (const t of list) {
    const C = t.shape[t.shape.length - 1];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < C; c++) out.data[r * Ctotal + offset + c] = t.data[r * C + c];
    }
    offset += C;
  }
  return out;
}

/** Splits along the last (channel) axis into pieces of the given sizes (must sum to C). */
export function split(x: RT, sizes: readonly number[]): RT[] {
  const C = lastDim(x, 'split x');
  if (!Array.isArray(sizes as unknown) || sizes.length === 0) throw new Error('split: need at least one size');
  let total = 0;
  for (const s of sizes) {
    checkInt(s, 0, 'split size');
    total += s;
  }
  if (total !== C) throw new Error(`split: sizes [${sizes.join(',')}] sum to ${total}, but C=${C}`);
  const lead = x.shape.slice(0, -1);
  const rows = C === 0 ? 0 : x.data.length / C;
  const result: RT[] = [];
  let offset = 0;
  for (const s of sizes) {
    const piece = rt([...lead, s]);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < s; c++) piece.data[r * s + c] = x.data[r * C + offset + c];
    }
    result.push(piece);
    offset += s;
  }
  return result;
}
