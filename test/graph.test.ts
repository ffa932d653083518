// The deploy IR: graphs built from every zoo family compute what the models' (deploy-form)
// forwards compute, with and without fusion, for random weights and the official checkpoints;
// the profiler reproduces the ETDS paper's Table 2 (params and MACs at 360x640); shape errors
// name the node; runGraph frees everything it allocates; graphs survive JSON + blob round trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { useEngine, mulberry32, maxAbsDiff, randomize, SMALL_FAMILIES, sized, layerNormGraph } from './helpers.js';
import { Tensor, liveTensorCount } from '../src/tensor/tensor.js';
import { leaf, noGrad, clearTape, backward } from '../src/autograd/var.js';
import { manualSeed } from '../src/nn/init.js';
import type { Module } from '../src/nn/module.js';
import { createModel, createModelFromConfig, toGraph, graphFromStateDict, deployModel, listArchs, getArch, type SRModel } from '../src/models/registry.js';
import { runGraph, compileGraph } from '../src/runtime/wasm.js';
import { loadWeightsFile } from '../src/io/weights.node.js';
import {
  GraphBuilder, inferShapes, profileGraph, serializeGraph, deserializeGraph,
  optimizeGraph, optimizeFloatGraph, validateGraph, usedWeights, type Graph, type GraphWeight,
} from '../src/graph/index.js';
import { pruneChannels } from '../src/graph/compress.js';
import { GraphNet } from '../src/train/graph-net.js';
import * as ref from './ref/index.js';
import { ZOO_DIR, needData, allTestConfigs, readTable } from './data.js';
import * as ops from '../src/tensor/ops/index.js';

const noZoo = needData('checkpoints/etds-official');
const noTable = needData('benchmarks/published/etds-table2.json');

function randomImage(H: number, W: number, seed: number, C = 3): Tensor {
  const r = mulberry32(seed);
  return Tensor.from([1, H, W, C], Array.from({ length: H * W * C }, () => r()));
}


/** The model's forward without a tape: a copy of the output. */
function forward(m: Module, x: Tensor): { shape: number[]; data: Float32Array } {
  try {
    const y = noGrad(() => m.forward(leaf(x)));
    return { shape: [...y.shape], data: y.value.toArray() };
  } finally {
    clearTape();
  }
}

function graphOut(g: Graph, x: Tensor, fuse: boolean): { shape: number[]; data: Float32Array } {
  const y = runGraph(g, x, { fuse });
  try {
    return { shape: [...y.shape], data: y.toArray() };
  } finally {
    y.dispose();
  }
}

/** max |graph - forward| for the fused and the unfused interpreter against the deploy form's forward, and (fused) against the training forward; asserts equal shapes. */
function compare(m: SRModel, x: Tensor, what: string): { fused: number; plain: number; training: number; g: Graph } {
  const g = toGraph(m);
  const dep = deployModel(m);
  try {
    const ref = forward(dep, x);
    const yf = graphOut(g, x, true), yp = graphOut(g, x, false);
    assert.deepEqual(yf.shape, ref.shape, `${what}: output shape`);
    assert.deepEqual(yp.shape, ref.shape, `${what}: output shape (unfused)`);
    assert.ok(ref.data.every(Number.isFinite), `${what}: finite reference`);
    // ETDS's deploy form folds in the output clamp: it is clamp(ETDS(x), 0, 1) by construction (ETDS.deploy)
    const train = forward(m, x).data.map((v) => (m.arch === 'ETDS' ? Math.min(1, Math.max(0, v)) : v));
    return { fused: maxAbsDiff(yf.data, ref.data), plain: maxAbsDiff(yp.data, ref.data), training: maxAbsDiff(yf.data, train), g };
  } finally {
    if (dep !== m) dep.dispose();
  }
}

// ---- (a) every family, random weights --------------------------------------------------------


