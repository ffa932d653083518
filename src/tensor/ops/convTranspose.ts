// conv_transpose2d (PyTorch nn.ConvTranspose2d, groups = 1, dilation 1) over NHWC tensors with
// weights in PyTorch layout [Cin, Cout, K, K]. Forward and input gradient are gathers over
// output / input pixels; the weight gradient sums every weight on one thread in a fixed order.
import { engine } from '../engine.js';
import { Tensor, assertRank4, assertFinite, shapeStr } from '../tensor.js';
import { channelSum, roundUp4 } from './util.js';

export interface ConvTranspose2dOptions {
  stride: number;
  /** PyTorch `padding`: rows/cols cropped from each side of the full output; default 0. */
  padding?: number;
  /** PyTorch `output_padding`: extra rows/cols at the bottom/right; default 0, must be < stride. */
  outputPadding?: number;
  /** Only 1 is supported. */
  groups?: number;
}

export interface ConvTransposeGeometry {
  N: number; H: number; W: number; Cin: number; Cout: number; K: number;
  stride: number; pad: number; outPad: number; Ho: number; Wo: number;
}

export function convTransposeGeometry(
  op: string, x: Tensor, w: Tensor, b: Tensor | null, opts: ConvTranspose2dOptions,
): ConvTransposeGeometry {
  assertRank4(op, 'input', x);
  assertFinite(op, 'input', x);
  assertFinite(op, 'weight', w);
  if (w.shape.length !== 4) throw new Error(`mvsr: ${op}: weight must be [Cin, Cout, K, K] (rank 4), got ${shapeStr(w.shape)}`);
  const [N, H, W, Cin] = x.shape as [number, number, number, number];
  const [wCin, Cout, K, K2] = w.shape as [number, number, number, number];
  if (!opts || typeof opts !== 'object') throw new Error(`mvsr: ${op}: options with a stride are required (input ${shapeStr(x.shape)})`);
  const groups = opts.groups ?? 1;
  if (groups !== 1) throw new Error(`mvsr: ${op}: groups=${groups} is not supported (only groups = 1); input ${shapeStr(x.shape)}, weight ${shapeStr(w.shape)}`);
  if (K !== K2) throw new Error(`mvsr: ${op}: only square kernels are supported, weight ${shapeStr(w.shape)}`);
  if (wCin !== Cin) {
    throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} has ${Cin} channels but weight ${shapeStr(w.shape)} expects ${wCin} (layout [Cin, Cout, K, K])`);
  }
  if (b && (b.shape.length !== 1 || b.shape[0] !== Cout)) {
    throw new Error(`mvsr: ${op}: bias ${shapeStr(b.shape)} does not match ${Cout} output channels of weight ${shapeStr(w.shape)}`);
  }
  const stride = opts.stride, pad = opts.padding ?? 0, outPad = opts.outputPadding ?? 0;
  if (!Number.isInteger(stride) || stride < 1) throw new Error(`mvsr: ${op}: stride ${stride} is not a positive integer`);
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`mvsr: ${op}: padding ${pad} is not a non-negative integer`);
  if (!Number.isInteger(outPad) || outPad < 0 || outPad >= stride) {
    throw new Error(`mvsr: ${op}: outputPadding ${outPad} must be a non-negative integer smaller than stride ${stride}`);
  }
  const Ho = (H - 1) * stride - 2 * pad + K + outPad;
  const Wo = (W - 1) * stride - 2 * pad + K + outPad;
  if (H < 1 || W < 1 || K < 1 || Ho < 1 || Wo < 1) {
    throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} with weight ${shapeStr(w.shape)}, stride ${stride}, padding ${pad}, outputPadding ${outPad} gives an empty output ${Ho}x${Wo}`);
  }
  return { N, H, W, Cin, Cout, K, stride, pad, outPad, Ho, Wo };
}

