// Long videos split for many workers: a plan of segments, each upscaled from `warmup` frames
// before its start (the model's look-back, and for a recurrent model frames for its state to
// settle; their output is discarded) to `future` frames after its end, into a folder of PNG
// frames (lossless RGB); the join writes the frames of every segment, in order, through the same
// video writer `mvsr upscale` uses. For a model without a recurrent state the joined output is
// the bytes of a single run; a recurrent one differs by what its state missed before the warm-up.
import { rm } from 'node:fs/promises';
import { openVideo, createVideoWriter } from '../io/video.node.js';
import { openFrameFolder } from '../io/frames.node.js';
import type { VideoUpscaler } from '../api/video.js';

/** Frames per segment when none is given (10 s at 25 fps). */
export const DEFAULT_SEGMENT_FRAMES = 250;
/** Warm-up frames (besides the look-back) of a recurrent model when none is given; see the README's segment table. */
export const DEFAULT_RECURRENT_WARMUP = 16;

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
  /** zlib level of the PNG frames (default 1: the folder is temporary). */
  level?: number;
}

/**
 * Upscale one segment of `input` into `dir` (a folder of PNG frames, which appears only when
 * complete). `up` must be fresh or flushed; it is flushed again at the end. Returns the frames written.
 */
export async function upscaleSegment(input: string, seg: Segment, up: VideoUpscaler, dir: string, o: SegmentRunOptions = {}): Promise<number> {
  const video = await openVideo(input);
  const { width, height, fps } = video.info;
  const first = seg.start - seg.warmup, stop = seg.end + seg.lookahead;
  const writer = await createVideoWriter(dir.replace(/[\\/]*$/, '/'), { width: width * up.scale, height: height * up.scale, fps }, { level: o.level ?? 1 });
  let fed = first, out = first, written = 0;
  const keep = async (frames: Awaited<ReturnType<VideoUpscaler['push']>>) => {
    for (const f of frames) {
      if (out >= seg.start && out < seg.end) {
        await writer.write(f);
        written++;
      }
      out++;
    }
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
  fps: [number, number];
  /** Carry this file's audio (containers ffmpeg writes). */
  audioFrom?: string;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Write the frames of the segment folders, in order, to `output` (any video mvsr upscale writes); returns the frames. */
export async function joinSegments(dirs: string[], output: string, o: JoinOptions): Promise<number> {
  const sources = [];
  for (const d of dirs) sources.push(await openFrameFolder(d, { fps: o.fps }));
  if (!sources.length) throw new Error(`mvsr: ${output}: no segments to join`);
  const { width, height } = sources[0]!.info;
  const bad = sources.find((s) => s.info.width !== width || s.info.height !== height);
  if (bad) throw new Error(`mvsr: ${output}: segment ${dirs[sources.indexOf(bad)]} is ${bad.info.width}x${bad.info.height}, the first is ${width}x${height}`);
  const total = sources.reduce((a, s) => a + s.files.length, 0);
  const writer = await createVideoWriter(output, { width, height, fps: o.fps }, { audioFrom: o.audioFrom, signal: o.signal });
  let n = 0;
  try {
    for (const s of sources) {
      for await (const f of s.frames({ signal: o.signal })) {
        await writer.write(f);
        o.onProgress?.(++n, total);
      }
    }
    await writer.close();
  } catch (e) {
    await writer.abort();
    throw e;
  }
  return n;
}

/** Remove segment folders (and their parent work folder when given). */
export async function removeSegments(dirs: string[], workDir?: string): Promise<void> {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  if (workDir) await rm(workDir, { recursive: true, force: true });
}
