// MATLAB's imresize(A, scale, 'bicubic') (antialiased when shrinking), the degradation that made
// the standard SR benchmarks' LR images (LRbicx2/3/4 from the mod-12 cropped HR, saved as uint8
// PNG). The per-axis weights follow MATLAB's contributions(): Keys cubic with a = -0.5, kernel
// width 4 (4/scale when shrinking, kernel stretched by 1/scale), input indices mirrored
// half-sample-symmetrically at the borders, each output's weights normalised to sum 1.
// Rows (H) are resized first, then columns (W), as MATLAB does when both scales are equal.
import { type Image, toRGB, to8Bit, assertImage } from '../io/image.js';
import { matlabContributions, matlabOutputSize, checkScale, type Contributions, type ImresizeOptions } from '../tensor/ops/matlabResize.js';

export { matlabCubic, matlabOutputSize, matlabContributions, matlabResampleMatrix, matlabImresize, MATLAB_BICUBIC_A } from '../tensor/ops/matlabResize.js';
export type { Contributions, ImresizeOptions } from '../tensor/ops/matlabResize.js';

export function matlabToUint8(v: number): number {
  if (!(v > 0)) return 0; // negatives and NaN
  return v >= 255 ? 255 : Math.round(v); // Math.round is half-up, = half away from zero for v > 0
}

/**
 * One pass along the middle axis of an [outer, n, inner] array, accumulating in double in
 * MATLAB's tap order; `toUint8` converts the result as MATLAB's uint8().
 */
function resizeAxis(src: Float64Array, outer: number, inner: number, c: Contributions, toUint8: boolean): Float64Array {
  const n = c.inSize, m = c.outSize, P = c.taps;
  const out = new Float64Array(outer * m * inner);
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    for (let d = 0; d < m; d++) {
      acc.fill(0);
      for (let j = 0; j < P; j++) {
        const w = c.weight[d * P + j]!;
        if (w === 0) continue; // MATLAB drops all-zero tap columns; a zero term adds nothing anyway
        const s = (o * n + c.index[d * P + j]!) * inner;
        for (let q = 0; q < inner; q++) acc[q]! += w * src[s + q]!;
      }
      const t = (o * m + d) * inner;
      if (toUint8) for (let q = 0; q < inner; q++) out[t + q] = matlabToUint8(acc[q]!);
      else out.set(acc, t);
    }
  }
  return out;
}

export interface ImresizeUint8Options extends ImresizeOptions {
  /**
   * Round to uint8 after the row pass too (default false). MATLAB R2015b is reported to keep
   * the uint8 class between passes (fatheral/matlab_imresize reproduces it that way); the
   * published Bicubic rows of SR tables (ETDS Table 2: Set5/Set14 x2/x3/x4, all 12 numbers)
   * are reproduced only with a single rounding at the end, so that is the default.
   */
  roundBetweenPasses?: boolean;
}

/**
 * MATLAB imresize(img, scale, 'bicubic') of a uint8 image, as the benchmark LR images were made:
 * rows then columns in double precision, then MATLAB's uint8 conversion (round half away from
 * zero, saturate). Grey is expanded to RGB, alpha dropped, 16-bit reduced to 8-bit first; the
 * result is 8-bit RGB.
 */
export function imresizeUint8(img: Image, scale: number, opts: ImresizeUint8Options = {}): Image {
  assertImage(img);
  checkScale('imresizeUint8', scale);
  const rgb = toRGB(to8Bit(img));
  const H = rgb.height, W = rgb.width, C = 3;
  const outH = matlabOutputSize(H, scale), outW = matlabOutputSize(W, scale);
  if (H < 1 || W < 1 || outH < 1 || outW < 1) throw new Error(`mvsr: imresizeUint8: cannot resize a ${W}x${H} image by ${scale}`);
  const aa = opts.antialias ?? true;
  const rows = resizeAxis(Float64Array.from(rgb.data), 1, W * C, matlabContributions(H, outH, scale, aa), opts.roundBetweenPasses ?? false);
  const cols = resizeAxis(rows, outH, C, matlabContributions(W, outW, scale, aa), true);
  return { width: outW, height: outH, channels: 3, bitDepth: 8, data: Uint8Array.from(cols) };
}
