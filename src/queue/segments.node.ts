// Long videos split for many workers: a plan of segments, each upscaled from `warmup` frames
// before its start (the model's look-back, and for a recurrent model frames for its state to
// settle; their output is discarded) to `future` frames after its end. For a .y4m output a
// segment is the Y4M that `mvsr upscale` would write for its frames, and the join copies their
// frame bytes behind one header; for outputs ffmpeg encodes, a segment holds raw RGB frames and
// the join sends them, in order, through the writer `mvsr upscale` uses. Either way, for a model
// without a recurrent state the joined output is the bytes of a single run; a recurrent one
// differs by what its state missed before the warm-up.
import * as fsp from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { openVideo, createVideoWriter } from '../io/video.node.js';
import { openY4M, tempNameFor, type Y4MFile } from '../io/y4m.node.js';
import type { Image } from '../io/image.js';
import type { VideoUpscaler } from '../api/video.js';

/** Frames per segment when none is given (10 s at 25 fps). */
export const DEFAULT_SEGMENT_FRAMES = 250;
/** Warm-up frames (besides the look-back) of a recurrent model when none is given; see the README's segment table. */
export const DEFAULT_RECURRENT_WARMUP = 8;

export interface Temporal {
  past: number;
  future: number;
  chunk: number;
  recurrent: boolean;
}

export interface Segment {
  index: number;
  /** First output frame (0-based, inclusive). */
  start: number;
  /** One past the last output frame. */
  end: number;
  /** Frames fed before `start` (output discarded). */
  warmup: number;
  /** Frames fed after `end` (the look-ahead; output discarded). */
  lookahead: number;
}

