// Image I/O: PNG decoding against PNGs assembled here byte by byte (every colour type, bit depth,
// filter and Adam7), PNG encoding checked by an independent inflate+unfilter and by ffmpeg,
// streamed encoding, JPEG and WebP decoding, the shared benchmark files, the one-line errors
// for bad files, and the pixel helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from './ref/index.js';
import {
  type Image, type ImageChannels, type ImageBitDepth, sniffImageFormat, toRGB, toRGBA, alphaChannel, extractChannel,
  modCrop, cropBorder, cropImage, to8Bit, to16Bit, imageToFloat32, float32ToImage, roundHalfEven,
} from '../src/io/image.js';
import { encodePngStreamWith, compressionStreamDeflate, decompressionStreamInflate, decodePngAsyncWith, readPngHeader } from '../src/io/png.js';
import { readJpegInfo } from '../src/io/jpeg.js';
import { readImage, writeImage, decodePng, encodePng, encodePngStream, writePngStream, decodeImage } from '../src/io/image.node.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DATA = process.env.MVSR_DATA ?? path.resolve(REPO, '../shared/data');
const HAVE_DATA = fs.existsSync(path.join(DATA, 'benchmarks'));
const NO_DATA = `shared data not found at ${DATA} (set MVSR_DATA to the folder holding benchmarks/ and train/)`;
const HAVE_FFMPEG = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
const NO_FFMPEG = 'ffmpeg is not on PATH (apt-get install ffmpeg to run this cross-check)';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mvsr-io-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function sameImage(a: Image, b: Image, what: string): void {
  assert.deepEqual([a.width, a.height, a.channels, a.bitDepth], [b.width, b.height, b.channels, b.bitDepth], `${what}: layout`);
  assert.equal(a.data instanceof Uint16Array, b.data instanceof Uint16Array, `${what}: data type`);
  for (let i = 0; i < a.data.length; i++) {
    if (a.data[i] !== b.data[i]) assert.fail(`${what}: sample ${i} is ${a.data[i]}, expected ${b.data[i]}`);
  }
}

function randomImage(w: number, h: number, channels: ImageChannels, bitDepth: ImageBitDepth, seed: number): Image {
  const rng = mulberry32(seed);
  const n = w * h * channels, max = bitDepth === 16 ? 65536 : 256;
  const data = bitDepth === 16 ? new Uint16Array(n) : new Uint8Array(n);
  // a smooth ramp plus noise, so filters other than None get chosen
  for (let i = 0; i < n; i++) data[i] = (Math.floor((i / n) * max * 0.5) + Math.floor(rng() * max * 0.1)) % max;
  return { width: w, height: h, channels, bitDepth, data };
}

// ---------------------------------------------------------------------------------------------
// An independent PNG writer for test inputs: packs samples of any bit depth, applies a chosen
// filter per row, optionally Adam7-interlaces, splits the zlib stream over several IDATs.

const CRC_T = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function testCrc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_T[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), Buffer.from(data)]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(testCrc(body));
  return Buffer.concat([len, body, crc]);
}

interface RawPng {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: boolean;
  /** samples[(y * width + x) * spp + c]: raw values at bitDepth (palette indices for type 3) */
  samples: number[];
  palette?: number[][];
  trns?: number[];
}

