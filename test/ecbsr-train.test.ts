// ECBSR training with the differentiable re-parameterisation: every ECB folds its five branches
// into one 3x3 kernel and bias inside the autograd graph (src/autograd/ops/reparam.ts) and runs
// one conv. Checks: the fold ops against float64 finite differences; the branch forward against
// a float64 transcription of the reference SeqConv3x3 (1x1 output padded with b0, borders
// included); folded == multi-branch forward and gradients at x2/x3/x4 with PReLU and ReLU; and
// deploy() equal to both. EFDN's EDBB (ECBSR's edge branches plus a 1x1 conv, optionally the
// 1x1-3x3 branch and the identity) the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, gradCheck, mulberry32, maxAbsDiff } from './helpers.js';
import type { RT } from './ref/index.js';
import { Tensor, liveTensorCount } from '../src/tensor/tensor.js';
import { leaf, noGrad, clearTape, backward, tapeLength, type Var } from '../src/autograd/var.js';
import { ecbFoldWeight, ecbFoldBias, type FoldBranches } from '../src/autograd/ops/reparam.js';
import { manualSeed } from '../src/nn/init.js';
import type { Module } from '../src/nn/module.js';
import { ECB, ECBSR, SeqConv3x3 } from '../src/models/ecbsr.js';
import { EDBB, EFDNEDBB } from '../src/models/efdn.js';

const SOBEL_X = [1, 0, -1, 2, 0, -2, 1, 0, -1];
const SOBEL_Y = [1, 2, 1, 0, 0, 0, -1, -2, -1];
const LAPLACIAN = [0, 1, 0, 1, -4, 1, 0, 1, 0];

function randomImage(H: number, W: number, seed: number, C = 3): Tensor {
  const r = mulberry32(seed);
  return Tensor.from([1, H, W, C], Array.from({ length: H * W * C }, () => r()));
}

/**
 * Every trainable parameter U(-a, a), edge-branch scales U(-2a, 2a) (the reference initialises
 * them at ~1e-3, which would hide a wrong sobel/laplacian fold); the fixed masks untouched.
 */
function randomize(m: Module, a: number, seed: number): void {
  const r = mulberry32(seed);
  for (const [n, p] of m.namedParameters()) {
    if (/(^|\.)mask$/.test(n)) continue;
    const s = /\.scale$/.test(n) ? 2 * a : a;
    const d = p.value.data;
    for (let i = 0; i < d.length; i++) d[i] = (2 * r() - 1) * s;
  }
}

function forwardCopy(f: () => Var): Float32Array {
  try {
    return noGrad(f).value.toArray();
  } finally {
    clearTape();
  }
}

// ---- the fold ops: forward vs float64, gradients vs float64 finite differences ----------------

const O = 2, I = 3, M = 4, K = 3, kk = 9;
/** Three edge branches: sobel-x and laplacian (tap sums 0) and a random mask (non-zero tap sums, so the b0/scale terms of the bias count). */
const masks = [
  Array.from({ length: O }, () => SOBEL_X).flat(),
  Array.from({ length: O }, () => LAPLACIAN).flat(),
  (() => { const r = mulberry32(77); return Array.from({ length: O * kk }, () => 2 * r() - 1); })(),
];

/** Inputs in order: w, b, seq (k0, b0, k1, b1), then per edge (k0, b0, scale, bias). */
function foldShapes(): number[][] {
  const s: number[][] = [[O, I, K, K], [O], [M, I, 1, 1], [M], [O, M, K, K], [O]];
  for (let e = 0; e < masks.length; e++) s.push([O, I, 1, 1], [O], [O, 1, 1, 1], [O]);
  return s;
}

function foldBranchesOf(v: Var[]): FoldBranches {
  return {
    outPlanes: O, inPlanes: I, kernel: K,
    conv: [{ w: v[0]!, b: v[1]! }],
    seq: [{ k0: v[2]!, b0: v[3]!, k1: v[4]!, b1: v[5]! }],
    edge: masks.map((mask, e) => ({ k0: v[6 + 4 * e]!, b0: v[7 + 4 * e]!, scale: v[8 + 4 * e]!, bias: v[9 + 4 * e]!, mask })),
  };
}

