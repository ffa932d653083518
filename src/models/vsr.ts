// The contract every video SR model of the zoo keeps, and the one reference way to run it on a
// clip. A model reads a window of LR frames around the current one (clip edges replicate the
// first / last frame) and carries a recurrent state from frame to frame. Causal models
// (chunk 1) upscale frame t from frames <= t + future; bidirectional ones (SWRN) also run a
// backward recurrence, bounded to chunks of `chunk` frames so a stream needs only that much
// look-ahead. Whatever the chunking of a call, the result is a pure function of the frames:
// the clip in one call equals the clip fed chunk by chunk with the state carried over.
// A step graph (the deploy form of a video model) computes one call of forwardFrames: see
// StepGraph below and graph/ir.ts VideoStepMeta.
import { constant, type Var } from '../autograd/var.js';
import { resize } from '../autograd/ops/resize.js';
import { Tensor } from '../tensor/tensor.js';
import { GraphBuilder, windowIndices, type Graph, type GraphMeta, type WeightSource } from '../graph/ir.js';
import type { VideoSRModel, VideoState } from './types.js';

export type { VideoSRModel, VideoState };
export { windowIndices };

export function isVideoModel(m: unknown): m is VideoSRModel {
  return typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === 'video';
}


/** The frames of a clip with edge replication: index i of the result is frame clamp(first - past + i). */
export function windowFrames<T>(clip: readonly T[], first: number, count: number, w: { past: number; future: number }): T[] {
  return windowIndices(clip.length, first, count, w).map((i) => clip[i]!);
}

/**
 * The whole clip through the model in chunks of `model.chunk` frames (causal models: one call),
 * carrying the state: the training forward, and the reference the streaming VideoUpscaler must equal.
 */
export function forwardClip(model: VideoSRModel, clip: Var[]): Var[] {
  const step = model.chunk > 1 ? model.chunk : clip.length;
  const outputs: Var[] = [];
  let state: VideoState | null = null;
  for (let t = 0; t < clip.length; t += step) {
    const count = Math.min(step, clip.length - t);
    const r = model.forwardFrames(windowFrames(clip, t, count, model.window), count, state);
    outputs.push(...r.outputs);
    state = r.state;
  }
  return outputs;
}

/** PyTorch F.interpolate(x, scale_factor=s, mode='bilinear', align_corners=False): the models' skip. */
export function bilinearUp(x: Var, s: number): Var {
  const [, H, W] = x.shape as [number, number, number, number];
  return resize(x, H * s, W * s, 'bilinear');
}

/** A zero state for the first frame, freed by clearTape() with the step's other values. */
export function zeroState(shape: number[]): Var {
  return constant(Tensor.zeros(shape));
}

/**
 * SWRN's two recurrences over the `count` frames of a chunk, states of `shape`: the backward state
 * runs from the chunk's last frame (zeros there) to its first, the forward one carries on from the
 * previous call's `state` (zeros at the start of a clip); `head(t, hf, hb)` makes frame t's output.
 */
export function bidirectionalChunk(
  count: number, shape: number[], state: VideoState | null,
  backward: (t: number, h: Var) => Var, forward: (t: number, h: Var) => Var, head: (t: number, hf: Var, hb: Var) => Var,
): { outputs: Var[]; state: VideoState } {
  const back: Var[] = new Array(count);
  let hb = zeroState(shape);
  for (let t = count - 1; t >= 0; t--) back[t] = hb = backward(t, hb);
  let hf = state?.[0] ?? zeroState(shape);
  const outputs: Var[] = [];
  for (let t = 0; t < count; t++) outputs.push(head(t, (hf = forward(t, hf)), back[t]!));
  return { outputs, state: [hf] };
}

/**
 * Multiply-accumulates per LR pixel of one frame: every conv of the zoo's video models runs at LR
 * resolution, so this is the sum of k*k*Cin/groups*Cout over the 4-D weights (the KAIR / NTIRE
 * convention; the bilinear skip, additions and activations are not counted). SWRN's backward
 * cell runs once per frame too, so the figure holds for it in steady state.
 */
export function videoMacsPerPixel(m: VideoSRModel): number {
  let macs = 0;
  for (const [, p] of m.namedParameters()) if (p.value.shape.length === 4) macs += p.value.size;
  return macs;
}

/**
 * Builds a video model's step graph for `count` frames: frame inputs `lr0`, `lr1`, ... (the window
 * in clip order), state inputs `<name>` at `scale` times the LR size, and at the end the HR frames
 * `hr0`, ... and the new state `<name>_next`. Weights are read from the model's state dict.
 */
export class StepGraph extends GraphBuilder {
  readonly frames: string[];
  private readonly stateNames: string[] = [];

  constructor(arch: string, args: Record<string, unknown> & { num_in_ch: number; upscale: number }, sd: WeightSource, readonly count: number, readonly window: { past: number; future: number }) {
    if (!Number.isInteger(count) || count < 1) throw new Error(`mvsr: ${arch}: a step graph needs count >= 1 frames, got ${count}`);
    const meta: GraphMeta = { arch, args, scale: args.upscale };
    super(meta, sd);
    this.frames = Array.from({ length: window.past + count + window.future }, (_, i) => this.input(args.num_in_ch, `lr${i}`));
  }

  /** A state input (`channels` at `scale` times the LR size), zeros at the start of a clip. */
  state(name: string, channels: number, scale = 1): string {
    this.stateNames.push(name);
    return this.input(channels, name, scale);
  }

  /** Close the graph: the HR frames in order and the new value of every state, in the order state() declared them. */
  finish(hr: string[], next: Record<string, string>): Graph {
    if (hr.length !== this.count) throw new Error(`mvsr: StepGraph: ${hr.length} outputs for count ${this.count}`);
    const outs: [string, string][] = hr.map((x, i) => [`hr${i}`, x]);
    for (const n of this.stateNames) {
      const x = next[n];
      if (!x) throw new Error(`mvsr: StepGraph: no new value for state '${n}'`);
      outs.push([`${n}_next`, x]);
    }
    return this.outputs(outs, {
      window: { ...this.window }, count: this.count, frames: [...this.frames], outputs: outs.slice(0, this.count).map(([id]) => id),
      state: this.stateNames.map((n) => ({ input: n, output: `${n}_next` })),
    });
  }

  /** PyTorch bilinear upsampling by `s` (the models' skip from the current frame). */
  bilinearUp(id: string, x: string, s: number): string {
    return this.resize(id, x, s, 'bilinear');
  }
}