const SPP: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function packRow(vals: number[], bitDepth: number): number[] {
  const out: number[] = [];
  if (bitDepth === 16) for (const v of vals) out.push(v >> 8, v & 255);
  else if (bitDepth === 8) out.push(...vals);
  else {
    const perByte = 8 / bitDepth;
    for (let i = 0; i < vals.length; i += perByte) {
      let b = 0;
      for (let k = 0; k < perByte; k++) b |= (vals[i + k] ?? 0) << (8 - bitDepth * (k + 1));
      out.push(b);
    }
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function filterRow(ft: number, row: number[], prev: number[], bpp: number): number[] {
  return row.map((x, i) => {
    const a = i >= bpp ? row[i - bpp]! : 0, b = prev[i] ?? 0, c = i >= bpp ? prev[i - bpp] ?? 0 : 0;
    const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][ft]!;
    return (x - pred + 256) & 255;
  });
}

function assemblePng(p: RawPng, idatParts = 3): Buffer {
  const spp = SPP[p.colorType]!;
  const bpp = Math.max(1, (spp * p.bitDepth) >> 3);
  const passes = p.interlace
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  const raw: number[] = [];
  let rowNo = 0;
  for (const [xs, ys, dx, dy] of passes as [number, number, number, number][]) {
    let prev: number[] = [];
    for (let y = ys; y < p.height; y += dy) {
      const vals: number[] = [];
      for (let x = xs; x < p.width; x += dx) for (let c = 0; c < spp; c++) vals.push(p.samples[(y * p.width + x) * spp + c]!);
      if (!vals.length) continue;
      const row = packRow(vals, p.bitDepth);
      const ft = rowNo++ % 5;
      raw.push(ft, ...filterRow(ft, row, prev, bpp));
      prev = row;
    }
  }
  const z = zlib.deflateSync(Uint8Array.from(raw));
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(p.width, 0);
  ihdr.writeUInt32BE(p.height, 4);
  ihdr[8] = p.bitDepth;
  ihdr[9] = p.colorType;
  ihdr[12] = p.interlace ? 1 : 0;
  const chunks = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('tEXt', Buffer.from('Comment\0test', 'latin1'))];
  if (p.palette) chunks.push(pngChunk('PLTE', Uint8Array.from(p.palette.flat())));
  if (p.trns) chunks.push(pngChunk('tRNS', Uint8Array.from(p.trns)));
  const step = Math.ceil(z.length / idatParts);
  for (let i = 0; i < z.length; i += step) chunks.push(pngChunk('IDAT', z.subarray(i, i + step)));
  chunks.push(pngChunk('IEND', new Uint8Array(0)));
  return Buffer.concat(chunks);
}

/** What a decoder must produce for a RawPng (palette expanded, low bit depths scaled, keys to alpha). */
function expectedImage(p: RawPng): Image {
  const n = p.width * p.height, spp = SPP[p.colorType]!;
  const max = (1 << p.bitDepth) - 1;
  const out: number[] = [];
  let channels: ImageChannels;
  if (p.colorType === 3) {
    channels = p.trns ? 4 : 3;
    for (let i = 0; i < n; i++) {
      const idx = p.samples[i]!;
      out.push(...p.palette![idx]!);
      if (p.trns) out.push(p.trns[idx] ?? 255);
    }
  } else {
    const key = p.trns ? Array.from({ length: p.trns.length / 2 }, (_, i) => (p.trns![2 * i]! << 8) | p.trns![2 * i + 1]!) : null;
    channels = (spp + (key ? 1 : 0)) as ImageChannels;
    for (let i = 0; i < n; i++) {
      const px = p.samples.slice(i * spp, i * spp + spp);
      out.push(...px.map((v) => (p.bitDepth < 8 ? Math.round((v * 255) / max) : v)));
      if (key) out.push(px.every((v, c) => v === key[c]) ? 0 : p.bitDepth === 16 ? 65535 : 255);
    }
  }
  const bitDepth: ImageBitDepth = p.bitDepth === 16 ? 16 : 8;
  return { width: p.width, height: p.height, channels, bitDepth, data: bitDepth === 16 ? Uint16Array.from(out) : Uint8Array.from(out) };
}

function rawPng(colorType: number, bitDepth: number, w: number, h: number, interlace: boolean, seed: number): RawPng {
  const rng = mulberry32(seed);
  const spp = SPP[colorType]!;
  const p: RawPng = { width: w, height: h, bitDepth, colorType, interlace, samples: [] };
  if (colorType === 3) {
    const nPal = Math.min(1 << bitDepth, 7 + (seed % 5));
    p.palette = Array.from({ length: nPal }, () => [0, 0, 0].map(() => Math.floor(rng() * 256)));
    for (let i = 0; i < w * h; i++) p.samples.push(Math.floor(rng() * nPal));
  } else {
    const max = 2 ** bitDepth;
    for (let i = 0; i < w * h * spp; i++) p.samples.push(Math.floor(rng() * max));
  }
  return p;
}

const COMBOS: [number, number[]][] = [[0, [1, 2, 4, 8, 16]], [2, [8, 16]], [3, [1, 2, 4, 8]], [4, [8, 16]], [6, [8, 16]]];
const SIZES: [number, number][] = [[1, 1], [13, 7], [9, 10], [3, 17]];

test('PNG decode: every colour type and bit depth, all five filters, plain and Adam7, multiple IDATs', () => {
  let seed = 1;
  for (const [ct, depths] of COMBOS) {
    for (const bd of depths) {
      for (const [w, h] of SIZES) {
        for (const interlace of [false, true]) {
          const p = rawPng(ct, bd, w, h, interlace, seed++);
          const what = `colour type ${ct}, ${bd}-bit, ${w}x${h}${interlace ? ', Adam7' : ''}`;
          const bytes = assemblePng(p);
          sameImage(decodePng(bytes), expectedImage(p), what);
          assert.equal(readPngHeader(bytes).interlace, interlace ? 1 : 0);
        }
      }
    }
  }
});

