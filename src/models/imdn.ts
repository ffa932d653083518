// IMDN (Hui et al., ACM MM 2019, the AIM 2019 constrained-SR winner) and IMDN+ (the IMDN author's
// NTIRE 2022 efficient-SR entry), with the reference code's parameter names so the official
// checkpoints load strictly. An information multi-distillation block (IMDB) runs a chain of 3x3
// convs, splitting off a quarter (IMDN) or a sixth (IMDN+) of the channels after each one, joins
// the pieces and fuses them with a 1x1 conv plus the block's input. IMDN weighs the joined
// channels by contrast-aware channel attention (CCA: sigmoid(conv(relu(conv(std + mean))))).
// IMDN_baseline is the simplified IMDN of KAIR that the NTIRE 2022 efficient-SR challenge ran as
// its baseline (imdn_baseline.py): blocks without CCA, a global residual around the trunk, no
// 1x1 fusion of the block outputs.
import { Module } from '../nn/module.js';
import { Conv2d, PixelShuffle, ReLU, Sigmoid, LeakyReLU, Sequential, Container } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add, mul, sigmoid, leakyRelu } from '../autograd/ops/pointwise.js';
import { concat, split } from '../autograd/ops/layout.js';
import { globalPool, scaleChannels } from '../autograd/ops/channels.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';

const LRELU_SLOPE = 0.05;
const LRELU = { kind: 'leaky', slope: LRELU_SLOPE } as const;

/** Contrast-aware channel attention: x * sigmoid(conv_du.2(relu(conv_du.0(std(x) + mean(x))))). */
export class CCALayer extends Module {
  readonly conv_du: Sequential;
  constructor(channels: number, reduction = 16) {
    super();
    this.conv_du = this.child('conv_du', new Sequential(
      new Conv2d(channels, Math.floor(channels / reduction), 1), new ReLU(),
      new Conv2d(Math.floor(channels / reduction), channels, 1), new Sigmoid(),
    ));
  }
  forward(x: Var): Var {
    return scaleChannels(x, this.conv_du.forward(add(globalPool(x, 'std'), globalPool(x, 'mean'))));
  }
}

/** IMDN's block: c1..c3 (3x3 + leaky ReLU) each keep a quarter of their output, c4 takes the rest; CCA, c5 (1x1), + input. */
export class IMDModule extends Module {
  readonly distilled: number;
  readonly remaining: number;
  readonly c1: Conv2d; readonly c2: Conv2d; readonly c3: Conv2d; readonly c4: Conv2d; readonly c5: Conv2d;
  readonly cca: CCALayer;
  constructor(C: number, rate = 0.25) {
    super();
    this.distilled = Math.floor(C * rate);
    this.remaining = C - this.distilled;
    this.c1 = this.child('c1', new Conv2d(C, C, 3));
    this.c2 = this.child('c2', new Conv2d(this.remaining, C, 3));
    this.c3 = this.child('c3', new Conv2d(this.remaining, C, 3));
    this.c4 = this.child('c4', new Conv2d(this.remaining, this.distilled, 3));
    this.c5 = this.child('c5', new Conv2d(this.distilled * 4, C, 1));
    this.cca = this.child('cca', new CCALayer(this.distilled * 4));
  }
  forward(x: Var): Var {
    const sizes = [this.distilled, this.remaining];
    const [d1, r1] = split(leakyRelu(this.c1.forward(x), LRELU_SLOPE), sizes) as [Var, Var];
    const [d2, r2] = split(leakyRelu(this.c2.forward(r1), LRELU_SLOPE), sizes) as [Var, Var];
    const [d3, r3] = split(leakyRelu(this.c3.forward(r2), LRELU_SLOPE), sizes) as [Var, Var];
    const joined = concat([d1, d2, d3, this.c4.forward(r3)]);
    return add(this.c5.forward(this.cca.forward(joined)), x);
  }
}

export type IMDNArgs = { in_nc: number; nf: number; num_modules: number; out_nc: number; upscale: number };

/** fea_conv, IMDB1..IMDBn, c (1x1 over all block outputs + leaky ReLU), LR_conv + fea_conv's output, upsampler (3x3 conv, pixel shuffle). */
export class IMDN extends Module implements SRModel {
  readonly arch = 'IMDN';
  readonly scale: number;
  readonly fea_conv: Conv2d;
  readonly blocks: IMDModule[];
  readonly c: Sequential;
  readonly LR_conv: Conv2d;
  readonly upsampler: Sequential;

