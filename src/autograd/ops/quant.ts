// Fake quantization for quantization-aware training: the forward rounds values to the int8 grid
// the deployed model will use and maps them back to reals; the backward is the straight-through
// estimator (the gradient passes where the value lies inside the representable range, zero where
// it was clipped), as in Jacob et al. 2018 and TFLite's QAT.
import { record, type Var } from '../var.js';
import { Tensor } from '../../tensor/tensor.js';

const roundHalfAway = (x: number): number => (x < 0 ? -Math.round(-x) : Math.round(x));

/** Per tensor, asymmetric: scale * (clamp(round(x / scale) + zp, qmin, qmax) - zp). */
export function fakeQuant(x: Var, scale: number, zeroPoint: number, qmin = -128, qmax = 127): Var {
  const src = x.value.toArray(), y = Tensor.empty(x.value.shape), lo = Math.fround(scale * (qmin - zeroPoint)), hi = Math.fround(scale * (qmax - zeroPoint));
  for (let i = 0; i < src.length; i++) {
    const q = roundHalfAway(src[i]! / scale) + zeroPoint;
    y.data[i] = scale * ((q < qmin ? qmin : q > qmax ? qmax : q) - zeroPoint);
  }
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
