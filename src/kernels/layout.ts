// Layout kernels over NHWC float32: strided channel copies (concat / split) and
// depth_to_space / space_to_depth in PyTorch (PixelShuffle) or TensorFlow channel order.
import { shareStart, f4 } from './common';

/** Copy n floats from s to d (non-overlapping): 4 lanes at a time, scalar tail. */
@inline function copyRun(d: usize, s: usize, n: i32): void {
  let c = 0;
  for (; c + 4 <= n; c += 4) v128.store(d + f4(c), v128.load(s + f4(c)));
  for (; c < n; c++) store<f32>(d + f4(c), load<f32>(s + f4(c)));
}

/**
 * For every pixel p < P: dst[p*Cd + od + c] = src[p*Cs + os + c], c < C.
 * Concat writes each input into its channel range of the output; split reads them back.
 * Threads split the pixels.
 */
export function channel_copy(
  src: usize, Cs: i32, os: i32, dst: usize, Cd: i32, od: i32, C: i32, P: i32,
  tid: i32, nt: i32,
): void {
  const p0 = shareStart(P, tid, nt), p1 = shareStart(P, tid + 1, nt);
  if (C == Cs && C == Cd) {
    // both sides dense: one contiguous run
    if (p1 > p0) memory.copy(dst + f4(p0 * C + od), src + f4(p0 * C + os), f4((p1 - p0) * C));
    return;
  }
  let ps = src + f4(p0 * Cs + os), pd = dst + f4(p0 * Cd + od);
  const ss = f4(Cs), sd = f4(Cd);
  for (let p = p0; p < p1; p++) {
    copyRun(pd, ps, C);
    ps += ss; pd += sd;
  }
}

/**
 * depth_to_space: x [N, H, W, C*s*s] -> y [N, H*s, W*s, C] with
 * y[n, h*s+i, w*s+j, c] = x[n, h, w, k], k = c*s*s + i*s + j (order 0, PyTorch PixelShuffle)
 * or k = (i*s + j)*C + c (order 1, TensorFlow). Threads split the N*H*s output rows.
 */
export function depth_to_space(
  x: usize, N: i32, H: i32, W: i32, C: i32, s: i32, order: i32, y: usize,
  tid: i32, nt: i32,
): void {
  const Ho = H * s, Wo = W * s, Cin = C * s * s, ss = s * s;
  const rows = N * Ho;
  const r0 = shareStart(rows, tid, nt), r1 = shareStart(rows, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const n = r / Ho, oy = r % Ho;
    const h = oy / s, i = oy % s;
    const xrow = x + f4((n * H + h) * W * Cin);
    let pd = y + f4(r * Wo * C);
    // output pixels in (w, j) order: no division per pixel; RGB (C = 3) unrolled
    for (let w = 0; w < W; w++) {
      const px = xrow + f4(w * Cin);
      for (let j = 0; j < s; j++) {
        if (order != 0) {
          copyRun(pd, px + f4((i * s + j) * C), C);
        } else {
          const pk = px + f4(i * s + j);
          if (C == 3) {
            store<f32>(pd, load<f32>(pk));
            store<f32>(pd + 4, load<f32>(pk + f4(ss)));
            store<f32>(pd + 8, load<f32>(pk + f4(2 * ss)));
          } else {
            for (let c = 0; c < C; c++) store<f32>(pd + f4(c), load<f32>(pk + f4(c * ss)));
          }
        }
        pd += f4(C);
      }
    }
  }
}

/**
 * space_to_depth, the inverse of depth_to_space for the same order:
 * x [N, H*s, W*s, C] -> y [N, H, W, C*s*s], y[n, h, w, k] = x[n, h*s+i, w*s+j, c].
 * Threads split the N*H output rows.
 */
export function space_to_depth(
  x: usize, N: i32, H: i32, W: i32, C: i32, s: i32, order: i32, y: usize,
  tid: i32, nt: i32,
): void {
  const Hi = H * s, Wi = W * s, Co = C * s * s, ss = s * s;
  const rows = N * H;
  const r0 = shareStart(rows, tid, nt), r1 = shareStart(rows, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const n = r / H, h = r % H;
    let pd = y + f4(r * W * Co);
    for (let w = 0; w < W; w++) {
      for (let i = 0; i < s; i++) {
        const xrow = x + f4((n * Hi + h * s + i) * Wi * C);
        for (let j = 0; j < s; j++) {
          const px = xrow + f4((w * s + j) * C);
          if (order != 0) {
            copyRun(pd + f4((i * s + j) * C), px, C);
          } else {
            const pk = pd + f4(i * s + j);
            for (let c = 0; c < C; c++) store<f32>(pk + f4(c * ss), load<f32>(px + f4(c)));
          }
        }
      }
      pd += f4(Co);
    }
  }
}
