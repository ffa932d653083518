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

/**
 * The epilogue of an int8 op fused after the conv, on the conv's int8 value v of channel co:
 * ep (0: none) points at i32 [lut, lutStride, pair, resOffs, res, resPix, resLut]: lut (0: none)
 * i8 tables of 256 indexed by v's low byte, channel co's at lut + co * lutStride (an activation);
 * then pair (0: none) an i8 [256][256] table indexed by (v's low byte, the residual's low byte),
 * the residual read at r + resOffs[co] (r: this pixel's residual, 0 without one) and, when resLut
 * is set, first through channel co's table of 256 at resLut + co * 256 (a pointwise conv of one
 * input channel that computed the residual): an ADD.
 */
@inline function epi(v: i32, co: i32, ep: usize, r: usize): i32 {
  const lut = <usize>load<i32>(ep);
  if (lut) v = <i32>load<i8>(lut + <usize>(co * load<i32>(ep, 4)) + <usize>(v & 255));
  const pair = <usize>load<i32>(ep, 8);
  if (pair) {
    let b = <usize>load<u8>(r + <usize>load<i32>(<usize>load<i32>(ep, 12) + (<usize>co << 2)));
    const resLut = <usize>load<i32>(ep, 24);
    if (resLut) b = <usize>load<u8>(resLut + (<usize>co << 8) + b);
    v = <i32>load<i8>(pair + (<usize>(v & 255) << 8) + b);
  }
  return v;
}

/** Requantize four channels' sums (bias added), apply the epilogue (ep, r) and store the valid ones at base + offs[co + k]. */
@inline function store4(s: v128, co: i32, Cout: i32, bias: usize, scale: usize, vzp: v128, vlo: v128, vhi: v128, base: usize, offs: usize, ep: usize, r: usize): void {
  const acc = i32x4.add(s, v128.load(bias + (<usize>co << 2)));
  const f = f32x4.nearest(f32x4.mul(f32x4.convert_i32x4_s(acc), v128.load(scale + (<usize>co << 2))));
  let q = i32x4.add(i32x4.trunc_sat_f32x4_s(f), vzp);
  q = i32x4.min_s(i32x4.max_s(q, vlo), vhi);
  const o = offs + (<usize>co << 2);
  if (ep) {
    store<i8>(base + <usize>load<i32>(o), <i8>epi(i32x4.extract_lane(q, 0), co, ep, r));
    if (co + 1 < Cout) store<i8>(base + <usize>load<i32>(o, 4), <i8>epi(i32x4.extract_lane(q, 1), co + 1, ep, r));
    if (co + 2 < Cout) store<i8>(base + <usize>load<i32>(o, 8), <i8>epi(i32x4.extract_lane(q, 2), co + 2, ep, r));
    if (co + 3 < Cout) store<i8>(base + <usize>load<i32>(o, 12), <i8>epi(i32x4.extract_lane(q, 3), co + 3, ep, r));
    return;
  }
  store<i8>(base + <usize>load<i32>(o), <i8>i32x4.extract_lane(q, 0));
  if (co + 1 < Cout) store<i8>(base + <usize>load<i32>(o, 4), <i8>i32x4.extract_lane(q, 1));
  if (co + 2 < Cout) store<i8>(base + <usize>load<i32>(o, 8), <i8>i32x4.extract_lane(q, 2));
  if (co + 3 < Cout) store<i8>(base + <usize>load<i32>(o, 12), <i8>i32x4.extract_lane(q, 3));
}

/** The residual of output pixel (oy, ox) for the epilogue: res + (oy * W + ox) * resPix, or 0. */
@inline function resAt(ep: usize, oy: i32, ox: i32, W: i32): usize {
  if (!ep) return 0;
  const res = <usize>load<i32>(ep, 16);
  return res ? res + <usize>((oy * W + ox) * load<i32>(ep, 20)) : 0;
}

/**
 * conv2d_s8's output pixels ox = 0, 2, ... of row oy, two at a time in a function of its own
 * (eight i32x4 accumulators: four pixels' sixteen did not fit V8's registers); returns the
 * first pixel left.
 */
