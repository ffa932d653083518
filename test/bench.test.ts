// Inference backends and benchmark peers compute what mvsr's interpreter computes: the 'ort'
// backend (onnxruntime-node), the onnxruntime-web and TensorFlow.js (wasm) peers and the
// onnxruntime-node peer on every zoo family's deploy graph and on hand-built graphs that reach
// every op and both pixel-shuffle mappings; 'auto' picks one of the two backends and says which;
// the SIMD peak kernel does the work it is timed for; `mvsr bench --quick` runs end to end on a
// tiny size. Correctness only: no speed is asserted. Peers that cannot load are skipped, saying why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './data.js';
import { encodePng } from '../src/io/image.node.js';
import { useEngine, mulberry32, maxAbsDiff, randomize, runGraphArray, skipReason, HAND, residualTailGraph, sharedProducerGraph } from './helpers.js';
import { engine } from '../src/tensor/engine.js';
import { Tensor, liveTensorCount } from '../src/tensor/tensor.js';
import { manualSeed } from '../src/nn/init.js';
import type { Module } from '../src/nn/module.js';
import { createModel, toGraph } from '../src/models/registry.js';
import { GraphBuilder, type Graph, type GraphWeight } from '../src/graph/index.js';
import { loadOrtNode, OrtGraphBackend } from '../src/runtime/ort.node.js';
import { createBackend } from '../src/runtime/backend.node.js';
import {
  loadTfjsWasm, loadOrtWeb, createTfjsPeer, createOrtWebPeer, createOrtNodePeer, buildTfjsProgram, pixelShufflePermutation, type Peer,
} from '../src/bench/peers.js';
import { measureSimdPeak, INFER_MODELS } from '../src/bench/infer.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
/** max |engine - mvsr| * 255 below a hundredth of an 8-bit step (float32 summation order only). */
const TOL_255 = 0.01;

await useEngine(1);
const noOrt = await skipReason(loadOrtNode, 'onnxruntime-node');
const noOrtWeb = await skipReason(() => loadOrtWeb(1), 'onnxruntime-web');
const noTfjs = await skipReason(loadTfjsWasm, 'TensorFlow.js wasm');

// ---- graphs -------------------------------------------------------------------------------------


/** A zoo model's deploy graph with seeded weights: U(-a, a), or the default initialisation when a is null. */
function familyGraph(arch: string, args: Record<string, unknown>, seed: number, a: number | null = 0.25): Graph {
  manualSeed(seed);
  const m = createModel(arch, args);
  try {
    if (a !== null) randomize(m, a, seed);
    return toGraph(m);
  } finally {
    m.dispose();
  }
}

// the benchmarked x4 networks with the default initialisation the benchmark uses (outputs of
// order 1; U(-0.25, 0.25) weights in 16-28 channel nets give outputs in the tens, where float32
// summation order alone moves the last bits by more than 0.01/255), then small nets with U(-0.25, 0.25)
const FAMILIES: [string, Record<string, unknown>, number | null][] = [
  ...INFER_MODELS.map((m): [string, Record<string, unknown>, null] => [m.arch, m.args, null]),
  ['ESPCN', { colors: 3, upscale: 3 }, 0.25],
  ['FSRCNN', { upscale: 2 }, 0.25], // transposed conv
  ['FSRCNN', { upscale: 3 }, 0.25],
  ['ECBSR', { upscale: 3, num_block: 2, num_feat: 8, act_type: 'prelu' }, 0.25],
  ['ECBSR', { upscale: 2, num_block: 1, num_feat: 8, act_type: 'relu', num_in_ch: 1 }, 0.25], // one input channel broadcast
  ['ECBSRET', { upscale: 3, num_block: 2, num_feat: 8, act_type: 'prelu' }, 0.25], // channel slice folded into the last conv
  ['ABPN', { scale: 3, num_block: 2, num_feat: 8 }, 0.25],
  ['ABPN_ET', { scale: 3, num_block: 2, num_feat: 8 }, 0.25],
  ['Plain', { upscale: 2, num_block: 2, num_feat: 8 }, 0.25],
  ['ETDS', { upscale: 3, num_block: 2, num_feat: 12, num_residual_feat: 4 }, 0.25],
  ['ELSR', { upscale: 2, num_feat: 6 }, 0.25],
  ['Bicubic', { upscale: 2 }, 0.25],
];


