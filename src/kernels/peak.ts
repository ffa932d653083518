// The engine's peak f32x4 arithmetic rate: 10 independent chains of the conv kernels' madd
// (one fused multiply-add on the relaxed build, a multiply and an add on the SIMD128 build)
// with no loads or stores in the loop, so only the SIMD units bound it (8 FLOP per madd).
import { madd } from './common';

/** iters x 10 madds per thread; each thread stores the sum of its chains at out[tid] (keeps the loop live). */
export function simd_peak(iters: i32, out: usize, tid: i32, nt: i32): void {
  // a -> a * m + c converges to c / (1 - m) = 1 from any start: no overflow, no denormals
  const m = f32x4.splat(0.9990234375), c = f32x4.splat(0.0009765625);
  const s = <f32>(tid + 1);
  let a0 = f32x4.splat(0.10 * s), a1 = f32x4.splat(0.11 * s), a2 = f32x4.splat(0.12 * s), a3 = f32x4.splat(0.13 * s);
  let a4 = f32x4.splat(0.14 * s), a5 = f32x4.splat(0.15 * s), a6 = f32x4.splat(0.16 * s), a7 = f32x4.splat(0.17 * s);
  let a8 = f32x4.splat(0.18 * s), a9 = f32x4.splat(0.19 * s);
  for (let i = 0; i < iters; i++) {
    a0 = madd(a0, m, c); a1 = madd(a1, m, c); a2 = madd(a2, m, c); a3 = madd(a3, m, c); a4 = madd(a4, m, c);
    a5 = madd(a5, m, c); a6 = madd(a6, m, c); a7 = madd(a7, m, c); a8 = madd(a8, m, c); a9 = madd(a9, m, c);
  }
  const t = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(a8, a9)));
  store<f32>(out + (<usize>tid << 2), f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3));
}
