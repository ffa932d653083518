// Element-wise activations and arithmetic, forward and backward, over flat float arrays.
// Threads split contiguous ranges of 4-float vectors; the last thread also does the 1..3
// trailing floats with the same vector code (reads may run up to 3 lanes past an array's end,
// writes never do). PReLU with one alpha per channel walks pixels; its alpha gradient is a
// deterministic chunked reduction (fixed chunks, summed in order by sum_chunks / TypeScript).
import { shareStart, f4, storeLanes, sigmoidV, tanhV, geluV, erfV, expV } from './common';
import { CHUNK_PIXELS } from './reduce';
import { FLAT_CHUNK } from './loss';

// ---- helpers ---------------------------------------------------------------------------

@inline function vecStart(n: i32, tid: i32, nt: i32): i32 {
  return shareStart(n >> 2, tid, nt);
}

@inline function vecEnd(n: i32, tid: i32, nt: i32): i32 {
  return shareStart(n >> 2, tid + 1, nt);
}

/** Number of trailing floats (n % 4) this thread must finish (only the last thread has any). */
@inline function tailOf(n: i32, tid: i32, nt: i32): i32 {
  return tid == nt - 1 ? n & 3 : 0;
}

@inline function leakyV(x: v128, slope: v128): v128 {
  return v128.bitselect(x, f32x4.mul(x, slope), f32x4.gt(x, f32x4.splat(0)));
}

@inline function clampV(x: v128, lo: v128, hi: v128): v128 {
  return f32x4.min(f32x4.max(x, lo), hi);
}

/** dy where lo <= x <= hi (PyTorch clamp backward), 0 elsewhere. */
@inline function clampBwdV(x: v128, dy: v128, lo: v128, hi: v128): v128 {
  return v128.and(dy, v128.and(f32x4.ge(x, lo), f32x4.le(x, hi)));
}

/** dy where x > 0, slope * dy elsewhere (PyTorch leaky_relu / prelu backward). */
@inline function leakyBwdV(x: v128, dy: v128, slope: v128): v128 {
  return v128.bitselect(dy, f32x4.mul(dy, slope), f32x4.gt(x, f32x4.splat(0)));
}

// ---- ReLU ------------------------------------------------------------------------------

/** y = max(x, 0). */
export function relu_fwd(x: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  const z = f32x4.splat(0);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, f32x4.max(v128.load(x + o), z));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(y + o, f32x4.max(v128.load(x + o), z), t);
  }
}

/** dx = dy where the saved output y > 0, else 0. */
export function relu_bwd(y: usize, dy: usize, dx: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  const z = f32x4.splat(0);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), z)));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), z)), t);
  }
}

// ---- LeakyReLU (also PReLU with one shared alpha) --------------------------------------

/** y = x for x > 0, slope * x otherwise. */
export function leaky_fwd(x: usize, y: usize, n: i32, slope: f32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  const s = f32x4.splat(slope);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, leakyV(v128.load(x + o), s));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(y + o, leakyV(v128.load(x + o), s), t);
  }
}

/** dx = dy for x > 0, slope * dy otherwise. */
export function leaky_bwd(x: usize, dy: usize, dx: usize, n: i32, slope: f32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  const s = f32x4.splat(slope);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(dx + o, leakyBwdV(v128.load(x + o), v128.load(dy + o), s));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(dx + o, leakyBwdV(v128.load(x + o), v128.load(dy + o), s), t);
  }
}

// ---- PReLU -----------------------------------------------------------------------------

/** Per-channel PReLU over P pixels of C channels: y = x > 0 ? x : alpha[c] * x. Threads split pixels. */
export function prelu_fwd(x: usize, alpha: usize, y: usize, P: i32, C: i32, tid: i32, nt: i32): void {
  const p0 = shareStart(P, tid, nt), p1 = shareStart(P, tid + 1, nt);
  const z = f32x4.splat(0);
  for (let p = p0; p < p1; p++) {
    const row = f4(p * C);
    for (let c = 0; c < C; c += 4) {
      const xv = v128.load(x + row + f4(c));
      const r = v128.bitselect(xv, f32x4.mul(xv, v128.load(alpha + f4(c))), f32x4.gt(xv, z));
      storeLanes(y + row + f4(c), r, min(4, C - c));
    }
  }
}

