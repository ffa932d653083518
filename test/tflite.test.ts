// .tflite export checked in a real TFLite interpreter (LiteRT.js): every zoo image family's deploy
// graph and every video family's step graph (the state fed back frame by frame, as an app does)
// give mvsr's outputs; float16 weights stay within 1e-2; ops with no TFLite builtin stop the
// export naming the node; `mvsr export -o m.tflite` and `--backend tflite` from the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useEngine, mulberry32, maxAbsDiff, randomize, skipReason, SMALL_FAMILIES, groupedDilatedGraph, esaGraph, sized, layerNormGraph } from './helpers.js';
import { VIDEO_CASES, clipImages, model, wholeClip, assertSameFrames } from './video-helpers.js';
import { createModel, toGraph, stepGraph, listArchs, getArch } from '../src/models/registry.js';
import { windowIndices, inputNode, type Graph } from '../src/graph/ir.js';
import { runGraph } from '../src/runtime/wasm.js';
import { Tensor } from '../src/tensor/tensor.js';
import { manualSeed } from '../src/nn/init.js';
import { exportTflite } from '../src/export/tflite.js';
import { hostAlignment } from '../src/graph/host-align.js';
import { hostAlignInputs } from '../src/runtime/host-align.js';
import { inferShapes } from '../src/graph/shapes.js';
import { loadLiteRtNode, TfliteModel } from '../src/runtime/tflite.node.js';
import { float32ToImage, type Image } from '../src/io/image.js';
import { DATA_DIR, needData } from './data.js';

const noLiteRt = await skipReason(() => loadLiteRtNode(), '@litertjs/core');
const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const mvsr = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8' });

/** The graph's first output on x, by mvsr and by LiteRT.js running the exported file. */
async function both(g: Graph, x: Tensor, fp16 = false): Promise<{ mvsr: Float32Array; tflite: Float32Array }> {
  const [, H, W] = x.shape as [number, number, number, number];
  const ref = runGraph(g, x);
  const tm = await TfliteModel.create(exportTflite(g, { inputShape: [H, W], fp16 }));
  try {
    const out = await tm.run({ [inputNode(g).id]: x.toArray() });
    assert.deepEqual(out.output!.shape, [...ref.shape]);
    return { mvsr: ref.toArray(), tflite: out.output!.data as Float32Array };
  } finally {
    tm.dispose();
    ref.dispose();
  }
}

test('every zoo image family: LiteRT.js running the exported FP32 .tflite gives mvsr\'s output within 1e-4 (x3 and x4); float16 weights within 1e-2', { skip: noLiteRt }, async (t) => {
  await useEngine(1);
  const covered = new Set(SMALL_FAMILIES.map(([a]) => a));
  assert.deepEqual(listArchs().filter((a) => getArch(a).kind === 'image' && !covered.has(a)), []);
  let seed = 40;
  for (const [arch, argsOf] of SMALL_FAMILIES) {
    for (const s of [3, 4]) {
      const args = argsOf(s), name = `${arch} x${s} ${JSON.stringify(args)}`;
      await t.test(name, async () => {
        manualSeed(seed);
        const m = createModel(arch, args);
        randomize(m, 0.25, seed++);
        const g = toGraph(m);
        m.dispose();
        const r = mulberry32(seed), C = inputNode(g).channels, [H, W] = sized(arch, 7, 9);
        const x = Tensor.from([1, H, W, C], Array.from({ length: H * W * C }, () => r()));
        try {
          if (arch === 'Bicubic' || arch === 'MatlabBicubic') {
            assert.throws(() => exportTflite(g, { inputShape: [7, 9] }), /node 'resize' \(resize\): (bicubic|matlabBicubic) resize has no TFLite builtin op/);
            return;
          }
          const f32 = await both(g, x);
          assert.ok(maxAbsDiff(f32.mvsr, f32.tflite) <= 1e-4, `${name}: max |tflite - mvsr| = ${maxAbsDiff(f32.mvsr, f32.tflite)}`);
          const f16 = await both(g, x, true);
          assert.ok(maxAbsDiff(f16.mvsr, f16.tflite) <= 1e-2, `${name} fp16: max |tflite - mvsr| = ${maxAbsDiff(f16.mvsr, f16.tflite)}`);
        } finally {
          x.dispose();
        }
      });
    }
  }
});

