// Format-agnostic images: the interleaved 8/16-bit Image type, format sniffing, channel
// conversions, crops, and the float32 [0,1] NHWC conversions used around models.
// No Node-only imports here: codecs that need zlib take it injected (see png.ts, image.node.ts).
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { tensorToPixels, pixelsToTensor } from '../tensor/ops/pixels.js';

export type ImageChannels = 1 | 2 | 3 | 4;
export type ImageBitDepth = 8 | 16;

/**
 * An interleaved, row-major image: sample (x, y, c) is data[(y * width + x) * channels + c].
 * Channels: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. data is Uint8Array for bitDepth 8 and
 * Uint16Array for bitDepth 16 (native values 0..65535).
 */
export interface Image {
  width: number;
  height: number;
  channels: ImageChannels;
  bitDepth: ImageBitDepth;
  data: Uint8Array | Uint16Array;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';

/**
 * A decoding problem in one line ("truncated PNG: IDAT data ends early"). File loaders prefix
 * the path: `mvsr: <path>: <problem>`; without a path the message is `mvsr: <problem>`.
 */
export class ImageDecodeError extends Error {
  constructor(readonly problem: string) {
    super(`mvsr: ${problem}`);
    this.name = 'ImageDecodeError';
  }
}

/** The format named by the first bytes (magic numbers), or null. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp';
  return null;
}

export function ascii(b: Uint8Array, at: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(b[at + i]!);
  return s;
}

export function maxSampleValue(bitDepth: ImageBitDepth): number {
  return bitDepth === 16 ? 65535 : 255;
}

/** A zero-filled image. */
export function createImage(width: number, height: number, channels: ImageChannels, bitDepth: ImageBitDepth = 8): Image {
  checkDims(width, height, channels, bitDepth);
  const n = width * height * channels;
  return { width, height, channels, bitDepth, data: bitDepth === 16 ? new Uint16Array(n) : new Uint8Array(n) };
}

function checkDims(width: number, height: number, channels: number, bitDepth: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new Error(`mvsr: image size ${width}x${height} must be non-negative integers`);
  }
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) throw new Error(`mvsr: image channels ${channels} must be 1, 2, 3 or 4`);
  if (bitDepth !== 8 && bitDepth !== 16) throw new Error(`mvsr: image bit depth ${bitDepth} must be 8 or 16`);
}

/** Throw a clear error when an Image's fields disagree with each other. */
export function assertImage(img: Image, what = 'image'): void {
  checkDims(img.width, img.height, img.channels, img.bitDepth);
  const want = img.bitDepth === 16 ? Uint16Array : Uint8Array;
  if (!(img.data instanceof want)) throw new Error(`mvsr: ${what}: bitDepth ${img.bitDepth} needs ${want.name} data, got ${img.data.constructor.name}`);
  const n = img.width * img.height * img.channels;
  if (img.data.length !== n) throw new Error(`mvsr: ${what}: ${img.width}x${img.height}x${img.channels} needs ${n} samples, data has ${img.data.length}`);
}

export function describeImage(img: Image): string {
  return `${img.width}x${img.height}, ${img.channels} channel(s), ${img.bitDepth}-bit`;
}

/** 16-bit to 8-bit by round(v * 255 / 65535) = round(v / 257) (never a tie); 8-bit images are returned as is. */
export function to8Bit(img: Image): Image {
  if (img.bitDepth === 8) return img;
  const src = img.data;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Math.round(src[i]! / 257);
  return { width: img.width, height: img.height, channels: img.channels, bitDepth: 8, data: out };
}

/** 8-bit to 16-bit by v * 257 (exact: 255 maps to 65535); 16-bit images are returned as is. */
export function to16Bit(img: Image): Image {
  if (img.bitDepth === 16) return img;
  const src = img.data;
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! * 257;
  return { width: img.width, height: img.height, channels: img.channels, bitDepth: 16, data: out };
}

export function hasAlpha(img: Image): boolean {
  return img.channels === 2 || img.channels === 4;
}

/** Colour without alpha: grey is copied to R, G and B, alpha is dropped (not composited). */
export function toRGB(img: Image): Image {
  assertImage(img);
  if (img.channels === 3) return img;
  const n = img.width * img.height;
  const src = img.data, C = img.channels;
  const out = img.bitDepth === 16 ? new Uint16Array(n * 3) : new Uint8Array(n * 3);
  if (C === 4) {
    for (let i = 0; i < n; i++) {
      out[3 * i] = src[4 * i]!;
      out[3 * i + 1] = src[4 * i + 1]!;
      out[3 * i + 2] = src[4 * i + 2]!;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = src[C * i]!;
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    }
  }
  return { width: img.width, height: img.height, channels: 3, bitDepth: img.bitDepth, data: out };
}

/** Colour with alpha: grey is expanded to RGB; an image without alpha gets an opaque one. */
export function toRGBA(img: Image): Image {
  assertImage(img);
  if (img.channels === 4) return img;
  const n = img.width * img.height;
  const src = img.data, C = img.channels;
  const opaque = maxSampleValue(img.bitDepth);
  const out = img.bitDepth === 16 ? new Uint16Array(n * 4) : new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    if (C >= 3) {
      out[4 * i] = src[C * i]!;
      out[4 * i + 1] = src[C * i + 1]!;
      out[4 * i + 2] = src[C * i + 2]!;
    } else {
      const v = src[C * i]!;
      out[4 * i] = v;
      out[4 * i + 1] = v;
      out[4 * i + 2] = v;
    }
    out[4 * i + 3] = C === 2 ? src[2 * i + 1]! : opaque;
  }
  return { width: img.width, height: img.height, channels: 4, bitDepth: img.bitDepth, data: out };
}

