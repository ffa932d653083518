// Global motion compensation over engine tensors (kernels in src/kernels/align.ts): the
// translation between two frames, one per batch item, and the bilinear translation (edges
// clamped) that moves a frame or a recurrent state by it, with its transpose for the backward.
// Layout NHWC. A shift tensor is [N, 1, 1, 2] holding (dx, dy) per item: content at (x, y) of the
// earlier frame is at (x + dx, y + dy) in the later one.
import { engine } from '../engine.js';
import { Tensor, assertRank4, shapeStr } from '../tensor.js';

/** A translation in pixels: content at (x, y) in the earlier frame is at (x + dx, y + dy) in the later one. */
export interface Shift {
  dx: number;
  dy: number;
}

/** The search radius estimateShift uses on H x W frames: `radius`, reduced so that the search fits the frame. */
export function searchRadius(H: number, W: number, radius: number): number {
  return Math.max(0, Math.min(Math.floor(radius), Math.floor((Math.min(H, W) - 4) / 3)));
}

function checkFrames(op: string, prev: Tensor, cur: Tensor, radius: number): [number, number, number, number] {
  assertRank4(op, 'earlier frame', prev);
  assertRank4(op, 'later frame', cur);
  if (prev.shape.some((d, i) => d !== cur.shape[i])) throw new Error(`mvsr: ${op}: frames of shapes ${shapeStr(prev.shape)} and ${shapeStr(cur.shape)}`);
  const [N, H, W, C] = prev.shape as [number, number, number, number];
  if (N < 1 || H < 1 || W < 1 || C < 1) throw new Error(`mvsr: ${op}: empty frames ${shapeStr(prev.shape)}`);
  if (!(radius >= 0) || !Number.isFinite(radius)) throw new Error(`mvsr: ${op}: radius ${radius} must be a non-negative number`);
  return [N, H, W, C];
}

/** Run the three estimation kernels; (dx, dy) per item go to `out` (f64 values when f64s, else f32). */
function estimateInto(op: string, prev: Tensor, cur: Tensor, radius: number, out: number, f64s: boolean): void {
  const [N, H, W, C] = checkFrames(op, prev, cur, radius);
  const R = searchRadius(H, W, radius), K = (2 * R + 1) ** 2, P = N * H * W;
  const e = engine();
  // scratch: cost [N*K] f64 | channel means of prev and of cur [P] f32 each | samples [P, 4] f64
  const up = (bytes: number) => Math.ceil(bytes / 64) * 64;
  const scratch = e.alloc(up(N * K * 8) + 2 * up(P * 4) + P * 32);
  try {
    const cost = scratch, ga = scratch + up(N * K * 8), gb = ga + up(P * 4), q = gb + up(P * 4);
    e.run('align_grey', [prev.ptr, cur.ptr, P, C, ga, gb]);
    e.run('align_search', [ga, gb, N, H, W, R, cost, q]);
    // one item per thread: a single item runs on the calling thread
    e.run('align_refine', [gb, q, cost, N, H, W, R, out, f64s ? 1 : 0], Math.min(e.threads, N));
  } finally {
    e.release(scratch);
  }
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
 * small for the radius use a smaller one (searchRadius). Computed in float64; exact values.
 */
export function estimateShifts(prev: Tensor, cur: Tensor, radius: number): Shift[] {
  const N = prev.shape[0] ?? 0;
  const e = engine();
  const out = e.alloc(16 * Math.max(1, N));
  try {
    estimateInto('estimateShift', prev, cur, radius, out, true);
    const d = new Float64Array(e.memory.buffer, out, 2 * N);
    return Array.from({ length: N }, (_, n) => ({ dx: d[2 * n]!, dy: d[2 * n + 1]! }));
  } finally {
    e.release(out);
  }
}

/** estimateShifts as a tensor [N, 1, 1, 2] of (dx, dy) per item, rounded to float32. */
export function estimateShiftTensor(prev: Tensor, cur: Tensor, radius: number): Tensor {
  checkFrames('estimateShift', prev, cur, radius);
  const y = Tensor.empty([prev.shape[0]!, 1, 1, 2]);
  try {
    estimateInto('estimateShift', prev, cur, radius, y.ptr, false);
  } catch (err) {
    y.dispose();
    throw err;
  }
  return y;
}

/** Check a shift tensor for a batch of N: shape [N, 1, 1, 2] and finite values. */
function checkShiftTensor(op: string, shift: Tensor, N: number): void {
  const s = shift.shape;
  if (s.length !== 4 || s[0] !== N || s[1] !== 1 || s[2] !== 1 || s[3] !== 2) {
    throw new Error(`mvsr: ${op}: shift must be [${N},1,1,2] ((dx, dy) per batch item), got ${shapeStr(s)}`);
  }
  const d = shift.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) throw new Error(`mvsr: ${op}: shift of item ${i >> 1} has ${i & 1 ? 'dy' : 'dx'} = ${d[i]}`);
  }
}

/** The (dx, dy) pairs of a shift tensor [N, 1, 1, 2]. */
export function shiftsOf(t: Tensor): Shift[] {
  const N = t.shape[0] ?? 0;
  checkShiftTensor('shiftsOf', t, N);
  const d = t.data;
  return Array.from({ length: N }, (_, n) => ({ dx: d[2 * n]!, dy: d[2 * n + 1]! }));
}

