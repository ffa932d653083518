// conv2d forward / backward over NHWC tensors with PyTorch OIHW weights, dispatching to the
// dense, depthwise or per-group kernels, plus the fused inference epilogues.
import { engine } from '../engine.js';
import { Tensor, assertRank4, assertFinite, shapeStr } from '../tensor.js';
import { channelSum, roundUp4, withScratch } from './util.js';

export type Activation =
  | { kind: 'none' }
  | { kind: 'relu' }
  | { kind: 'leaky'; slope: number }
  | { kind: 'prelu'; alpha: Tensor } // 1 (shared) or Cout values
  | { kind: 'clamp'; lo: number; hi: number }
  | { kind: 'tanh' }
  | { kind: 'sigmoid' }
  | { kind: 'gelu' };

const ACT_CODE = { none: 0, relu: 1, leaky: 2, prelu: 3, clamp: 4, tanh: 5, sigmoid: 6, gelu: 7 } as const;

export interface Conv2dOptions {
  groups?: number;
  /** Zero padding on each side; default (K-1)D/2 ("same" for odd K). */
  padding?: number;
  /** Spacing of the kernel taps (PyTorch's dilation), default 1. */
  dilation?: number;
  /** Output pixels every `stride` input pixels (PyTorch's stride), default 1. */
  stride?: number;
  /** Fused activation (inference epilogue). */
  act?: Activation;
}

/** Fused last-layer epilogue: (conv + residual) -> activation (typically clamp) -> depth_to_space. */
export interface DepthToSpaceEpilogue {
  scale: number;
  order?: 'pytorch' | 'tf';
  /** LR tensor added before the activation; channel co of the conv output adds residual channel map[co]. */
  residual?: Tensor;
  residualMap?: ArrayLike<number>;
}

export interface ConvGeometry {
  N: number; H: number; W: number; Cin: number; Cout: number; K: number;
  /** Dilation, and the span (K-1)D+1 of the dilated kernel. */
  D: number; Ke: number;
  /** Stride; Ho x Wo is the strided output, Ho1 x Wo1 the stride-1 one it samples. */
  S: number; Ho1: number; Wo1: number;
  groups: number; pad: number; Ho: number; Wo: number;
}

export function convGeometry(op: string, x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions = {}): ConvGeometry {
  assertRank4(op, 'input', x);
  if (w.shape.length !== 4) throw new Error(`mvsr: ${op}: weight must be OIHW (rank 4), got ${shapeStr(w.shape)}`);
  const [N, H, W, Cin] = x.shape as [number, number, number, number];
  const [Cout, Cig, K, K2] = w.shape as [number, number, number, number];
  const groups = opts.groups ?? 1;
  if (K !== K2) throw new Error(`mvsr: ${op}: only square kernels are supported, weight ${shapeStr(w.shape)}`);
  if (!Number.isInteger(groups) || groups < 1 || Cin % groups || Cout % groups) {
    throw new Error(`mvsr: ${op}: groups=${groups} must divide input channels ${Cin} and output channels ${Cout}`);
  }
  if (Cig * groups !== Cin) {
    throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} has ${Cin} channels but weight ${shapeStr(w.shape)} with groups=${groups} expects ${Cig * groups}`);
  }
  if (b && (b.shape.length !== 1 || b.shape[0] !== Cout)) {
    throw new Error(`mvsr: ${op}: bias ${shapeStr(b.shape)} does not match ${Cout} output channels`);
  }
  assertFinite(op, 'input', x);
  assertFinite(op, 'weight', w);
  const D = opts.dilation ?? 1;
  if (!Number.isInteger(D) || D < 1) throw new Error(`mvsr: ${op}: dilation ${D} is not a positive integer`);
  const Ke = (K - 1) * D + 1;
  const pad = opts.padding ?? (Ke - 1) / 2;
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`mvsr: ${op}: padding ${pad} is not a non-negative integer (even kernel ${K}? pass padding)`);
  const S = opts.stride ?? 1;
  if (!Number.isInteger(S) || S < 1) throw new Error(`mvsr: ${op}: stride ${S} is not a positive integer`);
  const Ho1 = H + 2 * pad - Ke + 1, Wo1 = W + 2 * pad - Ke + 1;
  if (Ho1 < 1 || Wo1 < 1) throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} is smaller than kernel ${K}${D > 1 ? ` (dilation ${D})` : ''} with padding ${pad}`);
  const Ho = Math.floor((Ho1 - 1) / S) + 1, Wo = Math.floor((Wo1 - 1) / S) + 1;
  return { N, H, W, Cin, Cout, K, D, Ke, S, Ho1, Wo1, groups, pad, Ho: S === 1 ? Ho1 : Ho, Wo: S === 1 ? Wo1 : Wo };
}

