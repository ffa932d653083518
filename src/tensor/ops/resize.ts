// Image resizing as two separable 1-D resampling passes (H, then W) by sparse weight matrices.
// The weight builders (PyTorch F.interpolate align_corners=False modes here; other filters such
// as MATLAB's antialiased imresize can supply their own ResampleMatrix) are kept apart from the
// kernels, which just apply a CSR matrix along rows or columns of an NHWC tensor. The backward
// pass applies the transposed matrices in reverse order: a gather, deterministic on any thread count.
import { engine } from '../engine.js';
import { Tensor, assertRank4, assertFinite, shapeStr } from '../tensor.js';

export type ResizeMode = 'nearest' | 'bilinear' | 'bicubic';

/** Cubic convolution parameter of PyTorch's bicubic mode. */
export const BICUBIC_A = -0.75;

/**
 * A 1-D resampling operator in CSR form: out[d] = sum over k in [rowPtr[d], rowPtr[d+1]) of
 * weight[k] * in[col[k]], for d < outSize and col[k] < inSize.
 */
export interface ResampleMatrix {
  inSize: number;
  outSize: number;
  rowPtr: Int32Array;
  col: Int32Array;
  weight: Float64Array;
}

/**
 * Build a CSR matrix from per-output-row tap lists. Taps hitting the same input index are
 * merged, zero weights dropped, and each row is sorted by input index.
 */
export function matrixFromTaps(inSize: number, outSize: number, taps: (d: number) => { idx: readonly number[]; w: readonly number[] }): ResampleMatrix {
  const rowPtr = new Int32Array(outSize + 1);
  const cols: number[] = [];
  const ws: number[] = [];
  for (let d = 0; d < outSize; d++) {
    const { idx, w } = taps(d);
    const merged = new Map<number, number>();
    idx.forEach((i, k) => {
      if (!Number.isInteger(i) || i < 0 || i >= inSize) throw new Error(`mvsr: resample: tap index ${i} outside [0, ${inSize})`);
      merged.set(i, (merged.get(i) ?? 0) + w[k]!);
    });
    for (const i of [...merged.keys()].sort((a, b) => a - b)) {
      const v = merged.get(i)!;
      if (v === 0) continue;
      cols.push(i);
      ws.push(v);
    }
    rowPtr[d + 1] = cols.length;
  }
  return { inSize, outSize, rowPtr, col: Int32Array.from(cols), weight: Float64Array.from(ws) };
}

const matrixCache = new Map<string, ResampleMatrix>();
const MATRIX_CACHE_SIZE = 64;

/**
 * The matrix for `key`, built once: a video resizes every frame to the same size, and building
 * a 1,280-row matrix per frame made megabytes of garbage. Least recently used entries go first.
 * A cached matrix is shared: callers only read it.
 */
export function cachedMatrix(key: string, build: () => ResampleMatrix): ResampleMatrix {
  let m = matrixCache.get(key);
  if (m) matrixCache.delete(key);
  else {
    m = build();
    if (matrixCache.size >= MATRIX_CACHE_SIZE) matrixCache.delete(matrixCache.keys().next().value!);
  }
  matrixCache.set(key, m);
  return m;
}

/** The transpose (adjoint) of m: maps outSize values back to inSize values. */
export function transposeMatrix(m: ResampleMatrix): ResampleMatrix {
  const nnz = m.col.length;
  const rowPtr = new Int32Array(m.inSize + 1);
  for (let k = 0; k < nnz; k++) rowPtr[m.col[k]! + 1]++;
  for (let i = 0; i < m.inSize; i++) rowPtr[i + 1] += rowPtr[i]!;
  const next = rowPtr.slice(0, m.inSize);
  const col = new Int32Array(nnz);
  const weight = new Float64Array(nnz);
  // rows of m in increasing order, so every transposed row lists its entries by increasing index
  for (let d = 0; d < m.outSize; d++) {
    for (let k = m.rowPtr[d]!; k < m.rowPtr[d + 1]!; k++) {
      const q = next[m.col[k]!]++;
      col[q] = d;
      weight[q] = m.weight[k]!;
    }
  }
  return { inSize: m.outSize, outSize: m.inSize, rowPtr, col, weight };
}

/** float32(a) / float32(b) for integers below 2^24, correctly rounded. */
function f32Div(a: number, b: number): number {
  // The float64 quotient rounded once more to float32 is the correctly rounded float32
  // quotient: double rounding is innocuous for division when 53 >= 2*24 + 2.
  return Math.fround(a / b);
}

