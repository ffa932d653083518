/**
 * Naive float64 reference losses. All are mean-reduced over every element
 * (PyTorch reduction='mean') and return a plain number.
 */
import { RT, assertSameShape } from './tensor.js';

function meanOf(pred: RT, target: RT, what: string, f: (diff: number) => number): number {
  assertSameShape(pred, target, what);
  const n = pred.data.length;
  if (n === 0) throw new Error(`${what}: empty tensors`);
  let s = 0;
  for (let i = 0; i < n; i++) s += f(pred.data[i] - target.data[i]);
  return s / n;
}

/** mean(|pred - target|). */
export function l1Loss(pred: RT, target: RT): number {
  return meanOf(pred, target, 'l1Loss', (d) => Math.abs(d));
}

/** mean((pred - target)^2). */
export function mseLoss(pred: RT, target: RT): number {
  return meanOf(pred, target, 'mseLoss', (d) => d * d);
}

/** mean(sqrt((pred - target)^2 + eps)), BasicSR convention (eps inside the square root). */
export function charbonnierLoss(pred: RT, target: RT, eps = 1e-12): number {
  if (!(eps >= 0)) throw new Error(`charbonnierLoss: eps must be >= 0, got ${eps}`);
  return meanOf(pred, target, 'charbonnierLoss', (d) => Math.sqrt(d * d + eps));
}
