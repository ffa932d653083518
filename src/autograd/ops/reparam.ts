// Differentiable structural re-parameterisation of an edge-oriented convolution block (ECB,
// ECBSR): the folded KxK kernel and bias as functions of the branch parameters, inside the
// autograd graph. The fold is linear in each branch's parameters (bilinear in k0/k1 of a
// conv1x1-convKxK branch), so the backward maps the folded gradient back with a few small loops
// over the parameter tensors (a few thousand multiply-adds per block, independent of the image
// size). Accumulation is in float64; the outputs are rounded to float32 once.
//
// Branches (O output, I input, M mid channels, kk = K*K taps, all tensors OIHW / flat):
//   conv:  w [O,I,K,K], b [O]                                  W += w,                B += b
//   seq:   k0 [M,I,1,1], b0 [M], k1 [O,M,K,K], b1 [O]          W += k1 . k0,          B += b1 + sum_{m,t} k1 b0
//   edge:  k0 [O,I,1,1], b0 [O], scale [O,1,1,1], bias [O],     W += scale*mask*k0,    B += bias + scale*b0*sum_t mask
//          mask [O,1,K,K] fixed (a constant of the fold: no gradient)
// The seq/edge folds are exact at image borders only when the 1x1 output is padded with b0
// (as the reference ECBSR does), i.e. when the branch equals convKxK(pad_zero(k0 x)) + const.
import { record, type Var } from '../var.js';
import { Tensor, shapeStr } from '../../tensor/tensor.js';

export interface FoldConvBranch { w: Var; b: Var }
export interface FoldSeqBranch { k0: Var; b0: Var; k1: Var; b1: Var }
export interface FoldEdgeBranch { k0: Var; b0: Var; scale: Var; bias: Var; mask: Tensor | ArrayLike<number> }

export interface FoldBranches {
  /** Output and input channels and kernel size of the folded conv. */
  outPlanes: number;
  inPlanes: number;
  kernel: number;
  conv: FoldConvBranch[];
  seq: FoldSeqBranch[];
  edge: FoldEdgeBranch[];
}

function checkShape(v: Var, shape: number[], what: string): void {
  const s = v.shape;
  if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) {
    throw new Error(`mvsr: ecbFold: ${what} has shape ${shapeStr(s)}, expected ${shapeStr(shape)}`);
  }
}

interface Checked {
  O: number; I: number; kk: number;
  /** Mid-channel count of each seq branch. */
  mids: number[];
  /** Each edge branch's mask copied to float32 [O*kk] and its per-channel tap sums. */
  masks: Float32Array[];
  maskSums: Float64Array[];
}

function check(p: FoldBranches): Checked {
  const O = p.outPlanes, I = p.inPlanes, K = p.kernel, kk = K * K;
  for (const c of p.conv) {
    checkShape(c.w, [O, I, K, K], 'conv.w');
    checkShape(c.b, [O], 'conv.b');
  }
  const mids = p.seq.map((s) => {
    const M = s.k0.shape[0]!;
    checkShape(s.k0, [M, I, 1, 1], 'seq.k0');
    checkShape(s.b0, [M], 'seq.b0');
    checkShape(s.k1, [O, M, K, K], 'seq.k1');
    checkShape(s.b1, [O], 'seq.b1');
    return M;
  });
  const masks: Float32Array[] = [], maskSums: Float64Array[] = [];
  for (const e of p.edge) {
    checkShape(e.k0, [O, I, 1, 1], 'edge.k0');
    checkShape(e.b0, [O], 'edge.b0');
    checkShape(e.scale, [O, 1, 1, 1], 'edge.scale');
    checkShape(e.bias, [O], 'edge.bias');
    const m = Float32Array.from(e.mask instanceof Tensor ? e.mask.data : e.mask);
    if (m.length !== O * kk) throw new Error(`mvsr: ecbFold: edge mask has ${m.length} values, expected ${O * kk}`);
    const sums = new Float64Array(O);
    for (let o = 0; o < O; o++) for (let t = 0; t < kk; t++) sums[o]! += m[o * kk + t]!;
    masks.push(m);
    maskSums.push(sums);
  }
  return { O, I, kk, mids, masks, maskSums };
}

/** Allocate gradient tensors (zeros) for the inputs that need one, null for the others. */
function gradsFor(inputs: Var[]): (Tensor | null)[] {
  return inputs.map((v) => (v.requiresGrad ? Tensor.zeros(v.shape) : null));
}