test('layer norm (MEAN over the channels, SUB, MUL, MEAN, ADD eps, RSQRT, MUL weight, ADD bias): LiteRT.js gives mvsr\'s output within 1e-4; float16 weights within 1e-2', { skip: noLiteRt }, async () => {
  await useEngine(1);
  const g = layerNormGraph();
  for (const [H, W] of [[7, 9], [1, 1], [4, 13]] as const) {
    const r = mulberry32(H * 100 + W);
    const x = Tensor.from([1, H, W, 3], Array.from({ length: H * W * 3 }, () => r()));
    try {
      const f32 = await both(g, x);
      assert.ok(maxAbsDiff(f32.mvsr, f32.tflite) <= 1e-4, `${H}x${W}: max |tflite - mvsr| = ${maxAbsDiff(f32.mvsr, f32.tflite)}`);
      const f16 = await both(g, x, true);
      assert.ok(maxAbsDiff(f16.mvsr, f16.tflite) <= 1e-2, `${H}x${W} fp16: max |tflite - mvsr| = ${maxAbsDiff(f16.mvsr, f16.tflite)}`);
    } finally {
      x.dispose();
    }
  }
});

/** A clip through an exported step graph in LiteRT.js, an app's loop: windows clamped at the ends, state from zeros, fed back. */
test('grouped convs (not depthwise) export as one CONV_2D per group; dilated, GELU, attention, and ESA\'s strided conv, max pool and resize-to-size run in LiteRT.js as in mvsr', { skip: noLiteRt }, async () => {
  await useEngine(1);
  for (const [g, H, W] of [[groupedDilatedGraph(), 9, 11], [esaGraph(), 17, 20]] as const) {
    const r = mulberry32(72);
    const x = Tensor.from([1, H, W, 3], Array.from({ length: H * W * 3 }, () => r()));
    try {
      const { mvsr: a, tflite: t } = await both(g, x);
      assert.ok(maxAbsDiff(a, t) < 1e-4, `${g.meta.arch}: max |mvsr - LiteRT.js| = ${maxAbsDiff(a, t)}`);
    } finally {
      x.dispose();
    }
  }
});

async function tfliteClip(g: Graph, clip: Image[]): Promise<Image[]> {
  const v = g.meta.video!, s = g.meta.scale;
  const { width: W, height: H } = clip[0]!;
  const tm = await TfliteModel.create(exportTflite(g, { inputShape: [H, W] }));
  const lr = clip.map((img) => Float32Array.from(img.data, (x) => x / 255));
  const shapes = inferShapes(g, H, W);
  let state: Record<string, Float32Array> = Object.fromEntries(v.state.map((st) => [st.input, new Float32Array(shapes.get(st.input)!.reduce((a, b) => a * b, 1))]));
  // an aligned model's .tflite takes the moved frames and state: the host moves them
  const { align } = hostAlignment(g);
  const out: Image[] = [];
  try {
    for (let t = 0; t < clip.length; t += v.count) {
      const idx = windowIndices(clip.length, t, v.count, v.window);
      const feeds: Record<string, Float32Array> = { ...state };
      v.frames.forEach((id, i) => { feeds[id] = lr[idx[i]!]!; });
      if (align) {
        const ts = Object.fromEntries(Object.entries(feeds).map(([id, a]) => [id, Tensor.from([1, ...shapes.get(id)!], a)]));
        const moved = hostAlignInputs(g, align, ts);
        for (const [id, x] of Object.entries(moved)) { feeds[id] = x.toArray(); x.dispose(); }
        for (const x of Object.values(ts)) x.dispose();
      }
      const r = await tm.run(feeds);
      for (const id of v.outputs) out.push(float32ToImage(r[id]!.data as Float32Array, W * s, H * s, 3, 8));
      state = Object.fromEntries(v.state.map((st) => [st.input, r[st.output]!.data as Float32Array]));
    }
  } finally {
    tm.dispose();
  }
  return out;
}

