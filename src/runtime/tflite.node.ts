// The `tflite` inference backend: a deploy graph exported to TFLite (exportTflite, NHWC float32
// in and out through the SignatureDef 'serving_default', fixed input size) and run by LiteRT.js
// (@litertjs/core, Google's TFLite runtime compiled to WebAssembly with XNNPACK) on the CPU.
// @litertjs/core is an optional peer: loadLiteRtNode() says clearly when it is missing. Models are
// cached per input size like the 'ort' backend's sessions. Importing this module registers it as
// the 'tflite' backend of createBackend.
//
// LiteRT.js is written for browsers. In Node it is loaded from the package's own files, nothing is
// fetched: its emscripten loader (wasm/litert_wasm*_internal.js, a CommonJS-style script that
// finds its .wasm next to itself) is evaluated with a CommonJS wrapper. While loadLiteRtNode()
// runs, and only then, these globals exist: `self` (LiteRT's loader hands the emscripten factory
// over through self.ModuleFactory / self.Module), `importScripts` (how LiteRT asks for that
// script outside a DOM) and a console.warn that drops LiteRT's "Failed to create default WebGPU
// device" (Node has no WebGPU). They are removed or restored when loading ends; no global is
// left behind (the threaded loader's `globalThis.Worker` is restored too). The wasm module and
// LiteRT's one global instance live for the rest of the process.
//
// Builds (wasm/ holds four): Node 20 has no relaxed SIMD, so it runs litert_wasm_compat_internal
// (SIMD128, one thread). Where relaxed SIMD is on (Node 22+, or node --experimental-wasm-relaxed-simd)
// the relaxed-SIMD build is used, and for threads > 1 the threaded one, whose pthreads are Node
// worker_threads running the same script (a pool of `threads` workers, fixed at the first load).
// The JSPI build (for WebNN / WebGPU partitioning) is not used. Memory grows on demand up to 4 GiB
// and never shrinks; a model's memory (LiteRT's copy of its bytes, its buffers) is freed by
// dispose() only. LiteRT's C++ log is kept (the ERROR lines explain failures in our errors), and
// echoed to stderr when MVSR_TFLITE_LOG is set.
import type * as LiteRtCore from '@litertjs/core';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { type Graph, graphError, graphInputs, graphOutputs, validateGraph } from '../graph/ir.js';
import { inferShapes } from '../graph/shapes.js';
import { registerBackend } from './backend.js';
import { exportTflite, type TfliteExportOptions } from '../export/tflite.js';
import { SizeCache, engineThreads, namedInputs, runOneInput } from './sized.js';
import { hostAlignment, type HostAlign } from '../graph/host-align.js';
import { hostAlignInputs } from './host-align.js';

export type LiteRtCoreModule = typeof LiteRtCore;

/** Which LiteRT.js wasm build runs in this process. */
export type LiteRtBuild = 'compat' | 'relaxed-simd' | 'threaded';

export interface LiteRtNode {
  readonly core: LiteRtCoreModule;
  readonly build: LiteRtBuild;
  /** The emscripten loader script that was evaluated (its .wasm sits next to it). */
  readonly script: string;
  /** Most XNNPACK threads a model may use (1 unless the threaded build runs). */
  readonly maxThreads: number;
  /** Why fewer threads were given than asked for, or null. */
  readonly note: string | null;
}

export interface LoadLiteRtOptions {
  /**
   * Threads wanted. Only the first load decides: more than 1 loads the threaded build with a pool
   * of that many workers when relaxed SIMD and shared memory are available, else the one-thread
   * build (`note` says why).
   */
  threads?: number;
}

// ---- wasm log ---------------------------------------------------------------------------------

/** LiteRT's C++ log (INFO/WARNING/ERROR lines on emscripten's stdout/stderr): kept, not printed. */
const LOG_KEEP = 200;
const logLines: string[] = [];
let logCount = 0;
const echoLog = !!process.env.MVSR_TFLITE_LOG;

