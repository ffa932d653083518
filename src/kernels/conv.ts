// Dense 2-D convolution over NHWC float32 with register-blocked SIMD micro-kernels.
// The input is pre-padded (zero border, see pad_nhwc) so the inner loops have no bounds
// checks; weights are packed as [K][K][Cin][CoP] (CoP = Cout rounded up to 4, zero filled).
import { madd, shareStart, f4, storeLanes, activate } from './common';

// Epilogue block layout (i32 words) for fused inference outputs, see TypeScript side.
// [0] mode: 0 = plain NHWC store, 1 = residual add + activation + depth_to_space
// [1] scale s, [2] order (0 = PyTorch PixelShuffle, 1 = TF depth_to_space)
// [3] residual pointer (0 = none), [4] residual pixel stride, [5] pointer to i32 map co -> residual channel
// [6] output channels C, [7] pointer to i32 table co -> offset (floats) of its HR sample from the
//     HR pixel (oy*s, ox*s): precomputed so the store needs no division

@inline export function emit(
  v: v128, nvalid: i32, n: i32, oy: i32, ox: i32, co: i32, H: i32, W: i32,
  y: usize, ys: i32, act: i32, p0: f32, p1: f32, alpha: usize, epi: usize,
): void {
  if (epi == 0) {
    storeLanes(y + f4(((n * H + oy) * W + ox) * ys + co), activate(v, act, p0, p1, alpha, co), nvalid);
    return;
  }
  const s = load<i32>(epi, 4);
  const res = <usize>load<i32>(epi, 12);
  const C = load<i32>(epi, 24);
  if (res != 0) {
    const resStride = load<i32>(epi, 16);
    const rm = <usize>load<i32>(epi, 20) + f4(co);
    const rp = res + f4(((n * H + oy) * W + ox) * resStride);
    let r = f32x4.splat(0);
    r = f32x4.replace_lane(r, 0, load<f32>(rp + f4(load<i32>(rm))));
    if (nvalid > 1) r = f32x4.replace_lane(r, 1, load<f32>(rp + f4(load<i32>(rm, 4))));
    if (nvalid > 2) r = f32x4.replace_lane(r, 2, load<f32>(rp + f4(load<i32>(rm, 8))));
    if (nvalid > 3) r = f32x4.replace_lane(r, 3, load<f32>(rp + f4(load<i32>(rm, 12))));
    v = f32x4.add(v, r);
  }
  v = activate(v, act, p0, p1, alpha, co);
  const base = y + f4(((n * H * s + oy * s) * W * s + ox * s) * C);
  const ot = <usize>load<i32>(epi, 28) + f4(co);
  store<f32>(base + f4(load<i32>(ot)), f32x4.extract_lane(v, 0));
  if (nvalid > 1) store<f32>(base + f4(load<i32>(ot, 4)), f32x4.extract_lane(v, 1));
  if (nvalid > 2) store<f32>(base + f4(load<i32>(ot, 8)), f32x4.extract_lane(v, 2));
  if (nvalid > 3) store<f32>(base + f4(load<i32>(ot, 12)), f32x4.extract_lane(v, 3));
}

// The 4-pixel blocks of conv2d_fwd, each in a function of its own: inside the one large kernel
// function V8 compiled the same loop about 6% slower (16 -> 16 channels at 180x320, 1 thread:
// 5.75 against 5.40 ms), and a second copy of it there made it 1.8x slower. Eight accumulators
// is the most V8 keeps in registers: blocks of 5 or 6 pixels x 8 channels ran 2x slower.
/** Output pixels ox = 0, 4, ... of row oy for channels cb..cb+7, in blocks of 4; returns the first pixel left. */
function quads8(
  xp: usize, xs: i32, n: i32, Hp: i32, Wp: i32, oy: i32, W: i32, H: i32, Cin: i32, K: i32, taps: i32, run: i32,
  w: usize, CoP: i32, cb: i32, b0: v128, b1: v128, nv0: i32, nv1: i32,
  y: usize, ys: i32, act: i32, p0: f32, p1: f32, alpha: usize, epi: usize,
): i32 {
  const xs4 = f4(xs), wrow = f4(CoP);
  let ox = 0;
  for (; ox + 4 <= W; ox += 4) {
    let a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
    for (let ky = 0; ky < K; ky++) {
      const px = xp + f4(((n * Hp + oy + ky) * Wp + ox) * xs);
      let wp = w + f4(ky * K * Cin * CoP + cb);
      for (let kx = 0; kx < taps; kx++) {
        let pc = px + f4(kx * xs);
        for (let ci = 0; ci < run; ci++) {
          const w0 = v128.load(wp), w1 = v128.load(wp, 16);
          let i = v128.load32_splat(pc);
          a00 = madd(i, w0, a00); a01 = madd(i, w1, a01);
          i = v128.load32_splat(pc + xs4);
          a10 = madd(i, w0, a10); a11 = madd(i, w1, a11);
          i = v128.load32_splat(pc + 2 * xs4);
          a20 = madd(i, w0, a20); a21 = madd(i, w1, a21);
          i = v128.load32_splat(pc + 3 * xs4);
          a30 = madd(i, w0, a30); a31 = madd(i, w1, a31);
          wp += wrow; pc += 4;
        }
      }
    }
    emit(a00, nv0, n, oy, ox, cb, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a01, nv1, n, oy, ox, cb + 4, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a10, nv0, n, oy, ox + 1, cb, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a11, nv1, n, oy, ox + 1, cb + 4, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a20, nv0, n, oy, ox + 2, cb, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a21, nv1, n, oy, ox + 2, cb + 4, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a30, nv0, n, oy, ox + 3, cb, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a31, nv1, n, oy, ox + 3, cb + 4, H, W, y, ys, act, p0, p1, alpha, epi);
  }
  return ox;
}

