// Plain (ETDS repo): conv3x3 + ReLU, num_block x (conv3x3 + ReLU), conv3x3 to out*s^2, pixel shuffle.
import { Module } from '../nn/module.js';
import { Conv2d, ModuleList, PixelShuffle } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';

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


/** conv_first + ReLU, num_block x (backbone_convs.i + ReLU): the stem of Plain's and ETDSForInference's graphs. */
export function plainStemGraph(b: GraphBuilder, numBlock: number, x: string): string {
  let y = b.act('conv_first.relu', b.convOf('conv_first', x), { kind: 'relu' });
  for (let i = 0; i < numBlock; i++) y = b.act(`backbone_convs.${i}.relu`, b.convOf(`backbone_convs.${i}`, y), { kind: 'relu' });
  return y;
}

/** Plain: stem, conv_last, pixel shuffle. */
export function plainGraph(a: PlainArgs, sd: WeightSource): Graph {
  const b = new GraphBuilder({ arch: 'Plain', args: a, scale: a.upscale }, sd);
  const y = plainStemGraph(b, a.num_block, b.input(a.num_in_ch));
  return b.output(b.depthToSpace('upsampler', b.convOf('conv_last', y), a.upscale));
}

export const plainArch: ImageArchSpec<PlainArgs, Plain> = {
  kind: 'image',
  defaults: { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_block: 6, num_feat: 32 },
  create: (a) => new Plain(a),
  graph: plainGraph,
};
