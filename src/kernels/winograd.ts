// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016): every 2x2 block of output pixels (a tile)
// is A^T [(G g G^T) . (B^T d B)] A of its 4x4 input patch d, so the channel products become 16
// small matrix products of 16 multiply-adds per tile and channel pair instead of 36.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// A tile row is taken TILES tiles at a time: their transformed inputs V[16][TILES][CinP] and the
// products M[16][TILES][CoP] stay in per-thread scratch (the caller's; kernels never allocate).
// Outputs go through conv.ts's emit, so the activations and the fused residual + depth_to_space
// tail are the direct kernel's.
import { madd, shareStart, f4 } from './common';
import { emit } from './conv';

/** Tiles per chunk of a tile row (TypeScript sizes the scratch from it: WINOGRAD_TILES). */
const TILES: i32 = 8;

/** Floats of scratch one thread needs (TypeScript allocates threads times this). */
export function winograd_scratch(Cin: i32, CoP: i32): i32 {
  return 16 * TILES * (((Cin + 3) & ~3) + CoP);
}

/**
 * U[k][ci][co] = (G g G^T)[k] (k = 4 a + b) of the 3x3 filters g of a conv with Cout outputs and
 * Cin inputs, summed in f64; lanes co >= Cout are zero. mode 0: w is its OIHW weight
 * [Cout][Cin][3][3]. mode 1: the conv is the input gradient of the conv whose OIHW weight w is
 * [Cin][Cout][3][3] (filters transposed and turned by 180 degrees). One thread.
 */
export function winograd_weights(w: usize, Cout: i32, Cin: i32, U: usize, CoP: i32, mode: i32): void {
  memory.fill(U, 0, <usize>(16 * Cin * CoP) << 2);
  const ks = f4(Cin * CoP);
  for (let co = 0; co < Cout; co++) {
    for (let ci = 0; ci < Cin; ci++) {
      const g = w + f4((mode == 0 ? co * Cin + ci : ci * Cout + co) * 9);
      // tap (u, v) of the filter; mode 1 reads tap (2 - u, 2 - v)
      const f = mode == 0 ? 1 : -1, o = mode == 0 ? 0 : 8;
      const g0 = <f64>load<f32>(g + f4(o)), g1 = <f64>load<f32>(g + f4(o + f)), g2 = <f64>load<f32>(g + f4(o + 2 * f));
      const h0 = <f64>load<f32>(g + f4(o + 3 * f)), h1 = <f64>load<f32>(g + f4(o + 4 * f)), h2 = <f64>load<f32>(g + f4(o + 5 * f));
      const k0 = <f64>load<f32>(g + f4(o + 6 * f)), k1 = <f64>load<f32>(g + f4(o + 7 * f)), k2 = <f64>load<f32>(g + f4(o + 8 * f));
      // t = G g (4 x 3), then t G^T (4 x 4)
      for (let a = 0; a < 4; a++) {
        let t0: f64, t1: f64, t2: f64;
        if (a == 0) { t0 = g0; t1 = g1; t2 = g2; }
        else if (a == 1) { t0 = (g0 + h0 + k0) * 0.5; t1 = (g1 + h1 + k1) * 0.5; t2 = (g2 + h2 + k2) * 0.5; }
        else if (a == 2) { t0 = (g0 - h0 + k0) * 0.5; t1 = (g1 - h1 + k1) * 0.5; t2 = (g2 - h2 + k2) * 0.5; }
        else { t0 = k0; t1 = k1; t2 = k2; }
        const base = U + f4(((4 * a) * Cin + ci) * CoP + co);
        store<f32>(base, <f32>t0);
        store<f32>(base + ks, <f32>((t0 + t1 + t2) * 0.5));
        store<f32>(base + 2 * ks, <f32>((t0 - t1 + t2) * 0.5));
        store<f32>(base + 3 * ks, <f32>t2);
      }
    }
  }
}

