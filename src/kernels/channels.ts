// Per-image channel statistics and channel-wise affine maps over NHWC float tensors: the global
// mean / standard-deviation pooling of contrast-aware channel attention (IMDN's CCA) and the
// broadcast of a per-(image, channel) value over every pixel (channel scaling, and the
// gradients of the pooling). The sums are chunked like channel_sum_chunks, so they are
// deterministic for any thread count.
import { shareStart, f4, storeLanes, loadLanes } from './common';
import { CHUNK_PIXELS } from './reduce';

/**
 * partial[k, c] = sum over pixels p in chunk k of (src[p*C + c] - mean[c])^2 (src holds P pixels of
 * C channels; mean is CP wide, CP = C rounded up to 4; partial rows are CP wide).
 */
export function channel_sqdev_sum_chunks(src: usize, P: i32, C: i32, CP: i32, mean: usize, partial: usize, tid: i32, nt: i32): void {
  const nChunks = (P + CHUNK_PIXELS - 1) / CHUNK_PIXELS;
  const k0 = shareStart(nChunks, tid, nt), k1 = shareStart(nChunks, tid + 1, nt);
  for (let k = k0; k < k1; k++) {
    const p0 = k * CHUNK_PIXELS, p1 = min(P, p0 + CHUNK_PIXELS);
    for (let c = 0; c < C; c += 4) {
      const m = v128.load(mean + f4(c));
      const nv = min(4, C - c);
      let a = f32x4.splat(0);
      let ps = src + f4(p0 * C + c);
      for (let p = p0; p < p1; p++) {
        // the last block of a pixel may read past its C channels: those lanes are not stored
        const d = f32x4.sub(nv == 4 ? v128.load(ps) : loadLanes(ps, nv), m);
        a = f32x4.add(a, f32x4.mul(d, d));
        ps += f4(C);
      }
      storeLanes(partial + f4(k * CP + c), a, nv);
    }
  }
}

/**
 * y[n, p, c] = x[n, p, c] * a[n, c] + b[n, c] for N images of P pixels of C channels; x = 0 reads
 * as zeros, a = 0 as ones, b = 0 as zeros. a and b hold N rows of CP floats. Threads split the N*P
 * pixels.
 */
export function channel_affine(x: usize, a: usize, b: usize, y: usize, N: i32, P: i32, C: i32, CP: i32, tid: i32, nt: i32): void {
  const total = N * P;
  const q0 = shareStart(total, tid, nt), q1 = shareStart(total, tid + 1, nt);
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  for (let q = q0; q < q1; q++) {
    const n = q / P;
    const row = f4(n * CP);
    const px = f4(q * C);
    for (let c = 0; c < C; c += 4) {
      const nv = min(4, C - c);
      const av = a != 0 ? v128.load(a + row + f4(c)) : one;
      const bv = b != 0 ? v128.load(b + row + f4(c)) : zero;
      const xv = x != 0 ? (nv == 4 ? v128.load(x + px + f4(c)) : loadLanes(x + px + f4(c), nv)) : zero;
      storeLanes(y + px + f4(c), f32x4.add(f32x4.mul(xv, av), bv), nv);
    }
  }
}
