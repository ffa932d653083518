// Differentiable layer normalisation over the channel (last) axis, PyTorch's nn.LayerNorm(C) on NHWC.
import { record, constant, isGradEnabled, type Var } from '../var.js';
import * as N from '../../tensor/ops/norm.js';

/**
 * (x - mean) / sqrt(var + eps) * weight + bias over each pixel's channels. When a gradient is
 * wanted the forward keeps x̂ and 1/σ for the backward; they live on the tape (clearTape frees them).
 */
export function layerNorm(x: Var, weight: Var, bias: Var, eps = N.LAYER_NORM_EPS): Var {
  const inputs = [x, weight, bias];
  if (!isGradEnabled() || !inputs.some((v) => v.requiresGrad)) {
    return record('layerNorm', inputs, N.layerNorm(x.value, weight.value, bias.value, eps), () => [null, null, null]);
  }
  const { y, xhat, rstd } = N.layerNormTrain(x.value, weight.value, bias.value, eps);
  constant(xhat);
  constant(rstd);
  return record('layerNorm', inputs, y, (gy) => {
    const g = N.layerNormBackward(gy, { xhat, rstd }, weight.value, { dx: x.requiresGrad, dweight: weight.requiresGrad, dbias: bias.requiresGrad });
    return [g.dx, g.dweight, g.dbias];
  });
}
