// Writing an ONNX model to disk: the bytes go to a temporary file next to the target, are
// flushed, and replace the target by a rename, so an interrupted export never leaves a
// truncated .onnx that looks complete.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Graph } from '../graph/ir.js';
import { exportOnnx, type OnnxExportOptions } from './onnx.js';

/** Export `g` (see exportOnnx) and write it to `path` atomically; returns the number of bytes written. */
export function writeOnnxFile(path: string, g: Graph, o: OnnxExportOptions = {}): number {
  const bytes = exportOnnx(g, o); // errors (unexportable nodes, bad options) before touching the disk
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
    throw new Error(`mvsr: writeOnnxFile: cannot write '${path}': ${(e as Error).message}`);
  }
  return bytes.length;
}
