// Channel layout ops over NHWC tensors: concat / split along channels (one strided channel-copy
// kernel) and depth_to_space / space_to_depth in PyTorch (PixelShuffle) or TensorFlow order.
import { engine } from '../engine.js';
import { Tensor, assertRank4, shapeStr } from '../tensor.js';

export type PixelOrder = 'pytorch' | 'tf';

/**
 * Copy `C` channels of every pixel: dst[p, dstOffset + c] = src[p, srcOffset + c] for all
 * N*H*W pixels. src and dst must agree in N, H, W; the channel ranges must fit.
 */
export function copyChannels(src: Tensor, srcOffset: number, dst: Tensor, dstOffset: number, C: number): void {
  const op = 'copyChannels';
  assertRank4(op, 'source', src);
  assertRank4(op, 'destination', dst);
  const Cs = src.shape[3]!, Cd = dst.shape[3]!;
  if (src.shape[0] !== dst.shape[0] || src.shape[1] !== dst.shape[1] || src.shape[2] !== dst.shape[2]) {
    throw new Error(`mvsr: ${op}: source ${shapeStr(src.shape)} and destination ${shapeStr(dst.shape)} differ in N,H,W`);
  }
  const ok = (o: number, total: number) => Number.isInteger(o) && o >= 0 && o + C <= total;
  if (!Number.isInteger(C) || C < 0 || !ok(srcOffset, Cs) || !ok(dstOffset, Cd)) {
    throw new Error(`mvsr: ${op}: channels [${srcOffset}, ${srcOffset + C}) of ${shapeStr(src.shape)} -> [${dstOffset}, ${dstOffset + C}) of ${shapeStr(dst.shape)} out of range`);
  }
  const P = src.shape[0]! * src.shape[1]! * src.shape[2]!;
  if (C === 0 || P === 0) return;
  engine().run('channel_copy', [src.ptr, Cs, srcOffset, dst.ptr, Cd, dstOffset, C, P]);
}

/** Concatenate NHWC tensors of equal N, H, W along channels. */
export function concat(xs: readonly Tensor[]): Tensor {
  const op = 'concat';
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`mvsr: ${op}: need at least one tensor`);
  xs.forEach((t, i) => assertRank4(op, `input ${i}`, t));
  const [N, H, W] = xs[0]!.shape as [number, number, number, number];
  let Ct = 0;
  xs.forEach((t, i) => {
    if (t.shape[0] !== N || t.shape[1] !== H || t.shape[2] !== W) {
      throw new Error(`mvsr: ${op}: input ${i} ${shapeStr(t.shape)} does not match input 0 ${shapeStr(xs[0]!.shape)} in N,H,W`);
    }
    Ct += t.shape[3]!;
  });
  const y = Tensor.empty([N, H, W, Ct]);
  let off = 0;
  for (const t of xs) {
    copyChannels(t, 0, y, off, t.shape[3]!);
    off += t.shape[3]!;
  }
  return y;
}

/** Split an NHWC tensor along channels into pieces of the given sizes (summing to C). */
export function split(x: Tensor, sizes: readonly number[]): Tensor[] {
  const op = 'split';
  assertRank4(op, 'input', x);
  if (!Array.isArray(sizes) || sizes.length === 0) throw new Error(`mvsr: ${op}: need at least one size for input ${shapeStr(x.shape)}`);
  let total = 0;
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 0) throw new Error(`mvsr: ${op}: size ${s} is not a non-negative integer (input ${shapeStr(x.shape)})`);
    total += s;
  }
  const C = x.shape[3]!;
  if (total !== C) {
    throw new Error(`mvsr: ${op}: sizes [${sizes.join(',')}] sum to ${total} but input ${shapeStr(x.shape)} has ${C} channels`);
  }
  const [N, H, W] = x.shape as [number, number, number, number];
  let off = 0;
  return sizes.map((s) => {
    const t = Tensor.empty([N, H, W, s]);
    copyChannels(x, off, t, 0, s);
    off += s;
    return t;
  });
}

function orderCode(op: string, order: PixelOrder): number {
  if (order === 'pytorch') return 0;
  if (order === 'tf') return 1;
  throw new Error(`mvsr: ${op}: unknown order '${String(order)}' (expected 'pytorch' or 'tf')`);
}

function checkScale(op: string, s: number, x: Tensor): void {
  if (!Number.isInteger(s) || s < 1) throw new Error(`mvsr: ${op}: block size ${s} is not a positive integer (input ${shapeStr(x.shape)})`);
}

/**
 * [N, H, W, C*s*s] -> [N, H*s, W*s, C]. 'pytorch' (PixelShuffle): input channel c*s*s + i*s + j
 * goes to output pixel (h*s+i, w*s+j), channel c; 'tf': input channel (i*s+j)*C + c.
 */
export function depthToSpace(x: Tensor, s: number, order: PixelOrder = 'pytorch'): Tensor {
  const op = 'depthToSpace';
  assertRank4(op, 'input', x);
  checkScale(op, s, x);
  const code = orderCode(op, order);
  const [N, H, W, Cin] = x.shape as [number, number, number, number];
  if (Cin % (s * s) !== 0) {
    throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} has ${Cin} channels, not divisible by s*s = ${s * s}`);
  }
  const C = Cin / (s * s);
  const y = Tensor.empty([N, H * s, W * s, C]);
  if (y.size > 0) engine().run('depth_to_space', [x.ptr, N, H, W, C, s, code, y.ptr]);
  return y;
}

/** Inverse of depthToSpace with the same order: [N, H*s, W*s, C] -> [N, H, W, C*s*s]. */
export function spaceToDepth(x: Tensor, s: number, order: PixelOrder = 'pytorch'): Tensor {
  const op = 'spaceToDepth';
  assertRank4(op, 'input', x);
  checkScale(op, s, x);
  const code = orderCode(op, order);
  const [N, Hi, Wi, C] = x.shape as [number, number, number, number];
  if (Hi % s !== 0 || Wi % s !== 0) {
    throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} has spatial size ${Hi}x${Wi}, not divisible by s = ${s}`);
  }
  const H = Hi / s, W = Wi / s;
  const y = Tensor.empty([N, H, W, C * s * s]);
  if (y.size > 0) engine().run('space_to_depth', [x.ptr, N, H, W, C, s, code, y.ptr]);
  return y;
}

/**
 * ShuffleNet's channel shuffle over C channels in g groups (view as [g, C/g], transpose, flatten):
 * the input channel that lands on output channel o.
 */
export function shuffleSource(o: number, C: number, g: number): number {
  if (!Number.isInteger(g) || g < 1 || C % g) throw new Error(`mvsr: channel shuffle: ${g} groups do not divide ${C} channels`);
  return (o % g) * (C / g) + Math.floor(o / g);
}

/** The input channel of each of the C output channels of a shuffle in g groups (checks g). */
export function shuffleOrder(C: number, g: number): number[] {
  return Array.from({ length: C }, (_, o) => shuffleSource(o, C, g));
}