function pairs_s8(
  xp: usize, oy: i32, W: i32, G: i32, K: i32, w: usize, Cout: i32, bias: usize, scale: usize,
  vzp: v128, vlo: v128, vhi: v128, y: usize, rowStride: i32, pixStride: i32, offs: usize,
  rowBytes: usize, groupBytes: usize, wBlock: usize, ep: usize,
): i32 {
  let ox = 0;
  for (; ox + 2 <= W; ox += 2) {
    for (let co = 0; co < Cout; co += 4) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
      let pw = w + <usize>(co >> 2) * wBlock;
      for (let ky = 0; ky < K; ky++) {
        const row = xp + <usize>(oy + ky) * rowBytes + (<usize>ox << 4);
        for (let g = 0; g < G; g++) {
          let px = row + <usize>g * groupBytes;
          for (let kx = 0; kx < K; kx++) {
            const xu = v128.load(px), xv = v128.load(px, 16);
            let v = v128.load(pw);
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(xu, v));
            b0 = i32x4.add(b0, i32x4.dot_i16x8_s(xv, v));
            v = v128.load(pw, 16);
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(xu, v));
            b1 = i32x4.add(b1, i32x4.dot_i16x8_s(xv, v));
            v = v128.load(pw, 32);
            a2 = i32x4.add(a2, i32x4.dot_i16x8_s(xu, v));
            b2 = i32x4.add(b2, i32x4.dot_i16x8_s(xv, v));
            v = v128.load(pw, 48);
            a3 = i32x4.add(a3, i32x4.dot_i16x8_s(xu, v));
            b3 = i32x4.add(b3, i32x4.dot_i16x8_s(xv, v));
            px += 16;
            pw += 64;
          }
        }
      }
      const out = y + <usize>oy * <usize>rowStride + <usize>ox * <usize>pixStride;
      store4(hsum4(a0, a1, a2, a3), co, Cout, bias, scale, vzp, vlo, vhi, out, offs, ep, resAt(ep, oy, ox, W));
      store4(hsum4(b0, b1, b2, b3), co, Cout, bias, scale, vzp, vlo, vhi, out + <usize>pixStride, offs, ep, resAt(ep, oy, ox + 1, W));
    }
  }
  return ox;
}

/**
 * y[oy,ox,co] = clamp(nearest(f32(bias[co] + sum xp[oy+ky,ox+kx,ci] w[co,ky,kx,ci]) * scale[co]) + zp, lo, 127)
 * xp: i16, padded (H+K-1 rows of Wp = W+K-1 pixels), channels in groups of 8 stored group-major
 * within a row: [row][g][Wp][8] (G = CinP/8 groups; zero filled past the real channels), so that
 * four neighbouring pixels of a group are 64 contiguous bytes;
 * w: i16 [CoP/4][K (ky)][G][K (kx)][4 (co)][8 (ci)] (CoP = Cout rounded up to 4, zero filled);
 * bias: i32 [CoP]; scale: f32 [CoP]. Output pixel (oy, ox) channel co goes to
 * y + oy * rowStride + ox * pixStride + offs[co] (offs: i32 [CoP]): y i8 [H][W][Cout] with
 * (W * Cout, Cout, co), or a depth_to_space of it written in place. Every load in the inner loop
 * is at a constant offset from one of two pointers. ep: the fused epilogue (see epi; 0: none).
 * Threads split the output rows.
 */
export function conv2d_s8(
  xp: usize, H: i32, W: i32, CinP: i32, K: i32,
  w: usize, Cout: i32, bias: usize, scale: usize, zp: i32, lo: i32,
  y: usize, rowStride: i32, pixStride: i32, offs: usize, ep: usize, tid: i32, nt: i32,
): void {
  const Wp = W + K - 1, G = CinP >> 3;
  const r0 = <i32>((<i64>H * <i64>tid) / <i64>nt), r1 = <i32>((<i64>H * <i64>(tid + 1)) / <i64>nt);
  const rowBytes = <usize>(G * Wp) << 4;   // one padded row
  const groupBytes = <usize>Wp << 4;       // one channel group of a row
  const wBlock = <usize>(K * K * G) << 6;  // the filters of four output channels
  const vzp = i32x4.splat(zp), vlo = i32x4.splat(lo), vhi = i32x4.splat(127);
  for (let oy = r0; oy < r1; oy++) {
    let ox = pairs_s8(xp, oy, W, G, K, w, Cout, bias, scale, vzp, vlo, vhi, y, rowStride, pixStride, offs, rowBytes, groupBytes, wBlock, ep);
    for (; ox < W; ox++) {
      for (let co = 0; co < Cout; co += 4) {
        let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
        let pw = w + <usize>(co >> 2) * wBlock;
        for (let ky = 0; ky < K; ky++) {
          const row = xp + <usize>(oy + ky) * rowBytes + (<usize>ox << 4);
          for (let g = 0; g < G; g++) {
            let px = row + <usize>g * groupBytes;
            for (let kx = 0; kx < K; kx++) {
              const xv = v128.load(px);
              a0 = i32x4.add(a0, i32x4.dot_i16x8_s(xv, v128.load(pw)));
              a1 = i32x4.add(a1, i32x4.dot_i16x8_s(xv, v128.load(pw, 16)));
              a2 = i32x4.add(a2, i32x4.dot_i16x8_s(xv, v128.load(pw, 32)));
              a3 = i32x4.add(a3, i32x4.dot_i16x8_s(xv, v128.load(pw, 48)));
              px += 16;
              pw += 64;
            }
          }
        }
        store4(hsum4(a0, a1, a2, a3), co, Cout, bias, scale, vzp, vlo, vhi, y + <usize>oy * <usize>rowStride + <usize>ox * <usize>pixStride, offs, ep, resAt(ep, oy, ox, W));
      }
    }
  }
}

