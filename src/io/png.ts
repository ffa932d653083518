// PNG decoding (every colour type and bit depth, Adam7, all five filters, CRCs checked) and
// encoding (whole image or streamed row band by row band). zlib is injected: image.node.ts
// passes node:zlib; browsers can use the CompressionStream-based codecs at the end of this file.
import { type Image, type ImageChannels, type ImageBitDepth, ImageDecodeError, assertImage, ascii } from './image.js';

/** zlib inflate of a whole stream; `expectedSize` is what the image needs (a cap against zip bombs). */
export type InflateSync = (data: Uint8Array, expectedSize: number) => Uint8Array;
export type InflateAsync = (data: Uint8Array, expectedSize: number) => Promise<Uint8Array>;
/** zlib deflate of a whole buffer. */
export type DeflateSync = (data: Uint8Array) => Uint8Array;

/** A streaming zlib compressor: feed raw bytes, collect compressed bytes as they are ready. */
export interface DeflateStream {
  /** Takes ownership of `data` (it must not be modified afterwards); resolves with output ready so far. */
  write(data: Uint8Array): Promise<Uint8Array[]>;
  /** Finishes the stream; resolves with the remaining output. */
  end(): Promise<Uint8Array[]>;
}

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

// ---------------------------------------------------------------------------------------------
// CRC-32 (ISO 3309, as the PNG spec)

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Update a running CRC (start with 0) by bytes b[from, to). */
export function crc32(b: Uint8Array, crc = 0, from = 0, to = b.length): number {
  let c = ~crc;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Decoding

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA */
  colorType: 0 | 2 | 3 | 4 | 6;
  interlace: 0 | 1;
}

interface ParsedPng {
  header: PngHeader;
  palette: Uint8Array | null; // RGB triples
  trns: Uint8Array | null; // raw tRNS payload
  idat: Uint8Array;
}

const SAMPLES_PER_PIXEL: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ALLOWED_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const MAX_DIM = 0x7fffffff;

// Adam7: [xStart, yStart, xStep, yStep]
const ADAM7: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

