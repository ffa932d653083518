// EFDN (Wang, "Edge-enhanced Feature Distillation Network for Efficient Super-Resolution", CVPRW
// 2022; NTIRE 2022 efficient SR, team NKU-ESR), with the reference code's parameter names so the
// challenge's checkpoint (team01_efdn.pth) loads strictly.
//
// A head conv, four cells, three 1x1 "local fuse" convs over pairs of cell outputs
// (fuse(out1, out2) -> cell 3, fuse(out2, out3) -> cell 4, fuse(out2, out4)), a global residual,
// a 3x3 conv to out*s^2, pixel shuffle, clamp to [0, 1]. A cell: a 1x1 conv + PReLU, then two
// edge-enhanced diverse branch blocks (EDBB) in a chain; the input and the three outputs each
// squeezed to n/2 channels by a 1x1 conv, concatenated, fused (1x1) to n, gated by RFDN's ESA,
// plus the cell's input.
//
// EDBB (training form, `EFDN_EDBB`): a 3x3 conv, a 1x1 conv, and 1x1 convs followed by a fixed
// Sobel-x, Sobel-y and Laplacian mask scaled per channel (ECBSR's edge branches, their 1x1
// outputs padded with their own bias), summed, then PReLU; `extra` adds ECBSR's 1x1-3x3 branch
// (depth multiplier = input channels, as the reference's default) and/or the identity. Every
// branch is linear and padded so the sum is one 3x3 conv: deploy() folds each EDBB into the
// deploy form's `rep_conv` (EFDN, the network of the challenge's checkpoint). Training runs the
// fold inside the autograd graph (ECBSR's ecbFold) plus the 1x1 branch: one 3x3 and one 1x1 conv
// per block instead of seven.
import { Module, type StateDict } from '../nn/module.js';
import { Conv2d, PReLU, PixelShuffle, ModuleList, Container } from '../nn/layers.js';
import { Var, constant } from '../autograd/var.js';
import { conv2d } from '../autograd/ops/conv.js';
import { add, clamp } from '../autograd/ops/pointwise.js';
import { concat } from '../autograd/ops/layout.js';
import { ecbFold } from '../autograd/ops/reparam.js';
import { Tensor } from '../tensor/tensor.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import { SeqConv3x3, type FoldedConv } from './ecbsr.js';
import { ESA, esaGraph } from './esa.js';
import type { ImageArchSpec, SRModel } from './types.js';

const EXTRAS = ['none', '1x1-3x3', 'identity', '1x1-3x3+identity'] as const;

/** The edge-enhanced diverse branch block (training form) with its PReLU. */
export class EDBB extends Module {
  readonly rep_conv: Conv2d;
  readonly conv1x1: Conv2d;
  readonly conv1x1_3x3: SeqConv3x3 | null;
  readonly conv1x1_sbx: SeqConv3x3;
  readonly conv1x1_sby: SeqConv3x3;
  readonly conv1x1_lpl: SeqConv3x3;
  readonly act: PReLU;
  readonly identity: boolean;

  constructor(readonly inPlanes: number, readonly outPlanes: number, extra: string = 'none') {
    super();
    this.identity = extra.includes('identity') && inPlanes === outPlanes;
    this.rep_conv = this.child('rep_conv', new Conv2d(inPlanes, outPlanes, 3));
    this.conv1x1 = this.child('conv1x1', new Conv2d(inPlanes, outPlanes, 1));
    this.conv1x1_3x3 = extra.includes('1x1-3x3') ? this.child('conv1x1_3x3', new SeqConv3x3('conv1x1-conv3x3', inPlanes, outPlanes, inPlanes)) : null;
    this.conv1x1_sbx = this.child('conv1x1_sbx', new SeqConv3x3('conv1x1-sobelx', inPlanes, outPlanes, -1));
    this.conv1x1_sby = this.child('conv1x1_sby', new SeqConv3x3('conv1x1-sobely', inPlanes, outPlanes, -1));
    this.conv1x1_lpl = this.child('conv1x1_lpl', new SeqConv3x3('conv1x1-laplacian', inPlanes, outPlanes, -1));
    this.act = this.child('act', new PReLU(outPlanes));
  }

