// Inference backends behind one interface (browser-safe): compile a deploy graph, run it on named
// NHWC tensors, dispose. 'wasm' (mvsr's engine) is built in; others register themselves
// (onnxruntime-node in backend.node.ts, a WebGPU backend next). 'auto' runs every registered
// backend on a random input of the size it will see, checks that they agree, and keeps the
// fastest, saying why.
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { ensureEngine, engine } from '../tensor/engine.js';
import { type Graph, graphInputs, graphOutputs, graphError, validateGraph } from '../graph/ir.js';
import { compileGraph } from './wasm.js';
import { compileInt8, quantizeTensor, dequantizeTensor, type Int8Tensor } from './int8.js';

export interface BackendCalibration {
  H: number;
  W: number;
  /** Milliseconds of each timed run per backend (null: the backend could not run, see reason). */
  ms: Record<string, number[] | null>;
  medianMs: Record<string, number | null>;
  /** Largest max |other - wasm| * 255 over the outputs on the calibration input (null when only wasm ran). */
  maxDiff255: number | null;
  chosen: string;
  /** One line: what was measured and why `chosen` won. */
  reason: string;
}

export interface Backend {
  readonly name: string;
  readonly threads: number;
  readonly graph: Graph;
  /** Set by 'auto': the measurements the choice was made on. */
  readonly calibration: BackendCalibration | null;
  /** A one-input graph: NHWC float32 in, a new NHWC tensor out (its first output; x is not consumed). */
  run(x: Tensor): Promise<Tensor>;
  /** Every input node's id to its tensor; returns a new tensor per output node id (inputs are not consumed). */
  runNamed(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /**
   * Optional, for a video step graph with state: the state stays on the backend's side (a GPU
   * buffer) from step to step. Only the frame inputs are given; the HR frame outputs come back.
   */
  runResident?(frames: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** Zero the resident state (a new clip). */
  resetState?(): void;
  dispose(): Promise<void>;
}

export interface BackendOptions {
  /**
   * Threads. For 'wasm' this is the process-wide engine's count: the engine is created with it
   * when none exists, and an existing engine with another count is an error (it cannot change
   * under live tensors). For others, their own thread count (default: the engine's, else 1).
   */
  threads?: number;
}

export interface CreateBackendOptions extends BackendOptions {
  /** A registered backend ('wasm' default; 'int8' default for a quantized graph; 'ort' in Node) or 'auto' (time them at H x W, keep the fastest). */
  backend?: string;
  /** Base input size to calibrate 'auto' on (required for 'auto'). */
  H?: number;
  W?: number;
  /** Timed runs per backend in the 'auto' calibration, after one untimed warm-up (default 3). */
  calibrationRuns?: number;
}

export type BackendFactory = (g: Graph, o: BackendOptions) => Promise<Backend>;

const factories = new Map<string, BackendFactory>();
/** Backends 'auto' leaves out: those that compute something else on purpose (float16 weights). */
const notAuto = new Set<string>();

/**
 * Make a backend available to createBackend by name (a second registration replaces the first).
 * `auto: false` keeps it out of 'auto' (a backend that does not compute the graph's float32 function).
 */
export function registerBackend(name: string, f: BackendFactory, o: { auto?: boolean } = {}): void {
  factories.set(name, f);
  if (o.auto === false) notAuto.add(name);
  else notAuto.delete(name);
}

export function listBackends(): string[] {
  return [...factories.keys()];
}

/** The first output of a named run, the others freed (for one-output callers). */
export async function runFirst(b: Backend, inputs: Record<string, Tensor>, output: string): Promise<Tensor> {
  const r = await b.runNamed(inputs);
  for (const [k, t] of Object.entries(r)) if (k !== output) t.dispose();
  return r[output]!;
}

registerBackend('wasm', async (g, o) => {
  const eng = await ensureEngine(o.threads === undefined ? {} : { threads: o.threads });
  if (o.threads !== undefined && eng.threads !== o.threads) {
    throw new Error(`mvsr: createBackend: the wasm backend runs on the process-wide engine, which has ${eng.threads} thread(s), not ${o.threads}; call initEngine({ threads: ${o.threads} }) before creating tensors, or leave threads out`);
  }
  const c = compileGraph(g);
  return {
    name: 'wasm', threads: eng.threads, graph: g, calibration: null,
    run: async (x) => c.run(x),
    runNamed: async (inputs) => c.runNamed(inputs),
    dispose: async () => c.dispose(),
  };
});

/** The 'int8' backend: float tensors in (quantized at each input's parameters), dequantized float tensors out. */
async function createInt8Backend(g: Graph): Promise<Backend> {
  const p = compileInt8(g);
  const runNamed = async (inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> => {
    const xs: Record<string, Int8Tensor> = {};
    for (const n of graphInputs(p.graph)) {
      const x = inputs[n.id];
      if (!x) throw graphError(g, n, 'no tensor given for this input');
      xs[n.id] = quantizeTensor(x, p.graph.quant.act[n.id]!);
    }
    const ys = p.run(xs);
    return Object.fromEntries(Object.entries(ys).map(([k, y]) => [k, dequantizeTensor(y)]));
  };
  return {
    name: 'int8', threads: engine().threads, graph: g, calibration: null,
    run: async (x) => {
      const r = await runNamed({ [graphInputs(g)[0]!.id]: x });
      return r[graphOutputs(g)[0]!.id]!;
    },
    runNamed,
    dispose: async () => p.dispose(),
  };
}

// the integer executor of quantized graphs (graph/quant.ts); it computes the int8 model, not the float graph
registerBackend('int8', async (g, o) => {
  await ensureEngine(o.threads === undefined ? {} : { threads: o.threads });
  return createInt8Backend(g);
}, { auto: false });

/** Outputs of two backends must agree to this much (max |diff| * 255) for 'auto' to pick the other over wasm. */
export const AUTO_AGREEMENT_255 = 0.01;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1]!;
};

/** One untimed warm-up run (its outputs kept as arrays), then `runs` timed runs of a backend. */
export async function timeRuns(b: Backend, x: Record<string, Tensor>, runs: number): Promise<{ ms: number[]; first: Record<string, Float32Array> }> {
  const warm = await b.runNamed(x); // session creation, JIT tier-up, pools
  const first = Object.fromEntries(Object.entries(warm).map(([k, t]) => [k, t.toArray()]));
  for (const t of Object.values(warm)) t.dispose();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const y = await b.runNamed(x);
    ms.push(performance.now() - t0);
    for (const t of Object.values(y)) t.dispose();
  }
  return { ms, first };
}

