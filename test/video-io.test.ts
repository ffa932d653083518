// Video I/O: Y4M header and streaming decoder (byte-exact round trips, 4:2:0 with odd sizes and
// 4:4:4, one-line errors naming the frame of a truncated or corrupt file), BT.601 conversions
// checked against published values, a naive reference and ffmpeg's own conversion of the same
// frames, the ffmpeg bridge (probe, streamed decode, encode with audio carried, temporary output
// removed on abort or kill, the message when ffmpeg is missing), frame folders, and memory that
// stays flat over a long stream. Clips are tiny (64x48, 10 frames) and made here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from './ref/index.js';
import { type Image, cropImage } from '../src/io/image.js';
import { writeImage, readImage } from '../src/io/image.node.js';
import {
  type Y4MHeader, type YuvFrame, type Y4MChroma, Y4MError, parseY4MHeader, formatY4MHeader, readY4MStream, chromaSize, rgbToYuv, yuvToRgb,
} from '../src/io/y4m.js';
import { openY4M, createY4MWriter } from '../src/io/y4m.node.js';
import { ffmpegMissingMessage, probeVideo, decodeVideoFrames } from '../src/io/ffmpeg.node.js';
import { naturalCompare, listFrameFiles, walkClipTree, openFrameFolder, createFrameFolderWriter } from '../src/io/frames.node.js';
import { openVideo, createVideoWriter } from '../src/io/video.node.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const DATA = process.env.MVSR_DATA ?? path.resolve(REPO, '../shared/data');
const HAVE_DATA = fs.existsSync(path.join(DATA, 'train/video'));
const NO_DATA = `shared data not found at ${DATA} (set MVSR_DATA to the folder holding train/)`;
const HAVE_FFMPEG = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('ffprobe', ['-version'], { stdio: 'ignore' }).status === 0;
const NO_FFMPEG = 'ffmpeg/ffprobe are not on PATH (apt-get install ffmpeg to run the ffmpeg bridge tests)';
const ffTest = (name: string, fn: (t: import('node:test').TestContext) => Promise<void>): void => {
  test(name, { skip: HAVE_FFMPEG ? false : NO_FFMPEG }, fn);
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mvsr-video-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (): string => fs.mkdtempSync(path.join(tmp, `d${dirCount++}-`));

// ---------------------------------------------------------------------------------------------
// helpers

function randomPlanes(w: number, h: number, chroma: Y4MChroma, seed: number): YuvFrame {
  const rnd = mulberry32(seed);
  const [cw, ch] = chromaSize(w, h, chroma);
  const fill = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
  return { width: w, height: h, chroma, y: fill(w * h), u: fill(cw * ch), v: fill(cw * ch) };
}

function randomRgb(w: number, h: number, seed: number, lo = 0, hi = 255): Image {
  const rnd = mulberry32(seed);
  return { width: w, height: h, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: w * h * 3 }, () => lo + Math.floor(rnd() * (hi - lo + 1))) };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>, skip?: (i: number) => boolean): number {
  assert.equal(a.length, b.length, 'length');
  let m = 0;
  for (let i = 0; i < a.length; i++) if (!skip?.(i)) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255 * a.length) / se);
}

function sameBytes(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* chunksOf(bytes: Uint8Array, sizes: () => number): AsyncGenerator<Uint8Array> {
  for (let p = 0; p < bytes.length; ) {
    const n = Math.max(1, sizes());
    yield bytes.subarray(p, p + n);
    p += n;
  }
}

async function writeY4M(file: string, header: Y4MHeader, frames: YuvFrame[]): Promise<void> {
  const w = await createY4MWriter(file, header);
  for (const f of frames) await w.write(f);
  await w.close();
}

/** Run ffmpeg on raw input bytes and return raw output bytes. */
function ffRaw(input: Uint8Array, inFmt: string, w: number, h: number, outFmt: string, extra: string[] = []): Buffer {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', inFmt, '-s', `${w}x${h}`, '-i', '-', ...extra, '-f', 'rawvideo', '-pix_fmt', outFmt, '-'], { input, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, `ffmpeg: ${r.stderr?.toString()}`);
  return r.stdout;
}

function ffSource(src: string, w: number, h: number, frames: number, pixFmt: string): Buffer {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `${src}=size=${w}x${h}:rate=10`, '-frames:v', String(frames), '-f', 'rawvideo', '-pix_fmt', pixFmt, '-'], { maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, `ffmpeg: ${r.stderr?.toString()}`);
  return r.stdout;
}

function splitYuv(b: Uint8Array, w: number, h: number, chroma: Y4MChroma): YuvFrame {
  const [cw, ch] = chromaSize(w, h, chroma);
  return { width: w, height: h, chroma, y: b.subarray(0, w * h), u: b.subarray(w * h, w * h + cw * ch), v: b.subarray(w * h + cw * ch, w * h + 2 * cw * ch) };
}

function ffprobeJson(file: string): { streams: Record<string, unknown>[] } {
  return JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', file]).toString()) as { streams: Record<string, unknown>[] };
}

/** Live (not zombie) ffmpeg/ffprobe children of this process. */
function ffmpegChildren(): number[] {
  const r = spawnSync('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(process.pid)]);
  if (r.status !== 0 || !r.stdout) return []; // no ps here: nothing to check
  return r.stdout.toString().trim().split('\n').map((l) => l.trim().split(/\s+/)).filter((p) => p.length === 3 && /^ff(mpeg|probe)/.test(p[2]!) && !p[1]!.startsWith('Z')).map((p) => Number(p[0]));
}

function tmpLeftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith('.') || n.endsWith('.tmp'));
}

