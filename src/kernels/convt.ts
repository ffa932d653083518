// Transposed 2-D convolution (PyTorch ConvTranspose2d, groups = 1, dilation 1) over NHWC float32.
// Output pixel (oy, ox) receives input pixel (iy, ix) through tap (ky, kx) when
// oy = iy*s - pad + ky and ox = ix*s - pad + kx. All three kernels are gathers: every output
// element is written by one thread and summed in a fixed order (thread-count independent).
import { madd, shareStart, f4, storeLanes } from './common';

/**
 * Forward: y[n,oy,ox,co] = b[co] + sum over valid (ky,kx), ci of x[n,iy,ix,ci] * w[ci,co,ky,kx].
 * w packed [K][K][Cin][CoP] (pack_conv_weight transpose = 2), bias padded to CoP (or 0).
 * Threads split the N*Ho output rows.
 */
export function convt2d_fwd(
  x: usize, N: i32, H: i32, W: i32, Cin: i32, K: i32, s: i32, pad: i32,
  w: usize, CoP: i32, Cout: i32, bias: usize, y: usize, Ho: i32, Wo: i32,
  tid: i32, nt: i32,
): void {
  const rows = N * Ho;
  const r0 = shareStart(rows, tid, nt), r1 = shareStart(rows, tid + 1, nt);
  const wrow = f4(CoP);
  for (let r = r0; r < r1; r++) {
    const n = r / Ho, oy = r % Ho;
    const ky0 = (oy + pad) % s;
    let py = y + f4(r * Wo * Cout);
    for (let ox = 0; ox < Wo; ox++) {
      const kx0 = (ox + pad) % s;
      for (let cb = 0; cb < Cout; cb += 8) {
        const two = cb + 4 < Cout;
        let a0 = bias != 0 ? v128.load(bias + f4(cb)) : f32x4.splat(0);
        let a1 = bias != 0 && two ? v128.load(bias + f4(cb + 4)) : f32x4.splat(0);
        for (let ky = ky0; ky < K; ky += s) {
          const ty = oy + pad - ky;
          if (ty < 0) break;
          const iy = ty / s;
          if (iy >= H) continue;
          const xrow = x + f4((n * H + iy) * W * Cin);
          for (let kx = kx0; kx < K; kx += s) {
            const tx = ox + pad - kx;
            if (tx < 0) break;
            const ix = tx / s;
            if (ix >= W) continue;
            let px = xrow + f4(ix * Cin);
            let pw = w + f4((ky * K + kx) * Cin * CoP + cb);
            if (two) {
              for (let ci = 0; ci < Cin; ci++) {
                const v = v128.load32_splat(px);
                a0 = madd(v, v128.load(pw), a0);
                a1 = madd(v, v128.load(pw, 16), a1);
                px += 4; pw += wrow;
              }
            } else {
              for (let ci = 0; ci < Cin; ci++) {
                a0 = madd(v128.load32_splat(px), v128.load(pw), a0);
                px += 4; pw += wrow;
              }
            }
          }
        }
        storeLanes(py + f4(cb), a0, min(4, Cout - cb));
        if (two) storeLanes(py + f4(cb + 4), a1, min(4, Cout - cb - 4));
      }
      py += f4(Cout);
    }
  }
}

/**
 * Input gradient: dx[n,iy,ix,ci] = sum over in-range (ky,kx), co of dy[n, iy*s-pad+ky, ix*s-pad+kx, co] * w[ci,co,ky,kx].
 * w packed [K][K][Cout][CiP] (pack_conv_weight transpose = 0 with Co = Cin, Ci = Cout).
 * Threads split the N*H input rows.
 */
