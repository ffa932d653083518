// The evaluations of image.ts and video.ts wired to files on disk, as `mvsr eval`,
// `mvsr eval-video`, scripts/ship-model.mjs and the shipped-model tests all run them: a folder
// of HR images, or the clips listClips() found (video files, frame folders, Vimeo-90K/REDS layouts).
import { relative, sep } from 'node:path';
import type { SRModel } from '../models/registry.js';
import type { VideoSRModel } from '../models/vsr.js';
import type { Graph } from '../graph/ir.js';
import { evaluate, type EvalModel, type EvalOptions, type EvalResult, type EvalRow } from './image.js';
import { evaluateVideo, type VideoEvalOptions, type VideoEvalResult, type FrameRow } from './video.js';
import { listImages } from '../data/sources.node.js';
import type { ClipRef } from '../data/clips.node.js';
import { readImage } from '../io/image.node.js';
import { openVideo } from '../io/video.node.js';

/**
 * Every PNG/JPEG/WebP image under `dir`, evaluated paper-style. Sub-folders are searched as
 * training searches its HR folders, so a training set can be measured too; an image is named by
 * its path under `dir` (a benchmark folder's images by their file names).
 */
export async function evaluateFolder(
  model: EvalModel, dir: string, o: EvalOptions, onImage?: (row: EvalRow, i: number, n: number) => void,
): Promise<EvalResult> {
  const files = await listImages(dir, true);
  if (!files.length) throw new Error(`mvsr: ${dir}: no PNG/JPEG/WebP images`);
  return evaluate(model, files.map((f) => ({ name: relative(dir, f).split(sep).join('/'), image: () => readImage(f) })), o, onImage);
}

/** The clips of a listClips() answer, every frame streamed from disk (list first, then load the model: a bad path fails fast). */
export async function evaluateClips(
  model: SRModel | VideoSRModel | Graph, clips: ClipRef[], o: VideoEvalOptions, onFrame?: (clip: string, frame: number, row: FrameRow) => void,
): Promise<VideoEvalResult> {
  return evaluateVideo(
    model, clips.map((c) => ({ name: c.name, frames: async function* () { yield* (await openVideo(c.path)).frames(); } })), o, onFrame,
  );
}
