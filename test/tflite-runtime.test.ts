// The TFLite runtime side: LiteRT.js (@litertjs/core) loaded in Node from the installed package,
// a hand-built .tflite (flatbuffers runtime, TFLite's schema.fbs field order) run through
// TfliteModel and checked against plain JS, its one-line errors, and the 'tflite' backend running
// mvsr graphs through exportTflite against runGraph. Skipped, saying why, where LiteRT.js cannot
// load (and the backend part where the exporter is missing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from 'flatbuffers';
import { useEngine, mulberry32, maxAbsDiff, runGraphArray, skipReason } from './helpers.js';
import { Tensor, liveTensorCount } from '../src/tensor/tensor.js';
import { GraphBuilder, type Graph } from '../src/graph/ir.js';
import { loadLiteRtNode, notTflite, TfliteModel, TfliteGraphBackend } from '../src/runtime/tflite.node.js';
import { createBackend, listBackends } from '../src/runtime/backend.js';

const noLiteRt = await skipReason(() => loadLiteRtNode(), '@litertjs/core');
const noExporter = noLiteRt || await skipReason(async () => {
  const m = await import('../src/export/tflite.js' as string) as { exportTflite?: unknown };
  if (typeof m.exportTflite !== 'function') throw new Error('src/export/tflite.ts has no exportTflite');
}, 'the TFLite exporter');

// ---- a hand-built model ---------------------------------------------------------------------------

interface SpecTensor { name: string; shape: number[]; data?: Float32Array }
interface SpecOp { code: number; inputs: number[]; outputs: number[]; options?: { type: number; build: (b: Builder) => number } }
interface Spec {
  tensors: SpecTensor[];
  ops: SpecOp[];
  inputs: number[];
  outputs: number[];
  /** SignatureDef 'serving_default' (names to tensor indices), or none. */
  signature: { inputs: Record<string, number>; outputs: Record<string, number> } | null;
}

/**
 * A one-subgraph float32 .tflite written field by field in schema.fbs order (Model, SubGraph,
 * Tensor, Buffer, Operator, OperatorCode, SignatureDef, TensorMap); constants get their own buffers.
 */