function fail(problem: string): never {
  throw new ImageDecodeError(problem);
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/** Walk the chunks: check CRCs and structure, collect IHDR, PLTE, tRNS and the IDAT stream. */
function parsePng(b: Uint8Array): ParsedPng {
  if (b.length < 8 || PNG_SIGNATURE.some((v, i) => b[i] !== v)) fail('not a PNG file (bad signature)');
  let p = 8;
  let header: PngHeader | null = null;
  let palette: Uint8Array | null = null;
  let trns: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let idatBytes = 0;
  let sawIend = false;
  while (p < b.length) {
    if (p + 8 > b.length) fail('truncated PNG: file ends inside a chunk header');
    const len = u32(b, p);
    const type = ascii(b, p + 4, 4);
    if (!/^[A-Za-z]{4}$/.test(type)) fail(`corrupt PNG: bad chunk type at byte ${p + 4}`);
    if (len > 0x7fffffff) fail(`corrupt PNG: ${type} chunk length ${len} is too large`);
    const data = p + 8, end = data + len;
    if (end + 4 > b.length) fail(type === 'IDAT' ? 'truncated PNG: IDAT data ends early' : `truncated PNG: ${type} chunk ends early`);
    if (crc32(b, 0, p + 4, end) !== u32(b, end)) fail(`corrupt PNG: CRC mismatch in ${type} chunk`);
    if (header === null && type !== 'IHDR') fail('corrupt PNG: first chunk is not IHDR');
    switch (type) {
      case 'IHDR': {
        if (header) fail('corrupt PNG: more than one IHDR chunk');
        if (len !== 13) fail(`corrupt PNG: IHDR chunk has ${len} bytes, expected 13`);
        const width = u32(b, data), height = u32(b, data + 4);
        const bitDepth = b[data + 8]!, colorType = b[data + 9]!;
        const [comp, filt, inter] = [b[data + 10]!, b[data + 11]!, b[data + 12]!];
        if (width === 0 || height === 0 || width > MAX_DIM || height > MAX_DIM) fail(`corrupt PNG: image size ${width}x${height}`);
        const depths = ALLOWED_DEPTHS[colorType];
        if (!depths) fail(`corrupt PNG: unknown colour type ${colorType}`);
        if (!depths.includes(bitDepth)) fail(`corrupt PNG: bit depth ${bitDepth} is not allowed for colour type ${colorType}`);
        if (comp !== 0) fail(`corrupt PNG: unknown compression method ${comp}`);
        if (filt !== 0) fail(`corrupt PNG: unknown filter method ${filt}`);
        if (inter > 1) fail(`corrupt PNG: unknown interlace method ${inter}`);
        header = { width, height, bitDepth: bitDepth as PngHeader['bitDepth'], colorType: colorType as PngHeader['colorType'], interlace: inter as 0 | 1 };
        break;
      }
      case 'PLTE':
        if (palette) fail('corrupt PNG: more than one PLTE chunk');
        if (len === 0 || len % 3 !== 0 || len > 768) fail(`corrupt PNG: PLTE chunk of ${len} bytes`);
        if (idat.length) fail('corrupt PNG: PLTE after IDAT');
        palette = b.subarray(data, end);
        break;
      case 'tRNS':
        if (idat.length) fail('corrupt PNG: tRNS after IDAT');
        trns = b.subarray(data, end);
        break;
      case 'IDAT':
        if (sawIend) break;
        idat.push(b.subarray(data, end));
        idatBytes += len;
        break;
      case 'IEND':
        sawIend = true;
        break;
      default:
        // Unknown critical chunks (upper-case first letter) change the meaning of the image.
        if (type.charCodeAt(0) < 97) fail(`unsupported PNG: unknown critical chunk ${type}`);
    }
    p = end + 4;
    if (sawIend) break;
  }
  if (!header) fail('truncated PNG: no IHDR chunk');
  if (!sawIend) fail(idat.length ? 'truncated PNG: no IEND chunk (file cut short)' : 'truncated PNG: no IDAT data');
  if (!idat.length) fail('corrupt PNG: no IDAT chunk');
  if (header.colorType === 3 && !palette) fail('corrupt PNG: palette image without PLTE chunk');
  if (trns) {
    const ct = header.colorType;
    if ((ct === 0 && trns.length !== 2) || (ct === 2 && trns.length !== 6)) fail(`corrupt PNG: tRNS chunk of ${trns.length} bytes does not fit colour type ${ct}`);
    // as libpng: tRNS is meaningless with an alpha channel, and entries past the palette are unused
    if (ct === 4 || ct === 6) trns = null;
    else if (ct === 3 && trns.length > palette!.length / 3) trns = trns.subarray(0, palette!.length / 3);
  }
  let stream: Uint8Array;
  if (idat.length === 1) stream = idat[0]!;
  else {
    stream = new Uint8Array(idatBytes);
    let q = 0;
    for (const c of idat) {
      stream.set(c, q);
      q += c.length;
    }
  }
  return { header, palette, trns, idat: stream };
}

/** Bytes of filtered scanline data the image needs (filter-type bytes included). */
export function pngRawSize(h: PngHeader): number {
  const bpp = SAMPLES_PER_PIXEL[h.colorType]! * h.bitDepth;
  const rowBytes = (w: number) => Math.ceil((w * bpp) / 8);
  if (!h.interlace) return h.height * (1 + rowBytes(h.width));
  let n = 0;
  for (const [xs, ys, dx, dy] of ADAM7) {
    const pw = h.width > xs ? Math.ceil((h.width - xs) / dx) : 0;
    const ph = h.height > ys ? Math.ceil((h.height - ys) / dy) : 0;
    if (pw && ph) n += ph * (1 + rowBytes(pw));
  }
  return n;
}

/** The output layout: palette expands to RGB(A); a tRNS colour key adds an alpha channel. */
function outputLayout(h: PngHeader, trns: Uint8Array | null): { channels: ImageChannels; bitDepth: ImageBitDepth } {
  const bitDepth: ImageBitDepth = h.bitDepth === 16 ? 16 : 8;
  switch (h.colorType) {
    case 0: return { channels: trns ? 2 : 1, bitDepth };
    case 2: return { channels: trns ? 4 : 3, bitDepth };
    case 3: return { channels: trns ? 4 : 3, bitDepth: 8 };
    case 4: return { channels: 2, bitDepth };
    default: return { channels: 4, bitDepth };
  }
}

/** Undo filter type `ft` on `cur` in place, given the previous unfiltered row (zeros for the first). */
function unfilterRow(ft: number, cur: Uint8Array, prev: Uint8Array, bpp: number, n: number): void {
  switch (ft) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < n; i++) cur[i] = (cur[i]! + cur[i - bpp]!) & 0xff;
      return;
    case 2:
      for (let i = 0; i < n; i++) cur[i] = (cur[i]! + prev[i]!) & 0xff;
      return;
    case 3:
      for (let i = 0; i < bpp; i++) cur[i] = (cur[i]! + (prev[i]! >> 1)) & 0xff;
      for (let i = bpp; i < n; i++) cur[i] = (cur[i]! + ((cur[i - bpp]! + prev[i]!) >> 1)) & 0xff;
      return;
    case 4:
      for (let i = 0; i < bpp; i++) cur[i] = (cur[i]! + prev[i]!) & 0xff;
      for (let i = bpp; i < n; i++) {
        const a = cur[i - bpp]!, bb = prev[i]!, c = prev[i - bpp]!;
        const pa = Math.abs(bb - c), pb = Math.abs(a - c), pc = Math.abs(a + bb - 2 * c);
        const pred = pa <= pb && pa <= pc ? a : pb <= pc ? bb : c;
        cur[i] = (cur[i]! + pred) & 0xff;
      }
      return;
    default:
      fail(`corrupt PNG: unknown filter type ${ft}`);
  }
}