export function convt2d_bwd_x(
  dy: usize, N: i32, Ho: i32, Wo: i32, Cout: i32, K: i32, s: i32, pad: i32,
  w: usize, CiP: i32, Cin: i32, dx: usize, H: i32, W: i32,
  tid: i32, nt: i32,
): void {
  const rows = N * H;
  const r0 = shareStart(rows, tid, nt), r1 = shareStart(rows, tid + 1, nt);
  const wrow = f4(CiP);
  for (let r = r0; r < r1; r++) {
    const n = r / H, iy = r % H;
    let pdx = dx + f4(r * W * Cin);
    for (let ix = 0; ix < W; ix++) {
      for (let cb = 0; cb < Cin; cb += 8) {
        const two = cb + 4 < Cin;
        let a0 = f32x4.splat(0), a1 = a0;
        for (let ky = 0; ky < K; ky++) {
          const oy = iy * s - pad + ky;
          if (oy < 0 || oy >= Ho) continue;
          const dyrow = dy + f4((n * Ho + oy) * Wo * Cout);
          for (let kx = 0; kx < K; kx++) {
            const ox = ix * s - pad + kx;
            if (ox < 0 || ox >= Wo) continue;
            let pd = dyrow + f4(ox * Cout);
            let pw = w + f4((ky * K + kx) * Cout * CiP + cb);
            if (two) {
              for (let co = 0; co < Cout; co++) {
                const v = v128.load32_splat(pd);
                a0 = madd(v, v128.load(pw), a0);
                a1 = madd(v, v128.load(pw, 16), a1);
                pd += 4; pw += wrow;
              }
            } else {
              for (let co = 0; co < Cout; co++) {
                a0 = madd(v128.load32_splat(pd), v128.load(pw), a0);
                pd += 4; pw += wrow;
              }
            }
          }
        }
        storeLanes(pdx + f4(cb), a0, min(4, Cin - cb));
        if (two) storeLanes(pdx + f4(cb + 4), a1, min(4, Cin - cb - 4));
      }
      pdx += f4(Cin);
    }
  }
}

/**
 * Weight gradient, written straight into the PyTorch layout dw[Cin][Cout][K][K]:
 * dw[ci,co,ky,kx] = sum over n, iy, ix (with the output pixel in range) of x[n,iy,ix,ci] * dy[n,oy,ox,co].
 * Work units are (tap, co-block of 4, ci-block of 4); each unit sums all pixels in one fixed
 * order, so every weight is produced by one thread and the result is thread-count independent.
 */
export function convt2d_bwd_w(
  x: usize, N: i32, H: i32, W: i32, Cin: i32, K: i32, s: i32, pad: i32,
  dy: usize, Ho: i32, Wo: i32, Cout: i32, dw: usize,
  tid: i32, nt: i32,
): void {
  const nCiB = (Cin + 3) >> 2, nCoB = (Cout + 3) >> 2;
  const KK = K * K;
  const units = KK * nCoB * nCiB;
  const u0 = shareStart(units, tid, nt), u1 = shareStart(units, tid + 1, nt);
  const xs4 = f4(Cin), ds4 = f4(s * Cout);
  for (let u = u0; u < u1; u++) {
    const ci = (u % nCiB) << 2;
    const t = u / nCiB;
    const co = (t % nCoB) << 2;
    const tap = t / nCoB;
    const ky = tap / K, kx = tap % K;
    const nco = min(4, Cout - co), nci = min(4, Cin - ci);
    // input columns whose output column ox = ix*s - pad + kx lies in [0, Wo)
    let ix0 = 0;
    if (pad - kx > 0) ix0 = (pad - kx + s - 1) / s;
    let ix1 = W;
    const lim = Wo - 1 + pad - kx; // ix*s <= lim
    if (lim < 0) ix1 = 0;
    else ix1 = min(W, lim / s + 1);
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    if (ix0 < ix1) {
      for (let n = 0; n < N; n++) {
        for (let iy = 0; iy < H; iy++) {
          const oy = iy * s - pad + ky;
          if (oy < 0 || oy >= Ho) continue;
          let px = x + f4(((n * H + iy) * W + ix0) * Cin + ci);
          let pd = dy + f4(((n * Ho + oy) * Wo + ix0 * s - pad + kx) * Cout + co);
          for (let ix = ix0; ix < ix1; ix++) {
            const xv = v128.load(px);
            a0 = madd(v128.load32_splat(pd), xv, a0);
            a1 = madd(v128.load32_splat(pd, 4), xv, a1);
            a2 = madd(v128.load32_splat(pd, 8), xv, a2);
            a3 = madd(v128.load32_splat(pd, 12), xv, a3);
            px += xs4; pd += ds4;
          }
        }
      }
    }
    // lane l of a_j is dw[ci + l, co + j, ky, kx]
    const base = dw + f4((ci * Cout + co) * KK + tap);
    const cstride = f4(Cout * KK), ostride = f4(KK);
    for (let l = 0; l < nci; l++) {
      const pb = base + <usize>l * cstride;
      store<f32>(pb, lane(a0, l));
      if (nco > 1) store<f32>(pb + ostride, lane(a1, l));
      if (nco > 2) store<f32>(pb + 2 * ostride, lane(a2, l));
      if (nco > 3) store<f32>(pb + 3 * ostride, lane(a3, l));
    }
  }
}

@inline function lane(v: v128, l: i32): f32 {
  if (l == 0) return f32x4.extract_lane(v, 0);
  if (l == 1) return f32x4.extract_lane(v, 1);
  if (l == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}
