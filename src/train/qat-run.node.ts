// `mvsr train` with a quant: section: the --init model's deploy graph quantized to int8
// (calibrated on quant.calib), then fine-tuned with quantization in the loop for train.total_iter
// steps on datasets.train (its lq_size patches, batch_size_per_gpu, optim_g.lr cosine-decayed):
// an image model on an HRFolder's photos, a video model's step graph on a VideoFolder's clips
// (num_frame-frame sequences, the state carried, include/exclude/max_frames honoured), written as
// <run dir>/models/<name>-int8.safetensors (a graph file).
import { join } from 'node:path';
import { initEngine } from '../tensor/engine.js';
import { createAnyModel, toGraph, stepGraph, getArch } from '../models/registry.js';
import type { SRModel, VideoSRModel } from '../models/types.js';
import { calibrateGraph } from '../eval/calibrate.js';
import { loadCalibrationData } from '../eval/calibration.node.js';
import { encodeGraphFile } from '../graph/file.js';
import { saveSafetensorsFile } from '../io/weights.node.js';
import { fineTuneGraph } from './graph-tune.node.js';
import type { TrainConfig } from './config.js';
import type { StateDict } from '../nn/module.js';
import { makeDirs } from '../io/files.node.js';
import { listClips } from '../data/clips.node.js';
import { listImages } from '../data/sources.node.js';

/** The TrainOptions a quant: run reads. */
export interface QuantRunOptions {
  runDir?: string;
  resume?: boolean;
  init?: string;
  threads?: number;
  onStatus?: (s: { iter: number; total: number; loss: number; lr: number; itPerSec: number; etaSeconds: number; lastVal: null }) => void;
  onMessage?: (line: string) => void;
}

export async function trainQuantized(
  cfg: TrainConfig, o: QuantRunOptions, init: (path: string) => { tensors: StateDict; describe: string },
): Promise<{ runDir: string; iter: number; stoppedBy: 'done'; elapsedSeconds: number; lastVal: null; best: null; modelFile: string }> {
  const q = cfg.quant!;
  const say = o.onMessage ?? ((l: string) => process.stderr.write(l + '\n'));
  if (o.resume) throw new Error('mvsr train: a quant: run does not resume; start it again (it is short: train.total_iter fine-tuning steps)');
  if (!o.init) throw new Error('mvsr train: a quant: run quantizes a trained float model: pass it with --init <model file>');
  const { type, ...args } = cfg.network_g;
  const video = getArch(type).kind === 'video', dt = cfg.datasets.train;
  if (video && dt.type !== 'VideoFolder') throw new Error(`mvsr train: quant: fine-tunes the video model ${type} on clips: datasets.train must be a VideoFolder, not ${dt.type}`);
  if (!video && dt.type !== 'HRFolder') throw new Error(`mvsr train: quant: fine-tunes the image model ${type} on an HRFolder dataset, not ${dt.type}`);
  if (dt.hr_scales.length !== 1 || dt.hr_scales[0] !== 1) throw new Error(`mvsr train: quant: fine-tunes on the images as they are; datasets.train.hr_scales [${dt.hr_scales.join(', ')}] is for float training: remove it`);
  // the training data is looked at before the (long) calibration: an empty selection stops here
  for (const r of dt.dataroot_gt) {
    if (video) await listClips(r, { include: dt.include ?? undefined, exclude: dt.exclude ?? undefined });
    else if (!(await listImages(r, true)).length) throw new Error(`mvsr: ${r}: no PNG/JPEG/WebP images to fine-tune on`);
  }
  const t0 = performance.now();
  await initEngine({ threads: o.threads });
  const runDir = o.runDir ?? join(cfg.path.experiments_root, cfg.name);
  const model = createAnyModel(type, args);
  let g;
  try {
    const src = init(o.init);
    try {
      model.loadStateDict(src.tensors);
    } catch (e) {
      throw new Error(`mvsr train: --init ${o.init} does not fit ${type}: ${(e as Error).message.replace(/^mvsr: (loadStateDict: )?/, '')}`);
    }
    say(`quantizing ${src.describe} (${type} x${cfg.scale}) to int8: calibration on ${q.calib}, then ${cfg.train.total_iter} steps of quantization-aware training`);
    g = video ? stepGraph(model as VideoSRModel) : toGraph(model as SRModel);
  } finally {
    model.dispose();
  }
  const { samples, files } = await loadCalibrationData(q.calib, video, { scale: cfg.scale, count: q.samples, patch: q.patch, frames: q.frames, seed: cfg.manual_seed });
  let qg;
  try {
    qg = await calibrateGraph(g, samples, { method: q.method, splitOutliers: q.outlier_split, provenance: { folder: q.calib, files: files.length, patch: q.patch } });
  } finally {
    for (const s of samples) for (const t of s.frames) t.dispose();
  }
  let last = 0;
  const tuned = await fineTuneGraph(qg, {
    dirs: dt.dataroot_gt, iterations: cfg.train.total_iter, lr: cfg.train.optim_g.lr, batchSize: dt.batch_size_per_gpu, patch: dt.lq_size,
    seed: cfg.manual_seed, cacheDir: dt.cache_dir ?? undefined, learnRanges: q.ranges === 'learn', rangeLr: q.range_lr ?? undefined, target: q.target,
    ...(video ? { numFrame: dt.num_frame, clips: { include: dt.include ?? undefined, exclude: dt.exclude ?? undefined, maxFrames: dt.max_frames } } : {}),
    onStep: (it, loss) => {
      last = loss;
      const rate = it / ((performance.now() - t0) / 1000);
      o.onStatus?.({ iter: it, total: cfg.train.total_iter, loss, lr: cfg.train.optim_g.lr, itPerSec: rate, etaSeconds: (cfg.train.total_iter - it) / rate, lastVal: null });
      if (it % cfg.logger.print_freq === 0) say(`iter ${it}/${cfg.train.total_iter}: L1 ${loss.toFixed(5)}`);
    },
  });
  makeDirs(join(runDir, 'models'));
  const modelFile = join(runDir, 'models', `${cfg.name}-int8.safetensors`);
  const { tensors, metadata } = encodeGraphFile(tuned);
  saveSafetensorsFile(modelFile, tensors, metadata);
  say(`wrote ${modelFile} (last L1 ${last.toFixed(5)})`);
  return { runDir, iter: cfg.train.total_iter, stoppedBy: 'done', elapsedSeconds: (performance.now() - t0) / 1000, lastVal: null, best: null, modelFile };
}
