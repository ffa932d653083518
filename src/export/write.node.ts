// Writing an exported model to disk: the bytes go to a temporary file next to the target, are
// flushed, and replace the target by a rename, so an interrupted export never leaves a
// truncated .onnx or .tflite that looks complete.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Graph } from '../graph/ir.js';
import { exportOnnx, type OnnxExportOptions } from './onnx.js';
import { exportTflite, type TfliteExportOptions } from './tflite.js';

/** Write `bytes` to `path` atomically (temporary file, fsync, rename); errors name the path. */
export function writeFileAtomic(path: string, bytes: Uint8Array, what = 'writeFileAtomic'): number {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new Error(`mvsr: ${what}: cannot write '${path}': ${(e as Error).message}`);
  }
  return bytes.length;
}

/** Export `g` (see exportOnnx) and write it to `path` atomically; returns the number of bytes written. */
export function writeOnnxFile(path: string, g: Graph, o: OnnxExportOptions = {}): number {
  return writeFileAtomic(path, exportOnnx(g, o), 'writeOnnxFile'); // export errors come before the disk is touched
}

/** Export `g` (see exportTflite) and write it to `path` atomically; returns the number of bytes written. */
export function writeTfliteFile(path: string, g: Graph, o: TfliteExportOptions): number {
  return writeFileAtomic(path, exportTflite(g, o), 'writeTfliteFile');
}
