// Bicubic (ETDS repo): F.interpolate(x, scale_factor=upscale, mode='bicubic'), align_corners=False,
// A = -0.75, no clamping. (MATLAB imresize is a different kernel with antialiasing; see data/.)
import { Module } from '../nn/module.js';
import type { Var } from '../autograd/var.js';
import { upsample } from '../autograd/ops/resize.js';
import type { SRModel } from './registry.js';

export type BicubicArgs = { upscale: number };

export class Bicubic extends Module implements SRModel {
  readonly arch = 'Bicubic';
  readonly scale: number;

  constructor(readonly args: BicubicArgs) {
    super();
    this.scale = args.upscale;
  }

  forward(x: Var): Var {
    return upsample(x, this.scale, 'bicubic');
  }
}
