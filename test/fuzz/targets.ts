// Fuzz targets: one per parser of files mvsr takes from anywhere. Each has seeds (real files:
// committed fixtures and files mvsr writes itself, made at run time), the call under test and
// format-aware mutation hooks (numeric fields to rewrite, structured edits, checksum repair).
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { decodeImage, encodePng } from '../../src/io/image.node.js';
import { crc32 as pngCrc, PNG_SIGNATURE } from '../../src/io/png.js';
import { readY4MStream, formatY4MHeader, encodeAscii, type Y4MHeader } from '../../src/io/y4m.js';
import { readPth } from '../../src/io/pth.js';
import { readZip, crc32 as zipCrc } from '../../src/io/zip.js';
import { nodeInflateRaw } from '../../src/io/weights.node.js';
import { decodeJpeg } from '../../src/io/jpeg.js';
import { parseTrainConfig } from '../../src/train/config.js';
import { readOnnxModel } from '../../src/export/onnx.js';
import { decodeGraphFile, GRAPH_FILE_KEY } from '../../src/graph/file.js';
import { makePth, makeZip, makeLegacyPth, PickleWriter, f32Bytes, type PthTensor, type LegacyStorage } from '../pth-builder.js';
import { type PickleValue, TorchStorageType, unpickleAt } from '../../src/io/pickle.js';
import { type Field, type Mutable, writeInt } from './mutate.js';
import jpegjs from 'jpeg-js';

export interface FuzzTarget extends Mutable {
  name: string;
  seeds(): Uint8Array[];
  run(bytes: Uint8Array): unknown;
  /** Errors that are fine although the generic rule (one line, no wrapped internal error) says otherwise. */
  accept?(e: Error): boolean;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (this file runs from dist/test/fuzz). */
export const ROOT = path.resolve(here, '..', '..', '..');
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Committed seeds under test/fuzz/corpus/<target>/ and regression inputs under test/fuzz/regressions/<target>/. */
export function committedInputs(kind: 'corpus' | 'regressions', target: string): Uint8Array[] {
  const dir = path.join(ROOT, 'test', 'fuzz', kind, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => !f.endsWith('.md')).sort().map((f) => new Uint8Array(readFileSync(path.join(dir, f))));
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

const WILD_NUMBERS = [0, 1, -1, 2, 3, 7, 8, 255, 256, 65535, 100_000, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 64, 1.5, -0, 1e308, NaN];
function wildValue(rnd: () => number): unknown {
  const r = rnd();
  if (r < 0.5) return pick(rnd, WILD_NUMBERS);
  if (r < 0.6) return pick(rnd, ['', 'F32', 'F16', 'BF16', 'F64', 'I64', 'U8', '__proto__', 'x'.repeat(300)]);
  if (r < 0.7) return null;
  if (r < 0.8) return [pick(rnd, WILD_NUMBERS), pick(rnd, WILD_NUMBERS)];
  if (r < 0.9) return {};
  return [];
}

// ---------------------------------------------------------------------------------------------
// safetensors

function safetensorsSeeds(): Uint8Array[] {
  const t = (shape: number[]) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i * 0.5 - 1) });
  const seeds = [
    writeSafetensors({ w: t([2, 3]), b: t([3]) }, { arch: 'ESPCN', args: '{"upscale":2}' }),
    writeSafetensors({ 'body.0.weight': t([4, 1, 3, 3]), 'body.0.bias': t([4]), scalar: t([]) }),
    writeSafetensors({}),
    writeSafetensors({ e: t([0, 3]) }, { k: 'v' }),
  ];
  const shipped = path.join(ROOT, 'weights', 'elsr-x4.safetensors');
  if (existsSync(shipped)) seeds.push(new Uint8Array(readFileSync(shipped)));
  return [...seeds, ...committedInputs('corpus', 'safetensors')];
}

function safetensorsHeader(b: Uint8Array): { json: Record<string, unknown>; data: Uint8Array } | null {
  if (b.length < 8) return null;
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  if (n > b.length - 8) return null;
  try {
    const json = JSON.parse(dec.decode(b.subarray(8, 8 + n)));
    return json && typeof json === 'object' && !Array.isArray(json) ? { json, data: b.subarray(8 + n) } : null;
  } catch {
    return null;
  }
}

