// ABPN (Du et al., MAI 2021 winner) as in the ETDS repo: conv3x3 + ReLU stack, a two-conv tail,
// + the input repeated to every sub-pixel channel (anchor), pixel shuffle; and ABPN_ET, the same
// network after the ETDS paper's equivalent transformation (no anchor add, clamp folded in).
import { Module, type StateDict } from '../nn/module.js';
import { Conv2d, ReLU, PixelShuffle, Sequential } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add } from '../autograd/ops/pointwise.js';
import { repeatInterleaveChannels, dropLastChannel } from '../autograd/ops/layout.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';
import { zerosTensor, entry, placeKernel, placeVector, setCentre, etTail, dropLastAtX3 } from './surgery.js';

export type ABPNArgs = { num_feat: number; num_block: number; scale: number };

/**
 * backbone: 0 conv(3->F), 1 ReLU, 2..nb+1 [conv(F->F), ReLU], nb+2 conv(F->3s^2), nb+3 ReLU,
 * nb+4 conv(3s^2->3s^2); the anchor is repeat_interleave(x, s^2) on channels.
 */
export class ABPN extends Module implements SRModel {
  readonly arch = 'ABPN';
  readonly scale: number;
  readonly backbone: Sequential;
  readonly upsampler: PixelShuffle;

  constructor(readonly args: ABPNArgs) {
    super();
    const { num_feat: F, num_block, scale: s } = args;
    this.scale = s;
    const O = 3 * s * s;
    this.backbone = this.child('backbone', new Sequential(
      new Conv2d(3, F, 3), new ReLU(),
      ...Array.from({ length: num_block }, () => new Sequential(new Conv2d(F, F, 3), new ReLU())),
      new Conv2d(F, O, 3), new ReLU(),
      new Conv2d(O, O, 3),
    ));
    this.upsampler = this.child('upsampler', new PixelShuffle(s));
  }

  forward(x: Var): Var {
    return this.upsampler.forward(add(this.backbone.forward(x), repeatInterleaveChannels(x, this.scale * this.scale)));
  }

  /**
   * Equivalent transformation to ABPN_ET (the reference's converter_abpn_et): 4 spare channels,
   * the last 3 carrying the input to the tail, the anchor add and clamp(y, 0, 1) folded into the
   * last conv and a 1x1 clip conv. Equal to clamp(this(x), 0, 1) for inputs >= 0.
   */
  toET(): ABPN_ET {
    const { num_feat: F, num_block: nb, scale: s } = this.args;
    const src = this.stateDict();
    const Fe = F + 4, s2 = s * s, O = 3 * s2;
    const mid = s === 3 ? O + 3 : O + 4, Oe = s === 3 ? O + 1 : O;
    const sd: StateDict = {};
    const layer = (key: string, rows: number, cin: number, srcKey: string): void => {
      const w = zerosTensor([rows, cin, 3, 3]), b = zerosTensor([rows]);
      placeKernel(w, entry(src, `${srcKey}.weight`), 0, 0);
      placeVector(b, entry(src, `${srcKey}.bias`), 0);
      for (let c = 0; c < 3; c++) setCentre(w, rows - 3 + c, cin - 3 + c, 1);
      sd[`${key}.weight`] = w;
      sd[`${key}.bias`] = b;
    };
    layer('backbone.0', Fe, 3, 'backbone.0');
    for (let i = 0; i < nb; i++) layer(`backbone.${2 + i}.0`, Fe, Fe, `backbone.${2 + i}.0`);
    layer(`backbone.${2 + nb}`, mid, Fe, `backbone.${2 + nb}`);
    etTail(sd, src, `backbone.${4 + nb}`, `backbone.${6 + nb}`, Oe, mid, s2);
    const et = new ABPN_ET({ ...this.args });
    et.loadStateDict(sd, true);
    return et;
  }
}

