// Windowed multi-head self-attention (the core of MobileSR's and Swin-style transformer blocks) on
// NHWC tensors. The input holds each pixel's q, k and v side by side ([N, H, W, 3C]: q in channels
// 0..C-1, k in C..2C-1, v in 2C..3C-1, head h on channels h*D..h*D+D-1 of each, D = C / heads).
// The map is cut into ws x ws windows from the top left; a window that crosses the bottom or right
// edge is completed with zero tokens (q = k = v = 0, as a bias-free qkv projection of zero padding
// gives), which take part as keys (score 0) and whose outputs are dropped. Each (window, head) is a
// job; threads split the jobs, and a job's arithmetic never depends on the split, so every thread
// count gives the same bits. Scores in f32 (PyTorch's einsum); the forward on f32x4.
import { shareStart, f4, madd, expV } from './common';

/** Pixel index of token t of window (n, wy, wx), or -1 for a padding token. */
@inline function tokenPixel(n: i32, wy: i32, wx: i32, t: i32, H: i32, W: i32, ws: i32): i32 {
  const y = wy * ws + t / ws, x = wx * ws + t % ws;
  return y < H && x < W ? (n * H + y) * W + x : -1;
}

/** Copies head h's q, k and v of the window's T tokens to Q, K, V ([T, D] each; zeros for padding tokens). */
function gather(qkv: usize, Q: usize, K: usize, V: usize, n: i32, wy: i32, wx: i32, h: i32, H: i32, W: i32, C: i32, D: i32, ws: i32): void {
  const T = ws * ws, bytes = <usize>D << 2;
  for (let u = 0; u < T; u++) {
    const pu = tokenPixel(n, wy, wx, u, H, W, ws), o = f4(u * D);
    if (pu < 0) {
      memory.fill(Q + o, 0, bytes);
      memory.fill(K + o, 0, bytes);
      memory.fill(V + o, 0, bytes);
      continue;
    }
    const src = qkv + f4(pu * 3 * C + h * D);
    memory.copy(Q + o, src, bytes);
    memory.copy(K + o, src + f4(C), bytes);
    memory.copy(V + o, src + f4(2 * C), bytes);
  }
}

/** Floats of scratch window_attn_fwd needs per thread: q rows [T, D], k and v columns [D, TP], a score row [TP]. */
export function window_attn_fwd_scratch(T: i32, D: i32): i32 {
  const TP = (T + 3) & ~3;
  return T * D + 2 * D * TP + TP;
}

/**
 * y[p, h*D + d] = sum_u softmax_u(scale * q_t . k_u) v_u[d] over the window's T = ws*ws tokens,
 * four keys at a time: k and v are gathered as columns ([D, TP], TP = T rounded up to 4, zeros
 * past T), the scores, e^(s - max) and the weighted sums run on f32x4, the keys past T take no
 * part. probs (jobs * T * T floats), when not 0, keeps the probability rows of the real tokens for
 * the backward; scratch holds window_attn_fwd_scratch(T, D) floats per thread.
 */
export function window_attn_fwd(qkv: usize, y: usize, probs: usize, scratch: usize, N: i32, H: i32, W: i32, C: i32, heads: i32, ws: i32, scale: f32, tid: i32, nt: i32): void {
  const D = C / heads, T = ws * ws, TP = (T + 3) & ~3;
  const nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws, jobs = N * nwy * nwx * heads;
  const j0 = shareStart(jobs, tid, nt), j1 = shareStart(jobs, tid + 1, nt);
  const Q = scratch + f4(tid * window_attn_fwd_scratch(T, D)), Kt = Q + f4(T * D), Vt = Kt + f4(D * TP), row = Vt + f4(D * TP);
  const vscale = f32x4.splat(scale);
  for (let j = j0; j < j1; j++) {
    const h = j % heads, win = j / heads;
    const wx = win % nwx, wy = (win / nwx) % nwy, n = win / (nwx * nwy);
    // q rows, k and v columns; zeros for padding tokens and past T
    memory.fill(Kt, 0, <usize>(2 * D * TP) << 2);
    for (let u = 0; u < T; u++) {
      const pu = tokenPixel(n, wy, wx, u, H, W, ws);
      if (pu < 0) {
        memory.fill(Q + f4(u * D), 0, <usize>D << 2);
        continue;
      }
      const src = qkv + f4(pu * 3 * C + h * D);
      memory.copy(Q + f4(u * D), src, <usize>D << 2);
      for (let d = 0; d < D; d++) {
        store<f32>(Kt + f4(d * TP + u), load<f32>(src + f4(C + d)));
        store<f32>(Vt + f4(d * TP + u), load<f32>(src + f4(2 * C + d)));
      }
    }
    for (let t = 0; t < T; t++) {
      const pt = tokenPixel(n, wy, wx, t, H, W, ws);
      if (pt < 0) continue; // a padding query: its output is dropped
      const q = Q + f4(t * D);
      for (let u = 0; u < TP; u += 4) {
        let acc = f32x4.splat(0);
        for (let d = 0; d < D; d++) acc = madd(f32x4.splat(load<f32>(q + f4(d))), v128.load(Kt + f4(d * TP + u)), acc);
        v128.store(row + f4(u), f32x4.mul(acc, vscale));
      }
      let mx: f32 = -Infinity;
      for (let u = 0; u < T; u++) mx = max(mx, load<f32>(row + f4(u)));
      const vmx = f32x4.splat(mx);
      let vsum = f32x4.splat(0);
      for (let u = 0; u < TP; u += 4) {
        let e = expV(f32x4.sub(v128.load(row + f4(u)), vmx));
        if (u + 4 > T) e = v128.bitselect(e, f32x4.splat(0), i32x4.lt_s(i32x4(u, u + 1, u + 2, u + 3), i32x4.splat(T)));
        v128.store(row + f4(u), e);
        vsum = f32x4.add(vsum, e);
      }
      const sum = f32x4.extract_lane(vsum, 0) + f32x4.extract_lane(vsum, 1) + f32x4.extract_lane(vsum, 2) + f32x4.extract_lane(vsum, 3);
      const inv: f32 = 1.0 / sum;
      const out = y + f4(pt * C + h * D);
      for (let d = 0; d < D; d++) {
        let acc = f32x4.splat(0);
        for (let u = 0; u < TP; u += 4) acc = madd(v128.load(row + f4(u)), v128.load(Vt + f4(d * TP + u)), acc);
        store<f32>(out + f4(d), (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3)) * inv);
      }
      if (probs != 0) {
        const P = probs + f4((j * T + t) * T);
        for (let u = 0; u < T; u++) store<f32>(P + f4(u), load<f32>(row + f4(u)) * inv);
      }
    }
  }
}