test('every zoo image family: the compiled graph equals the deploy form\'s forward and the training forward (random weights, x2/x3/x4)', async (t) => {
  await useEngine(1);
  const live = liveTensorCount();
  const covered = new Set(SMALL_FAMILIES.map(([a]) => a));
  const image = listArchs().filter((a) => getArch(a).kind === 'image');
  assert.deepEqual(image.filter((a) => !covered.has(a)), [], 'every registered image architecture is in SMALL_FAMILIES');
  let seed = 1;
  for (const [arch, argsOf] of SMALL_FAMILIES) {
    for (const s of [2, 3, 4]) {
      const args = argsOf(s);
      const name = `${arch} x${s} ${JSON.stringify(args)}`;
      await t.test(name, () => {
        manualSeed(seed);
        const m = createModel(arch, args);
        randomize(m, 0.25, seed++);
        const x = randomImage(...sized(arch, 7, 6), seed, (args.num_in_ch as number | undefined) ?? 3);
        try {
          const { fused, plain, training, g } = compare(m, x, name);
          assert.ok(fused < 1e-5, `${name}: max |graph (fused) - forward| = ${fused}`);
          assert.ok(plain < 1e-5, `${name}: max |graph (unfused) - forward| = ${plain}`);
          assert.ok(training < 1e-4, `${name}: max |graph - training forward| = ${training}`);
          assert.equal(g.meta.scale, s);
        } finally {
          x.dispose();
          m.dispose();
        }
      });
    }
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('graphs mirror the forwards: the shortcut / anchor as slices + concat, fused into the last conv when run', async () => {
  await useEngine(1);
  manualSeed(3);
  const ecbsr = createModel('ECBSR', { upscale: 3, num_block: 1, num_feat: 8 });
  const g = toGraph(ecbsr);
  ecbsr.dispose();
  assert.equal(g.meta.arch, 'ECBSRT');
  assert.equal(g.meta.from, 'ECBSR');
  const sc = g.nodes.find((n) => n.id === 'shortcut')!;
  assert.equal(sc.op, 'concat');
  assert.deepEqual(sc.inputs, ['shortcut.c0', 'shortcut.c0', 'shortcut.c0', 'shortcut.c0', 'shortcut.c0', 'shortcut.c0', 'shortcut.c0', 'shortcut.c0', 'shortcut.c0',
    'shortcut.c1', 'shortcut.c1', 'shortcut.c1', 'shortcut.c1', 'shortcut.c1', 'shortcut.c1', 'shortcut.c1', 'shortcut.c1', 'shortcut.c1',
    'shortcut.c2', 'shortcut.c2', 'shortcut.c2', 'shortcut.c2', 'shortcut.c2', 'shortcut.c2', 'shortcut.c2', 'shortcut.c2', 'shortcut.c2']);
  const c = compileGraph(g);
  try {
    // conv + PReLU fused, and the last conv + shortcut + depth_to_space in one kernel reading the input
    assert.deepEqual(c.plan, ['conv(backbone.0.0)+prelu', 'conv(backbone.1.0)+prelu', 'backbone.2.0+residual(input)+depthToSpace(upsampler)']);
  } finally {
    c.dispose();
  }
  const etds = createModel('ETDSForInference', { upscale: 3, num_block: 1, num_feat: 8, num_residual_feat: 3 });
  const ge = toGraph(etds);
  etds.dispose();
  const ce = compileGraph(ge);
  try {
    // at x3 the dropped 28th channel is cut from the clip conv, which then fuses with the pixel shuffle
    assert.deepEqual(ce.plan, ['conv(conv_first)+relu', 'conv(backbone_convs.0)+relu', 'conv(conv_last)+relu', 'conv_clip+relu+depthToSpace(upsampler)']);
    assert.deepEqual(ce.graph.weights['conv_clip.weight[0:27]']!.shape, [27, 28, 1, 1]);
  } finally {
    ce.dispose();
  }
});

test('a hand-built graph using every op and fusion pattern equals the same ops called directly', async () => {
  await useEngine(1);
  const r = mulberry32(99);
  const w = (shape: number[], a = 0.4) => ({ shape, data: Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => (2 * r() - 1) * a) });
  const W1 = w([8, 3, 3, 3]), B1 = w([8]), W2 = w([8, 2, 3, 3]), B2 = w([8]), W3 = w([12, 8, 3, 3]), B3 = w([12]);
  const WT = w([3, 3, 4, 4]), BT = w([3]), A = w([3], 0.5);
  const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 2 });
  const x = b.input(3);
  const a1 = b.act('a1', b.conv('c1', x, W1, B1), { kind: 'leaky', slope: 0.1 }); // fuses into c1
  const c2 = b.conv('c2', a1, W2, B2, { groups: 4, act: { kind: 'tanh' } }); // tanh in the grouped conv's epilogue
  const m = b.mul('m', a1, c2);
  const res = b.concat('rep', [x, x, x, x]); // residual channel co reads input channel co % 3
  const sr = b.depthToSpace('d2s', b.act('cl', b.add('s', b.conv('c3', m, W3, B3), res), { kind: 'clamp', lo: 0.1, hi: 0.9 }), 2);
  const up = b.add('u', sr, b.resize('bl', x, 2, 'bilinear'));
  const ct = b.act('pr', b.convTranspose('ct', up, WT, BT, { stride: 1, padding: 1 }), { kind: 'prelu', alpha: A }); // 4x4 kernel: +1 px
  const cat = b.concat('cat', [b.slice('lo', ct, 0, 2), b.slice('hi', b.resize('nn', b.resize('bc', ct, 1, 'bicubic'), 1, 'nearest'), 2, 3)]);
  const g = b.output(b.act('sg', cat, { kind: 'sigmoid' }));

  const live = liveTensorCount();
  const X = randomImage(5, 6, 4);
  // the same computation with the raw ops, one at a time
  const T = (v: { shape: number[]; data: Float32Array }) => Tensor.from(v.shape, v.data);
  const tmp: Tensor[] = [];
  const k = <V extends Tensor>(t: V): V => { tmp.push(t); return t; };
  const y1 = k(ops.leakyRelu(k(ops.conv2d(X, k(T(W1)), k(T(B1)))), 0.1));
  const y2 = k(ops.tanh(k(ops.conv2d(y1, k(T(W2)), k(T(B2)), { groups: 4 }))));
  const y3 = k(ops.conv2d(k(ops.mul(y1, y2)), k(T(W3)), k(T(B3))));
  const y4 = k(ops.depthToSpace(k(ops.clamp(k(ops.add(y3, k(ops.concat([X, X, X, X])))), 0.1, 0.9)), 2));
  const y5 = k(ops.add(y4, k(ops.upsample(X, 2, 'bilinear'))));
  const y6 = k(ops.prelu(k(ops.convTranspose2d(y5, k(T(WT)), k(T(BT)), { stride: 1, padding: 1 })), k(T(A))));
  const [lo] = ops.split(y6, [2, 1]).map(k);
  const [, , hi] = ops.split(k(ops.upsample(k(ops.upsample(y6, 1, 'bicubic')), 1, 'nearest')), [1, 1, 1]).map(k);
  const expected = ops.sigmoid(k(ops.concat([lo!, hi!])));
  tmp.forEach((t) => t.dispose());
  try {
    assert.deepEqual([...expected.shape], [1, 11, 13, 3]);
    for (const fuse of [true, false]) {
      const c = compileGraph(g, { fuse });
      const y = c.run(X);
      assert.equal(maxAbsDiff(y.data, expected.data), 0, `fuse ${fuse}: graph vs direct ops`);
      if (fuse) {
        assert.deepEqual(c.plan, ['conv(c1)+leaky', 'conv(c2)+tanh', 'mul(m)', 'c3+residual(input)+clamp+depthToSpace(d2s)', 'resize(bl)', 'add(u)',
          'convTranspose(ct)', 'act(pr)', 'slice(lo)', 'resize(bc)', 'resize(nn)', 'slice(hi)', 'concat(cat)', 'act(sg)']);
      }
      y.dispose();
      c.dispose();
    }
  } finally {
    expected.dispose();
    X.dispose();
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('an activation after a pixel shuffle moves above it into the conv (ESPCN\'s conv + shuffle + sigmoid is one kernel), only where that is the same function', async () => {
  await useEngine(1);
  manualSeed(11);
  const espcn = createModel('ESPCN', { upscale: 4 });
  const X = randomImage(7, 9, 5);
  const ref = forward(espcn, X); // the autograd forward: conv, tanh, pixel shuffle, sigmoid, each on its own
  const ge = toGraph(espcn);
  espcn.dispose();
  const ce = compileGraph(ge);
  try {
    assert.deepEqual(ce.plan, ['conv(conv1)+tanh', 'conv(conv2)+tanh', 'conv3+sigmoid+depthToSpace(pixel_shuffle)']);
    const y = ce.run(X);
    assert.deepEqual([...y.shape], ref.shape);
    assert.ok(maxAbsDiff(y.data, ref.data) < 1e-6, `ESPCN fused graph vs forward: ${maxAbsDiff(y.data, ref.data)}`);
    y.dispose();
  } finally {
    ce.dispose();
  }

  // hand-built tails: which activations may move above the depthToSpace
  const r = mulberry32(12);
  const w = (shape: number[], a = 0.5) => ({ shape, data: Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => (2 * r() - 1) * a) });
  const tail = (make: (b: GraphBuilder, d: string) => string) => {
    const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 2 });
    const x = b.input(3);
    const d = b.depthToSpace('d2s', b.conv('c', x, w([12, 3, 3, 3]), w([12])), 2);
    return b.output(make(b, d));
  };
  const cases: Array<{ what: string; g: Graph; plan: string[] }> = [
    { what: 'shared-slope PReLU', g: tail((b, d) => b.act('pr', d, { kind: 'prelu', alpha: w([1]) })), plan: ['c+prelu+depthToSpace(d2s)'] },
    { what: 'per-channel PReLU (the shuffle changes its channel)', g: tail((b, d) => b.act('pr', d, { kind: 'prelu', alpha: w([3]) })), plan: ['c+depthToSpace(d2s)', 'act(pr)'] },
    { what: 'a pixel shuffle read twice', g: tail((b, d) => b.add('s', b.act('t', d, { kind: 'tanh' }), d)), plan: ['c+depthToSpace(d2s)', 'act(t)', 'add(s)'] },
    { what: 'two activations in a row (the first moves)', g: tail((b, d) => b.act('cl', b.act('rl', d, { kind: 'relu' }), { kind: 'clamp', lo: 0, hi: 0.3 })), plan: ['c+relu+depthToSpace(d2s)', 'act(cl)'] },
  ];
  for (const { what, g, plan } of cases) {
    validateGraph(optimizeGraph(g));
    const fused = compileGraph(g), plain = compileGraph(g, { fuse: false });
    try {
      assert.deepEqual(fused.plan, plan, what);
      const a = fused.run(X), c = plain.run(X);
      assert.deepEqual([...a.shape], [...c.shape], what);
      assert.equal(maxAbsDiff(a.data, c.data), 0, `${what}: fused vs unfused`);
      a.dispose();
      c.dispose();
    } finally {
      fused.dispose();
      plain.dispose();
    }
  }
  X.dispose();
});

