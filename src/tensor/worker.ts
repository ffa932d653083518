// Worker side of the thread pool: instantiate the kernels over the shared memory, then sleep
// until the main thread posts a command, run our share, and count down.
import { isNode } from './platform.js';
import { CTRL_GEN, CTRL_DONE, CTRL_FN, CTRL_NARGS, CTRL_STOP, CTRL_NT, CTRL_ERR, ARGS_OFFSET, MAX_ARGS, type WorkerInit } from './pool.js';
import { kernelNames } from './kernel-names.js';

function serve(init: WorkerInit, ready: () => void): void {
  const inst = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  const fns = kernelNames(inst.exports).map((n) => inst.exports[n] as (...a: number[]) => void);
  const ctrl = new Int32Array(init.ctrl, 0, ARGS_OFFSET / 4);
  const args = new Float64Array(init.ctrl, ARGS_OFFSET, MAX_ARGS);
  const tid = init.tid;
  let gen = Atomics.load(ctrl, CTRL_GEN);
  ready();
  for (;;) {
    Atomics.wait(ctrl, CTRL_GEN, gen);
    gen = Atomics.load(ctrl, CTRL_GEN);
    if (Atomics.load(ctrl, CTRL_STOP)) return;
    const nt = ctrl[CTRL_NT]!;
    if (tid >= nt) continue;
    const nargs = ctrl[CTRL_NARGS]!;
    const a: number[] = new Array(nargs + 2);
    for (let i = 0; i < nargs; i++) a[i] = args[i]!;
    a[nargs] = tid;
    a[nargs + 1] = nt;
    try {
      fns[ctrl[CTRL_FN]!]!(...a);
    } catch (e) {
      console.error(`mvsr worker ${tid}:`, e);
      Atomics.store(ctrl, CTRL_ERR, 1);
    }
    // acknowledge exactly this generation in our own slot
    Atomics.store(ctrl, CTRL_DONE + tid, gen);
    Atomics.notify(ctrl, CTRL_DONE + tid);
  }
}

if (isNode) {
  const { parentPort, workerData } = await import('node:worker_threads');
  serve(workerData as WorkerInit, () => parentPort!.postMessage('ready'));
} else {
  const scope = globalThis as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };
  scope.onmessage = (e: MessageEvent) => {
    scope.onmessage = null;
    serve(e.data as WorkerInit, () => scope.postMessage('ready'));
  };
}