test('PNG decode: palette with tRNS (shorter than PLTE), grey and RGB colour keys become alpha', () => {
  const pal = rawPng(3, 4, 11, 6, true, 77);
  pal.trns = [0, 128, 255]; // entries past the tRNS length stay opaque
  const got = decodePng(assemblePng(pal));
  assert.equal(got.channels, 4);
  sameImage(got, expectedImage(pal), 'palette + tRNS');

  const grey = rawPng(0, 2, 7, 5, false, 78);
  grey.trns = [0, 1];
  const g = decodePng(assemblePng(grey));
  assert.equal(g.channels, 2);
  sameImage(g, expectedImage(grey), 'grey 2-bit + key');
  assert.ok(Array.from(g.data).some((v, i) => i % 2 === 1 && v === 0), 'some pixels match the key');

  const rgb = rawPng(2, 16, 4, 4, false, 79);
  rgb.samples.splice(0, 3, 1000, 2000, 3000);
  rgb.trns = [0x03, 0xe8, 0x07, 0xd0, 0x0b, 0xb8];
  const r = decodePng(assemblePng(rgb));
  assert.equal(r.channels, 4);
  assert.equal(r.data[3], 0, 'the keyed pixel is transparent');
  sameImage(r, expectedImage(rgb), 'RGB 16-bit + key');
});

/** Independent reading of our encoder's output: walk chunks, inflate, unfilter by the spec. */
function inflateAndUnfilter(png: Uint8Array): { ihdr: Buffer; raw: number[][] } {
  const b = Buffer.from(png);
  let p = 8;
  let ihdr = Buffer.alloc(0);
  const idat: Buffer[] = [];
  while (p < b.length) {
    const len = b.readUInt32BE(p), type = b.toString('latin1', p + 4, p + 8);
    assert.equal(testCrc(b.subarray(p + 4, p + 8 + len)), b.readUInt32BE(p + 8 + len), `${type} CRC`);
    if (type === 'IHDR') ihdr = b.subarray(p + 8, p + 8 + len);
    if (type === 'IDAT') idat.push(b.subarray(p + 8, p + 8 + len));
    p += 12 + len;
  }
  const w = ihdr.readUInt32BE(0), h = ihdr.readUInt32BE(4), bd = ihdr[8]!, spp = SPP[ihdr[9]!]!;
  const rowBytes = (w * spp * bd) / 8, bpp = (spp * bd) / 8;
  const data = zlib.inflateSync(Buffer.concat(idat));
  assert.equal(data.length, h * (rowBytes + 1), 'raw size');
  const rows: number[][] = [];
  let prev: number[] = new Array(rowBytes).fill(0);
  for (let y = 0; y < h; y++) {
    const ft = data[y * (rowBytes + 1)]!;
    const cur: number[] = [];
    for (let i = 0; i < rowBytes; i++) {
      const x = data[y * (rowBytes + 1) + 1 + i]!;
      const a = i >= bpp ? cur[i - bpp]! : 0, bb = prev[i]!, c = i >= bpp ? prev[i - bpp]! : 0;
      cur.push((x + [0, a, bb, (a + bb) >> 1, paeth(a, bb, c)][ft]!) & 255);
    }
    rows.push(cur);
    prev = cur;
  }
  return { ihdr, raw: rows };
}

test('PNG encode: 8/16-bit grey, grey+alpha, RGB, RGBA round-trip, and the bytes follow the spec', () => {
  let seed = 100;
  for (const channels of [1, 2, 3, 4] as ImageChannels[]) {
    for (const bitDepth of [8, 16] as ImageBitDepth[]) {
      const img = randomImage(23, 11, channels, bitDepth, seed++);
      const png = encodePng(img);
      sameImage(decodePng(png), img, `${channels} ch ${bitDepth}-bit`);
      const { ihdr, raw } = inflateAndUnfilter(png);
      assert.deepEqual([ihdr[8], ihdr[9], ihdr[12]], [bitDepth, { 1: 0, 2: 4, 3: 2, 4: 6 }[channels], 0]);
      const flat = raw.flat();
      const samples = bitDepth === 8 ? flat : Array.from({ length: flat.length / 2 }, (_, i) => (flat[2 * i]! << 8) | flat[2 * i + 1]!);
      assert.deepEqual(samples, Array.from(img.data), `${channels} ch ${bitDepth}-bit raw samples`);
    }
  }
});

