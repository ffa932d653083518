// YUV4MPEG2 (Y4M), 8-bit 4:2:0 and 4:4:4: header parsing and formatting, a streaming frame
// decoder over any async source of byte chunks (memory is one frame, whatever the clip length),
// and BT.601 limited-range conversions between planar YUV frames and RGB Images that match
// what ffmpeg does by default. Browser-safe: no Node imports; y4m.node.ts adds files.
//
// What ffmpeg (libswscale 6, FFmpeg 5.1, default flags 'bicubic') does for rgb24 -> yuv420p, as
// measured against `ffmpeg -f rawvideo -pix_fmt rgb24 ... -pix_fmt yuv420p` and implemented here:
//  - matrix BT.601 (Kr 0.299, Kb 0.114), limited ("tv"/MPEG) range: Y 16..235, Cb/Cr 16..240;
//  - horizontally, chroma is the mean of each pixel pair (2i, 2i+1), i.e. centred between them;
//  - vertically, the full-height chroma rows are downscaled H -> ceil(H/2) by swscale's bicubic
//    (B = 0, C = 0.6) stretched by H/ceil(H/2), output row j centred at (j + 0.5)·H/ceil(H/2) - 0.5
//    (between luma rows 2j and 2j+1 for even H), taps beyond the frame clamped to the edge row;
//    so chroma is centre-sited ("C420jpeg", which is also what ffmpeg's Y4M muxer writes).
// Ours computes the same in float64 with one final rounding; ffmpeg uses 15-bit fixed point, so
// they differ by at most one level. Known gaps: for odd widths ffmpeg's last chroma column averages
// the last pixel with memory past the row end (we use the last pixel twice), and below 9 rows
// ffmpeg shortens its vertical filter (we keep the clamped one).
// ffmpeg's own yuv420p -> rgb24 default repeats each chroma sample over its 2x2 pixels
// ('nearest' here); we interpolate bilinearly at the siting the header declares by default.

import { type Image, assertImage, toRGB, to8Bit } from './image.js';

// ---------------------------------------------------------------------------------------------
// Shared video types (used by the Node readers and writers too)

/** What a video source says about itself. */
export interface VideoInfo {
  width: number;
  height: number;
  /** Frame rate as a ratio [numerator, denominator] (25 fps is [25, 1], NTSC is [30000, 1001]). */
  fps: [number, number];
  /** Number of frames, when the container states it (or the file size implies it). */
  frames?: number;
  hasAudio: boolean;
}

/** Where frames() starts: a 0-based frame index (default 0). */
export interface FramesOptions {
  signal?: AbortSignal;
  /** Skip to this frame (0-based): a seek where the format allows it (Y4M, frame folders), else frames decoded and dropped. */
  start?: number;
}

/** A clip that can be read frame by frame; each call of frames() starts from the first frame (or opts.start). */
export interface VideoSource {
  info: VideoInfo;
  frames(opts?: FramesOptions): AsyncGenerator<Image>;
}

