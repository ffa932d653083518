// Video models in their deploy form: the step graph exported to ONNX and run by onnxruntime-node
// frame by frame, the state outputs fed back as the state inputs (what a phone or server app
// does with the file), gives the autograd forward's frames; `mvsr export` and `mvsr profile`
// work for every video architecture, with the state as named inputs and outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useEngine } from './helpers.js';
import { VIDEO_CASES, clipImages, model, wholeClip, assertSameFrames } from './video-helpers.js';
import { stepGraph, createVideoModel } from '../src/models/registry.js';
import { videoMacsPerPixel } from '../src/models/vsr.js';
import { windowIndices, graphInputs } from '../src/graph/ir.js';
import { exportOnnx, readOnnxModel } from '../src/export/onnx.js';
import { saveSafetensorsFile } from '../src/io/weights.node.js';
import { encodeModelMetadata } from '../src/io/weights.js';
import { float32ToImage, type Image } from '../src/io/image.js';

type Ort = typeof import('onnxruntime-node');
let ort: Ort | null = null;
let noOrt: string | false = false;
try {
  const { loadOrtNode } = await import('../src/runtime/ort.node.js');
  ort = await loadOrtNode();
} catch (e) {
  noOrt = `onnxruntime-node does not load here: ${(e as Error).message.split('\n')[0]}`;
}

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const mvsr = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8' });

/** The clip through an exported step graph in onnxruntime-node, an app's loop: windows clamped at the clip's ends, state from zeros, fed back. */
async function ortClip(bytes: Uint8Array, clip: Image[], scale: number): Promise<Image[]> {
  const meta = readOnnxModel(bytes).metadata;
  const v = JSON.parse(meta['mvsr.video']!) as { window: { past: number; future: number }; count: number; frames: string[]; outputs: string[]; state: { input: string; output: string }[] };
  const s = await ort!.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, logSeverityLevel: 3 });
  const { width: W, height: H } = clip[0]!;
  const lr = clip.map((img) => new ort!.Tensor('float32', Float32Array.from(img.data, (x) => x / 255), [1, H, W, 3]));
  const stateShape = (name: string): number[] => {
    const info = readOnnxModel(bytes).inputs.find((i) => i.name === name)!;
    return info.dims.map((d, i) => (i === 0 ? 1 : typeof d === 'number' ? d : NaN));
  };
  let state: Record<string, InstanceType<Ort['Tensor']>> = Object.fromEntries(v.state.map((st) => {
    const dims = stateShape(st.input);
    return [st.input, new ort!.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims)];
  }));
  const out: Image[] = [];
  for (let t = 0; t < clip.length; t += v.count) {
    const count = Math.min(v.count, clip.length - t);
    assert.equal(count, v.count, 'the clips here are whole chunks');
    const idx = windowIndices(clip.length, t, count, v.window);
    const feeds: Record<string, InstanceType<Ort['Tensor']>> = { ...state };
    v.frames.forEach((id, i) => { feeds[id] = lr[idx[i]!]!; });
    const r = await s.run(feeds);
    for (const id of v.outputs) out.push(float32ToImage(r[id]!.data as Float32Array, W * scale, H * scale, 3, 8));
    state = Object.fromEntries(v.state.map((st) => [st.input, r[st.output]!]));
  }
  await s.release();
  return out;
}

for (const [arch, args, W, H] of VIDEO_CASES) {
  test(`${arch} ${JSON.stringify(args)}: the exported ONNX step graph in onnxruntime-node, state fed back, gives the autograd forward's frames`, { skip: noOrt }, async () => {
    await useEngine(1);
    const m = model(arch, args);
    try {
      const T = m.chunk > 1 ? 2 * m.chunk : 8;
      const clip = clipImages(T, W, H, 3);
      const ref = wholeClip(m, clip);
      const bytes = exportOnnx(stepGraph(m), { layout: 'nhwc', inputShape: [H, W] });
      const got = await ortClip(bytes, clip, m.scale);
      assert.equal(got.length, T);
      assertSameFrames(got, ref, `${arch} in onnxruntime-node`);
    } finally {
      m.dispose();
    }
  });
}

