// Video evaluation (browser-safe): every frame of every clip, first and last included, through a
// VideoStream of the model's step graph (so recurrent models start from an empty state, as in
// use; an image model frame by frame, whole frames), LR made per frame by
// MATLAB bicubic from the mod-cropped HR. Per frame: PSNR/SSIM on Y (BT.601, BasicSR) and RGB with
// `cropBorder` pixels cropped; per clip: their means and a temporal-consistency figure, tPSNR =
// PSNR of the frame-to-frame change of the output against that of the ground truth (Y, cropped):
// flicker the ground truth does not have lowers it. The overall figures are means over clips.
import type { Image } from '../io/image.js';
import { makePair } from '../data/pairs.js';
import { calculatePsnr, calculateSsim, psnrFromMse, temporalSquaredError } from '../metrics/index.js';
import { toRGB, imageToTensor, tensorToImage } from '../io/image.js';
import { Tensor } from '../tensor/tensor.js';
import { stepGraph, toGraph, type SRModel } from '../models/registry.js';
import { isVideoModel, type VideoSRModel } from '../models/vsr.js';
import { VideoStream, type StepGraphSource } from '../runtime/video.js';
import { graphError, type Graph } from '../graph/ir.js';

export interface VideoEvalOptions {
  scale: number;
  /** Border pixels cropped before the metrics (default: scale). */
  cropBorder?: number;
  /** HR frames are cropped to a multiple of this (default: scale). */
  modCrop?: number;
  /**
   * Restart the model (empty state, edges replicated) every this many frames of a clip: 1 upscales
   * every frame as if it were a clip of its own, with no history and no look-ahead. Scored as usual
   * (tPSNR still spans the whole clip): compared with the default (the whole clip, no restart) it
   * says how much a video model gains from the other frames. Default: never.
   */
  restartEvery?: number;
  signal?: AbortSignal;
  /** Runtime backend (default 'wasm'). */
  backend?: string;
}

export interface FrameRow { frame: number; psnrY: number; ssimY: number; psnrRGB: number; ssimRGB: number }

export interface ClipRow {
  name: string;
  frames: FrameRow[];
  psnrY: number;
  ssimY: number;
  psnrRGB: number;
  ssimRGB: number;
  /** PSNR of consecutive-frame differences (output vs ground truth, Y); null for a one-frame clip. */
  tPsnrY: number | null;
}

export interface VideoEvalResult {
  clips: ClipRow[];
  psnrY: number;
  ssimY: number;
  psnrRGB: number;
  ssimRGB: number;
  tPsnrY: number | null;
  frames: number;
  /** Mean PSNR-Y / SSIM-Y of the i-th frame of every clip that has one (how a recurrent model warms up). */
  byPosition: { frame: number; clips: number; psnrY: number; ssimY: number }[];
  protocol: { scale: number; cropBorder: number; modCrop: number; lr: string; y: string; mean: string; temporal: string; restart?: string };
}

export interface ClipInput {
  name: string;
  /** The HR frames in order (streamed: a clip need not fit in memory). */
  frames: () => AsyncIterable<Image>;
}

/** A fixed deploy graph (a graph file: e.g. an int8 step graph) as a stream's source: steps of its own frame count only. */
function fixedSource(g: Graph): StepGraphSource {
  const count = g.meta.video?.count ?? 1;
  return {
    chunk: count,
    graph: (c: number) => {
      if (c !== count) throw graphError(g, null, `is a step graph of ${count} frames; a clip whose frame count leaves a step of ${c} needs the model itself`);
      return g;
    },
  };
}