/** float64 fold, written from the branch definitions (the reference ECB.rep_params). */
function refFold(ins: RT[]): { W: RT; B: RT } {
  const W = new Float64Array(O * I * kk), B = new Float64Array(O);
  const [w, b, k0, b0, k1, b1] = ins.map((r) => r.data) as Float64Array[];
  for (let j = 0; j < W.length; j++) W[j] = w![j]!;
  for (let o = 0; o < O; o++) B[o] = b![o]! + b1![o]!;
  // conv1x1 -> conv3x3: W = k1 (o,m,t) . k0 (m,i); B += sum_{m,t} k1 b0
  for (let o = 0; o < O; o++) for (let m = 0; m < M; m++) for (let t = 0; t < kk; t++) {
    const k = k1![(o * M + m) * kk + t]!;
    B[o]! += k * b0![m]!;
    for (let i = 0; i < I; i++) W[(o * I + i) * kk + t]! += k * k0![m * I + i]!;
  }
  masks.forEach((mask, e) => {
    const [ek0, eb0, sc, bias] = ins.slice(6 + 4 * e, 10 + 4 * e).map((r) => r.data) as Float64Array[];
    for (let o = 0; o < O; o++) {
      B[o]! += bias![o]!;
      for (let t = 0; t < kk; t++) {
        const k = sc![o]! * mask[o * kk + t]!;
        B[o]! += k * eb0![o]!;
        for (let i = 0; i < I; i++) W[(o * I + i) * kk + t]! += k * ek0![o * I + i]!;
      }
    }
  });
  return { W: { shape: [O, I, K, K], data: W }, B: { shape: [O], data: B } };
}

function randomInputs(seed: number): RT[] {
  const r = mulberry32(seed);
  return foldShapes().map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { shape, data: Float64Array.from({ length: n }, () => 2 * r() - 1) };
  });
}

test('ecbFoldWeight / ecbFoldBias: forward and gradients vs float64 finite differences', async () => {
  await useEngine(1);
  const n = foldShapes().length;
  // all inputs differentiated, then only some (the others get no gradient tensor)
  const flagSets = [Array.from({ length: n }, () => true), Array.from({ length: n }, (_, i) => i % 3 !== 1)];
  // the weight does not depend on the biases (b, b0, b1, edge b0 and bias), the bias not on w and the k0s
  const inWeight = (i: number) => (i < 6 ? [0, 2, 4].includes(i) : [0, 2].includes((i - 6) % 4));
  const inBias = (i: number) => (i < 6 ? i !== 0 && i !== 2 : (i - 6) % 4 !== 0);
  flagSets.forEach((flags, f) => {
    gradCheck({
      name: `ecbFoldWeight #${f}`, inputs: randomInputs(11 + f), grad: flags.map((g, i) => g && inWeight(i)),
      op: (v) => ecbFoldWeight(foldBranchesOf(v)), ref: (ins) => refFold(ins).W,
    });
    gradCheck({
      name: `ecbFoldBias #${f}`, inputs: randomInputs(21 + f), grad: flags.map((g, i) => g && inBias(i)),
      op: (v) => ecbFoldBias(foldBranchesOf(v)), ref: (ins) => refFold(ins).B,
    });
  });
  // (no leak count here: gradCheck does not dispose its seed tensor; the ECBSR gradient test below checks the fold ops for leaks)
});

test('ecbFold rejects mismatched branch shapes', async () => {
  await useEngine(1);
  const vars = randomInputs(5).map((r) => leaf(Tensor.from(r.shape, r.data), true));
  try {
    const p = foldBranchesOf(vars);
    assert.throws(() => ecbFoldWeight({ ...p, inPlanes: I + 1 }), /conv\.w has shape \[2,3,3,3\], expected \[2,4,3,3\]/);
    assert.throws(() => ecbFoldBias({ ...p, edge: [{ ...p.edge[0]!, mask: [1, 2, 3] }] }), /edge mask has 3 values, expected 18/);
  } finally {
    clearTape();
    for (const v of vars) v.value.dispose();
  }
});

// ---- the branch forward matches the reference at the borders -------------------------------

