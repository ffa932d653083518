// Learning-rate schedules against values worked out by hand from BasicSR's definitions and
// against a step-by-step re-enactment of its chained MultiStepRestartLR; plus the other
// per-step training helpers: model EMA (bit-exact against an f32 emulation, close to float64)
// and gradient clipping (float64 reference, identical on 1 and 2 threads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  lrAt, multiStepLr, cosineAnnealingRestartLr, LRScheduler,
  type MultiStepLRConfig, type CosineAnnealingRestartLRConfig,
} from '../src/train/schedulers.js';
import { ModelEMA } from '../src/train/ema.js';
import { clipGradNorm, gradNorm } from '../src/train/clip.js';
import { Parameter, Sequential, Conv2d, PReLU } from '../src/nn/index.js';
import { Tensor } from '../src/tensor/tensor.js';
import { useEngine, mulberry32, assertClose } from './helpers.js';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

const ms = (milestones: number[], gamma: number, restarts = [0], restart_weights = [1]): MultiStepLRConfig =>
  ({ type: 'MultiStepLR', milestones, gamma, restarts, restart_weights });
const cos = (periods: number[], restart_weights: number[], eta_min: number): CosineAnnealingRestartLRConfig =>
  ({ type: 'CosineAnnealingRestartLR', periods, restart_weights, eta_min });

test('MultiStepLR: hand-computed values (iteration t uses last_epoch t - 1)', () => {
  // milestones 3 and 5 (twice), gamma 0.5, base 1: e = 0..7 -> 1, 1, 1, .5, .5, .125, .125, .125
  const want = [1, 1, 1, 0.5, 0.5, 0.125, 0.125, 0.125];
  want.forEach((w, e) => close(multiStepLr(1, ms([3, 5, 5], 0.5), e + 1), w, `iter ${e + 1}`));
  // restarts at 0 (weight 1) and 4 (weight 0.5), milestones 2 and 6, gamma 0.1, base 2e-4
  const r = ms([2, 6], 0.1, [0, 4], [1, 0.5]);
  const wantR = [2e-4, 2e-4, 2e-5, 2e-5, 1e-4, 1e-4, 1e-5, 1e-5];
  wantR.forEach((w, e) => close(multiStepLr(2e-4, r, e + 1), w, `restart case iter ${e + 1}`));
  // a milestone on a restart is not applied there (BasicSR's restart branch wins)
  close(multiStepLr(1, ms([4], 0.1, [0, 4], [1, 0.5]), 5), 0.5, 'milestone on restart');
  // no restart at 0: the lr starts at base and a milestone at 0 applies at once
  close(multiStepLr(1, ms([0], 0.1, [3], [2]), 1), 0.1, 'milestone 0 without restart 0');
  close(multiStepLr(1, ms([0], 0.1, [3], [2]), 4), 2, 'restart at 3');
  // the ETDS repo's schedule: one milestone at the last iteration: constant for the whole run
  for (const it of [1, 800000, 1600000]) close(multiStepLr(5e-4, ms([1600000], 0.5), it), 5e-4, `ETDS iter ${it}`);
});

/** BasicSR's MultiStepRestartLR re-enacted step by step from its get_lr rule (chained on the previous lr). */
function chainedMultiStep(base: number, s: MultiStepLRConfig, iters: number): number[] {
  const out: number[] = [];
  let lr = base;
  for (let e = 0; e < iters; e++) {
    const ri = s.restarts.indexOf(e);
    if (ri >= 0) lr = base * s.restart_weights[ri]!;
    else {
      const k = s.milestones.filter((m) => m === e).length;
      if (k) lr *= Math.pow(s.gamma, k);
    }
    out.push(lr);
  }
  return out;
}

