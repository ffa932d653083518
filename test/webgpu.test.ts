// The WebGPU backend against mvsr's wasm runtime (the reference), through Dawn (the `webgpu`
// npm package). Without a GPU, Dawn runs on SwiftShader (Chromium's CPU Vulkan, with Debian's
// libvulkan1): results only, never timings. Every image family and hand graph of every op, the
// video families streamed with the state kept on the GPU, batches and several sizes on one
// backend, and clear errors. Pass criterion as a user sees it: 8-bit outputs equal on at least
// 99.9% of values and never more than one level apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { encodePng, decodeImage } from '../src/io/image.node.js';
import { REPO_ROOT } from './data.js';
import { Tensor, liveTensorCount } from '../src/tensor/tensor.js';
import { createBackend, type Backend } from '../src/runtime/backend.node.js';
import { gpuDevice } from '../src/runtime/webgpu/backend.js';
import { convTiling } from '../src/runtime/webgpu/wgsl.js';
import { VideoStream } from '../src/runtime/video.js';
import { createModel, toGraph, stepGraph } from '../src/models/registry.js';
import { manualSeed } from '../src/nn/index.js';
import { GraphBuilder, inputNode, type Graph } from '../src/graph/ir.js';
import { useEngine, mulberry32, randomize, SMALL_FAMILIES, HAND, w, skipReason, groupedDilatedGraph, esaGraph, sized } from './helpers.js';
import { renderSampleFrame } from '../src/data/synthetic.js';
import { estimateShiftTensor } from '../src/tensor/ops/align.js';
import { SMALL_VIDEO, RLFB_VIDEO, model } from './video-helpers.js';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;
const noGpu = await skipReason(() => gpuDevice(), 'WebGPU (the webgpu package on a Vulkan driver or SwiftShader)');
if (noGpu) console.log(`# skipping the WebGPU tests: ${noGpu}`);

/** 8-bit comparison: the share of equal values and the largest difference in levels. */
function compare8(a: Float32Array, b: Float32Array): { equal: number; maxLevels: number; maxAbs255: number } {
  assert.equal(a.length, b.length, 'output sizes differ');
  let eq = 0, maxLevels = 0, maxAbs = 0;
  const q = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(q(a[i]!) - q(b[i]!));
    if (d === 0) eq++;
    maxLevels = Math.max(maxLevels, d);
    maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
  }
  return { equal: eq / a.length, maxLevels, maxAbs255: maxAbs * 255 };
}

function assert8(a: Float32Array, b: Float32Array, what: string): string {
  const c = compare8(a, b);
  assert.ok(c.equal >= 0.999 && c.maxLevels <= 1, `${what}: 8-bit outputs equal on ${(c.equal * 100).toFixed(3)}% of values, at most ${c.maxLevels} level(s) apart (need >= 99.9% and <= 1)`);
  return `${what.padEnd(70)} equal ${(c.equal * 100).toFixed(2)}%  max |diff| ${c.maxAbs255.toExponential(2)}/255`;
}

const maxAbs = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

const randomImage = (shape: number[], seed: number): Tensor => {
  const r = mulberry32(seed);
  return Tensor.from(shape, Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => r()));
};

async function runBoth(g: Graph, x: Tensor): Promise<[Float32Array, Float32Array, Backend]> {
  const a = await createBackend(g, { backend: 'wasm' }), b = await createBackend(g, { backend: 'webgpu' });
  try {
    const ya = await a.run(x), yb = await b.run(x);
    assert.deepEqual(yb.shape, ya.shape, 'output shape');
    const r: [Float32Array, Float32Array] = [ya.toArray(), yb.toArray()];
    ya.dispose();
    yb.dispose();
    return [...r, b];
  } finally {
    await a.dispose();
  }
}

/** Ops the families do not reach: a grouped (not depthwise) conv, both space_to_depth orders, a transposed conv with output padding, a shared 1-channel slice. */
function groupedGraph(): Graph {
  const b = new GraphBuilder({ arch: 'grouped', args: {}, scale: 2 });
  const x = b.input(3);
  const a = b.conv('c1', x, w([8, 3, 3, 3], 41), w([8], 42), { act: { kind: 'relu' } });
  const g = b.conv('g', a, w([6, 4, 3, 3], 43), w([6], 44), { groups: 2 });
  const s1 = b.spaceToDepth('s2d', b.conv('c2', g, w([5, 6, 1, 1], 45), null), 2, 'pytorch');
  const s2 = b.spaceToDepth('s2d_tf', b.slice('one', x, 1, 2), 2, 'tf');
  const t = b.convTranspose('up', b.concat('cat', [s1, s2]), w([24, 3, 5, 5], 46), w([3], 47), { stride: 4, padding: 1, outputPadding: 1 });
  return b.output(b.resize('half', t, 0.5, 'bilinear'));
}

