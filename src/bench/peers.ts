// Peer engines for the inference benchmark, each running the same deploy graph with the same
// weights: TensorFlow.js's wasm backend (the graph rebuilt from tfjs-core ops), onnxruntime-web's
// wasm backend and onnxruntime-node (both on exportOnnx's bytes), and on the GPU mvsr's webgpu
// backend and onnxruntime-web's webgpu execution provider (both through the `webgpu` package,
// Dawn). Peers are optional dev dependencies: each loader rejects with a one-line reason when its
// package cannot load here. Every .wasm is read from node_modules; nothing is fetched.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as OrtWeb from 'onnxruntime-web';
import { type Graph, type GraphNode, type Act, type GraphWeight, graphError, graphOutputs, inputNode, outputNode, validateGraph } from '../graph/ir.js';
import { inferChannels, inferShapes } from '../graph/shapes.js';
import { optimizeGraph, useCounts, splitGroupedConvs } from '../graph/passes.js';
import { exportOnnx } from '../export/onnx.js';
import { loadOrtNode, sessionOptions, onnxProbeModel } from '../runtime/ort.node.js';
import { Tensor } from '../tensor/tensor.js';
import type { GpuAdapterSummary } from '../runtime/webgpu/backend.js';

/** One prepared frame: the input already in the peer's memory and layout. */
export interface PeerRun {
  /** Run one frame; the output as a new Float32Array in the peer's layout (the readback included). */
  run(): Promise<Float32Array>;
  /** An output of run() as NHWC. */
  toNhwc(y: Float32Array): Float32Array;
  /**
   * GPU engines: milliseconds for `frames` frames issued one after another with the input and the
   * output staying on the GPU (as a player does), the GPU's completion awaited once at the end.
   */
  resident?(frames: number): Promise<number>;
  dispose(): void;
}

export interface Peer {
  /** 'tfjs-wasm', 'ort-web', 'ort-node'. */
  readonly id: string;
  /** e.g. "onnxruntime-web 1.30.0 (wasm)". */
  readonly label: string;
  readonly version: string;
  readonly threads: number;
  /** The peer's native layout, in which it is fed and timed. */
  readonly layout: 'nhwc' | 'nchw';
  /** How the graph was mapped onto the peer (one line each). */
  readonly notes: string[];
  /** GPU engines: the adapter they run on. */
  readonly adapter?: GpuAdapterSummary;
  /** Put an NHWC batch-1 H x W input into the peer (not timed). */
  prepare(x: Float32Array, H: number, W: number): Promise<PeerRun>;
  dispose(): Promise<void>;
}

const require = createRequire(import.meta.url);

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : typeof e === 'object' && e && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return m.split('\n')[0]!;
}

export function nhwcToNchw(a: Float32Array, H: number, W: number, C: number): Float32Array {
  const out = new Float32Array(a.length);
  const P = H * W;
  for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) out[c * P + p] = a[p * C + c]!;
  return out;
}

export function nchwToNhwc(a: Float32Array, H: number, W: number, C: number): Float32Array {
  const out = new Float32Array(a.length);
  const P = H * W;
  for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) out[p * C + c] = a[c * P + p]!;
  return out;
}

/** Run `fn` with fetch disabled, so a loader that would download its .wasm fails loudly instead. */
async function withoutFetch<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const g = globalThis as { fetch?: unknown };
  const saved = g.fetch;
  g.fetch = (url: unknown) => Promise.reject(new Error(`${what} tried to fetch ${String(url)}; it must load from node_modules`));
  try {
    return await fn();
  } finally {
    g.fetch = saved;
  }
}

// ---- TensorFlow.js (wasm backend) ---------------------------------------------------------------

export interface TfjsWasm {
  tf: typeof TfCore;
  version: string;
  /** XNNPACK threads (1 in Node: tfjs-backend-wasm has no threads there). */
  threads: number;
  simd: boolean;
}

let tfjsLoading: Promise<TfjsWasm> | null = null;