function randomInput(N: number, H: number, W: number, C: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: N * H * W * C }, () => r());
}


const allGraphs = (): [string, Graph][] => [
  ...FAMILIES.map(([arch, args, a], i): [string, Graph] => [`${arch} ${JSON.stringify(args)}${a === null ? ' (default init)' : ''}`, familyGraph(arch, args, 500 + i, a)]),
  ...HAND.map(([name, f]): [string, Graph] => [name, f()]),
];
const cin = (g: Graph): number => (g.nodes.find((n) => n.op === 'input') as { channels: number }).channels;

// ---- the SIMD peak kernel -----------------------------------------------------------------------

test('simd_peak: every thread runs its chains to the fixed point (the loop is not optimised away); the measured peak is finite and positive', async () => {
  for (const nt of [1, 2]) {
    const e = await useEngine(nt);
    const out = e.alloc(64);
    try {
      e.f32.fill(-1, out >>> 2, (out >>> 2) + 4);
      e.run('simd_peak', [20_000, out], nt); // 0.999^20000 ~ 3e-9: each of 10 chains x 4 lanes reaches 1
      const got = Array.from(e.f32.subarray(out >>> 2, (out >>> 2) + nt));
      for (const v of got) assert.ok(Math.abs(v - 40) < 0.01, `thread sums ${got}`); // 1 up to float32 rounding of the fixed point
      assert.equal(e.f32[(out >>> 2) + nt], -1, 'nothing written past the last thread');
      e.run('simd_peak', [3, out], nt); // three steps from the start values: not yet converged
      assert.ok(Math.abs(e.f32[out >>> 2]! - 40) > 1, 'the result depends on the iteration count');
    } finally {
      e.release(out);
    }
  }
  const p = await measureSimdPeak([1, 2], true);
  for (const t of ['1', '2']) assert.ok(Number.isFinite(p.gflops[t]) && p.gflops[t]! > 0, `peak on ${t} thread(s): ${p.gflops[t]}`);
  assert.match(p.definition, /f32x4/);
  assert.equal(p.build, engine().simd);
  await useEngine(1);
});

// ---- backends -----------------------------------------------------------------------------------