/** V[k][t][ci] = (B^T d B)[k] of tiles t < tc (tiles tc..tcr-1 zeroed), four channels at a time. */
function tilesIn(xp: usize, Wp: i32, Cin: i32, CinP: i32, row0: i32, tx0: i32, tc: i32, tcr: i32, V: usize): void {
  const ks = f4(TILES * CinP), rs = f4(Wp * Cin), ps = f4(Cin);
  for (let t = 0; t < tc; t++) {
    const px = xp + f4((row0 * Wp + 2 * (tx0 + t)) * Cin);
    for (let ci = 0; ci < Cin; ci += 4) {
      const p = px + f4(ci);
      const d0 = v128.load(p), d1 = v128.load(p + ps), d2 = v128.load(p + 2 * ps), d3 = v128.load(p + 3 * ps);
      const e0 = v128.load(p + rs), e1 = v128.load(p + rs + ps), e2 = v128.load(p + rs + 2 * ps), e3 = v128.load(p + rs + 3 * ps);
      const g0 = v128.load(p + 2 * rs), g1 = v128.load(p + 2 * rs + ps), g2 = v128.load(p + 2 * rs + 2 * ps), g3 = v128.load(p + 2 * rs + 3 * ps);
      const h0 = v128.load(p + 3 * rs), h1 = v128.load(p + 3 * rs + ps), h2 = v128.load(p + 3 * rs + 2 * ps), h3 = v128.load(p + 3 * rs + 3 * ps);
      // rows of B^T d, then each times B
      const a0 = f32x4.sub(d0, g0), a1 = f32x4.sub(d1, g1), a2 = f32x4.sub(d2, g2), a3 = f32x4.sub(d3, g3);
      const b0 = f32x4.add(e0, g0), b1 = f32x4.add(e1, g1), b2 = f32x4.add(e2, g2), b3 = f32x4.add(e3, g3);
      const c0 = f32x4.sub(g0, e0), c1 = f32x4.sub(g1, e1), c2 = f32x4.sub(g2, e2), c3 = f32x4.sub(g3, e3);
      const q0 = f32x4.sub(e0, h0), q1 = f32x4.sub(e1, h1), q2 = f32x4.sub(e2, h2), q3 = f32x4.sub(e3, h3);
      const o = V + f4(t * CinP + ci);
      v128.store(o, f32x4.sub(a0, a2)); v128.store(o + ks, f32x4.add(a1, a2));
      v128.store(o + 2 * ks, f32x4.sub(a2, a1)); v128.store(o + 3 * ks, f32x4.sub(a1, a3));
      v128.store(o + 4 * ks, f32x4.sub(b0, b2)); v128.store(o + 5 * ks, f32x4.add(b1, b2));
      v128.store(o + 6 * ks, f32x4.sub(b2, b1)); v128.store(o + 7 * ks, f32x4.sub(b1, b3));
      v128.store(o + 8 * ks, f32x4.sub(c0, c2)); v128.store(o + 9 * ks, f32x4.add(c1, c2));
      v128.store(o + 10 * ks, f32x4.sub(c2, c1)); v128.store(o + 11 * ks, f32x4.sub(c1, c3));
      v128.store(o + 12 * ks, f32x4.sub(q0, q2)); v128.store(o + 13 * ks, f32x4.add(q1, q2));
      v128.store(o + 14 * ks, f32x4.sub(q2, q1)); v128.store(o + 15 * ks, f32x4.sub(q1, q3));
    }
  }
  for (let t = tc; t < tcr; t++) {
    for (let k = 0; k < 16; k++) memory.fill(V + <usize>k * ks + f4(t * CinP), 0, f4(CinP));
  }
}