// The shared clip: testsrc 64x48 at 10 fps, 10 frames, with a 440 Hz sine track; as lossless
// H.264 (same yuv420p planes) in an mp4, and as the Y4M ffmpeg writes of those planes.
const CLIP = path.join(tmp, 'testsrc.mp4');
const CLIP_Y4M = path.join(tmp, 'testsrc.y4m');
if (HAVE_FFMPEG) {
  const lavfi = ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=8000'];
  const r1 = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...lavfi, '-frames:v', '10', '-t', '1', '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', CLIP]);
  const r2 = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', '10', '-pix_fmt', 'yuv420p', CLIP_Y4M]);
  if (r1.status !== 0 || r2.status !== 0) throw new Error(`cannot make the test clips: ${r1.stderr} ${r2.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// Y4M header

test('Y4M header: fields parsed, defaults, and formatted back', () => {
  const h = parseY4MHeader('YUV4MPEG2 W64 H48 F30000:1001 Ip A128:117 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED');
  assert.deepEqual(h, { width: 64, height: 48, fps: [30000, 1001], interlace: 'p', aspect: [128, 117], chroma: '420mpeg2', comments: ['YSCSS=420MPEG2', 'COLORRANGE=LIMITED'] });
  assert.deepEqual(parseY4MHeader(formatY4MHeader(h).trimEnd()), h);
  assert.equal(formatY4MHeader(h), 'YUV4MPEG2 W64 H48 F30000:1001 Ip A128:117 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED\n');
  // no F, I, A, C: 25 fps and 420jpeg as ffmpeg assumes; unknown fields ignored
  assert.deepEqual(parseY4MHeader('YUV4MPEG2 W3 H5 Zfoo'), { width: 3, height: 5, fps: [25, 1], chroma: '420jpeg', comments: [] });
  for (const c of ['420', '420jpeg', '420paldv', '444'] as const) assert.equal(parseY4MHeader(`YUV4MPEG2 W2 H2 C${c}`).chroma, c);
});

test('Y4M header: interlaced, other colour spaces and bad fields are refused in one line', () => {
  const bad: [string, RegExp][] = [
    ['YUV4MPEG2 W64 H48 It', /interlaced Y4M \(It, top field first\) is not supported: only progressive/],
    ['YUV4MPEG2 W64 H48 Ib', /interlaced Y4M \(Ib, bottom field first\)/],
    ['YUV4MPEG2 W64 H48 Im', /interlaced Y4M \(Im, mixed per frame\)/],
    ['YUV4MPEG2 W64 H48 I?', /interlaced Y4M \(I\?/],
    ['YUV4MPEG2 W64 H48 C422', /colour space C422 is not supported/],
    ['YUV4MPEG2 W64 H48 C420p10', /colour space C420p10 is not supported/],
    ['YUV4MPEG2 W64 H48 Cmono', /colour space Cmono is not supported/],
    ['YUV4MPEG2 H48', /no W \(width\) field/],
    ['YUV4MPEG2 W64 H0', /H0 is not a size/],
    ['YUV4MPEG2 W64 H48 F30', /F30 is not a ratio/],
    ['YUV4MPEG2 W64 H48 F0:1', /non-zero numerator/],
    ['YUV4MPEG W64 H48', /not a Y4M file/],
    ['YUV4MPEG2W64 H48', /not a Y4M file/],
  ];
  for (const [line, re] of bad) {
    assert.throws(() => parseY4MHeader(line), (e: Error) => e instanceof Y4MError && re.test(e.message) && !e.message.includes('\n'), line);
  }
});

// ---------------------------------------------------------------------------------------------
// Y4M streams and files

test('Y4M decoder: any chunking (1 byte, random sizes) gives the same frames and header length', async () => {
  const header: Y4MHeader = { width: 7, height: 5, fps: [24, 1], interlace: 'p', chroma: '420jpeg', comments: ['hello'] };
  const frames = [randomPlanes(7, 5, '420jpeg', 1), randomPlanes(7, 5, '420jpeg', 2), randomPlanes(7, 5, '420jpeg', 3)];
  const head = Buffer.from(formatY4MHeader(header), 'latin1');
  const bytes = Buffer.concat([head, ...frames.flatMap((f) => [Buffer.from('FRAME\n'), f.y, f.u, f.v])]);
  const rnd = mulberry32(9);
  for (const sizes of [() => 1, () => 1 + Math.floor(rnd() * 40), () => 1 << 20]) {
    const s = await readY4MStream(chunksOf(bytes, sizes));
    assert.deepEqual(s.header, header);
    assert.equal(s.headerBytes, head.length);
    const got = await collect(s.frames);
    assert.equal(got.length, 3);
    got.forEach((f, i) => assert.deepEqual([f.y, f.u, f.v], [frames[i]!.y, frames[i]!.u, frames[i]!.v]));
  }
  // frame parameters after FRAME are allowed
  const withParams = Buffer.concat([head, Buffer.from('FRAME Ip XA=1\n'), frames[0]!.y, frames[0]!.u, frames[0]!.v]);
  assert.equal((await collect((await readY4MStream(chunksOf(withParams, () => 5))).frames)).length, 1);
});

test('Y4M files: write then read gives identical planes (4:2:0 even and odd sizes, 4:4:4), header kept', async () => {
  const dir = freshDir();
  const cases: [number, number, Y4MChroma][] = [[64, 48, '420jpeg'], [33, 17, '420jpeg'], [1, 1, '420mpeg2'], [5, 3, '420paldv'], [31, 9, '444'], [64, 48, '420']];
  for (const [w, h, chroma] of cases) {
    const header: Y4MHeader = { width: w, height: h, fps: [30000, 1001], interlace: 'p', aspect: [1, 1], chroma, comments: ['YSCSS=TEST', 'note=x'] };
    const frames = [0, 1, 2, 3].map((k) => randomPlanes(w, h, chroma, 100 * w + k));
    const file = path.join(dir, `rt-${w}x${h}-${chroma}.y4m`);
    await writeY4M(file, header, frames);
    const [cw, ch] = chromaSize(w, h, chroma);
    if (chroma !== '444') assert.deepEqual([cw, ch], [Math.ceil(w / 2), Math.ceil(h / 2)]);
    const headLen = formatY4MHeader(header).length;
    assert.equal(fs.statSync(file).size, headLen + 4 * (6 + w * h + 2 * cw * ch), 'file size');
    const y = await openY4M(file);
    assert.deepEqual(y.header, header);
    assert.equal(y.frameCount, 4);
    const got = await collect(y.frames());
    assert.equal(got.length, 4);
    got.forEach((f, i) => {
      assert.deepEqual([f.width, f.height, f.chroma], [w, h, chroma]);
      assert.ok(Buffer.from(f.y).equals(frames[i]!.y) && Buffer.from(f.u).equals(frames[i]!.u) && Buffer.from(f.v).equals(frames[i]!.v), `${w}x${h} ${chroma} frame ${i + 1}`);
    });
    // frames() starts again from the first frame each time
    assert.equal((await collect(y.frames())).length, 4);
  }
  assert.deepEqual(tmpLeftovers(dir), [], 'no temporary files left');
});

test('Y4M: a truncated or corrupt file stops with one line naming the file, frame number and byte offset', async () => {
  const dir = freshDir();
  const header: Y4MHeader = { width: 16, height: 8, fps: [25, 1], chroma: '420jpeg', comments: [] };
  const frames = [1, 2, 3, 4, 5].map((k) => randomPlanes(16, 8, '420jpeg', k));
  const good = path.join(dir, 'good.y4m');
  await writeY4M(good, header, frames);
  const bytes = fs.readFileSync(good);
  const headLen = formatY4MHeader(header).length, per = 6 + 16 * 8 + 2 * 8 * 4;
  const readAll = async (file: string): Promise<number> => {
    let n = 0;
    for await (const _ of (await openY4M(file)).frames()) n++;
    return n;
  };
  // cut in the middle of frame 4's picture
  const cut = path.join(dir, 'cut.y4m');
  fs.writeFileSync(cut, bytes.subarray(0, headLen + 3 * per + 6 + 100));
  assert.equal((await openY4M(cut)).frameCount, undefined, 'no frame count for a file that is not whole frames');
  let seen = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of (await openY4M(cut)).frames()) seen++;
    })(),
    (e: Error) => {
      assert.equal(e.message, `mvsr: ${cut}: frame 4: truncated Y4M: 100 of 192 picture bytes (frame data starts at byte ${headLen + 3 * per + 6}, the file ends at byte ${headLen + 3 * per + 106})`);
      return true;
    },
  );
  assert.equal(seen, 3, 'the three whole frames come out before the error');
  // cut inside frame 2's FRAME line
  const cutLine = path.join(dir, 'cutline.y4m');
  fs.writeFileSync(cutLine, bytes.subarray(0, headLen + per + 3));
  await assert.rejects(readAll(cutLine), (e: Error) => e.message === `mvsr: ${cutLine}: frame 2: truncated Y4M: the file ends inside the FRAME line at byte ${headLen + per}`);
  // frame 3's marker overwritten
  const bad = path.join(dir, 'bad.y4m');
  const corrupt = Buffer.from(bytes);
  corrupt.write('FRAMX', headLen + 2 * per, 'latin1');
  fs.writeFileSync(bad, corrupt);
  await assert.rejects(readAll(bad), (e: Error) => e.message.startsWith(`mvsr: ${bad}: frame 3: corrupt Y4M: expected a "FRAME" line at byte ${headLen + 2 * per}, found "FRAMX`));
  // one extra byte after the last frame
  const extra = path.join(dir, 'extra.y4m');
  fs.writeFileSync(extra, Buffer.concat([bytes, Buffer.from('\n')]));
  await assert.rejects(readAll(extra), /frame 6: corrupt Y4M: expected a "FRAME" line at byte \d+, found ""$/);
  fs.writeFileSync(extra, Buffer.concat([bytes, Buffer.from('FR')]));
  await assert.rejects(readAll(extra), /frame 6: truncated Y4M: the file ends inside the FRAME line/);
  // header problems
  const notY4m = path.join(dir, 'x.y4m');
  fs.writeFileSync(notY4m, 'hello world\n');
  await assert.rejects(openY4M(notY4m), (e: Error) => e.message.startsWith(`mvsr: ${notY4m}: not a Y4M file`));
  fs.writeFileSync(notY4m, 'YUV4MPEG2 W16 H8 Ib\n');
  await assert.rejects(openVideo(notY4m), /x\.y4m: interlaced Y4M \(Ib, bottom field first\) is not supported/);
  fs.writeFileSync(notY4m, 'YUV4MPEG2 W16 H8');
  await assert.rejects(openY4M(notY4m), /x\.y4m: truncated Y4M: the file ends inside the header/);
  await assert.rejects(openY4M(path.join(dir, 'missing.y4m')), /missing\.y4m: no such file$/);
});