test('a conv read only by channel slices becomes one conv per slice, each fusing with what follows (as RLSP\'s residual and next state), the same function', async () => {
  await useEngine(1);
  const r = mulberry32(21);
  const w = (shape: number[], a = 0.5) => ({ shape, data: Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => (2 * r() - 1) * a) });
  const X = randomImage(6, 7, 22);
  const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 2 });
  const c = b.conv('c', b.input(3), w([24, 3, 3, 3]), w([24]));
  const res = b.depthToSpace('d2s', b.slice('res', c, 0, 12), 2);
  const hid = b.depthToSpace('d2s2', b.act('h', b.slice('hid', c, 12, 24), { kind: 'relu' }), 2);
  const g = b.output(b.add('sum', res, hid));
  const fused = compileGraph(g), plain = compileGraph(g, { fuse: false });
  try {
    assert.deepEqual(fused.plan, ['res+depthToSpace(d2s)', 'hid+relu+depthToSpace(d2s2)', 'add(sum)']);
    assert.ok(!optimizeGraph(g).nodes.some((n) => n.id === 'c'), 'the conv all slices replaced is gone');
    const a = fused.run(X), e = plain.run(X);
    assert.ok(maxAbsDiff(a.data, e.data) < 1e-6, `fused vs unfused: ${maxAbsDiff(a.data, e.data)}`);
    a.dispose();
    e.dispose();
  } finally {
    fused.dispose();
    plain.dispose();
    X.dispose();
  }
});

