// Differentiable global pooling over H x W and channel scaling (IMDN's contrast-aware channel attention).
import { record, type Var } from '../var.js';
import * as C from '../../tensor/ops/channels.js';

/** [N,H,W,C] -> [N,1,1,C]: the mean, or the population standard deviation, of each channel of each image. */
export function globalPool(x: Var, stat: C.PoolStat): Var {
  const y = C.globalPool(x.value, stat);
  return record('globalPool', [x], y, (gy) => [C.globalPoolBackward(x.value, stat, gy, y)]);
}

/** x [N,H,W,C] times s [N,1,1,C], broadcast over the pixels. */
export function scaleChannels(x: Var, s: Var): Var {
  const y = C.scaleChannels(x.value, s.value);
  return record('scaleChannels', [x, s], y, (gy) => {
    const g = C.scaleChannelsBackward(x.value, s.value, gy, { dx: x.requiresGrad, ds: s.requiresGrad });
    return [g.dx, g.ds];
  });
}