// ---------------------------------------------------------------------------------------------
// Colour conversion

/** BT.601 limited range from the textbook formulas, float64, for a reference independent of y4m.ts. */
function refYuv(r: number, g: number, b: number): [number, number, number] {
  const y = 0.299 * r + 0.587 * g + 0.114 * b;
  return [16 + (219 * y) / 255, 128 + (224 * (b - y)) / (1.772 * 255), 128 + (224 * (r - y)) / (1.402 * 255)];
}

test('RGB <-> YUV: BT.601 limited range matches the published values and the textbook formulas', () => {
  // Rec. 601 (ITU-R BT.601-7, 8-bit) colour bars: [R, G, B] -> [Y, Cb, Cr]
  const table: [number[], number[]][] = [
    [[255, 255, 255], [235, 128, 128]], [[0, 0, 0], [16, 128, 128]], [[255, 0, 0], [81, 90, 240]],
    [[0, 255, 0], [145, 54, 34]], [[0, 0, 255], [41, 240, 110]], [[255, 255, 0], [210, 16, 146]],
    [[0, 255, 255], [170, 166, 16]], [[255, 0, 255], [106, 202, 222]],
  ];
  for (const [rgb, yuv] of table) {
    const img: Image = { width: 2, height: 2, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: 12 }, (_, i) => rgb[i % 3]!) };
    for (const chroma of ['420jpeg', '444'] as const) {
      const f = rgbToYuv(img, chroma);
      assert.deepEqual([f.y[0], f.u[0], f.v[0]], yuv, `${rgb} ${chroma}`);
      assert.ok(maxDiff(yuvToRgb(f).data.subarray(0, 3), rgb) <= 1, `back to ${rgb}: ${[...yuvToRgb(f).data.subarray(0, 3)]}`);
    }
  }
  // 4:4:4 on random pixels: within rounding of the float64 formulas, and back within 1 level per
  // channel of the original for colours whose YUV round trip is exact up to quantisation
  const img = randomRgb(37, 11, 5);
  const f = rgbToYuv(img, '444');
  let worst = 0;
  for (let i = 0; i < 37 * 11; i++) {
    const [y, u, v] = refYuv(img.data[3 * i]!, img.data[3 * i + 1]!, img.data[3 * i + 2]!);
    worst = Math.max(worst, Math.abs(f.y[i]! - y), Math.abs(f.u[i]! - u), Math.abs(f.v[i]! - v));
  }
  assert.ok(worst <= 0.5 + 1e-9, `444 vs formulas: ${worst}`);
  const back = yuvToRgb(f);
  assert.ok(maxDiff(back.data, img.data) <= 2, `RGB -> 444 -> RGB differs by ${maxDiff(back.data, img.data)}`);
  // a flat colour stays exact through 4:2:0 at any size (the filters sum to one)
  for (const [w, h] of [[7, 5], [1, 1], [2, 9], [16, 3]]) {
    const flat: Image = { width: w!, height: h!, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: w! * h! * 3 }, (_, i) => [200, 30, 90][i % 3]!) };
    const q = rgbToYuv(flat);
    assert.ok(q.u.every((x) => x === q.u[0]) && q.v.every((x) => x === q.v[0]), `${w}x${h} flat chroma`);
    assert.deepEqual(rgbToYuv(flat, '444').u[0], q.u[0]);
  }
  // grey, alpha and 16-bit inputs are accepted
  const rgba: Image = { width: 2, height: 2, channels: 4, bitDepth: 8, data: Uint8Array.from({ length: 16 }, (_, i) => (i % 4 === 3 ? 0 : 255)) };
  assert.equal(rgbToYuv(rgba).y[0], 235);
  const grey16: Image = { width: 2, height: 2, channels: 1, bitDepth: 16, data: new Uint16Array(4).fill(0) };
  assert.equal(rgbToYuv(grey16).y[0], 16);
});