/** Unfilter the raw stream and write every pixel into the output image. */
function reconstruct(png: ParsedPng, raw: Uint8Array): Image {
  const h = png.header;
  const { channels, bitDepth } = outputLayout(h, png.trns);
  const W = h.width, H = h.height;
  const total = W * H * channels;
  const out = bitDepth === 16 ? new Uint16Array(total) : new Uint8Array(total);
  const spp = SAMPLES_PER_PIXEL[h.colorType]!;
  const bitsPP = spp * h.bitDepth;
  const bpp = Math.max(1, bitsPP >> 3);
  const pal = png.palette, trns = png.trns;
  // Palette lookup table to RGB(A); out-of-range indices decode as opaque black (as libpng).
  let lut: Uint8Array | null = null;
  if (h.colorType === 3) {
    lut = new Uint8Array(256 * channels);
    const nPal = pal!.length / 3;
    for (let i = 0; i < 256; i++) {
      if (i < nPal) {
        lut[i * channels] = pal![3 * i]!;
        lut[i * channels + 1] = pal![3 * i + 1]!;
        lut[i * channels + 2] = pal![3 * i + 2]!;
      }
      if (channels === 4) lut[i * 4 + 3] = trns && i < trns.length ? trns[i]! : 255;
    }
  }
  const key = trns && (h.colorType === 0 || h.colorType === 2) ? Array.from({ length: trns.length / 2 }, (_, i) => (trns[2 * i]! << 8) | trns[2 * i + 1]!) : null;
  const scale = h.colorType === 0 && h.bitDepth < 8 ? 255 / ((1 << h.bitDepth) - 1) : 1;
  const maxOut = bitDepth === 16 ? 65535 : 255;

  let pos = 0;
  const passes = h.interlace ? ADAM7 : [[0, 0, 1, 1] as const];
  let prev: Uint8Array;
  for (const [xs, ys, dx, dy] of passes) {
    const pw = W > xs ? Math.ceil((W - xs) / dx) : 0;
    const ph = H > ys ? Math.ceil((H - ys) / dy) : 0;
    if (!pw || !ph) continue;
    const rowBytes = Math.ceil((pw * bitsPP) / 8);
    prev = new Uint8Array(rowBytes); // each pass starts from a zero row
    for (let r = 0; r < ph; r++) {
      const ft = raw[pos]!;
      const cur = raw.subarray(pos + 1, pos + 1 + rowBytes);
      pos += 1 + rowBytes;
      unfilterRow(ft, cur, prev, bpp, rowBytes);
      prev = cur;
      const y = ys + r * dy;
      // emit pixels of this row
      for (let k = 0; k < pw; k++) {
        const o = (y * W + xs + k * dx) * channels;
        if (h.bitDepth < 8) {
          const bit = k * h.bitDepth;
          const v = (cur[bit >> 3]! >> (8 - h.bitDepth - (bit & 7))) & ((1 << h.bitDepth) - 1);
          if (lut) {
            for (let c = 0; c < channels; c++) out[o + c] = lut[v * channels + c]!;
          } else {
            out[o] = Math.round(v * scale);
            if (key) out[o + 1] = v === key[0] ? 0 : 255;
          }
        } else if (h.bitDepth === 8) {
          const s = k * spp;
          if (lut) {
            const v = cur[s]!;
            for (let c = 0; c < channels; c++) out[o + c] = lut[v * channels + c]!;
          } else {
            for (let c = 0; c < spp; c++) out[o + c] = cur[s + c]!;
            if (key) out[o + spp] = matchesKey(cur, s, spp, 1, key) ? 0 : maxOut;
          }
        } else {
          const s = 2 * k * spp;
          for (let c = 0; c < spp; c++) out[o + c] = (cur[s + 2 * c]! << 8) | cur[s + 2 * c + 1]!;
          if (key) out[o + spp] = matchesKey(cur, s, spp, 2, key) ? 0 : maxOut;
        }
      }
    }
  }
  return { width: W, height: H, channels, bitDepth, data: out };
}

