// In-memory SR training sets and stateless batch sampling: batch `iteration` is a pure function
// of (dataset, seed, iteration), drawn from its own Rng, so a run resumed at iteration k sees
// exactly the batches an uninterrupted run would, with no loader state to checkpoint.
import { Rng } from '../tensor/random.js';
import { drawAugment, gatherPatch, type AugmentPlan } from './augment.js';
import { drawCameraPath, minMotionSize, motionSequence, type CameraPath, type MotionOptions } from './motion.js';

/**
 * One training pair, interleaved HWC RGB uint8; hrW = lrW * scale, hrH = lrH * scale. A video
 * clip holds `frames` frames of that size one after another in hr and lr.
 */
export interface SrItem {
  /** Short name for logs (file name without extension, prefixed by its folder when several were given). */
  name: string;
  /** The HR file the pair came from, for error messages ('' when made in memory). */
  file: string;
  hr: Uint8Array;
  lr: Uint8Array;
  hrW: number;
  hrH: number;
  lrW: number;
  lrH: number;
  /** Frames in hr / lr (video clips); absent or 1 for a still image. */
  frames?: number;
  /**
   * A distillation target: a teacher's output on the whole LR image, HR-sized and laid out as
   * hr (see data/targets.node.ts). Cropped and augmented with hr; still images only.
   */
  target?: Uint8Array;
}

export interface SrDataset {
  items: SrItem[];
  scale: number;
  /** One line per image left out, saying which and why (e.g. smaller than one HR patch). */
  skipped: string[];
}

export interface SampleOptions {
  seed: number;
  batchSize: number;
  /** LR patch edge P; the HR patch is P * scale. */
  lrPatch: number;
  hflip: boolean;
  /** vertical flip and transpose (BasicSR's use_rot). */
  rot: boolean;
  channelShuffle: boolean;
  /** Frames per training sequence (video models); 1 (default) samples single images. */
  numFrame?: number;
  /** Sequences: play a sample backwards with p = 0.5 (BasicSR's flip_sequence). */
  temporalFlip?: boolean;
  /** Sequences from still images (items of one frame): film them with a moving camera (see motion.ts). */
  motion?: MotionOptions;
  /**
   * Patch mining: candidate LR crops drawn per sample, one kept with probability proportional to
   * its gradient energy (see patchEnergy). 1 (default): the uniform crop of BasicSR. Single frames only.
   */
  minePatches?: number;
}

/**
 * A batch: NHWC float32 in [0, 1]; lr is [B, P, P, 3], hr is [B, P*s, P*s, 3]. For sequences of
 * T frames, T such blocks one after another (frame-major: all samples' frame 0, then frame 1, ...).
 */
export interface Batch {
  lr: Float32Array;
  hr: Float32Array;
  /** The items' distillation targets, cropped and augmented as hr (when the dataset has them). */
  target?: Float32Array;
}

/** Where one sample of a batch comes from: item index, LR crop corner (x, y), augmentation. */
export interface SamplePlan extends AugmentPlan {
  item: number;
  x: number;
  y: number;
  /** Sequences: first frame taken, and whether the frames are played backwards. */
  start?: number;
  reverse?: boolean;
  /** Sequences from a still: the camera's path over it. */
  path?: CameraPath;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const STREAM_KEYS = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a];

/**
 * The Rng of batch `iteration` under `seed`: 128 bits of state hashed from (seed, iteration).
 * For a fixed seed, distinct iterations (below 2^53) give distinct states.
 */
export function batchRng(seed: number, iteration: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new Error(`mvsr: sampler: seed ${seed} must be an integer`);
  if (!Number.isSafeInteger(iteration) || iteration < 0) throw new Error(`mvsr: sampler: iteration ${iteration} must be a non-negative integer`);
  const s = seed >>> 0, sHi = Math.floor(seed / 4294967296) >>> 0;
  const lo = iteration >>> 0, hi = Math.floor(iteration / 4294967296) >>> 0;
  const st = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    // each step is a bijection of its first operand, so distinct `lo` give distinct words
    st[i] = fmix32((fmix32((fmix32(s ^ STREAM_KEYS[i]!) + sHi) >>> 0) + lo) ^ hi ^ i);
  }
  if ((st[0]! | st[1]! | st[2]! | st[3]!) === 0) st[0] = 1; // xoshiro's one forbidden state
  return new Rng(st);
}

