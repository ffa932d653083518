// Streaming a clip through a step graph (browser-safe): LR frames go in one at a time and HR
// frames come out as soon as the graph has what it needs, with the recurrent state carried from
// step to step as tensors on the backend's side. Latency and memory are bounded by the window
// and the chunk: a causal model with `future` frames of look-ahead answers `future` frames
// late; a bidirectional one (SWRN, chunk L) answers once L + future frames are in. An image
// graph streams as a step graph of one frame, no window and no state.
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { yieldToEventLoop } from '../tensor/platform.js';
import { type Graph, type VideoStepMeta, graphInputs, inputNode, outputNode, windowIndices } from '../graph/ir.js';
import { createBackend, type Backend, type CreateBackendOptions } from './backend.js';

/** What a stream runs: the step graph for `count` frames (count <= chunk), built on demand. */
export interface StepGraphSource {
  /** Frames per step: 1 for causal models and image graphs. */
  chunk: number;
  graph(count: number): Graph;
}

/** The step description of a graph: its meta.video, or an image graph's one frame in and out. */
export function stepMeta(g: Graph): VideoStepMeta {
  return g.meta.video ?? { window: { past: 0, future: 0 }, count: 1, frames: [inputNode(g).id], outputs: [outputNode(g).id], state: [] };
}

export interface StreamCallOptions {
  signal?: AbortSignal;
}

function aborted(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('mvsr: aborted');
}

export class VideoStream {
  private readonly backends = new Map<number, Promise<Backend>>();
  /** LR frames from index `base` on: the look-behind still needed and the frames not yet upscaled. */
  private frames: Tensor[] = [];
  private base = 0;
  private pushed = 0;
  private next = 0;
  private state: Record<string, Tensor> | null = null;
  /** The backend keeping the state itself (runResident), false when the stream carries it, null before the first step. */
  private resident: Backend | false | null = null;
  private frameShape: readonly number[] | null = null;
  readonly meta: VideoStepMeta;
  readonly scale: number;

  private readonly chunkGraph: Graph;

  /** The graph of a full step is built now (errors show here); backends are created on first use. */
  constructor(private readonly source: StepGraphSource, private readonly options: CreateBackendOptions = {}) {
    this.chunkGraph = source.graph(source.chunk);
    this.meta = stepMeta(this.chunkGraph);
    this.scale = this.chunkGraph.meta.scale;
  }

  /** Frames between pushing a frame and getting it back (before flush): the look-ahead a stream must wait for. */
  get latency(): number {
    return this.meta.window.future + this.source.chunk - 1;
  }

  /** LR frames held at most (look-behind + chunk + look-ahead), the memory bound besides the state. */
  get framesHeld(): number {
    return this.meta.window.past + this.source.chunk + this.meta.window.future;
  }

  /** The backend of the full-chunk step. */
  backend(): Promise<Backend> {
    return this.backendFor(this.source.chunk);
  }

  private backendFor(count: number): Promise<Backend> {
    let b = this.backends.get(count);
    if (!b) {
      const [, H, W] = this.frameShape ?? [1, 1, 1]; // 'auto' calibrates on the clip's frame size
      b = createBackend(count === this.source.chunk ? this.chunkGraph : this.source.graph(count), { H, W, ...this.options });
      this.backends.set(count, b);
    }
    return b;
  }

  /** Feed the next LR frame ([1,H,W,C], owned by the stream from now on); returns the HR frames that became ready, in order. */
  async push(frame: Tensor, o: StreamCallOptions = {}): Promise<Tensor[]> {
    if (o.signal?.aborted) {
      frame.dispose();
      throw aborted(o.signal);
    }
    if (!this.frameShape) this.frameShape = frame.shape;
    else if (frame.shape.join() !== this.frameShape.join()) {
      const got = shapeStr(frame.shape);
      frame.dispose();
      throw new Error(`mvsr: video: frame ${this.pushed + 1} is ${got}, the clip's first frame was ${shapeStr(this.frameShape)}`);
    }
    this.pushed++;
    this.frames.push(frame);
    return this.drain(false, o);
  }

  /** The clip ended: returns the frames still held (the last frames' look-ahead replicates the last frame) and resets for a new clip. */
  async flush(o: StreamCallOptions = {}): Promise<Tensor[]> {
    try {
      return await this.drain(true, o);
    } finally {
      this.reset();
    }
  }

