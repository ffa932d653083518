// TEMPORARY until tensor/ops/align.ts lands
import { Tensor } from '../tensor/tensor.js';
import { estimateShift, translate } from '../autograd/ops/align.js';
import { leaf } from '../autograd/var.js';
export function estimateShiftTensor(a: Tensor, b: Tensor, r: number): Tensor {
  const s = estimateShift(a, b, r);
  return Tensor.from([s.length, 1, 1, 2], s.flatMap((d) => [d.dx, d.dy]));
}
export function translateTensor(x: Tensor, d: Tensor, f: number): Tensor {
  const a = d.toArray();
  const shifts = Array.from({ length: x.shape[0]! }, (_, n) => ({ dx: a[2 * n]! * f, dy: a[2 * n + 1]! * f }));
  const y = translate(leaf(x), shifts);
  return y.value === x ? x.clone() : y.value;
}