/** Floats of scratch window_attn_bwd needs per thread. */
export function window_attn_bwd_scratch(T: i32, D: i32): i32 {
  return 5 * T * D + T + D;
}

/**
 * The gradient of window_attn_fwd with respect to qkv, from dy and the saved probabilities P:
 * dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(P * dP)), dQ = scale dS K, dK = scale dS^T Q;
 * padding tokens get none (their outputs were dropped, their inputs were zeros, not qkv values).
 * Each job writes its own head's channels of its own window's pixels. scratch:
 * window_attn_bwd_scratch(T, D) floats per thread.
 */
export function window_attn_bwd(qkv: usize, probs: usize, dy: usize, dqkv: usize, scratch: usize, N: i32, H: i32, W: i32, C: i32, heads: i32, ws: i32, scale: f32, tid: i32, nt: i32): void {
  const D = C / heads, T = ws * ws, C3 = 3 * C;
  const nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws, jobs = N * nwy * nwx * heads;
  const j0 = shareStart(jobs, tid, nt), j1 = shareStart(jobs, tid + 1, nt);
  const Q = scratch + f4(tid * window_attn_bwd_scratch(T, D)), K = Q + f4(T * D), V = K + f4(T * D);
  const dK = V + f4(T * D), dV = dK + f4(T * D), dS = dV + f4(T * D), dq = dS + f4(T);
  for (let j = j0; j < j1; j++) {
    const h = j % heads, win = j / heads;
    const wx = win % nwx, wy = (win / nwx) % nwy, n = win / (nwx * nwy);
    gather(qkv, Q, K, V, n, wy, wx, h, H, W, C, D, ws);
    memory.fill(dK, 0, <usize>(2 * T * D) << 2);
    for (let t = 0; t < T; t++) {
      const pt = tokenPixel(n, wy, wx, t, H, W, ws);
      if (pt < 0) continue; // no output, no gradient through this row
      const P = probs + f4((j * T + t) * T), g = dy + f4(pt * C + h * D);
      // dP[u] = dO_t . v_u; the row's sum of P * dP; dV[u] += P[t, u] dO_t
      let dot: f64 = 0;
      for (let u = 0; u < T; u++) {
        const v = V + f4(u * D), dv = dV + f4(u * D), p = load<f32>(P + f4(u));
        let s: f32 = 0;
        for (let d = 0; d < D; d++) {
          const gd = load<f32>(g + f4(d));
          s += gd * load<f32>(v + f4(d));
          store<f32>(dv + f4(d), load<f32>(dv + f4(d)) + p * gd);
        }
        store<f32>(dS + f4(u), s);
        dot += <f64>(p * s);
      }
      const dotf = <f32>dot, q = Q + f4(t * D);
      memory.fill(dq, 0, <usize>D << 2);
      for (let u = 0; u < T; u++) {
        const ds = load<f32>(P + f4(u)) * (load<f32>(dS + f4(u)) - dotf) * scale;
        const k = K + f4(u * D), dk = dK + f4(u * D);
        for (let d = 0; d < D; d++) {
          store<f32>(dq + f4(d), load<f32>(dq + f4(d)) + ds * load<f32>(k + f4(d)));
          store<f32>(dk + f4(d), load<f32>(dk + f4(d)) + ds * load<f32>(q + f4(d)));
        }
      }
      memory.copy(dqkv + f4(pt * C3 + h * D), dq, <usize>D << 2);
    }
    for (let u = 0; u < T; u++) {
      const pu = tokenPixel(n, wy, wx, u, H, W, ws);
      if (pu < 0) continue; // a padding token: zeros, not qkv values
      memory.copy(dqkv + f4(pu * C3 + C + h * D), dK + f4(u * D), <usize>D << 2);
      memory.copy(dqkv + f4(pu * C3 + 2 * C + h * D), dV + f4(u * D), <usize>D << 2);
    }
  }
}
