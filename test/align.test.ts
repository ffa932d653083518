// Global motion compensation (autograd/ops/align.ts): the shift estimate recovers a known
// sub-pixel pan of a smooth picture; the bilinear translation matches a float64 reference that
// samples the picture at the moved positions, and its gradient matches finite differences;
// MobileRRN and RLSP with align: 'global' leave a still clip exactly as the baseline does.
// The kernels (src/kernels/align.ts) against the plain JavaScript reference (test/ref/align.ts):
// the estimate bit for bit on any thread count, the translation and its transpose to float32
// rounding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, gradCheck, mulberry32, randomRT, randomize, maxAbsDiff } from './helpers.js';
import type { RT } from './ref/index.js';
import { estimateShiftRef, translateRef as translateRefF32, translateTransposedRef } from './ref/align.js';
import { estimateShift, translate, translateBy, type Shift } from '../src/autograd/ops/align.js';
import {
  estimateShiftTensor, shiftsOf, translateTensor, translateBackward, translateByShifts, translateByShiftsBackward, searchRadius,
} from '../src/tensor/ops/align.js';
import { Tensor } from '../src/tensor/tensor.js';
import { initEngine } from '../src/tensor/engine.js';
import { leaf, noGrad, clearTape } from '../src/autograd/var.js';
import { createVideoModel } from '../src/models/registry.js';
import { forwardClip } from '../src/models/vsr.js';

/** A smooth picture (sum of oriented sinusoids) sampled at (x - dx, y - dy): the picture moved by (dx, dy). */
function picture(N: number, H: number, W: number, C: number, moves: Shift[]): Float32Array {
  const out = new Float32Array(N * H * W * C);
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const u = x - moves[n]!.dx, v = y - moves[n]!.dy;
        for (let c = 0; c < C; c++) {
          out[((n * H + y) * W + x) * C + c] = 0.5 + 0.2 * Math.sin(u / 2.3 + v / 3.1 + c) + 0.15 * Math.cos(u / 4.7 - v / 1.9) + 0.1 * Math.sin((u * v) / 40 + n);
        }
      }
    }
  }
  return out;
}

test('estimateShift recovers integer and sub-pixel pans, one per batch item', async () => {
  await useEngine(1);
  const N = 4, H = 40, W = 48, C = 3;
  const moves: Shift[] = [{ dx: 2, dy: -1 }, { dx: -1.3, dy: 0.6 }, { dx: 0, dy: 0 }, { dx: 3.4, dy: -2.7 }];
  const prev = Tensor.from([N, H, W, C], picture(N, H, W, C, [0, 0, 0, 0].map(() => ({ dx: 0, dy: 0 }))));
  const cur = Tensor.from([N, H, W, C], picture(N, H, W, C, moves));
  const got = estimateShift(prev, cur, 4);
  got.forEach((g, n) => {
    const m = moves[n]!;
    const tol = Number.isInteger(m.dx) && Number.isInteger(m.dy) ? 0.02 : 0.15;
    assert.ok(Math.abs(g.dx - m.dx) <= tol && Math.abs(g.dy - m.dy) <= tol, `item ${n}: estimated (${g.dx.toFixed(3)}, ${g.dy.toFixed(3)}), moved (${m.dx}, ${m.dy})`);
  });
  // beyond the search radius the estimate stays within a pixel of it
  const far = Tensor.from([1, H, W, C], picture(1, H, W, C, [{ dx: 7, dy: 0 }]));
  const one = Tensor.from([1, H, W, C], picture(1, H, W, C, [{ dx: 0, dy: 0 }]));
  const g = estimateShift(one, far, 2)[0]!;
  assert.ok(Math.abs(g.dx) <= 3 && Math.abs(g.dy) <= 3, `radius 2: (${g.dx}, ${g.dy})`);
  for (const t of [prev, cur, far, one]) t.dispose();
});