/**
 * Source index of PyTorch's 'nearest' mode for an explicit output size: the identity and exact
 * 2x cases are special-cased, otherwise min(floorf(d * scale), in - 1) with scale = in / out
 * and the product evaluated in float32 (d * scale is exact in float64, then rounded once).
 */
export function nearestSourceIndex(d: number, inSize: number, outSize: number): number {
  if (outSize === inSize) return d;
  if (outSize === 2 * inSize) return d >> 1;
  const scale = f32Div(inSize, outSize);
  return Math.min(Math.floor(Math.fround(d * scale)), inSize - 1);
}

function cubicNear(t: number): number {
  // |t| <= 1
  return ((BICUBIC_A + 2) * t - (BICUBIC_A + 3)) * t * t + 1;
}

function cubicFar(t: number): number {
  // 1 < |t| < 2
  return ((BICUBIC_A * t - 5 * BICUBIC_A) * t + 8 * BICUBIC_A) * t - 4 * BICUBIC_A;
}

/**
 * Resampling weights of PyTorch F.interpolate(mode, align_corners=False) with an explicit size.
 * Source coordinates of bilinear/bicubic use the float64 ratio in/out (PyTorch's float64
 * arithmetic, which the float64 reference follows; its float32 path differs by ~1e-7);
 * 'nearest' follows PyTorch's float32 index computation exactly.
 */
export function interpolateMatrix(inSize: number, outSize: number, mode: ResizeMode): ResampleMatrix {
  return cachedMatrix(`${mode} ${inSize} ${outSize}`, () => buildInterpolateMatrix(inSize, outSize, mode));
}

function buildInterpolateMatrix(inSize: number, outSize: number, mode: ResizeMode): ResampleMatrix {
  const scale = inSize / outSize;
  const clampI = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  switch (mode) {
    case 'nearest':
      return matrixFromTaps(inSize, outSize, (d) => ({ idx: [nearestSourceIndex(d, inSize, outSize)], w: [1] }));
    case 'bilinear':
      return matrixFromTaps(inSize, outSize, (d) => {
        const src = Math.max((d + 0.5) * scale - 0.5, 0);
        const i0 = Math.floor(src);
        const l = src - i0;
        return { idx: [i0, Math.min(i0 + 1, inSize - 1)], w: [1 - l, l] };
      });
    case 'bicubic':
      return matrixFromTaps(inSize, outSize, (d) => {
        const src = (d + 0.5) * scale - 0.5;
        const i = Math.floor(src);
        const t = src - i;
        return {
          idx: [clampI(i - 1), clampI(i), clampI(i + 1), clampI(i + 2)],
          w: [cubicFar(t + 1), cubicNear(t), cubicNear(1 - t), cubicFar(2 - t)],
        };
      });
    default:
      throw new Error(`mvsr: resize: unknown mode '${String(mode)}' (expected 'nearest', 'bilinear' or 'bicubic')`);
  }
}

/** Copy a matrix into engine memory: [rowPtr (i32) | col (i32) | weight (f32)]; caller releases. */
function upload(m: ResampleMatrix): { ptr: number; rowPtr: number; col: number; wts: number } {
  const e = engine();
  const nnz = m.col.length;
  const ptr = e.alloc((m.outSize + 1 + 2 * nnz) * 4);
  const rowPtr = ptr, col = ptr + (m.outSize + 1) * 4, wts = col + nnz * 4;
  const i32 = e.i32;
  i32.set(m.rowPtr, rowPtr >>> 2);
  i32.set(m.col, col >>> 2);
  e.f32.set(m.weight, wts >>> 2);
  return { ptr, rowPtr, col, wts };
}

function checkMatrix(op: string, m: ResampleMatrix, n: number, axis: string, x: Tensor): void {
  if (m.inSize !== n) {
    throw new Error(`mvsr: ${op}: matrix maps ${m.inSize} -> ${m.outSize} samples but input ${shapeStr(x.shape)} has ${axis} = ${n}`);
  }
}

