// Patch augmentation as BasicSR's `augment`: horizontal flip, vertical flip and transpose
// ("rot90"), each with p = 0.5, applied identically to the LR and HR patch of a pair; plus an
// optional RGB channel permutation. Done as one gather from the source image into the batch
// (no intermediate crop), so the augmented patch costs one read and one write per sample.
import type { Rng } from '../tensor/random.js';

/** What happens to one training pair. Apply order: hflip, then vflip, then transpose. */
export interface AugmentPlan {
  /** Mirror left-right (cv2.flip(img, 1)). */
  hflip: boolean;
  /** Mirror top-bottom (cv2.flip(img, 0)). */
  vflip: boolean;
  /** Swap rows and columns (BasicSR's rot90: img.transpose(1, 0, 2)). */
  transpose: boolean;
  /** Output channel c takes input channel perm[c]. */
  perm: readonly [number, number, number];
}

export interface AugmentOptions {
  hflip: boolean;
  /** BasicSR's `use_rot`: enables vflip and transpose. */
  rot: boolean;
  channelShuffle: boolean;
}

/** The six orders of R, G, B; index 0 is the identity. */
export const CHANNEL_PERMUTATIONS: readonly (readonly [number, number, number])[] = [
  [0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0],
];

/**
 * Draw one pair's augmentation. Always consumes four numbers, whatever the options, so turning an
 * augmentation on or off changes no other draw of the batch (crop positions stay the same).
 */
export function drawAugment(rng: Rng, o: AugmentOptions): AugmentPlan {
  const h = rng.next() < 0.5, v = rng.next() < 0.5, t = rng.next() < 0.5;
  const p = rng.int(6);
  return {
    hflip: o.hflip && h,
    vflip: o.rot && v,
    transpose: o.rot && t,
    perm: CHANNEL_PERMUTATIONS[o.channelShuffle ? p : 0]!,
  };
}

/** x / 255 rounded to float32, as imageToFloat32 and BasicSR's `img.astype(np.float32) / 255.`. */
export const UINT8_TO_UNIT: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = i / 255;
  return t;
})();

/**
 * Write the augmented q x q window at (x0, y0) of an interleaved RGB uint8 image of width `w`
 * into `out` (HWC float32, values x/255) starting at `outOffset`.
 * Output (i, j) reads crop (r, c) with (r, c) = transpose ? (j, i) : (i, j), then r -> q-1-r
 * under vflip and c -> q-1-c under hflip: the inverse of applying hflip, vflip, transpose in order.
 */
export function gatherPatch(
  src: Uint8Array, w: number, x0: number, y0: number, q: number,
  plan: AugmentPlan, out: Float32Array, outOffset: number,
): void {
  // (r, c) = (r0 + ri*i + rj*j, c0 + ci*i + cj*j)
  let ri = plan.transpose ? 0 : 1, rj = plan.transpose ? 1 : 0;
  let ci = plan.transpose ? 1 : 0, cj = plan.transpose ? 0 : 1;
  let r0 = 0, c0 = 0;
  if (plan.vflip) { r0 = q - 1; ri = -ri; rj = -rj; }
  if (plan.hflip) { c0 = q - 1; ci = -ci; cj = -cj; }
  const base = ((y0 + r0) * w + x0 + c0) * 3;
  const stepI = (ri * w + ci) * 3, stepJ = (rj * w + cj) * 3;
  const [p0, p1, p2] = plan.perm;
  const lut = UINT8_TO_UNIT;
  let o = outOffset;
  for (let i = 0; i < q; i++) {
    let s = base + i * stepI;
    for (let j = 0; j < q; j++, s += stepJ, o += 3) {
      out[o] = lut[src[s + p0]!]!;
      out[o + 1] = lut[src[s + p1]!]!;
      out[o + 2] = lut[src[s + p2]!]!;
    }
  }
}
