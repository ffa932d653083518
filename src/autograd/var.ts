// Tape-based reverse-mode autodiff. Every differentiable op creates a Var whose backward
// closure maps the output gradient to input gradients; backward() walks the tape in reverse.
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { engine } from '../tensor/engine.js';

export type BackwardFn = (gy: Tensor) => (Tensor | null)[];

export class Var {
  grad: Tensor | null = null;
  /** Set for op outputs: the inputs and the closure that differentiates the op. */
  parents: Var[] = [];
  backwardFn: BackwardFn | null = null;

  constructor(public value: Tensor, readonly requiresGrad = false, readonly opName = 'leaf') {}

  get shape(): readonly number[] {
    return this.value.shape;
  }

  get isLeaf(): boolean {
    return this.backwardFn === null;
  }

  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }
}

let tape: Var[] = [];
let gradEnabled = true;

/** A leaf variable (an input, or a parameter with requiresGrad). */
export function leaf(value: Tensor, requiresGrad = false): Var {
  return new Var(value, requiresGrad);
}

/** A constant that lives as long as the step: taped like an op output, so clearTape() frees it (a leaf would not be). */
export function constant(value: Tensor): Var {
  return record('constant', [], value, () => []);
}

/**
 * Record an op: `value` was computed from `inputs`; `backward` returns one gradient per input
 * (null where the input needs none). Ops whose inputs need no gradient are not taped.
 */
export function record(opName: string, inputs: Var[], value: Tensor, backward: BackwardFn): Var {
  const needs = gradEnabled && inputs.some((v) => v.requiresGrad);
  const out = new Var(value, needs, opName);
  if (needs) {
    out.parents = inputs;
    out.backwardFn = backward;
  }
  tape.push(out);
  return out;
}

/** Whether ops record gradients now (false inside noGrad). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording gradients (inference, validation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

function accumulate(v: Var, g: Tensor): void {
  if (g.size !== v.value.size) {
    throw new Error(`mvsr: backward of ${v.opName}: gradient ${shapeStr(g.shape)} does not match value ${shapeStr(v.value.shape)}`);
  }
  if (!v.grad) {
    v.grad = g;
    return;
  }
  engine().run('axpy', [v.grad.ptr, g.ptr, g.size, 1]);
  g.dispose();
}

/**
 * Backpropagate from `loss` (any shape; seeded with ones, or with `seed`). Gradients of leaves
 * that require them accumulate in `.grad`; intermediate gradients are freed on the way.
 */
export function backward(loss: Var, seed?: Tensor): void {
  if (!loss.requiresGrad) throw new Error('mvsr: backward: the loss does not depend on any variable that requires a gradient');
  accumulate(loss, seed ? seed.clone() : Tensor.full(loss.value.shape, 1));
  for (let i = tape.length - 1; i >= 0; i--) {
    const v = tape[i]!;
    if (!v.backwardFn || !v.grad) continue;
    const gy = v.grad;
    v.grad = null;
    const gs = v.backwardFn(gy);
    gy.dispose();
    v.parents.forEach((p, k) => {
      const g = gs[k];
      if (!g) return;
      if (p.requiresGrad) accumulate(p, g);
      else g.dispose();
    });
  }
}

/**
 * Free every value and gradient the tape holds (op outputs, not leaves) and start a new tape.
 * Call once per training step after backward() and after reading what you need.
 */
export function clearTape(): void {
  for (const v of tape) {
    v.value.dispose();
    v.grad?.dispose();
    v.grad = null;
    v.parents = [];
    v.backwardFn = null;
  }
  tape = [];
}

/** Number of op outputs currently on the tape. */
export function tapeLength(): number {
  return tape.length;
}
