// Node entry point for image files: PNG/JPEG/WebP decoding chosen by content (magic bytes, not
// the extension), PNG writing through a temporary file and a rename (a failed or interrupted
// write never leaves a complete-looking file), and streamed PNG encoding over node:zlib.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { type Image, type ImageChannels, type ImageBitDepth, ImageDecodeError, sniffImageFormat, assertImage, ascii } from './image.js';
import { decodePngWith, encodePngWith, encodePngStreamWith, type DeflateStream, type RowSource, type PngStreamOptions } from './png.js';
import { decodeJpeg } from './jpeg.js';

export interface DeflateOptions {
  /** zlib level 0..9 (default 6, zlib's default). */
  level?: number;
}

/** zlib inflate capped at what the image needs (plus slack), tolerant of a cut stream (the caller checks the length). */
export function inflateNode(data: Uint8Array, expectedSize: number): Uint8Array {
  try {
    return zlib.inflateSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: expectedSize + (1 << 20) });
  } catch (e) {
    if (e instanceof RangeError) throw new ImageDecodeError('corrupt PNG: more compressed image data than the image size needs');
    throw e;
  }
}

/** A DeflateStream over zlib.createDeflate. */
export function nodeDeflateStream(opts: DeflateOptions = {}): DeflateStream {
  const z = zlib.createDeflate({ level: opts.level ?? 6 });
  const out: Uint8Array[] = [];
  let error: Error | null = null;
  z.on('data', (b: Buffer) => out.push(b));
  z.on('error', (e) => (error = e));
  return {
    async write(data) {
      if (error) throw error;
      if (!z.write(data)) await once(z, 'drain');
      return out.splice(0);
    },
    async end() {
      if (error) throw error;
      const ended = once(z, 'end');
      z.end();
      await ended;
      return out.splice(0);
    },
  };
}

/** Decode a PNG from bytes (see decodePngWith). */
export function decodePng(bytes: Uint8Array): Image {
  return decodePngWith(bytes, inflateNode);
}

/** Encode an Image as PNG bytes. */
export function encodePng(img: Image, opts: DeflateOptions = {}): Uint8Array {
  return encodePngWith(img, (raw) => zlib.deflateSync(raw, { level: opts.level ?? 6 }));
}

/**
 * Encode a PNG row band by row band over a streaming zlib deflate; memory stays at about one
 * band whatever the image size. See encodePngStreamWith for the row format.
 */
export function encodePngStream(
  width: number,
  height: number,
  channels: ImageChannels,
  bitDepth: ImageBitDepth,
  rows: RowSource,
  write: (bytes: Uint8Array) => void | Promise<void>,
  opts: PngStreamOptions & DeflateOptions = {},
): Promise<void> {
  return encodePngStreamWith(nodeDeflateStream(opts), width, height, channels, bitDepth, rows, write, opts);
}

// ---------------------------------------------------------------------------------------------
// WebP through @jsquash/webp (libwebp compiled to WebAssembly, shipped inside the npm package;
// loaded from node_modules on first use, never fetched).

interface WebpDecoder {
  init(module: WebAssembly.Module): Promise<void>;
  default(buf: ArrayBuffer): Promise<{ data: Uint8ClampedArray; width: number; height: number }>;
}

let webpDecoder: Promise<WebpDecoder> | null = null;

function loadWebpDecoder(): Promise<WebpDecoder> {
  webpDecoder ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('@jsquash/webp/codec/dec/webp_dec.wasm');
    const mod = (await import('@jsquash/webp/decode.js')) as unknown as WebpDecoder;
    await mod.init(await WebAssembly.compile(fs.readFileSync(wasmPath)));
    return mod;
  })();
  return webpDecoder;
}

/**
 * Largest WebP mvsr decodes: libwebp decodes into RGBA inside its WebAssembly memory, which never
 * shrinks again, so the canvas is checked against this before decoding (8192 x 8192).
 */
export const MAX_WEBP_PIXELS = 1 << 26;

/** The canvas size a WebP header states (VP8, VP8L or VP8X), or null when the header is too short to say. */
function webpSize(b: Uint8Array, fourcc: string): [number, number] | null {
  if (fourcc === 'VP8L' && b.length >= 25) {
    return [1 + (b[21]! | ((b[22]! & 0x3f) << 8)), 1 + ((b[22]! >> 6) | (b[23]! << 2) | ((b[24]! & 0x0f) << 10))];
  }
  if (fourcc === 'VP8 ' && b.length >= 30) return [(b[26]! | (b[27]! << 8)) & 0x3fff, (b[28]! | (b[29]! << 8)) & 0x3fff];
  if (fourcc === 'VP8X' && b.length >= 30) return [1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16)), 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16))];
  return null;
}

