// Bicubic (ETDS repo): F.interpolate(x, scale_factor=upscale, mode='bicubic'), align_corners=False,
// A = -0.75, no clamping. (MATLAB imresize is a different kernel with antialiasing; see data/.)
import { Module } from '../nn/module.js';
import { record, type Var } from '../autograd/var.js';
import { matlabImresize } from '../tensor/ops/matlabResize.js';
import { upsample } from '../autograd/ops/resize.js';
import { GraphBuilder, type Graph, type GraphResizeMode } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';

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

export type MatlabBicubicArgs = { upscale: number };

/** MATLAB imresize bicubic (a = -0.5, antialiased when shrinking) as an upscaler; inference only. */
export class MatlabBicubic extends Module implements SRModel {
  readonly arch = 'MatlabBicubic';
  readonly scale: number;

  constructor(readonly args: MatlabBicubicArgs) {
    super();
    this.scale = args.upscale;
  }

  forward(x: Var): Var {
    const y = matlabImresize(x.value, this.scale);
    return record('matlabBicubic', [x], y, () => {
      throw new Error('mvsr: MatlabBicubic has no gradient (it is an inference-only baseline)');
    });
  }
}

function resizeGraph(arch: string, mode: GraphResizeMode) {
  return (a: BicubicArgs): Graph => {
    const b = new GraphBuilder({ arch, args: a, scale: a.upscale });
    return b.output(b.resize('resize', b.input(3), a.upscale, mode));
  };
}

export const bicubicArch: ImageArchSpec<BicubicArgs, Bicubic> = { kind: 'image', defaults: { upscale: 4 }, create: (a) => new Bicubic(a), graph: resizeGraph('Bicubic', 'bicubic') };
export const matlabBicubicArch: ImageArchSpec<MatlabBicubicArgs, MatlabBicubic> = {
  kind: 'image', defaults: { upscale: 4 }, create: (a) => new MatlabBicubic(a), graph: resizeGraph('MatlabBicubic', 'matlabBicubic'),
};