function logLine(s: string): void {
  logLines.push(s);
  if (logLines.length > LOG_KEEP) logLines.shift();
  logCount++;
  if (echoLog) process.stderr.write(`[litert] ${s}\n`);
}

/** The ERROR lines LiteRT logged since `mark` (a logCount), without its bare source locations. */
function logErrorsSince(mark: number): string[] {
  const n = Math.min(logCount - mark, logLines.length);
  return logLines.slice(logLines.length - n)
    .map((l) => l.replace(/^[\s└]+/, '').trim())
    .filter((l) => /^ERROR:/.test(l) && !/^ERROR: \[[^\]]*\]( object)?$/.test(l))
    .map((l) => l.replace(/^ERROR:\s*/, ''));
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : typeof e === 'object' && e && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return m.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'unknown error';
}

/** One line: LiteRT's logged errors since `mark` when there are any, else the error's first line. */
function reasonOf(e: unknown, mark: number): string {
  const logged = logErrorsSince(mark);
  return (logged.length ? [...new Set(logged)].join('; ') : firstLine(e)).replace(/\s+/g, ' ');
}

// ---- loading ----------------------------------------------------------------------------------

let loading: Promise<LiteRtNode> | null = null;

/** The CommonJS wrapper's parameters; `navigator` and `Worker` shadow the globals inside the loader. */
const WRAPPER = ['exports', 'require', 'module', '__filename', '__dirname', 'navigator', 'Worker'];

/** Worker source for one LiteRT pthread: evaluates the loader with a CommonJS wrapper (the package is "type": "module"). */
function pthreadShim(file: string): string {
  return `const fs = require('node:fs'), vm = require('node:vm'), path = require('node:path'), { createRequire } = require('node:module');
const file = ${JSON.stringify(file)};
const src = fs.readFileSync(file, 'utf8');
vm.runInThisContext('(function (exports, require, module, __filename, __dirname) {' + src + '\\n})', { filename: file })({}, createRequire(file), { exports: {} }, file, path.dirname(file));`;
}

/** Evaluates an emscripten loader as CommonJS; returns its factory (module.exports). */
function evalLoader(file: string, poolSize: number): unknown {
  const src = readFileSync(file, 'utf8');
  const fn = vm.runInThisContext(`(function (${WRAPPER.join(', ')}) {${src}\n})`, { filename: file }) as (...a: unknown[]) => void;
  const mod = { exports: {} as unknown };
  // the threaded loader starts its pthreads as Workers on its own script file, which Node would read as ESM here
  class PthreadWorker extends NodeWorker {
    constructor(_script: string | URL, opts: WorkerOptions = {}) {
      super(pthreadShim(file), { ...opts, eval: true });
    }
  }
  fn(mod.exports, createRequire(file), mod, file, path.dirname(file), { hardwareConcurrency: poolSize, userAgent: `Node.js/${process.version}` }, PthreadWorker);
  return mod.exports;
}

type GlobalBag = Record<string, unknown>;

/** Sets `key` on globalThis for the duration of a load; returns the undo. */
function setGlobal(key: string, value: unknown): () => void {
  const g = globalThis as unknown as GlobalBag;
  const had = Object.prototype.hasOwnProperty.call(g, key), old = g[key];
  g[key] = value;
  return () => {
    if (had) g[key] = old;
    else delete g[key];
  };
}

/** Restores a property of an object to what it was (absent or its old value). */
function snapshotProp(o: GlobalBag, key: string): () => void {
  const had = Object.prototype.hasOwnProperty.call(o, key), old = o[key];
  return () => {
    if (had) o[key] = old;
    else delete o[key];
  };
}