export async function evaluateVideo(
  model: SRModel | VideoSRModel | Graph, clips: ClipInput[], o: VideoEvalOptions,
  onFrame?: (clip: string, frame: number, row: FrameRow) => void,
): Promise<VideoEvalResult> {
  const crop = o.cropBorder ?? o.scale, mod = o.modCrop ?? o.scale;
  const source = 'nodes' in model ? fixedSource(model)
    : isVideoModel(model)
      ? { chunk: model.chunk, graph: (count: number) => stepGraph(model, count) }
      : { chunk: 1, graph: () => toGraph(model) };
  // a quantized graph runs on the int8 backend unless one is named (createBackend's default)
  const stream = new VideoStream(source, { backend: o.backend });
  const images = (ts: Tensor[]): Image[] => {
    try {
      return ts.map((y) => tensorToImage(y, 8));
    } finally {
      for (const t of ts) t.dispose();
    }
  };
  const up = {
    push: async (lr: Image, c: { signal?: AbortSignal }) => images(await stream.push(imageToTensor(toRGB(lr)), c)),
    flush: async (c: { signal?: AbortSignal }) => images(await stream.flush(c)),
  };
  const rows: ClipRow[] = [];
  try {
    for (const clip of clips) {
      const gts: Image[] = []; // ground truth waiting for its output (bounded by the latency)
      const frames: FrameRow[] = [];
      let prev: { sr: Image; gt: Image } | null = null;
      let tSum = 0, tN = 0;
      const score = (sr: Image): void => {
        const gt = gts.shift()!;
        const y = { cropBorder: crop, testY: true }, rgb = { cropBorder: crop, testY: false };
        const row = { frame: frames.length, psnrY: calculatePsnr(sr, gt, y), ssimY: calculateSsim(sr, gt, y), psnrRGB: calculatePsnr(sr, gt, rgb), ssimRGB: calculateSsim(sr, gt, rgb) };
        frames.push(row);
        if (prev) {
          const e = temporalSquaredError(prev.sr, sr, prev.gt, gt, y);
          tSum += e.sum;
          tN += e.n;
        }
        prev = { sr, gt };
        onFrame?.(clip.name, row.frame, row);
      };
      let n = 0;
      for await (const hrIn of clip.frames()) {
        const { hr, lr } = makePair(hrIn, o.scale, mod);
        if (o.restartEvery && n > 0 && n % o.restartEvery === 0) for (const sr of await up.flush({ signal: o.signal })) score(sr);
        n++;
        gts.push(hr);
        for (const sr of await up.push(lr, { signal: o.signal })) score(sr);
      }
      for (const sr of await up.flush({ signal: o.signal })) score(sr);
      if (!frames.length) throw new Error(`mvsr: eval-video: clip ${clip.name} has no frames`);
      const mean = (f: (r: FrameRow) => number) => frames.reduce((a, r) => a + f(r), 0) / frames.length;
      rows.push({
        name: clip.name, frames,
        psnrY: mean((r) => r.psnrY), ssimY: mean((r) => r.ssimY), psnrRGB: mean((r) => r.psnrRGB), ssimRGB: mean((r) => r.ssimRGB),
        tPsnrY: tN ? psnrFromMse(tSum / tN) : null,
      });
    }
  } finally {
    await stream.dispose();
  }
  const mean = (f: (r: ClipRow) => number) => rows.reduce((a, r) => a + f(r), 0) / Math.max(1, rows.length);
  const tClips = rows.filter((r) => r.tPsnrY !== null);
  return {
    clips: rows,
    psnrY: mean((r) => r.psnrY), ssimY: mean((r) => r.ssimY), psnrRGB: mean((r) => r.psnrRGB), ssimRGB: mean((r) => r.ssimRGB),
    tPsnrY: tClips.length ? tClips.reduce((a, r) => a + r.tPsnrY!, 0) / tClips.length : null,
    frames: rows.reduce((a, r) => a + r.frames.length, 0),
    byPosition: Array.from({ length: Math.max(0, ...rows.map((r) => r.frames.length)) }, (_, i) => {
      const at = rows.filter((r) => r.frames.length > i).map((r) => r.frames[i]!);
      return { frame: i, clips: at.length, psnrY: at.reduce((a, x) => a + x.psnrY, 0) / at.length, ssimY: at.reduce((a, x) => a + x.ssimY, 0) / at.length };
    }),
    protocol: {
      scale: o.scale, cropBorder: crop, modCrop: mod, lr: 'MATLAB bicubic imresize per frame, uint8',
      y: 'BT.601 Y (BasicSR)', mean: 'per frame, then per clip, then over clips; every frame counted',
      ...(o.restartEvery ? { restart: `the model restarted (empty state, no frames across the cut) every ${o.restartEvery} frame(s)` } : {}),
      temporal: 'tPSNR: PSNR (peak 255) of (SR_t - SR_t-1) against (HR_t - HR_t-1) on Y, mean MSE over the clip',
    },
  };
}