/** Where frames go. The output appears under its name only after close() succeeds. */
export interface VideoWriter {
  /** Whether the source's audio is carried into the output (only containers written by ffmpeg can). */
  readonly carriesAudio: boolean;
  write(frame: Image): Promise<void>;
  close(): Promise<void>;
  /** Stop and remove everything written so far (safe to call more than once, or after a failure). */
  abort(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Header

/** The supported C tags: 4:2:0 with its chroma sitings, and 4:4:4. */
export type Y4MChroma = '420jpeg' | '420paldv' | '420mpeg2' | '420' | '444';

export interface Y4MHeader {
  width: number;
  height: number;
  /** F: frame rate ratio; [25, 1] when the header has none (or F0:0), as ffmpeg assumes. */
  fps: [number, number];
  /** I: only progressive ('p') is supported; undefined when the header has no I field. */
  interlace?: 'p';
  /** A: pixel aspect ratio ([0, 0] means unknown); undefined when absent. */
  aspect?: [number, number];
  /** C: chroma format; '420jpeg' when absent (the YUV4MPEG2 default). */
  chroma: Y4MChroma;
  /** X fields in order, without the leading 'X' (e.g. 'YSCSS=420JPEG'). */
  comments: string[];
}

/** A planar 8-bit frame; u and v are chromaWidth x chromaHeight (see chromaSize). */
export interface YuvFrame {
  width: number;
  height: number;
  chroma: Y4MChroma;
  /** Sample range: 'limited' (Y 16..235, the default when absent) or 'full' (0..255, Y4M comment XCOLORRANGE=FULL). */
  range?: 'limited' | 'full';
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
}

/** A Y4M problem in one line; `problem` has no file name, `frame` is 1-based when the problem is in a frame. */
export class Y4MError extends Error {
  constructor(
    readonly problem: string,
    readonly frame?: number,
    readonly byteOffset?: number,
    name?: string,
  ) {
    super(name ? `mvsr: ${name}: ${problem}` : `mvsr: ${problem}`);
    this.name = 'Y4MError';
  }
}

const MAGIC = 'YUV4MPEG2';
const CHROMAS: readonly Y4MChroma[] = ['420jpeg', '420paldv', '420mpeg2', '420', '444'];
/** Longest header line we accept (X comments can be long, but not unbounded). */
export const Y4M_MAX_HEADER = 1 << 16;
/** Largest frame (picture bytes) we read: 1 GiB, e.g. 16384x16384 4:4:4 fits. */
export const Y4M_MAX_FRAME = 1 << 30;
/** Frames above this size are read piecewise, so a header that claims more than the file holds costs no memory. */
const Y4M_PIECE = 1 << 22;

export function isSubsampled(chroma: Y4MChroma): boolean {
  return chroma !== '444';
}

/** Chroma plane size: ceil(W/2) x ceil(H/2) for 4:2:0, W x H for 4:4:4. */
export function chromaSize(width: number, height: number, chroma: Y4MChroma): [number, number] {
  return isSubsampled(chroma) ? [(width + 1) >> 1, (height + 1) >> 1] : [width, height];
}

/** Bytes of picture data in one frame (without the FRAME line). */
export function y4mFrameSize(h: { width: number; height: number; chroma: Y4MChroma }): number {
  const [cw, ch] = chromaSize(h.width, h.height, h.chroma);
  return h.width * h.height + 2 * cw * ch;
}

function ratio(tag: string, v: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m) throw new Y4MError(`bad Y4M header: ${tag}${v} is not a ratio n:d`);
  return [Number(m[1]), Number(m[2])];
}

function positiveInt(tag: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1 << 24) throw new Y4MError(`bad Y4M header: ${tag}${v} is not a size between 1 and ${1 << 24}`);
  return Number(v);
}

