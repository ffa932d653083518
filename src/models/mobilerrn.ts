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
import { Conv2d, ModuleList } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add } from '../autograd/ops/pointwise.js';
import { concat, depthToSpace } from '../autograd/ops/layout.js';
import { checkAlignArgs, estimateShift, translate, type AlignArgs } from '../autograd/ops/align.js';
import type { Graph, WeightSource } from '../graph/ir.js';
import { bilinearUp, zeroState, StepGraph } from './vsr.js';
import type { VideoArchSpec, VideoSRModel, VideoState } from './types.js';

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

/** f + conv2(relu(conv1(f))) for the block at `key` (node ids end in `tag`). */
export function residualBlockGraph(b: StepGraph, key: string, f: string, tag: string): string {
  const y = b.convOf(`${key}.conv1`, f, { id: `${key}.conv1${tag}`, act: { kind: 'relu' } });
  return b.add(`${key}.add${tag}`, f, b.convOf(`${key}.conv2`, y, { id: `${key}.conv2${tag}` }));
}

/** MobileRRN's step graph: forwardFrames for `count` frames, node for op (align: estimateShift + translate). */
export function mobileRrnStepGraph(a: MobileRRNArgs, sd: WeightSource, count: number): Graph {
  const s = a.upscale;
  const b = new StepGraph('MobileRRN', a, sd, count, { past: 1, future: 0 });
  let hidden = b.state('hidden', a.num_feat);
  const hr: string[] = [];
  for (let t = 0; t < count; t++) {
    const tag = count > 1 ? `@${t}` : '';
    const cur = b.frames[t + 1]!;
    let prev = b.frames[t]!;
    if (a.align === 'global') {
      const d = b.estimateShift(`shift${tag}`, prev, cur, a.align_radius);
      prev = b.translate(`align_prev${tag}`, prev, d);
      hidden = b.translate(`align_hidden${tag}`, hidden, d);
    }
    let f = b.convOf('conv_first', b.concat(`cat${tag}`, [prev, cur, hidden]), { id: `conv_first${tag}`, act: { kind: 'relu' } });
    for (let i = 0; i < a.num_block; i++) f = residualBlockGraph(b, `recon_trunk.${i}`, f, tag);
    hidden = b.convOf('conv_hidden', f, { id: `conv_hidden${tag}`, act: { kind: 'relu' } });
    const res = b.depthToSpace(`upsampler${tag}`, b.convOf('conv_last', f, { id: `conv_last${tag}` }), s);
    hr.push(b.add(`add_skip${tag}`, res, b.bilinearUp(`skip${tag}`, cur, s)));
  }
  return b.finish(hr, { hidden });
}

export const mobileRrnArch: VideoArchSpec<MobileRRNArgs, MobileRRN> = {
  kind: 'video',
  defaults: { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_feat: 16, num_block: 5, align: 'none', align_radius: 4 },
  create: (a) => new MobileRRN(a),
  stepGraph: mobileRrnStepGraph,
};
