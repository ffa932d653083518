// The ffmpeg bridge: probe any file ffmpeg reads (ffprobe, JSON), decode it to RGB frames
// streamed through a pipe (exactly W·H·3 bytes per frame, never the whole clip in memory), and
// encode RGB frames to a file with the source's audio carried over. Output is written under a
// temporary name and renamed at the end, so an interrupted run leaves nothing that looks done.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { type Image, assertImage, toRGB, to8Bit, describeImage } from './image.js';
import { type VideoInfo, type VideoWriter } from './y4m.js';
import { tempNameFor } from './y4m.node.js';

export interface FfmpegOptions {
  /** The ffmpeg binary (default: $MVSR_FFMPEG, else `ffmpeg` on PATH). */
  ffmpeg?: string;
  /** The ffprobe binary (default: $MVSR_FFPROBE, else `ffprobe` next to an explicit ffmpeg, else on PATH). */
  ffprobe?: string;
}

function ffmpegBin(o: FfmpegOptions): string {
  return o.ffmpeg ?? process.env.MVSR_FFMPEG ?? 'ffmpeg';
}

function ffprobeBin(o: FfmpegOptions): string {
  if (o.ffprobe) return o.ffprobe;
  if (process.env.MVSR_FFPROBE) return process.env.MVSR_FFPROBE;
  const ff = o.ffmpeg ?? process.env.MVSR_FFMPEG;
  if (ff && path.basename(ff).startsWith('ffmpeg')) return path.join(path.dirname(ff), path.basename(ff).replace(/^ffmpeg/, 'ffprobe'));
  return 'ffprobe';
}

/** The one-line message for a missing ffmpeg. */
export function ffmpegMissingMessage(file: string, action: 'read' | 'write'): string {
  const ext = path.extname(file) || 'no extension';
  return `mvsr: ffmpeg is needed to ${action} ${file} (${ext}); install it with "apt-get install ffmpeg" (Debian/Ubuntu) or ${action === 'read' ? 'use' : 'write'} a .y4m file`;
}

/** ffmpeg (or ffprobe) could not be started or failed; the message is one line. */
export class FfmpegError extends Error {
  constructor(
    message: string,
    /** True when the binary is not installed (or not executable). */
    readonly missing = false,
  ) {
    super(message);
    this.name = 'FfmpegError';
  }
}

/** Keeps the last few KiB of a child's stderr, for the error message. */
class StderrTail {
  private text = '';
  constructor(child: ChildProcess) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.text = (this.text + s).slice(-8192);
    });
  }
  lastLine(): string {
    const lines = this.text.split(/\r?\n|\r/).map((l) => l.trim()).filter((l) => l !== '');
    return lines.length ? lines[lines.length - 1]! : 'no message';
  }
}

