// PSNR as BasicSR's calculate_psnr: float64, peak 255, the mean squared error over every
// compared sample (all channels together, or Y), infinite for identical images.
import type { Image } from '../io/image.js';
import { metricPlanes, type MetricOptions } from './color.js';

/** Mean squared error over all planes (each H*W) of two plane sets. */
export function meanSquaredError(a: readonly Float64Array[], b: readonly Float64Array[]): number {
  let sum = 0, n = 0;
  a.forEach((pa, k) => {
    const pb = b[k]!;
    for (let i = 0; i < pa.length; i++) {
      const d = pa[i]! - pb[i]!;
      sum += d * d;
    }
    n += pa.length;
  });
  return sum / n;
}

/** 10 log10(peak^2 / mse); Infinity when mse is 0. */
export function psnrFromMse(mse: number, peak = 255): number {
  return mse === 0 ? Infinity : 10 * Math.log10((peak * peak) / mse);
}

/**
 * PSNR in dB of two 8-bit images of equal shape (BasicSR calculate_psnr with crop_border and
 * test_y_channel). RGB without testY uses the MSE over all three channels together.
 */
export function calculatePsnr(a: Image, b: Image, opts: MetricOptions = {}): number {
  const p = metricPlanes('calculatePsnr', a, b, opts);
  return psnrFromMse(meanSquaredError(p.a, p.b));
}
