/**
 * Naive float64 reference convolutions (NHWC activations, PyTorch weight layouts).
 */
import { RT, VecLike, rt, checkRank, checkInt, shapeStr, vecData } from './tensor.js';

export interface Conv2dOptions {
  /** Number of groups (PyTorch `groups`), default 1. */
  groups?: number;
  /** Zero padding on every side; default (K-1)D/2 ("same" for odd K). */
  padding?: number;
  /** Spacing of the kernel taps (PyTorch `dilation`), default 1. */
  dilation?: number;
  /** Output every `stride` pixels (PyTorch `stride`), default 1. */
  stride?: number;
}

/**
 * 2-D convolution, stride 1, zero padding, as PyTorch's nn.Conv2d
 * (i.e. cross-correlation: the kernel is NOT flipped).
 *
 *   x: [N, H, W, Cin]                 (NHWC)
 *   w: [Cout, Cin/groups, KH, KW]     (PyTorch OIHW)
 *   bias: length Cout, or null
 *   out: [N, H + 2p - KH + 1, W + 2p - KW + 1, Cout]
 *
 *   out[n, oy, ox, co] = bias[co]
 *     + sum_{ci in group(co), ky, kx} x[n, oy - p + ky d, ox - p + kx d, ci] * w[co, ci - g*Cin/groups, ky, kx]
 *   with dilation d (the output then has H + 2p - (KH-1)d rows)
 *   where out-of-range x positions read as 0.
 */
export function conv2d(x: RT, w: RT, bias: VecLike | null, opts: Conv2dOptions = {}): RT {
  checkRank(x, 4, 'conv2d x');
  checkRank(w, 4, 'conv2d w');
  const [N, H, W, Cin] = x.shape;
  const [Cout, CinG, KH, KW] = w.shape;
  const groups = opts.groups ?? 1;
  checkInt(groups, 1, 'conv2d groups');
  if (Cin % groups !== 0) throw new Error(`conv2d: Cin=${Cin} not divisible by groups=${groups}`);
  if (Cout % groups !== 0) throw new Error(`conv2d: Cout=${Cout} not divisible by groups=${groups}`);
  if (CinG !== Cin / groups) {
    throw new Error(`conv2d: weight ${shapeStr(w.shape)} expects ${CinG * groups} input channels with groups=${groups}, x has ${Cin}`);
  }
  const d = opts.dilation ?? 1;
  checkInt(d, 1, 'conv2d dilation');
  let padH: number;
  let padW: number;
  if (opts.padding === undefined) {
    if (KH % 2 === 0 || KW % 2 === 0) {
      throw new Error(`conv2d: default "same" padding needs an odd kernel, got ${KH}x${KW}; pass padding explicitly`);
    }
    padH = ((KH - 1) * d) / 2;
    padW = ((KW - 1) * d) / 2;
  } else {
    checkInt(opts.padding, 0, 'conv2d padding');
    padH = opts.padding;
    padW = opts.padding;
  }
  const st = opts.stride ?? 1;
  checkInt(st, 1, 'conv2d stride');
  const Hout = Math.floor((H + 2 * padH - (KH - 1) * d - 1) / st) + 1;
  const Wout = Math.floor((W + 2 * padW - (KW - 1) * d - 1) / st) + 1;
  if (Hout < 1 || Wout < 1) {
    throw new Error(`conv2d: output size ${Hout}x${Wout} is too small (input ${H}x${W}, kernel ${KH}x${KW}, padding ${padH})`);
  }
  const b = bias === null ? null : vecData(bias, 'conv2d bias', Cout);

  const CoutG = Cout / groups;
  const out = rt([N, Hout, Wout, Cout]);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < Hout; oy++) {
      for (let ox = 0; ox < Wout; ox++) {
        for (let co = 0; co < Cout; co++) {
          const g = Math.floor(co / CoutG);
          let s = b === null ? 0 : b[co];
          for (let cil = 0; cil < CinG; cil++) {
            const ci = g * CinG + cil;
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * st - padH + ky * d;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * st - padW + kx * d;
                if (ix < 0 || ix >= W) continue;
                const xv = x.data[((n * H + iy) * W + ix) * Cin + ci];
                const wv = w.data[((co * CinG + cil) * KH + ky) * KW + kx];
                s += xv * wv;
              }
            }
          }
          out.data[((n * Hout + oy) * Wout + ox) * Cout + co] = s;
        }
      }
    }
  }
  return out;
}

