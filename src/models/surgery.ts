// OIHW weight surgery for re-parameterisation and ETDS's equivalent transformation: state-dict
// level, float32 arrays in PyTorch layout, shared by the families that fold into plain nets.
import type { Module, StateDict, StateTensor } from '../nn/module.js';
import type { GraphBuilder } from '../graph/ir.js';

export function zerosTensor(shape: number[], fill = 0): StateTensor {
  return { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) };
}

/** The entry of a state dict, or a clear error naming the missing key. */
export function entry(sd: StateDict, key: string): StateTensor {
  const t = sd[key];
  if (!t) throw new Error(`mvsr: state dict has no '${key}'`);
  return t;
}

/** dst[o0+o, i0+i, :, :] = sign * src[o, i, :, :] for a whole OIHW src (same kernel size). */
export function placeKernel(dst: StateTensor, src: StateTensor, o0: number, i0: number, sign = 1): void {
  const [O, I, K] = src.shape as [number, number, number];
  const [, DI, DK] = dst.shape as [number, number, number];
  if (K !== DK) throw new Error(`mvsr: placeKernel: kernel ${K} into ${DK}`);
  const kk = K * K;
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < I; i++) {
      const s = (o * I + i) * kk, d = ((o0 + o) * DI + i0 + i) * kk;
      for (let t = 0; t < kk; t++) dst.data[d + t] = sign * src.data[s + t]!;
    }
  }
}

/** Set the centre tap of kernel (o, i) of an OIHW tensor. */
export function setCentre(w: StateTensor, o: number, i: number, v: number): void {
  const [, I, K] = w.shape as [number, number, number];
  const c = (K - 1) / 2;
  w.data[((o * I + i) * K + c) * K + c] = v;
}

/** dst[o0 + k] = sign * src[k] + offset. */
export function placeVector(dst: StateTensor, src: StateTensor, o0: number, sign = 1, offset = 0): void {
  for (let k = 0; k < src.data.length; k++) dst.data[o0 + k] = sign * src.data[k]! + offset;
}

/** The 1x1 conv computing relu(1 - x) per channel: weight -I, bias 1. */
export function clipConv(prefix: string, C: number): StateDict {
  const w = zerosTensor([C, C, 1, 1]);
  for (let c = 0; c < C; c++) w.data[c * C + c] = -1;
  return { [`${prefix}.weight`]: w, [`${prefix}.bias`]: zerosTensor([C], 1) };
}

/**
 * The ET tail shared by ABPN and ECBSR: the model's last conv `key` (from `src`) widened to
 * `Oe` outputs reading `inCh` channels, minus the input carried in the last 3 channels at the
 * centre tap (so the clip that follows sees the residual), and the 1x1 clip conv `clipKey`.
 */
export function etTail(sd: StateDict, src: StateDict, key: string, clipKey: string, Oe: number, inCh: number, s2: number): void {
  const w = zerosTensor([Oe, inCh, 3, 3]), b = zerosTensor([Oe], 1);
  placeKernel(w, entry(src, `${key}.weight`), 0, 0, -1);
  placeVector(b, entry(src, `${key}.bias`), 0, -1, 1);
  for (let c = 0; c < 3; c++) for (let j = 0; j < s2; j++) setCentre(w, c * s2 + j, inCh - 3 + c, -1);
  sd[`${key}.weight`] = w;
  sd[`${key}.bias`] = b;
  Object.assign(sd, clipConv(clipKey, Oe));
}

/** Drop the padding channel at x3 (y[:, :-1]) before the pixel shuffle, as the ET forms do. */
export function dropLastAtX3(b: GraphBuilder, y: string, s: number, channels: number): string {
  return s === 3 ? b.slice('drop_last', y, 0, channels - 1) : y;
}

/**
 * An initialisation for a network whose convs read more input channels than the source's: each
 * OIHW weight of `src` whose shape differs from the model's parameter of that name only by fewer
 * input channels is put in the leading input channels of a zero tensor of the parameter's shape. The new inputs then start
 * with no effect, so the widened network computes the source's function. Other entries pass
 * through unchanged; `widened` names the ones that grew, with their input counts.
 */
export function widenConvInputs(src: StateDict, model: Module): { tensors: StateDict; widened: string[] } {
  const want = new Map([...model.namedParameters()].map(([n, p]) => [n, p.value.shape]));
  const tensors: StateDict = { ...src }, widened: string[] = [];
  for (const [key, t] of Object.entries(src)) {
    const w = want.get(key);
    if (!w || w.length !== 4 || t.shape.length !== 4) continue;
    const [O, I, kh, kw] = t.shape as [number, number, number, number];
    if (w[0] !== O || w[2] !== kh || w[3] !== kw || kh !== kw || !(I < w[1]!)) continue;
    const grown = zerosTensor([...w]);
    placeKernel(grown, t, 0, 0);
    tensors[key] = grown;
    widened.push(`${key} (${I} -> ${w[1]} input channels)`);
  }
  return { tensors, widened };
}