test('a 1x1 conv that scales each channel folds into the conv before it (ETDS\'s conv_clip: -I, bias 1, ReLU after ReLU is a clamp to [0, 1]), only where that is the same function', async () => {
  await useEngine(1);
  const r = mulberry32(31);
  const w = (shape: number[], a = 0.5) => ({ shape, data: Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => (2 * r() - 1) * a) });
  const diag = (d: number[]) => ({ shape: [d.length, d.length, 1, 1], data: Float32Array.from({ length: d.length * d.length }, (_, i) => (i % (d.length + 1) === 0 ? d[i / (d.length + 1)]! : 0)) });
  const neg = () => Array.from({ length: 12 }, () => -0.2 - r());
  const X = randomImage(6, 7, 32);
  // A: a 3x3 conv 3 -> 12 [+ act]; B: a 1x1 conv over A's 12 channels [+ act]; then a pixel shuffle
  const chain = (aAct: 'relu' | null, bw: GraphWeight, bb: GraphWeight | null, bAct: { kind: 'relu' } | { kind: 'prelu'; alpha: GraphWeight } | null, groups = 1, readATwice = false) => {
    const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 2 });
    const a = b.conv('a', b.input(3), w([12, 3, 3, 3]), w([12]), aAct ? { act: { kind: aAct } } : {});
    const d = b.depthToSpace('d2s', b.conv('b', a, bw, bb, { groups, ...(bAct ? { act: bAct } : {}) }), 2);
    return b.output(readATwice ? b.add('s', d, b.depthToSpace('d2s2', a, 2)) : d);
  };
  const bias = (v: number) => ({ shape: [12], data: new Float32Array(12).fill(v) });
  const ones = Array.from({ length: 12 }, () => -1);
  const mixed = neg().map((v, i) => (i === 5 ? 0.7 : v));
  const offDiagonal = diag(neg());
  offDiagonal.data[1] = 0.01;
  const kept = ['conv(a)+relu', 'b+relu+depthToSpace(d2s)'];
  const cases: Array<{ what: string; g: Graph; plan: string[] }> = [
    { what: "ETDS's conv_clip (-I, bias 1, ReLU after ReLU)", g: chain('relu', diag(ones), bias(1), { kind: 'relu' }), plan: ['b+clamp+depthToSpace(d2s)'] },
    { what: 'ReLU, negative scales, one bias, ReLU', g: chain('relu', diag(neg()), bias(0.3), { kind: 'relu' }), plan: ['b+clamp+depthToSpace(d2s)'] },
    { what: 'no activation, then a depthwise 1x1 of mixed signs and per-channel PReLU', g: chain(null, w([12, 1, 1, 1]), w([12]), { kind: 'prelu', alpha: w([12]) }, 12), plan: ['b+prelu+depthToSpace(d2s)'] },
    { what: 'ReLU, one positive scale, ReLU (not a clamp)', g: chain('relu', diag(mixed), bias(0.3), { kind: 'relu' }), plan: kept },
    { what: 'ReLU, negative scales, biases that differ', g: chain('relu', diag(neg()), w([12]), { kind: 'relu' }), plan: kept },
    { what: 'a weight off the diagonal', g: chain('relu', offDiagonal, bias(1), { kind: 'relu' }), plan: kept },
    { what: 'the first conv read twice', g: chain('relu', diag(ones), bias(1), { kind: 'relu' }, 1, true), plan: ['conv(a)+relu', 'b+relu+depthToSpace(d2s)', 'depthToSpace(d2s2)', 'add(s)'] },
  ];
  for (const { what, g, plan } of cases) {
    validateGraph(optimizeFloatGraph(g));
    const fused = compileGraph(g), plain = compileGraph(g, { fuse: false });
    try {
      assert.deepEqual(fused.plan, plan, what);
      const a = fused.runNamed({ input: X }), c = plain.runNamed({ input: X });
      for (const k of Object.keys(c)) {
        assert.ok(maxAbsDiff(a[k]!.data, c[k]!.data) < 1e-6, `${what}: ${k} fused vs unfused ${maxAbsDiff(a[k]!.data, c[k]!.data)}`);
        a[k]!.dispose();
        c[k]!.dispose();
      }
    } finally {
      fused.dispose();
      plain.dispose();
    }
  }
  // the clamp's upper bound matters: some outputs sit at it
  const up = compileGraph(cases[0]!.g);
  const y = up.run(X);
  assert.ok(y.data.some((v) => v === 1) && y.data.some((v) => v === 0) && y.data.some((v) => v > 0 && v < 1), 'the ETDS case reaches both bounds and values between');
  y.dispose();
  up.dispose();
  X.dispose();
});

// ---- (a) the official checkpoints ------------------------------------------------------------

