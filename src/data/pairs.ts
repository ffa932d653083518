// Benchmark pairs as the SR papers make them: the HR converted to RGB uint8 and cropped to a
// multiple of `mod` (12 for the GTmod12 sets), the LR made from it by MATLAB bicubic imresize.
import { type Image, toRGB, modCrop } from '../io/image.js';
import { imresizeUint8 } from './imresize.js';

/** HR (any channels) → RGB uint8, mod-cropped. */
export function prepareHr(hr: Image, m: number): Image {
  if (hr.bitDepth !== 8) throw new Error('mvsr: eval: 16-bit ground truth is not supported (the metrics are defined on 8-bit images)');
  return modCrop(toRGB(hr), m);
}

/** The benchmark pair for an HR image: HR mod-cropped RGB and its MATLAB-bicubic uint8 LR. */
export function makePair(hrIn: Image, scale: number, mod = 12): { hr: Image; lr: Image } {
  const hr = prepareHr(hrIn, mod);
  if (hr.width % scale || hr.height % scale) {
    throw new Error(`mvsr: eval: HR ${hr.width}x${hr.height} is not a multiple of the scale ${scale} (use a mod-crop that is)`);
  }
  return { hr, lr: imresizeUint8(hr, 1 / scale) };
}