  constructor(readonly args: IMDNArgs) {
    super();
    const { in_nc, nf, num_modules, out_nc, upscale } = args;
    this.scale = upscale;
    this.fea_conv = this.child('fea_conv', new Conv2d(in_nc, nf, 3));
    this.blocks = Array.from({ length: num_modules }, (_, i) => this.child(`IMDB${i + 1}`, new IMDModule(nf)));
    this.c = this.child('c', new Sequential(new Conv2d(nf * num_modules, nf, 1), new LeakyReLU(LRELU_SLOPE)));
    this.LR_conv = this.child('LR_conv', new Conv2d(nf, nf, 3));
    this.upsampler = this.child('upsampler', new Sequential(new Conv2d(nf, out_nc * upscale * upscale, 3), new PixelShuffle(upscale)));
  }

  forward(x: Var): Var {
    const fea = this.fea_conv.forward(x);
    const outs: Var[] = [];
    let y = fea;
    for (const b of this.blocks) outs.push((y = b.forward(y)));
    return this.upsampler.forward(add(this.LR_conv.forward(this.c.forward(concat(outs))), fea));
  }
}

/** IMDN+'s block: c1..c5 (3x3 + SiLU) each keep a sixth of the channels and pass the rest on, c6 (3x3 + SiLU) the last sixth; c7 (1x1) + input. */
export class IMDBPlus extends Module {
  readonly d: number;
  readonly convs: Conv2d[];
  readonly c7: Conv2d;
  constructor(C: number) {
    super();
    this.d = Math.floor(C / 6);
    this.convs = [C, 5 * this.d, 4 * this.d, 3 * this.d, 2 * this.d, this.d].map((c, i) => this.child(`c${i + 1}`, new Conv2d(c, c, 3)));
    this.c7 = this.child('c7', new Conv2d(6 * this.d, C, 1));
  }
  forward(x: Var): Var {
    const kept: Var[] = [];
    let rest = x;
    this.convs.forEach((c, i) => {
      const y = silu(c.forward(rest));
      if (i === 5) kept.push(y);
      else [kept[i], rest] = split(y, [this.d, (5 - i) * this.d]) as [Var, Var];
    });
    return add(this.c7.forward(concat(kept)), x);
  }
}

/** SiLU (x * sigmoid(x), PyTorch nn.SiLU) from two taped ops: exact values and gradients. */
function silu(x: Var): Var {
  return mul(x, sigmoid(x));
}

export type IMDNPlusArgs = { in_nc: number; nf: number; nb: number; out_nc: number; upscale: number };

/** FEM = [fea_conv, shortcut(IMDB+ x nb, LR_conv)], RM = [3x3 conv, pixel shuffle]: keys FEM.0, FEM.1.sub.<i>, FEM.1.sub.<nb>, RM.0. */
export class IMDNPlus extends Module implements SRModel {
  readonly arch = 'IMDN_plus';
  readonly scale: number;
  readonly fea_conv: Conv2d;
  readonly blocks: IMDBPlus[];
  readonly LR_conv: Conv2d;
  readonly up: Conv2d;
  readonly shuffle: PixelShuffle;

  constructor(readonly args: IMDNPlusArgs) {
    super();
    const { in_nc, nf, nb, out_nc, upscale } = args;
    this.scale = upscale;
    const fem = this.child('FEM', new Container());
    this.fea_conv = fem.add('0', new Conv2d(in_nc, nf, 3));
    const sub = fem.add('1', new Container()).add('sub', new Container());
    this.blocks = Array.from({ length: nb }, (_, i) => sub.add(String(i), new IMDBPlus(nf)));
    this.LR_conv = sub.add(String(nb), new Conv2d(nf, nf, 3));
    this.up = this.child('RM', new Container()).add('0', new Conv2d(nf, out_nc * upscale * upscale, 3));
    this.shuffle = new PixelShuffle(upscale);
  }

  forward(x: Var): Var {
    const fea = this.fea_conv.forward(x);
    let y = fea;
    for (const b of this.blocks) y = b.forward(y);
    return this.shuffle.forward(this.up.forward(add(this.LR_conv.forward(y), fea)));
  }
}

