// Small helpers shared by the raw ops: scratch buffers and the deterministic channel sum.
import { engine } from '../engine.js';
import { Tensor } from '../tensor.js';

export const CHUNK_PIXELS = 1024; // must match src/kernels/reduce.ts

export const roundUp4 = (n: number): number => (n + 3) & ~3;

/** Run fn with a scratch block of `floats` floats, released afterwards even on error. */
export function withScratch<T>(floats: number, fn: (ptr: number) => T): T {
  const e = engine();
  const p = e.alloc(floats * 4);
  try {
    return fn(p);
  } finally {
    e.release(p);
  }
}

/**
 * out[c] (+)= sum over P pixels of src[p*stride + c], c < C.
 * Deterministic and independent of the thread count (fixed chunks, ordered f64 sum).
 */
export function channelSum(srcPtr: number, P: number, C: number, stride: number, outPtr: number, accumulate = false): void {
  const e = engine();
  const CP = roundUp4(C);
  const nChunks = Math.max(1, Math.ceil(P / CHUNK_PIXELS));
  withScratch(nChunks * CP, (partial) => {
    if (P === 0) e.f32.fill(0, partial >>> 2, (partial >>> 2) + CP);
    else e.run('channel_sum_chunks', [srcPtr, P, C, stride, CP, partial]);
    e.call('sum_chunks', [partial, nChunks, C, CP, outPtr, accumulate ? 1 : 0]);
  });
}