export interface ConvTranspose2dOptions {
  /** Stride (>= 1). */
  stride: number;
  /** PyTorch `padding` (crop) on every side, default 0. */
  padding?: number;
  /** PyTorch `output_padding`, extra rows/cols at the bottom/right, default 0; must be < stride. */
  outputPadding?: number;
  /** Number of groups, default 1. */
  groups?: number;
}

/**
 * Transposed 2-D convolution with PyTorch nn.ConvTranspose2d semantics (dilation 1).
 *
 *   x: [N, H, W, Cin]                 (NHWC)
 *   w: [Cin, Cout/groups, KH, KW]     (PyTorch ConvTranspose2d layout)
 *   bias: length Cout, or null
 *   out: [N, Hout, Wout, Cout], Hout = (H-1)*stride - 2*padding + KH + outputPadding (same for W)
 *
 * Scatter definition: for every input pixel and kernel tap
 *   out[n, iy*stride - padding + ky, ix*stride - padding + kx, g*Cout/groups + j] += x[n, iy, ix, ci] * w[ci, j, ky, kx]
 * where g = group of ci; positions outside the output are skipped. The bias is
 * then added to every output element.
 */
export function convTranspose2d(x: RT, w: RT, bias: VecLike | null, opts: ConvTranspose2dOptions): RT {
  checkRank(x, 4, 'convTranspose2d x');
  checkRank(w, 4, 'convTranspose2d w');
  if (opts === undefined || opts === null) throw new Error('convTranspose2d: options with a stride are required');
  const [N, H, W, Cin] = x.shape;
  const [wCin, CoutG, KH, KW] = w.shape;
  const stride = opts.stride;
  const padding = opts.padding ?? 0;
  const outputPadding = opts.outputPadding ?? 0;
  const groups = opts.groups ?? 1;
  checkInt(stride, 1, 'convTranspose2d stride');
  checkInt(padding, 0, 'convTranspose2d padding');
  checkInt(outputPadding, 0, 'convTranspose2d outputPadding');
  checkInt(groups, 1, 'convTranspose2d groups');
  if (outputPadding >= stride) {
    throw new Error(`convTranspose2d: outputPadding=${outputPadding} must be smaller than stride=${stride}`);
  }
  if (wCin !== Cin) {
    throw new Error(`convTranspose2d: weight ${shapeStr(w.shape)} expects ${wCin} input channels, x has ${Cin}`);
  }
  if (Cin % groups !== 0) throw new Error(`convTranspose2d: Cin=${Cin} not divisible by groups=${groups}`);
  const CinG = Cin / groups;
  const Cout = CoutG * groups;
  const Hout = (H - 1) * stride - 2 * padding + KH + outputPadding;
  const Wout = (W - 1) * stride - 2 * padding + KW + outputPadding;
  if (Hout < 1 || Wout < 1) {
    throw new Error(`convTranspose2d: output size ${Hout}x${Wout} is too small`);
  }
  const b = bias === null ? null : vecData(bias, 'convTranspose2d bias', Cout);

  const out = rt([N, Hout, Wout, Cout]);
  for (let n = 0; n < N; n++) {
    for (let iy = 0; iy < H; iy++) {
      for (let ix = 0; ix < W; ix++) {
        for (let ci = 0; ci < Cin; ci++) {
          const g = Math.floor(ci / CinG);
          const xv = x.data[((n * H + iy) * W + ix) * Cin + ci];
          for (let j = 0; j < CoutG; j++) {
            const co = g * CoutG + j;
            for (let ky = 0; ky < KH; ky++) {
              const oy = iy * stride - padding + ky;
              if (oy < 0 || oy >= Hout) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ox = ix * stride - padding + kx;
                if (ox < 0 || ox >= Wout) continue;
                const wv = w.data[((ci * CoutG + j) * KH + ky) * KW + kx];
                out.data[((n * Hout + oy) * Wout + ox) * Cout + co] += xv * wv;
              }
            }
          }
        }
      }
    }
  }
  if (b !== null) {
    for (let i = 0; i < out.data.length; i++) out.data[i] += b[i % Cout];
  }
  return out;
}
