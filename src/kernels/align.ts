// Global motion compensation: the translation between two frames (one per batch item) and a
// bilinear translation with clamped edges, its transpose for the backward pass.
//
// Shift estimation runs in three launches over caller-provided scratch (kernels never allocate):
//   align_grey    channel means of both frames (threads split the pixels),
//   align_search  the integer search costs, one per (item, candidate), and the earlier frame's
//                 means with their central-difference gradients for the refinement (threads
//                 split candidates and rows),
//   align_refine  the integer minimum and its Gauss-Newton sub-pixel refinement (threads split
//                 the batch items).
// Every sum is accumulated in f64 in the order of the JavaScript reference (test/ref/align.ts),
// each by one thread (f64x2 lanes hold independent sums, each exactly as the scalar loop; no
// fused multiply-add), so the result equals the reference bit for bit on any thread count.
//
// Shift buffers hold (dx, dy) per batch item, f32 or f64 (flag `f64s`): content at (x, y) of the
// earlier frame is at (x + dx, y + dy) in the later one; translating moves content by (dx, dy).
import { shareStart, f4, storeLanes, loadLanes } from './common';

@inline function f8(i: i32): usize {
  return <usize>i << 3;
}

/** Component k (0: dx, 1: dy) of item n's shift, times f. */
@inline function shiftAt(shift: usize, f64s: i32, n: i32, k: i32, f: f64): f64 {
  const d: f64 = f64s ? load<f64>(shift + f8(2 * n + k)) : <f64>load<f32>(shift + f4(2 * n + k));
  return d * f;
}

/**
 * Channel means of both frames: ga[p] = f32(sum_c prev[p*C + c] / C), gb[p] likewise from cur,
 * for p < P (= N*H*W pixels; the sum in f64, channel order). Threads split the pixels.
 */
export function align_grey(prev: usize, cur: usize, P: i32, C: i32, ga: usize, gb: usize, tid: i32, nt: i32): void {
  const p0 = shareStart(P, tid, nt), p1 = shareStart(P, tid + 1, nt);
  const dc = <f64>C;
  for (let p = p0; p < p1; p++) {
    let s: f64 = 0, t: f64 = 0;
    const qa = prev + f4(p * C), qb = cur + f4(p * C);
    for (let c = 0; c < C; c++) {
      s += <f64>load<f32>(qa + f4(c));
      t += <f64>load<f32>(qb + f4(c));
    }
    store<f32>(ga + f4(p), <f32>(s / dc));
    store<f32>(gb + f4(p), <f32>(t / dc));
  }
}

/** Sum of (b - a[x - u])^2 over the search grid for one candidate (u, v) (scalar, in order); writes it / count. */
@inline function searchOne(a: usize, b: usize, H: i32, W: i32, R: i32, step: i32, u: i32, v: i32, out: usize): void {
  let s: f64 = 0;
  let k = 0;
  for (let y = R; y < H - R; y += step) {
    const pb = b + f4(y * W), pa = a + f4((y - v) * W - u);
    for (let x = R; x < W - R; x += step) {
      const e = <f64>load<f32>(pb + f4(x)) - <f64>load<f32>(pa + f4(x));
      s += e * e;
      k++;
    }
  }
  store<f64>(out, s / <f64>max(1, k));
}

/** Candidates per pass of align_search: four f64x2 pairs of neighbouring u and one more. */
const WIN: i32 = 9;

/**
 * Integer search costs and the samples for the refinement, on the channel means ga (earlier
 * frame) and gb (later frame) of N items of H x W, search radius R (already reduced to the frame).
 * cost[n*K + j] (f64, K = (2R+1)^2, j = (v + R)*(2R+1) + (u + R)) = mean over y, x in
 * [R, H-R) x [R, W-R) (every second row and column when H*W > 64*64) of
 * (gb[y, x] - ga[y - v, x - u])^2, each summed in f64 in row-major order (neighbouring
 * candidates in the two lanes of an f64x2, which sums each lane exactly as the scalar loop).
 * q [N, H, W, 4] (f64) = (ga, d/dx, d/dy, 0) per pixel, the derivatives the central differences
 * (ga[x+1] - ga[x-1]) / 2 rounded to f32, zero on the one-pixel border.
 * Threads split the (item, v, window of 9 u) units and the N*H rows of q.
 */