test('mvsr export and mvsr profile on every video architecture: named state inputs and outputs, MACs per frame as counted by hand', async () => {
  await useEngine(1);
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-video-export-'));
  try {
    for (const [arch, args] of [['RLSP', {}], ['RLSP', { align: 'global' }], ['MobileRRN', {}], ['SWRN', {}], ['MultiFramePlain', {}]] as const) {
      const m = createVideoModel(arch, args);
      const file = join(dir, `${arch}.safetensors`);
      saveSafetensorsFile(file, m.stateDict(), encodeModelMetadata({ arch, args: m.args, scale: m.scale, provenance: {} }));
      const g = stepGraph(m);
      const onnx = join(dir, `${arch}.onnx`);
      const e = mvsr('export', file, '-o', onnx, '--nhwc', '--input', '18x32');
      assert.equal(e.status, 0, e.stderr);
      const info = readOnnxModel(readFileSync(onnx));
      const v = g.meta.video!;
      assert.deepEqual(info.inputs.map((i) => i.name), graphInputs(g).map((n) => n.id), `${arch}: inputs`);
      assert.deepEqual(info.outputs.map((o) => o.name), [...v.outputs, ...v.state.map((st) => st.output)], `${arch}: outputs`);
      assert.deepEqual(JSON.parse(info.metadata['mvsr.video']!).state, v.state);
      const p = mvsr('profile', file, '--input', '180x320', '--json');
      assert.equal(p.status, 0, p.stderr);
      const r = JSON.parse(p.stdout) as { macs: number; params: number; inputs: { state: string[] } };
      assert.equal(r.params, m.numParameters());
      assert.deepEqual(r.inputs.state, v.state.map((st) => st.input));
      // every conv at LR size, once per frame; SWRN's backward recurrence starts from zeros once per chunk, so its first cell reads half its inputs
      const hand = videoMacsPerPixel(m) * 180 * 320;
      const F = (m.args as { num_feat: number }).num_feat;
      const saved = arch === 'SWRN' ? (F * F * 9 * 180 * 320) / m.chunk : 0;
      assert.ok(Math.abs(r.macs - (hand - saved)) < 1, `${arch}: profile ${r.macs} MACs per frame, by hand ${hand - saved}`);
      m.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--backend ort runs the same graph as wasm in mvsr eval, eval-video and upscale (same figures, same pixels); an unknown backend is one line', { skip: noOrt }, async () => {
  await useEngine(1);
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-backend-'));
  try {
    // HR images and a clip of mvsr's own sample, a seeded RLSP and the shipped-style ETDS-T
    const { writeImage } = await import('../src/io/image.node.js');
    const { renderSampleFrame } = await import('../src/data/synthetic.js');
    mkdirSync(join(dir, 'set'));
    mkdirSync(join(dir, 'clip'));
    for (let i = 0; i < 2; i++) await writeImage(join(dir, 'set', `im${i}.png`), renderSampleFrame(5 * i, { width: 96, height: 72, supersample: 1 }));
    for (let t = 0; t < 5; t++) await writeImage(join(dir, 'clip', `${String(t).padStart(3, '0')}.png`), renderSampleFrame(t, { width: 64, height: 48, supersample: 1 }));
    const rlsp = model('RLSP', { upscale: 4, num_feat: 8, num_layer: 3, align: 'global' });
    const vfile = join(dir, 'rlsp.safetensors');
    saveSafetensorsFile(vfile, rlsp.stateDict(), encodeModelMetadata({ arch: 'RLSP', args: rlsp.args, scale: 4, provenance: {} }));
    rlsp.dispose();
    const figures = (backend: string) => {
      const e = mvsr('eval', '--model', 'etds-t-x4', '--data', join(dir, 'set'), '--backend', backend, '--json', '-t', '1');
      assert.equal(e.status, 0, e.stderr);
      const v = mvsr('eval-video', '--model', vfile, '--data', join(dir, 'clip'), '--backend', backend, '--json', '-t', '1');
      assert.equal(v.status, 0, v.stderr);
      const u = mvsr('upscale', join(dir, 'set', 'im0.png'), '-o', join(dir, `up-${backend}.png`), '--model', 'etds-t-x4', '--backend', backend, '--json', '-t', '1');
      assert.equal(u.status, 0, u.stderr);
      assert.equal((JSON.parse(u.stdout) as { backend: string }).backend, backend);
      return { img: JSON.parse(e.stdout) as { psnr: number }, vid: JSON.parse(v.stdout) as { psnrY: number }, png: readFileSync(join(dir, `up-${backend}.png`)) };
    };
    const w = figures('wasm'), o = figures('ort');
    assert.ok(Math.abs(w.img.psnr - o.img.psnr) < 1e-3, `eval: wasm ${w.img.psnr} vs ort ${o.img.psnr}`);
    assert.ok(Math.abs(w.vid.psnrY - o.vid.psnrY) < 1e-2, `eval-video: wasm ${w.vid.psnrY} vs ort ${o.vid.psnrY}`);
    const { decodeImage } = await import('../src/io/image.node.js');
    const [a, b] = await Promise.all([decodeImage(w.png), decodeImage(o.png)]);
    assertSameFrames([b], [a], 'upscale --backend ort vs wasm');
    const bad = mvsr('eval', '--model', 'etds-t-x4', '--data', join(dir, 'set'), '--backend', 'gpu');
    assert.notEqual(bad.status, 0);
    assert.deepEqual(bad.stderr.trim().split('\n'), ['mvsr eval: --backend must be one of wasm, int8, ort, tflite, tflite-fp16, webgpu, auto, got "gpu"']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