/** KAIR's IMDBlock: conv1..conv3 (3x3 + leaky ReLU 0.05, keys convN.0) keep a quarter of their output, conv4 takes the rest; conv1x1 + input. */
export class IMDBlockBaseline extends Module {
  readonly d: number;
  readonly r: number;
  readonly convs: Conv2d[];
  readonly conv4: Conv2d;
  readonly conv1x1: Conv2d;
  constructor(C: number) {
    super();
    this.d = Math.floor(C * 0.25);
    this.r = C - this.d;
    this.convs = [C, this.r, this.r].map((c, i) => this.child(`conv${i + 1}`, new Container()).add('0', new Conv2d(c, C, 3)));
    this.conv4 = this.child('conv4', new Conv2d(this.r, this.d, 3));
    this.conv1x1 = this.child('conv1x1', new Conv2d(4 * this.d, C, 1));
  }
  forward(x: Var): Var {
    const kept: Var[] = [];
    let rest = x;
    for (const c of this.convs) [kept[kept.length], rest] = split(leakyRelu(c.forward(rest), LRELU_SLOPE), [this.d, this.r]) as [Var, Var];
    kept.push(this.conv4.forward(rest));
    return add(this.conv1x1.forward(concat(kept)), x);
  }
}

export type IMDNBaselineArgs = { in_nc: number; out_nc: number; nc: number; nb: number; upscale: number };

/** model = [head conv, shortcut(IMDBlock x nb, conv), conv to out_nc*s^2 + pixel shuffle]: keys model.0, model.1.sub.<i>, model.1.sub.<nb>, model.2. */
export class IMDNBaseline extends Module implements SRModel {
  readonly arch = 'IMDN_baseline';
  readonly scale: number;
  readonly head: Conv2d;
  readonly blocks: IMDBlockBaseline[];
  readonly body_conv: Conv2d;
  readonly up: Conv2d;
  readonly shuffle: PixelShuffle;

  constructor(readonly args: IMDNBaselineArgs) {
    super();
    const { in_nc, out_nc, nc, nb, upscale } = args;
    this.scale = upscale;
    const model = this.child('model', new Container());
    this.head = model.add('0', new Conv2d(in_nc, nc, 3));
    const sub = model.add('1', new Container()).add('sub', new Container());
    this.blocks = Array.from({ length: nb }, (_, i) => sub.add(String(i), new IMDBlockBaseline(nc)));
    this.body_conv = sub.add(String(nb), new Conv2d(nc, nc, 3));
    this.up = model.add('2', new Conv2d(nc, out_nc * upscale * upscale, 3));
    this.shuffle = new PixelShuffle(upscale);
  }

  forward(x: Var): Var {
    const h = this.head.forward(x);
    let y = h;
    for (const b of this.blocks) y = b.forward(y);
    return this.shuffle.forward(this.up.forward(add(h, this.body_conv.forward(y))));
  }
}

// ---- graphs ------------------------------------------------------------------------------------

/** CCA on node x (channels of `key`): the pooled statistics, two 1x1 convs, the channel scaling. */
export function ccaGraph(b: GraphBuilder, key: string, x: string, tag = ''): string {
  const stats = b.add(`${key}.contrast${tag}`, b.globalPool(`${key}.std${tag}`, x, 'std'), b.globalPool(`${key}.mean${tag}`, x, 'mean'));
  const h = b.convOf(`${key}.conv_du.0`, stats, { id: `${key}.conv_du.0${tag}`, act: { kind: 'relu' } });
  return b.scaleChannels(`${key}.scale${tag}`, x, b.convOf(`${key}.conv_du.2`, h, { id: `${key}.conv_du.2${tag}`, act: { kind: 'sigmoid' } }));
}

/** IMDN's block over node x of C channels; node ids end in `tag`. */
export function imdbGraph(b: GraphBuilder, key: string, x: string, C: number, tag = ''): string {
  const d = Math.floor(C * 0.25);
  const kept: string[] = [];
  let rest = x;
  for (let i = 1; i <= 3; i++) {
    const y = b.convOf(`${key}.c${i}`, rest, { id: `${key}.c${i}${tag}`, act: LRELU });
    kept.push(b.slice(`${key}.d${i}${tag}`, y, 0, d));
    rest = b.slice(`${key}.r${i}${tag}`, y, d, C);
  }
  kept.push(b.convOf(`${key}.c4`, rest, { id: `${key}.c4${tag}` }));
  const fused = b.convOf(`${key}.c5`, ccaGraph(b, `${key}.cca`, b.concat(`${key}.cat${tag}`, kept), tag), { id: `${key}.c5${tag}` });
  return b.add(`${key}.add${tag}`, fused, x);
}

