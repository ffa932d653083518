// mvsr bench [--json] [--quick] (or node dist/src/bench/infer.js ...)
// Inference speed of the shipped architectures' deploy graphs in one run, against peers on the
// same graph and weights: mvsr's wasm engine (1 and 2 threads), onnxruntime-node (1 and 2
// threads), the same graph quantized to int8 on mvsr's integer kernels and on onnxruntime-node
// (its QDQ export), onnxruntime-web's wasm backend and TensorFlow.js's wasm backend, and on request on the
// GPU mvsr's webgpu backend and onnxruntime-web's webgpu execution provider. Every engine's output
// is checked against mvsr's interpreter on a small input before anything is timed; then warm-up
// runs, timed runs, median and p90 ms per frame, fps, GFLOP/s and % of the measured SIMD128 peak.
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initEngine, disposeEngine, engine } from '../tensor/engine.js';
import { loadKernelBytes } from '../tensor/platform.js';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { manualSeed } from '../nn/init.js';
import { createModel } from '../models/registry.js';
import { type Graph, inputNode, outputNode } from '../graph/ir.js';
import { toGraph } from '../models/registry.js';
import { compileGraph, runGraph } from '../runtime/wasm.js';
import { compileInt8, quantizeTensor, dequantizeTensor } from '../runtime/int8.js';
import { calibrateGraph } from '../eval/calibrate.js';
import { quantizeValue, type QuantGraph } from '../graph/quant.js';
import { outputShape } from '../graph/shapes.js';
import { profileGraph } from '../graph/profile.js';
import { describeMachine, machineDescription, median, percentile } from './timing.js';
import type { GpuAdapterSummary } from '../runtime/webgpu/backend.js';
import { residentSamples } from '../runtime/webgpu/resident.js';
import { createOrtNodePeer, createOrtWebPeer, createTfjsPeer, createMvsrWebGpuPeer, createOrtWebGpuPeer, ortWebThreadsLoaded, type Peer, type PeerRun } from './peers.js';

/**
 * The x4 networks mvsr trains and ships, in their training form (toGraph gives the deploy form);
 * `shipped`: the shipped model of that architecture, whose weights the bench runs (the int8 graph
 * depends on them: etds-t-x4's outlier split).
 */
export const INFER_MODELS: { name: string; arch: string; args: Record<string, unknown>; shipped?: string }[] = [
  { name: 'ELSR', arch: 'ELSR', args: { upscale: 4 }, shipped: 'elsr-x4' },
  { name: 'ESPCN', arch: 'ESPCN', args: { upscale: 4 }, shipped: 'espcn-x4' },
  { name: 'ECBSR-M4C16', arch: 'ECBSR', args: { num_block: 4, num_feat: 16, upscale: 4 }, shipped: 'ecbsr-m4c16-x4' },
  { name: 'ETDS-T', arch: 'ETDS', args: { num_block: 5, num_feat: 16, num_residual_feat: 3, upscale: 4 }, shipped: 'etds-t-x4' },
  { name: 'ABPN-M4C28', arch: 'ABPN', args: { num_block: 4, num_feat: 28, scale: 4 }, shipped: 'abpn-m4c28-x4' },
];

/**
 * The efficient-SR families at their official x4 configurations (seeded random weights, like the
 * others), timed on request (`--models IMDN,RLFN,...`), not by default: they are 4 to 20 times
 * the zoo's cost per frame.
 */
export const ESR_MODELS: { name: string; arch: string; args: Record<string, unknown> }[] = [
  { name: 'IMDN', arch: 'IMDN', args: { upscale: 4 } },
  { name: 'IMDN+', arch: 'IMDN_plus', args: { upscale: 4 } },
  { name: 'RFDN', arch: 'RFDN', args: { nf: 50, num_modules: 4, upscale: 4 } },
  { name: 'RLFN', arch: 'RLFN', args: { feature_channels: 52, mid_channels: 52, num_blocks: 6, upscale: 4 } },
  { name: 'RLFN-S', arch: 'RLFN', args: { feature_channels: 48, mid_channels: 48, num_blocks: 6, upscale: 4 } },
  { name: 'RLFN-NTIRE', arch: 'RLFN', args: { feature_channels: 46, mid_channels: 48, num_blocks: 4, upscale: 4 } },
  { name: 'VapSR', arch: 'vapsr', args: { num_feat: 48, num_block: 21, d_atten: 64, scale: 4 } },
  { name: 'VapSR-S', arch: 'vapsr', args: { num_feat: 32, num_block: 11, d_atten: 64, conv_groups: 2, scale: 4 } },
  { name: 'BSRN', arch: 'BSRN', args: { num_feat: 64, num_block: 8, upscale: 4 } },
  { name: 'BSRN-S', arch: 'RFDNFINALB5', args: { num_feat: 48, num_block: 5, upscale: 4 } },
  { name: 'IMDN-baseline', arch: 'IMDN_baseline', args: { nc: 64, nb: 8, upscale: 4 } },
  { name: 'EFDN', arch: 'EFDN', args: { n_feats: 48, scale: 4 } },
  { name: 'MobileSR', arch: 'MobileSR', args: {} },
];

export interface BenchSetting { name: string; H: number; W: number }

/** The two settings of the literature: MAI 2021/2022 (720p out) and the ETDS paper (1440p out). */
export const INFER_SETTINGS: Record<string, BenchSetting> = {
  mai: { name: 'MAI', H: 180, W: 320 },
  etds: { name: 'ETDS', H: 360, W: 640 },
};

/**
 * Engine configurations: mvsr-<threads>, ort-node-<threads>, ort-web-<threads>, tfjs-wasm (one
 * thread: tfjs-backend-wasm has no threads in Node); the int8 model (the graph calibrated once, the
 * same quantization for both) on mvsr's integer kernels, mvsr-int8-<threads>, and on
 * onnxruntime-node as its QDQ export, ort-node-int8-<threads>. onnxruntime-web fixes its thread
 * count once per process, so a second ort-web-<n> is timed in a child process of the same run.
 */