function matchesKey(row: Uint8Array, s: number, spp: number, bytes: number, key: number[]): boolean {
  for (let c = 0; c < spp; c++) {
    const v = bytes === 2 ? (row[s + 2 * c]! << 8) | row[s + 2 * c + 1]! : row[s + c]!;
    if (v !== key[c]) return false;
  }
  return true;
}

/** Most samples (pixels x channels) we decode into one typed array: 2^31 - 1. */
const MAX_DECODE_SAMPLES = 0x7fffffff;
/** DEFLATE expands at most ~1032:1, so fewer compressed bytes than need / 1032 cannot be a whole image. */
const MAX_DEFLATE_RATIO = 1032;

/** Refuse, before inflating or allocating, an image too large to decode or whose IDAT data is too short. */
function checkDecodable(png: ParsedPng): void {
  const h = png.header;
  const { channels } = outputLayout(h, png.trns);
  const samples = h.width * h.height * channels;
  if (samples > MAX_DECODE_SAMPLES) fail(`unsupported PNG: image of ${h.width}x${h.height} (${channels} channels) is too large to decode (over ${MAX_DECODE_SAMPLES} samples)`);
  const need = pngRawSize(h);
  if (png.idat.length * MAX_DEFLATE_RATIO + 1024 < need) fail(`truncated PNG: IDAT data ends early (${png.idat.length} compressed bytes cannot hold the ${need} bytes a ${h.width}x${h.height} image needs)`);
}

function checkRaw(png: ParsedPng, raw: Uint8Array): void {
  const need = pngRawSize(png.header);
  if (raw.length < need) fail(`truncated PNG: IDAT data ends early (${raw.length} of ${need} bytes of image data)`);
}

/** The IHDR fields without decoding pixels. */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  return parsePng(bytes).header;
}

function inflateProblem(e: unknown): never {
  if (e instanceof ImageDecodeError) throw e;
  const msg = e instanceof Error ? e.message : String(e);
  if (/unexpected end|end of file|truncat/i.test(msg)) fail('truncated PNG: IDAT data ends early');
  fail(`corrupt PNG: bad compressed image data (${msg.split('\n')[0]})`);
}

/**
 * Decode a PNG to an Image: palette images become RGB (RGBA with tRNS), 1/2/4-bit grey is
 * scaled to 8 bits (v * 255 / (2^d - 1)), a grey/RGB tRNS colour key becomes an alpha channel,
 * 16-bit stays 16-bit. Problems throw ImageDecodeError with a one-line message.
 */