/** float64 transcription of the reference SeqConv3x3.forward (NHWC, batch 1). */
function refSeqConv(br: SeqConv3x3, x: Float32Array, H: number, W: number): Float64Array {
  const Ci = br.inPlanes, Co = br.outPlanes, Mid = br.midPlanes;
  const k0 = br.k0.value.data, b0 = br.b0.value.data;
  // y0 = conv1x1(x) + b0, padded by one pixel filled with b0
  const Hp = H + 2, Wp = W + 2, y0 = new Float64Array(Hp * Wp * Mid);
  for (let h = 0; h < Hp; h++) for (let w = 0; w < Wp; w++) for (let m = 0; m < Mid; m++) {
    let v = b0[m]!;
    if (h > 0 && h <= H && w > 0 && w <= W) for (let i = 0; i < Ci; i++) v += k0[m * Ci + i]! * x[((h - 1) * W + (w - 1)) * Ci + i]!;
    y0[(h * Wp + w) * Mid + m] = v;
  }
  const y = new Float64Array(H * W * Co);
  const dense = br.type === 'conv1x1-conv3x3';
  const k1 = dense ? br.k1!.value.data : null, b1 = dense ? br.b1!.value.data : br.bias!.value.data;
  const sc = dense ? null : br.scale!.value.data, mask = dense ? null : br.mask!.value.data;
  for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let o = 0; o < Co; o++) {
    let v = b1[o]!;
    for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) {
      const at = ((h + dy) * Wp + (w + dx)) * Mid, t = dy * 3 + dx;
      if (dense) for (let m = 0; m < Mid; m++) v += k1![(o * Mid + m) * 9 + t]! * y0[at + m]!;
      else v += sc![o]! * mask![o * 9 + t]! * y0[at + o]!; // groups = out_planes
    }
    y[(h * W + w) * Co + o] = v;
  }
  return y;
}

test('SeqConv3x3 (branch forward) pads the 1x1 output with b0 exactly as the reference, borders included', async () => {
  await useEngine(1);
  manualSeed(3);
  const H = 5, W = 6;
  for (const type of ['conv1x1-conv3x3', 'conv1x1-sobelx', 'conv1x1-sobely', 'conv1x1-laplacian'] as const) {
    const br = new SeqConv3x3(type, 3, 4, 2.0);
    randomize(br, 0.5, 8);
    const x = randomImage(H, W, 2);
    const y = forwardCopy(() => br.forward(leaf(x)));
    const yr = refSeqConv(br, x.data, H, W);
    let worst = 0, worstBorder = 0;
    for (let j = 0; j < y.length; j++) {
      const d = Math.abs(y[j]! - yr[j]!), p = Math.floor(j / 4), h = Math.floor(p / W), w = p % W;
      worst = Math.max(worst, d);
      if (h === 0 || w === 0 || h === H - 1 || w === W - 1) worstBorder = Math.max(worstBorder, d);
    }
    assert.ok(worst < 1e-5, `${type}: max |mvsr - reference| = ${worst} (border ${worstBorder})`);
    x.dispose();
    br.dispose();
  }
});

// ---- folded training forward == multi-branch forward, values and gradients -----------------

const CASES = [[2, 'prelu'], [3, 'prelu'], [4, 'prelu'], [2, 'relu'], [3, 'relu'], [4, 'relu']] as const;

