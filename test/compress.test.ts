// Pruning and clustering on the deploy graph: the pruned graph computes what the original does
// with the pruned channels' filters zeroed (an independent reference), keeps the largest-L1
// filters, and runs in LiteRT.js and onnxruntime as mvsr runs it; clustering leaves at most k
// values per layer at the k-means centroids and a file that compresses; mvsr compress from the
// command line, and its one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { useEngine, mulberry32, maxAbsDiff, randomize, skipReason, runGraphArray } from './helpers.js';
import { createModel, toGraph } from '../src/models/registry.js';
import { optimizeGraph } from '../src/graph/passes.js';
import { pruneChannels, clusterWeights, distinctWeightValues, kmeans1d } from '../src/graph/compress.js';
import { profileGraph } from '../src/graph/profile.js';
import { exportTflite } from '../src/export/tflite.js';
import { loadLiteRtNode, TfliteModel } from '../src/runtime/tflite.node.js';
import { manualSeed } from '../src/nn/init.js';
import type { Graph, ConvNode } from '../src/graph/ir.js';

const noLiteRt = await skipReason(() => loadLiteRtNode(), '@litertjs/core');
const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const mvsr = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8' });

function plainGraph(seed: number, act: 'relu' | 'prelu'): Graph {
  manualSeed(seed);
  const m = act === 'relu' ? createModel('Plain', { upscale: 2, num_block: 3, num_feat: 8 }) : createModel('ECBSRT', { upscale: 2, num_block: 3, num_feat: 8, act_type: 'prelu' });
  randomize(m, 0.3, seed);
  const g = optimizeGraph(toGraph(m));
  m.dispose();
  return g;
}

/** The reference: the original graph with every pruned channel's filter and bias zeroed (act(0) = 0 for ReLU and PReLU). */
function zeroedLike(g: Graph, pruned: { id: string; from: number; to: number }[]): Graph {
  const zeroed: Graph = { ...g, weights: { ...g.weights } };
  for (const r of pruned) {
    const n = g.nodes.find((x) => x.id === r.id) as ConvNode;
    const w = g.weights[n.weight]!, O = w.shape[0]!, per = w.data.length / O;
    const l1 = Array.from({ length: O }, (_, o) => w.data.subarray(o * per, (o + 1) * per).reduce((a, b) => a + Math.abs(b), 0));
    const dropped = l1.map((v, o) => [v, o] as const).sort((a, b) => a[0] - b[0] || b[1] - a[1]).slice(0, r.from - r.to).map(([, o]) => o);
    const wz = Float32Array.from(w.data), bz = Float32Array.from(g.weights[n.bias!]!.data);
    for (const o of dropped) { wz.fill(0, o * per, (o + 1) * per); bz[o] = 0; }
    zeroed.weights[n.weight] = { shape: w.shape, data: wz };
    zeroed.weights[n.bias!] = { shape: [O], data: bz };
  }
  return zeroed;
}

test('pruning keeps the filters of largest L1 norm and computes the original graph with the pruned filters zeroed', async () => {
  await useEngine(1);
  for (const act of ['relu', 'prelu'] as const) {
    const g = plainGraph(act === 'relu' ? 3 : 4, act);
    const { graph: p, pruned } = pruneChannels(g, 0.5);
    assert.ok(pruned.length >= 2, `${act}: ${JSON.stringify(pruned)}`);
    for (const r of pruned) assert.equal(r.to, r.from - Math.floor(r.from / 2));
    const zeroed = zeroedLike(g, pruned);
    const r = mulberry32(5), x = { shape: [1, 9, 7, 3], data: Float32Array.from({ length: 9 * 7 * 3 }, () => r()) };
    const a = runGraphArray(p, x), b = runGraphArray(zeroed, x);
    assert.deepEqual(a.shape, b.shape);
    assert.ok(maxAbsDiff(a.data, b.data) < 1e-5, `${act}: max diff ${maxAbsDiff(a.data, b.data)}`);
    assert.ok(profileGraph(p, 18, 32).params < profileGraph(g, 18, 32).params);
  }
});