/** Zero-padded copy of x (pad rows/cols on each side), as a scratch pointer; caller releases. */
function padded(x: Tensor, g: ConvGeometry, xPtr = x.ptr, C = g.Cin, N = g.N, H = g.H, W = g.W, p = g.pad): number {
  const e = engine();
  const Hp = H + 2 * p, Wp = W + 2 * p;
  const ptr = e.alloc(N * Hp * Wp * C * 4);
  e.run('pad_nhwc', [xPtr, C, N, H, W, C, p, p, p, p, ptr]);
  return ptr;
}

function packWeights(wPtr: number, Co: number, Ci: number, K: number, mode: 0 | 1 | 2): number {
  const e = engine();
  const CoP = roundUp4(Co);
  const ptr = e.alloc(K * K * Ci * CoP * 4);
  e.call('pack_conv_weight', [wPtr, Co, Ci, K, mode, ptr, CoP]);
  return ptr;
}

/** Per-channel vector padded to a multiple of 4 (bias, PReLU alpha), as scratch; 0 for none. */
function paddedVector(t: Tensor | null, n: number, fill?: number): number {
  if (!t && fill === undefined) return 0;
  const e = engine();
  const ptr = e.alloc(roundUp4(n) * 4);
  const f = e.f32;
  const o = ptr >>> 2;
  f.fill(0, o, o + roundUp4(n));
  if (t) {
    if (t.size === 1) f.fill(t.data[0]!, o, o + n);
    else f.set(t.data, o);
  } else f.fill(fill!, o, o + n);
  return ptr;
}

function actArgs(act: Activation | undefined, Cout: number, scratch: number[]): [number, number, number, number] {
  const a = act ?? { kind: 'none' };
  switch (a.kind) {
    case 'leaky': return [ACT_CODE.leaky, a.slope, 0, 0];
    case 'clamp': return [ACT_CODE.clamp, a.lo, a.hi, 0];
    case 'prelu': {
      if (a.alpha.size !== 1 && a.alpha.size !== Cout) {
        throw new Error(`mvsr: conv2d: PReLU alpha has ${a.alpha.size} values, expected 1 or ${Cout}`);
      }
      const p = paddedVector(a.alpha, Cout);
      scratch.push(p);
      return [ACT_CODE.prelu, 0, 0, p];
    }
    default: return [ACT_CODE[a.kind], 0, 0, 0];
  }
}

/** `slices` K x K kernels spread to (K-1)D+1 squares with zeros between the taps, as scratch; caller releases. */
function dilatedKernel(wPtr: number, slices: number, K: number, D: number): number {
  const e = engine();
  const Ke = (K - 1) * D + 1;
  const ptr = e.alloc(slices * Ke * Ke * 4);
  const f = e.f32, src = wPtr >>> 2, dst = ptr >>> 2;
  f.fill(0, dst, dst + slices * Ke * Ke);
  for (let s = 0; s < slices; s++) {
    for (let ky = 0; ky < K; ky++) for (let kx = 0; kx < K; kx++) f[dst + (s * Ke + ky * D) * Ke + kx * D] = f[src + (s * K + ky) * K + kx]!;
  }
  return ptr;
}

/**
 * Dense 3x3 stride-1 convs with at least this many input channels run by Winograd F(2x2, 3x3)
 * (kernels/winograd.ts). Against the direct kernel at 180x320 on one thread: 1.24x (8 -> 8),
 * 1.4-1.9x from 16 channels on; with 3 or 4 input channels it was no faster (1.0-1.1x).
 */
