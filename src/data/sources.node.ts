// Training sets from image folders: HR-only folders (LR made once per image by MATLAB bicubic,
// cached in memory and optionally on disk) and BasicSR-style paired GT/LQ folders; plus the
// validation pairs of the paper protocol. Everything here reads files, hence `.node.ts`.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { type Image, toRGB, to8Bit, modCrop } from '../io/image.js';
import { readImage } from '../io/image.node.js';
import { imresizeUint8 } from './imresize.js';
import type { SrDataset, SrItem } from './dataset.js';
import { makeDirs } from '../io/files.node.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

export interface SourceOptions {
  /** LR patch edge the set will be sampled with: images whose LR is smaller are skipped (listed in `skipped`). */
  lrPatch?: number;
  /** Called after each image (decoded, read from cache, or skipped). */
  onProgress?: (done: number, total: number, name: string) => void;
  /** Called with each line that also goes into `skipped`, and with cache problems. */
  onWarning?: (message: string) => void;
  /** Only the first `limit` files (in sorted order): quick runs and smoke tests. */
  limit?: number;
}

export interface HrFolderOptions extends SourceOptions {
  /**
   * Folder for LR images kept between runs, one file per HR image, checked against the HR's
   * path, size, mtime and the scale; a stale or damaged entry is rebuilt.
   */
  cacheDir?: string;
  /** Also keep the decoded, mod-cropped HR in the cache (3 bytes a pixel on disk; skips decoding on the next run). */
  cacheHr?: boolean;
  /** Skip images whose HR is smaller than this each way (camera-motion sequences need room to move). */
  minHrSize?: number;
  /**
   * Each image once per factor, its HR downscaled by it (imresizeUint8, MATLAB bicubic) before
   * the mod-crop and the LR; default [1]. Items of a factor other than 1 are named `name@f`.
   */
  hrScales?: number[];
}

export interface PairedFolderOptions extends SourceOptions {
  /** LR file name from the HR name without extension, BasicSR's filename_tmpl (default '{}', e.g. '{}x4'). */
  filenameTmpl?: string;
}

export interface CacheStats {
  /** Images decoded from their original files. */
  decoded: number;
  /** LR (and, with cacheHr, HR) read from the disk cache. */
  cacheHits: number;
  /** Entries that did not exist and were written. */
  cacheMisses: number;
  /** Entries that existed but were stale (file changed) or damaged, and were rewritten. */
  cacheRebuilt: number;
}

export interface FolderSource extends SrDataset {
  stats: CacheStats;
}

function checkScale(scale: number): void {
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`mvsr: scale ${scale} must be a positive integer`);
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/** Image files directly inside `dir` (not recursive), sorted by name in code-unit order. */
export async function listImages(dir: string, recursive = false): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`mvsr: ${dir}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : `cannot list (${code ?? oneLine(e)})`}`);
  }
  const out: string[] = [];
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of sorted) {
    const full = path.join(dir, e.name);
    const st = e.isSymbolicLink() ? await fsp.stat(full).catch(() => null) : null;
    if (recursive && (e.isDirectory() || st?.isDirectory())) {
      out.push(...(await listImages(full, true)));
      continue;
    }
    if (!IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) continue;
    if (e.isFile() || st?.isFile()) out.push(full);
  }
  return out;
}

function stem(file: string): string {
  return path.basename(file, path.extname(file));
}

/** Decoded as 8-bit RGB (grey replicated, alpha dropped, 16-bit reduced). */
async function readRGB8(file: string): Promise<Image> {
  return toRGB(to8Bit(await readImage(file)));
}

