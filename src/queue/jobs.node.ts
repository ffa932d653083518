// Scale-out over a Redis queue (BullMQ): the job data, content hashes and idempotent job ids.
// Inputs and outputs are paths on a filesystem every worker shares (NFS, a mounted volume);
// a job carries its model by content hash so that every worker runs the same weights.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { findShippedModel } from '../api/shipped.node.js';
import { readdir } from 'node:fs/promises';
import type { ArchArgs } from '../models/registry.js';
import type { Segment } from './segments.node.js';

/** Zoo models that need no weights: their hash is the hash of their (lower-case) name. */
export const WEIGHTLESS_MODELS = ['bicubic', 'matlab-bicubic'];

export interface JobModel {
  /** What the user typed: a weights file (made absolute), a shipped model name or a weightless name. */
  spec: string;
  /** SHA-256 (hex) of the model file the spec resolves to (of the name for a weightless model). */
  sha256: string;
  arch?: string;
  args?: ArchArgs;
  scale?: number;
}

export interface UpscaleJobData {
  command: 'upscale';
  /** Absolute path of the input image on the shared filesystem. */
  input: string;
  /** SHA-256 of the input file when the job was added (the worker refuses a changed input). */
  inputSha256: string;
  /** Absolute path of the output PNG (written to a temporary name and renamed). */
  output: string;
  model: JobModel;
  options: { tile?: number; halo?: number; backend?: string };
}

/** What a worker checks to know a (large) input video is the one the job was added with. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
}

/** A video upscale: the join job, run once its segment jobs (its BullMQ children) are complete. */
export interface VideoJobData {
  command: 'upscale-video';
  /** Absolute path of the input video on the shared filesystem. */
  input: string;
  /** SHA-256 of the input when the job was added (part of the job id). */
  inputSha256: string;
  /** Size and mtime when the job was added: segments and the join refuse a changed input. */
  inputStamp: FileStamp;
  /** Absolute path of the output video (.y4m, or a container ffmpeg writes). */
  output: string;
  model: JobModel;
  options: { tile?: number; halo?: number; backend?: string; segmentFrames: number; warmup: number };
  video: { frames: number; width: number; height: number; fps: [number, number]; hasAudio: boolean; scale: number };
  /** Folder (beside the output) holding the segments until the join (Y4M for a .y4m output, raw RGB otherwise). */
  workDir: string;
  segments: Segment[];
}

/** One segment of a video job: its frames (warm-up and look-ahead run, not kept) into a segment file. */
export interface SegmentJobData {
  command: 'segment';
  /** The id of the video job that joins this segment. */
  parent: string;
  input: string;
  inputStamp: FileStamp;
  /** The video job's output (for status lines). */
  output: string;
  model: JobModel;
  options: { tile?: number; halo?: number; backend?: string };
  segment: Segment;
  /** Where the segment's frames go (a file that appears only when complete). */
  file: string;
}

/** The commands a worker runs as a child `mvsr` process. */
export const COMMAND_JOBS = ['eval', 'eval-video', 'export', 'quantize'] as const;
export type CommandJobName = (typeof COMMAND_JOBS)[number];

/** eval, eval-video, export or quantize: the command line with absolute paths, and the content hashes of what it reads. */
export interface CommandJobData {
  command: CommandJobName;
  /** Arguments after the command name (paths absolute). */
  argv: string[];
  model: JobModel;
  /** Files and folders the command reads, with their SHA-256 (a folder's: of its files' names and hashes). */
  inputs: { path: string; sha256: string }[];
  /** The file the job writes: export's and quantize's -o, or the JSON report of an eval (-o). */
  output?: string;
}

export type JobData = UpscaleJobData | VideoJobData | SegmentJobData | CommandJobData;

/** What a finished job returns (kept in Redis with the job). */
export interface JobResult {
  /** The file written (none for an eval without -o). */
  output?: string;
  sha256?: string;
  width?: number;
  height?: number;
  /** Frames written (video and segment jobs). */
  frames?: number;
  /** An eval's JSON report (what `mvsr eval --json` prints). */
  report?: unknown;
  seconds: number;
  /** True when the output was already complete for this job id and nothing was run. */
  skipped: boolean;
}

/** The input a job row shows: the image, video or data folder. */
export function jobInput(d: JobData): string {
  return 'input' in d ? d.input : (d.inputs[0]?.path ?? d.model.spec);
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The file a model spec resolves to (as resolveAnyModel does), or null for a weightless model. Throws for an unknown spec. */
export function modelFile(spec: string, scale?: number): string | null {
  if (existsSync(spec) && statSync(spec).isFile()) return resolve(spec);
  const shipped = findShippedModel(spec, scale);
  if (shipped) return shipped.file;
  if (WEIGHTLESS_MODELS.includes(spec.toLowerCase())) return null;
  throw new Error(`mvsr: model "${spec}" is neither a weights file, a shipped model (mvsr models) nor one that needs no weights (${WEIGHTLESS_MODELS.join(', ')})`);
}

/** SHA-256 of a file, or of a folder: of its files' relative paths and hashes, recursively, in name order (hidden entries skipped). */
export async function sha256Path(path: string): Promise<string> {
  if (!statSync(path).isDirectory()) return sha256File(path);
  const h = createHash('sha256');
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(resolve(dir, e.name), r);
      else if (e.isFile()) h.update(`${r}\0${await sha256File(resolve(dir, e.name))}\n`);
    }
  };
  await walk(path, '');
  return h.digest('hex');
}

/** The content hash of a model spec: of its file, or of its name when it needs no weights. */
export async function modelSha256(spec: string, scale?: number): Promise<{ file: string | null; sha256: string }> {
  const file = modelFile(spec, scale);
  return { file, sha256: file ? await sha256File(file) : sha256Hex(spec.toLowerCase()) };
}

/** Canonical JSON (sorted keys, no undefined) so equal jobs give equal ids. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The BullMQ job id: a hash of the job (command, input paths and content hashes, output path,
 * model hash, options; not how the model was named). The same job added twice has the same id,
 * and BullMQ ignores the second add. A segment's id is its video job's id and its index.
 */
export function jobId(d: JobData): string {
  if (d.command === 'segment') return `${d.parent}-s${d.segment.index}`;
  const { spec: _spec, ...model } = d.model;
  const key: Record<string, unknown> = { ...d, model };
  if (d.command === 'upscale-video') {
    delete key.workDir; // derived from the id
    delete key.inputStamp;
  }
  return `${d.command}-${sha256Hex(canonical(key)).slice(0, 40)}`;
}
