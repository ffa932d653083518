// In-memory SR training sets and stateless batch sampling: batch `iteration` is a pure function
// of (dataset, seed, iteration), drawn from its own Rng, so a run resumed at iteration k sees
// exactly the batches an uninterrupted run would, with no loader state to checkpoint.
import { Rng } from '../tensor/random.js';
import { drawAugment, gatherPatch, type AugmentPlan } from './augment.js';

/** One training pair, interleaved HWC RGB uint8; hrW = lrW * scale, hrH = lrH * scale. */
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
}

/** A batch: NHWC float32 in [0, 1]; lr is [B, P, P, 3], hr is [B, P*s, P*s, 3]. */
export interface Batch {
  lr: Float32Array;
  hr: Float32Array;
}

/** Where one sample of a batch comes from: item index, LR crop corner (x, y), augmentation. */
export interface SamplePlan extends AugmentPlan {
  item: number;
  x: number;
  y: number;
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
  for (const it of ds.items) {
    if (it.lrW < o.lrPatch || it.lrH < o.lrPatch) {
      throw new Error(`mvsr: sampler: ${it.file || it.name}: LR ${it.lrW}x${it.lrH} is smaller than the ${o.lrPatch}x${o.lrPatch} LR patch`);
    }
  }
}

/**
 * Where each sample of batch `iteration` comes from. Per sample, in this order: item (uniform),
 * LR crop top y, left x (uniform over the valid positions, as BasicSR's paired_random_crop),
 * then the augmentation draws (see drawAugment).
 */
export function planBatch(ds: SrDataset, iteration: number, o: SampleOptions): SamplePlan[] {
  checkOptions(ds, o);
  const rng = batchRng(o.seed, iteration);
  const P = o.lrPatch, plans: SamplePlan[] = [];
  for (let b = 0; b < o.batchSize; b++) {
    const item = rng.int(ds.items.length);
    const it = ds.items[item]!;
    const y = rng.int(it.lrH - P + 1);
    const x = rng.int(it.lrW - P + 1);
    plans.push({ item, x, y, ...drawAugment(rng, o) });
  }
  return plans;
}

/** Batch `iteration`: LR patches at (x, y), HR patches at (x*s, y*s), augmented alike. */
export function sampleBatch(ds: SrDataset, iteration: number, o: SampleOptions): Batch {
  const plans = planBatch(ds, iteration, o);
  const s = ds.scale, P = o.lrPatch, Q = P * s;
  const lr = new Float32Array(o.batchSize * P * P * 3);
  const hr = new Float32Array(o.batchSize * Q * Q * 3);
  plans.forEach((p, b) => {
    const it = ds.items[p.item]!;
    gatherPatch(it.lr, it.lrW, p.x, p.y, P, p, lr, b * P * P * 3);
    gatherPatch(it.hr, it.hrW, p.x * s, p.y * s, Q, p, hr, b * Q * Q * 3);
  });
  return { lr, hr };
}

/** The tensor shapes of a batch. */
export function batchShapes(o: Pick<SampleOptions, 'batchSize' | 'lrPatch'>, scale: number): { lr: number[]; hr: number[] } {
  const P = o.lrPatch, Q = P * scale;
  return { lr: [o.batchSize, P, P, 3], hr: [o.batchSize, Q, Q, 3] };
}
