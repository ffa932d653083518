/**
 * Naive reference depth-to-space (pixel shuffle) and space-to-depth (pixel unshuffle), NHWC.
 */
import { RT, rt, checkRank, checkInt, shapeStr } from './tensor.js';

/**
 * Channel packing order.
 *  - 'pytorch': nn.PixelShuffle / nn.PixelUnshuffle: packed channel = c*s*s + i*s + j
 *  - 'tf':      tf.nn.depth_to_space / space_to_depth (NHWC): packed channel = (i*s + j)*C + c
 * where (i, j) is the (row, column) offset inside the s x s block and c the unpacked channel.
 */
export type PixelOrder = 'pytorch' | 'tf';

/** Index of the packed channel that holds unpacked channel `c` at block offset (i, j). */
export function packedChannel(c: number, i: number, j: number, C: number, s: number, order: PixelOrder): number {
  if (order === 'pytorch') return c * s * s + i * s + j;
  if (order === 'tf') return (i * s + j) * C + c;
  throw new Error(`unknown pixel order '${String(order)}' (expected 'pytorch' or 'tf')`);
}

function checkOrder(order: PixelOrder, what: string): void {
  if (order !== 'pytorch' && order !== 'tf') {
    throw new Error(`${what}: unknown order '${String(order)}' (expected 'pytorch' or 'tf')`);
  }
}

/**
 * [N, H, W, C*s*s] -> [N, H*s, W*s, C]:
 *   out[n, y*s + i, x*s + j, c] = x[n, y, x, packedChannel(c, i, j)]
 */
export function depthToSpace(x: RT, s: number, order: PixelOrder = 'pytorch'): RT {
  checkRank(x, 4, 'depthToSpace x');
  checkInt(s, 1, 'depthToSpace s');
  checkOrder(order, 'depthToSpace');
  const [N, H, W, Cin] = x.shape;
  if (Cin % (s * s) !== 0) {
    throw new Error(`depthToSpace: channels ${Cin} of ${shapeStr(x.shape)} not divisible by s*s=${s * s}`);
  }
  const C = Cin / (s * s);
  const Ho = H * s;
  const Wo = W * s;
  const out = rt([N, Ho, Wo, C]);
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        for (let i = 0; i < s; i++) {
          for (let j = 0; j < s; j++) {
            for (let c = 0; c < C; c++) {
              const src = ((n * H + y) * W + xx) * Cin + packedChannel(c, i, j, C, s, order);
              const dst = ((n * Ho + (y * s + i)) * Wo + (xx * s + j)) * C + c;
              out.data[dst] = x.data[src];
            }
          }
        }
      }
    }
  }
  return out;
}

/**
 * Exact inverse of depthToSpace for the same order: [N, H*s, W*s, C] -> [N, H, W, C*s*s]:
 *   out[n, y, x, packedChannel(c, i, j)] = x[n, y*s + i, x*s + j, c]
 */
export function spaceToDepth(x: RT, s: number, order: PixelOrder = 'pytorch'): RT {
  checkRank(x, 4, 'spaceToDepth x');
  checkInt(s, 1, 'spaceToDepth s');
  checkOrder(order, 'spaceToDepth');
  const [N, Hi, Wi, C] = x.shape;
  if (Hi % s !== 0 || Wi % s !== 0) {
    throw new Error(`spaceToDepth: spatial size ${Hi}x${Wi} of ${shapeStr(x.shape)} not divisible by s=${s}`);
  }
  const H = Hi / s;
  const W = Wi / s;
  const Cout = C * s * s;
  const out = rt([N, H, W, Cout]);
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        for (let i = 0; i < s; i++) {
          for (let j = 0; j < s; j++) {
            for (let c = 0; c < C; c++) {
              const src = ((n * Hi + (y * s + i)) * Wi + (xx * s + j)) * C + c;
              const dst = ((n * H + y) * W + xx) * Cout + packedChannel(c, i, j, C, s, order);
              out.data[dst] = x.data[src];
            }
          }
        }
      }
    }
  }
  return out;
}
