// Training helpers over flat float arrays: the model-EMA update (axpby), in-place scaling for
// gradient clipping, and a deterministic sum of squares (fixed chunks, one f64 partial each).
import { shareStart, f4, storeLanes } from './common';

/** Elements per chunk of sumsq_chunks. Must match SUMSQ_CHUNK in src/train/clip.ts. */
export const SUMSQ_CHUNK: i32 = 4096;

/**
 * y[i] = a * y[i] + b * x[i] for i < n, as two roundings (mul, then add; never fused, so both
 * WASM builds give the same bits). Threads split contiguous 4-float vectors; the last thread
 * also does the trailing floats with the same vector code.
 */
export function axpby(y: usize, x: usize, n: i32, a: f32, b: f32, tid: i32, nt: i32): void {
  const nv = n >> 2;
  const v0 = shareStart(nv, tid, nt), v1 = shareStart(nv, tid + 1, nt);
  const hi = v1 + (tid == nt - 1 && (n & 3) != 0 ? 1 : 0);
  const va = f32x4.splat(a), vb = f32x4.splat(b);
  for (let k = v0; k < hi; k++) {
    const o = f4(k << 2);
    const r = f32x4.add(f32x4.mul(va, v128.load(y + o)), f32x4.mul(vb, v128.load(x + o)));
    if (k < v1) v128.store(y + o, r);
    else storeLanes(y + o, r, n & 3);
  }
}

/** y[i] *= a for i < n. */
export function scale_inplace(y: usize, n: i32, a: f32, tid: i32, nt: i32): void {
  const nv = n >> 2;
  const v0 = shareStart(nv, tid, nt), v1 = shareStart(nv, tid + 1, nt);
  const hi = v1 + (tid == nt - 1 && (n & 3) != 0 ? 1 : 0);
  const va = f32x4.splat(a);
  for (let k = v0; k < hi; k++) {
    const o = f4(k << 2);
    const r = f32x4.mul(va, v128.load(y + o));
    if (k < v1) v128.store(y + o, r);
    else storeLanes(y + o, r, n & 3);
  }
}

/**
 * partial[k] (f64) = sum of x[i]^2 over chunk k = [k*SUMSQ_CHUNK, min(n, (k+1)*SUMSQ_CHUNK)).
 * Squares of f32 values are exact in f64; each chunk is summed in a fixed order (two f64x2
 * accumulators, then the tail), so partials do not depend on which thread did the chunk.
 */
export function sumsq_chunks(x: usize, n: i32, partial: usize, tid: i32, nt: i32): void {
  const nChunks = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
  const k0 = shareStart(nChunks, tid, nt), k1 = shareStart(nChunks, tid + 1, nt);
  for (let k = k0; k < k1; k++) {
    const i0 = k * SUMSQ_CHUNK, i1 = min(n, i0 + SUMSQ_CHUNK);
    let lo = f64x2.splat(0), hi = f64x2.splat(0);
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      const v = v128.load(x + f4(i));
      const a = f64x2.promote_low_f32x4(v);
      const b = f64x2.promote_low_f32x4(i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
      lo = f64x2.add(lo, f64x2.mul(a, a));
      hi = f64x2.add(hi, f64x2.mul(b, b));
    }
    let s: f64 = (f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1)) + (f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1));
    for (; i < i1; i++) {
      const v = <f64>load<f32>(x + f4(i));
      s += v * v;
    }
    store<f64>(partial + (<usize>k << 3), s);
  }
}
