// The consumer side of the Redis queue: a BullMQ worker that runs upscale jobs from the shared
// filesystem, checks the model by content hash, reports tile progress, writes outputs atomically
// and records each complete output so a job run again (after a crash or `queue clean`) does nothing.
import { mkdirSync, existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ensureEngine } from '../tensor/engine.js';
import { decodeImage, writePngStream } from '../io/image.node.js';
import { resolveModel } from '../api/models.node.js';
import { Upscaler } from '../api/upscaler.js';
import { modelFile, sha256File, sha256Hex, type JobData, type JobResult, type UpscaleJobData } from './jobs.node.js';
import { connectRedis, DONE_KEY, QUEUE_NAME } from './queue.node.js';

export interface StartWorkerOptions {
  url?: string;
  /** Jobs run at once by this process (default 1). */
  concurrency?: number;
  /** Engine threads (default: all cores). */
  threads?: number;
  /** BullMQ lock duration (ms, default 30000): a worker that dies leaves its job to others after about this long. */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (ms, default 30000). */
  stalledIntervalMs?: number;
  /** A line per job event (default: none). */
  log?: (line: string) => void;
}

export interface RunningWorker {
  worker: Worker<JobData, JobResult>;
  /** Stop taking jobs, let the active ones finish, disconnect. */
  close(): Promise<void>;
}

const PERMANENT_READ = new Set(['ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES', 'EPERM']);

/** A failure that retrying cannot fix: BullMQ fails the job at once, without further attempts. */
function permanent(job: Job<JobData, JobResult>, problem: string): UnrecoverableError {
  return new UnrecoverableError(`mvsr worker: job ${job.id}: ${problem}`);
}

const modelHashCache = new Map<string, string>();

/** SHA-256 of a model file, cached by path, size and mtime. */
async function cachedSha256(file: string): Promise<string> {
  const st = statSync(file);
  const key = `${file}\0${st.size}\0${st.mtimeMs}`;
  let h = modelHashCache.get(key);
  if (!h) modelHashCache.set(key, (h = await sha256File(file)));
  return h;
}

async function runUpscale(job: Job<JobData, JobResult>, d: UpscaleJobData, redis: Redis): Promise<JobResult> {
  const t0 = performance.now();
  // an output already complete for this job id: nothing to do
  const doneJson = await redis.hget(DONE_KEY, job.id!);
  if (doneJson && existsSync(d.output)) {
    const done = JSON.parse(doneJson) as JobResult;
    if (done.output === d.output && (await sha256File(d.output)) === done.sha256) return { ...done, seconds: 0, skipped: true };
  }
  // the input, as it was when the job was added
  let bytes: Uint8Array;
  try {
    bytes = await readFile(d.input);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code || (e as Error).message})`;
    if (PERMANENT_READ.has(code)) throw permanent(job, `${d.input}: ${why}`);
    throw new Error(`mvsr worker: job ${job.id}: ${d.input}: ${why}`);
  }
  if (sha256Hex(bytes) !== d.inputSha256) throw permanent(job, `${d.input}: the file changed since the job was added (SHA-256 differs)`);
  let img;
  try {
    img = await decodeImage(bytes);
  } catch (e) {
    throw permanent(job, `${d.input}: ${(e as Error).message.replace(/^mvsr: /, '')}`);
  }
  // the model, by content hash
  const m = d.model;
  let file: string | null;
  try {
    file = modelFile(m.spec, m.scale);
  } catch (e) {
    throw permanent(job, (e as Error).message.replace(/^mvsr: /, ''));
  }
  const have = file ? await cachedSha256(file) : sha256Hex(m.spec.toLowerCase());
  if (have !== m.sha256) {
    throw permanent(job, `model ${m.spec}${file && file !== m.spec ? ` (${file})` : ''} has SHA-256 ${have.slice(0, 12)}…, the job was added with ${m.sha256.slice(0, 12)}…: refusing to run another model`);
  }
  let model;
  try {
    model = resolveModel(file ?? m.spec, { arch: m.arch, args: m.args, scale: m.scale });
  } catch (e) {
    throw permanent(job, (e as Error).message.replace(/^mvsr: /, ''));
  }
  if (m.scale !== undefined && model.scale !== m.scale) {
    model.dispose();
    throw permanent(job, `${m.spec} upscales x${model.scale}, not x${m.scale}`);
  }
  const up = new Upscaler(model, { tile: d.options.tile, halo: d.options.halo, backend: d.options.backend });
  try {
    const info = up.outputInfo(img);
    let last = 0;
    const progress = (done: number, total: number) => {
      const now = performance.now();
      if (done < total && now - last < 200) return;
      last = now;
      job.updateProgress({ done, total }).catch(() => {});
    };
    const rows = (async function* () {
      for await (const b of up.upscaleRows(img, { onProgress: progress })) yield b.data;
    })();
    mkdirSync(dirname(d.output), { recursive: true });
    await writePngStream(d.output, info.width, info.height, info.channels, info.bitDepth, rows);
    const result: JobResult = {
      output: d.output, sha256: await sha256File(d.output), width: info.width, height: info.height,
      seconds: (performance.now() - t0) / 1000, skipped: false,
    };
    await redis.hset(DONE_KEY, job.id!, JSON.stringify(result));
    return result;
  } finally {
    await up.dispose();
  }
}

/** Start a worker on the mvsr queue (fails with one line when Redis cannot be reached). */
export async function startWorker(o: StartWorkerOptions = {}): Promise<RunningWorker> {
  const redis = await connectRedis('worker', { url: o.url, persistent: true });
  await ensureEngine({ threads: o.threads });
  const log = o.log ?? (() => {});
  const worker = new Worker<JobData, JobResult>(
    QUEUE_NAME,
    async (job) => {
      const d = job.data;
      if (d.command !== 'upscale') throw permanent(job, `unknown command "${String((d as { command?: unknown }).command)}"`);
      return runUpscale(job, d, redis);
    },
    {
      connection: redis, concurrency: o.concurrency ?? 1, autorun: true, name: `${hostname()}:${process.pid}`,
      lockDuration: o.lockDurationMs ?? 30_000, stalledInterval: o.stalledIntervalMs ?? 30_000,
    },
  );
  worker.on('completed', (job, r) => log(`${job.id} ${r.skipped ? 'already complete' : `done in ${r.seconds.toFixed(2)} s`}: ${job.data.input} -> ${r.output} (${r.width}x${r.height})`));
  worker.on('failed', (job, e) => {
    const final = !job || e instanceof UnrecoverableError || e.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    log(`${job?.id ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'}${final ? ', final' : ', will retry'}): ${e.message.replace(/^mvsr worker: job \S+: /, '')}`);
  });
  worker.on('error', (e) => log(`worker error: ${e.message}`));
  await worker.waitUntilReady();
  let closing: Promise<void> | null = null;
  return {
    worker,
    close() {
      closing ??= (async () => {
        await worker.close();
        redis.disconnect();
      })();
      return closing;
    },
  };
}
