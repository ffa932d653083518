// The consumer side of the Redis queue: a BullMQ worker that runs jobs from the shared filesystem
// (image upscales, video segments and their join, and eval / eval-video / export / quantize as
// child `mvsr` processes), checks the model and inputs by content hash, reports progress, writes
// outputs atomically and records each complete output so a job run again (after a crash or
// `queue clean`) does nothing.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ensureEngine } from '../tensor/engine.js';
import { decodeImage, writePngStream } from '../io/image.node.js';
import { resolveModel, resolveAnyModel } from '../api/models.node.js';
import { Upscaler } from '../api/upscaler.js';
import { VideoUpscaler } from '../api/video.js';
import { writeFileAtomic } from '../export/write.node.js';
import type { SRModel } from '../models/registry.js';
import type { VideoSRModel } from '../models/vsr.js';
import {
  modelFile, sha256File, sha256Hex, sha256Path, jobInput, COMMAND_JOBS,
  type JobData, type JobModel, type JobResult, type UpscaleJobData, type SegmentJobData, type VideoJobData, type CommandJobData, type FileStamp,
} from './jobs.node.js';
import { connectRedis, segmentJobs, DONE_KEY, QUEUE_NAME } from './queue.node.js';
import { upscaleSegment, joinSegments, removeSegments } from './segments.node.js';
import { makeDirs } from '../io/files.node.js';

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
  /** The name jobs record as their worker (default host:pid). */
  name?: string;
  /** A line per job event (default: none). */
  log?: (line: string) => void;
}

export interface RunningWorker {
  worker: Worker<JobData, JobResult>;
  /** Stop taking jobs, let the active ones finish, disconnect. */
  close(): Promise<void>;
}

const PERMANENT_READ = new Set(['ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES', 'EPERM']);
/** Failures a retry can get past (disk full, I/O, resources). */
const TRANSIENT = /\b(ENOSPC|EIO|EAGAIN|EMFILE|ENFILE|ENOMEM|EBUSY|ETIMEDOUT|ECONNRESET|EDQUOT)\b/;

