// Fuzz driver: runs a target in a worker thread, watches for hangs (an input running longer than
// timeoutMs: the worker is terminated, the input regenerated from (seed, index) and reported,
// and a fresh worker continues after it), and collects deduplicated crashes.
import { Worker } from 'node:worker_threads';
import { TARGETS, fuzzTarget } from './targets.js';
import { mutate, programAt } from './mutate.js';
import { crashSignature } from './classify.js';

export interface FuzzCrash { index: number; reason: string; signature: string; stack: string; input: Uint8Array; count: number }
export interface FuzzResult { target: string; seed: number; execs: number; seconds: number; crashes: FuzzCrash[]; seeds: number }
export interface FuzzOptions { target: string; seconds: number; seed?: number; maxInputs?: number; timeoutMs?: number; memLimitMb?: number; onProgress?: (execs: number) => void }

export async function runFuzz(o: FuzzOptions): Promise<FuzzResult> {
  const target = fuzzTarget(o.target);
  if (!target) throw new Error(`mvsr: fuzz: unknown target '${o.target}' (known: ${Object.keys(TARGETS).join(', ')})`);
  const seed = o.seed ?? 1;
  const timeoutMs = o.timeoutMs ?? 2000;
  const t0 = Date.now();
  const deadline = t0 + o.seconds * 1000;
  const end = o.maxInputs ?? Number.MAX_SAFE_INTEGER;
  const crashes = new Map<string, FuzzCrash>();
  const record = (c: Omit<FuzzCrash, 'signature' | 'count'>): void => {
    const signature = crashSignature(c.reason);
    const old = crashes.get(signature);
    if (old) {
      old.count++;
      if (c.input.length < old.input.length) Object.assign(old, c, { signature, count: old.count }); // keep the smallest
    } else crashes.set(signature, { ...c, signature, count: 1 });
  };
  let seedsCached: Uint8Array[] | null = null;
  let start = 0;
  let lastIndex = -1;
  while (start < end && Date.now() < deadline) {
    const shared = new SharedArrayBuffer(24);
    const now = new Float64Array(shared);
    now[0] = start - 1;
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { target: o.target, seed, start, end, deadline, shared, memLimitMb: o.memLimitMb ?? 1024, timeoutMs },
      resourceLimits: { maxOldGenerationSizeMb: 2048 },
    });
    const next = await new Promise<number>((resolve) => {
      let settled = false;
      const finish = (n: number): void => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        resolve(n);
      };
      const timer = setInterval(() => {
        if (now[2] === 1 || now[1] === 0) return;
        const i = now[0]!;
        if (Date.now() - now[1]! > timeoutMs && i >= start) {
          void worker.terminate();
          seedsCached ??= target.seeds();
          record({ index: i, reason: `hang: input ran over ${timeoutMs} ms`, stack: '', input: mutate(seedsCached, programAt(seed, i), target) });
          finish(i + 1);
        }
      }, 50);
      worker.on('message', (m: { type: string; index?: number; next?: number; reason?: string; stack?: string; input?: Uint8Array }) => {
        if (m.type === 'crash') record({ index: m.index!, reason: m.reason!, stack: m.stack!, input: m.input! });
        else if (m.type === 'progress') o.onProgress?.(m.index! + 1 - 0);
        else if (m.type === 'done') finish(m.next!);
      });
      worker.on('error', (e: Error) => {
        // the worker died (out of memory, a throw outside the loop): blame the input in progress
        const i = now[0]!;
        seedsCached ??= target.seeds();
        record({ index: i, reason: `worker died: ${e.message.split('\n')[0]}`, stack: e.stack ?? '', input: i >= 0 ? mutate(seedsCached, programAt(seed, i), target) : new Uint8Array(0) });
        finish(Math.max(i + 1, start + 1));
      });
      worker.on('exit', () => finish(Math.max(now[0]! + 1, start)));
    });
    lastIndex = next - 1;
    start = next;
  }
  return { target: o.target, seed, execs: lastIndex + 1, seconds: (Date.now() - t0) / 1000, crashes: [...crashes.values()], seeds: (seedsCached ?? target.seeds()).length };
}