test('PNG stream encode: any chunking equals the whole-image encoding; 16-bit takes Uint16Array', async () => {
  for (const [channels, bitDepth] of [[3, 8], [4, 16], [1, 8]] as [ImageChannels, ImageBitDepth][]) {
    const img = randomImage(37, 29, channels, bitDepth, 7);
    // pieces of irregular length that straddle row boundaries
    function* pieces() {
      let i = 0, k = 1;
      while (i < img.data.length) {
        const n = (k++ * 97) % 400 + 1;
        yield img.data.slice(i, i + n);
        i += n;
      }
    }
    const out: Uint8Array[] = [];
    await encodePngStream(img.width, img.height, channels, bitDepth, pieces(), (b) => void out.push(b), { bandBytes: 300, idatBytes: 257 });
    const png = Buffer.concat(out);
    sameImage(decodePng(png), img, `streamed ${channels} ch ${bitDepth}-bit`);
    assert.ok(png.toString('latin1').split('IDAT').length - 1 > 1, 'several IDAT chunks');
  }
});

test('PNG stream encode: output is written while rows are still being produced', async () => {
  const W = 400, H = 300;
  const rng = mulberry32(5);
  let written = 0, writtenBeforeLastRow = -1;
  async function* rows() {
    for (let y = 0; y < H; y++) {
      if (y === H - 1) writtenBeforeLastRow = written;
      const row = new Uint8Array(W * 3);
      for (let i = 0; i < row.length; i++) row[i] = Math.floor(rng() * 256); // incompressible
      yield row;
    }
  }
  await encodePngStream(W, H, 3, 8, rows(), (b) => void (written += b.length), { bandBytes: 16384, idatBytes: 8192 });
  assert.ok(writtenBeforeLastRow > W * H * 3 * 0.5, `only ${writtenBeforeLastRow} of ${written} bytes were written before the last row`);
});

test('PNG stream encode: a wrong row count throws before IEND; writePngStream leaves no file', async () => {
  const out: Uint8Array[] = [];
  await assert.rejects(encodePngStream(4, 3, 1, 8, [new Uint8Array(8)], (b) => void out.push(b)), /rows supplied 2 full row\(s\), the image has 3 rows/);
  assert.ok(!Buffer.concat(out).includes(Buffer.from('IEND')), 'no IEND written');
  await assert.rejects(encodePngStream(4, 3, 1, 8, [new Uint8Array(16)], () => {}), /more than the 3 rows/);
  await assert.rejects(encodePngStream(4, 3, 1, 16, [new Uint8Array(12)], () => {}), /16-bit rows must be Uint16Array/);
  const file = path.join(tmp, 'partial.png');
  await assert.rejects(writePngStream(file, 4, 3, 3, 8, [new Uint8Array(20)]), (e: Error) => e.message.startsWith(`mvsr: ${file}: cannot write:`));
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('partial')), [], 'neither the file nor its temporary');
  // and a good one
  const img = randomImage(10, 6, 3, 8, 3);
  await writePngStream(file, 10, 6, 3, 8, [img.data]);
  sameImage(await readImage(file), img, 'writePngStream');
});

test('PNG over CompressionStream / DecompressionStream (the browser path)', async () => {
  const img = randomImage(19, 13, 4, 16, 9);
  const out: Uint8Array[] = [];
  await encodePngStreamWith(compressionStreamDeflate(), img.width, img.height, 4, 16, [img.data], (b) => void out.push(b));
  const png = Buffer.concat(out);
  sameImage(decodePng(png), img, 'CompressionStream encode');
  sameImage(await decodePngAsyncWith(png, decompressionStreamInflate), img, 'DecompressionStream decode');
});

test('writeImage/readImage round trip; writeImage refuses names of other formats', async () => {
  const img = randomImage(8, 5, 2, 16, 4);
  const file = path.join(tmp, 'ga16.png');
  await writeImage(file, img);
  sameImage(await readImage(file), img, 'file round trip');
  await assert.rejects(writeImage(path.join(tmp, 'x.jpg'), img), /mvsr: .*x\.jpg: only PNG output is supported/);
  // format chosen by content, not by name
  const disguised = path.join(tmp, 'really-a-png.jpg');
  fs.copyFileSync(file, disguised);
  sameImage(await readImage(disguised), img, 'PNG named .jpg');
});

// ---------------------------------------------------------------------------------------------
// Bad files: one line, `mvsr: <path>: <problem>`