/** @tensorflow/tfjs-core with the wasm backend, its .wasm files read from node_modules. */
export function loadTfjsWasm(): Promise<TfjsWasm> {
  tfjsLoading ??= withoutFetch('tfjs-backend-wasm', async () => {
    let tf: typeof TfCore, wasm: typeof import('@tensorflow/tfjs-backend-wasm');
    try {
      tf = await import('@tensorflow/tfjs-core');
      wasm = await import('@tensorflow/tfjs-backend-wasm');
    } catch (e) {
      throw new Error(`TensorFlow.js is not installed (npm install -D @tensorflow/tfjs-core @tensorflow/tfjs-backend-wasm): ${firstLine(e)}`);
    }
    try {
      const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      wasm.setWasmPaths(dir + path.sep);
      if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
      await tf.ready();
    } catch (e) {
      throw new Error(`tfjs-backend-wasm does not initialise here: ${firstLine(e)}`);
    }
    const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    return { tf, version: tf.version_core, threads: wasm.getThreadsCount(), simd };
  });
  tfjsLoading.catch(() => { tfjsLoading = null; });
  return tfjsLoading;
}

/** Where a concat's output channels come from: runs of consecutive channels of earlier nodes. */
interface Piece { src: string; start: number; end: number }

/** The pytorch pixel-shuffle channel order as a permutation into TF's: out[(i*s+j)*C + c] = in[c*s^2 + i*s + j]. */
export function pixelShufflePermutation(C: number, s: number): number[] {
  const P: number[] = [];
  for (let ij = 0; ij < s * s; ij++) for (let c = 0; c < C; c++) P.push(c * s * s + ij);
  return P;
}

/** Rows of a [rows, ...] weight taken in the order `perm` (identity when perm is null). */
function permuteRows(w: GraphWeight, perm: number[] | null): Float32Array {
  if (!perm) return w.data;
  const per = w.data.length / w.shape[0]!;
  const out = new Float32Array(w.data.length);
  perm.forEach((src, k) => out.set(w.data.subarray(src * per, (src + 1) * per), k * per));
  return out;
}

export interface TfjsProgram {
  /** Run on an NHWC input (not consumed); returns a new tensor. */
  run(x: TfCore.Tensor4D): TfCore.Tensor4D;
  notes: string[];
  dispose(): void;
}

/**
 * The graph as tfjs-core ops (after optimizeGraph, the passes the ONNX export applies too):
 * conv -> tf.fused.conv2d (HWIO filters, bias and relu/prelu/leaky fused), depthToSpace ->
 * tf.depthToSpace, add, mul, concat, slice, activations, bilinear/nearest resize, transposed conv,
 * layer norm (tf.moments over the channels).
 * tfjs's depthToSpace has TF's channel order only; for PyTorch's pixel shuffle the producing convs'
 * output channels (and a residual's concat order) are permuted instead, which computes the same
 * values with no extra op; where that is impossible a tf.gather reorders the channels.
 */