  /** Training: the 3x3 and edge branches folded in the graph into one 3x3 conv, plus the 1x1 conv (and x); eval: the folded constants. */
  forward(x: Var): Var {
    let y: Var;
    if (!this.training) {
      const f = this.repParams();
      y = conv2d(x, constant(Tensor.from([this.outPlanes, this.inPlanes, 3, 3], f.weight)), constant(Tensor.from([this.outPlanes], f.bias)), { padding: 1 });
      return this.act.forward(y);
    }
    const s = this.conv1x1_3x3;
    const f = ecbFold({
      outPlanes: this.outPlanes, inPlanes: this.inPlanes, kernel: 3,
      conv: [{ w: this.rep_conv.weight, b: this.rep_conv.bias! }],
      seq: s ? [{ k0: s.k0, b0: s.b0, k1: s.k1!, b1: s.b1! }] : [],
      edge: [this.conv1x1_sbx, this.conv1x1_sby, this.conv1x1_lpl].map((e) => ({ k0: e.k0, b0: e.b0, scale: e.scale!, bias: e.bias!, mask: e.mask!.value })),
    });
    y = add(conv2d(x, f.weight, f.bias, { padding: 1 }), this.conv1x1.forward(x));
    return this.act.forward(this.identity ? add(y, x) : y);
  }

  /** The reference's training forward: every branch on its own, summed, then PReLU. */
  forwardBranches(x: Var): Var {
    let y = add(this.rep_conv.forward(x), this.conv1x1.forward(x));
    for (const b of [this.conv1x1_sbx, this.conv1x1_sby, this.conv1x1_lpl]) y = add(y, b.forward(x));
    if (this.identity) y = add(y, x);
    if (this.conv1x1_3x3) y = add(y, this.conv1x1_3x3.forward(x));
    return this.act.forward(y);
  }

  /** The one 3x3 conv equal to the branch sum (float64 accumulation): the 1x1 conv and the identity land on the centre tap. */
  repParams(): FoldedConv {
    const O = this.outPlanes, I = this.inPlanes;
    const weight = Float64Array.from(this.rep_conv.weight.value.data);
    const bias = Float64Array.from(this.rep_conv.bias!.value.data);
    const w1 = this.conv1x1.weight.value.data, b1 = this.conv1x1.bias!.value.data;
    for (let o = 0; o < O; o++) {
      bias[o]! += b1[o]!;
      for (let i = 0; i < I; i++) weight[(o * I + i) * 9 + 4]! += w1[o * I + i]! + (this.identity && o === i ? 1 : 0);
    }
    for (const br of [this.conv1x1_3x3, this.conv1x1_sbx, this.conv1x1_sby, this.conv1x1_lpl]) {
      if (!br) continue;
      const f = br.repParams();
      for (let i = 0; i < weight.length; i++) weight[i]! += f.weight[i]!;
      for (let i = 0; i < bias.length; i++) bias[i]! += f.bias[i]!;
    }
    return { weight, bias };
  }
}

/** EDBB after re-parameterisation: rep_conv (3x3) + PReLU. */
export class EDBBDeploy extends Module {
  readonly rep_conv: Conv2d;
  readonly act: PReLU;
  constructor(inPlanes: number, outPlanes: number) {
    super();
    this.rep_conv = this.child('rep_conv', new Conv2d(inPlanes, outPlanes, 3));
    this.act = this.child('act', new PReLU(outPlanes));
  }
  forward(x: Var): Var {
    return this.act.forward(this.rep_conv.forward(x));
  }
}

type Block = EDBB | EDBBDeploy;

/** conv1 (1x1 + PReLU), conv2 and conv3 (EDBBs), four 1x1 branches to n/2, fuse (1x1), ESA, + input. */
export class Cell extends Module {
  readonly conv1x1: Conv2d;
  readonly act1: PReLU;
  readonly conv2: Block;
  readonly conv3: Block;
  readonly fuse: Conv2d;
  readonly att: ESA;
  readonly branch: Conv2d[];

