// Mean-reduced pixel losses (PyTorch reduction='mean'): the forward returns a JS number from
// fixed-size chunk partials summed in order in f64 (deterministic, independent of the thread
// count); the backward returns d loss / d pred times an upstream scale.
import { engine } from '../engine.js';
import { Tensor, assertSameShape, shapeStr } from '../tensor.js';
import { withScratch } from './util.js';

/** Elements per chunk of the flat reductions; must match src/kernels/loss.ts. */
export const FLAT_CHUNK = 1024;

function checkPair(op: string, pred: Tensor, target: Tensor): number {
  assertSameShape(op, pred, target, 'pred', 'target');
  if (pred.size === 0) throw new Error(`mvsr: ${op}: empty tensors pred ${shapeStr(pred.shape)} and target ${shapeStr(target.shape)}`);
  return pred.size;
}

function checkEps(op: string, eps: number): void {
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) {
    throw new Error(`mvsr: ${op}: eps must be a finite number >= 0, got ${eps}`);
  }
}

function checkScale(op: string, scale: number): void {
  if (typeof scale !== 'number' || Number.isNaN(scale)) throw new Error(`mvsr: ${op}: scale must be a number, got ${scale}`);
}

/** Run a *_loss_chunks kernel and return the mean: sum of the partials in order, in f64, / n. */
function meanOfChunks(kernel: string, pred: Tensor, target: Tensor, n: number, extra: number[]): number {
  const e = engine();
  const nChunks = Math.ceil(n / FLAT_CHUNK);
  return withScratch(nChunks, (partial) => {
    e.run(kernel, [pred.ptr, target.ptr, n, ...extra, partial]);
    const f = e.f32;
    const o = partial >>> 2;
    let s = 0;
    for (let k = 0; k < nChunks; k++) s += f[o + k]!;
    return s / n;
  });
}

function grad(kernel: string, pred: Tensor, target: Tensor, args: number[]): Tensor {
  const dx = Tensor.empty(pred.shape);
  engine().run(kernel, [pred.ptr, target.ptr, dx.ptr, pred.size, ...args]);
  return dx;
}

/** mean(|pred - target|). */
export function l1Loss(pred: Tensor, target: Tensor): number {
  const n = checkPair('l1Loss', pred, target);
  return meanOfChunks('l1_loss_chunks', pred, target, n, []);
}

/** d l1Loss / d pred * scale = sign(pred - target) * scale / n, sign(0) = 0. */
export function l1LossBackward(pred: Tensor, target: Tensor, scale = 1): Tensor {
  const n = checkPair('l1LossBackward', pred, target);
  checkScale('l1LossBackward', scale);
  return grad('l1_loss_bwd', pred, target, [scale / n]);
}

/** mean((pred - target)^2). */
export function mseLoss(pred: Tensor, target: Tensor): number {
  const n = checkPair('mseLoss', pred, target);
  return meanOfChunks('mse_loss_chunks', pred, target, n, []);
}

/** d mseLoss / d pred * scale = 2 (pred - target) * scale / n. */
export function mseLossBackward(pred: Tensor, target: Tensor, scale = 1): Tensor {
  const n = checkPair('mseLossBackward', pred, target);
  checkScale('mseLossBackward', scale);
  return grad('mse_loss_bwd', pred, target, [(2 * scale) / n]);
}

/** mean(sqrt((pred - target)^2 + eps)) (BasicSR convention: eps inside the square root). */
export function charbonnierLoss(pred: Tensor, target: Tensor, eps = 1e-12): number {
  const n = checkPair('charbonnierLoss', pred, target);
  checkEps('charbonnierLoss', eps);
  return meanOfChunks('charbonnier_loss_chunks', pred, target, n, [eps]);
}

/** d charbonnierLoss / d pred * scale = (pred - target) / sqrt((pred - target)^2 + eps) * scale / n. */
export function charbonnierLossBackward(pred: Tensor, target: Tensor, scale = 1, eps = 1e-12): Tensor {
  const n = checkPair('charbonnierLossBackward', pred, target);
  checkScale('charbonnierLossBackward', scale);
  checkEps('charbonnierLossBackward', eps);
  return grad('charbonnier_loss_bwd', pred, target, [eps, scale / n]);
}
