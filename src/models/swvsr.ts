// A sliding-window bidirectional video SR family in the shape of SWAT and SORT (sliding-window
// video models built from efficient-SR blocks): each LR frame goes through a shared shallow extractor (3x3
// conv + ReLU); the features of frames t-1, t and t+1 are fused (1x1 conv + ReLU); a forward
// hidden state carried from frame t-1 and a backward one carried from frame t+1 (3x3 cells over
// [fused, state], SWRN's recurrences: the backward one restarts from zeros every `chunk` frames,
// so a stream needs at most `chunk` frames of look-ahead) are merged with the fused features
// (1x1 conv + ReLU); a trunk of `num_block` blocks of one kind, then a 3x3 conv to C*s^2, pixel
// shuffle, plus the bilinear upsampled current frame.
//
// Trunk blocks (`block`): 'plain' (3x3 conv + ReLU), 'imdb' (IMDN's information multi-distillation
// block with contrast-aware channel attention), 'rlfb' (RLFN's block with its enhanced spatial
// attention; frames of at least 15x15 pixels), 'vab' (VapSR's pixel-attention block, GELU, layer norm).
// Options of the efficient-VSR entries:
// - `groups` g > 1: the hidden cells and the plain blocks' 3x3 convs are grouped convs with a
//   ShuffleNet channel shuffle (g groups) so information crosses the groups: the cells read
//   shuffle([fused, state]), a plain block shuffles its output.
// - `partial` r > 1: plain blocks are partial convolutions (FasterNet's PConv): the 3x3 conv runs
//   on the first F/r channels, the rest pass through, and a 1x1 conv + ReLU mixes them.
import { Module } from '../nn/module.js';
import { Conv2d, ModuleList } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add, relu } from '../autograd/ops/pointwise.js';
import { concat, depthToSpace, split, channelShuffle } from '../autograd/ops/layout.js';
import { shuffleSource } from '../tensor/ops/layout.js';
import type { Graph, GraphWeight, WeightSource } from '../graph/ir.js';
import { IMDModule, imdbGraph } from './imdn.js';
import { RLFB, rlfbGraph } from './rlfn.js';
import { VAB, vabGraph } from './vapsr.js';
import { bilinearUp, bidirectionalChunk, StepGraph } from './vsr.js';
import type { VideoArchSpec, VideoSRModel, VideoState } from './types.js';

export type SlidingWindowVSRArgs = {
  num_in_ch: number; num_out_ch: number; upscale: number; num_feat: number; num_block: number; chunk: number;
  block: string; groups: number; partial: number;
};

const BLOCKS = ['plain', 'imdb', 'rlfb', 'vab'] as const;

function check(a: SlidingWindowVSRArgs): void {
  const F = a.num_feat, where = 'mvsr: SlidingWindowVSR';
  if (!(BLOCKS as readonly string[]).includes(a.block)) throw new Error(`${where}: block must be one of ${BLOCKS.join(', ')}, got '${a.block}'`);
  if (a.num_out_ch !== a.num_in_ch) throw new Error(`${where}: the bilinear skip needs num_out_ch == num_in_ch, got ${a.num_out_ch} and ${a.num_in_ch}`);
  if (!Number.isInteger(a.groups) || a.groups < 1 || F % a.groups) throw new Error(`${where}: groups ${a.groups} must divide num_feat ${F}`);
  if (!Number.isInteger(a.partial) || a.partial < 1 || F % a.partial) throw new Error(`${where}: partial ${a.partial} must divide num_feat ${F}`);
  if (a.partial > 1 && a.block !== 'plain') throw new Error(`${where}: partial convolutions are an option of plain blocks, not '${a.block}'`);
  if (a.block === 'imdb' && F < 16) throw new Error(`${where}: imdb blocks need num_feat >= 16 (their channel attention squeezes by 16), got ${F}`);
  if (!Number.isInteger(a.chunk) || a.chunk < 1) throw new Error(`${where}: chunk must be a positive integer, got ${a.chunk}`);
}

/** RLFB's attention width at F channels. */
const esaChannels = (F: number): number => Math.max(2, Math.floor(F / 4));

