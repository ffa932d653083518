// MobileRRN, the baseline of the MAI 2022 real-time video SR challenge (a mobile version of RRN,
// Isobe et al. 2020): the previous and current LR frames and the hidden state are concatenated,
// conv3x3 + ReLU, num_block residual blocks [conv3x3, ReLU, conv3x3] + identity; a conv3x3 + ReLU
// gives the next hidden state and a conv3x3 the output residual (C*s^2, depth_to_space), added to
// the bilinear upsampled current frame. Causal: one frame of look-behind, none ahead.
// Names follow the challenge's TF baseline: conv_first, recon_trunk.{i}.conv{1,2}, conv_hidden, conv_last.
// mvsr option align: 'global' (default 'none', the baseline): before each step the previous frame
// and the hidden state are moved onto the current frame by the global translation between the two
// LR frames (estimated within +-align_radius LR pixels, sub-pixel, bilinear; see
// autograd/ops/align.ts). It adds no parameter, so a model trained without it loads with it.
import { Module } from '../nn/module.js';
import { Conv2d } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add } from '../autograd/ops/pointwise.js';
import { concat, depthToSpace } from '../autograd/ops/layout.js';
import { checkAlignArgs, estimateShift, translate, type AlignArgs } from '../autograd/ops/align.js';
import { ModuleList } from './plain.js';
import { bilinearUp, zeroState, type VideoSRModel, type VideoState } from './vsr.js';

export type MobileRRNArgs = { num_in_ch: number; num_out_ch: number; upscale: number; num_feat: number; num_block: number } & AlignArgs;

/** conv3x3 + ReLU + conv3x3, plus the input (no batch norm). */
export class ResidualBlockNoBN extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  constructor(F: number) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(F, F, 3));
    this.conv2 = this.child('conv2', new Conv2d(F, F, 3));
  }
  forward(x: Var): Var {
    return add(x, this.conv2.forward(this.conv1.forwardRelu(x)));
  }
}

export class MobileRRN extends Module implements VideoSRModel {
  readonly kind = 'video';
  readonly arch = 'MobileRRN';
  readonly scale: number;
  readonly window = { past: 1, future: 0 };
  readonly chunk = 1;
  readonly conv_first: Conv2d;
  readonly recon_trunk: ResidualBlockNoBN[];
  readonly conv_hidden: Conv2d;
  readonly conv_last: Conv2d;

  constructor(readonly args: MobileRRNArgs) {
    super();
    const { num_in_ch: C, num_out_ch: O, upscale: s, num_feat: F, num_block } = args;
    if (O !== C) throw new Error(`mvsr: MobileRRN: the bilinear skip needs num_out_ch == num_in_ch, got ${O} and ${C}`);
    checkAlignArgs('MobileRRN', args);
    this.scale = s;
    this.conv_first = this.child('conv_first', new Conv2d(2 * C + F, F, 3));
    const list = this.child('recon_trunk', new ModuleList<ResidualBlockNoBN>());
    this.recon_trunk = Array.from({ length: num_block }, () => list.push(new ResidualBlockNoBN(F)));
    this.conv_hidden = this.child('conv_hidden', new Conv2d(F, F, 3));
    this.conv_last = this.child('conv_last', new Conv2d(F, O * s * s, 3));
  }

  forwardFrames(frames: Var[], count: number, state: VideoState | null): { outputs: Var[]; state: VideoState } {
    const [N, H, W] = frames[0]!.shape as [number, number, number, number];
    let hidden = state?.[0] ?? zeroState([N, H, W, this.args.num_feat]);
    const outputs: Var[] = [];
    for (let t = 0; t < count; t++) {
      const cur = frames[t + 1]!;
      let prev = frames[t]!;
      if (this.args.align === 'global') {
        const d = estimateShift(prev.value, cur.value, this.args.align_radius);
        prev = translate(prev, d);
        hidden = translate(hidden, d);
      }
      let f = this.conv_first.forwardRelu(concat([prev, cur, hidden]));
      for (const b of this.recon_trunk) f = b.forward(f);
      hidden = this.conv_hidden.forwardRelu(f);
      outputs.push(add(depthToSpace(this.conv_last.forward(f), this.scale), bilinearUp(cur, this.scale)));
    }
    return { outputs, state: [hidden] };
  }

  forward(): Var {
    throw new Error('mvsr: MobileRRN is a video model: use forwardFrames / forwardClip / VideoUpscaler');
  }
}
