/**
 * Central finite-difference gradients in float64.
 */
import { RT, rt, checkRT } from './tensor.js';

/**
 * d f(inputs) / d inputs[which], estimated element by element as
 *   (f(x + h e_i) - f(x - h e_i)) / (2h).
 * inputs[which] is modified during each probe and restored to its exact
 * original value afterwards (also when f throws).
 */
export function numericalGradient(f: (inputs: RT[]) => number, inputs: RT[], which: number, h = 1e-5): RT {
  if (!Array.isArray(inputs as unknown)) throw new Error('numericalGradient: inputs must be an array');
  if (!Number.isInteger(which) || which < 0 || which >= inputs.length) {
    throw new Error(`numericalGradient: which=${which} out of range for ${inputs.length} inputs`);
  }
  if (!(h > 0) || !Number.isFinite(h)) throw new Error(`numericalGradient: h must be a positive finite number, got ${h}`);
  const x = inputs[which];
  checkRT(x, 'numericalGradient input');
  const grad = rt(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const original = x.data[i];
    let fPlus: number;
    let fMinus: number;
    try {
      x.data[i] = original + h;
      fPlus = f(inputs);
      x.data[i] = original - h;
      fMinus = f(inputs);
    } finally {
      x.data[i] = original;
    }
    if (typeof fPlus !== 'number' || typeof fMinus !== 'number') {
      throw new Error('numericalGradient: f must return a number');
    }
    grad.data[i] = (fPlus - fMinus) / (2 * h);
  }
  return grad;
}