async function loadOnce(o: LoadLiteRtOptions): Promise<LiteRtNode> {
  let core: LiteRtCoreModule;
  let wasmDir: string;
  try {
    core = await import('@litertjs/core');
    wasmDir = path.join(path.dirname(createRequire(import.meta.url).resolve('@litertjs/core/package.json')), 'wasm');
  } catch (e) {
    throw new Error(`mvsr: the 'tflite' backend needs @litertjs/core (npm install @litertjs/core): ${firstLine(e)}`);
  }
  const already = core.getGlobalLiteRtPromise();
  if (already) {
    // someone in this process loaded LiteRT.js already: use that instance
    const lrt = await already;
    const threads = lrt.liteRtWasm.getThreadCount();
    const build: LiteRtBuild = threads > 1 ? 'threaded' : await core.supportsFeature('relaxedSimd') ? 'relaxed-simd' : 'compat'; // as loadLiteRt(dir) picks
    return { core, build, script: '(loaded by other code in this process)', maxThreads: Math.max(1, threads), note: null };
  }
  const want = Math.max(1, Math.floor(o.threads ?? 1));
  let relaxed: boolean, shared: boolean;
  try {
    relaxed = await core.supportsFeature('relaxedSimd');
    shared = want > 1 && await core.supportsFeature('threads');
  } catch (e) {
    throw new Error(`mvsr: @litertjs/core is installed but does not run here: ${firstLine(e)}`);
  }
  let build: LiteRtBuild = relaxed ? 'relaxed-simd' : 'compat';
  let note: string | null = null;
  if (want > 1) {
    if (relaxed && shared) build = 'threaded';
    else note = `LiteRT.js runs one thread here: its threaded build needs ${relaxed ? 'shared wasm memory' : 'wasm relaxed SIMD (Node 22+, or node --experimental-wasm-relaxed-simd)'}`;
  }
  const script = path.join(wasmDir, { compat: 'litert_wasm_compat_internal.js', 'relaxed-simd': 'litert_wasm_internal.js', threaded: 'litert_wasm_threaded_internal.js' }[build]);
  if (!existsSync(script) || !existsSync(script.replace(/\.js$/, '.wasm'))) {
    throw new Error(`mvsr: the 'tflite' backend needs @litertjs/core with its wasm files (npm install @litertjs/core): ${path.basename(script)} or its .wasm is missing in ${wasmDir}`);
  }
  const poolSize = build === 'threaded' ? want : 1;
  // the globals LiteRT's browser loader needs, only while it runs (see the header)
  const g = globalThis as unknown as GlobalBag;
  const ownSelf = !g.self || typeof g.self !== 'object';
  const holder: GlobalBag = ownSelf ? {} : g.self as GlobalBag;
  const undo: (() => void)[] = [];
  undo.push(snapshotProp(holder, 'ModuleFactory'), snapshotProp(holder, 'Module'), snapshotProp(g, 'Worker'));
  if (ownSelf) undo.push(setGlobal('self', holder));
  holder.Module = { print: logLine, printErr: logLine };
  undo.push(setGlobal('importScripts', (url: string | URL) => {
    const u = String(url), file = u.startsWith('file:') ? fileURLToPath(u) : u;
    holder.ModuleFactory = evalLoader(file, poolSize);
  }));
  const warn = console.warn;
  console.warn = (...a: unknown[]) => {
    if (typeof a[0] === 'string' && a[0].startsWith('Failed to create default WebGPU device')) return;
    warn.apply(console, a);
  };
  const mark = logCount;
  try {
    const lrt = await core.loadLiteRt(script);
    const threads = build === 'threaded' ? Math.max(1, Math.min(poolSize, lrt.liteRtWasm.getThreadCount())) : 1;
    return { core, build, script, maxThreads: threads, note };
  } catch (e) {
    throw new Error(`mvsr: @litertjs/core is installed but does not run here (${path.basename(script)}): ${reasonOf(e, mark)}`);
  } finally {
    console.warn = warn;
    for (const u of undo.reverse()) u();
  }
}

/**
 * LiteRT.js, loaded once per process from the installed package (nothing is downloaded). Rejects
 * with an error that says why it is unavailable (not installed, no wasm files, does not run here);
 * a later call may then try again.
 */
export function loadLiteRtNode(o: LoadLiteRtOptions = {}): Promise<LiteRtNode> {
  loading ??= loadOnce(o);
  loading.catch(() => { loading = null; });
  return loading;
}

