// Paper-style evaluation of an SR model on a folder of HR images: HR mod-cropped, LR made by
// MATLAB bicubic imresize (uint8, as the benchmark LR folders), model output rounded to uint8,
// PSNR/SSIM on Y (BT.601) or RGB with `scale` pixels of border cropped — BasicSR's defaults.
// The model runs as its deploy graph on a runtime backend, on whole images.
import type { Image } from '../io/image.js';
import { makePair, prepareHr } from '../data/pairs.js';
import { calculatePsnr, calculateSsim } from '../metrics/index.js';
import { toRGB, imageToTensor, tensorToImage } from '../io/image.js';
import { Tensor } from '../tensor/tensor.js';
import { toGraph, type SRModel } from '../models/registry.js';
import type { Graph } from '../graph/ir.js';
import { createBackend, type Backend } from '../runtime/backend.js';

export { makePair, prepareHr };

/** What evaluation runs: a model or a deploy graph (e.g. a quantized one), compiled for the call on `backend`, or a backend already made. */
export type EvalModel = SRModel | Graph | Backend;

const isBackend = (m: EvalModel): m is Backend => typeof (m as Backend).runNamed === 'function';

/** Run fn with a backend for `m`: m itself, or its deploy graph compiled on `backend` and disposed after. */
export async function withBackend<T>(m: EvalModel, backend: string | undefined, fn: (b: Backend) => Promise<T>): Promise<T> {
  if (isBackend(m)) return fn(m);
  const b = await createBackend('nodes' in m ? m : toGraph(m), { backend });
  try {
    return await fn(b);
  } finally {
    await b.dispose();
  }
}

/** An image (as RGB) through a one-input graph on a backend, whole, as an 8-bit RGB image. */
export async function runImage(b: Backend, img: Image): Promise<Image> {
  const x = imageToTensor(toRGB(img));
  try {
    const y = await b.run(x);
    try {
      return tensorToImage(y, 8);
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
  }
}

export interface EvalOptions {
  scale: number;
  /** PSNR/SSIM on the Y channel (default true, as published tables). */
  testY?: boolean;
  /** Y rounded to 8 bits before the metrics (MATLAB's rgb2ycbcr on uint8: IMDN's and RCAN's protocol). */
  yUint8?: boolean;
  /** Border pixels cropped before the metrics (default: scale). */
  cropBorder?: number;
  /** HR is cropped to a multiple of this (default 12, as the ETDS/BasicSR GTmod12 sets). */
  modCrop?: number;
  /** Runtime backend for a model given as an SRModel (default 'wasm'). */
  backend?: string;
}

export interface EvalRow {
  name: string;
  width: number;
  height: number;
  psnr: number;
  ssim: number;
}

export interface EvalResult {
  rows: EvalRow[];
  psnr: number;
  ssim: number;
  protocol: { testY: boolean; yUint8?: boolean; cropBorder: number; modCrop: number; scale: number; lr: string };
}

/** Upscale `lr` and measure against `hr`; returns the SR output (uint8 RGB) too. */
export async function evalPair(model: EvalModel, hr: Image, lr: Image, o: EvalOptions): Promise<{ sr: Image; psnr: number; ssim: number }> {
  const sr = await withBackend(model, o.backend, (b) => runImage(b, lr));
  if (sr.width !== lr.width * o.scale || sr.height !== lr.height * o.scale || sr.channels !== 3) {
    throw new Error(`mvsr: eval: the model mapped ${lr.width}x${lr.height} to ${sr.width}x${sr.height}x${sr.channels}, expected x${o.scale} with 3 channels`);
  }
  const m = { cropBorder: o.cropBorder ?? o.scale, testY: o.testY ?? true, yUint8: o.yUint8 ?? false };
  return { sr, psnr: calculatePsnr(sr, hr, m), ssim: calculateSsim(sr, hr, m) };
}

/** Evaluate one HR image: returns the SR output and LR too. */
export async function evalImage(model: EvalModel, hrIn: Image, o: EvalOptions): Promise<{ sr: Image; lr: Image; psnr: number; ssim: number }> {
  const { hr, lr } = makePair(hrIn, o.scale, o.modCrop ?? 12);
  return { lr, ...(await evalPair(model, hr, lr, o)) };
}

/** Evaluate a set of HR images (the model compiled once for all of them). */
export async function evaluate(
  model: EvalModel, images: { name: string; image: () => Promise<Image> }[], o: EvalOptions,
  onImage?: (row: EvalRow, i: number, n: number) => void,
): Promise<EvalResult> {
  const rows: EvalRow[] = [];
  await withBackend(model, o.backend, async (b) => {
    for (let i = 0; i < images.length; i++) {
      const it = images[i]!;
      const r = await evalImage(b, await it.image(), o);
      const row = { name: it.name, width: r.sr.width, height: r.sr.height, psnr: r.psnr, ssim: r.ssim };
      rows.push(row);
      onImage?.(row, i + 1, images.length);
    }
  });
  const mean = (f: (r: EvalRow) => number) => rows.reduce((a, r) => a + f(r), 0) / Math.max(1, rows.length);
  return {
    rows,
    psnr: mean((r) => r.psnr),
    ssim: mean((r) => r.ssim),
    protocol: { testY: o.testY ?? true, ...(o.yUint8 ? { yUint8: true } : {}), cropBorder: o.cropBorder ?? o.scale, modCrop: o.modCrop ?? 12, scale: o.scale, lr: 'MATLAB bicubic imresize, uint8' },
  };
}