function safetensorsFrom(json: unknown, data: Uint8Array): Uint8Array {
  const h = enc.encode(JSON.stringify(json));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const safetensors: FuzzTarget = {
  name: 'safetensors',
  seeds: safetensorsSeeds,
  run: (b) => readSafetensors(b, 'fuzz.safetensors'),
  fields: () => [{ at: 0, width: 8, le: true }],
  structured(b, rnd) {
    const parsed = safetensorsHeader(b);
    if (!parsed) return b;
    const { json } = parsed;
    let data = parsed.data;
    const names = Object.keys(json);
    const r = rnd();
    if (names.length && r < 0.7) {
      const name = pick(rnd, names);
      const entry = json[name];
      if (entry && typeof entry === 'object' && !Array.isArray(entry)) {
        const e = entry as Record<string, unknown>;
        const key = pick(rnd, ['dtype', 'shape', 'data_offsets', 'data_offsets', 'shape', 'extra']);
        const cur = e[key];
        if (Array.isArray(cur) && cur.length && rnd() < 0.7) {
          const c = [...cur];
          c[Math.floor(rnd() * c.length)] = rnd() < 0.5 ? pick(rnd, WILD_NUMBERS) : (c[0] as number) + Math.floor(rnd() * 9) - 4;
          if (rnd() < 0.2) c.push(pick(rnd, WILD_NUMBERS));
          e[key] = c;
        } else e[key] = wildValue(rnd);
      } else json[name] = wildValue(rnd);
    } else if (r < 0.8) {
      json[pick(rnd, ['__metadata__', 'huge', 'x', '__proto__', ''])] = rnd() < 0.5 ? wildValue(rnd) : { dtype: 'F32', shape: [2 ** 20, 2 ** 20], data_offsets: [0, 2 ** 40] };
    } else if (r < 0.9) {
      data = data.subarray(0, Math.floor(rnd() * data.length));
    } else if (names.length) {
      delete json[pick(rnd, names)];
    }
    return safetensorsFrom(json, data);
  },
};

// ---------------------------------------------------------------------------------------------
// PNG

const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const PNG_SPP: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** A PNG chunk with its length and CRC. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(enc.encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, pngCrc(out, 0, 4, 8 + data.length));
  return out;
}

export function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

/** A random but well-formed PNG of any colour type, depth and interlace (what encodePng never writes). */
function randomPng(rnd: () => number): Uint8Array {
  const ct = pick(rnd, [0, 2, 3, 4, 6]);
  const depth = pick(rnd, PNG_DEPTHS[ct]!);
  const interlace = rnd() < 0.4 ? 1 : 0;
  const w = 1 + Math.floor(rnd() * 19), h = 1 + Math.floor(rnd() * 19);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr.set([depth, ct, 0, 0, interlace], 8);
  const bpp = PNG_SPP[ct]! * depth;
  const rowBytes = (pw: number) => Math.ceil((pw * bpp) / 8);
  const passes = interlace ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] : [[0, 0, 1, 1]];
  let size = 0;
  for (const [xs, ys, dx, dy] of passes) {
    const pw = w > xs! ? Math.ceil((w - xs!) / dx!) : 0, ph = h > ys! ? Math.ceil((h - ys!) / dy!) : 0;
    if (pw && ph) size += ph * (1 + rowBytes(pw));
  }
  const raw = new Uint8Array(size);
  for (let i = 0; i < size; i++) raw[i] = Math.floor(rnd() * 256);
  // filter bytes: mostly valid
  let p = 0;
  for (const [xs, ys, dx, dy] of passes) {
    const pw = w > xs! ? Math.ceil((w - xs!) / dx!) : 0, ph = h > ys! ? Math.ceil((h - ys!) / dy!) : 0;
    if (!pw || !ph) continue;
    for (let r = 0; r < ph; r++) {
      raw[p] = rnd() < 0.95 ? Math.floor(rnd() * 5) : Math.floor(rnd() * 256);
      p += 1 + rowBytes(pw);
    }
  }
  const chunks = [PNG_SIGNATURE, pngChunk('IHDR', ihdr)];
  if (ct === 3 || rnd() < 0.2) {
    const n = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 4 : 256));
    chunks.push(pngChunk('PLTE', Uint8Array.from({ length: 3 * n }, () => Math.floor(rnd() * 256))));
  }
  if (rnd() < 0.4) {
    const n = ct === 0 ? 2 : ct === 2 ? 6 : Math.floor(rnd() * 20);
    chunks.push(pngChunk('tRNS', Uint8Array.from({ length: n }, () => (rnd() < 0.5 ? 0 : Math.floor(rnd() * 256)))));
  }
  const z = zlib.deflateSync(raw);
  const cut = rnd() < 0.5 ? z.length : Math.floor(rnd() * z.length);
  const split = Math.floor(rnd() * cut);
  chunks.push(pngChunk('IDAT', z.subarray(0, split)), pngChunk('IDAT', z.subarray(split, cut)), pngChunk('IEND', new Uint8Array(0)));
  return join(chunks);
}