function buildTflite(spec: Spec): Uint8Array {
  const b = new Builder(1024);
  const ints = (xs: number[]): number => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!);
    return b.endVector();
  };
  const tables = (xs: number[]): number => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!);
    return b.endVector();
  };
  const bytes = (u8: Uint8Array): number => {
    b.startVector(1, u8.length, 16); // Buffer.data is force_align: 16
    for (let i = u8.length - 1; i >= 0; i--) b.addInt8(u8[i]!);
    return b.endVector();
  };
  b.startObject(3);
  const buffers = [b.endObject()]; // buffer 0: the empty sentinel
  const tensors = spec.tensors.map((t) => {
    let buffer = 0;
    if (t.data) {
      const d = bytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      b.startObject(3);
      b.addFieldOffset(0, d, 0); // Buffer.data
      buffers.push(b.endObject());
      buffer = buffers.length - 1;
    }
    const name = b.createString(t.name), shape = ints(t.shape);
    b.startObject(5);
    b.addFieldOffset(0, shape, 0); // Tensor.shape
    b.addFieldInt8(1, 0, 0); // Tensor.type FLOAT32
    b.addFieldInt32(2, buffer, 0); // Tensor.buffer
    b.addFieldOffset(3, name, 0); // Tensor.name
    return b.endObject();
  });
  const codes = [...new Set(spec.ops.map((o) => o.code))];
  const ops = spec.ops.map((o) => {
    const opts = o.options ? o.options.build(b) : 0;
    const inputs = ints(o.inputs), outputs = ints(o.outputs);
    b.startObject(5);
    b.addFieldInt32(0, codes.indexOf(o.code), 0); // Operator.opcode_index
    b.addFieldOffset(1, inputs, 0);
    b.addFieldOffset(2, outputs, 0);
    if (o.options) {
      b.addFieldInt8(3, o.options.type, 0); // builtin_options_type (the union's tag)
      b.addFieldOffset(4, opts, 0); // builtin_options
    }
    return b.endObject();
  });
  const tv = tables(tensors), sin = ints(spec.inputs), sout = ints(spec.outputs), ov = tables(ops), sgName = b.createString('main');
  b.startObject(5);
  b.addFieldOffset(0, tv, 0); // SubGraph.tensors
  b.addFieldOffset(1, sin, 0); // inputs
  b.addFieldOffset(2, sout, 0); // outputs
  b.addFieldOffset(3, ov, 0); // operators
  b.addFieldOffset(4, sgName, 0); // name
  const subgraph = b.endObject();
  const opcodes = codes.map((c) => {
    b.startObject(4);
    b.addFieldInt8(0, Math.min(c, 127), 0); // deprecated_builtin_code
    b.addFieldInt32(2, 1, 1); // version
    b.addFieldInt32(3, c, 0); // builtin_code
    return b.endObject();
  });
  let signatures = 0;
  if (spec.signature) {
    const map = (m: Record<string, number>): number => tables(Object.entries(m).map(([k, idx]) => {
      const name = b.createString(k);
      b.startObject(2);
      b.addFieldOffset(0, name, 0); // TensorMap.name
      b.addFieldInt32(1, idx, 0); // tensor_index
      return b.endObject();
    }));
    const si = map(spec.signature.inputs), so = map(spec.signature.outputs), key = b.createString('serving_default');
    b.startObject(5);
    b.addFieldOffset(0, si, 0); // SignatureDef.inputs
    b.addFieldOffset(1, so, 0); // outputs
    b.addFieldOffset(2, key, 0); // signature_key
    b.addFieldInt32(4, 0, 0); // subgraph_index
    signatures = tables([b.endObject()]);
  }
  const ocv = tables(opcodes), sgv = tables([subgraph]), bv = tables(buffers), desc = b.createString('mvsr test');
  b.startObject(8);
  b.addFieldInt32(0, 3, 0); // Model.version
  b.addFieldOffset(1, ocv, 0); // operator_codes
  b.addFieldOffset(2, sgv, 0); // subgraphs
  b.addFieldOffset(3, desc, 0); // description
  b.addFieldOffset(4, bv, 0); // buffers
  if (signatures) b.addFieldOffset(7, signatures, 0); // signature_defs
  b.finish(b.endObject(), 'TFL3');
  return b.asUint8Array().slice();
}

const ADD = 0, CONV_2D = 3, STABLEHLO_WHILE = 200;
const OPT_CONV2D = 1, OPT_ADD = 11, ACT_RELU = 1;

/** y = relu(x + c) with c a per-channel constant (broadcast over [1, H, W, C]). */
function addReluModel(c: Float32Array, shape: number[], signature = true): Uint8Array {
  return buildTflite({
    tensors: [{ name: 'x_tensor', shape }, { name: 'c', shape: [c.length], data: c }, { name: 'y_tensor', shape }],
    ops: [{
      code: ADD, inputs: [0, 1], outputs: [2],
      options: { type: OPT_ADD, build: (b) => { b.startObject(2); b.addFieldInt8(0, ACT_RELU, 0); return b.endObject(); } },
    }],
    inputs: [0], outputs: [2],
    signature: signature ? { inputs: { x: 0 }, outputs: { y: 2 } } : null,
  });
}

/** A 3x3 SAME conv, Ci -> Co, with bias and a fused ReLU (weights OHWI, as TFLite stores them). */
function convModel(H: number, W: number, Ci: number, Co: number, seed: number): { bytes: Uint8Array; w: Float32Array; bias: Float32Array } {
  const r = mulberry32(seed);
  const w = Float32Array.from({ length: Co * 9 * Ci }, () => r() - 0.5), bias = Float32Array.from({ length: Co }, () => r() - 0.5);
  const bytes = buildTflite({
    tensors: [{ name: 'x', shape: [1, H, W, Ci] }, { name: 'w', shape: [Co, 3, 3, Ci], data: w }, { name: 'b', shape: [Co], data: bias }, { name: 'y', shape: [1, H, W, Co] }],
    ops: [{
      code: CONV_2D, inputs: [0, 1, 2], outputs: [3],
      options: {
        type: OPT_CONV2D,
        build: (b) => {
          b.startObject(7);
          b.addFieldInt8(0, 0, 1); // padding SAME (written: 0 is the default)
          b.addFieldInt32(1, 1, 0); // stride_w
          b.addFieldInt32(2, 1, 0); // stride_h
          b.addFieldInt8(3, ACT_RELU, 0);
          return b.endObject();
        },
      },
    }],
    inputs: [0], outputs: [3], signature: { inputs: { x: 0 }, outputs: { y: 3 } },
  });
  return { bytes, w, bias };
}