function tooSmall(file: string, w: number, h: number, scale: number, lrPatch: number | undefined, minHr = 0): string | null {
  const P = lrPatch ?? 1, Q = P * scale;
  if (w >= Q && h >= Q && w >= minHr && h >= minHr) return null;
  if (minHr > Q) return `${file}: ${w}x${h} (mod-${scale} cropped) is smaller than the ${minHr}x${minHr} a camera-motion sequence of ${Q}x${Q} HR patches needs; skipped`;
  return `${file}: ${w}x${h} (mod-${scale} cropped) is smaller than one ${Q}x${Q} HR patch (x${scale}, LR patch ${P}); skipped`;
}

// ---------------------------------------------------------------------------------------------
// Disk cache. One file per (HR path, scale):
//   'MVSRSRC1' | u32 LE header length | header JSON | LR bytes | HR bytes (optional) | SHA-1 of all before
// The header repeats the key (path, size, mtime, scale, version); anything that does not check
// out is treated as absent and rewritten.

const CACHE_MAGIC = 'MVSRSRC1';
const CACHE_VERSION = 1; // bump when imresizeUint8's output changes

interface CacheKey {
  v: number;
  file: string;
  size: number;
  mtimeMs: number;
  scale: number;
  /** The HR downscale factor; absent for 1, so entries written before it existed stay valid. */
  hrScale?: number;
}

interface CacheHeader {
  key: CacheKey;
  hrW: number;
  hrH: number;
  lrW: number;
  lrH: number;
  hasHr: boolean;
}

interface CacheEntry {
  header: CacheHeader;
  lr: Uint8Array;
  hr: Uint8Array | null;
}

function cachePath(cacheDir: string, file: string, scale: number, hrScale = 1): string {
  const h = createHash('sha1').update(`${path.resolve(file)}\0${scale}${hrScale === 1 ? '' : `\0${hrScale}`}`).digest('hex').slice(0, 20);
  return path.join(cacheDir, `${stem(file).replace(/[^\w.-]/g, '_').slice(0, 40)}${hrScale === 1 ? '' : `@${hrScale}`}-x${scale}-${h}.mvsrcache`);
}

function sameKey(a: CacheKey, b: CacheKey): boolean {
  return a.v === b.v && a.file === b.file && a.size === b.size && a.mtimeMs === b.mtimeMs && a.scale === b.scale && (a.hrScale ?? 1) === (b.hrScale ?? 1);
}

type CacheRead = { entry: CacheEntry } | { absent: true } | { bad: string };

async function readCache(p: string, key: CacheKey): Promise<CacheRead> {
  let b: Buffer;
  try {
    b = await fsp.readFile(p);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? { absent: true } : { bad: `cannot read (${oneLine(e)})` };
  }
  if (b.length < 12 + 20 || b.toString('latin1', 0, 8) !== CACHE_MAGIC) return { bad: 'not a cache file' };
  const hl = b.readUInt32LE(8);
  if (12 + hl + 20 > b.length) return { bad: 'truncated' };
  const body = b.length - 20;
  if (!createHash('sha1').update(b.subarray(0, body)).digest().equals(b.subarray(body))) return { bad: 'checksum mismatch' };
  let h: CacheHeader;
  try {
    h = JSON.parse(b.toString('utf8', 12, 12 + hl)) as CacheHeader;
  } catch {
    return { bad: 'unreadable header' };
  }
  if (!h || typeof h !== 'object' || !h.key || !sameKey(h.key, key)) return { bad: 'stale' };
  const nl = h.lrW * h.lrH * 3, nh = h.hasHr ? h.hrW * h.hrH * 3 : 0;
  if (12 + hl + nl + nh !== body || h.lrW * key.scale !== h.hrW || h.lrH * key.scale !== h.hrH) return { bad: 'sizes do not match' };
  const at = 12 + hl;
  // copies: the items outlive the file buffer and must own tightly sized, transferable memory
  const lr = new Uint8Array(b.subarray(at, at + nl));
  const hr = h.hasHr ? new Uint8Array(b.subarray(at + nl, at + nl + nh)) : null;
  return { entry: { header: h, lr, hr } };
}

