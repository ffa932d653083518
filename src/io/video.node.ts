// One entry for video files: openVideo reads Y4M natively (no ffmpeg needed), a folder of frames,
// or anything ffmpeg reads; createVideoWriter writes Y4M natively, .mp4/.mkv/.webm/.mov/.avi
// through ffmpeg (audio carried from the source), or a folder of PNG frames.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { type Image } from './image.js';
import { type VideoInfo, type VideoSource, type VideoWriter, type Y4MHeader, rgbToYuv, yuvToRgb, type YuvToRgbOptions } from './y4m.js';
import { openY4M, createY4MWriter, fileReadError } from './y4m.node.js';
import { openFrameFolder, createFrameFolderWriter, type FrameFolderWriterOptions } from './frames.node.js';
import { probeVideo, decodeVideoFrames, createFfmpegWriter, FFMPEG_OUTPUT_EXTENSIONS, type FfmpegOptions, type EncodeOptions } from './ffmpeg.node.js';

export type { VideoInfo, VideoSource, VideoWriter };

export type VideoKind = 'y4m' | 'frames' | 'ffmpeg';

/** File extensions `mvsr upscale` treats as video (input and output). */
export const VIDEO_EXTENSIONS = new Set(['.y4m', '.mp4', '.mkv', '.webm', '.avi', '.mov', '.m4v']);

export interface OpenedVideo extends VideoSource {
  kind: VideoKind;
  path: string;
}

export interface OpenVideoOptions {
  /** Frame rate for frame folders, which store none (default 25/1). */
  fps?: [number, number];
  /** ffmpeg/ffprobe binaries (default: on PATH, or $MVSR_FFMPEG / $MVSR_FFPROBE). */
  ffmpeg?: FfmpegOptions;
  /** Y4M chroma upsampling (default bilinear at the header's siting). */
  y4m?: YuvToRgbOptions;
}

const Y4M_MAGIC = 'YUV4MPEG2';

async function firstBytes(file: string, n: number): Promise<Buffer> {
  const fh = await fsp.open(file, 'r');
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Open a video for reading frames as 8-bit RGB Images. A folder is a clip of frame files; a file
 * starting with "YUV4MPEG2" (or named .y4m) is read natively; anything else goes to ffmpeg.
 */
export async function openVideo(file: string, opts: OpenVideoOptions = {}): Promise<OpenedVideo> {
  let isDir: boolean, head: Buffer;
  try {
    isDir = (await fsp.stat(file)).isDirectory();
    head = isDir ? Buffer.alloc(0) : await firstBytes(file, Y4M_MAGIC.length);
  } catch (e) {
    throw fileReadError(file, e);
  }
  if (isDir) return { kind: 'frames', path: file, ...(await openFrameFolder(file, opts.fps ? { fps: opts.fps } : {})) };
  if (head.toString('latin1') === Y4M_MAGIC || path.extname(file).toLowerCase() === '.y4m') {
    const y = await openY4M(file);
    const info: VideoInfo = { width: y.header.width, height: y.header.height, fps: y.header.fps, hasAudio: false };
    if (y.frameCount !== undefined) info.frames = y.frameCount;
    return {
      kind: 'y4m',
      path: file,
      info,
      async *frames(o = {}) {
        for await (const f of y.frames(o)) yield yuvToRgb(f, opts.y4m);
      },
    };
  }
  const ff = opts.ffmpeg ?? {};
  const p = await probeVideo(file, ff);
  const info: VideoInfo = { width: p.width, height: p.height, fps: p.fps, hasAudio: p.hasAudio };
  if (p.frames !== undefined) info.frames = p.frames;
  return {
    kind: 'ffmpeg',
    path: file,
    info,
    frames: (o = {}) => decodeVideoFrames(file, info, { ...ff, ...o }),
  };
}

/** What createVideoWriter would write for this name: .y4m, a container ffmpeg writes, or a folder. */
export async function videoKindForOutput(file: string): Promise<VideoKind> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.y4m') return 'y4m';
  if (FFMPEG_OUTPUT_EXTENSIONS.includes(ext)) return 'ffmpeg';
  if (/[\\/]$/.test(file) || ext === '') return 'frames';
  const st = await fsp.stat(file).catch(() => null);
  if (st?.isDirectory()) return 'frames';
  throw new Error(`mvsr: ${file}: cannot tell what to write from the name (use .y4m, ${FFMPEG_OUTPUT_EXTENSIONS.join(', ')}, or a folder name for PNG frames)`);
}

export interface VideoWriterOptions extends FrameFolderWriterOptions, Omit<EncodeOptions, keyof FfmpegOptions> {
  /** ffmpeg/ffprobe binaries. */
  ffmpeg?: FfmpegOptions;
  /** Y4M chroma format (default '420jpeg', subsampled as ffmpeg does; '444' keeps full chroma). */
  y4mChroma?: '420jpeg' | '444';
}

export interface OpenedWriter extends VideoWriter {
  kind: VideoKind;
  path: string;
}

/**
 * Write frames (RGB Images of info's size) to a video. Y4M and PNG folders need no ffmpeg and
 * carry no audio (opts.audioFrom is ignored there: see carriesAudio); .mp4/.m4v/.mov/.mkv/.webm/.avi
 * go through ffmpeg with the audio of opts.audioFrom. The output appears only when close() succeeds.
 */
export async function createVideoWriter(file: string, info: Pick<VideoInfo, 'width' | 'height' | 'fps'>, opts: VideoWriterOptions = {}): Promise<OpenedWriter> {
  const kind = await videoKindForOutput(file);
  if (kind === 'frames') return { kind, path: file, ...(await createFrameFolderWriter(file, info, opts)) };
  if (kind === 'ffmpeg') {
    const { ffmpeg, y4mChroma: _, digits: _d, start: _s, level: _l, ...enc } = opts;
    const w = await createFfmpegWriter(file, info, { ...enc, ...(ffmpeg ?? {}) });
    return Object.assign(w, { kind, path: file });
  }
  const chroma = opts.y4mChroma ?? '420jpeg';
  const header: Y4MHeader = { width: info.width, height: info.height, fps: info.fps, interlace: 'p', aspect: [1, 1], chroma, comments: [] };
  const y = await createY4MWriter(file, header);
  const onAbort = (): void => void y.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  return {
    kind,
    path: file,
    carriesAudio: false,
    async write(frame: Image) {
      opts.signal?.throwIfAborted();
      if (frame.width !== info.width || frame.height !== info.height) {
        throw new Error(`mvsr: ${file}: frame ${y.frames + 1} is ${frame.width}x${frame.height}, the video is ${info.width}x${info.height}`);
      }
      await y.write(rgbToYuv(frame, chroma));
    },
    async close() {
      opts.signal?.removeEventListener('abort', onAbort);
      await y.close();
    },
    async abort() {
      opts.signal?.removeEventListener('abort', onAbort);
      await y.abort();
    },
  };
}