function pngSeeds(): Uint8Array[] {
  const img = (w: number, h: number, channels: 1 | 2 | 3 | 4, bitDepth: 8 | 16) => {
    const n = w * h * channels;
    const data = bitDepth === 16 ? Uint16Array.from({ length: n }, (_, i) => (i * 2654435761) & 0xffff) : Uint8Array.from({ length: n }, (_, i) => (i * 37) & 0xff);
    return encodePng({ width: w, height: h, channels, bitDepth, data });
  };
  const rnd = mulberry(7);
  return [img(1, 1, 1, 8), img(3, 5, 3, 8), img(8, 8, 4, 8), img(4, 3, 2, 16), img(5, 2, 3, 16), randomPng(rnd), randomPng(rnd), randomPng(rnd), ...committedInputs('corpus', 'png')];
}

function mulberry(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Chunk boundaries of a PNG (as far as they can be followed). */
function pngChunks(b: Uint8Array): { at: number; len: number; type: string }[] {
  const out: { at: number; len: number; type: string }[] = [];
  let p = 8;
  while (p + 8 <= b.length && out.length < 64) {
    const len = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    out.push({ at: p, len, type: String.fromCharCode(...b.subarray(p + 4, p + 8)) });
    if (len > b.length) break;
    p += 12 + len;
  }
  return out;
}

const png: FuzzTarget = {
  name: 'png',
  seeds: pngSeeds,
  run: (b) => decodeImage(b),
  fields(b) {
    const fs: Field[] = [];
    for (const c of pngChunks(b)) {
      fs.push({ at: c.at, width: 4, le: false });
      if (c.type === 'IHDR') {
        fs.push({ at: c.at + 8, width: 4, le: false }, { at: c.at + 12, width: 4, le: false });
        for (let k = 16; k < 21; k++) fs.push({ at: c.at + k, width: 1, le: false });
      }
    }
    return fs;
  },
  structured(b, rnd) {
    if (rnd() < 0.5) return randomPng(rnd);
    // rewrite IHDR to a random (maybe huge) size/type, fixing its CRC
    const c = pngChunks(b).find((x) => x.type === 'IHDR' && x.len === 13 && x.at + 25 <= b.length);
    if (!c) return b;
    const out = b.slice();
    const dv = new DataView(out.buffer);
    const dims = [1, 2, 7, 100_000, 0x7fffffff, 65536, 46341];
    if (rnd() < 0.5) dv.setUint32(c.at + 8, pick(rnd, dims));
    if (rnd() < 0.5) dv.setUint32(c.at + 12, pick(rnd, dims));
    if (rnd() < 0.3) {
      const ct = pick(rnd, [0, 2, 3, 4, 6]);
      out[c.at + 17] = ct;
      out[c.at + 16] = pick(rnd, PNG_DEPTHS[ct]!);
    }
    if (rnd() < 0.3) out[c.at + 20] = rnd() < 0.5 ? 1 : 0;
    dv.setUint32(c.at + 21, pngCrc(out, 0, c.at + 4, c.at + 21));
    return out;
  },
  fixup(b) {
    const out = b.slice();
    for (const c of pngChunks(out)) {
      const end = c.at + 8 + c.len;
      if (end + 4 <= out.length) writeInt(out, end, 4, false, pngCrc(out, 0, c.at + 4, end));
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Y4M

function y4mFile(h: Y4MHeader, frames: number, frameLine = 'FRAME'): Uint8Array {
  const [cw, ch] = h.chroma === '444' ? [h.width, h.height] : [(h.width + 1) >> 1, (h.height + 1) >> 1];
  const size = h.width * h.height + 2 * cw * ch;
  const parts = [encodeAscii(formatY4MHeader(h))];
  for (let f = 0; f < frames; f++) parts.push(enc.encode(frameLine + '\n'), Uint8Array.from({ length: size }, (_, i) => (i * 7 + f) & 0xff));
  return join(parts);
}

const y4mSeeds = (): Uint8Array[] => [
  y4mFile({ width: 4, height: 4, fps: [25, 1], chroma: '420jpeg', comments: [] }, 2),
  y4mFile({ width: 3, height: 5, fps: [30000, 1001], chroma: '420', comments: ['COLORRANGE=FULL'], interlace: 'p', aspect: [1, 1] }, 2),
  y4mFile({ width: 2, height: 2, fps: [1, 1], chroma: '444', comments: ['x'] }, 3, 'FRAME Ixyz'),
  y4mFile({ width: 7, height: 1, fps: [24, 1], chroma: '420mpeg2', comments: [] }, 1),
  ...committedInputs('corpus', 'y4m'),
];

/** Feed the bytes in a few chunks (boundaries chosen from the length, so deterministic). */
async function* chunks(b: Uint8Array): AsyncGenerator<Uint8Array> {
  const step = 1 + (b.length % 37);
  yield b.subarray(0, step);
  yield b.subarray(step, step * 3);
  yield b.subarray(step * 3);
}

const y4m: FuzzTarget = {
  name: 'y4m',
  seeds: y4mSeeds,
  async run(b) {
    const s = await readY4MStream(chunks(b), { name: 'fuzz.y4m' });
    for await (const _ of s.frames);
  },
  structured(b, rnd) {
    const nl = b.indexOf(0x0a);
    if (nl < 0) return b;
    const toks = dec.decode(b.subarray(0, nl)).split(' ');
    const i = 1 + Math.floor(rnd() * Math.max(1, toks.length - 1));
    const tag = pick(rnd, ['W', 'H', 'W', 'H', 'C', 'F', 'A', 'I', 'X', '']);
    const val = pick(rnd, ['0', '1', '2', '3', '65536', '16777216', '16777217', '100000', '4294967296', '-1', '1:0', '0:0', '30000:1001', '420', '420jpeg', '444', '422', 'p', 't', '', 'COLORRANGE=FULL', 'COLORRANGE=LIMITED', '99999999999999999999']);
    toks[i] = tag + val;
    if (rnd() < 0.2) toks.splice(i, 1);
    return join([enc.encode(toks.join(' ')), b.subarray(nl)]);
  },
};

// ---------------------------------------------------------------------------------------------
// .pth (zip or legacy stream + restricted unpickler)

/** Legacy-layout seeds: strided views, a storage view, half and long storages, a net/epoch wrapper. */
function legacyPthSeeds(): Uint8Array[] {
  const lw = () => new PickleWriter({ legacy: true }).proto(2);
  const tensors: [string, PthTensor][] = [
    ['conv.weight', { key: '0', numel: 6, shape: [2, 3], stride: [3, 1] }],
    ['conv.bias', { key: '1', numel: 3, shape: [3], stride: [1], parameter: true }],
    ['view', { key: '0', numel: 6, shape: [2], stride: [2], offset: 1, view: { key: 'v', offset: 2, numel: 4 } }],
    ['dw', { key: '1', numel: 3, shape: [3, 1, 1], stride: [1, 3, 3] }],
  ];
  const storages: LegacyStorage[] = [{ key: '0', data: f32Bytes([1, 2, 3, 4, 5, 6]) }, { key: '1', data: f32Bytes([7, 8, 9]) }];
  const mixed: [string, PthTensor][] = [
    ['h', { key: 'h', numel: 2, shape: [2], stride: [1], storageClass: 'HalfStorage' }],
    ['n', { key: 'l', numel: 1, shape: [], stride: [], storageClass: 'LongStorage' }],
  ];
  const wrapped = lw().emptyDict().mark().str('net').stateDict(tensors.slice(0, 2)).str('epoch').int(3).setitems().stop().bytes();
  return [
    makeLegacyPth(lw().stateDict(tensors).stop().bytes(), storages),
    makeLegacyPth(lw().stateDict(mixed).stop().bytes(), [{ key: 'l', data: new Uint8Array(8), itemBytes: 8 }, { key: 'h', data: Uint8Array.of(0, 0x3c, 0, 0xc0), itemBytes: 2 }]),
    makeLegacyPth(wrapped, storages),
  ];
}

function pthSeeds(): Uint8Array[] {
  const t = { key: '0', numel: 6, shape: [2, 3], stride: [3, 1] };
  const w = new PickleWriter().proto(2).stateDict([['conv.weight', t], ['conv.bias', { key: '1', numel: 3, shape: [3], stride: [1], parameter: true }]]).stop().bytes();
  const storages = { '0': f32Bytes([1, 2, 3, 4, 5, 6]), '1': f32Bytes([7, 8, 9]) };
  const nested = new PickleWriter().proto(2).emptyDict().str('params').stateDict([['w', { key: '0', numel: 6, shape: [6], stride: [1], offset: 0, storageClass: 'HalfStorage' }]]).setitem().stop().bytes();
  return [
    makePth(w, storages),
    makePth(w, storages, { deflate: true }),
    makePth(w, storages, { zip64: true }),
    makePth(nested, { '0': new Uint8Array(12) }),
    makeZip([{ name: 'a.txt', data: enc.encode('hello') }], { comment: 'c' }),
    ...legacyPthSeeds(),
    ...committedInputs('corpus', 'pth'),
  ];
}

/** Zip structure: local headers, central directory entries, EOCD (signatures found by scanning). */
function zipFields(b: Uint8Array): Field[] {
  const fs: Field[] = [];
  for (let i = 0; i + 4 <= b.length && fs.length < 200; i++) {
    if (b[i] !== 0x50 || b[i + 1] !== 0x4b) continue;
    const sig = b[i + 2]! | (b[i + 3]! << 8);
    if (sig === 0x0403) for (const o of [14, 18, 22, 26, 28]) fs.push({ at: i + o, width: o >= 26 ? 2 : 4, le: true });
    else if (sig === 0x0201) for (const o of [10, 16, 20, 24, 28, 30, 32, 42]) fs.push({ at: i + o, width: o === 10 || (o >= 28 && o <= 32) ? 2 : 4, le: true });
    else if (sig === 0x0605) for (const o of [8, 10, 12, 16, 20]) fs.push({ at: i + o, width: o >= 12 && o <= 16 ? 4 : 2, le: true });
    else if (sig === 0x0606) for (const o of [24, 32, 40, 48]) fs.push({ at: i + o, width: 8, le: true });
    else if (sig === 0x0706) fs.push({ at: i + 8, width: 8, le: true });
  }
  return fs;
}

/** Where a legacy file's pickles end, and each storage record's element count field (null: unparsable). */
function legacyLayout(b: Uint8Array): { picklesEnd: number; counts: Field[] } | null {
  if (b[0] !== 0x80) return null;
  const itemBytes = new Map<string, number>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    const [, type, key] = Array.isArray(pid) ? pid : [];
    if (typeof key === 'string' && type instanceof TorchStorageType) itemBytes.set(key, type.itemBytes);
    return null;
  };
  let pos = 0;
  let keys: PickleValue = null;
  try {
    for (let i = 0; i < 5; i++) ({ value: keys, end: pos } = unpickleAt(b, pos, { persistentLoad }));
  } catch {
    return null;
  }
  const picklesEnd = pos;
  const counts: Field[] = [];
  for (const k of Array.isArray(keys) ? keys : []) {
    if (pos + 8 > b.length) break;
    counts.push({ at: pos, width: 8, le: true });
    pos += 8 + Number(new DataView(b.buffer, b.byteOffset).getBigUint64(pos, true) % 2n ** 32n) * (itemBytes.get(k as string) ?? 4);
  }
  return { picklesEnd, counts };
}

/** Numeric fields: zip headers, or a legacy file's storage element counts. */
function pthFields(b: Uint8Array): Field[] {
  return [...zipFields(b), ...(legacyLayout(b)?.counts ?? [])];
}

const STORAGE_CLASSES = ['FloatStorage', 'HalfStorage', 'BFloat16Storage', 'DoubleStorage', 'LongStorage', 'IntStorage', 'Evil'];
const ITEM_BYTES: Record<string, number> = { HalfStorage: 2, BFloat16Storage: 2, DoubleStorage: 8, LongStorage: 8 };

/** A legacy file with wild sizes, strides, views, record counts, key lists and header values. */
function wildLegacyPth(rnd: () => number): Uint8Array {
  const storageClass = pick(rnd, STORAGE_CLASSES);
  const numel = pick(rnd, [0, 1, 6, 7, 2 ** 31 - 1, 2 ** 40]);
  const view = rnd() < 0.3 ? { key: pick(rnd, ['v', '0']), offset: pick(rnd, [0, 1, 5, 6, 2 ** 40]), numel: pick(rnd, [0, 1, 5, 6, 2 ** 31]) } : undefined;
  const x: PthTensor = { key: '0', numel, shape: pick(rnd, [[6], [2, 3], [3, 1, 2], [2 ** 31 - 1, 1], [1e6, 1e6], [0]]), stride: pick(rnd, [[1], [3, 1], [1, 99, 3], [0, 0], [2 ** 30, 1]]), offset: pick(rnd, [0, 1, 5, 2 ** 31 - 1]), storageClass, view };
  const y: PthTensor = { key: pick(rnd, ['0', '1']), numel: pick(rnd, [3, 6]), shape: [3], stride: [1], storageClass: pick(rnd, ['FloatStorage', storageClass]), view: rnd() < 0.2 ? { key: 'v', offset: 1, numel: 2 } : undefined };
  const obj = new PickleWriter({ legacy: true }).proto(2).stateDict(rnd() < 0.7 ? [['x', x], ['y', y]] : [['x', x]]).stop().bytes();
  const data = f32Bytes([1, 2, 3, 4, 5, 6]);
  const storages: LegacyStorage[] = [
    { key: '0', data: rnd() < 0.8 ? data : data.subarray(0, Math.floor(rnd() * 24)), count: rnd() < 0.5 ? BigInt(numel) : pick(rnd, [0n, 6n, 7n, -1n, 2n ** 40n, 2n ** 63n - 1n]), itemBytes: ITEM_BYTES[storageClass] ?? 4 },
    { key: '1', data: f32Bytes([7, 8, 9]), count: rnd() < 0.8 ? 3n : 2n ** 40n },
  ];
  const keys = rnd() < 0.6 ? undefined : pick(rnd, [['0'], ['1'], ['0', '0'], ['0', '1', '2'], [], ['1', '0']]);
  return makeLegacyPth(obj, rnd() < 0.9 ? storages : storages.slice(0, 1), {
    keys,
    magic: rnd() < 0.95 ? undefined : pick(rnd, [0n, 0x1950a86a20f9469cfc6dn, -1n]),
    protocol: rnd() < 0.95 ? undefined : pick(rnd, [0, 1000, 1002, 2 ** 31 - 1]),
    littleEndian: rnd() < 0.95,
    trailing: rnd() < 0.9 ? undefined : Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1),
  });
}

/** Insert a pickle opcode (incl. ones the unpickler refuses) and a few random operand bytes. */
function insertOpcode(data: Uint8Array, rnd: () => number, end = data.length): Uint8Array {
  const ops = [0x28, 0x29, 0x2e, 0x30, 0x31, 0x32, 0x4a, 0x4b, 0x4d, 0x4e, 0x51, 0x52, 0x58, 0x5d, 0x61, 0x62, 0x63, 0x65, 0x68, 0x6a, 0x71, 0x72, 0x73, 0x74, 0x75, 0x7d, 0x80, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x8d, 0x8e, 0x93, 0x94, 0x95];
  const at = Math.floor(rnd() * end);
  const ins = Uint8Array.from({ length: 1 + Math.floor(rnd() * 5) }, (_, i) => (i === 0 ? pick(rnd, ops) : Math.floor(rnd() * 256)));
  return join([data.subarray(0, at), ins, data.subarray(at)]);
}

/** Legacy files: a wild rebuild, or an opcode inserted among the pickles (not into the storages). */
function legacyStructured(b: Uint8Array, rnd: () => number): Uint8Array {
  if (rnd() < 0.5) return wildLegacyPth(rnd);
  return insertOpcode(b, rnd, legacyLayout(b)?.picklesEnd ?? b.length);
}

/** Rebuild the archive around a mutated data.pkl (or storage) so the CRCs match. */
function pthStructured(b: Uint8Array, rnd: () => number): Uint8Array {
  if (b[0] === 0x80) return legacyStructured(b, rnd);
  let files: Map<string, Uint8Array>;
  try {
    files = readZip(b, 'seed', nodeInflateRaw);
  } catch {
    return b;
  }
  const names = [...files.keys()];
  if (!names.length) return b;
  const name = names.find((n) => n.endsWith('data.pkl') && rnd() < 0.8) ?? pick(rnd, names);
  const data = files.get(name)!.slice();
  const r = rnd();
  let out: Uint8Array = data;
  if (r < 0.4 && data.length) {
    for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) data[Math.floor(rnd() * data.length)] = Math.floor(rnd() * 256);
  } else if (r < 0.6) {
    out = data.subarray(0, Math.floor(rnd() * data.length));
  } else if (r < 0.8 && data.length) {
    out = insertOpcode(data, rnd);
  } else {
    const w = new PickleWriter().proto(2);
    const wild = pick(rnd, [[0, 1], [2 ** 31 - 1, 1], [1e6, 1e6], [3, 0]]);
    w.stateDict([['x', { key: '0', numel: pick(rnd, [0, 1, 6, 2 ** 31 - 1]), shape: wild, stride: pick(rnd, [[1, 1], [0, 0], [2 ** 30, 1]]), offset: pick(rnd, [0, 1, 5, 2 ** 31 - 1]), storageClass: pick(rnd, ['FloatStorage', 'HalfStorage', 'BFloat16Storage', 'DoubleStorage', 'LongStorage', 'Evil']) }]]).stop();
    return makePth(w.bytes(), { '0': f32Bytes([1, 2, 3, 4, 5, 6]) }, { deflate: rnd() < 0.5 });
  }
  files.set(name, out);
  return makeZip([...files].map(([n, d]) => ({ name: n, data: d, deflate: rnd() < 0.3 })));
}

const pth: FuzzTarget = {
  name: 'pth',
  seeds: pthSeeds,
  run: (b) => readPth(b, 'fuzz.pth', nodeInflateRaw),
  fields: pthFields,
  structured: pthStructured,
};
void zipCrc;

// ---------------------------------------------------------------------------------------------
// JPEG

function jpegSeeds(): Uint8Array[] {
  const mk = (w: number, h: number, q: number) => {
    const data = Buffer.alloc(w * h * 4);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
    return new Uint8Array(jpegjs.encode({ width: w, height: h, data }, q).data);
  };
  return [mk(8, 8, 90), mk(17, 9, 50), mk(1, 1, 100), ...committedInputs('corpus', 'jpeg')];
}

function jpegFields(b: Uint8Array): Field[] {
  const fs: Field[] = [];
  let p = 2;
  while (p + 4 <= b.length && fs.length < 40) {
    if (b[p] !== 0xff) break;
    const m = b[p + 1]!;
    if (m === 0xda || m === 0xd9) break;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    fs.push({ at: p + 2, width: 2, le: false });
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) fs.push({ at: p + 5, width: 2, le: false }, { at: p + 7, width: 2, le: false }, { at: p + 9, width: 1, le: false }, { at: p + 11, width: 1, le: false });
    p += 2 + len;
  }
  return fs;
}

