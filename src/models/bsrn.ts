// BSRN (Li et al. 2022, "Blueprint Separable Residual Network for Efficient Image Super-Resolution")
// and BSRN-S, its NTIRE 2022 efficient-SR entry (team XPixel), with the reference parameter names so
// net_g_BSRN_x2/x3/x4.pth, net_g_BSRN-S.pth and team18_bsrn.pth load strictly.
//
// Both are RFDN's distillation block rebuilt from blueprint separable convs (BSConvU: a pointwise
// projection, then a 3x3 depthwise conv), with GELU for the leaky ReLU, an ESA made of BSConvUs,
// and the input replicated to 4x its channels. They differ in the details (the two reference files):
// - BSRN (BasicSR name BSRN): 1x1 nn.Conv2d layers, bias-free BSConvU pointwise convs, ESA's stride-2
//   conv is a BSConvU too, and each block ends with IMDN's contrast-aware channel attention (CCA).
// - BSRN-S (BasicSR name RFDNFINALB5): every 1x1 is an nn.Linear over the channels ([out, in] weight,
//   with bias), ESA's stride-2 conv is a plain conv, and each block ends with a learned per-channel
//   weight (cw) and a Linear output projection instead of CCA.
import { Module } from '../nn/module.js';
import { Conv2d, Linear, Container } from '../nn/layers.js';
import { Tensor } from '../tensor/tensor.js';
import type { Var } from '../autograd/var.js';
import { add, mul, gelu, sigmoid } from '../autograd/ops/pointwise.js';
import { concat, depthToSpace } from '../autograd/ops/layout.js';
import { maxPool2d } from '../autograd/ops/pool.js';
import { resize } from '../autograd/ops/resize.js';
import { scaleChannels, repeatImages } from '../autograd/ops/channels.js';
import { CCALayer, ccaGraph } from './imdn.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';

/** Which reference file: 'linear' = BSRN-S (nn.Linear 1x1s), 'conv' = BSRN (nn.Conv2d 1x1s). */
type Pointwise = 'linear' | 'conv';

/** A 1x1 projection as the variant writes it: nn.Linear (with bias) or nn.Conv2d(k=1) (bias as given). */
function pointwise(kind: Pointwise, cin: number, cout: number, bias = true): Linear | Conv2d {
  return kind === 'linear' ? new Linear(cin, cout) : new Conv2d(cin, cout, 1, { bias });
}

/** Blueprint separable conv (unconstrained): pointwise projection to `cout`, then a k x k depthwise conv. */
export class BSConvU extends Module {
  readonly pw: Linear | Conv2d; readonly dw: Conv2d;
  constructor(kind: Pointwise, cin: number, cout: number, o: { stride?: number; padding?: number } = {}) {
    super();
    // BSRN's pointwise conv has no bias; BSRN-S's nn.Linear has one
    this.pw = this.child('pw', pointwise(kind, cin, cout, false));
    this.dw = this.child('dw', new Conv2d(cout, cout, 3, { groups: cout, ...o }));
  }
  forward(x: Var): Var {
    return this.dw.forward(this.pw.forward(x));
  }
}

/** ESA with BSConvU convs and GELU. */
export class BSESA extends Module {
  readonly conv1: Linear | Conv2d; readonly conv_f: Linear | Conv2d; readonly conv_max: BSConvU; readonly conv2: Conv2d | BSConvU;
  readonly conv3: BSConvU; readonly conv3_: BSConvU; readonly conv4: Linear | Conv2d;
  constructor(kind: Pointwise, C: number) {
    super();
    const f = Math.floor(C / 4);
    this.conv1 = this.child('conv1', pointwise(kind, C, f));
    this.conv_f = this.child('conv_f', pointwise(kind, f, f));
    this.conv_max = this.child('conv_max', new BSConvU(kind, f, f));
    const strided = { stride: 2, padding: 0 };
    this.conv2 = this.child('conv2', kind === 'linear' ? new Conv2d(f, f, 3, strided) : new BSConvU(kind, f, f, strided));
    this.conv3 = this.child('conv3', new BSConvU(kind, f, f));
    this.conv3_ = this.child('conv3_', new BSConvU(kind, f, f));
    this.conv4 = this.child('conv4', pointwise(kind, f, C));
  }
  forward(x: Var): Var {
    const c1a = this.conv1.forward(x);
    const vmax = maxPool2d(this.conv2.forward(c1a), 7, 3);
    let c3 = this.conv3_.forward(gelu(this.conv3.forward(gelu(this.conv_max.forward(vmax)))));
    c3 = resize(c3, x.shape[1]!, x.shape[2]!, 'bilinear');
    return mul(x, sigmoid(this.conv4.forward(add(c3, this.conv_f.forward(c1a)))));
  }
}

