// JPEG decoding with the pure-JS jpeg-js package (baseline and progressive Huffman JPEGs).
// A marker walk first checks the structure, so a truncated or corrupt file gets a one-line
// error instead of a silently grey bottom half. EXIF orientation is NOT applied: pixels come
// back as stored (a file tagged "rotate 90" decodes unrotated). Colour conversion and IDCT
// are jpeg-js's; they can differ from libjpeg (PIL, OpenCV) by a level or so per sample.
import jpegjs from 'jpeg-js';
import { type Image, ImageDecodeError } from './image.js';

export interface JpegInfo {
  width: number;
  height: number;
  /** 1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK */
  components: number;
  progressive: boolean;
  precision: number;
}

function fail(problem: string): never {
  throw new ImageDecodeError(problem);
}

/**
 * Walk the marker segments: SOI, tables, frame header, every scan's entropy-coded data, EOI.
 * Throws on a missing SOI, a segment running past the end, no frame header, an unsupported
 * coding (arithmetic, lossless, 12-bit) or a missing EOI (the file was cut short).
 */
export function readJpegInfo(b: Uint8Array): JpegInfo {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) fail('not a JPEG file (no start-of-image marker)');
  let p = 2;
  let info: JpegInfo | null = null;
  let scans = 0;
  for (;;) {
    // skip fill bytes before a marker
    if (p >= b.length) fail(scans ? 'truncated JPEG: scan data ends early (no end-of-image marker)' : 'truncated JPEG: file ends before the image data');
    if (b[p] !== 0xff) fail(`corrupt JPEG: expected a marker at byte ${p}`);
    while (p < b.length && b[p] === 0xff) p++;
    if (p >= b.length) fail('truncated JPEG: file ends inside a marker');
    const m = b[p++]!;
    if (m === 0xd9) break; // EOI
    if (m === 0xd8) fail('corrupt JPEG: second start-of-image marker');
    if (m >= 0xd0 && m <= 0xd7) continue; // stray restart marker
    if (m === 0x01) continue; // TEM
    if (p + 2 > b.length) fail('truncated JPEG: file ends inside a segment header');
    const len = (b[p]! << 8) | b[p + 1]!;
    if (len < 2) fail(`corrupt JPEG: segment length ${len} at byte ${p}`);
    if (p + len > b.length) fail(m === 0xda ? 'truncated JPEG: scan header ends early' : `truncated JPEG: segment 0x${m.toString(16)} ends early`);
    const seg = p + 2;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (info) fail('unsupported JPEG: more than one frame');
      if (len < 8) fail('corrupt JPEG: frame header too short');
      if (m === 0xc3 || m === 0xc7 || m === 0xcb || m === 0xcf) fail('unsupported JPEG: lossless coding');
      if (m >= 0xc9) fail('unsupported JPEG: arithmetic coding');
      if (m === 0xc5 || m === 0xc6) fail('unsupported JPEG: hierarchical coding');
      const precision = b[seg]!;
      const height = (b[seg + 1]! << 8) | b[seg + 2]!;
      const width = (b[seg + 3]! << 8) | b[seg + 4]!;
      const components = b[seg + 5]!;
      if (precision !== 8) fail(`unsupported JPEG: ${precision}-bit samples`);
      if (width === 0 || height === 0) fail(`unsupported JPEG: image size ${width}x${height} (DNL marker)`);
      if (![1, 3, 4].includes(components)) fail(`unsupported JPEG: ${components} colour components`);
      info = { width, height, components, progressive: m === 0xc2, precision };
    }
    p += len;
    if (m === 0xda) {
      if (!info) fail('corrupt JPEG: scan before the frame header');
      scans++;
      // entropy-coded data: runs until a marker other than a stuffed 0xFF00 or a restart marker
      for (;;) {
        while (p < b.length && b[p] !== 0xff) p++;
        if (p + 1 >= b.length) fail('truncated JPEG: scan data ends early (no end-of-image marker)');
        const n = b[p + 1]!;
        if (n === 0x00 || (n >= 0xd0 && n <= 0xd7) || n === 0xff) {
          p += n === 0xff ? 1 : 2;
          continue;
        }
        break;
      }
    }
  }
  if (!info) fail('corrupt JPEG: no frame header');
  if (!scans) fail('corrupt JPEG: no image data');
  return info;
}

/**
 * Decode a JPEG: grey JPEGs give 1 channel, everything else RGB (CMYK/YCCK converted by
 * jpeg-js). Always 8-bit. EXIF orientation is not applied.
 */
/** Largest JPEG we decode: 2^28 pixels (e.g. 16384x16384). */
const MAX_JPEG_PIXELS = 1 << 28;

export function decodeJpeg(bytes: Uint8Array): Image {
  const info = readJpegInfo(bytes);
  const pixels = info.width * info.height;
  if (pixels > MAX_JPEG_PIXELS) fail(`unsupported JPEG: image of ${info.width}x${info.height} is too large to decode (over ${MAX_JPEG_PIXELS} pixels)`);
  // Baseline Huffman coding spends at least 2 bits (a DC code and an end-of-block code) on every
  // 8x8 block of the full-resolution component, i.e. at most 256 pixels per byte: a header that
  // claims more than the file can hold is refused before jpeg-js allocates and loops over it.
  if (!info.progressive && pixels > 256 * bytes.length + 65536) {
    fail(`truncated JPEG: ${bytes.length} bytes cannot hold the ${info.width}x${info.height} image the header declares`);
  }
  let dec: { width: number; height: number; data: Uint8Array };
  try {
    dec = jpegjs.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      // the caller decides what is too large; these only guard jpeg-js's own allocations
      maxResolutionInMP: Math.ceil(MAX_JPEG_PIXELS / 1e6),
      maxMemoryUsageInMB: 1 << 16,
    });
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    fail(`corrupt JPEG: ${msg}`);
  }
  if (dec.width !== info.width || dec.height !== info.height) fail(`corrupt JPEG: decoded ${dec.width}x${dec.height}, header says ${info.width}x${info.height}`);
  const n = dec.width * dec.height;
  if (info.components === 1) {
    const grey = new Uint8Array(n);
    for (let i = 0; i < n; i++) grey[i] = dec.data[3 * i]!;
    return { width: dec.width, height: dec.height, channels: 1, bitDepth: 8, data: grey };
  }
  return { width: dec.width, height: dec.height, channels: 3, bitDepth: 8, data: dec.data.length === 3 * n ? dec.data : dec.data.slice(0, 3 * n) };
}