const jpeg: FuzzTarget = {
  name: 'jpeg',
  seeds: jpegSeeds,
  run: (b) => decodeJpeg(b),
  fields: jpegFields,
  // decodeJpeg deliberately reports whatever the third-party decoder (jpeg-js) throws as
  // "corrupt JPEG: <its message>"; memory blow-ups are still caught by the memory check.
  accept: (e) => /^mvsr: corrupt JPEG: [^\n]*$/.test(e.message) && !/Invalid typed array length|allocation failed|Maximum call stack/.test(e.message),
};

// ---------------------------------------------------------------------------------------------
// YAML train config

function configSeeds(): Uint8Array[] {
  const dir = path.join(ROOT, 'configs');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.yml')).sort().slice(0, 6) : [];
  return [...files.map((f) => new Uint8Array(readFileSync(path.join(dir, f)))), ...committedInputs('corpus', 'config')];
}

const config: FuzzTarget = {
  name: 'config',
  seeds: configSeeds,
  run: (b) => parseTrainConfig(dec.decode(b), 'fuzz.yml'),
  // ConfigError lists every problem, one `mvsr: <file>: …` line each (by design)
  accept: (e) => e.name === 'ConfigError' && e.message.split('\n').every((l) => l.startsWith('mvsr: fuzz.yml: ') && !/Cannot read propert|is not a function/.test(l)),
  structured(b, rnd) {
    const lines = dec.decode(b).split('\n');
    const i = Math.floor(rnd() * lines.length);
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const r = rnd();
    if (colon >= 0 && r < 0.6) {
      lines[i] = line.slice(0, colon + 1) + ' ' + pick(rnd, ['~', '-1', '0', '1e309', '.nan', '[]', '{}', '"x"', '*a', '&a x', '!!binary aGk=', '[1, [2, [3]]]', '99999999999999999999', '2.5', 'true', "'", '|', '>-', '<<: *a']);
    } else if (r < 0.8) {
      lines.splice(i, 0, ' '.repeat(Math.floor(rnd() * 6)) + pick(rnd, ['foo: 1', '- x', '---', '...', 'train:', 'network_g: {type: ESPCN}', '%YAML 1.2', 'a: &x [*x]']));
    } else {
      lines.splice(i, 1);
    }
    return enc.encode(lines.join('\n'));
  },
};

