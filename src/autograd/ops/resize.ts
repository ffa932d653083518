// Differentiable resize (PyTorch F.interpolate, align_corners=False): nearest, bilinear, bicubic.
import { record, type Var } from '../var.js';
import {
  resize as resizeRaw, resizeBackward, upsampleSize, type ResizeMode,
} from '../../tensor/ops/resize.js';

/** Resize x [N,H,W,C] to [N,outH,outW,C]; the backward applies the transposed weights. */
export function resize(x: Var, outH: number, outW: number, mode: ResizeMode): Var {
  const [, H, W] = x.value.shape as [number, number, number, number];
  const y = resizeRaw(x.value, outH, outW, mode);
  return record('resize', [x], y, (gy) => [resizeBackward(gy, H, W, mode)]);
}

/** Resize by a scale factor to floor(H*scale) x floor(W*scale). */
export function upsample(x: Var, scale: number, mode: ResizeMode): Var {
  const [outH, outW] = upsampleSize('upsample', x.value, scale);
  return resize(x, outH, outW, mode);
}