  constructor(n: number, make: () => Block) {
    super();
    const c1 = this.child('conv1', new Container());
    this.conv1x1 = c1.add('conv1x1', new Conv2d(n, n, 1));
    this.act1 = c1.add('act', new PReLU(n));
    this.conv2 = this.child('conv2', make());
    this.conv3 = this.child('conv3', make());
    this.fuse = this.child('fuse', new Conv2d(2 * n, n, 1));
    this.att = this.child('att', new ESA(n, Math.floor(n / 4)));
    const list = this.child('branch', new ModuleList<Conv2d>());
    this.branch = Array.from({ length: 4 }, () => list.push(new Conv2d(n, Math.floor(n / 2), 1)));
  }

  forward(x: Var, branches = false): Var {
    const run = (b: Block, v: Var) => (branches && b instanceof EDBB ? b.forwardBranches(v) : b.forward(v));
    const o1 = this.act1.forward(this.conv1x1.forward(x));
    const o2 = run(this.conv2, o1);
    const o3 = run(this.conv3, o2);
    const cat = concat([x, o1, o2, o3].map((v, i) => this.branch[i]!.forward(v)));
    return add(this.att.forward(this.fuse.forward(cat)), x);
  }
}

export type EFDNArgs = { in_channels: number; out_channels: number; n_feats: number; scale: number };
/** The training form's arguments: EFDN's plus which extra EDBB branches it trains. */
export type EFDNEDBBArgs = EFDNArgs & { extra: string };

function check(arch: string, a: EFDNArgs): void {
  if (a.n_feats % 4 || a.n_feats < 8) throw new Error(`mvsr: ${arch}: n_feats must be a multiple of 4 and at least 8 (ESA squeezes to n/4, the branches to n/2), got ${a.n_feats}`);
}

/** head, cells.0-3, local_fuse.0-2, tail.0 (3x3 conv), pixel shuffle, clamp [0, 1]. */
abstract class EFDNBase extends Module implements SRModel {
  abstract readonly arch: string;
  abstract readonly args: EFDNArgs;
  readonly scale: number;
  readonly head: Conv2d;
  readonly cells: Cell[];
  readonly local_fuse: Conv2d[];
  readonly tail: Conv2d;
  readonly shuffle: PixelShuffle;

  constructor(args: EFDNArgs, make: () => Block) {
    super();
    const { in_channels: C, out_channels: O, n_feats: n, scale: s } = args;
    this.scale = s;
    this.head = this.child('head', new Conv2d(C, n, 3));
    const cells = this.child('cells', new ModuleList<Cell>());
    this.cells = Array.from({ length: 4 }, () => cells.push(new Cell(n, make)));
    const lf = this.child('local_fuse', new ModuleList<Conv2d>());
    this.local_fuse = Array.from({ length: 3 }, () => lf.push(new Conv2d(2 * n, n, 1)));
    this.tail = this.child('tail', new Container()).add('0', new Conv2d(n, O * s * s, 3));
    this.shuffle = new PixelShuffle(s);
  }

  protected run(x: Var, branches: boolean): Var {
    const [c0, c1, c2, c3] = this.cells as [Cell, Cell, Cell, Cell];
    const [f0, f1, f2] = this.local_fuse as [Conv2d, Conv2d, Conv2d];
    const out0 = this.head.forward(x);
    const out1 = c0.forward(out0, branches);
    const out2 = c1.forward(out1, branches);
    const out3 = c2.forward(f0.forward(concat([out1, out2])), branches);
    const out4 = c3.forward(f1.forward(concat([out2, out3])), branches);
    const out = add(f2.forward(concat([out2, out4])), out0);
    return clamp(this.shuffle.forward(this.tail.forward(out)), 0, 1);
  }

  forward(x: Var): Var {
    return this.run(x, false);
  }
}

/** EFDN as the challenge ran it: every EDBB already folded (rep_conv + PReLU). */
export class EFDN extends EFDNBase {
  readonly arch = 'EFDN';
  constructor(readonly args: EFDNArgs) {
    check('EFDN', args);
    super(args, () => new EDBBDeploy(args.n_feats, args.n_feats));
  }
}