export function align_search(
  ga: usize, gb: usize, N: i32, H: i32, W: i32, R: i32, cost: usize, q: usize,
  tid: i32, nt: i32,
): void {
  const S = 2 * R + 1, K = S * S, HW = H * W;
  const step = HW > 64 * 64 ? 2 : 1;
  const nWin = (S + WIN - 1) / WIN;
  const units = N * S * nWin;
  const j0 = shareStart(units, tid, nt), j1 = shareStart(units, tid + 1, nt);
  for (let j = j0; j < j1; j++) {
    const n = j / (S * nWin), rem = j % (S * nWin);
    const v = rem / nWin - R, u0 = -R + WIN * (rem % nWin);
    const a = ga + f4(n * HW), b = gb + f4(n * HW), c = cost + f8(n * K + (v + R) * S + R);
    if (u0 + 1 > R) {
      // a lone candidate
      searchOne(a, b, H, W, R, step, u0, v, c + f8(u0));
      continue;
    }
    // pairs (p, p + 1), clamped to (R - 1, R) past the end (they then repeat a candidate of this window)
    const p0 = min(u0, R - 1), p1 = min(u0 + 2, R - 1), p2 = min(u0 + 4, R - 1), p3 = min(u0 + 6, R - 1), us = min(u0 + 8, R);
    let c0 = f64x2.splat(0), c1 = c0, c2 = c0, c3 = c0;
    let s: f64 = 0;
    let k = 0;
    for (let y = R; y < H - R; y += step) {
      const pb = b + f4(y * W), pa = a + f4((y - v) * W);
      // lanes (a[x - p - 1], a[x - p]): candidates p + 1 and p
      const q0 = pa - f4(p0 + 1), q1 = pa - f4(p1 + 1), q2 = pa - f4(p2 + 1), q3 = pa - f4(p3 + 1), qs = pa - f4(us);
      for (let x = R; x < W - R; x += step) {
        const o = f4(x);
        const bs = <f64>load<f32>(pb + o), bv = f64x2.splat(bs);
        const e0 = f64x2.sub(bv, f64x2.promote_low_f32x4(v128.load64_zero(q0 + o)));
        const e1 = f64x2.sub(bv, f64x2.promote_low_f32x4(v128.load64_zero(q1 + o)));
        const e2 = f64x2.sub(bv, f64x2.promote_low_f32x4(v128.load64_zero(q2 + o)));
        const e3 = f64x2.sub(bv, f64x2.promote_low_f32x4(v128.load64_zero(q3 + o)));
        const es = bs - <f64>load<f32>(qs + o);
        c0 = f64x2.add(c0, f64x2.mul(e0, e0));
        c1 = f64x2.add(c1, f64x2.mul(e1, e1));
        c2 = f64x2.add(c2, f64x2.mul(e2, e2));
        c3 = f64x2.add(c3, f64x2.mul(e3, e3));
        s += es * es;
        k++;
      }
    }
    const kk = <f64>max(1, k);
    store<f64>(c + f8(p0), f64x2.extract_lane(c0, 1) / kk);
    store<f64>(c + f8(p0 + 1), f64x2.extract_lane(c0, 0) / kk);
    store<f64>(c + f8(p1), f64x2.extract_lane(c1, 1) / kk);
    store<f64>(c + f8(p1 + 1), f64x2.extract_lane(c1, 0) / kk);
    store<f64>(c + f8(p2), f64x2.extract_lane(c2, 1) / kk);
    store<f64>(c + f8(p2 + 1), f64x2.extract_lane(c2, 0) / kk);
    store<f64>(c + f8(p3), f64x2.extract_lane(c3, 1) / kk);
    store<f64>(c + f8(p3 + 1), f64x2.extract_lane(c3, 0) / kk);
    store<f64>(c + f8(us), s / kk);
  }
  // refinement samples
  const r0 = shareStart(N * H, tid, nt), r1 = shareStart(N * H, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const y = r % H;
    const pa = ga + f4(r * W), pq = q + (<usize>(r * W) << 5);
    const inner = y > 0 && y < H - 1;
    for (let x = 0; x < W; x++) {
      const p = pa + f4(x);
      let gx: f32 = 0, gy: f32 = 0;
      if (inner && x > 0 && x < W - 1) {
        gx = <f32>((<f64>load<f32>(p, 4) - <f64>load<f32>(p - 4)) / 2);
        gy = <f32>((<f64>load<f32>(p + f4(W)) - <f64>load<f32>(p - f4(W))) / 2);
      }
      const o = pq + (<usize>x << 5);
      store<f64>(o, <f64>load<f32>(p));
      store<f64>(o, <f64>gx, 8);
      store<f64>(o, <f64>gy, 16);
      store<f64>(o, 0, 24);
    }
  }
}

