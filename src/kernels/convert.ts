// Float samples to 8- or 16-bit pixels, as io/image.ts float32ToImage does it: clamp to [0, 1],
// multiply by the maximum sample value in float32, round half to even. A NaN is not converted:
// the thread's first NaN index is stored at bad[tid] (else -1) for TypeScript to report.
import { shareStart, f4 } from './common';

/**
 * out[i] = nearest_even(f32(clamp(x[i], 0, 1) * maxv)) for i < n, as u8 (bits 8) or u16 (bits 16).
 * Threads split the values in blocks of 16; each output byte is written by one thread.
 */
export function float_to_pixels(x: usize, n: i32, bits: i32, out: usize, bad: usize, tid: i32, nt: i32): void {
  const blocks = (n + 15) >> 4;
  const i0 = shareStart(blocks, tid, nt) << 4, i1 = min(n, shareStart(blocks, tid + 1, nt) << 4);
  const maxv: f32 = bits == 16 ? 65535 : 255;
  const zero = f32x4.splat(0), one = f32x4.splat(1), m = f32x4.splat(maxv);
  store<i32>(bad + f4(tid), -1);
  let i = i0;
  for (; i + 16 <= i1; i += 16) {
    const p = x + f4(i);
    const a = v128.load(p), b = v128.load(p, 16), c = v128.load(p, 32), d = v128.load(p, 48);
    if (!i32x4.all_true(v128.and(v128.and(f32x4.eq(a, a), f32x4.eq(b, b)), v128.and(f32x4.eq(c, c), f32x4.eq(d, d))))) break;
    // pmin/pmax clamp like the scalar code (no NaN here); nearest is round half to even
    const qa = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.pmin(f32x4.pmax(a, zero), one), m)));
    const qb = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.pmin(f32x4.pmax(b, zero), one), m)));
    const qc = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.pmin(f32x4.pmax(c, zero), one), m)));
    const qd = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.pmin(f32x4.pmax(d, zero), one), m)));
    if (bits == 16) {
      v128.store(out + (<usize>i << 1), i16x8.narrow_i32x4_u(qa, qb));
      v128.store(out + (<usize>i << 1), i16x8.narrow_i32x4_u(qc, qd), 16);
    } else {
      v128.store(out + <usize>i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(qa, qb), i16x8.narrow_i32x4_u(qc, qd)));
    }
  }
  for (; i < i1; i++) {
    const v = load<f32>(x + f4(i));
    if (v != v) { store<i32>(bad + f4(tid), i); return; }
    const q = <i32>nearest<f32>((v < 0 ? <f32>0 : v > 1 ? <f32>1 : v) * maxv);
    if (bits == 16) store<u16>(out + (<usize>i << 1), <u16>q);
    else store<u8>(out + <usize>i, <u8>q);
  }
}

/**
 * out[i] = f32(src[i]) / maxv for i < n: 8-bit (bits 8) or 16-bit samples to floats in [0, 1], as
 * io/image.ts imageToFloat32 computes them (a float32 division is correctly rounded, and so is
 * x / 255 in float64 rounded to float32: the quotient's bits repeat with period 8 or 16, never
 * within 2^-53 of a float32 halfway point). Threads split the values in blocks of 16.
 */
export function pixels_to_float(src: usize, n: i32, bits: i32, out: usize, tid: i32, nt: i32): void {
  const blocks = (n + 15) >> 4;
  const i0 = shareStart(blocks, tid, nt) << 4, i1 = min(n, shareStart(blocks, tid + 1, nt) << 4);
  const maxv: f32 = bits == 16 ? 65535 : 255;
  const m = f32x4.splat(maxv);
  let i = i0;
  for (; i + 16 <= i1; i += 16) {
    const o = out + f4(i);
    if (bits == 16) {
      const a = v128.load(src + (<usize>i << 1)), b = v128.load(src + (<usize>i << 1), 16);
      v128.store(o, f32x4.div(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(a)), m));
      v128.store(o, f32x4.div(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(a)), m), 16);
      v128.store(o, f32x4.div(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(b)), m), 32);
      v128.store(o, f32x4.div(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(b)), m), 48);
    } else {
      const v = v128.load(src + <usize>i);
      const lo = i16x8.extend_low_i8x16_u(v), hi = i16x8.extend_high_i8x16_u(v);
      v128.store(o, f32x4.div(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(lo)), m));
      v128.store(o, f32x4.div(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(lo)), m), 16);
      v128.store(o, f32x4.div(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(hi)), m), 32);
      v128.store(o, f32x4.div(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(hi)), m), 48);
    }
  }
  for (; i < i1; i++) {
    const q: f32 = bits == 16 ? <f32>load<u16>(src + (<usize>i << 1)) : <f32>load<u8>(src + <usize>i);
    store<f32>(out + f4(i), q / maxv);
  }
}
