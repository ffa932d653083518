/**
 * Reference tensors for the mvsr test suite.
 *
 * Everything in test/ref/ is a deliberately slow, naive float64 implementation
 * written directly from the mathematical definitions. The fast kernels are
 * tested against it, so clarity always wins over speed here.
 *
 * Conventions:
 *  - `RT` is a dense row-major tensor of float64 values.
 *  - Image tensors are NHWC: shape [N, H, W, C].
 *  - Weights use PyTorch layouts (see the individual ops).
 *  - Every function validates its inputs and throws an Error on a mismatch.
 */

/** A reference tensor: row-major float64 data with an explicit shape. */
export interface RT {
  shape: number[];
  data: Float64Array;
}

/** Anything that can be used as a flat vector argument (bias, PReLU alpha, ...). */
export type VecLike = RT | Float64Array | readonly number[];

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Throws unless every entry of `shape` is a non-negative integer. */
export function checkShape(shape: readonly number[], what = 'shape'): void {
  if (!Array.isArray(shape)) throw new Error(`${what}: shape must be an array`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${what}: invalid shape ${shapeStr(shape)} (dimensions must be non-negative integers)`);
    }
  }
}

/** Number of elements of a tensor with the given shape (1 for a scalar shape []). */
export function numel(shape: readonly number[]): number {
  checkShape(shape);
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws unless `x` is a well-formed RT (valid shape, data length matches). */
export function checkRT(x: RT, what = 'tensor'): void {
  if (x === null || typeof x !== 'object') throw new Error(`${what}: not a tensor`);
  if (!(x.data instanceof Float64Array)) throw new Error(`${what}: data must be a Float64Array`);
  checkShape(x.shape, what);
  const n = numel(x.shape);
  if (x.data.length !== n) {
    throw new Error(`${what}: data length ${x.data.length} does not match shape ${shapeStr(x.shape)} (${n} elements)`);
  }
}

/** Throws unless `x` is a well-formed RT of the given rank. */
export function checkRank(x: RT, rank: number, what = 'tensor'): void {
  checkRT(x, what);
  if (x.shape.length !== rank) {
    throw new Error(`${what}: expected rank ${rank}, got shape ${shapeStr(x.shape)}`);
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws unless `a` and `b` are well-formed and have identical shapes. */
export function assertSameShape(a: RT, b: RT, what = 'tensors'): void {
  checkRT(a, `${what} (first)`);
  checkRT(b, `${what} (second)`);
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${what}: shape mismatch ${shapeStr(a.shape)} vs ${shapeStr(b.shape)}`);
  }
}

/**
 * Creates a reference tensor. Without `data` it is filled with zeros; with
 * `data` the values are COPIED (the result never aliases the argument).
 */
export function rt(shape: readonly number[], data?: ArrayLike<number>): RT {
  checkShape(shape, 'rt');
  const n = numel(shape);
  const out = new Float64Array(n);
  if (data !== undefined) {
    if (data.length !== n) {
      throw new Error(`rt: data length ${data.length} does not match shape ${shapeStr(shape)} (${n} elements)`);
    }
    for (let i = 0; i < n; i++) out[i] = data[i];
  }
  return { shape: [...shape], data: out };
}

/** Deep copy of a tensor. */
export function cloneRT(x: RT): RT {
  checkRT(x, 'cloneRT');
  return rt(x.shape, x.data);
}

/**
 * Small seeded PRNG (the "mulberry32" generator, 32-bit state).
 * Returns a function producing numbers uniformly distributed in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Tensor with elements drawn uniformly from [lo, hi) using `rng`. */
export function randomRT(shape: readonly number[], rng: () => number, lo = -1, hi = 1): RT {
  if (!(hi >= lo)) throw new Error(`randomRT: need lo <= hi, got lo=${lo} hi=${hi}`);
  const out = rt(shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = lo + (hi - lo) * rng();
  return out;
}

/** Flat float64 view/copy of a vector-like argument; checks its length when `expectedLength` is given. */
export function vecData(v: VecLike, what: string, expectedLength?: number): Float64Array {
  let d: Float64Array;
  if (v instanceof Float64Array) {
    d = v;
  } else if (Array.isArray(v)) {
    d = Float64Array.from(v as readonly number[]);
  } else {
    checkRT(v as RT, what);
    d = (v as RT).data;
  }
  if (expectedLength !== undefined && d.length !== expectedLength) {
    throw new Error(`${what}: expected length ${expectedLength}, got ${d.length}`);
  }
  return d;
}

/** Maximum absolute element-wise difference (shapes must match). */
export function maxAbsDiff(a: RT, b: RT): number {
  assertSameShape(a, b, 'maxAbsDiff');
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (d > m || Number.isNaN(d)) m = d;
  }
  return m;
}

/** Inner product sum(a * b) over all elements (shapes must match). */
export function dot(a: RT, b: RT): number {
  assertSameShape(a, b, 'dot');
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i] * b.data[i];
  return s;
}

/** Throws unless `v` is an integer >= `min`. */
export function checkInt(v: number, min: number, what: string): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${what}: expected an integer >= ${min}, got ${v}`);
}