test('a video step graph (RLSP, aligned) prunes the same way: one step of the pruned graph equals the original\'s with the pruned filters zeroed, state included', async () => {
  await useEngine(1);
  const { createVideoModel, stepGraph } = await import('../src/models/registry.js');
  const { compileGraph } = await import('../src/runtime/wasm.js');
  const { graphInputs } = await import('../src/graph/ir.js');
  const { inferShapes } = await import('../src/graph/shapes.js');
  const { Tensor } = await import('../src/tensor/tensor.js');
  manualSeed(9);
  const m = createVideoModel('RLSP', { upscale: 2, num_feat: 8, num_layer: 4, align: 'global', align_radius: 2 });
  randomize(m, 0.3, 9);
  const g = optimizeGraph(stepGraph(m));
  m.dispose();
  const { graph: p, pruned } = pruneChannels(g, 0.25);
  assert.ok(pruned.length >= 2, JSON.stringify(pruned));
  const shapes = inferShapes(g, 7, 9), r = mulberry32(3);
  const ins = Object.fromEntries(graphInputs(g).map((n) => [n.id, Tensor.from([1, ...shapes.get(n.id)!], Array.from({ length: shapes.get(n.id)!.reduce((a, b) => a * b, 1) }, () => r()))]));
  const a = compileGraph(p), b = compileGraph(zeroedLike(g, pruned));
  try {
    const ya = a.runNamed(ins), yb = b.runNamed(ins);
    for (const id of Object.keys(yb)) {
      assert.ok(maxAbsDiff(ya[id]!.toArray(), yb[id]!.toArray()) < 1e-5, `output ${id}`);
      ya[id]!.dispose();
      yb[id]!.dispose();
    }
  } finally {
    a.dispose();
    b.dispose();
    for (const t of Object.values(ins)) t.dispose();
  }
  assert.ok(profileGraph(p, 18, 32).params < profileGraph(g, 18, 32).params);
});

test('a pruned graph is a plain network the TFLite export handles: LiteRT.js gives mvsr\'s output within 1e-4', { skip: noLiteRt }, async () => {
  await useEngine(1);
  const { graph: p } = pruneChannels(plainGraph(6, 'prelu'), 0.25);
  const r = mulberry32(8), x = { shape: [1, 7, 9, 3], data: Float32Array.from({ length: 7 * 9 * 3 }, () => r()) };
  const ref = runGraphArray(p, x);
  const tm = await TfliteModel.create(exportTflite(p, { inputShape: [7, 9] }));
  try {
    const out = await tm.run({ input: x.data });
    assert.ok(maxAbsDiff(out.output!.data as Float32Array, ref.data) < 1e-4);
  } finally {
    tm.dispose();
  }
});

test('clustering: at most k values per conv weight, each weight at its nearest centroid; k-means finds separated groups; the .tflite compresses', async () => {
  await useEngine(1);
  const vals = Float32Array.from([...Array.from({ length: 50 }, (_, i) => -1 + i * 1e-3), ...Array.from({ length: 30 }, (_, i) => 2 + i * 1e-3)]);
  const { centroids } = kmeans1d(vals, 2);
  assert.ok(Math.abs(centroids[0]! - (-1 + 49 * 1e-3 / 2)) < 1e-6 && Math.abs(centroids[1]! - (2 + 29 * 1e-3 / 2)) < 1e-6, `${Array.from(centroids)}`);
  const g = plainGraph(9, 'relu'), c = clusterWeights(g, 4);
  for (const [k, n] of Object.entries(distinctWeightValues(c))) assert.ok(n <= 4, `${k}: ${n} values`);
  for (const n of c.nodes) {
    if (n.op !== 'conv') continue;
    const cw = c.weights[n.weight]!.data, w = g.weights[n.weight]!.data, cs = [...new Set(cw)];
    for (let i = 0; i < w.length; i++) {
      const best = Math.min(...cs.map((v) => Math.abs(v - w[i]!)));
      assert.ok(Math.abs(cw[i]! - w[i]!) <= best + 1e-6, `${n.weight}[${i}] not at its nearest centroid`);
    }
  }
  const size = (x: Graph): number => gzipSync(exportTflite(x, { inputShape: [16, 16] }), { level: 9 }).length;
  assert.ok(size(c) < 0.6 * size(g), `gzip ${size(c)} vs ${size(g)}`);
});

