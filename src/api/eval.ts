// Paper-style evaluation of an SR model on a folder of HR images: HR mod-cropped, LR made by
// MATLAB bicubic imresize (uint8, as the benchmark LR folders), model output rounded to uint8,
// PSNR/SSIM on Y (BT.601) or RGB with `scale` pixels of border cropped — BasicSR's defaults.
import type { Module } from '../nn/module.js';
import type { Image } from '../io/image.js';
import { makePair, prepareHr } from '../data/pairs.js';
import { calculatePsnr, calculateSsim } from '../metrics/index.js';
import { upscaleFloat, type TileOptions } from './tiling.js';
import { toRGB, imageToFloat32, float32ToImage } from '../io/image.js';

export { makePair, prepareHr };

export interface EvalOptions {
  scale: number;
  /** PSNR/SSIM on the Y channel (default true, as published tables). */
  testY?: boolean;
  /** Border pixels cropped before the metrics (default: scale). */
  cropBorder?: number;
  /** HR is cropped to a multiple of this (default 12, as the ETDS/BasicSR GTmod12 sets). */
  modCrop?: number;
  tile?: TileOptions;
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
  protocol: { testY: boolean; cropBorder: number; modCrop: number; scale: number; lr: string };
}

/** Upscale `lr` and measure against `hr`; returns the SR output (uint8 RGB) too. */
export async function evalPair(model: Module, hr: Image, lr: Image, o: EvalOptions): Promise<{ sr: Image; psnr: number; ssim: number }> {
  const input = { width: lr.width, height: lr.height, channels: 3, data: imageToFloat32(toRGB(lr)) };
  const out = await upscaleFloat(model, o.scale, input, o.tile ?? { tile: 1 << 30 });
  const sr = float32ToImage(out.data, out.width, out.height, 3, 8);
  const m = { cropBorder: o.cropBorder ?? o.scale, testY: o.testY ?? true };
  return { sr, psnr: calculatePsnr(sr, hr, m), ssim: calculateSsim(sr, hr, m) };
}

/** Evaluate one HR image: returns the SR output and LR too. */
export async function evalImage(model: Module, hrIn: Image, o: EvalOptions): Promise<{ sr: Image; lr: Image; psnr: number; ssim: number }> {
  const { hr, lr } = makePair(hrIn, o.scale, o.modCrop ?? 12);
  return { lr, ...(await evalPair(model, hr, lr, o)) };
}

export async function evaluate(
  model: Module, images: { name: string; image: () => Promise<Image> }[], o: EvalOptions,
  onImage?: (row: EvalRow, i: number, n: number) => void,
): Promise<EvalResult> {
  const rows: EvalRow[] = [];
  for (let i = 0; i < images.length; i++) {
    const it = images[i]!;
    const r = await evalImage(model, await it.image(), o);
    const row = { name: it.name, width: r.sr.width, height: r.sr.height, psnr: r.psnr, ssim: r.ssim };
    rows.push(row);
    onImage?.(row, i + 1, images.length);
  }
  const mean = (f: (r: EvalRow) => number) => rows.reduce((a, r) => a + f(r), 0) / Math.max(1, rows.length);
  return {
    rows,
    psnr: mean((r) => r.psnr),
    ssim: mean((r) => r.ssim),
    protocol: { testY: o.testY ?? true, cropBorder: o.cropBorder ?? o.scale, modCrop: o.modCrop ?? 12, scale: o.scale, lr: 'MATLAB bicubic imresize, uint8' },
  };
}