export function buildTfjsProgram(tf: typeof TfCore, g0: Graph): TfjsProgram {
  validateGraph(g0);
  // tfjs has depthwise convs but no grouped ones: a conv per group (as the TFLite export)
  const g = optimizeGraph(splitGroupedConvs(g0, inferChannels(g0)));
  const channels = inferChannels(g);
  const uses = useCounts(g);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const notes: string[] = [];
  const unsupported = (n: GraphNode, why: string): never => {
    throw graphError(g0, n, `has no TensorFlow.js (wasm) form: ${why}`);
  };

  // ---- channel permutations that turn pixel_shuffle into TF's depth_to_space
  const permOf = new Map<string, number[]>();
  const canPermute = (id: string): boolean => {
    const n = byId.get(id)!;
    if (uses.get(id) !== 1) return false;
    switch (n.op) {
      case 'conv': return n.groups === 1;
      case 'convTranspose': case 'concat': return true;
      case 'act': case 'resize': return canPermute(n.inputs[0]!);
      case 'add': case 'mul': return n.inputs[0] !== n.inputs[1] && canPermute(n.inputs[0]!) && canPermute(n.inputs[1]!);
      default: return false;
    }
  };
  const applyPermutation = (id: string, P: number[]): void => {
    const n = byId.get(id)!;
    permOf.set(id, P);
    if (n.op === 'act' || n.op === 'resize' || n.op === 'add' || n.op === 'mul') for (const i of n.inputs) applyPermutation(i, P);
  };
  const gatherBefore = new Map<string, number[]>(); // depthToSpace id -> channel gather on its input
  for (const n of g.nodes) {
    if (n.op !== 'depthToSpace' || n.order !== 'pytorch') continue;
    const P = pixelShufflePermutation(channels.get(n.id)!, n.scale);
    if (canPermute(n.inputs[0]!)) {
      applyPermutation(n.inputs[0]!, P);
      notes.push(`pixel shuffle '${n.id}': producer's output channels permuted to TF's depth_to_space order (no extra op)`);
    } else {
      gatherBefore.set(n.id, P);
      notes.push(`pixel shuffle '${n.id}': tf.gather reorders channels before tf.depthToSpace`);
    }
  }

  // ---- what each node reads at run time (a concat reads the sources of its slices directly)
  const pieces = new Map<string, Piece[]>();
  const reads = new Map<string, string[]>();
  for (const n of g.nodes) {
    if (n.op !== 'concat') {
      reads.set(n.id, [...n.inputs]);
      continue;
    }
    const chans: [string, number][] = [];
    for (const i of n.inputs) {
      const m = byId.get(i)!;
      const C = channels.get(i)!;
      for (let c = 0; c < C; c++) chans.push(m.op === 'slice' && !permOf.has(i) ? [m.inputs[0]!, m.start + c] : [i, c]);
    }
    const P = permOf.get(n.id);
    const order = P ? P.map((k) => chans[k]!) : chans;
    const ps: Piece[] = [];
    for (const [src, c] of order) {
      const last = ps[ps.length - 1];
      if (last && last.src === src && last.end === c) last.end++;
      else ps.push({ src, start: c, end: c + 1 });
    }
    pieces.set(n.id, ps);
    reads.set(n.id, ps.map((p) => p.src));
  }
  const outId = outputNode(g).id, inId = inputNode(g).id;
  const needed = new Set<string>([outId]);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (needed.has(n.id)) for (const r of reads.get(n.id)!) needed.add(r);
  }
  const live = g.nodes.filter((n) => needed.has(n.id));

  // ---- weights, uploaded once
  const owned: TfCore.Tensor[] = [];
  const keep = <T extends TfCore.Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  const alphaTensor = (a: Extract<Act, { kind: 'prelu' }>, C: number, perm: number[] | null): TfCore.Tensor1D => {
    const w = g.weights[a.alpha]!;
    const full = w.data.length === 1 ? new Float32Array(C).fill(w.data[0]!) : w.data;
    return keep(tf.tensor1d(perm ? Float32Array.from(perm, (k) => full[k]!) : full));
  };
  type Step = (ins: TfCore.Tensor4D[]) => TfCore.Tensor4D;
  const steps = new Map<string, Step>();
  const applyAct = (n: GraphNode, a: Act, x: TfCore.Tensor4D, C: number, perm: number[] | null): TfCore.Tensor4D => {
    switch (a.kind) {
      case 'relu': return tf.relu(x);
      case 'leaky': return tf.leakyRelu(x, a.slope);
      case 'prelu': return tf.prelu(x, alphaTensor(a, C, perm) as unknown as TfCore.Tensor4D); // broadcasts over channels
      case 'tanh': return tf.tanh(x);
      case 'sigmoid': return tf.sigmoid(x);
      case 'gelu': return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
      case 'clamp': return tf.clipByValue(x, a.lo, a.hi);
      default: return unsupported(n, `activation ${JSON.stringify(a)}`);
    }
  };
  for (const n of live) {
    const perm = permOf.get(n.id) ?? null;
    const C = channels.get(n.id)!;
    switch (n.op) {
      case 'input': case 'output':
        break;
      case 'conv': {
        const w = g.weights[n.weight]!;
        const [Cout, Cig, k] = w.shape as [number, number, number];
        const b = n.bias === null ? undefined : keep(tf.tensor1d(permuteRows(g.weights[n.bias]!, perm)));
        const dilations = n.dilation ?? 1, strides = n.stride ?? 1;
        // tfjs 'same' pads unevenly when strided: explicit padding then
        const pad: 'same' | [[number, number], [number, number], [number, number], [number, number]] = strides === 1 && 2 * n.padding === (k - 1) * dilations ? 'same' : [[0, 0], [n.padding, n.padding], [n.padding, n.padding], [0, 0]];
        const wo = permuteRows(w, perm); // [Cout, Cig, k, k], rows in output order
        let activation: TfCore.fused.Activation = 'linear';
        let alpha: TfCore.Tensor1D | undefined;
        let leaky: number | undefined;
        let after: Act | null = null;
        switch (n.act?.kind) {
          case undefined: break;
          case 'relu': activation = 'relu'; break;
          case 'leaky': activation = 'leakyrelu'; leaky = n.act.slope; break;
          case 'prelu': activation = 'prelu'; alpha = alphaTensor(n.act, Cout, perm); break;
          default: after = n.act!; // clamp (and any other) after the conv
        }
        if (n.groups === 1) {
          const f = new Float32Array(k * k * Cig * Cout); // HWIO
          for (let o = 0; o < Cout; o++) for (let i = 0; i < Cig; i++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) {
            f[((y * k + x) * Cig + i) * Cout + o] = wo[((o * Cig + i) * k + y) * k + x]!;
          }
          const filter = keep(tf.tensor4d(f, [k, k, Cig, Cout]));
          steps.set(n.id, ([x]) => {
            const y = tf.fused.conv2d({ x: x!, filter, strides, pad, dilations, bias: b, activation, preluActivationWeights: alpha, leakyreluAlpha: leaky });
            if (!after) return y;
            const z = applyAct(n, after, y, Cout, perm);
            y.dispose();
            return z;
          });
        } else if (Cig === 1 && n.groups === Cout && !perm) {
          const f = new Float32Array(k * k * Cout); // [k, k, C, 1]
          for (let o = 0; o < Cout; o++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) f[(y * k + x) * Cout + o] = wo[(o * k + y) * k + x]!;
          const filter = keep(tf.tensor4d(f, [k, k, Cout, 1]));
          const p = n.padding;
          steps.set(n.id, ([x]) => {
            const xp = pad === 'same' ? x! : tf.pad(x!, [[0, 0], [p, p], [p, p], [0, 0]]);
            const y = tf.fused.depthwiseConv2d({ x: xp, filter, strides, pad: pad === 'same' ? 'same' : 'valid', dilations, bias: b, activation, preluActivationWeights: alpha, leakyreluAlpha: leaky });
            if (xp !== x) xp.dispose();
            if (!after) return y;
            const z = applyAct(n, after, y, Cout, perm);
            y.dispose();
            return z;
          });
        } else {
          unsupported(n, `grouped convolution (groups ${n.groups}) other than depthwise`);
        }
        break;
      }
      case 'convTranspose': {
        const w = g.weights[n.weight]!;
        const [Cin, Cout, k] = w.shape as [number, number, number];
        if (n.outputPadding > n.padding) unsupported(n, `output padding ${n.outputPadding} larger than padding ${n.padding}`);
        const f = new Float32Array(k * k * Cout * Cin); // [k, k, out, in]
        for (let i = 0; i < Cin; i++) for (let o = 0; o < Cout; o++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) {
          f[((y * k + x) * Cout + o) * Cin + i] = w.data[((i * Cout + (perm ? perm[o]! : o)) * k + y) * k + x]!;
        }
        const filter = keep(tf.tensor4d(f, [k, k, Cout, Cin]));
        const b = n.bias === null ? null : keep(tf.tensor1d(permuteRows(g.weights[n.bias]!, perm)));
        const s = n.stride, p = n.padding;
        steps.set(n.id, ([x]) => tf.tidy(() => {
          const [N, H, W] = x!.shape;
          const full = tf.conv2dTranspose(x!, filter, [N, (H - 1) * s + k, (W - 1) * s + k, Cout], s, 'valid');
          const Ho = (H - 1) * s - 2 * p + k + n.outputPadding, Wo = (W - 1) * s - 2 * p + k + n.outputPadding;
          const y = tf.slice(full, [0, p, p, 0], [N, Ho, Wo, Cout]);
          return b ? tf.add(y, b) : y;
        }));
        break;
      }
      case 'act':
        steps.set(n.id, ([x]) => applyAct(n, n.act, x!, C, perm));
        break;
      case 'add': steps.set(n.id, ([a, b]) => tf.add(a!, b!)); break;
      case 'mul': steps.set(n.id, ([a, b]) => tf.mul(a!, b!)); break;
      case 'slice':
        steps.set(n.id, ([x]) => tf.slice(x!, [0, 0, 0, n.start], [-1, -1, -1, n.end - n.start]));
        break;
      case 'concat': {
        const ps = pieces.get(n.id)!;
        steps.set(n.id, (xs) => tf.tidy(() => {
          const parts = ps.map((p, i) => (p.start === 0 && p.end === xs[i]!.shape[3] ? xs[i]! : tf.slice(xs[i]!, [0, 0, 0, p.start], [-1, -1, -1, p.end - p.start])));
          return parts.length === 1 ? (parts[0] === xs[0] ? tf.clone(parts[0]!) : parts[0]!) : tf.concat(parts, 3);
        }));
        break;
      }
      case 'depthToSpace': {
        const P = gatherBefore.get(n.id);
        const idx = P ? keep(tf.tensor1d(P, 'int32')) : null;
        steps.set(n.id, ([x]) => tf.tidy(() => tf.depthToSpace(idx ? tf.gather(x!, idx, 3) : x!, n.scale, 'NHWC')));
        break;
      }
      case 'maxPool': steps.set(n.id, ([x]) => tf.maxPool(x as TfCore.Tensor4D, n.kernel, n.stride, 'valid')); break;
      case 'globalPool':
        steps.set(n.id, ([x]) => tf.tidy(() => {
          const mean = tf.mean(x!, [1, 2], true) as TfCore.Tensor4D;
          return n.stat === 'mean' ? mean : (tf.sqrt(tf.mean(tf.square(tf.sub(x!, mean)), [1, 2], true)) as TfCore.Tensor4D);
        }));
        break;
      case 'scaleChannels': steps.set(n.id, ([x, s]) => tf.mul(x!, s!)); break;
      case 'resizeLike':
        steps.set(n.id, ([x, l]) => {
          const size: [number, number] = [l!.shape[1]!, l!.shape[2]!];
          return n.mode === 'nearest' ? tf.image.resizeNearestNeighbor(x as TfCore.Tensor4D, size, false, false) : tf.image.resizeBilinear(x as TfCore.Tensor4D, size, false, true);
        });
        break;
      case 'layerNorm': {
        // tf.moments over the channels (its variance from the deviations, as mvsr's), then the affine map
        const w = keep(tf.tensor1d(g.weights[n.weight]!.data)), b = keep(tf.tensor1d(g.weights[n.bias]!.data)), eps = n.eps;
        steps.set(n.id, ([x]) => tf.tidy(() => {
          const { mean, variance } = tf.moments(x!, 3, true);
          return tf.add(tf.mul(tf.mul(tf.sub(x!, mean), tf.rsqrt(tf.add(variance, eps))), w), b);
        }));
        break;
      }
      case 'resize': {
        if (n.mode !== 'nearest' && n.mode !== 'bilinear') unsupported(n, `tfjs has no ${n.mode} resize`);
        steps.set(n.id, ([x]) => {
          const [, H, W] = x!.shape;
          const size: [number, number] = [Math.floor(H * n.scale), Math.floor(W * n.scale)];
          return n.mode === 'nearest' ? tf.image.resizeNearestNeighbor(x!, size, false, false) : tf.image.resizeBilinear(x!, size, false, true);
        });
        break;
      }
      default:
        unsupported(n, `op ${n.op}`);
    }
  }
  const outSrc = outputNode(g).inputs[0]!;
  const readCount = new Map<string, number>();
  for (const n of live) for (const r of reads.get(n.id)!) readCount.set(r, (readCount.get(r) ?? 0) + 1);

  return {
    notes,
    run(x: TfCore.Tensor4D): TfCore.Tensor4D {
      const vals = new Map<string, TfCore.Tensor4D>([[inId, x]]);
      const left = new Map(readCount);
      try {
        for (const n of live) {
          if (n.op === 'input' || n.op === 'output') continue;
          const ins = reads.get(n.id)!.map((r) => vals.get(r)!);
          vals.set(n.id, steps.get(n.id)!(ins));
          for (const r of reads.get(n.id)!) {
            const k = left.get(r)! - 1;
            left.set(r, k);
            if (k === 0 && r !== inId) {
              vals.get(r)!.dispose();
              vals.delete(r);
            }
          }
        }
        const y = vals.get(outSrc)!;
        vals.delete(outSrc);
        return y === x ? tf.clone(x) : y;
      } finally {
        for (const [id, t] of vals) if (id !== inId) t.dispose();
      }
    },
    dispose(): void {
      for (const t of owned) t.dispose();
      owned.length = 0;
    },
  };
}