/** Parse the header line (without its newline). Errors are Y4MErrors naming the bad field. */
export function parseY4MHeader(line: string): Y4MHeader {
  if (!line.startsWith(MAGIC) || (line.length > MAGIC.length && line[MAGIC.length] !== ' ')) {
    throw new Y4MError(`not a Y4M file (it does not start with "${MAGIC} ")`);
  }
  let width: number | undefined, height: number | undefined;
  let fps: [number, number] = [25, 1];
  let interlace: 'p' | undefined, aspect: [number, number] | undefined;
  let chroma: Y4MChroma = '420jpeg';
  const comments: string[] = [];
  for (const tok of line.slice(MAGIC.length).split(' ')) {
    if (tok === '') continue; // tolerate doubled spaces
    const tag = tok[0]!, v = tok.slice(1);
    switch (tag) {
      case 'W': width = positiveInt(tag, v); break;
      case 'H': height = positiveInt(tag, v); break;
      case 'F': {
        const [n, d] = ratio(tag, v);
        if (n === 0 && d === 0) break; // unknown: keep the default
        if (n === 0 || d === 0) throw new Y4MError(`bad Y4M header: frame rate F${v} must have a non-zero numerator and denominator`);
        fps = [n, d];
        break;
      }
      case 'I':
        if (v !== 'p') {
          const what = v === 't' ? 'top field first' : v === 'b' ? 'bottom field first' : v === 'm' ? 'mixed per frame' : `'${v}'`;
          throw new Y4MError(`interlaced Y4M (I${v}, ${what}) is not supported: only progressive frames (Ip); deinterlace first, e.g. ffmpeg -i in.y4m -vf bwdif out.y4m`);
        }
        interlace = 'p';
        break;
      case 'A': aspect = ratio(tag, v); break;
      case 'C':
        if (!(CHROMAS as readonly string[]).includes(v)) {
          throw new Y4MError(`Y4M colour space C${v} is not supported (8-bit C420jpeg, C420paldv, C420mpeg2, C420 and C444 are); convert with e.g. ffmpeg -i in.y4m -pix_fmt yuv420p out.y4m`);
        }
        chroma = v as Y4MChroma;
        break;
      case 'X': comments.push(v); break;
      default: break; // unknown fields are ignored, as the format asks of readers
    }
  }
  if (width === undefined || height === undefined) throw new Y4MError(`bad Y4M header: no ${width === undefined ? 'W (width)' : 'H (height)'} field`);
  const h: Y4MHeader = { width, height, fps, chroma, comments };
  if (interlace) h.interlace = interlace;
  if (aspect) h.aspect = aspect;
  return h;
}

function checkRatio(what: string, r: [number, number], allowZero: boolean): void {
  if (!r.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff) || (!allowZero && (r[0] === 0 || r[1] === 0))) {
    throw new Error(`mvsr: Y4M ${what} ${r.join(':')} must be a ratio of ${allowZero ? 'non-negative' : 'positive'} integers`);
  }
}

/** The header line, newline included. */
export function formatY4MHeader(h: Y4MHeader): string {
  if (!Number.isInteger(h.width) || !Number.isInteger(h.height) || h.width < 1 || h.height < 1) {
    throw new Error(`mvsr: Y4M frame size ${h.width}x${h.height} must be positive integers`);
  }
  if (!CHROMAS.includes(h.chroma)) throw new Error(`mvsr: Y4M chroma '${h.chroma}' is not one of ${CHROMAS.join(', ')}`);
  checkRatio('frame rate', h.fps, false);
  let s = `${MAGIC} W${h.width} H${h.height} F${h.fps[0]}:${h.fps[1]}`;
  if (h.interlace) s += ` I${h.interlace}`;
  if (h.aspect) {
    checkRatio('pixel aspect', h.aspect, true);
    s += ` A${h.aspect[0]}:${h.aspect[1]}`;
  }
  s += ` C${h.chroma}`;
  for (const c of h.comments) {
    if (/[\s]/.test(c)) throw new Error(`mvsr: Y4M comment 'X${c}' must not contain spaces or newlines`);
    s += ` X${c}`;
  }
  return s + '\n';
}

export function encodeAscii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

