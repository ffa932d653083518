// The producer side of the Redis queue: connect (failing fast when Redis is down), add jobs
// idempotently, list them with their progress, wait for them, clean finished ones.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve, extname } from 'node:path';
import { Queue, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { jobId, modelSha256, sha256Hex, type JobData, type JobResult, type UpscaleJobData } from './jobs.node.js';
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

/** The job data of an upscale: absolute paths, the input's and the model's content hashes. */
export async function upscaleJobData(r: AddUpscaleRequest, cmd = 'queue add'): Promise<UpscaleJobData> {
  const input = resolve(r.input), output = resolve(r.output);
  if (!existsSync(input) || !statSync(input).isFile()) throw new Error(`mvsr ${cmd}: ${r.input}: no such file`);
  if (extname(output).toLowerCase() !== '.png') throw new Error(`mvsr ${cmd}: ${r.output}: only PNG output is supported (name the output .png)`);
  const spec = existsSync(r.model) ? resolve(r.model) : r.model;
  let model;
  try {
    model = await modelSha256(spec, r.scale);
  } catch (e) {
    throw new Error(`mvsr ${cmd}: ${(e as Error).message.replace(/^mvsr: /, '')}`);
  }
  return {
    command: 'upscale',
    input,
    inputSha256: sha256Hex(await readFile(input)),
    output,
    model: { spec, sha256: model.sha256, arch: r.arch, args: r.args, scale: r.scale },
    options: { tile: r.tile, halo: r.halo, backend: r.backend },
  };
}

export interface AddResult {
  id: string;
  /** False when a job with this id was already in the queue (nothing was added). */
  added: boolean;
  /** The state of the job (of the one already there when not added). */
  state: string;
}

/** Add a job under its content-derived id; adding the same job again does nothing. */
export async function addJob(queue: Queue<JobData, JobResult>, data: JobData): Promise<AddResult> {
  const id = jobId(data);
  const existing = await queue.getJob(id);
  if (existing) return { id, added: false, state: await existing.getState() };
  const job = await queue.add(data.command, data, { jobId: id });
  return { id, added: job.id === id, state: await job.getState() };
}

export interface JobRow {
  id: string;
  state: string;
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
  for (const state of ALL_STATES) {
    const jobs = await queue.getJobs([state], 0, -1, true);
    for (const job of jobs) {
      if (!job?.id) continue;
      const d = job.data;
      rows.push({
        id: job.id, state, progress: state === 'completed' ? 1 : progressOf(job), input: d.input, output: d.output, model: d.model.spec,
        attemptsMade: job.attemptsMade, failedReason: job.failedReason || undefined, worker: job.processedBy, result: job.returnvalue ?? undefined,
        addedAt: job.timestamp, finishedAt: job.finishedOn,
      });
    }
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