/**
 * The estimate per item, after align_search: the integer (u, v) of least cost (ties to the
 * smaller |u| + |v|, then to the first in (v, u) order), then up to 8 Gauss-Newton steps on
 * sum over [R+2, H-R-2) x [R+2, W-R-2) of (gb(x) - ga(x - d))^2, with ga and its gradient
 * (the samples q) resampled bilinearly, d kept within 1 px of (u, v); a step that does not lower
 * the cost ends the refinement (the best iterate is kept), as does an ill-conditioned system or a
 * step below 1e-3 (that last step is taken unevaluated). The six sums are accumulated pixel by
 * pixel in f64, two per f64x2 (lane by lane exactly as the scalar reference). out[2n], out[2n+1]
 * = (dx, dy) as f64 (f64s = 1) or f32. Threads split the N items.
 */
export function align_refine(
  gb: usize, q: usize, cost: usize, N: i32, H: i32, W: i32, R: i32,
  out: usize, f64s: i32, tid: i32, nt: i32,
): void {
  const S = 2 * R + 1, K = S * S, HW = H * W;
  const n0 = shareStart(N, tid, nt), n1 = shareStart(N, tid + 1, nt);
  const rowQ = <usize>W << 5;
  for (let n = n0; n < n1; n++) {
    // integer minimum, candidates in the search order
    let best: f64 = Infinity, bu = 0, bv = 0;
    let found = false;
    for (let j = 0; j < K; j++) {
      const c = load<f64>(cost + f8(n * K + j));
      const v = j / S - R, u = j % S - R;
      if (c < best || (c == best && abs(u) + abs(v) < abs(bu) + abs(bv))) {
        best = c; bu = u; bv = v; found = true;
      }
    }
    // the reference's loop counters start at -R: with R = 0 its one candidate is (-0, -0)
    const u0: f64 = found && R == 0 ? -0.0 : <f64>bu, v0: f64 = found && R == 0 ? -0.0 : <f64>bv;
    const b = gb + f4(n * HW), qn = q + (<usize>(n * HW) << 5);
    let dx = u0, dy = v0;
    let keptCost: f64 = Infinity, kdx = dx, kdy = dy;
    const m = R + 2;
    for (let it = 0; it < 8; it++) {
      const ffx = floor(-dx), ffy = floor(-dy);
      const wx = -dx - ffx, wy = -dy - ffy;
      const w00 = f64x2.splat((1 - wy) * (1 - wx)), w01 = f64x2.splat((1 - wy) * wx);
      const w10 = f64x2.splat(wy * (1 - wx)), w11 = f64x2.splat(wy * wx);
      const off = <i32>ffy * W + <i32>ffx;
      // (hxx, hxy), (hyy, ss), (gx, gy)
      let h1 = f64x2.splat(0), h2 = h1, g2 = h1;
      for (let y = m; y < H - m; y++) {
        let pq = qn + (<usize>(y * W + m + off) << 5);
        let pb = b + f4(y * W + m);
        for (let x = m; x < W - m; x++) {
          // (a, ax) and (ay, 0) at the four taps
          const wi = f64x2.add(f64x2.add(f64x2.add(
            f64x2.mul(w00, v128.load(pq)), f64x2.mul(w01, v128.load(pq, 32))),
            f64x2.mul(w10, v128.load(pq + rowQ))), f64x2.mul(w11, v128.load(pq + rowQ, 32)));
          const iy = f64x2.add(f64x2.add(f64x2.add(
            f64x2.mul(w00, v128.load(pq, 16)), f64x2.mul(w01, v128.load(pq, 48))),
            f64x2.mul(w10, v128.load(pq + rowQ, 16))), f64x2.mul(w11, v128.load(pq + rowQ, 48)));
          // lane 0: r = b - w
          const rv = f64x2.sub(f64x2.splat(<f64>load<f32>(pb)), wi);
          const ixiy = f64x2.shuffle(wi, iy, 1, 2);
          h1 = f64x2.add(h1, f64x2.mul(f64x2.shuffle(wi, wi, 1, 1), ixiy));
          const iyr = f64x2.shuffle(iy, rv, 0, 2);
          h2 = f64x2.add(h2, f64x2.mul(iyr, iyr));
          g2 = f64x2.add(g2, f64x2.mul(ixiy, f64x2.shuffle(rv, rv, 0, 0)));
          pq += 32;
          pb += 4;
        }
      }
      const hxx = f64x2.extract_lane(h1, 0), hxy = f64x2.extract_lane(h1, 1);
      const hyy = f64x2.extract_lane(h2, 0), ss = f64x2.extract_lane(h2, 1);
      const gx = f64x2.extract_lane(g2, 0), gy = f64x2.extract_lane(g2, 1);
      if (ss < keptCost) {
        keptCost = ss; kdx = dx; kdy = dy;
      } else break;
      const det = hxx * hyy - hxy * hxy;
      if (!(ss > 0 && det > 1e-4 * (hxx + hyy) * (hxx + hyy))) break;
      const ddx = -(hyy * gx - hxy * gy) / det, ddy = -(hxx * gy - hxy * gx) / det;
      dx = max(u0 - 1, min(u0 + 1, dx + ddx));
      dy = max(v0 - 1, min(v0 + 1, dy + ddy));
      if (abs(ddx) + abs(ddy) < 1e-3) {
        kdx = dx; kdy = dy;
        break;
      }
    }
    if (f64s) {
      store<f64>(out + f8(2 * n), kdx);
      store<f64>(out + f8(2 * n + 1), kdy);
    } else {
      store<f32>(out + f4(2 * n), <f32>kdx);
      store<f32>(out + f4(2 * n + 1), <f32>kdy);
    }
  }
}

