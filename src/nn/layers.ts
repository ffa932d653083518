// Layers with PyTorch names, shapes and default initialisation.
import { Module } from './module.js';
import { defaultConvInit } from './init.js';
import type { Var } from '../autograd/var.js';
import { Tensor } from '../tensor/tensor.js';
import { conv2d, convRelu } from '../autograd/ops/conv.js';
import { convTranspose2d } from '../autograd/ops/convTranspose.js';
import { relu, leakyRelu, prelu, tanh, sigmoid, gelu, clamp } from '../autograd/ops/pointwise.js';
import { depthToSpace, spaceToDepth, reshape } from '../autograd/ops/layout.js';
import { upsample } from '../autograd/ops/resize.js';
import { layerNorm } from '../autograd/ops/norm.js';
import type { Rng } from '../tensor/random.js';

export interface Conv2dOptions {
  bias?: boolean;
  groups?: number;
  padding?: number;
  dilation?: number;
  stride?: number;
  rng?: Rng;
}

/** nn.Conv2d(in, out, k, padding=(k-1)/2) — parameters `weight` [out, in/groups, k, k] and `bias` [out]. */
export class Conv2d extends Module {
  readonly weight: Var;
  readonly bias: Var | null;
  readonly groups: number;
  readonly padding: number;
  readonly dilation: number;
  readonly stride: number;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, o: Conv2dOptions = {}) {
    super();
    this.groups = o.groups ?? 1;
    this.dilation = o.dilation ?? 1;
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? ((kernelSize - 1) * this.dilation) / 2;
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new Error(`mvsr: Conv2d(${inChannels}, ${outChannels}): groups=${this.groups} must divide both channel counts`);
    }
    const fanIn = (inChannels / this.groups) * kernelSize * kernelSize;
    this.weight = this.param('weight', defaultConvInit([outChannels, inChannels / this.groups, kernelSize, kernelSize], fanIn, o.rng));
    this.bias = o.bias === false ? null : this.param('bias', defaultConvInit([outChannels], fanIn, o.rng));
  }

  forward(x: Var): Var {
    return conv2d(x, this.weight, this.bias, { groups: this.groups, padding: this.padding, dilation: this.dilation, stride: this.stride });
  }

  /** relu(forward(x)) in one pass: the same values and gradients. */
  forwardRelu(x: Var): Var {
    return convRelu(x, this.weight, this.bias, { groups: this.groups, padding: this.padding, dilation: this.dilation, stride: this.stride });
  }
}

/**
 * nn.Linear(in, out) applied to the channels of each pixel (the permute-Linear-permute of
 * BSRN's blocks): `weight` [out, in] and `bias` [out] (unless bias: false), run as a 1x1 conv.
 */
export class Linear extends Module {
  readonly weight: Var;
  readonly bias: Var | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, o: { bias?: boolean; rng?: Rng } = {}) {
    super();
    this.weight = this.param('weight', defaultConvInit([outFeatures, inFeatures], inFeatures, o.rng));
    this.bias = o.bias ?? true ? this.param('bias', defaultConvInit([outFeatures], inFeatures, o.rng)) : null;
  }

  forward(x: Var): Var {
    return conv2d(x, reshape(this.weight, [this.outFeatures, this.inFeatures, 1, 1]), this.bias, { padding: 0 });
  }
}

export interface ConvTranspose2dOptions {
  stride: number;
  padding?: number;
  outputPadding?: number;
  bias?: boolean;
  rng?: Rng;
}

/** nn.ConvTranspose2d — `weight` [in, out, k, k], `bias` [out]. */
export class ConvTranspose2d extends Module {
  readonly weight: Var;
  readonly bias: Var | null;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, readonly o: ConvTranspose2dOptions) {
    super();
    const fanIn = outChannels * kernelSize * kernelSize; // PyTorch computes fan_in from weight dim 1
    this.weight = this.param('weight', defaultConvInit([inChannels, outChannels, kernelSize, kernelSize], fanIn, o.rng));
    this.bias = o.bias === false ? null : this.param('bias', defaultConvInit([outChannels], fanIn, o.rng));
  }

  forward(x: Var): Var {
    return convTranspose2d(x, this.weight, this.bias, { stride: this.o.stride, padding: this.o.padding, outputPadding: this.o.outputPadding });
  }
}