test('estimateShift on degenerate pictures: flat frames give no motion, bands give the motion across them only', async () => {
  await useEngine(1);
  const H = 40, W = 48;
  const flat = Tensor.full([2, H, W, 3], 0.4);
  assert.deepEqual(estimateShift(flat, flat, 4), [{ dx: 0, dy: 0 }, { dx: 0, dy: 0 }]);
  // horizontal bands moved down by 2 rows: no information along x, so dx stays 0
  const bands = (dy: number) => Tensor.from([1, H, W, 3], Float32Array.from({ length: H * W * 3 }, (_, i) => 0.5 + 0.3 * Math.sin((Math.floor(i / (3 * W)) - dy) / 2.5)));
  const a = bands(0), b = bands(2);
  const g = estimateShift(a, b, 4)[0]!;
  assert.equal(g.dx, 0, `dx ${g.dx}`);
  assert.ok(Math.abs(g.dy - 2) <= 0.05, `dy ${g.dy}`);
  for (const t of [flat, a, b]) t.dispose();
});

test('the estimate and the translation together: the earlier frame moved by the estimate lands on the later one, and the later one moved back lands on the earlier', async () => {
  await useEngine(1);
  const H = 36, W = 44, C = 3, move = { dx: 1.6, dy: -0.7 };
  const p0 = picture(1, H, W, C, [{ dx: 0, dy: 0 }]), p1 = picture(1, H, W, C, [move]);
  const t0 = leaf(Tensor.from([1, H, W, C], p0)), t1 = leaf(Tensor.from([1, H, W, C], p1));
  const d = estimateShift(t0.value, t1.value, 4);
  const interior = (img: Float32Array, ref: Float32Array) => {
    let worst = 0;
    for (let y = 4; y < H - 4; y++) for (let x = 4; x < W - 4; x++) for (let c = 0; c < C; c++) worst = Math.max(worst, Math.abs(img[(y * W + x) * C + c]! - ref[(y * W + x) * C + c]!));
    return worst;
  };
  const unmoved = interior(p0, p1);
  // as MobileRRN moves the previous frame (and RLSP the previous one)
  const fwd = noGrad(() => translate(t0, d)).value.toArray();
  // as RLSP moves the next frame: by minus the estimate from the current one to it
  const back = noGrad(() => translate(t1, d.map((m) => ({ dx: -m.dx, dy: -m.dy })))).value.toArray();
  assert.ok(interior(fwd, p1) < unmoved / 5, `forward: ${interior(fwd, p1)} vs ${unmoved} unmoved`);
  assert.ok(interior(back, p0) < unmoved / 5, `backward: ${interior(back, p0)} vs ${unmoved} unmoved`);
  // the wrong direction does not
  const wrong = noGrad(() => translate(t0, d.map((m) => ({ dx: -m.dx, dy: -m.dy })))).value.toArray();
  assert.ok(interior(wrong, p1) > unmoved / 2);
  clearTape();
  t0.value.dispose();
  t1.value.dispose();
});

/** float64 reference: out(n, y, x) = in(n, clamp(y - dy), clamp(x - dx)) by bilinear weights. */
function translateRef(x: RT, shifts: Shift[]): RT {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  const out = new Float64Array(x.data.length);
  const at = (n: number, yy: number, xx: number, c: number) => x.data[((n * H + Math.min(H - 1, Math.max(0, yy))) * W + Math.min(W - 1, Math.max(0, xx))) * C + c]!;
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        const sy = y - shifts[n]!.dy, sx = xx - shifts[n]!.dx, y0 = Math.floor(sy), x0 = Math.floor(sx), fy = sy - y0, fx = sx - x0;
        for (let c = 0; c < C; c++) {
          out[((n * H + y) * W + xx) * C + c] = (1 - fy) * ((1 - fx) * at(n, y0, x0, c) + fx * at(n, y0, x0 + 1, c)) + fy * ((1 - fx) * at(n, y0 + 1, x0, c) + fx * at(n, y0 + 1, x0 + 1, c));
        }
      }
    }
  }
  return { shape: [...x.shape], data: out };
}