export const INFER_ENGINES = ['mvsr-1', 'mvsr-2', 'ort-node-1', 'ort-node-2', 'ort-web-1', 'ort-web-2', 'tfjs-wasm', 'mvsr-int8-1', 'mvsr-int8-2', 'ort-node-int8-1', 'ort-node-int8-2', 'mvsr-webgpu', 'ort-web-webgpu'] as const;

/** The engines that run the int8 model: checked against mvsr's integer inference (mvsr-int8-1 at full size), not the float graph. */
export const INT8_ENGINES: readonly string[] = ['mvsr-int8-1', 'mvsr-int8-2', 'ort-node-int8-1', 'ort-node-int8-2'];

/** How models[].weights names a shipped model's weights (mvsr report matches it). */
export const shippedWeights = (name: string): string => `shipped ${name}`;

/** How the bench quantizes a model: calibrateGraph ('mse', as mvsr quantize) on this many seeded uniform inputs of this size. */
export const INT8_CALIBRATION = { samples: 4, H: 48, W: 48, method: 'mse' } as const;

/**
 * The GPU engines (through the `webgpu` package, Dawn), timed only when asked for: on a machine
 * without a GPU Dawn may find SwiftShader, a CPU emulator whose timings say nothing about a GPU.
 */
export const GPU_ENGINES: readonly string[] = ['mvsr-webgpu', 'ort-web-webgpu'];

/** Frames per timed sample on a GPU engine (resident: issued back to back, completion awaited once). */
export const GPU_FRAMES = 50;

/** Outputs must match mvsr's to max |diff| * 255 below this, unless an engine states its own below. */
export const DEFAULT_TOLERANCE_255 = 0.01;
/** Looser tolerances, each with its reason (none needed so far: every peer meets the default). */
const GPU_TOLERANCE = { tol: 0.5, reason: 'GPU float arithmetic (fused multiply-adds, another summation order): within half an 8-bit level' };
export const PEER_TOLERANCE_255: Record<string, { tol: number; reason: string }> = { 'mvsr-webgpu': GPU_TOLERANCE, 'ort-web-webgpu': GPU_TOLERANCE };
/**
 * onnxruntime-node on the QDQ export against mvsr's integer inference, in steps of the output's
 * int8 scale: onnxruntime runs PReLU, tanh, sigmoid, bilinear resizes and a concat's requantizing
 * in float between DequantizeLinear and QuantizeLinear, TFLite (and mvsr) in fixed point, so
 * values one step apart after such a node carry through the layers after it. On the shipped
 * weights at 360x640 (the frame on the input grid) the largest difference measured was 8 steps for
 * etds-t-x4 (its split's requantizing concats; 65% of the values equal, 0.4% 4 or more steps off)
 * and 9 for ecbsr-m4c16-x4 (PReLU); a wrong graph or layout is off by far more.
 */
export const ORT_INT8_STEPS = { steps: 12, reason: 'onnxruntime rounds PReLU, tanh, sigmoid, bilinear resizes and requantizing concats in float, TFLite (and mvsr) in fixed point: a step apart there, carried through the later layers (up to 9 steps measured on the shipped models)' };

export interface InferBenchOptions {
  /** Names from INFER_MODELS or ESR_MODELS (default: all of INFER_MODELS). */
  models?: string[];
  /** Settings to time (default: MAI and ETDS). */
  settings?: BenchSetting[];
  /** Engine configurations from INFER_ENGINES (default: all but the GPU engines). */
  engines?: string[];
  /** A peak measured already (a child process gets its parent's); measured when absent. */
  peak?: PeakResult;
  /** Fewer runs: 1 warm-up, 3 timed (default 2 warm-up, 10 timed). */
  quick?: boolean;
  warmup?: number;
  reps?: number;
  /**
   * The timed runs are split into this many rounds, each of which times every engine in turn
   * (prepared again, its warm-up runs, its share of the runs), so that a machine whose speed drifts
   * during the bench slows every engine alike (default 3; quick: 1).
   */
  rounds?: number;
  /** Frames per timed sample on a GPU engine (default GPU_FRAMES; quick: 4). */
  gpuFrames?: number;
  /** Input of the correctness check before timing (default 23 x 37: odd sizes reach every edge case). */
  checkSize?: [number, number];
  /** Seed of the weights (default init after manualSeed, for a model mvsr does not ship) and of the inputs. */
  seed?: number;
  /** The default initialisation for every model, the shipped ones too (mvsr bench --init-weights). */
  initWeights?: boolean;
  log?: (s: string) => void;
}

export interface PeakResult {
  definition: string;
  /** The kernel build the engine runs (and the peak is measured on). */
  build: 'relaxed' | 'simd128';
  /** GFLOP/s by thread count. */
  gflops: Record<string, number>;
  /** The other build on one thread, for reference (null where it does not validate). */
  otherBuild: { build: 'relaxed' | 'simd128'; gflops1: number } | null;
}

export interface EngineInfo { id: string; label: string; threads: number; layout: 'nhwc' | 'nchw'; notes: string[]; available: boolean; reason?: string; adapter?: GpuAdapterSummary }

export interface CheckRow { model: string; engine: string; H: number; W: number; maxDiff255: number | null; tolerance255: number; ok: boolean; reason?: string }

export interface TimingRow {
  model: string; setting: string; H: number; W: number; engine: string; label: string; threads: number;
  msMedian: number; msP90: number; fps: number; gflops: number; pctPeak: number; samplesMs: number[];
  /** max |diff| * 255 against mvsr (1 thread) on the last timed output at this size. */
  fullSizeMaxDiff255: number | null;
  /**
   * GPU engines: msMedian (and samplesMs) are per frame with the frames on the GPU (each sample
   * `residentFrames` frames back to back); this is the median of the round trips (upload, run, readback).
   */
  roundTripMsMedian?: number;
  residentFrames?: number;
  /** GPU engines: the adapter. */
  adapter?: string;
  /** The adapter is a CPU emulator (SwiftShader): the timing says nothing about a GPU. */
  emulated?: boolean;
}

