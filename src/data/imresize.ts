// MATLAB's imresize(A, scale, 'bicubic') (antialiased when shrinking), the degradation that made
// the standard SR benchmarks' LR images (LRbicx2/3/4 from the mod-12 cropped HR, saved as uint8
// PNG). The per-axis weights follow MATLAB's contributions(): Keys cubic with a = -0.5, kernel
// width 4 (4/scale when shrinking, kernel stretched by 1/scale), input indices mirrored
// half-sample-symmetrically at the borders, each output's weights normalised to sum 1.
// Rows (H) are resized first, then columns (W), as MATLAB does when both scales are equal.
import { Tensor, assertRank4, assertFinite, shapeStr } from '../tensor/tensor.js';
import { resample, matrixFromTaps, type ResampleMatrix } from '../tensor/ops/resize.js';
import { type Image, toRGB, to8Bit, assertImage } from '../io/image.js';

/** Cubic convolution parameter of MATLAB's 'bicubic' (PyTorch's bicubic uses -0.75). */
export const MATLAB_BICUBIC_A = -0.5;

/** MATLAB's cubic(): Keys' kernel with a = -0.5, support [-2, 2]. */
export function matlabCubic(x: number): number {
  const ax = Math.abs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  if (ax <= 1) return 1.5 * ax3 - 2.5 * ax2 + 1;
  if (ax <= 2) return -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2;
  return 0;
}

/** Output length for a scale factor: ceil(in * scale) in double arithmetic, as MATLAB. */
export function matlabOutputSize(inSize: number, scale: number): number {
  return Math.ceil(inSize * scale);
}

/** Taps of every output sample, P per output, in MATLAB's order (mirrored duplicates kept apart). */
export interface Contributions {
  inSize: number;
  outSize: number;
  taps: number;
  /** 0-based input indices, outSize * taps */
  index: Int32Array;
  /** normalised weights, outSize * taps */
  weight: Float64Array;
}

function checkScale(op: string, scale: number): void {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`mvsr: ${op}: scale ${scale} must be a positive finite number`);
}

/**
 * MATLAB's contributions(in_length, out_length, scale, @cubic, 4, antialias), 0-based.
 * `scale` is the factor as given (not out/in), as MATLAB uses it when called with a scale.
 */
export function matlabContributions(inSize: number, outSize: number, scale: number, antialias = true): Contributions {
  checkScale('imresize', scale);
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1) {
    throw new Error(`mvsr: imresize: sizes ${inSize} -> ${outSize} must be positive integers`);
  }
  const shrinkAA = scale < 1 && antialias;
  const kernelWidth = shrinkAA ? 4 / scale : 4;
  const P = Math.ceil(kernelWidth) + 2;
  const index = new Int32Array(outSize * P);
  const weight = new Float64Array(outSize * P);
  const period = 2 * inSize;
  for (let d = 0; d < outSize; d++) {
    const x = d + 1; // MATLAB's 1-based output coordinate
    // maps 0.5 in output space to 0.5 in input space, and 0.5 + scale to 1.5
    const u = x / scale + 0.5 * (1 - 1 / scale);
    const left = Math.floor(u - kernelWidth / 2);
    let sum = 0;
    for (let j = 0; j < P; j++) {
      const ind = left + j; // 1-based, may fall outside [1, inSize]
      const w = shrinkAA ? scale * matlabCubic(scale * (u - ind)) : matlabCubic(u - ind);
      weight[d * P + j] = w;
      sum += w;
      // half-sample symmetric mirroring: aux = [1:n, n:-1:1], indices = aux(mod(ind-1, 2n) + 1)
      const m = (((ind - 1) % period) + period) % period;
      index[d * P + j] = m < inSize ? m : period - 1 - m;
    }
    for (let j = 0; j < P; j++) weight[d * P + j]! /= sum;
  }
  return { inSize, outSize, taps: P, index, weight };
}

/** The contributions as a sparse ResampleMatrix for the engine's resample op. */
export function matlabResampleMatrix(inSize: number, outSize: number, scale: number, antialias = true): ResampleMatrix {
  const c = matlabContributions(inSize, outSize, scale, antialias);
  const P = c.taps;
  return matrixFromTaps(inSize, outSize, (d) => ({
    idx: Array.from(c.index.subarray(d * P, d * P + P)),
    w: Array.from(c.weight.subarray(d * P, d * P + P)),
  }));
}

export interface ImresizeOptions {
  /** Antialias when shrinking (MATLAB's default, true). */
  antialias?: boolean;
}

/**
 * MATLAB imresize(x, scale, 'bicubic') of an NHWC float tensor: output ceil(H*scale) x
 * ceil(W*scale), values not clamped (as MATLAB on double images). Runs in the engine in
 * float32 (weights rounded to float32); use imresizeUint8 for bit-exact uint8 LR images.
 */
export function matlabImresize(x: Tensor, scale: number, opts: ImresizeOptions = {}): Tensor {
  const op = 'matlabImresize';
  assertRank4(op, 'input', x);
  assertFinite(op, 'input', x);
  checkScale(op, scale);
  const [, H, W] = x.shape as [number, number, number, number];
  const outH = matlabOutputSize(H, scale), outW = matlabOutputSize(W, scale);
  if (H < 1 || W < 1 || outH < 1 || outW < 1) throw new Error(`mvsr: ${op}: cannot resize ${shapeStr(x.shape)} by ${scale}`);
  const aa = opts.antialias ?? true;
  return resample(x, matlabResampleMatrix(H, outH, scale, aa), matlabResampleMatrix(W, outW, scale, aa));
}

/** MATLAB's double -> uint8 conversion: round half away from zero, saturate to 0..255. */
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
