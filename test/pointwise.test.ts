// Element-wise activations and arithmetic against the float64 reference, their gradients
// against finite differences, PReLU's deterministic alpha gradient, and input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, toTensor, toRT, assertClose, gradCheck, mulberry32, randomRT, assertSameOnThreadCounts } from './helpers.js';
import * as ref from './ref/index.js';
import type { RT } from './ref/index.js';
import * as P from '../src/tensor/ops/pointwise.js';
import * as A from '../src/autograd/ops/pointwise.js';
import { Tensor } from '../src/tensor/tensor.js';

// NHWC shapes: 1x1 images, channel counts not multiple of 4, batch > 1, element counts not
// multiple of 4 (3, 7, 90, 315, 1365), and a few multiples of 4.
const SHAPES: number[][] = [
  [1, 1, 1, 1],
  [1, 1, 1, 3],
  [1, 1, 1, 7],
  [2, 3, 5, 3],
  [1, 7, 9, 5],
  [3, 4, 4, 8],
  [2, 5, 3, 6],
  [3, 7, 13, 5],
  [1, 2, 2, 12],
];
const GRAD_SHAPES: number[][] = [
  [1, 1, 1, 1],
  [1, 1, 1, 3],
  [2, 3, 2, 5],
  [1, 3, 3, 4],
  [2, 2, 3, 7],
];

/** Round to float32 so the engine and the reference see exactly the same inputs. */
function f32(r: RT): RT {
  return { shape: [...r.shape], data: Float64Array.from(Float32Array.from(r.data)) };
}

/** Move every element at least `margin` away from each kink (finite differences stay valid). */
function away(r: RT, kinks: number[], margin: number): RT {
  const out = f32(r);
  for (let i = 0; i < out.data.length; i++) {
    for (const k of kinks) {
      const d = out.data[i]! - k;
      if (Math.abs(d) < margin) out.data[i] = k + (d < 0 ? -1 : 1) * (margin + Math.abs(d));
    }
  }
  return f32(out);
}

function rand(shape: number[], seed: number, lo = -1, hi = 1): RT {
  return f32(randomRT(shape, mulberry32(seed), lo, hi));
}

/** Element-wise float64 reference of a backward formula g(x, dy). */
function refGrad(x: RT, dy: RT, g: (x: number, dy: number, i: number) => number): RT {
  const out = ref.rt(x.shape);
  for (let i = 0; i < x.data.length; i++) out.data[i] = g(x.data[i]!, dy.data[i]!, i);
  return out;
}

function check(t: Tensor, r: RT, what: string, atol = 1e-6, rtol = 1e-5): void {
  assert.deepEqual([...t.shape], r.shape, `${what}: shape`);
  assertClose(t.data, r.data, atol, rtol, what);
}

