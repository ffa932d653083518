// SSIM as BasicSR's calculate_ssim / _ssim: per plane, an 11x11 Gaussian window (sigma 1.5,
// OpenCV getGaussianKernel) applied in 'valid' mode (outputs only where the window fits, i.e.
// 5 pixels dropped on each side), C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, the mean of the SSIM
// map; for colour images the mean over channels. All in float64.
import type { Image } from '../io/image.js';
import { metricPlanes, type MetricOptions } from './color.js';

export const SSIM_WINDOW = 11;
export const SSIM_SIGMA = 1.5;
const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

/** cv2.getGaussianKernel(n, sigma) in float64: exp(-x^2 / (2 sigma^2)) normalised to sum 1. */
export function gaussianKernel1d(n: number, sigma: number): Float64Array {
  const k = new Float64Array(n);
  const scale2X = -0.5 / (sigma * sigma);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = i - (n - 1) * 0.5;
    k[i] = Math.exp(scale2X * x * x);
    sum += k[i]!;
  }
  const inv = 1 / sum;
  for (let i = 0; i < n; i++) k[i]! *= inv;
  return k;
}

/**
 * BasicSR's _ssim of two H*W planes (values on the 0..255 scale). The five Gaussian-filtered
 * maps (means, second moments) are computed separably in float64: rows first for all five at
 * once, then columns by accumulating whole rows.
 */
export function ssimPlane(a: Float64Array, b: Float64Array, width: number, height: number): number {
  const n = SSIM_WINDOW;
  if (width < n || height < n) {
    throw new Error(`mvsr: ssim: a ${width}x${height} plane is smaller than the ${n}x${n} window`);
  }
  const k = gaussianKernel1d(n, SSIM_SIGMA);
  const W = width, H = height, Wo = W - n + 1, Ho = H - n + 1;
  // horizontal pass: 5 maps of H x Wo
  const hA = new Float64Array(H * Wo), hB = new Float64Array(H * Wo);
  const hAA = new Float64Array(H * Wo), hBB = new Float64Array(H * Wo), hAB = new Float64Array(H * Wo);
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < Wo; x++) {
      let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
      for (let j = 0; j < n; j++) {
        const w = k[j]!, va = a[row + x + j]!, vb = b[row + x + j]!;
        sa += w * va;
        sb += w * vb;
        saa += w * (va * va);
        sbb += w * (vb * vb);
        sab += w * (va * vb);
      }
      const o = y * Wo + x;
      hA[o] = sa; hB[o] = sb; hAA[o] = saa; hBB[o] = sbb; hAB[o] = sab;
    }
  }
  // vertical pass, one output row at a time, then the SSIM map of that row
  const mu1 = new Float64Array(Wo), mu2 = new Float64Array(Wo);
  const e11 = new Float64Array(Wo), e22 = new Float64Array(Wo), e12 = new Float64Array(Wo);
  let sum = 0;
  for (let y = 0; y < Ho; y++) {
    mu1.fill(0); mu2.fill(0); e11.fill(0); e22.fill(0); e12.fill(0);
    for (let i = 0; i < n; i++) {
      const w = k[i]!, r = (y + i) * Wo;
      for (let x = 0; x < Wo; x++) {
        mu1[x]! += w * hA[r + x]!;
        mu2[x]! += w * hB[r + x]!;
        e11[x]! += w * hAA[r + x]!;
        e22[x]! += w * hBB[r + x]!;
        e12[x]! += w * hAB[r + x]!;
      }
    }
    for (let x = 0; x < Wo; x++) {
      const m1 = mu1[x]!, m2 = mu2[x]!;
      const m1s = m1 * m1, m2s = m2 * m2, m12 = m1 * m2;
      const v1 = e11[x]! - m1s, v2 = e22[x]! - m2s, v12 = e12[x]! - m12;
      sum += ((2 * m12 + C1) * (2 * v12 + C2)) / ((m1s + m2s + C1) * (v1 + v2 + C2));
    }
  }
  return sum / (Ho * Wo);
}

/**
 * SSIM of two 8-bit images of equal shape (BasicSR calculate_ssim with crop_border and
 * test_y_channel): the mean over channels (or the Y plane) of the per-plane SSIM.
 */
export function calculateSsim(a: Image, b: Image, opts: MetricOptions = {}): number {
  const p = metricPlanes('calculateSsim', a, b, opts);
  let s = 0;
  for (let c = 0; c < p.a.length; c++) s += ssimPlane(p.a[c]!, p.b[c]!, p.width, p.height);
  return s / p.a.length;
}
