// Model zoo: architectures match the official ETDS checkpoints name for name and shape for shape
// (strict loading of all 49), every loaded model runs, re-parameterisation (ECBSR) and the
// equivalent transformations (ETDS, ECBSR+ET, ABPN+ET) preserve the function, our ET conversions
// reproduce the official _ET checkpoints, and parameter counts match the ETDS paper's Table 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { useEngine, mulberry32, maxAbsDiff, assertClose, randomize } from './helpers.js';
import * as ref from './ref/index.js';
import type { RT } from './ref/index.js';
import { Tensor, liveTensorCount } from '../src/tensor/tensor.js';
import { conv2d as conv2dRaw } from '../src/tensor/ops/conv.js';
import { leaf, noGrad, clearTape, backward } from '../src/autograd/var.js';
import { l1Loss } from '../src/autograd/ops/loss.js';
import { manualSeed } from '../src/nn/init.js';
import type { Module, StateDict } from '../src/nn/module.js';
import {
  createModel, createModelFromConfig, listArchs, resolveArgs, type SRModel,
} from '../src/models/registry.js';
import { ECBSR, ECBSRT, SeqConv3x3 } from '../src/models/ecbsr.js';
import { ABPN } from '../src/models/abpn.js';
import { ETDS } from '../src/models/etds.js';
import { loadWeightsFile } from '../src/io/weights.node.js';
import { ZOO_DIR, TABLE_PATH, needData, allTestConfigs, type TestConfig, type TableRow } from './data.js';

const zooDir = ZOO_DIR;
const tablePath = TABLE_PATH;
const noZoo = needData('checkpoints/etds-official');
const noTable = needData('benchmarks/published/etds-table2.json');

// ---- helpers -------------------------------------------------------------------------------

function loadCheckpoint(rel: string): StateDict {
  return loadWeightsFile(path.join(zooDir, rel)).tensors;
}

function randomImage(H: number, W: number, seed: number, C = 3): Tensor {
  const r = mulberry32(seed);
  return Tensor.from([1, H, W, C], Array.from({ length: H * W * C }, () => r()));
}

/** Forward without a tape; returns a copy of the output and its shape. */
function run(m: Module, x: Tensor): { shape: number[]; data: Float32Array } {
  try {
    const y = noGrad(() => m.forward(leaf(x)));
    return { shape: [...y.shape], data: y.value.toArray() };
  } finally {
    clearTape();
  }
}

function clamp01(a: Float32Array): Float32Array {
  return a.map((v) => Math.min(Math.max(v, 0), 1));
}


function paramShapes(m: Module): Record<string, number[]> {
  return Object.fromEntries([...m.namedParameters()].map(([n, p]) => [n, [...p.value.shape]]));
}

// ---- registry ------------------------------------------------------------------------------

test('registry: the reference names, defaults, and argument errors that name the key', async () => {
  await useEngine(1);
  for (const name of ['Bicubic', 'ESPCN', 'FSRCNN', 'ECBSR', 'ECBSRT', 'ECBSRET', 'ABPN', 'ABPN_ET', 'Plain', 'ETDS', 'ETDSForInference', 'ELSR']) {
    assert.ok(listArchs().includes(name), `${name} is registered`);
    const m = createModel(name);
    assert.equal(m.arch, name);
    assert.equal(m.scale, 4);
    assert.deepEqual(m.args, resolveArgs(name, {}));
    m.dispose();
  }
  assert.throws(() => createModel('ETDSX'), /unknown architecture 'ETDSX'/);
  assert.throws(() => createModel('ETDS', { num_feats: 3 }), /ETDS: unknown argument 'num_feats'/);
  assert.throws(() => createModel('ABPN', { scale: 2.5 }), /ABPN: argument 'scale' must be a positive integer/);
  assert.throws(() => createModel('ECBSR', { act_type: 'softplus' }), /act_type 'softplus' needs an op the engine does not have/);
  assert.throws(() => createModel('ETDS', { num_feat: 3, num_residual_feat: 3 }), /num_feat \(3\) > num_residual_feat \(3\)/);
  const m = createModelFromConfig({ type: 'Plain', num_in_ch: 3, num_out_ch: 3, upscale: 2, num_block: 1, num_feat: 4 });
  assert.deepEqual(paramShapes(m), {
    'conv_first.weight': [4, 3, 3, 3], 'conv_first.bias': [4],
    'backbone_convs.0.weight': [4, 4, 3, 3], 'backbone_convs.0.bias': [4],
    'conv_last.weight': [12, 4, 3, 3], 'conv_last.bias': [12],
  });
  m.dispose();
});