export interface InferBenchResult {
  machine: Awaited<ReturnType<typeof machineDescription>> & { simd: string };
  peak: PeakResult;
  method: Record<string, string | number>;
  engines: EngineInfo[];
  models: { name: string; arch: string; deployArch: string; args: Record<string, unknown>; params: number; weights?: string; macs: Record<string, number> }[];
  settings: (BenchSetting & { outH: number; outW: number })[];
  checks: CheckRow[];
  rows: TimingRow[];
  /** Mismatches and errors (the command exits non-zero when there are any). */
  failures: string[];
}

// ---- peak ---------------------------------------------------------------------------------------

const PEAK_FLOP_PER_ITER = 10 * 8; // 10 madds of 4 lanes, a multiply and an add each

export const PEAK_DEFINITION = 'SIMD128 peak: the best of several runs of simd_peak (src/kernels/peak.ts), 10 independent chains of f32x4 a*b+c per iteration with nothing loaded or stored, in the kernel build the engine runs (relaxed SIMD: one fused multiply-add per madd; plain SIMD128: a multiply and an add), on 1 and 2 threads; 8 FLOP per madd. It is the most 128-bit wasm arithmetic this machine sustains, so % of peak = achieved GFLOP/s / this. onnxruntime-node runs native AVX2/AVX-512 code, not wasm SIMD, and can exceed 100%.';

async function measurePeakOn(run: (iters: number) => void, threads: number, quick: boolean): Promise<number> {
  for (let i = 0; i < 5; i++) run(20_000); // tier-up to the optimising compiler
  let iters = 100_000;
  for (;;) {
    const t0 = performance.now();
    run(iters);
    const ms = performance.now() - t0;
    if (ms > 10 || iters > 1e9) {
      iters = Math.max(1, Math.round(iters * (quick ? 20 : 80) / ms));
      break;
    }
    iters *= 4;
  }
  let best = 0;
  for (let r = 0; r < (quick ? 3 : 7); r++) {
    const t0 = performance.now();
    run(iters);
    const ms = performance.now() - t0;
    best = Math.max(best, (threads * iters * PEAK_FLOP_PER_ITER) / ms / 1e6);
  }
  return best;
}

/** The engine's SIMD128 peak on each thread count (re-initialises the engine). */
export async function measureSimdPeak(threadCounts: number[], quick = false): Promise<PeakResult> {
  const gflops: Record<string, number> = {};
  let build: 'relaxed' | 'simd128' = 'simd128';
  for (const t of threadCounts) {
    const e = await initEngine({ threads: t });
    build = e.simd;
    const out = e.alloc(64 * t);
    try {
      gflops[String(t)] = await measurePeakOn((iters) => e.run('simd_peak', [iters, out], t), t, quick);
    } finally {
      e.release(out);
    }
  }
  let otherBuild: PeakResult['otherBuild'] = null;
  const other = build === 'relaxed' ? 'simd128' : 'relaxed';
  try {
    const bytes = await loadKernelBytes(other === 'relaxed' ? 'mvsr-relaxed.wasm' : 'mvsr-simd.wasm');
    if (WebAssembly.validate(bytes as BufferSource)) {
      const memory = new WebAssembly.Memory({ initial: 32, maximum: 65536, shared: true });
      const inst = await WebAssembly.instantiate(bytes as BufferSource, { env: { memory } });
      const fn = inst.instance.exports.simd_peak as (iters: number, out: number, tid: number, nt: number) => void;
      otherBuild = { build: other, gflops1: await measurePeakOn((iters) => fn(iters, 31 * 65536, 0, 1), 1, quick) };
    }
  } catch {
    otherBuild = null;
  }
  return { definition: PEAK_DEFINITION, build, gflops, otherBuild };
}

// ---- helpers ------------------------------------------------------------------------------------

function randomInput(H: number, W: number, C: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: H * W * C }, () => r.next());
}

function maxDiff255(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m * 255;
}

/** mvsr's output for an NHWC batch-1 input on the current engine (compile, run, read back). */
function mvsrOutput(g: Graph, x: Float32Array, H: number, W: number): Float32Array {
  const t = Tensor.from([1, H, W, inputNode(g).channels], x);
  try {
    const y = runGraph(g, t);
    try {
      return y.toArray();
    } finally {
      y.dispose();
    }
  } finally {
    t.dispose();
  }
}

async function timeAsync(fn: () => Promise<Float32Array>, warm: number, n: number): Promise<{ ms: number[]; last: Float32Array }> {
  let last: Float32Array = new Float32Array(0);
  for (let i = 0; i < warm; i++) last = await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    last = await fn();
    ms.push(performance.now() - t0);
  }
  return { ms, last };
}

/** The process-wide engine on `threads` threads (started again when it runs on another count). */
async function engineOn(threads: number): Promise<void> {
  let e: ReturnType<typeof engine> | null = null;
  try {
    e = engine();
  } catch {
    e = null;
  }
  if (!e || e.threads !== threads) e = await initEngine({ threads });
  if (e.threads !== threads) throw new Error(`engine started with ${e.threads} threads, not ${threads}`);
}

/** An mvsr engine configuration as a peer: compileGraph on the process-wide engine with `threads`. */
function mvsrPeer(g: Graph, threads: number, simd: string): Peer {
  const Cin = inputNode(g).channels;
  return {
    id: `mvsr-${threads}`,
    label: `mvsr (wasm, ${simd === 'relaxed' ? 'relaxed SIMD' : 'SIMD128'})`,
    version: '',
    threads,
    layout: 'nhwc',
    notes: ['compileGraph (conv + activation and conv + residual + pixel shuffle fused), engine defaults (NaN/Inf checks of conv inputs on); output read back with toArray()'],
    async prepare(x, H, W) {
      await engineOn(threads);
      const c = compileGraph(g);
      const xt = Tensor.from([1, H, W, Cin], x);
      return {
        async run() {
          const y = c.run(xt);
          try {
            return y.toArray();
          } finally {
            y.dispose();
          }
        },
        toNhwc: (y) => y,
        dispose: () => {
          xt.dispose();
          c.dispose();
        },
      };
    },
    async dispose() {},
  };
}

