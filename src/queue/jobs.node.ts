// Scale-out over a Redis queue (BullMQ): the job data, content hashes and idempotent job ids.
// Inputs and outputs are paths on a filesystem every worker shares (NFS, a mounted volume);
// a job carries its model by content hash so that every worker runs the same weights.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { findShippedModel } from '../api/shipped.node.js';
import type { ArchArgs } from '../models/registry.js';

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

export type JobData = UpscaleJobData;

/** What a finished job returns (kept in Redis with the job). */
export interface JobResult {
  output: string;
  sha256: string;
  width: number;
  height: number;
  seconds: number;
  /** True when the output was already complete for this job id and nothing was run. */
  skipped: boolean;
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
 * The BullMQ job id: a hash of (command, input path and content hash, output path, model hash,
 * options). The same job added twice has the same id, and BullMQ ignores the second add.
 */
export function jobId(d: JobData): string {
  const key = {
    command: d.command, input: d.input, inputSha256: d.inputSha256, output: d.output,
    model: { sha256: d.model.sha256, arch: d.model.arch, args: d.model.args, scale: d.model.scale },
    options: d.options,
  };
  return `${d.command}-${sha256Hex(canonical(key)).slice(0, 40)}`;
}