/** quads8 for the last 4 channels (cb + 8 > CoP). */
function quads4(
  xp: usize, xs: i32, n: i32, Hp: i32, Wp: i32, oy: i32, W: i32, H: i32, Cin: i32, K: i32, taps: i32, run: i32,
  w: usize, CoP: i32, cb: i32, b0: v128, nv0: i32,
  y: usize, ys: i32, act: i32, p0: f32, p1: f32, alpha: usize, epi: usize,
): i32 {
  const xs4 = f4(xs), wrow = f4(CoP);
  let ox = 0;
  for (; ox + 4 <= W; ox += 4) {
    let a0 = b0, a1 = b0, a2 = b0, a3 = b0;
    for (let ky = 0; ky < K; ky++) {
      const px = xp + f4(((n * Hp + oy + ky) * Wp + ox) * xs);
      let wp = w + f4(ky * K * Cin * CoP + cb);
      for (let kx = 0; kx < taps; kx++) {
        let pc = px + f4(kx * xs);
        for (let ci = 0; ci < run; ci++) {
          const w0 = v128.load(wp);
          a0 = madd(v128.load32_splat(pc), w0, a0);
          a1 = madd(v128.load32_splat(pc + xs4), w0, a1);
          a2 = madd(v128.load32_splat(pc + 2 * xs4), w0, a2);
          a3 = madd(v128.load32_splat(pc + 3 * xs4), w0, a3);
          wp += wrow; pc += 4;
        }
      }
    }
    emit(a0, nv0, n, oy, ox, cb, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a1, nv0, n, oy, ox + 1, cb, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a2, nv0, n, oy, ox + 2, cb, H, W, y, ys, act, p0, p1, alpha, epi);
    emit(a3, nv0, n, oy, ox + 3, cb, H, W, y, ys, act, p0, p1, alpha, epi);
  }
  return ox;
}

/**
 * Valid convolution of a padded input: y[n,oy,ox,co] = act(b[co] + sum xp[n,oy+ky,ox+kx,ci] w[ky,kx,ci,co]).
 * xp has (H+K-1) x (W+K-1) pixels with pixel stride xs floats; output H x W, pixel stride ys.
 * Threads split the N*H output rows.
 */
