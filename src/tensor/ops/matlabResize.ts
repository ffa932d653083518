// MATLAB imresize (bicubic, a = -0.5, antialiased when downscaling): the per-axis weights
// (MATLAB's contributions, with mirrored borders) and the op over NHWC tensors in the engine.
import { Tensor, assertRank4, assertFinite, shapeStr } from '../tensor.js';
import { resample, matrixFromTaps, cachedMatrix, type ResampleMatrix } from './resize.js';

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

export function checkScale(op: string, scale: number): void {
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
  return cachedMatrix(`matlab ${inSize} ${outSize} ${scale} ${antialias}`, () => {
    const c = matlabContributions(inSize, outSize, scale, antialias);
    const P = c.taps;
    return matrixFromTaps(inSize, outSize, (d) => ({
      idx: Array.from(c.index.subarray(d * P, d * P + P)),
      w: Array.from(c.weight.subarray(d * P, d * P + P)),
    }));
  });
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
