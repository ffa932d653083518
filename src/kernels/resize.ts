// Separable resampling of NHWC float32 images by a sparse 1-D weight matrix in CSR form:
// out[d] = sum over k in [rowPtr[d], rowPtr[d+1]) of wts[k] * in[col[k]].
// The weights are built in TypeScript (PyTorch interpolate modes, their transposes for the
// backward pass, or any other filter); these kernels only apply them. Every output element
// is written by exactly one thread and summed in CSR order, so results do not depend on the
// thread count. A row with no entries yields zeros.
import { shareStart, f4, madd, storeLanes } from './common';

/**
 * Resample along H: y[n, d, :, :] = sum_k wts[k] * x[n, col[k], :, :] for d < Ho.
 * x is [N, Hi, W, C], y is [N, Ho, W, C]; each image row is one contiguous run of W*C floats.
 * Threads split the N*Ho output rows.
 */
export function resample_rows(
  x: usize, N: i32, Hi: i32, L: i32, rowPtr: usize, col: usize, wts: usize, Ho: i32, y: usize,
  tid: i32, nt: i32,
): void {
  // L = W*C floats per image row
  const rows = N * Ho;
  const r0 = shareStart(rows, tid, nt), r1 = shareStart(rows, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const n = r / Ho, d = r % Ho;
    const k0 = load<i32>(rowPtr + f4(d)), k1 = load<i32>(rowPtr + f4(d + 1));
    const xb = x + f4(n * Hi * L);
    const yr = y + f4(r * L);
    let i = 0;
    // 16 floats per step keeps four accumulators in flight
    for (; i + 16 <= L; i += 16) {
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let k = k0; k < k1; k++) {
        const wv = f32x4.splat(load<f32>(wts + f4(k)));
        const p = xb + f4(load<i32>(col + f4(k)) * L + i);
        a0 = madd(wv, v128.load(p), a0);
        a1 = madd(wv, v128.load(p, 16), a1);
        a2 = madd(wv, v128.load(p, 32), a2);
        a3 = madd(wv, v128.load(p, 48), a3);
      }
      const q = yr + f4(i);
      v128.store(q, a0); v128.store(q, a1, 16); v128.store(q, a2, 32); v128.store(q, a3, 48);
    }
    for (; i < L; i += 4) {
      let a = f32x4.splat(0);
      for (let k = k0; k < k1; k++) {
        a = madd(f32x4.splat(load<f32>(wts + f4(k))), v128.load(xb + f4(load<i32>(col + f4(k)) * L + i)), a);
      }
      storeLanes(yr + f4(i), a, min(4, L - i));
    }
  }
}

/**
 * Resample along W: y[n, h, d, :] = sum_k wts[k] * x[n, h, col[k], :] for d < Wo.
 * x is [N, H, Wi, C], y is [N, H, Wo, C]; vectorised over channels (the last partial
 * group of 4 is stored lane by lane). Threads split the N*H rows.
 */
export function resample_cols(
  x: usize, NH: i32, Wi: i32, C: i32, rowPtr: usize, col: usize, wts: usize, Wo: i32, y: usize,
  tid: i32, nt: i32,
): void {
  const r0 = shareStart(NH, tid, nt), r1 = shareStart(NH, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const xr = x + f4(r * Wi * C);
    let py = y + f4(r * Wo * C);
    for (let d = 0; d < Wo; d++) {
      const k0 = load<i32>(rowPtr + f4(d)), k1 = load<i32>(rowPtr + f4(d + 1));
      if (C == 1) {
        let a: f32 = 0;
        for (let k = k0; k < k1; k++) a += load<f32>(wts + f4(k)) * load<f32>(xr + f4(load<i32>(col + f4(k))));
        store<f32>(py, a);
      } else {
        for (let c = 0; c < C; c += 4) {
          let a = f32x4.splat(0);
          for (let k = k0; k < k1; k++) {
            a = madd(f32x4.splat(load<f32>(wts + f4(k))), v128.load(xr + f4(load<i32>(col + f4(k)) * C + c)), a);
          }
          storeLanes(py + f4(c), a, min(4, C - c));
        }
      }
      py += f4(C);
    }
  }
}