function decodeAscii(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** The sample range a header declares (ffmpeg's XCOLORRANGE comment; limited when absent). */
export function y4mRange(h: Y4MHeader): 'limited' | 'full' {
  return h.comments.some((c) => c.toUpperCase() === 'COLORRANGE=FULL') ? 'full' : 'limited';
}

/** Throw unless the frame's planes fit the header (size and chroma format). */
export function checkYuvFrame(f: YuvFrame, h: { width: number; height: number; chroma: Y4MChroma }): void {
  if (f.width !== h.width || f.height !== h.height) throw new Error(`mvsr: Y4M frame is ${f.width}x${f.height}, the stream is ${h.width}x${h.height}`);
  if (isSubsampled(f.chroma) !== isSubsampled(h.chroma)) throw new Error(`mvsr: Y4M frame is ${f.chroma}, the stream is ${h.chroma}`);
  const [cw, ch] = chromaSize(h.width, h.height, h.chroma);
  if (f.y.length !== h.width * h.height) throw new Error(`mvsr: Y4M frame: Y plane has ${f.y.length} bytes, ${h.width}x${h.height} needs ${h.width * h.height}`);
  if (f.u.length !== cw * ch || f.v.length !== cw * ch) throw new Error(`mvsr: Y4M frame: U/V planes have ${f.u.length}/${f.v.length} bytes, ${cw}x${ch} needs ${cw * ch}`);
}

const FRAME_LINE = encodeAscii('FRAME\n');

/** The byte pieces of one frame as stored: the FRAME line, then the Y, U and V planes. */
export function encodeY4MFrame(f: YuvFrame, h: Y4MHeader): Uint8Array[] {
  checkYuvFrame(f, h);
  return [FRAME_LINE, f.y, f.u, f.v];
}

// ---------------------------------------------------------------------------------------------
// Streaming decoder

/** Pulls exact byte counts and lines out of a stream of chunks, counting the bytes consumed. */
class ChunkReader {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private ended = false;
  /** Bytes consumed so far (the file offset of the next byte). */
  offset = 0;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    for (;;) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      if (r.value.length > 0) {
        this.buf = r.value;
        this.pos = 0;
        return true;
      }
    }
  }

  /** Bytes up to '\n' (consumed, not returned); `complete` false when the stream ended first or max was passed. */
  async line(max: number): Promise<{ bytes: Uint8Array; complete: boolean } | null> {
    const parts: Uint8Array[] = [];
    let n = 0;
    for (;;) {
      if (this.pos >= this.buf.length && !(await this.more())) {
        return n === 0 ? null : { bytes: concat(parts, n), complete: false };
      }
      const nl = this.buf.indexOf(0x0a, this.pos);
      const end = nl < 0 ? this.buf.length : nl;
      const take = Math.min(end - this.pos, max + 1 - n);
      parts.push(this.buf.subarray(this.pos, this.pos + take));
      n += take;
      this.pos += take;
      this.offset += take;
      if (n > max) return { bytes: concat(parts, n), complete: false };
      if (nl >= 0 && this.pos === nl) {
        this.pos++;
        this.offset++;
        return { bytes: concat(parts, n), complete: true };
      }
    }
  }

  /** Fill dst from the stream; returns how many bytes were available (less than dst.length at the end). */
  async fill(dst: Uint8Array): Promise<number> {
    let n = 0;
    while (n < dst.length) {
      if (this.pos >= this.buf.length && !(await this.more())) break;
      const take = Math.min(dst.length - n, this.buf.length - this.pos);
      dst.set(this.buf.subarray(this.pos, this.pos + take), n);
      n += take;
      this.pos += take;
      this.offset += take;
    }
    return n;
  }

  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      await this.it.return?.();
    }
  }
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  if (parts.length === 1) return parts[0]!.slice();
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface Y4MStream {
  header: Y4MHeader;
  /** Header line length in bytes, newline included (where frame 1 starts). */
  headerBytes: number;
  /** The frames, one at a time; stopping early (break) closes the source. Single use. */
  frames: AsyncGenerator<YuvFrame>;
  /** Close the source without reading frames (needed only when frames is never iterated). */
  close(): Promise<void>;
}

/**
 * Read a Y4M stream from chunks of bytes (a file stream, a fetch body, …). The header is read
 * now; frames are read as they are asked for. Errors are Y4MErrors: `mvsr: <name>: <problem>`,
 * and a bad or truncated frame is `frame <n>: <reason> (… byte <offset> …)`, n counting from 1.
 */