/** EFDN's training form: EDBBs with their branches; deploy() folds them. */
export class EFDNEDBB extends EFDNBase {
  readonly arch = 'EFDN_EDBB';
  constructor(readonly args: EFDNEDBBArgs) {
    check('EFDN_EDBB', args);
    if (!(EXTRAS as readonly string[]).includes(args.extra)) throw new Error(`mvsr: EFDN_EDBB: extra must be one of ${EXTRAS.join(', ')}, got '${args.extra}'`);
    super(args, () => new EDBB(args.n_feats, args.n_feats, args.extra));
  }

  /** The reference's multi-branch training forward. */
  forwardBranches(x: Var): Var {
    return this.run(x, true);
  }

  /** Re-parameterise: every EDBB becomes rep_conv + PReLU; everything else is copied by name. */
  deploy(): EFDN {
    const { extra: _extra, ...deployArgs } = this.args;
    const plain = new EFDN(deployArgs);
    const sd: StateDict = {};
    const keep = new Set([...plain.namedParameters()].map(([k]) => k));
    for (const [k, p] of this.namedParameters()) if (keep.has(k)) sd[k] = { shape: [...p.value.shape], data: p.value.toArray() };
    const n = this.args.n_feats;
    this.cells.forEach((c, i) => {
      for (const key of ['conv2', 'conv3'] as const) {
        const e = c[key] as EDBB, f = e.repParams();
        sd[`cells.${i}.${key}.rep_conv.weight`] = { shape: [n, n, 3, 3], data: Float32Array.from(f.weight) };
        sd[`cells.${i}.${key}.rep_conv.bias`] = { shape: [n], data: Float32Array.from(f.bias) };
      }
    });
    plain.loadStateDict(sd, true);
    return plain;
  }
}

export function efdnGraph(a: EFDNArgs, sd: WeightSource): Graph {
  const b = new GraphBuilder({ arch: 'EFDN', args: a, scale: a.scale }, sd);
  const cell = (i: number, x: string): string => {
    const k = `cells.${i}`;
    const o1 = b.convOf(`${k}.conv1.conv1x1`, x, { id: `${k}.conv1`, act: b.prelu(`${k}.conv1.act.weight`) });
    const o2 = b.convOf(`${k}.conv2.rep_conv`, o1, { id: `${k}.conv2`, act: b.prelu(`${k}.conv2.act.weight`) });
    const o3 = b.convOf(`${k}.conv3.rep_conv`, o2, { id: `${k}.conv3`, act: b.prelu(`${k}.conv3.act.weight`) });
    const cat = b.concat(`${k}.cat`, [x, o1, o2, o3].map((v, j) => b.convOf(`${k}.branch.${j}`, v)));
    return b.add(`${k}.add`, esaGraph(b, `${k}.att`, b.convOf(`${k}.fuse`, cat), false), x);
  };
  const out0 = b.convOf('head', b.input(a.in_channels));
  const out1 = cell(0, out0);
  const out2 = cell(1, out1);
  const out3 = cell(2, b.convOf('local_fuse.0', b.concat('cat_fuse0', [out1, out2])));
  const out4 = cell(3, b.convOf('local_fuse.1', b.concat('cat_fuse1', [out2, out3])));
  const out = b.add('add_head', b.convOf('local_fuse.2', b.concat('cat_fuse2', [out2, out4])), out0);
  return b.output(b.act('clamp', b.depthToSpace('tail.1', b.convOf('tail.0', out), a.scale), { kind: 'clamp', lo: 0, hi: 1 }));
}

const defaults: EFDNArgs = { in_channels: 3, out_channels: 3, n_feats: 48, scale: 4 };

export const efdnArch: ImageArchSpec<EFDNArgs, EFDN> = { kind: 'image', defaults, create: (a) => new EFDN(a), graph: efdnGraph };
export const efdnEdbbArch: ImageArchSpec<EFDNEDBBArgs, EFDNEDBB> = { kind: 'image', defaults: { ...defaults, extra: 'none' }, create: (a) => new EFDNEDBB(a), deploy: (m) => m.deploy() };
