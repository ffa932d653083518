// Training batches prepared off the main thread: a worker loads and decodes the source once, then
// assembles the batches after the one asked for (prefetch) and transfers them (no copies).
// Batches are stateless (see dataset.ts), so any iteration can be asked for at any time: a
// resumed run simply starts asking at its iteration. `inline: true` does the same work in this
// thread, with identical batches.
import type { Batch, SampleOptions, SrDataset } from './dataset.js';
import { sampleBatch } from './dataset.js';
import type { CacheStats, FolderSource, HrFolderOptions, PairedFolderOptions } from './sources.node.js';
import type { VideoSourceOptions } from './videoSources.node.js';

type NoCallbacks<T> = Omit<T, 'onProgress' | 'onWarning'>;

/**
 * Where the training pairs come from; plain data, so it can be sent to a worker. `targetDir`: a
 * folder of distillation targets for the images (see targets.node.ts), cropped with the HR; a
 * missing or damaged one is a loading error, or with `missingTargets: 'report'` is listed in
 * LoaderInfo.missingTargets (a caller that makes them and loads again; no batch is drawn then).
 */
export type SourceSpec = (
  | { kind: 'hrFolder'; dirs: string | string[]; scale: number; options?: NoCallbacks<HrFolderOptions> }
  | { kind: 'paired'; gtDir: string; lqDir: string; scale: number; options?: NoCallbacks<PairedFolderOptions> }
  | { kind: 'videoFolder'; roots: string[]; scale: number; options?: NoCallbacks<VideoSourceOptions> }
) & { targetDir?: string; missingTargets?: 'error' | 'report' };

export interface LoaderOptions extends SampleOptions {
  /** Batches prepared ahead of the one asked for (default 3). */
  prefetch?: number;
  /** Load and sample in this thread instead of a worker (same batches). */
  inline?: boolean;
  /** Loading progress: called after each image. */
  onProgress?: (done: number, total: number, name: string) => void;
  /** Skipped images and cache problems, one line each. */
  onWarning?: (message: string) => void;
  /** Test hook: the worker throws an uncaught error when it reaches this iteration. */
  _crashAtIteration?: number;
}

export interface LoaderInfo {
  scale: number;
  names: string[];
  skipped: string[];
  stats: CacheStats;
  /** The items without a whole distillation target (`missingTargets: 'report'` only). */
  missingTargets: string[];
}

export interface BatchLoader {
  /** Resolves once the source is loaded; rejects with the loading error. */
  readonly ready: Promise<LoaderInfo>;
  /** Batch `iteration` (the caller owns its buffers); starts prefetching the ones after it. */
  next(iteration: number): Promise<Batch>;
  /** Stop the worker; pending and later `next` calls reject. */
  close(): Promise<void>;
}

/** Load a source in this thread (the worker calls this too). */
export async function loadSource(
  spec: SourceSpec, lrPatch: number,
  onProgress?: (done: number, total: number, name: string) => void, onWarning?: (m: string) => void,
): Promise<FolderSource & { missingTargets?: string[] }> {
  const src = await import('./sources.node.js');
  const cb = { onProgress, onWarning };
  let s: FolderSource;
  if (spec.kind === 'hrFolder') s = await src.hrFolderSource(spec.dirs, spec.scale, { lrPatch, ...spec.options, ...cb });
  else if (spec.kind === 'paired') s = await src.pairedFolderSource(spec.gtDir, spec.lqDir, spec.scale, { lrPatch, ...spec.options, ...cb });
  else if (spec.kind === 'videoFolder') s = await (await import('./videoSources.node.js')).videoFolderSource(spec.roots, spec.scale, { lrPatch, ...spec.options, ...cb });
  else throw new Error(`mvsr: batch loader: unknown source kind '${(spec as { kind: unknown }).kind}'`);
  if (!spec.targetDir) return s;
  const missingTargets = await (await import('./targets.node.js')).attachTargets(s, spec.targetDir, spec.missingTargets);
  return Object.assign(s, { missingTargets });
}

export function sourceInfo(s: FolderSource & { missingTargets?: string[] }): LoaderInfo {
  return { scale: s.scale, names: s.items.map((i) => i.name), skipped: s.skipped, stats: s.stats, missingTargets: s.missingTargets ?? [] };
}

