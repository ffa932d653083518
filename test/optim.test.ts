// Adam / AdamW update kernel against the float64 reference of PyTorch's update over several steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, assertClose, mulberry32 } from './helpers.js';
import * as ref from './ref/index.js';
import { adamUpdate, type AdamUpdateOptions } from '../src/tensor/ops/optim.js';
import { Tensor } from '../src/tensor/tensor.js';

const SIZES = [1, 3, 4, 37, 130, 1031];

const CONFIGS: { name: string; o: AdamUpdateOptions }[] = [
  { name: 'Adam', o: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false } },
  { name: 'Adam L2', o: { lr: 2e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.05, decoupled: false } },
  { name: 'AdamW', o: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: true } },
  // beta1 < 0.5 takes the other side of ATen's lerp; large eps
  { name: 'AdamW beta1=0.3', o: { lr: 5e-2, beta1: 0.3, beta2: 0.9, eps: 1e-3, weightDecay: 0.1, decoupled: true } },
  { name: 'Adam beta1=0', o: { lr: 1e-2, beta1: 0, beta2: 0.5, eps: 1e-6, weightDecay: 0, decoupled: false } },
];

function f32Array(n: number, rng: () => number, scale: number): Float64Array {
  return Float64Array.from(Float32Array.from({ length: n }, () => scale * (2 * rng() - 1)));
}

function runSteps(n: number, o: AdamUpdateOptions, seed: number, steps: number): { got: Float32Array[]; want: Float64Array[] } {
  const rng = mulberry32(seed);
  const p64 = f32Array(n, rng, 1);
  const m64 = new Float64Array(n), v64 = new Float64Array(n);
  const p = Tensor.from([n], p64), m = Tensor.zeros([n]), v = Tensor.zeros([n]);
  for (let step = 1; step <= steps; step++) {
    const g64 = f32Array(n, rng, step % 2 ? 0.5 : 2e-3);
    const g = Tensor.from([n], g64);
    adamUpdate(p, g, m, v, step, o);
    ref.adamStep(p64, g64, m64, v64, step, o);
    assert.deepEqual([...g.data], [...Float32Array.from(g64)], 'grad must not be modified');
    g.dispose();
  }
  const got = [p.toArray(), m.toArray(), v.toArray()];
  [p, m, v].forEach((t) => t.dispose());
  return { got, want: [p64, m64, v64] };
}

for (const threads of [1, 2]) {
  test(`Adam / AdamW steps match PyTorch's update in float64 (${threads} thread(s))`, async () => {
    await useEngine(threads);
    CONFIGS.forEach((c, ci) => {
      for (const n of SIZES) {
        const { got, want } = runSteps(n, c.o, 1000 * ci + n, 6);
        ['param', 'exp_avg', 'exp_avg_sq'].forEach((what, i) => {
          // params and gradients are O(1) (|p| < 1, |g| <= 0.5): f32 cancellation inside m and v
          // (which mix gradients of very different sizes across steps) costs a few ulps of that
          // scale, hence the absolute 1e-7 next to the 1e-6 relative tolerance
          assertClose(got[i]!, want[i]!, 1e-7, 1e-6, `${c.name} n=${n} ${what}`);
        });
      }
    });
  });
}

test('Adam results are bit-identical on 1 and 2 threads', async () => {
  const out: Float32Array[][] = [];
  for (const threads of [1, 2]) {
    await useEngine(threads);
    out.push(runSteps(1031, CONFIGS[2]!.o, 7, 3).got);
  }
  out[0]!.forEach((a, i) => assert.deepEqual([...a], [...out[1]![i]!]));
});

test('adamUpdate rejects bad inputs with errors that name the op and the shapes', async () => {
  await useEngine(1);
  const o = CONFIGS[0]!.o;
  const p = Tensor.zeros([3, 3]), g = Tensor.zeros([3, 3]), m = Tensor.zeros([3, 3]), v = Tensor.zeros([3, 3]);
  const bad = Tensor.zeros([9]);
  assert.throws(() => adamUpdate(p, bad, m, v, 1, o), /^Error: mvsr: adamUpdate: shapes differ: param \[3,3\] vs grad \[9\]/);
  assert.throws(() => adamUpdate(p, g, bad, v, 1, o), /mvsr: adamUpdate: shapes differ: param \[3,3\] vs exp_avg \[9\]/);
  assert.throws(() => adamUpdate(p, g, m, bad, 1, o), /mvsr: adamUpdate: shapes differ: param \[3,3\] vs exp_avg_sq \[9\]/);
  assert.throws(() => adamUpdate(p, g, m, v, 0, o), /mvsr: adamUpdate: step must be an integer >= 1, got 0/);
  assert.throws(() => adamUpdate(p, g, m, v, 1, { ...o, beta1: 1 }), /mvsr: adamUpdate: beta1 must be in \[0, 1\), got 1/);
  assert.throws(() => adamUpdate(p, g, m, v, 1, { ...o, lr: NaN }), /mvsr: adamUpdate: option lr must be a finite number/);
  assert.throws(() => adamUpdate(p, g, m, v, 1, { ...o, weightDecay: -1 }), /mvsr: adamUpdate: weightDecay must be >= 0/);
  [p, g, m, v, bad].forEach((t) => t.dispose());
});
