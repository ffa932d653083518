// RFDN (Liu et al., "Residual Feature Distillation Network", the AIM 2020 efficient-SR winner),
// with the reference code's parameter names so RFDN_AIM.pth loads strictly. A residual feature
// distillation block (RFDB) runs three stages of a 1x1 "distilled" conv and a 3x3 residual conv
// (+ its input), a last 3x3 conv, joins the four distilled parts with a 1x1 conv (c5) and gates it
// with ESA. The official weights take pixels in [0, 255]: `img_range: 255` scales the input and
// output (folded into the first and last convs in the deploy graph).
import { Module } from '../nn/module.js';
import { Conv2d, PixelShuffle, Sequential, LeakyReLU } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add, leakyRelu, scale } from '../autograd/ops/pointwise.js';
import { concat } from '../autograd/ops/layout.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import { ESA, esaGraph } from './esa.js';
import type { ImageArchSpec, SRModel } from './types.js';

const SLOPE = 0.05;
const LRELU = { kind: 'leaky', slope: SLOPE } as const;

export class RFDB extends Module {
  readonly dc: number;
  readonly c1_d: Conv2d; readonly c1_r: Conv2d; readonly c2_d: Conv2d; readonly c2_r: Conv2d;
  readonly c3_d: Conv2d; readonly c3_r: Conv2d; readonly c4: Conv2d; readonly c5: Conv2d;
  readonly esa: ESA;
  constructor(C: number) {
    super();
    const dc = (this.dc = Math.floor(C / 2));
    this.c1_d = this.child('c1_d', new Conv2d(C, dc, 1));
    this.c1_r = this.child('c1_r', new Conv2d(C, C, 3));
    this.c2_d = this.child('c2_d', new Conv2d(C, dc, 1));
    this.c2_r = this.child('c2_r', new Conv2d(C, C, 3));
    this.c3_d = this.child('c3_d', new Conv2d(C, dc, 1));
    this.c3_r = this.child('c3_r', new Conv2d(C, C, 3));
    this.c4 = this.child('c4', new Conv2d(C, dc, 3));
    this.c5 = this.child('c5', new Conv2d(dc * 4, C, 1));
    this.esa = this.child('esa', new ESA(C, Math.floor(C / 4)));
  }
  forward(x: Var): Var {
    const act = (v: Var): Var => leakyRelu(v, SLOPE);
    const d1 = act(this.c1_d.forward(x)), r1 = act(add(this.c1_r.forward(x), x));
    const d2 = act(this.c2_d.forward(r1)), r2 = act(add(this.c2_r.forward(r1), r1));
    const d3 = act(this.c3_d.forward(r2)), r3 = act(add(this.c3_r.forward(r2), r2));
    return this.esa.forward(this.c5.forward(concat([d1, d2, d3, act(this.c4.forward(r3))])));
  }
}

export type RFDNArgs = { in_nc: number; nf: number; num_modules: number; out_nc: number; upscale: number; img_range: number };

/** fea_conv, B1..Bn, c (1x1 + leaky ReLU over all block outputs), LR_conv + fea_conv's output, upsampler (3x3 conv, pixel shuffle). */
export class RFDN extends Module implements SRModel {
  readonly arch = 'RFDN';
  readonly scale: number;
  readonly fea_conv: Conv2d;
  readonly blocks: RFDB[];
  readonly c: Sequential;
  readonly LR_conv: Conv2d;
  readonly upsampler: Sequential;

  constructor(readonly args: RFDNArgs) {
    super();
    const { in_nc, nf, num_modules, out_nc, upscale } = args;
    this.scale = upscale;
    this.fea_conv = this.child('fea_conv', new Conv2d(in_nc, nf, 3));
    this.blocks = Array.from({ length: num_modules }, (_, i) => this.child(`B${i + 1}`, new RFDB(nf)));
    this.c = this.child('c', new Sequential(new Conv2d(nf * num_modules, nf, 1), new LeakyReLU(SLOPE)));
    this.LR_conv = this.child('LR_conv', new Conv2d(nf, nf, 3));
    this.upsampler = this.child('upsampler', new Sequential(new Conv2d(nf, out_nc * upscale * upscale, 3), new PixelShuffle(upscale)));
  }

  forward(x: Var): Var {
    const r = this.args.img_range;
    const fea = this.fea_conv.forward(r === 1 ? x : scale(x, r));
    const outs: Var[] = [];
    let y = fea;
    for (const b of this.blocks) outs.push((y = b.forward(y)));
    const out = this.upsampler.forward(add(this.LR_conv.forward(this.c.forward(concat(outs))), fea));
    return r === 1 ? out : scale(out, 1 / r);
  }
}

/**
 * The state dict's conv `key` with its weights multiplied by `w` and bias by `b` (the input and
 * output range folded into the first and last convs), as node `key`.
 */
export function scaledConv(g: GraphBuilder, key: string, x: string, w: number, b: number): string {
  if (w === 1 && b === 1) return g.convOf(key, x);
  const W = g.sdTensor(`${key}.weight`), B = g.sdTensor(`${key}.bias`);
  return g.conv(key, x, { shape: W.shape, data: W.data.map((v) => v * w) }, { shape: B.shape, data: B.data.map((v) => v * b) });
}

function rfdbGraph(g: GraphBuilder, key: string, x: string): string {
  const d: string[] = [];
  let r = x;
  for (let i = 1; i <= 3; i++) {
    d.push(g.convOf(`${key}.c${i}_d`, r, { act: LRELU }));
    r = g.act(`${key}.r${i}`, g.add(`${key}.res${i}`, g.convOf(`${key}.c${i}_r`, r), r), LRELU);
  }
  d.push(g.convOf(`${key}.c4`, r, { act: LRELU }));
  return esaGraph(g, `${key}.esa`, g.convOf(`${key}.c5`, g.concat(`${key}.cat`, d)), false);
}

export function rfdnGraph(a: RFDNArgs, sd: WeightSource): Graph {
  const g = new GraphBuilder({ arch: 'RFDN', args: a, scale: a.upscale }, sd);
  const r = a.img_range;
  const fea = scaledConv(g, 'fea_conv', g.input(a.in_nc), r, 1);
  const outs: string[] = [];
  let y = fea;
  for (let i = 1; i <= a.num_modules; i++) outs.push((y = rfdbGraph(g, `B${i}`, y)));
  y = g.convOf('c.0', g.concat('cat', outs), { act: LRELU });
  y = g.add('add_fea', g.convOf('LR_conv', y), fea);
  return g.output(g.depthToSpace('upsampler.1', scaledConv(g, 'upsampler.0', y, 1 / r, 1 / r), a.upscale));
}

export const rfdnArch: ImageArchSpec<RFDNArgs, RFDN> = {
  kind: 'image',
  defaults: { in_nc: 3, nf: 50, num_modules: 4, out_nc: 3, upscale: 4, img_range: 1 },
  create: (a) => new RFDN(a),
  graph: rfdnGraph,
};