test('every official checkpoint: the graph equals the loaded model\'s forward', { skip: noZoo }, async (t) => {
  await useEngine(1);
  const live = liveTensorCount();
  const configs = allTestConfigs();
  assert.equal(configs.length, 52);
  for (const c of configs) {
    const name = path.basename(c.file, '.yml');
    await t.test(name, () => {
      const m = createModelFromConfig(c.networkG);
      const x = randomImage(6, 5, 41);
      try {
        if (c.checkpoint) m.loadStateDict(loadWeightsFile(path.join(ZOO_DIR, c.checkpoint)).tensors, true);
        const { fused, plain } = compare(m, x, name);
        assert.ok(fused < 1e-5, `${name}: max |graph (fused) - forward| = ${fused}`);
        assert.ok(plain < 1e-5, `${name}: max |graph (unfused) - forward| = ${plain}`);
      } finally {
        x.dispose();
        m.dispose();
      }
    });
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

// ---- (b) the profiler against Table 2 --------------------------------------------------------

test('profiler: params and MACs at 360x640 reproduce the ETDS paper\'s Table 2 (every row)', { skip: noZoo || noTable }, async () => {
  await useEngine(1);
  const configs = new Map(allTestConfigs().filter((c) => c.checkpoint).map((c) => [c.checkpoint!, c]));
  const lines: string[] = [];
  const bad: string[] = [];
  const ruledOut: Record<string, string[]> = {};
  let compared = 0;
  for (const row of readTable()) {
    if (row.params_k === null || row.macs_g === null || !row.checkpoint) continue;
    const c = configs.get(row.checkpoint);
    assert.ok(c, `no config for ${row.checkpoint}`);
    const m = createModelFromConfig(c.networkG);
    const g = toGraph(m);
    m.dispose();
    const p = profileGraph(g, 360, 640);
    const params = p.params / 1e3, macs = p.macs / 1e9, convOnly = p.convMacs / 1e9;
    // the conventions the table's numbers rule out, each by the rows it would break
    const elems = (pred: (n: Graph['nodes'][number]) => boolean): number =>
      p.nodes.filter((pn) => pred(g.nodes.find((n) => n.id === pn.id)!)).reduce((a, pn) => a + pn.shape.reduce((x, y) => x * y, 1), 0);
    const alt: Record<string, number> = {
      'no PReLU multiplies': p.convMacs,
      '+ bias adds': p.macs + elems((n) => (n.op === 'conv' || n.op === 'convTranspose') && n.bias !== null),
      '+ ReLU elements': p.macs + elems((n) => n.op === 'act' && n.act.kind === 'relu'),
      '+ residual/anchor add': p.macs + elems((n) => n.op === 'add'),
      '- ETDS clip conv': p.macs - (p.nodes.find((n) => n.id === 'conv_clip')?.macs ?? 0),
    };
    for (const [k, v] of Object.entries(alt)) if (Math.abs(v / 1e9 - row.macs_g) > 0.01 + 1e-9) (ruledOut[k] ??= []).push(`${row.model} x${row.scale}`);
    const okP = Math.abs(params - row.params_k) <= 0.01 + 1e-9;
    const okM = Math.abs(macs - row.macs_g) <= 0.01 + 1e-9;
    lines.push(`${okP && okM ? ' ' : '!'} ${`${row.model} x${row.scale}`.padEnd(18)} ${g.meta.arch.padEnd(17)} params ${params.toFixed(3).padStart(8)}k (table ${row.params_k.toFixed(2).padStart(6)}k)  MACs ${macs.toFixed(3).padStart(7)}G (table ${row.macs_g.toFixed(2).padStart(5)}G; convs alone ${convOnly.toFixed(3)}G)  convs ${p.convs}`);
    if (!okP || !okM) bad.push(`${row.model} x${row.scale}: params ${params.toFixed(3)}k vs ${row.params_k}k, MACs ${macs.toFixed(3)}G vs ${row.macs_g}G`);
    compared++;
  }
  console.log(`profileGraph at 360x640 vs ETDS Table 2:\n${lines.join('\n')}`);
  assert.equal(compared, 33);
  console.log(`other counting conventions and the rows where they miss Table 2 by more than 0.01 G:\n${Object.entries(ruledOut).map(([k, v]) => `  ${k}: ${v.length} rows (${v.join(', ')})`).join('\n')}`);
  for (const k of ['no PReLU multiplies', '+ bias adds', '+ ReLU elements', '+ residual/anchor add', '- ETDS clip conv']) {
    assert.ok((ruledOut[k]?.length ?? 0) > 0, `the table does not decide '${k}'`);
  }
  assert.deepEqual(bad, [], 'rows that differ from Table 2');
});

test('profiler: the counting convention on a hand-built graph', async () => {
  await useEngine(1);
  const w = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 2 });
  let y = b.input(3);
  y = b.conv('c1', y, w([8, 3, 3, 3]), w([8]), { act: { kind: 'prelu', alpha: w([8]) } }); // 216 + 8 MACs/px
  y = b.conv('dw', y, w([8, 1, 3, 3]), null, { groups: 8 }); // 72 MACs/px
  y = b.act('r', y, { kind: 'relu' });
  y = b.conv('c2', y, w([12, 8, 1, 1]), w([12]));
  y = b.depthToSpace('d2s', y, 2);
  y = b.convTranspose('up', y, w([3, 2, 3, 3]), w([2]), { stride: 2, padding: 1, outputPadding: 1 }); // 54 MACs per output px
  const g = b.output(y);
  const p = profileGraph(g, 5, 4);
  assert.equal(p.params, 216 + 8 + 8 + 72 + 96 + 12 + 54 + 2);
  assert.equal(p.convMacs, 20 * (216 + 72 + 96) + 20 * 4 * 4 * 54);
  assert.equal(p.macs, p.convMacs + 20 * 8);
  assert.equal(p.convs, 4);
  assert.equal(p.activations, 20 * (8 + 8 + 12) + 16 * 20 * 2);
  // live floats: c1 runs with x (60) + its output (160); the last step holds d2s out (240) and up out (640)
  assert.equal(p.peakActivationBytes, 4 * (240 + 640));
  assert.deepEqual(p.nodes.map((n) => n.macs), [0, 20 * 224, 20 * 72, 0, 20 * 96, 0, 16 * 20 * 54, 0]);
});

// ---- (c) shape inference and its errors ------------------------------------------------------

test('shape inference: every node\'s [H, W, C]; errors name the node', async () => {
  await useEngine(1);
  manualSeed(5);
  const m = createModel('ABPN', { scale: 3, num_block: 1, num_feat: 8 });
  const g = toGraph(m);
  m.dispose();
  const s = inferShapes(g, 10, 7);
  assert.deepEqual(s.get('input'), [10, 7, 3]);
  assert.deepEqual(s.get('backbone.0'), [10, 7, 8]);
  assert.deepEqual(s.get('anchor.c1'), [10, 7, 1]);
  assert.deepEqual(s.get('anchor'), [10, 7, 27]);
  assert.deepEqual(s.get('upsampler'), [30, 21, 3]);
  assert.deepEqual(s.get('output'), [30, 21, 3]);

  const w = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const build = (f: (b: GraphBuilder, x: string) => string): Graph => {
    const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 1 });
    return b.output(f(b, b.input(3)));
  };
  const bad: [string, Graph, RegExp][] = [
    ['channels', build((b, x) => b.conv('c2', b.conv('c1', x, w([4, 3, 3, 3]), null), w([5, 6, 3, 3]), null)),
      /graph toy: node 'c2' \(conv\): input 'c1' has 4 channels but weight 'c2.weight' \[5,6,3,3\] with groups=1 expects 6/],
    ['add', build((b, x) => b.add('sum', x, b.conv('c1', x, w([4, 3, 3, 3]), null))), /node 'sum' \(add\): inputs 'input' 10x7x3 and 'c1' 10x7x4 differ/],
    ['d2s', build((b, x) => b.depthToSpace('ps', x, 2)), /node 'ps' \(depthToSpace\): input 'input' has 3 channels, not divisible by scale\^2 = 4/],
    ['slice', build((b, x) => b.slice('sl', x, 1, 5)), /node 'sl' \(slice\): channel range \[1, 5\) exceeds the 3 channels/],
    ['small', build((b, x) => b.conv('big', x, w([4, 3, 13, 13]), null, { padding: 0 })), /node 'big' \(conv\): input 10x7x3 is smaller than kernel 13/],
    ['prelu', build((b, x) => b.act('pr', x, { kind: 'prelu', alpha: w([2]) })), /node 'pr' \(act\): PReLU alpha 'pr.weight' has 2 values, expected 1 or 3/],
    ['concat', build((b, x) => b.concat('cat', [x, b.depthToSpace('ps', b.concat('c4', [x, b.slice('one', x, 0, 1)]), 2)])), /node 'cat' \(concat\): input 'ps' 20x14x1 does not match input 'input' 10x7x3 in H, W/],
  ];
  const live = liveTensorCount();
  for (const [what, bg, re] of bad) {
    assert.throws(() => inferShapes(bg, 10, 7), re, what);
    // the interpreter reports the same node, and leaves nothing allocated
    const x = randomImage(10, 7, 1);
    assert.throws(() => runGraph(bg, x), re, `${what} (runGraph)`);
    x.dispose();
    assert.equal(liveTensorCount(), live, `${what}: nothing leaked`);
  }
  // structural errors name the node too
  const dangling: Graph = { ...g, nodes: g.nodes.map((n) => (n.id === 'backbone.1' ? { ...n, inputs: ['nope'] } : n)) };
  assert.throws(() => validateGraph(dangling), /node 'backbone.1' \(act\): input 'nope' is not a node of the graph/);
  const noWeight: Graph = { ...g, weights: { ...g.weights } };
  delete noWeight.weights['backbone.0.weight'];
  assert.throws(() => inferShapes(noWeight, 4, 4), /node 'backbone.0' \(conv\): refers to weight 'backbone.0.weight', which the graph does not hold/);
  const x1 = randomImage(4, 4, 2, 1);
  assert.throws(() => runGraph(g, x1), /node 'input' \(input\): expects an NHWC input with 3 channels, got \[1,4,4,1\]/);
  x1.dispose();
  assert.throws(() => graphFromStateDict('ETDS', {}, {}), /architecture 'ETDS' has no graph of its own \(it is a training form: build its deploy\(\) model/);
  assert.throws(() => graphFromStateDict('Plain', { num_in_ch: 3, num_out_ch: 3, upscale: 2, num_block: 1, num_feat: 4 }, {}), /Plain: the state dict has no 'conv_first.weight'/);
});

