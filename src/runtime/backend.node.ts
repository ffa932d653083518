// Inference backends for Node behind one interface: 'wasm' (mvsr's engine, compileGraph) and
// 'ort' (onnxruntime-node on the exported graph). 'auto' runs both on a random input of the
// size it will see, checks that they agree, and keeps the faster one, saying why.
import { ensureEngine } from '../tensor/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { type Graph, inputNode, validateGraph } from '../graph/ir.js';
import { compileGraph } from '../graph/run.js';
import { OrtGraphBackend } from './ort.node.js';

export type BackendKind = 'wasm' | 'ort';

export interface CreateBackendOptions {
  /** 'wasm' (default), 'ort', or 'auto' (time both at H x W, keep the faster). */
  backend?: BackendKind | 'auto';
  /**
   * Threads. For 'wasm' this is the process-wide engine's count: the engine is created with it
   * when none exists, and an existing engine with another count is an error (it cannot change
   * under live tensors). For 'ort', onnxruntime's intra-op threads (default: the engine's, else 1).
   */
  threads?: number;
  /** Input size to calibrate 'auto' on (required for 'auto'). */
  H?: number;
  W?: number;
  /** Timed runs per backend in the 'auto' calibration, after one untimed warm-up (default 3). */
  calibrationRuns?: number;
}

export interface BackendCalibration {
  H: number;
  W: number;
  /** Milliseconds of each timed run (null: the backend could not run, see reason). */
  ms: { wasm: number[]; ort: number[] | null };
  medianMs: { wasm: number; ort: number | null };
  /** max |ort - wasm| * 255 on the calibration input (null when ort did not run). */
  maxDiff255: number | null;
  chosen: BackendKind;
  /** One line: what was measured and why `chosen` won. */
  reason: string;
}

export interface Backend {
  readonly name: BackendKind;
  readonly threads: number;
  /** Set by 'auto': the measurements the choice was made on. */
  readonly calibration: BackendCalibration | null;
  /** NHWC float32 in, a new NHWC tensor out (x is not consumed). */
  run(x: Tensor): Promise<Tensor>;
  dispose(): Promise<void>;
}

/** Outputs of the two backends must agree to this much (max |diff| * 255) for 'auto' to use ort. */
export const AUTO_AGREEMENT_255 = 0.01;

async function wasmBackend(g: Graph, threads: number | undefined): Promise<Backend> {
  const eng = await ensureEngine(threads === undefined ? {} : { threads });
  if (threads !== undefined && eng.threads !== threads) {
    throw new Error(`mvsr: createBackend: the wasm backend runs on the process-wide engine, which has ${eng.threads} thread(s), not ${threads}; call initEngine({ threads: ${threads} }) before creating tensors, or leave threads out`);
  }
  const c = compileGraph(g);
  return {
    name: 'wasm',
    threads: eng.threads,
    calibration: null,
    run: async (x) => c.run(x),
    dispose: async () => c.dispose(),
  };
}

async function ortBackend(g: Graph, threads: number | undefined): Promise<Backend> {
  let t = threads;
  if (t === undefined) {
    const { engine } = await import('../tensor/engine.js');
    try {
      t = engine().threads;
    } catch {
      t = 1;
    }
  }
  const b = await OrtGraphBackend.create(g, { threads: t });
  return { name: 'ort', threads: b.threads, calibration: null, run: (x) => b.run(x), dispose: () => b.dispose() };
}

function checkSize(what: string, v: number | undefined): number {
  if (v === undefined || !Number.isInteger(v) || v < 1) throw new Error(`mvsr: createBackend: backend 'auto' needs ${what}, the input size to calibrate on, as a positive integer (got ${v})`);
  return v;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1]!;
};

async function timeRuns(b: Backend, x: Tensor, runs: number): Promise<{ ms: number[]; first: Float32Array }> {
  const warm = await b.run(x); // session creation, JIT tier-up, pools
  const first = warm.toArray();
  warm.dispose();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const y = await b.run(x);
    ms.push(performance.now() - t0);
    y.dispose();
  }
  return { ms, first };
}