/** The block (BSRN's ESDB, BSRN-S's RFDB): distillation with 1x1s, BSConvU 3x3s and GELU; ESA; CCA or x cw + conv_out; + input. */
export class BSBlock extends Module {
  readonly c1_d: Linear | Conv2d; readonly c1_r: BSConvU; readonly c2_d: Linear | Conv2d; readonly c2_r: BSConvU;
  readonly c3_d: Linear | Conv2d; readonly c3_r: BSConvU; readonly c4: BSConvU; readonly c5: Linear | Conv2d;
  readonly esa: BSESA;
  readonly cca: CCALayer | null = null;
  readonly cw: Var | null = null;
  readonly conv_out: Linear | null = null;
  constructor(kind: Pointwise, C: number) {
    super();
    const dc = Math.floor(C / 2);
    this.c1_d = this.child('c1_d', pointwise(kind, C, dc));
    this.c1_r = this.child('c1_r', new BSConvU(kind, C, C));
    this.c2_d = this.child('c2_d', pointwise(kind, C, dc));
    this.c2_r = this.child('c2_r', new BSConvU(kind, C, C));
    this.c3_d = this.child('c3_d', pointwise(kind, C, dc));
    this.c3_r = this.child('c3_r', new BSConvU(kind, C, C));
    this.c4 = this.child('c4', new BSConvU(kind, C, dc));
    this.c5 = this.child('c5', pointwise(kind, dc * 4, C));
    this.esa = this.child('esa', new BSESA(kind, C));
    if (kind === 'conv') {
      this.cca = this.child('cca', new CCALayer(C));
    } else {
      this.cw = this.param('cw', Tensor.full([1, C], 1));
      this.conv_out = this.child('conv_out', new Linear(C, C));
    }
  }
  forward(x: Var): Var {
    const d1 = gelu(this.c1_d.forward(x)), r1 = gelu(add(this.c1_r.forward(x), x));
    const d2 = gelu(this.c2_d.forward(r1)), r2 = gelu(add(this.c2_r.forward(r1), r1));
    const d3 = gelu(this.c3_d.forward(r2)), r3 = gelu(add(this.c3_r.forward(r2), r2));
    const out = this.esa.forward(this.c5.forward(concat([d1, d2, d3, gelu(this.c4.forward(r3))])));
    const fused = this.cca ? this.cca.forward(out) : this.conv_out!.forward(scaleChannels(out, repeatImages(this.cw!, out.shape[0]!)));
    return add(fused, x);
  }
}

export type BSRNArgs = { num_in_ch: number; num_feat: number; num_block: number; num_out_ch: number; upscale: number };

/**
 * The input replicated 4x on channels, fea_conv (BSConvU), B1..Bn, c1 (1x1 over all block outputs)
 * + GELU, c2 (BSConvU) + fea_conv's output, upsampler.upsampleOneStep (3x3 conv, pixel shuffle).
 */
export class BSRN extends Module implements SRModel {
  readonly scale: number;
  readonly fea_conv: BSConvU;
  readonly blocks: BSBlock[];
  readonly c1: Linear | Conv2d;
  readonly c2: BSConvU;
  readonly up: Conv2d;

  constructor(readonly arch: 'BSRN' | 'RFDNFINALB5', readonly args: BSRNArgs) {
    super();
    const kind: Pointwise = arch === 'BSRN' ? 'conv' : 'linear';
    const { num_in_ch, num_feat: C, num_block, num_out_ch, upscale } = args;
    this.scale = upscale;
    this.fea_conv = this.child('fea_conv', new BSConvU(kind, num_in_ch * 4, C));
    this.blocks = Array.from({ length: num_block }, (_, i) => this.child(`B${i + 1}`, new BSBlock(kind, C)));
    this.c1 = this.child('c1', pointwise(kind, C * num_block, C));
    this.c2 = this.child('c2', new BSConvU(kind, C, C));
    this.up = this.child('upsampler', new Container()).add('upsampleOneStep', new Container()).add('0', new Conv2d(C, num_out_ch * upscale * upscale, 3));
  }

  forward(x: Var): Var {
    const fea = this.fea_conv.forward(concat([x, x, x, x]));
    const outs: Var[] = [];
    let y = fea;
    for (const b of this.blocks) outs.push((y = b.forward(y)));
    y = add(this.c2.forward(gelu(this.c1.forward(concat(outs)))), fea);
    return depthToSpace(this.up.forward(y), this.scale);
  }
}

// ---- graph ---------------------------------------------------------------------------------

const GELU = { kind: 'gelu' } as const;
type Gelu = typeof GELU;

