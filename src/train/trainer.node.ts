// The training loop behind `mvsr train`: BasicSR-style iteration-based training with
// deterministic batches, EMA, validation, a JSONL log and atomic checkpoints from which a run
// killed at any point resumes exactly (same batches, same optimizer state, same weights).
import { appendFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { initEngine } from '../tensor/engine.js';
import { trainQuantized } from './qat-run.node.js';
import { Tensor } from '../tensor/tensor.js';
import { leaf, constant, backward, clearTape, type Var } from '../autograd/var.js';
import { l1Loss, mseLoss, charbonnierLoss } from '../autograd/ops/loss.js';
import { add, mul } from '../autograd/ops/pointwise.js';
import { manualSeed } from '../nn/init.js';
import { createAnyModel, deployModel, getArch, toGraph, type SRModel } from '../models/registry.js';
import { forwardClip, type VideoSRModel } from '../models/vsr.js';
import { loadValClips } from '../data/videoSources.node.js';
import { minMotionSize } from '../data/motion.js';
import { evaluateVideo } from '../eval/video.js';
import { Adam } from './optim.js';
import { LRScheduler } from './schedulers.js';
import { ModelEMA } from './ema.js';
import { clipGradNorm } from './clip.js';
import { frozenParameterNames, isFrozenAt, type TrainConfig, type LossConfig, type DistillSection } from './config.js';
import { saveCheckpoint, loadCheckpoint, type TrainState } from './checkpoint.node.js';
import { createBatchLoader, type BatchLoader, type SourceSpec } from '../data/loader.js';
import { makeTeacherTargets } from './teacher-targets.node.js';
import { hasTargetFiles } from '../data/targets.node.js';
import { loadValSet } from '../data/sources.node.js';
import { evalPair, withBackend } from '../eval/image.js';
import { createBackend, type Backend } from '../runtime/backend.js';
import { loadWeightsFile, saveSafetensorsFile } from '../io/weights.node.js';
import { initProvenance, provenanceOverrides } from './lineage.js';
import { encodeModelMetadata } from '../io/weights.js';
import type { StateDict } from '../nn/module.js';
import { makeDirs } from '../io/files.node.js';
import { widenConvInputs } from '../models/surgery.js';

export interface TrainOptions {
  /** Run directory (default <experiments_root>/<name>). */
  runDir?: string;
  /** Continue from the run directory's checkpoint. */
  resume?: boolean;
  /** Stop cleanly (with a checkpoint) after this many minutes of this session. */
  maxMinutes?: number;
  /** Initialise from another model's weights (fine-tuning): a model file or a run directory (its checkpoint, training form); names and shapes must fit. */
  init?: string;
  threads?: number;
  signal?: AbortSignal;
  /** Live status for a progress line. */
  onStatus?: (s: TrainStatus) => void;
  onMessage?: (line: string) => void;
  /**
   * Loads the teacher of a config with a distill: section (mvsr train resolves distill.teacher as
   * it resolves --model): the model, and the name and SHA-256 of its file (recorded in the exported
   * model). Called once the engine is up.
   */
  loadTeacher?: (d: DistillSection) => { model: SRModel; name: string; sha256: string };
}

export interface TrainStatus {
  iter: number;
  total: number;
  loss: number;
  lr: number;
  itPerSec: number;
  etaSeconds: number;
  lastVal: { psnr: number; ssim: number } | null;
}

export interface TrainResult {
  runDir: string;
  iter: number;
  stoppedBy: 'done' | 'time' | 'signal' | 'nan';
  elapsedSeconds: number;
  lastVal: { psnr: number; ssim: number } | null;
  best: TrainState['best'];
  modelFile: string | null;
}

/** What must match for a checkpoint to continue this config. */
export function runIdentity(cfg: TrainConfig, networkG: Record<string, unknown> = cfg.network_g): string {
  // the sequence keys enter only for video datasets, so image runs keep the identity they had before those keys existed
  // likewise mine_patches, only when it mines, and hr_scales, only when it holds more than the images as they are
  const { num_frame, flip_sequence, include, exclude, max_frames, motion_shift, motion_zoom, motion_rotate, mine_patches, hr_scales, ...imageData } = cfg.datasets.train;
  const scaled = !!hr_scales && (hr_scales.length !== 1 || hr_scales[0] !== 1);
  const data = cfg.datasets.train.type === 'VideoFolder' || num_frame > 1 ? cfg.datasets.train : { ...imageData, ...(mine_patches > 1 ? { mine_patches } : {}), ...(scaled ? { hr_scales } : {}) };
  const id = {
    network_g: networkG, scale: cfg.scale, seed: cfg.manual_seed, data, optim: cfg.train.optim_g, loss: cfg.train.pixel_opt, aux: cfg.train.aux_opt,
    // distill.precompute enters only when on, so earlier distillation runs keep their identity
    ...(cfg.distill ? { distill: distillIdentity(cfg.distill) } : {}),
  };
  return createHash('sha256').update(JSON.stringify(id)).digest('hex').slice(0, 16);
}

function distillIdentity(d: DistillSection): object {
  const { precompute, ...rest } = d;
  return precompute ? d : rest;
}

/**
 * The identities a checkpoint of this run may carry: runIdentity, and the same with any one
 * network argument that is at its default left out. network_g holds every argument resolved, so
 * a checkpoint written before its architecture gained an argument (at its default, the model
 * unchanged) still resumes.
 */
export function resumableIdentities(cfg: TrainConfig): string[] {
  const { type, ...args } = cfg.network_g;
  const defaults = getArch(type).defaults;
  const ids = [runIdentity(cfg)];
  for (const k of Object.keys(args)) {
    if (k in defaults && args[k] === defaults[k]) {
      const { [k]: _dropped, ...rest } = cfg.network_g;
      ids.push(runIdentity(cfg, rest));
    }
  }
  return ids;
}

function lossFn(c: LossConfig): (p: Var, t: Var) => Var {
  const w = c.loss_weight;
  const base = c.type === 'L1Loss' ? l1Loss : c.type === 'MSELoss' ? mseLoss : (p: Var, t: Var) => charbonnierLoss(p, t, c.eps);
  if (w === 1) return base;
  return (p, t) => {
    const l = base(p, t);
    return mul(l, constant(Tensor.full([1], w)));
  };
}


export async function train(cfg: TrainConfig, o: TrainOptions = {}): Promise<TrainResult> {
  if (cfg.quant) return trainQuantized(cfg, o, loadInit);
  const say = o.onMessage ?? ((l: string) => process.stderr.write(l + '\n'));
  const runDir = o.runDir ?? join(cfg.path.experiments_root, cfg.name);
  const logFile = join(runDir, 'train_log.jsonl');
  const ckpt = o.resume ? loadCheckpoint(runDir) : null;
  if (o.resume && !ckpt) throw new Error(`mvsr train: --resume: no checkpoint in ${runDir}`);
  if (!o.resume && (existsSync(join(runDir, 'checkpoint')) || existsSync(join(runDir, 'checkpoint.old')))) {
    throw new Error(`mvsr train: ${runDir} already holds a checkpoint: pass --resume to continue it, or give the run another name`);
  }
  const identity = runIdentity(cfg);
  if (ckpt && !resumableIdentities(cfg).includes(ckpt.state.configHash)) {
    throw new Error(`mvsr train: the checkpoint in ${runDir} belongs to a different run (model, data, optimizer, loss or seed changed)`);
  }
  makeDirs(runDir);
  await initEngine({ threads: o.threads });
  manualSeed(cfg.manual_seed);
  const { type, ...args } = cfg.network_g;
  const video = getArch(type).kind === 'video';
  const model = createAnyModel(type, args);
  model.train();
  if (cfg.train.aux_opt && typeof (model as { forwardDual?: unknown }).forwardDual !== 'function') {
    model.dispose();
    throw new Error(`mvsr train: train.aux_opt needs a dual-stream model (ETDS); ${type} has no residual stream`);
  }
  const names = [...model.namedParameters()].map(([n]) => n);
  const params = model.parameters();
  let initFrom: Record<string, string> | null = null;
  if (o.init && !ckpt) {
    const src = loadInit(o.init);
    const used = names.filter((n) => n in src.tensors).length;
    // an image model's first conv into a video model's wider one (RECBSR from ECBSRT): new inputs start at zero
    const { tensors, widened } = widenConvInputs(src.tensors, model);
    try {
      if (!used) throw new Error(`no parameter of ${type} is in it`);
      model.loadStateDict(tensors, false);
    } catch (e) {
      const d = deployModel(model);
      const deployArch = d.arch;
      if (d !== model) d.dispose();
      model.dispose();
      const why = (e as Error).message.replace(/^mvsr: (loadStateDict: )?/, '');
      const other = src.arch && src.arch !== type ? ` It holds ${src.arch} weights${src.arch === deployArch ? ` (the deploy form of ${type})` : ''}: fine-tune them as network_g.type: ${src.arch}, or pass a training run's directory (--init <run dir>) to start from its training-form weights.` : '';
      throw new Error(`mvsr train: --init ${o.init} does not fit ${type} (${why}).${other}`);
    }
    say(`initialised ${used}/${names.length} parameters from ${src.describe}${widened.length ? `; widened with zero weights for the new inputs: ${widened.join(', ')}` : ''}`);
    initFrom = src.provenance;
  }
  // what is made before the training loop, released if setting up fails (the loop's finally releases it after)
  const owned: (() => unknown)[] = [() => model.dispose()];
  const orRelease = async <T>(f: () => T | Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      for (const d of owned.splice(0).reverse()) await d();
      throw e;
    }
  };
  const og = cfg.train.optim_g;
  const opt = new Adam(params, { lr: og.lr, betas: og.betas, eps: og.eps, weightDecay: og.weight_decay, decoupled: og.type === 'AdamW' });
  owned.push(() => opt.dispose());
  const sched = new LRScheduler(og.lr, cfg.train.scheduler, cfg.train.warmup_iter);
  const ema = cfg.train.ema_decay > 0 ? new ModelEMA(model, cfg.train.ema_decay) : null;
  owned.push(() => ema?.dispose());
  const frozen = new Set(frozenParameterNames(names, cfg.train.fix_keys, type));
  const frozenParams = params.filter((_, i) => frozen.has(names[i]!));
  let state: TrainState = { iter: 0, seed: cfg.manual_seed, elapsedSeconds: 0, best: null, configHash: identity, config: cfg.source, ...(initFrom ? { init: initFrom } : {}) };
  if (ckpt) {
    await orRelease(() => {
      model.loadStateDict(ckpt.model);
      if (ema && ckpt.ema) ema.load(ckpt.ema);
      opt.setState(ckpt.optimizer);
    });
    state = ckpt.state;
    // drop log lines written after the checkpoint by the interrupted session
    if (existsSync(logFile)) {
      const kept = readFileSync(logFile, 'utf8').split('\n').filter((l) => l && (JSON.parse(l) as { iter: number }).iter <= state.iter);
      writeFileSync(logFile, kept.map((l) => l + '\n').join(''));
    }
    say(`resuming ${cfg.name} at iteration ${state.iter} of ${cfg.train.total_iter}`);
  } else if (existsSync(logFile)) writeFileSync(logFile, '');

  const dt = cfg.datasets.train;
  const T = dt.num_frame;
  const motion = dt.type === 'HRFolder' && T > 1 ? { maxShift: dt.motion_shift, maxZoom: dt.motion_zoom, maxRotate: dt.motion_rotate } : undefined;
  const source: SourceSpec = dt.type === 'HRFolder'
    ? { kind: 'hrFolder', dirs: dt.dataroot_gt, scale: cfg.scale, options: { cacheDir: dt.cache_dir ?? undefined, minHrSize: motion ? minMotionSize(dt.gt_size, T, motion) : undefined, hrScales: dt.hr_scales } }
    : dt.type === 'VideoFolder'
      ? { kind: 'videoFolder', roots: dt.dataroot_gt, scale: cfg.scale, options: { include: dt.include ?? undefined, exclude: dt.exclude ?? undefined, maxFrames: dt.max_frames, numFrame: T } }
      : { kind: 'paired', gtDir: dt.dataroot_gt[0]!, lqDir: dt.dataroot_lq![0]!, scale: cfg.scale, options: { filenameTmpl: dt.filename_tmpl } };
  // distillation: the teacher's deploy graph, without gradients, on each batch's LR patches or (precompute) once on each whole image
  let teacher: Backend | null = null, teacherModel: SRModel | null = null;
  // distill.precompute: where the targets are kept, and the teacher that makes the missing ones
  let precompute: { dir: string; backend: Backend; release: () => Promise<void> } | null = null;
  const distilLoss = cfg.distill ? lossFn(cfg.distill.loss) : null;
  const teacherInfo: Record<string, string> = {};
  if (cfg.distill) {
    const dc = cfg.distill;
    const { t, backend, release } = await orRelease(async () => {
      if (!o.loadTeacher) throw new Error(`mvsr train: the config distils from ${dc.teacher}: pass TrainOptions.loadTeacher (mvsr train does)`);
      const t = o.loadTeacher(dc);
      owned.push(() => t.model.dispose());
      if (t.model.scale !== cfg.scale) throw new Error(`mvsr train: distill.teacher ${dc.teacher} upscales x${t.model.scale}, the student x${cfg.scale}`);
      const backend = await createBackend(toGraph(t.model), { backend: 'wasm' });
      let released = false;
      const release = async () => { if (!released) { released = true; await backend.dispose(); } };
      owned.push(release);
      return { t, backend, release };
    });
    teacherModel = t.model;
    teacher = backend;
    teacherInfo.distilled_from = t.name;
    teacherInfo.distill_teacher_sha256 = t.sha256;
    say(`distilling from ${t.name} (${t.model.arch} x${t.model.scale}, SHA-256 ${t.sha256.slice(0, 12)}…), ${cfg.distill.loss.type} weight ${cfg.distill.loss.loss_weight}${dc.precompute ? ', targets precomputed on the whole images' : ''}`);
    // precomputed: the teacher runs once per image whose target is not on disk (openLoader, below); the steps read its output from the batches
    if (dc.precompute) {
      precompute = { dir: join(dt.cache_dir ?? runDir, `teacher-${t.sha256.slice(0, 16)}`), backend, release };
    }
  }
  const newLoader = (spec: SourceSpec, onWarning: (w: string) => void): BatchLoader => {
    const l = createBatchLoader(spec, {
      seed: cfg.manual_seed, batchSize: dt.batch_size_per_gpu, lrPatch: dt.lq_size, hflip: dt.use_hflip, rot: dt.use_rot,
      channelShuffle: dt.use_channel_shuffle, prefetch: dt.prefetch, numFrame: T, temporalFlip: dt.flip_sequence, motion,
      minePatches: dt.mine_patches, onWarning,
    });
    owned.push(() => l.close());
    return l;
  };
  const warn = (w: string) => say(`warning: ${w}`);
  // with precomputed targets: the teacher runs on the images whose target is not on disk yet, then is released
  const openLoader = async (pre: NonNullable<typeof precompute>): Promise<BatchLoader> => {
    const t0 = performance.now(), spec: SourceSpec = { ...source, targetDir: pre.dir };
    const done = (l: BatchLoader, made: number, reused: number) => {
      say(`teacher targets: ${made} computed, ${reused} reused from ${pre.dir} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      return l;
    };
    if (hasTargetFiles(pre.dir)) {
      // the loader the steps will use also says which targets are missing: when none is (every run
      // after the first), the images are decoded once instead of once here and once in the loader
      const held: string[] = [];
      const l = newLoader({ ...spec, missingTargets: 'report' }, (w) => held.push(w));
      const seen = await orRelease(() => l.ready);
      if (seen.missingTargets.length === 0) {
        held.forEach(warn);
        return done(l, 0, seen.names.length);
      }
      await l.close();
    }
    const r = await orRelease(() => makeTeacherTargets(source, dt.lq_size, pre.backend, pre.dir, say));
    return done(newLoader(spec, warn), r.made, r.reused);
  };
  const loader = precompute ? await openLoader(precompute) : newLoader(source, warn);
  if (precompute) {
    await precompute.release();
    teacher = null;
  }
  const vd = cfg.datasets.val;
  const valSet = vd && !video ? await orRelease(() => loadValSet(vd.dataroot_gt, cfg.scale, 12)) : [];
  const valClips = vd && video ? await orRelease(() => loadValClips(vd.dataroot_gt, { include: vd.include ?? undefined, exclude: vd.exclude ?? undefined, maxFrames: vd.max_frames })) : [];
  const info = await orRelease(() => loader.ready);
  const unit = video ? 'clips' : 'images';
  say(`${cfg.name}: ${type} x${cfg.scale}, ${model.numParameters()} parameters; ${info.names.length} training ${motion ? 'stills' : unit}${video ? ` (sequences of ${T} frames${motion ? ' filmed by a moving camera' : ''})` : ''}${info.skipped.length ? ` (${info.skipped.length} skipped)` : ''}; ${video ? valClips.length : valSet.length} validation ${unit}`);

  const pixel = lossFn(cfg.train.pixel_opt);
  const aux = cfg.train.aux_opt ? lossFn(cfg.train.aux_opt) : null;
  const evalModel = createAnyModel(type, args);
  const validate = async (): Promise<{ psnr: number; ssim: number }> => {
    if (ema) ema.copyTo(evalModel);
    else evalModel.loadStateDict(model.stateDict());
    evalModel.eval();
    let psnr = 0, ssim = 0;
    const crop = cfg.val?.metrics.psnr?.crop_border ?? cfg.scale;
    const testY = cfg.val?.metrics.psnr?.test_y_channel ?? true;
    if (video) {
      const r = await evaluateVideo(evalModel, valClips.map((c) => ({ name: c.name, frames: async function* () { yield* c.frames; } })), { scale: cfg.scale, cropBorder: crop });
      return testY ? { psnr: r.psnrY, ssim: r.ssimY } : { psnr: r.psnrRGB, ssim: r.ssimRGB };
    }
    // the deploy graph of the model as it stands, compiled once for the validation set
    await withBackend(evalModel as SRModel, 'wasm', async (b) => {
      for (const p of valSet) {
        const r = await evalPair(b, p.hr, p.lr, { scale: cfg.scale, cropBorder: crop, testY });
        psnr += r.psnr;
        ssim += r.ssim;
      }
    });
    return { psnr: psnr / valSet.length, ssim: ssim / valSet.length };
  };
  // provenance: `overrides` are those given to the session that writes the file (a JSON list),
  // less the local cache paths (`provenanceOverrides`)
  const kept = provenanceOverrides(cfg.overrides);
  const exportModel = (file: string, extra: Record<string, string>) => {
    if (ema) ema.copyTo(evalModel);
    else evalModel.loadStateDict(model.stateDict());
    const d = deployModel(evalModel);
    saveSafetensorsFile(file, d.stateDict(), encodeModelMetadata({
      arch: d.arch, args: d.args, scale: d.scale,
      provenance: {
        trained_by: 'mvsr', config: cfg.name, data: dt.dataroot_gt.join(', '), iterations: String(state.iter),
        total_iter: String(cfg.train.total_iter), ...(kept.length ? { overrides: JSON.stringify(kept) } : {}), wall_time_s: state.elapsedSeconds.toFixed(0), seed: String(cfg.manual_seed), ema: String(!!ema),
        ...(state.init ? state.init as Record<string, string> : {}), ...teacherInfo, ...extra,
      },
    }));
    if (d !== evalModel) d.dispose();
  };
  const save = () => saveCheckpoint(runDir, { model: model.stateDict(), ema: ema ? ema.stateDict() : null, optimizer: opt.getState(), paramNames: names, state });
  const log = (rec: object) => appendFileSync(logFile, JSON.stringify(rec) + '\n');

  /** The distillation loss of the student's output y against the teacher's on the same LR batch. */
  const teacherOuts: Tensor[] = [];
  const distilled = async (y: Var, x: Var, pre?: Tensor): Promise<Var> => {
    const target = pre ?? await teacher!.run(x.value);
    teacherOuts.push(target);
    return distilLoss!(y, constant(target));
  };

  const total = cfg.train.total_iter;
  const t0 = performance.now();
  const sessionStart = state.elapsedSeconds;
  let stoppedBy: TrainResult['stoppedBy'] = 'done';
  let lastVal: { psnr: number; ssim: number } | null = null;
  let window = { t: performance.now(), iters: 0, loss: 0 };
  try {
    while (state.iter < total) {
      // Prefetched batches resolve as microtasks, so without this the loop never reaches the
      // event loop's poll phase and signal handlers (SIGINT/SIGTERM -> o.signal) never run.
      await new Promise<void>((r) => setImmediate(r));
      if (o.signal?.aborted) { stoppedBy = 'signal'; break; }
      if (o.maxMinutes !== undefined && (performance.now() - t0) / 60000 >= o.maxMinutes) { stoppedBy = 'time'; break; }
      const iter = state.iter + 1;
      const lr = sched.lrAt(iter);
      opt.lr = lr;
      const batch = await loader.next(iter - 1);
      const B = dt.batch_size_per_gpu, P = dt.lq_size, Q = dt.gt_size, nl = B * P * P * 3, nh = B * Q * Q * 3;
      const xs = Array.from({ length: T }, (_, t) => leaf(Tensor.from([B, P, P, 3], batch.lr.subarray(t * nl, (t + 1) * nl))));
      const ts = Array.from({ length: T }, (_, t) => leaf(Tensor.from([B, Q, Q, 3], batch.hr.subarray(t * nh, (t + 1) * nh))));
      let lossVal: number;
      try {
        let loss: Var;
        if (video) {
          // backpropagation through time: the mean of the per-frame losses over the whole sequence
          const ys = forwardClip(model as VideoSRModel, xs);
          const terms = ys.map((y, t) => pixel(y, ts[t]!));
          // distillation from an image teacher: each frame against the teacher's output on that LR frame
          if (teacher) for (let t = 0; t < ys.length; t++) terms[t] = add(terms[t]!, await distilled(ys[t]!, xs[t]!));
          loss = terms.reduce((a, b) => add(a, b));
          if (T > 1) loss = mul(loss, constant(Tensor.full([1], 1 / T)));
        } else if (aux) {
          const dual = (model as unknown as { forwardDual(x: Var): { output: Var; residual: Var } }).forwardDual(xs[0]!);
          loss = add(pixel(dual.output, ts[0]!), aux(dual.residual, ts[0]!));
          if (teacher) loss = add(loss, await distilled(dual.output, xs[0]!));
          else if (batch.target) loss = add(loss, await distilled(dual.output, xs[0]!, Tensor.from([B, Q, Q, 3], batch.target)));
        } else {
          const y = (model as SRModel).forward(xs[0]!);
          loss = pixel(y, ts[0]!);
          if (teacher) loss = add(loss, await distilled(y, xs[0]!));
          else if (batch.target) loss = add(loss, await distilled(y, xs[0]!, Tensor.from([B, Q, Q, 3], batch.target)));
        }
        lossVal = loss.value.data[0]!;
        if (!Number.isFinite(lossVal)) {
          stoppedBy = 'nan';
          say(`mvsr train: the loss became ${lossVal} at iteration ${iter}; stopping. The last good checkpoint (iteration ${state.iter}) is kept; lower the learning rate or enable grad_clip.`);
          break;
        }
        backward(loss);
      } finally {
        clearTape();
        for (const v of [...xs, ...ts]) v.value.dispose();
        for (const t of teacherOuts.splice(0)) t.dispose();
      }
      if (isFrozenAt(cfg.train, iter)) for (const p of frozenParams) p.zeroGrad();
      if (cfg.train.grad_clip) clipGradNorm(params, cfg.train.grad_clip);
      opt.update();
      opt.zeroGrad();
      ema?.update(model);
      state.iter = iter;
      state.elapsedSeconds = sessionStart + (performance.now() - t0) / 1000;
      window.iters++;
      window.loss += lossVal;
      const now = performance.now();
      const itS = window.iters / Math.max(1e-9, (now - window.t) / 1000);
      o.onStatus?.({ iter, total, loss: lossVal, lr, itPerSec: itS, etaSeconds: (total - iter) / Math.max(itS, 1e-9), lastVal });
      if (iter % cfg.logger.print_freq === 0 || iter === total) {
        log({ iter, loss: window.loss / window.iters, lr, it_s: +itS.toFixed(3), time_s: +state.elapsedSeconds.toFixed(1) });
        window = { t: now, iters: 0, loss: 0 };
      }
      if (cfg.val && (valSet.length || valClips.length) && (iter % cfg.val.val_freq === 0 || iter === total)) {
        lastVal = await validate();
        log({ iter, val: lastVal });
        if (!state.best || lastVal.psnr > state.best.psnr) {
          state.best = { iter, ...lastVal };
          // marked like a snapshot when it comes from before the run's end, so that shipping it keeps that
          exportModel(join(runDir, 'best.safetensors'), { val_psnr: lastVal.psnr.toFixed(3), val_ssim: lastVal.ssim.toFixed(4), ...(iter < total ? { snapshot: 'true' } : {}) });
        }
      }
      if (iter % cfg.logger.save_checkpoint_freq === 0) save();
    }
    if (stoppedBy !== 'nan') save();
    let modelFile: string | null = null;
    if (stoppedBy === 'done') {
      modelFile = join(runDir, 'model.safetensors');
      exportModel(modelFile, lastVal ? { val_psnr: lastVal.psnr.toFixed(3), val_ssim: lastVal.ssim.toFixed(4) } : {});
      rmSync(join(runDir, 'snapshot.safetensors'), { force: true });
    } else if (stoppedBy !== 'nan' && state.iter > 0) {
      // a paused run: the model as it stands, to try or evaluate before the run ends (never model.safetensors)
      exportModel(join(runDir, 'snapshot.safetensors'), { snapshot: 'true' });
    }
    return { runDir, iter: state.iter, stoppedBy, elapsedSeconds: state.elapsedSeconds, lastVal, best: state.best, modelFile };
  } finally {
    loader.close();
    opt.dispose();
    ema?.dispose();
    evalModel.dispose();
    model.dispose();
    await teacher?.dispose();
    teacherModel?.dispose();
  }
}

/**
 * The weights `--init` names: a model file (any format mvsr reads), or a training run's directory,
 * whose newest checkpoint gives the training-form weights (the EMA ones when the run kept them):
 * the exported model of ETDS or ECBSR is the deploy form, which does not fit their training form.
 */
export function loadInit(path: string): { tensors: StateDict; arch: string | null; provenance: Record<string, string>; describe: string } {
  if (existsSync(path) && statSync(path).isDirectory()) {
    const ck = loadCheckpoint(path);
    if (!ck) throw new Error(`mvsr train: --init ${path}: a folder, but it holds no training checkpoint (checkpoint/state.json); give a model file or a run directory`);
    const st = ck.state;
    // the run's exported model (when there is one) says what the run was and what it started from
    // (its init_* and lineage); the checkpoint says where it stands
    const exported = join(path, 'model.safetensors');
    const m = existsSync(exported) ? loadWeightsFile(exported).metadata : {};
    const meta: Record<string, string> = {
      ...m, trained_by: m.trained_by ?? 'mvsr', iterations: String(st.iter), wall_time_s: st.elapsedSeconds.toFixed(0), seed: String(st.seed),
    };
    if (m.config === undefined && typeof st.config === 'string') meta.config = st.config;
    const which = ck.ema ? 'EMA' : 'model';
    return {
      tensors: ck.ema ?? ck.model, arch: null,
      provenance: initProvenance(path, meta, `${basename(resolve(path))}/checkpoint (${which})`),
      describe: `${path} (its checkpoint at iteration ${st.iter}, ${which} weights, training form)`,
    };
  }
  const { tensors, metadata } = loadWeightsFile(path);
  return { tensors, arch: typeof metadata.arch === 'string' ? metadata.arch : null, provenance: initProvenance(path, metadata), describe: path };
}

