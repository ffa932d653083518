/**
 * Windowed multi-head self-attention from its definition (MobileSR's Transformer block, Swin's
 * W-MSA): q, k, v are channels [0, C), [C, 2C), [2C, 3C) of each pixel; the map is padded with
 * zeros at the bottom and right to multiples of ws, cut into ws x ws windows, each window's
 * T = ws^2 tokens attend to each other per head (softmax(Q K^T / sqrt(D)) V, D = C / heads,
 * head h on channels h*D .. h*D + D - 1), and the padding is cropped off again.
 */
import { type RT, checkRT } from './tensor.js';

export function windowAttention(qkv: RT, heads: number, ws: number): RT {
  checkRT(qkv, 'windowAttention input');
  const [N, H, W, C3] = qkv.shape as [number, number, number, number];
  const C = C3 / 3, D = C / heads, Hp = Math.ceil(H / ws) * ws, Wp = Math.ceil(W / ws) * ws, T = ws * ws;
  // the zero-padded map
  const at = (n: number, y: number, x: number, c: number): number => (y < H && x < W ? qkv.data[((n * H + y) * W + x) * C3 + c]! : 0);
  const out: RT = { shape: [N, H, W, C], data: new Float64Array(N * H * W * C) };
  for (let n = 0; n < N; n++) {
    for (let wy = 0; wy < Hp; wy += ws) {
      for (let wx = 0; wx < Wp; wx += ws) {
        const pos = Array.from({ length: T }, (_, t) => [wy + Math.floor(t / ws), wx + (t % ws)] as const);
        for (let h = 0; h < heads; h++) {
          const mat = (part: number) => pos.map(([y, x]) => Array.from({ length: D }, (_, d) => at(n, y, x, part * C + h * D + d)));
          const Q = mat(0), K = mat(1), V = mat(2);
          for (let t = 0; t < T; t++) {
            const s = K.map((k) => k.reduce((a, kv, d) => a + Q[t]![d]! * kv, 0) / Math.sqrt(D));
            const m = Math.max(...s), e = s.map((v) => Math.exp(v - m)), z = e.reduce((a, b) => a + b, 0);
            const [y, x] = pos[t]!;
            if (y >= H || x >= W) continue;
            for (let d = 0; d < D; d++) out.data[((n * H + y) * W + x) * C + h * D + d] = e.reduce((a, p, u) => a + (p / z) * V[u]![d]!, 0);
          }
        }
      }
    }
  }
  return out;
}