for (const [arch, args, W, H] of VIDEO_CASES) {
  test(`${arch} ${JSON.stringify(args)}: the step graph as .tflite in LiteRT.js, state fed back, gives the autograd forward's frames${args.align === 'global' ? ' (aligned: the host moves the frames and state the .tflite takes)' : ''}`, { skip: noLiteRt }, async () => {
    await useEngine(1);
    const m = model(arch, args);
    try {
      const g = stepGraph(m);
      const clip = clipImages(m.chunk > 1 ? 2 * m.chunk : 8, W, H, 3);
      assertSameFrames(await tfliteClip(g, clip), wholeClip(m, clip), `${arch} in LiteRT.js`);
    } finally {
      m.dispose();
    }
  });
}

test('mvsr export -o m.tflite, and --backend tflite in mvsr eval; an op with no TFLite form is one line and leaves no file', { skip: noLiteRt }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-tflite-'));
  try {
    const file = join(dir, 'etds.tflite');
    const e = mvsr('export', 'etds-t-x4', '-o', file, '--input', '24x20');
    assert.equal(e.status, 0, e.stderr);
    const tm = await TfliteModel.create(readFileSync(file));
    assert.deepEqual(tm.inputs().map((i) => [i.name, i.shape]), [['input', [1, 24, 20, 3]]]);
    assert.deepEqual(tm.outputs().map((o) => [o.name, o.shape]), [['output', [1, 96, 80, 3]]]);
    tm.dispose();
    const bad = mvsr('export', 'bicubic', '-o', join(dir, 'bicubic.tflite'));
    assert.notEqual(bad.status, 0);
    assert.deepEqual(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /node 'resize' \(resize\): bicubic resize has no TFLite builtin op/);
    assert.deepEqual(readdirSync(dir), ['etds.tflite'], 'no partial or temporary file');
    assert.ok(!existsSync(join(dir, 'bicubic.tflite')));
    const data = join(dir, 'set');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(data);
    const { writeImage } = await import('../src/io/image.node.js');
    const { renderSampleFrame } = await import('../src/data/synthetic.js');
    await useEngine(1);
    for (let i = 0; i < 2; i++) await writeImage(join(data, `im${i}.png`), renderSampleFrame(7 * i, { width: 96, height: 72, supersample: 1 }));
    const figures = (backend: string) => {
      const r = mvsr('eval', '--model', 'etds-t-x4', '--data', data, '--backend', backend, '--json', '-t', '1');
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { psnr: number; ssim: number };
    };
    const w = figures('wasm'), l = figures('tflite');
    assert.ok(Math.abs(w.psnr - l.psnr) < 1e-3 && Math.abs(w.ssim - l.ssim) < 1e-5, `wasm ${w.psnr}/${w.ssim} vs tflite ${l.psnr}/${l.ssim}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const noSet5 = needData('benchmarks/Set5');

test('FP16 .tflite of every shipped image model: Set5 PSNR-Y within 0.01 dB of the FP32 .tflite, both run in LiteRT.js (mvsr eval --backend tflite / tflite-fp16)', { skip: noLiteRt || noSet5 }, async () => {
  const { listShippedModels } = await import('../src/api/shipped.node.js');
  const shipped = listShippedModels().filter((m) => getArch(m.arch).kind === 'image');
  assert.ok(shipped.length >= 5, `shipped image models: ${shipped.map((m) => m.name).join(', ')}`);
  const rows: string[] = [];
  for (const m of shipped) {
    const psnr = (backend: string) => {
      const r = mvsr('eval', '--model', m.name, '--data', join(DATA_DIR, 'benchmarks/Set5'), '--backend', backend, '--json', '-t', '1');
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { psnr: number }).psnr;
    };
    const f32 = psnr('tflite'), f16 = psnr('tflite-fp16');
    rows.push(`${m.name}: FP32 ${f32.toFixed(3)} dB, FP16 ${f16.toFixed(3)} dB (${(f16 - f32 >= 0 ? '+' : '')}${(f16 - f32).toFixed(4)})`);
    assert.ok(Math.abs(f16 - f32) <= 0.01, `${m.name}: FP16 ${f16} vs FP32 ${f32}`);
  }
  console.log(rows.join('\n'));
});
