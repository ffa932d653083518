// Windowed multi-head self-attention (the core of MobileSR's and Swin-style transformer blocks) on
// NHWC tensors. The input holds each pixel's q, k and v side by side ([N, H, W, 3C]: q in channels
// 0..C-1, k in C..2C-1, v in 2C..3C-1, head h on channels h*D..h*D+D-1 of each, D = C / heads).
// The map is cut into ws x ws windows from the top left; a window that crosses the bottom or right
// edge is completed with zero tokens (q = k = v = 0, as a bias-free qkv projection of zero padding
// gives), which take part as keys (score 0) and whose outputs are dropped. Each (window, head) is a
// job; threads split the jobs, and a job's arithmetic never depends on the split, so every thread
// count gives the same bits. Scores in f32 (PyTorch's einsum), softmax with f64 sums.
import { shareStart, f4 } from './common';

/** Pixel index of token t of window (n, wy, wx), or -1 for a padding token. */
@inline function tokenPixel(n: i32, wy: i32, wx: i32, t: i32, H: i32, W: i32, ws: i32): i32 {
  const y = wy * ws + t / ws, x = wx * ws + t % ws;
  return y < H && x < W ? (n * H + y) * W + x : -1;
}

/**
 * y[p, h*D + d] = sum_u softmax_u(scale * q_t . k_u) v_u[d] over the window's T = ws*ws tokens.
 * probs (jobs * T * T floats), when not 0, keeps every row of probabilities for the backward;
 * scratch holds T floats per thread.
 */
export function window_attn_fwd(qkv: usize, y: usize, probs: usize, scratch: usize, N: i32, H: i32, W: i32, C: i32, heads: i32, ws: i32, scale: f32, tid: i32, nt: i32): void {
  const D = C / heads, T = ws * ws, C3 = 3 * C;
  const nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws, jobs = N * nwy * nwx * heads;
  const j0 = shareStart(jobs, tid, nt), j1 = shareStart(jobs, tid + 1, nt);
  const row = scratch + f4(tid * T);
  for (let j = j0; j < j1; j++) {
    const h = j % heads, win = j / heads;
    const wx = win % nwx, wy = (win / nwx) % nwy, n = win / (nwx * nwy);
    for (let t = 0; t < T; t++) {
      const pt = tokenPixel(n, wy, wx, t, H, W, ws);
      // a padding query's output is dropped, but its probabilities stay defined (all keys score 0 against it)
      let mx: f32 = -Infinity;
      for (let u = 0; u < T; u++) {
        const pu = tokenPixel(n, wy, wx, u, H, W, ws);
        let s: f32 = 0;
        if (pt >= 0 && pu >= 0) {
          const q = qkv + f4(pt * C3 + h * D), k = qkv + f4(pu * C3 + C + h * D);
          for (let d = 0; d < D; d++) s += load<f32>(q + f4(d)) * load<f32>(k + f4(d));
          s *= scale;
        }
        store<f32>(row + f4(u), s);
        if (s > mx) mx = s;
      }
      let sum: f64 = 0;
      for (let u = 0; u < T; u++) {
        const e = Mathf.exp(load<f32>(row + f4(u)) - mx);
        store<f32>(row + f4(u), e);
        sum += <f64>e;
      }
      const inv = <f32>(1.0 / sum);
      for (let u = 0; u < T; u++) store<f32>(row + f4(u), load<f32>(row + f4(u)) * inv);
      if (probs != 0) memory.copy(probs + f4((j * T + t) * T), row, <usize>T << 2);
      if (pt < 0) continue;
      const out = y + f4(pt * C + h * D);
      for (let d = 0; d < D; d++) {
        let acc: f32 = 0;
        for (let u = 0; u < T; u++) {
          const pu = tokenPixel(n, wy, wx, u, H, W, ws);
          if (pu >= 0) acc += load<f32>(row + f4(u)) * load<f32>(qkv + f4(pu * C3 + 2 * C + h * D + d));
        }
        store<f32>(out + f4(d), acc);
      }
    }
  }
}

