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

// Activation codes shared with TypeScript (ACT_CODE in src/tensor/ops/conv.ts).
export const ACT_NONE: i32 = 0;
export const ACT_RELU: i32 = 1;
export const ACT_LEAKY: i32 = 2;
export const ACT_PRELU: i32 = 3;
export const ACT_CLAMP: i32 = 4;
export const ACT_TANH: i32 = 5;
export const ACT_SIGMOID: i32 = 6;
export const ACT_GELU: i32 = 7;

/**
 * e^x for f32x4, relative error a few ulps: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of
 * ln2, n*LN2_HI exact), e^r by its degree-7 Taylor polynomial (truncation < 1e-8, Horner in
 * multiply-adds), times 2^n built in the exponent bits. x is clamped to [-87, 88] so 2^n stays a
 * normal float: results saturate near 1.6e-38 and 1.7e38 instead of reaching 0 / Inf (enough for
 * sigmoid and tanh). The clamp is pmax / pmin with x first (one maxps / minps each, and a NaN
 * passes through), and n = round(x log2 e) comes from adding 1.5 * 2^23, whose sum holds n in its
 * low mantissa bits: shifted left 23, those bits are n's exponent field. Both replace
 * NaN-checking min / max and a float -> int conversion that cost 4.6 of 8.5 ns per vector here.
 */
@inline export function expV(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87)), f32x4.splat(88));
  const magic = f32x4.splat(12582912);
  const t = madd(x, f32x4.splat(1.4426950408889634), magic);
  const n = f32x4.sub(t, magic);
  let r = madd(n, f32x4.splat(-0.693359375), x);
  r = madd(n, f32x4.splat(2.1219444005471377e-4), r);
  let p = f32x4.splat(<f32>(1.0 / 5040));
  p = madd(p, r, f32x4.splat(<f32>(1.0 / 720)));
  p = madd(p, r, f32x4.splat(<f32>(1.0 / 120)));
  p = madd(p, r, f32x4.splat(<f32>(1.0 / 24)));
  p = madd(p, r, f32x4.splat(<f32>(1.0 / 6)));
  p = madd(p, r, f32x4.splat(0.5));
  p = madd(p, r, f32x4.splat(1));
  p = madd(p, r, f32x4.splat(1));
  // the low bits of t are 0x400000 + n; shifted left 23 only n survives (mod 2^32)
  const scale = i32x4.add(i32x4.shl(t, 23), i32x4.splat(127 << 23));
  return f32x4.mul(p, scale);
}

/** 1 / (1 + e^-x); NaN stays NaN. */
@inline export function sigmoidV(x: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, expV(f32x4.neg(x))));
}

/**
 * tanh for f32x4: odd Taylor polynomial to x^13 for |x| < 0.4 (truncation < 2e-9), else
 * sign(x) (1 - 2 / (e^{2|x|} + 1)), which saturates to exactly +-1 for large |x|.
 */
@inline export function tanhV(x: v128): v128 {
  const ax = f32x4.abs(x);
  const x2 = f32x4.mul(x, x);
  let p = f32x4.splat(<f32>(21844.0 / 6081075));
  p = madd(p, x2, f32x4.splat(<f32>(-1382.0 / 155925)));
  p = madd(p, x2, f32x4.splat(<f32>(62.0 / 2835)));
  p = madd(p, x2, f32x4.splat(<f32>(-17.0 / 315)));
  p = madd(p, x2, f32x4.splat(<f32>(2.0 / 15)));
  p = madd(p, x2, f32x4.splat(<f32>(-1.0 / 3)));
  const small = madd(f32x4.mul(p, x2), x, x);
  const one = f32x4.splat(1);
  const t = f32x4.sub(one, f32x4.div(f32x4.splat(2), f32x4.add(expV(f32x4.add(ax, ax)), one)));
  const large = v128.or(t, v128.and(x, i32x4.splat(0x80000000)));
  // NaN: ax < 0.4 is false and e^NaN is NaN, so NaN comes out of the large branch
  return v128.bitselect(small, large, f32x4.lt(ax, f32x4.splat(0.4)));
}

/**
 * erf for f32x4 by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7):
 * erf(|x|) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^{-x^2}, t = 1 / (1 + p |x|), odd in x.
 */
@inline export function erfV(x: v128): v128 {
  const ax = f32x4.abs(x);
  const one = f32x4.splat(1);
  const t = f32x4.div(one, f32x4.add(one, f32x4.mul(f32x4.splat(0.3275911), ax)));
  let p = f32x4.splat(1.061405429);
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(-1.453152027));
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(1.421413741));
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(-0.284496736));
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(0.254829592));
  const e = f32x4.sub(one, f32x4.mul(f32x4.mul(p, t), expV(f32x4.neg(f32x4.mul(ax, ax)))));
  return v128.or(e, v128.and(x, i32x4.splat(0x80000000)));
}

/** GELU, the erf form (PyTorch nn.GELU()): x * (1 + erf(x / sqrt 2)) / 2. */
@inline export function geluV(x: v128): v128 {
  const half = f32x4.splat(0.5);
  return f32x4.mul(f32x4.mul(half, x), f32x4.add(f32x4.splat(1), erfV(f32x4.mul(x, f32x4.splat(0.7071067811865476)))));
}

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
  if (act == ACT_TANH) return tanhV(v);
  if (act == ACT_SIGMOID) return sigmoidV(v);
  if (act == ACT_GELU) return geluV(v);
  return v;
}