function convRef(x: Float32Array, H: number, W: number, Ci: number, Co: number, w: Float32Array, bias: Float32Array): Float32Array {
  const y = new Float32Array(H * W * Co);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let o = 0; o < Co; o++) {
    let s = bias[o]!;
    for (let di = -1; di <= 1; di++) for (let dj = -1; dj <= 1; dj++) {
      const ii = i + di, jj = j + dj;
      if (ii < 0 || ii >= H || jj < 0 || jj >= W) continue;
      for (let c = 0; c < Ci; c++) s += x[(ii * W + jj) * Ci + c]! * w[((o * 3 + di + 1) * 3 + dj + 1) * Ci + c]!;
    }
    y[(i * W + j) * Co + o] = Math.max(0, s);
  }
  return y;
}

const random = (n: number, seed: number): Float32Array => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
};

// ---- TfliteModel ----------------------------------------------------------------------------------

test('LiteRT.js loads from the installed package without leaving globals behind', { skip: noLiteRt }, async () => {
  const rt = await loadLiteRtNode();
  assert.ok(['compat', 'relaxed-simd', 'threaded'].includes(rt.build), rt.build);
  assert.ok(rt.maxThreads >= 1);
  assert.strictEqual(await loadLiteRtNode(), rt, 'loaded once');
  const g = globalThis as Record<string, unknown>;
  for (const k of ['self', 'importScripts', 'ModuleFactory', 'Module']) assert.equal(k in g, false, `global '${k}' left behind`);
  console.log(`LiteRT.js build: ${rt.build} (${rt.script}), up to ${rt.maxThreads} thread(s)${rt.note ? `; ${rt.note}` : ''}`);
});