test('MultiStepLR: closed form equals the chained step-by-step rule on random schedules', () => {
  const rng = mulberry32(5);
  const pick = (n: number, max: number) => Array.from({ length: n }, () => Math.floor(rng() * max));
  for (let trial = 0; trial < 200; trial++) {
    const restarts = [...new Set(pick(Math.floor(rng() * 3), 60))];
    if (rng() < 0.5) restarts.unshift(0);
    const s = ms(pick(Math.floor(rng() * 5), 60), 0.3 + 0.5 * rng(), restarts, restarts.map(() => 0.2 + rng()));
    const chain = chainedMultiStep(1e-3, s, 70);
    chain.forEach((w, e) => assert.ok(Math.abs(multiStepLr(1e-3, s, e + 1) - w) <= 1e-15, `trial ${trial} e=${e}: ${JSON.stringify(s)}`));
  }
});

test('CosineAnnealingRestartLR: hand-computed values and sanity properties', () => {
  const s = cos([4, 4], [1, 0.5], 0);
  const c = Math.cos(Math.PI / 4);
  // e = 0..9: cycle 1 covers e <= 4 (its end point included), cycle 2 covers 5..8, then eta_min
  const want = [1, 0.5 * (1 + c), 0.5, 0.5 * (1 - c), 0, 0.25 * (1 + c), 0.25, 0.25 * (1 - c), 0, 0];
  want.forEach((w, e) => close(cosineAnnealingRestartLr(1, s, e + 1), w, `iter ${e + 1}`));
  // eta_min: eta + w * (base - eta) * (1 + cos) / 2
  close(cosineAnnealingRestartLr(1e-3, cos([10], [1], 1e-5), 6), 1e-5 + 0.5 * (1e-3 - 1e-5), 'half way with eta_min');
  // sanity: inside [eta_min, base * weight], non-increasing inside a cycle, ends at eta_min
  const base = 2e-4, sc = cos([100, 50, 50], [1, 0.5, 0.25], 1e-7);
  let prev = Infinity;
  for (let it = 1; it <= 201; it++) {
    const lr = cosineAnnealingRestartLr(base, sc, it), e = it - 1;
    const w = e <= 100 ? 1 : e <= 150 ? 0.5 : 0.25;
    assert.ok(lr >= 1e-7 - 1e-18 && lr <= 1e-7 + w * (base - 1e-7) + 1e-18, `iter ${it}: ${lr}`);
    if (e !== 101 && e !== 151) assert.ok(lr <= prev + 1e-18, `iter ${it} rises inside a cycle`);
    prev = lr;
  }
  close(cosineAnnealingRestartLr(base, sc, 201), 1e-7, 'end of the last cycle');
  close(cosineAnnealingRestartLr(base, sc, 5000), 1e-7, 'after the last cycle');
});

test("warm-up: BasicSR's base * iter / warmup_iter while iter < warmup_iter, then the schedule", () => {
  const s = ms([], 0.1);
  [0.25, 0.5, 0.75, 1, 1].forEach((w, i) => close(lrAt(1, s, 4, i + 1), w, `iter ${i + 1}`));
  // after warm-up the cosine continues from its own position (last_epoch = iter - 1)
  const c = cos([8], [1], 0);
  close(lrAt(1, c, 4, 3), 0.75, 'warming');
  close(lrAt(1, c, 4, 4), cosineAnnealingRestartLr(1, c, 4), 'handed over');
  for (const w of [-1, 0]) close(lrAt(3e-4, s, w, 1), 3e-4, `warmup_iter ${w}: none`);
});

