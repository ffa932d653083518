// The evaluations of eval.ts and evalVideo.ts wired to files on disk, as `mvsr eval`,
// `mvsr eval-video`, scripts/ship-model.mjs and the shipped-model tests all run them: a folder
// of HR images, or a root of clips (video files, frame folders, Vimeo-90K/REDS layouts).
import { basename } from 'node:path';
import type { Module } from '../nn/module.js';
import type { SRModel } from '../models/registry.js';
import type { VideoSRModel } from '../models/vsr.js';
import { evaluate, type EvalOptions, type EvalResult, type EvalRow } from './eval.js';
import { evaluateVideo, type VideoEvalOptions, type VideoEvalResult, type FrameRow } from './evalVideo.js';
import { listImages } from '../data/sources.node.js';
import { listClips, type ClipRef } from '../data/clips.node.js';
import { readImage } from '../io/image.node.js';
import { openVideo } from '../io/video.node.js';

/** Every PNG/JPEG/WebP image of `dir` (not recursive, sorted by name), evaluated paper-style. */
export async function evaluateFolder(
  model: Module, dir: string, o: EvalOptions, onImage?: (row: EvalRow, i: number, n: number) => void,
): Promise<EvalResult> {
  const files = await listImages(dir);
  if (!files.length) throw new Error(`mvsr: ${dir}: no PNG/JPEG/WebP images`);
  return evaluate(model, files.map((f) => ({ name: basename(f), image: () => readImage(f) })), o, onImage);
}

/**
 * The clips of `root` whose names match `include` and not `exclude` (globs), every frame streamed
 * from disk; or the clips of a listClips() answer, when the caller listed them first (to report a
 * bad path before loading a model).
 */
export async function evaluateClips(
  model: SRModel | VideoSRModel, root: string | ClipRef[], select: { include?: string[]; exclude?: string[] }, o: VideoEvalOptions,
  onFrame?: (clip: string, frame: number, row: FrameRow) => void,
): Promise<VideoEvalResult> {
  const clips = typeof root === 'string' ? await listClips(root, select) : root;
  return evaluateVideo(
    model, clips.map((c) => ({ name: c.name, frames: async function* () { yield* (await openVideo(c.path)).frames(); } })), o, onFrame,
  );
}