// ---- models -----------------------------------------------------------------------------------

export type TfliteData = Float32Array | Int8Array | Uint8Array | Int32Array;

export interface TfliteTensorInfo {
  name: string;
  shape: number[];
  /** LiteRT.js's dtype name: 'float32', 'int8', 'uint8', 'int32', ... */
  dtype: string;
}

export interface TfliteModelOptions {
  /** XNNPACK threads (default 1; at most the loaded build's maxThreads). */
  threads?: number;
  /** The signature to run (default 'serving_default' when the model has it, else its first). */
  signature?: string;
}

const TYPED: Record<string, new (n: number) => TfliteData> = { float32: Float32Array, int8: Int8Array, uint8: Uint8Array, int32: Int32Array };

const MAGIC = 'TFL3';

/** Why `bytes` is not a TFLite flatbuffer, or null (checks the size and the file identifier). */
export function notTflite(bytes: Uint8Array): string | null {
  if (!(bytes instanceof Uint8Array)) return `expected the model as a Uint8Array, got ${Object.prototype.toString.call(bytes)}`;
  if (bytes.length < 16) return `${bytes.length} bytes are not a TFLite model`;
  const id = String.fromCharCode(bytes[4]!, bytes[5]!, bytes[6]!, bytes[7]!);
  if (id !== MAGIC) return `not a TFLite model (${bytes.length} bytes without the '${MAGIC}' identifier at offset 4)`;
  return null;
}

/**
 * A compiled .tflite model on LiteRT.js's CPU (XNNPACK) path. Inputs and outputs are those of one
 * signature: named by its SignatureDef when the model has one, else by the subgraph's tensor
 * names (LiteRT's '<placeholder signature>'), in the subgraph's order. Shapes are fixed at export
 * (LiteRT.js does not resize inputs).
 */
export class TfliteModel {
  private model: LiteRtCore.CompiledModel | null;
  private readonly runner: LiteRtCore.SignatureRunner;
  private readonly ins: TfliteTensorInfo[];
  private readonly outs: TfliteTensorInfo[];

  private constructor(readonly runtime: LiteRtNode, model: LiteRtCore.CompiledModel, readonly signature: string, readonly threads: number) {
    this.model = model;
    this.runner = model.signatures[signature]!;
    const info = (d: LiteRtCore.TensorDetails): TfliteTensorInfo => ({ name: d.name, shape: [...d.shape], dtype: d.dtype });
    this.ins = this.runner.getInputDetails().map(info);
    this.outs = this.runner.getOutputDetails().map(info);
  }

