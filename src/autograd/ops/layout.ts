// Differentiable channel layout ops: concat / split along channels, depth_to_space / space_to_depth.
import { record, type Var } from '../var.js';
import {
  concat as concatRaw, split as splitRaw, copyChannels,
  depthToSpace as depthToSpaceRaw, spaceToDepth as spaceToDepthRaw, shuffleOrder, type PixelOrder,
} from '../../tensor/ops/layout.js';
import { Tensor } from '../../tensor/tensor.js';
import { engine } from '../../tensor/engine.js';

/** Concatenate along channels; the gradient of each input is its channel slice of the output gradient. */
export function concat(xs: Var[]): Var {
  const y = concatRaw(xs.map((v) => v.value));
  return record('concat', xs, y, (gy) => {
    let off = 0;
    return xs.map((v) => {
      const C = v.value.shape[3]!;
      const o = off;
      off += C;
      if (!v.requiresGrad) return null;
      const g = Tensor.empty(v.value.shape);
      copyChannels(gy, o, g, 0, C);
      return g;
    });
  });
}

/**
 * Split along channels into pieces of the given sizes. Each piece is taped separately: its
 * gradient lands in its channel range of the input gradient (zeros elsewhere), so an unused
 * piece contributes nothing.
 */
export function split(x: Var, sizes: number[]): Var[] {
  const pieces = splitRaw(x.value, sizes);
  let off = 0;
  return pieces.map((p, k) => {
    const o = off;
    off += sizes[k]!;
    return record('split', [x], p, (gy) => {
      const g = Tensor.empty(x.value.shape);
      engine().run('fill', [g.ptr, g.size, 0]);
      copyChannels(gy, 0, g, o, sizes[k]!);
      return [g];
    });
  });
}

/** [N,H,W,C*s*s] -> [N,H*s,W*s,C]; the backward is spaceToDepth with the same order. */
export function depthToSpace(x: Var, s: number, order: PixelOrder = 'pytorch'): Var {
  const y = depthToSpaceRaw(x.value, s, order);
  return record('depthToSpace', [x], y, (gy) => [spaceToDepthRaw(gy, s, order)]);
}

/** [N,H*s,W*s,C] -> [N,H,W,C*s*s]; the backward is depthToSpace with the same order. */
export function spaceToDepth(x: Var, s: number, order: PixelOrder = 'pytorch'): Var {
  const y = spaceToDepthRaw(x.value, s, order);
  return record('spaceToDepth', [x], y, (gy) => [depthToSpaceRaw(gy, s, order)]);
}

/**
 * torch.repeat_interleave(x, times, dim=channels): channel c lands on c*times .. c*times+times-1,
 * so that after pixel shuffle each LR pixel fills its s x s HR block (nearest upsampling).
 */
export function repeatInterleaveChannels(x: Var, times: number): Var {
  const C = x.shape[3]!;
  const channels = C === 1 ? [x] : split(x, Array.from({ length: C }, () => 1));
  return concat(channels.flatMap((c) => Array.from({ length: times }, () => c)));
}

/** Drop the last channel (the reference's `y[:, :-1]` after its padding-to-a-multiple-of-4 channel). */
export function dropLastChannel(x: Var): Var {
  const C = x.shape[3]!;
  return split(x, [C - 1, 1])[0]!;
}

/** The same values under another shape of equal size (a copy); the gradient takes the input's shape back. */
export function reshape(x: Var, shape: readonly number[]): Var {
  const y = x.value.reshape(shape);
  return record('reshape', [x], y, (gy) => [gy.reshape(x.value.shape)]);
}

/** ShuffleNet's channel shuffle in g groups (output channel o = input channel shuffleSource(o, C, g)), as single-channel splits and one concat. */
export function channelShuffle(x: Var, g: number): Var {
  const C = x.shape[3]!;
  const order = shuffleOrder(C, g); // checks g, also where the shuffle is the identity
  if (g === 1 || g === C) return x;
  const pieces = split(x, Array.from({ length: C }, () => 1));
  return concat(order.map((c) => pieces[c]!));
}