export function decodePngWith(bytes: Uint8Array, inflate: InflateSync): Image {
  const png = parsePng(bytes);
  checkDecodable(png);
  let raw: Uint8Array;
  try {
    raw = inflate(png.idat, pngRawSize(png.header));
  } catch (e) {
    inflateProblem(e);
  }
  checkRaw(png, raw);
  return reconstruct(png, raw);
}

/** decodePngWith with an asynchronous inflate (e.g. DecompressionStream in browsers). */
export async function decodePngAsyncWith(bytes: Uint8Array, inflate: InflateAsync): Promise<Image> {
  const png = parsePng(bytes);
  checkDecodable(png);
  let raw: Uint8Array;
  try {
    raw = await inflate(png.idat, pngRawSize(png.header));
  } catch (e) {
    inflateProblem(e);
  }
  checkRaw(png, raw);
  return reconstruct(png, raw);
}

// ---------------------------------------------------------------------------------------------
// Encoding

const COLOR_TYPE: Record<ImageChannels, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out, 0, 4, 8 + data.length));
  return out;
}

function ihdr(width: number, height: number, channels: ImageChannels, bitDepth: ImageBitDepth): Uint8Array {
  const d = new Uint8Array(13);
  const dv = new DataView(d.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  d[8] = bitDepth;
  d[9] = COLOR_TYPE[channels];
  return chunk('IHDR', d); // compression 0, filter 0, no interlace
}

function checkEncodeArgs(width: number, height: number, channels: number, bitDepth: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > MAX_DIM || height > MAX_DIM) {
    throw new Error(`mvsr: PNG encode: image size ${width}x${height} must be positive integers below 2^31`);
  }
  if (![1, 2, 3, 4].includes(channels)) throw new Error(`mvsr: PNG encode: channels ${channels} must be 1, 2, 3 or 4`);
  if (bitDepth !== 8 && bitDepth !== 16) throw new Error(`mvsr: PNG encode: bit depth ${bitDepth} must be 8 or 16`);
}

/**
 * Filters one row of big-endian sample bytes into dst[0..n] (dst[0] = filter type), choosing
 * the filter with the smallest sum of absolute signed residuals (libpng's heuristic).
 */
class RowFilter {
  private readonly cand: Uint8Array[];
  constructor(private readonly n: number, private readonly bpp: number) {
    // candidate rows for filters 1..4 (filter 0 is the row itself)
    this.cand = Array.from({ length: 5 }, (_, f) => new Uint8Array(f === 0 ? 0 : n));
  }

  filter(cur: Uint8Array, prev: Uint8Array, dst: Uint8Array, at: number): void {
    const { n, bpp, cand } = this;
    const f1 = cand[1]!, f2 = cand[2]!, f3 = cand[3]!, f4 = cand[4]!;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (let i = 0; i < n; i++) {
      const x = cur[i]!, b = prev[i]!;
      let a = 0, c = 0;
      if (i >= bpp) {
        a = cur[i - bpp]!;
        c = prev[i - bpp]!;
      }
      // Paeth: the neighbour closest to a + b - c (ties: a, then b)
      const pa = b > c ? b - c : c - b, pb = a > c ? a - c : c - a;
      const t = a + b - c - c, pc = t > 0 ? t : -t;
      const pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const v1 = (x - a) & 0xff, v2 = (x - b) & 0xff, v3 = (x - ((a + b) >> 1)) & 0xff, v4 = (x - pred) & 0xff;
      f1[i] = v1;
      f2[i] = v2;
      f3[i] = v3;
      f4[i] = v4;
      // residuals read as signed bytes: |v| for v < 128, 256 - v otherwise
      s0 += x < 128 ? x : 256 - x;
      s1 += v1 < 128 ? v1 : 256 - v1;
      s2 += v2 < 128 ? v2 : 256 - v2;
      s3 += v3 < 128 ? v3 : 256 - v3;
      s4 += v4 < 128 ? v4 : 256 - v4;
    }
    let best = 0, min = s0;
    if (s1 < min) { best = 1; min = s1; }
    if (s2 < min) { best = 2; min = s2; }
    if (s3 < min) { best = 3; min = s3; }
    if (s4 < min) best = 4;
    dst[at] = best;
    dst.set(best === 0 ? cur : cand[best]!, at + 1);
  }
}

