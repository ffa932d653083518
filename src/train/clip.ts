// Gradient clipping by global L2 norm, like torch.nn.utils.clip_grad_norm_ (norm_type 2).
// The norm is a deterministic reduction: every gradient is cut into fixed chunks (independent
// of the thread count), each chunk's sum of squares is one f64 partial, and the partials are
// added in order (parameters in the order given, chunks in memory order) in f64.
import type { Var } from '../autograd/var.js';
import { engine } from '../tensor/engine.js';
import { withScratch } from '../tensor/ops/util.js';

export const SUMSQ_CHUNK = 4096; // must match src/kernels/train.ts
/** Below this many floats an element-wise kernel runs on the calling thread only (same result). */
const SERIAL_BELOW = 16384;

/** Sum of squares of n floats at ptr, in f64, independent of the thread count. */
export function sumOfSquares(ptr: number, n: number): number {
  if (n === 0) return 0;
  const e = engine();
  const nChunks = Math.ceil(n / SUMSQ_CHUNK);
  return withScratch(2 * nChunks, (partial) => {
    e.run('sumsq_chunks', [ptr, n, partial], nChunks > 1 ? e.threads : 1);
    const p = new Float64Array(e.memory.buffer, partial, nChunks);
    let s = 0;
    for (let k = 0; k < nChunks; k++) s += p[k]!;
    return s;
  });
}

/** Global L2 norm of the gradients of `params` (those without a gradient count as zero). */
export function gradNorm(params: readonly Var[]): number {
  let s = 0;
  for (const p of params) if (p.grad) s += sumOfSquares(p.grad.ptr, p.grad.size);
  return Math.sqrt(s);
}

/**
 * Scale all gradients in place so that their global L2 norm is at most `maxNorm`, and return
 * the norm before clipping. As in PyTorch the factor is maxNorm / (norm + 1e-6), applied only
 * when it is below 1. A non-finite norm (NaN/Inf gradients) is returned with the gradients
 * left untouched, so the caller can skip the step and say so.
 */
export function clipGradNorm(params: readonly Var[], maxNorm: number): number {
  if (!(typeof maxNorm === 'number' && maxNorm > 0 && Number.isFinite(maxNorm))) {
    throw new Error(`mvsr: clipGradNorm: maxNorm must be a positive finite number, got ${maxNorm}`);
  }
  const norm = gradNorm(params);
  if (!Number.isFinite(norm)) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    const e = engine();
    for (const p of params) {
      if (!p.grad || p.grad.size === 0) continue;
      e.run('scale_inplace', [p.grad.ptr, p.grad.size, coef], p.grad.size < SERIAL_BELOW ? 1 : e.threads);
    }
  }
  return norm;
}