async function expectFileError(bytes: Uint8Array, name: string, problem: RegExp): Promise<void> {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  await assert.rejects(readImage(file), (e: Error) => {
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    assert.ok(e.message.startsWith(`mvsr: ${file}: `), e.message);
    assert.match(e.message.slice(`mvsr: ${file}: `.length), problem);
    return true;
  });
}

test('corrupt and truncated files give one-line errors naming the file', async () => {
  const good = Buffer.from(encodePng(randomImage(40, 30, 3, 8, 11)));
  const idatAt = good.indexOf('IDAT');
  await expectFileError(good.subarray(0, idatAt + 40), 'cut-in-idat.png', /^truncated PNG: IDAT data ends early$/);
  await expectFileError(good.subarray(0, good.length - 12), 'no-iend.png', /^truncated PNG: no IEND chunk/);
  await expectFileError(good.subarray(0, 20), 'cut-in-ihdr.png', /^truncated PNG: IHDR chunk ends early$/);
  const flipped = Buffer.from(good);
  flipped[idatAt + 10]! ^= 0x40;
  await expectFileError(flipped, 'crc.png', /^corrupt PNG: CRC mismatch in IDAT chunk$/);
  // a well-formed file whose zlib stream stops short: valid chunks and CRCs, too little data
  const p = rawPng(2, 8, 20, 20, false, 3);
  const short = Buffer.from(assemblePng(p, 1));
  const at = short.indexOf('IDAT') - 4, len = short.readUInt32BE(at);
  const cut = Math.floor(len / 2);
  const z = short.subarray(at + 8, at + 8 + cut);
  const rebuilt = Buffer.concat([short.subarray(0, at), pngChunk('IDAT', z), pngChunk('IEND', new Uint8Array(0))]);
  await expectFileError(rebuilt, 'short-zlib.png', /^truncated PNG: IDAT data ends early \(\d+ of 1220 bytes of image data\)$/);
  await expectFileError(Buffer.from('hello, world\n'), 'text.png', /^not a PNG\/JPEG\/WebP file$/);
  await expectFileError(new Uint8Array(0), 'empty.png', /^empty file$/);
  const badType = Buffer.from(good);
  badType[25] = 5; // colour type 5 does not exist
  badType.writeUInt32BE(testCrc(badType.subarray(12, 29)), 29);
  await expectFileError(badType, 'ct5.png', /^corrupt PNG: unknown colour type 5$/);

  const jpeg = makeJpeg();
  await expectFileError(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), 'cut.jpg', /^truncated JPEG: scan data ends early/);
  await expectFileError(jpeg.subarray(0, 30), 'cut-header.jpg', /^truncated JPEG: /);
  const sof = Buffer.from(jpeg);
  const s = sof.indexOf(Buffer.from([0xff, 0xc0]));
  sof[s + 4] = 12; // 12-bit precision
  await expectFileError(sof, 'twelve.jpg', /^unsupported JPEG: 12-bit samples$/);

  const webp = Buffer.from(WEBP_RGB, 'base64');
  await expectFileError(webp.subarray(0, 30), 'cut.webp', /^truncated WebP: RIFF data ends early \(30 of 50 bytes\)$/);
  const junk = Buffer.from(webp);
  junk.fill(0x55, 25);
  await expectFileError(junk, 'junk.webp', /^corrupt WebP: libwebp could not decode the image data$/);

  await assert.rejects(readImage(path.join(tmp, 'missing.png')), new RegExp(`^Error: mvsr: ${tmp.replace(/[/\\.]/g, '\\$&')}/missing\\.png: no such file$`));
});

// ---------------------------------------------------------------------------------------------
// JPEG

/** A 16x16 baseline 4:2:0 JPEG made by ffmpeg 5.1 (-f lavfi -i testsrc2=s=16x16 -frames:v 1). */
function makeJpeg(): Buffer {
  return Buffer.from(JPEG_TINY, 'base64');
}
const JPEG_TINY =
  '/9j/4AAQSkZJRgABAgAAAQABAAD//gAQTGF2YzU5LjM3LjEwMAD/2wBDAAgEBAQEBAUFBQUFBQYGBgYGBgYGBgYGBgYHBwcICAgHBwcGBgcHCAgICAkJCQgICAgJCQoKCgwMCwsODg4RERT/xABqAAEBAQAAAAAAAAAAAAAAAAAFAwcBAQEAAAAAAAAAAAAAAAAAAAAGEAABAwQCAgMBAAAAAAAAAAADBAECERIFEwYUIQAWFSIkEQADAQABBAIDAQAAAAAAAAAEAQMCBSEAExEHBjIxIxT/wAARCAAQABADASIAAhEAAxEA/9oADAMBAAIRAxEAPwDLjT5EtzSlFjHuYInUTu6wxACMMZlMY6i0Yhxr5mUkY1do1q7N7biPzvjudkBF/MpdJBftb68yV0bhK7K2VE2I3T2zeO5i673srf49Z40UBFHLce4+0oU/SHEhabjItEjltUiFNvN+ry0YVK7VeEXo/qOOVY+HDY8Y6WrJtdkvjjqCOqGinlpLoo3PS7sdL9anfuWftxV9cr8sfZjSTswRMhiCB8sb/XaqhArDtonf94ZYwzfiacZy9/lbH67oOd+vDMvlBblVIUYcwO11WarasNsFY8V1nREOrwtU0569eDeevf8A/9k=';