  /** Loads LiteRT.js (once) and compiles `bytes`; errors are one line and say why. */
  static async create(bytes: Uint8Array, o: TfliteModelOptions = {}): Promise<TfliteModel> {
    const bad = notTflite(bytes);
    if (bad) throw new Error(`mvsr: tflite: ${bad}`);
    const threads = o.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`mvsr: tflite: threads must be a positive integer, got ${threads}`);
    const rt = await loadLiteRtNode({ threads });
    const nt = Math.min(threads, rt.maxThreads);
    const mark = logCount;
    let m: LiteRtCore.CompiledModel;
    try {
      // LiteRT keeps a pointer into its heap copy of the bytes, not to `bytes`
      m = await rt.core.loadAndCompile(bytes, { accelerator: 'wasm', cpuOptions: { numThreads: nt } });
    } catch (e) {
      throw new Error(`mvsr: tflite: LiteRT.js cannot load this model: ${reasonOf(e, mark)}`);
    }
    const keys = Object.keys(m.signatures);
    const sig = o.signature ?? (keys.includes('serving_default') ? 'serving_default' : keys[0]);
    if (sig === undefined || !keys.includes(sig)) {
      m.delete();
      throw new Error(`mvsr: tflite: the model has no signature '${sig}' (it has ${keys.map((k) => `'${k}'`).join(', ') || 'none'})`);
    }
    return new TfliteModel(rt, m, sig, nt);
  }

  inputs(): TfliteTensorInfo[] {
    return this.ins.map((t) => ({ ...t, shape: [...t.shape] }));
  }

  outputs(): TfliteTensorInfo[] {
    return this.outs.map((t) => ({ ...t, shape: [...t.shape] }));
  }

  get disposed(): boolean {
    return this.model === null;
  }

  /**
   * Runs the signature once. `feeds`: every input by name (or an array in input order); `shapes`
   * optionally declares each input's shape, which must be the model's. Resolves to a copy of every
   * output by name: { data, shape }.
   */
  async run(feeds: Record<string, TfliteData> | TfliteData[], shapes?: Record<string, readonly number[]> | (readonly number[])[]): Promise<Record<string, { data: TfliteData; shape: number[] }>> {
    const res: Record<string, { data: TfliteData; shape: number[] }> = {};
    await this.runInto(feeds, shapes, (name, view, shape) => { res[name] = { data: view.slice() as TfliteData, shape }; });
    return res;
  }

  /**
   * run() without the copies: `take` sees each output as a view into LiteRT's memory, valid only
   * during the call (it must copy what it keeps).
   */
  async runInto(
    feeds: Record<string, TfliteData> | TfliteData[],
    shapes: Record<string, readonly number[]> | (readonly number[])[] | undefined,
    take: (name: string, view: TfliteData, shape: number[]) => void,
  ): Promise<void> {
    if (!this.model) throw new Error('mvsr: tflite: model used after dispose()');
    const { core } = this.runtime;
    const positional = Array.isArray(feeds);
    if (positional && feeds.length !== this.ins.length) throw new Error(`mvsr: tflite: the model takes ${this.ins.length} input(s) (${this.ins.map((t) => `'${t.name}'`).join(', ')}), got ${feeds.length}`);
    const tensors: LiteRtCore.Tensor[] = [];
    const mark = logCount;
    try {
      this.ins.forEach((info, i) => {
        const data = positional ? feeds[i] : feeds[info.name];
        if (!data) throw new Error(`mvsr: tflite: no input '${info.name}' (the model takes ${this.ins.map((t) => `'${t.name}'`).join(', ')})`);
        const want = TYPED[info.dtype];
        if (!want || !(data instanceof want)) throw new Error(`mvsr: tflite: input '${info.name}' is ${info.dtype}, got ${data.constructor.name}`);
        const given = shapes ? (Array.isArray(shapes) ? shapes[i] : (shapes as Record<string, readonly number[]>)[info.name]) : undefined;
        if (given && (given.length !== info.shape.length || given.some((d, k) => d !== info.shape[k]))) {
          throw new Error(`mvsr: tflite: input '${info.name}' is ${shapeStr(given)} but the model takes ${shapeStr(info.shape)} (LiteRT.js does not resize inputs; export the model at this size)`);
        }
        const n = info.shape.reduce((a, b) => a * b, 1);
        if (data.length !== n) throw new Error(`mvsr: tflite: input '${info.name}' has ${data.length} values, the model's ${shapeStr(info.shape)} takes ${n}`);
        tensors.push(new core.Tensor(data as LiteRtCore.TypedArray, info.shape)); // copies into LiteRT's memory
      });
      let out: LiteRtCore.Tensor[];
      try {
        out = await this.runner.run(tensors);
      } catch (e) {
        throw new Error(`mvsr: tflite: LiteRT.js failed to run signature '${this.signature}': ${reasonOf(e, mark)}`);
      }
      try {
        out.forEach((t, i) => this.readOutput(t, this.outs[i]!, take));
      } finally {
        for (const t of out) t.delete();
      }
    } finally {
      for (const t of tensors) t.delete();
    }
  }

  private readOutput(t: LiteRtCore.Tensor, info: TfliteTensorInfo, take: (name: string, view: TfliteData, shape: number[]) => void): void {
    const shape = [...t.type.layout.dimensions];
    const C = TYPED[t.type.dtype];
    if (!C) throw new Error(`mvsr: tflite: output '${info.name}' is ${t.type.dtype}, which mvsr does not read`);
    const n = shape.reduce((a, b) => a * b, 1);
    const buf = t.liteRtTensorBuffer, wasm = this.runtime.core.getGlobalLiteRt().liteRtWasm;
    const bpe = (C as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    if (buf.size() !== n * bpe || buf.offset() !== 0) {
      take(info.name, t.toTypedArray() as TfliteData, shape); // padded or strided: LiteRT's own reader says so
      return;
    }
    const ptr = buf.lock(wasm.LiteRtTensorBufferLockMode.READ);
    try {
      const heap = wasm.HEAPU8;
      if (ptr + n * bpe > heap.length) {
        // threaded build: memory grown by a worker and not yet seen here (LiteRT's own reader would truncate)
        throw new Error(`mvsr: tflite: output '${info.name}' lies outside LiteRT's view of its memory (${ptr + n * bpe} > ${heap.length} bytes)`);
      }
      const view = ptr % bpe === 0
        ? new (C as unknown as new (b: ArrayBufferLike, o: number, l: number) => TfliteData)(heap.buffer, heap.byteOffset + ptr, n)
        : new (C as unknown as new (b: ArrayBufferLike) => TfliteData)(heap.slice(ptr, ptr + n * bpe).buffer);
      take(info.name, view, shape);
    } finally {
      buf.unlock();
    }
  }

  /** Frees the compiled model and LiteRT's copy of its bytes (idempotent). */
  dispose(): void {
    const m = this.model;
    this.model = null;
    m?.delete();
  }
}

