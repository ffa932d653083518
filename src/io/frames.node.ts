// Folders of image frames as videos: a clip is a folder of PNG (or JPEG/WebP) files read in
// natural name order (REDS: 00000000.png, 00000001.png, …; Vimeo septuplets: im1.png … im7.png),
// and a writer that fills a hidden temporary folder renamed to its real name by close().
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { type Image, toRGB, to8Bit, assertImage, describeImage } from './image.js';
import { readImage, encodePng } from './image.node.js';
import { type VideoInfo, type VideoSource, type VideoWriter } from './y4m.js';
import { tempNameFor } from './y4m.node.js';

export const FRAME_FILE = /\.(png|jpe?g|webp)$/i;

/** Frame rate given to folders, which store none (REDS and Vimeo-90K are 24-30 fps; 25 is the PAL rate). */
export const DEFAULT_FOLDER_FPS: [number, number] = [25, 1];

/** Natural order: digit runs compare as numbers (im2 < im10), the rest by code point; ties by plain order. */
export function naturalCompare(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [], rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i]!, y = rb[i]!;
    const dx = x.charCodeAt(0) <= 57 && x.charCodeAt(0) >= 48, dy = y.charCodeAt(0) <= 57 && y.charCodeAt(0) >= 48;
    if (dx && dy) {
      const sx = x.replace(/^0+(?=\d)/, ''), sy = y.replace(/^0+(?=\d)/, '');
      if (sx.length !== sy.length) return sx.length - sy.length;
      if (sx !== sy) return sx < sy ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  if (ra.length !== rb.length) return ra.length - rb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

async function readDir(dir: string): Promise<import('node:fs').Dirent[]> {
  try {
    return await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`mvsr: ${dir}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : `cannot read (${code ?? (e as Error).message})`}`);
  }
}

/** The frame files of a folder (PNG/JPEG/WebP by name, hidden files skipped), full paths in natural order. */
export async function listFrameFiles(dir: string): Promise<string[]> {
  const names = (await readDir(dir)).filter((d) => (d.isFile() || d.isSymbolicLink()) && !d.name.startsWith('.') && FRAME_FILE.test(d.name)).map((d) => d.name);
  return names.sort(naturalCompare).map((n) => path.join(dir, n));
}

/**
 * One walk of the tree under root (root included), in natural order: every folder that directly
 * holds frame files (the clips of a REDS root, train_sharp/000, …, or of Vimeo-90K,
 * sequences/00001/0001, …) and every file whose name matches `videoFile` (none when omitted).
 */
export async function walkClipTree(root: string, videoFile?: RegExp): Promise<{ folders: string[]; videos: string[] }> {
  const folders: string[] = [], videos: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readDir(dir)).filter((d) => !d.name.startsWith('.')).sort((a, b) => naturalCompare(a.name, b.name));
    if (entries.some((d) => (d.isFile() || d.isSymbolicLink()) && FRAME_FILE.test(d.name))) folders.push(dir);
    for (const d of entries) {
      if (d.isDirectory()) await walk(path.join(dir, d.name));
      else if (videoFile?.test(d.name)) videos.push(path.join(dir, d.name));
    }
  };
  await walk(root);
  return { folders, videos };
}

export interface FrameFolderSource extends VideoSource {
  /** The frame files in order. */
  files: string[];
}

/** 8-bit RGB, whatever the file held (grey expanded, alpha dropped, 16-bit rounded). */
function asRgb8(img: Image): Image {
  return to8Bit(toRGB(img));
}

/**
 * A folder of frames as a video: size from the first frame (every frame must match it), frame
 * rate opts.fps or DEFAULT_FOLDER_FPS, no audio. Frames are read one file at a time.
 */
export async function openFrameFolder(dir: string, opts: { fps?: [number, number] } = {}): Promise<FrameFolderSource> {
  const files = await listFrameFiles(dir);
  if (files.length === 0) throw new Error(`mvsr: ${dir}: no frames (no .png, .jpg or .webp files in the folder)`);
  const first = await readImage(files[0]!);
  const info: VideoInfo = { width: first.width, height: first.height, fps: opts.fps ?? DEFAULT_FOLDER_FPS, frames: files.length, hasAudio: false };
  return {
    info,
    files,
    async *frames(o = {}) {
      for (let i = o.start ?? 0; i < files.length; i++) {
        o.signal?.throwIfAborted();
        const img = asRgb8(await readImage(files[i]!));
        if (img.width !== info.width || img.height !== info.height) {
          throw new Error(`mvsr: ${files[i]}: frame ${i + 1}: ${img.width}x${img.height} differs from the first frame's ${info.width}x${info.height}`);
        }
        yield img;
      }
    },
  };
}

export interface FrameFolderWriterOptions {
  /** Digits in the frame numbers (default 8: 00000000.png as REDS). */
  digits?: number;
  /** Number of the first frame (default 0). */
  start?: number;
  /** zlib level for the PNGs (default 6). */
  level?: number;
}

async function isEmptyDir(dir: string): Promise<boolean | null> {
  try {
    return (await fsp.readdir(dir)).length === 0;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') return false;
    throw e;
  }
}

/**
 * Write frames as numbered PNGs into `dir`. They go to a hidden temporary folder beside it,
 * renamed to `dir` by close(); `dir` must not exist yet or be empty.
 */
export async function createFrameFolderWriter(dir: string, info: Pick<VideoInfo, 'width' | 'height'>, opts: FrameFolderWriterOptions = {}): Promise<VideoWriter> {
  const target = dir.replace(/[\\/]+$/, '') || dir;
  const digits = opts.digits ?? 8, first = opts.start ?? 0;
  if ((await isEmptyDir(target)) === false) throw new Error(`mvsr: ${target}: already exists and is not an empty folder; frames are written only to a new or empty folder`);
  const tmp = tempNameFor(target);
  try {
    await fsp.mkdir(tmp);
  } catch (e) {
    throw new Error(`mvsr: ${target}: cannot create a folder next to it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let state: 'open' | 'closed' | 'aborted' = 'open';
  let n = 0;
  let removed: Promise<void> = Promise.resolve();
  const w: VideoWriter = {
    carriesAudio: false,
    async write(frame) {
      if (state !== 'open') throw new Error(`mvsr: ${target}: write after ${state === 'closed' ? 'close' : 'abort'}`);
      assertImage(frame, `${target}: frame ${n + 1}`);
      if (frame.width !== info.width || frame.height !== info.height) {
        throw new Error(`mvsr: ${target}: frame ${n + 1} is ${describeImage(frame)}, the video is ${info.width}x${info.height}`);
      }
      const name = String(first + n).padStart(digits, '0') + '.png';
      n++;
      try {
        await fsp.writeFile(path.join(tmp, name), encodePng(frame, { level: opts.level ?? 6 }));
      } catch (e) {
        await w.abort();
        throw new Error(`mvsr: ${target}: cannot write ${name} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    },
    async close() {
      if (state === 'closed') return;
      if (state === 'aborted') throw new Error(`mvsr: ${target}: close after abort`);
      try {
        if ((await isEmptyDir(target)) === false) throw new Error('it now exists and is not an empty folder');
        if ((await isEmptyDir(target)) === true) await fsp.rmdir(target);
        await fsp.rename(tmp, target);
        state = 'closed';
      } catch (e) {
        await w.abort();
        throw new Error(`mvsr: ${target}: cannot finish the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    },
    abort() {
      if (state === 'open') {
        state = 'aborted';
        removed = fsp.rm(tmp, { recursive: true, force: true }).catch(() => {});
      }
      return removed;
    },
  };
  return w;
}