const WINOGRAD_MIN_CIN = 8;
/**
 * Fewer input channels (down to 6) pay when the outputs are many, as in a x4 tail of 6 -> 48
 * channels (the products dominate the input transform): ELSR's graph 1.12x faster on one thread,
 * 1.05x on two (scripts/time-graph.mjs, AMD EPYC, 2026-12-05).
 */
const WINOGRAD_FEW_CIN = { cin: 6, cout: 32 };

function winogradFits(g: ConvGeometry): boolean {
  const wide = g.Cin >= WINOGRAD_MIN_CIN || (g.Cin >= WINOGRAD_FEW_CIN.cin && g.Cout >= WINOGRAD_FEW_CIN.cout);
  return g.K === 3 && g.D === 1 && g.S === 1 && g.groups === 1 && wide;
}

/**
 * The conv of geometry g (+ bias, activation, epilogue as convPadded's) of the tensor at xPtr into
 * yPtr by Winograd; mode 0: w is its OIHW weight, mode 1: it is the input gradient of the conv
 * whose weight w is (convPadded's mode 1). The input is padded with one more zero row / column
 * after an odd output height / width, so every 2x2 tile reads a whole 4x4 patch.
 */
function convWinograd(xPtr: number, g: ConvGeometry, wPtr: number, mode: 0 | 1, bias: Tensor | null, yPtr: number, act: Activation | undefined, epi: number): void {
  const e = engine();
  const scratch: number[] = [];
  try {
    const [code, p0, p1, alpha] = actArgs(act, g.Cout, scratch);
    const CoP = roundUp4(g.Cout);
    const xp = e.alloc(g.N * (g.Ho + 2 + (g.Ho & 1)) * (g.Wo + 2 + (g.Wo & 1)) * g.Cin * 4); scratch.push(xp);
    e.run('pad_nhwc', [xPtr, g.Cin, g.N, g.H, g.W, g.Cin, g.pad, g.pad + (g.Ho & 1), g.pad, g.pad + (g.Wo & 1), xp]);
    const U = e.alloc(16 * g.Cin * CoP * 4); scratch.push(U);
    e.call('winograd_weights', [wPtr, g.Cout, g.Cin, U, CoP, mode]);
    const bp = paddedVector(bias, g.Cout); if (bp) scratch.push(bp);
    const work = e.alloc(e.call('winograd_scratch', [g.Cin, CoP]) * e.threads * 4); scratch.push(work);
    e.run('conv3x3_winograd', [xp, g.N, g.Ho, g.Wo, g.Cin, U, CoP, g.Cout, bp, yPtr, g.Cout, code, p0, p1, alpha, epi, work]);
  } finally {
    for (const p of scratch) e.release(p);
  }
}

/** Run a valid conv over an already padded input pointer into yPtr; handles groups. */
function convPadded(
  xp: number, g: ConvGeometry, wPtr: number, mode: 0 | 1, bias: Tensor | null, yPtr: number,
  act: Activation | undefined, epi: number, Cin = g.Cin, Cout = g.Cout,
): void {
  const e = engine();
  const { N, Ho, Wo, groups } = g;
  let K = g.K;
  const scratch: number[] = [];
  try {
    const [code, p0, p1, alpha] = actArgs(act, Cout, scratch);
    const cig = Cin / groups, cog = Cout / groups;
    if (groups > 1 && cig === 1 && cog === 1) {
      // depthwise: weight [C][1][K][K]; mode 1 flips taps (input gradient); the kernel steps D pixels per tap
      const wp = packWeights(wPtr, Cout, 1, K, mode); scratch.push(wp);
      const bp = paddedVector(bias, Cout); if (bp) scratch.push(bp);
      e.run('dwconv2d_fwd', [xp, Cin, N, Ho, Wo, Cout, K, g.D, wp, roundUp4(Cout), bp, yPtr, Cout, code, p0, p1, alpha]);
      return;
    }
    if (g.D > 1) {
      // dense or grouped with dilation: the kernel with zeros between its taps, as an undilated one
      wPtr = dilatedKernel(wPtr, cig * Cout, g.K, g.D); scratch.push(wPtr);
      K = g.Ke;
    }
    const bp = paddedVector(bias, Cout); if (bp) scratch.push(bp);
    for (let gi = 0; gi < groups; gi++) {
      // weights of group gi: OIHW rows [gi*cog, (gi+1)*cog) (mode 0) or [gi*cig...) of the original (mode 1)
      const srcOff = mode === 0 ? gi * cog * cig * K * K : gi * cig * cog * K * K;
      const wp = packWeights(wPtr + srcOff * 4, cog, cig, K, mode); scratch.push(wp);
      const alphaG = alpha ? alpha + gi * cog * 4 : 0;
      e.run('conv2d_fwd', [
        xp + gi * cig * 4, Cin, N, Ho, Wo, cig, K, wp, roundUp4(cog), cog,
        bp ? bp + gi * cog * 4 : 0, yPtr + gi * cog * 4, Cout, code, p0, p1, alphaG, epi,
      ]);
    }
  } finally {
    for (const p of scratch) e.release(p);
  }
}

