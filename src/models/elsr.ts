// ELSR (Xu et al. 2022, "ELSR: Extreme Low-Power Super Resolution Network For Mobile Devices",
// 1st in the Mobile AI & AIM 2022 real-time video SR challenge), written from the paper's description (no
// reference code in the ETDS repo): conv3x3 in->F, a residual block [conv3x3 F->F, PReLU,
// conv3x3 F->F] with a skip from the first conv's output, conv3x3 F->out*s^2, pixel shuffle.
// With F = 6 at x4 this is 3,469 parameters. Public re-implementations by third parties (not the
// authors' code, which is not public) agree on the layout: conv 3->6, one residual block of two
// 6->6 convs around a PReLU, conv 6->48, pixel shuffle.
// Choices: no activation after the first conv (none is described); one shared PReLU slope
// (nn.PReLU() default); no input shortcut and no output clamp; PyTorch-style names
// conv_first / body.{0,1,2} / conv_last.
import { Module } from '../nn/module.js';
import { Conv2d, PReLU, PixelShuffle, Sequential } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add } from '../autograd/ops/pointwise.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';

export type ELSRArgs = { num_in_ch: number; num_out_ch: number; upscale: number; num_feat: number };

export class ELSR extends Module implements SRModel {
  readonly arch = 'ELSR';
  readonly scale: number;
  readonly conv_first: Conv2d;
  readonly body: Sequential;
  readonly conv_last: Conv2d;
  readonly upsampler: PixelShuffle;

  constructor(readonly args: ELSRArgs) {
    super();
    const { num_in_ch, num_out_ch, upscale, num_feat: F } = args;
    this.scale = upscale;
    this.conv_first = this.child('conv_first', new Conv2d(num_in_ch, F, 3));
    this.body = this.child('body', new Sequential(new Conv2d(F, F, 3), new PReLU(1), new Conv2d(F, F, 3)));
    this.conv_last = this.child('conv_last', new Conv2d(F, num_out_ch * upscale * upscale, 3));
    this.upsampler = this.child('upsampler', new PixelShuffle(upscale));
  }

  forward(x: Var): Var {
    const f = this.conv_first.forward(x);
    return this.upsampler.forward(this.conv_last.forward(add(f, this.body.forward(f))));
  }
}

/** ELSR: f = conv_first(x); conv_last(f + body(f)) with body = conv, PReLU, conv; pixel shuffle. */
export function elsrGraph(a: ELSRArgs, sd: WeightSource): Graph {
  const b = new GraphBuilder({ arch: 'ELSR', args: a, scale: a.upscale }, sd);
  const f = b.convOf('conv_first', b.input(a.num_in_ch));
  const y = b.act('body.1', b.convOf('body.0', f), b.prelu('body.1.weight'));
  const r = b.add('add_body', f, b.convOf('body.2', y));
  return b.output(b.depthToSpace('upsampler', b.convOf('conv_last', r), a.upscale));
}

export const elsrArch: ImageArchSpec<ELSRArgs, ELSR> = {
  kind: 'image', defaults: { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_feat: 6 }, create: (a) => new ELSR(a), graph: elsrGraph,
};