/** mvsr's integer inference of a quantized graph: float in (quantized at the input's parameters), the int8 program (compileInt8), dequantized float out, as the 'int8' backend runs it. */
function mvsrInt8Run(p: ReturnType<typeof compileInt8>, xt: Tensor): Float32Array {
  const inId = inputNode(p.graph).id;
  const ys = p.run({ [inId]: quantizeTensor(xt, p.graph.quant.act[inId]!) });
  const y = dequantizeTensor(Object.values(ys)[0]!);
  try {
    return y.toArray();
  } finally {
    y.dispose();
  }
}

/** mvsr's int8 kernels as a peer, on the process-wide engine with `threads`. */
function mvsrInt8Peer(qg: QuantGraph, threads: number): Peer {
  const Cin = inputNode(qg).channels;
  return {
    id: `mvsr-int8-${threads}`,
    label: 'mvsr int8 (wasm, SIMD128 i16 dot products)',
    version: '',
    threads,
    layout: 'nhwc',
    notes: ['compileInt8 (TFLite reference arithmetic, per-channel int8 weights, int32 accumulators, fused requantize; an activation, ADD and depth_to_space after a conv applied in its stores); a run quantizes the float input, runs the int8 program and dequantizes the output into a JS Float32Array'],
    async prepare(x, H, W) {
      await engineOn(threads);
      const p = compileInt8(qg);
      const xt = Tensor.from([1, H, W, Cin], x);
      return {
        run: async () => mvsrInt8Run(p, xt),
        toNhwc: (y) => y,
        dispose: () => {
          xt.dispose();
          p.dispose();
        },
      };
    },
    async dispose() {},
  };
}

/** The graph quantized for the int8 engines: calibrated on seeded uniform inputs (INT8_CALIBRATION). */
async function quantizeForBench(g: Graph, seed: number): Promise<QuantGraph> {
  const { samples, H, W, method } = INT8_CALIBRATION, C = inputNode(g).channels;
  const frames = Array.from({ length: samples }, (_, i) => Tensor.from([1, H, W, C], randomInput(H, W, C, seed + 100 + i)));
  try {
    return await calibrateGraph(g, frames.map((f) => ({ frames: [f] })), { method });
  } finally {
    for (const f of frames) f.dispose();
  }
}

// ---- the benchmark ------------------------------------------------------------------------------