export async function createTfjsPeer(g: Graph): Promise<Peer> {
  const t = await loadTfjsWasm();
  const { tf } = t;
  const prog = buildTfjsProgram(tf, g);
  const Cin = inputNode(g).channels;
  return {
    id: 'tfjs-wasm',
    label: `TensorFlow.js ${t.version} (wasm${t.simd ? ', SIMD' : ''})`,
    version: t.version,
    threads: t.threads,
    layout: 'nhwc',
    notes: prog.notes,
    async prepare(x, H, W) {
      const xt = tf.tensor4d(x, [1, H, W, Cin]);
      return {
        async run() {
          const y = prog.run(xt);
          try {
            return (await y.data()) as Float32Array;
          } finally {
            y.dispose();
          }
        },
        toNhwc: (y) => y,
        dispose: () => xt.dispose(),
      };
    },
    async dispose() {
      prog.dispose();
    },
  };
}

// ---- onnxruntime-web (wasm backend) -------------------------------------------------------------

export interface OrtWebModule { ort: typeof OrtWeb; version: string; threads: number }

let ortWebLoading: Promise<OrtWebModule> | null = null;
let ortWebThreads: number | null = null;

/** The thread count onnxruntime-web was initialised with in this process, or null before it loads. */
export function ortWebThreadsLoaded(): number | null {
  return ortWebThreads;
}

