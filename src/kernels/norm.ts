// Layer normalisation over the channels of each pixel (PyTorch nn.LayerNorm(C) applied to the last
// axis of an NHWC tensor): y = (x - mean) / sqrt(var + eps) * w + b with each pixel's mean and
// population variance taken in f64, two passes (PyTorch's accuracy; a one-pass E[x^2] - E[x]^2
// loses digits when the mean is large against the spread). Threads split the pixels and a pixel's
// arithmetic never depends on the split, so every thread count gives the same bits. The weight
// and bias gradients are chunked like channel_sum_chunks (deterministic too).
import { shareStart, f4, storeLanes, loadLanes } from './common';
import { CHUNK_PIXELS } from './reduce';

/**
 * y[p, c] = xhat[p, c] * w[c] + b[c] for P pixels of C channels, xhat = (x - mean_p) * rstd_p and
 * rstd_p = 1 / sqrt(var_p + eps). For training, xhat (P*C floats) and rstd (P floats) are stored
 * too where their pointers are not 0.
 */
export function layer_norm_fwd(x: usize, w: usize, b: usize, y: usize, xhat: usize, rstd: usize, P: i32, C: i32, eps: f64, tid: i32, nt: i32): void {
  const p0 = shareStart(P, tid, nt), p1 = shareStart(P, tid + 1, nt);
  const n = <f64>C;
  for (let p = p0; p < p1; p++) {
    const px = x + f4(p * C);
    let s: f64 = 0;
    for (let c = 0; c < C; c++) s += <f64>load<f32>(px + f4(c));
    const mean = s / n;
    let v: f64 = 0;
    for (let c = 0; c < C; c++) {
      const d = <f64>load<f32>(px + f4(c)) - mean;
      v += d * d;
    }
    const r: f64 = 1.0 / sqrt<f64>(v / n + eps);
    const py = y + f4(p * C);
    for (let c = 0; c < C; c++) {
      const xh = <f32>((<f64>load<f32>(px + f4(c)) - mean) * r);
      if (xhat != 0) store<f32>(xhat + f4(p * C + c), xh);
      store<f32>(py + f4(c), xh * load<f32>(w + f4(c)) + load<f32>(b + f4(c)));
    }
    if (rstd != 0) store<f32>(rstd + f4(p), <f32>r);
  }
}

/**
 * The input gradient of layer_norm_fwd per pixel: with g = dy * w,
 * dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)), the means over the C channels in f64.
 */
export function layer_norm_bwd(dy: usize, xhat: usize, rstd: usize, w: usize, dx: usize, P: i32, C: i32, tid: i32, nt: i32): void {
  const p0 = shareStart(P, tid, nt), p1 = shareStart(P, tid + 1, nt);
  const n = <f64>C;
  for (let p = p0; p < p1; p++) {
    const o = f4(p * C);
    let sg: f64 = 0, sgx: f64 = 0;
    for (let c = 0; c < C; c++) {
      const g = <f64>load<f32>(dy + o + f4(c)) * <f64>load<f32>(w + f4(c));
      sg += g;
      sgx += g * <f64>load<f32>(xhat + o + f4(c));
    }
    const mg = sg / n, mgx = sgx / n, r = <f64>load<f32>(rstd + f4(p));
    for (let c = 0; c < C; c++) {
      const g = <f64>load<f32>(dy + o + f4(c)) * <f64>load<f32>(w + f4(c));
      store<f32>(dx + o + f4(c), <f32>(r * (g - mg - <f64>load<f32>(xhat + o + f4(c)) * mgx)));
    }
  }
}

/**
 * The weight and bias gradients' partial sums: partialW[k, c] = sum over the pixels p of chunk k
 * of dy[p, c] * xhat[p, c], partialB[k, c] = sum of dy[p, c] (rows CP wide, CP = C rounded up to 4;
 * a 0 pointer skips that sum). sum_chunks then adds the chunks in order.
 */
export function layer_norm_wgrad_chunks(dy: usize, xhat: usize, P: i32, C: i32, CP: i32, partialW: usize, partialB: usize, tid: i32, nt: i32): void {
  const nChunks = (P + CHUNK_PIXELS - 1) / CHUNK_PIXELS;
  const k0 = shareStart(nChunks, tid, nt), k1 = shareStart(nChunks, tid + 1, nt);
  for (let k = k0; k < k1; k++) {
    const p0 = k * CHUNK_PIXELS, p1 = min(P, p0 + CHUNK_PIXELS);
    for (let c = 0; c < C; c += 4) {
      const nv = min(4, C - c);
      let aw = f32x4.splat(0), ab = f32x4.splat(0);
      let o = f4(p0 * C + c);
      for (let p = p0; p < p1; p++) {
        // the last block of a pixel reads only its own channels (zeros above)
        const d = loadLanes(dy + o, nv);
        aw = f32x4.add(aw, f32x4.mul(d, loadLanes(xhat + o, nv)));
        ab = f32x4.add(ab, d);
        o += f4(C);
      }
      if (partialW != 0) storeLanes(partialW + f4(k * CP + c), aw, nv);
      if (partialB != 0) storeLanes(partialB + f4(k * CP + c), ab, nv);
    }
  }
}
