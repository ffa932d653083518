// Differentiable windowed multi-head self-attention (tensor/ops/attention.ts).
import { record, constant, isGradEnabled, type Var } from '../var.js';
import * as A from '../../tensor/ops/attention.js';

/**
 * Attention within ws x ws windows of qkv ([N, H, W, 3C] -> [N, H, W, C]). When a gradient is
 * wanted the forward keeps the attention probabilities for the backward; they live on the tape.
 */
export function windowAttention(qkv: Var, o: A.WindowAttention): Var {
  if (!isGradEnabled() || !qkv.requiresGrad) return record('windowAttention', [qkv], A.windowAttention(qkv.value, o), () => [null]);
  const { y, probs } = A.windowAttentionTrain(qkv.value, o);
  constant(probs);
  return record('windowAttention', [qkv], y, (gy) => [A.windowAttentionBackward(gy, qkv.value, probs, o)]);
}