test('ECBSR training graph has the reference state-dict layout (22 entries per ECB, 21 for the linear tail)', async () => {
  await useEngine(1);
  const m = createModel('ECBSR', { upscale: 2, num_block: 3, num_feat: 8 });
  const names = [...m.namedParameters()].map(([n]) => n);
  // the reference converter recovers num_block as (len + 1) // 22 - 2
  assert.equal(Math.floor((names.length + 1) / 22) - 2, 3);
  const shapes = paramShapes(m);
  assert.deepEqual(shapes['backbone.0.conv1x1_3x3.k0'], [16, 3, 1, 1], 'depth multiplier 2');
  assert.deepEqual(shapes['backbone.0.conv1x1_3x3.k1'], [8, 16, 3, 3]);
  assert.deepEqual(shapes['backbone.1.conv1x1_sbx.scale'], [8, 1, 1, 1]);
  assert.deepEqual(shapes['backbone.4.conv1x1_lpl.mask'], [12, 1, 3, 3]);
  assert.deepEqual(shapes['backbone.3.act.weight'], [8]);
  assert.equal(shapes['backbone.4.act.weight'], undefined, 'linear tail has no activation parameters');
  m.dispose();
});

test('training graphs backpropagate to every trainable parameter; the ECB edge masks stay fixed', async () => {
  await useEngine(1);
  for (const name of ['ECBSR', 'ETDS', 'ABPN', 'ESPCN', 'FSRCNN', 'ELSR', 'Plain']) {
    manualSeed(6);
    const m = createModel(name, name === 'ABPN' ? { scale: 2 } : { upscale: 2 });
    const x = randomImage(5, 4, 8);
    const xv = leaf(x);
    try {
      const y = m.forward(xv);
      const target = leaf(Tensor.full(y.value.shape, 0.5));
      backward(l1Loss(y, target));
      target.value.dispose();
      for (const [n, p] of m.namedParameters()) {
        if (/(^|\.)mask$/.test(n)) assert.equal(p.grad, null, `${name}: ${n} is not trainable`);
        // the edge branches' b0 shifts the whole padded input of a mask whose taps sum to 0: its true gradient is 0
        else if (/conv1x1_(sbx|sby|lpl)\.b0$/.test(n)) assert.ok(p.grad && p.grad.data.every((v) => v === 0), `${name}: ${n}: gradient exactly 0`);
        else assert.ok(p.grad && p.grad.data.some((v) => v !== 0), `${name}: ${n} receives a gradient`);
      }
    } finally {
      clearTape();
      m.zeroGrad();
      m.dispose();
      x.dispose();
    }
  }
});

// ---- (a) + (b): every official checkpoint -----------------------------------------------------