for (const threads of [1, 2]) {
  test(`activations forward and backward match the float64 reference (${threads} thread(s))`, async () => {
    await useEngine(threads);
    SHAPES.forEach((s, k) => {
      const C = s[3]!;
      const xr = rand(s, 10 + k, -3, 3);
      const dyr = rand(s, 50 + k);
      const alphar = rand([C], 90 + k, -0.5, 0.5);
      const x = toTensor(xr), dy = toTensor(dyr), alpha = toTensor(alphar);
      const alpha1 = Tensor.from([1], [0.25]);
      const tag = JSON.stringify(s);
      const owned: Tensor[] = [x, dy, alpha, alpha1];
      const keep = (t: Tensor | null): Tensor => {
        assert.ok(t);
        owned.push(t);
        return t;
      };

      const y = keep(P.relu(x));
      check(y, ref.relu(xr), `relu ${tag}`, 0, 0);
      check(keep(P.reluBackward(y, dy)), refGrad(xr, dyr, (v, d) => (v > 0 ? d : 0)), `relu backward ${tag}`, 0, 0);

      check(keep(P.leakyRelu(x, 0.2)), ref.leakyRelu(xr, 0.2), `leakyRelu ${tag}`);
      check(keep(P.leakyReluBackward(x, dy, 0.2)), refGrad(xr, dyr, (v, d) => (v > 0 ? d : 0.2 * d)), `leakyRelu backward ${tag}`);

      check(keep(P.prelu(x, alpha)), ref.prelu(xr, alphar), `prelu ${tag}`);
      const g = P.preluBackward(x, alpha, dy);
      check(keep(g.dx), refGrad(xr, dyr, (v, d, i) => (v > 0 ? d : alphar.data[i % C]! * d)), `prelu dx ${tag}`);
      const da = ref.rt([C]);
      xr.data.forEach((v, i) => { if (v <= 0) da.data[i % C] += v * dyr.data[i]!; });
      check(keep(g.dalpha), da, `prelu dalpha ${tag}`, 1e-5, 1e-5);

      check(keep(P.prelu(x, alpha1)), ref.prelu(xr, [0.25]), `prelu shared ${tag}`);
      const g1 = P.preluBackward(x, alpha1, dy);
      check(keep(g1.dx), refGrad(xr, dyr, (v, d) => (v > 0 ? d : 0.25 * d)), `prelu shared dx ${tag}`);
      let da1 = 0;
      xr.data.forEach((v, i) => { if (v <= 0) da1 += v * dyr.data[i]!; });
      check(keep(g1.dalpha), ref.rt([1], [da1]), `prelu shared dalpha ${tag}`, 1e-5, 1e-5);

      const th = keep(P.tanh(x));
      check(th, ref.tanh(xr), `tanh ${tag}`);
      check(keep(P.tanhBackward(th, dy)), refGrad(xr, dyr, (v, d) => d * (1 - Math.tanh(v) ** 2)), `tanh backward ${tag}`);

      const sg = keep(P.sigmoid(x));
      check(sg, ref.sigmoid(xr), `sigmoid ${tag}`);
      const sgm = (v: number): number => 1 / (1 + Math.exp(-v));
      check(keep(P.sigmoidBackward(sg, dy)), refGrad(xr, dyr, (v, d) => d * sgm(v) * (1 - sgm(v))), `sigmoid backward ${tag}`);

      check(keep(P.gelu(x)), ref.gelu(xr), `gelu ${tag}`);
      const phi = (v: number): number => Math.exp(-(v * v) / 2) / Math.sqrt(2 * Math.PI);
      check(keep(P.geluBackward(x, dy)), refGrad(xr, dyr, (v, d) => d * (0.5 * (1 + ref.erf(v / Math.SQRT2)) + v * phi(v))), `gelu backward ${tag}`);

      check(keep(P.clamp(x, -0.5, 1.25)), ref.clamp(xr, -0.5, 1.25), `clamp ${tag}`, 0, 0);
      check(keep(P.clampBackward(x, dy, -0.5, 1.25)), refGrad(xr, dyr, (v, d) => (v >= -0.5 && v <= 1.25 ? d : 0)), `clamp backward ${tag}`, 0, 0);

      check(keep(P.add(x, dy)), ref.add(xr, dyr), `add ${tag}`);
      check(keep(P.mul(x, dy)), ref.mul(xr, dyr), `mul ${tag}`);
      const mb = P.mulBackward(x, dy, dy);
      check(keep(mb.da), ref.mul(dyr, dyr), `mul backward da ${tag}`);
      check(keep(mb.db), ref.mul(dyr, xr), `mul backward db ${tag}`);

      owned.forEach((t) => t.dispose());
    });
  });

  test(`activation gradients match float64 finite differences (${threads} thread(s))`, async () => {
    await useEngine(threads);
    GRAD_SHAPES.forEach((s, k) => {
      const C = s[3]!;
      const tag = JSON.stringify(s);
      const x0 = rand(s, 300 + k, -2, 2);
      const xk = away(x0, [0], 0.02); // away from the ReLU-family kink
      const b = rand(s, 400 + k, -2, 2);
      const alpha = rand([C], 500 + k, -0.5, 0.5);
      const alpha1 = ref.rt([1], [0.3]);
      gradCheck({ name: `relu ${tag}`, inputs: [xk], grad: [true], op: ([x]) => A.relu(x!), ref: ([x]) => ref.relu(x!) });
      gradCheck({
        name: `leakyRelu ${tag}`, inputs: [xk], grad: [true],
        op: ([x]) => A.leakyRelu(x!, 0.1), ref: ([x]) => ref.leakyRelu(x!, 0.1),
      });
      gradCheck({
        name: `prelu ${tag}`, inputs: [xk, alpha], grad: [true, true],
        op: ([x, a]) => A.prelu(x!, a!), ref: ([x, a]) => ref.prelu(x!, a!),
      });
      gradCheck({
        name: `prelu shared ${tag}`, inputs: [xk, alpha1], grad: [true, true],
        op: ([x, a]) => A.prelu(x!, a!), ref: ([x, a]) => ref.prelu(x!, a!),
      });
      gradCheck({
        name: `prelu alpha only ${tag}`, inputs: [xk, alpha], grad: [false, true],
        op: ([x, a]) => A.prelu(x!, a!), ref: ([x, a]) => ref.prelu(x!, a!),
      });
      gradCheck({ name: `tanh ${tag}`, inputs: [x0], grad: [true], op: ([x]) => A.tanh(x!), ref: ([x]) => ref.tanh(x!) });
      gradCheck({ name: `sigmoid ${tag}`, inputs: [x0], grad: [true], op: ([x]) => A.sigmoid(x!), ref: ([x]) => ref.sigmoid(x!) });
      gradCheck({ name: `gelu ${tag}`, inputs: [x0], grad: [true], op: ([x]) => A.gelu(x!), ref: ([x]) => ref.gelu(x!) });
      gradCheck({
        name: `clamp ${tag}`, inputs: [away(x0, [-0.5, 0.75], 0.02)], grad: [true],
        op: ([x]) => A.clamp(x!, -0.5, 0.75), ref: ([x]) => ref.clamp(x!, -0.5, 0.75),
      });
      gradCheck({
        name: `add ${tag}`, inputs: [x0, b], grad: [true, true],
        op: ([x, y]) => A.add(x!, y!), ref: ([x, y]) => ref.add(x!, y!),
      });
      gradCheck({
        name: `mul ${tag}`, inputs: [x0, b], grad: [true, true],
        op: ([x, y]) => A.mul(x!, y!), ref: ([x, y]) => ref.mul(x!, y!),
      });
      gradCheck({
        name: `mul(x, x) ${tag}`, inputs: [x0], grad: [true],
        op: ([x]) => A.mul(x!, x!), ref: ([x]) => ref.mul(x!, x!),
      });
      gradCheck({
        name: `chain sigmoid(mul(tanh(x), b)) + x ${tag}`, inputs: [x0, b], grad: [true, true],
        op: ([x, y]) => A.add(A.sigmoid(A.mul(A.tanh(x!), y!)), x!),
        ref: ([x, y]) => ref.add(ref.sigmoid(ref.mul(ref.tanh(x!), y!)), x!),
      });
    });
  });
}