async function writeCache(p: string, e: CacheEntry): Promise<void> {
  const head = Buffer.from(JSON.stringify(e.header), 'utf8');
  const pre = Buffer.alloc(12);
  pre.write(CACHE_MAGIC, 0, 'latin1');
  pre.writeUInt32LE(head.length, 8);
  const parts: Uint8Array[] = [pre, head, e.lr];
  if (e.hr) parts.push(e.hr);
  const sha = createHash('sha1');
  for (const q of parts) sha.update(q);
  parts.push(sha.digest());
  const tmp = `${p}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writev(parts);
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, p); // a killed run never leaves a half-written entry under the real name
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Every PNG/JPEG/WebP directly inside `dirs` (one folder or several, each sorted by name): decoded
 * once to RGB uint8, HR mod-cropped to a multiple of `scale` (top-left), LR = imresizeUint8(HR,
 * 1/scale) made once and kept in memory (and in `cacheDir` when given); with `hrScales`, once more
 * per factor from the HR downscaled by it. Images smaller than one
 * HR patch are left out and listed in `skipped`. Item names are file names without extension,
 * prefixed by the folder name when several folders are given.
 */
export async function hrFolderSource(dirs: string | string[], scale: number, opts: HrFolderOptions = {}): Promise<FolderSource> {
  checkScale(scale);
  const list = typeof dirs === 'string' ? [dirs] : dirs;
  if (list.length === 0) throw new Error('mvsr: hrFolderSource: no folders given');
  let files: { file: string; name: string }[] = [];
  for (const d of list) {
    // HR folders are searched recursively (training sets are often grouped in sub-folders)
    for (const f of await listImages(d, true)) {
      const rel = path.relative(d, f).replace(/\.[^.]+$/, '').split(path.sep).join('/');
      files.push({ file: f, name: list.length > 1 ? `${path.basename(d)}/${rel}` : rel });
    }
  }
  if (opts.limit !== undefined) files = files.slice(0, Math.max(0, opts.limit));
  if (files.length === 0) throw new Error(`mvsr: ${list.join(', ')}: no PNG/JPEG/WebP images`);
  const hrScales = opts.hrScales ?? [1];
  for (const f of hrScales) if (!(f > 0 && f <= 1)) throw new Error(`mvsr: hrFolderSource: hrScales ${hrScales.join(', ')}: each factor must be > 0 and <= 1`);
  if (opts.cacheDir) makeDirs(opts.cacheDir);

  const items: SrItem[] = [], skipped: string[] = [];
  const stats: CacheStats = { decoded: 0, cacheHits: 0, cacheMisses: 0, cacheRebuilt: 0 };
  const warn = (m: string) => opts.onWarning?.(m);
  const skip = (m: string) => {
    skipped.push(m);
    warn(m);
  };

  const total = files.length * hrScales.length;
  /**
   * One image at one HR factor f: decoded (once for all factors: `decode`) or read from the
   * cache, then appended to items or skipped.
   */
  async function loadOne(file: string, name: string, i: number, f: number, decode: () => Promise<Image>): Promise<void> {
    let item: SrItem | null = null;
    let cp: string | null = null, key: CacheKey | null = null, cached: CacheRead = { absent: true };
    if (f !== 1) name = `${name}@${f}`;
    const label = f === 1 ? file : `${file} downscaled by ${f}`;
    if (opts.cacheDir) {
      const st = await fsp.stat(file).catch((e) => {
        throw new Error(`mvsr: ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? oneLine(e)})`);
      });
      key = { v: CACHE_VERSION, file: path.resolve(file), size: st.size, mtimeMs: st.mtimeMs, scale, ...(f !== 1 ? { hrScale: f } : {}) };
      cp = cachePath(opts.cacheDir, file, scale, f);
      cached = await readCache(cp, key);
      if ('bad' in cached && cached.bad !== 'stale') warn(`${cp}: damaged cache entry for ${file} (${cached.bad}); rebuilt`);
      if ('entry' in cached && cached.entry.hr && opts.cacheHr) {
        const h = cached.entry.header;
        const small = tooSmall(label, h.hrW, h.hrH, scale, opts.lrPatch, opts.minHrSize);
        if (small) skip(small);
        else item = { name, file, hr: cached.entry.hr, lr: cached.entry.lr, hrW: h.hrW, hrH: h.hrH, lrW: h.lrW, lrH: h.lrH };
        stats.cacheHits++;
        opts.onProgress?.(i + 1, total, name);
        if (item) items.push(item);
        return;
      }
    }
    let hr = await decode();
    if (f !== 1) hr = imresizeUint8(hr, f);
    if (hr.width % scale || hr.height % scale) hr = modCrop(hr, scale);
    const small = tooSmall(label, hr.width, hr.height, scale, opts.lrPatch, opts.minHrSize);
    if (small) {
      skip(small);
      opts.onProgress?.(i + 1, total, name);
      return;
    }
    const lrW = hr.width / scale, lrH = hr.height / scale;
    let lr: Uint8Array | null = null;
    if ('entry' in cached) {
      const h = cached.entry.header;
      if (h.hrW === hr.width && h.hrH === hr.height) {
        lr = cached.entry.lr;
        stats.cacheHits++;
        if (opts.cacheHr && !cached.entry.hr) {
          // the LR entry is good but the HR is wanted too: add it for the next run
          await writeCache(cp!, { header: { ...h, hasHr: true }, lr, hr: hr.data as Uint8Array }).catch((e) => warn(`${cp}: cannot write cache entry (${oneLine(e)})`));
        }
      } else {
        warn(`${cp}: cache entry for ${file} has the wrong size; rebuilt`);
        cached = { bad: 'sizes' };
      }
    }
    if (!lr) {
      lr = imresizeUint8(hr, 1 / scale).data as Uint8Array;
      if (cp && key) {
        if ('bad' in cached) stats.cacheRebuilt++;
        else stats.cacheMisses++;
        const header: CacheHeader = { key, hrW: hr.width, hrH: hr.height, lrW, lrH, hasHr: !!opts.cacheHr };
        await writeCache(cp, { header, lr, hr: opts.cacheHr ? (hr.data as Uint8Array) : null }).catch((e) => warn(`${cp}: cannot write cache entry (${oneLine(e)})`));
      }
    }
    items.push({ name, file, hr: hr.data as Uint8Array, lr, hrW: hr.width, hrH: hr.height, lrW, lrH });
    opts.onProgress?.(i + 1, total, name);
  }
  for (let i = 0; i < files.length; i++) {
    const { file, name } = files[i]!;
    let decoded: Promise<Image> | null = null;
    const decode = () => (decoded ??= readRGB8(file).then((im) => { stats.decoded++; return im; }));
    try {
      for (const [j, f] of hrScales.entries()) await loadOne(file, name, i * hrScales.length + j, f, decode);
    } catch (e) {
      const msg = oneLine(e);
      throw msg.includes(file) ? e : new Error(`mvsr: ${file}: ${msg.replace(/^mvsr: /, '')}`);
    }
  }
  if (items.length === 0) throw new Error(`mvsr: ${list.join(', ')}: every image was skipped (${skipped[0] ?? ''}${skipped.length > 1 ? `, and ${skipped.length - 1} more` : ''})`);
  return { items, scale, skipped, stats };
}

/**
 * BasicSR's paired folders: each HR in `gtDir` matched with the LR in `lqDir` named
 * filenameTmpl with '{}' replaced by the HR name without extension, plus the HR's extension
 * (any image extension is accepted when that file does not exist). Every HR must have an LR
 * of exactly 1/scale its size. No mod-crop: the files are used as they are.
 */
export async function pairedFolderSource(gtDir: string, lqDir: string, scale: number, opts: PairedFolderOptions = {}): Promise<FolderSource> {
  checkScale(scale);
  const tmpl = opts.filenameTmpl ?? '{}';
  if (!tmpl.includes('{}')) throw new Error(`mvsr: pairedFolderSource: filenameTmpl '${tmpl}' has no '{}'`);
  let gts = await listImages(gtDir);
  if (opts.limit !== undefined) gts = gts.slice(0, Math.max(0, opts.limit));
  if (gts.length === 0) throw new Error(`mvsr: ${gtDir}: no PNG/JPEG/WebP images`);
  const lqs = new Map((await listImages(lqDir)).map((f) => [path.basename(f), f]));
  const pairs: { gt: string; lq: string }[] = [], missing: string[] = [];
  for (const gt of gts) {
    const base = tmpl.split('{}').join(stem(gt));
    const want = base + path.extname(gt);
    const lq = lqs.get(want) ?? IMAGE_EXTENSIONS.map((e) => lqs.get(base + e) ?? lqs.get(base + e.toUpperCase())).find((f) => f);
    if (lq) pairs.push({ gt, lq });
    else missing.push(`${path.basename(gt)} -> ${want}`);
  }
  if (missing.length) {
    throw new Error(`mvsr: ${lqDir}: no LR image for ${missing.length} HR image(s) of ${gtDir} (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''})`);
  }
  const items: SrItem[] = [], skipped: string[] = [];
  for (let i = 0; i < pairs.length; i++) {
    const { gt, lq } = pairs[i]!;
    const name = stem(gt);
    const hr = await readRGB8(gt), lr = await readRGB8(lq);
    if (lr.width * scale !== hr.width || lr.height * scale !== hr.height) {
      throw new Error(`mvsr: LR ${lq} is ${lr.width}x${lr.height} but HR ${gt} is ${hr.width}x${hr.height}: not ${scale} times the LR size`);
    }
    const small = tooSmall(gt, hr.width, hr.height, scale, opts.lrPatch);
    if (small) {
      skipped.push(small);
      opts.onWarning?.(small);
    } else {
      items.push({ name, file: gt, hr: hr.data as Uint8Array, lr: lr.data as Uint8Array, hrW: hr.width, hrH: hr.height, lrW: lr.width, lrH: lr.height });
    }
    opts.onProgress?.(i + 1, pairs.length, name);
  }
  if (items.length === 0) throw new Error(`mvsr: ${gtDir}: every image was skipped (${skipped[0] ?? ''}${skipped.length > 1 ? `, and ${skipped.length - 1} more` : ''})`);
  return { items, scale, skipped, stats: { decoded: 2 * pairs.length, cacheHits: 0, cacheMisses: 0, cacheRebuilt: 0 } };
}

export interface ValPair {
  name: string;
  /** RGB uint8, cropped to a multiple of `mod`. */
  hr: Image;
  /** imresizeUint8(hr, 1/scale). */
  lr: Image;
}

/**
 * The validation pairs of a folder of HR images (direct children, sorted by name), made exactly
 * as the paper-style evaluation makes them (data/pairs' makePair: RGB, mod-crop, MATLAB bicubic).
 */
export async function loadValSet(dir: string, scale: number, mod = scale): Promise<ValPair[]> {
  checkScale(scale);
  // loaded on first use: eval.ts lives in api/ and pulls in the model runtime, which a
  // training-data worker that never validates should not load
  const { makePair } = await import('./pairs.js');
  const files = await listImages(dir);
  if (files.length === 0) throw new Error(`mvsr: ${dir}: no PNG/JPEG/WebP images`);
  const out: ValPair[] = [];
  for (const f of files) {
    const img = await readImage(f);
    try {
      out.push({ name: stem(f), ...makePair(img, scale, mod) });
    } catch (e) {
      throw new Error(`mvsr: ${f}: ${oneLine(e).replace(/^mvsr: (eval: )?/, '')}`);
    }
  }
  return out;
}