/**
 * The folded KxK weight [O,I,K,K] = sum of conv.w + k1 . k0 (seq) + scale * mask * k0 (edge).
 * Inputs, in order: conv w..., seq (k0, k1)..., edge (k0, scale)... .
 */
export function ecbFoldWeight(p: FoldBranches): Var {
  const { O, I, kk, mids, masks } = check(p);
  const inputs: Var[] = [
    ...p.conv.map((c) => c.w),
    ...p.seq.flatMap((s) => [s.k0, s.k1]),
    ...p.edge.flatMap((e) => [e.k0, e.scale]),
  ];
  const n = O * I * kk;
  const acc = new Float64Array(n);
  for (const c of p.conv) {
    const w = c.w.value.data;
    for (let j = 0; j < n; j++) acc[j]! += w[j]!;
  }
  p.seq.forEach((s, si) => {
    const M = mids[si]!, k0 = s.k0.value.data, k1 = s.k1.value.data;
    for (let o = 0; o < O; o++) {
      for (let m = 0; m < M; m++) {
        const k1o = (o * M + m) * kk;
        for (let i = 0; i < I; i++) {
          const a = k0[m * I + i]!, wo = (o * I + i) * kk;
          for (let t = 0; t < kk; t++) acc[wo + t]! += k1[k1o + t]! * a;
        }
      }
    }
  });
  p.edge.forEach((e, ei) => {
    const mask = masks[ei]!, k0 = e.k0.value.data, sc = e.scale.value.data;
    for (let o = 0; o < O; o++) {
      const s = sc[o]!;
      for (let i = 0; i < I; i++) {
        const a = s * k0[o * I + i]!, wo = (o * I + i) * kk;
        for (let t = 0; t < kk; t++) acc[wo + t]! += mask[o * kk + t]! * a;
      }
    }
  });
  const K = p.kernel;
  const y = Tensor.from([O, I, K, K], acc);
  return record('ecbFoldWeight', inputs, y, (gy) => {
    const gs = gradsFor(inputs); // allocate first: views into engine memory are taken after
    const G = gy.data;
    let k = 0;
    for (const c of p.conv) {
      const g = gs[k++];
      if (g) g.data.set(G);
    }
    p.seq.forEach((s, si) => {
      const M = mids[si]!, gk0 = gs[k++], gk1 = gs[k++];
      const k0 = s.k0.value.data, k1 = s.k1.value.data;
      // dk0[m,i] = sum_{o,t} G[o,i,t] k1[o,m,t];  dk1[o,m,t] = sum_i G[o,i,t] k0[m,i]
      if (gk0) {
        const d = gk0.data;
        for (let m = 0; m < M; m++) {
          for (let i = 0; i < I; i++) {
            let a = 0;
            for (let o = 0; o < O; o++) {
              const go = (o * I + i) * kk, k1o = (o * M + m) * kk;
              for (let t = 0; t < kk; t++) a += G[go + t]! * k1[k1o + t]!;
            }
            d[m * I + i] = a;
          }
        }
      }
      if (gk1) {
        const d = gk1.data, row = new Float64Array(kk);
        for (let o = 0; o < O; o++) {
          for (let m = 0; m < M; m++) {
            row.fill(0);
            for (let i = 0; i < I; i++) {
              const a = k0[m * I + i]!, go = (o * I + i) * kk;
              for (let t = 0; t < kk; t++) row[t]! += G[go + t]! * a;
            }
            d.set(row, (o * M + m) * kk);
          }
        }
      }
    });
    p.edge.forEach((e, ei) => {
      const gk0 = gs[k++], gsc = gs[k++];
      const mask = masks[ei]!, k0 = e.k0.value.data, sc = e.scale.value.data;
      // dk0[o,i] = scale[o] sum_t G[o,i,t] mask[o,t];  dscale[o] = sum_i k0[o,i] sum_t G[o,i,t] mask[o,t]
      const dk0 = gk0?.data, dsc = gsc?.data;
      for (let o = 0; o < O; o++) {
        let ds = 0;
        for (let i = 0; i < I; i++) {
          const go = (o * I + i) * kk;
          let gm = 0;
          for (let t = 0; t < kk; t++) gm += G[go + t]! * mask[o * kk + t]!;
          if (dk0) dk0[o * I + i] = sc[o]! * gm;
          ds += k0[o * I + i]! * gm;
        }
        if (dsc) dsc[o] = ds;
      }
    });
    return gs;
  });
}