/** A plain trunk block: conv (grouped, then shuffled) or, partial, pconv on F/r channels + pw. */
class PlainBlock extends Module {
  readonly conv: Conv2d | null = null;
  readonly pconv: Conv2d | null = null;
  readonly pw: Conv2d | null = null;
  constructor(readonly F: number, readonly groups: number, readonly partial: number) {
    super();
    if (partial > 1) {
      this.pconv = this.child('pconv', new Conv2d(F / partial, F / partial, 3));
      this.pw = this.child('pw', new Conv2d(F, F, 1));
    } else {
      this.conv = this.child('conv', new Conv2d(F, F, 3, { groups }));
    }
  }
  forward(x: Var): Var {
    if (this.conv) {
      const y = this.conv.forwardRelu(x);
      return this.groups > 1 ? channelShuffle(y, this.groups) : y;
    }
    const p = this.F / this.partial;
    const [a, rest] = split(x, [p, this.F - p]) as [Var, Var];
    return this.pw!.forwardRelu(concat([this.pconv!.forward(a), rest]));
  }
}

export class SlidingWindowVSR extends Module implements VideoSRModel {
  readonly kind = 'video';
  readonly arch = 'SlidingWindowVSR';
  readonly scale: number;
  readonly window = { past: 1, future: 1 };
  readonly chunk: number;
  readonly extract: Conv2d;
  readonly fuse: Conv2d;
  readonly forward_cell: Conv2d;
  readonly backward_cell: Conv2d;
  readonly merge: Conv2d;
  readonly trunk: Module[];
  readonly conv_last: Conv2d;

  constructor(readonly args: SlidingWindowVSRArgs) {
    super();
    check(args);
    const { num_in_ch: C, num_out_ch: O, upscale: s, num_feat: F, num_block, groups: g } = args;
    this.scale = s;
    this.chunk = args.chunk;
    this.extract = this.child('extract', new Conv2d(C, F, 3));
    this.fuse = this.child('fuse', new Conv2d(3 * F, F, 1));
    this.forward_cell = this.child('forward_cell', new Conv2d(2 * F, F, 3, { groups: g }));
    this.backward_cell = this.child('backward_cell', new Conv2d(2 * F, F, 3, { groups: g }));
    this.merge = this.child('merge', new Conv2d(3 * F, F, 1));
    const list = this.child('trunk', new ModuleList<Module>());
    this.trunk = Array.from({ length: num_block }, () => list.push(
      args.block === 'imdb' ? new IMDModule(F)
        : args.block === 'rlfb' ? new RLFB(F, F, esaChannels(F))
          : args.block === 'vab' ? new VAB(F, F)
            : new PlainBlock(F, g, args.partial),
    ));
    this.conv_last = this.child('conv_last', new Conv2d(F, O * s * s, 3));
  }

  /** A hidden cell over [fused, state]: shuffled first when the cell is grouped. */
  private cell(conv: Conv2d, fused: Var, h: Var): Var {
    const x = concat([fused, h]);
    return conv.forwardRelu(this.args.groups > 1 ? channelShuffle(x, this.args.groups) : x);
  }

  forwardFrames(frames: Var[], count: number, state: VideoState | null): { outputs: Var[]; state: VideoState } {
    if (count > this.chunk) throw new Error(`mvsr: SlidingWindowVSR: a call covers at most one chunk (${this.chunk} frames), got ${count}`);
    const F = this.args.num_feat, s = this.scale;
    const [N, H, W] = frames[0]!.shape as [number, number, number, number];
    const feats = frames.slice(0, count + 2).map((f) => this.extract.forwardRelu(f));
    const fused = Array.from({ length: count }, (_, t) => this.fuse.forwardRelu(concat([feats[t]!, feats[t + 1]!, feats[t + 2]!])));
    return bidirectionalChunk(count, [N, H, W, F], state,
      (t, hb) => this.cell(this.backward_cell, fused[t]!, hb),
      (t, hf) => this.cell(this.forward_cell, fused[t]!, hf),
      (t, hf, hb) => {
        let y = this.merge.forwardRelu(concat([fused[t]!, hf, hb]));
        for (const b of this.trunk) y = b.forward(y);
        return add(depthToSpace(this.conv_last.forward(y), s), bilinearUp(frames[t + 1]!, s));
      });
  }

  forward(): Var {
    throw new Error('mvsr: SlidingWindowVSR is a video model: use forwardFrames / forwardClip / VideoUpscaler');
  }
}

// ---- step graph ------------------------------------------------------------------------------

/**
 * The backward cell at a chunk's last frame, whose state is zeros: a dense conv over the fused
 * features alone. Input channel j of the (grouped) cell reads channel shuffleSource(j) of
 * [fused, state]; the state's columns drop out and the groups are spread into a dense weight.
 */