// ---- backend ----------------------------------------------------------------------------------

export interface TfliteBackendOptions {
  /** XNNPACK threads (default 1; more only where the threaded LiteRT.js build runs, see loadLiteRtNode). */
  threads?: number;
  /** Models kept (one per input size, least recently used dropped first; default 8). */
  maxModels?: number;
  /** Float16 weights (dequantized to float32 in the model); default false. */
  fp16?: boolean;
}

/** A quantized graph (mvsr quantize) runs as its full-integer export (float32 in and out); others as float32 or float16 weights. */
function exportOptions(g: Graph, H: number, W: number, fp16: boolean): TfliteExportOptions {
  const quantized = (g as { quant?: unknown }).quant !== undefined;
  if (quantized && fp16) throw new Error('mvsr: tflite-fp16 backend: the model is quantized (int8); run it on the tflite backend');
  return { inputShape: [H, W], ...(quantized ? { int8: true } : { fp16 }) };
}

/** Base size of the trial export that create() uses to find nodes TFLite cannot express. */
const PROBE_SIZE = 16;

/**
 * Runs a graph with LiteRT.js: NHWC float32 Tensor in, a new NHWC Tensor out. Each input size gets
 * its own fixed-shape model (exportTflite with inputShape [H, W], batch 1, NHWC); a batch of N runs
 * as N frames. Same contract as OrtGraphBackend.
 */
export class TfliteGraphBackend {
  readonly name = 'tflite' as const;
  private readonly models: SizeCache<TfliteModel>;
  /** The model's inputs and, for an aligned video model, what the host computes (graph/host-align.ts). */
  private readonly cut: { graph: Graph; align: HostAlign | null };

  private constructor(
    readonly graph: Graph,
    /** Threads the models run on (fewer than asked when only the one-thread build runs; see `note`). */
    readonly threads: number,
    maxModels: number,
    fp16: boolean,
    /** Why `threads` is lower than asked, or null. */
    readonly note: string | null,
  ) {
    this.cut = hostAlignment(graph);
    this.models = new SizeCache('tflite backend', maxModels,
      (H, W) => TfliteModel.create(exportTflite(graph, exportOptions(graph, H, W, fp16)), { threads }), (m) => m.dispose());
  }