/**
 * The int16 input of conv2d_s8: x (i8 [H][W][C]) minus its zero point, with `pad` zero pixels
 * around and channels zero-filled up to CinP, in conv2d_s8's group-major rows:
 * dst is i16 [(H+2pad)][CinP/8][(W+2pad)][8], every value written. Threads split the destination rows.
 */
export function pad_s8_i16(x: usize, H: i32, W: i32, C: i32, pad: i32, zp: i32, CinP: i32, dst: usize, tid: i32, nt: i32): void {
  const Hp = H + 2 * pad, Wp = W + 2 * pad, G = CinP >> 3;
  const r0 = <i32>((<i64>Hp * <i64>tid) / <i64>nt), r1 = <i32>((<i64>Hp * <i64>(tid + 1)) / <i64>nt);
  const groupBytes = <usize>Wp << 4;
  const vzp = i16x8.splat(<i16>zp);
  for (let yy = r0; yy < r1; yy++) {
    const row = dst + <usize>yy * <usize>G * groupBytes;
    const sy = yy - pad;
    if (sy < 0 || sy >= H) {
      memory.fill(row, 0, <usize>G * groupBytes);
      continue;
    }
    for (let g = 0; g < G; g++) {
      const grp = row + <usize>g * groupBytes, c0 = g << 3, n = min(8, C - c0);
      // the pad columns
      for (let xx = 0; xx < pad; xx++) {
        v128.store(grp + (<usize>xx << 4), i32x4.splat(0));
        v128.store(grp + (<usize>(W + pad + xx) << 4), i32x4.splat(0));
      }
      if (n == 8) {
        for (let xx = 0; xx < W; xx++) {
          const s = x + <usize>((sy * W + xx) * C + c0);
          v128.store(grp + (<usize>(xx + pad) << 4), i16x8.sub(i16x8.extend_low_i8x16_s(v128.load64_zero(s)), vzp));
        }
      } else {
        for (let xx = 0; xx < W; xx++) {
          const s = x + <usize>((sy * W + xx) * C + c0), d = grp + (<usize>(xx + pad) << 4);
          v128.store(d, i32x4.splat(0));
          for (let c = 0; c < n; c++) store<i16>(d + (<usize>c << 1), <i16>(<i32>load<i8>(s + <usize>c) - zp));
        }
      }
    }
  }
}

/**
 * y[i] (i8) = clamp(roundHalfAway(f32(x[i] / scale)) + zp, -128, 127) for i < n (x f32): TFLite's
 * QUANTIZE as mvsr's quantizeValue computes it (the division in f64, rounded once to f32). Threads split the range.
 */
export function f32_quant_s8(x: usize, n: i32, scale: f64, zp: i32, y: usize, tid: i32, nt: i32): void {
  const i0 = <i32>((<i64>n * <i64>tid) / <i64>nt), i1 = <i32>((<i64>n * <i64>(tid + 1)) / <i64>nt);
  for (let i = i0; i < i1; i++) {
    let v = <f64><f32>(<f64>load<f32>(x + (<usize>i << 2)) / scale);
    if (v != v) {
      store<i8>(y + <usize>i, 0); // NaN: what a typed array stores for it
      continue;
    }
    v = v < -1024 ? -1024 : v > 1024 ? 1024 : v; // beyond int8 either way; keeps the conversion exact
    const r = <i32>(v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5)) + zp;
    store<i8>(y + <usize>i, <i8>(r < -128 ? -128 : r > 127 ? 127 : r));
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

/**
 * One input of an int8 concat along channels: x (i8 [n][Ck]) into channels c0 .. c0+Ck-1 of y
 * (i8 [n][C]), each value through the 256-entry i8 table t indexed by its low byte (a
 * requantization into the concat's parameters; t = 0: copied as is). Threads split the pixels.
 */
export function s8_concat_into(x: usize, n: i32, Ck: i32, t: usize, y: usize, C: i32, c0: i32, tid: i32, nt: i32): void {
  const p0 = <i32>((<i64>n * <i64>tid) / <i64>nt), p1 = <i32>((<i64>n * <i64>(tid + 1)) / <i64>nt);
  for (let p = p0; p < p1; p++) {
    const s = x + <usize>(p * Ck), d = y + <usize>(p * C + c0);
    let c = 0;
    if (t) {
      for (; c < Ck; c++) store<i8>(d + <usize>c, load<i8>(t + <usize>load<u8>(s + <usize>c)));
      continue;
    }
    for (; c + 16 <= Ck; c += 16) v128.store(d + <usize>c, v128.load(s + <usize>c));
    for (; c + 8 <= Ck; c += 8) store<u64>(d + <usize>c, load<u64>(s + <usize>c));
    for (; c < Ck; c++) store<i8>(d + <usize>c, load<i8>(s + <usize>c));
  }
}
