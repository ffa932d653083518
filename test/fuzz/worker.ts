// Fuzz worker: runs inputs start, start+1, … of (target, seed) until the deadline or the input
// budget, publishing the input in progress and its start time in shared memory so the parent
// can detect a hang (a synchronous loop cannot be interrupted from inside).
import { parentPort, workerData } from 'node:worker_threads';
import { TARGETS, fuzzTarget } from './targets.js';
import { mutate, programAt } from './mutate.js';
import { crashReason } from './classify.js';

interface Data { target: string; seed: number; start: number; end: number; deadline: number; shared: SharedArrayBuffer; memLimitMb: number; timeoutMs: number }
// `node --test dist/test/` loads every file under the folder, this one included: outside a
// worker thread there is nothing to do.
if (parentPort === null) process.exit(0);
const d = workerData as Data;
const target = fuzzTarget(d.target)!;
const seeds = target.seeds();
const now = new Float64Array(d.shared); // [0] input index, [1] start time (ms), [2] done flag
const port = parentPort!;

for (let i = d.start; i < d.end && Date.now() < d.deadline; i++) {
  const input = mutate(seeds, programAt(d.seed, i), target);
  now[0] = i;
  now[1] = Date.now();
  let reason: string | null = null;
  let stack = '';
  try {
    await target.run(input);
  } catch (e) {
    reason = crashReason(e, target.accept);
    stack = e instanceof Error ? (e.stack ?? '').split('\n').slice(0, 6).join('\n') : '';
  }
  const elapsed = Date.now() - now[1]!;
  const ab = process.memoryUsage().arrayBuffers / 2 ** 20;
  if (!reason && elapsed > d.timeoutMs) reason = `slow: one input took ${elapsed} ms`;
  if (!reason && ab > d.memLimitMb) reason = `memory: ${ab.toFixed(0)} MB of ArrayBuffers after one input`;
  if (reason) port.postMessage({ type: 'crash', index: i, reason, stack, elapsed, input });
  if ((i & 1023) === 0) port.postMessage({ type: 'progress', index: i });
}
now[2] = 1;
port.postMessage({ type: 'done', next: Number(now[0]) + 1 });
