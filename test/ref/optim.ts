/**
 * Naive float64 reference of PyTorch's Adam / AdamW update (single-tensor,
 * amsgrad=False, maximize=False).
 */

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** false: torch.optim.Adam (L2 added to the gradient); true: torch.optim.AdamW (decoupled decay). */
  decoupled: boolean;
}

/** torch.lerp(start, end, weight) evaluated the way ATen does it. */
function lerp(start: number, end: number, weight: number): number {
  return Math.abs(weight) < 0.5 ? start + weight * (end - start) : end - (end - start) * (1 - weight);
}

/**
 * One optimizer step, updating `param`, `m` (exp_avg) and `v` (exp_avg_sq) IN PLACE.
 * `grad` is not modified. `step` is 1-based (the value of the step counter after increment).
 *
 *   if decoupled:          param *= 1 - lr * weightDecay                 (AdamW)
 *   else if weightDecay:   g = grad + weightDecay * param                (Adam, L2)
 *   m = lerp(m, g, 1 - beta1)              (= beta1*m + (1-beta1)*g)
 *   v = beta2 * v + (1 - beta2) * g * g
 *   param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 */
export function adamStep(
  param: Float64Array,
  grad: Float64Array,
  m: Float64Array,
  v: Float64Array,
  step: number,
  o: AdamOptions,
): void {
  const n = param.length;
  if (grad.length !== n || m.length !== n || v.length !== n) {
    throw new Error(`adamStep: length mismatch param=${n} grad=${grad.length} m=${m.length} v=${v.length}`);
  }
  if (!Number.isInteger(step) || step < 1) throw new Error(`adamStep: step must be an integer >= 1, got ${step}`);
  for (const key of ['lr', 'beta1', 'beta2', 'eps', 'weightDecay'] as const) {
    if (!Number.isFinite(o[key])) throw new Error(`adamStep: option ${key} must be a finite number, got ${o[key]}`);
  }
  if (!(o.beta1 >= 0 && o.beta1 < 1)) throw new Error(`adamStep: beta1 must be in [0, 1), got ${o.beta1}`);
  if (!(o.beta2 >= 0 && o.beta2 < 1)) throw new Error(`adamStep: beta2 must be in [0, 1), got ${o.beta2}`);

  const biasCorrection1 = 1 - Math.pow(o.beta1, step);
  const biasCorrection2 = 1 - Math.pow(o.beta2, step);
  const stepSize = o.lr / biasCorrection1;
  const biasCorrection2Sqrt = Math.sqrt(biasCorrection2);

  for (let i = 0; i < n; i++) {
    let g = grad[i];
    if (o.decoupled) {
      param[i] = param[i] * (1 - o.lr * o.weightDecay);
    } else if (o.weightDecay !== 0) {
      g = g + o.weightDecay * param[i];
    }
    m[i] = lerp(m[i], g, 1 - o.beta1);
    v[i] = v[i] * o.beta2 + (1 - o.beta2) * g * g;
    const denom = Math.sqrt(v[i]) / biasCorrection2Sqrt + o.eps;
    param[i] = param[i] - stepSize * (m[i] / denom);
  }
}