test('every official checkpoint loads strictly into the model its config names and runs', { skip: noZoo }, async (t) => {
  await useEngine(2);
  const configs = allTestConfigs();
  const withWeights = configs.filter((c) => c.checkpoint);
  assert.equal(withWeights.length, 49, '49 official checkpoints have a config');
  for (const c of configs) {
    const name = path.basename(c.file, '.yml');
    await t.test(name, () => {
      const model: SRModel = createModelFromConfig(c.networkG);
      try {
        if (c.checkpoint) {
          const sd = loadCheckpoint(c.checkpoint);
          model.loadStateDict(sd, true); // throws on a missing, unexpected or mis-shaped key
          assert.deepEqual(Object.keys(sd).sort(), Object.keys(paramShapes(model)).sort());
        }
        const x = randomImage(7, 6, 11);
        const y = run(model, x);
        x.dispose();
        const s = model.scale;
        assert.equal(s, c.networkG.upscale ?? c.networkG.scale);
        assert.deepEqual(y.shape, [1, 7 * s, 6 * s, 3]);
        assert.ok(y.data.every(Number.isFinite), 'finite output');
      } finally {
        model.dispose();
      }
    });
  }
});

/**
 * The reference PyTorch forwards (ETDS repo, core/archs/ir/<Family>/arch.py) written out with the float64
 * ops of test/ref on the checkpoint's own tensors: an independent path to the same numbers.
 */
function referenceForward(ng: Record<string, unknown>, sd: StateDict, x: RT): RT {
  const g = (k: string): RT => {
    const t = sd[k];
    assert.ok(t, `reference forward: no ${k}`);
    return { shape: [...t.shape], data: Float64Array.from(t.data) };
  };
  const conv = (y: RT, k: string): RT => ref.conv2d(y, g(`${k}.weight`), g(`${k}.bias`));
  const repeatInterleave = (y: RT, n: number): RT => {
    const [N, H, W, C] = y.shape as [number, number, number, number];
    const out = ref.rt([N, H, W, C * n]);
    for (let p = 0; p < N * H * W; p++) for (let c = 0; c < C * n; c++) out.data[p * C * n + c] = y.data[p * C + Math.floor(c / n)]!;
    return out;
  };
  const dropLast = (y: RT): RT => ref.split(y, [y.shape[3]! - 1, 1])[0]!;
  const s = (ng.upscale ?? ng.scale) as number;
  const nb = ng.num_block as number;
  let y: RT;
  switch (ng.type) {
    case 'Bicubic':
      return ref.resize(x, x.shape[1]! * s, x.shape[2]! * s, 'bicubic');
    case 'ESPCN':
      y = ref.tanh(conv(ref.tanh(conv(x, 'conv1')), 'conv2'));
      return ref.sigmoid(ref.depthToSpace(conv(y, 'conv3'), s));
    case 'FSRCNN':
      y = ref.prelu(conv(x, 'first_part.0'), g('first_part.1.weight'));
      for (let i = 0; i < 12; i += 2) y = ref.prelu(conv(y, `mid_part.${i}`), g(`mid_part.${i + 1}.weight`));
      return ref.convTranspose2d(y, g('last_part.weight'), g('last_part.bias'), { stride: s, padding: 4, outputPadding: s - 1 });
    case 'ECBSRT':
      y = x;
      for (let i = 0; i <= nb; i++) y = ref.prelu(conv(y, `backbone.${i}.0`), g(`backbone.${i}.1.weight`));
      return ref.depthToSpace(ref.add(conv(y, `backbone.${nb + 1}.0`), repeatInterleave(x, s * s)), s);
    case 'ECBSRET':
      y = x;
      for (let i = 0; i <= nb; i++) y = ref.prelu(conv(y, `backbone.${i}.0`), g(`backbone.${i}.1.weight`));
      y = ref.relu(conv(ref.relu(conv(y, `backbone.${nb + 1}.0`)), `backbone.${nb + 2}.0`));
      return ref.depthToSpace(s === 3 ? dropLast(y) : y, s);
    case 'ABPN':
    case 'ABPN_ET':
      y = ref.relu(conv(x, 'backbone.0'));
      for (let i = 0; i < nb; i++) y = ref.relu(conv(y, `backbone.${2 + i}.0`));
      if (ng.type === 'ABPN') {
        y = conv(ref.relu(conv(y, `backbone.${2 + nb}`)), `backbone.${4 + nb}`);
        return ref.depthToSpace(ref.add(y, repeatInterleave(x, s * s)), s);
      }
      for (const j of [2 + nb, 4 + nb, 6 + nb]) y = ref.relu(conv(y, `backbone.${j}`));
      return ref.depthToSpace(s === 3 ? dropLast(y) : y, s);
    case 'Plain':
    case 'ETDSForInference':
      y = ref.relu(conv(x, 'conv_first'));
      for (let i = 0; i < nb; i++) y = ref.relu(conv(y, `backbone_convs.${i}`));
      y = conv(y, 'conv_last');
      if (ng.type === 'Plain') return ref.depthToSpace(y, s);
      y = ref.relu(conv(ref.relu(y), 'conv_clip'));
      return ref.depthToSpace(s === 3 ? dropLast(y) : y, s);
    default:
      throw new Error(`reference forward: no reference for ${String(ng.type)}`);
  }
}