/** A family's deploy graph with seeded random weights (amplitude 0.25). */
const familyGraph = (arch: string, args: Record<string, unknown>, sd: number) => (): Graph => {
  manualSeed(sd);
  const m = createModel(arch, args);
  try {
    randomize(m, 0.25, sd);
    return toGraph(m);
  } finally {
    m.dispose();
  }
};

test('every image family and hand graph: WebGPU gives the wasm runtime\'s 8-bit output', { skip: noGpu }, async (t) => {
  await useEngine(1);
  const live = liveTensorCount();
  const rows: string[] = [];
  let seed = 300;
  const cases: [string, () => Graph][] = [];
  for (const [arch, argsOf] of SMALL_FAMILIES) {
    for (const s of [2, 3, 4]) {
      const args = argsOf(s), sd = seed++;
      cases.push([`${arch} x${s} ${JSON.stringify(args)}`, familyGraph(arch, args, sd)]);
    }
  }
  cases.push(...HAND, ['grouped, space_to_depth, transposed', groupedGraph], ['grouped, dilated, GELU, attention', groupedDilatedGraph], ['ESA: strided conv, max pool, resize to size', esaGraph]);
  for (const [name, f] of cases) {
    await t.test(name, async () => {
      const g = f();
      const [H, W] = g.meta.arch === 'esa' ? [17, 19] : sized(g.meta.from ?? g.meta.arch, 10, 12); // ESA pools a 7x7 window of a half-size map
      const x = randomImage([1, H, W, inputNode(g).channels], seed++);
      const [a, b, backend] = await runBoth(g, x);
      await backend.dispose();
      x.dispose();
      rows.push(assert8(a, b, name));
    });
  }
  console.log(`WebGPU (SwiftShader) vs wasm, 8-bit outputs:\n${rows.join('\n')}`);
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('dense conv tilings (pixels and output blocks per invocation, a tail\'s blocks and pixels, the input tile in workgroup memory): every one gives wasm\'s output, widths not a multiple of the tile included', { skip: noGpu }, async (t) => {
  await useEngine(1);
  const saved = { ...convTiling };
  // strided, dilated and odd-channel dense convs, then a conv + residual + pixel-shuffle tail (ETDS) and one without a residual (ESPCN)
  const hand = (): Graph => {
    const b = new GraphBuilder({ arch: 'tiles', args: {}, scale: 1 });
    const x = b.input(3);
    const a = b.conv('a', x, w([7, 3, 3, 3], 51), w([7], 52), { act: { kind: 'relu' } });
    const s2 = b.conv('s', a, w([9, 7, 3, 3], 53), w([9], 54), { stride: 2 });
    const d = b.conv('d', s2, w([6, 9, 3, 3], 55), w([6], 56), { dilation: 2, padding: 2, act: { kind: 'leaky', slope: 0.1 } });
    return b.output(b.conv('e', d, w([5, 6, 5, 5], 57), null, { padding: 2 }));
  };
  const graphs: [string, () => Graph][] = [
    ['strided, dilated, odd channels', hand],
    ['ETDS x4 (tail with residual)', familyGraph('ETDS', { upscale: 4, num_block: 2, num_feat: 12, num_residual_feat: 4 }, 61)],
    ['ESPCN x3 (tail, 27 channels)', familyGraph('ESPCN', { colors: 3, upscale: 3 }, 62)],
  ];
  const tilings = [
    { px: 1, co: 1, tailBlocks: 1, tailPx: 1 },
    { px: 3, co: 2, tailBlocks: 2, tailPx: 3 },
    { px: 8, co: 8, tailBlocks: 5, tailPx: 4 },
    // the input tile staged in workgroup memory: one chunk of input blocks, then several (ESPCN's 64 and 32 channels at
    // px 3 take chunks of 3 blocks, the last one short), the strided conv falling back to global reads
    { px: 1, co: 4, tailBlocks: 0, tailPx: 2, shared: true },
    { px: 3, co: 2, tailBlocks: 2, tailPx: 3, shared: true },
  ];
  try {
    for (const tiling of tilings) {
      for (const [name, f] of graphs) {
        await t.test(`${name}, ${JSON.stringify(tiling)}`, async () => {
          Object.assign(convTiling, tiling);
          const x = randomImage([1, 11, 13, 3], 70);
          const [a, b, backend] = await runBoth(f(), x);
          await backend.dispose();
          x.dispose();
          assert.ok(maxAbs(a, b) * 255 < 0.01, `max |diff| ${maxAbs(a, b) * 255}/255`);
        });
      }
    }
  } finally {
    Object.assign(convTiling, saved);
  }
});

test('layer norm on WebGPU: channel counts 1 to 13 (the padded lanes of the last block kept out of the statistics), batches of 2, equal to wasm', { skip: noGpu }, async () => {
  await useEngine(1);
  const live = liveTensorCount();
  const rows: string[] = [];
  for (const C of [1, 2, 3, 4, 5, 8, 13]) {
    const b = new GraphBuilder({ arch: 'layer_norm_c', args: {}, scale: 1 });
    const r = mulberry32(C);
    const vec = (center: number, a: number) => ({ shape: [C], data: Float32Array.from({ length: C }, () => center + (2 * r() - 1) * a) });
    const g = b.output(b.layerNorm('n', b.input(C), vec(0.2, 0.05), vec(0.5, 0.1), C === 5 ? 0.1 : 1e-5));
    const x = randomImage([2, 6, 7, C], 90 + C);
    const [a, y, backend] = await runBoth(g, x);
    await backend.dispose();
    x.dispose();
    rows.push(assert8(a, y, `C=${C}`));
    assert.ok(maxAbs(a, y) < 1e-5, `C=${C}: max |webgpu - wasm| = ${maxAbs(a, y)}`);
  }
  console.log(`WebGPU (SwiftShader) vs wasm, layer norm:\n${rows.join('\n')}`);
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('window attention on WebGPU: heads of 1 to 5 channels (not aligned to the vec4 blocks), windows crossing the edges, batches of 2, equal to wasm', { skip: noGpu }, async () => {
  await useEngine(1);
  const live = liveTensorCount();
  for (const [H, W, C, heads, window] of [[4, 4, 4, 1, 2], [5, 7, 6, 3, 3], [9, 11, 40, 8, 8], [3, 2, 8, 2, 4]] as const) {
    const b = new GraphBuilder({ arch: 'window_attention', args: {}, scale: 1 });
    const g = b.output(b.windowAttention('a', b.input(3 * C), heads, window));
    const x = randomImage([2, H, W, 3 * C], H * W + C);
    const [a, y, backend] = await runBoth(g, x);
    await backend.dispose();
    x.dispose();
    assert.ok(maxAbs(a, y) < 1e-5, `${H}x${W} C=${C} heads=${heads} window=${window}: max |webgpu - wasm| = ${maxAbs(a, y)}`);
  }
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('one WebGPU backend: batches of 2 and three input sizes, each equal to wasm', { skip: noGpu }, async () => {
  await useEngine(1);
  manualSeed(5);
  const m = createModel('ETDS', { upscale: 3, num_block: 2, num_feat: 12, num_residual_feat: 4 });
  randomize(m, 0.25, 5);
  const g = toGraph(m);
  m.dispose();
  const a = await createBackend(g, { backend: 'wasm' }), b = await createBackend(g, { backend: 'webgpu' });
  try {
    // sizes: new, new, batch of 2, and the first again (a cached plan)
    for (const [i, shape] of [[1, 5, 7, 3], [1, 16, 9, 3], [2, 6, 6, 3], [1, 5, 7, 3]].entries()) {
      const x = randomImage(shape, 70 + i);
      const ya = await a.run(x), yb = await b.run(x);
      assert.deepEqual(yb.shape, ya.shape);
      assert8(ya.toArray(), yb.toArray(), `ETDS x3 at ${shape.join('x')}`);
      for (const y of [x, ya, yb]) y.dispose();
    }
    // two runs in flight at once on one plan queue behind each other
    const x = randomImage([1, 5, 7, 3], 80);
    const [y1, y2] = await Promise.all([b.run(x), b.run(x)]);
    assert.deepEqual(y1.toArray(), y2.toArray(), 'concurrent runs on one plan');
    for (const y of [x, y1, y2]) y.dispose();
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test('video families (global alignment too) streamed on WebGPU with the state kept on the GPU give wasm\'s frames; the same as carrying the state through the CPU', { skip: noGpu }, async (t) => {
  await useEngine(1);
  const live = liveTensorCount();
  const rows: string[] = [];
  // frames of mvsr's sample clip: real motion (about 1.3 px per frame), so global alignment moves
  const frame = (t: number): Tensor => {
    const img = renderSampleFrame(t, { width: 64, height: 48 });
    return Tensor.from([1, 48, 64, 3], Float32Array.from(img.data, (v) => v / 255));
  };
  const [f0, f1] = [frame(0), frame(4)];
  const moved = estimateShiftTensor(f0, f1, 4);
  const [dx, dy] = moved.toArray();
  assert.ok(Math.hypot(dx!, dy!) > 0.5, `the sample moves between frames (shift ${dx}, ${dy})`);
  for (const t of [f0, f1, moved]) t.dispose();
  for (const [arch, args] of [...SMALL_VIDEO, RLFB_VIDEO]) {
    await t.test(`${arch} ${JSON.stringify(args)}`, async () => {
      const m = model(arch, args);
      const src = { chunk: m.chunk, graph: (c: number) => stepGraph(m, c) };
      const clip = async (backend: string, resident: boolean): Promise<Float32Array[]> => {
        const st = new VideoStream(src, { backend });
        if (!resident) {
          // hide runResident: the stream carries the state as tensors
          const b = await st.backend();
          (b as { runResident?: unknown }).runResident = undefined;
        }
        const ys: Tensor[] = [];
        try {
          for (let k = 0; k < 2; k++) { // two clips: the state is reset between them
            for (let i = 0; i < 6; i++) ys.push(...(await st.push(frame(4 * i + k))));
            ys.push(...(await st.flush()));
          }
          return ys.map((y) => y.toArray());
        } finally {
          for (const y of ys) y.dispose();
          await st.dispose();
        }
      };
      const ref = await clip('wasm', false), gpu = await clip('webgpu', true), gpuCpuState = await clip('webgpu', false);
      assert.equal(gpu.length, ref.length, 'frame count');
      assert.equal(ref.length, 12);
      rows.push(assert8(Float32Array.from(ref.flatMap((f) => [...f])), Float32Array.from(gpu.flatMap((f) => [...f])), `${arch} ${JSON.stringify(args)}`));
      gpu.forEach((f, i) => assert.deepEqual(f, gpuCpuState[i], `frame ${i}: GPU-resident state differs from the state carried through the CPU`));
      m.dispose();
    });
  }
  console.log(`WebGPU (SwiftShader) vs wasm, video, 8-bit outputs:\n${rows.join('\n')}`);
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test('WebGPU errors: a shift estimated from computed values names the node; a wrong input names the node', { skip: noGpu }, async () => {
  await useEngine(1);
  const gb = new GraphBuilder({ arch: 'shift_of_conv', args: {}, scale: 1 });
  const a = gb.input(3);
  const conv = gb.conv('c', a, w([3, 3, 3, 3], 1), null);
  const moved = gb.translate('t', a, gb.estimateShift('s', conv, a, 2));
  await assert.rejects(createBackend(gb.output(moved), { backend: 'webgpu' }), /node 's' \(estimateShift\): the webgpu backend estimates shifts between graph inputs only/);
  manualSeed(1);
  const e = createModel('ELSR', { upscale: 2, num_feat: 6 });
  const b = await createBackend(toGraph(e), { backend: 'webgpu' });
  e.dispose();
  const x = randomImage([1, 5, 5, 4], 1);
  await assert.rejects(b.run(x), /node 'input' \(input\): expects an NHWC input with 3 channels/);
  x.dispose();
  await b.dispose();
  const y = randomImage([1, 5, 5, 3], 1);
  await assert.rejects(b.run(y), /used after dispose/);
  y.dispose();
});

test('mvsr upscale --backend webgpu writes the PNG that --backend wasm writes (8-bit, >= 99.9% equal, <= 1 level)', { skip: noGpu }, async () => {
  await useEngine(1);
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-webgpu-cli-'));
  const img = renderSampleFrame(2, { width: 64, height: 48 });
  writeFileSync(join(dir, 'in.png'), encodePng(img));
  const cli = join(REPO_ROOT, 'dist/src/cli/main.js');
  const outs: Record<string, Uint8Array> = {};
  for (const backend of ['webgpu', 'wasm']) {
    const r = spawnSync(process.execPath, [cli, 'upscale', join(dir, 'in.png'), '-o', join(dir, `${backend}.png`), '--model', 'etds-t-x4', '--backend', backend], { encoding: 'utf8', env: process.env });
    assert.equal(r.status, 0, r.stderr);
    const out = await decodeImage(readFileSync(join(dir, `${backend}.png`)));
    assert.deepEqual([out.width, out.height], [256, 192]);
    outs[backend] = out.data as Uint8Array;
  }
  const a = outs.webgpu!, b = outs.wasm!;
  let eq = 0, max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d === 0) eq++;
    max = Math.max(max, d);
  }
  assert.ok(eq / a.length >= 0.999 && max <= 1, `webgpu vs wasm PNG: ${(100 * eq / a.length).toFixed(3)}% equal, max ${max}`);
});