/**
 * backbone: 0 conv(3->F+4), 1 ReLU, 2..nb+1 [conv(F+4->F+4), ReLU], then conv(F+4->mid), ReLU,
 * conv(mid->out), ReLU, conv1x1(out->out), ReLU with mid/out = 3s^2+4/3s^2, or 30/28 at x3
 * (the last channel is dropped before the pixel shuffle).
 */
export class ABPN_ET extends Module implements SRModel {
  readonly arch = 'ABPN_ET';
  readonly scale: number;
  readonly backbone: Sequential;
  readonly upsampler: PixelShuffle;

  constructor(readonly args: ABPNArgs) {
    super();
    const { num_feat: F, num_block, scale: s } = args;
    this.scale = s;
    const Fe = F + 4, O = 3 * s * s;
    const mid = s === 3 ? O + 3 : O + 4, Oe = s === 3 ? O + 1 : O;
    this.backbone = this.child('backbone', new Sequential(
      new Conv2d(3, Fe, 3), new ReLU(),
      ...Array.from({ length: num_block }, () => new Sequential(new Conv2d(Fe, Fe, 3), new ReLU())),
      new Conv2d(Fe, mid, 3), new ReLU(),
      new Conv2d(mid, Oe, 3), new ReLU(),
      new Conv2d(Oe, Oe, 1), new ReLU(),
    ));
    this.upsampler = this.child('upsampler', new PixelShuffle(s));
  }

  forward(x: Var): Var {
    let y = this.backbone.forward(x);
    if (this.scale === 3) y = dropLastChannel(y);
    return this.upsampler.forward(y);
  }
}

const RELU = { kind: 'relu' } as const;

/** ABPN backbone up to (not including) the tail: conv + ReLU, num_block x (conv + ReLU). */
function bodyGraph(b: GraphBuilder, nb: number, x: string): string {
  let y = b.act('backbone.1', b.convOf('backbone.0', x), RELU);
  for (let i = 0; i < nb; i++) y = b.act(`backbone.${2 + i}.1`, b.convOf(`backbone.${2 + i}.0`, y), RELU);
  return y;
}

/** ABPN: body, conv + ReLU, conv, + anchor (repeat_interleave(x, s^2)), pixel shuffle. */
export function abpnGraph(a: ABPNArgs, sd: WeightSource): Graph {
  const s = a.scale, nb = a.num_block;
  const b = new GraphBuilder({ arch: 'ABPN', args: a, scale: s }, sd);
  const x = b.input(3);
  let y = bodyGraph(b, nb, x);
  y = b.act(`backbone.${3 + nb}`, b.convOf(`backbone.${2 + nb}`, y), RELU);
  y = b.convOf(`backbone.${4 + nb}`, y);
  return b.output(b.depthToSpace('upsampler', b.add('add_anchor', y, b.repeatInterleave('anchor', x, 3, s * s)), s));
}

/** ABPN_ET: body, (conv + ReLU) x 3 (the last a 1x1 clip), (x3: drop last), pixel shuffle. */
export function abpnEtGraph(a: ABPNArgs, sd: WeightSource): Graph {
  const s = a.scale, nb = a.num_block;
  const b = new GraphBuilder({ arch: 'ABPN_ET', args: a, scale: s }, sd);
  let y = bodyGraph(b, nb, b.input(3));
  for (const j of [2 + nb, 4 + nb, 6 + nb]) y = b.act(`backbone.${j + 1}`, b.convOf(`backbone.${j}`, y), RELU);
  return b.output(b.depthToSpace('upsampler', dropLastAtX3(b, y, s, b.sdTensor(`backbone.${6 + nb}.weight`).shape[0]!), s));
}

const abpnDefaults: ABPNArgs = { num_feat: 28, num_block: 4, scale: 4 };

export const abpnArch: ImageArchSpec<ABPNArgs, ABPN> = { kind: 'image', defaults: abpnDefaults, create: (a) => new ABPN(a), graph: abpnGraph, et: (m) => m.toET() };
export const abpnEtArch: ImageArchSpec<ABPNArgs, ABPN_ET> = { kind: 'image', defaults: abpnDefaults, create: (a) => new ABPN_ET(a), graph: abpnEtGraph };