/** y = act(conv2d(x, w) + b): NHWC input, OIHW weight, stride 1, zero padding. */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const g = convGeometry('conv2d', x, w, b, opts);
  if (g.S > 1) {
    // strided: every S-th pixel of the stride-1 conv (ESA's one small strided conv; not a hot path)
    const full = conv2d(x, w, b, { ...opts, stride: 1 });
    try {
      return strideSample(full, g);
    } finally {
      full.dispose();
    }
  }
  const y = Tensor.empty([g.N, g.Ho, g.Wo, g.Cout]);
  if (winogradFits(g)) {
    convWinograd(x.ptr, g, w.ptr, 0, b, y.ptr, opts.act, 0);
    return y;
  }
  const e = engine();
  const xp = padded(x, g);
  try {
    convPadded(xp, g, w.ptr, 0, b, y.ptr, opts.act, 0);
  } finally {
    e.release(xp);
  }
  return y;
}

/** Pixels (S i, S j) of a stride-1 conv output [N, Ho1, Wo1, C] -> [N, Ho, Wo, C]. */
function strideSample(full: Tensor, g: ConvGeometry): Tensor {
  const C = full.shape[3]!;
  const y = Tensor.empty([g.N, g.Ho, g.Wo, C]);
  const f = engine().f32, src = full.ptr >>> 2, dst = y.ptr >>> 2;
  for (let n = 0; n < g.N; n++) {
    for (let i = 0; i < g.Ho; i++) {
      for (let j = 0; j < g.Wo; j++) {
        const s = src + ((n * g.Ho1 + i * g.S) * g.Wo1 + j * g.S) * C;
        f.copyWithin(dst + ((n * g.Ho + i) * g.Wo + j) * C, s, s + C);
      }
    }
  }
  return y;
}

/** The adjoint of strideSample: dy [N, Ho, Wo, C] placed at (S i, S j) of zeros [N, Ho1, Wo1, C]. */
function strideScatter(dy: Tensor, g: ConvGeometry): Tensor {
  const C = dy.shape[3]!;
  const full = Tensor.zeros([g.N, g.Ho1, g.Wo1, C]);
  const f = engine().f32, src = dy.ptr >>> 2, dst = full.ptr >>> 2;
  for (let n = 0; n < g.N; n++) {
    for (let i = 0; i < g.Ho; i++) {
      for (let j = 0; j < g.Wo; j++) {
        const s = src + ((n * g.Ho + i) * g.Wo + j) * C;
        f.copyWithin(dst + ((n * g.Ho1 + i * g.S) * g.Wo1 + j * g.S) * C, s, s + C);
      }
    }
  }
  return full;
}

/**
 * Fused last layer for inference: depth_to_space(act(conv2d(x, w) + b + residual[map])).
 * Output [N, Ho*s, Wo*s, Cout/s^2].
 */
