// Fake quantization for quantization-aware training: the forward rounds values to the int8 grid
// the deployed model will use and maps them back to reals; the backward is the straight-through
// estimator (the gradient passes where the value lies inside the representable range, zero where
// it was clipped), as in Jacob et al. 2018 and TFLite's QAT.
import { record, type Var } from '../var.js';
import { Tensor } from '../../tensor/tensor.js';

const roundHalfAway = (x: number): number => (x < 0 ? -Math.round(-x) : Math.round(x));

function quantDequant(x: Tensor, scale: number, zeroPoint: number, qmin: number, qmax: number): Tensor {
  const src = x.toArray(), y = Tensor.empty(x.shape);
  for (let i = 0; i < src.length; i++) {
    const q = roundHalfAway(src[i]! / scale) + zeroPoint;
    y.data[i] = scale * ((q < qmin ? qmin : q > qmax ? qmax : q) - zeroPoint);
  }
  return y;
}

/** Per tensor, asymmetric: scale * (clamp(round(x / scale) + zp, qmin, qmax) - zp). */
export function fakeQuant(x: Var, scale: number, zeroPoint: number, qmin = -128, qmax = 127): Var {
  const y = quantDequant(x.value, scale, zeroPoint, qmin, qmax), lo = Math.fround(scale * (qmin - zeroPoint)), hi = Math.fround(scale * (qmax - zeroPoint));
  return record('fakeQuant', [x], y, (gy) => {
    const g = Tensor.empty(gy.shape), v = x.value.data;
    for (let i = 0; i < g.size; i++) g.data[i] = v[i]! >= lo && v[i]! <= hi ? gy.data[i]! : 0;
    return [g];
  });
}

/**
 * Per output channel (axis 0 of a conv's OIHW weight, 1 of a transposed conv's [Cin, Cout, k, k]),
 * symmetric in [-127, 127] at max |w| / 127 of the current values (the scales the int8 export
 * computes), so no value is clipped and the gradient passes through.
 */
export function fakeQuantPerChannel(w: Var, axis: 0 | 1 = 0): Var {
  const src = w.value.toArray(), shape = w.value.shape, O = shape[axis]!, y = Tensor.empty(shape);
  const inner = src.length / shape.slice(0, axis + 1).reduce((a, b) => a * b, 1), ch = (i: number) => Math.floor(i / inner) % O;
  const m = new Float64Array(O);
  for (let i = 0; i < src.length; i++) m[ch(i)] = Math.max(m[ch(i)]!, Math.abs(src[i]!));
  const sc = Array.from(m, (x) => (x > 0 ? Math.fround(x / 127) : 1));
  for (let i = 0; i < src.length; i++) {
    const s = sc[ch(i)]!;
    y.data[i] = s * Math.max(-127, Math.min(127, roundHalfAway(src[i]! / s)));
  }
  return record('fakeQuantPerChannel', [w], y, (gy) => [gy.clone()]);
}

/**
 * Fake quantization with a learned range (asymmetric LSQ: Esser et al. 2020, Bhalgat et al. 2020;
 * PACT's clipping gradient, Choi et al. 2018). `range` is a [2] parameter (lo, hi); the forward is
 * fakeQuant at `q`, the int8 parameters the caller chose for that range (chooseQParams: 0 exact,
 * the zero point an integer), so training sees what the deployed model computes. Backward, with
 * s = (hi - lo) / 255 and u = (x - lo) / s: x passes its gradient where it lies inside the grid;
 * below it the output is lo (gradient to lo), above it hi (gradient to hi); inside, the rounding
 * residual moves the step: dy/dlo = (u - round(u)) / 255, dy/dhi = (round(u) - u) / 255. The
 * range's gradient is scaled by 1 / sqrt(N * 255) (LSQ's step-size gradient scale).
 */
export function fakeQuantRange(x: Var, range: Var, q: { scale: number; zeroPoint: number }, qmin = -128, qmax = 127): Var {
  const y = quantDequant(x.value, q.scale, q.zeroPoint, qmin, qmax), steps = qmax - qmin;
  return record('fakeQuantRange', [x, range], y, (gy) => {
    const v = x.value.data, n = v.length, s = q.scale, lo = Math.fround(s * (qmin - q.zeroPoint)), hi = Math.fround(s * (qmax - q.zeroPoint));
    const gx = Tensor.empty(gy.shape);
    let glo = 0, ghi = 0;
    for (let i = 0; i < n; i++) {
      const g = gy.data[i]!, xi = v[i]!;
      if (xi < lo) { gx.data[i] = 0; glo += g; }
      else if (xi > hi) { gx.data[i] = 0; ghi += g; }
      else {
        gx.data[i] = g;
        const u = (xi - lo) / s, r = (u - Math.round(u)) / steps;
        glo += g * r;
        ghi -= g * r;
      }
    }
    const k = 1 / Math.sqrt(n * steps);
    return [gx, Tensor.from([2], [glo * k, ghi * k])];
  });
}
