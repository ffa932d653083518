// Distillation targets kept on disk: a teacher's uint8 output on a whole training image, one file
// per image, named by a hash of the image's LR pixels (so a changed or reordered training set
// never picks up a stale target) and stored in a folder per teacher. The trainer writes them
// once (train/teacher-targets.node.ts); the batch loader attaches them to the items it loaded,
// and sampleBatch crops them with the HR patches.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { SrDataset, SrItem } from './dataset.js';

const MAGIC = 0x3154564d; // 'MVT1' little-endian
const HEADER = 12;

/** The file holding `item`'s target in `dir`: a hash of the scale, the LR size and the LR pixels. */
export function targetFile(dir: string, item: SrItem, scale: number): string {
  const h = createHash('sha256');
  h.update(`${scale} ${item.lrW} ${item.lrH} `);
  h.update(item.lr.subarray(0, item.lrW * item.lrH * 3));
  return path.join(dir, `${h.digest('hex').slice(0, 32)}.u8`);
}

/** Write an HR-sized RGB uint8 target (atomically: a half-written file is never read as a target). */
export async function writeTarget(file: string, width: number, height: number, data: Uint8Array): Promise<void> {
  if (data.length !== width * height * 3) throw new Error(`mvsr: ${file}: target has ${data.length} bytes, expected ${width}x${height}x3`);
  const head = new Uint32Array([MAGIC, width, height]);
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, Buffer.concat([Buffer.from(head.buffer), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
  await fsp.rename(tmp, file);
}

/** Why a target file of `size` bytes starting with `head` is not a whole width x height target, or null. */
function badTarget(head: Buffer, size: number, width: number, height: number): string | null {
  if (head.length < HEADER) return 'truncated header';
  const [magic, w, h] = [head.readUInt32LE(0), head.readUInt32LE(4), head.readUInt32LE(8)];
  if (magic !== MAGIC) return 'not an mvsr target file';
  if (w !== width || h !== height) return `holds ${w}x${h}, expected ${width}x${height}`;
  if (size !== HEADER + width * height * 3) return `${size - HEADER} pixel bytes, expected ${width * height * 3}`;
  return null;
}

function ioReason(e: unknown): string {
  return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message.split('\n')[0]!;
}

/** The target in `file` if it is a whole target of width x height, else a reason it is not. */
export async function readTarget(file: string, width: number, height: number): Promise<Uint8Array | { bad: string }> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    return { bad: ioReason(e) };
  }
  const bad = badTarget(buf.subarray(0, HEADER), buf.length, width, height);
  return bad ? { bad } : new Uint8Array(buf.buffer, buf.byteOffset + HEADER, width * height * 3);
}

/** Whether `dir` holds any target file (a run that made targets there before). */
export function hasTargetFiles(dir: string): boolean {
  try {
    return fs.readdirSync(dir).some((f) => f.endsWith('.u8'));
  } catch {
    return false;
  }
}

/** Whether `file` holds a whole width x height target, from its header and size only (no pixel read). */
export async function hasTarget(file: string, width: number, height: number): Promise<boolean> {
  let fh: fsp.FileHandle | null = null;
  try {
    fh = await fsp.open(file, 'r');
    const head = Buffer.alloc(HEADER);
    const { bytesRead } = await fh.read(head, 0, HEADER, 0);
    return badTarget(head.subarray(0, bytesRead), (await fh.stat()).size, width, height) === null;
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

/**
 * Attach every item's target from `dir`. With `missing: 'error'` (the default) one missing or
 * damaged target is an error naming the image and the file; with `'report'` the items whose target
 * is missing or damaged are returned instead (and left without one), for a caller that will make
 * them and load again.
 */
export async function attachTargets(ds: SrDataset, dir: string, missing: 'error' | 'report' = 'error'): Promise<string[]> {
  const lacking: string[] = [];
  for (const it of ds.items) {
    if ((it.frames ?? 1) !== 1) throw new Error(`mvsr: ${it.file || it.name}: distillation targets are for still images, not clips`);
    const file = targetFile(dir, it, ds.scale);
    const t = await readTarget(file, it.hrW, it.hrH);
    if (!('bad' in t)) it.target = t;
    else if (missing === 'report') lacking.push(it.name);
    else throw new Error(`mvsr: ${it.file || it.name}: distillation target ${file}: ${t.bad}`);
  }
  return lacking;
}
