// Tiled inference: the LR image is cut into tiles, each run with a halo of real neighbouring
// pixels, and the tiles' cores are stitched into HR row bands. With a halo at least the model's
// receptive-field radius the result equals whole-image inference exactly (for local convolutions;
// global channel statistics, ESA's pooled gate and window attention see the tile, which moves a
// few values by one 8-bit level: README, Tiles); memory is bounded by the tile size, and bands can
// be streamed to an encoder. Tiles run on a runtime backend.
import { Tensor } from '../tensor/tensor.js';
import type { Backend } from './backend.js';
import { tensorToPixels } from '../tensor/ops/pixels.js';
import { yieldToEventLoop } from '../tensor/platform.js';

/** A float image, interleaved HWC, values nominally in [0, 1]. */
export interface FloatImage {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
}

export interface TileOptions {
  /** Tile edge in LR pixels (default 256); a tile >= the image means whole-image inference. */
  tile?: number;
  /** LR pixels of context on each side of a tile (default 16). */
  halo?: number;
  signal?: AbortSignal;
  /** Called after every tile with (tilesDone, tilesTotal). */
  onProgress?: (done: number, total: number) => void;
  /** Bands as 8- or 16-bit pixels (rounded as float32ToImage, in a kernel per tile) instead of floats. */
  pixels?: 8 | 16;
}

export interface HrBand {
  /** First HR row of the band. */
  y: number;
  height: number;
  width: number;
  channels: number;
  /** Floats, or pixels when TileOptions.pixels is set. */
  data: Float32Array | Uint8Array | Uint16Array;
}

function abortError(signal: AbortSignal): Error {
  const r = signal.reason;
  return r instanceof Error ? r : new Error('mvsr: upscale aborted');
}

/** Upscale `img` on a backend running a one-input graph (NHWC in, NHWC out, integer `scale`), yielding HR row bands top to bottom. */
export async function* upscaleBands(backend: Backend, scale: number, img: FloatImage, o: TileOptions = {}): AsyncGenerator<HrBand> {
  const tile = Math.max(1, Math.floor(o.tile ?? 256));
  const halo = Math.max(0, Math.floor(o.halo ?? 16));
  const { width: W, height: H, channels: C } = img;
  if (img.data.length !== W * H * C) {
    throw new Error(`mvsr: upscale: image data has ${img.data.length} values, expected ${W}x${H}x${C}`);
  }
  const nty = Math.ceil(H / tile), ntx = Math.ceil(W / tile);
  const total = nty * ntx;
  let done = 0;
  const HW = W * scale;
  for (let ty = 0; ty < nty; ty++) {
    const y0 = ty * tile, y1 = Math.min(H, y0 + tile);
    const n = (y1 - y0) * scale * HW * C;
    const band = o.pixels === 8 ? new Uint8Array(n) : o.pixels === 16 ? new Uint16Array(n) : new Float32Array(n);
    for (let tx = 0; tx < ntx; tx++) {
      if (o.signal?.aborted) throw abortError(o.signal);
      const x0 = tx * tile, x1 = Math.min(W, x0 + tile);
      const ry0 = Math.max(0, y0 - halo), ry1 = Math.min(H, y1 + halo);
      const rx0 = Math.max(0, x0 - halo), rx1 = Math.min(W, x1 + halo);
      const rh = ry1 - ry0, rw = rx1 - rx0;
      const input = Tensor.empty([1, rh, rw, C]);
      const d = input.data;
      for (let y = 0; y < rh; y++) {
        const src = ((ry0 + y) * W + rx0) * C;
        d.set(img.data.subarray(src, src + rw * C), y * rw * C);
      }
      let out: Tensor | null = null;
      try {
        out = await backend.run(input);
        const [, oh, ow, oc] = out.shape as [number, number, number, number];
        if (oh !== rh * scale || ow !== rw * scale || oc !== C) {
          throw new Error(`mvsr: upscale: the backend mapped [1,${rh},${rw},${C}] to [${out.shape.join(',')}], expected x${scale} with ${C} channels`);
        }
        const od = o.pixels ? tensorToPixels(out, o.pixels) : out.data;
        // copy the tile's core (without halo) into the band
        const cy0 = (y0 - ry0) * scale, cx0 = (x0 - rx0) * scale;
        const ch = (y1 - y0) * scale, cw = (x1 - x0) * scale;
        for (let y = 0; y < ch; y++) {
          const src = ((cy0 + y) * ow + cx0) * C;
          band.set(od.subarray(src, src + cw * C) as never, (y * HW + x0 * scale) * C);
        }
      } finally {
        out?.dispose();
        input.dispose();
      }
      done++;
      o.onProgress?.(done, total);
      // let abort signals and progress rendering through between tiles
      await yieldToEventLoop();
    }
    yield { y: y0 * scale, height: (y1 - y0) * scale, width: HW, channels: C, data: band };
  }
}

/** Whole HR image assembled from the bands (for images that fit in memory). */
export async function upscaleFloat(backend: Backend, scale: number, img: FloatImage, o: TileOptions = {}): Promise<FloatImage> {
  const out = new Float32Array(img.width * scale * img.height * scale * img.channels);
  for await (const b of upscaleBands(backend, scale, img, { ...o, pixels: undefined })) out.set(b.data, b.y * b.width * b.channels);
  return { width: img.width * scale, height: img.height * scale, channels: img.channels, data: out };
}
