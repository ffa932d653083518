// Differentiable mean-reduced losses: each returns a Var of shape [1] holding the loss; the
// backward scales d loss / d input by the upstream gradient (a [1] tensor).
import { record, type Var } from '../var.js';
import { Tensor } from '../../tensor/tensor.js';
import * as L from '../../tensor/ops/loss.js';

type Backward = (pred: Tensor, target: Tensor, scale: number) => Tensor;

/**
 * The three losses have odd derivatives in d = pred - target, so d loss / d target equals the
 * pred gradient with the roles swapped.
 */
function lossVar(name: string, pred: Var, target: Var, value: number, back: Backward): Var {
  const y = Tensor.from([1], [value]);
  return record(name, [pred, target], y, (gy) => {
    const scale = gy.data[0]!;
    return [
      pred.requiresGrad ? back(pred.value, target.value, scale) : null,
      target.requiresGrad ? back(target.value, pred.value, scale) : null,
    ];
  });
}

/** mean(|pred - target|). */
export function l1Loss(pred: Var, target: Var): Var {
  return lossVar('l1Loss', pred, target, L.l1Loss(pred.value, target.value), L.l1LossBackward);
}

/** mean((pred - target)^2). */
export function mseLoss(pred: Var, target: Var): Var {
  return lossVar('mseLoss', pred, target, L.mseLoss(pred.value, target.value), L.mseLossBackward);
}

/** mean(sqrt((pred - target)^2 + eps)), BasicSR's Charbonnier loss. */
export function charbonnierLoss(pred: Var, target: Var, eps = 1e-12): Var {
  return lossVar('charbonnierLoss', pred, target, L.charbonnierLoss(pred.value, target.value, eps),
    (p, t, s) => L.charbonnierLossBackward(p, t, s, eps));
}
