// ONNX export: every zoo family's deploy graph, exported and run by onnxruntime-node (CPU, an
// independent engine), computes what mvsr's interpreter computes, in NCHW and NHWC, with fixed
// and symbolic shapes, in float32 and float16; a hand-built graph covers every op and attribute;
// the bytes parse back (own reader) to the expected opset, initializers and node types; the
// protobuf writer round-trips through the reader; errors name the node; files are written atomically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { useEngine, mulberry32, maxAbsDiff, randomize, SMALL_FAMILIES, runGraphArray, groupedDilatedGraph, esaGraph, sized, layerNormGraph } from './helpers.js';
import { liveTensorCount } from '../src/tensor/tensor.js';
import { manualSeed } from '../src/nn/init.js';
import type { Module } from '../src/nn/module.js';
import { createModel, toGraph } from '../src/models/registry.js';
import { GraphBuilder, usedWeights, type Graph } from '../src/graph/index.js';
import {
  exportOnnx, readOnnxModel, toFloat16Array, fromFloat16Array, toFloat16Bits, fromFloat16Bits,
  ONNX_FLOAT, ONNX_FLOAT16, type OnnxExportOptions,
} from '../src/export/onnx.js';
import { writeOnnxFile } from '../src/export/write.node.js';
import { ProtoWriter, ProtoMessage, decodeMessage } from '../src/export/protobuf.js';

// ---- onnxruntime-node, if it loads here ------------------------------------------------------

type Ort = typeof import('onnxruntime-node');
let ort: Ort | null = null;
let noOrt: string | false = false;
try {
  ort = await import('onnxruntime-node');
  // the native binding is only loaded by the first session: make one from a one-node model
  const b = new GraphBuilder({ arch: 'probe', args: {}, scale: 1 });
  const probe = b.output(b.act('r', b.input(1), { kind: 'relu' }));
  await (await ort.InferenceSession.create(exportOnnx(probe, { inputShape: [1, 1] }))).release();
} catch (e) {
  noOrt = `onnxruntime-node does not load here: ${(e as Error).message.split('\n')[0]}`;
  ort = null;
}

const SESSION: import('onnxruntime-node').InferenceSession.SessionOptions = {
  intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'], logSeverityLevel: 3,
};

/** Run an exported model on an NHWC float32 image; returns the NHWC float32 output. */
async function runOrt(bytes: Uint8Array, x: { shape: number[]; data: Float32Array }, o: OnnxExportOptions): Promise<{ shape: number[]; data: Float32Array }> {
  const s = await ort!.InferenceSession.create(bytes, SESSION);
  try {
    const [N, H, W, C] = x.shape as [number, number, number, number];
    const nchw = o.layout !== 'nhwc';
    const data = nchw ? nhwcToNchw(x.data, N, H, W, C) : x.data;
    const dims = nchw ? [N, C, H, W] : [N, H, W, C];
    const t = o.fp16 ? new ort!.Tensor('float16', toFloat16Array(data), dims) : new ort!.Tensor('float32', data, dims);
    const out = (await s.run({ input: t })).output!;
    const y = o.fp16 ? fromFloat16Array(out.data as Uint16Array) : (out.data as Float32Array);
    assert.equal(out.type, o.fp16 ? 'float16' : 'float32');
    const d = out.dims as number[];
    if (!nchw) return { shape: [...d], data: Float32Array.from(y) };
    const [n, c, h, w] = d as [number, number, number, number];
    return { shape: [n, h, w, c], data: nchwToNhwc(y, n, c, h, w) };
  } finally {
    await s.release();
  }
}

function nhwcToNchw(a: Float32Array, N: number, H: number, W: number, C: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) {
    out[((n * C + c) * H + h) * W + w] = a[((n * H + h) * W + w) * C + c]!;
  }
  return out;
}

function nchwToNhwc(a: Float32Array, N: number, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    out[((n * H + h) * W + w) * C + c] = a[((n * C + c) * H + h) * W + w]!;
  }
  return out;
}

// ---- references --------------------------------------------------------------------------------

function randomImage(N: number, H: number, W: number, C: number, seed: number): { shape: number[]; data: Float32Array } {
  const r = mulberry32(seed);
  return { shape: [N, H, W, C], data: Float32Array.from({ length: N * H * W * C }, () => r()) };
}