test('activations handle extreme inputs without NaN and follow PyTorch at the kinks', async () => {
  await useEngine(2);
  const xs = [-1e30, -200, -90, -20, -1e-30, -0, 0, 1e-30, 20, 90, 200, 1e30, -0.5, 0.75];
  const x = Tensor.from([1, 1, 2, 7], xs);
  const dy = Tensor.full([1, 1, 2, 7], 1);
  const th = P.tanh(x), sg = P.sigmoid(x);
  assertClose(th.data, xs.map(Math.tanh), 1e-7, 1e-6, 'tanh extremes');
  assertClose(sg.data, xs.map((v) => 1 / (1 + Math.exp(-v))), 1e-7, 1e-6, 'sigmoid extremes');
  // gradients at the kinks: relu/leaky/prelu take the x <= 0 branch at 0; clamp passes at the bounds
  const atZero = Tensor.from([1, 1, 1, 3], [0, 0, 0]);
  const ones = Tensor.full([1, 1, 1, 3], 1);
  const r = P.relu(atZero);
  assert.deepEqual([...P.reluBackward(r, ones).data], [0, 0, 0]);
  assert.deepEqual([...P.leakyReluBackward(atZero, ones, 0.25).data], [0.25, 0.25, 0.25]);
  const bounds = Tensor.from([1, 1, 1, 3], [-0.5, 0.75, 0.7500001]);
  assert.deepEqual([...P.clampBackward(bounds, ones, -0.5, 0.75).data], [1, 1, 0]);
  const big = P.clamp(x, -Infinity, Infinity);
  assert.deepEqual([...big.data], [...Float32Array.from(xs)]);
  [x, dy, th, sg, atZero, ones, r, bounds, big].forEach((t) => t.dispose());
});