/**
 * A backend that runs `g`. With backend 'auto', both run `calibrationRuns` times on a seeded
 * random H x W input (after a warm-up); ort is chosen when its median is lower and its output
 * agrees with wasm's (max |diff| * 255 < AUTO_AGREEMENT_255); `calibration` keeps the numbers.
 * When onnxruntime-node cannot load or the graph cannot be exported, 'auto' picks wasm and says why.
 */
export async function createBackend(g: Graph, o: CreateBackendOptions = {}): Promise<Backend> {
  validateGraph(g);
  const kind = o.backend ?? 'wasm';
  if (kind === 'wasm') return wasmBackend(g, o.threads);
  if (kind === 'ort') return ortBackend(g, o.threads);
  if (kind !== 'auto') throw new Error(`mvsr: createBackend: backend '${String(kind)}' is not 'wasm', 'ort' or 'auto'`);

  const H = checkSize('H', o.H), W = checkSize('W', o.W);
  const runs = o.calibrationRuns ?? 3;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`mvsr: createBackend: calibrationRuns must be a positive integer, got ${runs}`);
  const wasm = await wasmBackend(g, o.threads);
  const Cin = inputNode(g).channels;
  const rng = new Rng(0x5eed);
  const x = Tensor.empty([1, H, W, Cin]);
  const xd = x.data;
  for (let i = 0; i < xd.length; i++) xd[i] = rng.next();
  let ort: Backend | null = null;
  try {
    const tw = await timeRuns(wasm, x, runs);
    const mw = median(tw.ms);
    const pick = (chosen: BackendKind, reason: string, ortMs: number[] | null, diff: number | null): Backend => {
      const calibration: BackendCalibration = {
        H, W, ms: { wasm: tw.ms, ort: ortMs }, medianMs: { wasm: mw, ort: ortMs ? median(ortMs) : null }, maxDiff255: diff, chosen, reason,
      };
      const b = chosen === 'wasm' ? wasm : ort!;
      return { name: b.name, threads: b.threads, calibration, run: (y) => b.run(y), dispose: () => b.dispose() };
    };
    try {
      ort = await ortBackend(g, wasm.threads);
    } catch (e) {
      return pick('wasm', `wasm ${mw.toFixed(2)} ms at ${H}x${W}; ort not available: ${(e as Error).message.replace(/^mvsr: /, '')}`, null, null);
    }
    let to: { ms: number[]; first: Float32Array };
    try {
      to = await timeRuns(ort, x, runs);
    } catch (e) {
      await ort.dispose();
      ort = null;
      return pick('wasm', `wasm ${mw.toFixed(2)} ms at ${H}x${W}; ort failed: ${(e as Error).message.replace(/^mvsr: /, '')}`, null, null);
    }
    let diff = 0;
    for (let i = 0; i < tw.first.length; i++) diff = Math.max(diff, Math.abs(tw.first[i]! - to.first[i]!));
    if (!(diff <= Infinity)) diff = Infinity;
    const d255 = diff * 255, mo = median(to.ms);
    const times = `median of ${runs} at ${H}x${W}, ${wasm.threads} thread(s): wasm ${mw.toFixed(2)} ms, ort ${mo.toFixed(2)} ms`;
    let chosen: BackendKind, reason: string;
    if (!(d255 < AUTO_AGREEMENT_255)) {
      chosen = 'wasm';
      reason = `${times}; ort's output differs from wasm's by ${d255.toExponential(2)}/255 (limit ${AUTO_AGREEMENT_255}), so wasm`;
    } else if (mo < mw) {
      chosen = 'ort';
      reason = `${times}: ort is ${(mw / mo).toFixed(2)}x faster`;
    } else {
      chosen = 'wasm';
      reason = `${times}: wasm is ${(mo / mw).toFixed(2)}x faster`;
    }
    const b = pick(chosen, reason, to.ms, d255);
    if (chosen === 'wasm') await ort.dispose();
    else await wasm.dispose();
    ort = null;
    return b;
  } catch (e) {
    await ort?.dispose();
    await wasm.dispose();
    throw e;
  } finally {
    x.dispose();
  }
}