/**
 * The gradient of window_attn_fwd with respect to qkv, from dy and the saved probabilities P:
 * dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(P * dP)), dQ = scale dS K, dK = scale dS^T Q;
 * padding tokens get none (their outputs were dropped, their inputs were zeros, not qkv values).
 * Each job writes its own head's channels of its own window's pixels. scratch: T + 2*T*D floats
 * per thread.
 */
export function window_attn_bwd(qkv: usize, probs: usize, dy: usize, dqkv: usize, scratch: usize, N: i32, H: i32, W: i32, C: i32, heads: i32, ws: i32, scale: f32, tid: i32, nt: i32): void {
  const D = C / heads, T = ws * ws, C3 = 3 * C;
  const nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws, jobs = N * nwy * nwx * heads;
  const j0 = shareStart(jobs, tid, nt), j1 = shareStart(jobs, tid + 1, nt);
  const base = scratch + f4(tid * (T + 2 * T * D));
  const dS = base, dK = base + f4(T), dV = base + f4(T + T * D);
  for (let j = j0; j < j1; j++) {
    const h = j % heads, win = j / heads;
    const wx = win % nwx, wy = (win / nwx) % nwy, n = win / (nwx * nwy);
    memory.fill(dK, 0, <usize>(2 * T * D) << 2);
    for (let t = 0; t < T; t++) {
      const pt = tokenPixel(n, wy, wx, t, H, W, ws);
      if (pt < 0) continue; // no output, no gradient through this row
      const P = probs + f4((j * T + t) * T), g = dy + f4(pt * C + h * D);
      // dP[u] = dO_t . v_u, and the row's sum of P * dP
      let dot: f64 = 0;
      for (let u = 0; u < T; u++) {
        const pu = tokenPixel(n, wy, wx, u, H, W, ws);
        let s: f32 = 0;
        if (pu >= 0) {
          const v = qkv + f4(pu * C3 + 2 * C + h * D);
          for (let d = 0; d < D; d++) s += load<f32>(g + f4(d)) * load<f32>(v + f4(d));
        }
        store<f32>(dS + f4(u), s);
        dot += <f64>(load<f32>(P + f4(u)) * s);
        // dV[u] += P[t, u] dO_t
        const p = load<f32>(P + f4(u));
        for (let d = 0; d < D; d++) store<f32>(dV + f4(u * D + d), load<f32>(dV + f4(u * D + d)) + p * load<f32>(g + f4(d)));
      }
      const dotf = <f32>dot;
      const q = qkv + f4(pt * C3 + h * D), dq = dqkv + f4(pt * C3 + h * D);
      for (let d = 0; d < D; d++) store<f32>(dq + f4(d), 0);
      for (let u = 0; u < T; u++) {
        const ds = load<f32>(P + f4(u)) * (load<f32>(dS + f4(u)) - dotf) * scale;
        const pu = tokenPixel(n, wy, wx, u, H, W, ws);
        if (pu < 0) continue; // a padding key: zero k, nothing to pass on
        const k = qkv + f4(pu * C3 + C + h * D);
        for (let d = 0; d < D; d++) {
          store<f32>(dq + f4(d), load<f32>(dq + f4(d)) + ds * load<f32>(k + f4(d)));
          store<f32>(dK + f4(u * D + d), load<f32>(dK + f4(u * D + d)) + ds * load<f32>(q + f4(d)));
        }
      }
    }
    for (let u = 0; u < T; u++) {
      const pu = tokenPixel(n, wy, wx, u, H, W, ws);
      if (pu < 0) continue;
      for (let d = 0; d < D; d++) {
        store<f32>(dqkv + f4(pu * C3 + C + h * D + d), load<f32>(dK + f4(u * D + d)));
        store<f32>(dqkv + f4(pu * C3 + 2 * C + h * D + d), load<f32>(dV + f4(u * D + d)));
      }
    }
  }
}