test('ort backend: every family and hand-built graph equals runGraph (NHWC in and out, batch 2, one cached session per input size)', { skip: noOrt }, async () => {
  await useEngine(1);
  const live = liveTensorCount();
  const lines: string[] = [];
  for (const [name, g] of allGraphs()) {
    const be = await OrtGraphBackend.create(g, { threads: 1 });
    try {
      let worst = 0;
      for (const [N, H, W] of [[1, 7, 9], [2, 5, 6], [1, 7, 9]] as const) {
        const shape = [N, H, W, cin(g)];
        const x = randomInput(N, H, W, cin(g), H * 100 + W);
        const ref = runGraphArray(g, { shape, data: x });
        const xt = Tensor.from(shape, x);
        const y = await be.run(xt);
        xt.dispose();
        assert.deepEqual([...y.shape], ref.shape, `${name}: shape`);
        worst = Math.max(worst, maxAbsDiff(y.toArray(), ref.data) * 255);
        y.dispose();
      }
      assert.deepEqual(be.cachedSizes(), ['5x6', '7x9'], `${name}: sessions per size, most recent last`);
      lines.push(`${name.padEnd(90)} ${worst.toExponential(2)}`);
      assert.ok(worst < TOL_255, `${name}: max |ort - mvsr| * 255 = ${worst}`);
    } finally {
      await be.dispose();
    }
  }
  console.log(`ort backend, max |ort - runGraph| * 255:\n${lines.join('\n')}`);
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('createBackend: wasm and ort equal runGraph; auto times both, returns one of them and says which and why', async () => {
  await useEngine(1);
  const g = familyGraph('ETDS', { upscale: 4, num_block: 2, num_feat: 8, num_residual_feat: 3 }, 77);
  const shape = [1, 6, 10, 3];
  const x = randomInput(1, 6, 10, 3, 5);
  const ref = runGraphArray(g, { shape, data: x });
  const xt = Tensor.from(shape, x);
  try {
    for (const kind of ['wasm', 'ort', 'auto'] as const) {
      if (kind === 'ort' && noOrt) continue;
      const be = await createBackend(g, { backend: kind, threads: 1, H: 6, W: 10, calibrationRuns: 2 });
      try {
        const y = await be.run(xt);
        const d = maxAbsDiff(y.toArray(), ref.data) * 255;
        y.dispose();
        assert.ok(d < TOL_255, `${kind} (${be.name}): max |diff| * 255 = ${d}`);
        assert.equal(be.threads, 1);
        if (kind !== 'auto') {
          assert.equal(be.name, kind);
          assert.equal(be.calibration, null);
          continue;
        }
        const c = be.calibration!;
        assert.ok(c, 'auto keeps its calibration');
        assert.equal(c.chosen, be.name);
        assert.equal(c.ms.wasm?.length, 2);
        assert.match(c.reason, /wasm/);
        if (noOrt) {
          assert.equal(c.ms.ort, null);
          assert.match(c.reason, /ort not available/);
        } else {
          assert.equal(c.ms.ort?.length, 2);
        }
        // every backend that ran agreed with wasm, and the fastest median of those won
        assert.ok(c.maxDiff255 === null || c.maxDiff255 < TOL_255);
        const ran = Object.entries(c.medianMs).filter(([, v]) => v !== null) as [string, number][];
        const fastest = ran.sort((a, b) => a[1] - b[1])[0]![0];
        assert.equal(be.name, fastest, `the fastest median wins: ${c.reason}`);
        if (ran.length > 1) assert.match(c.reason, new RegExp(`${be.name} is [\\d.]+x faster`));
        console.log(`auto at 6x10: ${be.name} (${c.reason})`);
      } finally {
        await be.dispose();
      }
    }
    await assert.rejects(createBackend(g, { backend: 'auto' }), /backend 'auto' needs H/);
    await assert.rejects(createBackend(g, { backend: 'wasm', threads: 2 }), /engine, which has 1 thread\(s\), not 2/);
    await assert.rejects(createBackend(g, { backend: 'gpu' as 'wasm' }), /'gpu' is not one of 'wasm', 'int8', 'ort', 'tflite', 'tflite-fp16', 'webgpu', 'auto'/);
  } finally {
    xt.dispose();
  }
});

test('auto with a graph onnx cannot express (MATLAB bicubic) picks wasm and names the node', async () => {
  await useEngine(1);
  const b = new GraphBuilder({ arch: 'MatlabBicubic', args: {}, scale: 2 });
  const g = b.output(b.resize('resize', b.input(3), 2, 'matlabBicubic'));
  const be = await createBackend(g, { backend: 'auto', H: 5, W: 4, calibrationRuns: 1 });
  try {
    assert.equal(be.name, 'wasm');
    assert.match(be.calibration!.reason, noOrt ? /ort not available/ : /ort not available: .*node 'resize' \(resize\).*matlabBicubic/);
  } finally {
    await be.dispose();
  }
});

// ---- peers --------------------------------------------------------------------------------------

async function checkPeer(make: (g: Graph) => Promise<Peer>, title: string, unsupported?: RegExp): Promise<void> {
  await useEngine(1);
  const lines: string[] = [];
  for (const [name, g] of allGraphs()) {
    let p: Peer;
    try {
      p = await make(g);
    } catch (e) {
      if (unsupported && unsupported.test(name)) {
        assert.match((e as Error).message, /has no TensorFlow\.js \(wasm\) form: tfjs has no bicubic resize/);
        lines.push(`${name.padEnd(90)} unsupported: ${(e as Error).message}`);
        continue;
      }
      throw e;
    }
    try {
      let worst = 0, range = 0;
      for (const [H, W] of [[7, 9], [5, 6]] as const) {
        const x = randomInput(1, H, W, cin(g), H * 10 + W);
        const ref = runGraphArray(g, { shape: [1, H, W, cin(g)], data: x });
        const r = await p.prepare(x, H, W);
        try {
          const y = r.toNhwc(await r.run());
          worst = Math.max(worst, maxAbsDiff(y, ref.data) * 255);
          for (const v of ref.data) range = Math.max(range, Math.abs(v));
          const again = r.toNhwc(await r.run());
          assert.deepEqual(again, y, `${name}: a second run of the prepared input gives the same output`);
        } finally {
          r.dispose();
        }
      }
      lines.push(`${name.padEnd(90)} ${worst.toExponential(2)} (max |y| ${range.toFixed(2)})`);
      assert.ok(worst < TOL_255, `${title} ${name}: max |peer - mvsr| * 255 = ${worst}`);
    } finally {
      await p.dispose();
    }
  }
  console.log(`${title}, max |peer - runGraph| * 255:\n${lines.join('\n')}`);
}

test('TensorFlow.js (wasm) peer: the graph rebuilt from tfjs-core ops equals runGraph; bicubic resize is refused by name', { skip: noTfjs }, async () => {
  await checkPeer((g) => createTfjsPeer(g), 'tfjs-wasm', /^Bicubic/);
});

test('TensorFlow.js mapping: pixel shuffle folds into the producer\'s channel order, or a gather where the producer has other readers', { skip: noTfjs }, async () => {
  const { tf } = await loadTfjsWasm();
  assert.deepEqual(pixelShufflePermutation(2, 2), [0, 4, 1, 5, 2, 6, 3, 7]);
  const folded = buildTfjsProgram(tf, residualTailGraph());
  assert.deepEqual(folded.notes, ["pixel shuffle 'ps': producer's output channels permuted to TF's depth_to_space order (no extra op)"]);
  folded.dispose();
  const gathered = buildTfjsProgram(tf, sharedProducerGraph());
  assert.equal(gathered.notes.filter((n) => /tf\.gather/.test(n)).length, 2);
  gathered.dispose();
});

test('onnxruntime-web (wasm) peer equals runGraph, its .wasm read from node_modules (fetch disabled while it loads)', { skip: noOrtWeb }, async () => {
  await checkPeer((g) => createOrtWebPeer(g, { threads: 1 }), 'ort-web');
});

test('onnxruntime-node peer (NCHW, fixed shapes) equals runGraph on 1 and 2 threads', { skip: noOrt }, async () => {
  await checkPeer((g) => createOrtNodePeer(g, { threads: 2 }), 'ort-node (2 threads)');
  const g = familyGraph('ABPN', { scale: 4, num_block: 1, num_feat: 8 }, 9);
  const p = await createOrtNodePeer(g, { threads: 1 });
  try {
    const x = randomInput(1, 6, 5, 3, 1);
    const r = await p.prepare(x, 6, 5);
    const d = maxAbsDiff(r.toNhwc(await r.run()), runGraphArray(g, { shape: [1, 6, 5, 3], data: x }).data) * 255;
    assert.ok(d < TOL_255, `1 thread: ${d}`);
    assert.equal(p.id, 'ort-node-1');
  } finally {
    await p.dispose();
  }
});

// ---- the benchmark, end to end ------------------------------------------------------------------

function mvsrCli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('mvsr bench --quick --json on a tiny size: every engine that loads is checked equal, then timed; the JSON has the figures and the peak definition', () => {
  const r = mvsrCli('bench', '--quick', '--json', '--input', '12x16', '--check', '7x9', '--models', 'ELSR,ECBSR-M4C16');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    peak: { definition: string; gflops: Record<string, number> };
    engines: { id: string; available: boolean; reason?: string }[];
    checks: { model: string; engine: string; maxDiff255: number; tolerance255: number; ok: boolean }[];
    rows: { model: string; engine: string; msMedian: number; msP90: number; fps: number; gflops: number; pctPeak: number; samplesMs: number[]; fullSizeMaxDiff255: number | null }[];
    settings: { H: number; W: number; outH: number; outW: number }[];
    models: { name: string; weights?: string }[];
    failures: string[];
  };
  assert.deepEqual(j.failures, []);
  // the shipped models' weights, as users run them (the int8 graph depends on them)
  assert.deepEqual(j.models.map((m) => m.weights), ['shipped elsr-x4', 'shipped ecbsr-m4c16-x4']);
  assert.deepEqual(j.settings.map((s) => [s.H, s.W, s.outH, s.outW]), [[12, 16, 48, 64]]);
  assert.match(j.peak.definition, /simd_peak/);
  const available = j.engines.filter((e) => e.available).map((e) => e.id);
  for (const e of j.engines) if (!e.available) assert.ok(e.reason, `${e.id} says why it was skipped`);
  assert.ok(available.includes('mvsr-1') && available.includes('mvsr-2'));
  if (!noOrt) assert.ok(available.includes('ort-node-1') && available.includes('ort-node-2'));
  if (!noOrtWeb) assert.ok(available.includes('ort-web-1') && available.includes('ort-web-2'), 'ort-web on 1 thread here, on 2 in a child process');
  if (!noTfjs) assert.ok(available.includes('tfjs-wasm'));
  // the int8 model on mvsr's integer kernels, and on onnxruntime-node through its QDQ export
  assert.ok(available.includes('mvsr-int8-1') && available.includes('mvsr-int8-2'));
  if (!noOrt) assert.ok(available.includes('ort-node-int8-1') && available.includes('ort-node-int8-2'));
  const int8 = (id: string): boolean => id.includes('-int8-');
  for (const model of ['ELSR', 'ECBSR-M4C16']) {
    for (const id of available) {
      const c = j.checks.find((x) => x.model === model && x.engine === id);
      // float engines against mvsr's float graph; mvsr's int8 engines bit for bit against its integer
      // inference on 1 thread; onnxruntime's int8 within ORT_INT8_STEPS (12) steps of the output's int8 scale
      const tol = !int8(id) || id.startsWith('mvsr') ? TOL_255 : c!.tolerance255;
      assert.ok(tol < 40, `${model} on ${id}: tolerance ${tol}/255`);
      assert.ok(c?.ok && c.maxDiff255 < tol, `${model} on ${id}: checked before timing (${JSON.stringify(c)})`);
      const row = j.rows.find((x) => x.model === model && x.engine === id);
      assert.ok(row, `${model} on ${id}: timed`);
      assert.equal(row.samplesMs.length, 3);
      for (const k of ['msMedian', 'msP90', 'fps', 'gflops', ...(int8(id) ? [] : ['pctPeak'] as const)] as const) assert.ok(Number.isFinite(row[k]) && row[k] > 0, `${model} ${id} ${k} = ${row[k]}`);
      if (int8(id)) assert.ok(!Number.isFinite(row.pctPeak), 'no % of the float peak for an int8 engine');
      assert.ok(row.msP90 >= row.msMedian);
      assert.ok(row.fullSizeMaxDiff255 !== null && row.fullSizeMaxDiff255 < tol);
    }
  }
  const skipped = j.engines.filter((e) => !e.available);
  if (skipped.length) console.log(`skipped engines: ${skipped.map((e) => `${e.id} (${e.reason})`).join('; ')}`);
});

// the GPU engines on SwiftShader (Dawn's CPU Vulkan): outputs checked, timings flagged as emulated, never claimed
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const vkIcd = process.env.VK_ICD_FILENAMES ?? (existsSync(SWIFTSHADER) ? SWIFTSHADER : undefined);
const noGpuBench = vkIcd ? (noOrtWeb ?? false) : 'no Vulkan driver and no SwiftShader (Debian chromium)';
test('mvsr bench --engines mvsr-webgpu,ort-web-webgpu: both checked against mvsr before timing, timed resident and as a round trip, the emulated adapter flagged; a peer that computes something else is not timed', { skip: noGpuBench }, () => {
  const r = spawnSync(process.execPath, [CLI, 'bench', '--quick', '--json', '--input', '12x16', '--check', '7x9', '--models', 'ETDS-T,ECBSR-M4C16,ELSR', '--engines', 'mvsr-1,mvsr-webgpu,ort-web-webgpu'],
    { encoding: 'utf8', timeout: 300_000, env: { ...process.env, VK_ICD_FILENAMES: vkIcd } });
  const j = JSON.parse(r.stdout) as {
    checks: { model: string; engine: string; maxDiff255: number | null; ok: boolean }[];
    rows: { model: string; engine: string; msMedian: number; roundTripMsMedian?: number; residentFrames?: number; emulated?: boolean; adapter?: string; pctPeak: number | null; samplesMs: number[]; fullSizeMaxDiff255: number | null }[];
    engines: { id: string; available: boolean; adapter?: { emulated: boolean; name: string } }[];
    failures: string[];
  };
  for (const e of ['mvsr-webgpu', 'ort-web-webgpu']) {
    assert.ok(j.engines.find((x) => x.id === e)?.available, `${e} loads (${r.stderr.split('\n').filter((l) => l.includes(e)).join(' | ')})`);
    for (const model of ['ETDS-T', 'ECBSR-M4C16']) {
      const c = j.checks.find((x) => x.model === model && x.engine === e)!;
      assert.ok(c.ok && c.maxDiff255! < 0.01, `${model} on ${e}: ${JSON.stringify(c)}`);
      const row = j.rows.find((x) => x.model === model && x.engine === e)!;
      assert.equal(row.residentFrames, 4, 'quick: 4 frames per resident sample');
      assert.equal(row.samplesMs.length, 3);
      assert.ok(row.msMedian > 0 && row.roundTripMsMedian! > 0);
      assert.equal(row.pctPeak, null, 'no CPU SIMD peak for a GPU engine');
      assert.ok(row.fullSizeMaxDiff255! < 0.01);
      assert.equal(row.emulated, true, 'SwiftShader is flagged as an emulator');
      assert.match(row.adapter!, /swiftshader/i);
    }
  }
  // onnxruntime-web 1.30.0's webgpu provider miscomputes ELSR's 6 -> 48 channel conv (scripts/ort-webgpu-conv.mjs)
  const elsr = j.checks.find((x) => x.model === 'ELSR' && x.engine === 'ort-web-webgpu')!;
  assert.ok(!elsr.ok && elsr.maxDiff255! > 1, `ELSR on ort-web-webgpu is expected to differ (an onnxruntime-web bug); if it now agrees, update the README: ${JSON.stringify(elsr)}`);
  assert.ok(!j.rows.some((x) => x.model === 'ELSR' && x.engine === 'ort-web-webgpu'), 'an engine whose output differs is not timed');
  assert.ok(j.rows.some((x) => x.model === 'ELSR' && x.engine === 'mvsr-webgpu'));
  assert.deepEqual(j.failures.map((f) => f.split(':')[0]), ['ELSR on ort-web-webgpu']);
  assert.equal(r.status, 1, 'a failed check makes the command exit 1');
});

test('MVSR_WEBGPU_TILING: the shipped x4 models with the input tile in workgroup memory give the wasm engine\'s output in mvsr bench, the tiling named in the engine notes; a bad value is one line', { skip: vkIcd ? false : 'no Vulkan driver and no SwiftShader (Debian chromium)' }, () => {
  const tiling = { px: 2, co: 2, tailBlocks: 0, tailPx: 3, shared: true };
  const r = spawnSync(process.execPath, [CLI, 'bench', '--quick', '--json', '--input', '12x16', '--check', '9x11', '--engines', 'mvsr-webgpu'],
    { encoding: 'utf8', timeout: 300_000, env: { ...process.env, VK_ICD_FILENAMES: vkIcd, MVSR_WEBGPU_TILING: JSON.stringify(tiling) } });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { checks: { model: string; engine: string; maxDiff255: number | null; ok: boolean }[]; engines: { id: string; notes: string[] }[] };
  assert.ok(j.engines[0]!.notes.includes(`dense-conv tiling ${JSON.stringify(tiling)}`), j.engines[0]!.notes.join(' | '));
  const models = j.checks.map((c) => c.model);
  for (const m of ['ELSR', 'ESPCN', 'ECBSR-M4C16', 'ETDS-T', 'ABPN-M4C28']) assert.ok(models.includes(m), `${m} checked (${models.join(', ')})`);
  for (const c of j.checks) assert.ok(c.ok && c.maxDiff255! < 0.01, `${c.model}: ${JSON.stringify(c)}`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mvsr-tiling-'));
  const png = path.join(tmp, 'in.png');
  writeFileSync(png, encodePng({ width: 6, height: 5, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: 90 }, (_, i) => (i * 37) % 256) }));
  for (const [value, want] of [['{px:2}', /MVSR_WEBGPU_TILING is not JSON/], ['{"pixels":2}', /unknown key 'pixels'/], ['{"shared":1}', /'shared' must be true or false/], ['{"px":0}', /'px' must be an integer ≥ 1/]] as const) {
    const bad = spawnSync(process.execPath, [CLI, 'upscale', '--backend', 'webgpu', '-m', 'etds-t-x4', png, '-o', path.join(tmp, 'never.png')],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, VK_ICD_FILENAMES: vkIcd, MVSR_WEBGPU_TILING: value } });
    assert.notEqual(bad.status, 0, value);
    assert.match(bad.stderr.trim(), want);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.ok(!existsSync(path.join(tmp, 'never.png')), 'no output written');
  }
  rmSync(tmp, { recursive: true, force: true });
});