test('LRScheduler sets the optimizer lr each step, and resumes from its state identically', () => {
  const s = cos([6, 6], [1, 0.5], 1e-6);
  const a = new LRScheduler(1e-3, s, 3);
  const opt = { lr: 0 };
  const first: number[] = [];
  for (let i = 0; i < 5; i++) first.push(a.step(opt));
  assert.equal(opt.lr, first[4]);
  assert.deepEqual(first, [1, 2, 3, 4, 5].map((it) => lrAt(1e-3, s, 3, it)));
  const state = JSON.parse(JSON.stringify(a.state()));
  const b = new LRScheduler(1e-3, s, 3);
  b.load(state);
  assert.equal(b.iter, 5);
  for (let i = 0; i < 8; i++) assert.equal(b.step(), a.step());
  assert.throws(() => new LRScheduler(1e-3, ms([], 0.1)).load(state), /checkpoint's scheduler is CosineAnnealingRestartLR, the config's is MultiStepLR/);
});

// ---- model EMA ------------------------------------------------------------------------------

function net(): Sequential {
  // sizes on both sides of the serial/threaded threshold, with odd tails
  return new Sequential(new Conv2d(3, 7, 3), new PReLU(7), new Conv2d(7, 67, 1), new Conv2d(67, 61, 3));
}

function fill(m: Sequential, rng: () => number, scale: number): void {
  for (const p of m.parameters()) {
    const d = p.value.data;
    for (let i = 0; i < d.length; i++) d[i] = scale * (2 * rng() - 1);
  }
}

async function emaRun(threads: number, decay: number, steps: number) {
  await useEngine(threads);
  const rng = mulberry32(11);
  const m = net();
  fill(m, rng, 1);
  const ema = new ModelEMA(m, decay);
  const names = ema.names;
  // emulations of the kernel (f32 mul, f32 mul, f32 add) and the exact float64 recurrence
  const emu = new Map(names.map((n) => [n, Float32Array.from(ema.get(n)!.data)]));
  const f64 = new Map(names.map((n) => [n, Float64Array.from(ema.get(n)!.data)]));
  const d32 = Math.fround(decay), b32 = Math.fround(1 - decay);
  for (let s = 0; s < steps; s++) {
    fill(m, rng, 1);
    ema.update(m);
    for (const [n, p] of m.namedParameters()) {
      const e = emu.get(n)!, r = f64.get(n)!, x = p.value.data;
      for (let i = 0; i < e.length; i++) {
        e[i] = Math.fround(Math.fround(d32 * e[i]!) + Math.fround(b32 * x[i]!));
        r[i] = decay * r[i]! + (1 - decay) * x[i]!;
      }
    }
  }
  const got = new Map(names.map((n) => [n, ema.get(n)!.toArray()]));
  return { m, ema, got, emu, f64 };
}