test('translate: forward as a float64 bilinear reference with clamped edges, gradient as finite differences', async () => {
  await useEngine(1);
  const shifts: Shift[] = [{ dx: 1.25, dy: -0.5 }, { dx: -2, dy: 3 }, { dx: 0.3, dy: 0.9 }];
  const x = randomRT([3, 5, 6, 2], mulberry32(3));
  gradCheck({ name: 'translate', inputs: [x], grad: [true], op: ([v]) => translate(v!, shifts), ref: ([r]) => translateRef(r!, shifts) });
  // an integer move is an exact shift of the interior
  const t = leaf(Tensor.from([1, 5, 6, 1], Float32Array.from({ length: 30 }, (_, i) => i)));
  const y = noGrad(() => translate(t, [{ dx: 2, dy: 1 }])).value.data;
  assert.equal(y[(3 * 6 + 4)], 2 * 6 + 2, 'out(4, 3) = in(2, 2)');
  clearTape();
  t.value.dispose();
});

for (const [arch, args] of [['MobileRRN', { upscale: 2, num_feat: 6, num_block: 1 }], ['RLSP', { upscale: 2, num_feat: 6, num_layer: 3 }]] as const) {
  test(`${arch} align: global equals the baseline on a still clip and differs on a panned one`, async () => {
    await useEngine(1);
    const base = createVideoModel(arch, args), aligned = createVideoModel(arch, { ...args, align: 'global', align_radius: 3 });
    randomize(base, 0.3, 11);
    aligned.loadStateDict(base.stateDict());
    const H = 24, W = 28;
    const run = (m: typeof base, moves: Shift[]) => {
      const xs = moves.map((mv) => leaf(Tensor.from([1, H, W, 3], picture(1, H, W, 3, [mv]))));
      try {
        return noGrad(() => forwardClip(m, xs)).map((y) => y.value.toArray());
      } finally {
        clearTape();
        xs.forEach((v) => v.value.dispose());
      }
    };
    const still = Array.from({ length: 4 }, () => ({ dx: 0, dy: 0 }));
    assert.deepEqual(run(aligned, still), run(base, still), 'no motion, no change');
    // a flat grey clip (a fade, a blank frame): no texture, still no motion
    const flat = () => Array.from({ length: 4 }, () => leaf(Tensor.full([1, H, W, 3], 0.3)));
    const outs = [aligned, base].map((m) => {
      const xs = flat();
      try { return noGrad(() => forwardClip(m, xs)).map((y) => y.value.toArray()); } finally { clearTape(); xs.forEach((v) => v.value.dispose()); }
    });
    assert.deepEqual(outs[0], outs[1], 'a flat clip is not moved');
    const pan = Array.from({ length: 4 }, (_, t) => ({ dx: 1.5 * t, dy: -t }));
    const a = run(aligned, pan), b = run(base, pan);
    // MobileRRN's first frame has no history to move; RLSP's reads the next frame, which moves
    if (arch === 'MobileRRN') assert.deepEqual(a[0], b[0], 'the first frame has no history to move');
    assert.ok(a.slice(1).every((f, t) => f.some((v, i) => v !== b[t + 1]![i])), 'later frames read the moved state');
    assert.throws(() => createVideoModel(arch, { ...args, align: 'flow' }), /align must be 'none' or 'global'/);
    base.dispose();
    aligned.dispose();
  });
}

/**
 * A random smooth picture (a few random oriented sinusoids and a faint random texture, per
 * channel) seen through per-item sub-pixel pans: [N,H,W,C] for each of `moves`.
 */
function randomClip(rng: () => number, N: number, H: number, W: number, C: number, frames: Shift[][]): Float32Array[] {
  const waves = Array.from({ length: N }, () => Array.from({ length: 4 }, () => ({
    kx: (rng() - 0.5) * 1.2, ky: (rng() - 0.5) * 1.2, ph: rng() * 6.3, amp: 0.05 + 0.15 * rng(), ch: Array.from({ length: C }, () => 0.5 + rng()),
  })));
  return frames.map((moves) => {
    const out = new Float32Array(N * H * W * C);
    for (let n = 0; n < N; n++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const u = x - moves[n]!.dx, v = y - moves[n]!.dy;
          for (let c = 0; c < C; c++) {
            let s = 0.5;
            for (const w of waves[n]!) s += w.amp * w.ch[c]! * Math.sin(w.kx * u + w.ky * v + w.ph + c);
            out[((n * H + y) * W + x) * C + c] = s;
          }
        }
      }
    }
    return out;
  });
}

