// Weight initialisation (PyTorch defaults) from a seeded generator: manualSeed(s) makes model
// construction reproducible, like torch.manual_seed.
import { Rng } from '../tensor/random.js';
import { Tensor, type Shape } from '../tensor/tensor.js';

let rng = new Rng(0);

export function manualSeed(seed: number): void {
  rng = new Rng(seed);
}

export function initRng(): Rng {
  return rng;
}

export function uniform(shape: Shape, bound: number, r: Rng = rng): Tensor {
  const t = Tensor.empty(shape);
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = r.uniform(-bound, bound);
  return t;
}

/** PyTorch's default for conv weights and biases: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function defaultConvInit(shape: Shape, fanIn: number, r: Rng = rng): Tensor {
  return uniform(shape, 1 / Math.sqrt(fanIn), r);
}

/** Kaiming normal (fan_in, ReLU gain) scaled by `scale`, as BasicSR's default_init_weights. */
export function kaimingNormal(shape: Shape, fanIn: number, scale = 1, r: Rng = rng): Tensor {
  const t = Tensor.empty(shape);
  const std = Math.sqrt(2 / fanIn) * scale;
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = r.normal() * std;
  return t;
}
