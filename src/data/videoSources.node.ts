// Training and validation sequences from video: every clip under the given roots (Vimeo-90K and
// REDS frame folders, video files through ffmpeg), selected by name patterns so a group can be held
// out, each frame RGB uint8, mod-cropped, with its LR made by MATLAB bicubic. A clip keeps at most
// maxFrames frames (memory: 6 bytes per HR pixel per frame with the LR) and must have at least
// the sequence length.
import { openVideo } from '../io/video.node.js';
import { toRGB, to8Bit, modCrop, type Image } from '../io/image.js';
import { imresizeUint8 } from './imresize.js';
import { listClips } from './clips.node.js';
import type { SrItem } from './dataset.js';
import type { FolderSource } from './sources.node.js';

export interface VideoSourceOptions {
  /** Clip-name patterns to keep / leave out (see listClips). */
  include?: string[];
  exclude?: string[];
  /** Frames read per clip at most (default 100). */
  maxFrames?: number;
  /** Frames of a training sequence: shorter clips are skipped. */
  numFrame?: number;
  /** LR patch edge: clips whose LR is smaller are skipped. */
  lrPatch?: number;
  onProgress?: (done: number, total: number, name: string) => void;
  onWarning?: (message: string) => void;
}

async function readClip(file: string, scale: number, maxFrames: number): Promise<Image[]> {
  const v = await openVideo(file);
  const frames: Image[] = [];
  for await (const f of v.frames()) {
    let img = toRGB(to8Bit(f));
    if (img.width % scale || img.height % scale) img = modCrop(img, scale);
    frames.push(img);
    if (frames.length >= maxFrames) break;
  }
  return frames;
}

/** Training sequences: one item per clip, its frames stored one after another. */
export async function videoFolderSource(roots: string[], scale: number, o: VideoSourceOptions = {}): Promise<FolderSource> {
  if (!roots.length) throw new Error('mvsr: videoFolderSource: no folders given');
  const maxFrames = o.maxFrames ?? 100, T = o.numFrame ?? 1, P = o.lrPatch ?? 1;
  const clips = [];
  for (const r of roots) {
    for (const c of await listClips(r, { include: o.include, exclude: o.exclude })) {
      clips.push({ ...c, name: roots.length > 1 ? `${r.replace(/[\\/]+$/, '').split(/[\\/]/).pop()}/${c.name}` : c.name });
    }
  }
  const items: SrItem[] = [], skipped: string[] = [];
  const skip = (m: string) => { skipped.push(m); o.onWarning?.(m); };
  for (let i = 0; i < clips.length; i++) {
    const c = clips[i]!;
    const frames = await readClip(c.path, scale, maxFrames);
    const f0 = frames[0];
    if (frames.length < T) skip(`${c.path}: ${frames.length} frames, fewer than the ${T} of a training sequence; skipped`);
    else if (!f0 || f0.width < P * scale || f0.height < P * scale) skip(`${c.path}: ${f0?.width}x${f0?.height} is smaller than one ${P * scale}x${P * scale} HR patch; skipped`);
    else if (frames.some((f) => f.width !== f0.width || f.height !== f0.height)) skip(`${c.path}: frames of different sizes; skipped`);
    else {
      const hrW = f0.width, hrH = f0.height, lrW = hrW / scale, lrH = hrH / scale;
      const hr = new Uint8Array(frames.length * hrW * hrH * 3), lr = new Uint8Array(frames.length * lrW * lrH * 3);
      frames.forEach((f, k) => {
        hr.set(f.data as Uint8Array, k * hrW * hrH * 3);
        lr.set(imresizeUint8(f, 1 / scale).data as Uint8Array, k * lrW * lrH * 3);
      });
      items.push({ name: c.name, file: c.path, hr, lr, hrW, hrH, lrW, lrH, frames: frames.length });
    }
    o.onProgress?.(i + 1, clips.length, c.name);
  }
  if (!items.length) throw new Error(`mvsr: ${roots.join(', ')}: every clip was skipped (${skipped[0] ?? ''})`);
  return { items, scale, skipped, stats: { decoded: items.reduce((a, it) => a + (it.frames ?? 1), 0), cacheHits: 0, cacheMisses: 0, cacheRebuilt: 0 } };
}

/** Validation clips: HR frames (RGB uint8) of every selected clip, for evaluateVideo. */
export async function loadValClips(root: string, o: Pick<VideoSourceOptions, 'include' | 'exclude' | 'maxFrames'> = {}): Promise<{ name: string; frames: Image[] }[]> {
  const out = [];
  for (const c of await listClips(root, o)) out.push({ name: c.name, frames: await readClip(c.path, 1, o.maxFrames ?? 100) });
  return out;
}