export function imdnGraph(a: IMDNArgs, sd: WeightSource): Graph {
  const b = new GraphBuilder({ arch: 'IMDN', args: a, scale: a.upscale }, sd);
  const fea = b.convOf('fea_conv', b.input(a.in_nc));
  const outs: string[] = [];
  let y = fea;
  for (let i = 1; i <= a.num_modules; i++) outs.push((y = imdbGraph(b, `IMDB${i}`, y, a.nf)));
  y = b.convOf('c.0', b.concat('cat', outs), { act: LRELU });
  y = b.add('add_fea', b.convOf('LR_conv', y), fea);
  return b.output(b.depthToSpace('upsampler.1', b.convOf('upsampler.0', y), a.upscale));
}

/** SiLU as sigmoid and mul nodes (the runtimes and exporters have both). */
function siluGraph(b: GraphBuilder, id: string, x: string): string {
  return b.mul(`${id}.silu`, x, b.act(`${id}.sigmoid`, x, { kind: 'sigmoid' }));
}

export function imdnPlusGraph(a: IMDNPlusArgs, sd: WeightSource): Graph {
  const b = new GraphBuilder({ arch: 'IMDN_plus', args: a, scale: a.upscale }, sd);
  const fea = b.convOf('FEM.0', b.input(a.in_nc));
  const d = Math.floor(a.nf / 6);
  let y = fea;
  for (let i = 0; i < a.nb; i++) {
    const key = `FEM.1.sub.${i}`;
    const kept: string[] = [];
    let rest = y;
    for (let j = 1; j <= 6; j++) {
      const out = siluGraph(b, `${key}.c${j}`, b.convOf(`${key}.c${j}`, rest));
      if (j === 6) kept.push(out);
      else {
        kept.push(b.slice(`${key}.d${j}`, out, 0, d));
        rest = b.slice(`${key}.r${j}`, out, d, (7 - j) * d);
      }
    }
    y = b.add(`${key}.add`, b.convOf(`${key}.c7`, b.concat(`${key}.cat`, kept)), y);
  }
  y = b.add('FEM.1.add', b.convOf(`FEM.1.sub.${a.nb}`, y), fea);
  return b.output(b.depthToSpace('RM.1', b.convOf('RM.0', y), a.upscale));
}

export function imdnBaselineGraph(a: IMDNBaselineArgs, sd: WeightSource): Graph {
  const b = new GraphBuilder({ arch: 'IMDN_baseline', args: a, scale: a.upscale }, sd);
  const d = Math.floor(a.nc * 0.25);
  const head = b.convOf('model.0', b.input(a.in_nc));
  let y = head;
  for (let i = 0; i < a.nb; i++) {
    const key = `model.1.sub.${i}`;
    const kept: string[] = [];
    let rest = y;
    for (let j = 1; j <= 3; j++) {
      const out = b.convOf(`${key}.conv${j}.0`, rest, { id: `${key}.conv${j}`, act: LRELU });
      kept.push(b.slice(`${key}.d${j}`, out, 0, d));
      rest = b.slice(`${key}.r${j}`, out, d, a.nc);
    }
    kept.push(b.convOf(`${key}.conv4`, rest));
    y = b.add(`${key}.add`, b.convOf(`${key}.conv1x1`, b.concat(`${key}.cat`, kept)), y);
  }
  y = b.add('model.1.add', head, b.convOf(`model.1.sub.${a.nb}`, y));
  return b.output(b.depthToSpace('model.3', b.convOf('model.2', y), a.upscale));
}

export const imdnArch: ImageArchSpec<IMDNArgs, IMDN> = {
  kind: 'image',
  defaults: { in_nc: 3, nf: 64, num_modules: 6, out_nc: 3, upscale: 4 },
  create: (a) => new IMDN(a),
  graph: imdnGraph,
};

export const imdnPlusArch: ImageArchSpec<IMDNPlusArgs, IMDNPlus> = {
  kind: 'image',
  defaults: { in_nc: 3, nf: 36, nb: 8, out_nc: 3, upscale: 4 },
  create: (a) => new IMDNPlus(a),
  graph: imdnPlusGraph,
};

export const imdnBaselineArch: ImageArchSpec<IMDNBaselineArgs, IMDNBaseline> = {
  kind: 'image',
  defaults: { in_nc: 3, out_nc: 3, nc: 64, nb: 8, upscale: 4 },
  create: (a) => new IMDNBaseline(a),
  graph: imdnBaselineGraph,
};