/**
 * onnxruntime-web with its wasm backend and `threads` threads. The thread count is fixed by the
 * first call in a process (onnxruntime-web initialises its wasm module once); later calls get that.
 */
export function loadOrtWeb(threads = 1): Promise<OrtWebModule> {
  ortWebLoading ??= withoutFetch('onnxruntime-web', async () => {
    let ort: typeof OrtWeb;
    try {
      ort = await import('onnxruntime-web');
    } catch (e) {
      throw new Error(`onnxruntime-web is not installed (npm install -D onnxruntime-web): ${firstLine(e)}`);
    }
    try {
      // in Node its wasm binary and glue are read from the package's own dist folder (no fetch: see withoutFetch)
      ort.env.wasm.numThreads = threads;
      ort.env.logLevel = 'error';
      const s = await ort.InferenceSession.create(onnxProbeModel(), { executionProviders: ['wasm'] });
      await s.release();
    } catch (e) {
      throw new Error(`onnxruntime-web's wasm backend does not initialise here: ${firstLine(e)}`);
    }
    ortWebThreads = ort.env.wasm.numThreads ?? threads;
    return { ort, version: ort.env.versions.web ?? '?', threads: ortWebThreads };
  });
  ortWebLoading.catch(() => { ortWebLoading = null; });
  return ortWebLoading;
}


