// Mean-reduced pixel losses. The forward is a deterministic reduction: the n elements are cut
// into chunks of FLAT_CHUNK (independent of the thread count), threads split the chunks, each
// chunk writes one f32 partial (four lanes added in a fixed order, then the trailing elements),
// and TypeScript sums the partials in order in f64. The backward writes d loss / d pred.
import { shareStart, f4, storeLanes } from './common';

/** Elements per chunk of the flat reductions. Must match FLAT_CHUNK in TypeScript. */
export const FLAT_CHUNK: i32 = 1024;

const KIND_L1: i32 = 0;
const KIND_MSE: i32 = 1;
const KIND_CHARB: i32 = 2;

@inline function termV(kind: i32, d: v128, eps: v128): v128 {
  if (kind == KIND_L1) return f32x4.abs(d);
  if (kind == KIND_MSE) return f32x4.mul(d, d);
  return f32x4.sqrt(f32x4.add(f32x4.mul(d, d), eps));
}

@inline function termS(kind: i32, d: f32, eps: f32): f32 {
  if (kind == KIND_L1) return Mathf.abs(d);
  if (kind == KIND_MSE) return d * d;
  return Mathf.sqrt(d * d + eps);
}

@inline function lossChunks(kind: i32, pred: usize, target: usize, n: i32, eps: f32, partial: usize, tid: i32, nt: i32): void {
  const nChunks = (n + FLAT_CHUNK - 1) / FLAT_CHUNK;
  const k0 = shareStart(nChunks, tid, nt), k1 = shareStart(nChunks, tid + 1, nt);
  const ev = f32x4.splat(eps);
  for (let k = k0; k < k1; k++) {
    const i0 = k * FLAT_CHUNK, i1 = min(n, i0 + FLAT_CHUNK);
    let acc = f32x4.splat(0);
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      const d = f32x4.sub(v128.load(pred + f4(i)), v128.load(target + f4(i)));
      acc = f32x4.add(acc, termV(kind, d, ev));
    }
    let s: f32 = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1))
      + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    for (; i < i1; i++) s += termS(kind, load<f32>(pred + f4(i)) - load<f32>(target + f4(i)), eps);
    store<f32>(partial + f4(k), s);
  }
}

/** partial[k] = sum over chunk k of |pred - target|. */
export function l1_loss_chunks(pred: usize, target: usize, n: i32, partial: usize, tid: i32, nt: i32): void {
  lossChunks(KIND_L1, pred, target, n, 0, partial, tid, nt);
}

/** partial[k] = sum over chunk k of (pred - target)^2. */
export function mse_loss_chunks(pred: usize, target: usize, n: i32, partial: usize, tid: i32, nt: i32): void {
  lossChunks(KIND_MSE, pred, target, n, 0, partial, tid, nt);
}

/** partial[k] = sum over chunk k of sqrt((pred - target)^2 + eps). */
export function charbonnier_loss_chunks(pred: usize, target: usize, n: i32, eps: f32, partial: usize, tid: i32, nt: i32): void {
  lossChunks(KIND_CHARB, pred, target, n, eps, partial, tid, nt);
}

@inline function gradV(kind: i32, d: v128, coef: v128, negCoef: v128, eps: v128): v128 {
  if (kind == KIND_L1) {
    // sign(d) * coef with sign(0) = 0
    const z = f32x4.splat(0);
    return v128.or(v128.and(coef, f32x4.gt(d, z)), v128.and(negCoef, f32x4.lt(d, z)));
  }
  if (kind == KIND_MSE) return f32x4.mul(d, coef);
  return f32x4.mul(f32x4.div(d, f32x4.sqrt(f32x4.add(f32x4.mul(d, d), eps))), coef);
}

@inline function lossBwd(kind: i32, pred: usize, target: usize, dx: usize, n: i32, coef: f32, eps: f32, tid: i32, nt: i32): void {
  const nv = n >> 2;
  const v0 = shareStart(nv, tid, nt), v1 = shareStart(nv, tid + 1, nt);
  const cv = f32x4.splat(coef), ncv = f32x4.splat(-coef), ev = f32x4.splat(eps);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(dx + o, gradV(kind, f32x4.sub(v128.load(pred + o), v128.load(target + o)), cv, ncv, ev));
  }
  if (tid == nt - 1 && (n & 3) != 0) {
    const o = f4(nv << 2);
    storeLanes(dx + o, gradV(kind, f32x4.sub(v128.load(pred + o), v128.load(target + o)), cv, ncv, ev), n & 3);
  }
}

/** dx = sign(pred - target) * coef (coef = upstream / n). */
export function l1_loss_bwd(pred: usize, target: usize, dx: usize, n: i32, coef: f32, tid: i32, nt: i32): void {
  lossBwd(KIND_L1, pred, target, dx, n, coef, 0, tid, nt);
}

/** dx = (pred - target) * coef (coef = 2 * upstream / n). */
export function mse_loss_bwd(pred: usize, target: usize, dx: usize, n: i32, coef: f32, tid: i32, nt: i32): void {
  lossBwd(KIND_MSE, pred, target, dx, n, coef, 0, tid, nt);
}

/** dx = (pred - target) / sqrt((pred - target)^2 + eps) * coef (coef = upstream / n). */
export function charbonnier_loss_bwd(pred: usize, target: usize, dx: usize, n: i32, eps: f32, coef: f32, tid: i32, nt: i32): void {
  lossBwd(KIND_CHARB, pred, target, dx, n, coef, eps, tid, nt);
}