test('loaded official models equal the reference forwards (float64, from the checkpoint tensors)', { skip: noZoo }, async (t) => {
  await useEngine(2);
  const wanted = ['Bicubic_x3', 'ESPCN_x3', 'FSRCNN_x3', 'ECBSR_M4C16_x3', 'ECBSR_ET_M4C16_x3', 'ABPN_M4C28_x3',
    'ABPN_ET_M4C28_x3', 'ABPN_ET_M4C28_x4', 'Plain_M6C32_x4', 'ETDS_M5C16_x3', 'ETDS_M5C16_x4'];
  const configs = allTestConfigs().filter((c) => wanted.includes(path.basename(c.file, '.yml').replace(/^test_/, '')));
  assert.equal(configs.length, wanted.length);
  for (const c of configs) {
    await t.test(path.basename(c.file, '.yml'), () => {
      const model = createModelFromConfig(c.networkG);
      const sd = c.checkpoint ? loadCheckpoint(c.checkpoint) : {};
      if (c.checkpoint) model.loadStateDict(sd, true);
      const x = randomImage(6, 5, 77);
      const y = run(model, x);
      const expected = referenceForward(c.networkG, sd, { shape: [...x.shape], data: Float64Array.from(x.data) });
      x.dispose();
      model.dispose();
      assert.deepEqual(y.shape, expected.shape);
      assertClose(y.data, expected.data, 2e-5, 1e-5, `${c.networkG.type as string} vs reference`);
    });
  }
});

// ---- (c) re-parameterisation and equivalent transformations ----------------------------------

test('SeqConv3x3 branches fold exactly into one 3x3 conv', async () => {
  await useEngine(1);
  manualSeed(4);
  for (const type of ['conv1x1-conv3x3', 'conv1x1-sobelx', 'conv1x1-sobely', 'conv1x1-laplacian'] as const) {
    const br = new SeqConv3x3(type, 3, 5, 2.0);
    randomize(br, 0.5, 9);
    const f = br.repParams();
    const x = randomImage(6, 5, 3);
    const y = run(br, x);
    const w = Tensor.from([5, 3, 3, 3], f.weight), b = Tensor.from([5], f.bias);
    const folded = conv2dRaw(x, w, b, { padding: 1 });
    const d = maxAbsDiff(y.data, folded.data);
    assert.ok(d < 1e-5, `${type}: max |branch - folded| = ${d}`);
    [x, w, b, folded].forEach((v) => v.dispose());
    br.dispose();
  }
});