/** nn.PReLU(num_parameters, init=0.25) — parameter `weight` [num_parameters]. */
export class PReLU extends Module {
  readonly weight: Var;
  constructor(numParameters = 1, init = 0.25) {
    super();
    this.weight = this.param('weight', Tensor.full([numParameters], init));
  }
  forward(x: Var): Var {
    return prelu(x, this.weight);
  }
}

/**
 * nn.LayerNorm(C, eps=1e-5) over the channel (last) axis of an NHWC tensor: each pixel's C values
 * normalised (population variance) — parameters `weight` [C] (ones) and `bias` [C] (zeros).
 */
export class LayerNorm extends Module {
  readonly weight: Var;
  readonly bias: Var;
  constructor(readonly normalizedShape: number, readonly eps = 1e-5) {
    super();
    if (!Number.isInteger(normalizedShape) || normalizedShape < 1) throw new Error(`mvsr: LayerNorm(${normalizedShape}): the channel count must be a positive integer`);
    if (!(eps > 0) || !Number.isFinite(eps)) throw new Error(`mvsr: LayerNorm(${normalizedShape}): eps must be a finite number > 0, got ${eps}`);
    this.weight = this.param('weight', Tensor.full([normalizedShape], 1));
    this.bias = this.param('bias', Tensor.zeros([normalizedShape]));
  }
  forward(x: Var): Var {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class ReLU extends Module {
  forward(x: Var): Var {
    return relu(x);
  }
}

export class LeakyReLU extends Module {
  constructor(readonly slope = 0.01) {
    super();
  }
  forward(x: Var): Var {
    return leakyRelu(x, this.slope);
  }
}

export class Tanh extends Module {
  forward(x: Var): Var {
    return tanh(x);
  }
}

/** nn.GELU() (the erf form). */
export class GELU extends Module {
  forward(x: Var): Var {
    return gelu(x);
  }
}

export class Sigmoid extends Module {
  forward(x: Var): Var {
    return sigmoid(x);
  }
}

export class Clamp extends Module {
  constructor(readonly lo: number, readonly hi: number) {
    super();
  }
  forward(x: Var): Var {
    return clamp(x, this.lo, this.hi);
  }
}

/** nn.PixelShuffle(s) (or TF depth_to_space with order 'tf'). */
export class PixelShuffle extends Module {
  constructor(readonly scale: number, readonly order: 'pytorch' | 'tf' = 'pytorch') {
    super();
  }
  forward(x: Var): Var {
    return depthToSpace(x, this.scale, this.order);
  }
}

export class PixelUnshuffle extends Module {
  constructor(readonly scale: number, readonly order: 'pytorch' | 'tf' = 'pytorch') {
    super();
  }
  forward(x: Var): Var {
    return spaceToDepth(x, this.scale, this.order);
  }
}

export class Upsample extends Module {
  constructor(readonly scale: number, readonly mode: 'nearest' | 'bilinear' | 'bicubic' = 'nearest') {
    super();
  }
  forward(x: Var): Var {
    return upsample(x, this.scale, this.mode);
  }
}

/** nn.Sequential: children named "0", "1", … as in PyTorch. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.child(String(i), m));
  }
  forward(x: Var): Var {
    for (const m of this.layers) x = m.forward(x);
    return x;
  }
}

/** nn.ModuleList: children named "0", "1", …; no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  push(m: M): M {
    this.child(String(this.items.length), m);
    this.items.push(m);
    return m;
  }
  forward(): Var {
    throw new Error('mvsr: ModuleList has no forward');
  }
}

/** A module that only names its children (PyTorch wrappers whose forward the owner writes out, e.g. a Sequential with parameter-free gaps). */
export class Container extends Module {
  add<M extends Module>(name: string, m: M): M {
    return this.child(name, m);
  }
  forward(): Var {
    throw new Error('mvsr: a Container has no forward; its owner runs the children');
  }
}

/** nn.Identity. */
export class Identity extends Module {
  forward(x: Var): Var {
    return x;
  }
}
