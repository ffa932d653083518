// Differentiable element-wise activations and arithmetic.
import { record, type Var } from '../var.js';
import * as P from '../../tensor/ops/pointwise.js';

export function relu(x: Var): Var {
  const y = P.relu(x.value);
  return record('relu', [x], y, (gy) => [P.reluBackward(y, gy)]);
}

export function leakyRelu(x: Var, slope: number): Var {
  const y = P.leakyRelu(x.value, slope);
  return record('leakyRelu', [x], y, (gy) => [P.leakyReluBackward(x.value, gy, slope)]);
}

/** PyTorch PReLU; alpha holds 1 (shared) or C values (last axis of x). */
export function prelu(x: Var, alpha: Var): Var {
  const y = P.prelu(x.value, alpha.value);
  return record('prelu', [x, alpha], y, (gy) => {
    const g = P.preluBackward(x.value, alpha.value, gy, { dx: x.requiresGrad, dalpha: alpha.requiresGrad });
    return [g.dx, g.dalpha];
  });
}

export function tanh(x: Var): Var {
  const y = P.tanh(x.value);
  return record('tanh', [x], y, (gy) => [P.tanhBackward(y, gy)]);
}

/** k x (a fixed factor: RFDN's and RLFN's 0-255 input range). */
export function scale(x: Var, k: number): Var {
  const y = P.scale(x.value, k);
  return record('scale', [x], y, (gy) => [P.scale(gy, k)]);
}

/** GELU, the erf form (PyTorch nn.GELU()). */
export function gelu(x: Var): Var {
  const y = P.gelu(x.value);
  return record('gelu', [x], y, (gy) => [P.geluBackward(x.value, gy)]);
}

export function sigmoid(x: Var): Var {
  const y = P.sigmoid(x.value);
  return record('sigmoid', [x], y, (gy) => [P.sigmoidBackward(y, gy)]);
}

/** min(max(x, lo), hi); the gradient passes where lo <= x <= hi (PyTorch). */
export function clamp(x: Var, lo: number, hi: number): Var {
  const y = P.clamp(x.value, lo, hi);
  return record('clamp', [x], y, (gy) => [P.clampBackward(x.value, gy, lo, hi)]);
}

export function add(a: Var, b: Var): Var {
  const y = P.add(a.value, b.value);
  return record('add', [a, b], y, (gy) => [a.requiresGrad ? gy.clone() : null, b.requiresGrad ? gy.clone() : null]);
}

export function mul(a: Var, b: Var): Var {
  const y = P.mul(a.value, b.value);
  return record('mul', [a, b], y, (gy) => {
    const g = P.mulBackward(a.value, b.value, gy, { da: a.requiresGrad, db: b.requiresGrad });
    return [g.da, g.db];
  });
}