function firstBackwardWeight(w: GraphWeight, F: number, g: number): GraphWeight {
  const [O, Ig, kh, kw] = w.shape as [number, number, number, number];
  const kk = kh * kw, I = 2 * F, outPerGroup = O / g;
  const dense = new Float32Array(O * F * kk);
  for (let o = 0; o < O; o++) {
    const group = Math.floor(o / outPerGroup);
    for (let jj = 0; jj < Ig; jj++) {
      const j = group * Ig + jj;
      const src = g > 1 ? shuffleSource(j, I, g) : j;
      if (src >= F) continue; // a state channel: zeros
      for (let k = 0; k < kk; k++) dense[(o * F + src) * kk + k]! += w.data[(o * Ig + jj) * kk + k]!;
    }
  }
  return { shape: [O, F, kh, kw], data: dense };
}

/** The step graph over `count` (<= chunk) frames, unrolled like SWRN's; node ids end in @t. */
export function slidingWindowVsrStepGraph(a: SlidingWindowVSRArgs, sd: WeightSource, count: number): Graph {
  check(a);
  if (count > a.chunk) throw new Error(`mvsr: SlidingWindowVSR: a step covers at most one chunk (${a.chunk} frames), got ${count}`);
  const { num_feat: F, upscale: s, groups: g } = a;
  const b = new StepGraph('SlidingWindowVSR', a, sd, count, { past: 1, future: 1 });
  const relu = { kind: 'relu' } as const;
  let hf = b.state('hf', F);
  const feats = b.frames.map((f, i) => b.convOf('extract', f, { id: `extract@${i}`, act: relu }));
  const fused = Array.from({ length: count }, (_, t) => b.convOf('fuse', b.concat(`cat_fuse@${t}`, feats.slice(t, t + 3)), { id: `fuse@${t}`, act: relu }));
  const cell = (key: 'forward_cell' | 'backward_cell', t: number, h: string): string => {
    let x = b.concat(`cat_${key}@${t}`, [fused[t]!, h]);
    if (g > 1) x = b.channelShuffle(`shuffle_${key}@${t}`, x, 2 * F, g);
    return b.convOf(key, x, { id: `${key}@${t}`, groups: g, act: relu });
  };
  const back: string[] = new Array(count);
  back[count - 1] = b.conv('backward_cell_first', fused[count - 1]!, firstBackwardWeight(b.sdTensor('backward_cell.weight'), F, g), b.sdTensor('backward_cell.bias'), { act: relu });
  for (let t = count - 2; t >= 0; t--) back[t] = cell('backward_cell', t, back[t + 1]!);
  const hr: string[] = [];
  for (let t = 0; t < count; t++) {
    hf = cell('forward_cell', t, hf);
    let y = b.convOf('merge', b.concat(`cat_merge@${t}`, [fused[t]!, hf, back[t]!]), { id: `merge@${t}`, act: relu });
    for (let i = 0; i < a.num_block; i++) {
      const key = `trunk.${i}`, tag = `@${t}`;
      if (a.block === 'imdb') y = imdbGraph(b, key, y, F, tag);
      else if (a.block === 'rlfb') y = rlfbGraph(b, key, y, tag);
      else if (a.block === 'vab') y = vabGraph(b, key, y, F, tag);
      else if (a.partial > 1) {
        const p = F / a.partial;
        const pc = b.convOf(`${key}.pconv`, b.slice(`${key}.head${tag}`, y, 0, p), { id: `${key}.pconv${tag}` });
        y = b.convOf(`${key}.pw`, b.concat(`${key}.cat${tag}`, [pc, b.slice(`${key}.rest${tag}`, y, p, F)]), { id: `${key}.pw${tag}`, act: relu });
      } else {
        y = b.convOf(`${key}.conv`, y, { id: `${key}.conv${tag}`, groups: g, act: relu });
        if (g > 1) y = b.channelShuffle(`${key}.shuffle${tag}`, y, F, g);
      }
    }
    const res = b.depthToSpace(`upsampler@${t}`, b.convOf('conv_last', y, { id: `conv_last@${t}` }), s);
    hr.push(b.add(`add_skip@${t}`, res, b.bilinearUp(`skip@${t}`, b.frames[t + 1]!, s)));
  }
  return b.finish(hr, { hf });
}

export const slidingWindowVsrArch: VideoArchSpec<SlidingWindowVSRArgs, SlidingWindowVSR> = {
  kind: 'video',
  defaults: { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_feat: 16, num_block: 2, chunk: 8, block: 'plain', groups: 1, partial: 1 },
  create: (a) => new SlidingWindowVSR(a),
  stepGraph: slidingWindowVsrStepGraph,
};