export async function runInferBench(o: InferBenchOptions = {}): Promise<InferBenchResult> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const quick = o.quick ?? false;
  const warmup = o.warmup ?? (quick ? 1 : 2);
  const reps = o.reps ?? (quick ? 3 : 10);
  const rounds = Math.max(1, Math.min(reps, Math.floor(o.rounds ?? (quick ? 1 : 3))));
  /** The timed runs of round k (they add up to reps). */
  const repsOf = (k: number): number => Math.floor((reps * (k + 1)) / rounds) - Math.floor((reps * k) / rounds);
  const seed = o.seed ?? 1;
  const [cH, cW] = o.checkSize ?? [23, 37];
  const settings = o.settings ?? [INFER_SETTINGS.mai!, INFER_SETTINGS.etds!];
  const engines = o.engines ?? INFER_ENGINES.filter((e) => !GPU_ENGINES.includes(e));
  const gpuFrames = o.gpuFrames ?? (quick ? 4 : GPU_FRAMES);
  for (const e of engines) if (!(INFER_ENGINES as readonly string[]).includes(e)) throw new Error(`mvsr bench: unknown engine '${e}' (have: ${INFER_ENGINES.join(', ')})`);
  const known = [...INFER_MODELS, ...ESR_MODELS];
  const models = o.models ? o.models.map((name) => {
    const m = known.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!m) throw new Error(`mvsr bench: unknown model '${name}' (have: ${known.map((x) => x.name).join(', ')})`);
    return m;
  }) : INFER_MODELS;
  for (const s of settings) if (!(Number.isInteger(s.H) && Number.isInteger(s.W) && s.H > 0 && s.W > 0)) throw new Error(`mvsr bench: setting ${s.name}: bad size ${s.H}x${s.W}`);
  const threadsOf = (id: string): number => (id === 'tfjs-wasm' || GPU_ENGINES.includes(id) ? 1 : Number(id.split('-').pop()));
  // one onnxruntime-web thread count runs here (the one already loaded, if any), others in child processes
  const ortWeb = engines.filter((e) => /^ort-web-\d+$/.test(e));
  const loaded = ortWebThreadsLoaded();
  const ortWebHere = ortWeb.find((e) => threadsOf(e) === loaded) ?? ortWeb[0];
  const ortWebChildren = ortWeb.filter((e) => e !== ortWebHere);
  // in INFER_ENGINES order: mvsr-1 first, so its full-size output is the reference for the rest
  const local = INFER_ENGINES.filter((e) => engines.includes(e) && !ortWebChildren.includes(e));

  const machine = await machineDescription();
  log(`mvsr inference benchmark on ${describeMachine(machine)}, Node ${machine.node}`);
  let peak = o.peak;
  if (!peak) {
    log('measuring the SIMD128 peak...');
    peak = await measureSimdPeak([...new Set([1, ...engines.map(threadsOf)])].sort((a, b) => a - b), quick);
    log(`  ${peak.build}: ${Object.entries(peak.gflops).map(([t, v]) => `${v.toFixed(1)} GFLOP/s on ${t} thread(s)`).join(', ')}`);
  }
  const pctOfPeak = (gflops: number, threads: number, id: string): number => {
    if (GPU_ENGINES.includes(id)) return NaN; // the SIMD128 peak is the CPU's
    const pk = peak!.gflops[String(threads)];
    return pk && Number.isFinite(pk) ? (100 * gflops) / pk : NaN;
  };

  // graphs, built once on one thread (the weights are plain arrays afterwards)
  const simd = (await initEngine({ threads: 1 })).simd;
  const { resolveAnyModel } = await import('../api/models.node.js');
  const graphs = models.map((m) => {
    manualSeed(seed);
    const shipped = o.initWeights ? undefined : (m as { shipped?: string }).shipped;
    const model = shipped ? resolveAnyModel(shipped) : createModel(m.arch, m.args);
    try {
      const g = toGraph(model);
      if (shipped) {
        const ref = createModel(m.arch, m.args);
        const refG = toGraph(ref);
        ref.dispose();
        if (JSON.stringify(g.nodes.map((n) => n.op)) !== JSON.stringify(refG.nodes.map((n) => n.op))) throw new Error(`mvsr bench: the shipped ${shipped}'s deploy graph is not ${m.name}'s`);
      }
      return { ...m, g, params: model.numParameters(), weights: shipped ? shippedWeights(shipped) : `initialisation, seed ${seed}` };
    } finally {
      model.dispose();
    }
  });

  const result: InferBenchResult = {
    machine: { ...machine, simd },
    peak,
    method: {
      weights: `the shipped model's weights where mvsr ships one of the architecture (models[].weights; --init-weights: none), else the architecture's default initialisation after manualSeed(${seed}); then toGraph (deploy form). Weights do not change the float work; the int8 graph depends on them (the outlier split of mvsr quantize: etds-t-x4's carrier channels)`,
      input: 'uniform [0, 1) RGB, seeded; batch 1; for the int8 engines the same frame on the int8 model\'s input grid (scale * (q - zero point)), so that onnxruntime\'s QuantizeLinear (half to even) and TFLite\'s QUANTIZE (half away from zero) give the same integers',
      check: `before timing, every engine's output on a ${cH}x${cW} input is compared with mvsr's runGraph: max |diff| * 255 < ${DEFAULT_TOLERANCE_255} unless a looser tolerance is stated; the int8 engines with mvsr's integer inference of the same int8 model instead (onnxruntime-node's QDQ run within ${ORT_INT8_STEPS.steps} steps of the output's int8 scale); the last timed output at full size is compared with the same reference on 1 thread too`,
      int8: `the int8 engines run the float graph quantized once per model: calibrateGraph (method '${INT8_CALIBRATION.method}', as mvsr quantize) on ${INT8_CALIBRATION.samples} seeded uniform ${INT8_CALIBRATION.H}x${INT8_CALIBRATION.W} inputs; per-channel int8 weights, int8 activations, int32 biases; a timed run takes the float input and returns the dequantized float output (quantize and dequantize included, inside the QDQ graph for onnxruntime); GFLOP/s counts the same MACs; % of peak is left out (the peak is a float one)`,
      timing: `${reps} timed runs per engine in ${rounds} round(s): each round times every engine of this process in turn, prepared again, after ${warmup} warm-up run(s) (${rounds > 1 ? 'so a machine whose speed drifts during the bench slows every engine alike; ' : ''}onnxruntime-web on 2 threads runs in a child process after them); a run starts with the input in the engine's memory and native layout (NHWC for mvsr and TensorFlow.js, NCHW for onnxruntime) and ends with the output read back into a JS Float32Array`,
      gpu: `GPU engines (mvsr-webgpu, ort-web-webgpu): ms per frame with the frames resident on the GPU, as a player runs them: a sample is ${gpuFrames} frames issued one after another on an input already in a GPU buffer, the output left on the GPU, the GPU's completion awaited once at the end; ${warmup} warm-up sample(s), ${reps} timed; the round trip (upload, run, readback into JS) is given beside it`,
      gpuFrames,
      flops: 'GFLOP/s = 2 x MACs / time, with MACs as profileGraph counts them (convs + PReLU multiplies, the ETDS Table 2 convention)',
      warmup, reps, rounds,
    },
    engines: [],
    models: graphs.map((m) => ({
      name: m.name, arch: m.arch, deployArch: m.g.meta.arch, args: m.args, params: m.params, weights: m.weights,
      macs: Object.fromEntries(settings.map((s) => [s.name, profileGraph(m.g, s.H, s.W).macs])),
    })),
    settings: [],
    checks: [],
    rows: [],
    failures: [],
  };
  result.settings = settings.map((s) => {
    const [outH, outW] = graphs.length ? outputShape(graphs[0]!.g, s.H, s.W) : [s.H, s.W];
    return { ...s, outH, outW };
  });

  // which engines load at all (one line each when not)
  const engineInfo = new Map<string, EngineInfo>();
  const unavailable = (id: string, e: unknown): void => {
    const reason = (e as Error).message.replace(/^mvsr: /, '');
    engineInfo.set(id, { id, label: id, threads: threadsOf(id), layout: 'nhwc', notes: [], available: false, reason });
    log(`  ${id}: SKIPPED: ${reason}`);
  };
  const int8Of = new Map<string, Promise<QuantGraph>>();
  const quantized = (name: string, g: Graph): Promise<QuantGraph> => {
    let q = int8Of.get(name);
    if (!q) int8Of.set(name, (q = (async () => {
      await initEngine({ threads: 1 });
      return quantizeForBench(g, seed);
    })()));
    return q;
  };
  const makePeer = async (id: string, m: { name: string; g: Graph }): Promise<Peer> => {
    const g = m.g;
    switch (id) {
      case 'mvsr-1': return mvsrPeer(g, 1, simd);
      case 'mvsr-2': return mvsrPeer(g, 2, simd);
      case 'ort-node-1': return createOrtNodePeer(g, { threads: 1 });
      case 'ort-node-2': return createOrtNodePeer(g, { threads: 2 });
      case 'mvsr-int8-1': return mvsrInt8Peer(await quantized(m.name, g), 1);
      case 'mvsr-int8-2': return mvsrInt8Peer(await quantized(m.name, g), 2);
      case 'ort-node-int8-1': return createOrtNodePeer(await quantized(m.name, g), { threads: 1 });
      case 'ort-node-int8-2': return createOrtNodePeer(await quantized(m.name, g), { threads: 2 });
      case 'tfjs-wasm': return createTfjsPeer(g);
      case 'mvsr-webgpu': return createMvsrWebGpuPeer(g);
      case 'ort-web-webgpu': return createOrtWebGpuPeer(g);
      default:
        if (id.startsWith('ort-web-')) return createOrtWebPeer(g, { threads: threadsOf(id) });
        throw new Error(`unknown engine ${id}`);
    }
  };
  const isInt8 = (id: string): boolean => INT8_ENGINES.includes(id);
  /** mvsr on 1 thread: its own timed output is its family's full-size reference. */
  const ownReference = (id: string): boolean => id === 'mvsr-1' || id === 'mvsr-int8-1';
  /** The tolerance of an engine's output against its reference (the float graph, or the int8 model for the int8 engines). */
  const toleranceOf = async (id: string, m: { name: string; g: Graph }): Promise<number> => {
    if (id.startsWith('ort-node-int8-')) {
      const q = await quantized(m.name, m.g);
      return ORT_INT8_STEPS.steps * q.quant.act[outputNode(q).id]!.scale * 255;
    }
    return PEER_TOLERANCE_255[id.replace(/-\d+$/, '')]?.tol ?? DEFAULT_TOLERANCE_255;
  };
  /**
   * The input an engine runs: for the int8 engines the frame on the int8 model's input grid (each
   * value scale * (q - zero point), as an 8-bit frame is), so that every engine quantizes it to the
   * same integers: onnxruntime's QuantizeLinear rounds half to even after its own float arithmetic,
   * TFLite's QUANTIZE (and mvsr) half away from zero, and a pixel one step apart at the input moves
   * ESPCN's output by up to 20 steps. The float engines run the frame as it is.
   */
  const inputOf = async (id: string, m: { name: string; g: Graph }, x: Float32Array): Promise<Float32Array> => {
    if (!isInt8(id)) return x;
    const q = await quantized(m.name, m.g), qi = q.quant.act[inputNode(q).id]!;
    return Float32Array.from(x, (v) => qi.scale * (quantizeValue(v, qi) - qi.zeroPoint));
  };
  /** The reference output of the family an engine belongs to: mvsr's float graph, or mvsr's integer inference of the int8 model, on 1 thread. */
  const referenceOf = async (id: string, m: { name: string; g: Graph }, x: Float32Array, H: number, W: number): Promise<Float32Array> => {
    await initEngine({ threads: 1 });
    if (!isInt8(id)) return mvsrOutput(m.g, x, H, W);
    const p = compileInt8(await quantized(m.name, m.g));
    const xt = Tensor.from([1, H, W, inputNode(m.g).channels], x);
    try {
      return mvsrInt8Run(p, xt);
    } finally {
      xt.dispose();
      p.dispose();
    }
  };

  for (const m of graphs) {
    const g = m.g, Cin = inputNode(g).channels;
    log(`${m.name} (${g.meta.arch}${g.meta.from ? ` from ${g.meta.from}` : ''}, ${m.params} parameters, ${m.weights} weights)`);
    // 1. every engine against its reference on a small input
    const xc = randomInput(cH, cW, Cin, seed + 1);
    const refs = new Map<boolean, Float32Array>();
    const peers: Peer[] = [];
    for (const id of local) {
      if (engineInfo.get(id)?.available === false) continue;
      let p: Peer;
      try {
        p = await makePeer(id, m);
      } catch (e) {
        const msg = (e as Error).message;
        if (/cannot be quantized to int8|is not quantized yet/.test(msg)) {
          // a family without an integer form: its int8 rows are absent, which is not a failure of the run
          result.checks.push({ model: m.name, engine: id, H: cH, W: cW, maxDiff255: null, tolerance255: 0, ok: false, reason: msg });
          log(`  ${id}: not run: ${msg}`);
          continue;
        }
        if (/has no TensorFlow\.js|cannot be exported|has no ONNX/.test(msg)) {
          result.checks.push({ model: m.name, engine: id, H: cH, W: cW, maxDiff255: null, tolerance255: DEFAULT_TOLERANCE_255, ok: false, reason: msg });
          result.failures.push(`${m.name} on ${id}: ${msg}`);
          continue;
        }
        unavailable(id, e);
        continue;
      }
      if (!engineInfo.has(id)) engineInfo.set(id, { id, label: p.label, threads: p.threads, layout: p.layout, notes: [...p.notes], available: true, ...(p.adapter ? { adapter: p.adapter } : {}) });
      else for (const n of p.notes) if (!engineInfo.get(id)!.notes.includes(n)) engineInfo.get(id)!.notes.push(n);
      const tol = await toleranceOf(id, m);
      let d: number | null = null, reason: string | undefined;
      try {
        const xi = await inputOf(id, m, xc);
        if (!refs.has(isInt8(id))) refs.set(isInt8(id), await referenceOf(id, m, xi, cH, cW));
        const r = await p.prepare(xi, cH, cW);
        try {
          d = maxDiff255(r.toNhwc(await r.run()), refs.get(isInt8(id))!);
        } finally {
          r.dispose();
        }
      } catch (e) {
        reason = (e as Error).message;
      }
      const ok = d !== null && d < tol;
      result.checks.push({ model: m.name, engine: id, H: cH, W: cW, maxDiff255: d, tolerance255: tol, ok, ...(reason ? { reason } : {}) });
      log(`  check ${id.padEnd(15)} at ${cH}x${cW}: ${d === null ? `ERROR ${reason}` : `max |diff| * 255 = ${d.toExponential(2)}`} ${ok ? 'ok' : `NOT EQUAL (tolerance ${tol}): not timed`}`);
      if (ok) peers.push(p);
      else {
        result.failures.push(`${m.name} on ${id}: ${d === null ? reason : `max |diff| * 255 = ${d} >= ${tol}`}`);
        await p.dispose();
      }
    }

    // 2. timing, setting by setting, in rounds of every engine in turn
    for (const s of settings) {
      const macs = profileGraph(g, s.H, s.W).macs;
      const x = randomInput(s.H, s.W, Cin, seed + 2);
      // the full-size reference of each family: the first engine of the family when it is mvsr on 1 thread, else computed untimed
      const refFull = new Map<boolean, Float32Array>();
      const acc = new Map<string, { ms: number[]; trips: number[]; full: number; resident: boolean }>();
      const inputs = new Map<string, Float32Array>(); // each engine's input, made in round 1
      const failed = new Set<string>();
      for (let k = 0; k < rounds; k++) {
        if (rounds > 1) log(`  ${s.H}x${s.W} round ${k + 1}/${rounds}: ${repsOf(k)} timed runs each of ${peers.filter((p) => !failed.has(p.id)).map((p) => p.id).join(', ')}`);
        for (const p of peers) {
          if (failed.has(p.id)) continue;
          let r: PeerRun | null = null;
          const fam = isInt8(p.id), own = ownReference(p.id);
          try {
            const xi = inputs.get(p.id) ?? await inputOf(p.id, m, x);
            inputs.set(p.id, xi);
            if (k === 0 && !own && !refFull.has(fam)) refFull.set(fam, await referenceOf(p.id, m, xi, s.H, s.W));
            r = await p.prepare(xi, s.H, s.W);
            const { ms: trips, last } = await timeAsync(r.run, warmup, repsOf(k));
            const a = acc.get(p.id) ?? { ms: [], trips: [], full: 0, resident: !!r.resident };
            if (k === 0) {
              const y = r.toNhwc(last);
              if (own) refFull.set(fam, y);
              a.full = own ? 0 : maxDiff255(y, refFull.get(fam)!);
            }
            a.trips.push(...trips);
            a.ms.push(...(r.resident ? await residentSamples(r.resident, gpuFrames, repsOf(k), warmup) : trips));
            acc.set(p.id, a);
          } catch (e) {
            failed.add(p.id);
            result.failures.push(`${m.name} ${s.name} on ${p.id}: ${(e as Error).message}`);
            log(`  ${s.name} ${p.id}: ERROR ${(e as Error).message}`);
          } finally {
            r?.dispose();
          }
        }
      }
      for (const p of peers) {
        const a = acc.get(p.id);
        if (!a || failed.has(p.id)) continue;
        const fam = isInt8(p.id), own = ownReference(p.id), full = a.full, ms = a.ms;
        const med = median(ms);
        const gflops = (2 * macs) / med / 1e6;
        const row: TimingRow = {
          model: m.name, setting: s.name, H: s.H, W: s.W, engine: p.id, label: p.label, threads: p.threads,
          msMedian: med, msP90: percentile(ms, 0.9), fps: 1000 / med, gflops, pctPeak: fam ? NaN : pctOfPeak(gflops, p.threads, p.id),
          samplesMs: ms, fullSizeMaxDiff255: full,
          ...(a.resident ? { roundTripMsMedian: median(a.trips), residentFrames: gpuFrames } : {}),
          ...(p.adapter ? { adapter: p.adapter.name, emulated: p.adapter.emulated } : {}),
        };
        result.rows.push(row);
        const tol = await toleranceOf(p.id, m);
        if (!(full < tol)) result.failures.push(`${m.name} ${s.name} on ${p.id}: full-size output differs from its reference by ${full}/255 (tolerance ${tol})`);
        log(`  ${s.H}x${s.W} ${p.id.padEnd(15)} ${med.toFixed(2)} ms (p90 ${row.msP90.toFixed(2)}${row.roundTripMsMedian !== undefined ? `; frames on the GPU, round trip ${row.roundTripMsMedian.toFixed(2)} ms` : ''}), ${gflops.toFixed(2)} GFLOP/s${own ? '' : `, full-size max |diff| * 255 ${full.toExponential(2)}`}${row.emulated ? ' (EMULATED adapter: not a GPU timing)' : ''}`);
      }
    }
    for (const p of peers) await p.dispose();
  }
  disposeEngine();

  // 3. further onnxruntime-web thread counts, each in a child process running this file
  for (const id of ortWebChildren) {
    log(`${id}: in a child process (onnxruntime-web fixes its thread count once per process)`);
    const childOpts: InferBenchOptions = { models: models.map((m) => m.name), settings, engines: [id], quick, warmup, reps, rounds, checkSize: [cH, cW], seed, peak, initWeights: o.initWeights };
    const c = await runChild(childOpts, (line) => log(`  [${id}] ${line}`));
    if ('error' in c) {
      unavailable(id, new Error(c.error));
      continue;
    }
    const info = c.engines.find((e) => e.id === id);
    if (info) engineInfo.set(id, info.available ? { ...info, notes: [...info.notes, 'timed in a child process of this run'] } : info);
    result.checks.push(...c.checks);
    result.rows.push(...c.rows);
    result.failures.push(...c.failures.map((f) => `${f} (child process)`));
  }
  result.engines = engines.map((id) => engineInfo.get(id) ?? { id, label: id, threads: threadsOf(id), layout: 'nhwc', notes: [], available: false, reason: 'no model ran on it' });
  return result;
}