test('a hand-built .tflite (ADD of a constant + fused ReLU, SignatureDef x -> y) runs as plain JS computes it', { skip: noLiteRt }, async () => {
  const c = new Float32Array([0.5, -1, 2]), shape = [1, 4, 5, 3];
  const m = await TfliteModel.create(addReluModel(c, shape));
  try {
    assert.equal(m.signature, 'serving_default');
    assert.deepEqual(m.inputs(), [{ name: 'x', shape, dtype: 'float32' }]);
    assert.deepEqual(m.outputs(), [{ name: 'y', shape, dtype: 'float32' }]);
    for (const seed of [1, 2]) {
      const x = random(60, seed);
      const r = await m.run({ x }, { x: shape });
      assert.deepEqual(Object.keys(r), ['y']);
      assert.deepEqual(r.y!.shape, shape);
      assert.ok(r.y!.data instanceof Float32Array);
      const want = x.map((v, i) => Math.max(0, Math.fround(v + c[i % 3]!)));
      assert.deepEqual([...r.y!.data], [...want]);
    }
    // positional feeds work too
    const x = random(60, 3);
    assert.deepEqual([...(await m.run([x])).y!.data], [...x.map((v, i) => Math.max(0, Math.fround(v + c[i % 3]!)))]);
    // wrong feeds: one line each, mvsr: prefix, names the input
    await assert.rejects(m.run({ z: x }), /^Error: mvsr: tflite: no input 'x' \(the model takes 'x'\)$/);
    await assert.rejects(m.run({ x: new Int8Array(60) }), /mvsr: tflite: input 'x' is float32, got Int8Array/);
    await assert.rejects(m.run({ x: x.subarray(1) }), /mvsr: tflite: input 'x' has 59 values, the model's \[1,4,5,3\] takes 60/);
    await assert.rejects(m.run({ x }, { x: [1, 5, 4, 3] }), /mvsr: tflite: input 'x' is \[1,5,4,3\] but the model takes \[1,4,5,3\].*does not resize/);
    await assert.rejects(m.run([x, x]), /mvsr: tflite: the model takes 1 input\(s\) \('x'\), got 2/);
  } finally {
    m.dispose();
  }
  m.dispose(); // idempotent
  await assert.rejects(m.run({ x: new Float32Array(60) }), /mvsr: tflite: model used after dispose\(\)/);
});

test('a model without a SignatureDef runs positionally with its tensor names', { skip: noLiteRt }, async () => {
  const c = new Float32Array([1, -2]);
  const m = await TfliteModel.create(addReluModel(c, [1, 3, 2], false));
  try {
    assert.notEqual(m.signature, 'serving_default');
    assert.deepEqual(m.inputs().map((t) => t.name), ['x_tensor']);
    assert.deepEqual(m.outputs().map((t) => t.name), ['y_tensor']);
    const x = new Float32Array([0, 0, -3, 3, 0.5, 0.5]);
    const r = await m.run([x]);
    assert.deepEqual([...r.y_tensor!.data], [1, 0, 0, 1, 1.5, 0]);
  } finally {
    m.dispose();
  }
});

test('a 3x3 conv .tflite agrees with a JS conv', { skip: noLiteRt }, async () => {
  const [H, W, Ci, Co] = [6, 7, 3, 5];
  const { bytes, w, bias } = convModel(H, W, Ci, Co, 11);
  const m = await TfliteModel.create(bytes);
  try {
    const x = random(H * W * Ci, 12);
    const r = await m.run({ x });
    assert.deepEqual(r.y!.shape, [1, H, W, Co]);
    const d = maxAbsDiff(r.y!.data as Float32Array, convRef(x, H, W, Ci, Co, w, bias));
    assert.ok(d <= 1e-5, `max |tflite - js| = ${d}`);
  } finally {
    m.dispose();
  }
});

test('bytes that are not a TFLite model, or a model LiteRT cannot run, fail in one line with the reason', { skip: noLiteRt }, async () => {
  const oneLine = (re: RegExp) => (e: unknown): boolean => {
    const msg = (e as Error).message;
    assert.ok(!msg.includes('\n'), `one line: ${JSON.stringify(msg)}`);
    assert.match(msg, re);
    return true;
  };
  assert.equal(notTflite(addReluModel(new Float32Array([1]), [1, 1])), null);
  await assert.rejects(TfliteModel.create(new TextEncoder().encode('this is an onnx model, honest: 0123456789')), oneLine(/^mvsr: tflite: not a TFLite model \(\d+ bytes without the 'TFL3' identifier at offset 4\)$/));
  await assert.rejects(TfliteModel.create(new Uint8Array(3)), oneLine(/^mvsr: tflite: 3 bytes are not a TFLite model$/));
  // the identifier but no flatbuffer behind it: LiteRT's own verdict
  const junk = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
  junk.set([0x54, 0x46, 0x4c, 0x33], 4);
  await assert.rejects(TfliteModel.create(junk), oneLine(/^mvsr: tflite: LiteRT\.js cannot load this model: .+/));
  // a well-formed model with an op LiteRT has no kernel for: the logged reason comes through
  const noKernel = buildTflite({
    tensors: [{ name: 'a', shape: [1, 2] }, { name: 'b', shape: [1, 2] }], ops: [{ code: STABLEHLO_WHILE, inputs: [0], outputs: [1] }],
    inputs: [0], outputs: [1], signature: null,
  });
  await assert.rejects(TfliteModel.create(noKernel), oneLine(/^mvsr: tflite: LiteRT\.js cannot load this model: .*STABLEHLO_WHILE/));
  await assert.rejects(TfliteModel.create(addReluModel(new Float32Array([1]), [1, 1]), { signature: 'nope' }), oneLine(/^mvsr: tflite: the model has no signature 'nope' \(it has 'serving_default'\)$/));
  await assert.rejects(TfliteModel.create(addReluModel(new Float32Array([1]), [1, 1]), { threads: 0 }), oneLine(/threads must be a positive integer, got 0/));
  // still usable afterwards
  const m = await TfliteModel.create(addReluModel(new Float32Array([1]), [1, 1]));
  assert.deepEqual([...(await m.run({ x: new Float32Array([2]) })).y!.data], [3]);
  m.dispose();
});

// ---- the 'tflite' backend ---------------------------------------------------------------------------

function convGraph(seed: number): Graph {
  const r = mulberry32(seed);
  const w = (shape: number[]) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * 0.6) });
  const b = new GraphBuilder({ arch: 'tflite_probe', args: {}, scale: 2 });
  const x = b.input(3);
  const h = b.conv('body', x, w([8, 3, 3, 3]), w([8]), { act: { kind: 'relu' } });
  const t = b.conv('tail', h, w([12, 8, 3, 3]), w([12]));
  return b.output(b.depthToSpace('up', t, 2));
}