// ---- (d) memory ------------------------------------------------------------------------------

test('runGraph frees every intermediate and the weights it uploaded; a compiled graph reuses its weights', async () => {
  await useEngine(1);
  manualSeed(8);
  const m = createModel('ELSR', { upscale: 2, num_feat: 6 });
  randomize(m, 0.3, 8);
  const g = toGraph(m);
  m.dispose();
  const x = randomImage(5, 6, 9);
  const live = liveTensorCount();
  const y = runGraph(g, x);
  assert.equal(liveTensorCount(), live + 1, 'only the output is left');
  assert.ok(!x.disposed, 'the input is not consumed');
  const c = compileGraph(g);
  const afterCompile = liveTensorCount();
  for (let i = 0; i < 3; i++) {
    const yi = c.run(x);
    assert.equal(liveTensorCount(), afterCompile + 1);
    assert.equal(maxAbsDiff(yi.data, y.data), 0, 'compiled runs are identical');
    yi.dispose();
  }
  c.dispose();
  y.dispose();
  assert.equal(liveTensorCount(), live);
  // intermediates die as soon as their last reader has run: a plain chain holds one at a time,
  // ELSR two while the skip from conv_first waits for the add
  for (const [arch, args, most] of [
    ['Plain', { upscale: 2, num_block: 4, num_feat: 8 }, 1], ['ELSR', { upscale: 2, num_feat: 6 }, 2],
  ] as const) {
    for (const fuse of [true, false]) {
      const mm = createModel(arch, args);
      const cg = compileGraph(toGraph(mm), { fuse });
      mm.dispose();
      const base = liveTensorCount();
      let peak = 0;
      const yy = cg.run(x, () => { peak = Math.max(peak, liveTensorCount() - base); });
      assert.equal(peak, most, `${arch} (fuse ${fuse}): at most ${most} intermediate(s) alive between steps`);
      yy.dispose();
      cg.dispose();
    }
  }
  assert.equal(liveTensorCount(), live);
  // an identity graph returns a copy, never the input itself
  const b = new GraphBuilder({ arch: 'id', args: {}, scale: 1 });
  const gi = b.output(b.input(3));
  const yi = runGraph(gi, x);
  assert.notEqual(yi, x);
  assert.equal(maxAbsDiff(yi.data, x.data), 0);
  yi.dispose();
  x.dispose();
});

// ---- serialisation ---------------------------------------------------------------------------