/** runInferBench in a child process (this file with --child-options); its JSON result, or why there is none. */
function runChild(opts: InferBenchOptions, log: (line: string) => void): Promise<InferBenchResult | { error: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child-options', JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', partial = '', last = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (l.trim()) log((last = l));
    });
    child.on('error', (e) => resolve({ error: `child process failed to start: ${e.message}` }));
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(stdout) as InferBenchResult);
      } catch {
        resolve({ error: `child process exited with ${code}${last ? `: ${last}` : ''}` });
      }
    });
  });
}

// ---- report -------------------------------------------------------------------------------------

const fmt = (v: number, d: number): string => (Number.isFinite(v) ? v.toFixed(d) : '–');

export function formatInferMarkdown(r: InferBenchResult): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`machine: ${describeMachine(m)}, ${m.memGiB} GiB, Node ${m.node}; mvsr kernels: ${m.simd === 'relaxed' ? 'relaxed SIMD (FMA)' : 'SIMD128'}`);
  const pk = Object.entries(r.peak.gflops).filter(([, v]) => Number.isFinite(v)).map(([t, v]) => `${v.toFixed(1)} GFLOP/s on ${t} thread${t === '1' ? '' : 's'}`).join(', ');
  out.push(`SIMD128 peak (${r.peak.build} build): ${pk}${r.peak.otherBuild ? `; ${r.peak.otherBuild.build} build: ${r.peak.otherBuild.gflops1.toFixed(1)} GFLOP/s on 1 thread` : ''}`);
  out.push('');
  for (const s of r.settings) {
    out.push(`### ${s.name} setting: ${s.H}×${s.W} → ${s.outH}×${s.outW}`);
    out.push('');
    out.push('| model | GMACs | engine | threads | median ms | p90 ms | fps | GFLOP/s | % of SIMD128 peak |');
    out.push('|---|---|---|---|---|---|---|---|---|');
    for (const md of r.models) {
      const order = (id: string): number => (INFER_ENGINES as readonly string[]).indexOf(id);
      const rows = r.rows.filter((x) => x.model === md.name && x.setting === s.name).sort((a, b) => order(a.engine) - order(b.engine));
      rows.forEach((x, i) => {
        const gpu = x.roundTripMsMedian !== undefined ? ` — frames on the GPU (round trip ${fmt(x.roundTripMsMedian, 2)} ms)${x.emulated ? ', EMULATED: not a GPU timing' : ''}` : '';
        const d = x.msMedian < 10 ? 2 : 1;
        out.push(`| ${i === 0 ? md.name : ''} | ${i === 0 ? fmt((md.macs[s.name] ?? NaN) / 1e9, 2) : ''} | ${x.label}${gpu} | ${x.threads} | ${fmt(x.msMedian, d)} | ${fmt(x.msP90, d)} | ${fmt(x.fps, 1)} | ${fmt(x.gflops, 1)} | ${Number.isFinite(x.pctPeak) ? `${fmt(x.pctPeak, 0)}%` : '–'} |`);
      });
      if (!rows.length) out.push(`| ${md.name} | ${fmt((md.macs[s.name] ?? NaN) / 1e9, 2)} | (no engine ran) | | | | | | |`);
    }
    out.push('');
  }
  const checkEngines = INFER_ENGINES.filter((e) => r.checks.some((c) => c.engine === e));
  if (checkEngines.length) {
    const c0 = r.checks[0]!;
    out.push(`Output check before timing (${c0.H}×${c0.W} input): max |engine − reference| × 255, the reference being mvsr's runGraph, or for the int8 engines mvsr's integer inference of the same int8 model`);
    out.push('');
    out.push(`| model | ${checkEngines.join(' | ')} |`);
    out.push(`|---|${checkEngines.map(() => '---').join('|')}|`);
    for (const md of r.models) {
      const cells = checkEngines.map((e) => {
        const c = r.checks.find((x) => x.model === md.name && x.engine === e);
        if (!c) return '';
        if (c.maxDiff255 === null) return 'error';
        return `${c.maxDiff255.toExponential(1)}${c.ok ? '' : ' ✗'}`;
      });
      out.push(`| ${md.name} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  out.push('Engines:');
  for (const e of r.engines) {
    out.push(e.available ? `- ${e.id}: ${e.label}, ${e.threads} thread(s), ${e.layout.toUpperCase()}; ${e.notes.join('; ')}` : `- ${e.id}: skipped: ${e.reason}`);
  }
  out.push('');
  out.push('Method:');
  for (const [k, v] of Object.entries(r.method)) if (typeof v === 'string') out.push(`- ${k}: ${v}`);
  if (r.models.some((m) => m.weights)) out.push(`- weights run: ${r.models.map((m) => `${m.name} ${m.weights ?? '?'}`).join(', ')}`);
  out.push(`- peak: ${r.peak.definition}`);
  for (const [id, t] of Object.entries(PEER_TOLERANCE_255)) out.push(`- ${id} tolerance ${t.tol}/255: ${t.reason}`);
  out.push(`- ort-node-int8 tolerance ${ORT_INT8_STEPS.steps} steps of the output's int8 scale: ${ORT_INT8_STEPS.reason}`);
  if (r.failures.length) {
    out.push('');
    out.push('FAILURES:');
    for (const f of r.failures) out.push(`- ${f}`);
  }
  return out.join('\n') + '\n';
}

// ---- as a script --------------------------------------------------------------------------------

/** Parse "180x320" into [H, W]. */
export function parseSize(flag: string, v: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(v);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new Error(`mvsr bench: ${flag} must look like 180x320, got "${v}"`);
  return [Number(m[1]), Number(m[2])];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const input = flag('--input');
  const child = flag('--child-options');
  const r = await runInferBench(child ? JSON.parse(child) as InferBenchOptions : {
    quick: args.includes('--quick'),
    models: flag('--models')?.split(','),
    engines: flag('--engines')?.split(','),
    settings: input ? [{ name: input, H: parseSize('--input', input)[0], W: parseSize('--input', input)[1] }] : undefined,
  });
  process.stdout.write(child || args.includes('--json') ? JSON.stringify(r, null, 2) + '\n' : formatInferMarkdown(r));
  process.exitCode = r.failures.length ? 1 : 0;
}
