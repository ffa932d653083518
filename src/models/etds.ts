// ETDS (Chao et al., CVPR 2023): the training-time dual-stream network — a backbone of F-R
// channels and a residual stream of R channels initialised to carry the input (K_r = I) and
// upsampled by repetition — and ETDSForInference, the single plain stream the two fold into
// (the reference's converter.py), with the output clamp folded in as relu(1 - relu(1 - y)).
import { Module, type StateDict } from '../nn/module.js';
import { Conv2d, ModuleList, PixelShuffle } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add, relu } from '../autograd/ops/pointwise.js';
import { dropLastChannel } from '../autograd/ops/layout.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';
import { zerosTensor, entry, placeKernel, placeVector, setCentre, clipConv, dropLastAtX3 } from './surgery.js';
import { plainStemGraph } from './plain.js';

export type ETDSArgs = {
  num_in_ch: number;
  num_out_ch: number;
  upscale: number;
  num_block: number;
  /** Channels of the plain network after ET: backbone (num_feat - num_residual_feat) + residual stream. */
  num_feat: number;
  num_residual_feat: number;
};

function convList(owner: ModuleList<Conv2d>, n: number, make: () => Conv2d): Conv2d[] {
  return Array.from({ length: n }, () => owner.push(make()));
}

/** Dual-stream ETDS; forward returns the SR image, forwardDual also the residual stream's output. */
export class ETDS extends Module implements SRModel {
  readonly arch = 'ETDS';
  readonly scale: number;
  readonly conv_first: Conv2d;
  readonly conv_residual_first: Conv2d;
  readonly backbone_convs: Conv2d[];
  readonly residual_convs: Conv2d[];
  readonly add_residual_convs: Conv2d[];
  readonly conv_last: Conv2d;
  readonly conv_residual_last: Conv2d;
  readonly upsampler: PixelShuffle;

  constructor(readonly args: ETDSArgs) {
    super();
    const { num_in_ch: Cin, num_out_ch, upscale: s, num_block, num_feat, num_residual_feat: R } = args;
    if (!(num_feat > R && R >= Cin) || num_out_ch !== Cin) {
      throw new Error(`mvsr: ETDS: needs num_feat (${num_feat}) > num_residual_feat (${R}) >= num_in_ch (${Cin}) and num_out_ch (${num_out_ch}) = num_in_ch`);
    }
    this.scale = s;
    const F = num_feat - R, O = num_out_ch * s * s;
    this.conv_first = this.child('conv_first', new Conv2d(Cin, F, 3));
    this.conv_residual_first = this.child('conv_residual_first', new Conv2d(Cin, R, 3));
    this.backbone_convs = convList(this.child('backbone_convs', new ModuleList<Conv2d>()), num_block, () => new Conv2d(F, F, 3));
    this.residual_convs = convList(this.child('residual_convs', new ModuleList<Conv2d>()), num_block, () => new Conv2d(R, R, 3));
    this.add_residual_convs = convList(this.child('add_residual_convs', new ModuleList<Conv2d>()), num_block, () => new Conv2d(R, F, 3));
    this.conv_last = this.child('conv_last', new Conv2d(F, O, 3));
    this.conv_residual_last = this.child('conv_residual_last', new Conv2d(R, O, 3));
    this.upsampler = this.child('upsampler', new PixelShuffle(s));
    this.initResidualStream();
  }

  /** K_r = I (input carried), K_{r2b} = 0, and the last residual conv repeats each colour s^2 times. */
  private initResidualStream(): void {
    const { num_in_ch: Cin, upscale: s } = this.args;
    const identity = (c: Conv2d, pairs: [number, number][]): void => {
      c.weight.value.data.fill(0);
      c.bias!.value.data.fill(0);
      const w = { shape: [...c.weight.value.shape], data: c.weight.value.data };
      for (const [o, i] of pairs) setCentre(w, o, i, 1);
    };
    identity(this.conv_residual_first, Array.from({ length: Cin }, (_, i) => [i, i]));
    for (const c of this.residual_convs) identity(c, Array.from({ length: c.outChannels }, (_, i) => [i, i]));
    for (const c of this.add_residual_convs) identity(c, []);
    const rep: [number, number][] = [];
    for (let i = 0; i < Cin; i++) for (let j = 0; j < s * s; j++) rep.push([i * s * s + j, i]);
    identity(this.conv_residual_last, rep);
  }

  forwardDual(x: Var): { output: Var; residual: Var } {
    let b = this.conv_first.forwardRelu(x);
    let r = this.conv_residual_first.forwardRelu(x);
    this.backbone_convs.forEach((bc, i) => {
      const nb = relu(add(bc.forward(b), this.add_residual_convs[i]!.forward(r)));
      r = this.residual_convs[i]!.forwardRelu(r);
      b = nb;
    });
    const residual = this.upsampler.forward(this.conv_residual_last.forward(r));
    const output = add(this.upsampler.forward(this.conv_last.forward(b)), residual);
    return { output, residual };
  }

  forward(x: Var): Var {
    return this.forwardDual(x).output;
  }