test('vectorised tanh and sigmoid stay within a few float32 ulps over a dense sweep', async () => {
  await useEngine(2);
  const xs = Float32Array.from({ length: 30001 }, (_, i) => -15 + i * 0.001);
  const x = Tensor.from([1, 1, 1, xs.length], xs);
  const th = P.tanh(x), sg = P.sigmoid(x);
  const v = [...xs];
  assertClose(th.data, v.map(Math.tanh), 1e-30, 4e-7, 'tanh sweep');
  assertClose(sg.data, v.map((u) => 1 / (1 + Math.exp(-u))), 1e-30, 4e-7, 'sigmoid sweep');
  [x, th, sg].forEach((t) => t.dispose());
});

test('vectorised GELU stays within 3e-7 of the float64 erf form over a dense sweep, and saturates without NaN', async () => {
  await useEngine(2);
  const xs = Float32Array.from({ length: 2001 }, (_, i) => -10 + i * 0.01);
  const ext = [-1e30, -90, 90, 1e30, -0, 0];
  const x = Tensor.from([1, 1, 1, xs.length + ext.length], [...xs, ...ext]);
  const y = P.gelu(x);
  const want = [...xs, ...ext].map((v) => (Math.abs(v) > 50 ? Math.max(v, 0) : 0.5 * v * (1 + ref.erf(v / Math.SQRT2))));
  assertClose(y.data, want, 3e-7, 1e-6, 'gelu sweep');
  [x, y].forEach((t) => t.dispose());
});

test('PReLU alpha gradient is bit-identical on 1 and 2 threads', async () => {
  const xr = rand([2, 33, 35, 5], 7, -1, 1); // 2310 pixels: 3 chunks
  const dyr = rand([2, 33, 35, 5], 8);
  const alphar = rand([5], 9, 0, 0.5);
  const xs = rand([1, 45, 47, 3], 10); // 6345 elements: 7 flat chunks, odd tail
  const dys = rand([1, 45, 47, 3], 11);
  const one = await assertSameOnThreadCounts((): Float64Array[] => {
    const [x, dy, a, x2, dy2] = [xr, dyr, alphar, xs, dys].map(toTensor) as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const a1 = Tensor.from([1], [0.2]);
    const g = P.preluBackward(x, a, dy);
    const g1 = P.preluBackward(x2, a1, dy2);
    const out = [g.dx!, g.dalpha!, g1.dx!, g1.dalpha!].map((t) => toRT(t).data);
    [x, dy, a, x2, dy2, a1, g.dx!, g.dalpha!, g1.dx!, g1.dalpha!].forEach((t) => t.dispose());
    return out;
  });
  // and agrees with the float64 sum
  const da = new Float64Array(5);
  xr.data.forEach((v, i) => { if (v <= 0) da[i % 5] += v * dyr.data[i]!; });
  assertClose(one[1]!, da, 1e-4, 1e-5, 'dalpha vs float64');
  let da1 = 0;
  xs.data.forEach((v, i) => { if (v <= 0) da1 += v * dys.data[i]!; });
  assertClose(one[3]!, [da1], 1e-4, 1e-5, 'shared dalpha vs float64');
});

