// ECBSR (Zhang et al., ACM MM 2021) as in the ETDS repo: the training-time network of
// edge-oriented convolution blocks (ECB), its re-parameterised plain form ECBSRT, and ECBSRET,
// ECBSRT after the ETDS paper's equivalent transformation (ET): the input rides along in spare
// channels so the residual add and the output clamp become part of the plain convolutions.
import { Module, Parameter, type StateDict } from '../nn/module.js';
import { Conv2d, Identity, PReLU, ReLU, PixelShuffle, Sequential } from '../nn/layers.js';
import { defaultConvInit, initRng } from '../nn/init.js';
import { Var, constant } from '../autograd/var.js';
import { conv2d } from '../autograd/ops/conv.js';
import { add } from '../autograd/ops/pointwise.js';
import { repeatInterleaveChannels, dropLastChannel } from '../autograd/ops/layout.js';
import { ecbFold, type FoldBranches } from '../autograd/ops/reparam.js';
import { Tensor } from '../tensor/tensor.js';
import { GraphBuilder, type Act, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';
import { zerosTensor, entry, placeKernel, placeVector, setCentre, clipConv, etTail, dropLastAtX3 } from './surgery.js';

export type ECBSRArgs = {
  num_in_ch: number;
  num_out_ch: number;
  upscale: number;
  num_block: number;
  num_feat: number;
  /** 'prelu' | 'relu' | 'linear' ('rrelu' and 'softplus' of the reference are not in the engine). */
  act_type: string;
};

/** The reference's ECB.get_activation for the activations the engine has. */
export function activation(actType: string, channels: number): Module {
  switch (actType) {
    case 'prelu': return new PReLU(channels);
    case 'relu': return new ReLU();
    case 'linear': return new Identity();
    case 'rrelu':
    case 'softplus':
      throw new Error(`mvsr: ECBSR: act_type '${actType}' needs an op the engine does not have (supported: prelu, relu, linear)`);
    default:
      throw new Error(`mvsr: ECBSR: unknown act_type '${actType}' (supported: prelu, relu, linear)`);
  }
}

export function checkArgs(arch: string, a: ECBSRArgs): void {
  if (a.num_in_ch > 1 && a.num_in_ch !== a.num_out_ch) {
    throw new Error(`mvsr: ${arch}: the input shortcut needs num_in_ch (${a.num_in_ch}) = num_out_ch (${a.num_out_ch}) or num_in_ch = 1`);
  }
}

/** The LR input repeated to every sub-pixel channel (repeat_interleave, or broadcasting for one input channel). */
export function shortcut(x: Var, a: ECBSRArgs): Var {
  const s2 = a.upscale * a.upscale;
  return repeatInterleaveChannels(x, a.num_in_ch > 1 ? s2 : a.num_out_ch * s2);
}

type SeqType = 'conv1x1-conv3x3' | 'conv1x1-sobelx' | 'conv1x1-sobely' | 'conv1x1-laplacian';

/** Fixed 3x3 edge filters of the sobel / laplacian branches (row-major taps). */
const MASKS: Record<Exclude<SeqType, 'conv1x1-conv3x3'>, number[]> = {
  'conv1x1-sobelx': [1, 0, -1, 2, 0, -2, 1, 0, -1],
  'conv1x1-sobely': [1, 2, 1, 0, 0, 0, -1, -2, -1],
  'conv1x1-laplacian': [0, 1, 0, 1, -4, 1, 0, 1, 0],
};

export interface FoldedConv {
  /** OIHW [out, in, 3, 3]. */
  weight: Float64Array;
  bias: Float64Array;
}

function randn(shape: number[], std: number): Tensor {
  const t = Tensor.empty(shape);
  const r = initRng();
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = r.normal() * std;
  return t;
}

/**
 * A 1x1 conv followed by a 3x3 conv (learned, or a fixed edge mask scaled per channel), with the
 * 1x1 output padded by its own bias so that the pair folds exactly into one 3x3 conv.
 */
export class SeqConv3x3 extends Module {
  readonly k0: Parameter;
  readonly b0: Parameter;
  readonly k1: Parameter | null = null;
  readonly b1: Parameter | null = null;
  readonly scale: Parameter | null = null;
  readonly bias: Parameter | null = null;
  /** Registered like the reference's requires_grad=False parameter (it is in the state dict) ... */
  readonly mask: Parameter | null = null;
  /** ... and used through this non-trainable alias, so it never receives a gradient. */
  private readonly maskConst: Var | null = null;
  readonly midPlanes: number;

  constructor(readonly type: SeqType, readonly inPlanes: number, readonly outPlanes: number, depthMultiplier: number) {
    super();
    if (type === 'conv1x1-conv3x3') {
      this.midPlanes = Math.trunc(outPlanes * depthMultiplier);
      this.k0 = this.param('k0', defaultConvInit([this.midPlanes, inPlanes, 1, 1], inPlanes));
      this.b0 = this.param('b0', defaultConvInit([this.midPlanes], inPlanes));
      this.k1 = this.param('k1', defaultConvInit([outPlanes, this.midPlanes, 3, 3], this.midPlanes * 9));
      this.b1 = this.param('b1', defaultConvInit([outPlanes], this.midPlanes * 9));
    } else {
      this.midPlanes = outPlanes;
      this.k0 = this.param('k0', defaultConvInit([outPlanes, inPlanes, 1, 1], inPlanes));
      this.b0 = this.param('b0', defaultConvInit([outPlanes], inPlanes));
      this.scale = this.param('scale', randn([outPlanes, 1, 1, 1], 1e-3));
      this.bias = this.param('bias', randn([outPlanes], 1e-3));
      const m = MASKS[type];
      this.mask = this.param('mask', Tensor.from([outPlanes, 1, 3, 3], Array.from({ length: outPlanes }, () => m).flat()));
      this.maskConst = new Var(this.mask.value, false);
    }
  }

  forward(x: Var): Var {
    // The reference pads the 1x1 output by one pixel filled with b0. Equivalently: the bias-free
    // 1x1 conv, then a depthwise centre-tap conv with padding 2 (one pixel of growth) adding b0
    // everywhere. (A 1x1 conv with padding 1 would do it in one op, but the engine's conv
    // backward supports padding <= K-1 only.)
    const M = this.midPlanes;
    const centreTap = constant(Tensor.from([M, 1, 3, 3], Array.from({ length: M * 9 }, (_, i) => (i % 9 === 4 ? 1 : 0))));
    const z = conv2d(x, this.k0, null, { padding: 0 });
    const y0 = conv2d(z, centreTap, this.b0, { groups: M, padding: 2 });
    if (this.type === 'conv1x1-conv3x3') return conv2d(y0, this.k1!, this.b1, { padding: 0 });
    // depthwise conv with scale * mask = per-channel scale (a depthwise 1x1 conv) after the mask
    const edges = conv2d(y0, this.maskConst!, null, { groups: this.outPlanes, padding: 0 });
    return conv2d(edges, this.scale!, this.bias, { groups: this.outPlanes, padding: 0 });
  }

  /** The single 3x3 conv equal to this branch (float64 accumulation). */
  repParams(): FoldedConv {
    const O = this.outPlanes, I = this.inPlanes, M = this.midPlanes;
    const k0 = this.k0.value.data, b0 = this.b0.value.data;
    const weight = new Float64Array(O * I * 9), bias = new Float64Array(O);
    if (this.type === 'conv1x1-conv3x3') {
      const k1 = this.k1!.value.data, b1 = this.b1!.value.data;
      for (let o = 0; o < O; o++) {
        let b = b1[o]!;
        for (let m = 0; m < M; m++) {
          for (let t = 0; t < 9; t++) {
            const k = k1[(o * M + m) * 9 + t]!;
            b += k * b0[m]!;
            for (let i = 0; i < I; i++) weight[(o * I + i) * 9 + t]! += k * k0[m * I + i]!;
          }
        }
        bias[o] = b;
      }
    } else {
      const sc = this.scale!.value.data, bb = this.bias!.value.data, mask = this.mask!.value.data;
      for (let o = 0; o < O; o++) {
        let b = bb[o]!;
        for (let t = 0; t < 9; t++) {
          const k = sc[o]! * mask[o * 9 + t]!;
          b += k * b0[o]!;
          for (let i = 0; i < I; i++) weight[(o * I + i) * 9 + t] = k * k0[o * I + i]!;
        }
        bias[o] = b;
      }
    }
    return { weight, bias };
  }
}

/** Edge-oriented convolution block: five parallel branches, summed, then the activation. */
export class ECB extends Module {
  readonly conv3x3: Conv2d;
  readonly conv1x1_3x3: SeqConv3x3;
  readonly conv1x1_sbx: SeqConv3x3;
  readonly conv1x1_sby: SeqConv3x3;
  readonly conv1x1_lpl: SeqConv3x3;
  readonly act: Module;

  constructor(readonly inPlanes: number, readonly outPlanes: number, depthMultiplier: number, readonly actType = 'prelu') {
    super();
    this.conv3x3 = this.child('conv3x3', new Conv2d(inPlanes, outPlanes, 3));
    this.conv1x1_3x3 = this.child('conv1x1_3x3', new SeqConv3x3('conv1x1-conv3x3', inPlanes, outPlanes, depthMultiplier));
    this.conv1x1_sbx = this.child('conv1x1_sbx', new SeqConv3x3('conv1x1-sobelx', inPlanes, outPlanes, -1));
    this.conv1x1_sby = this.child('conv1x1_sby', new SeqConv3x3('conv1x1-sobely', inPlanes, outPlanes, -1));
    this.conv1x1_lpl = this.child('conv1x1_lpl', new SeqConv3x3('conv1x1-laplacian', inPlanes, outPlanes, -1));
    this.act = this.child('act', activation(actType, outPlanes));
  }

  /**
   * Training: one 3x3 conv whose kernel and bias are folded from the five branches' parameters
   * inside the autograd graph (a differentiable re-parameterisation; the same function as
   * forwardBranches up to float rounding, borders included, since the 1x1 outputs are padded
   * with their bias). Eval (as the reference): the folded weights rebuilt from the current
   * parameters as constants (gradients reach x, not the parameters).
   */
  forward(x: Var): Var {
    let y: Var;
    if (!this.training) {
      const f = this.repParams();
      const w = constant(Tensor.from([this.outPlanes, this.inPlanes, 3, 3], f.weight));
      const b = constant(Tensor.from([this.outPlanes], f.bias));
      y = conv2d(x, w, b, { padding: 1 });
    } else {
      const f = ecbFold(this.foldBranches());
      y = conv2d(x, f.weight, f.bias, { padding: 1 });
    }
    return this.act.forward(y);
  }

  /** The training-time multi-branch forward of the reference (five convolution paths, summed, then the activation). */
  forwardBranches(x: Var): Var {
    const y = add(add(add(add(this.conv3x3.forward(x), this.conv1x1_3x3.forward(x)), this.conv1x1_sbx.forward(x)),
      this.conv1x1_sby.forward(x)), this.conv1x1_lpl.forward(x));
    return this.act.forward(y);
  }

  /** The branch parameters as the fold op takes them (the edge masks as constants). */
  foldBranches(): FoldBranches {
    const s = this.conv1x1_3x3;
    return {
      outPlanes: this.outPlanes,
      inPlanes: this.inPlanes,
      kernel: 3,
      conv: [{ w: this.conv3x3.weight, b: this.conv3x3.bias! }],
      seq: [{ k0: s.k0, b0: s.b0, k1: s.k1!, b1: s.b1! }],
      edge: [this.conv1x1_sbx, this.conv1x1_sby, this.conv1x1_lpl].map((e) => ({
        k0: e.k0, b0: e.b0, scale: e.scale!, bias: e.bias!, mask: e.mask!.value,
      })),
    };
  }

  repParams(): FoldedConv {
    const weight = Float64Array.from(this.conv3x3.weight.value.data);
    const bias = Float64Array.from(this.conv3x3.bias!.value.data);
    for (const br of [this.conv1x1_3x3, this.conv1x1_sbx, this.conv1x1_sby, this.conv1x1_lpl]) {
      const f = br.repParams();
      for (let i = 0; i < weight.length; i++) weight[i]! += f.weight[i]!;
      for (let i = 0; i < bias.length; i++) bias[i]! += f.bias[i]!;
    }
    return { weight, bias };
  }
}

/** Training-time ECBSR: ECB(in->F), num_block x ECB(F->F), ECB(F->out*s^2, linear), + input shortcut, pixel shuffle. */
export class ECBSR extends Module implements SRModel {
  readonly arch = 'ECBSR';
  readonly scale: number;
  readonly backbone: Sequential;
  readonly upsampler: PixelShuffle;

  constructor(readonly args: ECBSRArgs) {
    super();
    checkArgs(this.arch, args);
    const { num_in_ch, num_out_ch, upscale, num_block, num_feat, act_type } = args;
    this.scale = upscale;
    const blocks = [new ECB(num_in_ch, num_feat, 2.0, act_type)];
    for (let i = 0; i < num_block; i++) blocks.push(new ECB(num_feat, num_feat, 2.0, act_type));
    blocks.push(new ECB(num_feat, num_out_ch * upscale * upscale, 2.0, 'linear'));
    this.backbone = this.child('backbone', new Sequential(...blocks));
    this.upsampler = this.child('upsampler', new PixelShuffle(upscale));
  }

  /** Training: every ECB runs one conv with its kernel folded in the graph (see ECB.forward). */
  forward(x: Var): Var {
    return this.upsampler.forward(add(this.backbone.forward(x), shortcut(x, this.args)));
  }

  /** The same network with every ECB running its five branches (the reference's training graph). */
  forwardBranches(x: Var): Var {
    let y = x;
    for (const layer of this.backbone.layers) y = (layer as ECB).forwardBranches(y);
    return this.upsampler.forward(add(y, shortcut(x, this.args)));
  }

  /** Re-parameterise: every ECB becomes one 3x3 conv (PReLU slopes carried over); the result computes the same function. */
  deploy(): ECBSRT {
    const plain = new ECBSRT({ ...this.args });
    const sd: StateDict = {};
    this.backbone.layers.forEach((layer, i) => {
      const ecb = layer as ECB;
      const f = ecb.repParams();
      sd[`backbone.${i}.0.weight`] = { shape: [ecb.outPlanes, ecb.inPlanes, 3, 3], data: Float32Array.from(f.weight) };
      sd[`backbone.${i}.0.bias`] = { shape: [ecb.outPlanes], data: Float32Array.from(f.bias) };
      if (ecb.act instanceof PReLU) sd[`backbone.${i}.1.weight`] = { shape: [ecb.outPlanes], data: ecb.act.weight.value.toArray() };
    });
    plain.loadStateDict(sd, true);
    return plain;
  }
}

/** ECBSR after re-parameterisation ("ECBSR Test" in the reference): plain 3x3 convs + activations, + input shortcut. */
export class ECBSRT extends Module implements SRModel {
  readonly arch = 'ECBSRT';
  readonly scale: number;
  readonly backbone: Sequential;
  readonly upsampler: PixelShuffle;

  constructor(readonly args: ECBSRArgs) {
    super();
    checkArgs(this.arch, args);
    const { num_in_ch, num_out_ch, upscale, num_block, num_feat, act_type } = args;
    this.scale = upscale;
    const layers = [new Sequential(new Conv2d(num_in_ch, num_feat, 3), activation(act_type, num_feat))];
    for (let i = 0; i < num_block; i++) layers.push(new Sequential(new Conv2d(num_feat, num_feat, 3), activation(act_type, num_feat)));
    layers.push(new Sequential(new Conv2d(num_feat, num_out_ch * upscale * upscale, 3)));
    this.backbone = this.child('backbone', new Sequential(...layers));
    this.upsampler = this.child('upsampler', new PixelShuffle(upscale));
  }

  forward(x: Var): Var {
    return this.upsampler.forward(add(this.backbone.forward(x), shortcut(x, this.args)));
  }

  /**
   * Equivalent transformation to ECBSRET (the reference's converter_ecbsr_et): 4 spare channels,
   * 3 of them carrying the input through every layer (identity kernels, PReLU slope 0), the
   * shortcut folded into the last conv, and clamp(y, 0, 1) = relu(1 - relu(1 - y)) as the last
   * conv's negated weights plus a 1x1 "clip" conv. Equal to clamp(this(x), 0, 1) for inputs >= 0.
   */
  toET(): ECBSRET {
    const { num_in_ch, num_out_ch, upscale, num_block, num_feat, act_type } = this.args;
    if (num_in_ch !== 3 || num_out_ch !== 3) throw new Error('mvsr: ECBSRT.toET: the reference transformation is defined for 3 channels');
    if (act_type === 'linear') throw new Error('mvsr: ECBSRT.toET: needs a ReLU-like activation to carry the input');
    const src = this.stateDict();
    const Fe = num_feat + 4, s2 = upscale * upscale, O = 3 * s2, Oe = upscale === 3 ? O + 1 : O;
    const sd: StateDict = {};
    // layer i maps cin channels (3 for the first, F+4 after) to F+4; the last 3 carry the input
    const hidden = (i: number, cin: number): void => {
      const w = zerosTensor([Fe, cin, 3, 3]), b = zerosTensor([Fe]);
      placeKernel(w, entry(src, `backbone.${i}.0.weight`), 0, 0);
      placeVector(b, entry(src, `backbone.${i}.0.bias`), 0);
      for (let c = 0; c < 3; c++) setCentre(w, Fe - 3 + c, cin - 3 + c, 1);
      sd[`backbone.${i}.0.weight`] = w;
      sd[`backbone.${i}.0.bias`] = b;
      if (act_type === 'prelu') {
        const a = zerosTensor([Fe]); // slope 0 on the carried channels: a ReLU, identity on x >= 0
        placeVector(a, entry(src, `backbone.${i}.1.weight`), 0);
        sd[`backbone.${i}.1.weight`] = a;
      }
    };
    hidden(0, 3);
    for (let i = 1; i <= num_block; i++) hidden(i, Fe);
    const last = 1 + num_block;
    etTail(sd, src, `backbone.${last}.0`, `backbone.${last + 1}.0`, Oe, Fe, s2);
    const et = new ECBSRET({ ...this.args });
    et.loadStateDict(sd, true);
    return et;
  }
}

/** ECBSR after ET ("ECBSR for ET"): F+4 channels, ReLU tail with a 1x1 clip conv, no shortcut; x3 pads to 28 channels. */
export class ECBSRET extends Module implements SRModel {
  readonly arch = 'ECBSRET';
  readonly scale: number;
  readonly backbone: Sequential;
  readonly upsampler: PixelShuffle;

  constructor(readonly args: ECBSRArgs) {
    super();
    const { num_in_ch, num_out_ch, upscale, num_block, num_feat, act_type } = args;
    this.scale = upscale;
    const Fe = num_feat + 4; // +4 (not +3) keeps the channel count a multiple of 4 for speed
    const O = num_out_ch * upscale * upscale, Oe = upscale === 3 ? O + 1 : O;
    const layers = [new Sequential(new Conv2d(num_in_ch, Fe, 3), activation(act_type, Fe))];
    for (let i = 0; i < num_block; i++) layers.push(new Sequential(new Conv2d(Fe, Fe, 3), activation(act_type, Fe)));
    layers.push(new Sequential(new Conv2d(Fe, Oe, 3), new ReLU()));
    layers.push(new Sequential(new Conv2d(Oe, Oe, 1), new ReLU()));
    this.backbone = this.child('backbone', new Sequential(...layers));
    this.upsampler = this.child('upsampler', new PixelShuffle(upscale));
  }

  forward(x: Var): Var {
    let y = this.backbone.forward(x);
    if (this.scale === 3) y = dropLastChannel(y);
    return this.upsampler.forward(y);
  }
}

/** ECB activation of act_type (PReLU slopes from `${key}.weight`), or undefined for 'linear'. */
export function graphAct(b: GraphBuilder, a: ECBSRArgs, key: string): Act | undefined {
  switch (a.act_type) {
    case 'prelu': return b.prelu(`${key}.weight`);
    case 'relu': return { kind: 'relu' };
    case 'linear': return undefined;
    default: throw new Error(`mvsr: toGraph: ${a.act_type}: act_type has no graph form (prelu, relu, linear)`);
  }
}

/** backbone.i = Sequential(conv, act) for i = 0..num_block (the hidden layers of ECBSRT / ECBSRET). */
function hiddenGraph(b: GraphBuilder, a: ECBSRArgs, x: string): string {
  let y = x;
  for (let i = 0; i <= a.num_block; i++) {
    y = b.convOf(`backbone.${i}.0`, y);
    const act = graphAct(b, a, `backbone.${i}.1`);
    if (act) y = b.act(`backbone.${i}.1`, y, act);
  }
  return y;
}

/** ECBSRT: pixel_shuffle(backbone(x) + repeat_interleave(x)). */
export function ecbsrtGraph(a: ECBSRArgs, sd: WeightSource): Graph {
  const s = a.upscale, Cin = a.num_in_ch;
  const b = new GraphBuilder({ arch: 'ECBSRT', args: a, scale: s }, sd);
  const x = b.input(Cin);
  const y = b.convOf(`backbone.${a.num_block + 1}.0`, hiddenGraph(b, a, x));
  // one input channel is broadcast to every output sub-pixel channel, else each repeated s^2 times
  const sc = b.repeatInterleave('shortcut', x, Cin, Cin > 1 ? s * s : a.num_out_ch * s * s);
  return b.output(b.depthToSpace('upsampler', b.add('add_shortcut', y, sc), s));
}

/** ECBSRET: hidden layers, conv + ReLU, 1x1 clip conv + ReLU, (x3: drop last), pixel shuffle. */
export function ecbsretGraph(a: ECBSRArgs, sd: WeightSource): Graph {
  const s = a.upscale, nb = a.num_block;
  const b = new GraphBuilder({ arch: 'ECBSRET', args: a, scale: s }, sd);
  let y = hiddenGraph(b, a, b.input(a.num_in_ch));
  for (const i of [nb + 1, nb + 2]) y = b.act(`backbone.${i}.1`, b.convOf(`backbone.${i}.0`, y), { kind: 'relu' });
  return b.output(b.depthToSpace('upsampler', dropLastAtX3(b, y, s, b.sdTensor(`backbone.${nb + 2}.0.weight`).shape[0]!), s));
}

const ecbsrDefaults: ECBSRArgs = { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_block: 4, num_feat: 16, act_type: 'prelu' };

export const ecbsrArch: ImageArchSpec<ECBSRArgs, ECBSR> = { kind: 'image', defaults: ecbsrDefaults, create: (a) => new ECBSR(a), deploy: (m) => m.deploy() };
export const ecbsrtArch: ImageArchSpec<ECBSRArgs, ECBSRT> = { kind: 'image', defaults: ecbsrDefaults, create: (a) => new ECBSRT(a), graph: ecbsrtGraph, et: (m) => m.toET() };
export const ecbsretArch: ImageArchSpec<ECBSRArgs, ECBSRET> = { kind: 'image', defaults: ecbsrDefaults, create: (a) => new ECBSRET(a), graph: ecbsretGraph };