// ---------------------------------------------------------------------------------------------
// ONNX

function onnxSeeds(): Uint8Array[] {
  // exportOnnx needs the engine to build a model, so the seeds are committed files (made by
  // exportOnnx of two tiny models; see test/fuzz/corpus/onnx/README.md)
  return committedInputs('corpus', 'onnx');
}

/** Protobuf-aware edits: rewrite a varint length/field tag somewhere in the message. */
function onnxStructured(b: Uint8Array, rnd: () => number): Uint8Array {
  const at = Math.floor(rnd() * b.length);
  const varint = pick(rnd, [[0x00], [0x7f], [0xff, 0xff, 0xff, 0xff, 0x0f], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], [0x3a, 0x7f], [0x0a, 0x03]]);
  return rnd() < 0.5 ? join([b.subarray(0, at), Uint8Array.from(varint), b.subarray(at)]) : join([b.subarray(0, at), Uint8Array.from(varint), b.subarray(at + varint.length)]);
}

const onnx: FuzzTarget = { name: 'onnx', seeds: onnxSeeds, run: (b) => readOnnxModel(b), structured: onnxStructured };

// ---------------------------------------------------------------------------------------------
// graph files (mvsr quantize / compress output: safetensors + the graph as JSON in the metadata)

/** Edits of the `mvsr.graph` document: a node field, a quant entry or a top-level key set to a wild value. */
function graphFileStructured(b: Uint8Array, rnd: () => number): Uint8Array {
  const parsed = safetensorsHeader(b);
  const meta = parsed?.json.__metadata__ as Record<string, unknown> | undefined;
  if (!parsed || !meta || typeof meta[GRAPH_FILE_KEY] !== 'string') return b;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(meta[GRAPH_FILE_KEY] as string);
  } catch {
    return b;
  }
  const nodes = Array.isArray(doc.nodes) ? doc.nodes as Record<string, unknown>[] : [];
  const quant = doc.quant && typeof doc.quant === 'object' ? doc.quant as Record<string, unknown> : null;
  const r = rnd();
  if (nodes.length && r < 0.5) {
    const n = pick(rnd, nodes);
    if (n && typeof n === 'object') n[pick(rnd, ['op', 'id', 'inputs', 'weight', 'bias', 'kernel', 'groups', 'padding', 'act', 'scale', 'start', 'end', 'order', 'mode', 'channels'])] = rnd() < 0.3 ? pick(rnd, nodes.map((m) => m?.id)) : wildValue(rnd);
  } else if (quant && r < 0.8) {
    const key = pick(rnd, ['act', 'weights', 'alpha', 'scheme', 'method']);
    const cur = quant[key];
    if (cur && typeof cur === 'object' && !Array.isArray(cur) && rnd() < 0.7) {
      const ks = Object.keys(cur);
      if (ks.length) (cur as Record<string, unknown>)[pick(rnd, ks)] = rnd() < 0.5 ? wildValue(rnd) : { scale: pick(rnd, WILD_NUMBERS), zeroPoint: pick(rnd, WILD_NUMBERS) };
    } else quant[key] = wildValue(rnd);
  } else {
    doc[pick(rnd, ['meta', 'nodes', 'quant', '__proto__'])] = wildValue(rnd);
  }
  meta[GRAPH_FILE_KEY] = JSON.stringify(doc);
  return safetensorsFrom(parsed.json, parsed.data);
}