export function conv2dDepthToSpace(
  x: Tensor, w: Tensor, b: Tensor | null, epi: DepthToSpaceEpilogue, opts: Conv2dOptions = {},
): Tensor {
  const g = convGeometry('conv2dDepthToSpace', x, w, b, opts);
  if (g.S !== 1) throw new Error('mvsr: conv2dDepthToSpace: a strided conv has no fused depth_to_space epilogue');
  const s = epi.scale;
  if (!Number.isInteger(s) || s < 1 || g.Cout % (s * s)) {
    throw new Error(`mvsr: conv2dDepthToSpace: ${g.Cout} output channels are not divisible by scale^2 = ${s * s}`);
  }
  if (g.groups !== 1) throw new Error('mvsr: conv2dDepthToSpace: grouped convolutions are not supported');
  const C = g.Cout / (s * s);
  const e = engine();
  const y = Tensor.empty([g.N, g.Ho * s, g.Wo * s, C]);
  const scratch: number[] = [];
  try {
    let resPtr = 0, resStride = 0, mapPtr = 0;
    if (epi.residual) {
      const r = epi.residual;
      assertRank4('conv2dDepthToSpace', 'residual', r);
      if (r.shape[0] !== g.N || r.shape[1] !== g.Ho || r.shape[2] !== g.Wo) {
        throw new Error(`mvsr: conv2dDepthToSpace: residual ${shapeStr(r.shape)} does not match conv output ${shapeStr([g.N, g.Ho, g.Wo, g.Cout])}`);
      }
      const map = epi.residualMap ?? Array.from({ length: g.Cout }, (_, i) => i);
      if (map.length !== g.Cout) throw new Error(`mvsr: conv2dDepthToSpace: residualMap has ${map.length} entries, expected ${g.Cout}`);
      mapPtr = e.alloc(roundUp4(g.Cout) * 4); scratch.push(mapPtr);
      const i32 = e.i32;
      for (let i = 0; i < g.Cout; i++) {
        const m = map[i]!;
        if (!Number.isInteger(m) || m < 0 || m >= r.shape[3]!) {
          throw new Error(`mvsr: conv2dDepthToSpace: residualMap[${i}] = ${m} is not a channel of the residual (${r.shape[3]} channels)`);
        }
        i32[(mapPtr >>> 2) + i] = m;
      }
      resPtr = r.ptr; resStride = r.shape[3]!;
    }
    // where output channel co lands, relative to HR pixel (oy*s, ox*s): row i, column j, channel cc
    const offPtr = e.alloc(roundUp4(g.Cout) * 4); scratch.push(offPtr);
    const Ws = g.Wo * s, off = e.i32, o0 = offPtr >>> 2;
    for (let co = 0; co < g.Cout; co++) {
      let cc: number, ij: number;
      if (epi.order === 'tf') { cc = co % C; ij = Math.floor(co / C); } else { cc = Math.floor(co / (s * s)); ij = co % (s * s); }
      off[o0 + co] = (Math.floor(ij / s) * Ws + (ij % s)) * C + cc;
    }
    const epiPtr = e.alloc(32); scratch.push(epiPtr);
    e.i32.set([1, s, epi.order === 'tf' ? 1 : 0, resPtr, resStride, mapPtr, C, offPtr], epiPtr >>> 2);
    if (winogradFits(g)) convWinograd(x.ptr, g, w.ptr, 0, b, y.ptr, opts.act, epiPtr);
    else {
      const xp = padded(x, g); scratch.push(xp);
      convPadded(xp, g, w.ptr, 0, b, y.ptr, opts.act, epiPtr);
    }
  } finally {
    for (const p of scratch) e.release(p);
  }
  return y;
}

export interface Conv2dGrads { dx: Tensor | null; dw: Tensor | null; db: Tensor | null }

