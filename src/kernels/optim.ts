// Optimizer updates over flat float arrays, in place. Threads split contiguous 4-float vectors;
// the last thread also does the trailing floats with the same vector code.
import { shareStart, f4, storeLanes } from './common';

/**
 * One Adam / AdamW step, op for op like torch.optim.Adam / AdamW (single-tensor path), in f32:
 *   decoupled: p = p * decay                          (decay = 1 - lr * weight_decay)
 *   else:      g = g + wd * p                         (wd = weight_decay, 0 for none)
 *   m = lerp(m, g, w1)                                (w1 = 1 - beta1, ATen's two-sided lerp)
 *   v = v * beta2 + omb2 * g * g                      (omb2 = 1 - beta2)
 *   p = p + negStep * (m / (sqrt(v) / bc2sqrt + eps)) (negStep = -lr / (1 - beta1^t), bc2sqrt = sqrt(1 - beta2^t))
 * grad is read only. Scalars are computed in f64 by TypeScript and rounded to f32 here.
 */
export function adam_step(
  p: usize, g: usize, m: usize, v: usize, n: i32,
  decoupled: i32, decay: f32, wd: f32, w1: f32, beta2: f32, omb2: f32,
  negStep: f32, bc2sqrt: f32, eps: f32,
  tid: i32, nt: i32,
): void {
  const nv = n >> 2;
  const v0 = shareStart(nv, tid, nt), v1 = shareStart(nv, tid + 1, nt);
  const last = tid == nt - 1 && (n & 3) != 0;
  const hi = v1 + (last ? 1 : 0);
  const vDecay = f32x4.splat(decay), vWd = f32x4.splat(wd), vW1 = f32x4.splat(w1);
  const vOneMinusW1 = f32x4.splat(<f32>1 - w1);
  const vB2 = f32x4.splat(beta2), vOmb2 = f32x4.splat(omb2);
  const vNegStep = f32x4.splat(negStep), vBc2 = f32x4.splat(bc2sqrt), vEps = f32x4.splat(eps);
  const lerpLow = Mathf.abs(w1) < <f32>0.5;
  for (let k = v0; k < hi; k++) {
    const o = f4(k << 2);
    let pv = v128.load(p + o);
    let gv = v128.load(g + o);
    let mv = v128.load(m + o);
    let vv = v128.load(v + o);
    if (decoupled) pv = f32x4.mul(pv, vDecay);
    else if (wd != 0) gv = f32x4.add(gv, f32x4.mul(vWd, pv));
    // ATen lerp: |w| < 0.5 ? start + w * (end - start) : end - (end - start) * (1 - w)
    const diff = f32x4.sub(gv, mv);
    mv = lerpLow ? f32x4.add(mv, f32x4.mul(vW1, diff)) : f32x4.sub(gv, f32x4.mul(diff, vOneMinusW1));
    vv = f32x4.add(f32x4.mul(vv, vB2), f32x4.mul(f32x4.mul(vOmb2, gv), gv));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vv), vBc2), vEps);
    pv = f32x4.add(pv, f32x4.mul(vNegStep, f32x4.div(mv, denom)));
    if (k < v1) {
      v128.store(p + o, pv); v128.store(m + o, mv); v128.store(v + o, vv);
    } else {
      const t = n & 3;
      storeLanes(p + o, pv, t); storeLanes(m + o, mv, t); storeLanes(v + o, vv, t);
    }
  }
}