const graphfile: FuzzTarget = {
  name: 'graphfile',
  seeds: () => committedInputs('corpus', 'graphfile'),
  run(b) {
    const { tensors, metadata } = readSafetensors(b, 'fuzz.safetensors');
    return decodeGraphFile(tensors, metadata, 'fuzz.safetensors');
  },
  structured: graphFileStructured,
};

// ---------------------------------------------------------------------------------------------
// WebP (libwebp in WebAssembly behind mvsr's RIFF checks)

/** RIFF size, first chunk size and the canvas size fields of each chunk kind. */
function webpFields(b: Uint8Array): Field[] {
  const fs: Field[] = [{ at: 4, width: 4, le: true }, { at: 16, width: 4, le: true }];
  const fourcc = b.length >= 16 ? dec.decode(b.subarray(12, 16)) : '';
  if (fourcc === 'VP8L') fs.push({ at: 21, width: 2, le: true }, { at: 23, width: 2, le: true });
  if (fourcc === 'VP8 ') fs.push({ at: 26, width: 2, le: true }, { at: 28, width: 2, le: true });
  if (fourcc === 'VP8X') fs.push({ at: 24, width: 2, le: true }, { at: 27, width: 2, le: true }, { at: 26, width: 1, le: true }, { at: 29, width: 1, le: true });
  return fs.filter((f) => f.at + f.width <= b.length);
}