const same = (a: number, b: number) => Object.is(a, b);

test('kernel estimateShift equals the JavaScript reference bit for bit (sizes, batch, channels, small frames) on 1 and 2 threads and both SIMD builds', async () => {
  const rng = mulberry32(2024);
  // [N, H, W, C, radius]: > 64x64 searches every second pixel; small frames reduce the radius (to 0)
  const cases: [number, number, number, number, number][] = [
    [3, 40, 48, 3, 4], [2, 72, 90, 3, 4], [1, 66, 70, 1, 3], [2, 9, 11, 4, 4], [1, 6, 7, 2, 4], [2, 3, 3, 3, 2], [1, 1, 5, 3, 1], [2, 31, 17, 5, 6],
  ];
  const inputs = cases.map(([N, H, W, C, r]) => {
    const moves = () => Array.from({ length: N }, () => ({ dx: (rng() - 0.5) * 2 * (r + 0.8), dy: (rng() - 0.5) * 2 * (r + 0.8) }));
    const zero = Array.from({ length: N }, () => ({ dx: 0, dy: 0 }));
    const [a, b, c] = randomClip(rng, N, H, W, C, [zero, moves(), moves()]);
    return { shape: [N, H, W, C], r, frames: [a!, b!, c!] };
  });
  const refs = inputs.map(({ shape, r, frames: [a, b, c] }) => [
    estimateShiftRef({ shape, data: a! }, { shape, data: b! }, r),
    estimateShiftRef({ shape, data: b! }, { shape, data: c! }, r),
    estimateShiftRef({ shape, data: a! }, { shape, data: a! }, r),
  ]);
  // the reference itself finds the pans where the picture has room for it (a sanity check of the data)
  assert.ok(Math.abs(refs[0]![0]![0]!.dx - 0) < 10);
  const perThreads: Shift[][][][] = [];
  // the default build (relaxed SIMD where supported) on 1 and 2 threads, and plain SIMD128
  for (const [threads, simd] of [[1, 'auto'], [2, 'auto'], [2, 'simd128']] as const) {
    await initEngine({ threads, simd });
    const got = inputs.map(({ shape, r, frames }) => {
      const [a, b, c] = frames.map((f) => Tensor.from(shape, f));
      try {
        return [estimateShift(a!, b!, r), estimateShift(b!, c!, r), estimateShift(a!, a!, r)];
      } finally {
        for (const t of [a, b, c]) t!.dispose();
      }
    });
    got.forEach((pairs, i) => pairs.forEach((shifts, k) => shifts.forEach((s, n) => {
      const e = refs[i]![k]![n]!;
      assert.ok(same(s.dx, e.dx) && same(s.dy, e.dy), `threads ${threads}, case ${cases[i]}, pair ${k}, item ${n}: kernel (${s.dx}, ${s.dy}) vs reference (${e.dx}, ${e.dy})`);
    })));
    // equal frames: exactly no motion
    got.forEach((pairs) => pairs[2]!.forEach((s) => assert.ok(s.dx === 0 && s.dy === 0)));
    // the float32 tensor form holds the same values rounded
    const { shape, r, frames } = inputs[0]!;
    const [a, b] = frames.map((f) => Tensor.from(shape, f));
    const t = estimateShiftTensor(a!, b!, r);
    assert.deepEqual(t.shape, [shape[0], 1, 1, 2]);
    assert.deepEqual(shiftsOf(t), refs[0]![0]!.map((s) => ({ dx: Math.fround(s.dx), dy: Math.fround(s.dy) })));
    for (const x of [a, b, t]) x!.dispose();
    perThreads.push(got);
  }
  assert.deepEqual(perThreads[0], perThreads[1], '1 and 2 threads');
  assert.deepEqual(perThreads[0], perThreads[2], 'relaxed and plain SIMD builds');
  assert.equal(searchRadius(9, 11, 4), 1);
  assert.equal(searchRadius(3, 3, 2), 0);
});