/** One channel as a 1-channel image (e.g. the alpha plane: channel = channels - 1). */
export function extractChannel(img: Image, channel: number): Image {
  assertImage(img);
  if (!Number.isInteger(channel) || channel < 0 || channel >= img.channels) {
    throw new Error(`mvsr: extractChannel: channel ${channel} outside [0, ${img.channels})`);
  }
  const n = img.width * img.height, C = img.channels, src = img.data;
  const out = img.bitDepth === 16 ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = src[C * i + channel]!;
  return { width: img.width, height: img.height, channels: 1, bitDepth: img.bitDepth, data: out };
}

/** The alpha plane as a 1-channel image, or null when the image has none. */
export function alphaChannel(img: Image): Image | null {
  return hasAlpha(img) ? extractChannel(img, img.channels - 1) : null;
}

/** The window [x, x+w) x [y, y+h) as a new image. */
export function cropImage(img: Image, x: number, y: number, w: number, h: number): Image {
  assertImage(img);
  if (![x, y, w, h].every((v) => Number.isInteger(v) && v >= 0) || x + w > img.width || y + h > img.height) {
    throw new Error(`mvsr: crop ${w}x${h} at (${x}, ${y}) does not fit in a ${img.width}x${img.height} image`);
  }
  const C = img.channels, src = img.data;
  const out = img.bitDepth === 16 ? new Uint16Array(w * h * C) : new Uint8Array(w * h * C);
  for (let r = 0; r < h; r++) {
    const s = ((y + r) * img.width + x) * C;
    out.set(src.subarray(s, s + w * C), r * w * C);
  }
  return { width: w, height: h, channels: img.channels, bitDepth: img.bitDepth, data: out };
}

/** BasicSR mod_crop: keep the top-left (H - H % m) x (W - W % m) pixels. */
export function modCrop(img: Image, m: number): Image {
  if (!Number.isInteger(m) || m < 1) throw new Error(`mvsr: modCrop: modulus ${m} must be a positive integer`);
  return cropImage(img, 0, 0, img.width - (img.width % m), img.height - (img.height % m));
}

/** Remove n pixels from each of the four sides (BasicSR's crop_border). */
export function cropBorder(img: Image, n: number): Image {
  if (!Number.isInteger(n) || n < 0) throw new Error(`mvsr: cropBorder: border ${n} must be a non-negative integer`);
  if (n === 0) return img;
  if (2 * n >= img.width || 2 * n >= img.height) {
    throw new Error(`mvsr: cropBorder: a border of ${n} leaves nothing of a ${img.width}x${img.height} image`);
  }
  return cropImage(img, n, n, img.width - 2 * n, img.height - 2 * n);
}

/**
 * Samples as float32 in [0, 1], NHWC order (shape [1, H, W, C]): v / 255 (or / 65535) rounded
 * once to float32, as BasicSR's `img.astype(np.float32) / 255.`.
 */
export function imageToFloat32(img: Image): Float32Array {
  assertImage(img);
  const src = img.data, max = maxSampleValue(img.bitDepth);
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! / max;
  return out;
}

/** Round half to even (numpy's np.round / np.around). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // half up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Float [0, 1] NHWC values back to integer samples, as BasicSR's tensor2img for model outputs:
 * clamp to [0, 1], multiply by 255 (or 65535) in float32, then round half to even, which is
 * what numpy's `(img * 255.0).round()` does; ties are rare but make the two disagree otherwise.
 * NaN is an error (a model that produced NaN has failed; silently writing 0 would hide it).
 */
export function float32ToImage(values: ArrayLike<number>, width: number, height: number, channels: ImageChannels, bitDepth: ImageBitDepth = 8): Image {
  const img = createImage(width, height, channels, bitDepth);
  if (values.length !== img.data.length) {
    throw new Error(`mvsr: float32ToImage: ${values.length} values do not fill ${width}x${height}x${channels} (${img.data.length})`);
  }
  const max = maxSampleValue(bitDepth), out = img.data;
  for (let i = 0; i < out.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) throw new Error(`mvsr: float32ToImage: value ${i} is NaN`);
    const c = v < 0 ? 0 : v > 1 ? 1 : Math.fround(v);
    out[i] = roundHalfEven(Math.fround(c * max));
  }
  return img;
}

/** An Image as a [1, H, W, C] engine tensor with values in [0, 1]. */
export function imageToTensor(img: Image): Tensor {
  assertImage(img);
  return pixelsToTensor(img.data, img.bitDepth, [1, img.height, img.width, img.channels]);
}

/** A [1, H, W, C] tensor (C 1..4) as an Image, rounded as float32ToImage (in one threaded kernel pass); its samples go to `into` when given. */
export function tensorToImage(t: Tensor, bitDepth: ImageBitDepth = 8, into?: Uint8Array | Uint16Array): Image {
  const [N, H, W, C] = t.shape as [number, number, number, number];
  if (t.shape.length !== 4 || N !== 1 || C < 1 || C > 4) {
    throw new Error(`mvsr: tensorToImage: expected a [1, H, W, C] tensor with 1..4 channels, got ${shapeStr(t.shape)}`);
  }
  return { width: W, height: H, channels: C as ImageChannels, bitDepth, data: tensorToPixels(t, bitDepth, into) };
}