function checkSize(what: string, v: number | undefined): number {
  if (v === undefined || !Number.isInteger(v) || v < 1) throw new Error(`mvsr: createBackend: backend 'auto' needs ${what}, the input size to calibrate on, as a positive integer (got ${v})`);
  return v;
}

/**
 * A backend that runs `g`. With backend 'auto', every registered backend runs `calibrationRuns`
 * times on seeded random inputs of base size H x W (after a warm-up); one other than wasm is
 * chosen when its median is the lowest and its outputs agree with wasm's (max |diff| * 255 <
 * AUTO_AGREEMENT_255); `calibration` keeps the numbers. A backend that cannot load or run the
 * graph is left out, and the reason says why.
 */
export async function createBackend(g: Graph, o: CreateBackendOptions = {}): Promise<Backend> {
  validateGraph(g);
  const quantized = 'quant' in g && (g as { quant?: unknown }).quant !== undefined;
  // a quantized graph runs as the int8 model unless a float backend is named on purpose
  const kind = o.backend ?? (quantized ? 'int8' : 'wasm');
  if (kind === 'auto' && quantized) return createInt8Backend(g);
  if (kind !== 'auto') {
    const f = factories.get(kind);
    if (!f) throw new Error(`mvsr: createBackend: backend '${kind}' is not one of ${[...listBackends(), 'auto'].map((k) => `'${k}'`).join(', ')}`);
    return f(g, { threads: o.threads });
  }
  const H = checkSize('H', o.H), W = checkSize('W', o.W);
  const runs = o.calibrationRuns ?? 3;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`mvsr: createBackend: calibrationRuns must be a positive integer, got ${runs}`);
  const wasm = await factories.get('wasm')!(g, { threads: o.threads });
  const rng = new Rng(0x5eed);
  const x: Record<string, Tensor> = {};
  for (const n of graphInputs(g)) {
    const k = n.scale ?? 1, t = Tensor.empty([1, H * k, W * k, n.channels]);
    for (let i = 0; i < t.data.length; i++) t.data[i] = rng.next();
    x[n.id] = t;
  }
  const others: Backend[] = [];
  try {
    const tw = await timeRuns(wasm, x, runs);
    const ms: Record<string, number[] | null> = { wasm: tw.ms }, med: Record<string, number | null> = { wasm: median(tw.ms) };
    const notes: string[] = [];
    let best: { b: Backend; ms: number } = { b: wasm, ms: med.wasm! };
    let worstDiff: number | null = null;
    for (const name of listBackends().filter((k) => k !== 'wasm' && !notAuto.has(k))) {
      let b: Backend;
      try {
        b = await factories.get(name)!(g, { threads: wasm.threads });
      } catch (e) {
        ms[name] = med[name] = null;
        notes.push(`${name} not available: ${(e as Error).message.replace(/^mvsr: /, '')}`);
        continue;
      }
      others.push(b);
      let t: Awaited<ReturnType<typeof timeRuns>>;
      try {
        t = await timeRuns(b, x, runs);
      } catch (e) {
        ms[name] = med[name] = null;
        notes.push(`${name} failed: ${(e as Error).message.replace(/^mvsr: /, '')}`);
        continue;
      }
      let diff = 0;
      for (const [k, a] of Object.entries(tw.first)) {
        const c = t.first[k];
        if (!c || c.length !== a.length) throw graphError(g, null, `backend ${name} gave no output '${k}' of ${a.length} values`);
        for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - c[i]!));
      }
      if (!(diff <= Infinity)) diff = Infinity;
      const d255 = diff * 255;
      worstDiff = Math.max(worstDiff ?? 0, d255);
      ms[name] = t.ms;
      med[name] = median(t.ms);
      if (!(d255 < AUTO_AGREEMENT_255)) notes.push(`${name}'s output differs from wasm's by ${d255.toExponential(2)}/255 (limit ${AUTO_AGREEMENT_255}), so not ${name}`);
      else if (med[name]! < best.ms) best = { b, ms: med[name]! };
    }
    const times = `median of ${runs} at ${H}x${W}, ${wasm.threads} thread(s): ${Object.entries(med).map(([k, v]) => `${k} ${v === null ? '-' : `${v.toFixed(2)} ms`}`).join(', ')}`;
    const runnerUp = Object.entries(med).filter(([k, v]) => k !== best.b.name && v !== null).map(([, v]) => v!).sort((a, b) => a - b)[0];
    const why = runnerUp === undefined ? `${best.b.name} is the only backend that ran` : `${best.b.name} is ${(runnerUp / best.ms).toFixed(2)}x faster than the next`;
    const calibration: BackendCalibration = { H, W, ms, medianMs: med, maxDiff255: worstDiff, chosen: best.b.name, reason: [times, why, ...notes].join('; ') };
    for (const b of [wasm, ...others]) if (b !== best.b) await b.dispose();
    const c = best.b;
    return { name: c.name, threads: c.threads, graph: g, calibration, run: (y) => c.run(y), runNamed: (y) => c.runNamed(y), dispose: () => c.dispose() };
  } catch (e) {
    for (const b of [wasm, ...others]) await b.dispose();
    throw e;
  } finally {
    for (const t of Object.values(x)) t.dispose();
  }
}