// every family but MatlabBicubic, which has no ONNX operator
const FAMILIES = SMALL_FAMILIES.filter(([arch]) => arch !== 'MatlabBicubic');

function familyGraph(arch: string, args: Record<string, unknown>, seed: number): Graph {
  manualSeed(seed);
  const m = createModel(arch, args);
  try {
    randomize(m, 0.25, seed);
    return toGraph(m);
  } finally {
    m.dispose();
  }
}

/** fp32: max |onnx - mvsr| * 255 below 0.01 (a hundredth of an 8-bit step). */
const FP32_TOL_255 = 0.01;
/**
 * fp16: weights, activations and I/O rounded to 11 significant bits (relative step 2^-11 ~ 4.9e-4)
 * at every layer; allow half an 8-bit step on outputs scaled to the reference's range (at least 1).
 * (onnxruntime's CPU provider runs some fp16 nodes in float32 behind inserted casts; GPU providers
 * accumulate in fp16 and may differ more.)
 */
const FP16_TOL_255 = 0.5;

// ---- every family against the interpreter ------------------------------------------------------

test('every zoo family: onnxruntime runs the export as mvsr runs the graph (fp32 and fp16, NCHW and NHWC, fixed and dynamic)', { skip: noOrt }, async (t) => {
  await useEngine(1);
  const live = liveTensorCount();
  const table: string[] = [];
  let seed = 100;
  for (const [arch, argsOf] of FAMILIES) {
    for (const s of [2, 3, 4]) {
      const args = argsOf(s);
      const Cin = (args.num_in_ch as number | undefined) ?? 3;
      const name = `${arch} x${s} ${JSON.stringify(args)}`;
      await t.test(name, async () => {
        const g = familyGraph(arch, args, seed++);
        const [H, W] = sized(arch, 7, 6), [H2, W2] = sized(arch, 5, 9);
        const x = randomImage(1, H, W, Cin, seed);
        const x2 = randomImage(2, H2, W2, Cin, seed + 1); // a second size and batch for the dynamic exports
        const ref = runGraphArray(g, x);
        const ref2 = runGraphArray(g, { shape: [1, H2, W2, Cin], data: x2.data.subarray(0, H2 * W2 * Cin) });
        const ref2b = runGraphArray(g, { shape: [1, H2, W2, Cin], data: x2.data.subarray(H2 * W2 * Cin) });
        const range = Math.max(1, ...ref.data.map(Math.abs));
        let fp32 = 0, fp16 = 0;
        for (const layout of ['nchw', 'nhwc'] as const) {
          for (const dynamic of [false, true]) {
            const o: OnnxExportOptions = dynamic ? { layout, dynamic } : { layout, inputShape: [H, W] };
            const y = await runOrt(exportOnnx(g, o), x, o);
            assert.deepEqual(y.shape, ref.shape, `${name} ${layout} dynamic=${dynamic}: shape`);
            fp32 = Math.max(fp32, maxAbsDiff(y.data, ref.data) * 255);
            if (dynamic) {
              const y2 = await runOrt(exportOnnx(g, o), x2, o);
              assert.deepEqual(y2.shape, [2, ...ref2.shape.slice(1)], `${name} ${layout}: dynamic shape at 2x${H2}x${W2}`);
              const half = ref2.data.length;
              fp32 = Math.max(fp32, maxAbsDiff(y2.data.subarray(0, half), ref2.data) * 255, maxAbsDiff(y2.data.subarray(half), ref2b.data) * 255);
            }
          }
          const o16: OnnxExportOptions = { layout, dynamic: true, fp16: true };
          const y16 = await runOrt(exportOnnx(g, o16), x, o16);
          assert.deepEqual(y16.shape, ref.shape, `${name} ${layout} fp16: shape`);
          fp16 = Math.max(fp16, (maxAbsDiff(y16.data, ref.data) / range) * 255);
        }
        table.push(`${name.padEnd(96)} fp32 ${fp32.toExponential(2)}  fp16 ${fp16.toFixed(3)} (output range ${range.toFixed(2)})`);
        assert.ok(fp32 < FP32_TOL_255, `${name}: fp32 max |onnx - mvsr| * 255 = ${fp32}`);
        assert.ok(fp16 < FP16_TOL_255, `${name}: fp16 max |onnx - mvsr| / range * 255 = ${fp16}`);
      });
    }
  }
  console.log(`max |onnxruntime - mvsr| * 255 per family (fp32: absolute; fp16: relative to max(1, max |y|)):\n${table.join('\n')}`);
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

// ---- every op and attribute ---------------------------------------------------------------------

function weights(seed: number): (shape: number[], a?: number) => { shape: number[]; data: Float32Array } {
  const r = mulberry32(seed);
  return (shape, a = 0.4) => ({ shape, data: Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => (2 * r() - 1) * a) });
}

/** A graph using every op, every activation, both pixel orders and every integer resize mode. */
function everyOpGraph(): Graph {
  const w = weights(99);
  const b = new GraphBuilder({ arch: 'every_op', args: {}, scale: 12 });
  const x = b.input(3);
  const a1 = b.act('a1', b.conv('c1', x, w([8, 3, 3, 3]), w([8])), { kind: 'leaky', slope: 0.1 });
  const c2 = b.conv('c2', a1, w([8, 2, 3, 3]), w([8]), { groups: 4, act: { kind: 'tanh' } });
  const c2p = b.conv('c2p', c2, w([8, 8, 1, 1]), null, { act: { kind: 'prelu', alpha: w([1], 0.5) } }); // one shared slope
  const m = b.mul('m', a1, c2p);
  const res = b.concat('rep', [x, x, x, x]); // residual channel co reads input channel co % 3
  const sr = b.depthToSpace('d2s', b.act('cl', b.add('s', b.conv('c3', m, w([12, 8, 3, 3]), w([12])), res), { kind: 'clamp', lo: 0.1, hi: 0.9 }), 2);
  const up = b.add('u2', b.add('u1', sr, b.resize('bl', x, 2, 'bilinear')), b.resize('nn', x, 2, 'nearest'));
  const ct = b.act('pr', b.convTranspose('ct', up, w([3, 3, 4, 4]), w([3]), { stride: 1, padding: 1 }), { kind: 'prelu', alpha: w([3], 0.5) }); // +1 px
  const tf = b.depthToSpace('d2s_tf', b.conv('c4', ct, w([12, 3, 3, 3]), null, { padding: 0 }), 2, 'tf'); // -2 px, then x2
  const ct2 = b.convTranspose('ct2', tf, w([3, 4, 3, 3]), null, { stride: 3, padding: 1, outputPadding: 2 }); // x3
  const lo = b.slice('lo', ct2, 0, 2);
  const hi = b.slice('hi', b.resize('bc', tf, 3, 'bicubic'), 1, 3);
  const nn1 = b.resize('same', b.resize('bc1', b.concat('cat', [lo, hi]), 1, 'bicubic'), 1, 'nearest');
  return b.output(b.act('sg', nn1, { kind: 'sigmoid' }));
}

test('a graph with every op, activation and attribute: onnxruntime equals mvsr', { skip: noOrt }, async () => {
  await useEngine(1);
  const g = everyOpGraph();
  for (const [H, W] of [[5, 6], [8, 3]] as const) {
    const x = randomImage(1, H, W, 3, H * 31 + W);
    const ref = runGraphArray(g, x);
    assert.deepEqual(ref.shape, [1, 3 * (4 * H - 2), 3 * (4 * W - 2), 4]);
    for (const layout of ['nchw', 'nhwc'] as const) {
      for (const o of [{ layout, dynamic: true }, { layout, inputShape: [H, W] }] as OnnxExportOptions[]) {
        const y = await runOrt(exportOnnx(g, o), x, o);
        assert.deepEqual(y.shape, ref.shape);
        const d = maxAbsDiff(y.data, ref.data) * 255;
        assert.ok(d < FP32_TOL_255, `every-op graph ${H}x${W} ${JSON.stringify(o)}: max |onnx - mvsr| * 255 = ${d}`);
      }
      const o16: OnnxExportOptions = { layout, dynamic: true, fp16: true };
      const y16 = await runOrt(exportOnnx(g, o16), x, o16);
      const d16 = maxAbsDiff(y16.data, ref.data) * 255;
      assert.ok(d16 < FP16_TOL_255, `every-op graph ${H}x${W} fp16 ${layout}: max |onnx - mvsr| * 255 = ${d16}`);
    }
    // the oldest and newest supported opsets load and agree too
    for (const opset of [13, 18, 20]) {
      const y = await runOrt(exportOnnx(g, { opset }), x, {});
      const d = maxAbsDiff(y.data, ref.data) * 255;
      assert.ok(d < FP32_TOL_255, `every-op graph ${H}x${W} opset ${opset}: max |onnx - mvsr| * 255 = ${d}`);
    }
  }
});

test('the efficient-SR ops (GELU, grouped, dilated and strided convs, std/mean and max pooling, channel scaling, resize to a size): onnxruntime equals mvsr, fp32 and fp16, opsets 13 to 20', { skip: noOrt }, async () => {
  await useEngine(1);
  for (const [g, H, W] of [[groupedDilatedGraph(), 9, 11], [esaGraph(), 17, 20]] as const) {
    const x = randomImage(1, H, W, 3, 77);
    const ref = runGraphArray(g, x);
    for (const o of [{ layout: 'nchw', dynamic: true }, { layout: 'nhwc', inputShape: [H, W] }, { opset: 13 }, { opset: 20 }] as OnnxExportOptions[]) {
      const y = await runOrt(exportOnnx(g, o), x, o);
      assert.deepEqual(y.shape, ref.shape);
      const d = maxAbsDiff(y.data, ref.data) * 255;
      assert.ok(d < FP32_TOL_255, `${g.meta.arch} ${JSON.stringify(o)}: max |onnx - mvsr| * 255 = ${d}`);
    }
    const o16: OnnxExportOptions = { layout: 'nchw', dynamic: true, fp16: true };
    const d16 = maxAbsDiff((await runOrt(exportOnnx(g, o16), x, o16)).data, ref.data) * 255;
    assert.ok(d16 < FP16_TOL_255, `${g.meta.arch} fp16: max |onnx - mvsr| * 255 = ${d16}`);
  }
});

test('layer norm: ReduceMean over the channels (axes an attribute to opset 17, an input from 18), weight and bias as [C,1,1]; onnxruntime equals mvsr in NCHW and NHWC, fixed and symbolic shapes, batch 2, opsets 13-20, float16', { skip: noOrt }, async () => {
  await useEngine(1);
  const g = layerNormGraph();
  for (const opset of [17, 18]) {
    const m = readOnnxModel(exportOnnx(g, { opset }));
    const means = m.nodes.filter((n) => n.opType === 'ReduceMean');
    assert.equal(means.length, 4, 'two ReduceMeans per norm (the mean, the variance)');
    for (const n of means) {
      assert.equal(n.attributes.keepdims, 1);
      if (opset < 18) assert.deepEqual([n.inputs.length, n.attributes.axes], [1, [1]]);
      else assert.deepEqual([n.inputs.length, n.attributes.axes], [2, undefined]);
    }
    for (const k of ['n1.weight', 'n1.bias', 'n2.weight', 'n2.bias']) assert.deepEqual(m.initializers.find((i) => i.name === k)?.dims, [g.weights[k]!.shape[0], 1, 1], k);
  }
  for (const [N, H, W] of [[1, 5, 6], [2, 7, 3], [1, 1, 1]] as const) {
    const x = randomImage(N, H, W, 3, H * 31 + W);
    const ref = runGraphArray(g, x);
    const cases: OnnxExportOptions[] = [{ layout: 'nchw', dynamic: true }, { layout: 'nhwc', dynamic: true }, ...[13, 18, 20].map((opset) => ({ opset }))];
    if (N === 1) cases.push({ layout: 'nchw', inputShape: [H, W] }, { layout: 'nhwc', inputShape: [H, W] });
    for (const o of cases) {
      const y = await runOrt(exportOnnx(g, o), x, o);
      assert.deepEqual(y.shape, ref.shape);
      const d = maxAbsDiff(y.data, ref.data) * 255;
      assert.ok(d < FP32_TOL_255, `layer norm ${N}x${H}x${W} ${JSON.stringify(o)}: max |onnx - mvsr| * 255 = ${d}`);
    }
    const o16: OnnxExportOptions = { dynamic: true, fp16: true };
    const d16 = maxAbsDiff((await runOrt(exportOnnx(g, o16), x, o16)).data, ref.data) * 255;
    assert.ok(d16 < FP16_TOL_255, `layer norm ${N}x${H}x${W} fp16: max |onnx - mvsr| * 255 = ${d16}`);
  }
});

test('resize: PyTorch align_corners=False semantics in onnxruntime for integer and fractional scales, borders included', { skip: noOrt }, async () => {
  await useEngine(1);
  for (const mode of ['nearest', 'bilinear', 'bicubic'] as const) {
    for (const scale of [2, 3, 4, 1.5, 2.5]) {
      const b = new GraphBuilder({ arch: `resize_${mode}`, args: {}, scale });
      const g = b.output(b.resize('resize', b.input(2), scale, mode));
      for (const [H, W] of [[5, 6], [1, 7], [9, 2]] as const) {
        // values far outside [0, 1] make any border or tap-weight difference visible
        const x = randomImage(1, H, W, 2, H * 7 + W + scale * 100);
        x.data.forEach((v, i) => { x.data[i] = 8 * v - 4; });
        const ref = runGraphArray(g, x);
        for (const o of [{ dynamic: true }, { inputShape: [H, W] }, { layout: 'nhwc', dynamic: true }] as OnnxExportOptions[]) {
          const y = await runOrt(exportOnnx(g, o), x, o);
          assert.deepEqual(y.shape, ref.shape, `${mode} x${scale} ${H}x${W}: shape`);
          const d = maxAbsDiff(y.data, ref.data) * 255;
          assert.ok(d < FP32_TOL_255, `${mode} x${scale} ${H}x${W} ${JSON.stringify(o)}: max |onnx - mvsr| * 255 = ${d}`);
        }
      }
    }
  }
});

// ---- structure -----------------------------------------------------------------------------------

test('structure: opset, IR version, producer, graph name, I/O types and dims, initializers as raw little-endian data, node types', async () => {
  await useEngine(1);
  const g = familyGraph('FSRCNN', { upscale: 3 }, 5);
  const m = readOnnxModel(exportOnnx(g, { inputShape: [10, 12] }));
  assert.equal(m.irVersion, 8);
  assert.equal(m.producer, 'mvsr');
  assert.deepEqual(m.opsets, [{ domain: '', version: 17 }]);
  assert.equal(m.graphName, 'FSRCNN');
  assert.deepEqual(m.inputs, [{ name: 'input', elemType: ONNX_FLOAT, dims: [1, 3, 10, 12] }]);
  assert.deepEqual(m.outputs, [{ name: 'output', elemType: ONNX_FLOAT, dims: [1, 3, 30, 36] }]);
  assert.deepEqual(m.nodes.map((n) => n.opType), [...Array.from({ length: 7 }, () => ['Conv', 'PRelu']).flat(), 'ConvTranspose', 'Identity']);
  assert.equal(m.metadata['mvsr.arch'], 'FSRCNN');
  assert.equal(m.metadata['mvsr.scale'], '3');
  assert.equal(m.metadata['mvsr.layout'], 'nchw');
  // every used weight once, under its own name, bit-exact; PReLU slopes shaped [C, 1, 1]
  const used = usedWeights(g);
  const slopes = new Set(g.nodes.flatMap((x) => (x.op === 'act' && x.act.kind === 'prelu' ? [x.act.alpha] : [])));
  assert.equal(slopes.size, 7);
  assert.equal(m.initializers.length, used.length);
  for (const name of used) {
    const init = m.initializers.find((i) => i.name === name);
    assert.ok(init, `initializer '${name}'`);
    assert.equal(init.dataType, ONNX_FLOAT);
    const wt = g.weights[name]!;
    assert.deepEqual(init.dims, slopes.has(name) ? [wt.shape[0]!, 1, 1] : wt.shape, `dims of ${name}`);
    const dv = new DataView(init.raw.buffer, init.raw.byteOffset, init.raw.byteLength);
    assert.equal(init.raw.byteLength, 4 * wt.data.length);
    for (let i = 0; i < wt.data.length; i++) assert.equal(dv.getFloat32(4 * i, true), wt.data[i], `${name}[${i}]`);
  }
  const ct = m.nodes.find((n) => n.opType === 'ConvTranspose')!;
  assert.deepEqual(ct.attributes, { kernel_shape: [9, 9], strides: [3, 3], pads: [4, 4, 4, 4], output_padding: [2, 2], dilations: [1, 1], group: 1 });
  // values carry their node's id; an activation joined to its conv names the conv's final value
  assert.deepEqual(ct.inputs, ['mid_part.10', 'last_part.weight', 'last_part.bias']);
  const conv0 = m.nodes[0]!;
  assert.deepEqual(conv0.attributes, { kernel_shape: [5, 5], pads: [2, 2, 2, 2], strides: [1, 1], dilations: [1, 1], group: 1 });
  assert.deepEqual(conv0.inputs, ['input', 'first_part.0.weight', 'first_part.0.bias']);

  // NHWC, dynamic, opset 19: Transposes at both ends, symbolic dims, IR 9
  const e = familyGraph('ETDSForInference', { upscale: 3, num_block: 1, num_feat: 8, num_residual_feat: 3 }, 6);
  const n = readOnnxModel(exportOnnx(e, { layout: 'nhwc', opset: 19 }));
  assert.equal(n.irVersion, 9);
  assert.deepEqual(n.opsets, [{ domain: '', version: 19 }]);
  assert.deepEqual(n.inputs[0]!.dims, ['N', 'H', 'W', 3]);
  assert.deepEqual(n.outputs[0]!.dims, ['N', 'H*3', 'W*3', 3]);
  assert.equal(n.metadata['mvsr.layout'], 'nhwc');
  // the x3 drop-last slice is folded into the clip conv, which computes 27 of its 28 channels
  assert.deepEqual(n.nodes.map((x) => x.opType), ['Transpose', 'Conv', 'Relu', 'Conv', 'Relu', 'Conv', 'Relu', 'Conv', 'Relu', 'DepthToSpace', 'Transpose']);
  const clip = n.initializers.find((i) => i.name === n.nodes[7]!.inputs[1])!;
  assert.deepEqual(clip.dims, [27, 28, 1, 1]);
  assert.deepEqual(new Uint8Array(clip.raw), new Uint8Array(e.weights['conv_clip.weight']!.data.buffer.slice(0, 27 * 28 * 4)));
  assert.deepEqual(n.nodes[0]!.attributes, { perm: [0, 3, 1, 2] });
  assert.deepEqual(n.nodes.at(-1)!.attributes, { perm: [0, 2, 3, 1] });
  assert.deepEqual(n.nodes.find((x) => x.opType === 'DepthToSpace')!.attributes, { blocksize: 3, mode: 'CRD' });

  // ECBSRT: the shortcut's channel slices of the input, as Slice with int64 starts, ends, axes
  const ecb = familyGraph('ECBSRT', { upscale: 2, num_block: 1, num_feat: 4, act_type: 'relu' }, 7);
  const em = readOnnxModel(exportOnnx(ecb));
  const int64s = (name: string): number[] => {
    const t = em.initializers.find((i) => i.name === name)!;
    assert.equal(t.dataType, 7, `${name} is int64`);
    const dv = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
    return Array.from({ length: t.raw.byteLength / 8 }, (_, i) => Number(dv.getBigInt64(8 * i, true)));
  };
  const slices = em.nodes.filter((x) => x.opType === 'Slice');
  assert.deepEqual(slices.map((x) => [x.inputs[0], ...x.inputs.slice(1).map(int64s)]), [0, 1, 2].map((c) => ['input', [c], [c + 1], [1]]));
  const cat = em.nodes.find((x) => x.opType === 'Concat')!;
  assert.deepEqual(cat.attributes, { axis: 1 });
  assert.deepEqual(cat.inputs, ['shortcut.c0', 'shortcut.c1', 'shortcut.c2'].flatMap((c) => [c, c, c, c]));

  // Bicubic: Resize with the PyTorch attributes; fp16 types and float16 weights
  const bc = readOnnxModel(exportOnnx(familyGraph('Bicubic', { upscale: 4 }, 1), { fp16: true }));
  const rs = bc.nodes.find((x) => x.opType === 'Resize')!;
  assert.deepEqual(rs.attributes, { mode: 'cubic', coordinate_transformation_mode: 'half_pixel', cubic_coeff_a: -0.75, exclude_outside: 0 });
  assert.equal(rs.inputs[1], '', 'no roi');
  const scales = bc.initializers.find((i) => i.name === rs.inputs[2])!;
  assert.equal(scales.dataType, ONNX_FLOAT, 'scales stay float32 in fp16 models');
  assert.deepEqual(Array.from(new Float32Array(scales.raw.slice().buffer)), [1, 1, 4, 4]);
  assert.equal(bc.inputs[0]!.elemType, ONNX_FLOAT16);
  assert.equal(bc.outputs[0]!.elemType, ONNX_FLOAT16);
  const elsr = familyGraph('ELSR', { upscale: 2, num_feat: 6 }, 2);
  const el = readOnnxModel(exportOnnx(elsr, { fp16: true }));
  const w0 = el.initializers.find((i) => i.name === 'conv_first.weight')!;
  assert.equal(w0.dataType, ONNX_FLOAT16);
  const w0f = fromFloat16Array(new Uint16Array(w0.raw.slice().buffer));
  assert.deepEqual(Array.from(w0f), Array.from(elsr.weights['conv_first.weight']!.data, (v) => fromFloat16Bits(toFloat16Bits(v))));
  assert.deepEqual(el.nodes.map((x) => x.opType), ['Conv', 'Conv', 'PRelu', 'Conv', 'Add', 'Conv', 'DepthToSpace', 'Identity']);
  const C = elsr.weights['body.1.weight']!.shape[0]!;
  assert.deepEqual(el.initializers.find((i) => i.name === 'body.1.weight')!.dims, C === 1 ? [1] : [C, 1, 1]);
});

test('errors: MATLAB bicubic is not exportable (the node is named), bad options are refused', async () => {
  await useEngine(1);
  const b = new GraphBuilder({ arch: 'MatlabBicubic', args: {}, scale: 2 });
  const g = b.output(b.resize('resize', b.input(3), 2, 'matlabBicubic'));
  assert.throws(() => exportOnnx(g), /graph MatlabBicubic: node 'resize' \(resize\): matlabBicubic .* has no ONNX operator/);
  const p = familyGraph('Plain', { upscale: 2, num_block: 1, num_feat: 4 }, 3);
  assert.throws(() => exportOnnx(p, { opset: 12 }), /opset 12 is not supported \(use 13\.\.20\)/);
  assert.throws(() => exportOnnx(p, { dynamic: false }), /fixed-shape export needs inputShape \[H, W\]/);
  assert.throws(() => exportOnnx(p, { dynamic: true, inputShape: [4, 4] }), /either dynamic: true or a fixed inputShape/);
  assert.throws(() => exportOnnx(p, { layout: 'nwhc' as 'nhwc' }), /layout 'nwhc' is not 'nchw' or 'nhwc'/);
  const big = new GraphBuilder({ arch: 'toy', args: {}, scale: 1 });
  const k7 = big.output(big.conv('big', big.input(3), { shape: [3, 3, 7, 7], data: new Float32Array(441) }, null, { padding: 0 }));
  assert.throws(() => exportOnnx(k7, { inputShape: [4, 4] }), /node 'big' \(conv\): input 4x4x3 is smaller than kernel 7/);
});

test('writeOnnxFile: atomic write of exportOnnx bytes; a failed export leaves nothing behind', async () => {
  await useEngine(1);
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-onnx-'));
  try {
    const g = familyGraph('ESPCN', { colors: 3, upscale: 2 }, 4);
    const file = path.join(dir, 'espcn.onnx');
    const n = writeOnnxFile(file, g, { layout: 'nhwc' });
    const bytes = readFileSync(file);
    assert.equal(n, bytes.length);
    assert.deepEqual(new Uint8Array(bytes), exportOnnx(g, { layout: 'nhwc' }));
    const mb = new GraphBuilder({ arch: 'MatlabBicubic', args: {}, scale: 2 });
    const bad = mb.output(mb.resize('resize', mb.input(3), 2, 'matlabBicubic'));
    assert.throws(() => writeOnnxFile(path.join(dir, 'bad.onnx'), bad), /matlabBicubic/);
    assert.throws(() => writeOnnxFile(path.join(dir, 'missing', 'x.onnx'), g), /writeOnnxFile: cannot write '.*x\.onnx'/);
    assert.deepEqual(readdirSync(dir), ['espcn.onnx'], 'no temporary or partial files');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- protobuf and float16 ------------------------------------------------------------------------

test('protobuf: writer and reader round-trip varints (incl. negative int64), floats, strings, bytes, packed lists, nested messages', () => {
  const big = new Uint8Array(1000).map((_, i) => i * 7);
  const w = new ProtoWriter();
  w.varint(1, 0).varint(2, 150).varint(3, -1).varint(4, 2 ** 53 - 1).varint(5, -(2 ** 40)).varint(6, 2n ** 63n).varint(7, true);
  w.float(8, 1.5).string(9, 'héllo').bytes(10, big).packedVarints(11, [1, 300, 0, 2 ** 33]);
  w.message(12, (m) => m.string(1, 'inner').message(2, (mm) => mm.varint(1, 42)));
  w.varint(536870911, 9);
  const bytes = w.finish();
  // the wire bytes of known encodings (protobuf documentation: 150 -> 96 01; -1 -> ten bytes)
  assert.deepEqual([...bytes.subarray(0, 2)], [0x08, 0x00]);
  assert.deepEqual([...bytes.subarray(2, 5)], [0x10, 0x96, 0x01]);
  assert.deepEqual([...bytes.subarray(5, 16)], [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.equal(decodeMessage(bytes).length, 13);
  const m = new ProtoMessage(bytes);
  assert.equal(m.int(1), 0);
  assert.equal(m.int(2), 150);
  assert.equal(m.int(3), -1);
  assert.equal(m.int(4), 2 ** 53 - 1);
  assert.equal(m.int(5), -(2 ** 40));
  assert.equal(m.int(6), -(2 ** 63), '2^63 read back as int64');
  assert.equal(m.int(7), 1);
  assert.equal(m.float(8), 1.5);
  assert.equal(m.string(9), 'héllo');
  assert.deepEqual(m.bytes(10), big);
  assert.deepEqual(m.ints(11), [1, 300, 0, 2 ** 33]);
  assert.equal(m.message(12)!.string(1), 'inner');
  assert.equal(m.message(12)!.message(2)!.int(1), 42);
  assert.equal(m.int(536870911), 9);
  assert.throws(() => new ProtoMessage(bytes.subarray(0, bytes.length - 1)), /truncated varint|runs past the end/);
  assert.throws(() => new ProtoWriter().varint(1, 0.5), /not an integer/);
});

test('float16: every half value round-trips, conversions round to nearest even, overflow and underflow at the right places', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = fromFloat16Bits(h);
    if (Number.isNaN(v)) {
      assert.equal(toFloat16Bits(v) & 0x7c00, 0x7c00);
      continue;
    }
    assert.equal(toFloat16Bits(v), h, `half 0x${h.toString(16)}`);
  }
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e9, 0x7c00], [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002], [2 ** -14, 0x0400], [1023.5 * 2 ** -24, 0x0400],
    [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [-0, 0x8000], [1e-10, 0x0000], [1 / 3, 0x3555],
  ];
  for (const [v, h] of cases) assert.equal(toFloat16Bits(v), h, `toFloat16Bits(${v})`);
  // random floats land on the nearest half (checked against both neighbours)
  const r = mulberry32(5);
  for (let i = 0; i < 20000; i++) {
    const v = Math.fround((2 * r() - 1) * 2 ** (Math.floor(r() * 40) - 24));
    const h = toFloat16Bits(v), q = fromFloat16Bits(h);
    for (const nb of [h - 1, h + 1]) {
      if ((nb & 0x7fff) > 0x7bff || nb < 0) continue;
      assert.ok(Math.abs(v - q) <= Math.abs(v - fromFloat16Bits(nb)), `${v} -> 0x${h.toString(16)} is not nearest`);
    }
  }
});