test('JPEG: structure walk, decode of a JPEG made by ffmpeg, grey JPEGs give one channel', async () => {
  const j = makeJpeg();
  assert.deepEqual(readJpegInfo(j), { width: 16, height: 16, components: 3, progressive: false, precision: 8 });
  const img = await decodeImage(j);
  assert.deepEqual([img.width, img.height, img.channels, img.bitDepth], [16, 16, 3, 8]);
  // testsrc2's top-left is not uniform; a decoded JPEG of it must have some variety
  assert.ok(new Set(img.data).size > 10);
});

test('JPEG from the training set decodes; agrees with ffmpeg within IDCT/colour-conversion differences', { skip: !HAVE_DATA && NO_DATA }, async (t) => {
  const colour = path.join(DATA, 'train/images/kphotoalbum/snow.jpg');
  const grey = path.join(DATA, 'train/video/dlib_video_frames/frame_000100.jpg');
  const c = await readImage(colour), g = await readImage(grey);
  assert.deepEqual([c.width, c.height, c.channels], [800, 600, 3]);
  assert.deepEqual([g.width, g.height, g.channels], [320, 240, 1]);
  if (!HAVE_FFMPEG) return t.diagnostic(`ffmpeg comparison skipped: ${NO_FFMPEG}`);
  for (const [img, file, fmt, maxTol, meanTol] of [[g, grey, 'gray', 1, 0.1], [c, colour, 'rgb24', 4, 1]] as const) {
    const ref = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', fmt, '-'], { maxBuffer: 1 << 26 }).stdout;
    assert.equal(ref.length, img.data.length);
    let max = 0, sum = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(ref[i]! - img.data[i]!);
      max = Math.max(max, d);
      sum += d;
    }
    // jpeg-js and ffmpeg's mjpeg decoder use different IDCTs (and chroma upsampling for colour)
    assert.ok(max <= maxTol && sum / ref.length <= meanTol, `${fmt}: max ${max}, mean ${sum / ref.length}`);
  }
});

// ---------------------------------------------------------------------------------------------
// WebP (libwebp in WebAssembly from @jsquash/webp)

// 5x4 lossless WebPs made by ffmpeg/libwebp from pixel (x, y) = [50x, 60y, 20(x+y)], alpha 255 - 40x
const WEBP_RGB = 'UklGRioAAABXRUJQVlA4TB4AAAAvBMAAAJmM6H9sIqL/YSDIthnY/dWu0IxMKSIU8wA=';
const WEBP_RGBA = 'UklGRiwAAABXRUJQVlA4TB8AAAAvBMAAEJmM6H9sIqL/YSAQhDDM/2suaGRKMdjxjLIAAA==';

test('WebP: lossless files made by libwebp decode exactly, alpha only when the file has it', async () => {
  for (const [b64, channels] of [[WEBP_RGB, 3], [WEBP_RGBA, 4]] as const) {
    const bytes = Buffer.from(b64, 'base64');
    assert.equal(sniffImageFormat(bytes), 'webp');
    const img = await decodeImage(bytes);
    const want: number[] = [];
    for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) {
      want.push(50 * x, 60 * y, 20 * (x + y));
      if (channels === 4) want.push(255 - 40 * x);
    }
    sameImage(img, { width: 5, height: 4, channels, bitDepth: 8, data: Uint8Array.from(want) }, `WebP ${channels} channels`);
  }
});

// ---------------------------------------------------------------------------------------------
// Files made by ffmpeg