/** Pack [Cin, Cout, K, K] weights: mode 2 -> [K][K][Cin][CoutP] (forward), mode 0 -> [K][K][Cout][CinP] (input gradient). */
function pack(w: Tensor, g: ConvTransposeGeometry, forward: boolean): number {
  const e = engine();
  const { Cin, Cout, K } = g;
  if (forward) {
    const ptr = e.alloc(K * K * Cin * roundUp4(Cout) * 4);
    e.call('pack_conv_weight', [w.ptr, Cout, Cin, K, 2, ptr, roundUp4(Cout)]);
    return ptr;
  }
  // the [Cin][Cout][K][K] array read as OIHW with O = Cin, I = Cout
  const ptr = e.alloc(K * K * Cout * roundUp4(Cin) * 4);
  e.call('pack_conv_weight', [w.ptr, Cin, Cout, K, 0, ptr, roundUp4(Cin)]);
  return ptr;
}

/** y = conv_transpose2d(x, w, b): x [N,H,W,Cin], w [Cin,Cout,K,K] -> [N, Ho, Wo, Cout]. */
export function convTranspose2d(x: Tensor, w: Tensor, b: Tensor | null, opts: ConvTranspose2dOptions): Tensor {
  const g = convTransposeGeometry('convTranspose2d', x, w, b, opts);
  const { N, H, W, Cin, Cout, K, stride, pad, Ho, Wo } = g;
  const y = Tensor.empty([N, Ho, Wo, Cout]);
  if (y.size === 0) return y;
  const e = engine();
  const CoP = roundUp4(Cout);
  const scratch: number[] = [];
  try {
    const wp = pack(w, g, true); scratch.push(wp);
    let bp = 0;
    if (b) {
      bp = e.alloc(CoP * 4); scratch.push(bp);
      const f = e.f32;
      f.fill(0, bp >>> 2, (bp >>> 2) + CoP);
      f.set(b.data, bp >>> 2);
    }
    e.run('convt2d_fwd', [x.ptr, N, H, W, Cin, K, stride, pad, wp, CoP, Cout, bp, y.ptr, Ho, Wo]);
  } catch (err) {
    y.dispose();
    throw err;
  } finally {
    for (const p of scratch) e.release(p);
  }
  return y;
}

export interface ConvTranspose2dGrads { dx: Tensor | null; dw: Tensor | null; db: Tensor | null }

/** Gradients of y = convTranspose2d(x, w, b) given dy. */
export function convTranspose2dBackward(
  x: Tensor, w: Tensor, dy: Tensor, opts: ConvTranspose2dOptions,
  need: { dx: boolean; dw: boolean; db: boolean },
): ConvTranspose2dGrads {
  const op = 'convTranspose2dBackward';
  const g = convTransposeGeometry(op, x, w, null, opts);
  const { N, H, W, Cin, Cout, K, stride, pad, Ho, Wo } = g;
  if (dy.shape.length !== 4 || dy.shape[0] !== N || dy.shape[1] !== Ho || dy.shape[2] !== Wo || dy.shape[3] !== Cout) {
    throw new Error(`mvsr: ${op}: output gradient ${shapeStr(dy.shape)} does not match output ${shapeStr([N, Ho, Wo, Cout])}`);
  }
  const e = engine();
  const out: ConvTranspose2dGrads = { dx: null, dw: null, db: null };
  if (need.db) {
    out.db = Tensor.empty([Cout]);
    channelSum(dy.ptr, N * Ho * Wo, Cout, Cout, out.db.ptr);
  }
  if (need.dx) {
    out.dx = Tensor.empty([N, H, W, Cin]);
    if (out.dx.size > 0) {
      const wp = pack(w, g, false);
      try {
        e.run('convt2d_bwd_x', [dy.ptr, N, Ho, Wo, Cout, K, stride, pad, wp, roundUp4(Cin), Cin, out.dx.ptr, H, W]);
      } finally {
        e.release(wp);
      }
    }
  }
  if (need.dw) {
    out.dw = Tensor.empty(w.shape);
    if (out.dw.size > 0) {
      e.run('convt2d_bwd_w', [x.ptr, N, H, W, Cin, K, stride, pad, dy.ptr, Ho, Wo, Cout, out.dw.ptr]);
    }
  }
  return out;
}
