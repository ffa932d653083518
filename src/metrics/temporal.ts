// Temporal consistency: how well an output's frame-to-frame change matches the ground truth's.
// tPSNR = PSNR (peak 255) of (out_t - out_t-1) against (gt_t - gt_t-1); flicker or lag the ground
// truth does not have lowers it. Planes as calculatePsnr's (crop, Y or RGB).
import type { Image } from '../io/image.js';
import { metricPlanes, type MetricOptions } from './color.js';

/** Sum of squared differences and sample count of (out - outPrev) - (gt - gtPrev). */
export function temporalSquaredError(outPrev: Image, out: Image, gtPrev: Image, gt: Image, opts: MetricOptions = {}): { sum: number; n: number } {
  const p0 = metricPlanes('temporalSquaredError', outPrev, gtPrev, opts);
  const p1 = metricPlanes('temporalSquaredError', out, gt, opts);
  let sum = 0, n = 0;
  p1.a.forEach((o1, k) => {
    const o0 = p0.a[k]!, g0 = p0.b[k]!, g1 = p1.b[k]!;
    for (let i = 0; i < o1.length; i++) {
      const d = (o1[i]! - o0[i]!) - (g1[i]! - g0[i]!);
      sum += d * d;
    }
    n += o1.length;
  });
  return { sum, n };
}