// The products, four tiles by eight (or four) output channels, in functions of their own: eight
// accumulators is what V8 keeps in registers (see conv.ts's quads8).
/** M[t..t+3][cb..cb+7] = sum_ci V[t..t+3][ci] U[ci][cb..cb+7] for one k. */
function product8(Vk: usize, Uk: usize, Cin: i32, CinP: i32, CoP: i32, Mk: usize): void {
  const ts = f4(CinP), wrow = f4(CoP);
  let a00 = f32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  let pc = Vk, wp = Uk;
  for (let ci = 0; ci < Cin; ci++) {
    const w0 = v128.load(wp), w1 = v128.load(wp, 16);
    let i = v128.load32_splat(pc);
    a00 = madd(i, w0, a00); a01 = madd(i, w1, a01);
    i = v128.load32_splat(pc + ts);
    a10 = madd(i, w0, a10); a11 = madd(i, w1, a11);
    i = v128.load32_splat(pc + 2 * ts);
    a20 = madd(i, w0, a20); a21 = madd(i, w1, a21);
    i = v128.load32_splat(pc + 3 * ts);
    a30 = madd(i, w0, a30); a31 = madd(i, w1, a31);
    wp += wrow; pc += 4;
  }
  const ms = f4(CoP);
  v128.store(Mk, a00); v128.store(Mk, a01, 16);
  v128.store(Mk + ms, a10); v128.store(Mk + ms, a11, 16);
  v128.store(Mk + 2 * ms, a20); v128.store(Mk + 2 * ms, a21, 16);
  v128.store(Mk + 3 * ms, a30); v128.store(Mk + 3 * ms, a31, 16);
}

/** product8 for the last four channels (CoP not a multiple of 8). */
function product4(Vk: usize, Uk: usize, Cin: i32, CinP: i32, CoP: i32, Mk: usize): void {
  const ts = f4(CinP), wrow = f4(CoP);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let pc = Vk, wp = Uk;
  for (let ci = 0; ci < Cin; ci++) {
    const w0 = v128.load(wp);
    a0 = madd(v128.load32_splat(pc), w0, a0);
    a1 = madd(v128.load32_splat(pc + ts), w0, a1);
    a2 = madd(v128.load32_splat(pc + 2 * ts), w0, a2);
    a3 = madd(v128.load32_splat(pc + 3 * ts), w0, a3);
    wp += wrow; pc += 4;
  }
  const ms = f4(CoP);
  v128.store(Mk, a0); v128.store(Mk + ms, a1); v128.store(Mk + 2 * ms, a2); v128.store(Mk + 3 * ms, a3);
}

/** A^T M A + bias of tiles t < tc, each of its (up to) 4 pixels emitted. */
function tilesOut(
  M: usize, tc: i32, CoP: i32, Cout: i32, bias: usize, n: i32, oy: i32, ox0: i32, H: i32, W: i32,
  y: usize, ys: i32, act: i32, p0: f32, p1: f32, alpha: usize, epi: usize,
): void {
  const ks = f4(TILES * CoP);
  const down = oy + 1 < H;
  for (let t = 0; t < tc; t++) {
    const ox = ox0 + 2 * t;
    const right = ox + 1 < W;
    for (let cb = 0; cb < CoP; cb += 4) {
      const p = M + f4(t * CoP + cb);
      const bv = bias != 0 ? v128.load(bias + f4(cb)) : f32x4.splat(0);
      const nv = min(4, Cout - cb);
      // rows of A^T M: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 (each a row of 4)
      const r0 = v128.load(p), r1 = v128.load(p + ks), r2 = v128.load(p + 2 * ks), r3 = v128.load(p + 3 * ks);
      const u0 = v128.load(p + 4 * ks), u1 = v128.load(p + 5 * ks), u2 = v128.load(p + 6 * ks), u3 = v128.load(p + 7 * ks);
      const v0 = v128.load(p + 8 * ks), v1 = v128.load(p + 9 * ks), v2 = v128.load(p + 10 * ks), v3 = v128.load(p + 11 * ks);
      const w0 = v128.load(p + 12 * ks), w1 = v128.load(p + 13 * ks), w2 = v128.load(p + 14 * ks), w3 = v128.load(p + 15 * ks);
      const s00 = f32x4.add(f32x4.add(r0, u0), v0), s01 = f32x4.add(f32x4.add(r1, u1), v1);
      const s02 = f32x4.add(f32x4.add(r2, u2), v2), s03 = f32x4.add(f32x4.add(r3, u3), v3);
      const s10 = f32x4.sub(f32x4.sub(u0, v0), w0), s11 = f32x4.sub(f32x4.sub(u1, v1), w1);
      const s12 = f32x4.sub(f32x4.sub(u2, v2), w2), s13 = f32x4.sub(f32x4.sub(u3, v3), w3);
      // times A: columns y0 = s0 + s1 + s2, y1 = s1 - s2 - s3
      emit(f32x4.add(bv, f32x4.add(f32x4.add(s00, s01), s02)), nv, n, oy, ox, cb, H, W, y, ys, act, p0, p1, alpha, epi);
      if (right) emit(f32x4.add(bv, f32x4.sub(f32x4.sub(s01, s02), s03)), nv, n, oy, ox + 1, cb, H, W, y, ys, act, p0, p1, alpha, epi);
      if (down) {
        emit(f32x4.add(bv, f32x4.add(f32x4.add(s10, s11), s12)), nv, n, oy + 1, ox, cb, H, W, y, ys, act, p0, p1, alpha, epi);
        if (right) emit(f32x4.add(bv, f32x4.sub(f32x4.sub(s11, s12), s13)), nv, n, oy + 1, ox + 1, cb, H, W, y, ys, act, p0, p1, alpha, epi);
      }
    }
  }
}

