// Max pooling without padding (PyTorch F.max_pool2d(x, k, stride), floor mode), forward and
// backward, over NHWC tensors. ESA (RFDN, RLFN, BSRN) pools a quarter-size feature map once per
// block, so plain loops over the engine's memory are enough here.
import { engine } from '../engine.js';
import { Tensor, assertRank4, shapeStr } from '../tensor.js';

/** Output size of a k x k pool with stride s over n pixels: floor((n - k) / s) + 1. */
export function poolOutputSize(n: number, k: number, s: number): number {
  return Math.floor((n - k) / s) + 1;
}

function geometry(op: string, x: Tensor, k: number, s: number): [number, number, number, number, number, number] {
  assertRank4(op, 'input', x);
  if (!Number.isInteger(k) || k < 1 || !Number.isInteger(s) || s < 1) throw new Error(`mvsr: ${op}: kernel ${k} and stride ${s} must be positive integers`);
  const [N, H, W, C] = x.shape as [number, number, number, number];
  if (H < k || W < k) throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} is smaller than the ${k}x${k} window`);
  return [N, H, W, C, poolOutputSize(H, k, s), poolOutputSize(W, k, s)];
}

/** The index (into x's data) of each output's maximum, the first in row-major window order (PyTorch's); a NaN wins. */
function argmax(x: Tensor, k: number, s: number, op: string): { shape: number[]; idx: Int32Array } {
  const [N, H, W, C, Ho, Wo] = geometry(op, x, k, s);
  const f = engine().f32, base = x.ptr >>> 2;
  const idx = new Int32Array(N * Ho * Wo * C);
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < Ho; i++) {
      for (let j = 0; j < Wo; j++) {
        for (let c = 0; c < C; c++, o++) {
          let best = -Infinity, at = ((n * H + i * s) * W + j * s) * C + c;
          for (let dy = 0; dy < k; dy++) {
            for (let dx = 0; dx < k; dx++) {
              const p = ((n * H + i * s + dy) * W + j * s + dx) * C + c, v = f[base + p]!;
              if (v > best || (Number.isNaN(v) && !Number.isNaN(best))) { best = v; at = p; }
            }
          }
          idx[o] = at;
        }
      }
    }
  }
  return { shape: [N, Ho, Wo, C], idx };
}

/** F.max_pool2d(x, k, stride=s) on NHWC: [N,H,W,C] -> [N, floor((H-k)/s)+1, floor((W-k)/s)+1, C]. */
export function maxPool2d(x: Tensor, k: number, s: number): Tensor {
  const { shape, idx } = argmax(x, k, s, 'maxPool2d');
  const y = Tensor.empty(shape);
  const f = engine().f32, src = x.ptr >>> 2, dst = y.ptr >>> 2;
  for (let i = 0; i < idx.length; i++) f[dst + i] = f[src + idx[i]!]!;
  return y;
}

/** Gradient of maxPool2d: each output's gradient goes to its window's maximum (summed where windows overlap). */
export function maxPool2dBackward(x: Tensor, dy: Tensor, k: number, s: number): Tensor {
  const { shape, idx } = argmax(x, k, s, 'maxPool2dBackward');
  if (dy.shape.join() !== shape.join()) throw new Error(`mvsr: maxPool2dBackward: output gradient ${shapeStr(dy.shape)} does not match the output ${shapeStr(shape)}`);
  const dx = Tensor.zeros(x.shape);
  const f = engine().f32, g = dy.ptr >>> 2, d = dx.ptr >>> 2;
  for (let i = 0; i < idx.length; i++) f[d + idx[i]!] += f[g + i]!;
  return dx;
}
