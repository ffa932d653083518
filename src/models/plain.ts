// Plain (ETDS repo): conv3x3 + ReLU, num_block x (conv3x3 + ReLU), conv3x3 to out*s^2, pixel shuffle.
// Also the small helpers every plain-form family uses: channel repeat_interleave and OIHW
// weight surgery for re-parameterisation / equivalent transformation.
import { Module, type StateDict, type StateTensor } from '../nn/module.js';
import { Conv2d, PixelShuffle } from '../nn/layers.js';
import { record, type Var } from '../autograd/var.js';
import type { Tensor } from '../tensor/tensor.js';
import { relu } from '../autograd/ops/pointwise.js';
import { concat, split } from '../autograd/ops/layout.js';
import type { SRModel } from './registry.js';

export type PlainArgs = { num_in_ch: number; num_out_ch: number; upscale: number; num_block: number; num_feat: number };

export class Plain extends Module implements SRModel {
  readonly arch = 'Plain';
  readonly scale: number;
  readonly conv_first: Conv2d;
  readonly backbone_convs: Conv2d[];
  readonly conv_last: Conv2d;
  readonly upsampler: PixelShuffle;

  constructor(readonly args: PlainArgs) {
    super();
    const { num_in_ch, num_out_ch, upscale, num_block, num_feat } = args;
    this.scale = upscale;
    this.conv_first = this.child('conv_first', new Conv2d(num_in_ch, num_feat, 3));
    const list = this.child('backbone_convs', new ModuleList<Conv2d>());
    this.backbone_convs = Array.from({ length: num_block }, () => list.push(new Conv2d(num_feat, num_feat, 3)));
    this.conv_last = this.child('conv_last', new Conv2d(num_feat, num_out_ch * upscale * upscale, 3));
    this.upsampler = this.child('upsampler', new PixelShuffle(upscale));
  }

  forward(x: Var): Var {
    let y = this.conv_first.forwardRelu(x);
    for (const c of this.backbone_convs) y = c.forwardRelu(y);
    return this.upsampler.forward(this.conv_last.forward(y));
  }
}

/** nn.ModuleList: children named "0", "1", …; no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  push(m: M): M {
    this.child(String(this.items.length), m);
    this.items.push(m);
    return m;
  }
  forward(): Var {
    throw new Error('mvsr: ModuleList has no forward');
  }
}

/** nn.Identity. */
export class Identity extends Module {
  forward(x: Var): Var {
    return x;
  }
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

/** A constant computed during a forward pass, owned by the tape (freed by clearTape like any op output). */
export function tapeConstant(t: Tensor): Var {
  return record('constant', [], t, () => []);
}

/** Drop the last channel (the reference's `y[:, :-1]` after its padding-to-a-multiple-of-4 channel). */
export function dropLastChannel(x: Var): Var {
  const C = x.shape[3]!;
  return split(x, [C - 1, 1])[0]!;
}

// ---- OIHW weight surgery (state-dict level, float32 arrays in PyTorch layout) ----------------

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
