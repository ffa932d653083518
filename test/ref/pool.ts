/** Max pooling without padding, from the definition: the largest value of each k x k window, windows s apart. */
import { type RT, rt } from './tensor.js';

export function maxPool2d(x: RT, k: number, s: number): RT {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  const Ho = Math.floor((H - k) / s) + 1, Wo = Math.floor((W - k) / s) + 1;
  const out = rt([N, Ho, Wo, C]);
  for (let n = 0; n < N; n++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) for (let c = 0; c < C; c++) {
    let m = -Infinity;
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) m = Math.max(m, x.data[((n * H + i * s + a) * W + j * s + b) * C + c]!);
    out.data[((n * Ho + i) * Wo + j) * C + c] = m;
  }
  return out;
}