function checkIteration(k: number): void {
  if (!Number.isSafeInteger(k) || k < 0) throw new Error(`mvsr: batch loader: iteration ${k} must be a non-negative integer`);
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/** Worker start-up data. */
export interface LoaderWorkerInit {
  spec: SourceSpec;
  sample: SampleOptions;
  crashAt: number | null;
}

/** Messages from the worker. */
export type LoaderWorkerMessage =
  | { type: 'progress'; done: number; total: number; name: string }
  | { type: 'warning'; message: string }
  | { type: 'ready'; info: LoaderInfo }
  | { type: 'error'; message: string }
  | { type: 'batch'; iteration: number; lr: Float32Array; hr: Float32Array; target?: Float32Array }
  | { type: 'batchError'; iteration: number; message: string };

/** Messages to the worker: prepare these iterations (in this order) / forget these if still queued. */
export type LoaderWorkerRequest = { type: 'want'; iterations: number[] } | { type: 'drop'; iterations: number[] };

function sampleOptions(o: LoaderOptions): SampleOptions {
  const { seed, batchSize, lrPatch, hflip, rot, channelShuffle, numFrame, temporalFlip, motion, minePatches } = o;
  return { seed, batchSize, lrPatch, hflip, rot, channelShuffle, numFrame, temporalFlip, motion, minePatches };
}

/** A batch loader over `spec`: a worker thread (Node) or, with `inline`, this thread. */
export function createBatchLoader(spec: SourceSpec, o: LoaderOptions): BatchLoader {
  const depth = o.prefetch ?? 3;
  if (!Number.isInteger(depth) || depth < 0) throw new Error(`mvsr: batch loader: prefetch ${depth} must be a non-negative integer`);
  return o.inline ? inlineLoader(spec, o) : new WorkerLoader(spec, o, depth);
}

function inlineLoader(spec: SourceSpec, o: LoaderOptions): BatchLoader {
  const sample = sampleOptions(o);
  let closed = false;
  const loaded: Promise<SrDataset & { info: LoaderInfo }> = loadSource(spec, sample.lrPatch, o.onProgress, o.onWarning)
    .then((s) => ({ ...s, info: sourceInfo(s) }));
  const ready = loaded.then((s) => s.info);
  ready.catch(() => {}); // reported through next() when nobody awaits ready
  return {
    ready,
    async next(iteration) {
      checkIteration(iteration);
      if (closed) throw new Error('mvsr: batch loader is closed');
      return sampleBatch(await loaded, iteration, sample);
    },
    async close() {
      closed = true;
    },
  };
}

interface Waiter {
  resolve: (b: Batch) => void;
  reject: (e: Error) => void;
}

interface AnyNodeWorker {
  postMessage(m: unknown): void;
  terminate(): Promise<number>;
  ref(): void;
  unref(): void;
  on(ev: 'message', f: (m: LoaderWorkerMessage) => void): void;
  on(ev: 'error', f: (e: Error) => void): void;
  on(ev: 'exit', f: (code: number) => void): void;
}

/** See WorkerLoader.watch. */
const REASK_MS = 30_000;

class WorkerLoader implements BatchLoader {
  readonly ready: Promise<LoaderInfo>;
  private resolveReady!: (i: LoaderInfo) => void;
  private rejectReady!: (e: Error) => void;
  private worker: Promise<AnyNodeWorker>;
  private buffered = new Map<number, Batch>();
  private waiters = new Map<number, Waiter[]>();
  /** Asked of the worker and not yet arrived. */
  private requested = new Set<number>();
  private anchor = 0;
  private loading = true;
  private failed: Error | null = null;
  private closed = false;

  constructor(spec: SourceSpec, private readonly o: LoaderOptions, private readonly depth: number) {
    this.ready = new Promise((res, rej) => {
      this.resolveReady = res;
      this.rejectReady = rej;
    });
    this.ready.catch(() => {});
    const init: LoaderWorkerInit = { spec, sample: sampleOptions(o), crashAt: o._crashAtIteration ?? null };
    this.worker = this.start(init);
    this.worker.catch((e) => this.fail(new Error(`mvsr: batch loader: cannot start the worker: ${oneLine(e)}`)));
  }

  private async start(init: LoaderWorkerInit): Promise<AnyNodeWorker> {
    const isNode = typeof process !== 'undefined' && process.versions?.node != null;
    if (!isNode) throw new Error('worker loading needs Node (use inline: true)');
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(new URL('./loader-worker.js', import.meta.url), { workerData: init }) as unknown as AnyNodeWorker;
    w.on('message', (m) => this.onMessage(m));
    w.on('error', (e) => this.fail(new Error(`mvsr: batch loader worker failed: ${oneLine(e).replace(/^mvsr: /, '')}`)));
    w.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`mvsr: batch loader worker exited unexpectedly (code ${code})`));
    });
    if (this.closed) void w.terminate();
    return w;
  }

  /** Keep the process alive only while someone waits on the worker. */
  private updateRef(w: AnyNodeWorker): void {
    if (this.loading || this.waiters.size > 0) w.ref();
    else w.unref();
  }

  private post(m: LoaderWorkerRequest): void {
    void this.worker.then((w) => {
      if (!this.closed && !this.failed) w.postMessage(m);
    }, () => {});
  }

  private onMessage(m: LoaderWorkerMessage): void {
    if (this.closed || this.failed) return;
    switch (m.type) {
      case 'progress':
        this.o.onProgress?.(m.done, m.total, m.name);
        return;
      case 'warning':
        this.o.onWarning?.(m.message);
        return;
      case 'ready':
        this.loading = false;
        this.resolveReady(m.info);
        break;
      case 'error':
        this.fail(new Error(m.message));
        return;
      case 'batch': {
        this.requested.delete(m.iteration);
        const ws = this.waiters.get(m.iteration);
        const { type: _t, iteration: _i, ...b } = m;
        if (ws) {
          this.waiters.delete(m.iteration);
          ws.forEach((w, i) => w.resolve(i === 0 ? b : { lr: b.lr.slice(), hr: b.hr.slice(), ...(b.target ? { target: b.target.slice() } : {}) }));
        } else if (m.iteration >= this.anchor && m.iteration <= this.anchor + this.depth) {
          this.buffered.set(m.iteration, b);
        }
        break;
      }
      case 'batchError': {
        this.requested.delete(m.iteration);
        const ws = this.waiters.get(m.iteration) ?? [];
        this.waiters.delete(m.iteration);
        for (const w of ws) w.reject(new Error(m.message));
        break;
      }
    }
    void this.worker.then((w) => this.updateRef(w), () => {});
  }

  private fail(e: Error): void {
    if (this.failed || this.closed) return;
    this.failed = e;
    this.loading = false;
    this.rejectReady(e);
    for (const ws of this.waiters.values()) for (const w of ws) w.reject(e);
    this.waiters.clear();
    this.buffered.clear();
    void this.worker.then((w) => w.terminate(), () => {});
  }

  next(iteration: number): Promise<Batch> {
    try {
      checkIteration(iteration);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error('mvsr: batch loader is closed'));
    const from = iteration, to = iteration + this.depth;
    this.anchor = iteration;
    for (const k of this.buffered.keys()) if (k < from || k > to) this.buffered.delete(k);
    // after a jump, queued work for the old position is useless; what is in flight is dropped on arrival
    const drop = [...this.requested].filter((k) => (k < from || k > to) && !this.waiters.has(k));
    if (drop.length) {
      for (const k of drop) this.requested.delete(k);
      this.post({ type: 'drop', iterations: drop });
    }
    let p: Promise<Batch>;
    const have = this.buffered.get(iteration);
    if (have) {
      this.buffered.delete(iteration);
      p = Promise.resolve(have);
    } else {
      p = new Promise((resolve, reject) => {
        const ws = this.waiters.get(iteration) ?? [];
        ws.push({ resolve, reject });
        this.waiters.set(iteration, ws);
      });
      this.watch(iteration);
    }
    const want: number[] = [];
    for (let k = from; k <= to; k++) {
      if (!this.buffered.has(k) && !this.requested.has(k) && (k !== iteration || !have)) want.push(k);
    }
    for (const k of want) this.requested.add(k);
    if (want.length) this.post({ type: 'want', iterations: want });
    void this.worker.then((w) => this.updateRef(w), () => {});
    return p;
  }

  /**
   * Watchdog: a waited-for batch that has not arrived after REASK_MS (once loading is done) is
   * asked for again. Batches are a pure function of (seed, iteration), so asking twice is safe;
   * it turns a lost request into a short delay instead of a hung training run.
   */
  private watch(iteration: number): void {
    const t = setTimeout(() => {
      if (this.closed || this.failed || !this.waiters.has(iteration)) return;
      if (!this.loading) {
        this.o.onWarning?.(`batch ${iteration} did not arrive within ${REASK_MS / 1000} s; asking the loader worker again`);
        this.requested.add(iteration);
        this.post({ type: 'want', iterations: [iteration] });
      }
      this.watch(iteration);
    }, REASK_MS);
    t.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const e = new Error('mvsr: batch loader is closed');
    for (const ws of this.waiters.values()) for (const w of ws) w.reject(e);
    this.waiters.clear();
    this.buffered.clear();
    if (this.loading) this.rejectReady(e);
    const w = await this.worker.catch(() => null);
    if (w) await w.terminate();
  }
}
