// SWRN-style bidirectional sliding-window recurrent network (after Lian & Peng, "Sliding Window
// Recurrent Network for Efficient Video Super-Resolution", AIM/MAI 2022), written from the
// paper's description: features of the window (t-1, t, t+1) feed a forward hidden state carried
// from frame t-1 and a backward hidden state carried from frame t+1; a fusion trunk of 3x3 convs
// over both gives the output residual (C*s^2, depth_to_space) added to the bilinear upsampled
// current frame. The backward recurrence restarts (from zeros) every `chunk` frames, so a stream
// needs at most chunk frames of look-ahead (latency chunk frames, memory chunk LR frames + states);
// the forward state crosses chunk boundaries.
import { Module } from '../nn/module.js';
import { Conv2d, ModuleList } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add } from '../autograd/ops/pointwise.js';
import { concat, depthToSpace } from '../autograd/ops/layout.js';
import type { Graph, WeightSource } from '../graph/ir.js';
import { bilinearUp, bidirectionalChunk, StepGraph } from './vsr.js';
import type { VideoArchSpec, VideoSRModel, VideoState } from './types.js';

export type SWRNArgs = { num_in_ch: number; num_out_ch: number; upscale: number; num_feat: number; num_block: number; chunk: number };

export class SWRN extends Module implements VideoSRModel {
  readonly kind = 'video';
  readonly arch = 'SWRN';
  readonly scale: number;
  readonly window = { past: 1, future: 1 };
  readonly chunk: number;
  readonly conv_first: Conv2d;
  readonly forward_cell: Conv2d;
  readonly backward_cell: Conv2d;
  readonly fusion: Conv2d;
  readonly trunk: Conv2d[];
  readonly conv_last: Conv2d;

  constructor(readonly args: SWRNArgs) {
    super();
    const { num_in_ch: C, num_out_ch: O, upscale: s, num_feat: F, num_block, chunk } = args;
    if (O !== C) throw new Error(`mvsr: SWRN: the bilinear skip needs num_out_ch == num_in_ch, got ${O} and ${C}`);
    this.scale = s;
    this.chunk = chunk;
    this.conv_first = this.child('conv_first', new Conv2d(3 * C, F, 3));
    this.forward_cell = this.child('forward_cell', new Conv2d(2 * F, F, 3));
    this.backward_cell = this.child('backward_cell', new Conv2d(2 * F, F, 3));
    this.fusion = this.child('fusion', new Conv2d(3 * F, F, 1));
    const list = this.child('trunk', new ModuleList<Conv2d>());
    this.trunk = Array.from({ length: num_block }, () => list.push(new Conv2d(F, F, 3)));
    this.conv_last = this.child('conv_last', new Conv2d(F, O * s * s, 3));
  }

  forwardFrames(frames: Var[], count: number, state: VideoState | null): { outputs: Var[]; state: VideoState } {
    if (count > this.chunk) throw new Error(`mvsr: SWRN: a call covers at most one chunk (${this.chunk} frames), got ${count}`);
    const F = this.args.num_feat, s = this.scale;
    const [N, H, W] = frames[0]!.shape as [number, number, number, number];
    const feats: Var[] = [];
    for (let t = 0; t < count; t++) feats.push(this.conv_first.forwardRelu(concat([frames[t]!, frames[t + 1]!, frames[t + 2]!])));
    return bidirectionalChunk(count, [N, H, W, F], state,
      (t, hb) => this.backward_cell.forwardRelu(concat([feats[t]!, hb])),
      (t, hf) => this.forward_cell.forwardRelu(concat([feats[t]!, hf])),
      (t, hf, hb) => {
        let y = this.fusion.forwardRelu(concat([feats[t]!, hf, hb]));
        for (const c of this.trunk) y = c.forwardRelu(y);
        return add(depthToSpace(this.conv_last.forward(y), s), bilinearUp(frames[t + 1]!, s));
      });
  }

  forward(): Var {
    throw new Error('mvsr: SWRN is a video model: use forwardFrames / forwardClip / VideoUpscaler');
  }
}

/**
 * SWRN's step graph over `count` (<= chunk) frames, unrolled: features, the backward recurrence
 * from the chunk's end, the forward one from the state. The backward state starts at zeros, so
 * the chunk's last backward cell reads only the features' half of its weights.
 */
export function swrnStepGraph(a: SWRNArgs, sd: WeightSource, count: number): Graph {
  if (count > a.chunk) throw new Error(`mvsr: SWRN: a step covers at most one chunk (${a.chunk} frames), got ${count}`);
  const { num_feat: F, upscale: s } = a;
  const b = new StepGraph('SWRN', a, sd, count, { past: 1, future: 1 });
  let hf = b.state('hf', F);
  const relu = { kind: 'relu' } as const;
  const feats = Array.from({ length: count }, (_, t) => b.convOf('conv_first', b.concat(`cat_first@${t}`, b.frames.slice(t, t + 3)), { id: `conv_first@${t}`, act: relu }));
  const back: string[] = new Array(count);
  const w = b.sdTensor('backward_cell.weight'), bias = b.sdTensor('backward_cell.bias');
  const per = w.shape.slice(1).reduce((x, y) => x * y, 1), kk = w.shape[2]! * w.shape[3]!;
  const half = { shape: [w.shape[0]!, F, w.shape[2]!, w.shape[3]!], data: new Float32Array(w.shape[0]! * F * kk) };
  for (let o = 0; o < w.shape[0]!; o++) half.data.set(w.data.subarray(o * per, o * per + F * kk), o * F * kk);
  back[count - 1] = b.conv('backward_cell_first', feats[count - 1]!, half, bias, { act: relu });
  for (let t = count - 2; t >= 0; t--) back[t] = b.convOf('backward_cell', b.concat(`cat_back@${t}`, [feats[t]!, back[t + 1]!]), { id: `backward_cell@${t}`, act: relu });
  const hr: string[] = [];
  for (let t = 0; t < count; t++) {
    hf = b.convOf('forward_cell', b.concat(`cat_fwd@${t}`, [feats[t]!, hf]), { id: `forward_cell@${t}`, act: relu });
    let y = b.convOf('fusion', b.concat(`cat_fuse@${t}`, [feats[t]!, hf, back[t]!]), { id: `fusion@${t}`, act: relu });
    for (let i = 0; i < a.num_block; i++) y = b.convOf(`trunk.${i}`, y, { id: `trunk.${i}@${t}`, act: relu });
    const res = b.depthToSpace(`upsampler@${t}`, b.convOf('conv_last', y, { id: `conv_last@${t}` }), s);
    hr.push(b.add(`add_skip@${t}`, res, b.bilinearUp(`skip@${t}`, b.frames[t + 1]!, s)));
  }
  return b.finish(hr, { hf });
}

export const swrnArch: VideoArchSpec<SWRNArgs, SWRN> = {
  kind: 'video',
  defaults: { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_feat: 16, num_block: 3, chunk: 8 },
  create: (a) => new SWRN(a),
  stepGraph: swrnStepGraph,
};
