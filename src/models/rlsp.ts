// RLSP (Fuoli, Gu, Timofte, "Efficient Video Super-Resolution through Recurrent Latent Space
// Propagation", ICCVW 2019), written from the paper: one cell per frame reads the previous,
// current and next LR frames, the hidden state (F channels) and the previous HR output folded
// back to LR size (space_to_depth, C*s^2 channels); num_layer 3x3 convs with ReLU (the variants
// RLSP 7-16 / 7-32 / 7-48 are num_layer 7 with F = 16 / 32 / 48); the last conv gives the output
// residual (C*s^2, pixel shuffled) and the next hidden state (F, ReLU). Choices where the paper
// leaves room: RGB instead of Y only, and a bilinear skip from the current frame (the paper adds
// the upsampled current frame as well); zeros for the first frame's state and previous output.
// mvsr option align: 'global' (default 'none', the paper's model): the previous and next frames,
// the hidden state and the previous output (at HR, by scale x the LR shift) are moved onto the
// current frame by the global translations between the LR frames (autograd/ops/align.ts). No
// parameter is added.
import { Module } from '../nn/module.js';
import { Conv2d, ModuleList } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { relu, add } from '../autograd/ops/pointwise.js';
import { concat, split, depthToSpace, spaceToDepth } from '../autograd/ops/layout.js';
import { checkAlignArgs, estimateShift, translate, type AlignArgs, type Shift } from '../autograd/ops/align.js';
import type { Graph, WeightSource } from '../graph/ir.js';
import { bilinearUp, zeroState, StepGraph } from './vsr.js';
import type { VideoArchSpec, VideoSRModel, VideoState } from './types.js';

export type RLSPArgs = { num_in_ch: number; num_out_ch: number; upscale: number; num_feat: number; num_layer: number } & AlignArgs;

export class RLSP extends Module implements VideoSRModel {
  readonly kind = 'video';
  readonly arch = 'RLSP';
  readonly scale: number;
  readonly window = { past: 1, future: 1 };
  readonly chunk = 1;
  readonly convs: Conv2d[];

  constructor(readonly args: RLSPArgs) {
    super();
    const { num_in_ch: C, num_out_ch: O, upscale: s, num_feat: F, num_layer: L } = args;
    if (L < 2) throw new Error(`mvsr: RLSP: num_layer must be at least 2, got ${L}`);
    if (O !== C) throw new Error(`mvsr: RLSP: the bilinear skip needs num_out_ch == num_in_ch, got ${O} and ${C}`);
    checkAlignArgs('RLSP', args);
    this.scale = s;
    const list = this.child('convs', new ModuleList<Conv2d>());
    this.convs = [list.push(new Conv2d(3 * C + F + O * s * s, F, 3))];
    for (let i = 1; i < L - 1; i++) this.convs.push(list.push(new Conv2d(F, F, 3)));
    this.convs.push(list.push(new Conv2d(F, O * s * s + F, 3)));
  }

  forwardFrames(frames: Var[], count: number, state: VideoState | null): { outputs: Var[]; state: VideoState } {
    const { num_out_ch: O, num_feat: F } = this.args, s = this.scale;
    const [N, H, W] = frames[0]!.shape as [number, number, number, number];
    let [hidden, prev] = state ?? [zeroState([N, H, W, F]), zeroState([N, H * s, W * s, O])];
    const outputs: Var[] = [];
    // the shift from frame t+1 to t+2, estimated at step t, is step t+1's shift from its previous frame
    let ahead: Shift[] | null = null;
    for (let t = 0; t < count; t++) {
      const cur = frames[t + 1]!;
      let before = frames[t]!, after = frames[t + 2]!;
      if (this.args.align === 'global') {
        const back = ahead ?? estimateShift(before.value, cur.value, this.args.align_radius);
        before = translate(before, back);
        hidden = translate(hidden!, back);
        prev = translate(prev!, back.map((m) => ({ dx: m.dx * s, dy: m.dy * s })));
        // the next frame moved back onto the current one: after(x) = cur(x - d), so shift it by -d
        ahead = estimateShift(cur.value, after.value, this.args.align_radius);
        after = translate(after, ahead.map((m) => ({ dx: -m.dx, dy: -m.dy })));
      }
      let y = concat([before, cur, after, hidden!, spaceToDepth(prev!, s)]);
      for (let i = 0; i < this.convs.length - 1; i++) y = this.convs[i]!.forwardRelu(y);
      const [res, h] = split(this.convs.at(-1)!.forward(y), [O * s * s, F]);
      prev = add(depthToSpace(res!, s), bilinearUp(cur, s));
      hidden = relu(h!);
      outputs.push(prev);
    }
    return { outputs, state: [hidden!, prev!] };
  }

  forward(): Var {
    throw new Error('mvsr: RLSP is a video model: use forwardFrames / forwardClip / VideoUpscaler');
  }
}

/** RLSP's step graph: forwardFrames for `count` frames, node for op. */
export function rlspStepGraph(a: RLSPArgs, sd: WeightSource, count: number): Graph {
  const { num_out_ch: O, num_feat: F, num_layer: L, upscale: s } = a;
  const b = new StepGraph('RLSP', a, sd, count, { past: 1, future: 1 });
  let hidden = b.state('hidden', F);
  let prev = b.state('prev', O, s);
  const hr: string[] = [];
  let ahead: string | null = null;
  for (let t = 0; t < count; t++) {
    const tag = count > 1 ? `@${t}` : '';
    const cur = b.frames[t + 1]!;
    let before = b.frames[t]!, after = b.frames[t + 2]!;
    if (a.align === 'global') {
      // step t's shift from its previous frame is step t-1's shift to its next frame
      const back = ahead ?? b.estimateShift(`shift_back${tag}`, before, cur, a.align_radius);
      before = b.translate(`align_before${tag}`, before, back);
      hidden = b.translate(`align_hidden${tag}`, hidden, back);
      prev = b.translate(`align_prev${tag}`, prev, back, s);
      ahead = b.estimateShift(`shift_ahead${tag}`, cur, after, a.align_radius);
      after = b.translate(`align_after${tag}`, after, ahead, -1);
    }
    let y = b.concat(`cat${tag}`, [before, cur, after, hidden, b.spaceToDepth(`fold_prev${tag}`, prev, s)]);
    for (let i = 0; i < L - 1; i++) y = b.convOf(`convs.${i}`, y, { id: `convs.${i}${tag}`, act: { kind: 'relu' } });
    y = b.convOf(`convs.${L - 1}`, y, { id: `convs.${L - 1}${tag}` });
    const res = b.depthToSpace(`upsampler${tag}`, b.slice(`residual${tag}`, y, 0, O * s * s), s);
    prev = b.add(`add_skip${tag}`, res, b.bilinearUp(`skip${tag}`, cur, s));
    hidden = b.act(`hidden_relu${tag}`, b.slice(`hidden_part${tag}`, y, O * s * s, O * s * s + F), { kind: 'relu' });
    hr.push(prev);
  }
  return b.finish(hr, { hidden, prev });
}

export const rlspArch: VideoArchSpec<RLSPArgs, RLSP> = {
  kind: 'video',
  defaults: { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_feat: 16, num_layer: 7, align: 'none', align_radius: 4 },
  create: (a) => new RLSP(a),
  stepGraph: rlspStepGraph,
};
