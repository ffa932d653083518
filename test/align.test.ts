// Global motion compensation (autograd/ops/align.ts): the shift estimate recovers a known
// sub-pixel pan of a smooth picture; the bilinear translation matches a float64 reference that
// samples the picture at the moved positions, and its gradient matches finite differences;
// MobileRRN and RLSP with align: 'global' leave a still clip exactly as the baseline does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, gradCheck, mulberry32, randomRT, randomize } from './helpers.js';
import type { RT } from './ref/index.js';
import { estimateShift, translate, type Shift } from '../src/autograd/ops/align.js';
import { Tensor } from '../src/tensor/tensor.js';
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