interface OrtLikeSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
  release(): Promise<void>;
}

/** A peer over an onnxruntime flavour: an NCHW fixed-shape export per input size, sessions cached. */
function onnxPeer(
  g: Graph, id: string, label: string, version: string, threads: number, notes: string[],
  createSession: (bytes: Uint8Array) => Promise<OrtLikeSession>,
  makeTensor: (data: Float32Array, dims: number[]) => unknown,
): Peer {
  const Cin = inputNode(g).channels;
  const sessions = new Map<string, Promise<OrtLikeSession>>();
  const sessionFor = (H: number, W: number): Promise<OrtLikeSession> => {
    const key = `${H}x${W}`;
    let s = sessions.get(key);
    if (!s) {
      s = createSession(exportOnnx(g, { layout: 'nchw', inputShape: [H, W] }));
      sessions.set(key, s);
    }
    return s;
  };
  return {
    id, label, version, threads, layout: 'nchw', notes,
    async prepare(x, H, W) {
      const s = await sessionFor(H, W);
      const [Ho, Wo, Co] = inferShapes(g, H, W).get(outputNode(g).id)!;
      const feeds = { [s.inputNames[0]!]: makeTensor(nhwcToNchw(x, H, W, Cin), [1, Cin, H, W]) };
      return {
        async run() {
          const out = (await s.run(feeds))[s.outputNames[0]!]!;
          return out.data as Float32Array;
        },
        toNhwc: (y) => nchwToNhwc(y, Ho, Wo, Co),
        dispose: () => undefined,
      };
    },
    async dispose() {
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.all(all.map((p) => p.then((s) => s.release(), () => undefined)));
    },
  };
}

