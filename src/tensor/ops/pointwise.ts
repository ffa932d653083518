// Element-wise activations and arithmetic over Tensors (any shape; PReLU's channel axis is
// the last one, NHWC), forward and backward. Every op returns new tensors.
import { engine } from '../engine.js';
import { Tensor, assertSameShape, shapeStr } from '../tensor.js';
import { CHUNK_PIXELS, roundUp4, withScratch } from './util.js';
import { FLAT_CHUNK } from './loss.js';

function assertNumber(op: string, name: string, v: number): void {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`mvsr: ${op}: ${name} must be a number, got ${v}`);
}

function assertFiniteNumber(op: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`mvsr: ${op}: ${name} must be a finite number, got ${v}`);
}

/** y = kernel(x) for a unary kernel taking (x, y, n, ...extra). */
function unary(kernel: string, x: Tensor, extra: number[] = []): Tensor {
  const y = Tensor.empty(x.shape);
  if (x.size > 0) engine().run(kernel, [x.ptr, y.ptr, x.size, ...extra]);
  return y;
}

/** out = kernel(a, b) for a binary kernel taking (a, b, out, n, ...extra); a, b of equal shape. */
function binary(op: string, kernel: string, a: Tensor, b: Tensor, an: string, bn: string, extra: number[] = []): Tensor {
  assertSameShape(op, a, b, an, bn);
  const y = Tensor.empty(a.shape);
  if (a.size > 0) engine().run(kernel, [a.ptr, b.ptr, y.ptr, a.size, ...extra]);
  return y;
}

// ---- ReLU ------------------------------------------------------------------------------

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  return unary('relu_fwd', x);
}

/** Gradient of relu from its output y: dy where y > 0, else 0. */
export function reluBackward(y: Tensor, dy: Tensor): Tensor {
  return binary('reluBackward', 'relu_bwd', y, dy, 'output', 'output gradient');
}

// ---- LeakyReLU -------------------------------------------------------------------------

/** x for x >= 0, slope * x otherwise (PyTorch LeakyReLU). */
export function leakyRelu(x: Tensor, slope: number): Tensor {
  assertFiniteNumber('leakyRelu', 'slope', slope);
  return unary('leaky_fwd', x, [slope]);
}

/** dy for x > 0, slope * dy otherwise (PyTorch convention at 0). */
export function leakyReluBackward(x: Tensor, dy: Tensor, slope: number): Tensor {
  assertFiniteNumber('leakyReluBackward', 'slope', slope);
  return binary('leakyReluBackward', 'leaky_bwd', x, dy, 'input', 'output gradient', [slope]);
}

// ---- PReLU -----------------------------------------------------------------------------