export interface SegmentPlanOptions {
  /** Output frames per segment (rounded up to whole chunks; default DEFAULT_SEGMENT_FRAMES). */
  segmentFrames?: number;
  /**
   * Frames fed before each segment (rounded up to whole chunks). Default: the model's look-back,
   * plus DEFAULT_RECURRENT_WARMUP for a recurrent model. Less than the look-back is refused.
   */
  warmup?: number;
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** The warm-up a plan uses for a model (the default or the one asked for, checked and rounded). */
export function planWarmup(t: Temporal, warmup?: number): number {
  if (warmup !== undefined && (!Number.isInteger(warmup) || warmup < 0)) throw new Error(`mvsr: the warm-up must be an integer >= 0, got ${warmup}`);
  if (warmup !== undefined && warmup < t.past) {
    throw new Error(`mvsr: a warm-up of ${warmup} frames is less than the model's look-back (${t.past} frames): the first frames of every segment would differ from a single run`);
  }
  return roundUp(warmup ?? t.past + (t.recurrent ? DEFAULT_RECURRENT_WARMUP : 0), t.chunk);
}

/** Split `total` frames into segments for a model of temporal footprint `t`. */
export function planSegments(total: number, t: Temporal, o: SegmentPlanOptions = {}): Segment[] {
  if (!Number.isInteger(total) || total < 1) throw new Error(`mvsr: a video to split needs a known number of frames >= 1, got ${total}`);
  const size = o.segmentFrames ?? DEFAULT_SEGMENT_FRAMES;
  if (!Number.isInteger(size) || size < 1) throw new Error(`mvsr: the segment length must be an integer >= 1, got ${size}`);
  const len = roundUp(size, t.chunk), warm = planWarmup(t, o.warmup);
  const out: Segment[] = [];
  for (let start = 0, index = 0; start < total; start += len, index++) {
    const end = Math.min(total, start + len);
    out.push({ index, start, end, warmup: Math.min(warm, start), lookahead: Math.min(t.future, total - end) });
  }
  return out;
}

export interface SegmentRunOptions {
  signal?: AbortSignal;
  /** Frames fed so far and in all (warm-up and look-ahead included). */
  onProgress?: (done: number, total: number) => void;
}

/** The file a segment of a video job writes: a Y4M for a .y4m output, raw RGB otherwise. */
export function segmentFileName(output: string, index: number): string {
  return `segment-${String(index).padStart(5, '0')}${extname(output).toLowerCase() === '.y4m' ? '.y4m' : '.rgb'}`;
}

interface FrameSink {
  write(f: Image): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** Raw 8-bit RGB frames, one after another, written to a temporary name renamed by close(). */
async function createRawWriter(file: string): Promise<FrameSink> {
  const tmp = tempNameFor(file);
  const fh = await fsp.open(tmp, 'wx');
  let done = false;
  return {
    async write(f) {
      if (f.channels !== 3 || f.bitDepth !== 8) throw new Error(`mvsr: ${file}: raw segments hold 8-bit RGB frames`);
      await fh.write(f.data as Uint8Array);
    },
    async close() {
      await fh.sync();
      await fh.close();
      await fsp.rename(tmp, file);
      done = true;
    },
    async abort() {
      if (done) return;
      done = true;
      await fh.close().catch(() => {});
      await fsp.rm(tmp, { force: true });
    },
  };
}

/**
 * Upscale one segment of `input` into `file` (.y4m: the Y4M mvsr upscale writes; .rgb: raw RGB
 * frames), which appears only when complete. `up` must be fresh or flushed; it is flushed again
 * at the end. Returns the frames written.
 */
export async function upscaleSegment(input: string, seg: Segment, up: VideoUpscaler, file: string, o: SegmentRunOptions = {}): Promise<number> {
  const video = await openVideo(input);
  const { width, height, fps } = video.info;
  const first = seg.start - seg.warmup, stop = seg.end + seg.lookahead;
  const writer: FrameSink = extname(file).toLowerCase() === '.y4m'
    ? await createVideoWriter(file, { width: width * up.scale, height: height * up.scale, fps })
    : await createRawWriter(file);
  let fed = first, out = first, written = 0;
  const keep = async (frames: Image[]) => {
    for (const f of frames) {
      if (out >= seg.start && out < seg.end) {
        await writer.write(f);
        written++;
      }
      out++;
    }
    up.recycle(frames); // written or dropped (warm-up, look-ahead): their arrays take the next frames
  };
  try {
    up.reset();
    for await (const frame of video.frames({ start: first, signal: o.signal })) {
      if (fed >= stop) break;
      fed++;
      await keep(await up.push(frame, { signal: o.signal }));
      o.onProgress?.(fed - first, stop - first);
    }
    await keep(await up.flush({ signal: o.signal }));
    if (written !== seg.end - seg.start) {
      throw new Error(`mvsr: ${input}: segment ${seg.index} needs frames ${first + 1}..${stop} but the video ended after frame ${fed}`);
    }
    await writer.close();
    return written;
  } catch (e) {
    up.reset();
    await writer.abort();
    throw e;
  }
}

export interface JoinOptions {
  /** The output frame size (HR). */
  width: number;
  height: number;
  fps: [number, number];
  /** Carry this file's audio (containers ffmpeg writes). */
  audioFrom?: string;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Y4M segments behind the first one's header, byte for byte, into a temporary file renamed at the end. */
async function joinY4M(files: string[], output: string, o: JoinOptions): Promise<number> {
  const heads: Y4MFile[] = [];
  for (const f of files) heads.push(await openY4M(f));
  const header = (h: Y4MFile) => JSON.stringify(h.header);
  const bad = heads.find((h) => header(h) !== header(heads[0]!) || h.frameCount === undefined);
  if (bad) throw new Error(`mvsr: ${output}: segment ${bad.path} does not continue the first segment (another Y4M header, or frames of other sizes)`);
  const total = heads.reduce((a, h) => a + h.frameCount!, 0);
  const tmp = tempNameFor(output);
  const fh = await fsp.open(tmp, 'wx');
  let n = 0;
  try {
    const first = await fsp.open(files[0]!, 'r');
    const head = Buffer.alloc(heads[0]!.headerBytes);
    await first.read(head, 0, head.length, 0);
    await first.close();
    await fh.write(head);
    for (const h of heads) {
      for await (const chunk of createReadStream(h.path, { start: h.headerBytes, highWaterMark: 1 << 22 })) {
        o.signal?.throwIfAborted();
        await fh.write(chunk as Buffer);
      }
      n += h.frameCount!;
      o.onProgress?.(n, total);
    }
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, output);
  } catch (e) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  return n;
}

/** Write the frames of the segments, in order, to `output`: Y4M segments by copying bytes, raw ones through the video writer. Returns the frames. */
export async function joinSegments(files: string[], output: string, o: JoinOptions): Promise<number> {
  if (!files.length) throw new Error(`mvsr: ${output}: no segments to join`);
  if (files.every((f) => extname(f).toLowerCase() === '.y4m') && extname(output).toLowerCase() === '.y4m') return joinY4M(files, output, o);
  const frameBytes = o.width * o.height * 3;
  let total = 0;
  for (const f of files) {
    const size = (await fsp.stat(f)).size;
    if (size % frameBytes) throw new Error(`mvsr: ${f}: ${size} bytes is not a whole number of ${o.width}x${o.height} RGB frames`);
    total += size / frameBytes;
  }
  const writer = await createVideoWriter(output, { width: o.width, height: o.height, fps: o.fps }, { audioFrom: o.audioFrom, signal: o.signal });
  let n = 0;
  try {
    for (const f of files) {
      const fh = await fsp.open(f, 'r');
      try {
        for (;;) {
          const data = new Uint8Array(frameBytes);
          const { bytesRead } = await fh.read(data, 0, frameBytes, null);
          if (bytesRead === 0) break;
          await writer.write({ width: o.width, height: o.height, channels: 3, bitDepth: 8, data });
          o.onProgress?.(++n, total);
        }
      } finally {
        await fh.close();
      }
    }
    await writer.close();
  } catch (e) {
    await writer.abort();
    throw e;
  }
  return n;
}

/** Remove segment files and their work folder. */
export async function removeSegments(files: string[], workDir?: string): Promise<void> {
  for (const f of files) await fsp.rm(f, { recursive: true, force: true });
  if (workDir) await fsp.rm(workDir, { recursive: true, force: true });
}