/**
 * Per-channel PReLU backward over chunks of CHUNK_PIXELS pixels (threads split chunks).
 * dx (if non-zero) = x > 0 ? dy : alpha[c] * dy;
 * partial (if non-zero) row k (CP floats) = sum over the chunk's pixels of (x > 0 ? 0 : x * dy).
 * Every chunk sums its pixels in order, so the partials do not depend on the thread count.
 */
export function prelu_bwd_chunks(
  x: usize, dy: usize, alpha: usize, dx: usize, P: i32, C: i32, CP: i32, partial: usize,
  tid: i32, nt: i32,
): void {
  const nChunks = (P + CHUNK_PIXELS - 1) / CHUNK_PIXELS;
  const k0 = shareStart(nChunks, tid, nt), k1 = shareStart(nChunks, tid + 1, nt);
  const z = f32x4.splat(0);
  for (let k = k0; k < k1; k++) {
    const q0 = k * CHUNK_PIXELS, q1 = min(P, q0 + CHUNK_PIXELS);
    const acc = partial + f4(k * CP);
    if (partial != 0) memory.fill(acc, 0, f4(CP));
    for (let p = q0; p < q1; p++) {
      const row = f4(p * C);
      for (let c = 0; c < C; c += 4) {
        const xv = v128.load(x + row + f4(c));
        const dv = v128.load(dy + row + f4(c));
        const pos = f32x4.gt(xv, z);
        if (dx != 0) {
          storeLanes(dx + row + f4(c), v128.bitselect(dv, f32x4.mul(dv, v128.load(alpha + f4(c))), pos), min(4, C - c));
        }
        if (partial != 0) {
          const pa = acc + f4(c);
          v128.store(pa, f32x4.add(v128.load(pa), v128.andnot(f32x4.mul(xv, dv), pos)));
        }
      }
    }
  }
}

/**
 * PReLU with one shared alpha, backward over chunks of FLAT_CHUNK elements (threads split chunks).
 * dx (if non-zero) = x > 0 ? dy : a * dy; partial[k] = sum over chunk k of (x > 0 ? 0 : x * dy),
 * the four lanes added in a fixed order, then the trailing elements.
 */
export function prelu1_bwd_chunks(
  x: usize, dy: usize, a: f32, dx: usize, n: i32, partial: usize, tid: i32, nt: i32,
): void {
  const nChunks = (n + FLAT_CHUNK - 1) / FLAT_CHUNK;
  const k0 = shareStart(nChunks, tid, nt), k1 = shareStart(nChunks, tid + 1, nt);
  const z = f32x4.splat(0);
  const s = f32x4.splat(a);
  for (let k = k0; k < k1; k++) {
    const i0 = k * FLAT_CHUNK, i1 = min(n, i0 + FLAT_CHUNK);
    let acc = f32x4.splat(0);
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      const xv = v128.load(x + f4(i)), dv = v128.load(dy + f4(i));
      const pos = f32x4.gt(xv, z);
      if (dx != 0) v128.store(dx + f4(i), v128.bitselect(dv, f32x4.mul(dv, s), pos));
      acc = f32x4.add(acc, v128.andnot(f32x4.mul(xv, dv), pos));
    }
    let sum: f32 = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1))
      + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    for (; i < i1; i++) {
      const xs = load<f32>(x + f4(i)), ds = load<f32>(dy + f4(i));
      if (xs > 0) {
        if (dx != 0) store<f32>(dx + f4(i), ds);
      } else {
        if (dx != 0) store<f32>(dx + f4(i), ds * a);
        sum += xs * ds;
      }
    }
    if (partial != 0) store<f32>(partial + f4(k), sum);
  }
}

// ---- tanh / sigmoid (backward from the saved output) ------------------------------------

/** y = tanh(x). */
export function tanh_fwd(x: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, tanhV(v128.load(x + o)));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(y + o, tanhV(v128.load(x + o)), t);
  }
}

