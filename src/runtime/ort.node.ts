// The `ort` inference backend: a deploy graph exported to ONNX (exportOnnx, NHWC in and out,
// fixed input size) and run by onnxruntime-node's CPU provider. onnxruntime-node is an optional
// peer: loadOrtNode() says clearly when it is missing. Sessions are cached per input size, so
// a video or a tiled image pays the session's graph optimisation once per size. Importing this
// module registers it as the 'ort' backend of createBackend.
import type * as OrtNode from 'onnxruntime-node';
import { Tensor } from '../tensor/tensor.js';
import { type Graph, graphError, graphInputs, graphOutputs, validateGraph } from '../graph/ir.js';
import { exportOnnx, type OnnxExportOptions } from '../export/onnx.js';
import { registerBackend } from './backend.js';
import { SizeCache, engineThreads, namedInputs, runOneInput } from './sized.js';

export type OrtNodeModule = typeof OrtNode;

let loading: Promise<OrtNodeModule> | null = null;

/**
 * onnxruntime-node, loaded once; the native binding is checked by creating a one-node session.
 * Rejects with an error that says why it is unavailable (not installed, no binary for this platform).
 */
export function loadOrtNode(): Promise<OrtNodeModule> {
  loading ??= (async () => {
    let ort: OrtNodeModule;
    try {
      ort = await import('onnxruntime-node');
    } catch (e) {
      throw new Error(`mvsr: the 'ort' backend needs onnxruntime-node (npm install onnxruntime-node): ${firstLine(e)}`);
    }
    try {
      // a relu on one float: loads the native library and its CPU provider
      const probe = onnxProbeModel();
      await (await ort.InferenceSession.create(probe, sessionOptions(1))).release();
    } catch (e) {
      throw new Error(`mvsr: onnxruntime-node is installed but does not run here: ${firstLine(e)}`);
    }
    return ort;
  })();
  loading.catch(() => { loading = null; }); // a later call may try again (e.g. after an install)
  return loading;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/** A one-node ONNX model (Relu on [1,1,1,1]) for checking that a runtime loads. */
export function onnxProbeModel(): Uint8Array {
  const g: Graph = {
    meta: { arch: 'probe', args: {}, scale: 1 },
    nodes: [
      { op: 'input', id: 'input', inputs: [], channels: 1 },
      { op: 'act', id: 'relu', inputs: ['input'], act: { kind: 'relu' } },
      { op: 'output', id: 'output', inputs: ['relu'] },
    ],
    weights: {},
  };
  return exportOnnx(g, { inputShape: [1, 1] });
}

/** CPU provider, `threads` intra-op threads, one inter-op thread, all graph optimisations. */
export function sessionOptions(threads: number): OrtNode.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all', logSeverityLevel: 3,
  };
}

export interface OrtBackendOptions {
  /** onnxruntime's intra-op threads (default 1). */
  threads?: number;
  /** Sessions kept (one per input size, least recently used dropped first; default 8). */
  maxSessions?: number;
}

/**
 * Runs a graph with onnxruntime-node: NHWC float32 Tensor in, a new NHWC Tensor out. Each input
 * size gets its own fixed-shape session (exported with inputShape [H, W], batch 1, NHWC); a batch
 * of N runs as N frames. The same graph's results agree with runGraph to float32 rounding.
 */
export class OrtGraphBackend {
  readonly name = 'ort' as const;
  private readonly sessions: SizeCache<OrtNode.InferenceSession>;

  private constructor(
    readonly graph: Graph,
    private readonly ort: OrtNodeModule,
    readonly threads: number,
    maxSessions: number,
  ) {
    this.sessions = new SizeCache('ort backend', maxSessions,
      (H, W) => ort.InferenceSession.create(exportOnnx(graph, OrtGraphBackend.exportOptions(H, W)), sessionOptions(threads)), (s) => s.release());
  }

  /** Loads onnxruntime-node and checks that the graph can be exported (errors name the node). */
  static async create(g: Graph, o: OrtBackendOptions = {}): Promise<OrtGraphBackend> {
    validateGraph(g);
    const threads = o.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`mvsr: ort backend: threads must be a positive integer, got ${threads}`);
    const ort = await loadOrtNode();
    exportOnnx(g, { layout: 'nhwc', dynamic: true }); // unexportable nodes fail here, not on the first frame
    return new OrtGraphBackend(g, ort, threads, Math.max(1, o.maxSessions ?? 8));
  }

  /** Export options of the session for an H x W input. */
  static exportOptions(H: number, W: number): OnnxExportOptions {
    return { layout: 'nhwc', inputShape: [H, W] };
  }

  /** The session for H x W input frames (created on first use, then cached). */
  session(H: number, W: number): Promise<OrtNode.InferenceSession> {
    return this.sessions.get(H, W);
  }

  /** Input sizes with a cached session, least recently used first ("HxW"). */
  cachedSizes(): string[] {
    return this.sessions.sizes();
  }

  /** A one-input graph: NHWC in, its first output out. */
  run(x: Tensor): Promise<Tensor> {
    return runOneInput(this.graph, x, (i) => this.runNamed(i));
  }

  /** Named NHWC inputs (every input node's id) to a new tensor per output id; a batch of N runs as N frames. */
  async runNamed(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const ins = graphInputs(this.graph), outs = graphOutputs(this.graph);
    const { N, H, W, shapes } = namedInputs(this.graph, inputs);
    const s = await this.session(H, W);
    const frames: Record<string, Float32Array[]> = Object.fromEntries(outs.map((o) => [o.id, []]));
    for (let n = 0; n < N; n++) {
      const feeds: Record<string, OrtNode.Tensor> = {};
      for (const i of ins) {
        const x = inputs[i.id]!, per = x.size / N;
        // a copy out of the engine's shared memory (onnxruntime takes plain ArrayBuffers)
        feeds[i.id] = new this.ort.Tensor('float32', x.data.slice(n * per, (n + 1) * per), [1, ...x.shape.slice(1)]);
      }
      const res = await s.run(feeds);
      for (const o of outs) {
        const y = res[o.id];
        const [Ho, Wo, Co] = shapes.get(o.id)!;
        const d = y?.dims ?? [];
        if (d.length !== 4 || d[1] !== Ho || d[2] !== Wo || d[3] !== Co) {
          throw graphError(this.graph, o, `onnxruntime returned [${d.join(',')}] for output '${o.id}', expected [1,${Ho},${Wo},${Co}]`);
        }
        frames[o.id]!.push(y!.data as Float32Array);
      }
    }
    const result: Record<string, Tensor> = {};
    for (const o of outs) {
      const [Ho, Wo, Co] = shapes.get(o.id)!, per = Ho * Wo * Co;
      const t = Tensor.empty([N, Ho, Wo, Co]);
      frames[o.id]!.forEach((f, n) => t.data.set(f.subarray(0, per), n * per));
      result[o.id] = t;
    }
    return result;
  }

  /** Release every cached session. */
  dispose(): Promise<void> {
    return this.sessions.dispose();
  }
}

registerBackend('ort', async (g, o) => {
  const b = await OrtGraphBackend.create(g, { threads: o.threads ?? (await engineThreads()) });
  return { name: 'ort', threads: b.threads, graph: g, calibration: null, run: (x) => b.run(x), runNamed: (x) => b.runNamed(x), dispose: () => b.dispose() };
});