/** What the RIFF header says: size, alpha and animation flags (checked before decoding); a canvas over MAX_WEBP_PIXELS is refused. */
export function readWebpInfo(b: Uint8Array): { hasAlpha: boolean; animated: boolean } {
  const fail = (p: string): never => {
    throw new ImageDecodeError(p);
  };
  if (b.length < 12 || ascii(b, 0, 4) !== 'RIFF' || ascii(b, 8, 4) !== 'WEBP') fail('not a WebP file');
  const riff = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
  if (riff + 8 > b.length) fail(`truncated WebP: RIFF data ends early (${b.length} of ${riff + 8} bytes)`);
  if (b.length < 20) fail('truncated WebP: no image chunk');
  const fourcc = ascii(b, 12, 4);
  const size = webpSize(b, fourcc);
  if (size && size[0] * size[1] > MAX_WEBP_PIXELS) fail(`unsupported WebP: image of ${size[0]}x${size[1]} is too large to decode (over ${MAX_WEBP_PIXELS} pixels)`);
  if (fourcc === 'VP8 ') return { hasAlpha: false, animated: false };
  if (fourcc === 'VP8L') {
    if (b.length < 25) fail('truncated WebP: VP8L header ends early');
    return { hasAlpha: ((b[24]! >> 4) & 1) === 1, animated: false };
  }
  if (fourcc === 'VP8X') {
    if (b.length < 21) fail('truncated WebP: VP8X header ends early');
    return { hasAlpha: (b[20]! & 0x10) !== 0, animated: (b[20]! & 0x02) !== 0 };
  }
  return fail(`corrupt WebP: unknown first chunk ${JSON.stringify(fourcc)}`);
}

/** Decode a still WebP (lossy or lossless) to RGB, or RGBA when the file says it has alpha. */
export async function decodeWebp(bytes: Uint8Array): Promise<Image> {
  const info = readWebpInfo(bytes);
  if (info.animated) throw new ImageDecodeError('unsupported WebP: animated WebP');
  const dec = await loadWebpDecoder();
  let rgba: { data: Uint8ClampedArray; width: number; height: number };
  try {
    rgba = await dec.default(new Uint8Array(bytes).buffer); // a copy: bytes may be a view into a larger (pooled) buffer
  } catch {
    throw new ImageDecodeError('corrupt WebP: libwebp could not decode the image data');
  }
  const n = rgba.width * rgba.height;
  if (info.hasAlpha) return { width: rgba.width, height: rgba.height, channels: 4, bitDepth: 8, data: new Uint8Array(rgba.data.buffer, rgba.data.byteOffset, 4 * n).slice() };
  const rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = rgba.data[4 * i]!;
    rgb[3 * i + 1] = rgba.data[4 * i + 1]!;
    rgb[3 * i + 2] = rgba.data[4 * i + 2]!;
  }
  return { width: rgba.width, height: rgba.height, channels: 3, bitDepth: 8, data: rgb };
}

// ---------------------------------------------------------------------------------------------
// Files

/** Decode image bytes of any supported format, chosen by magic bytes. */
export async function decodeImage(bytes: Uint8Array): Promise<Image> {
  switch (sniffImageFormat(bytes)) {
    case 'png':
      return decodePng(bytes);
    case 'jpeg':
      return decodeJpeg(bytes);
    case 'webp':
      return decodeWebp(bytes);
    default:
      throw new ImageDecodeError(bytes.length === 0 ? 'empty file' : 'not a PNG/JPEG/WebP file');
  }
}

function fileError(file: string, problem: string): Error {
  return new Error(`mvsr: ${file}: ${problem}`);
}

/** Read and decode an image file. Errors are one line: `mvsr: <path>: <problem>`. */
export async function readImage(file: string): Promise<Image> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw fileError(file, err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : `cannot read (${err.code ?? err.message})`);
  }
  try {
    return await decodeImage(bytes);
  } catch (e) {
    if (e instanceof ImageDecodeError) throw fileError(file, e.problem);
    throw fileError(file, (e instanceof Error ? e.message : String(e)).replace(/^mvsr: /, '').split('\n')[0]!);
  }
}

const NOT_PNG_EXT = /\.(jpe?g|webp|gif|bmp|tiff?)$/i;

function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
}

async function writeAtomically(file: string, fill: (fh: fsp.FileHandle) => Promise<void>): Promise<void> {
  if (NOT_PNG_EXT.test(file)) throw fileError(file, `only PNG output is supported (the name ends in ${path.extname(file)})`);
  const tmp = tempName(file);
  let fh: fsp.FileHandle | null = null;
  try {
    fh = await fsp.open(tmp, 'wx');
    await fill(fh);
    await fh.close();
    fh = null;
    await fsp.rename(tmp, file);
  } catch (e) {
    if (fh) await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    const msg = (e instanceof Error ? e.message : String(e)).replace(/^mvsr: /, '');
    throw fileError(file, `cannot write: ${msg}`);
  }
}

/** Write an Image as PNG (whatever the extension, except names of other formats, which are refused). */
export async function writeImage(file: string, img: Image, opts: DeflateOptions = {}): Promise<void> {
  assertImage(img);
  const bytes = encodePng(img, opts);
  await writeAtomically(file, async (fh) => {
    await fh.writeFile(bytes);
  });
}

/** Stream a PNG to a file row band by row band (see encodePngStream); the file appears only when complete. */
export async function writePngStream(
  file: string,
  width: number,
  height: number,
  channels: ImageChannels,
  bitDepth: ImageBitDepth,
  rows: RowSource,
  opts: PngStreamOptions & DeflateOptions = {},
): Promise<void> {
  await writeAtomically(file, async (fh) => {
    await encodePngStream(width, height, channels, bitDepth, rows, async (b) => {
      await fh.writeFile(b); // writes all of b at the current position
    }, opts);
  });
}