export async function readY4MStream(source: AsyncIterable<Uint8Array>, opts: { name?: string } = {}): Promise<Y4MStream> {
  const name = opts.name;
  const reader = new ChunkReader(source[Symbol.asyncIterator]());
  let header: Y4MHeader;
  try {
    const first = await reader.line(Y4M_MAX_HEADER);
    if (first === null) throw new Y4MError('empty file (no Y4M header)', undefined, 0, name);
    const text = decodeAscii(first.bytes);
    if (!text.startsWith(MAGIC)) throw new Y4MError(`not a Y4M file (it does not start with "${MAGIC} ")`, undefined, 0, name);
    if (!first.complete) {
      throw new Y4MError(first.bytes.length > Y4M_MAX_HEADER ? `bad Y4M header: no newline in the first ${Y4M_MAX_HEADER} bytes` : 'truncated Y4M: the file ends inside the header', undefined, reader.offset, name);
    }
    try {
      header = parseY4MHeader(text);
    } catch (e) {
      if (e instanceof Y4MError) throw new Y4MError(e.problem, undefined, 0, name);
      throw e;
    }
    const frameBytes = y4mFrameSize(header);
    if (frameBytes > Y4M_MAX_FRAME) {
      throw new Y4MError(`Y4M frames of ${header.width}x${header.height} (C${header.chroma}, ${frameBytes} bytes each) are larger than the ${Y4M_MAX_FRAME}-byte limit`, undefined, 0, name);
    }
  } catch (e) {
    await reader.close();
    throw e;
  }
  const headerBytes = reader.offset;
  return { header, headerBytes, frames: decodeFrames(reader, header, name), close: () => reader.close() };
}

async function* decodeFrames(reader: ChunkReader, h: Y4MHeader, name: string | undefined): AsyncGenerator<YuvFrame> {
  const [cw, ch] = chromaSize(h.width, h.height, h.chroma);
  const ySize = h.width * h.height, cSize = cw * ch, total = ySize + 2 * cSize;
  const range = y4mRange(h);
  const fail = (n: number, at: number, reason: string): never => {
    throw new Y4MError(`frame ${n}: ${reason}`, n, at, name);
  };
  try {
    for (let n = 1; ; n++) {
      const start = reader.offset;
      const line = await reader.line(Y4M_MAX_HEADER);
      if (line === null) return; // clean end between frames
      const text = decodeAscii(line.bytes.subarray(0, 16));
      const cutMarker = !line.complete && 'FRAME'.startsWith(text);
      if (!cutMarker && !(text.startsWith('FRAME') && (line.bytes.length === 5 || line.bytes[5] === 0x20))) {
        fail(n, start, `corrupt Y4M: expected a "FRAME" line at byte ${start}, found ${JSON.stringify(text.replace(/[^\x20-\x7e]/g, '?'))}`);
      }
      if (!line.complete) {
        fail(n, start, line.bytes.length > Y4M_MAX_HEADER ? `corrupt Y4M: the FRAME line at byte ${start} has no newline` : `truncated Y4M: the file ends inside the FRAME line at byte ${start}`);
      }
      const dataStart = reader.offset;
      let y: Uint8Array, u: Uint8Array, v: Uint8Array, got: number;
      if (total <= Y4M_PIECE) {
        (y = new Uint8Array(ySize)), (u = new Uint8Array(cSize)), (v = new Uint8Array(cSize));
        got = await reader.fill(y);
        if (got === ySize) got += await reader.fill(u);
        if (got === ySize + cSize) got += await reader.fill(v);
      } else {
        // big frame: read it in pieces first, so memory follows the bytes actually there
        const pieces: Uint8Array[] = [];
        got = 0;
        while (got < total) {
          const piece = new Uint8Array(Math.min(Y4M_PIECE, total - got));
          const k = await reader.fill(piece);
          pieces.push(piece.subarray(0, k));
          got += k;
          if (k < piece.length) break;
        }
        if (got < total) (y = u = v = new Uint8Array(0));
        else {
          (y = new Uint8Array(ySize)), (u = new Uint8Array(cSize)), (v = new Uint8Array(cSize));
          let at = 0;
          for (const piece of pieces.splice(0)) {
            for (let o = 0; o < piece.length; ) {
              const [plane, base] = at < ySize ? [y, 0] : at < ySize + cSize ? [u, ySize] : [v, ySize + cSize];
              const take = Math.min(piece.length - o, plane.length - (at - base));
              plane.set(piece.subarray(o, o + take), at - base);
              (o += take), (at += take);
            }
          }
        }
      }
      if (got < total) {
        fail(n, dataStart, `truncated Y4M: ${got} of ${total} picture bytes (frame data starts at byte ${dataStart}, the file ends at byte ${dataStart + got})`);
      }
      yield range === 'full' ? { width: h.width, height: h.height, chroma: h.chroma, range, y, u, v } : { width: h.width, height: h.height, chroma: h.chroma, y, u, v };
    }
  } finally {
    await reader.close();
  }
}

