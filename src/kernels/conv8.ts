// Integer convolution for int8 models: int16 inputs (int8 values minus their zero point,
// pre-padded), int16 weights (int8 values), int32 accumulation by i32x4.dot_i16x8_s, and the
// requantization of TFLite's XNNPACK path: the accumulator times a float32 scale, rounded to
// nearest (ties to even), plus the output zero point, clamped. Bit-exact with the JavaScript
// reference of src/runtime/int8.ts.

/** [sum a0, sum a1, sum a2, sum a3]: the horizontal sums of four i32x4 accumulators. */
@inline function hsum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t0 = i32x4.add(i8x16.shuffle(a0, a1, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), i8x16.shuffle(a0, a1, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31));
  const t1 = i32x4.add(i8x16.shuffle(a2, a3, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), i8x16.shuffle(a2, a3, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31));
  return i32x4.add(i8x16.shuffle(t0, t1, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), i8x16.shuffle(t0, t1, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31));
}

/** Requantize four channels' sums (bias added) and store the valid ones at `out`. */
@inline function store4(s: v128, co: i32, Cout: i32, bias: usize, scale: usize, vzp: v128, vlo: v128, vhi: v128, out: usize): void {
  const acc = i32x4.add(s, v128.load(bias + (<usize>co << 2)));
  const f = f32x4.nearest(f32x4.mul(f32x4.convert_i32x4_s(acc), v128.load(scale + (<usize>co << 2))));
  let q = i32x4.add(i32x4.trunc_sat_f32x4_s(f), vzp);
  q = i32x4.min_s(i32x4.max_s(q, vlo), vhi);
  store<i8>(out, <i8>i32x4.extract_lane(q, 0));
  if (co + 1 < Cout) store<i8>(out, <i8>i32x4.extract_lane(q, 1), 1);
  if (co + 2 < Cout) store<i8>(out, <i8>i32x4.extract_lane(q, 2), 2);
  if (co + 3 < Cout) store<i8>(out, <i8>i32x4.extract_lane(q, 3), 3);
}

/**
 * y[oy,ox,co] = clamp(nearest(f32(bias[co] + sum xp[oy+ky,ox+kx,ci] w[co,ky,kx,ci]) * scale[co]) + zp, lo, 127)
 * xp: i16 [(H+K-1) x (W+K-1)] pixels of CinP values (CinP a multiple of 8, zero filled);
 * w: i16 [CoP][K][K][CinP] (CoP = Cout rounded up to 4, zero filled); bias: i32 [CoP]; scale: f32 [CoP];
 * y: i8 [H][W][Cout]. Threads split the output rows.
 */
export function conv2d_s8(
  xp: usize, H: i32, W: i32, CinP: i32, K: i32,
  w: usize, Cout: i32, bias: usize, scale: usize, zp: i32, lo: i32,
  y: usize, tid: i32, nt: i32,
): void {
  const Wp = W + K - 1;
  const r0 = <i32>((<i64>H * <i64>tid) / <i64>nt), r1 = <i32>((<i64>H * <i64>(tid + 1)) / <i64>nt);
  const px = <usize>CinP << 1;          // bytes per input pixel
  const wco = <usize>(K * K * CinP) << 1; // bytes per output channel's filter
  const n = <usize>(K * CinP) << 1;       // a kernel row reads K pixels of CinP contiguous values
  const vzp = i32x4.splat(zp), vlo = i32x4.splat(lo), vhi = i32x4.splat(127);
  for (let oy = r0; oy < r1; oy++) {
    let ox = 0;
    // four output pixels at a time: each weight vector loaded once serves all four (16 accumulators)
    for (; ox + 4 <= W; ox += 4) {
      for (let co = 0; co < Cout; co += 4) {
        let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
        let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
        let c0 = i32x4.splat(0), c1 = i32x4.splat(0), c2 = i32x4.splat(0), c3 = i32x4.splat(0);
        let d0 = i32x4.splat(0), d1 = i32x4.splat(0), d2 = i32x4.splat(0), d3 = i32x4.splat(0);
        const w0 = w + <usize>co * wco;
        for (let ky = 0; ky < K; ky++) {
          const row = xp + (<usize>((oy + ky) * Wp + ox)) * px;
          const wr = w0 + (<usize>(ky * K * CinP) << 1);
          for (let b: usize = 0; b < n; b += 16) {
            const xu = v128.load(row + b), xv = v128.load(row + px + b), xw = v128.load(row + 2 * px + b), xz = v128.load(row + 3 * px + b);
            let v = v128.load(wr + b);
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(xu, v));
            b0 = i32x4.add(b0, i32x4.dot_i16x8_s(xv, v));
            c0 = i32x4.add(c0, i32x4.dot_i16x8_s(xw, v));
            d0 = i32x4.add(d0, i32x4.dot_i16x8_s(xz, v));
            v = v128.load(wr + wco + b);
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(xu, v));
            b1 = i32x4.add(b1, i32x4.dot_i16x8_s(xv, v));
            c1 = i32x4.add(c1, i32x4.dot_i16x8_s(xw, v));
            d1 = i32x4.add(d1, i32x4.dot_i16x8_s(xz, v));
            v = v128.load(wr + 2 * wco + b);
            a2 = i32x4.add(a2, i32x4.dot_i16x8_s(xu, v));
            b2 = i32x4.add(b2, i32x4.dot_i16x8_s(xv, v));
            c2 = i32x4.add(c2, i32x4.dot_i16x8_s(xw, v));
            d2 = i32x4.add(d2, i32x4.dot_i16x8_s(xz, v));
            v = v128.load(wr + 3 * wco + b);
            a3 = i32x4.add(a3, i32x4.dot_i16x8_s(xu, v));
            b3 = i32x4.add(b3, i32x4.dot_i16x8_s(xv, v));
            c3 = i32x4.add(c3, i32x4.dot_i16x8_s(xw, v));
            d3 = i32x4.add(d3, i32x4.dot_i16x8_s(xz, v));
          }
        }
        const out = y + <usize>((oy * W + ox) * Cout + co);
        store4(hsum4(a0, a1, a2, a3), co, Cout, bias, scale, vzp, vlo, vhi, out);
        store4(hsum4(b0, b1, b2, b3), co, Cout, bias, scale, vzp, vlo, vhi, out + <usize>Cout);
        store4(hsum4(c0, c1, c2, c3), co, Cout, bias, scale, vzp, vlo, vhi, out + 2 * <usize>Cout);
        store4(hsum4(d0, d1, d2, d3), co, Cout, bias, scale, vzp, vlo, vhi, out + 3 * <usize>Cout);
      }
    }
    for (; ox < W; ox++) {
      for (let co = 0; co < Cout; co += 4) {
        let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
        const w0 = w + <usize>co * wco;
        for (let ky = 0; ky < K; ky++) {
          const row = xp + (<usize>((oy + ky) * Wp + ox)) * px;
          const wr = w0 + (<usize>(ky * K * CinP) << 1);
          for (let b: usize = 0; b < n; b += 16) {
            const xv = v128.load(row + b);
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(xv, v128.load(wr + b)));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(xv, v128.load(wr + wco + b)));
            a2 = i32x4.add(a2, i32x4.dot_i16x8_s(xv, v128.load(wr + 2 * wco + b)));
            a3 = i32x4.add(a3, i32x4.dot_i16x8_s(xv, v128.load(wr + 3 * wco + b)));
          }
        }
        store4(hsum4(a0, a1, a2, a3), co, Cout, bias, scale, vzp, vlo, vhi, y + <usize>((oy * W + ox) * Cout + co));
      }
    }
  }
}

