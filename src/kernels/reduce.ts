// Deterministic reductions: work is cut into fixed-size chunks (independent of the thread
// count), each chunk writes a partial, and partials are summed in order on one thread.
import { shareStart, f4, storeLanes } from './common';

/** Pixels per chunk of channel_sum_chunks. Must match CHUNK_PIXELS in TypeScript. */
export const CHUNK_PIXELS: i32 = 1024;

/** partial[k, c] = sum over pixels p in chunk k of src[p*stride + c], for c < C (partial rows are CP wide). */
export function channel_sum_chunks(src: usize, P: i32, C: i32, stride: i32, CP: i32, partial: usize, tid: i32, nt: i32): void {
  const nChunks = (P + CHUNK_PIXELS - 1) / CHUNK_PIXELS;
  const k0 = shareStart(nChunks, tid, nt), k1 = shareStart(nChunks, tid + 1, nt);
  for (let k = k0; k < k1; k++) {
    const p0 = k * CHUNK_PIXELS, p1 = min(P, p0 + CHUNK_PIXELS);
    for (let c = 0; c < C; c += 4) {
      let a = f32x4.splat(0);
      let ps = src + f4(p0 * stride + c);
      for (let p = p0; p < p1; p++) {
        a = f32x4.add(a, v128.load(ps));
        ps += f4(stride);
      }
      storeLanes(partial + f4(k * CP + c), a, min(4, C - c));
    }
  }
}

/** out[c] (+)= sum over k of partial[k, c], accumulated in f64, in chunk order. Single-threaded. */
export function sum_chunks(partial: usize, nChunks: i32, C: i32, CP: i32, out: usize, accumulate: i32): void {
  for (let c = 0; c < C; c++) {
    let s: f64 = 0;
    for (let k = 0; k < nChunks; k++) s += <f64>load<f32>(partial + f4(k * CP + c));
    const prev: f32 = accumulate ? load<f32>(out + f4(c)) : 0;
    store<f32>(out + f4(c), <f32>(<f64>prev + s));
  }
}

/** out[tid] = first index in this thread's share of [0, n) holding NaN or +-Inf, or -1. */
export function nonfinite_scan(p: usize, n: i32, out: usize, tid: i32, nt: i32): void {
  const i0 = shareStart(n, tid, nt), i1 = shareStart(n, tid + 1, nt);
  const zero = f32x4.splat(0);
  let i = i0;
  for (; i + 16 <= i1; i += 16) {
    const a = v128.load(p + f4(i)), b = v128.load(p + f4(i), 16), c = v128.load(p + f4(i), 32), d = v128.load(p + f4(i), 48);
    // x - x is 0 for finite x and NaN for NaN/Inf
    const ok = v128.and(
      v128.and(f32x4.eq(f32x4.sub(a, a), zero), f32x4.eq(f32x4.sub(b, b), zero)),
      v128.and(f32x4.eq(f32x4.sub(c, c), zero), f32x4.eq(f32x4.sub(d, d), zero)),
    );
    if (!i32x4.all_true(ok)) break;
  }
  for (; i < i1; i++) {
    const v = load<f32>(p + f4(i));
    if (v - v != 0) { store<i32>(out + f4(tid), i); return; }
  }
  store<i32>(out + f4(tid), -1);
}