test('estimateShift errors name the problem', async () => {
  await useEngine(1);
  const a = Tensor.zeros([1, 8, 8, 3]), b = Tensor.zeros([1, 8, 9, 3]), c = Tensor.zeros([8, 8, 3]);
  assert.throws(() => estimateShift(a, b, 2), /mvsr: estimateShift: frames of shapes \[1,8,8,3\] and \[1,8,9,3\]/);
  assert.throws(() => estimateShiftTensor(c, c, 2), /mvsr: estimateShift: earlier frame must be NHWC/);
  assert.throws(() => estimateShift(a, a, -1), /mvsr: estimateShift: radius -1/);
  for (const t of [a, b, c]) t.dispose();
});

/** Shifts times f, as the kernel forms them from float32 values: f64(f32(d)) * f. */
const scaled = (shifts: Shift[], f: number, f32 = true) => shifts.map((s) => ({ dx: (f32 ? Math.fround(s.dx) : s.dx) * f, dy: (f32 ? Math.fround(s.dy) : s.dy) * f }));

test('translate kernels: forward as the reference (factors 1, 4, -1, shifts beyond the frame), transpose as the reference and the adjoint, on 1 and 2 threads', async () => {
  const shapes: [number, number, number, number][] = [[3, 7, 9, 1], [3, 6, 5, 2], [3, 8, 11, 3], [3, 5, 6, 4], [3, 9, 4, 5], [3, 4, 7, 8], [3, 1, 1, 3], [3, 12, 13, 16]];
  const outs: Float32Array[][] = [];
  for (const threads of [1, 2]) {
    await useEngine(threads);
    const rng = mulberry32(77);
    const mine: Float32Array[] = [];
    for (const shape of shapes) {
      const [N, H, W] = shape;
      const x = randomRT(shape, rng), g = randomRT(shape, rng);
      const shiftSets: Shift[][] = [
        [{ dx: 1.25, dy: -0.5 }, { dx: -2, dy: 3 }, { dx: 0.3, dy: 0.9 }],
        [{ dx: W + 2.7, dy: -H - 1.2 }, { dx: -3 * W - 0.4, dy: 2 * H + 0.6 }, { dx: 0, dy: 0.5 }],
        Array.from({ length: N }, () => ({ dx: (rng() - 0.5) * 2 * (W + 1), dy: (rng() - 0.5) * 2 * (H + 1) })),
      ];
      for (const shifts of shiftSets) {
        const st = Tensor.from([N, 1, 1, 2], shifts.flatMap((s) => [s.dx, s.dy]));
        const xt = Tensor.from(shape, x.data), gt = Tensor.from(shape, g.data);
        for (const f of [1, 4, -1, 0.5]) {
          const eff = scaled(shifts, f);
          const y = translateTensor(xt, st, f);
          const yRef = translateRefF32({ shape, data: xt.data }, eff);
          assert.ok(maxAbsDiff(y.data, yRef) <= 1e-6, `forward ${shape} f=${f}: ${maxAbsDiff(y.data, yRef)}`);
          const gx = translateBackward(gt, st, f);
          // against float64 sums, to float32 rounding of the sum of the magnitudes (M^T |g|): the
          // clamped edges sum many terms
          const gRef = translateTransposedRef({ shape, data: gt.data }, eff, true);
          const gAbs = translateTransposedRef({ shape, data: gt.data.map(Math.abs) }, eff, true);
          for (let i = 0; i < gRef.length; i++) {
            assert.ok(Math.abs(gx.data[i]! - gRef[i]!) <= 1e-6 * (1 + gAbs[i]!), `transpose ${shape} f=${f} at ${i}: ${gx.data[i]} vs ${gRef[i]}`);
          }
          // and the original float32 scatter
          assert.ok(maxAbsDiff(gx.data, translateTransposedRef({ shape, data: gt.data }, eff)) <= 1e-6 * (1 + Math.max(...gAbs)));
          // adjoint: <M x, g> = <x, M^T g> in float64
          let l = 0, r = 0;
          for (let i = 0; i < x.data.length; i++) {
            l += yRef[i]! * gt.data[i]!;
            r += xt.data[i]! * gx.data[i]!;
          }
          assert.ok(Math.abs(l - r) <= 1e-5 * (1 + Math.abs(l)), `adjoint ${shape} f=${f}: ${l} vs ${r}`);
          // accumulation into an existing tensor
          const acc = Tensor.from(shape, x.data);
          translateBackward(gt, st, f, acc);
          for (let i = 0; i < gRef.length; i++) assert.equal(acc.data[i], Math.fround(xt.data[i]! + gx.data[i]!));
          mine.push(y.toArray(), gx.toArray());
          for (const t of [y, gx, acc]) t.dispose();
        }
        // float64 shifts (the autograd path): the same reference on the unrounded values
        const y64 = translateByShifts(xt, shifts);
        assert.ok(maxAbsDiff(y64.data, translateRefF32({ shape, data: xt.data }, shifts)) <= 1e-6);
        const g64 = translateByShiftsBackward(gt, shifts);
        const gAbs64 = translateTransposedRef({ shape, data: gt.data.map(Math.abs) }, shifts, true);
        assert.ok(maxAbsDiff(g64.data, translateTransposedRef({ shape, data: gt.data }, shifts, true)) <= 1e-6 * (1 + Math.max(...gAbs64)));
        mine.push(y64.toArray(), g64.toArray());
        for (const t of [st, xt, gt, y64, g64]) t.dispose();
      }
    }
    outs.push(mine);
  }
  assert.equal(outs[0]!.length, outs[1]!.length);
  outs[0]!.forEach((a, i) => assert.deepEqual(a, outs[1]![i], `output ${i} differs between 1 and 2 threads`));
});