/** Make the RIFF size match the file again, so that mutated image data reaches libwebp. */
function webpFixup(b: Uint8Array): Uint8Array {
  if (b.length < 12) return b;
  const out = Uint8Array.from(b);
  writeInt(out, 4, 4, true, out.length - 8);
  return out;
}

const webp: FuzzTarget = {
  name: 'webp',
  seeds: () => committedInputs('corpus', 'webp'),
  run: (b) => decodeImage(b),
  fields: webpFields,
  fixup: webpFixup,
};

export const TARGETS: Record<string, FuzzTarget> = { safetensors, png, y4m, pth, jpeg, config, onnx, graphfile, webp };

/**
 * A target for testing the harness itself (not run by `npm run fuzz -- --target all`): some
 * inputs loop forever, some throw a TypeError, the rest are refused with an mvsr error.
 */
export const SELF_TEST_TARGETS: Record<string, FuzzTarget> = {
  selftest: {
    name: 'selftest',
    seeds: () => [new Uint8Array(40), Uint8Array.of(1, 2, 3)],
    run(b) {
      if (b.length === 41) for (;;);
      if (b.length === 39) throw new TypeError('boom');
      throw new Error(`mvsr: selftest: ${b.length} bytes`);
    },
  },
};

export function fuzzTarget(name: string): FuzzTarget | undefined {
  return Object.hasOwn(TARGETS, name) ? TARGETS[name] : Object.hasOwn(SELF_TEST_TARGETS, name) ? SELF_TEST_TARGETS[name] : undefined;
}