/** dx = dy * (1 - y^2). */
export function tanh_bwd(y: usize, dy: usize, dx: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  const one = f32x4.splat(1);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    const yv = v128.load(y + o);
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), f32x4.sub(one, f32x4.mul(yv, yv))));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    const yv = v128.load(y + o);
    storeLanes(dx + o, f32x4.mul(v128.load(dy + o), f32x4.sub(one, f32x4.mul(yv, yv))), t);
  }
}

/** y = 1 / (1 + exp(-x)) (never NaN for finite x; saturates to 1 and to ~1e-38). */
export function sigmoid_fwd(x: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, sigmoidV(v128.load(x + o)));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(y + o, sigmoidV(v128.load(x + o)), t);
  }
}

/** dx = dy * y * (1 - y). */
export function sigmoid_bwd(y: usize, dy: usize, dx: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  const one = f32x4.splat(1);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    const yv = v128.load(y + o);
    v128.store(dx + o, f32x4.mul(f32x4.mul(v128.load(dy + o), f32x4.sub(one, yv)), yv));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    const yv = v128.load(y + o);
    storeLanes(dx + o, f32x4.mul(f32x4.mul(v128.load(dy + o), f32x4.sub(one, yv)), yv), t);
  }
}

// ---- GELU ------------------------------------------------------------------------------

/** y = x (1 + erf(x / sqrt 2)) / 2. */
export function gelu_fwd(x: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, geluV(v128.load(x + o)));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(y + o, geluV(v128.load(x + o)), t);
  }
}

/** dx = dy (Phi(x) + x phi(x)): the normal CDF (1 + erf(x / sqrt 2)) / 2 plus x times the density. */
@inline function geluGradV(x: v128, dy: v128): v128 {
  const cdf = f32x4.mul(f32x4.splat(0.5), f32x4.add(f32x4.splat(1), erfV(f32x4.mul(x, f32x4.splat(0.7071067811865476)))));
  const pdf = f32x4.mul(f32x4.splat(0.3989422804014327), expV(f32x4.mul(f32x4.splat(-0.5), f32x4.mul(x, x))));
  return f32x4.mul(dy, f32x4.add(cdf, f32x4.mul(x, pdf)));
}

export function gelu_bwd(x: usize, dy: usize, dx: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(dx + o, geluGradV(v128.load(x + o), v128.load(dy + o)));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(dx + o, geluGradV(v128.load(x + o), v128.load(dy + o)), t);
  }
}

// ---- clamp -----------------------------------------------------------------------------

/** y = min(max(x, lo), hi). */
export function clamp_fwd(x: usize, y: usize, n: i32, lo: f32, hi: f32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  const l = f32x4.splat(lo), h = f32x4.splat(hi);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, clampV(v128.load(x + o), l, h));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(y + o, clampV(v128.load(x + o), l, h), t);
  }
}

/** dx = dy where lo <= x <= hi, 0 elsewhere. */
export function clamp_bwd(x: usize, dy: usize, dx: usize, n: i32, lo: f32, hi: f32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  const l = f32x4.splat(lo), h = f32x4.splat(hi);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(dx + o, clampBwdV(v128.load(x + o), v128.load(dy + o), l, h));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(dx + o, clampBwdV(v128.load(x + o), v128.load(dy + o), l, h), t);
  }
}

// ---- add / mul -------------------------------------------------------------------------

/** y = a + b. */
export function add_fwd(a: usize, b: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(y + o, f32x4.add(v128.load(a + o), v128.load(b + o)), t);
  }
}

/** y = k x (also its own backward: dx = k dy). */
export function scale_fwd(x: usize, y: usize, n: i32, k: f32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  const kv = f32x4.splat(k);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, f32x4.mul(v128.load(x + o), kv));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(y + o, f32x4.mul(v128.load(x + o), kv), t);
  }
}

/** y = a * b (also the backward of mul: da = dy * b, db = dy * a). */
export function mul_fwd(a: usize, b: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const v0 = vecStart(n, tid, nt), v1 = vecEnd(n, tid, nt);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  const t = tailOf(n, tid, nt);
  if (t) {
    const o = f4(n & ~3);
    storeLanes(y + o, f32x4.mul(v128.load(a + o), v128.load(b + o)), t);
  }
}