test('translate kernels on the models\' sizes: integer moves are exact, no move copies, bad shifts are refused', async () => {
  await useEngine(2);
  const shape = [2, 20, 24, 6];
  const x = Tensor.from(shape, Float32Array.from({ length: 2 * 20 * 24 * 6 }, (_, i) => (i % 977) / 97));
  const st = Tensor.from([2, 1, 1, 2], [2, -3, 0, 0]);
  const y = translateTensor(x, st, 2);
  const at = (d: Float32Array, n: number, yy: number, xx: number, c: number) => d[((n * 20 + Math.min(19, Math.max(0, yy))) * 24 + Math.min(23, Math.max(0, xx))) * 6 + c]!;
  for (let yy = 0; yy < 20; yy++) for (let xx = 0; xx < 24; xx++) for (let c = 0; c < 6; c++) {
    assert.equal(at(y.data, 0, yy, xx, c), at(x.data, 0, yy + 6, xx - 4, c));
    assert.equal(at(y.data, 1, yy, xx, c), at(x.data, 1, yy, xx, c));
  }
  // no item moves: an exact copy, also with a non-finite value next to a finite one
  const still = Tensor.from([2, 1, 1, 2], [0, 0, 0, 0]), odd = x.clone();
  odd.data[7] = Infinity;
  const copy = translateTensor(odd, st, 0), copy2 = translateTensor(odd, still, 4);
  assert.deepEqual(copy.toArray(), odd.toArray());
  assert.deepEqual(copy2.toArray(), odd.toArray());
  for (const t of [still, odd, copy, copy2]) t.dispose();
  assert.throws(() => translateTensor(x, Tensor.from([1, 1, 1, 2], [0, 0]), 1), /mvsr: translate: shift must be \[2,1,1,2\]/);
  const bad = Tensor.from([2, 1, 1, 2], [0, NaN, 0, 0]);
  assert.throws(() => translateTensor(x, bad), /mvsr: translate: shift of item 0 has dy = NaN/);
  assert.throws(() => translateTensor(x, st, Infinity), /factor Infinity/);
  for (const t of [x, st, y, bad]) t.dispose();
});

test('translateBy: a shift tensor times a factor, gradient as finite differences', async () => {
  await useEngine(2);
  const shifts = [{ dx: 0.75, dy: -0.25 }, { dx: -1.5, dy: 2.125 }];
  const st = Tensor.from([2, 1, 1, 2], shifts.flatMap((s) => [s.dx, s.dy]));
  for (const f of [4, -1]) {
    const x = randomRT([2, 6, 7, 3], mulberry32(5 + f));
    gradCheck({ name: `translateBy x${f}`, inputs: [x], grad: [true], op: ([v]) => translateBy(v!, st, f), ref: ([r]) => translateRef(r!, scaled(shifts, f)) });
  }
  st.dispose();
});