/**
 * The state dict's 1x1 `key` as a conv node: an nn.Linear ([out, in] weight, marked linear for the
 * NTIRE counter; its input columns optionally scaled, which folds BSRN-S's cw in) or an nn.Conv2d.
 */
function pointwiseOf(b: GraphBuilder, key: string, x: string, o: { act?: Gelu; colScale?: Float32Array } = {}): string {
  if (b.sdTensor(`${key}.weight`).shape.length === 4) return b.convOf(key, x, o.act ? { act: o.act } : {});
  return b.linearOf(key, x, o);
}

function bsconvOf(b: GraphBuilder, key: string, x: string, o: { act?: Gelu; stride?: number; padding?: number } = {}): string {
  const C = b.sdTensor(`${key}.dw.weight`).shape[0]!;
  return b.convOf(`${key}.dw`, pointwiseOf(b, `${key}.pw`, x), { groups: C, ...o });
}

function bsBlockGraph(b: GraphBuilder, k: string, x: string, bsrn: boolean): string {
  const d: string[] = [];
  let r = x;
  for (let j = 1; j <= 3; j++) {
    d.push(pointwiseOf(b, `${k}.c${j}_d`, r, { act: GELU }));
    r = b.act(`${k}.r${j}`, b.add(`${k}.res${j}`, bsconvOf(b, `${k}.c${j}_r`, r), r), GELU);
  }
  d.push(bsconvOf(b, `${k}.c4`, r, { act: GELU }));
  const c5 = pointwiseOf(b, `${k}.c5`, b.concat(`${k}.cat`, d));
  // ESA
  const e = `${k}.esa`;
  const c1a = pointwiseOf(b, `${e}.conv1`, c5);
  const strided = { stride: 2, padding: 0 };
  const c2 = bsrn ? bsconvOf(b, `${e}.conv2`, c1a, strided) : b.convOf(`${e}.conv2`, c1a, strided);
  const vmax = b.maxPool(`${e}.pool`, c2, 7, 3);
  let c3 = bsconvOf(b, `${e}.conv3_`, bsconvOf(b, `${e}.conv3`, bsconvOf(b, `${e}.conv_max`, vmax, { act: GELU }), { act: GELU }));
  c3 = b.resizeLike(`${e}.up`, c3, c5, 'bilinear');
  const gate = b.act(`${e}.sigmoid`, pointwiseOf(b, `${e}.conv4`, b.add(`${e}.sum`, c3, pointwiseOf(b, `${e}.conv_f`, c1a))), { kind: 'sigmoid' });
  const esa = b.mul(`${e}.gate`, c5, gate);
  // BSRN: CCA; BSRN-S: conv_out(esa * cw), cw folded into conv_out's input columns
  const fused = bsrn ? ccaGraph(b, `${k}.cca`, esa) : pointwiseOf(b, `${k}.conv_out`, esa, { colScale: b.sdTensor(`${k}.cw`).data });
  return b.add(`${k}.add`, fused, x);
}

function bsrnGraphOf(arch: 'BSRN' | 'RFDNFINALB5') {
  return (a: BSRNArgs, sd: WeightSource): Graph => {
    const b = new GraphBuilder({ arch, args: a, scale: a.upscale }, sd);
    const x = b.input(a.num_in_ch);
    const fea = bsconvOf(b, 'fea_conv', b.concat('input4', [x, x, x, x]));
    const outs: string[] = [];
    let y = fea;
    for (let i = 1; i <= a.num_block; i++) outs.push((y = bsBlockGraph(b, `B${i}`, y, arch === 'BSRN')));
    y = b.add('add_fea', bsconvOf(b, 'c2', pointwiseOf(b, 'c1', b.concat('cat', outs), { act: GELU })), fea);
    return b.output(b.depthToSpace('upsampler.upsampleOneStep.1', b.convOf('upsampler.upsampleOneStep.0', y), a.upscale));
  };
}

export const bsrnArch: ImageArchSpec<BSRNArgs, BSRN> = {
  kind: 'image',
  defaults: { num_in_ch: 3, num_feat: 64, num_block: 8, num_out_ch: 3, upscale: 4 },
  create: (a) => new BSRN('BSRN', a),
  graph: bsrnGraphOf('BSRN'),
};

export const bsrnsArch: ImageArchSpec<BSRNArgs, BSRN> = {
  kind: 'image',
  defaults: { num_in_ch: 3, num_feat: 48, num_block: 5, num_out_ch: 3, upscale: 4 },
  create: (a) => new BSRN('RFDNFINALB5', a),
  graph: bsrnGraphOf('RFDNFINALB5'),
};