test('mvsr bench prints a markdown table with the definitions; bad flags are refused in one line', () => {
  const r = mvsrCli('bench', '--quick', '--input', '8x8', '--check', '5x5', '--models', 'ESPCN', '--engines', 'mvsr-1,tfjs-wasm');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\| model \| GMACs \| engine \| threads \| median ms \| p90 ms \| fps \| GFLOP\/s \| % of SIMD128 peak \|/);
  assert.match(r.stdout, /\| ESPCN \| [\d.]+ \| mvsr \(wasm, (relaxed SIMD|SIMD128)\) \| 1 \|/);
  assert.match(r.stdout, /SIMD128 peak \((relaxed|simd128) build\): [\d.]+ GFLOP\/s on 1 thread/);
  assert.match(r.stdout, /- peak: SIMD128 peak: the best of several runs of simd_peak/);
  assert.match(r.stdout, /Output check before timing \(5×5 input\)/);
  assert.match(r.stdout, /- weights run: ESPCN shipped espcn-x4/);
  const init = mvsrCli('bench', '--quick', '--input', '8x8', '--check', '5x5', '--models', 'ESPCN', '--engines', 'mvsr-1', '--init-weights');
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /- weights run: ESPCN initialisation, seed 1/);
  // the timed runs in rounds, each timing every engine in turn: the samples add up to --reps
  const rounds = mvsrCli('bench', '--json', '--input', '8x8', '--check', '5x5', '--models', 'ELSR', '--engines', 'mvsr-1,mvsr-2', '--warmup', '1', '--reps', '5', '--rounds', '2');
  assert.equal(rounds.code, 0, rounds.stderr);
  const rj = JSON.parse(rounds.stdout) as { method: { rounds: number; reps: number }; rows: { engine: string; samplesMs: number[] }[] };
  assert.deepEqual([rj.method.rounds, rj.method.reps], [2, 5]);
  assert.deepEqual(rj.rows.map((x) => [x.engine, x.samplesMs.length]), [['mvsr-1', 5], ['mvsr-2', 5]]);
  assert.match(rounds.stderr, /8x8 round 1\/2: 2 timed runs each of mvsr-1, mvsr-2\n[^]*8x8 round 2\/2: 3 timed runs each of mvsr-1, mvsr-2\n/);
  const noRounds = mvsrCli('bench', '--rounds', '0', '--input', '8x8');
  assert.equal(noRounds.code, 1);
  assert.match(noRounds.stderr, /--rounds must be an integer >= 1, got "0"/);
  const bad = mvsrCli('bench', '--models', 'NoSuchNet', '--input', '8x8');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown model 'NoSuchNet' \(have: ELSR, ESPCN, ECBSR-M4C16, ETDS-T, ABPN-M4C28, IMDN, IMDN\+, RFDN, RLFN, RLFN-S, RLFN-NTIRE, VapSR, VapSR-S, BSRN, BSRN-S, IMDN-baseline, EFDN, MobileSR\)/);
  const bad2 = mvsrCli('bench', '--input', '8by8');
  assert.equal(bad2.code, 1);
  assert.match(bad2.stderr, /--input must look like 180x320/);
});

test('bench:video: --help prints its options and times nothing; an unknown or incomplete argument is one line and exit 2', () => {
  const run = (...a: string[]) => spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/src/bench/video.js'), ...a], { encoding: 'utf8', timeout: 60_000 });
  const h = run('--help');
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /^usage: npm run bench:video -- \[options\]/);
  for (const k of ['--input', '--threads', '--backends', '--only', '--quick', '--json']) assert.ok(h.stdout.includes(k), `usage lacks ${k}`);
  assert.ok(!h.stderr.includes('ms/frame'), 'nothing was timed');
  for (const [args, bad] of [[['--jsno'], '--jsno'], [['--json', '--input'], '--input']] as const) {
    const r = run(...args);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `bench:video: unknown or incomplete argument "${bad}" (npm run bench:video -- --help)\n`);
  }
});
