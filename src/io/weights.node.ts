// Weight files on disk (Node only): load .safetensors / .pth / .pt by extension, and save
// safetensors atomically (write `<path>.tmp-<pid>`, fsync, rename), so an interrupted save
// never leaves a file that looks complete.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { extname } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { type PthOptions, readPth } from './pth.js';
import { type InflateRaw } from './zip.js';
import { type LoadedTensor, type WeightTensor, WeightsFileError, detectWeightsFormat, fail, withFileErrors } from './weights.js';

/** node:zlib's raw inflater, capped at the size the zip directory promises. */
export const nodeInflateRaw: InflateRaw = (compressed, size) => {
  let out: Buffer;
  try {
    out = inflateRawSync(compressed, { maxOutputLength: Math.max(size, 1) });
  } catch (e) {
    // a zip bomb under a small claim stops here, at the claimed size
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`it inflates to more than the ${size} bytes the directory declares`);
    throw e;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
};

export interface LoadWeightsOptions extends PthOptions {
  /** Override the choice by extension. */
  format?: 'safetensors' | 'pth';
}

export interface LoadedWeights {
  tensors: Record<string, LoadedTensor>;
  /** safetensors `__metadata__`; empty for .pth files. */
  metadata: Record<string, string>;
  format: 'safetensors' | 'pth';
}

function fsProblem(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EISDIR') return 'is a directory, not a weights file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}

/** Load a weights file chosen by extension: `.safetensors`, or `.pth`/`.pt` (PyTorch zip or legacy). */
export function loadWeightsFile(path: string, opts: LoadWeightsOptions = {}): LoadedWeights {
  return withFileErrors(path, loadWeightsFile, () => {
    const ext = extname(path).toLowerCase();
    const format = opts.format ?? (ext === '.safetensors' ? 'safetensors' : ext === '.pth' || ext === '.pt' ? 'pth' : undefined);
    if (!format) fail(path, `unknown weights file extension '${ext}'; mvsr reads .safetensors, .pth and .pt`);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      fail(path, fsProblem(e));
    }
    const sniffed = detectWeightsFormat(bytes);
    if (!opts.format && sniffed !== 'unknown' && sniffed !== format) {
      fail(path, `the extension says ${format} but the content is ${sniffed}; rename the file or pass format: '${sniffed}'`);
    }
    if (format === 'safetensors') return { ...readSafetensors(bytes, path), format };
    return { tensors: readPth(bytes, path, nodeInflateRaw, opts), metadata: {}, format };
  });
}

/** Write float32 tensors and metadata as safetensors at `path`, atomically (temp file + rename). */
export function saveSafetensorsFile(path: string, tensors: Record<string, WeightTensor>, metadata?: Record<string, string>): void {
  let bytes: Uint8Array;
  try {
    bytes = writeSafetensors(tensors, metadata);
  } catch (e) {
    const err = new WeightsFileError(path, (e instanceof Error ? e.message : String(e)).replace(/^mvsr: writeSafetensors: /, ''));
    Error.captureStackTrace?.(err, saveSafetensorsFile);
    throw err;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as { code?: string }).code;
    const err = new WeightsFileError(path, `cannot write: ${code === 'ENOENT' ? 'the directory does not exist' : fsProblem(e)}`);
    Error.captureStackTrace?.(err, saveSafetensorsFile);
    throw err;
  }
}