export type RowChunk = Uint8Array | Uint16Array;
export type RowSource = Iterable<RowChunk> | AsyncIterable<RowChunk>;

export interface PngStreamOptions {
  /** Raw (filtered) bytes handed to the compressor per write; default 1 MiB. */
  bandBytes?: number;
  /** Compressed bytes per IDAT chunk; default 1 MiB. */
  idatBytes?: number;
}

/**
 * Encode a PNG from rows delivered in pieces, holding only about one band of rows at a time.
 * `rows` yields interleaved samples in image order, in chunks of any length (a row band, one
 * row, or the whole image): Uint8Array for 8-bit, Uint16Array (native values) for 16-bit.
 * Output goes to `write` (awaited, so it can apply back-pressure). If the rows do not add up to
 * exactly height rows it throws before IEND, so the output is recognisably incomplete.
 */
export async function encodePngStreamWith(
  deflate: DeflateStream,
  width: number,
  height: number,
  channels: ImageChannels,
  bitDepth: ImageBitDepth,
  rows: RowSource,
  write: (bytes: Uint8Array) => void | Promise<void>,
  opts: PngStreamOptions = {},
): Promise<void> {
  checkEncodeArgs(width, height, channels, bitDepth);
  const bytesPerSample = bitDepth / 8;
  const rowSamples = width * channels;
  const rowBytes = rowSamples * bytesPerSample;
  const bpp = channels * bytesPerSample;
  const rowsPerBand = Math.max(1, Math.floor((opts.bandBytes ?? 1 << 20) / (rowBytes + 1)));
  const idatTarget = opts.idatBytes ?? 1 << 20;
  const filter = new RowFilter(rowBytes, bpp);

  await write(PNG_SIGNATURE.slice());
  await write(ihdr(width, height, channels, bitDepth));

  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flushIdat = async (force: boolean) => {
    while (pendingBytes >= idatTarget || (force && pendingBytes > 0)) {
      const take = Math.min(pendingBytes, idatTarget);
      const data = new Uint8Array(take);
      let q = 0;
      while (q < take) {
        const head = pending[0]!;
        const k = Math.min(head.length, take - q);
        data.set(head.subarray(0, k), q);
        q += k;
        if (k === head.length) pending.shift();
        else pending[0] = head.subarray(k);
      }
      pendingBytes -= take;
      await write(chunk('IDAT', data));
    }
  };
  const collect = async (outs: Uint8Array[]) => {
    for (const o of outs) {
      pending.push(o);
      pendingBytes += o.length;
    }
    await flushIdat(false);
  };

  let cur = new Uint8Array(rowBytes); // current row as big-endian bytes
  let prev = new Uint8Array(rowBytes);
  let fill = 0; // samples of `cur` filled so far
  let y = 0;
  let band = new Uint8Array(rowsPerBand * (rowBytes + 1));
  let bandRows = 0;

  const finishRow = async () => {
    if (y >= height) throw new Error(`mvsr: PNG encode: rows supply more than the ${height} rows of a ${width}x${height} image`);
    filter.filter(cur, prev, band, bandRows * (rowBytes + 1));
    [prev, cur] = [cur, prev];
    fill = 0;
    y++;
    bandRows++;
    if (bandRows === rowsPerBand || y === height) {
      const out = bandRows === rowsPerBand ? band : band.slice(0, bandRows * (rowBytes + 1));
      band = new Uint8Array(rowsPerBand * (rowBytes + 1)); // the compressor owns the old band
      bandRows = 0;
      await collect(await deflate.write(out));
    }
  };

  for await (const piece of rows as AsyncIterable<RowChunk>) {
    if (bitDepth === 8 ? !(piece instanceof Uint8Array) : !(piece instanceof Uint16Array)) {
      throw new Error(`mvsr: PNG encode: ${bitDepth}-bit rows must be ${bitDepth === 8 ? 'Uint8Array' : 'Uint16Array'} chunks, got ${Object.prototype.toString.call(piece)}`);
    }
    let i = 0;
    while (i < piece.length) {
      const k = Math.min(piece.length - i, rowSamples - fill);
      if (bitDepth === 8) cur.set(piece.subarray(i, i + k), fill);
      else {
        for (let j = 0; j < k; j++) {
          const v = piece[i + j]!;
          cur[2 * (fill + j)] = v >> 8;
          cur[2 * (fill + j) + 1] = v & 0xff;
        }
      }
      fill += k;
      i += k;
      if (fill === rowSamples) await finishRow();
    }
  }
  if (y !== height || fill !== 0) {
    throw new Error(`mvsr: PNG encode: rows supplied ${y} full row(s)${fill ? ` and ${fill} extra sample(s)` : ''}, the image has ${height} rows of ${rowSamples} samples`);
  }
  await collect(await deflate.end());
  await flushIdat(true);
  await write(chunk('IEND', new Uint8Array(0)));
}