/**
 * The int16 input of conv2d_s8: x (i8 [H][W][C]) minus its zero point, with `pad` zero pixels
 * around and channels zero-filled up to CinP; dst is i16 [(H+2pad)][(W+2pad)][CinP], every value
 * written. Threads split the destination rows.
 */
export function pad_s8_i16(x: usize, H: i32, W: i32, C: i32, pad: i32, zp: i32, CinP: i32, dst: usize, tid: i32, nt: i32): void {
  const Hp = H + 2 * pad, Wp = W + 2 * pad;
  const r0 = <i32>((<i64>Hp * <i64>tid) / <i64>nt), r1 = <i32>((<i64>Hp * <i64>(tid + 1)) / <i64>nt);
  for (let y = r0; y < r1; y++) {
    const row = dst + (<usize>(y * Wp * CinP) << 1);
    memory.fill(row, 0, <usize>(Wp * CinP) << 1);
    const sy = y - pad;
    if (sy < 0 || sy >= H) continue;
    for (let xx = 0; xx < W; xx++) {
      const s = x + <usize>((sy * W + xx) * C), d = row + (<usize>((xx + pad) * CinP) << 1);
      for (let c = 0; c < C; c++) store<i16>(d + (<usize>c << 1), <i16>(<i32>load<i8>(s + <usize>c) - zp));
    }
  }
}

/** y[i] (f32) = table[x[i] & 255] for i < n (x int8): dequantization through the 256 values the caller computed. Threads split the range. */
export function s8_dequant(x: usize, n: i32, table: usize, y: usize, tid: i32, nt: i32): void {
  const i0 = <i32>((<i64>n * <i64>tid) / <i64>nt), i1 = <i32>((<i64>n * <i64>(tid + 1)) / <i64>nt);
  for (let i = i0; i < i1; i++) store<f32>(y + (<usize>i << 2), load<f32>(table + (<usize>load<u8>(x + <usize>i) << 2)));
}

/**
 * depth_to_space of an int8 NHWC image: x [H][W][C*s*s] -> y [H*s][W*s][C]; order 0: PyTorch
 * (channel c*s*s + i*s + j), 1: TF (channel (i*s + j)*C + c). Threads split the input rows.
 */
export function s8_depth_to_space(x: usize, H: i32, W: i32, C: i32, s: i32, order: i32, y: usize, tid: i32, nt: i32): void {
  const r0 = <i32>((<i64>H * <i64>tid) / <i64>nt), r1 = <i32>((<i64>H * <i64>(tid + 1)) / <i64>nt);
  const Cin = C * s * s, Wo = W * s;
  const cs = order == 0 ? s * s : 1, ijs = order == 0 ? 1 : C;
  for (let r = r0; r < r1; r++) {
    for (let xx = 0; xx < W; xx++) {
      const p = x + <usize>((r * W + xx) * Cin);
      for (let i = 0; i < s; i++) {
        for (let j = 0; j < s; j++) {
          const o = y + <usize>(((r * s + i) * Wo + xx * s + j) * C), ij = p + <usize>((i * s + j) * ijs);
          for (let c = 0; c < C; c++) store<i8>(o + <usize>c, load<i8>(ij + <usize>(c * cs)));
        }
      }
    }
  }
}
