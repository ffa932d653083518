// The producer side of the Redis queue: connect (failing fast when Redis is down), add jobs
// idempotently, list them with their progress, wait for them, clean finished ones.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve, extname, dirname, basename, join } from 'node:path';
import { Queue, FlowProducer, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import {
  jobId, jobInput, modelSha256, sha256Hex, sha256File, sha256Path,
  type JobData, type JobModel, type JobResult, type UpscaleJobData, type VideoJobData, type SegmentJobData, type CommandJobData, type CommandJobName,
} from './jobs.node.js';
import { planSegments, planWarmup, segmentFileName, DEFAULT_SEGMENT_FRAMES } from './segments.node.js';
import { openVideo, VIDEO_EXTENSIONS } from '../io/video.node.js';
import { ensureEngine } from '../tensor/engine.js';
import { resolveAnyModel } from '../api/models.node.js';
import { VideoUpscaler } from '../api/video.js';
import type { ArchArgs } from '../models/registry.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** The BullMQ queue every mvsr command uses. */
export const QUEUE_NAME = 'mvsr';
/** Redis hash of job id -> JSON {output, sha256}: outputs known complete (survives `queue clean`). */
export const DONE_KEY = `bull:${QUEUE_NAME}:mvsr-done`;

/** Retries: 3 attempts with exponential backoff (1 s, 2 s) for failures that can pass. */
export const JOB_OPTIONS: JobsOptions = { attempts: 3, backoff: { type: 'exponential', delay: 1000 } };

export interface ConnectOptions {
  /** redis://[user:pass@]host:port[/db] (default redis://127.0.0.1:6379). */
  url?: string;
  /** How long to try to reach Redis (ms, default 3000). */
  connectTimeoutMs?: number;
  /** For a long-lived client (the worker): retry commands forever instead of failing fast. */
  persistent?: boolean;
}

/** The one-line message for a Redis that cannot be reached. */
function unreachable(cmd: string, url: string, e: unknown): Error {
  const m = e instanceof Error ? (e as NodeJS.ErrnoException).code ?? e.message : String(e);
  return new Error(`mvsr ${cmd}: cannot reach Redis at ${url}: ${m.split('\n')[0]}`);
}

/**
 * A connected ioredis client, or a one-line error naming the URL within about connectTimeoutMs.
 * A short-lived client fails commands fast when the connection drops; a persistent one (for
 * BullMQ workers, which need maxRetriesPerRequest null) reconnects forever.
 */
export async function connectRedis(cmd: string, o: ConnectOptions = {}): Promise<Redis> {
  const url = o.url ?? DEFAULT_REDIS_URL;
  const timeout = o.connectTimeoutMs ?? 3000;
  let lastError: unknown = null;
  let connected = false;
  let redis: Redis;
  try {
    redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: timeout,
      maxRetriesPerRequest: o.persistent ? null : 1,
      enableOfflineQueue: true,
      disconnectTimeout: 200, // a stream that never opened must not hold the process for ioredis's default 2 s
      // while connecting: give up at once; later (persistent only): back off up to 5 s
      retryStrategy: (n) => (connected && o.persistent ? Math.min(200 * 2 ** n, 5000) : null),
    });
  } catch (e) {
    throw new Error(`mvsr ${cmd}: bad Redis URL ${url}: ${(e as Error).message}`);
  }
  redis.on('error', (e) => (lastError = e));
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${timeout / 1000} s`)), timeout + 500).unref());
  try {
    await Promise.race([redis.connect(), timer]);
    await Promise.race([redis.ping(), timer]);
    connected = true;
  } catch (e) {
    if (redis.status !== 'end') redis.disconnect();
    throw unreachable(cmd, url, lastError ?? e);
  }
  redis.on('error', () => {}); // reported by the commands that fail
  return redis;
}

/** The mvsr queue on a connected client (the caller closes both). */
export function openQueue(redis: Redis): Queue<JobData, JobResult> {
  return new Queue<JobData, JobResult>(QUEUE_NAME, { connection: redis, defaultJobOptions: JOB_OPTIONS });
}

export interface AddUpscaleRequest {
  input: string;
  output: string;
  model: string;
  arch?: string;
  args?: ArchArgs;
  scale?: number;
  tile?: number;
  halo?: number;
  backend?: string;
}

/** A library error (`mvsr: <problem>`) as the command's one line: `mvsr <cmd>: <problem>`. */
function asCommandError(cmd: string, e: unknown): Error {
  return new Error(`mvsr ${cmd}: ${(e as Error).message.replace(/^mvsr: /, '')}`);
}

/** A model spec made absolute when it is a file, with its content hash. */
async function jobModel(cmd: string, spec: string, r: { arch?: string; args?: ArchArgs; scale?: number }): Promise<JobModel> {
  const s = existsSync(spec) ? resolve(spec) : spec;
  try {
    return { spec: s, sha256: (await modelSha256(s, r.scale)).sha256, arch: r.arch, args: r.args, scale: r.scale };
  } catch (e) {
    throw asCommandError(cmd, e);
  }
}

/** Whether `file` is a video by its extension (as `mvsr upscale` decides). */
export const isVideoPath = (file: string) => VIDEO_EXTENSIONS.has(extname(file).toLowerCase());

/** The job data of an image upscale: absolute paths, the input's and the model's content hashes. */
export async function upscaleJobData(r: AddUpscaleRequest, cmd = 'queue add'): Promise<UpscaleJobData> {
  const input = resolve(r.input), output = resolve(r.output);
  if (!existsSync(input) || !statSync(input).isFile()) throw new Error(`mvsr ${cmd}: ${r.input}: no such file`);
  if (extname(output).toLowerCase() !== '.png') throw new Error(`mvsr ${cmd}: ${r.output}: only PNG output is supported (name the output .png)`);
  return {
    command: 'upscale',
    input,
    inputSha256: sha256Hex(await readFile(input)),
    output,
    model: await jobModel(cmd, r.model, r),
    options: { tile: r.tile, halo: r.halo, backend: r.backend },
  };
}

export interface AddVideoRequest extends AddUpscaleRequest {
  /** Output frames per segment (default DEFAULT_SEGMENT_FRAMES). */
  segmentFrames?: number;
  /** Frames fed before each segment (default: the model's look-back, more for a recurrent model). */
  warmup?: number;
}

/**
 * The job data of a video upscale: the input's hash and frame count, the model's hash, and the
 * plan of segments (the model is loaded once here for its look-back, look-ahead and state).
 */
export async function videoJobData(r: AddVideoRequest, cmd = 'queue add'): Promise<VideoJobData> {
  const input = resolve(r.input), output = resolve(r.output);
  if (!existsSync(input) || !statSync(input).isFile()) throw new Error(`mvsr ${cmd}: ${r.input}: no such file`);
  if (!isVideoPath(output)) throw new Error(`mvsr ${cmd}: ${r.output}: a video needs a video output (${[...VIDEO_EXTENSIONS].join(', ')})`);
  const model = await jobModel(cmd, r.model, r);
  const video = await openVideo(input).catch((e: unknown) => {
    throw asCommandError(cmd, e);
  });
  const frames = video.info.frames;
  if (frames === undefined) throw new Error(`mvsr ${cmd}: ${r.input}: the number of frames is not known, so the video cannot be split (convert it to .y4m first)`);
  await ensureEngine({ threads: 1 });
  let up: VideoUpscaler;
  try {
    up = new VideoUpscaler(resolveAnyModel(model.spec, { arch: r.arch, args: r.args, scale: r.scale }));
  } catch (e) {
    throw asCommandError(cmd, e);
  }
  try {
    if (r.scale !== undefined && up.scale !== r.scale) throw new Error(`mvsr ${cmd}: ${r.model} upscales x${up.scale}, not x${r.scale}`);
    const t = up.temporal, segmentFrames = r.segmentFrames ?? DEFAULT_SEGMENT_FRAMES;
    let warmup: number, segments;
    try {
      warmup = planWarmup(t, r.warmup);
      segments = planSegments(frames, t, { segmentFrames, warmup });
    } catch (e) {
      throw asCommandError(cmd, e);
    }
    const st = statSync(input);
    const data: VideoJobData = {
      command: 'upscale-video', input, inputSha256: await sha256File(input), inputStamp: { size: st.size, mtimeMs: st.mtimeMs }, output, model,
      options: { tile: r.tile, halo: r.halo, backend: r.backend, segmentFrames, warmup },
      video: { frames, width: video.info.width, height: video.info.height, fps: video.info.fps, hasAudio: video.info.hasAudio, scale: up.scale },
      workDir: '', segments,
    };
    data.workDir = join(dirname(output), `.${basename(output)}.${jobId(data).slice(-12)}.segments`);
    return data;
  } finally {
    await up.dispose();
  }
}

/** The segment jobs of a video job (the children its join waits for). */
export function segmentJobs(d: VideoJobData): SegmentJobData[] {
  const parent = jobId(d);
  return d.segments.map((segment) => ({
    command: 'segment', parent, input: d.input, inputStamp: d.inputStamp, output: d.output, model: d.model,
    options: { tile: d.options.tile, halo: d.options.halo, backend: d.options.backend }, segment,
    file: join(d.workDir, segmentFileName(d.output, segment.index)),
  }));
}

/** What `queue add <command>` needs to know of a command's flags: which name files it reads or writes. */
export interface CommandPaths {
  /** The model: a positional (export, quantize) or --model (eval, eval-video). */
  model: string;
  /** Files and folders read (hashed). */
  reads: string[];
  /** The file written, if any. */
  output?: string;
}

/**
 * The job data of eval, eval-video, export or quantize: `argv` as the command takes it (paths
 * made absolute by the caller), with the content hashes of the model and of every input.
 */
export async function commandJobData(command: CommandJobName, argv: string[], p: CommandPaths, r: { arch?: string; args?: ArchArgs; scale?: number }, cmd = 'queue add'): Promise<CommandJobData> {
  const inputs = [];
  for (const path of p.reads) {
    if (!existsSync(path)) throw new Error(`mvsr ${cmd}: ${path}: no such file or folder`);
    inputs.push({ path, sha256: await sha256Path(path) });
  }
  return { command, argv, model: await jobModel(cmd, p.model, r), inputs, output: p.output };
}

export interface AddResult {
  id: string;
  /** False when a job with this id was already in the queue (nothing was added). */
  added: boolean;
  /** The state of the job (of the one already there when not added). */
  state: string;
}

/**
 * Add a job under its content-derived id; adding the same job again does nothing. A video job is
 * added as a BullMQ flow: its segments as children, the join as the parent that runs when they
 * are complete (and fails when one fails for good).
 */
export async function addJob(queue: Queue<JobData, JobResult>, data: JobData): Promise<AddResult> {
  const id = jobId(data);
  const existing = await queue.getJob(id);
  if (existing) return { id, added: false, state: await existing.getState() };
  if (data.command === 'upscale-video') {
    const flow = new FlowProducer({ connection: queue.opts.connection as Redis });
    try {
      await flow.add({
        name: data.command, queueName: QUEUE_NAME, data, opts: { ...JOB_OPTIONS, jobId: id },
        children: segmentJobs(data).map((s) => ({ name: s.command, queueName: QUEUE_NAME, data: s, opts: { ...JOB_OPTIONS, jobId: jobId(s), failParentOnFailure: true } })),
      });
    } finally {
      await flow.close();
    }
    const job = await queue.getJob(id);
    return { id, added: true, state: job ? await job.getState() : 'unknown' };
  }
  const job = await queue.add(data.command, data, { jobId: id });
  return { id, added: job.id === id, state: await job.getState() };
}

export interface JobRow {
  id: string;
  command: string;
  state: string;
  /** A segment's video job. */
  parent?: string;
  /** A video job's segments: how many, and how many are complete. */
  segments?: { total: number; completed: number; active: number; failed: number };
  /** 0..1 from the worker's tile progress. */
  progress: number;
  input: string;
  output: string;
  model: string;
  attemptsMade: number;
  failedReason?: string;
  /** The worker (host:pid) that ran it last. */
  worker?: string;
  result?: JobResult;
  addedAt: number;
  finishedAt?: number;
}

export const PENDING_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;
const ALL_STATES = [...PENDING_STATES, 'completed', 'failed'] as const;

function progressOf(job: Job<JobData, JobResult>): number {
  const p = job.progress as unknown;
  if (typeof p === 'number') return Math.max(0, Math.min(1, p / 100));
  if (p && typeof p === 'object' && 'done' in p && 'total' in p) {
    const { done, total } = p as { done: number; total: number };
    return total > 0 ? Math.min(1, done / total) : 0;
  }
  return 0;
}

/** Every job in the queue (oldest first) with its state and progress. */
export async function listJobs(queue: Queue<JobData, JobResult>): Promise<JobRow[]> {
  const rows: JobRow[] = [];
  const segData = new Map<string, { start: number; end: number }>();
  for (const state of ALL_STATES) {
    const jobs = await queue.getJobs([state], 0, -1, true);
    for (const job of jobs) {
      if (!job?.id) continue;
      const d = job.data;
      if (d.command === 'segment') segData.set(job.id, d.segment);
      rows.push({
        id: job.id, command: d.command, state, progress: state === 'completed' ? 1 : progressOf(job), input: jobInput(d), output: d.output ?? '', model: d.model.spec,
        parent: d.command === 'segment' ? d.parent : undefined,
        attemptsMade: job.attemptsMade, failedReason: job.failedReason || undefined, worker: job.processedBy, result: job.returnvalue ?? undefined,
        addedAt: job.timestamp, finishedAt: job.finishedOn,
      });
    }
  }
  // a video job waiting for its segments shows their progress, weighted by frames
  for (const r of rows) {
    if (r.command !== 'upscale-video' || r.state === 'completed') continue;
    const segs = rows.filter((s) => s.parent === r.id);
    if (!segs.length) continue;
    const frames = (s: JobRow) => { const seg = segData.get(s.id); return seg ? seg.end - seg.start : 1; };
    const total = segs.reduce((a, s) => a + frames(s), 0);
    r.segments = {
      total: segs.length, completed: segs.filter((s) => s.state === 'completed').length,
      active: segs.filter((s) => s.state === 'active').length, failed: segs.filter((s) => s.state === 'failed').length,
    };
    if (r.state !== 'active') r.progress = segs.reduce((a, s) => a + frames(s) * s.progress, 0) / total;
  }
  return rows.sort((a, b) => a.addedAt - b.addedAt);
}

/** Number of jobs waiting, active or delayed (retries waiting for their backoff). */
export async function pendingCount(queue: Queue<JobData, JobResult>): Promise<number> {
  const c = await queue.getJobCounts(...PENDING_STATES);
  return Object.values(c).reduce((a, b) => a + b, 0);
}

/** Wait until no job is waiting, active or delayed; false on timeout. */
export async function waitIdle(queue: Queue<JobData, JobResult>, o: { timeoutMs?: number; pollMs?: number; onTick?: (pending: number) => void } = {}): Promise<boolean> {
  const end = o.timeoutMs !== undefined ? Date.now() + o.timeoutMs : Infinity;
  for (;;) {
    const n = await pendingCount(queue);
    o.onTick?.(n);
    if (n === 0) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 250, Math.max(end - Date.now(), 1))));
  }
}

/** Drop the record of complete outputs (DONE_KEY); returns how many there were. */
export async function forgetOutputs(redis: Redis): Promise<number> {
  const n = await redis.hlen(DONE_KEY);
  await redis.del(DONE_KEY);
  return n;
}

/** Remove finished (completed and failed) jobs; returns how many. The record of complete outputs stays. */
export async function cleanJobs(queue: Queue<JobData, JobResult>): Promise<number> {
  let n = 0;
  for (const type of ['completed', 'failed'] as const) {
    for (;;) {
      const ids = await queue.clean(0, 1000, type);
      n += ids.length;
      if (ids.length < 1000) break;
    }
  }
  return n;
}
