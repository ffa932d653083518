// Learning-rate schedules with BasicSR's semantics, iteration-based, as pure functions of the
// iteration. `iter` is BasicSR's current_iter: 1 for the first update. BasicSR steps its torch
// scheduler once before every update but the first, so the scheduler's last_epoch is iter - 1.
//
// One deliberate difference: BasicSR's MultiStepRestartLR is chained (each step starts from the
// optimizer's current lr), so after a linear warm-up it keeps the last warm-up value, a factor
// (warmup_iter - 1) / warmup_iter below the base lr, for the rest of the run. Here the schedule
// is the closed form the warm-up was meant to hand over to (identical when there is no warm-up).

export interface MultiStepLRConfig {
  type: 'MultiStepLR';
  /** last_epoch values where the lr is multiplied by gamma (repeats multiply again). */
  milestones: number[];
  gamma: number;
  /** last_epoch values where the lr restarts at base_lr * the matching restart weight. */
  restarts: number[];
  restart_weights: number[];
}

export interface CosineAnnealingRestartLRConfig {
  type: 'CosineAnnealingRestartLR';
  /** Length of each cosine cycle in iterations. */
  periods: number[];
  /** Peak of each cycle as a fraction of base_lr. */
  restart_weights: number[];
  eta_min: number;
}

export type SchedulerConfig = MultiStepLRConfig | CosineAnnealingRestartLRConfig;

function lastEpoch(iter: number): number {
  if (!Number.isInteger(iter)) throw new Error(`mvsr: lr schedule: iteration must be an integer, got ${iter}`);
  return Math.max(0, iter - 1);
}

/** BasicSR MultiStepRestartLR: restart weight of the latest restart times gamma per milestone since it. */
export function multiStepLr(baseLr: number, s: Omit<MultiStepLRConfig, 'type'>, iter: number): number {
  const e = lastEpoch(iter);
  // the latest restart at or before e (first listed wins on duplicates, like list.index); with
  // none, torch starts from base_lr at last_epoch 0 and applies milestones from 0 on
  let r = -1, w = 1;
  s.restarts.forEach((at, i) => {
    if (at <= e && at > r) {
      r = at;
      w = s.restart_weights[i]!;
    }
  });
  // a milestone on the restart itself is not applied (the restart branch wins in BasicSR)
  let n = 0;
  for (const m of s.milestones) if (m > r && m <= e) n++;
  return baseLr * w * Math.pow(s.gamma, n);
}

/** BasicSR CosineAnnealingRestartLR; after the last cycle the lr stays at eta_min. */
export function cosineAnnealingRestartLr(baseLr: number, s: Omit<CosineAnnealingRestartLRConfig, 'type'>, iter: number): number {
  const e = lastEpoch(iter);
  let start = 0;
  for (let i = 0; i < s.periods.length; i++) {
    const period = s.periods[i]!;
    // BasicSR picks the first cycle whose cumulative end is >= e: a cycle includes its end point
    if (e <= start + period) {
      const w = s.restart_weights[i]!;
      return s.eta_min + w * 0.5 * (baseLr - s.eta_min) * (1 + Math.cos(Math.PI * ((e - start) / period)));
    }
    start += period;
  }
  return s.eta_min;
}

/** The schedule without warm-up. */
export function scheduledLr(baseLr: number, s: SchedulerConfig, iter: number): number {
  return s.type === 'MultiStepLR' ? multiStepLr(baseLr, s, iter) : cosineAnnealingRestartLr(baseLr, s, iter);
}

/**
 * The lr of the update at iteration `iter`: BasicSR's linear warm-up base_lr * iter / warmupIter
 * while iter < warmupIter (warmupIter <= 0: none), then the schedule.
 */
export function lrAt(baseLr: number, s: SchedulerConfig, warmupIter: number, iter: number): number {
  if (warmupIter > 0 && iter < warmupIter) return (baseLr * Math.max(0, iter)) / warmupIter;
  return scheduledLr(baseLr, s, iter);
}

export interface SchedulerState {
  type: SchedulerConfig['type'];
  /** The last iteration whose lr was handed out (0 before the first). */
  iter: number;
}

/** Anything with a settable learning rate (the Adam optimizer). */
export interface HasLr {
  lr: number;
}

/** A stateful wrapper for training loops and checkpoints; the lr itself is always lrAt(iter). */
export class LRScheduler {
  private it = 0;

  constructor(readonly baseLr: number, readonly config: SchedulerConfig, readonly warmupIter = -1) {
    if (!(baseLr >= 0 && Number.isFinite(baseLr))) throw new Error(`mvsr: LRScheduler: base lr must be a finite number >= 0, got ${baseLr}`);
  }

  get iter(): number {
    return this.it;
  }

  lrAt(iter: number): number {
    return lrAt(this.baseLr, this.config, this.warmupIter, iter);
  }

  /** Advance to the next iteration, set its lr on `optimizer` (if given), and return it. */
  step(optimizer?: HasLr): number {
    this.it++;
    const lr = this.lrAt(this.it);
    if (optimizer) optimizer.lr = lr;
    return lr;
  }

  state(): SchedulerState {
    return { type: this.config.type, iter: this.it };
  }

  load(state: SchedulerState): void {
    if (!state || typeof state !== 'object') throw new Error('mvsr: LRScheduler.load: expected a scheduler state object');
    if (state.type !== this.config.type) {
      throw new Error(`mvsr: LRScheduler.load: the checkpoint's scheduler is ${String(state.type)}, the config's is ${this.config.type}`);
    }
    if (!Number.isInteger(state.iter) || state.iter < 0) throw new Error(`mvsr: LRScheduler.load: bad iteration ${String(state.iter)}`);
    this.it = state.iter;
  }
}
