// ESPCN (ETDS repo variant): conv5x5 3->64 + tanh, conv3x3 64->32 + tanh, conv3x3 32->3*s^2,
// pixel shuffle, sigmoid. RGB in [0,1]; the sigmoid keeps the output in (0,1).
import { Module } from '../nn/module.js';
import { Conv2d, PixelShuffle } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { tanh, sigmoid } from '../autograd/ops/pointwise.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';

export type ESPCNArgs = { colors: number; upscale: number };

export class ESPCN extends Module implements SRModel {
  readonly arch = 'ESPCN';
  readonly scale: number;
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly conv3: Conv2d;
  readonly pixel_shuffle: PixelShuffle;

  constructor(readonly args: ESPCNArgs) {
    super();
    const { colors, upscale } = args;
    this.scale = upscale;
    this.conv1 = this.child('conv1', new Conv2d(colors, 64, 5));
    this.conv2 = this.child('conv2', new Conv2d(64, 32, 3));
    this.conv3 = this.child('conv3', new Conv2d(32, colors * upscale * upscale, 3));
    this.pixel_shuffle = this.child('pixel_shuffle', new PixelShuffle(upscale));
  }

  forward(x: Var): Var {
    const y = tanh(this.conv2.forward(tanh(this.conv1.forward(x))));
    return sigmoid(this.pixel_shuffle.forward(this.conv3.forward(y)));
  }
}

/** ESPCN: conv1 + tanh, conv2 + tanh, conv3, pixel shuffle, sigmoid. */
export function espcnGraph(a: ESPCNArgs, sd: WeightSource): Graph {
  const b = new GraphBuilder({ arch: 'ESPCN', args: a, scale: a.upscale }, sd);
  let y = b.input(a.colors);
  y = b.act('conv1.tanh', b.convOf('conv1', y), { kind: 'tanh' });
  y = b.act('conv2.tanh', b.convOf('conv2', y), { kind: 'tanh' });
  y = b.depthToSpace('pixel_shuffle', b.convOf('conv3', y), a.upscale);
  return b.output(b.act('sigmoid', y, { kind: 'sigmoid' }));
}

export const espcnArch: ImageArchSpec<ESPCNArgs, ESPCN> = { kind: 'image', defaults: { colors: 3, upscale: 4 }, create: (a) => new ESPCN(a), graph: espcnGraph };
