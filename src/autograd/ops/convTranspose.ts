// Differentiable conv_transpose2d (groups = 1), PyTorch weight layout [Cin, Cout, K, K].
import { record, type Var } from '../var.js';
import {
  convTranspose2d as convTranspose2dRaw, convTranspose2dBackward, type ConvTranspose2dOptions,
} from '../../tensor/ops/convTranspose.js';

export function convTranspose2d(
  x: Var, w: Var, b: Var | null, opts: { stride: number; padding?: number; outputPadding?: number },
): Var {
  const o: ConvTranspose2dOptions = { stride: opts.stride, padding: opts.padding, outputPadding: opts.outputPadding };
  const y = convTranspose2dRaw(x.value, w.value, b ? b.value : null, o);
  const inputs = b ? [x, w, b] : [x, w];
  return record('convTranspose2d', inputs, y, (gy) => {
    const g = convTranspose2dBackward(x.value, w.value, gy, o, { dx: x.requiresGrad, dw: w.requiresGrad, db: !!b && b.requiresGrad });
    return b ? [g.dx, g.dw, g.db] : [g.dx, g.dw];
  });
}
