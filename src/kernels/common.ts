// Shared helpers for the AssemblyScript kernels. Kernels are plain functions over raw
// pointers into a shared linear memory that TypeScript allocates; nothing here allocates.

/** a*b + c, fused on the relaxed-SIMD build. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** First unit of thread `tid`'s contiguous share of `total` units. */
@inline export function shareStart(total: i32, tid: i32, nt: i32): i32 {
  return <i32>((<i64>total * <i64>tid) / <i64>nt);
}

/** Byte offset of float index i. */
@inline export function f4(i: i32): usize {
  return <usize>i << 2;
}

/** Store the first `n` (1..4) lanes of v at p. */
@inline export function storeLanes(p: usize, v: v128, n: i32): void {
  if (n >= 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** Load `n` (1..4) floats at p into the low lanes, zeros above. */
@inline export function loadLanes(p: usize, n: i32): v128 {
  if (n >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

// Activation codes shared with TypeScript (src/tensor/kernels.ts).
export const ACT_NONE: i32 = 0;
export const ACT_RELU: i32 = 1;
export const ACT_LEAKY: i32 = 2;
export const ACT_PRELU: i32 = 3;
export const ACT_CLAMP: i32 = 4;

/** Apply activation `act` to a vector of channels starting at channel co. */
@inline export function activate(v: v128, act: i32, p0: f32, p1: f32, alpha: usize, co: i32): v128 {
  if (act == ACT_RELU) return f32x4.max(v, f32x4.splat(0));
  if (act == ACT_LEAKY) {
    return v128.bitselect(v, f32x4.mul(v, f32x4.splat(p0)), f32x4.gt(v, f32x4.splat(0)));
  }
  if (act == ACT_PRELU) {
    return v128.bitselect(v, f32x4.mul(v, v128.load(alpha + f4(co))), f32x4.gt(v, f32x4.splat(0)));
  }
  if (act == ACT_CLAMP) return f32x4.min(f32x4.max(v, f32x4.splat(p0)), f32x4.splat(p1));
  return v;
}