/** A read of `file` that failed: permanent when the file is missing or unreadable, else one a retry may get past. */
function readFailure(job: Job<JobData, JobResult>, file: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code || (e as Error).message})`;
  if (PERMANENT_READ.has(code)) return permanent(job, `${file}: ${why}`);
  return new Error(`mvsr worker: job ${job.id}: ${file}: ${why}`);
}

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

/** The file of the job's model, checked against the hash the job was added with (permanent failures otherwise). */
async function checkModel(job: Job<JobData, JobResult>, m: JobModel): Promise<string | null> {
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
  return file;
}

/** The result recorded for this job id when its output is still there unchanged (a folder output: still there), else null. */
async function alreadyDone(job: Job<JobData, JobResult>, redis: Redis, output?: string): Promise<JobResult | null> {
  const json = await redis.hget(DONE_KEY, job.id!);
  if (!json) return null;
  const done = JSON.parse(json) as JobResult;
  if (output !== undefined) {
    if (done.output !== output || !existsSync(output)) return null;
    if (done.sha256 !== undefined && (await sha256File(output)) !== done.sha256) return null;
  }
  return { ...done, seconds: 0, skipped: true };
}

/** Record a complete job; an eval's report is kept in the record only when no file holds it. */
async function recordDone(job: Job<JobData, JobResult>, redis: Redis, r: JobResult): Promise<JobResult> {
  const { report, ...kept } = r;
  await redis.hset(DONE_KEY, job.id!, JSON.stringify(r.output === undefined ? { ...kept, report } : kept));
  return r;
}

/** A size and mtime check of an input too large to hash per job. */
function checkStamp(job: Job<JobData, JobResult>, file: string, stamp: FileStamp): void {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw readFailure(job, file, e);
  }
  if (st.size !== stamp.size || st.mtimeMs !== stamp.mtimeMs) throw permanent(job, `${file}: the file changed since the job was added (size or modification time differs)`);
}

/** Progress reports at most every 200 ms (and the last one). */
function progressReporter(job: Job<JobData, JobResult>): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - last < 200) return;
    last = now;
    job.updateProgress({ done, total }).catch(() => {});
  };
}

/**
 * Upscalers kept between jobs, by model hash and options: the jobs of a video (its segments) or
 * of an image folder reuse one compiled model instead of loading and compiling it per job.
 */
class UpscalerPool {
  private readonly idle = new Map<string, (Upscaler | VideoUpscaler)[]>();
  private order: string[] = [];
  constructor(private readonly maxIdle: number) {}

  take<T extends Upscaler | VideoUpscaler>(key: string, create: () => T): T {
    const list = this.idle.get(key);
    const u = list?.pop();
    if (u) return u as T;
    return create();
  }

  async give(key: string, u: Upscaler | VideoUpscaler): Promise<void> {
    const list = this.idle.get(key) ?? [];
    list.push(u);
    this.idle.set(key, list);
    this.order = [...this.order.filter((k) => k !== key), key];
    let n = [...this.idle.values()].reduce((a, l) => a + l.length, 0);
    while (n > this.maxIdle) {
      const oldest = this.order.find((k) => this.idle.get(k)?.length)!;
      await this.idle.get(oldest)!.shift()!.dispose();
      n--;
    }
  }

  async dispose(): Promise<void> {
    for (const l of this.idle.values()) for (const u of l) await u.dispose();
    this.idle.clear();
  }
}

const poolKey = (kind: string, m: JobModel, o: { tile?: number; halo?: number; backend?: string }) =>
  JSON.stringify([kind, m.sha256, m.arch, m.args, m.scale, o.tile, o.halo, o.backend]);

/** Load the job's model (after its hash was checked), as an image model or one of either kind. */
function loadModel(job: Job<JobData, JobResult>, file: string | null, m: JobModel, video: boolean): SRModel | VideoSRModel {
  let model;
  try {
    const req = { arch: m.arch, args: m.args, scale: m.scale };
    model = video ? resolveAnyModel(file ?? m.spec, req) : resolveModel(file ?? m.spec, req);
  } catch (e) {
    throw permanent(job, (e as Error).message.replace(/^mvsr: /, ''));
  }
  if (m.scale !== undefined && model.scale !== m.scale) {
    model.dispose();
    throw permanent(job, `${m.spec} upscales x${model.scale}, not x${m.scale}`);
  }
  return model;
}

async function runUpscale(job: Job<JobData, JobResult>, d: UpscaleJobData, redis: Redis, pool: UpscalerPool): Promise<JobResult> {
  const t0 = performance.now();
  const done = await alreadyDone(job, redis, d.output);
  if (done) return done;
  // the input, as it was when the job was added
  let bytes: Uint8Array;
  try {
    bytes = await readFile(d.input);
  } catch (e) {
    throw readFailure(job, d.input, e);
  }
  if (sha256Hex(bytes) !== d.inputSha256) throw permanent(job, `${d.input}: the file changed since the job was added (SHA-256 differs)`);
  let img;
  try {
    img = await decodeImage(bytes);
  } catch (e) {
    throw permanent(job, `${d.input}: ${(e as Error).message.replace(/^mvsr: /, '')}`);
  }
  const file = await checkModel(job, d.model);
  const key = poolKey('image', d.model, d.options);
  const up = pool.take(key, () => new Upscaler(loadModel(job, file, d.model, false) as SRModel, { tile: d.options.tile, halo: d.options.halo, backend: d.options.backend }));
  let ok = false;
  try {
    const info = up.outputInfo(img);
    const progress = progressReporter(job);
    const rows = (async function* () {
      for await (const b of up.upscaleRows(img, { onProgress: progress })) yield b.data;
    })();
    makeDirs(dirname(d.output));
    await writePngStream(d.output, info.width, info.height, info.channels, info.bitDepth, rows);
    ok = true;
    return await recordDone(job, redis, {
      output: d.output, sha256: await sha256File(d.output), width: info.width, height: info.height,
      seconds: (performance.now() - t0) / 1000, skipped: false,
    });
  } finally {
    if (ok) await pool.give(key, up);
    else await up.dispose();
  }
}

async function runSegment(job: Job<JobData, JobResult>, d: SegmentJobData, redis: Redis, pool: UpscalerPool): Promise<JobResult> {
  const t0 = performance.now();
  const done = await alreadyDone(job, redis, d.file);
  if (done) return done;
  checkStamp(job, d.input, d.inputStamp);
  const file = await checkModel(job, d.model);
  const key = poolKey('video', d.model, d.options);
  const up = pool.take(key, () => new VideoUpscaler(loadModel(job, file, d.model, true), { tile: d.options.tile, halo: d.options.halo, backend: d.options.backend }));
  let ok = false;
  try {
    makeDirs(dirname(d.file));
    const frames = await upscaleSegment(d.input, d.segment, up, d.file, { onProgress: progressReporter(job) });
    ok = true;
    return await recordDone(job, redis, { output: d.file, frames, seconds: (performance.now() - t0) / 1000, skipped: false });
  } catch (e) {
    // what the input itself says (too short, undecodable) will say it again; I/O errors may pass
    const m = (e as Error).message;
    if (m.includes(d.input) && !TRANSIENT.test(m)) throw permanent(job, m.replace(/^mvsr: /, ''));
    throw e;
  } finally {
    if (ok) await pool.give(key, up);
    else await up.dispose();
  }
}

async function runJoin(job: Job<JobData, JobResult>, d: VideoJobData, redis: Redis): Promise<JobResult> {
  const t0 = performance.now();
  const files = segmentJobs(d).map((s) => s.file);
  const done = await alreadyDone(job, redis, d.output);
  if (done) {
    await removeSegments(files, d.workDir); // a join that stopped between its record and the clean-up
    return done;
  }
  checkStamp(job, d.input, d.inputStamp);
  const missing = files.find((x) => !existsSync(x));
  if (missing) throw permanent(job, `segment ${missing} is missing (removed after the job's segments completed?): add the job again after "mvsr queue clean --forget"`);
  makeDirs(dirname(d.output));
  const { scale, fps, hasAudio } = d.video, width = d.video.width * scale, height = d.video.height * scale;
  const frames = await joinSegments(files, d.output, { width, height, fps, audioFrom: hasAudio ? d.input : undefined, onProgress: progressReporter(job) });
  if (frames !== d.video.frames) throw permanent(job, `the segments hold ${frames} frames, the video has ${d.video.frames}`);
  const result = await recordDone(job, redis, {
    output: d.output, sha256: await sha256File(d.output), width, height, frames,
    seconds: (performance.now() - t0) / 1000, skipped: false,
  });
  await removeSegments(files, d.workDir);
  return result;
}

