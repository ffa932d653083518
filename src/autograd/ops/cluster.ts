// Weight sharing for clustered fine-tuning: a weight tensor whose every value is one of k
// centroids (value i = centroids[assign[i]]); the gradient of a centroid is the sum of the
// gradients of the values that use it, so training moves the centroids and the weight stays
// clustered (TF Model Optimization's cluster-preserving training).
import { record, type Var } from '../var.js';
import { Tensor } from '../../tensor/tensor.js';

export function sharedWeight(centroids: Var, assign: Uint16Array, shape: readonly number[]): Var {
  const c = centroids.value.data, y = Tensor.empty(shape);
  if (y.size !== assign.length) throw new Error(`mvsr: sharedWeight: ${assign.length} assignments for a weight of ${y.size} values`);
  for (let i = 0; i < assign.length; i++) y.data[i] = c[assign[i]!]!;
  return record('sharedWeight', [centroids], y, (gy) => {
    const g = Tensor.zeros(centroids.value.shape);
    for (let i = 0; i < assign.length; i++) g.data[assign[i]!] += gy.data[i]!;
    return [g];
  });
}
