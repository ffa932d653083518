// VapSR (Zhou et al., "Efficient Image Super-Resolution using Vast-Receptive-Field Attention",
// ECCV 2022 workshops), with the reference code's parameter names (its BasicSR registry name,
// `vapsr`) so the official checkpoints load strictly. A vast-receptive-field attention block (VAB):
// 1x1 projection, GELU, attention = x * depthwise-dilated(depthwise(pointwise(x))) (5x5, then 5x5
// at dilation 3: a 17x17 field), 1x1 projection back, + the block's input, and a layer norm over
// each pixel's channels. VapSR-S adds groups to the body conv.
import { Module } from '../nn/module.js';
import { Conv2d, Sequential, LayerNorm, Container } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add, mul, gelu, leakyRelu } from '../autograd/ops/pointwise.js';
import { depthToSpace } from '../autograd/ops/layout.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';

const SLOPE = 0.1;

export class VapAttention extends Module {
  readonly pointwise: Conv2d; readonly depthwise: Conv2d; readonly depthwise_dilated: Conv2d;
  constructor(dim: number) {
    super();
    this.pointwise = this.child('pointwise', new Conv2d(dim, dim, 1));
    this.depthwise = this.child('depthwise', new Conv2d(dim, dim, 5, { groups: dim }));
    this.depthwise_dilated = this.child('depthwise_dilated', new Conv2d(dim, dim, 5, { groups: dim, dilation: 3, padding: 6 }));
  }
  forward(x: Var): Var {
    return mul(x, this.depthwise_dilated.forward(this.depthwise.forward(this.pointwise.forward(x))));
  }
}

export class VAB extends Module {
  readonly proj_1: Conv2d; readonly atten_branch: VapAttention; readonly proj_2: Conv2d; readonly pixel_norm: LayerNorm;
  constructor(dModel: number, dAtten: number) {
    super();
    this.proj_1 = this.child('proj_1', new Conv2d(dModel, dAtten, 1));
    this.atten_branch = this.child('atten_branch', new VapAttention(dAtten));
    this.proj_2 = this.child('proj_2', new Conv2d(dAtten, dModel, 1));
    this.pixel_norm = this.child('pixel_norm', new LayerNorm(dModel));
  }
  forward(x: Var): Var {
    const y = this.proj_2.forward(this.atten_branch.forward(gelu(this.proj_1.forward(x))));
    return this.pixel_norm.forward(add(y, x));
  }
}

export type VapSRArgs = { num_in_ch: number; num_out_ch: number; scale: number; num_feat: number; num_block: number; d_atten: number; conv_groups: number };

/**
 * conv_first, body (VAB x num_block), conv_body (+ conv_first's output), upsampler: at x4 conv to 64,
 * pixel shuffle 2, leaky ReLU 0.1, conv, pixel shuffle 2 (keys upsampler.0, upsampler.3); otherwise
 * conv to 56, leaky ReLU 0.1, conv, pixel shuffle s (upsampler.0, upsampler.2).
 */
export class VapSR extends Module implements SRModel {
  readonly arch = 'vapsr';
  readonly conv_first: Conv2d;
  readonly body: Sequential;
  readonly conv_body: Conv2d;
  readonly up1: Conv2d;
  readonly up2: Conv2d;

  constructor(readonly args: VapSRArgs) {
    super();
    const { num_in_ch, num_out_ch, scale: s, num_feat: F, num_block, d_atten, conv_groups } = args;
    this.conv_first = this.child('conv_first', new Conv2d(num_in_ch, F, 3));
    this.body = this.child('body', new Sequential(...Array.from({ length: num_block }, () => new VAB(F, d_atten))));
    this.conv_body = this.child('conv_body', new Conv2d(F, F, 3, { groups: conv_groups }));
    const up = this.child('upsampler', new Container());
    if (s === 4) {
      this.up1 = up.add('0', new Conv2d(F, 64, 3));
      this.up2 = up.add('3', new Conv2d(16, num_out_ch * 4, 3));
    } else {
      this.up1 = up.add('0', new Conv2d(F, 56, 3));
      this.up2 = up.add('2', new Conv2d(56, num_out_ch * s * s, 3));
    }
  }

  get scale(): number {
    return this.args.scale;
  }

  forward(x: Var): Var {
    const feat = this.conv_first.forward(x);
    const y = add(feat, this.conv_body.forward(this.body.forward(feat)));
    if (this.args.scale === 4) return depthToSpace(this.up2.forward(leakyRelu(depthToSpace(this.up1.forward(y), 2), SLOPE)), 2);
    return depthToSpace(this.up2.forward(leakyRelu(this.up1.forward(y), SLOPE)), this.args.scale);
  }
}

/** VAB over node x (d_atten attention channels); node ids end in `tag`. */
export function vabGraph(g: GraphBuilder, k: string, x: string, dAtten: number, tag = ''): string {
  const conv = (key: string, y: string, o: { groups?: number; dilation?: number; padding?: number; act?: { kind: 'gelu' } } = {}) => g.convOf(`${k}.${key}`, y, { id: `${k}.${key}${tag}`, ...o });
  const h = conv('proj_1', x, { act: { kind: 'gelu' } });
  const attn = conv('atten_branch.depthwise_dilated', conv('atten_branch.depthwise', conv('atten_branch.pointwise', h), { groups: dAtten }), { groups: dAtten, dilation: 3, padding: 6 });
  const z = conv('proj_2', g.mul(`${k}.atten${tag}`, h, attn));
  return g.layerNormOf(`${k}.pixel_norm`, g.add(`${k}.res${tag}`, z, x), 1e-5, `${k}.pixel_norm${tag}`);
}

export function vapsrGraph(a: VapSRArgs, sd: WeightSource): Graph {
  const g = new GraphBuilder({ arch: 'vapsr', args: a, scale: a.scale }, sd);
  const feat = g.convOf('conv_first', g.input(a.num_in_ch));
  let y = feat;
  for (let i = 0; i < a.num_block; i++) y = vabGraph(g, `body.${i}`, y, a.d_atten);
  y = g.add('add_feat', feat, g.convOf('conv_body', y, { groups: a.conv_groups }));
  const LRELU = { kind: 'leaky', slope: SLOPE } as const;
  if (a.scale === 4) {
    y = g.act('upsampler.2', g.depthToSpace('upsampler.1', g.convOf('upsampler.0', y), 2), LRELU);
    return g.output(g.depthToSpace('upsampler.4', g.convOf('upsampler.3', y), 2));
  }
  y = g.convOf('upsampler.0', y, { act: LRELU });
  return g.output(g.depthToSpace('upsampler.3', g.convOf('upsampler.2', y), a.scale));
}

export const vapsrArch: ImageArchSpec<VapSRArgs, VapSR> = {
  kind: 'image',
  defaults: { num_in_ch: 3, num_out_ch: 3, scale: 4, num_feat: 48, num_block: 21, d_atten: 64, conv_groups: 1 },
  create: (a) => new VapSR(a),
  graph: vapsrGraph,
};