/** Encode a whole Image as a PNG (8/16-bit, grey, grey+alpha, RGB or RGBA; no interlace). */
export function encodePngWith(img: Image, deflate: DeflateSync): Uint8Array {
  assertImage(img);
  checkEncodeArgs(img.width, img.height, img.channels, img.bitDepth);
  const bytesPerSample = img.bitDepth / 8;
  const rowBytes = img.width * img.channels * bytesPerSample;
  const bpp = img.channels * bytesPerSample;
  const raw = new Uint8Array(img.height * (rowBytes + 1));
  const filter = new RowFilter(rowBytes, bpp);
  let prev = new Uint8Array(rowBytes), cur = new Uint8Array(rowBytes);
  const rowSamples = img.width * img.channels;
  for (let y = 0; y < img.height; y++) {
    const s = y * rowSamples;
    if (img.bitDepth === 8) cur.set(img.data.subarray(s, s + rowSamples));
    else for (let j = 0; j < rowSamples; j++) {
      const v = img.data[s + j]!;
      cur[2 * j] = v >> 8;
      cur[2 * j + 1] = v & 0xff;
    }
    filter.filter(cur, prev, raw, y * (rowBytes + 1));
    [prev, cur] = [cur, prev];
  }
  const parts = [PNG_SIGNATURE, ihdr(img.width, img.height, img.channels, img.bitDepth), chunk('IDAT', deflate(raw)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let q = 0;
  for (const p of parts) {
    out.set(p, q);
    q += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// zlib through the web-standard CompressionStream / DecompressionStream ('deflate' = zlib format)

async function drain(readable: ReadableStream<Uint8Array>, into: Uint8Array[]): Promise<void> {
  const reader = readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    into.push(value);
  }
}

/** A DeflateStream over CompressionStream('deflate') (browsers, Node 18+). */
export function compressionStreamDeflate(): DeflateStream {
  const cs = new CompressionStream('deflate');
  const writer = cs.writable.getWriter();
  const out: Uint8Array[] = [];
  const done = drain(cs.readable as ReadableStream<Uint8Array>, out);
  return {
    async write(data) {
      await writer.ready;
      await writer.write(data as Uint8Array<ArrayBuffer>);
      return out.splice(0);
    },
    async end() {
      await writer.close();
      await done;
      return out.splice(0);
    },
  };
}

/** An InflateAsync over DecompressionStream('deflate') (browsers, Node 18+). */
export async function decompressionStreamInflate(data: Uint8Array, _expectedSize: number): Promise<Uint8Array> {
  const ds = new DecompressionStream('deflate');
  const writer = ds.writable.getWriter();
  const parts: Uint8Array[] = [];
  const done = drain(ds.readable as ReadableStream<Uint8Array>, parts);
  await Promise.all([writer.write(data as Uint8Array<ArrayBuffer>).then(() => writer.close()), done]);
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let q = 0;
  for (const p of parts) {
    out.set(p, q);
    q += p.length;
  }
  return out;
}