test('serializeGraph / deserializeGraph: JSON + one Float32Array round-trips to the same outputs', async () => {
  await useEngine(1);
  manualSeed(12);
  const m = createModel('FSRCNN', { upscale: 2 });
  randomize(m, 0.2, 12);
  const g = toGraph(m);
  m.dispose();
  const { json, blob } = serializeGraph(g);
  const doc = JSON.parse(json) as { format: string; nodes: unknown[]; weights: Record<string, { shape: number[]; offset: number }> };
  assert.equal(doc.format, 'mvsr-graph');
  assert.equal(doc.nodes.length, g.nodes.length);
  assert.equal(blob.length, Object.values(g.weights).reduce((s, w) => s + w.data.length, 0));
  const g2 = deserializeGraph(json, blob);
  assert.deepEqual(g2.nodes, g.nodes);
  assert.deepEqual(Object.keys(g2.weights).sort(), Object.keys(g.weights).sort());
  const x = randomImage(5, 4, 3);
  const a = runGraph(g, x), b = runGraph(g2, x);
  assert.equal(maxAbsDiff(a.data, b.data), 0);
  [a, b, x].forEach((t) => t.dispose());
  assert.throws(() => deserializeGraph(json, blob.subarray(0, 10)), /weight '.*' .* lies outside the 10-float blob/);
  assert.throws(() => deserializeGraph('{"format":"x"}', blob), /format 'x' is not 'mvsr-graph'/);
  // the optimised graph is itself a valid graph of the IR
  const opt = optimizeGraph(g);
  validateGraph(opt);
  assert.ok(opt.nodes.length < g.nodes.length, 'PReLUs fused into their convs');
});

test('steady state: a compiled graph run frame after frame neither grows the WebAssembly heap nor keeps memory', async () => {
  await useEngine(2);
  manualSeed(3);
  const m = createModel('ETDS', { upscale: 4, num_block: 5, num_feat: 16 });
  const c = compileGraph(toGraph((m as unknown as { deploy(): SRModel }).deploy()));
  m.dispose();
  const e = (await import('../src/tensor/engine.js')).engine();
  const heap: number[] = [], inUse: number[] = [];
  for (let f = 0; f < 12; f++) {
    const x = randomImage(36, 64, f);
    const y = c.run(x);
    y.toArray();
    y.dispose();
    x.dispose();
    heap.push(e.heapBytes);
    inUse.push(e.bytesInUse);
  }
  c.dispose();
  assert.deepEqual(heap.slice(2), heap.slice(2).map(() => heap[2]), `heap after each frame: ${heap.join(', ')}`);
  assert.deepEqual(inUse.slice(1), inUse.slice(1).map(() => inUse[1]), 'bytes in use return to the same figure after every frame');
});

// ---- (e) layer normalisation -----------------------------------------------------------------

test('layer-norm nodes: runGraph (fused and not) equals the float64 reference and GraphNet\'s autograd forward, which trains the norms\' weights; pruning, profiling, serialisation keep them', async () => {
  await useEngine(1);
  const g = layerNormGraph();
  const live = liveTensorCount();
  const X = randomImage(7, 9, 21);
  const R = (w: GraphWeight): ref.RT => ({ shape: [...w.shape], data: Float64Array.from(w.data) });
  const W = (k: string): ref.RT => R(g.weights[k]!);
  // the graph from its definition, in float64
  const x: ref.RT = { shape: [...X.shape], data: Float64Array.from(X.data) };
  const c1 = ref.conv2d(x, W('c1.weight'), W('c1.bias'));
  const n1 = ref.layerNorm(c1, W('n1.weight'), W('n1.bias'));
  const c2 = ref.relu(ref.conv2d(n1, W('c2.weight'), W('c2.bias')));
  const r = ref.add(ref.conv2d(c2, W('c2b.weight'), null), c1);
  const n2 = ref.layerNorm(ref.conv2d(r, W('c3.weight'), W('c3.bias')), W('n2.weight'), W('n2.bias'), 0.01);
  const expected = ref.depthToSpace(n2, 2);
  const outs: Float32Array[] = [];
  for (const fuse of [true, false]) {
    const y = runGraph(g, X, { fuse });
    assert.deepEqual([...y.shape], expected.shape);
    const d = maxAbsDiff(y.data, expected.data);
    assert.ok(d < 1e-5, `fuse ${fuse}: max |graph - float64 reference| = ${d}`);
    outs.push(y.toArray());
    y.dispose();
  }
  assert.equal(maxAbsDiff(outs[0]!, outs[1]!), 0, 'fused and unfused plans give the same values');
  // the autograd ops (GraphNet, training) compute the same function and reach the norms' weights
  const net = new GraphNet(g);
  try {
    const y = net.forward(leaf(X));
    assert.equal(maxAbsDiff(y.value.data, outs[0]!), 0, 'GraphNet (autograd) vs runGraph');
    backward(y);
    const grads = new Map(Object.keys(g.weights).map((k, i) => [k, net.parameters()[i]!.grad]));
    for (const k of ['n1.weight', 'n1.bias', 'n2.weight', 'n2.bias']) {
      const gr = grads.get(k);
      assert.ok(gr && gr.size === g.weights[k]!.data.length && gr.toArray().some((v) => v !== 0), `${k} gets a gradient`);
    }
  } finally {
    clearTape();
    for (const p of net.parameters()) p.zeroGrad();
    net.dispose();
  }
  X.dispose();
  assert.equal(liveTensorCount(), live, 'no tensor leaked');

  // the passes, the pruner and serialisation keep the norms' weights
  const names = ['n1.weight', 'n1.bias', 'n2.weight', 'n2.bias'];
  for (const k of names) {
    assert.ok(usedWeights(g).includes(k), `usedWeights lists ${k}`);
    assert.ok(k in optimizeGraph(g).weights, `optimizeGraph keeps ${k}`);
  }
  const pr = pruneChannels(g, 0.5);
  assert.deepEqual(pr.pruned, [{ id: 'c2', from: 8, to: 4 }]);
  for (const k of names) assert.ok(k in pr.graph.weights, `the pruned graph keeps ${k}`);
  const { json, blob } = serializeGraph(g);
  const g2 = deserializeGraph(json, blob);
  const X2 = randomImage(4, 5, 22);
  const a = runGraph(g, X2), b = runGraph(g2, X2), p = runGraph(pr.graph, X2);
  assert.equal(maxAbsDiff(a.data, b.data), 0, 'serialised graph');
  assert.deepEqual([...p.shape], [...a.shape], 'pruned graph output shape');
  [a, b, p, X2].forEach((t) => t.dispose());
  // profile: a norm's weight and bias are parameters; its statistics count no MACs
  const prof = profileGraph(g, 5, 4);
  const node = (id: string) => prof.nodes.find((n) => n.id === id)!;
  assert.deepEqual([node('n1').params, node('n1').macs, node('n2').params, node('n2').macs], [12, 0, 24, 0]);
  assert.equal(prof.params, (162 + 6) + 12 + (48 + 8) + 432 + (648 + 12) + 24);
});

