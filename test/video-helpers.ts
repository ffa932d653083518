// Shared by the video tests: small configurations of every video architecture, a synthetic clip,
// the autograd reference (the whole clip in one forwardClip call) and the frame comparison.
import assert from 'node:assert/strict';
import { mulberry32, randomize } from './helpers.js';
import { createVideoModel } from '../src/models/registry.js';
import { forwardClip, type VideoSRModel } from '../src/models/vsr.js';
import { leaf, noGrad, clearTape } from '../src/autograd/var.js';
import { Tensor } from '../src/tensor/tensor.js';
import { float32ToImage, type Image } from '../src/io/image.js';

export const SMALL_VIDEO: [string, Record<string, unknown>][] = [
  ['RLSP', { upscale: 2, num_feat: 6, num_layer: 3 }],
  ['MobileRRN', { upscale: 2, num_feat: 6, num_block: 2 }],
  ['SWRN', { upscale: 2, num_feat: 6, num_block: 1, chunk: 3 }],
  ['MultiFramePlain', { upscale: 2, num_feat: 6, num_block: 1, num_frame: 3 }],
  ['MultiFramePlain', { upscale: 3, num_feat: 4, num_block: 1, num_frame: 1 }],
  ['MultiFramePlain', { upscale: 2, num_feat: 4, num_block: 2, num_frame: 1, block: 'residual' }],
  ['MobileRRN', { upscale: 2, num_feat: 6, num_block: 2, align: 'global', align_radius: 2 }],
  ['RLSP', { upscale: 2, num_feat: 6, num_layer: 3, align: 'global', align_radius: 2 }],
  ['SlidingWindowVSR', { upscale: 2, num_feat: 6, num_block: 1, chunk: 3 }],
  ['SlidingWindowVSR', { upscale: 2, num_feat: 6, num_block: 2, chunk: 2, groups: 2 }],
  ['SlidingWindowVSR', { upscale: 2, num_feat: 8, num_block: 1, chunk: 3, partial: 4 }],
  ['SlidingWindowVSR', { upscale: 2, num_feat: 16, num_block: 1, chunk: 2, block: 'imdb' }],
  ['SlidingWindowVSR', { upscale: 2, num_feat: 6, num_block: 1, chunk: 3, block: 'vab' }],
  ['RECBSR', { upscale: 2, num_feat: 6, num_block: 1, align: 'none' }],
  ['RECBSR', { upscale: 3, num_feat: 4, num_block: 2, align: 'global', align_radius: 2 }],
  ['RECBSR', { upscale: 2, num_feat: 4, num_block: 1, align: 'global', align_radius: 2, feedback: true }],
];

/** SlidingWindowVSR with RLFN's block, whose attention (stride-2 conv, 7x7 max pool stride 3) needs frames of at least 15x15. */
export const RLFB_VIDEO: [string, Record<string, unknown>] = ['SlidingWindowVSR', { upscale: 2, num_feat: 8, num_block: 1, chunk: 3, block: 'rlfb' }];

/** The clip tests' cases with their frame size (width, height): SMALL_VIDEO on 9x7, RLFB_VIDEO on 20x16. */
export const VIDEO_CASES: [string, Record<string, unknown>, number, number][] = [
  ...SMALL_VIDEO.map(([arch, args]): [string, Record<string, unknown>, number, number] => [arch, args, 9, 7]),
  [...RLFB_VIDEO, 20, 16],
];

export function clipImages(T: number, W: number, H: number, seed: number): Image[] {
  const r = mulberry32(seed);
  // a moving pattern plus noise, so neighbouring frames differ but correlate
  return Array.from({ length: T }, (_, t) => float32ToImage(Float32Array.from({ length: W * H * 3 }, (_, i) => {
    const p = Math.floor(i / 3), x = p % W, y = Math.floor(p / W);
    return 0.5 + 0.3 * Math.sin((x + 0.7 * t) / 2.1 + (i % 3)) * Math.cos((y - 0.4 * t) / 2.7) + 0.1 * (r() - 0.5);
  }), W, H, 3, 8));
}

export function model(arch: string, args: Record<string, unknown>, seed = 7, amplitude = 0.3): VideoSRModel {
  const m = createVideoModel(arch, args);
  randomize(m, amplitude, seed);
  return m;
}

/** The clip in one forwardClip call, as 8-bit images. */
export function wholeClip(m: VideoSRModel, clip: Image[]): Image[] {
  const vars = clip.map((img) => leaf(Tensor.from([1, img.height, img.width, 3], Float32Array.from(img.data, (v) => v / 255))));
  try {
    return noGrad(() => forwardClip(m, vars)).map((y) => float32ToImage(y.value.data, y.shape[2]!, y.shape[1]!, 3, 8));
  } finally {
    clearTape();
    vars.forEach((v) => v.value.dispose());
  }
}

/**
 * The step graph's frames against the autograd forward's: the same uint8 values on at least
 * 99.9% of the pixels and never more than one level apart (the fused kernels sum in another
 * order; an aligned model's shift goes through float32).
 */
export function assertSameFrames(got: Image[], ref: Image[], what: string): void {
  let n = 0, same = 0, worst = 0;
  got.forEach((g, t) => {
    const r = ref[t]!.data;
    assert.equal(g.data.length, r.length, `${what} frame ${t}: size`);
    for (let i = 0; i < r.length; i++) {
      const d = Math.abs(g.data[i]! - r[i]!);
      n++;
      if (d === 0) same++;
      worst = Math.max(worst, d);
    }
  });
  assert.ok(worst <= 1 && same >= 0.999 * n, `${what}: ${same} of ${n} values equal, largest difference ${worst} levels`);
}