test('4:2:0 -> RGB: bilinear upsampling at each declared siting equals a naive reference; full range honoured', () => {
  const W = 9, H = 7;
  const yuv = randomPlanes(W, H, '420jpeg', 77);
  for (const y of [yuv.y]) y.fill(126);
  // chroma sample (i, j) sits at luma (2i + ox, 2j + oy)
  const sitings: [Y4MChroma, number, number][] = [['420jpeg', 0.5, 0.5], ['420', 0.5, 0.5], ['420mpeg2', 0, 0.5], ['420paldv', 0, 0]];
  const [cw, ch] = chromaSize(W, H, '420jpeg');
  for (const [chroma, ox, oy] of sitings) {
    const got = yuvToRgb({ ...yuv, chroma });
    const sample = (p: Uint8Array, x: number, y: number): number => {
      // linear in x then y between the neighbouring chroma samples, edges clamped
      const cx = Math.min(Math.max((x - ox) / 2, 0), cw - 1), cy = Math.min(Math.max((y - oy) / 2, 0), ch - 1);
      const x0 = Math.floor(cx), y0 = Math.floor(cy), x1 = Math.min(x0 + 1, cw - 1), y1 = Math.min(y0 + 1, ch - 1);
      const fx = cx - x0, fy = cy - y0;
      const at = (i: number, j: number): number => p[j * cw + i]!;
      return (at(x0, y0) * (1 - fx) + at(x1, y0) * fx) * (1 - fy) + (at(x0, y1) * (1 - fx) + at(x1, y1) * fx) * fy;
    };
    let worst = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const u = sample(yuv.u, x, y), v = sample(yuv.v, x, y);
        const l = ((126 - 16) * 255) / 219, cb = ((u - 128) * 255) / 224, cr = ((v - 128) * 255) / 224;
        const ref = [l + 1.402 * cr, l - ((0.114 * 1.772) / 0.587) * cb - ((0.299 * 1.402) / 0.587) * cr, l + 1.772 * cb].map((c) => Math.min(255, Math.max(0, c)));
        const i = 3 * (y * W + x);
        for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(got.data[i + c]! - ref[c]!));
      }
    }
    assert.ok(worst <= 0.5 + 1e-6, `${chroma}: ${worst}`);
  }
  // full range (Y4M XCOLORRANGE=FULL): Y 0 is black, 255 white
  const full: YuvFrame = { width: 2, height: 2, chroma: '444', range: 'full', y: Uint8Array.of(0, 255, 128, 128), u: Uint8Array.of(128, 128, 128, 0), v: Uint8Array.of(128, 128, 255, 128) };
  const rgb = yuvToRgb(full).data;
  assert.deepEqual([...rgb.subarray(0, 6)], [0, 0, 0, 255, 255, 255]);
  assert.equal(rgb[6], 255); // Cr 255 -> red clipped high
});

ffTest('RGB -> yuv420p matches ffmpeg\'s own conversion of the same frames within 1 level', async (t) => {
  // odd sizes are crops of an even frame (lavfi sources round odd sizes down)
  const cases: [string, number, number][] = [['testsrc', 64, 48], ['testsrc2', 64, 48], ['smptebars', 64, 48], ['testsrc2', 66, 50], ['testsrc2', 64, 47], ['testsrc', 65, 49], ['testsrc2', 13, 9]];
  const worst = { y: 0, c: 0 };
  const check = (rgb: Image, what: string): void => {
    const { width: w, height: h } = rgb;
    const ff = splitYuv(ffRaw(rgb.data as Uint8Array, 'rgb24', w, h, 'yuv420p'), w, h, '420jpeg');
    const mine = rgbToYuv(rgb);
    const cw = Math.ceil(w / 2);
    // for odd widths ffmpeg's last chroma column also reads the byte past the row (see y4m.ts); skip it
    const skip = w % 2 ? (i: number) => i % cw === cw - 1 : undefined;
    const dy = maxDiff(mine.y, ff.y), dc = Math.max(maxDiff(mine.u, ff.u, skip), maxDiff(mine.v, ff.v, skip));
    worst.y = Math.max(worst.y, dy);
    worst.c = Math.max(worst.c, dc);
    assert.ok(dy <= 1 && dc <= 1, `${what}: Y differs by ${dy}, chroma by ${dc}`);
  };
  for (const [src, w, h] of cases) {
    const W = w + (w % 2), H = h + (h % 2);
    const raw = ffSource(src, W, H, 2, 'rgb24');
    for (let k = 0; k < 2; k++) {
      const whole: Image = { width: W, height: H, channels: 3, bitDepth: 8, data: raw.subarray(k * W * H * 3, (k + 1) * W * H * 3) };
      check(cropImage(whole, 0, 0, w, h), `${src} ${w}x${h} frame ${k + 1}`);
    }
  }
  check(randomRgb(64, 48, 11), 'noise 64x48');
  check(randomRgb(48, 30, 12), 'noise 48x30');
  t.diagnostic(`measured max difference vs ffmpeg rgb24->yuv420p: Y ${worst.y}, Cb/Cr ${worst.c}`);
});