function checkOptions(ds: SrDataset, o: SampleOptions): void {
  for (const k of ['batchSize', 'lrPatch'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`mvsr: sampler: ${k} ${o[k]} must be a positive integer`);
  }
  if (ds.items.length === 0) throw new Error('mvsr: sampler: the dataset has no images');
  const T = o.numFrame ?? 1;
  if (!Number.isInteger(T) || T < 1) throw new Error(`mvsr: sampler: numFrame ${T} must be a positive integer`);
  const K = o.minePatches ?? 1;
  if (!Number.isInteger(K) || K < 1) throw new Error(`mvsr: sampler: minePatches ${K} must be a positive integer`);
  if (K > 1 && T > 1) throw new Error(`mvsr: sampler: patch mining (minePatches ${K}) is for single frames, not sequences of ${T}`);
  for (const it of ds.items) {
    if (T > 1 && (it.frames ?? 1) === 1 && o.motion) {
      const min = minMotionSize(o.lrPatch * ds.scale, T, o.motion);
      if (it.hrW < min || it.hrH < min) throw new Error(`mvsr: sampler: ${it.file || it.name}: ${it.hrW}x${it.hrH} is too small to film ${T} frames of ${o.lrPatch * ds.scale}x${o.lrPatch * ds.scale} with camera motion (needs ${min}x${min})`);
    } else if ((it.frames ?? 1) < T) throw new Error(`mvsr: sampler: ${it.file || it.name}: ${it.frames ?? 1} frames, fewer than the ${T} of a training sequence${(it.frames ?? 1) === 1 ? ' (stills need camera motion: the motion option)' : ''}`);
    if (it.lrW < o.lrPatch || it.lrH < o.lrPatch) {
      throw new Error(`mvsr: sampler: ${it.file || it.name}: LR ${it.lrW}x${it.lrH} is smaller than the ${o.lrPatch}x${o.lrPatch} LR patch`);
    }
  }
}

/**
 * Gradient energy of the P x P LR window at (x, y) of an interleaved RGB uint8 image of width w:
 * the sum over the window of |L(r, c+1) - L(r, c)| + |L(r+1, c) - L(r, c)|, L = R + G + B, with
 * the differences taken inside the window. 0 for a flat window.
 */
export function patchEnergy(src: Uint8Array, w: number, x: number, y: number, P: number): number {
  let e = 0;
  for (let r = 0; r < P; r++) {
    let i = ((y + r) * w + x) * 3;
    for (let c = 0; c < P; c++, i += 3) {
      const l = src[i]! + src[i + 1]! + src[i + 2]!;
      if (c + 1 < P) e += Math.abs(src[i + 3]! + src[i + 4]! + src[i + 5]! - l);
      if (r + 1 < P) { const j = i + w * 3; e += Math.abs(src[j]! + src[j + 1]! + src[j + 2]! - l); }
    }
  }
  return e;
}

/**
 * Where each sample of batch `iteration` comes from. Per sample, in this order: item (uniform),
 * LR crop top y, left x (uniform over the valid positions, as BasicSR's paired_random_crop);
 * with patch mining (minePatches K > 1) then K - 1 more (y, x) candidates and one number that
 * picks a candidate with probability proportional to its patchEnergy (plus 1, so flat crops keep
 * a chance); then the augmentation draws (see drawAugment); for sequences (numFrame > 1) then
 * the first frame (uniform over the valid starts) and the playing direction.
 */
