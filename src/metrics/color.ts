// BasicSR's to_y_channel: the BT.601 luma Y in [16, 235] of an 8-bit RGB image, not rounded,
// reproduced operation by operation (including its float32 steps) so that PSNR/SSIM on Y match
// BasicSR's numbers and so the published tables computed with it.
import { type Image, assertImage } from '../io/image.js';

const f32 = Math.fround;

// The three float64 products of basicsrY, per 8-bit value: the same bits, looked up.
const TERM_B = Float64Array.from({ length: 256 }, (_, v) => f32(v / 255) * 24.966);
const TERM_G = Float64Array.from({ length: 256 }, (_, v) => f32(v / 255) * 128.553);
const TERM_R = Float64Array.from({ length: 256 }, (_, v) => f32(v / 255) * 65.481);

/**
 * Y of one 8-bit RGB pixel exactly as BasicSR (and ETDS) compute it on a BGR uint8 image:
 * x = float32(v) / 255 in float32; y = (24.966 B + 128.553 G + 65.481 R + 16) in float64
 * (np.dot upcasts), / 255, cast to float32; then * 255 in float32.
 */
export function basicsrY(r: number, g: number, b: number): number {
  for (const v of [r, g, b]) if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`mvsr: basicsrY: ${v} is not an 8-bit value`);
  return yOf8(r, g, b);
}

/** basicsrY without argument checks (callers pass bytes). */
function yOf8(r: number, g: number, b: number): number {
  // np.dot sums the BGR products in order B, G, R
  const y = (TERM_B[b]! + TERM_G[g]! + TERM_R[r]! + 16.0) / 255;
  return f32(f32(y) * 255);
}

/** The same Y without the float32 steps: 16 + (65.481 R + 128.553 G + 24.966 B) / 255. */
export function yFloat64(r: number, g: number, b: number): number {
  return 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255;
}

/**
 * Y plane (H*W float64 values in [16, 235]) of an 8-bit image as BasicSR's to_y_channel.
 * RGB(A) images use the BT.601 weights (alpha ignored). A 1-channel image is taken as grey
 * RGB (R = G = B), because that is what BasicSR sees for a grey file: cv2.imread loads it with
 * three equal channels, so its Y is 16 + 219 v / 255, not v.
 */
export function rgbToY(img: Image): Float64Array {
  assertImage(img);
  if (img.bitDepth !== 8) throw new Error(`mvsr: rgbToY: expected an 8-bit image, got ${img.bitDepth}-bit`);
  const n = img.width * img.height, C = img.channels, d = img.data;
  const out = new Float64Array(n);
  if (C >= 3) {
    for (let i = 0; i < n; i++) out[i] = yOf8(d[C * i]!, d[C * i + 1]!, d[C * i + 2]!);
  } else if (C === 1) {
    const lut = Float64Array.from({ length: 256 }, (_, v) => yOf8(v, v, v));
    for (let i = 0; i < n; i++) out[i] = lut[d[i]!]!;
  } else {
    throw new Error('mvsr: rgbToY: a grey+alpha image has no RGB; drop the alpha first');
  }
  return out;
}

export interface MetricOptions {
  /** Pixels removed from each side before measuring (BasicSR's crop_border; usually the scale). */
  cropBorder?: number;
  /** Measure Y (BasicSR's test_y_channel) instead of every colour channel. */
  testY?: boolean;
  /**
   * With testY: Y rounded to 8 bits first, as MATLAB's rgb2ycbcr returns it for uint8 images
   * (RCAN's Evaluate_PSNR_SSIM.m, which IMDN's published figures use). BasicSR keeps it fractional.
   */
  yUint8?: boolean;
}

/** The planes a metric compares: float64 H*W planes of both images, after the crop and colour step. */
export interface MetricPlanes {
  width: number;
  height: number;
  a: Float64Array[];
  b: Float64Array[];
}

/**
 * Check that two 8-bit images can be compared, crop `cropBorder` pixels from every side, and
 * split into float64 planes: the Y plane (testY) or each colour channel. Alpha is refused:
 * it has no agreed place in these metrics.
 */
export function metricPlanes(op: string, a: Image, b: Image, opts: MetricOptions = {}): MetricPlanes {
  assertImage(a, `${op}: first image`);
  assertImage(b, `${op}: second image`);
  if (a.width !== b.width || a.height !== b.height || a.channels !== b.channels) {
    throw new Error(`mvsr: ${op}: images differ in shape: ${a.width}x${a.height}x${a.channels} vs ${b.width}x${b.height}x${b.channels}`);
  }
  if (a.bitDepth !== 8 || b.bitDepth !== 8) throw new Error(`mvsr: ${op}: expected 8-bit images (peak 255), got ${a.bitDepth}-bit and ${b.bitDepth}-bit`);
  if (a.channels === 2 || a.channels === 4) throw new Error(`mvsr: ${op}: images have alpha; convert with toRGB first`);
  const crop = opts.cropBorder ?? 0;
  if (!Number.isInteger(crop) || crop < 0) throw new Error(`mvsr: ${op}: cropBorder ${crop} must be a non-negative integer`);
  const W = a.width - 2 * crop, H = a.height - 2 * crop;
  if (W < 1 || H < 1) throw new Error(`mvsr: ${op}: cropBorder ${crop} leaves nothing of a ${a.width}x${a.height} image`);
  const C = a.channels;
  const planesOf = (img: Image): Float64Array[] => {
    const d = img.data;
    if (opts.testY) {
      const y = new Float64Array(W * H);
      const yOf = opts.yUint8 ? (r: number, g: number, b: number) => Math.round(yFloat64(r, g, b)) : yOf8;
      const lut = C === 1 ? Float64Array.from({ length: 256 }, (_, v) => yOf(v, v, v)) : null;
      for (let r = 0; r < H; r++) {
        for (let x = 0; x < W; x++) {
          const s = ((r + crop) * img.width + x + crop) * C;
          y[r * W + x] = lut ? lut[d[s]!]! : yOf(d[s]!, d[s + 1]!, d[s + 2]!);
        }
      }
      return [y];
    }
    const planes = Array.from({ length: C }, () => new Float64Array(W * H));
    for (let r = 0; r < H; r++) {
      for (let x = 0; x < W; x++) {
        const s = ((r + crop) * img.width + x + crop) * C;
        for (let c = 0; c < C; c++) planes[c]![r * W + x] = d[s + c]!;
      }
    }
    return planes;
  };
  return { width: W, height: H, a: planesOf(a), b: planesOf(b) };
}