function ffmpeg(args: string[]): Buffer {
  const r = spawnSync('ffmpeg', ['-v', 'error', ...args], { maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('PNGs written by ffmpeg decode to ffmpeg\'s own raw pixels; ffmpeg reads our PNGs back', { skip: !HAVE_FFMPEG && NO_FFMPEG }, () => {
  // [PNG pix_fmt, raw pix_fmt to compare with, our channels, 16-bit]
  const cases: [string, string, number, boolean][] = [
    ['gray', 'gray', 1, false], ['monob', 'gray', 1, false], ['ya8', 'ya8', 2, false], ['rgb24', 'rgb24', 3, false],
    ['rgba', 'rgba', 4, false], ['pal8', 'rgba', 4, false], ['gray16be', 'gray16le', 1, true],
    ['ya16be', 'ya16le', 2, true], ['rgb48be', 'rgb48le', 3, true], ['rgba64be', 'rgba64le', 4, true],
  ];
  // one ffmpeg run writes every PNG, one more decodes them all to raw (process start-up dominates)
  const png = (fmt: string) => path.join(tmp, `ff-${fmt}.png`);
  const raw = (fmt: string) => path.join(tmp, `ff-${fmt}.raw`);
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=46x30', ...cases.flatMap(([fmt]) => ['-frames:v', '1', '-pix_fmt', fmt, '-y', png(fmt)])]);
  ffmpeg([...cases.flatMap(([fmt]) => ['-i', png(fmt)]), ...cases.flatMap(([fmt, rawFmt], i) => ['-map', `${i}:v`, '-f', 'rawvideo', '-pix_fmt', rawFmt, '-y', raw(fmt)])]);
  for (const [fmt, , channels, wide] of cases) {
    const bytes = fs.readFileSync(raw(fmt));
    let img = decodePng(fs.readFileSync(png(fmt)));
    if (fmt === 'pal8') img = toRGBA(img);
    assert.equal(img.channels, channels, `${fmt}: channels`);
    const want = wide ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2) : bytes;
    sameImage(img, { width: 46, height: 30, channels: channels as ImageChannels, bitDepth: wide ? 16 : 8, data: want }, `ffmpeg ${fmt}`);
  }
  const ours = [[3, 8, 'rgb24'], [4, 16, 'rgba64le'], [1, 16, 'gray16le'], [2, 8, 'ya8']] as const;
  const imgs = ours.map(([channels, bitDepth], k) => randomImage(21, 17, channels, bitDepth, 50 + k));
  ours.forEach(([channels, bitDepth], k) => fs.writeFileSync(path.join(tmp, `ours-${k}.png`), encodePng(imgs[k]!)));
  ffmpeg([...ours.flatMap((_, k) => ['-i', path.join(tmp, `ours-${k}.png`)]), ...ours.flatMap(([, , rawFmt], k) => ['-map', `${k}:v`, '-f', 'rawvideo', '-pix_fmt', rawFmt, '-y', path.join(tmp, `ours-${k}.raw`)])]);
  ours.forEach(([channels, bitDepth], k) => {
    const bytes = fs.readFileSync(path.join(tmp, `ours-${k}.raw`));
    const got = bitDepth === 16 ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2) : bytes;
    assert.deepEqual(Array.from(got), Array.from(imgs[k]!.data), `ffmpeg reading our ${channels} ch ${bitDepth}-bit PNG`);
  });
});

// ---------------------------------------------------------------------------------------------
// The shared benchmark files

const SETS: Record<string, Record<string, [number, number]>> = {
  Set5: { baby: [512, 512], bird: [288, 288], butterfly: [256, 256], head: [280, 280], woman: [228, 344] },
  Set14: {
    baboon: [500, 480], barbara: [720, 576], bridge: [512, 512], coastguard: [352, 288], comic: [250, 361], face: [276, 276],
    flowers: [500, 362], foreman: [352, 288], lenna: [512, 512], man: [512, 512], monarch: [768, 512], pepper: [512, 512],
    ppt3: [529, 656], zebra: [586, 391],
  },
};

test('Set5 and Set14 decode at the sizes in the manifest (bridge is greyscale)', { skip: !HAVE_DATA && NO_DATA }, async () => {
  for (const [set, files] of Object.entries(SETS)) {
    for (const [name, [w, h]] of Object.entries(files)) {
      const img = await readImage(path.join(DATA, 'benchmarks', set, `${name}.png`));
      assert.deepEqual([img.width, img.height, img.bitDepth], [w, h, 8], `${set}/${name}`);
      assert.equal(img.channels, name === 'bridge' ? 1 : 3, `${set}/${name} channels`);
      assert.equal(toRGB(img).channels, 3);
    }
  }
});

test('Set5 butterfly decodes to the same pixels as ffmpeg', { skip: (!HAVE_DATA && NO_DATA) || (!HAVE_FFMPEG && NO_FFMPEG) }, async () => {
  const file = path.join(DATA, 'benchmarks/Set5/butterfly.png');
  const raw = ffmpeg(['-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
  assert.ok(Buffer.from((await readImage(file)).data).equals(raw));
});

// ---------------------------------------------------------------------------------------------
// Pixel helpers

test('toRGB, toRGBA, alpha, channels, crops and bit-depth changes', () => {
  const ga: Image = { width: 2, height: 1, channels: 2, bitDepth: 8, data: Uint8Array.of(10, 200, 20, 100) };
  assert.deepEqual(Array.from(toRGB(ga).data), [10, 10, 10, 20, 20, 20]);
  assert.deepEqual(Array.from(toRGBA(ga).data), [10, 10, 10, 200, 20, 20, 20, 100]);
  assert.deepEqual(Array.from(alphaChannel(ga)!.data), [200, 100]);
  const rgb: Image = { width: 2, height: 1, channels: 3, bitDepth: 16, data: Uint16Array.of(1, 2, 3, 4, 5, 6) };
  assert.equal(alphaChannel(rgb), null);
  assert.deepEqual(Array.from(toRGBA(rgb).data), [1, 2, 3, 65535, 4, 5, 6, 65535]);
  assert.deepEqual(Array.from(extractChannel(rgb, 1).data), [2, 5]);
  assert.deepEqual(Array.from(to8Bit({ width: 3, height: 1, channels: 1, bitDepth: 16, data: Uint16Array.of(0, 128, 65535) }).data), [0, 0, 255]);
  assert.deepEqual(Array.from(to8Bit({ width: 2, height: 1, channels: 1, bitDepth: 16, data: Uint16Array.of(129, 385) }).data), [1, 1]);
  assert.deepEqual(Array.from(to16Bit({ width: 2, height: 1, channels: 1, bitDepth: 8, data: Uint8Array.of(1, 255) }).data), [257, 65535]);

  const grid: Image = { width: 5, height: 4, channels: 1, bitDepth: 8, data: Uint8Array.from({ length: 20 }, (_, i) => i) };
  assert.deepEqual(Array.from(modCrop(grid, 2).data), [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18]);
  assert.deepEqual(Array.from(cropBorder(grid, 1).data), [6, 7, 8, 11, 12, 13]);
  assert.equal(cropBorder(grid, 0), grid);
  assert.deepEqual(Array.from(cropImage(grid, 3, 2, 2, 2).data), [13, 14, 18, 19]);
  assert.throws(() => cropBorder(grid, 2), /leaves nothing of a 5x4 image/);
  assert.throws(() => modCrop(grid, 0), /modulus 0/);
});

test('float conversion: v / 255 in float32; back with clamp, float32 * 255 and round half to even (numpy)', () => {
  const img: Image = { width: 256, height: 1, channels: 1, bitDepth: 8, data: Uint8Array.from({ length: 256 }, (_, i) => i) };
  const f = imageToFloat32(img);
  for (let v = 0; v < 256; v++) assert.equal(f[v], Math.fround(v / 255));
  // exact round trip of every 8-bit value
  assert.deepEqual(Array.from(float32ToImage(f, 256, 1, 1).data), Array.from(img.data));
  // ties: float32(k + 0.5) / 255 rounded to float32, times 255 in float32, is exactly k + 0.5 for many k
  let ties = 0;
  for (let k = 0; k < 255; k++) {
    const v = Math.fround((k + 0.5) / 255);
    const p = Math.fround(v * 255);
    const got = float32ToImage([v], 1, 1, 1).data[0]!;
    if (p === k + 0.5) {
      ties++;
      assert.equal(got, k % 2 === 0 ? k : k + 1, `tie at ${p} goes to the even neighbour`);
    } else assert.equal(got, Math.round(p));
  }
  assert.ok(ties > 100, `${ties} ties exercised`);
  assert.deepEqual(Array.from(float32ToImage([-0.2, 1.7, 0.5, 1, 0], 5, 1, 1).data), [0, 255, 128, 255, 0]);
  assert.deepEqual([roundHalfEven(0.5), roundHalfEven(1.5), roundHalfEven(2.5), roundHalfEven(2.4999), roundHalfEven(-1.5)], [0, 2, 2, 2, -2]);
  assert.throws(() => float32ToImage([NaN], 1, 1, 1), /value 0 is NaN/);
  const wide = float32ToImage([0, 0.5, 1], 3, 1, 1, 16);
  assert.deepEqual(Array.from(wide.data), [0, 32768, 65535]);
});