// ---------------------------------------------------------------------------------------------
// BT.601 limited range colour conversion

const KR = 0.299, KB = 0.114, KG = 1 - KR - KB;
const YS = 219 / 255, CS = 224 / 255; // limited-range scales for luma and chroma
// YUV -> RGB factors (from the same Kr/Kb, so the two directions are exact inverses before rounding)
const Y_TO_RGB = 255 / 219;
const V_TO_R = (2 * (1 - KR) * 255) / 224;
const U_TO_G = ((2 * KB * (1 - KB)) / KG) * (255 / 224);
const V_TO_G = ((2 * KR * (1 - KR)) / KG) * (255 / 224);
const U_TO_B = (2 * (1 - KB) * 255) / 224;

function clamp8(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/** swscale's bicubic kernel with its default parameters B = 0, C = 0.6. */
function swsBicubic(x: number): number {
  const B = 0, C = 0.6;
  x = Math.abs(x);
  if (x < 1) return ((12 - 9 * B - 6 * C) * x ** 3 + (-18 + 12 * B + 6 * C) * x * x + (6 - 2 * B)) / 6;
  if (x < 2) return ((-B - 6 * C) * x ** 3 + (6 * B + 30 * C) * x * x + (-12 * B - 48 * C) * x + (8 * B + 24 * C)) / 6;
  return 0;
}

interface VFilter {
  /** For output row j: taps at rows index[off[j] .. off[j+1]) with weights (clamped, merged, summing to 1). */
  off: Int32Array;
  index: Int32Array;
  weight: Float64Array;
}

const vFilterCache = new Map<number, VFilter>();

/** The vertical chroma filter of swscale for srcH -> ceil(srcH/2) rows (see the top of this file). */
function chromaVFilter(srcH: number): VFilter {
  const cached = vFilterCache.get(srcH);
  if (cached) return cached;
  const dstH = (srcH + 1) >> 1;
  const inc = Math.floor((srcH * 65536 + (dstH >> 1)) / dstH) / 65536; // swscale's 16.16 step
  const s = Math.min(1, dstH / srcH); // kernel compression when downscaling
  const off = new Int32Array(dstH + 1), index: number[] = [], weight: number[] = [];
  for (let j = 0; j < dstH; j++) {
    const c = (j + 0.5) * inc - 0.5;
    const taps = new Map<number, number>();
    let sum = 0;
    for (let k = Math.ceil(c - 2 / s); k <= Math.floor(c + 2 / s); k++) {
      const w = swsBicubic((k - c) * s);
      if (w === 0) continue;
      const r = k < 0 ? 0 : k >= srcH ? srcH - 1 : k;
      taps.set(r, (taps.get(r) ?? 0) + w);
      sum += w;
    }
    for (const [r, w] of taps) {
      index.push(r);
      weight.push(w / sum);
    }
    off[j + 1] = index.length;
  }
  const f = { off, index: Int32Array.from(index), weight: Float64Array.from(weight) };
  if (vFilterCache.size > 64) vFilterCache.clear();
  vFilterCache.set(srcH, f);
  return f;
}

/**
 * An RGB Image (8-bit; grey, alpha and 16-bit are converted first: alpha dropped, 16-bit rounded
 * to 8) as BT.601 limited-range YUV. '420jpeg' (or '420') subsamples chroma the way ffmpeg's
 * rgb24 -> yuv420p does by default (centre-sited; see the top of this file); '444' keeps it whole.
 */
export function rgbToYuv(img: Image, chroma: '420jpeg' | '420' | '444' = '420jpeg'): YuvFrame {
  assertImage(img);
  if (chroma !== '420jpeg' && chroma !== '420' && chroma !== '444') {
    throw new Error(`mvsr: rgbToYuv produces 420jpeg (centre-sited, as ffmpeg) or 444 chroma, not ${chroma}`);
  }
  const rgb = to8Bit(toRGB(img)).data as Uint8Array;
  const W = img.width, H = img.height, n = W * H;
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = clamp8(16 + YS * (KR * rgb[3 * i]! + KG * rgb[3 * i + 1]! + KB * rgb[3 * i + 2]!));
  }
  // chroma from RGB: U = 128 + CS * (B - Y') / (2 (1 - Kb)), V = 128 + CS * (R - Y') / (2 (1 - Kr))
  const uR = (-CS * KR) / (2 * (1 - KB)), uG = (-CS * KG) / (2 * (1 - KB)), uB = CS / 2;
  const vR = CS / 2, vG = (-CS * KG) / (2 * (1 - KR)), vB = (-CS * KB) / (2 * (1 - KR));
  if (chroma === '444') {
    const u = new Uint8Array(n), v = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const r = rgb[3 * i]!, g = rgb[3 * i + 1]!, b = rgb[3 * i + 2]!;
      u[i] = clamp8(128 + uR * r + uG * g + uB * b);
      v[i] = clamp8(128 + vR * r + vG * g + vB * b);
    }
    return { width: W, height: H, chroma, y, u, v };
  }
  const cw = (W + 1) >> 1, ch = (H + 1) >> 1;
  // 1. every row, horizontally halved: the mean of pixels 2i and 2i+1 (the last one repeated for odd W)
  const hu = new Float64Array(cw * H), hv = new Float64Array(cw * H);
  for (let r = 0; r < H; r++) {
    for (let i = 0; i < cw; i++) {
      const p = 3 * (r * W + 2 * i), q = 2 * i + 1 < W ? p + 3 : p;
      const R = (rgb[p]! + rgb[q]!) / 2, G = (rgb[p + 1]! + rgb[q + 1]!) / 2, B = (rgb[p + 2]! + rgb[q + 2]!) / 2;
      hu[r * cw + i] = 128 + uR * R + uG * G + uB * B;
      hv[r * cw + i] = 128 + vR * R + vG * G + vB * B;
    }
  }
  // 2. vertically, swscale's bicubic downscale
  const f = chromaVFilter(H);
  const u = new Uint8Array(cw * ch), v = new Uint8Array(cw * ch);
  for (let j = 0; j < ch; j++) {
    for (let i = 0; i < cw; i++) {
      let su = 0, sv = 0;
      for (let t = f.off[j]!; t < f.off[j + 1]!; t++) {
        const w = f.weight[t]!, at = f.index[t]! * cw + i;
        su += w * hu[at]!;
        sv += w * hv[at]!;
      }
      u[j * cw + i] = clamp8(su);
      v[j * cw + i] = clamp8(sv);
    }
  }
  return { width: W, height: H, chroma, y, u, v };
}

