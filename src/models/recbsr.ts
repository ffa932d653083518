// RECBSR: a recurrent ECBSR, mvsr's own video model built so that a trained image model is its
// starting point. Its layers are ECBSRT's (the re-parameterised ECBSR: 3x3 convs with PReLU, the
// LR input repeated to every sub-pixel channel as the shortcut, pixel shuffle), under the same
// state-dict names. Only the first conv reads more: the current frame, then the previous LR frame
// and the hidden state (the last hidden layer's features at the previous frame), both moved onto
// the current frame by their global translation when align is 'global'. Causal: one frame of
// history, no look-ahead, so it streams with one frame of latency. With feedback: true the first
// conv also reads the previous HR output, moved at HR by scale x the LR shift and folded back to LR
// size (space_to_depth, C*s^2 channels), as RLSP feeds its output back.
// Initialised from an ECBSRT (`mvsr convert` of an ECBSR model, then `mvsr train --init`, which
// widens the first conv with zeros for the new input channels), it starts as exactly that image
// model, frame by frame, and training can only learn to use the other frame and the state.
// MACs per LR pixel: ECBSRT's plus 9 * F * (C + F) for the wider first conv (ECBSR-M4C16:
// 16,560 + 2,736 = 19,296), and 9 * F * C * s^2 more with feedback (+ 6,912 = 26,208).
import { Module } from '../nn/module.js';
import { Conv2d, Sequential } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add } from '../autograd/ops/pointwise.js';
import { concat, depthToSpace, spaceToDepth } from '../autograd/ops/layout.js';
import { checkAlignArgs, estimateShift, translate, type AlignArgs } from '../autograd/ops/align.js';
import type { Graph, WeightSource } from '../graph/ir.js';
import { activation, checkArgs, shortcut, graphAct, type ECBSRArgs } from './ecbsr.js';
import { zeroState, StepGraph } from './vsr.js';
import type { VideoArchSpec, VideoSRModel, VideoState } from './types.js';

export type RECBSRArgs = ECBSRArgs & AlignArgs & { feedback: boolean };

export class RECBSR extends Module implements VideoSRModel {
  readonly kind = 'video';
  readonly arch = 'RECBSR';
  readonly scale: number;
  readonly window = { past: 1, future: 0 };
  readonly chunk = 1;
  readonly backbone: Sequential;

  constructor(readonly args: RECBSRArgs) {
    super();
    checkArgs(this.arch, args);
    checkAlignArgs(this.arch, args);
    if (args.act_type === 'linear') throw new Error("mvsr: RECBSR: act_type 'linear' leaves no hidden layer to carry as state (supported: prelu, relu)");
    const { num_in_ch: C, num_out_ch: O, upscale: s, num_block, num_feat: F, act_type } = args;
    this.scale = s;
    // layer 0 reads [current frame, previous frame, hidden state (, previous output folded)]: the
    // current frame first, so an image model's first conv fills the leading input channels
    const layers = [new Sequential(new Conv2d(2 * C + F + (args.feedback ? O * s * s : 0), F, 3), activation(act_type, F))];
    for (let i = 0; i < num_block; i++) layers.push(new Sequential(new Conv2d(F, F, 3), activation(act_type, F)));
    layers.push(new Sequential(new Conv2d(F, O * s * s, 3)));
    this.backbone = this.child('backbone', new Sequential(...layers));
  }

  forwardFrames(frames: Var[], count: number, state: VideoState | null): { outputs: Var[]; state: VideoState } {
    const [N, H, W] = frames[0]!.shape as [number, number, number, number];
    const s = this.scale, fb = this.args.feedback;
    let hidden = state?.[0] ?? zeroState([N, H, W, this.args.num_feat]);
    let out = fb ? state?.[1] ?? zeroState([N, H * s, W * s, this.args.num_out_ch]) : null;
    const layers = this.backbone.layers as Sequential[];
    const outputs: Var[] = [];
    for (let t = 0; t < count; t++) {
      const cur = frames[t + 1]!;
      let prev = frames[t]!;
      if (this.args.align === 'global') {
        const d = estimateShift(prev.value, cur.value, this.args.align_radius);
        prev = translate(prev, d);
        hidden = translate(hidden, d);
        if (out) out = translate(out, d.map((m) => ({ dx: m.dx * s, dy: m.dy * s })));
      }
      let y = concat(out ? [cur, prev, hidden, spaceToDepth(out, s)] : [cur, prev, hidden]);
      for (let i = 0; i < layers.length - 1; i++) y = layers[i]!.forward(y);
      hidden = y;
      const hr = depthToSpace(add(layers.at(-1)!.forward(y), shortcut(cur, this.args)), s);
      if (out) out = hr;
      outputs.push(hr);
    }
    return { outputs, state: out ? [hidden, out] : [hidden] };
  }

  forward(): Var {
    throw new Error('mvsr: RECBSR is a video model: use forwardFrames / forwardClip / VideoUpscaler');
  }
}

/** RECBSR's step graph: forwardFrames for `count` frames, node for op. */
export function recbsrStepGraph(a: RECBSRArgs, sd: WeightSource, count: number): Graph {
  const { num_in_ch: C, num_out_ch: O, upscale: s, num_block: nb, num_feat: F } = a;
  const b = new StepGraph('RECBSR', a, sd, count, { past: 1, future: 0 });
  let hidden = b.state('hidden', F);
  let out = a.feedback ? b.state('prev', O, s) : null;
  const hr: string[] = [];
  for (let t = 0; t < count; t++) {
    const tag = count > 1 ? `@${t}` : '';
    const cur = b.frames[t + 1]!;
    let prev = b.frames[t]!;
    if (a.align === 'global') {
      const d = b.estimateShift(`shift${tag}`, prev, cur, a.align_radius);
      prev = b.translate(`align_prev${tag}`, prev, d);
      hidden = b.translate(`align_hidden${tag}`, hidden, d);
      if (out) out = b.translate(`align_out${tag}`, out, d, s);
    }
    let y = b.concat(`cat${tag}`, out ? [cur, prev, hidden, b.spaceToDepth(`fold_prev${tag}`, out, s)] : [cur, prev, hidden]);
    for (let i = 0; i <= nb; i++) y = b.convOf(`backbone.${i}.0`, y, { id: `backbone.${i}${tag}`, act: graphAct(b, a, `backbone.${i}.1`) });
    hidden = y;
    const last = b.convOf(`backbone.${nb + 1}.0`, y, { id: `backbone.${nb + 1}${tag}` });
    const sc = b.repeatInterleave(`shortcut${tag}`, cur, C, C > 1 ? s * s : O * s * s);
    const y2 = b.depthToSpace(`upsampler${tag}`, b.add(`add_shortcut${tag}`, last, sc), s);
    if (out) out = y2;
    hr.push(y2);
  }
  return b.finish(hr, out ? { hidden, prev: out } : { hidden });
}

export const recbsrArch: VideoArchSpec<RECBSRArgs, RECBSR> = {
  kind: 'video',
  defaults: { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_block: 4, num_feat: 16, act_type: 'prelu', align: 'global', align_radius: 4, feedback: false },
  create: (a) => new RECBSR(a),
  stepGraph: recbsrStepGraph,
};