/**
 * y = act(conv3x3(x) + bias) for an H x W output, x padded to (H + 2 + H%2) x (W + 2 + W%2)
 * pixels of Cin channels (odd sizes get one more zero row / column, so every tile has its patch).
 * U from winograd_weights; outputs at pixel stride ys, or through the fused epilogue epi (conv.ts).
 * Threads split the N * ceil(H/2) tile rows; scratch holds winograd_scratch floats per thread.
 */
export function conv3x3_winograd(
  xp: usize, N: i32, H: i32, W: i32, Cin: i32, U: usize, CoP: i32, Cout: i32, bias: usize,
  y: usize, ys: i32, act: i32, p0: f32, p1: f32, alpha: usize, epi: usize, scratch: usize,
  tid: i32, nt: i32,
): void {
  const Hp = H + 2 + (H & 1), Wp = W + 2 + (W & 1);
  const TH = (H + 1) >> 1, TW = (W + 1) >> 1;
  const CinP = (Cin + 3) & ~3;
  const V = scratch + f4(tid * winograd_scratch(Cin, CoP)), M = V + f4(16 * TILES * CinP);
  const rows = N * TH;
  const r0 = shareStart(rows, tid, nt), r1 = shareStart(rows, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const n = r / TH, ty = r % TH;
    const img = xp + f4(n * Hp * Wp * Cin);
    for (let tx0 = 0; tx0 < TW; tx0 += TILES) {
      const tc = min(TILES, TW - tx0), tcr = (tc + 3) & ~3;
      tilesIn(img, Wp, Cin, CinP, 2 * ty, tx0, tc, tcr, V);
      for (let k = 0; k < 16; k++) {
        const Vk = V + f4(k * TILES * CinP), Uk = U + f4(k * Cin * CoP), Mk = M + f4(k * TILES * CoP);
        let cb = 0;
        for (; cb + 8 <= CoP; cb += 8) {
          for (let t = 0; t < tcr; t += 4) product8(Vk + f4(t * CinP), Uk + f4(cb), Cin, CinP, CoP, Mk + f4(t * CoP + cb));
        }
        if (cb < CoP) {
          for (let t = 0; t < tcr; t += 4) product4(Vk + f4(t * CinP), Uk + f4(cb), Cin, CinP, CoP, Mk + f4(t * CoP + cb));
        }
      }
      tilesOut(M, tc, CoP, Cout, bias, n, 2 * ty, 2 * tx0, H, W, y, ys, act, p0, p1, alpha, epi);
    }
  }
}
