// Global pooling over H x W per image and channel (mean, population standard deviation: IMDN's
// contrast-aware channel attention) and channel scaling by a per-image, per-channel value, with
// their gradients. Sums are the deterministic chunked channel sums (util.ts).
import { engine } from '../engine.js';
import { Tensor, assertRank4, assertSameShape, shapeStr } from '../tensor.js';
import { CHUNK_PIXELS, channelSum, roundUp4, withScratch } from './util.js';

export type PoolStat = 'mean' | 'std';

/** N rows of CP floats (C values each, zero padded) copied from `values` (N*C), into scratch; caller releases. */
function paddedRows(values: ArrayLike<number>, N: number, C: number): number {
  const e = engine();
  const CP = roundUp4(C);
  const ptr = e.alloc(N * CP * 4);
  const f = e.f32, o = ptr >>> 2;
  f.fill(0, o, o + N * CP);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) f[o + n * CP + c] = values[n * C + c]!;
  return ptr;
}

/** y = x * a + b per (image, channel), a/b given as N*C values (null: 1 / 0); x null reads as zeros. */
function affine(shape: readonly number[], x: Tensor | null, a: ArrayLike<number> | null, b: ArrayLike<number> | null): Tensor {
  const [N, H, W, C] = shape as [number, number, number, number];
  const e = engine();
  const y = Tensor.empty(shape);
  if (y.size === 0) return y;
  const scratch: number[] = [];
  try {
    const ap = a ? paddedRows(a, N, C) : 0; if (ap) scratch.push(ap);
    const bp = b ? paddedRows(b, N, C) : 0; if (bp) scratch.push(bp);
    e.run('channel_affine', [x ? x.ptr : 0, ap, bp, y.ptr, N, H * W, C, roundUp4(C)]);
  } catch (err) {
    y.dispose();
    throw err;
  } finally {
    for (const p of scratch) e.release(p);
  }
  return y;
}

function checkInput(op: string, x: Tensor): [number, number, number] {
  assertRank4(op, 'input', x);
  const [N, H, W, C] = x.shape as [number, number, number, number];
  if (H * W === 0) throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} has no pixels to pool`);
  return [N, H * W, C];
}

/** Per-image channel means of x [N,H,W,C], as N*C float32 values. */
function means(x: Tensor, N: number, P: number, C: number): Float32Array {
  const out = new Float32Array(N * C);
  withScratch(roundUp4(C), (sum) => {
    const f = engine().f32;
    for (let n = 0; n < N; n++) {
      channelSum(x.ptr + n * P * C * 4, P, C, C, sum);
      for (let c = 0; c < C; c++) out[n * C + c] = f[(sum >>> 2) + c]! / P;
    }
  });
  return out;
}

/** Per-image channel standard deviations (population: the mean squared deviation, square-rooted). */
function stds(x: Tensor, N: number, P: number, C: number, mean: Float32Array): Float32Array {
  const e = engine();
  const CP = roundUp4(C);
  const nChunks = Math.ceil(P / CHUNK_PIXELS);
  const out = new Float32Array(N * C);
  const m = paddedRows(mean, N, C);
  try {
    withScratch(nChunks * CP + CP, (partial) => {
      const sum = partial + nChunks * CP * 4;
      for (let n = 0; n < N; n++) {
        e.run('channel_sqdev_sum_chunks', [x.ptr + n * P * C * 4, P, C, CP, m + n * CP * 4, partial]);
        e.call('sum_chunks', [partial, nChunks, C, CP, sum, 0]);
        for (let c = 0; c < C; c++) out[n * C + c] = Math.sqrt(e.f32[(sum >>> 2) + c]! / P);
      }
    });
  } finally {
    e.release(m);
  }
  return out;
}

/** Global pooling over H x W: [N,H,W,C] -> [N,1,1,C] (PyTorch x.mean((2,3)) or IMDN's stdv_channels). */
export function globalPool(x: Tensor, stat: PoolStat): Tensor {
  const op = 'globalPool';
  const [N, P, C] = checkInput(op, x);
  const m = means(x, N, P, C);
  if (stat === 'mean') return Tensor.from([N, 1, 1, C], m);
  if (stat === 'std') return Tensor.from([N, 1, 1, C], stds(x, N, P, C, m));
  throw new Error(`mvsr: ${op}: unknown statistic '${String(stat)}' (expected 'mean' or 'std')`);
}

/**
 * Gradient of globalPool(x, stat) given dy [N,1,1,C] (and, for 'std', its output y): the mean
 * spreads dy/P over every pixel; the deviation gives dy (x - mean) / (P std), 0 where std = 0.
 */
export function globalPoolBackward(x: Tensor, stat: PoolStat, dy: Tensor, y?: Tensor): Tensor {
  const op = 'globalPoolBackward';
  const [N, P, C] = checkInput(op, x);
  if (dy.size !== N * C) throw new Error(`mvsr: ${op}: output gradient ${shapeStr(dy.shape)} does not match ${N} images of ${C} channels`);
  const g = dy.data;
  if (stat === 'mean') return affine(x.shape, null, null, Float32Array.from(g, (v) => v / P));
  if (!y) throw new Error(`mvsr: ${op}: the 'std' gradient needs the pooled output`);
  const mean = means(x, N, P, C), s = y.data;
  const a = new Float32Array(N * C), b = new Float32Array(N * C);
  for (let i = 0; i < N * C; i++) {
    a[i] = s[i]! > 0 ? g[i]! / (P * s[i]!) : 0;
    b[i] = -mean[i]! * a[i]!;
  }
  return affine(x.shape, x, a, b);
}

function checkScale(op: string, x: Tensor, s: Tensor): void {
  assertRank4(op, 'input', x);
  const [N, , , C] = x.shape as [number, number, number, number];
  if (s.shape.length !== 4 || s.shape[0] !== N || s.shape[1] !== 1 || s.shape[2] !== 1 || s.shape[3] !== C) {
    throw new Error(`mvsr: ${op}: scale ${shapeStr(s.shape)} must be [${N},1,1,${C}] for input ${shapeStr(x.shape)}`);
  }
}

/** y[n,h,w,c] = x[n,h,w,c] * s[n,0,0,c] (PyTorch x * s with s of shape [N,C,1,1]). */
export function scaleChannels(x: Tensor, s: Tensor): Tensor {
  checkScale('scaleChannels', x, s);
  return affine(x.shape, x, s.data, null);
}

/** Gradients of scaleChannels: dx = dy * s, ds[n,c] = sum over pixels of dy * x. */
export function scaleChannelsBackward(
  x: Tensor, s: Tensor, dy: Tensor, need: { dx: boolean; ds: boolean } = { dx: true, ds: true },
): { dx: Tensor | null; ds: Tensor | null } {
  checkScale('scaleChannelsBackward', x, s);
  assertSameShape('scaleChannelsBackward', x, dy, 'input', 'output gradient');
  const [N, H, W, C] = x.shape as [number, number, number, number];
  const dx = need.dx ? affine(x.shape, dy, s.data, null) : null;
  let ds: Tensor | null = null;
  if (need.ds) {
    const e = engine();
    const prod = Tensor.empty(x.shape);
    try {
      if (prod.size > 0) e.run('mul_fwd', [dy.ptr, x.ptr, prod.ptr, prod.size]);
      ds = Tensor.zeros([N, 1, 1, C]);
      for (let n = 0; n < N; n++) channelSum(prod.ptr + n * H * W * C * 4, H * W, C, C, ds.ptr + n * C * 4);
    } finally {
      prod.dispose();
    }
  }
  return { dx, ds };
}