  /**
   * Fold both streams into one plain network (the reference's converter.py). The result equals
   * clamp(this(x), 0, 1): the residual stream becomes the last R channels of every layer.
   */
  deploy(): ETDSForInference {
    const { num_in_ch: Cin, num_out_ch, upscale: s, num_block, num_feat, num_residual_feat: R } = this.args;
    const F = num_feat - R, O = num_out_ch * s * s, Oe = s === 3 ? O + 1 : O;
    const src = this.stateDict();
    const sd: StateDict = {};
    const first = zerosTensor([num_feat, Cin, 3, 3]), firstB = zerosTensor([num_feat]);
    placeKernel(first, entry(src, 'conv_first.weight'), 0, 0);
    placeKernel(first, entry(src, 'conv_residual_first.weight'), F, 0);
    placeVector(firstB, entry(src, 'conv_first.bias'), 0);
    placeVector(firstB, entry(src, 'conv_residual_first.bias'), F);
    sd['conv_first.weight'] = first;
    sd['conv_first.bias'] = firstB;
    for (let i = 0; i < num_block; i++) {
      const w = zerosTensor([num_feat, num_feat, 3, 3]), b = zerosTensor([num_feat]);
      placeKernel(w, entry(src, `backbone_convs.${i}.weight`), 0, 0);
      placeKernel(w, entry(src, `add_residual_convs.${i}.weight`), 0, F);
      placeKernel(w, entry(src, `residual_convs.${i}.weight`), F, F);
      const bb = entry(src, `backbone_convs.${i}.bias`).data, ab = entry(src, `add_residual_convs.${i}.bias`).data;
      for (let o = 0; o < F; o++) b.data[o] = bb[o]! + ab[o]!;
      placeVector(b, entry(src, `residual_convs.${i}.bias`), F);
      sd[`backbone_convs.${i}.weight`] = w;
      sd[`backbone_convs.${i}.bias`] = b;
    }
    const last = zerosTensor([Oe, num_feat, 3, 3]), lastB = zerosTensor([Oe], 1);
    placeKernel(last, entry(src, 'conv_last.weight'), 0, 0, -1);
    placeKernel(last, entry(src, 'conv_residual_last.weight'), 0, F, -1);
    const lb = entry(src, 'conv_last.bias').data, rb = entry(src, 'conv_residual_last.bias').data;
    for (let o = 0; o < O; o++) lastB.data[o] = 1 - (lb[o]! + rb[o]!);
    sd['conv_last.weight'] = last;
    sd['conv_last.bias'] = lastB;
    Object.assign(sd, clipConv('conv_clip', Oe));
    const plain = new ETDSForInference({ ...this.args });
    plain.loadStateDict(sd, true);
    return plain;
  }
}

/**
 * The plain ETDS the official checkpoints hold: conv(in->F) + ReLU, num_block x (conv(F->F) + ReLU),
 * conv(F->out*s^2) + ReLU, conv1x1 "clip" + ReLU, pixel shuffle; at x3 one extra channel
 * (28 = a multiple of 4) is computed and dropped.
 */
export class ETDSForInference extends Module implements SRModel {
  readonly arch = 'ETDSForInference';
  readonly scale: number;
  readonly conv_first: Conv2d;
  readonly backbone_convs: Conv2d[];
  readonly conv_last: Conv2d;
  readonly conv_clip: Conv2d;
  readonly upsampler: PixelShuffle;

  constructor(readonly args: ETDSArgs) {
    super();
    const { num_in_ch: Cin, num_out_ch, upscale: s, num_block, num_feat, num_residual_feat: R } = args;
    if (!(R >= Cin) || num_out_ch !== Cin) {
      throw new Error(`mvsr: ETDSForInference: needs num_residual_feat (${R}) >= num_in_ch (${Cin}) and num_out_ch (${num_out_ch}) = num_in_ch`);
    }
    this.scale = s;
    const O = num_out_ch * s * s, Oe = s === 3 ? O + 1 : O;
    this.conv_first = this.child('conv_first', new Conv2d(Cin, num_feat, 3));
    this.backbone_convs = convList(this.child('backbone_convs', new ModuleList<Conv2d>()), num_block, () => new Conv2d(num_feat, num_feat, 3));
    this.conv_last = this.child('conv_last', new Conv2d(num_feat, Oe, 3));
    this.conv_clip = this.child('conv_clip', new Conv2d(Oe, Oe, 1));
    this.upsampler = this.child('upsampler', new PixelShuffle(s));
  }

  forward(x: Var): Var {
    let y = this.conv_first.forwardRelu(x);
    for (const c of this.backbone_convs) y = c.forwardRelu(y);
    y = this.conv_clip.forwardRelu(this.conv_last.forwardRelu(y));
    if (this.scale === 3) y = dropLastChannel(y);
    return this.upsampler.forward(y);
  }
}

/** ETDSForInference: stem, conv_last + ReLU, conv_clip + ReLU, (x3: drop last), pixel shuffle. */
export function etdsInferenceGraph(a: ETDSArgs, sd: WeightSource): Graph {
  const s = a.upscale;
  const b = new GraphBuilder({ arch: 'ETDSForInference', args: a, scale: s }, sd);
  let y = plainStemGraph(b, a.num_block, b.input(a.num_in_ch));
  y = b.act('conv_last.relu', b.convOf('conv_last', y), { kind: 'relu' });
  y = b.act('conv_clip.relu', b.convOf('conv_clip', y), { kind: 'relu' });
  return b.output(b.depthToSpace('upsampler', dropLastAtX3(b, y, s, b.sdTensor('conv_clip.weight').shape[0]!), s));
}

const etdsDefaults: ETDSArgs = { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_block: 5, num_feat: 16, num_residual_feat: 3 };

export const etdsArch: ImageArchSpec<ETDSArgs, ETDS> = { kind: 'image', defaults: etdsDefaults, create: (a) => new ETDS(a), deploy: (m) => m.deploy() };
export const etdsInferenceArch: ImageArchSpec<ETDSArgs, ETDSForInference> = {
  kind: 'image', defaults: etdsDefaults, create: (a) => new ETDSForInference(a), graph: etdsInferenceGraph,
};