test("'tflite' backend: conv + relu + depthToSpace equals runGraph (batch 2, one model per input size)", { skip: noExporter }, async () => {
  await useEngine(1);
  assert.ok(listBackends().includes('tflite'), 'importing tflite.node registers the backend');
  const live = liveTensorCount();
  const g = convGraph(5);
  const be = await TfliteGraphBackend.create(g, { threads: 1 });
  try {
    assert.equal(be.threads, 1);
    let worst = 0;
    for (const [N, H, W] of [[1, 7, 9], [2, 5, 6], [1, 7, 9]] as const) {
      const shape = [N, H, W, 3];
      const x = random(N * H * W * 3, H * 100 + W);
      const ref = runGraphArray(g, { shape, data: x });
      const xt = Tensor.from(shape, x);
      const y = await be.run(xt);
      xt.dispose();
      assert.deepEqual([...y.shape], ref.shape);
      worst = Math.max(worst, maxAbsDiff(y.toArray(), ref.data));
      y.dispose();
    }
    assert.ok(worst <= 1e-4, `max |tflite - runGraph| = ${worst}`);
    assert.deepEqual(be.cachedSizes(), ['5x6', '7x9'], 'models per size, most recent last');
    const bad = Tensor.from([1, 4, 4, 2], new Float32Array(32));
    await assert.rejects(be.run(bad), /mvsr: graph tflite_probe: node 'input' \(input\): expects an NHWC input with 3 channels at 4x4, got \[1,4,4,2\]/);
    bad.dispose();
    console.log(`tflite backend: max |tflite - runGraph| = ${worst.toExponential(2)}`);
  } finally {
    await be.dispose();
  }
  const late = Tensor.from([1, 2, 2, 3], new Float32Array(12));
  await assert.rejects(be.run(late), /mvsr: tflite backend: used after dispose\(\)/);
  late.dispose();
  assert.equal(liveTensorCount(), live, 'no tensor leaked');
});

test("createBackend({ backend: 'tflite' }) runs the graph; an unexportable node is named at creation", { skip: noExporter }, async () => {
  await useEngine(1);
  const g = convGraph(9);
  const x = random(1 * 6 * 10 * 3, 4);
  const ref = runGraphArray(g, { shape: [1, 6, 10, 3], data: x });
  const be = await createBackend(g, { backend: 'tflite', threads: 1 });
  const xt = Tensor.from([1, 6, 10, 3], x);
  try {
    assert.equal(be.name, 'tflite');
    assert.equal(be.threads, 1);
    const y = await be.run(xt);
    const d = maxAbsDiff(y.toArray(), ref.data);
    y.dispose();
    assert.ok(d <= 1e-4, `max |tflite - runGraph| = ${d}`);
  } finally {
    xt.dispose();
    await be.dispose();
  }
  const b = new GraphBuilder({ arch: 'MatlabBicubic', args: {}, scale: 2 });
  const mb = b.output(b.resize('resize', b.input(3), 2, 'matlabBicubic'));
  await assert.rejects(createBackend(mb, { backend: 'tflite' }), /node 'resize' \(resize\).*matlabBicubic/);
});