/** floor(-d) as an integer offset, limited to [-n-1, n] (beyond that every tap clamps alike); NaN -> 0. */
@inline function tapOffset(fl: f64, n: i32): i32 {
  if (!(fl == fl)) return 0;
  return <i32>max(<f64>(-n - 1), min(<f64>n, fl));
}

@inline function clampI(i: i32, n: i32): i32 {
  return min(n - 1, max(0, i));
}

/**
 * y = x moved by (dx*f, dy*f) per item (bilinear, edges clamped): y(x, y) = x(x - dx, y - dy).
 * x, y [N, H, W, C]; shift holds (dx, dy) per item (f32, or f64 when f64s = 1). With
 * fx = floor(-dx), wx = -dx - fx, output column x reads columns clamp(x + fx) (weight 1 - wx) and
 * clamp(x + fx + 1) (weight wx); rows likewise; y = w00 a + w01 b + w10 c + w11 d in f32 with the
 * products of the 1-D weights (formed in f64). Threads split the N*H output rows.
 */
export function align_translate(
  x: usize, N: i32, H: i32, W: i32, C: i32, shift: usize, f64s: i32, f: f64, y: usize,
  tid: i32, nt: i32,
): void {
  const L = W * C;
  const r0 = shareStart(N * H, tid, nt), r1 = shareStart(N * H, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const n = r / H, j = r % H;
    const dx = shiftAt(shift, f64s, n, 0, f), dy = shiftAt(shift, f64s, n, 1, f);
    const flx = floor(-dx), fly = floor(-dy);
    const wx1 = -dx - flx, wy1 = -dy - fly, wx0 = 1 - wx1, wy0 = 1 - wy1;
    const fx = tapOffset(flx, W), fy = tapOffset(fly, H);
    const s00 = <f32>(wy0 * wx0), s01 = <f32>(wy0 * wx1), s10 = <f32>(wy1 * wx0), s11 = <f32>(wy1 * wx1);
    const v00 = f32x4.splat(s00), v01 = f32x4.splat(s01), v10 = f32x4.splat(s10), v11 = f32x4.splat(s11);
    const ra = x + f4((n * H + clampI(j + fy, H)) * L), rb = x + f4((n * H + clampI(j + fy + 1, H)) * L);
    const ro = y + f4(r * L);
    // columns whose two taps are both inside the row: one contiguous run of floats
    const lo = min(W, max(0, -fx)), hi = max(lo, min(W, W - 1 - fx));
    const k1 = hi * C, sh = fx * C;
    let k = lo * C;
    for (; k + 4 <= k1; k += 4) {
      const pa = ra + f4(k + sh), pb = rb + f4(k + sh);
      let acc = f32x4.mul(v00, v128.load(pa));
      acc = f32x4.add(acc, f32x4.mul(v01, v128.load(pa + f4(C))));
      acc = f32x4.add(acc, f32x4.mul(v10, v128.load(pb)));
      acc = f32x4.add(acc, f32x4.mul(v11, v128.load(pb + f4(C))));
      v128.store(ro + f4(k), acc);
    }
    if (k < k1) {
      const nl = k1 - k, pa = ra + f4(k + sh), pb = rb + f4(k + sh);
      let acc = f32x4.mul(v00, loadLanes(pa, nl));
      acc = f32x4.add(acc, f32x4.mul(v01, loadLanes(pa + f4(C), nl)));
      acc = f32x4.add(acc, f32x4.mul(v10, loadLanes(pb, nl)));
      acc = f32x4.add(acc, f32x4.mul(v11, loadLanes(pb + f4(C), nl)));
      storeLanes(ro + f4(k), acc, nl);
    }
    // clamped columns, pixel by pixel, 4 channels at a time
    for (let c0 = 0; c0 < W; c0++) {
      if (c0 == lo && hi > lo) c0 = hi;
      if (c0 >= W) break;
      const i0 = f4(clampI(c0 + fx, W) * C), i1 = f4(clampI(c0 + fx + 1, W) * C), o = ro + f4(c0 * C);
      for (let c = 0; c < C; c += 4) {
        const nl = min(4, C - c), cc = f4(c);
        let acc = f32x4.mul(v00, loadLanes(ra + i0 + cc, nl));
        acc = f32x4.add(acc, f32x4.mul(v01, loadLanes(ra + i1 + cc, nl)));
        acc = f32x4.add(acc, f32x4.mul(v10, loadLanes(rb + i0 + cc, nl)));
        acc = f32x4.add(acc, f32x4.mul(v11, loadLanes(rb + i1 + cc, nl)));
        storeLanes(o + cc, acc, nl);
      }
    }
  }
}

