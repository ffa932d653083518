// Worker side of the batch loader: load the source once (reporting progress), then build the
// asked-for batches one per macrotask (so 'drop' requests get in between) and transfer them.
import { sampleBatch, type Batch, type SrDataset } from './dataset.js';
import { loadSource, sourceInfo, type LoaderWorkerInit, type LoaderWorkerMessage, type LoaderWorkerRequest } from './loader.js';

const { parentPort, workerData } = await import('node:worker_threads');
if (!parentPort) throw new Error('mvsr: loader-worker.js must run as a worker thread');
const port = parentPort;
const init = workerData as LoaderWorkerInit;

function send(m: LoaderWorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

let ds: SrDataset | null = null;
let queue: number[] = [];
let scheduled = false;

function schedule(): void {
  if (scheduled || !ds || queue.length === 0) return;
  scheduled = true;
  setImmediate(pump);
}

function pump(): void {
  scheduled = false;
  const k = queue.shift();
  if (k === undefined || !ds) return;
  if (init.crashAt === k) throw new Error(`test crash at iteration ${k}`); // uncaught on purpose: the worker dies
  let b: Batch | null = null;
  try {
    b = sampleBatch(ds, k, init.sample);
  } catch (e) {
    send({ type: 'batchError', iteration: k, message: oneLine(e) });
  }
  if (b) {
    const bufs = [b.lr.buffer as ArrayBuffer, b.hr.buffer as ArrayBuffer, ...(b.target ? [b.target.buffer as ArrayBuffer] : [])];
    send({ type: 'batch', iteration: k, lr: b.lr, hr: b.hr, ...(b.target ? { target: b.target } : {}) }, bufs);
  }
  schedule();
}

port.on('message', (m: LoaderWorkerRequest) => {
  if (m.type === 'want') {
    for (const k of m.iterations) if (!queue.includes(k)) queue.push(k);
    schedule();
  } else if (m.type === 'drop') {
    const d = new Set(m.iterations);
    queue = queue.filter((k) => !d.has(k));
  }
});

try {
  const src = await loadSource(
    init.spec, init.sample.lrPatch,
    (done, total, name) => send({ type: 'progress', done, total, name }),
    (message) => send({ type: 'warning', message }),
  );
  ds = src;
  send({ type: 'ready', info: sourceInfo(src) });
  schedule();
} catch (e) {
  send({ type: 'error', message: oneLine(e) });
}
