// Global motion compensation for video models: the translation between two frames (one per
// batch item, sub-pixel) and a differentiable bilinear translation that moves a previous frame,
// or a recurrent state computed from it, onto the current frame. A camera pan moves the whole
// picture by the same amount, several LR pixels per frame at 180x320; a tiny recurrent net
// cannot learn to look that far, so the state is moved for it (the motion compensation of
// VESPCN and of the MAI 2022 video entries, reduced to one translation per frame).
// Layout NHWC. The shift is estimated from the frames' values and carries no gradient. The work
// runs in the engine's kernels (src/kernels/align.ts, wrapped by src/tensor/ops/align.ts); the
// plain JavaScript original is kept as the test reference (test/ref/align.ts).
import { record, type Var } from '../var.js';
import type { Tensor } from '../../tensor/tensor.js';
import {
  estimateShifts, shiftsOf, translateByShifts, translateByShiftsBackward, type Shift,
} from '../../tensor/ops/align.js';

export type { Shift };

/** The `align` arguments of the video models that take them (MobileRRN, RLSP). */
export type AlignArgs = { align: 'none' | 'global'; align_radius: number };

/** Validate a model's `align` arguments (`arch` names it in the error). */
export function checkAlignArgs(arch: string, a: AlignArgs): void {
  if (a.align !== 'none' && a.align !== 'global') throw new Error(`mvsr: ${arch}: align must be 'none' or 'global', got '${String(a.align)}'`);
  if (!(Number.isInteger(a.align_radius) && a.align_radius >= 1)) throw new Error(`mvsr: ${arch}: align_radius must be a positive integer, got ${a.align_radius}`);
}

/**
 * The translation d, per batch item, that best explains `cur` as `prev` moved by d:
 * cur(x, y) ~ prev(x - dx, y - dy), on the channel means. First the integer d with the least mean
 * squared difference within |dx|, |dy| <= radius (a margin of `radius` pixels left out; every
 * second row and column on frames larger than 64 x 64); then Gauss-Newton steps on the same cost
 * over every pixel, with prev and its central-difference gradient resampled bilinearly
 * (Lucas-Kanade for one translation), for the sub-pixel part, kept within 1 px of the integer
 * minimum; a step that does not lower the cost is not kept, and an ill-conditioned system (a
 * picture with structure along one axis only) stops the refinement. Ties in the integer search
 * go to the smaller move, so two equal frames (even flat ones) give exactly (0, 0). Frames too
 * small for the radius use a smaller one.
 */
export function estimateShift(prev: Tensor, cur: Tensor, radius: number): Shift[] {
  return estimateShifts(prev, cur, radius);
}

/**
 * x [N,H,W,C] moved by shifts[n] (bilinear, edges replicated): out(x, y) = x(x - dx, y - dy);
 * x itself when no item moves. The backward applies the transposed map to the gradient.
 */
export function translate(x: Var, shifts: readonly Shift[]): Var {
  const N = x.value.shape[0];
  if (shifts.length !== N) throw new Error(`mvsr: translate: ${shifts.length} shifts for a batch of ${N}`);
  if (shifts.every((s) => s.dx === 0 && s.dy === 0)) return x;
  const own = shifts.map((s) => ({ dx: s.dx, dy: s.dy }));
  const y = translateByShifts(x.value, own);
  return record('translate', [x], y, (gy) => [translateByShiftsBackward(gy, own)]);
}

/**
 * x moved by factor x shift, shift a [N, 1, 1, 2] tensor (an estimateShiftTensor): as translate
 * with the shifts (factor dx, factor dy) read from it now (the tensor may be disposed after).
 */
export function translateBy(x: Var, shift: Tensor, factor = 1): Var {
  if (!Number.isFinite(factor)) throw new Error(`mvsr: translate: factor ${factor} must be a finite number`);
  return translate(x, shiftsOf(shift).map((s) => ({ dx: s.dx * factor, dy: s.dy * factor })));
}