function preluChannels(op: string, x: Tensor, alpha: Tensor): number {
  if (x.shape.length < 1) throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} has no channel axis`);
  const C = x.shape[x.shape.length - 1]!;
  if (alpha.shape.length !== 1 || (alpha.size !== 1 && alpha.size !== C)) {
    throw new Error(
      `mvsr: ${op}: alpha ${shapeStr(alpha.shape)} must be a vector of 1 or ${C} values (one per channel of input ${shapeStr(x.shape)})`,
    );
  }
  return C;
}

/** PyTorch PReLU: x for x >= 0, alpha * x otherwise; alpha has 1 (shared) or C values (last axis). */
export function prelu(x: Tensor, alpha: Tensor): Tensor {
  const C = preluChannels('prelu', x, alpha);
  if (alpha.size === 1) return unary('leaky_fwd', x, [alpha.data[0]!]);
  const y = Tensor.empty(x.shape);
  if (x.size > 0) engine().run('prelu_fwd', [x.ptr, alpha.ptr, y.ptr, x.size / C, C]);
  return y;
}

export interface PreluGrads { dx: Tensor | null; dalpha: Tensor | null }

/**
 * Gradients of y = prelu(x, alpha): dx = x > 0 ? dy : alpha * dy, and dalpha (alpha's shape) =
 * sum of (x > 0 ? 0 : x * dy) per channel (or over everything for a shared alpha). The sum is
 * deterministic and independent of the thread count.
 */
export function preluBackward(
  x: Tensor, alpha: Tensor, dy: Tensor, need: { dx: boolean; dalpha: boolean } = { dx: true, dalpha: true },
): PreluGrads {
  const C = preluChannels('preluBackward', x, alpha);
  assertSameShape('preluBackward', x, dy, 'input', 'output gradient');
  const e = engine();
  const dx = need.dx ? Tensor.empty(x.shape) : null;
  const dalpha = need.dalpha ? Tensor.empty(alpha.shape) : null;
  if (!dx && !dalpha) return { dx, dalpha };
  const n = x.size;
  if (n === 0) {
    dalpha?.data.fill(0);
    return { dx, dalpha };
  }
  if (alpha.size === 1) {
    const nChunks = Math.ceil(n / FLAT_CHUNK);
    withScratch(dalpha ? nChunks : 0, (partial) => {
      e.run('prelu1_bwd_chunks', [x.ptr, dy.ptr, alpha.data[0]!, dx ? dx.ptr : 0, n, dalpha ? partial : 0]);
      if (dalpha) e.call('sum_chunks', [partial, nChunks, 1, 1, dalpha.ptr, 0]);
    });
  } else {
    const P = n / C, CP = roundUp4(C);
    const nChunks = Math.ceil(P / CHUNK_PIXELS);
    withScratch(dalpha ? nChunks * CP : 0, (partial) => {
      e.run('prelu_bwd_chunks', [x.ptr, dy.ptr, alpha.ptr, dx ? dx.ptr : 0, P, C, CP, dalpha ? partial : 0]);
      if (dalpha) e.call('sum_chunks', [partial, nChunks, C, CP, dalpha.ptr, 0]);
    });
  }
  return { dx, dalpha };
}

// ---- tanh / sigmoid --------------------------------------------------------------------

export function tanh(x: Tensor): Tensor {
  return unary('tanh_fwd', x);
}

/** Gradient of tanh from its output y: dy * (1 - y^2). */
export function tanhBackward(y: Tensor, dy: Tensor): Tensor {
  return binary('tanhBackward', 'tanh_bwd', y, dy, 'output', 'output gradient');
}

/** 1 / (1 + exp(-x)). */
export function sigmoid(x: Tensor): Tensor {
  return unary('sigmoid_fwd', x);
}

/** Gradient of sigmoid from its output y: dy * y * (1 - y). */
export function sigmoidBackward(y: Tensor, dy: Tensor): Tensor {
  return binary('sigmoidBackward', 'sigmoid_bwd', y, dy, 'output', 'output gradient');
}

/** k x for a finite number k. */
export function scale(x: Tensor, k: number): Tensor {
  assertFiniteNumber('scale', 'factor', k);
  return unary('scale_fwd', x, [k]);
}

// ---- GELU ------------------------------------------------------------------------------

/** x (1 + erf(x / sqrt 2)) / 2 (PyTorch nn.GELU(), the erf form). */
export function gelu(x: Tensor): Tensor {
  return unary('gelu_fwd', x);
}

/** Gradient of gelu from its input x: dy (Phi(x) + x phi(x)). */
export function geluBackward(x: Tensor, dy: Tensor): Tensor {
  return binary('geluBackward', 'gelu_bwd', x, dy, 'input', 'output gradient');
}

// ---- clamp -----------------------------------------------------------------------------

function checkBounds(op: string, lo: number, hi: number): void {
  assertNumber(op, 'lo', lo);
  assertNumber(op, 'hi', hi);
  if (lo > hi) throw new Error(`mvsr: ${op}: need lo <= hi, got lo=${lo} hi=${hi}`);
}

/** min(max(x, lo), hi); lo / hi may be infinite. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  checkBounds('clamp', lo, hi);
  return unary('clamp_fwd', x, [lo, hi]);
}

/** dy where lo <= x <= hi, 0 elsewhere (PyTorch clamp backward). */
export function clampBackward(x: Tensor, dy: Tensor, lo: number, hi: number): Tensor {
  checkBounds('clampBackward', lo, hi);
  return binary('clampBackward', 'clamp_bwd', x, dy, 'input', 'output gradient', [lo, hi]);
}

// ---- add / mul -------------------------------------------------------------------------

/** a + b (identical shapes, no broadcasting). */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary('add', 'add_fwd', a, b, 'a', 'b');
}

/** a * b (identical shapes, no broadcasting). */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary('mul', 'mul_fwd', a, b, 'a', 'b');
}

/** Gradients of y = a * b: da = dy * b, db = dy * a. */
export function mulBackward(
  a: Tensor, b: Tensor, dy: Tensor, need: { da: boolean; db: boolean } = { da: true, db: true },
): { da: Tensor | null; db: Tensor | null } {
  assertSameShape('mulBackward', a, b, 'a', 'b');
  assertSameShape('mulBackward', a, dy, 'a', 'output gradient');
  return {
    da: need.da ? binary('mulBackward', 'mul_fwd', dy, b, 'output gradient', 'b') : null,
    db: need.db ? binary('mulBackward', 'mul_fwd', dy, a, 'output gradient', 'a') : null,
  };
}
