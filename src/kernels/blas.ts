// Level-1 vector helpers used by autograd (gradient accumulation) and the optimizers.
import { shareStart, f4, madd } from './common';

/** y[i] += a * x[i] for i < n. Threads split contiguous ranges (multiples of 4). */
export function axpy(y: usize, x: usize, n: i32, a: f32, tid: i32, nt: i32): void {
  const nv = n >> 2;
  const v0 = shareStart(nv, tid, nt), v1 = shareStart(nv, tid + 1, nt);
  const va = f32x4.splat(a);
  for (let v = v0; v < v1; v++) {
    const o = f4(v << 2);
    v128.store(y + o, madd(va, v128.load(x + o), v128.load(y + o)));
  }
  if (tid == nt - 1) for (let i = nv << 2; i < n; i++) store<f32>(y + f4(i), load<f32>(y + f4(i)) + a * load<f32>(x + f4(i)));
}

/** y[i] = v for i < n. */
export function fill(y: usize, n: i32, v: f32, tid: i32, nt: i32): void {
  const i0 = shareStart(n, tid, nt), i1 = shareStart(n, tid + 1, nt);
  const vv = f32x4.splat(v);
  let i = i0;
  for (; i + 4 <= i1; i += 4) v128.store(y + f4(i), vv);
  for (; i < i1; i++) store<f32>(y + f4(i), v);
}