  /** Start a new clip: drop held frames and the recurrent state. */
  reset(): void {
    for (const t of Object.values(this.state ?? {})) t.dispose();
    this.resident = null;
    for (const p of this.backends.values()) void p.then((b) => b.resetState?.(), () => undefined);
    for (const t of this.frames) t.dispose();
    this.state = null;
    this.frames = [];
    this.base = this.pushed = this.next = 0;
    this.frameShape = null;
  }

  private async drain(ended: boolean, o: StreamCallOptions): Promise<Tensor[]> {
    const { chunk } = this.source, { future } = this.meta.window;
    const out: Tensor[] = [];
    try {
      for (;;) {
        const left = this.pushed - this.next;
        let count: number;
        if (chunk > 1) count = left >= chunk + future ? chunk : ended ? Math.min(chunk, left) : 0;
        else count = ended ? left : Math.max(0, left - future);
        if (count <= 0) break;
        if (o.signal?.aborted) throw aborted(o.signal);
        // a causal graph runs frame by frame; a chunked one a chunk (the clip's last may be shorter)
        const step = chunk > 1 ? count : 1;
        out.push(...(await this.step(step, ended)));
        // let abort signals and progress rendering through between steps
        await yieldToEventLoop();
      }
    } catch (e) {
      for (const t of out) t.dispose();
      throw e;
    }
    return out;
  }

  private async step(count: number, ended: boolean): Promise<Tensor[]> {
    const b = await this.backendFor(count);
    const m = stepMeta(b.graph);
    // indices into the clip as far as it is known: clamped at 0 and (when ended) at the last frame
    const idx = windowIndices(this.pushed, this.next, count, m.window);
    if (!ended && idx.at(-1)! !== this.next + count + m.window.future - 1) throw new Error('mvsr: video: internal: look-ahead not available');
    const inputs: Record<string, Tensor> = {};
    m.frames.forEach((id, i) => { inputs[id] = this.frames[idx[i]! - this.base]!; });
    // a backend that keeps the state (on the GPU) does so when every step runs on it
    this.resident ??= m.state.length > 0 && this.source.chunk === 1 && b.runResident !== undefined ? b : false;
    if (this.resident === b) {
      let r: Record<string, Tensor>;
      try {
        r = await b.runResident!(inputs);
      } catch (e) {
        this.reset();
        throw e;
      }
      return this.finishStep(b, m, count, r);
    }
    if (!this.state) {
      const [N, H, W] = this.frameShape as [number, number, number, number];
      this.state = {};
      for (const st of m.state) {
        const n = graphInputs(b.graph).find((x) => x.id === st.input)!, k = n.scale ?? 1;
        this.state[st.input] = Tensor.zeros([N, H * k, W * k, n.channels]);
      }
    }
    for (const st of m.state) inputs[st.input] = this.state[st.input]!;
    let r: Record<string, Tensor>;
    try {
      r = await b.runNamed(inputs);
    } catch (e) {
      this.reset(); // the state is gone with the failed step
      throw e;
    }
    for (const st of m.state) {
      this.state[st.input]!.dispose();
      this.state[st.input] = r[st.output]!;
    }
    return this.finishStep(b, m, count, r);
  }

  /** The HR frames of a step, checked; the look-behind no longer needed is dropped. */
  private finishStep(b: Backend, m: VideoStepMeta, count: number, r: Record<string, Tensor>): Tensor[] {
    const s = this.scale;
    const outs = m.outputs.map((id) => r[id]!);
    const [, H, W] = this.frameShape as [number, number, number, number];
    for (const y of outs) {
      if (y.shape[1] !== H * s || y.shape[2] !== W * s) {
        for (const t of outs) t.dispose();
        throw new Error(`mvsr: video: ${b.graph.meta.arch} mapped a ${H}x${W} frame to ${shapeStr(y.shape)}, expected x${s}`);
      }
    }
    this.next += count;
    // keep only the look-behind the next step reads
    const keepFrom = Math.max(0, this.next - m.window.past);
    for (const t of this.frames.splice(0, keepFrom - this.base)) t.dispose();
    this.base = keepFrom;
    return outs;
  }

  async dispose(): Promise<void> {
    this.reset();
    const all = [...this.backends.values()];
    this.backends.clear();
    for (const p of all) await (await p.catch(() => null))?.dispose();
  }
}