export function conv2d_fwd(
  xp: usize, xs: i32, N: i32, H: i32, W: i32, Cin: i32, K: i32,
  w: usize, CoP: i32, Cout: i32, bias: usize,
  y: usize, ys: i32, act: i32, p0: f32, p1: f32, alpha: usize, epi: usize,
  tid: i32, nt: i32,
): void {
  const Hp = H + K - 1, Wp = W + K - 1;
  const rows = N * H;
  const r0 = shareStart(rows, tid, nt), r1 = shareStart(rows, tid + 1, nt);
  const xs4 = f4(xs);
  const wrow = f4(CoP);
  // with no pixel padding (xs == Cin, groups 1) the K taps of a kernel row read K * Cin
  // consecutive floats: one loop of K * Cin steps instead of K loops of Cin (3 for a first conv)
  const flat = xs == Cin;
  const taps = flat ? 1 : K, run = flat ? K * Cin : Cin;
  for (let r = r0; r < r1; r++) {
    const n = r / H, oy = r % H;
    for (let cb = 0; cb < CoP; cb += 8) {
      const two = cb + 8 <= CoP;
      const nv0 = min(4, Cout - cb), nv1 = min(4, Cout - cb - 4);
      const b0 = bias != 0 ? v128.load(bias + f4(cb)) : f32x4.splat(0);
      const b1 = bias != 0 && two ? v128.load(bias + f4(cb + 4)) : f32x4.splat(0);
      let ox = 0;
      if (two) {
        ox = quads8(xp, xs, n, Hp, Wp, oy, W, H, Cin, K, taps, run, w, CoP, cb, b0, b1, nv0, nv1, y, ys, act, p0, p1, alpha, epi);
        for (; ox < W; ox++) {
          let a0 = b0, a1 = b1;
          for (let ky = 0; ky < K; ky++) {
            let pc = xp + f4(((n * Hp + oy + ky) * Wp + ox) * xs);
            let wp = w + f4(ky * K * Cin * CoP + cb);
            for (let kx = 0; kx < taps; kx++) {
              for (let ci = 0; ci < run; ci++) {
                const i = v128.load32_splat(pc + f4(ci));
                a0 = madd(i, v128.load(wp), a0); a1 = madd(i, v128.load(wp, 16), a1);
                wp += wrow;
              }
              pc += xs4;
            }
          }
          emit(a0, nv0, n, oy, ox, cb, H, W, y, ys, act, p0, p1, alpha, epi);
          emit(a1, nv1, n, oy, ox, cb + 4, H, W, y, ys, act, p0, p1, alpha, epi);
        }
      } else {
        ox = quads4(xp, xs, n, Hp, Wp, oy, W, H, Cin, K, taps, run, w, CoP, cb, b0, nv0, y, ys, act, p0, p1, alpha, epi);
        for (; ox < W; ox++) {
          let a0 = b0;
          for (let ky = 0; ky < K; ky++) {
            let pc = xp + f4(((n * Hp + oy + ky) * Wp + ox) * xs);
            let wp = w + f4(ky * K * Cin * CoP + cb);
            for (let kx = 0; kx < taps; kx++) {
              for (let ci = 0; ci < run; ci++) {
                a0 = madd(v128.load32_splat(pc + f4(ci)), v128.load(wp), a0);
                wp += wrow;
              }
              pc += xs4;
            }
          }
          emit(a0, nv0, n, oy, ox, cb, H, W, y, ys, act, p0, p1, alpha, epi);
        }
      }
    }
  }
}

/**
 * Weight gradient of conv2d_fwd: dw[ky,kx,ci,co] = sum over n,oy,ox of xp[n,oy+ky,ox+kx,ci] dy[n,oy,ox,co].
 * dw is packed like the forward weights and fully overwritten (lanes past Cout untouched).
 * Threads split (ky,kx,ci-block,co-block) units; every unit sums pixels in the same order,
 * so the result does not depend on the thread count.
 */