  /** Loads LiteRT.js and the exporter and checks that the graph can be exported (errors name the node). */
  static async create(g: Graph, o: TfliteBackendOptions = {}): Promise<TfliteGraphBackend> {
    validateGraph(g);
    const threads = o.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`mvsr: tflite backend: threads must be a positive integer, got ${threads}`);
    const rt = await loadLiteRtNode({ threads });
    let probeable = true;
    try {
      inferShapes(g, PROBE_SIZE, PROBE_SIZE);
    } catch {
      probeable = false; // the graph wants other sizes: unexportable nodes then show on the first frame
    }
    if (probeable) exportTflite(g, exportOptions(g, PROBE_SIZE, PROBE_SIZE, o.fp16 ?? false));
    const nt = Math.min(threads, rt.maxThreads);
    const note = nt < threads ? rt.note ?? `LiteRT.js was loaded with ${rt.maxThreads} thread(s) in this process` : null;
    return new TfliteGraphBackend(g, nt, Math.max(1, o.maxModels ?? 8), o.fp16 ?? false, note);
  }

  /** The model for H x W input frames (exported and compiled on first use, then cached). */
  model(H: number, W: number): Promise<TfliteModel> {
    return this.models.get(H, W);
  }

  /** Input sizes with a cached model, least recently used first ("HxW"). */
  cachedSizes(): string[] {
    return this.models.sizes();
  }

  /** A one-input graph: NHWC in, its first output out. */
  run(x: Tensor): Promise<Tensor> {
    return runOneInput(this.graph, x, (i) => this.runNamed(i));
  }

  /** Named NHWC inputs (every input node's id) to a new tensor per output id; a batch of N runs as N frames. */
  async runNamed(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const ins = graphInputs(this.cut.graph), outs = graphOutputs(this.graph);
    const { N, H, W, shapes } = namedInputs(this.graph, inputs);
    const m = await this.model(H, W);
    const byName = new Map(m.outputs().map((o) => [o.name, o]));
    for (const o of outs) {
      const [Ho, Wo, Co] = shapes.get(o.id)!;
      const d = byName.get(o.id)?.shape;
      if (!d || d.length !== 4 || d[0] !== 1 || d[1] !== Ho || d[2] !== Wo || d[3] !== Co) {
        throw graphError(this.graph, o, `the TFLite model's output '${o.id}' is ${d ? shapeStr(d) : 'missing'}, expected [1,${Ho},${Wo},${Co}]`);
      }
    }
    const result: Record<string, Tensor> = {};
    // an aligned model takes the moved inputs, which the host computes here
    const moved = this.cut.align ? hostAlignInputs(this.graph, this.cut.align, inputs) : {};
    try {
      for (const o of outs) {
        const [Ho, Wo, Co] = shapes.get(o.id)!;
        result[o.id] = Tensor.empty([N, Ho, Wo, Co]);
      }
      for (let n = 0; n < N; n++) {
        const feeds: Record<string, TfliteData> = {};
        for (const i of ins) {
          const x = moved[i.id] ?? inputs[i.id]!, per = x.size / N;
          feeds[i.id] = x.data.subarray(n * per, (n + 1) * per); // LiteRT copies it into its own memory
        }
        await m.runInto(feeds, undefined, (name, view) => {
          const t = result[name];
          if (!t) return; // not a graph output
          const per = t.size / N;
          t.data.set((view as Float32Array).subarray(0, per), n * per);
        });
      }
    } catch (e) {
      for (const t of Object.values(result)) t.dispose();
      throw e;
    } finally {
      for (const t of Object.values(moved)) t.dispose();
    }
    return result;
  }

  /** Frees every cached model. */
  dispose(): Promise<void> {
    return this.models.dispose();
  }
}

// 'tflite' runs the FP32 export, 'tflite-fp16' the one with float16 weights (what the GPU delegate gets)
for (const [name, fp16] of [['tflite', false], ['tflite-fp16', true]] as const) {
  registerBackend(name, async (g, o) => {
    const b = await TfliteGraphBackend.create(g, { threads: o.threads ?? (await engineThreads()), fp16 });
    return { name, threads: b.threads, graph: g, calibration: null, run: (x) => b.run(x), runNamed: (x) => b.runNamed(x), dispose: () => b.dispose() };
  }, { auto: !fp16 });
}