ffTest('YUV -> RGB matches ffmpeg: 4:4:4 matrix within 1 level, 4:2:0 nearest exactly, 4:2:0 bilinear (paldv siting) within 1', async (t) => {
  // in-gamut 4:4:4 planes (ffmpeg's accurate path wraps around for far out-of-gamut values)
  const rgbSrc = ffSource('testsrc2', 64, 48, 1, 'rgb24');
  const f444 = rgbToYuv({ width: 64, height: 48, channels: 3, bitDepth: 8, data: rgbSrc }, '444');
  const noise = randomRgb(64, 48, 3, 20, 235);
  const n444 = rgbToYuv(noise, '444');
  let d444 = 0;
  for (const f of [f444, n444]) {
    const ff = ffRaw(Buffer.concat([f.y, f.u, f.v]), 'yuv444p', 64, 48, 'rgb24', ['-sws_flags', 'accurate_rnd+full_chroma_int']);
    d444 = Math.max(d444, maxDiff(yuvToRgb(f).data, ff));
  }
  assert.ok(d444 <= 1, `4:4:4 -> RGB: ${d444}`);
  const yuv = splitYuv(ffSource('testsrc2', 64, 48, 1, 'yuv420p'), 64, 48, '420jpeg');
  const planes = Buffer.concat([yuv.y, yuv.u, yuv.v]);
  const nearest = maxDiff(yuvToRgb(yuv, { upsampling: 'nearest' }).data, ffRaw(planes, 'yuv420p', 64, 48, 'rgb24', ['-sws_flags', 'neighbor+accurate_rnd+full_chroma_int']));
  assert.ok(nearest <= 1, `4:2:0 nearest: ${nearest}`);
  // ffmpeg interpolates at the siting given by in_h_chr_pos/in_v_chr_pos; 0/0 is C420paldv's top-left
  const paldv = maxDiff(yuvToRgb({ ...yuv, chroma: '420paldv' }).data, ffRaw(planes, 'yuv420p', 64, 48, 'rgb24', ['-vf', 'scale=flags=bilinear+accurate_rnd+full_chroma_int:in_h_chr_pos=0:in_v_chr_pos=0']));
  assert.ok(paldv <= 1, `4:2:0 bilinear, top-left siting: ${paldv}`);
  t.diagnostic(`measured max difference vs ffmpeg ->rgb24: yuv444p ${d444}, yuv420p nearest ${nearest}, yuv420p bilinear top-left ${paldv}`);
});

// ---------------------------------------------------------------------------------------------
// The ffmpeg bridge