interface Started {
  child: ChildProcess;
  stderr: StderrTail;
  /** Resolves when the process has exited and its pipes are closed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawn and wait until it is running; a binary that is not there becomes the install message. */
async function start(bin: string, args: string[], file: string, action: 'read' | 'write', stdin: 'pipe' | 'ignore'): Promise<Started> {
  const child = spawn(bin, args, { stdio: [stdin, 'pipe', 'pipe'] });
  const stderr = new StderrTail(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('close', (code, signal) => res({ code, signal })));
  try {
    await new Promise<void>((res, rej) => {
      child.once('spawn', res);
      child.once('error', rej);
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES') throw new FfmpegError(ffmpegMissingMessage(file, action), true);
    throw new FfmpegError(`mvsr: ${file}: cannot start ${bin} (${code ?? (e as Error).message})`);
  }
  child.on('error', () => {}); // later errors (kill of a dead process) surface through exit codes
  return { child, stderr, exited };
}

function abortError(file: string, signal: AbortSignal | undefined): Error {
  const r: unknown = signal?.aborted ? signal.reason : undefined;
  return r instanceof Error ? r : new FfmpegError(`mvsr: ${file}: aborted`);
}

function kill(s: Started): void {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
}

/** Run to completion, collecting stdout (small outputs only: ffprobe JSON, encoder lists). */
async function run(bin: string, args: string[], file: string, action: 'read' | 'write', what: string): Promise<string> {
  const s = await start(bin, args, file, action, 'ignore');
  let out = '';
  s.child.stdout!.setEncoding('utf8');
  s.child.stdout!.on('data', (d: string) => (out += d));
  const { code, signal } = await s.exited;
  if (code !== 0) throw new FfmpegError(`mvsr: ${file}: ${what} failed (${code === null ? `signal ${signal}` : `exit code ${code}`}): ${s.stderr.lastLine()}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Probing

interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number }[];
}

export interface ProbeInfo extends VideoInfo {
  /** Codec of the first video stream (ffprobe's name: h264, mjpeg, …). */
  codec: string;
  /** Codec of the first audio stream, when there is one. */
  audioCodec?: string;
  /** ffprobe's format_name (e.g. 'mov,mp4,m4a,3gp,3g2,mj2'). */
  container: string;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function parseRate(s: string | undefined): [number, number] | null {
  const m = /^(\d+)\/(\d+)$/.exec(s ?? '');
  if (!m) return null;
  const n = Number(m[1]), d = Number(m[2]);
  if (!(n > 0 && d > 0)) return null;
  const g = gcd(n, d);
  return [n / g, d / g];
}

interface ProbeDoc {
  streams?: ProbeStream[];
  format?: { format_name?: string };
}

async function ffprobe(file: string, opts: FfmpegOptions): Promise<ProbeDoc> {
  const json = await run(ffprobeBin(opts), ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', '--', file], file, 'read', 'ffprobe');
  try {
    return JSON.parse(json) as ProbeDoc;
  } catch {
    throw new FfmpegError(`mvsr: ${file}: ffprobe printed something that is not JSON`);
  }
}

/** Codec of the first audio stream of a file (video or audio only), or null when it has none. */
export async function probeAudioCodec(file: string, opts: FfmpegOptions = {}): Promise<string | null> {
  const a = (await ffprobe(file, opts)).streams?.find((s) => s.codec_type === 'audio');
  return a ? (a.codec_name ?? 'unknown') : null;
}

/**
 * What ffprobe says: the first video stream's size (after the rotation ffmpeg applies when
 * decoding), frame rate (average, else the stream's base rate), frame count when the container
 * states it, and whether there is audio.
 */
export async function probeVideo(file: string, opts: FfmpegOptions = {}): Promise<ProbeInfo> {
  const doc = await ffprobe(file, opts);
  const streams = doc.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (!video || !video.width || !video.height) {
    const kinds = streams.map((s) => s.codec_type ?? 'unknown').join(', ') || 'no streams';
    throw new FfmpegError(`mvsr: ${file}: no video stream (ffprobe found: ${kinds})`);
  }
  const fps = parseRate(video.avg_frame_rate) ?? parseRate(video.r_frame_rate);
  if (!fps) throw new FfmpegError(`mvsr: ${file}: ffprobe gives no frame rate for the video stream`);
  const rotation = Number(video.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? video.tags?.rotate ?? 0);
  const turned = Math.abs(Math.round(rotation / 90)) % 2 === 1;
  const audio = streams.find((s) => s.codec_type === 'audio');
  const info: ProbeInfo = {
    width: turned ? video.height : video.width,
    height: turned ? video.width : video.height,
    fps,
    hasAudio: audio !== undefined,
    codec: video.codec_name ?? 'unknown',
    container: doc.format?.format_name ?? 'unknown',
  };
  const nb = Number(video.nb_frames);
  if (Number.isInteger(nb) && nb > 0) info.frames = nb;
  if (audio?.codec_name) info.audioCodec = audio.codec_name;
  return info;
}

// ---------------------------------------------------------------------------------------------
// Decoding

export interface DecodeOptions extends FfmpegOptions {
  signal?: AbortSignal;
  /** The first frame to yield (0-based; the ones before are decoded and dropped, exact where a time seek is not). */
  start?: number;
}

/**
 * RGB frames of the first video stream, in decoding order, each frame once (no frame-rate
 * conversion). ffmpeg converts to rgb24 with bicubic, accurately rounded, full-resolution chroma
 * interpolation (its default repeats each chroma sample over 2x2 pixels). Memory is one frame
 * plus the pipe; stopping early (break, abort, an error) kills ffmpeg.
 */
export async function* decodeVideoFrames(file: string, size: { width: number; height: number }, opts: DecodeOptions = {}): AsyncGenerator<Image> {
  const { width: W, height: H } = size;
  opts.signal?.throwIfAborted();
  const args = [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-i', file,
    '-map', '0:v:0', '-vsync', 'passthrough',
    '-sws_flags', 'bicubic+accurate_rnd+full_chroma_int', '-s', `${W}x${H}`,
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ];
  const s = await start(ffmpegBin(opts), args, file, 'read', 'ignore');
  const onAbort = (): void => kill(s);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const frameBytes = W * H * 3;
  try {
    let frame = new Uint8Array(frameBytes), filled = 0, n = 0;
    for await (const chunk of s.child.stdout as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(frameBytes - filled, chunk.length - off);
        frame.set(chunk.subarray(off, off + take), filled);
        filled += take;
        off += take;
        if (filled === frameBytes) {
          n++;
          const img: Image = { width: W, height: H, channels: 3, bitDepth: 8, data: frame };
          frame = new Uint8Array(frameBytes);
          filled = 0;
          if (n <= (opts.start ?? 0)) continue; // before the start frame: decoded and dropped
          yield img;
          opts.signal?.throwIfAborted();
        }
      }
    }
    const { code, signal } = await s.exited;
    opts.signal?.throwIfAborted();
    if (code !== 0) throw new FfmpegError(`mvsr: ${file}: ffmpeg failed ${n ? `after frame ${n} ` : ''}(${code === null ? `signal ${signal}` : `exit code ${code}`}): ${s.stderr.lastLine()}`);
    if (filled) throw new FfmpegError(`mvsr: ${file}: frame ${n + 1}: ffmpeg's output ends ${filled} bytes into the frame (of ${frameBytes})`);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    kill(s);
    s.child.stdout?.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

interface Container {
  muxer: string;
  /** Video encoders in order of preference; the first this ffmpeg has is used. */
  video: string[];
  /** Audio codecs (ffprobe names) this container takes as they are. */
  audioCopy: string[] | 'all';
  /** Audio encoders for the rest, in order of preference. */
  audio: string[];
}

const H264 = ['libx264', 'libopenh264', 'mpeg4'];
const CONTAINERS: Record<string, Container> = {
  '.mp4': { muxer: 'mp4', video: H264, audioCopy: ['aac', 'mp3', 'ac3', 'eac3', 'alac', 'opus'], audio: ['aac'] },
  '.m4v': { muxer: 'mp4', video: H264, audioCopy: ['aac', 'mp3', 'ac3', 'eac3', 'alac'], audio: ['aac'] },
  '.mov': { muxer: 'mov', video: H264, audioCopy: ['aac', 'mp3', 'ac3', 'alac', 'pcm_s16le', 'pcm_s16be', 'pcm_s24le'], audio: ['aac'] },
  '.mkv': { muxer: 'matroska', video: H264, audioCopy: 'all', audio: ['libopus', 'aac'] },
  '.webm': { muxer: 'webm', video: ['libvpx-vp9', 'libvpx', 'libaom-av1'], audioCopy: ['opus', 'vorbis'], audio: ['libopus', 'libvorbis', 'opus'] },
  '.avi': { muxer: 'avi', video: ['libx264', 'mpeg4'], audioCopy: ['mp3', 'ac3', 'pcm_s16le'], audio: ['libmp3lame', 'pcm_s16le'] },
};

/** File extensions createFfmpegWriter can write. */
export const FFMPEG_OUTPUT_EXTENSIONS = Object.keys(CONTAINERS);

const encoderCache = new Map<string, Promise<Set<string>>>();

/** The encoders this ffmpeg build has (from `ffmpeg -encoders`), cached per binary. */
export function ffmpegEncoders(file: string, opts: FfmpegOptions = {}): Promise<Set<string>> {
  const bin = ffmpegBin(opts);
  let p = encoderCache.get(bin);
  if (!p) {
    p = run(bin, ['-hide_banner', '-encoders'], file, 'write', 'ffmpeg -encoders').then((out) => {
      const set = new Set<string>();
      for (const line of out.split('\n')) {
        const m = /^\s*[VAS][A-Z.]{5}\s+(\S+)/.exec(line);
        if (m) set.add(m[1]!);
      }
      return set;
    });
    p.catch(() => encoderCache.delete(bin));
    encoderCache.set(bin, p);
  }
  return p;
}

/** True when this ffmpeg (and ffprobe) can be started. */
export async function haveFfmpeg(opts: FfmpegOptions = {}): Promise<boolean> {
  try {
    await run(ffmpegBin(opts), ['-version'], 'ffmpeg', 'read', 'ffmpeg -version');
    await run(ffprobeBin(opts), ['-version'], 'ffprobe', 'read', 'ffprobe -version');
    return true;
  } catch {
    return false;
  }
}

export interface EncodeOptions extends FfmpegOptions {
  /** Carry the first audio stream of this file (usually the source clip); copied when the container takes its codec, re-encoded otherwise. */
  audioFrom?: string;
  /** Video encoder (default: libx264 when this ffmpeg has it, else the container's next choice). */
  codec?: string;
  /** Quality for libx264/libvpx-vp9/libaom-av1 (default 18 for x264, 30 for VP9/AV1). */
  crf?: number;
  /** libx264 preset (default 'medium'). */
  preset?: string;
  signal?: AbortSignal;
}

export interface FfmpegWriter extends VideoWriter {
  /** The video encoder used. */
  readonly codec: string;
  /** How audio is carried: 'copy', an encoder name, or null for none. */
  readonly audio: string | null;
}

function videoCodecArgs(codec: string, opts: EncodeOptions): string[] {
  switch (codec) {
    case 'libx264': return ['-preset', opts.preset ?? 'medium', '-crf', String(opts.crf ?? 18)];
    case 'libvpx-vp9': return ['-crf', String(opts.crf ?? 30), '-b:v', '0', '-row-mt', '1', '-deadline', 'good', '-cpu-used', '4'];
    case 'libaom-av1': return ['-crf', String(opts.crf ?? 30), '-b:v', '0', '-cpu-used', '6'];
    case 'mpeg4': return ['-q:v', '2'];
    default: return [];
  }
}

/**
 * Encode RGB frames to `file` (.mp4, .m4v, .mov, .mkv, .webm, .avi) at info.fps, yuv420p (BT.601
 * limited range, tagged as such), with the first audio stream of opts.audioFrom carried over.
 * ffmpeg writes to a temporary name next to the file; close() renames it when ffmpeg succeeded,
 * abort() or any failure removes it.
 */
export async function createFfmpegWriter(file: string, info: Pick<VideoInfo, 'width' | 'height' | 'fps'>, opts: EncodeOptions = {}): Promise<FfmpegWriter> {
  const ext = path.extname(file).toLowerCase();
  const box = CONTAINERS[ext];
  if (!box) throw new FfmpegError(`mvsr: ${file}: cannot write ${ext || 'files without an extension'} with ffmpeg (use ${FFMPEG_OUTPUT_EXTENSIONS.join(', ')})`);
  const { width: W, height: H } = info;
  const [fn, fd] = info.fps;
  if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0)) throw new FfmpegError(`mvsr: ${file}: frame size ${W}x${H} must be positive integers`);
  if (!(Number.isInteger(fn) && Number.isInteger(fd) && fn > 0 && fd > 0)) throw new FfmpegError(`mvsr: ${file}: frame rate ${fn}/${fd} must be a ratio of positive integers`);
  opts.signal?.throwIfAborted();
  const encoders = await ffmpegEncoders(file, opts);
  const codec = opts.codec ?? box.video.find((c) => encoders.has(c));
  if (!codec) throw new FfmpegError(`mvsr: ${file}: this ffmpeg has none of the video encoders ${box.video.join(', ')} for ${ext}`);
  if (!encoders.has(codec)) throw new FfmpegError(`mvsr: ${file}: this ffmpeg has no '${codec}' encoder`);
  if ((W % 2 || H % 2) && !codec.startsWith('libvpx') && !codec.startsWith('libaom')) {
    throw new FfmpegError(`mvsr: ${file}: ${codec} in yuv420p needs an even width and height, the frames are ${W}x${H}; write a .y4m, a .webm or a folder of PNGs instead`);
  }
  let audio: string | null = null;
  if (opts.audioFrom) {
    const srcCodec = await probeAudioCodec(opts.audioFrom, opts);
    if (srcCodec !== null) {
      const copy = box.audioCopy === 'all' || box.audioCopy.includes(srcCodec);
      audio = copy ? 'copy' : (box.audio.find((c) => encoders.has(c)) ?? null);
      if (!audio) throw new FfmpegError(`mvsr: ${file}: cannot carry the ${srcCodec} audio of ${opts.audioFrom}: this ffmpeg has none of ${box.audio.join(', ')}`);
    }
  }
  const tmp = tempNameFor(file);
  const args = [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-n',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-framerate', `${fn}/${fd}`, '-i', 'pipe:0',
    ...(audio ? ['-i', opts.audioFrom!] : []),
    '-map', '0:v:0', ...(audio ? ['-map', '1:a:0', '-c:a', audio, '-shortest'] : []),
    '-c:v', codec, ...videoCodecArgs(codec, opts),
    '-pix_fmt', 'yuv420p', '-colorspace', 'smpte170m', '-color_range', 'tv',
    '-f', box.muxer, tmp,
  ];
  const s = await start(ffmpegBin(opts), args, file, 'write', 'pipe');
  const stdin = s.child.stdin!;
  stdin.on('error', () => {}); // EPIPE when ffmpeg has quit: reported from its exit status instead
  let state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  let frames = 0;
  let queue: Promise<void> = Promise.resolve();
  const failure = async (what: string): Promise<FfmpegError> => {
    const { code, signal } = await s.exited;
    return new FfmpegError(`mvsr: ${file}: ffmpeg ${what} (${code === null ? `signal ${signal}` : `exit code ${code}`}): ${s.stderr.lastLine()}`);
  };
  let cleaned: Promise<void> = Promise.resolve();
  const cleanup = async (): Promise<void> => {
    kill(s);
    stdin.destroy();
    await s.exited;
    await fsp.rm(tmp, { force: true }).catch(() => {});
  };
  const onAbort = (): void => void writer.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  /**
   * Write one frame, resolving when the pipe has taken all of it (the write callback, which also
   * waits out any 'drain'): backpressure from ffmpeg holds the caller, and the caller may reuse
   * the frame's memory afterwards. Rejects when ffmpeg is gone.
   */
  const send = (buf: Uint8Array): Promise<void> =>
    new Promise<void>((res, rej) => {
      let settled = false;
      const settle = (err?: Error | null): void => {
        if (settled) return;
        settled = true;
        s.child.off('close', exit);
        if (err) rej(err);
        else res();
      };
      const exit = (): void => settle(new Error('ffmpeg exited'));
      s.child.once('close', exit);
      stdin.write(buf, settle);
    });

  const writer: FfmpegWriter = {
    codec,
    audio,
    carriesAudio: audio !== null,
    async write(frame) {
      if (state !== 'open') throw new FfmpegError(`mvsr: ${file}: write after ${state === 'aborted' ? 'abort' : 'close'}`);
      assertImage(frame, `${file}: frame ${frames + 1}`);
      if (frame.width !== W || frame.height !== H) {
        throw new FfmpegError(`mvsr: ${file}: frame ${frames + 1} is ${describeImage(frame)}, the video is ${W}x${H}`);
      }
      const rgb = to8Bit(toRGB(frame)).data as Uint8Array;
      const buf = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
      const p = queue.then(() => send(buf));
      queue = p.catch(() => {});
      try {
        await p;
      } catch {
        if ((state as string) === 'aborted') throw abortError(file, opts.signal);
        const e = await failure(`stopped at frame ${frames + 1}`);
        await writer.abort();
        throw e;
      }
      frames++;
    },
    async close() {
      if (state === 'closed') return;
      if (state !== 'open') throw new FfmpegError(`mvsr: ${file}: close after ${state === 'aborted' ? 'abort' : 'close'}`);
      state = 'closing';
      opts.signal?.removeEventListener('abort', onAbort);
      await queue;
      if (frames === 0) {
        state = 'aborted';
        await (cleaned = cleanup());
        throw new FfmpegError(`mvsr: ${file}: no frames were written`);
      }
      stdin.end();
      const { code } = await s.exited;
      if (code !== 0) {
        const e = await failure('failed');
        state = 'aborted';
        await (cleaned = cleanup());
        throw e;
      }
      try {
        await fsp.rename(tmp, file);
      } catch (e) {
        state = 'aborted';
        await (cleaned = cleanup());
        throw new FfmpegError(`mvsr: ${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      state = 'closed';
    },
    abort() {
      if (state === 'closed') return Promise.resolve();
      if (state !== 'aborted') {
        state = 'aborted';
        opts.signal?.removeEventListener('abort', onAbort);
        cleaned = cleanup();
      }
      return cleaned;
    },
  };
  return writer;
}