/** First source index i in [0, n) with clamp(i + o) == t, for a target t in [0, n). */
@inline function firstTo(t: i32, o: i32): i32 {
  return max(0, t == 0 ? 0 : t - o);
}

/** One past the last source index i in [0, n) with clamp(i + o) == t (<= first: none). */
@inline function endTo(t: i32, o: i32, n: i32): i32 {
  return min(n, t == n - 1 ? n : t - o + 1);
}

/**
 * The transposed translation (the gradient of align_translate): dst = M^T g, or dst += M^T g when
 * acc = 1, for M the map align_translate applies with the same shift and factor. A gather: every
 * dst element is summed by one thread from the g elements that read it (rows in increasing order,
 * first the (1 - wy) taps, then the wy ones), so results do not depend on the thread count.
 * g, dst [N, H, W, C]. Threads split the N*H destination rows.
 */
export function align_translate_t(
  g: usize, N: i32, H: i32, W: i32, C: i32, shift: usize, f64s: i32, f: f64, dst: usize, acc: i32,
  tid: i32, nt: i32,
): void {
  const L = W * C;
  const r0 = shareStart(N * H, tid, nt), r1 = shareStart(N * H, tid + 1, nt);
  for (let r = r0; r < r1; r++) {
    const n = r / H, j = r % H;
    const dx = shiftAt(shift, f64s, n, 0, f), dy = shiftAt(shift, f64s, n, 1, f);
    const flx = floor(-dx), fly = floor(-dy);
    const wx1 = -dx - flx, wy1 = -dy - fly, wx0 = 1 - wx1, wy0 = 1 - wy1;
    const fx = tapOffset(flx, W), fy = tapOffset(fly, H);
    const s00 = <f32>(wy0 * wx0), s01 = <f32>(wy0 * wx1), s10 = <f32>(wy1 * wx0), s11 = <f32>(wy1 * wx1);
    const v00 = f32x4.splat(s00), v01 = f32x4.splat(s01), v10 = f32x4.splat(s10), v11 = f32x4.splat(s11);
    // g rows that read this row through their (1 - wy) tap (offset fy) and their wy tap (fy + 1)
    const a0 = firstTo(j, fy), a1 = endTo(j, fy, H), b0 = firstTo(j, fy + 1), b1 = endTo(j, fy + 1, H);
    const gn = g + f4(n * H * L);
    const ro = dst + f4(r * L);
    // interior columns i: read by column i - fx (1 - wx) and i - fx - 1 (wx) only, both inside
    const lo = min(W, max(1, fx + 1)), hi = max(lo, min(W - 1, W + fx));
    const k1 = hi * C, sh = fx * C;
    let k = lo * C;
    if (a1 - a0 == 1 && b1 - b0 == 1) {
      // one g row through each tap (every row but the clamped ones)
      const pa = gn + f4(a0 * L - sh), pb = gn + f4(b0 * L - sh);
      for (; k + 4 <= k1; k += 4) {
        const qa = pa + f4(k), qb = pb + f4(k);
        let s = f32x4.add(f32x4.mul(v00, v128.load(qa)), f32x4.mul(v01, v128.load(qa - f4(C))));
        s = f32x4.add(s, f32x4.add(f32x4.mul(v10, v128.load(qb)), f32x4.mul(v11, v128.load(qb - f4(C)))));
        if (acc) s = f32x4.add(v128.load(ro + f4(k)), s);
        v128.store(ro + f4(k), s);
      }
    }
    for (; k + 4 <= k1; k += 4) {
      let s = f32x4.splat(0);
      for (let q = a0; q < a1; q++) {
        const p = gn + f4(q * L + k - sh);
        s = f32x4.add(s, f32x4.add(f32x4.mul(v00, v128.load(p)), f32x4.mul(v01, v128.load(p - f4(C)))));
      }
      for (let q = b0; q < b1; q++) {
        const p = gn + f4(q * L + k - sh);
        s = f32x4.add(s, f32x4.add(f32x4.mul(v10, v128.load(p)), f32x4.mul(v11, v128.load(p - f4(C)))));
      }
      if (acc) s = f32x4.add(v128.load(ro + f4(k)), s);
      v128.store(ro + f4(k), s);
    }
    if (k < k1) {
      const nl = k1 - k;
      let s = f32x4.splat(0);
      for (let q = a0; q < a1; q++) {
        const p = gn + f4(q * L + k - sh);
        s = f32x4.add(s, f32x4.add(f32x4.mul(v00, loadLanes(p, nl)), f32x4.mul(v01, loadLanes(p - f4(C), nl))));
      }
      for (let q = b0; q < b1; q++) {
        const p = gn + f4(q * L + k - sh);
        s = f32x4.add(s, f32x4.add(f32x4.mul(v10, loadLanes(p, nl)), f32x4.mul(v11, loadLanes(p - f4(C), nl))));
      }
      if (acc) s = f32x4.add(loadLanes(ro + f4(k), nl), s);
      storeLanes(ro + f4(k), s, nl);
    }
    // the other columns: every column of g that reads them, 4 channels at a time
    for (let i = 0; i < W; i++) {
      if (i == lo && hi > lo) i = hi;
      if (i >= W) break;
      const x0 = firstTo(i, fx), x1 = endTo(i, fx, W), y0 = firstTo(i, fx + 1), y1 = endTo(i, fx + 1, W);
      const o = ro + f4(i * C);
      for (let c = 0; c < C; c += 4) {
        const nl = min(4, C - c), cc = f4(c);
        let s = f32x4.splat(0);
        for (let q = a0; q < a1; q++) {
          const pr = gn + f4(q * L) + cc;
          let t = f32x4.splat(0);
          for (let xx = x0; xx < x1; xx++) t = f32x4.add(t, f32x4.mul(v00, loadLanes(pr + f4(xx * C), nl)));
          for (let xx = y0; xx < y1; xx++) t = f32x4.add(t, f32x4.mul(v01, loadLanes(pr + f4(xx * C), nl)));
          s = f32x4.add(s, t);
        }
        for (let q = b0; q < b1; q++) {
          const pr = gn + f4(q * L) + cc;
          let t = f32x4.splat(0);
          for (let xx = x0; xx < x1; xx++) t = f32x4.add(t, f32x4.mul(v10, loadLanes(pr + f4(xx * C), nl)));
          for (let xx = y0; xx < y1; xx++) t = f32x4.add(t, f32x4.mul(v11, loadLanes(pr + f4(xx * C), nl)));
          s = f32x4.add(s, t);
        }
        if (acc) s = f32x4.add(loadLanes(o + cc, nl), s);
        storeLanes(o + cc, s, nl);
      }
    }
  }
}