test('mvsr compress --prune / --cluster writes a graph file eval and export take; bad input is one line and leaves no file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-compress-'));
  try {
    const p = join(dir, 'p.safetensors');
    const a = mvsr('compress', 'elsr-x4', '--prune', '0.5', '-o', p);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stderr, /pruned 0\.5; params 3469 -> \d+; \.tflite [\d.]+ KB, gzipped [\d.]+ KB/);
    const x = mvsr('export', p, '-o', join(dir, 'p.tflite'), '--input', '8x8');
    assert.equal(x.status, 0, x.stderr);
    const before = readdirSync(dir).sort();
    for (const [args, re] of [
      [['compress', 'elsr-x4', '-o', join(dir, 'a.safetensors')], /give one of --prune <ratio> and --cluster <k>/],
      [['compress', 'elsr-x4', '--prune', '1.5', '-o', join(dir, 'b.safetensors')], /--prune must be a fraction in \(0, 1\)/],
      [['compress', 'elsr-x4', '--cluster', '8', '--tune', '5', '-o', join(dir, 'c.safetensors')], /--tune needs --data/],
      [['compress', 'rlsp-x4', '--cluster', '8', '--tune', '5', '-o', join(dir, 'd.safetensors')], /--tune needs --data <folder of HR images, or of clips for a video model>/],
    ] as [string[], RegExp][]) {
      const b = mvsr(...args);
      assert.notEqual(b.status, 0);
      assert.match(b.stderr, re);
      assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
    }
    assert.deepEqual(readdirSync(dir).sort(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GraphNet (the trainable graph) computes what the runtime computes, for the optimized graph of every zoo image family (fused PReLU, tanh, sigmoid, clamp included)', async () => {
  await useEngine(1);
  const { GraphNet } = await import('../src/train/graph-net.js');
  const { noGrad, leaf, clearTape } = await import('../src/autograd/var.js');
  const { Tensor } = await import('../src/tensor/tensor.js');
  const { SMALL_FAMILIES, sized } = await import('./helpers.js');
  let seed = 60;
  for (const [arch, argsOf] of SMALL_FAMILIES) {
    if (/FSRCNN|Bicubic/.test(arch)) continue; // transposed convs and bicubic resizes are not trainable as graphs
    manualSeed(seed);
    const m = createModel(arch, argsOf(3));
    randomize(m, 0.3, seed++);
    const g = optimizeGraph(toGraph(m));
    m.dispose();
    const C = g.nodes.find((n) => n.op === 'input')!.channels, r = mulberry32(seed);
    const [H, W] = sized(arch, 6, 5);
    const x = { shape: [1, H, W, C], data: Float32Array.from({ length: H * W * C }, () => r()) };
    const want = runGraphArray(g, x);
    const net = new GraphNet(g), t = Tensor.from(x.shape, x.data);
    const got = noGrad(() => net.forward(leaf(t))).value.toArray();
    clearTape();
    t.dispose();
    net.dispose();
    assert.ok(maxAbsDiff(got, want.data) < 1e-5, `${arch}: ${maxAbsDiff(got, want.data)}`);
  }
});

test('cluster-preserving fine-tuning: a shared weight\'s centroid gradient is the sum of its values\' gradients, and a tuned clustered graph keeps at most k values per layer', async () => {
  await useEngine(1);
  const { leaf, backward, clearTape } = await import('../src/autograd/var.js');
  const { sharedWeight } = await import('../src/autograd/ops/cluster.js');
  const { mul } = await import('../src/autograd/ops/pointwise.js');
  const { Tensor } = await import('../src/tensor/tensor.js');
  const { clusterGraph } = await import('../src/graph/compress.js');
  const { fineTuneGraph } = await import('../src/train/graph-tune.node.js');
  const { writeImage } = await import('../src/io/image.node.js');
  const c = leaf(Tensor.from([3], [0.5, -1, 2]), true), assign = Uint16Array.from([0, 2, 2, 1, 0, 2]);
  const coef = [1, 2, 3, 4, 5, 6], w = sharedWeight(c, assign, [2, 3]);
  assert.deepEqual(Array.from(w.value.data), [0.5, 2, 2, -1, 0.5, 2]);
  backward(mul(w, leaf(Tensor.from([2, 3], coef))));
  assert.deepEqual(Array.from(c.grad!.data), [1 + 5, 4, 2 + 3 + 6]);
  clearTape();
  c.value.dispose();
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-cluster-tune-'));
  try {
    const r = mulberry32(4);
    for (let i = 0; i < 2; i++) {
      const px = Uint8Array.from({ length: 48 * 48 * 3 }, (_, j) => Math.round(127 + 100 * Math.sin(j / 37 + i) * r()));
      await writeImage(join(dir, `i${i}.png`), { width: 48, height: 48, channels: 3, bitDepth: 8, data: px });
    }
    const { graph, clusters } = clusterGraph(plainGraph(11, 'prelu'), 4);
    const tuned = await fineTuneGraph(graph, { dirs: [dir], iterations: 3, lr: 1e-2, batchSize: 2, patch: 8, clusters });
    for (const [k, n] of Object.entries(distinctWeightValues(tuned))) assert.ok(n <= 4, `${k}: ${n} values after tuning`);
    assert.notDeepEqual(tuned.weights[Object.keys(clusters)[0]!]!.data, graph.weights[Object.keys(clusters)[0]!]!.data, 'the centroids moved');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
