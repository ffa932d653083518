// In-place optimizer updates over parameter tensors (treated as flat arrays).
import { engine } from '../engine.js';
import { Tensor, assertSameShape } from '../tensor.js';

export interface AdamUpdateOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** false: torch.optim.Adam (L2 term added to the gradient); true: torch.optim.AdamW (decoupled decay). */
  decoupled: boolean;
}

/**
 * One Adam / AdamW step in place on param, m (exp_avg) and v (exp_avg_sq); grad is read only.
 * `step` is the 1-based step count after increment, as in PyTorch. Matches torch.optim.Adam /
 * AdamW (amsgrad=False, maximize=False), with the bias corrections computed here in f64.
 */
export function adamUpdate(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: number, o: AdamUpdateOptions): void {
  const op = 'adamUpdate';
  assertSameShape(op, param, grad, 'param', 'grad');
  assertSameShape(op, param, m, 'param', 'exp_avg');
  assertSameShape(op, param, v, 'param', 'exp_avg_sq');
  if (!Number.isInteger(step) || step < 1) throw new Error(`mvsr: ${op}: step must be an integer >= 1, got ${step}`);
  for (const key of ['lr', 'beta1', 'beta2', 'eps', 'weightDecay'] as const) {
    const x = o[key];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`mvsr: ${op}: option ${key} must be a finite number, got ${x}`);
  }
  if (!(o.lr >= 0)) throw new Error(`mvsr: ${op}: lr must be >= 0, got ${o.lr}`);
  if (!(o.eps >= 0)) throw new Error(`mvsr: ${op}: eps must be >= 0, got ${o.eps}`);
  if (!(o.weightDecay >= 0)) throw new Error(`mvsr: ${op}: weightDecay must be >= 0, got ${o.weightDecay}`);
  if (!(o.beta1 >= 0 && o.beta1 < 1)) throw new Error(`mvsr: ${op}: beta1 must be in [0, 1), got ${o.beta1}`);
  if (!(o.beta2 >= 0 && o.beta2 < 1)) throw new Error(`mvsr: ${op}: beta2 must be in [0, 1), got ${o.beta2}`);
  if (param.size === 0) return;
  const bc1 = 1 - Math.pow(o.beta1, step);
  const bc2 = 1 - Math.pow(o.beta2, step);
  const negStep = -o.lr / bc1;
  const bc2sqrt = Math.sqrt(bc2);
  engine().run('adam_step', [
    param.ptr, grad.ptr, m.ptr, v.ptr, param.size,
    o.decoupled ? 1 : 0, 1 - o.lr * o.weightDecay, o.decoupled ? 0 : o.weightDecay,
    1 - o.beta1, o.beta2, 1 - o.beta2, negStep, bc2sqrt, o.eps,
  ]);
}