/** Resample along H: [N, H, W, C] -> [N, m.outSize, W, C]. */
export function resampleH(x: Tensor, m: ResampleMatrix): Tensor {
  assertRank4('resampleH', 'input', x);
  const [N, H, W, C] = x.shape as [number, number, number, number];
  checkMatrix('resampleH', m, H, 'H', x);
  const y = Tensor.empty([N, m.outSize, W, C]);
  if (y.size === 0) return y;
  const e = engine();
  try {
    const u = upload(m);
    try {
      e.run('resample_rows', [x.ptr, N, H, W * C, u.rowPtr, u.col, u.wts, m.outSize, y.ptr]);
    } finally {
      e.release(u.ptr);
    }
  } catch (err) {
    y.dispose();
    throw err;
  }
  return y;
}

/** Resample along W: [N, H, W, C] -> [N, H, m.outSize, C]. */
export function resampleW(x: Tensor, m: ResampleMatrix): Tensor {
  assertRank4('resampleW', 'input', x);
  const [N, H, W, C] = x.shape as [number, number, number, number];
  checkMatrix('resampleW', m, W, 'W', x);
  const y = Tensor.empty([N, H, m.outSize, C]);
  if (y.size === 0) return y;
  const e = engine();
  try {
    const u = upload(m);
    try {
      e.run('resample_cols', [x.ptr, N * H, W, C, u.rowPtr, u.col, u.wts, m.outSize, y.ptr]);
    } finally {
      e.release(u.ptr);
    }
  } catch (err) {
    y.dispose();
    throw err;
  }
  return y;
}

/** Separable 2-D resampling: the H pass by my, then the W pass by mx. */
export function resample(x: Tensor, my: ResampleMatrix, mx: ResampleMatrix): Tensor {
  const t = resampleH(x, my);
  try {
    return resampleW(t, mx);
  } finally {
    t.dispose();
  }
}

/** Adjoint of resample(., my, mx): the transposed W pass, then the transposed H pass. */
export function resampleBackward(dy: Tensor, my: ResampleMatrix, mx: ResampleMatrix): Tensor {
  const t = resampleW(dy, transposeMatrix(mx));
  try {
    return resampleH(t, transposeMatrix(my));
  } finally {
    t.dispose();
  }
}

function checkSize(op: string, h: number, w: number, what: string, t: Tensor): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new Error(`mvsr: ${op}: ${what} size ${h}x${w} must be positive integers (tensor ${shapeStr(t.shape)})`);
  }
}

/** PyTorch F.interpolate(x, size=(outH, outW), mode, align_corners=False) on an NHWC tensor. */
export function resize(x: Tensor, outH: number, outW: number, mode: ResizeMode): Tensor {
  const op = 'resize';
  assertRank4(op, 'input', x);
  assertFinite(op, 'input', x);
  const [, H, W] = x.shape as [number, number, number, number];
  checkSize(op, outH, outW, 'output', x);
  checkSize(op, H, W, 'input', x);
  return resample(x, interpolateMatrix(H, outH, mode), interpolateMatrix(W, outW, mode));
}

/** Gradient of resize(x, dy.H, dy.W, mode) with respect to x of spatial size inH x inW. */
export function resizeBackward(dy: Tensor, inH: number, inW: number, mode: ResizeMode): Tensor {
  const op = 'resizeBackward';
  assertRank4(op, 'output gradient', dy);
  const [, Ho, Wo] = dy.shape as [number, number, number, number];
  checkSize(op, inH, inW, 'input', dy);
  checkSize(op, Ho, Wo, 'output gradient', dy);
  return resampleBackward(dy, interpolateMatrix(inH, Ho, mode), interpolateMatrix(inW, Wo, mode));
}

/** Output size of upsample: floor(size * scale) per axis, as PyTorch's scale_factor. */
export function upsampleSize(op: string, x: Tensor, scale: number): [number, number] {
  assertRank4(op, 'input', x);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`mvsr: ${op}: scale ${scale} must be a positive finite number (input ${shapeStr(x.shape)})`);
  const outH = Math.floor(x.shape[1]! * scale), outW = Math.floor(x.shape[2]! * scale);
  checkSize(op, outH, outW, `output (scale ${scale})`, x);
  return [outH, outW];
}

/**
 * Resize by a scale factor to floor(H*scale) x floor(W*scale). Coordinates use the size ratio
 * in/out, as PyTorch with recompute_scale_factor=True (identical to plain scale_factor for
 * integer scales).
 */
export function upsample(x: Tensor, scale: number, mode: ResizeMode): Tensor {
  const [outH, outW] = upsampleSize('upsample', x, scale);
  return resize(x, outH, outW, mode);
}