/**
 * The folded bias [O] = sum of conv.b + b1 + sum_{m,t} k1[.,m,t] b0[m] (seq) + bias + scale * b0 * sum_t mask (edge).
 * Inputs, in order: conv b..., seq (b0, k1, b1)..., edge (b0, scale, bias)... .
 */
export function ecbFoldBias(p: FoldBranches): Var {
  const { O, kk, mids, maskSums } = check(p);
  const inputs: Var[] = [
    ...p.conv.map((c) => c.b),
    ...p.seq.flatMap((s) => [s.b0, s.k1, s.b1]),
    ...p.edge.flatMap((e) => [e.b0, e.scale, e.bias]),
  ];
  const acc = new Float64Array(O);
  for (const c of p.conv) {
    const b = c.b.value.data;
    for (let o = 0; o < O; o++) acc[o]! += b[o]!;
  }
  p.seq.forEach((s, si) => {
    const M = mids[si]!, b0 = s.b0.value.data, k1 = s.k1.value.data, b1 = s.b1.value.data;
    for (let o = 0; o < O; o++) {
      let a = b1[o]!;
      for (let m = 0; m < M; m++) {
        const k1o = (o * M + m) * kk;
        let ks = 0;
        for (let t = 0; t < kk; t++) ks += k1[k1o + t]!;
        a += ks * b0[m]!;
      }
      acc[o]! += a;
    }
  });
  p.edge.forEach((e, ei) => {
    const ms = maskSums[ei]!, b0 = e.b0.value.data, sc = e.scale.value.data, bb = e.bias.value.data;
    for (let o = 0; o < O; o++) acc[o]! += bb[o]! + sc[o]! * b0[o]! * ms[o]!;
  });
  const y = Tensor.from([O], acc);
  return record('ecbFoldBias', inputs, y, (gy) => {
    const gs = gradsFor(inputs);
    const g = gy.data;
    let k = 0;
    for (let c = 0; c < p.conv.length; c++) {
      const d = gs[k++];
      if (d) d.data.set(g);
    }
    p.seq.forEach((s, si) => {
      const M = mids[si]!, gb0 = gs[k++], gk1 = gs[k++], gb1 = gs[k++];
      const b0 = s.b0.value.data, k1 = s.k1.value.data;
      // db0[m] = sum_o g[o] sum_t k1[o,m,t];  dk1[o,m,t] = g[o] b0[m];  db1 = g
      if (gb0) {
        const d = gb0.data;
        for (let m = 0; m < M; m++) {
          let a = 0;
          for (let o = 0; o < O; o++) {
            const k1o = (o * M + m) * kk;
            let ks = 0;
            for (let t = 0; t < kk; t++) ks += k1[k1o + t]!;
            a += g[o]! * ks;
          }
          d[m] = a;
        }
      }
      if (gk1) {
        const d = gk1.data;
        for (let o = 0; o < O; o++) {
          for (let m = 0; m < M; m++) d.fill(g[o]! * b0[m]!, (o * M + m) * kk, (o * M + m + 1) * kk);
        }
      }
      if (gb1) gb1.data.set(g);
    });
    p.edge.forEach((e, ei) => {
      const gb0 = gs[k++], gsc = gs[k++], gbias = gs[k++];
      const ms = maskSums[ei]!, b0 = e.b0.value.data, sc = e.scale.value.data;
      // db0[o] = g[o] scale[o] msum[o];  dscale[o] = g[o] b0[o] msum[o];  dbias = g
      if (gb0) {
        const d = gb0.data;
        for (let o = 0; o < O; o++) d[o] = g[o]! * sc[o]! * ms[o]!;
      }
      if (gsc) {
        const d = gsc.data;
        for (let o = 0; o < O; o++) d[o] = g[o]! * b0[o]! * ms[o]!;
      }
      if (gbias) gbias.data.set(g);
    });
    return gs;
  });
}

/** The folded conv of an ECB: one weight op and one bias op on the tape. */
export function ecbFold(p: FoldBranches): { weight: Var; bias: Var } {
  return { weight: ecbFoldWeight(p), bias: ecbFoldBias(p) };
}