ffTest('ffmpeg decode of an mp4: count, size, frame rate, audio, and frames close to the Y4M of the same planes', async (t) => {
  const v = await openVideo(CLIP);
  assert.equal(v.kind, 'ffmpeg');
  assert.deepEqual(v.info, { width: 64, height: 48, fps: [10, 1], frames: 10, hasAudio: true });
  const y = await openVideo(CLIP_Y4M);
  assert.equal(y.kind, 'y4m');
  assert.deepEqual(y.info, { width: 64, height: 48, fps: [10, 1], frames: 10, hasAudio: false });
  const a = await collect(v.frames()), b = await collect(y.frames());
  assert.equal(a.length, 10);
  assert.equal(b.length, 10);
  let worstPsnr = Infinity, worstLuma = 0;
  for (let i = 0; i < 10; i++) {
    assert.deepEqual([a[i]!.width, a[i]!.height, a[i]!.channels, a[i]!.bitDepth], [64, 48, 3, 8]);
    worstPsnr = Math.min(worstPsnr, psnr(a[i]!.data, b[i]!.data));
    // the luma (what RGB -> Y gives back) agrees to rounding: the two differ only in chroma upsampling
    worstLuma = Math.max(worstLuma, maxDiff(rgbToYuv(a[i]!, '444').y, rgbToYuv(b[i]!, '444').y));
  }
  // testsrc's colour bars and digits put sharp chroma edges on every other pixel, the worst case
  // for comparing two chroma interpolations; natural video agrees far more closely
  t.diagnostic(`ffmpeg (bicubic chroma) vs Y4M (bilinear chroma) decode of the same planes: min PSNR ${worstPsnr.toFixed(2)} dB, max luma difference ${worstLuma}`);
  assert.ok(worstPsnr > 30, `PSNR ${worstPsnr}`);
  assert.ok(worstLuma <= 12, `luma ${worstLuma}`);
  // and the Y4M planes are exactly what ffmpeg decodes from the mp4 (lossless H.264)
  const raw = spawnSync('ffmpeg', ['-v', 'error', '-i', CLIP, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-']).stdout;
  const planes = await collect((await openY4M(CLIP_Y4M)).frames());
  assert.ok(Buffer.concat(planes.flatMap((f) => [f.y, f.u, f.v])).equals(raw));
});

ffTest('ffmpeg encode: H.264 mp4 with the audio carried, the source frame rate, frames close to the input', async () => {
  const dir = freshDir();
  const src = await openVideo(CLIP);
  const out = path.join(dir, 'out.mp4');
  const w = await createVideoWriter(out, src.info, { audioFrom: CLIP, preset: 'ultrafast' });
  assert.equal(w.carriesAudio, true);
  const input = await collect(src.frames());
  for (const f of input) await w.write(f);
  await w.close();
  const streams = ffprobeJson(out).streams;
  const vs = streams.find((s) => s.codec_type === 'video')!, as = streams.find((s) => s.codec_type === 'audio');
  assert.ok(as, 'the output has an audio stream');
  assert.equal(as.codec_name, 'aac');
  assert.deepEqual([vs.codec_name, vs.width, vs.height, vs.r_frame_rate, vs.avg_frame_rate, vs.pix_fmt, vs.nb_frames], ['h264', 64, 48, '10/1', '10/1', 'yuv420p', '10']);
  const back = await collect((await openVideo(out)).frames());
  assert.equal(back.length, 10);
  for (let i = 0; i < 10; i++) assert.ok(psnr(back[i]!.data, input[i]!.data) > 30, `frame ${i + 1}: ${psnr(back[i]!.data, input[i]!.data)} dB`);
  // webm: VP9, and the AAC track re-encoded to Opus (WebM takes only Opus/Vorbis)
  const webm = path.join(dir, 'out.webm');
  const w2 = await createVideoWriter(webm, { ...src.info, fps: [25, 2] }, { audioFrom: CLIP });
  for (const f of input.slice(0, 4)) await w2.write(f);
  await w2.close();
  const s2 = ffprobeJson(webm).streams;
  assert.deepEqual(s2.map((s) => s.codec_name), ['vp9', 'opus']);
  assert.equal(s2[0]!.r_frame_rate, '25/2');
  // an mkv with no audio source has no audio
  const mkv = path.join(dir, 'out.mkv');
  const w3 = await createVideoWriter(mkv, src.info);
  assert.equal(w3.carriesAudio, false);
  for (const f of input.slice(0, 2)) await w3.write(f);
  await w3.close();
  assert.deepEqual(ffprobeJson(mkv).streams.map((s) => s.codec_type), ['video']);
  assert.deepEqual(tmpLeftovers(dir), []);
});

ffTest('ffmpeg encode: abort, a failing ffmpeg, bad frames and a killed process leave no output file', async () => {
  const dir = freshDir();
  const frames = await collect((await openVideo(CLIP)).frames());
  const info = { width: 64, height: 48, fps: [10, 1] as [number, number] };
  // abort after 3 frames
  const out = path.join(dir, 'aborted.mp4');
  const w = await createVideoWriter(out, info, { audioFrom: CLIP });
  for (const f of frames.slice(0, 3)) await w.write(f);
  await w.abort();
  await w.abort(); // twice is fine
  assert.equal(fs.existsSync(out), false);
  await assert.rejects(w.write(frames[0]!), /write after abort/);
  // an AbortSignal does the same
  const ac = new AbortController();
  const out2 = path.join(dir, 'signalled.mp4');
  const w2 = await createVideoWriter(out2, info, { signal: ac.signal });
  await w2.write(frames[0]!);
  ac.abort();
  await assert.rejects(w2.write(frames[1]!));
  await w2.abort(); // waits for the abort the signal started
  assert.equal(fs.existsSync(out2), false);
  // ffmpeg killed under us mid-encode: the next write or close fails with its status, nothing left
  const out3 = path.join(dir, 'killed.mp4');
  const w3 = await createVideoWriter(out3, info);
  try {
    await w3.write(frames[0]!);
    const kids = ffmpegChildren();
    assert.equal(kids.length, 1, `one ffmpeg child: ${kids}`);
    process.kill(kids[0]!, 'SIGKILL');
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 200; i++) await w3.write(frames[i % 10]!);
        await w3.close();
      })(),
      /killed\.mp4: ffmpeg (stopped at frame \d+|failed) \(signal SIGKILL\)/,
    );
  } finally {
    await w3.abort();
  }
  assert.equal(fs.existsSync(out3), false);
  // a frame of the wrong size is refused before it reaches ffmpeg
  const out4 = path.join(dir, 'size.mp4');
  const w4 = await createVideoWriter(out4, info);
  await assert.rejects(w4.write(randomRgb(32, 24, 1)), /size\.mp4: frame 1 is 32x24, 3 channel\(s\), 8-bit, the video is 64x48/);
  await w4.abort();
  // odd sizes cannot be yuv420p H.264
  await assert.rejects(createVideoWriter(path.join(dir, 'odd.mp4'), { width: 63, height: 48, fps: [10, 1] }), /needs an even width and height/);
  // closing with no frames is an error and leaves nothing
  const w5 = await createVideoWriter(path.join(dir, 'empty.mp4'), info);
  await assert.rejects(w5.close(), /no frames were written/);
  // the node process itself killed mid-encode: the real name never appears
  const out6 = path.join(dir, 'hardkill.mp4');
  const script = `import { createVideoWriter } from ${JSON.stringify(path.resolve(HERE, '../src/io/video.node.js'))};
    const w = await createVideoWriter(${JSON.stringify(out6)}, { width: 64, height: 48, fps: [10, 1] });
    const f = { width: 64, height: 48, channels: 3, bitDepth: 8, data: new Uint8Array(64 * 48 * 3).fill(90) };
    for (let i = 0; i < 5; i++) await w.write(f);
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script]);
  assert.equal(r.signal, 'SIGKILL');
  await new Promise((res) => setTimeout(res, 300)); // ffmpeg (orphaned) finishes its temporary file
  assert.equal(fs.existsSync(out6), false, 'no file under the real name');
  assert.ok(fs.readdirSync(dir).every((n) => n !== 'hardkill.mp4' && (!n.includes('hardkill') || /^\..*\.tmp$/.test(n))), `leftovers are hidden .tmp files: ${fs.readdirSync(dir)}`);
  const left = fs.readdirSync(dir).filter((n) => !n.includes('hardkill'));
  assert.deepEqual(left, [], 'everything else was removed');
});

ffTest('ffmpeg failing: its last stderr line is in the error; stopping early kills ffmpeg', async () => {
  const dir = freshDir();
  const junk = path.join(dir, 'junk.mp4');
  fs.writeFileSync(junk, Buffer.from(randomRgb(40, 40, 2).data));
  await assert.rejects(openVideo(junk), (e: Error) => {
    assert.match(e.message, /^mvsr: .*junk\.mp4: ffprobe failed \(exit code 1\): .*Invalid data found when processing input$/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  // a file ffprobe accepts but whose decode fails mid-way: a truncated mp4 is refused whole by
  // ffprobe, so decode a clip that ffmpeg cannot read with a wrong size guess instead
  await assert.rejects(collect(decodeVideoFrames(junk, { width: 64, height: 48 })), /junk\.mp4: ffmpeg failed \(exit code 1\): .*Invalid data/);
  // break after two frames: the ffmpeg child is gone
  const v = await openVideo(CLIP);
  let n = 0;
  for await (const _ of v.frames()) if (++n === 2) break;
  await new Promise((res) => setTimeout(res, 100));
  assert.deepEqual(ffmpegChildren(), [], 'no ffmpeg left');
  // an AbortSignal stops the decode with its reason
  const ac = new AbortController();
  const it = v.frames({ signal: ac.signal });
  await it.next();
  ac.abort(new Error('stop here'));
  await assert.rejects(it.next(), /stop here/);
});

test('ffmpeg absent: one line saying what to install (PATH without ffmpeg, or an injected binary path)', async () => {
  const dir = freshDir();
  const clip = path.join(dir, 'clip.mp4');
  fs.writeFileSync(clip, 'not really a video');
  const expected = `mvsr: ffmpeg is needed to read ${clip} (.mp4); install it with "apt-get install ffmpeg" (Debian/Ubuntu) or use a .y4m file`;
  assert.equal(ffmpegMissingMessage(clip, 'read'), expected);
  // in-process, with binaries that do not exist
  const nowhere = { ffmpeg: path.join(dir, 'no-such-ffmpeg'), ffprobe: path.join(dir, 'no-such-ffprobe') };
  await assert.rejects(openVideo(clip, { ffmpeg: nowhere }), (e: Error) => e.message === expected);
  await assert.rejects(probeVideo(clip, nowhere), (e: Error) => e.message === expected);
  await assert.rejects(createVideoWriter(path.join(dir, 'out.mp4'), { width: 64, height: 48, fps: [10, 1] }, { ffmpeg: nowhere }), (e: Error) => e.message === `mvsr: ffmpeg is needed to write ${path.join(dir, 'out.mp4')} (.mp4); install it with "apt-get install ffmpeg" (Debian/Ubuntu) or write a .y4m file`);
  assert.deepEqual(fs.readdirSync(dir), ['clip.mp4']);
  // in a child whose PATH has no ffmpeg: the message, and Y4M still works without it
  const y4m = path.join(dir, 'ok.y4m');
  await writeY4M(y4m, { width: 4, height: 2, fps: [25, 1], chroma: '420jpeg', comments: [] }, [randomPlanes(4, 2, '420jpeg', 1)]);
  const script = `import { openVideo } from ${JSON.stringify(path.resolve(HERE, '../src/io/video.node.js'))};
    const y = await openVideo(${JSON.stringify(y4m)}); let n = 0; for await (const _ of y.frames()) n++;
    console.log('y4m frames ' + n);
    try { await openVideo(${JSON.stringify(clip)}); } catch (e) { console.log(e.message); }`;
  const emptyBin = fs.mkdtempSync(path.join(dir, 'bin-'));
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: emptyBin };
  delete env.MVSR_FFMPEG;
  delete env.MVSR_FFPROBE;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.deepEqual(r.stdout.toString().trim().split('\n'), ['y4m frames 1', expected]);
});

test('shared clips: probe and first frames of a real mp4 with audio and of an AVI', { skip: !HAVE_FFMPEG ? NO_FFMPEG : !HAVE_DATA ? NO_DATA : false }, async () => {
  const clips = path.join(DATA, 'train/video/clips');
  const balle = await openVideo(path.join(clips, 'balle-jbart.mp4'));
  assert.deepEqual(balle.info, { width: 720, height: 576, fps: [25, 1], frames: 255, hasAudio: true });
  const diver = await openVideo(path.join(clips, 'diver.mov'));
  assert.deepEqual(diver.info, { width: 640, height: 480, fps: [25, 1], frames: 351, hasAudio: true });
  const vtest = await openVideo(path.join(clips, 'vtest.avi'));
  assert.deepEqual(vtest.info, { width: 768, height: 576, fps: [10, 1], frames: 795, hasAudio: false });
  let n = 0;
  for await (const f of vtest.frames()) {
    assert.deepEqual([f.width, f.height, f.data.length], [768, 576, 768 * 576 * 3]);
    if (++n === 2) break;
  }
});

// ---------------------------------------------------------------------------------------------
// Frame folders

test('frame folders: natural order, REDS-style writing, read back identical, no partial folder', async () => {
  assert.deepEqual(['im10.png', 'im2.png', 'im1.png', 'im07.png'].sort(naturalCompare), ['im1.png', 'im2.png', 'im07.png', 'im10.png']);
  assert.deepEqual(['00000010.png', '00000002.png', 'a.png', '00000001.png'].sort(naturalCompare), ['00000001.png', '00000002.png', '00000010.png', 'a.png']);
  const dir = freshDir();
  // a Vimeo-like septuplet folder with names that sort wrongly as plain strings
  const sept = path.join(dir, 'seq', '00001', '0001');
  fs.mkdirSync(sept, { recursive: true });
  const imgs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((k) => randomRgb(12, 8, k));
  for (let k = 0; k < imgs.length; k++) await writeImage(path.join(sept, `im${k + 1}.png`), imgs[k]!);
  fs.writeFileSync(path.join(sept, 'notes.txt'), 'not a frame');
  assert.deepEqual((await listFrameFiles(sept)).map((f) => path.basename(f)).slice(0, 3), ['im1.png', 'im2.png', 'im3.png']);
  assert.deepEqual(await walkClipTree(path.join(dir, 'seq')), { folders: [sept], videos: [] });
  fs.writeFileSync(path.join(dir, 'seq', '00001', 'clip.y4m'), '');
  assert.deepEqual(await walkClipTree(path.join(dir, 'seq'), /\.y4m$/), { folders: [sept], videos: [path.join(dir, 'seq', '00001', 'clip.y4m')] });
  fs.rmSync(path.join(dir, 'seq', '00001', 'clip.y4m'));
  const v = await openVideo(sept, { fps: [24, 1] });
  assert.equal(v.kind, 'frames');
  assert.deepEqual(v.info, { width: 12, height: 8, fps: [24, 1], frames: 11, hasAudio: false });
  const got = await collect(v.frames());
  got.forEach((g, i) => assert.ok(sameBytes(g.data, imgs[i]!.data), `frame ${i + 1}`));
  // write to a new folder: 00000000.png, …; appears only on close
  const out = path.join(dir, 'out');
  const w = await createVideoWriter(out + '/', v.info);
  for (const g of got) await w.write(g);
  assert.equal(fs.existsSync(out), false, 'not there before close');
  await w.close();
  assert.deepEqual(fs.readdirSync(out).slice(0, 2), ['00000000.png', '00000001.png']);
  assert.equal(fs.readdirSync(out).length, 11);
  const again = await collect((await openFrameFolder(out)).frames());
  again.forEach((g, i) => assert.ok(sameBytes(g.data, imgs[i]!.data)));
  // a non-empty target is refused; abort removes everything
  await assert.rejects(createFrameFolderWriter(out, v.info), /already exists and is not an empty folder/);
  const w2 = await createVideoWriter(path.join(dir, 'partial'), v.info);
  await w2.write(got[0]!);
  await w2.abort();
  assert.equal(fs.existsSync(path.join(dir, 'partial')), false);
  assert.deepEqual(tmpLeftovers(dir), []);
  // frames of different sizes are an error naming the file
  await writeImage(path.join(sept, 'im12.png'), randomRgb(6, 4, 1));
  await assert.rejects(collect((await openVideo(sept)).frames()), /im12\.png: frame 12: 6x4 differs from the first frame's 12x8/);
  await assert.rejects(openVideo(path.join(dir, 'nothing-here')), /nothing-here: no such file/);
});

test('frame folders: the shared Vimeo septuplet reads as 7 frames of 448x256', { skip: HAVE_DATA ? false : NO_DATA }, async () => {
  const v = await openVideo(path.join(DATA, 'train/video/vimeo/00001_0001'));
  assert.deepEqual(v.info, { width: 448, height: 256, fps: [25, 1], frames: 7, hasAudio: false });
  const first = (await v.frames().next()).value as Image;
  assert.ok(sameBytes(first.data, (await readImage(path.join(DATA, 'train/video/vimeo/00001_0001/im1.png'))).data));
});

test('Y4M through openVideo/createVideoWriter: RGB frames, 4:2:0 and 4:4:4, needing no ffmpeg', async () => {
  const dir = freshDir();
  const frames = [1, 2, 3].map((k) => randomRgb(10, 6, k));
  for (const chroma of ['420jpeg', '444'] as const) {
    const file = path.join(dir, `rgb-${chroma}.y4m`);
    const w = await createVideoWriter(file, { width: 10, height: 6, fps: [24000, 1001] }, { y4mChroma: chroma, audioFrom: '/nonexistent.mp4', ffmpeg: { ffmpeg: '/nonexistent/ffmpeg' } });
    assert.equal(w.carriesAudio, false);
    for (const f of frames) await w.write(f);
    await w.close();
    assert.equal(fs.readFileSync(file, 'latin1').split('\n')[0], `YUV4MPEG2 W10 H6 F24000:1001 Ip A1:1 C${chroma}`);
    const v = await openVideo(file, { ffmpeg: { ffmpeg: '/nonexistent/ffmpeg', ffprobe: '/nonexistent/ffprobe' } });
    assert.deepEqual(v.info, { width: 10, height: 6, fps: [24000, 1001], frames: 3, hasAudio: false });
    const back = await collect(v.frames());
    back.forEach((b, i) => {
      const exp = yuvToRgb(rgbToYuv(frames[i]!, chroma));
      assert.ok(sameBytes(b.data, exp.data), `frame ${i + 1} is the conversion of what was written`);
    });
  }
  const w = await createVideoWriter(path.join(dir, 'abort.y4m'), { width: 10, height: 6, fps: [25, 1] });
  await w.write(frames[0]!);
  await w.abort();
  await assert.rejects(w.write(frames[0]!), /write after abort/);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['rgb-420jpeg.y4m', 'rgb-444.y4m']);
  await assert.rejects(createVideoWriter(path.join(dir, 'x.gif'), { width: 2, height: 2, fps: [1, 1] }), /cannot tell what to write from the name/);
});

test('frames({ start }) gives the frames from that index: Y4M (seeking), a Y4M with frame parameters (reading on), a frame folder, ffmpeg', async () => {
  const dir = freshDir();
  const frames = [1, 2, 3, 4, 5].map((k) => randomRgb(10, 6, k));
  const plain = path.join(dir, 'plain.y4m'), folder = path.join(dir, 'frames');
  const w = await createVideoWriter(plain, { width: 10, height: 6, fps: [25, 1] });
  for (const f of frames) await w.write(f);
  await w.close();
  // the same frames with a parameter on every FRAME line: sizes differ, no seek possible
  const bytes = fs.readFileSync(plain, 'latin1').replaceAll('FRAME\n', 'FRAME Ixyz\n');
  const withParams = path.join(dir, 'params.y4m');
  fs.writeFileSync(withParams, bytes, 'latin1');
  const f = await createVideoWriter(folder + '/', { width: 10, height: 6, fps: [25, 1] });
  for (const x of frames) await f.write(x);
  await f.close();
  const sources = [plain, withParams, folder, ...(HAVE_FFMPEG ? [CLIP_Y4M, CLIP] : [])];
  for (const file of sources) {
    const v = await openVideo(file);
    const all = await collect(v.frames());
    for (const start of [0, 1, 3, all.length - 1, all.length, all.length + 2]) {
      const from = await collect(v.frames({ start }));
      assert.equal(from.length, Math.max(0, all.length - start), `${path.basename(file)} from ${start}`);
      from.forEach((x, i) => assert.ok(sameBytes(x.data, all[start + i]!.data), `${path.basename(file)} from ${start}: frame ${start + i + 1}`));
    }
  }
  assert.equal((await openY4M(withParams)).frameCount, undefined, 'frame parameters: no frame count, so no seek');
});

// ---------------------------------------------------------------------------------------------
// Memory

test('memory stays flat over a long stream: 300 frames of Y4M (and of ffmpeg decode) read one at a time', async (t) => {
  const dir = freshDir();
  const W = 320, H = 240, N = 300;
  const file = path.join(dir, 'long.y4m');
  const frame = randomPlanes(W, H, '420jpeg', 4);
  await writeY4M(file, { width: W, height: H, fps: [25, 1], chroma: '420jpeg', comments: [] }, Array.from({ length: N }, () => frame));
  const fileMB = fs.statSync(file).size / 2 ** 20;
  // RSS after the first 100 frames (heap and buffers warmed up) against its peak over the next
  // 200: keeping those frames alive would add 200 x (225 KiB RGB + 112 KiB YUV) = 66 MiB
  const measure = async (v: { frames(): AsyncGenerator<Image> }): Promise<[number, number]> => {
    let base = 0, peak = 0, n = 0;
    for await (const f of v.frames()) {
      assert.equal(f.data.length, W * H * 3);
      n++;
      if (n === 100) base = process.memoryUsage().rss;
      if (n > 100 && n % 5 === 0) peak = Math.max(peak, process.memoryUsage().rss - base);
    }
    return [n, peak / 2 ** 20];
  };
  const [n, growth] = await measure(await openVideo(file));
  assert.equal(n, N);
  t.diagnostic(`Y4M: ${N} frames of ${W}x${H} (${fileMB.toFixed(1)} MiB file): RSS grew at most ${growth.toFixed(1)} MiB over frames 101-300`);
  assert.ok(growth < 24, `RSS grew ${growth.toFixed(1)} MiB`);
  if (HAVE_FFMPEG) {
    const mp4 = path.join(dir, 'long.mp4');
    const r = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=25`, '-frames:v', String(N), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', mp4]);
    assert.equal(r.status, 0);
    const [m, g2] = await measure(await openVideo(mp4));
    assert.equal(m, N);
    t.diagnostic(`ffmpeg decode: ${N} frames of ${W}x${H}: RSS grew at most ${g2.toFixed(1)} MiB over frames 101-300`);
    assert.ok(g2 < 24, `RSS grew ${g2.toFixed(1)} MiB`);
  }
});

test('no ffmpeg child processes left behind', async () => {
  await new Promise((res) => setTimeout(res, 200));
  assert.deepEqual(ffmpegChildren(), []);
});
