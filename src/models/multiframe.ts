// A sliding-window multi-frame variant of the plain single-frame net: num_frame neighbouring LR
// frames (centred on the current one) concatenated on input, conv3x3 + ReLU, num_block conv3x3 +
// ReLU (block 'plain') or num_block residual blocks [conv3x3, ReLU, conv3x3] + identity (block
// 'residual', MobileRRN's trunk), conv3x3 to C*s^2, depth_to_space, plus the bilinear upsampled
// current frame. No state. num_frame 1 is a single-frame model: with residual blocks it is
// MobileRRN without its recurrence, the baseline a recurrent model of similar MACs must beat.
import { Module } from '../nn/module.js';
import { Conv2d, ModuleList } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add } from '../autograd/ops/pointwise.js';
import { concat, depthToSpace } from '../autograd/ops/layout.js';
import type { Graph, WeightSource } from '../graph/ir.js';
import { ResidualBlockNoBN, residualBlockGraph } from './mobilerrn.js';
import { bilinearUp, StepGraph } from './vsr.js';
import type { VideoArchSpec, VideoSRModel, VideoState } from './types.js';

export type MultiFramePlainArgs = { num_in_ch: number; num_out_ch: number; upscale: number; num_feat: number; num_block: number; num_frame: number; block: string };

export class MultiFramePlain extends Module implements VideoSRModel {
  readonly kind = 'video';
  readonly arch = 'MultiFramePlain';
  readonly scale: number;
  readonly window: { past: number; future: number };
  readonly chunk = 1;
  readonly conv_first: Conv2d;
  readonly body: Module[];
  readonly conv_last: Conv2d;

  constructor(readonly args: MultiFramePlainArgs) {
    super();
    const { num_in_ch: C, num_out_ch: O, upscale: s, num_feat: F, num_block, num_frame, block } = args;
    if (block !== 'plain' && block !== 'residual') throw new Error(`mvsr: MultiFramePlain: block must be 'plain' or 'residual', got '${block}'`);
    if (num_frame % 2 !== 1) throw new Error(`mvsr: MultiFramePlain: num_frame must be odd (centred on the current frame), got ${num_frame}`);
    if (O !== C) throw new Error(`mvsr: MultiFramePlain: the bilinear skip needs num_out_ch == num_in_ch, got ${O} and ${C}`);
    this.scale = s;
    const r = (num_frame - 1) / 2;
    this.window = { past: r, future: r };
    this.conv_first = this.child('conv_first', new Conv2d(num_frame * C, F, 3));
    const list = this.child('body', new ModuleList<Module>());
    this.body = Array.from({ length: num_block }, () => list.push(block === 'residual' ? new ResidualBlockNoBN(F) : new Conv2d(F, F, 3)));
    this.conv_last = this.child('conv_last', new Conv2d(F, O * s * s, 3));
  }

  forwardFrames(frames: Var[], count: number, _state: VideoState | null): { outputs: Var[]; state: VideoState } {
    const n = this.args.num_frame, r = this.window.past;
    const outputs: Var[] = [];
    for (let t = 0; t < count; t++) {
      const win = frames.slice(t, t + n);
      let y = this.conv_first.forwardRelu(n === 1 ? win[0]! : concat(win));
      for (const c of this.body) y = c instanceof Conv2d ? c.forwardRelu(y) : c.forward(y);
      outputs.push(add(depthToSpace(this.conv_last.forward(y), this.scale), bilinearUp(frames[t + r]!, this.scale)));
    }
    return { outputs, state: [] };
  }

  forward(): Var {
    throw new Error('mvsr: MultiFramePlain is a video model: use forwardFrames / forwardClip / VideoUpscaler');
  }
}

/** MultiFramePlain's step graph for `count` frames (no state). */
export function multiFramePlainStepGraph(a: MultiFramePlainArgs, sd: WeightSource, count: number): Graph {
  const n = a.num_frame, r = (n - 1) / 2, s = a.upscale;
  const b = new StepGraph('MultiFramePlain', a, sd, count, { past: r, future: r });
  const hr: string[] = [];
  for (let t = 0; t < count; t++) {
    const tag = count > 1 ? `@${t}` : '';
    const win = b.frames.slice(t, t + n);
    let y = b.convOf('conv_first', n === 1 ? win[0]! : b.concat(`cat${tag}`, win), { id: `conv_first${tag}`, act: { kind: 'relu' } });
    for (let i = 0; i < a.num_block; i++) {
      y = a.block === 'residual' ? residualBlockGraph(b, `body.${i}`, y, tag) : b.convOf(`body.${i}`, y, { id: `body.${i}${tag}`, act: { kind: 'relu' } });
    }
    const res = b.depthToSpace(`upsampler${tag}`, b.convOf('conv_last', y, { id: `conv_last${tag}` }), s);
    hr.push(b.add(`add_skip${tag}`, res, b.bilinearUp(`skip${tag}`, b.frames[t + r]!, s)));
  }
  return b.finish(hr, {});
}

export const multiFramePlainArch: VideoArchSpec<MultiFramePlainArgs, MultiFramePlain> = {
  kind: 'video',
  defaults: { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_feat: 16, num_block: 4, num_frame: 3, block: 'plain' },
  create: (a) => new MultiFramePlain(a),
  stepGraph: multiFramePlainStepGraph,
};