test('pointwise ops reject bad inputs with errors that name the op and the shapes', async () => {
  await useEngine(1);
  const x = Tensor.zeros([1, 4, 4, 3]);
  const x4 = Tensor.zeros([1, 4, 4, 4]);
  const a5 = Tensor.zeros([5]);
  assert.throws(() => P.prelu(x, a5), /^Error: mvsr: prelu: alpha \[5\] must be a vector of 1 or 3 values \(one per channel of input \[1,4,4,3\]\)/);
  assert.throws(() => P.preluBackward(x, a5, x), /mvsr: preluBackward: alpha \[5\]/);
  assert.throws(() => P.preluBackward(x, Tensor.zeros([3]), x4), /mvsr: preluBackward: shapes differ: input \[1,4,4,3\] vs output gradient \[1,4,4,4\]/);
  assert.throws(() => P.prelu(x, Tensor.zeros([1, 3])), /mvsr: prelu: alpha \[1,3\]/);
  assert.throws(() => P.add(x, x4), /^Error: mvsr: add: shapes differ: a \[1,4,4,3\] vs b \[1,4,4,4\]/);
  assert.throws(() => P.mul(x4, x), /mvsr: mul: shapes differ: a \[1,4,4,4\] vs b \[1,4,4,3\]/);
  assert.throws(() => P.reluBackward(x, x4), /mvsr: reluBackward: shapes differ: output \[1,4,4,3\] vs output gradient \[1,4,4,4\]/);
  assert.throws(() => P.tanhBackward(x, x4), /mvsr: tanhBackward: shapes differ/);
  assert.throws(() => P.sigmoidBackward(x, x4), /mvsr: sigmoidBackward: shapes differ/);
  assert.throws(() => P.leakyReluBackward(x, x4, 0.1), /mvsr: leakyReluBackward: shapes differ: input \[1,4,4,3\]/);
  assert.throws(() => P.clampBackward(x, x4, 0, 1), /mvsr: clampBackward: shapes differ: input \[1,4,4,3\]/);
  assert.throws(() => P.mulBackward(x, x, x4), /mvsr: mulBackward: shapes differ: a \[1,4,4,3\] vs output gradient \[1,4,4,4\]/);
  assert.throws(() => P.clamp(x, 1, 0), /mvsr: clamp: need lo <= hi, got lo=1 hi=0/);
  assert.throws(() => P.clamp(x, NaN, 0), /mvsr: clamp: lo must be a number/);
  assert.throws(() => P.leakyRelu(x, NaN), /mvsr: leakyRelu: slope must be a finite number/);
  const y = P.relu(x);
  y.dispose();
  assert.throws(() => P.relu(y), /disposed tensor of shape \[1,4,4,3\]/);
  [x, x4, a5].forEach((t) => t.dispose());
});

test('pointwise ops accept empty tensors', async () => {
  await useEngine(2);
  const x = Tensor.zeros([0, 4, 4, 3]);
  const a = Tensor.from([3], [0.1, 0.2, 0.3]);
  const outs = [P.relu(x), P.tanh(x), P.add(x, x), P.prelu(x, a)];
  const g = P.preluBackward(x, a, x);
  outs.forEach((t) => assert.deepEqual([...t.shape], [0, 4, 4, 3]));
  assert.deepEqual([...g.dalpha!.data], [0, 0, 0]);
  [x, a, g.dx!, g.dalpha!, ...outs].forEach((t) => t.dispose());
});
