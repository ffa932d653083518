// What a family of the zoo is and what its models promise, apart from the registry that lists
// them (so family files import this module, never the registry). A family registers its
// architectures as ArchSpecs: how to build a model from arguments and, as typed fields, how it
// reaches a deploy graph — its own graph builder, or the plain model it re-parameterises into
// (which has one). A video family gives the graph of one step over its window and state.
import type { Module } from '../nn/module.js';
import type { Var } from '../autograd/var.js';
import type { Graph, WeightSource } from '../graph/ir.js';

/** A super-resolution network: NHWC RGB in [0,1] at LR size -> NHWC at `scale` times the size. */
export interface SRModel extends Module {
  readonly scale: number;
  /** The registry name it was built under (the config's `type`). */
  readonly arch: string;
  /** The full argument set (defaults filled in), enough to rebuild it with createModel. */
  readonly args: Record<string, unknown>;
}

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

export type ArchArgs = Record<string, unknown>;

/** An image architecture: one frame in, one out. Exactly one of `graph` and `deploy` is given. */
export interface ImageArchSpec<A extends ArchArgs = ArchArgs, M extends SRModel = SRModel> {
  readonly kind: 'image';
  /** Every accepted argument with its default; an argument's type is its default's type. */
  readonly defaults: A;
  create(args: A): M;
  /** The deploy graph of a model of this architecture, from its arguments and weights. */
  readonly graph?: (args: A, sd: WeightSource) => Graph;
  /** A training form's plain deploy model (ECBSR -> ECBSRT, ETDS -> ETDSForInference), whose architecture has a graph. */
  readonly deploy?: (m: M) => SRModel;
  /** ETDS's equivalent transformation of this plain form (ABPN -> ABPN_ET, ECBSRT -> ECBSRET): the same function clamped to [0, 1]. */
  readonly et?: (m: M) => SRModel;
}

/** A video architecture: a window of frames and a recurrent state in, frames and the new state out. */
export interface VideoArchSpec<A extends ArchArgs = ArchArgs, M extends VideoSRModel = VideoSRModel> {
  readonly kind: 'video';
  readonly defaults: A;
  create(args: A): M;
  /** The graph of one step of `count` frames (1 for causal models, up to the chunk for SWRN), see VideoStepMeta. */
  readonly stepGraph: (args: A, sd: WeightSource, count: number) => Graph;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each spec is typed where it is written; the registry holds any
export type ArchSpec = ImageArchSpec<any, any> | VideoArchSpec<any, any>;