test('ECBSR training forward (folded in the graph) equals the multi-branch forward and deploy(), x2/x3/x4, PReLU/ReLU', async (t) => {
  await useEngine(2);
  const live = liveTensorCount();
  for (const [upscale, act_type] of CASES) {
    manualSeed(100 + upscale);
    const m = new ECBSR({ num_in_ch: 3, num_out_ch: 3, upscale, num_block: 2, num_feat: 8, act_type });
    randomize(m, 0.25, 31 * upscale + act_type.length);
    const x = randomImage(9, 7, upscale);
    const folded = forwardCopy(() => m.forward(leaf(x)));
    const branches = forwardCopy(() => m.forwardBranches(leaf(x)));
    const plain = m.deploy();
    const deployed = forwardCopy(() => plain.forward(leaf(x)));
    m.eval();
    const evalOut = forwardCopy(() => m.forward(leaf(x)));
    let scale = 0;
    for (const v of branches) scale = Math.max(scale, Math.abs(v));
    const d = maxAbsDiff(folded, branches), dd = maxAbsDiff(deployed, branches), dfd = maxAbsDiff(folded, deployed), de = maxAbsDiff(evalOut, folded);
    t.diagnostic(`x${upscale} ${act_type}: max|y| ${scale.toFixed(2)}, max|folded - branches| ${d.toExponential(2)}, ` +
      `|deployed - branches| ${dd.toExponential(2)}, |folded - deployed| ${dfd.toExponential(2)}, |eval - folded| ${de.toExponential(2)}`);
    assert.ok(scale > 1, `x${upscale} ${act_type}: outputs are not trivially small (${scale})`);
    assert.ok(d < 1e-4, `x${upscale} ${act_type}: max |folded - branches| = ${d}`);
    assert.ok(dd < 1e-4 && dfd < 1e-4, `x${upscale} ${act_type}: deploy() differs: ${dd} / ${dfd}`);
    assert.ok(de < 1e-4, `x${upscale} ${act_type}: max |eval - folded| = ${de}`);
    x.dispose();
    plain.dispose();
    m.dispose();
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('ECB training forward records one conv per block (fold weight, fold bias, conv, activation)', async () => {
  await useEngine(1);
  manualSeed(1);
  const ecb = new ECB(4, 6, 2.0, 'prelu');
  const x = leaf(randomImage(5, 5, 1, 4));
  try {
    const before = tapeLength();
    const y = ecb.forward(x);
    assert.equal(tapeLength() - before, 4);
    assert.deepEqual(y.parents.map((p) => p.opName), ['conv2d', 'parameter']);
    assert.deepEqual(y.parents[0]!.parents.map((p) => p.opName), ['leaf', 'ecbFoldWeight', 'ecbFoldBias']);
  } finally {
    clearTape();
    x.value.dispose();
    ecb.dispose();
  }
});

/** Gradients of L = sum(y * r) w.r.t. every parameter (copies), through `forward`. */
function paramGrads(m: Module, forward: (x: Var) => Var, x: Tensor, seed: number): Map<string, Float32Array | null> {
  m.zeroGrad();
  const xv = leaf(x);
  try {
    const y = forward(xv);
    const r = mulberry32(seed);
    const rt = Tensor.from(y.shape, Array.from({ length: y.value.size }, () => 2 * r() - 1));
    backward(y, rt);
    rt.dispose();
    return new Map([...m.namedParameters()].map(([n, p]) => [n, p.grad ? p.grad.toArray() : null]));
  } finally {
    clearTape();
    m.zeroGrad();
  }
}

test('ECBSR gradients w.r.t. every branch parameter: folded path == multi-branch path, x2/x3/x4, PReLU/ReLU', async (t) => {
  await useEngine(2);
  const live = liveTensorCount();
  for (const [upscale, act_type] of CASES) {
    manualSeed(200 + upscale);
    const m = new ECBSR({ num_in_ch: 3, num_out_ch: 3, upscale, num_block: 2, num_feat: 8, act_type });
    randomize(m, 0.25, 17 * upscale + act_type.length);
    const x = randomImage(9, 7, 40 + upscale);
    const gf = paramGrads(m, (v) => m.forward(v), x, 5);
    const gb = paramGrads(m, (v) => m.forwardBranches(v), x, 5);
    x.dispose();
    let worstRel = 0, worstName = '', edgeB0 = 0, checked = 0;
    for (const [n, a] of gf) {
      const b = gb.get(n);
      if (/(^|\.)mask$/.test(n)) {
        assert.equal(a, null, `${n}: the fixed mask gets no gradient (folded)`);
        assert.equal(b, null, `${n}: the fixed mask gets no gradient (branches)`);
        continue;
      }
      assert.ok(a && b, `${n}: both paths give a gradient`);
      let gmax = 0;
      for (const v of b) gmax = Math.max(gmax, Math.abs(v));
      const d = maxAbsDiff(a, b);
      if (/conv1x1_(sbx|sby|lpl)\.b0$/.test(n)) {
        // these biases cancel (the masks sum to 0): the true gradient is 0; the folded path gives
        // exactly 0 and the branch path rounding noise, small against the block's other gradients
        assert.ok(a.every((v) => v === 0), `${n}: folded gradient is exactly 0`);
        edgeB0 = Math.max(edgeB0, gmax);
        continue;
      }
      assert.ok(gmax > 1e-3, `${n}: gradient is not trivially small (${gmax})`);
      const rel = d / gmax;
      if (rel > worstRel) [worstRel, worstName] = [rel, n];
      assert.ok(rel < 1e-4, `x${upscale} ${act_type}: ${n}: max |folded - branches| = ${d} (max |g| ${gmax})`);
      checked++;
    }
    assert.ok(edgeB0 < 1e-3, `x${upscale} ${act_type}: branch-path gradient of the cancelling edge b0s is rounding noise (${edgeB0})`);
    t.diagnostic(`x${upscale} ${act_type}: ${checked} parameter tensors, worst max|Δg|/max|g| ${worstRel.toExponential(2)} (${worstName}); ` +
      `edge-branch b0 gradient: folded 0, branches <= ${edgeB0.toExponential(2)}`);
    m.dispose();
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

// ---- EFDN's EDBB: the same fold plus a 1x1 branch and the optional 1x1-3x3 and identity ---------

const EXTRAS = ['none', '1x1-3x3', 'identity', '1x1-3x3+identity'] as const;

test('EDBB (EFDN): folded training forward, eval (folded constants) and the reference\'s branch sum agree in values and in every parameter\'s gradient, for each extra branch', async (t) => {
  await useEngine(1);
  const live = liveTensorCount();
  for (const [k, extra] of EXTRAS.entries()) {
    manualSeed(300 + k);
    const e = new EDBB(5, 5, extra);
    randomize(e, 0.3, 41 + k);
    const x = randomImage(7, 6, 60 + k, 5);
    const folded = forwardCopy(() => e.forward(leaf(x)));
    const branches = forwardCopy(() => e.forwardBranches(leaf(x)));
    e.eval();
    const evalOut = forwardCopy(() => e.forward(leaf(x)));
    e.train();
    const d = maxAbsDiff(folded, branches), de = maxAbsDiff(evalOut, branches);
    assert.ok(d < 1e-4 && de < 1e-4, `${extra}: max |folded - branches| ${d}, |eval - branches| ${de}`);
    const gf = paramGrads(e, (v) => e.forward(v), x, 7), gb = paramGrads(e, (v) => e.forwardBranches(v), x, 7);
    let worst = 0, n = 0;
    for (const [name, a] of gf) {
      const b = gb.get(name);
      if (/(^|\.)mask$/.test(name)) { assert.equal(a, null, `${name}: fixed`); continue; }
      assert.ok(a && b, `${extra}: ${name}: both paths give a gradient`);
      if (/conv1x1_(sbx|sby|lpl)\.b0$/.test(name)) continue; // cancels (the masks sum to 0), as in ECB
      let gmax = 0;
      for (const v of b) gmax = Math.max(gmax, Math.abs(v));
      assert.ok(gmax > 1e-3, `${extra}: ${name}: gradient not trivially small`);
      worst = Math.max(worst, maxAbsDiff(a, b) / gmax);
      n++;
    }
    assert.ok(worst < 1e-4, `${extra}: worst max|Δg|/max|g| ${worst}`);
    t.diagnostic(`${extra}: |folded - branches| ${d.toExponential(2)}, ${n} parameter tensors, worst relative gradient difference ${worst.toExponential(2)}`);
    x.dispose();
    e.dispose();
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('EFDN_EDBB: the whole training net (folded), its branch forward, eval and deploy() to the challenge\'s EFDN give the same image', async () => {
  await useEngine(2);
  const live = liveTensorCount();
  for (const extra of ['none', '1x1-3x3+identity']) {
    manualSeed(9);
    const m = new EFDNEDBB({ in_channels: 3, out_channels: 3, n_feats: 8, scale: 2, extra });
    randomize(m, 0.2, extra.length);
    const x = randomImage(17, 16, 3);
    const folded = forwardCopy(() => m.forward(leaf(x)));
    const branches = forwardCopy(() => m.forwardBranches(leaf(x)));
    const plain = m.deploy();
    assert.equal(plain.arch, 'EFDN');
    const deployed = forwardCopy(() => plain.forward(leaf(x)));
    m.eval();
    const evalOut = forwardCopy(() => m.forward(leaf(x)));
    // the output is clamped to [0, 1]: check that it is not all clamped
    assert.ok(branches.filter((v) => v > 0 && v < 1).length > branches.length / 4, 'most outputs inside (0, 1)');
    for (const [what, y] of [['folded', folded], ['deployed', deployed], ['eval', evalOut]] as const) {
      const d = maxAbsDiff(y, branches);
      assert.ok(d < 1e-4, `${extra}: max |${what} - branches| = ${d}`);
    }
    x.dispose();
    plain.dispose();
    m.dispose();
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});
