// Differentiable conv2d.
import { record, type Var } from '../var.js';
import { conv2d as conv2dRaw, conv2dBackward, type Conv2dOptions } from '../../tensor/ops/conv.js';
import { reluBackward } from '../../tensor/ops/pointwise.js';

export function conv2d(x: Var, w: Var, b: Var | null, opts: { groups?: number; padding?: number; dilation?: number; stride?: number } = {}): Var {
  const o: Conv2dOptions = { groups: opts.groups, padding: opts.padding, dilation: opts.dilation, stride: opts.stride };
  const y = conv2dRaw(x.value, w.value, b ? b.value : null, o);
  const inputs = b ? [x, w, b] : [x, w];
  return record('conv2d', inputs, y, (gy) => {
    const g = conv2dBackward(x.value, w.value, gy, o, { dx: x.requiresGrad, dw: w.requiresGrad, db: !!b && b.requiresGrad });
    return b ? [g.dx, g.dw, g.db] : [g.dx, g.dw];
  });
}

/** relu(conv2d(x, w, b)) in one pass (the conv kernel applies the ReLU as it stores); same values and gradients. */
export function convRelu(x: Var, w: Var, b: Var | null, opts: { groups?: number; padding?: number; dilation?: number; stride?: number } = {}): Var {
  const o: Conv2dOptions = { groups: opts.groups, padding: opts.padding, dilation: opts.dilation, stride: opts.stride };
  const y = conv2dRaw(x.value, w.value, b ? b.value : null, { ...o, act: { kind: 'relu' } });
  const inputs = b ? [x, w, b] : [x, w];
  return record('convRelu', inputs, y, (gy) => {
    const gz = reluBackward(y, gy);
    try {
      const g = conv2dBackward(x.value, w.value, gz, o, { dx: x.requiresGrad, dw: w.requiresGrad, db: !!b && b.requiresGrad });
      return b ? [g.dx, g.dw, g.db] : [g.dx, g.dw];
    } finally {
      gz.dispose();
    }
  });
}