test('model EMA: bit-exact against an f32 emulation, close to float64, identical on 1 and 2 threads', async () => {
  const one = await emaRun(1, 0.9, 6);
  for (const [n, g] of one.got) {
    assert.deepEqual(g, one.emu.get(n), `${n}: f32 emulation`);
    assertClose(g, one.f64.get(n)!, 1e-6, 1e-6, `${n}: float64 recurrence`);
  }
  assert.ok([...one.got.values()].some((g) => g.length > 16384), 'a tensor large enough for the threaded path');
  one.ema.dispose();
  one.m.dispose();
  const two = await emaRun(2, 0.9, 6);
  for (const [n, g] of two.got) assert.deepEqual(g, one.got.get(n), `${n}: 1 vs 2 threads`);
  // stateDict / load / copyTo
  const sd = two.ema.stateDict();
  const other = new ModelEMA(two.m, 0.999);
  other.load(sd);
  for (const n of other.names) assert.deepEqual(other.get(n)!.toArray(), sd[n]!.data);
  other.copyTo(two.m);
  for (const [n, p] of two.m.namedParameters()) assert.deepEqual(p.value.toArray(), sd[n]!.data, `${n}: copyTo`);
  const bad = { ...sd, '0.weight': { shape: [1], data: new Float32Array(1) } };
  assert.throws(() => other.load(bad), /ModelEMA\.load: 0\.weight has shape \[1\], the EMA holds \[7,3,3,3\]/);
  assert.throws(() => other.load({}), /ModelEMA\.load: missing keys \[0\.weight/);
  assert.throws(() => new ModelEMA(two.m, 1), /decay must be a number in \[0, 1\)/);
  const small = new Sequential(new Conv2d(3, 7, 3));
  assert.throws(() => two.ema.update(small), /the model lacks \d+ parameter\(s\) the EMA tracks/);
  // decay 0 copies the parameters
  fill(two.m, mulberry32(3), 1);
  two.ema.update(two.m, 0);
  for (const [n, p] of two.m.namedParameters()) assert.deepEqual(two.ema.get(n)!.toArray(), p.value.toArray(), `${n}: decay 0`);
  [two.ema, other].forEach((e) => e.dispose());
  [two.m, small].forEach((m) => m.dispose());
});

// ---- gradient clipping ----------------------------------------------------------------------

const GRAD_SIZES = [1, 3, 4, 7, 4096, 4097, 20001, 70003];

function makeParams(seed: number, scale: number): Parameter[] {
  const rng = mulberry32(seed);
  return GRAD_SIZES.map((n) => {
    const p = new Parameter(Tensor.zeros([n]));
    p.grad = Tensor.from([n], Float32Array.from({ length: n }, () => scale * (2 * rng() - 1) * (rng() < 0.01 ? 50 : 1)));
    return p;
  });
}

function norm64(params: Parameter[]): number {
  let s = 0;
  for (const p of params) for (const g of p.grad!.data) s += g * g;
  return Math.sqrt(s);
}

async function clipRun(threads: number, maxNorm: number) {
  await useEngine(threads);
  const ps = makeParams(21, 0.01);
  const before = ps.map((p) => p.grad!.toArray());
  const ref = norm64(ps);
  const norm = clipGradNorm(ps, maxNorm);
  const after = ps.map((p) => p.grad!.toArray());
  const normAfter = gradNorm(ps);
  ps.forEach((p) => { p.zeroGrad(); p.value.dispose(); });
  return { before, after, ref, norm, normAfter };
}

test('gradient clipping: global norm against float64, torch scaling rule, identical on 1 and 2 threads', async () => {
  for (const maxNorm of [0.5, 1e6]) {
    const one = await clipRun(1, maxNorm);
    assert.ok(Math.abs(one.norm - one.ref) <= 1e-12 * one.ref, `norm ${one.norm} vs float64 ${one.ref}`);
    if (one.ref > maxNorm) {
      const coef = Math.fround(maxNorm / (one.ref + 1e-6));
      one.after.forEach((g, i) => assert.deepEqual(g, one.before[i]!.map((x) => Math.fround(x * coef)), `grad ${i} scaled by ${coef}`));
      assert.ok(Math.abs(one.normAfter - maxNorm) <= 1e-5 * maxNorm, `norm after clipping ${one.normAfter}`);
    } else {
      one.after.forEach((g, i) => assert.deepEqual(g, one.before[i], `grad ${i} untouched below maxNorm`));
    }
    const two = await clipRun(2, maxNorm);
    assert.equal(two.norm, one.norm, '1 vs 2 threads: norm');
    two.after.forEach((g, i) => assert.deepEqual(g, one.after[i], `1 vs 2 threads: grad ${i}`));
  }
  // parameters without gradients count as zero; NaN leaves gradients alone and is returned
  await useEngine(2);
  const none = new Parameter(Tensor.zeros([5]));
  assert.equal(clipGradNorm([none], 1), 0);
  const p = new Parameter(Tensor.zeros([3]));
  p.grad = Tensor.from([3], [1, Number.NaN, 2]);
  assert.ok(Number.isNaN(clipGradNorm([p, none], 1)));
  assert.deepEqual([...p.grad.data], [1, Number.NaN, 2]);
  assert.throws(() => clipGradNorm([p], 0), /maxNorm must be a positive finite number/);
  p.zeroGrad();
  [p, none].forEach((q) => q.value.dispose());
});