export function conv2d_bwd_w(
  xp: usize, xs: i32, N: i32, H: i32, W: i32, Cin: i32, K: i32,
  dy: usize, dys: i32, Cout: i32, CoP: i32, dw: usize,
  tid: i32, nt: i32,
): void {
  const Hp = H + K - 1, Wp = W + K - 1;
  const nCiB = (Cin + 3) >> 2, nCoB = (CoP + 7) >> 3;
  const units = K * K * nCiB * nCoB;
  const u0 = shareStart(units, tid, nt), u1 = shareStart(units, tid + 1, nt);
  if (u0 >= u1) return;
  const xs4 = f4(xs), dys4 = f4(dys);
  const rows = N * H;
  for (let r = 0; r < rows; r++) {
    const n = r / H, oy = r % H;
    const first = r == 0;
    for (let u = u0; u < u1; u++) {
      const cob = u % nCoB;
      const t = u / nCoB;
      const cib = t % nCiB;
      const tap = t / nCiB;
      const ky = tap / K, kx = tap % K;
      const ci = cib << 2, cb = cob << 3;
      const nci = min(4, Cin - ci);
      const two = cb + 8 <= CoP;
      const nv0 = min(4, Cout - cb), nv1 = min(4, Cout - cb - 4);
      const wbase = dw + f4((tap * Cin + ci) * CoP + cb);
      const wr = f4(CoP);
      let px = xp + f4(((n * Hp + oy + ky) * Wp + kx) * xs + ci);
      let pd = dy + f4((n * H + oy) * W * dys + cb);
      if (two) {
        let a00 = f32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        if (!first) {
          a00 = v128.load(wbase); a01 = v128.load(wbase, 16);
          if (nci > 1) { a10 = v128.load(wbase + wr); a11 = v128.load(wbase + wr, 16); }
          if (nci > 2) { a20 = v128.load(wbase + 2 * wr); a21 = v128.load(wbase + 2 * wr, 16); }
          if (nci > 3) { a30 = v128.load(wbase + 3 * wr); a31 = v128.load(wbase + 3 * wr, 16); }
        }
        for (let ox = 0; ox < W; ox++) {
          const d0 = v128.load(pd), d1 = v128.load(pd, 16);
          let i = v128.load32_splat(px);
          a00 = madd(i, d0, a00); a01 = madd(i, d1, a01);
          i = v128.load32_splat(px, 4);
          a10 = madd(i, d0, a10); a11 = madd(i, d1, a11);
          i = v128.load32_splat(px, 8);
          a20 = madd(i, d0, a20); a21 = madd(i, d1, a21);
          i = v128.load32_splat(px, 12);
          a30 = madd(i, d0, a30); a31 = madd(i, d1, a31);
          px += xs4; pd += dys4;
        }
        storeLanes(wbase, a00, nv0); storeLanes(wbase + 16, a01, nv1);
        if (nci > 1) { storeLanes(wbase + wr, a10, nv0); storeLanes(wbase + wr + 16, a11, nv1); }
        if (nci > 2) { storeLanes(wbase + 2 * wr, a20, nv0); storeLanes(wbase + 2 * wr + 16, a21, nv1); }
        if (nci > 3) { storeLanes(wbase + 3 * wr, a30, nv0); storeLanes(wbase + 3 * wr + 16, a31, nv1); }
      } else {
        let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
        if (!first) {
          a0 = v128.load(wbase);
          if (nci > 1) a1 = v128.load(wbase + wr);
          if (nci > 2) a2 = v128.load(wbase + 2 * wr);
          if (nci > 3) a3 = v128.load(wbase + 3 * wr);
        }
        for (let ox = 0; ox < W; ox++) {
          const d0 = v128.load(pd);
          a0 = madd(v128.load32_splat(px), d0, a0);
          a1 = madd(v128.load32_splat(px, 4), d0, a1);
          a2 = madd(v128.load32_splat(px, 8), d0, a2);
          a3 = madd(v128.load32_splat(px, 12), d0, a3);
          px += xs4; pd += dys4;
        }
        storeLanes(wbase, a0, nv0);
        if (nci > 1) storeLanes(wbase + wr, a1, nv0);
        if (nci > 2) storeLanes(wbase + 2 * wr, a2, nv0);
        if (nci > 3) storeLanes(wbase + 3 * wr, a3, nv0);
      }
    }
  }
}

/**
 * Depthwise convolution (groups == Cin == Cout) of a padded input, vectorised over channels, with
 * taps D pixels apart (dilation). w packed [K][K][CP] (CP = C rounded up to 4); xp has
 * (H + (K-1)D) x (W + (K-1)D) pixels. Threads split the N*H output rows.
 */
export function dwconv2d_fwd(
  xp: usize, xs: i32, N: i32, H: i32, W: i32, C: i32, K: i32, D: i32,
  w: usize, CP: i32, bias: usize, y: usize, ys: i32,
  act: i32, p0: f32, p1: f32, alpha: usize, tid: i32, nt: i32,
): void {
  const Hp = H + (K - 1) * D, Wp = W + (K - 1) * D;
  const rows = N * H;
  const r0 = shareStart(rows, tid, nt), r1 = shareStart(rows, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const n = r / H, oy = r % H;
    for (let ox = 0; ox < W; ox++) {
      for (let c = 0; c < C; c += 4) {
        let a = bias != 0 ? v128.load(bias + f4(c)) : f32x4.splat(0);
        for (let ky = 0; ky < K; ky++) {
          let pc = xp + f4(((n * Hp + oy + ky * D) * Wp + ox) * xs + c);
          let wp = w + f4(ky * K * CP + c);
          for (let kx = 0; kx < K; kx++) {
            a = madd(v128.load(pc), v128.load(wp), a);
            pc += f4(xs * D); wp += f4(CP);
          }
        }
        storeLanes(y + f4(((n * H + oy) * W + ox) * ys + c), activate(a, act, p0, p1, alpha, c), min(4, C - c));
      }
    }
  }
}

