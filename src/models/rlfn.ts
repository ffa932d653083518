// RLFN (Kong et al., "Residual Local Feature Network", the NTIRE 2022 efficient-SR winner), with
// the reference code's parameter names so the official files load strictly: RLFN (52 channels),
// RLFN-S (48) and the NTIRE entry RLFN_Prune (46 channels, 48 inside the blocks, 4 blocks). A
// residual local feature block (RLFB) is three 3x3 convs with leaky ReLUs plus its input, a 1x1
// conv and RLFN's light ESA. The official weights take pixels in [0, 255] (`img_range: 255`).
import { Module } from '../nn/module.js';
import { Conv2d, PixelShuffle, Sequential } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add, leakyRelu, scale } from '../autograd/ops/pointwise.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import { ESA, esaGraph } from './esa.js';
import { scaledConv } from './rfdn.js';
import type { ImageArchSpec, SRModel } from './types.js';

const SLOPE = 0.05;
const LRELU = { kind: 'leaky', slope: SLOPE } as const;

export class RLFB extends Module {
  readonly c1_r: Conv2d; readonly c2_r: Conv2d; readonly c3_r: Conv2d; readonly c5: Conv2d;
  readonly esa: ESA;
  constructor(C: number, mid: number, esaChannels: number) {
    super();
    this.c1_r = this.child('c1_r', new Conv2d(C, mid, 3));
    this.c2_r = this.child('c2_r', new Conv2d(mid, mid, 3));
    this.c3_r = this.child('c3_r', new Conv2d(mid, C, 3));
    this.c5 = this.child('c5', new Conv2d(C, C, 1));
    this.esa = this.child('esa', new ESA(C, esaChannels, true));
  }
  forward(x: Var): Var {
    let y = leakyRelu(this.c1_r.forward(x), SLOPE);
    y = leakyRelu(this.c2_r.forward(y), SLOPE);
    y = leakyRelu(this.c3_r.forward(y), SLOPE);
    return this.esa.forward(this.c5.forward(add(y, x)));
  }
}

/** mid_channels: the blocks' inner width (feature_channels in RLFN and RLFN-S, 48 against 46 in RLFN_Prune). */
export type RLFNArgs = { in_channels: number; out_channels: number; feature_channels: number; mid_channels: number; num_blocks: number; esa_channels: number; upscale: number; img_range: number };

/** conv_1, block_1..block_n, conv_2 + conv_1's output, upsampler (3x3 conv, pixel shuffle). */
export class RLFN extends Module implements SRModel {
  readonly arch = 'RLFN';
  readonly scale: number;
  readonly conv_1: Conv2d;
  readonly blocks: RLFB[];
  readonly conv_2: Conv2d;
  readonly upsampler: Sequential;

  constructor(readonly args: RLFNArgs) {
    super();
    const { in_channels, out_channels, feature_channels: C, mid_channels, num_blocks, esa_channels, upscale } = args;
    this.scale = upscale;
    this.conv_1 = this.child('conv_1', new Conv2d(in_channels, C, 3));
    this.blocks = Array.from({ length: num_blocks }, (_, i) => this.child(`block_${i + 1}`, new RLFB(C, mid_channels, esa_channels)));
    this.conv_2 = this.child('conv_2', new Conv2d(C, C, 3));
    this.upsampler = this.child('upsampler', new Sequential(new Conv2d(C, out_channels * upscale * upscale, 3), new PixelShuffle(upscale)));
  }

  forward(x: Var): Var {
    const r = this.args.img_range;
    const fea = this.conv_1.forward(r === 1 ? x : scale(x, r));
    let y = fea;
    for (const b of this.blocks) y = b.forward(y);
    const out = this.upsampler.forward(add(this.conv_2.forward(y), fea));
    return r === 1 ? out : scale(out, 1 / r);
  }
}

/** RLFB over node x: three 3x3 convs with leaky ReLU, + x, a 1x1, RLFN's light ESA; node ids end in `tag`. */
export function rlfbGraph(g: GraphBuilder, key: string, x: string, tag = ''): string {
  let h = x;
  for (const k of ['c1_r', 'c2_r', 'c3_r']) h = g.convOf(`${key}.${k}`, h, { id: `${key}.${k}${tag}`, act: LRELU });
  return esaGraph(g, `${key}.esa`, g.convOf(`${key}.c5`, g.add(`${key}.res${tag}`, h, x), { id: `${key}.c5${tag}` }), true, tag);
}

export function rlfnGraph(a: RLFNArgs, sd: WeightSource): Graph {
  const g = new GraphBuilder({ arch: 'RLFN', args: a, scale: a.upscale }, sd);
  const r = a.img_range;
  const fea = scaledConv(g, 'conv_1', g.input(a.in_channels), r, 1);
  let y = fea;
  for (let i = 1; i <= a.num_blocks; i++) y = rlfbGraph(g, `block_${i}`, y);
  y = g.add('add_fea', g.convOf('conv_2', y), fea);
  return g.output(g.depthToSpace('upsampler.1', scaledConv(g, 'upsampler.0', y, 1 / r, 1 / r), a.upscale));
}

export const rlfnArch: ImageArchSpec<RLFNArgs, RLFN> = {
  kind: 'image',
  defaults: { in_channels: 3, out_channels: 3, feature_channels: 52, mid_channels: 52, num_blocks: 6, esa_channels: 16, upscale: 4, img_range: 1 },
  create: (a) => new RLFN(a),
  graph: rlfnGraph,
};
