// Differentiable global pooling over H x W and channel scaling (IMDN's contrast-aware channel attention).
import { record, type Var } from '../var.js';
import * as C from '../../tensor/ops/channels.js';
import { Tensor, shapeStr } from '../../tensor/tensor.js';

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

/** One per-channel weight w (C values, e.g. [1, C]) repeated for N images as [N,1,1,C]; its gradient sums over the images. */
export function repeatImages(w: Var, N: number): Var {
  const C = w.value.size;
  if (!Number.isInteger(N) || N < 1) throw new Error(`mvsr: repeatImages: image count must be a positive integer, got ${N}`);
  const src = w.value.data;
  const tiled = new Float32Array(N * C);
  for (let n = 0; n < N; n++) tiled.set(src, n * C);
  return record('repeatImages', [w], Tensor.from([N, 1, 1, C], tiled), (gy) => {
    if (gy.size !== N * C) throw new Error(`mvsr: repeatImages backward: gradient ${shapeStr(gy.shape)} is not [${N},1,1,${C}]`);
    const g = gy.data, sum = new Float32Array(C);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) sum[c]! += g[n * C + c]!;
    return [Tensor.from(w.value.shape, sum)];
  });
}