/** The `mvsr` entry point the command jobs run as child processes. */
const CLI_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

async function runCommand(job: Job<JobData, JobResult>, d: CommandJobData, redis: Redis, threads?: number): Promise<JobResult> {
  const t0 = performance.now();
  const isEval = d.command === 'eval' || d.command === 'eval-video';
  const done = await alreadyDone(job, redis, d.output);
  if (done) return done;
  await checkModel(job, d.model);
  for (const i of d.inputs) {
    if (!existsSync(i.path)) throw permanent(job, `${i.path}: no such file or folder`);
    if ((await sha256Path(i.path)) !== i.sha256) throw permanent(job, `${i.path}: changed since the job was added (SHA-256 differs)`);
  }
  const argv = [CLI_MAIN, d.command, ...d.argv];
  if (isEval) argv.push('--json');
  if (isEval && threads !== undefined && !d.argv.some((a) => a === '-t' || a.startsWith('--threads'))) argv.push('--threads', String(threads));
  if (d.output) makeDirs(dirname(d.output));
  const progress = progressReporter(job);
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, MVSR_PROGRESS: 'ipc' } });
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => stdout.push(b));
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-8192)));
  child.on('message', (m: unknown) => {
    const p = (m as { progress?: { done: number; total: number } })?.progress;
    if (p && p.total > 0) progress(p.done, p.total);
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.once('exit', (c, s) => res([c, s])));
  if (code !== 0) {
    const last = stderr.trim().split('\n').filter((l) => !l.includes('█')).pop() ?? '';
    const why = signal ? `killed by ${signal}` : last || `exit code ${code}`;
    // the CLI's one-line errors name bad input; only a signal or a resource error may pass
    if (signal || code !== 1 || TRANSIENT.test(why)) throw new Error(`mvsr worker: job ${job.id}: ${why}`);
    throw permanent(job, why.replace(/^mvsr /, ''));
  }
  let report: unknown;
  if (isEval) {
    try {
      report = JSON.parse(Buffer.concat(stdout).toString('utf8'));
    } catch {
      throw new Error(`mvsr worker: job ${job.id}: mvsr ${d.command} printed no JSON report`);
    }
    if (d.output) {
      writeFileAtomic(d.output, Buffer.from(JSON.stringify(report, null, 2) + '\n'), 'worker');
    }
  }
  return recordDone(job, redis, {
    output: d.output, sha256: d.output ? await sha256File(d.output) : undefined, report,
    seconds: (performance.now() - t0) / 1000, skipped: false,
  });
}

/** Start a worker on the mvsr queue (fails with one line when Redis cannot be reached). */
export async function startWorker(o: StartWorkerOptions = {}): Promise<RunningWorker> {
  const redis = await connectRedis('worker', { url: o.url, persistent: true });
  await ensureEngine({ threads: o.threads });
  const log = o.log ?? (() => {});
  const pool = new UpscalerPool(Math.max(2, o.concurrency ?? 1));
  const worker = new Worker<JobData, JobResult>(
    QUEUE_NAME,
    async (job) => {
      const d = job.data;
      switch (d.command) {
        case 'upscale':
          return runUpscale(job, d, redis, pool);
        case 'segment':
          return runSegment(job, d, redis, pool);
        case 'upscale-video':
          return runJoin(job, d, redis);
        default:
          if ((COMMAND_JOBS as readonly string[]).includes(d.command)) return runCommand(job, d, redis, o.threads);
          throw permanent(job, `unknown command "${String((d as { command?: unknown }).command)}"`);
      }
    },
    {
      connection: redis, concurrency: o.concurrency ?? 1, autorun: true, name: o.name ?? `${hostname()}:${process.pid}`,
      lockDuration: o.lockDurationMs ?? 30_000, stalledInterval: o.stalledIntervalMs ?? 30_000,
    },
  );
  worker.on('completed', (job, r) => {
    const what = r.width ? ` (${r.width}x${r.height}${r.frames ? `, ${r.frames} frames` : ''})` : r.frames ? ` (${r.frames} frames)` : '';
    log(`${job.id} ${r.skipped ? 'already complete' : `done in ${r.seconds.toFixed(2)} s`}: ${jobInput(job.data)} -> ${r.output ?? 'report in the job'}${what}`);
  });
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
        await pool.dispose();
        redis.disconnect();
      })();
      return closing;
    },
  };
}
