// `mvsr train` with a quant: section: the --init model's deploy graph quantized to int8
// (calibrated on quant.calib), then fine-tuned with quantization in the loop for train.total_iter
// steps on datasets.train's HR images (its lq_size patches, batch_size_per_gpu, optim_g.lr
// cosine-decayed), written as <run dir>/models/<name>-int8.safetensors (a graph file).
import { join } from 'node:path';
import { initEngine } from '../tensor/engine.js';
import { createModel, toGraph, getArch } from '../models/registry.js';
import { calibrateGraph } from '../eval/calibrate.js';
import { loadCalibrationData } from '../eval/calibration.node.js';
import { encodeGraphFile } from '../graph/file.js';
import { saveSafetensorsFile } from '../io/weights.node.js';
import { fineTuneGraph } from './graph-tune.node.js';
import type { TrainConfig } from './config.js';
import type { StateDict } from '../nn/module.js';
import { makeDirs } from '../io/files.node.js';

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
  if (getArch(type).kind === 'video') throw new Error(`mvsr train: quant: takes an image model; ${type} is a video model`);
  const dt = cfg.datasets.train;
  if (dt.type !== 'HRFolder') throw new Error(`mvsr train: quant: fine-tunes on an HRFolder dataset, not ${dt.type}`);
  const t0 = performance.now();
  await initEngine({ threads: o.threads });
  const runDir = o.runDir ?? join(cfg.path.experiments_root, cfg.name);
  const model = createModel(type, args);
  let g;
  try {
    const src = init(o.init);
    try {
      model.loadStateDict(src.tensors);
    } catch (e) {
      throw new Error(`mvsr train: --init ${o.init} does not fit ${type}: ${(e as Error).message.replace(/^mvsr: (loadStateDict: )?/, '')}`);
    }
    say(`quantizing ${src.describe} (${type} x${cfg.scale}) to int8: calibration on ${q.calib}, then ${cfg.train.total_iter} steps of quantization-aware training`);
    g = toGraph(model);
  } finally {
    model.dispose();
  }
  const { samples, files } = await loadCalibrationData(q.calib, false, { scale: cfg.scale, count: q.samples, patch: q.patch, seed: cfg.manual_seed });
  let qg;
  try {
    qg = await calibrateGraph(g, samples, { method: q.method, provenance: { folder: q.calib, files: files.length, patch: q.patch } });
  } finally {
    for (const s of samples) for (const t of s.frames) t.dispose();
  }
  let last = 0;
  const tuned = await fineTuneGraph(qg, {
    dirs: dt.dataroot_gt, iterations: cfg.train.total_iter, lr: cfg.train.optim_g.lr, batchSize: dt.batch_size_per_gpu, patch: dt.lq_size,
    seed: cfg.manual_seed, cacheDir: dt.cache_dir ?? undefined,
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
