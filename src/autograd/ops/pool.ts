// Differentiable max pooling (PyTorch F.max_pool2d without padding).
import { record, type Var } from '../var.js';
import { maxPool2d as maxPoolRaw, maxPool2dBackward } from '../../tensor/ops/pool.js';

export function maxPool2d(x: Var, k: number, s: number): Var {
  const y = maxPoolRaw(x.value, k, s);
  return record('maxPool2d', [x], y, (gy) => [maxPool2dBackward(x.value, gy, k, s)]);
}