/** Gradients of y = conv2d(x, w, b) (no activation) given dy. */
export function conv2dBackward(
  x: Tensor, w: Tensor, dy: Tensor, opts: Conv2dOptions, need: { dx: boolean; dw: boolean; db: boolean },
): Conv2dGrads {
  const g = convGeometry('conv2dBackward', x, w, null, opts);
  if (g.S > 1) {
    if (dy.shape.length !== 4 || dy.shape[0] !== g.N || dy.shape[1] !== g.Ho || dy.shape[2] !== g.Wo || dy.shape[3] !== g.Cout) {
      throw new Error(`mvsr: conv2dBackward: output gradient ${shapeStr(dy.shape)} does not match output ${shapeStr([g.N, g.Ho, g.Wo, g.Cout])}`);
    }
    const full = strideScatter(dy, g);
    try {
      return conv2dBackward(x, w, full, { ...opts, stride: 1 }, need);
    } finally {
      full.dispose();
    }
  }
  if (dy.shape.length !== 4 || dy.shape[0] !== g.N || dy.shape[1] !== g.Ho || dy.shape[2] !== g.Wo || dy.shape[3] !== g.Cout) {
    throw new Error(`mvsr: conv2dBackward: output gradient ${shapeStr(dy.shape)} does not match output ${shapeStr([g.N, g.Ho, g.Wo, g.Cout])}`);
  }
  const e = engine();
  const { N, H, W, Cin, Cout, K, D, Ke, groups, pad, Ho, Wo } = g;
  const cig = Cin / groups, cog = Cout / groups;
  const out: Conv2dGrads = { dx: null, dw: null, db: null };
  if (need.db) {
    out.db = Tensor.empty([Cout]);
    channelSum(dy.ptr, N * Ho * Wo, Cout, Cout, out.db.ptr);
  }
  if (need.dx) {
    // dx = full correlation of dy with the flipped, transposed kernel: pad dy by Ke-1-pad.
    const q = Ke - 1 - pad;
    if (q < 0) throw new Error('mvsr: conv2dBackward: padding larger than the kernel span minus 1 is not supported');
    const gT: ConvGeometry = { ...g, Cin: Cout, Cout: Cin, H: Ho, W: Wo, pad: q, Ho: H, Wo: W };
    out.dx = Tensor.empty([N, H, W, Cin]);
    if (winogradFits(gT)) convWinograd(dy.ptr, gT, w.ptr, 1, null, out.dx.ptr, undefined, 0);
    else {
      const dyp = padded(dy, g, dy.ptr, Cout, N, Ho, Wo, q);
      try {
        convPadded(dyp, gT, w.ptr, 1, null, out.dx.ptr, undefined, 0, Cout, Cin);
      } finally {
        e.release(dyp);
      }
    }
  }
  if (need.dw) {
    out.dw = Tensor.empty(w.shape);
    const xp = padded(x, g);
    try {
      if (groups > 1 && cig === 1 && cog === 1) {
        const CP = roundUp4(Cout);
        withScratch(K * K * CP, (dwp) => {
          e.run('dwconv2d_bwd_w', [xp, Cin, N, Ho, Wo, Cout, K, D, dy.ptr, Cout, CP, dwp]);
          e.call('unpack_conv_weight', [dwp, Cout, 1, K, CP, out.dw!.ptr]);
        });
      } else {
        // with dilation: the gradient of the spread kernel, whose taps at multiples of D are the weights'
        const CoP = roundUp4(cog);
        withScratch(Ke * Ke * cig * CoP + (D > 1 ? Cout * cig * Ke * Ke : 0), (dwp) => {
          const full = D > 1 ? dwp + Ke * Ke * cig * CoP * 4 : out.dw!.ptr;
          for (let gi = 0; gi < groups; gi++) {
            e.run('conv2d_bwd_w', [xp + gi * cig * 4, Cin, N, Ho, Wo, cig, Ke, dy.ptr + gi * cog * 4, Cout, cog, CoP, dwp]);
            e.call('unpack_conv_weight', [dwp, cog, cig, Ke, CoP, full + gi * cog * cig * Ke * Ke * 4]);
          }
          if (D > 1) {
            const f = e.f32, src = full >>> 2, dst = out.dw!.ptr >>> 2;
            for (let s = 0; s < Cout * cig; s++) {
              for (let ky = 0; ky < K; ky++) for (let kx = 0; kx < K; kx++) f[dst + (s * K + ky) * K + kx] = f[src + (s * Ke + ky * D) * Ke + kx * D]!;
            }
          }
        });
      }
    } finally {
      e.release(xp);
    }
  }
  return out;
}