test('ECBSR.deploy(): the re-parameterised plain model equals the training graph', async () => {
  await useEngine(2);
  const live = liveTensorCount();
  for (const [upscale, act_type] of [[2, 'prelu'], [3, 'relu'], [4, 'prelu']] as const) {
    manualSeed(upscale);
    const train = new ECBSR({ num_in_ch: 3, num_out_ch: 3, upscale, num_block: 2, num_feat: 8, act_type });
    // the reference initialises scale and bias at ~1e-3; make every branch count
    for (const [n, p] of train.namedParameters()) {
      if (n.endsWith('.scale') || n.endsWith('.bias') || n.endsWith('.b0') || n.endsWith('.b1')) {
        const r = mulberry32(n.length * 7919 + upscale);
        const d = p.value.data;
        for (let i = 0; i < d.length; i++) d[i] = (2 * r() - 1) * 0.2;
      }
    }
    const plain = train.deploy();
    assert.ok(plain instanceof ECBSRT);
    assert.equal(plain.arch, 'ECBSRT');
    const x = randomImage(9, 7, upscale);
    const yTrain = run(train, x);
    const yPlain = run(plain, x);
    train.eval();
    const yEval = run(train, x);
    x.dispose();
    assert.deepEqual(yPlain.shape, [1, 9 * upscale, 7 * upscale, 3]);
    const d = maxAbsDiff(yTrain.data, yPlain.data), de = maxAbsDiff(yTrain.data, yEval.data);
    assert.ok(d < 1e-4, `x${upscale} ${act_type}: max |training - deployed| = ${d}`);
    assert.ok(de < 1e-4, `x${upscale} ${act_type}: max |training - eval (folded on the fly)| = ${de}`);
    assert.ok(plain.numParameters() < train.numParameters());
    train.dispose();
    plain.dispose();
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked by training, eval, deploy and dispose');
});

test('ETDS.deploy(): ETDSForInference equals clamp(ETDS(x), 0, 1)', async () => {
  await useEngine(2);
  const live = liveTensorCount();
  for (const upscale of [2, 3, 4]) {
    manualSeed(10 + upscale);
    const etds = new ETDS({ num_in_ch: 3, num_out_ch: 3, upscale, num_block: 3, num_feat: 12, num_residual_feat: 4 });
    const x = randomImage(8, 7, 20 + upscale);
    // as initialised, the residual stream is a nearest upsampling of the input
    const r = noGrad(() => etds.forwardDual(leaf(x)).residual);
    const rs = r.value.toArray();
    clearTape();
    const xd = x.data;
    let worst = 0;
    for (let h = 0; h < 8 * upscale; h++) {
      for (let w = 0; w < 7 * upscale; w++) {
        for (let c = 0; c < 3; c++) {
          const near = xd[((Math.floor(h / upscale)) * 7 + Math.floor(w / upscale)) * 3 + c]!;
          worst = Math.max(worst, Math.abs(rs[(h * 7 * upscale + w) * 3 + c]! - near));
        }
      }
    }
    assert.ok(worst < 1e-6, `x${upscale}: initial residual stream is nearest upsampling (max |Δ| ${worst})`);
    // then train-like weights everywhere, so both streams and the cross convs matter
    randomize(etds, 0.15, 30 + upscale);
    const plain = etds.deploy();
    assert.equal(plain.arch, 'ETDSForInference');
    const y = clamp01(run(etds, x).data);
    const yp = run(plain, x);
    x.dispose();
    assert.deepEqual(yp.shape, [1, 8 * upscale, 7 * upscale, 3]);
    const d = maxAbsDiff(y, yp.data);
    assert.ok(d < 1e-4, `x${upscale}: max |clamp(ETDS) - ETDSForInference| = ${d}`);
    assert.ok(y.some((v) => v > 0 && v < 1), 'the comparison covers unclamped values');
    etds.dispose();
    plain.dispose();
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('ET of the official ECBSR and ABPN checkpoints: same function, and the official _ET weights', { skip: noZoo }, async (t) => {
  await useEngine(2);
  const pairs: [string, string, Record<string, unknown>][] = [];
  for (const s of [2, 3, 4]) {
    for (const mc of ['M4C16', 'M4C32', 'M6C40']) {
      const [nb, nf] = mc === 'M4C16' ? [4, 16] : mc === 'M4C32' ? [4, 32] : [6, 40];
      pairs.push([`ECBSR/ECBSR_${mc}_x${s}.pth`, `ECBSR/ECBSR_ET_${mc}_x${s}.pth`,
        { type: 'ECBSRT', num_in_ch: 3, num_out_ch: 3, upscale: s, num_block: nb, num_feat: nf, act_type: 'prelu' }]);
    }
    for (const mc of ['M4C28', 'M6C40']) {
      const [nb, nf] = mc === 'M4C28' ? [4, 28] : [6, 40];
      pairs.push([`ABPN/ABPN_${mc}_x${s}.pth`, `ABPN/ABPN_ET_${mc}_x${s}.pth`, { type: 'ABPN', num_feat: nf, num_block: nb, scale: s }]);
    }
  }
  for (const [plainPath, etPath, cfg] of pairs) {
    await t.test(path.basename(etPath, '.pth'), () => {
      const m = createModelFromConfig(cfg) as ECBSRT | ABPN;
      m.loadStateDict(loadCheckpoint(plainPath), true);
      const et = m.toET();
      const x = randomImage(7, 6, 5);
      const y = clamp01(run(m, x).data);
      const ye = run(et, x);
      const d = maxAbsDiff(y, ye.data);
      assert.ok(d < 1e-4, `max |clamp(plain) - ET| = ${d}`);
      // the official _ET checkpoints were made from the plain ones by the same transformation
      const official = loadCheckpoint(etPath);
      const ours = et.stateDict();
      assert.deepEqual(Object.keys(ours).sort(), Object.keys(official).sort());
      let worst = 0;
      for (const k of Object.keys(ours)) worst = Math.max(worst, maxAbsDiff(ours[k]!.data, official[k]!.data));
      assert.ok(worst < 1e-6, `our ET weights differ from ${etPath} by up to ${worst}`);
      x.dispose();
      m.dispose();
      et.dispose();
    });
  }
});

// ---- (d) parameter counts against the ETDS paper's Table 2 ------------------------------------


test('parameter counts equal the ETDS paper\'s Table 2 (the checkpoint form: plain / after re-parameterisation)', { skip: noZoo || noTable }, async () => {
  await useEngine(1);
  const table = JSON.parse(readFileSync(tablePath, 'utf8')) as { rows: TableRow[] };
  const configs = new Map(allTestConfigs().filter((c) => c.checkpoint).map((c) => [c.checkpoint!, c]));
  const lines: string[] = [];
  const bad: string[] = [];
  let compared = 0;
  for (const row of table.rows) {
    if (row.params_k === null || !row.checkpoint) continue;
    const c = configs.get(row.checkpoint);
    assert.ok(c, `no config for ${row.checkpoint}`);
    const m = createModelFromConfig(c.networkG);
    const ours = m.numParameters() / 1000;
    // the training-time graph of the same network, for information
    const trainingArch = m.arch === 'ECBSRT' ? 'ECBSR' : m.arch === 'ETDSForInference' ? 'ETDS' : null;
    let training = '';
    if (trainingArch) {
      const tm = createModel(trainingArch, resolveArgs(m.arch, m.args));
      training = `  (training graph ${trainingArch}: ${(tm.numParameters() / 1000).toFixed(2)}k)`;
      tm.dispose();
    }
    const ok = Math.abs(ours - row.params_k) <= 0.01 + 1e-9;
    lines.push(`${ok ? ' ' : '!'} ${`${row.model} x${row.scale}`.padEnd(18)} ${m.arch.padEnd(17)} ours ${ours.toFixed(3).padStart(8)}k  table ${row.params_k.toFixed(2).padStart(7)}k${training}`);
    if (!ok) bad.push(`${row.model} x${row.scale}: ours ${ours.toFixed(3)}k, table ${row.params_k}k`);
    compared++;
    m.dispose();
  }
  console.log(`parameter counts (thousands), checkpoint form vs ETDS Table 2:\n${lines.join('\n')}`);
  assert.equal(compared, 33);
  assert.deepEqual(bad, [], 'parameter counts that differ from Table 2');
});