/** Weight gradient of dwconv2d_fwd; units are (tap, channel block), each summing all pixels in order. */
export function dwconv2d_bwd_w(
  xp: usize, xs: i32, N: i32, H: i32, W: i32, C: i32, K: i32, D: i32,
  dy: usize, dys: i32, CP: i32, dw: usize, tid: i32, nt: i32,
): void {
  const Hp = H + (K - 1) * D, Wp = W + (K - 1) * D;
  const nCB = CP >> 2;
  const units = K * K * nCB;
  const u0 = shareStart(units, tid, nt), u1 = shareStart(units, tid + 1, nt);
  for (let u = u0; u < u1; u++) {
    const c = (u % nCB) << 2, tap = u / nCB;
    const ky = tap / K, kx = tap % K;
    let a = f32x4.splat(0);
    for (let n = 0; n < N; n++) {
      for (let oy = 0; oy < H; oy++) {
        let px = xp + f4(((n * Hp + oy + ky * D) * Wp + kx * D) * xs + c);
        let pd = dy + f4((n * H + oy) * W * dys + c);
        for (let ox = 0; ox < W; ox++) {
          a = madd(v128.load(px), v128.load(pd), a);
          px += f4(xs); pd += f4(dys);
        }
      }
    }
    storeLanes(dw + f4(tap * CP + c), a, min(4, C - c));
  }
}

/**
 * Copy x (N,H,W, C channels at pixel stride xs) into dst with a zero border:
 * pt/pl rows/cols before, pb/pr after; dst pixel stride = C. Threads split dst rows.
 */
export function pad_nhwc(
  x: usize, xs: i32, N: i32, H: i32, W: i32, C: i32,
  pt: i32, pb: i32, pl: i32, pr: i32, dst: usize, tid: i32, nt: i32,
): void {
  const Hp = H + pt + pb, Wp = W + pl + pr;
  const rows = N * Hp;
  const r0 = shareStart(rows, tid, nt), r1 = shareStart(rows, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const n = r / Hp, yy = r % Hp - pt;
    const drow = dst + f4(r * Wp * C);
    if (yy < 0 || yy >= H) { memory.fill(drow, 0, f4(Wp * C)); continue; }
    memory.fill(drow, 0, f4(pl * C));
    memory.fill(drow + f4((pl + W) * C), 0, f4(pr * C));
    const srow = x + f4((n * H + yy) * W * xs);
    if (xs == C) { memory.copy(drow + f4(pl * C), srow, f4(W * C)); continue; }
    for (let ox = 0; ox < W; ox++) memory.copy(drow + f4((pl + ox) * C), srow + f4(ox * xs), f4(C));
  }
}

/**
 * Pack PyTorch conv weights into the kernel layout [K][K][Ci][CoP].
 * transpose = 0: src OIHW [Co][Ci][K][K] (forward).
 * transpose = 1: the input-gradient kernel of an OIHW conv with Co'=Ci, Ci'=Co, taps flipped.
 * transpose = 2: src PyTorch ConvTranspose weights [Ci][Co][K][K] (no flip).
 * Single-threaded (weights are small); padding lanes written as zero.
 */
export function pack_conv_weight(src: usize, Co: i32, Ci: i32, K: i32, transpose: i32, dst: usize, CoP: i32): void {
  const KK = K * K;
  for (let tap = 0; tap < KK; tap++) {
    for (let ci = 0; ci < Ci; ci++) {
      const d = dst + f4((tap * Ci + ci) * CoP);
      for (let co = 0; co < CoP; co++) {
        let v: f32 = 0;
        if (co < Co) {
          if (transpose == 0) v = load<f32>(src + f4((co * Ci + ci) * KK + tap));
          else if (transpose == 1) v = load<f32>(src + f4((ci * Co + co) * KK + (KK - 1 - tap)));
          else v = load<f32>(src + f4((ci * Co + co) * KK + tap));
        }
        store<f32>(d + f4(co), v);
      }
    }
  }
}

/** Inverse of pack_conv_weight(transpose = 0): packed [K][K][Ci][CoP] -> OIHW. */
export function unpack_conv_weight(src: usize, Co: i32, Ci: i32, K: i32, CoP: i32, dst: usize): void {
  const KK = K * K;
  for (let co = 0; co < Co; co++)
    for (let ci = 0; ci < Ci; ci++)
      for (let tap = 0; tap < KK; tap++)
        store<f32>(dst + f4((co * Ci + ci) * KK + tap), load<f32>(src + f4((tap * Ci + ci) * CoP + co)));
}