export function planBatch(ds: SrDataset, iteration: number, o: SampleOptions): SamplePlan[] {
  checkOptions(ds, o);
  const rng = batchRng(o.seed, iteration);
  const P = o.lrPatch, K = o.minePatches ?? 1, plans: SamplePlan[] = [];
  for (let b = 0; b < o.batchSize; b++) {
    const item = rng.int(ds.items.length);
    const it = ds.items[item]!;
    let y = rng.int(it.lrH - P + 1);
    let x = rng.int(it.lrW - P + 1);
    if (K > 1) {
      const cand: [number, number][] = [[x, y]];
      for (let k = 1; k < K; k++) {
        const cy = rng.int(it.lrH - P + 1);
        cand.push([rng.int(it.lrW - P + 1), cy]);
      }
      const weights = cand.map(([cx, cy]) => patchEnergy(it.lr, it.lrW, cx, cy, P) + 1);
      let u = rng.next() * weights.reduce((a, b) => a + b, 0), k = 0;
      while (k < K - 1 && u >= weights[k]!) u -= weights[k++]!;
      [x, y] = cand[k]!;
    }
    const plan: SamplePlan = { item, x, y, ...drawAugment(rng, o) };
    const T = o.numFrame ?? 1;
    if (T > 1) {
      const still = (it.frames ?? 1) === 1;
      plan.start = still ? 0 : rng.int((it.frames ?? 1) - T + 1);
      const r = rng.next() < 0.5;
      plan.reverse = !!o.temporalFlip && r;
      if (still) plan.path = drawCameraPath(rng, it.hrW, it.hrH, P * ds.scale, T, o.motion);
    }
    plans.push(plan);
  }
  return plans;
}

/** Batch `iteration`: LR patches at (x, y), HR patches at (x*s, y*s), augmented alike (every frame of a sequence alike). */
export function sampleBatch(ds: SrDataset, iteration: number, o: SampleOptions): Batch {
  const plans = planBatch(ds, iteration, o);
  const s = ds.scale, P = o.lrPatch, Q = P * s, B = o.batchSize, T = o.numFrame ?? 1;
  const lr = new Float32Array(T * B * P * P * 3);
  const hr = new Float32Array(T * B * Q * Q * 3);
  const withTargets = ds.items.some((it) => it.target);
  if (withTargets && T > 1) throw new Error(`mvsr: sampler: distillation targets are for single frames, not sequences of ${T}`);
  const target = withTargets ? new Float32Array(B * Q * Q * 3) : undefined;
  plans.forEach((p, b) => {
    const it = ds.items[p.item]!;
    if (target) {
      if (!it.target) throw new Error(`mvsr: sampler: ${it.file || it.name} has no distillation target (the other images have)`);
      gatherPatch(it.target, it.hrW, p.x * s, p.y * s, Q, p, target, b * Q * Q * 3);
    }
    if (p.path) {
      // a still filmed by a moving camera: the patches are made here, then augmented like any other
      const seq = motionSequence(it.hr, it.hrW, it.hrH, p.path, T, Q, s);
      for (let t = 0; t < T; t++) {
        const f = p.reverse ? T - 1 - t : t;
        gatherPatch(seq.lr[f]!, P, 0, 0, P, p, lr, (t * B + b) * P * P * 3);
        gatherPatch(seq.hr[f]!, Q, 0, 0, Q, p, hr, (t * B + b) * Q * Q * 3);
      }
      return;
    }
    const lrFrame = it.lrW * it.lrH * 3, hrFrame = it.hrW * it.hrH * 3;
    for (let t = 0; t < T; t++) {
      const f = (p.start ?? 0) + (p.reverse ? T - 1 - t : t);
      const lrSrc = T > 1 ? it.lr.subarray(f * lrFrame, (f + 1) * lrFrame) : it.lr;
      const hrSrc = T > 1 ? it.hr.subarray(f * hrFrame, (f + 1) * hrFrame) : it.hr;
      gatherPatch(lrSrc, it.lrW, p.x, p.y, P, p, lr, (t * B + b) * P * P * 3);
      gatherPatch(hrSrc, it.hrW, p.x * s, p.y * s, Q, p, hr, (t * B + b) * Q * Q * 3);
    }
  });
  return target ? { lr, hr, target } : { lr, hr };
}

/** The tensor shapes of a batch (of one frame of a sequence batch). */
export function batchShapes(o: Pick<SampleOptions, 'batchSize' | 'lrPatch'>, scale: number): { lr: number[]; hr: number[] } {
  const P = o.lrPatch, Q = P * scale;
  return { lr: [o.batchSize, P, P, 3], hr: [o.batchSize, Q, Q, 3] };
}
