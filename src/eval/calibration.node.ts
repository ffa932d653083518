// Calibration data for quantization (Node-only: reads files): LR patches of a folder of images,
// or runs of LR frames of a folder of clips.
import { basename } from 'node:path';
import { readImage } from '../io/image.node.js';
import { openVideo } from '../io/video.node.js';
import { toRGB, imageToFloat32, type Image } from '../io/image.js';
import { listImages } from '../data/sources.node.js';
import { listClips } from '../data/clips.node.js';
import { imresizeUint8 } from '../data/imresize.js';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import type { CalibrationSample } from './calibrate.js';

export interface CalibrationDataOptions {
  /** The model's scale: HR images and clips are reduced by it (MATLAB bicubic, as eval makes LR) unless lr is set. */
  scale: number;
  /** The files are already model inputs (LR): use them as they are. */
  lr?: boolean;
  /** Patches (images) or clips (video) to take (default 32 / 4). */
  count?: number;
  /** Patch edge in LR pixels (default 64). */
  patch?: number;
  /** Frames per clip for a video model (default 8). */
  frames?: number;
  seed?: number;
}

const toLr = (img: Image, o: CalibrationDataOptions): Image => {
  const rgb = toRGB(img);
  if (o.lr || o.scale === 1) return rgb;
  const w = rgb.width - (rgb.width % o.scale), h = rgb.height - (rgb.height % o.scale);
  if (w < o.scale || h < o.scale) return rgb;
  return imresizeUint8(w === rgb.width && h === rgb.height ? rgb : cropImage(rgb, 0, 0, w, h), 1 / o.scale);
};

function cropImage(img: Image, x0: number, y0: number, w: number, h: number): Image {
  const c = img.channels, Ctor = img.data.constructor as new (n: number) => Image['data'];
  const data = new Ctor(w * h * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w * c; x++) data[y * w * c + x] = img.data[((y0 + y) * img.width + x0) * c + x]!;
  return { ...img, width: w, height: h, data };
}

/** One [1, P, P, 3] patch at (x0, y0) of an RGB image (P clipped to the image). */
function patchTensor(img: Image, x0: number, y0: number, P: number): Tensor {
  const p = cropImage(img, x0, y0, Math.min(P, img.width), Math.min(P, img.height));
  return Tensor.from([1, p.height, p.width, 3], imageToFloat32(p));
}

/**
 * Calibration samples from a folder: for an image model, `count` random patches spread over its
 * images; for a video model, the first `frames` frames of up to `count` clips (listClips), each
 * cropped to one patch at the same place. Errors name the folder when it holds nothing usable.
 */
export async function loadCalibrationData(dir: string, video: boolean, o: CalibrationDataOptions): Promise<{ samples: CalibrationSample[]; files: string[] }> {
  const rng = new Rng(o.seed ?? 7), P = o.patch ?? 64;
  if (!video) {
    const files = await listImages(dir, true);
    if (!files.length) throw new Error(`mvsr: ${dir}: no PNG/JPEG/WebP images to calibrate on`);
    const count = o.count ?? 32, samples: CalibrationSample[] = [], used = new Set<string>();
    // every file once in a seeded order, then again: patches spread over the whole folder
    const order = files.map((f, i) => [rng.next(), i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => files[i]!);
    for (let i = 0; i < count; i++) {
      const file = order[i % order.length]!;
      used.add(file);
      const hr = toRGB(await readImage(file));
      // an HR crop with a margin, reduced, its centre kept: the LR patch without reducing the whole photo
      const k = o.lr ? 1 : o.scale, m = 8;
      const cw = Math.min(hr.width - (hr.width % k), (P + 2 * m) * k), ch = Math.min(hr.height - (hr.height % k), (P + 2 * m) * k);
      const x0 = rng.int(Math.floor((hr.width - cw) / k) + 1) * k, y0 = rng.int(Math.floor((hr.height - ch) / k) + 1) * k;
      const lr = toLr(cropImage(hr, x0, y0, cw, ch), o);
      const px = Math.min(P, lr.width), py = Math.min(P, lr.height);
      samples.push({ frames: [patchTensor(lr, Math.floor((lr.width - px) / 2), Math.floor((lr.height - py) / 2), P)] });
    }
    return { samples, files: [...used].map((f) => basename(f)) };
  }
  const clips = await listClips(dir);
  if (!clips.length) throw new Error(`mvsr: ${dir}: no video clips (video files or frame folders) to calibrate on`);
  const samples: CalibrationSample[] = [], used: string[] = [];
  for (const c of clips.slice(0, o.count ?? 4)) {
    const frames: Tensor[] = [];
    let at: [number, number] | null = null;
    for await (const f of (await openVideo(c.path)).frames()) {
      const img = toLr(f, o);
      at ??= [rng.int(Math.max(1, img.width - P + 1)), rng.int(Math.max(1, img.height - P + 1))];
      frames.push(patchTensor(img, at[0], at[1], P));
      if (frames.length >= (o.frames ?? 8)) break;
    }
    if (frames.length) { samples.push({ frames }); used.push(c.name); }
  }
  if (!samples.length) throw new Error(`mvsr: ${dir}: the clips hold no frames to calibrate on`);
  return { samples, files: used };
}
