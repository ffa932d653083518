// The contract every video SR model of the zoo keeps, and the one reference way to run it on a
// clip. A model reads a window of LR frames around the current one (clip edges replicate the
// first / last frame) and carries a recurrent state from frame to frame. Causal models
// (chunk 1) upscale frame t from frames <= t + future; bidirectional ones (SWRN) also run a
// backward recurrence, bounded to chunks of `chunk` frames so a stream needs only that much
// look-ahead. Whatever the chunking of a call, the result is a pure function of the frames:
// the clip in one call equals the clip fed chunk by chunk with the state carried over.
import type { Module } from '../nn/module.js';
import { constant, type Var } from '../autograd/var.js';
import { resize } from '../autograd/ops/resize.js';
import { Tensor } from '../tensor/tensor.js';

/** The recurrent state between calls: model-defined tensors ([N,h,w,c] each). */
export type VideoState = Var[];

export interface VideoSRModel extends Module {
  readonly kind: 'video';
  readonly scale: number;
  readonly arch: string;
  readonly args: Record<string, unknown>;
  /** LR frames read before and after the current one. */
  readonly window: { past: number; future: number };
  /** Frames per backward-recurrence chunk: 1 for causal models; a call must cover whole chunks (the clip's last may be shorter). */
  readonly chunk: number;
  /**
   * Upscale `count` consecutive frames. `frames` holds them with `window.past` frames of context
   * before and `window.future` after (length count + past + future; [N,H,W,C] each); `state` is
   * what the previous call returned (null at the start of a clip).
   */
  forwardFrames(frames: Var[], count: number, state: VideoState | null): { outputs: Var[]; state: VideoState };
}

export function isVideoModel(m: unknown): m is VideoSRModel {
  return typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === 'video';
}

/** Indices of the window around frames [first, first + count) of a clip of `length` frames, edges replicated (clamped). */
export function windowIndices(length: number, first: number, count: number, w: { past: number; future: number }): number[] {
  const out: number[] = [];
  for (let i = first - w.past; i < first + count + w.future; i++) out.push(Math.min(length - 1, Math.max(0, i)));
  return out;
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