test('layer-norm nodes: a state dict\'s nn.LayerNorm through layerNormOf; bad eps, weights and channel counts are errors naming the node', async () => {
  await useEngine(1);
  const v = (shape: number[], fill = 1): GraphWeight => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });
  const sd = { 'body.norm.weight': v([3], 2), 'body.norm.bias': v([3], 0.5) };
  const sb = new GraphBuilder({ arch: 'toy', args: {}, scale: 1 }, sd);
  const g = sb.output(sb.layerNormOf('body.norm', sb.input(3)));
  assert.deepEqual(g.nodes[1], { op: 'layerNorm', id: 'body.norm', inputs: ['input'], weight: 'body.norm.weight', bias: 'body.norm.bias', eps: 1e-5 });
  assert.deepEqual(Object.keys(g.weights), ['body.norm.weight', 'body.norm.bias']);
  const X = Tensor.from([1, 1, 2, 3], [1, 2, 3, 5, 5, 5]);
  const y = runGraph(g, X);
  // pixel (1, 2, 3): deviations -1, 0, 1 over sqrt(2/3 + 1e-5); a constant pixel normalises to 0
  const s = 1 / Math.sqrt(2 / 3 + 1e-5);
  const want = [-2 * s + 0.5, 0.5, 2 * s + 0.5, 0.5, 0.5, 0.5];
  assert.ok(maxAbsDiff(y.data, want) < 1e-6, `${Array.from(y.data)} vs ${want}`);
  [X, y].forEach((t) => t.dispose());
  const nb = new GraphBuilder({ arch: 'toy', args: {}, scale: 1 }, { 'n.weight': v([3]) });
  assert.throws(() => nb.layerNormOf('n', nb.input(3)), /toGraph: toy: the state dict has no 'n.bias'/);

  const build = (weight: GraphWeight, bias: GraphWeight, eps = 1e-5): Graph => {
    const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 1 });
    return b.output(b.layerNorm('n', b.input(3), weight, bias, eps));
  };
  assert.throws(() => build(v([3]), v([3]), 0), /graph toy: node 'n' \(layerNorm\): eps 0 is not a finite number > 0/);
  assert.throws(() => build(v([3]), v([3]), Infinity), /node 'n' \(layerNorm\): eps Infinity is not a finite number > 0/);
  assert.throws(() => build(v([1, 3]), v([3])), /node 'n' \(layerNorm\): weight 'n.weight' \[1,3\] is not a vector \[C\]/);
  assert.throws(() => build(v([3]), v([4])), /node 'n' \(layerNorm\): bias 'n.bias' \[4\] does not match weight 'n.weight' \[3\]/);
  const g4 = build(v([4]), v([4]));
  assert.throws(() => inferShapes(g4, 5, 5), /node 'n' \(layerNorm\): input 'input' has 3 channels but weight 'n.weight' \[4\] normalises 4/);
  const x = randomImage(5, 5, 1);
  assert.throws(() => runGraph(g4, x), /node 'n' \(layerNorm\): input 'input' has 3 channels but weight 'n.weight' \[4\] normalises 4/);
  x.dispose();
  const missing: Graph = { ...g, weights: { 'body.norm.weight': g.weights['body.norm.weight']! } };
  assert.throws(() => validateGraph(missing), /node 'body.norm' \(layerNorm\): refers to weight 'body.norm.bias', which the graph does not hold/);
});

test('a windowAttention node: heads and window checked when the graph is built or read, the channels when shapes are inferred', () => {
  const build = (heads: number, window: number, C = 12): Graph => {
    const b = new GraphBuilder({ arch: 'toy', args: {}, scale: 1 });
    return b.output(b.windowAttention('a', b.input(C), heads, window));
  };
  assert.throws(() => build(0, 8), /graph toy: node 'a' \(windowAttention\): heads 0 and window 8 must be positive integers/);
  assert.throws(() => build(2, 1.5), /node 'a' \(windowAttention\): heads 2 and window 1.5 must be positive integers/);
  assert.throws(() => build(2, 100000), /node 'a' \(windowAttention\): window 100000 is larger than 32 \(1024 tokens attending to each other\)/);
  assert.deepEqual(inferShapes(build(2, 4), 5, 7).get('a'), [5, 7, 4]);
  assert.throws(() => inferShapes(build(3, 4), 5, 7), /node 'a' \(windowAttention\): input 'input' has 12 channels: not q, k and v of C channels each with C divisible by 3 heads/);
  assert.throws(() => inferShapes(build(1, 4, 10), 5, 7), /input 'input' has 10 channels: not q, k and v/);
});
