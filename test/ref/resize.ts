/**
 * Naive float64 reference image resizing with PyTorch F.interpolate semantics
 * (align_corners=False, explicit output size, no antialiasing).
 */
import { RT, rt, checkRank, checkInt } from './tensor.js';

export type ResizeMode = 'nearest' | 'bilinear' | 'bicubic';

/** Cubic convolution parameter used by PyTorch's bicubic upsampling. */
export const BICUBIC_A = -0.75;

/** Keys cubic kernel for |x| <= 1: ((A+2)x - (A+3)) x^2 + 1. */
export function cubicConv1(x: number, A: number = BICUBIC_A): number {
  return ((A + 2) * x - (A + 3)) * x * x + 1;
}

/** Keys cubic kernel for 1 < |x| < 2: ((A x - 5A) x + 8A) x - 4A. */
export function cubicConv2(x: number, A: number = BICUBIC_A): number {
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

const f32buf = new DataView(new ArrayBuffer(4));

/** The float32 value adjacent to the float32 value `f` in direction `dir` (+1 / -1); `f` must be finite and non-zero. */
function nextFloat32(f: number, dir: 1 | -1): number {
  f32buf.setFloat32(0, f);
  const bits = f32buf.getUint32(0);
  // For positive floats, larger magnitude = larger bit pattern (and the reverse for negative ones).
  const towardsLarger = (f > 0) === (dir > 0);
  f32buf.setUint32(0, towardsLarger ? bits + 1 : bits - 1);
  return f32buf.getFloat32(0);
}

/**
 * float32(a) / float32(b) for positive integers a, b < 2^24, correctly rounded to
 * float32 as C++ float division does. Math.fround(a / b) rounds twice (to float64,
 * then to float32); to rule out a double-rounding error we pick, among that value
 * and its two float32 neighbours, the one closest to the exact quotient
 * (|f*b - a| is computed exactly in float64 because f has 24 significant bits).
 */
export function float32Div(a: number, b: number): number {
  checkInt(a, 1, 'float32Div a');
  checkInt(b, 1, 'float32Div b');
  if (a >= 2 ** 24 || b >= 2 ** 24) throw new Error('float32Div: operands must be < 2^24');
  const f = Math.fround(a / b);
  let best = f;
  for (const c of [nextFloat32(f, -1), nextFloat32(f, 1)]) {
    if (Math.abs(c * b - a) < Math.abs(best * b - a)) best = c;
  }
  return best;
}

/**
 * Source index of PyTorch's 'nearest' mode (F.interpolate(mode='nearest'), explicit size):
 *   out == in    -> d
 *   out == 2*in  -> d >> 1
 *   otherwise    -> min(floorf(d * scale), in - 1) with scale = float(in) / out in FLOAT32
 *                   and the product d * scale rounded to float32.
 * The float32 arithmetic matters: e.g. in=2, out=82, d=41 gives 0 in PyTorch, while the
 * exact value floor(41*2/82) is 1. For integer up/down-scaling factors all variants agree.
 */
export function nearestSourceIndex(d: number, inSize: number, outSize: number): number {
  checkInt(d, 0, 'nearestSourceIndex d');
  checkInt(inSize, 1, 'nearestSourceIndex inSize');
  checkInt(outSize, 1, 'nearestSourceIndex outSize');
  if (d >= outSize) throw new Error(`nearestSourceIndex: d=${d} out of range for outSize=${outSize}`);
  if (outSize === inSize) return d;
  if (outSize === 2 * inSize) return d >> 1;
  const scale32 = float32Div(inSize, outSize);
  // d * scale32 is exact in float64 (d < 2^24, scale32 has 24 significant bits), so
  // Math.fround gives the correctly rounded float32 product.
  const product32 = Math.fround(d * scale32);
  return Math.min(Math.floor(product32), inSize - 1);
}

/**
 * One-dimensional resampling weights: for every output index `d`,
 * out[d] = sum_k w[d][k] * in[idx[d][k]].
 *
 * With scale = inSize / outSize:
 *  - nearest:  1 tap,  src = min(floor(d * scale), inSize - 1), evaluated in float32
 *              exactly like PyTorch (see nearestSourceIndex).
 *
 * bilinear/bicubic coordinates are computed in float64 (PyTorch's arithmetic for
 * float64 tensors; for float32 tensors PyTorch uses float32 coordinates, which
 * changes the weights by ~1e-7 relative).
 *  - bilinear: 2 taps, src = max((d + 0.5) * scale - 0.5, 0), i0 = floor(src),
 *              i1 = min(i0 + 1, inSize - 1), lambda = src - i0, weights [1 - lambda, lambda].
 *              (When i0 = inSize-1 both taps point at the same index.)
 *  - bicubic:  4 taps, src = (d + 0.5) * scale - 0.5 (NOT clamped), i = floor(src), t = src - i,
 *              indices i-1, i, i+1, i+2 clamped to [0, inSize-1],
 *              weights [cc2(t+1), cc1(t), cc1(1-t), cc2(2-t)] with A = -0.75.
 */
export function resizeWeights1d(inSize: number, outSize: number, mode: ResizeMode): { idx: Int32Array[]; w: Float64Array[] } {
  checkInt(inSize, 1, 'resizeWeights1d inSize');
  checkInt(outSize, 1, 'resizeWeights1d outSize');
  const scale = inSize / outSize;
  const clampIndex = (i: number): number => Math.min(Math.max(i, 0), inSize - 1);
  const idx: Int32Array[] = [];
  const w: Float64Array[] = [];
  for (let d = 0; d < outSize; d++) {
    if (mode === 'nearest') {
      const src = nearestSourceIndex(d, inSize, outSize);
      idx.push(Int32Array.of(src));
      w.push(Float64Array.of(1));
    } else if (mode === 'bilinear') {
      const src = Math.max((d + 0.5) * scale - 0.5, 0);
      const i0 = Math.floor(src);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const lambda = src - i0;
      idx.push(Int32Array.of(i0, i1));
      w.push(Float64Array.of(1 - lambda, lambda));
    } else if (mode === 'bicubic') {
      const src = (d + 0.5) * scale - 0.5;
      const i = Math.floor(src);
      const t = src - i;
      idx.push(Int32Array.of(clampIndex(i - 1), clampIndex(i), clampIndex(i + 1), clampIndex(i + 2)));
      w.push(Float64Array.of(cubicConv2(t + 1), cubicConv1(t), cubicConv1(1 - t), cubicConv2(2 - t)));
    } else {
      throw new Error(`resizeWeights1d: unknown mode '${String(mode)}'`);
    }
  }
  return { idx, w };
}

/**
 * Resizes an NHWC image [N, H, W, C] to [N, outH, outW, C] with PyTorch
 * F.interpolate(mode, align_corners=False) semantics for an explicit output size.
 * Separable: first along H, then along W (equal to the 2-D tensor-product
 * weights up to float64 rounding).
 */
export function resize(x: RT, outH: number, outW: number, mode: ResizeMode): RT {
  checkRank(x, 4, 'resize x');
  checkInt(outH, 1, 'resize outH');
  checkInt(outW, 1, 'resize outW');
  const [N, H, W, C] = x.shape;
  if (H < 1 || W < 1) throw new Error('resize: input spatial size must be at least 1x1');
  const wy = resizeWeights1d(H, outH, mode);
  const wx = resizeWeights1d(W, outW, mode);

  // Pass 1: along H. tmp[n, oy, x, c] = sum_k wy[oy][k] * x[n, iy_k, x, c]
  const tmp = rt([N, outH, W, C]);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < outH; oy++) {
      const taps = wy.idx[oy];
      const weights = wy.w[oy];
      for (let xx = 0; xx < W; xx++) {
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let k = 0; k < taps.length; k++) {
            s += weights[k] * x.data[((n * H + taps[k]) * W + xx) * C + c];
          }
          tmp.data[((n * outH + oy) * W + xx) * C + c] = s;
        }
      }
    }
  }

  // Pass 2: along W. out[n, oy, ox, c] = sum_k wx[ox][k] * tmp[n, oy, ix_k, c]
  const out = rt([N, outH, outW, C]);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const taps = wx.idx[ox];
        const weights = wx.w[ox];
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let k = 0; k < taps.length; k++) {
            s += weights[k] * tmp.data[((n * outH + oy) * W + taps[k]) * C + c];
          }
          out.data[((n * outH + oy) * outW + ox) * C + c] = s;
        }
      }
    }
  }
  return out;
}