function checkFactor(op: string, factor: number): void {
  if (!Number.isFinite(factor)) throw new Error(`mvsr: ${op}: factor ${factor} must be a finite number`);
}

/** Run align_translate (or its transpose) from a shift buffer at `shift`. */
function runTranslate(kernel: 'align_translate' | 'align_translate_t', x: Tensor, shift: number, f64s: boolean, factor: number, dst: Tensor, acc: boolean): void {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  if (x.size === 0) return;
  const args = [x.ptr, N, H, W, C, shift, f64s ? 1 : 0, factor, dst.ptr];
  engine().run(kernel, kernel === 'align_translate' ? args : [...args, acc ? 1 : 0]);
}

/**
 * x [N,H,W,C] moved by factor * shift[n] (bilinear, edges replicated):
 * out(x, y) = x(x - f dx, y - f dy). shift is [N, 1, 1, 2] (an estimateShiftTensor); the models
 * move a high-resolution tensor by scale x shift, and a later frame back by -1 x shift.
 */
export function translateTensor(x: Tensor, shift: Tensor, factor = 1): Tensor {
  const op = 'translate';
  assertRank4(op, 'input', x);
  checkShiftTensor(op, shift, x.shape[0]!);
  checkFactor(op, factor);
  const y = Tensor.empty(x.shape);
  const d = shift.data;
  if (d.every((v) => v * factor === 0)) {
    // no item moves: an exact copy
    y.data.set(x.data);
    return y;
  }
  try {
    runTranslate('align_translate', x, shift.ptr, false, factor, y, false);
  } catch (err) {
    y.dispose();
    throw err;
  }
  return y;
}

/**
 * The transpose of translateTensor(., shift, factor) applied to g [N,H,W,C] (the gradient with
 * respect to its input): a new tensor, or added into `into` when given.
 */
export function translateBackward(g: Tensor, shift: Tensor, factor = 1, into?: Tensor): Tensor {
  const op = 'translateBackward';
  assertRank4(op, 'gradient', g);
  checkShiftTensor(op, shift, g.shape[0]!);
  checkFactor(op, factor);
  if (into && (into.shape.length !== 4 || into.shape.some((d, i) => d !== g.shape[i]))) {
    throw new Error(`mvsr: ${op}: accumulator ${shapeStr(into.shape)} does not match the gradient ${shapeStr(g.shape)}`);
  }
  const y = into ?? Tensor.empty(g.shape);
  try {
    runTranslate('align_translate_t', g, shift.ptr, false, factor, y, !!into);
  } catch (err) {
    if (!into) y.dispose();
    throw err;
  }
  return y;
}

function checkShiftList(op: string, shifts: readonly Shift[], N: number): void {
  if (shifts.length !== N) throw new Error(`mvsr: ${op}: ${shifts.length} shifts for a batch of ${N}`);
  shifts.forEach((s, n) => {
    if (!Number.isFinite(s.dx) || !Number.isFinite(s.dy)) throw new Error(`mvsr: ${op}: shift of item ${n} is (${s.dx}, ${s.dy})`);
  });
}

/** Run a translation kernel with float64 shifts from a list (exact values, no float32 rounding). */
function withShiftList(shifts: readonly Shift[], fn: (ptr: number) => void): void {
  const e = engine();
  const ptr = e.alloc(16 * Math.max(1, shifts.length));
  try {
    const d = new Float64Array(e.memory.buffer, ptr, 2 * shifts.length);
    shifts.forEach((s, n) => {
      d[2 * n] = s.dx;
      d[2 * n + 1] = s.dy;
    });
    fn(ptr);
  } finally {
    e.release(ptr);
  }
}

/** x [N,H,W,C] moved by shifts[n] (float64 values), as translateTensor. */
export function translateByShifts(x: Tensor, shifts: readonly Shift[]): Tensor {
  const op = 'translate';
  assertRank4(op, 'input', x);
  checkShiftList(op, shifts, x.shape[0]!);
  const y = Tensor.empty(x.shape);
  try {
    withShiftList(shifts, (ptr) => runTranslate('align_translate', x, ptr, true, 1, y, false));
  } catch (err) {
    y.dispose();
    throw err;
  }
  return y;
}

/** The transpose of translateByShifts(., shifts) applied to g: a new tensor, or added into `into`. */
export function translateByShiftsBackward(g: Tensor, shifts: readonly Shift[], into?: Tensor): Tensor {
  const op = 'translateBackward';
  assertRank4(op, 'gradient', g);
  checkShiftList(op, shifts, g.shape[0]!);
  if (into && (into.shape.length !== 4 || into.shape.some((d, i) => d !== g.shape[i]))) {
    throw new Error(`mvsr: ${op}: accumulator ${shapeStr(into.shape)} does not match the gradient ${shapeStr(g.shape)}`);
  }
  const y = into ?? Tensor.empty(g.shape);
  try {
    withShiftList(shifts, (ptr) => runTranslate('align_translate_t', g, ptr, true, 1, y, !!into));
  } catch (err) {
    if (!into) y.dispose();
    throw err;
  }
  return y;
}