export async function createOrtWebPeer(g: Graph, o: { threads?: number } = {}): Promise<Peer> {
  validateGraph(g);
  const m = await loadOrtWeb(o.threads ?? 1);
  const { ort } = m;
  if (o.threads !== undefined && o.threads !== m.threads) {
    throw new Error(`onnxruntime-web was initialised with ${m.threads} thread(s) in this process and cannot change to ${o.threads} (use another process)`);
  }
  const notes = ['exportOnnx NCHW, fixed input shape; onnxruntime-web wasm execution provider, graph optimisation "all"'];
  return onnxPeer(g, `ort-web-${m.threads}`, `onnxruntime-web ${m.version} (wasm)`, m.version, m.threads, notes,
    async (bytes) => (await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' })) as unknown as OrtLikeSession,
    (data, dims) => new ort.Tensor('float32', data, dims));
}

export async function createOrtNodePeer(g: Graph, o: { threads?: number } = {}): Promise<Peer> {
  validateGraph(g);
  const ort = await loadOrtNode();
  const threads = o.threads ?? 1;
  const version = ort.env.versions?.node ?? ort.env.versions?.common ?? '?';
  // a quantized graph exports in the QDQ form, which onnxruntime runs on its int8 kernels (QLinearConv and the like)
  const int8 = 'quant' in g;
  return onnxPeer(g, `ort-node-${int8 ? 'int8-' : ''}${threads}`, `onnxruntime-node ${version} (CPU, native${int8 ? ', int8 QDQ' : ''})`, version, threads,
    [int8 ? 'exportOnnx of the int8 model (QDQ: QuantizeLinear/DequantizeLinear around every int8 tensor, int8 per-channel weights, int32 biases), NCHW, fixed input shape; CPU execution provider, graph optimisation "all" (fuses the QDQ pairs into int8 kernels)'
      : 'exportOnnx NCHW, fixed input shape; CPU execution provider (native code: AVX2/AVX-512 where the CPU has them), graph optimisation "all"'],
    async (bytes) => (await ort.InferenceSession.create(bytes, sessionOptions(threads))) as unknown as OrtLikeSession,
    (data, dims) => new ort.Tensor('float32', data, dims));
}

// ---- on the GPU: mvsr's webgpu backend and onnxruntime-web's webgpu execution provider -----------

/** mvsr's webgpu backend (compileWebGpu) on the `webgpu` package's device. */
export async function createMvsrWebGpuPeer(g: Graph): Promise<Peer> {
  validateGraph(g);
  const { nodeGpu } = await import('../runtime/webgpu.node.js');
  await nodeGpu();
  const { gpuDevice, compileWebGpu, adapterOf } = await import('../runtime/webgpu/backend.js');
  const { mvsrResident } = await import('../runtime/webgpu/resident.js');
  const { convTiling } = await import('../runtime/webgpu/wgsl.js');
  const d = await gpuDevice();
  const adapter = adapterOf(d)!;
  const prog = await compileWebGpu(g, d);
  const inId = inputNode(g).id, outId = graphOutputs(g)[0]!.id, Cin = inputNode(g).channels;
  return {
    id: 'mvsr-webgpu',
    label: `mvsr (WebGPU, ${adapter.name})`,
    version: '',
    threads: 1,
    layout: 'nhwc',
    adapter,
    notes: ['compileWebGpu: WGSL generated per shape, conv + activation and conv + residual + pixel shuffle fused, f32; round trip = upload, one submit, readback; resident = one command buffer per frame, input and output on the GPU', `dense-conv tiling ${JSON.stringify(convTiling)}`],
    async prepare(x, H, W) {
      const xt = Tensor.from([1, H, W, Cin], x);
      const run = async (): Promise<Float32Array> => {
        const y = (await prog.runNamed({ [inId]: xt }))[outId]!;
        try {
          return y.toArray();
        } finally {
          y.dispose();
        }
      };
      return {
        run,
        toNhwc: (y) => y,
        resident: await mvsrResident(prog, d, { [inId]: xt }),
        dispose: () => xt.dispose(),
      };
    },
    async dispose() {
      prog.dispose();
    },
  };
}

export interface OrtWebGpuModule { ort: typeof OrtWeb; version: string; device: GPUDevice; adapter: GpuAdapterSummary }

let ortGpuLoading: Promise<OrtWebGpuModule> | null = null;

/**
 * Dawn's Node binding refuses queue.writeBuffer from a view of a SharedArrayBuffer ("Invalid
 * argument"), which is where onnxruntime-web's wasm memory lives: copy such data first.
 */
function copySharedWrites(queueClass: unknown): void {
  const proto = (queueClass as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  if (!proto || proto.__mvsrSharedCopy) return;
  const write = proto.writeBuffer as (this: GPUQueue, b: GPUBuffer, off: number, data: BufferSource, dOff?: number, size?: number) => void;
  proto.writeBuffer = function (this: GPUQueue, b: GPUBuffer, off: number, data: BufferSource, dOff = 0, size?: number): void {
    if (ArrayBuffer.isView(data) && typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer) {
      const v = data as unknown as Uint8Array, n = size ?? v.length - dOff;
      return write.call(this, b, off, v.slice(dOff, dOff + n), 0, n);
    }
    return write.call(this, b, off, data, dOff, size);
  };
  proto.__mvsrSharedCopy = true;
}

/**
 * onnxruntime-web's webgpu build (its asyncify wasm read from node_modules) on the `webgpu`
 * package's GPU, given to it as navigator.gpu, with a device of its own (the adapter's limits,
 * shader-f16 and subgroups where offered) handed to every session, so that GPU buffers made on it
 * can be fed.
 */
export function loadOrtWebGpu(): Promise<OrtWebGpuModule> {
  ortGpuLoading ??= withoutFetch('onnxruntime-web (webgpu)', async () => {
    const { nodeGpu } = await import('../runtime/webgpu.node.js');
    const { summarizeAdapter } = await import('../runtime/webgpu/backend.js');
    const { requestPeerDevice, ortWebGpuOptions } = await import('../runtime/webgpu/resident.js');
    const gpu = await nodeGpu();
    const g = globalThis as { navigator?: { gpu?: GPU } };
    if (!g.navigator) g.navigator = { gpu };
    else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    copySharedWrites((globalThis as { GPUQueue?: unknown }).GPUQueue);
    let ort: typeof OrtWeb;
    try {
      ort = (await import('onnxruntime-web/webgpu' as string)) as typeof OrtWeb;
    } catch (e) {
      throw new Error(`onnxruntime-web is not installed (npm install -D onnxruntime-web): ${firstLine(e)}`);
    }
    try {
      ort.env.wasm.wasmBinary = readFileSync(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm'));
      ort.env.wasm.numThreads = 1;
      ort.env.logLevel = 'error';
    } catch (e) {
      throw new Error(`onnxruntime-web's webgpu build does not load here: ${firstLine(e)}`);
    }
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no GPU adapter is available');
    const device = await requestPeerDevice(adapter);
    try {
      const s = await ort.InferenceSession.create(onnxProbeModel(), ortWebGpuOptions(device, false));
      await s.release();
    } catch (e) {
      throw new Error(`onnxruntime-web's webgpu execution provider does not initialise here: ${firstLine(e)}`);
    }
    return { ort, version: ort.env.versions.web ?? '?', device, adapter: summarizeAdapter(adapter) };
  });
  ortGpuLoading.catch(() => { ortGpuLoading = null; });
  return ortGpuLoading;
}

/** onnxruntime-web's webgpu execution provider on exportOnnx's NCHW bytes, input and output as ort.Tensor (round trip) or GPU buffers (resident). */
export async function createOrtWebGpuPeer(g: Graph): Promise<Peer> {
  validateGraph(g);
  const m = await loadOrtWebGpu();
  const { ort, device } = m;
  const { ortWebGpuOptions, ortResident } = await import('../runtime/webgpu/resident.js');
  const Cin = inputNode(g).channels;
  const open: { dispose(): Promise<void> }[] = [];
  return {
    id: 'ort-web-webgpu',
    label: `onnxruntime-web ${m.version} (webgpu, ${m.adapter.name})`,
    version: m.version,
    threads: 1,
    layout: 'nchw',
    adapter: m.adapter,
    notes: ['exportOnnx NCHW, fixed input shape; onnxruntime-web webgpu execution provider on a device of its own, graph optimisation "all"; round trip = ort.Tensor in and out; resident = input from a GPU buffer (Tensor.fromGpuBuffer), output kept on the GPU (preferredOutputLocation "gpu-buffer"), each run awaited as its API requires'],
    async prepare(x, H, W) {
      const [Ho, Wo, Co] = inferShapes(g, H, W).get(outputNode(g).id)!;
      const data = nhwcToNchw(x, H, W, Cin), dims = [1, Cin, H, W];
      const onnx = exportOnnx(g, { layout: 'nchw', inputShape: [H, W] });
      const s = await ort.InferenceSession.create(onnx, ortWebGpuOptions(device, false));
      open.push({ dispose: () => s.release() });
      const feeds = { [s.inputNames[0]!]: new ort.Tensor('float32', data, dims) };
      let resident: Promise<Awaited<ReturnType<typeof ortResident>>> | null = null;
      return {
        async run() {
          const r = await s.run(feeds);
          return r[s.outputNames[0]!]!.data as Float32Array;
        },
        toNhwc: (y) => nchwToNhwc(y, Ho, Wo, Co),
        async resident(frames) {
          if (!resident) {
            resident = ortResident(ort, device, onnx, { [inputNode(g).id]: { data, dims } });
            open.push({ dispose: async () => (await resident!).dispose() });
          }
          return (await resident).time(frames);
        },
        dispose: () => undefined,
      };
    },
    async dispose() {
      await Promise.all(open.splice(0).map((o) => o.dispose().catch(() => undefined)));
    },
  };
}