/** Where chroma sample (0, 0) sits, in luma pixels, for each 4:2:0 siting. */
function chromaOrigin(chroma: Y4MChroma): [number, number] {
  switch (chroma) {
    case '420mpeg2': return [0, 0.5]; // co-sited with the left luma column, between rows
    case '420paldv': return [0, 0]; // co-sited with the top-left luma sample
    default: return [0.5, 0.5]; // 420jpeg and 420 (ffmpeg reads plain C420 as centred)
  }
}

/** Bilinear interpolation taps along one axis: luma coordinate t reads chroma (t - o) / 2. */
function upTaps(n: number, cn: number, o: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(n), i1 = new Int32Array(n), f = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const c = (t - o) / 2, fl = Math.floor(c);
    i0[t] = Math.min(Math.max(fl, 0), cn - 1);
    i1[t] = Math.min(Math.max(fl + 1, 0), cn - 1);
    f[t] = c - fl;
  }
  return { i0, i1, f };
}

export interface YuvToRgbOptions {
  /**
   * 4:2:0 chroma upsampling: 'bilinear' (default) interpolates at the siting the chroma tag
   * declares; 'nearest' repeats each sample over its 2x2 pixels, as ffmpeg's default yuv420p -> rgb24.
   */
  upsampling?: 'bilinear' | 'nearest';
}

