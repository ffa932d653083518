// Thread pool over one shared WebAssembly.Memory. Every kernel takes (tid, nt) as its last two
// arguments and does its own share of the work; the calling thread runs share 0 itself.
// Commands travel through a small SharedArrayBuffer: the caller bumps a generation number, each
// worker runs its share of that generation and acknowledges it in its own slot, and the caller
// waits until every participant has acknowledged this generation. Per-worker acknowledgements
// (rather than one shared countdown) cannot be confused by a late or repeated acknowledgement,
// and the caller always waits for its workers, even when its own share throws.
import { isNode } from './platform.js';

export const CTRL_GEN = 0, CTRL_FN = 2, CTRL_NARGS = 3, CTRL_STOP = 4, CTRL_NT = 5, CTRL_ERR = 6;
/** Int32 slot of worker `tid`'s last completed generation. */
export const CTRL_DONE = 16;
export const MAX_THREADS = 256;
export const MAX_ARGS = 32;
const INTS = CTRL_DONE + MAX_THREADS;
export const ARGS_OFFSET = INTS * 4;
export const CTRL_BYTES = ARGS_OFFSET + 8 * MAX_ARGS;
/** A kernel share that runs this long means a worker thread is gone: fail instead of hanging. */
const STALL_SECONDS = 300;

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
  tid: number;
}

interface AnyWorker {
  postMessage(m: unknown): void;
  terminate(): unknown;
}

export class ThreadPool {
  readonly ctrl: Int32Array;
  readonly args: Float64Array;
  private workers: AnyWorker[] = [];
  /** Atomics.wait is forbidden on a browser's main thread: spin there instead. */
  private readonly canBlock: boolean;

  private constructor(readonly size: number, readonly sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab, 0, INTS);
    this.args = new Float64Array(sab, ARGS_OFFSET, MAX_ARGS);
    this.canBlock = isNode || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
  }

  static async create(size: number, module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<ThreadPool> {
    if (size > MAX_THREADS) throw new Error(`mvsr: at most ${MAX_THREADS} threads, asked for ${size}`);
    const pool = new ThreadPool(size, new SharedArrayBuffer(CTRL_BYTES));
    const url = new URL('./worker.js', import.meta.url);
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < size; tid++) {
      const init: WorkerInit = { module, memory, ctrl: pool.sab, tid };
      if (isNode) {
        const { Worker } = await import('node:worker_threads');
        const w = new Worker(url, { workerData: init });
        w.unref(); // an idle pool must not keep the process alive
        ready.push(new Promise((res, rej) => {
          w.once('message', () => res());
          w.once('error', rej);
        }));
        pool.workers.push(w);
      } else {
        const w = new Worker(url, { type: 'module' });
        ready.push(new Promise((res, rej) => {
          w.onmessage = () => res();
          w.onerror = (e) => rej(new Error(`mvsr worker failed: ${e.message}`));
        }));
        w.postMessage(init);
        pool.workers.push(w);
      }
    }
    await Promise.all(ready);
    return pool;
  }

  /** Run fn(...args, tid, nt) on nt threads (the caller is thread 0) and wait for all. */
  run(fnIndex: number, fn: (...a: number[]) => void, args: readonly number[], nt: number): void {
    if (nt <= 1 || this.size <= 1) {
      fn(...args, 0, 1);
      return;
    }
    nt = Math.min(nt, this.size);
    const c = this.ctrl;
    for (let i = 0; i < args.length; i++) this.args[i] = args[i]!;
    c[CTRL_FN] = fnIndex;
    c[CTRL_NARGS] = args.length;
    c[CTRL_NT] = nt;
    const gen = (Atomics.add(c, CTRL_GEN, 1) + 1) | 0;
    Atomics.notify(c, CTRL_GEN);
    let failure: unknown = null;
    try {
      fn(...args, 0, nt);
    } catch (e) {
      failure = e; // still wait: the workers are using this job's arguments and memory
    }
    for (let tid = 1; tid < nt; tid++) {
      let waited = 0;
      for (;;) {
        const done = Atomics.load(c, CTRL_DONE + tid);
        if (done === gen) break;
        if (!this.canBlock) continue;
        if (Atomics.wait(c, CTRL_DONE + tid, done, 1000) === 'timed-out' && ++waited >= STALL_SECONDS) {
          throw new Error(`mvsr: worker thread ${tid} stopped responding (a kernel has not finished in ${STALL_SECONDS} s); the engine cannot continue`);
        }
      }
    }
    if (failure) throw failure;
    if (c[CTRL_ERR]) {
      c[CTRL_ERR] = 0;
      throw new Error('mvsr: a kernel failed on a worker thread (see stderr)');
    }
  }

  terminate(): void {
    Atomics.store(this.ctrl, CTRL_STOP, 1);
    Atomics.add(this.ctrl, CTRL_GEN, 1);
    Atomics.notify(this.ctrl, CTRL_GEN);
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}