/**
 * A BT.601 YUV frame (limited range, or full when frame.range says so) as an 8-bit RGB Image;
 * values outside the RGB gamut are clamped.
 */
export function yuvToRgb(f: YuvFrame, opts: YuvToRgbOptions = {}): Image {
  const W = f.width, H = f.height, n = W * H;
  checkYuvFrame(f, f);
  const out = new Uint8Array(3 * n);
  const full = f.range === 'full';
  const y0 = full ? 0 : 16, ys = full ? 1 : Y_TO_RGB, cs = full ? 224 / 255 : 1; // full-range chroma spans 255/224 more
  const vr = V_TO_R * cs, ug = U_TO_G * cs, vg = V_TO_G * cs, ub = U_TO_B * cs;
  const put = (i: number, Y: number, U: number, V: number): void => {
    const l = (Y - y0) * ys, cb = U - 128, cr = V - 128;
    out[3 * i] = clamp8(l + vr * cr);
    out[3 * i + 1] = clamp8(l - ug * cb - vg * cr);
    out[3 * i + 2] = clamp8(l + ub * cb);
  };
  if (!isSubsampled(f.chroma)) {
    for (let i = 0; i < n; i++) put(i, f.y[i]!, f.u[i]!, f.v[i]!);
  } else if (opts.upsampling === 'nearest') {
    const cw = (W + 1) >> 1;
    for (let r = 0; r < H; r++) {
      for (let x = 0; x < W; x++) {
        const c = (r >> 1) * cw + (x >> 1), i = r * W + x;
        put(i, f.y[i]!, f.u[c]!, f.v[c]!);
      }
    }
  } else {
    const [cw, ch] = chromaSize(W, H, f.chroma);
    const [ox, oy] = chromaOrigin(f.chroma);
    const tx = upTaps(W, cw, ox), ty = upTaps(H, ch, oy);
    for (let r = 0; r < H; r++) {
      const a = ty.i0[r]! * cw, b = ty.i1[r]! * cw, fy = ty.f[r]!;
      for (let x = 0; x < W; x++) {
        const x0 = tx.i0[x]!, x1 = tx.i1[x]!, fx = tx.f[x]!;
        const U = (f.u[a + x0]! * (1 - fx) + f.u[a + x1]! * fx) * (1 - fy) + (f.u[b + x0]! * (1 - fx) + f.u[b + x1]! * fx) * fy;
        const V = (f.v[a + x0]! * (1 - fx) + f.v[a + x1]! * fx) * (1 - fy) + (f.v[b + x0]! * (1 - fx) + f.v[b + x1]! * fx) * fy;
        const i = r * W + x;
        put(i, f.y[i]!, U, V);
      }
    }
  }
  return { width: W, height: H, channels: 3, bitDepth: 8, data: out };
}
