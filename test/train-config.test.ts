// Training configs: every shipped config loads and fits its stated budget; defaults are filled
// in; the ETDS repository's spellings mean the same as ours; overrides apply before checking;
// and each kind of mistake gives one line that names the key, the expectation and the finding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import {
  parseTrainConfig, ConfigError, closest, describeConfigSchema, frozenParameterNames, isFrozenAt,
  type TrainConfig,
} from '../src/train/config.js';
import { loadTrainConfig } from '../src/train/config.node.js';
import { useEngine } from './helpers.js';
import { createModel, createVideoModel } from '../src/models/registry.js';
import { videoMacsPerPixel } from '../src/models/vsr.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIGS = join(ROOT, 'configs');

const MINIMAL = `
name: tiny
scale: 4
network_g:
  type: ETDS
datasets:
  train:
    type: HRFolder
    dataroot_gt: data/hr
    gt_size: 96
train:
  optim_g:
    lr: !!float 5e-4
  total_iter: 1000
`;

/** The messages a config produces (it must fail). */
function problems(text: string, overrides: string[] = []): string[] {
  try {
    parseTrainConfig(text, 'train.yml', overrides);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.issues;
  }
  assert.fail('the config was accepted');
}

/** The step time a config states in its header ("Assumed N ms per step"), NaN when it states none. */
const assumedMs = (file: string) => Number(/Assumed (\d+(?:\.\d+)?) ms per step/.exec(readFileSync(file, 'utf8'))?.[1]);

function edit(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `test setup: '${from}' not in the config`);
  return text.replace(from, to);
}

test('every config in configs/ loads, names its file, and fits its stated time budget', async () => {
  await useEngine(1);
  const all = readdirSync(CONFIGS).filter((f) => f.endsWith('.yml')).sort();
  // the video, sliding-window and distillation configs have tests of their own (below)
  const own = [...VIDEO_CONFIGS, ...MOTION_CONFIGS, ALIGN_CONFIG, ...RLSP_CONFIGS, SW_CONFIG, ...DISTILL_CONFIGS, RECBSR_CONFIG];
  const files = all.filter((f) => !own.includes(f));
  assert.deepEqual(files, [
    'train_ABPN_M4C28_x4.yml', 'train_BSRN_S_x4.yml', 'train_ECBSR_M4C16_x4.yml', 'train_EFDN_x4.yml', 'train_ELSR_x4.yml', 'train_ESPCN_x4.yml', 'train_ETDS_M5C16_x4.yml',
    'train_IMDN_plus_x4.yml', 'train_IMDN_x4.yml', 'train_MobileSR_x4.yml', 'train_RFDN_x4.yml', 'train_RLFN_S_x4.yml', 'train_VapSR_S_x4.yml',
  ]);
  assert.deepEqual(all.filter((f) => VIDEO_CONFIGS.includes(f)), VIDEO_CONFIGS);
  assert.deepEqual(all.filter((f) => MOTION_CONFIGS.includes(f)), MOTION_CONFIGS);
  for (const f of files) {
    const path = join(CONFIGS, f);
    const c = loadTrainConfig(path);
    assert.equal(`train_${c.name}.yml`, f, `${f}: name`);
    assert.equal(c.scale, 4);
    assert.deepEqual(c.datasets.train.dataroot_gt, ['../shared/data/train/images'], `${f}: training data`);
    assert.equal(c.datasets.val?.dataroot_gt, '../shared/data/benchmarks/Set5', `${f}: validation data`);
    assert.equal(c.datasets.val?.name, 'Set5');
    assert.equal(c.datasets.train.gt_size, c.datasets.train.lq_size * 4);
    // the stated ms/step times total_iter stays within about 3 hours (and uses most of them)
    const ms = assumedMs(path);
    assert.ok(ms > 0, `${f}: states its assumed ms per step`);
    const hours = (c.train.total_iter * ms) / 3.6e6;
    assert.ok(hours >= 2 && hours <= 3.05, `${f}: ${c.train.total_iter} steps x ${ms} ms = ${hours.toFixed(2)} h`);
    // schedule inside the run, validation and checkpoints at least 20 times
    if (c.train.scheduler.type === 'MultiStepLR') for (const m of c.train.scheduler.milestones) assert.ok(m < c.train.total_iter);
    assert.ok(c.val && c.train.total_iter / c.val.val_freq >= 20, `${f}: val_freq`);
    assert.deepEqual(c.val.metrics.psnr, { type: 'calculate_psnr', crop_border: 4, test_y_channel: true });
    // the network builds from the resolved arguments
    const net = createModel(c.network_g.type, (({ type: _t, ...a }) => a)(c.network_g));
    assert.equal(net.scale, 4);
    net.dispose();
    // relative data paths are relative to the repository root (the working directory)
    if (existsSync(resolve(ROOT, '../shared/data'))) {
      assert.ok(existsSync(resolve(ROOT, c.datasets.train.dataroot_gt[0]!)), `${f}: training folder exists`);
      assert.ok(existsSync(resolve(ROOT, c.datasets.val!.dataroot_gt)), `${f}: Set5 exists`);
    }
  }
});

const VIDEO_CONFIGS = ['train_MobileRRN_x4.yml', 'train_MultiFramePlain1_x4.yml'];

/** A config without its name and network: what two runs of a comparison must share. */
const recipe = (c: ReturnType<typeof loadTrainConfig>) => JSON.stringify({ ...c, name: '', network_g: null, path: null, source: null });

test('the video configs: a recurrent model and a single-frame one of about its MACs, same data and recipe, Vimeo group 00001 held out', async () => {
  await useEngine(1);
  const [rec, single] = VIDEO_CONFIGS.map((f) => loadTrainConfig(join(CONFIGS, f)));
  const macs: number[] = [];
  for (const [f, c] of [[VIDEO_CONFIGS[0]!, rec!], [VIDEO_CONFIGS[1]!, single!]] as const) {
    assert.equal(`train_${c.name}.yml`, f);
    const d = c.datasets.train;
    assert.equal(d.type, 'VideoFolder');
    assert.deepEqual(d.dataroot_gt, ['../shared/data/train/video'], `${f}: only the shared video`);
    assert.ok(d.exclude?.includes('00001_*'), `${f}: Vimeo group 00001 is held out of training`);
    assert.deepEqual(c.datasets.val?.include, ['00001_*']);
    const ms = assumedMs(join(CONFIGS, f));
    assert.ok(ms > 0 && (c.train.total_iter * ms) / 3.6e6 <= 1.5, `${f}: states its assumed ms per step and fits 1.5 h`);
    const net = createVideoModel(c.network_g.type, (({ type: _t, ...a }) => a)(c.network_g));
    macs.push(videoMacsPerPixel(net));
    net.dispose();
  }
  assert.equal(rec!.network_g.type, 'MobileRRN');
  assert.equal(single!.network_g.num_frame, 1);
  assert.equal(single!.network_g.block, 'residual', 'the single-frame model keeps MobileRRN\'s residual trunk: only the recurrence differs');
  assert.ok(Math.abs(macs[0]! - macs[1]!) / macs[0]! < 0.02, `MACs per pixel ${macs[0]} vs ${macs[1]}`);
  assert.equal(recipe(single!), recipe(rec!), 'identical data, sequences and recipe: only the network differs');
});

const MOTION_CONFIGS = ['train_MobileRRN_x4_motion.yml', 'train_MultiFramePlain1_x4_motion.yml'];
const ALIGN_CONFIG = 'train_MobileRRN_x4_align_motion.yml';
const RLSP_CONFIGS = ['train_RLSP_x4.yml', 'train_RLSP_x4_motion.yml'];

test('the stage-2 video configs: stills filmed by a moving camera, the stage-1 networks (so --init fits), same data and recipe for both', async () => {
  await useEngine(1);
  const [rec, single] = MOTION_CONFIGS.map((f) => loadTrainConfig(join(CONFIGS, f)));
  for (const [i, c] of [rec!, single!].entries()) {
    const f = MOTION_CONFIGS[i]!;
    assert.equal(`train_${c.name}.yml`, f);
    const d = c.datasets.train;
    assert.equal(d.type, 'HRFolder');
    assert.deepEqual(d.dataroot_gt, ['../shared/data/train/images'], `${f}: stills only, no video frame of Vimeo 00001`);
    assert.ok(d.num_frame > 1 && d.motion_shift > 0, `${f}: sequences filmed by a moving camera`);
    assert.deepEqual(c.datasets.val?.include, ['00001_*']);
    const ms = assumedMs(join(CONFIGS, f));
    assert.ok(ms > 0 && (c.train.total_iter * ms) / 3.6e6 <= 1, `${f}: states its assumed ms per step and fits 1 h`);
    const stage1 = loadTrainConfig(join(CONFIGS, VIDEO_CONFIGS[i]!));
    assert.deepEqual(c.network_g, stage1.network_g, `${f}: the network of ${VIDEO_CONFIGS[i]}`);
  }
  assert.equal(recipe(single!), recipe(rec!), 'identical data, sequences and recipe: only the network differs');
  // the motion-compensated recurrent run: the same stage 2, the stage-1 network plus align: global
  const f = ALIGN_CONFIG;
  const al = loadTrainConfig(join(CONFIGS, f));
  assert.equal(`train_${al.name}.yml`, f);
  assert.equal(recipe(al), recipe(rec!), `${f}: the recipe of ${MOTION_CONFIGS[0]}`);
  assert.deepEqual(al.network_g, { ...rec!.network_g, align: 'global', align_radius: 4 }, `${f}: the stage-1 network with align: global`);
  const ms = assumedMs(join(CONFIGS, f));
  assert.ok(ms > 0 && (al.train.total_iter * ms) / 3.6e6 <= 1, `${f}: states its assumed ms per step and fits 1 h`);
});

test('the RLSP configs: stage 1 and stage 2 of the MobileRRN runs with RLSP 7-16 (aligned), no more MACs than the single-frame model', async () => {
  await useEngine(1);
  for (const [f, twin] of [[RLSP_CONFIGS[0]!, VIDEO_CONFIGS[0]!], [RLSP_CONFIGS[1]!, MOTION_CONFIGS[0]!]] as const) {
    const c = loadTrainConfig(join(CONFIGS, f)), t = loadTrainConfig(join(CONFIGS, twin));
    assert.equal(`train_${c.name}.yml`, f);
    assert.equal(recipe(c), recipe(t), `${f}: the data, sequences and recipe of ${twin}`);
    assert.equal(c.network_g.type, 'RLSP');
    assert.equal(c.network_g.align, 'global');
    const ms = assumedMs(join(CONFIGS, f));
    assert.ok(ms > 0 && (c.train.total_iter * ms) / 3.6e6 <= 1, `${f}: states its assumed ms per step and fits 1 h`);
  }
  const single = loadTrainConfig(join(CONFIGS, VIDEO_CONFIGS[1]!)), rl = loadTrainConfig(join(CONFIGS, RLSP_CONFIGS[0]!));
  const macs = [rl, single].map((c) => {
    const net = createVideoModel(c.network_g.type, (({ type: _t, ...a }) => a)(c.network_g));
    const m = videoMacsPerPixel(net);
    net.dispose();
    return m;
  });
  assert.ok(macs[0]! <= macs[1]!, `RLSP ${macs[0]} MACs per pixel, single-frame ${macs[1]}`);
});

const SW_CONFIG = 'train_SlidingWindowVSR_x4.yml';

test('the sliding-window config: the MobileRRN run with SlidingWindowVSR, fewer MACs', async () => {
  await useEngine(1);
  const c = loadTrainConfig(join(CONFIGS, SW_CONFIG)), t = loadTrainConfig(join(CONFIGS, VIDEO_CONFIGS[0]!));
  assert.equal(`train_${c.name}.yml`, SW_CONFIG);
  assert.equal(recipe(c), recipe(t), `${SW_CONFIG}: the data, sequences and recipe of ${VIDEO_CONFIGS[0]}`);
  assert.equal(c.network_g.type, 'SlidingWindowVSR');
  const ms = assumedMs(join(CONFIGS, SW_CONFIG));
  assert.ok(ms > 0 && (c.train.total_iter * ms) / 3.6e6 <= 1, `${SW_CONFIG}: states its assumed ms per step and fits 1 h`);
  const [sw, rrn] = [c, t].map((x) => createVideoModel(x.network_g.type, (({ type: _t, ...a }) => a)(x.network_g)));
  const macs = videoMacsPerPixel(sw!);
  assert.ok(macs < videoMacsPerPixel(rrn!), `SlidingWindowVSR ${macs} MACs per pixel`);
  assert.ok(readFileSync(join(CONFIGS, SW_CONFIG), 'utf8').includes(`${macs.toLocaleString('en-US')} MACs per LR pixel`), 'the header states the MACs');
  sw!.dispose(); rrn!.dispose();
});

// every distillation config and its official teacher
const DISTILL_TEACHERS: Record<string, RegExp> = {
  'train_ABPN_M4C28_x4_distill.yml': /VapSR_X4\.pth$/, 'train_ELSR_x4_distill.yml': /VapSR_X4\.pth$/, 'train_ESPCN_x4_distill.yml': /VapSR_X4\.pth$/,
  'train_ETDS_M5C16_x4_distill.yml': /ETDS_M7C48_x4\.pth$/, 'train_RLSP_x4_distill.yml': /ETDS_M7C48_x4\.pth$/,
};
const DISTILL_CONFIGS = Object.keys(DISTILL_TEACHERS);

test('the distillation configs: official DIV2K-trained teachers, a student that --init fits, held-out validation, a stated budget', async () => {
  await useEngine(1);
  assert.deepEqual(readdirSync(CONFIGS).filter((f) => f.includes('distill')).sort(), DISTILL_CONFIGS);
  const [abpn, elsr, esp, img, vid] = DISTILL_CONFIGS.map((f) => loadTrainConfig(join(CONFIGS, f)));
  for (const [i, c] of [abpn!, elsr!, esp!, img!, vid!].entries()) {
    const f = DISTILL_CONFIGS[i]!;
    assert.equal(`train_${c.name}.yml`, f);
    assert.ok(c.distill, `${f}: has a distill: section`);
    assert.match(c.distill.teacher, DISTILL_TEACHERS[f]!, `${f}: the official teacher`);
    assert.deepEqual(c.datasets.train.dataroot_gt, ['../shared/data/train/images'], `${f}: trains on the stills only`);
    if (existsSync(resolve(ROOT, '../shared/data'))) assert.ok(existsSync(resolve(ROOT, c.distill.teacher)), `${f}: the teacher exists`);
    const ms = assumedMs(join(CONFIGS, f));
    assert.ok(ms > 0, `${f}: states its assumed ms per step`);
    const hours = (c.train.total_iter * ms) / 3.6e6;
    // one session, or a header that says how to run it in stretches
    assert.ok(hours <= 3 || readFileSync(join(CONFIGS, f), 'utf8').includes('--max-minutes'), `${f}: ${hours.toFixed(2)} h and no word on running it in stretches`);
  }
  // the ABPN, ELSR and ESPCN students are the shipped abpn-m4c28-x4's, elsr-x4's and espcn-x4's networks, taught from targets made once per image
  for (const [c, base] of [[abpn!, 'train_ABPN_M4C28_x4.yml'], [elsr!, 'train_ELSR_x4.yml'], [esp!, 'train_ESPCN_x4.yml']] as const) {
    assert.deepEqual(c.network_g, loadTrainConfig(join(CONFIGS, base)).network_g, `${c.name}: the network of ${base}`);
    assert.equal(c.distill!.precompute, true, `${c.name}: precomputed targets`);
    assert.equal(c.datasets.val?.dataroot_gt, '../shared/data/benchmarks/Set5', `${c.name}: validates on Set5`);
  }
  // the ELSR experiment is one cosine cycle whose control is the same run with distill=null
  assert.equal(elsr!.train.scheduler.type, 'CosineAnnealingRestartLR');
  assert.equal(loadTrainConfig(join(CONFIGS, 'train_ELSR_x4_distill.yml'), ['distill=null']).distill, null, 'the control: distill=null turns the teacher off');
  // the image student is the shipped etds-t-x4's network, so --init weights/etds-t-x4.safetensors fits
  const shipped = loadTrainConfig(join(CONFIGS, 'train_ETDS_M5C16_x4.yml'));
  assert.deepEqual(img!.network_g, { ...shipped.network_g, type: 'ETDSForInference' });
  assert.equal(img!.datasets.val?.dataroot_gt, '../shared/data/benchmarks/Set5');
  // the video student is the RLSP of train_RLSP_x4.yml, validated on real clips that no training set of it holds
  assert.deepEqual(vid!.network_g, loadTrainConfig(join(CONFIGS, RLSP_CONFIGS[0]!)).network_g);
  assert.equal(vid!.datasets.train.type, 'HRFolder');
  assert.ok(vid!.datasets.train.num_frame > 1 && vid!.datasets.train.motion_shift > 0, 'sequences filmed by a moving camera');
  assert.deepEqual(vid!.datasets.val?.include, ['basketballpass', 'clips/vtest.avi']);
});

test('the ETDS config trains as the ETDS repository does: aux loss 0.5, residual stream frozen for 1/16 of the run', async () => {
  await useEngine(1);
  const c = loadTrainConfig(join(CONFIGS, 'train_ETDS_M5C16_x4.yml'));
  assert.deepEqual(c.train.pixel_opt, { type: 'L1Loss', loss_weight: 1, reduction: 'mean', eps: 0 });
  assert.deepEqual(c.train.aux_opt, { type: 'L1Loss', loss_weight: 0.5, reduction: 'mean', eps: 0 });
  assert.equal(c.train.fix_iter, c.train.total_iter / 16);
  assert.deepEqual(c.train.fix_keys, ['residual']);
  assert.equal(c.train.ema_decay, 0.999);
  assert.deepEqual(c.train.optim_g.betas, [0.9, 0.99]);
  const net = createModel('ETDS', { num_block: 5, num_feat: 16 });
  const frozen = frozenParameterNames([...net.namedParameters()].map(([n]) => n), c.train.fix_keys, 'ETDS');
  const streams = (n: string) => /^(conv_residual_first|residual_convs\.\d+|add_residual_convs\.\d+|conv_residual_last)\.(weight|bias)$/.test(n);
  assert.deepEqual(frozen, [...net.namedParameters()].map(([n]) => n).filter(streams));
  assert.equal(frozen.length, 2 * (1 + 5 + 5 + 1));
  net.dispose();
  // BasicSR/ETDS unfreeze when current_iter reaches fix_iter: frozen for iterations 1 .. fix_iter - 1
  assert.equal(isFrozenAt(c.train, 1), true);
  assert.equal(isFrozenAt(c.train, c.train.fix_iter - 1), true);
  assert.equal(isFrozenAt(c.train, c.train.fix_iter), false);
  assert.equal(isFrozenAt({ fix_iter: 0 }, 1), false);
  assert.throws(() => frozenParameterNames(['conv_first.weight', 'conv_residual_first.weight'], ['residul'], 'ETDS'),
    /train\.fix_keys: 'residul' matches no parameter of ETDS/);
});

test('defaults are filled in for everything not given', () => {
  const c = parseTrainConfig(MINIMAL, 'tiny.yml');
  const want: TrainConfig = {
    name: 'tiny',
    scale: 4,
    manual_seed: 0,
    network_g: { type: 'ETDS', num_in_ch: 3, num_out_ch: 3, upscale: 4, num_block: 5, num_feat: 16, num_residual_feat: 3 },
    datasets: {
      train: {
        name: 'train', type: 'HRFolder', dataroot_gt: ['data/hr'], dataroot_lq: null, filename_tmpl: '{}', gt_size: 96, lq_size: 24,
        use_hflip: true, use_rot: true, use_channel_shuffle: false, mine_patches: 1, hr_scales: [1], batch_size_per_gpu: 16, prefetch: 3, cache_dir: null,
        num_frame: 1, flip_sequence: false, include: null, exclude: null, max_frames: 100, motion_shift: 2, motion_zoom: 0.01, motion_rotate: 0.005,
      },
      val: null,
    },
    path: { experiments_root: 'experiments/tiny' },
    train: {
      ema_decay: 0,
      optim_g: { type: 'Adam', lr: 5e-4, weight_decay: 0, betas: [0.9, 0.999], eps: 1e-8 },
      scheduler: { type: 'MultiStepLR', milestones: [], gamma: 0.1, restarts: [0], restart_weights: [1] },
      total_iter: 1000,
      warmup_iter: -1,
      pixel_opt: { type: 'L1Loss', loss_weight: 1, reduction: 'mean', eps: 0 },
      aux_opt: null,
      fix_iter: 0,
      fix_keys: [],
      grad_clip: null,
    },
    val: null,
    logger: { print_freq: 100, save_checkpoint_freq: 5000 },
    quant: null,
    distill: null,
    source: 'tiny.yml',
    overrides: [],
  };
  assert.deepEqual(c, want);

  // validation data brings default validation settings: the paper protocol at this scale
  const v = parseTrainConfig(MINIMAL, 'v.yml', ['datasets.val={type: HRFolder, dataroot_gt: bench/Set14/}']);
  assert.equal(v.datasets.val?.name, 'Set14');
  assert.deepEqual(v.overrides, ['datasets.val={type: HRFolder, dataroot_gt: bench/Set14/}'], 'the overrides are kept, as given');
  assert.deepEqual(v.val, {
    val_freq: 5000,
    metrics: {
      psnr: { type: 'calculate_psnr', crop_border: 4, test_y_channel: true },
      ssim: { type: 'calculate_ssim', crop_border: 4, test_y_channel: true },
    },
  });

  // cosine defaults: one cycle over the run
  const cos = parseTrainConfig(MINIMAL, 'c.yml', ['train.scheduler={type: CosineAnnealingRestartLR, eta_min: 1e-7}']);
  assert.deepEqual(cos.train.scheduler, { type: 'CosineAnnealingRestartLR', periods: [1000], restart_weights: [1], eta_min: 1e-7 });
  // a metric without crop_border crops `scale` pixels; test_y_channel defaults to BasicSR's false
  const m = parseTrainConfig(MINIMAL, 'm.yml', ['datasets.val={type: HRFolder, dataroot_gt: s5}', 'val.metrics={p: {type: calculate_psnr}}']);
  assert.deepEqual(m.val?.metrics, { p: { type: 'calculate_psnr', crop_border: 4, test_y_channel: false } });
});

test("the ETDS repository's spellings load to the same config as ours", () => {
  const theirs = parseTrainConfig(`
name: e
scale: 4
network_g: {type: ETDS, num_block: 5, num_feat: 16}
datasets:
  train: {type: HRFolder, dataroot_gt: d, lq_size: 32, use_channels_shuffle: true, batch_size: 32}
train:
  ema_decay: 0.999
  fixed_residual_model_iters: 100
  interpolation_loss_weight: 0.5
  optim_g: {type: Adam, lr: !!float 5e-4, weight_decay: 0, betas: [0.9, 0.99]}
  scheduler: {type: MultiStepLR, milestones: [1600], gamma: 0.5}
  total_iter: 1600
  pixel_opt: {type: L1Loss, loss_weight: 2.0, reduction: mean}
`, 'x.yml');
  const ours = parseTrainConfig(`
name: e
scale: 4
network_g: {type: ETDS, num_block: 5, num_feat: 16}
datasets:
  train: {type: HRFolder, dataroot_gt: [d], gt_size: 128, use_channel_shuffle: true, batch_size_per_gpu: 32}
train:
  ema_decay: 0.999
  fix_iter: 100
  fix_keys: [residual]
  aux_opt: {type: L1Loss, loss_weight: 1.0}
  optim_g: {type: Adam, lr: 0.0005, betas: [0.9, 0.99]}
  scheduler: {type: MultiStepLR, milestones: [1600], gamma: 0.5}
  total_iter: 1600
  pixel_opt: {type: L1Loss, loss_weight: 2.0}
`, 'x.yml');
  // ETDS: criterion(out) + w * criterion(residual), the criterion carrying loss_weight: 0.5 * 2.0
  assert.deepEqual(theirs, ours);
  // an aux_opt without a type uses pixel_opt's
  const t = parseTrainConfig(MINIMAL, 't.yml', ['train.pixel_opt={type: CharbonnierLoss, eps: 1e-6}', 'train.aux_opt={loss_weight: 0.25}']);
  assert.deepEqual(t.train.aux_opt, { type: 'CharbonnierLoss', loss_weight: 0.25, reduction: 'mean', eps: 1e-12 });
  // interpolation_loss_weight 0 means no auxiliary loss
  assert.equal(parseTrainConfig(MINIMAL, 't.yml', ['train.interpolation_loss_weight=0']).train.aux_opt, null);
});

test('overrides apply before checking, create missing sections, and replace either spelling', () => {
  const c = parseTrainConfig(MINIMAL, 'o.yml', [
    'train.total_iter=2000', 'datasets.train.batch_size_per_gpu=8', 'train.scheduler.milestones=[500, 1500]',
    'train.grad_clip=0.5', 'logger.print_freq=10', 'name=renamed', 'network_g.num_feat=32',
  ]);
  assert.equal(c.train.total_iter, 2000);
  assert.equal(c.datasets.train.batch_size_per_gpu, 8);
  assert.deepEqual(c.train.scheduler.type === 'MultiStepLR' && c.train.scheduler.milestones, [500, 1500]);
  assert.equal(c.train.grad_clip, 0.5);
  assert.equal(c.logger.print_freq, 10);
  assert.equal(c.path.experiments_root, 'experiments/renamed');
  assert.equal(c.network_g.num_feat, 32);
  // the file gives gt_size; overriding lq_size replaces it
  const lq = parseTrainConfig(MINIMAL, 'o.yml', ['datasets.train.lq_size=48']);
  assert.deepEqual([lq.datasets.train.lq_size, lq.datasets.train.gt_size], [48, 192]);
  // the file says batch_size_per_gpu; an override of its alias replaces it (and vice versa)
  const a = parseTrainConfig(edit(MINIMAL, 'gt_size: 96', 'gt_size: 96\n    batch_size_per_gpu: 16'), 'o.yml', ['datasets.train.batch_size=4']);
  assert.equal(a.datasets.train.batch_size_per_gpu, 4);
  // values are YAML: strings stay strings, numbers numbers, null clears
  const s = parseTrainConfig(MINIMAL, 'o.yml', ['datasets.train.cache_dir=experiments/cache', 'train.grad_clip=~']);
  assert.equal(s.datasets.train.cache_dir, 'experiments/cache');
  assert.equal(s.train.grad_clip, null);
});

test('mistakes are reported one per line, naming the key, what was expected and what was found', async () => {
  await useEngine(1); // not needed for parsing; keeps the registry's models importable alongside
  const cases: [string, string, string[] | undefined, RegExp | string][] = [
    ['typo with a suggestion', MINIMAL.replace('lr: !!float 5e-4', 'lr: !!float 5e-4\n    lrr: 1'), undefined,
      'mvsr: train.yml: unknown key train.optim_g.lrr (did you mean train.optim_g.lr?)'],
    ['key at the wrong level', edit(MINIMAL, 'total_iter: 1000', 'total_iter: 1000\n  lr: 1'), undefined,
      'mvsr: train.yml: unknown key train.lr (did you mean train.optim_g.lr?)'],
    ['unknown key without a near one', edit(MINIMAL, 'scale: 4', 'scale: 4\nfoo_bar_baz: 1'), undefined,
      /^mvsr: train\.yml: unknown key foo_bar_baz \(known keys here: name, scale, .*logger, quant, distill\)$/],
    ['a BasicSR key with no meaning here', edit(MINIMAL, 'gt_size: 96', 'gt_size: 96\n    io_backend: {type: disk}'), undefined,
      'mvsr: train.yml: unknown key datasets.train.io_backend: mvsr reads image folders directly; remove it'],
    ['wrong type', edit(MINIMAL, 'total_iter: 1000', 'total_iter: lots'), undefined,
      'mvsr: train.yml: train.total_iter: expected a positive integer, found the string "lots"'],
    ['quoted number', edit(MINIMAL, 'lr: !!float 5e-4', 'lr: "5e-4"'), undefined,
      'mvsr: train.yml: train.optim_g.lr: expected a number > 0, found the string "5e-4" (a quoted number: write it without quotes)'],
    ['fraction where an integer goes', edit(MINIMAL, 'total_iter: 1000', 'total_iter: 1.5'), undefined,
      'mvsr: train.yml: train.total_iter: expected a positive integer, found the number 1.5'],
    ['missing required key', edit(MINIMAL, '  total_iter: 1000\n', ''), undefined,
      'mvsr: train.yml: missing required key train.total_iter (a positive integer)'],
    ['missing patch size', edit(MINIMAL, '    gt_size: 96\n', ''), undefined,
      /missing required key datasets\.train\.gt_size \(the HR patch edge, a positive integer; or give datasets\.train\.lq_size\)/],
    ['enum value', edit(MINIMAL, 'type: HRFolder', 'type: HRFolders'), undefined,
      'mvsr: train.yml: datasets.train.type: expected one of HRFolder, PairedFolders, VideoFolder, found the string "HRFolders" (did you mean HRFolder?)'],
    ['architecture typo', edit(MINIMAL, 'type: ETDS', 'type: ETSD'), undefined, /network_g\.type: expected one of .*ETDS.*, found the string "ETSD" \(did you mean ETDS\?\)/],
    ['architecture argument typo', edit(MINIMAL, 'type: ETDS', 'type: ETDS\n  num_feats: 32'), undefined,
      'mvsr: train.yml: unknown key network_g.num_feats: ETDS has no argument num_feats (did you mean network_g.num_feat?)'],
    ['architecture argument value', edit(MINIMAL, 'type: ETDS', 'type: ETDS\n  num_block: 0'), undefined,
      'mvsr: train.yml: network_g.num_block: expected a positive integer, found the number 0'],
    ['architecture scale vs scale', edit(MINIMAL, 'type: ETDS', 'type: ETDS\n  upscale: 2'), undefined,
      'mvsr: train.yml: network_g.upscale is 2 but scale is 4; they must agree'],
    ['option of the other scheduler', MINIMAL, ['train.scheduler={type: MultiStepLR, periods: [10]}'],
      "mvsr: train.yml: unknown key train.scheduler.periods: periods is an option of CosineAnnealingRestartLR, not of MultiStepLR (from override 'train.scheduler={type: MultiStepLR, periods: [10]}')"],
    ['option of another loss', MINIMAL, ['train.pixel_opt={type: L1Loss, eps: 1e-3}'],
      /unknown key train\.pixel_opt\.eps: eps is an option of CharbonnierLoss, not of L1Loss/],
    ['restart weights', MINIMAL, ['train.scheduler={type: MultiStepLR, restarts: [0, 500], restart_weights: [1]}'],
      'mvsr: train.yml: train.scheduler.restart_weights: expected 2 weights (one per restart in train.scheduler.restarts), found 1'],
    ['cosine cycles shorter than the run', MINIMAL, ['train.scheduler={type: CosineAnnealingRestartLR, periods: [400, 400], restart_weights: [1, 0.5]}'],
      'mvsr: train.yml: train.scheduler.periods: the cycles add up to 800 iterations, fewer than train.total_iter (1000)'],
    ['list item', MINIMAL, ['train.optim_g.betas=[0.9, 1.5]'],
      "mvsr: train.yml: train.optim_g.betas[1]: expected a number >= 0 and < 1, found the number 1.5 (from override 'train.optim_g.betas=[0.9, 1.5]')"],
    ['override of an unknown key', MINIMAL, ['train.optim_g.lrr=1'],
      "mvsr: train.yml: unknown key train.optim_g.lrr (did you mean train.optim_g.lr?) (from override 'train.optim_g.lrr=1')"],
    ['override without =', MINIMAL, ['train.total_iter'], "mvsr: train.yml: override 'train.total_iter': expected key.path=value, e.g. train.total_iter=1000"],
    ['override through a value', MINIMAL, ['train.total_iter.x=1'], "mvsr: train.yml: override 'train.total_iter.x=1': train.total_iter is the number 1000, not a mapping"],
    ['HR patch not a multiple of scale', edit(MINIMAL, 'gt_size: 96', 'gt_size: 98'), undefined,
      'mvsr: train.yml: datasets.train.gt_size: expected a multiple of scale (4), found the number 98'],
    ['both patch sizes, disagreeing', edit(MINIMAL, 'gt_size: 96', 'gt_size: 96\n    lq_size: 32'), undefined,
      /datasets\.train\.lq_size \(32\) times scale \(4\) must equal datasets\.train\.gt_size \(96\); give only one/],
    ['both spellings of one key', edit(MINIMAL, 'gt_size: 96', 'gt_size: 96\n    batch_size: 8\n    batch_size_per_gpu: 8'), undefined,
      'mvsr: train.yml: datasets.train.batch_size and datasets.train.batch_size_per_gpu are the same setting; give only one'],
    ['LR folder for HRFolder', edit(MINIMAL, 'gt_size: 96', 'gt_size: 96\n    dataroot_lq: data/lr'), undefined,
      /datasets\.train\.dataroot_lq is for PairedFolders; HRFolder makes its LR images from dataroot_gt/],
    ['PairedFolders without LR', edit(MINIMAL, 'type: HRFolder', 'type: PairedFolders'), undefined,
      /missing required key datasets\.train\.dataroot_lq \(PairedFolders reads LR files from it/],
    ['aux loss on a single-stream net', edit(MINIMAL, 'type: ETDS', 'type: ECBSR'), ['train.aux_opt={loss_weight: 0.5}'],
      /train\.aux_opt: the auxiliary loss needs a network with a residual-stream output \(ETDS\); network_g\.type is ECBSR/],
    ['fix_iter without keys', MINIMAL, ['train.fix_iter=10'], /missing required key train\.fix_keys/],
    ['fix_keys without fix_iter', MINIMAL, ['train.fix_keys=[residual]'], /train\.fix_keys is set but train\.fix_iter is 0/],
    ['ETDS spelling and ours together', MINIMAL, ['train.fix_iter=10', 'train.fix_keys=[residual]', 'train.fixed_residual_model_iters=10'],
      /train\.fixed_residual_model_iters is the ETDS spelling of train\.fix_iter/],
    ['val settings without val data', MINIMAL, ['val.val_freq=100'], /val: there is no datasets\.val to validate on/],
    ['not YAML', 'name: [a,\n', undefined, /^mvsr: train\.yml: invalid YAML: /],
    ['duplicate key', MINIMAL + 'name: again\n', undefined, /^mvsr: train\.yml: invalid YAML: Map keys must be unique/],
    ['empty file', '', undefined, 'mvsr: train.yml: the file is empty'],
    ['not a mapping', '- a\n- b\n', undefined, 'mvsr: train.yml: expected a mapping of keys at the top level, found a list of 2 items'],
  ];
  for (const [what, text, overrides, want] of cases) {
    const got = problems(text, overrides);
    const hit = got.some((m) => (typeof want === 'string' ? m === want || m.startsWith(`${want} (from override '`) : want.test(m)));
    assert.ok(hit, `${what}: expected ${String(want)}\n got:\n  ${got.join('\n  ')}`);
    for (const m of got) assert.match(m, /^mvsr: train\.yml: /, `${what}: every line names the file`);
  }
  // several mistakes at once are all reported
  const many = problems(edit(edit(MINIMAL, 'total_iter: 1000', 'total_iter: 0'), 'gt_size: 96', 'gt_size: 96\n    use_hflip: yes please'), ['train.optim_g.lrr=1']);
  assert.equal(many.length, 3, many.join('\n'));
});

test('loadTrainConfig names a missing file; the schema description covers every section', () => {
  assert.throws(() => loadTrainConfig('/nonexistent/train.yml'), /^Error: mvsr: \/nonexistent\/train\.yml: cannot read the config \(no such file\)$/);
  const doc = describeConfigSchema();
  for (const k of ['name:', 'network_g:', 'gt_size:', 'optim_g:', '[type: CosineAnnealingRestartLR]', 'aux_opt:', 'fix_keys:', 'grad_clip:', 'val_freq:', 'save_checkpoint_freq:']) {
    assert.ok(doc.includes(k), `schema description lacks ${k}`);
  }
  assert.equal(closest('lrr', ['lr', 'eps', 'betas']), 'lr');
  assert.equal(closest('batch_szie', ['batch_size', 'gt_size']), 'batch_size');
  assert.equal(closest('xyz', ['lr', 'eps']), undefined);
});

test('resume: a checkpoint written before the architecture gained an argument (at its default) still belongs to the run; a changed argument or learning rate does not', async () => {
  const { runIdentity, resumableIdentities } = await import('../src/train/trainer.node.js');
  const file = join(CONFIGS, 'train_RECBSR_x4.yml');
  const a = loadTrainConfig(file);
  assert.equal(a.network_g.feedback, false);
  const { feedback: _f, ...before } = a.network_g;
  const old = runIdentity(a, before);
  assert.notEqual(old, runIdentity(a));
  assert.ok(resumableIdentities(a).includes(runIdentity(a)) && resumableIdentities(a).includes(old));
  for (const o of ['network_g.feedback=true', 'network_g.num_feat=8', 'train.optim_g.lr=2e-4', 'manual_seed=14']) {
    const b = resumableIdentities(loadTrainConfig(file, [o]));
    assert.ok(!b.includes(old) && !b.includes(runIdentity(a)), `${o}: a different run`);
  }
});

test('patch mining: off by default, keeps the identity of runs written before the key existed, and is a different run when on', async () => {
  const { runIdentity } = await import('../src/train/trainer.node.js');
  const file = join(CONFIGS, 'train_ESPCN_x4.yml');
  const a = loadTrainConfig(file);
  assert.equal(a.datasets.train.mine_patches, 1);
  const { mine_patches: _m, ...beforeData } = a.datasets.train;
  const before = { ...a, datasets: { ...a.datasets, train: beforeData } } as unknown as typeof a;
  assert.equal(runIdentity(a), runIdentity(before), 'a run from before mine_patches existed still resumes');
  const m = loadTrainConfig(file, ['datasets.train.mine_patches=4']);
  assert.equal(m.datasets.train.mine_patches, 4);
  assert.notEqual(runIdentity(m), runIdentity(a));
  assert.throws(() => loadTrainConfig(file, ['datasets.train.mine_patches=0']), /mine_patches/);
  assert.throws(() => loadTrainConfig(join(CONFIGS, 'train_RLSP_x4_motion.yml'), ['datasets.train.mine_patches=4']),
    /datasets\.train\.mine_patches picks crops of single frames; sequences \(num_frame \d+\) are cropped uniformly/);
});

test('hr_scales: [1] by default, keeps the identity of runs written before the key existed, a different run with more factors, and checked', async () => {
  const { runIdentity } = await import('../src/train/trainer.node.js');
  const file = join(CONFIGS, 'train_ESPCN_x4_distill.yml');
  const a = loadTrainConfig(file);
  assert.deepEqual(a.datasets.train.hr_scales, [1]);
  const { hr_scales: _h, ...beforeData } = a.datasets.train;
  const before = { ...a, datasets: { ...a.datasets, train: beforeData } } as unknown as typeof a;
  assert.equal(runIdentity(a), runIdentity(before), 'a run from before hr_scales existed still resumes');
  const m = loadTrainConfig(file, ['datasets.train.hr_scales=[1, 0.5]']);
  assert.deepEqual(m.datasets.train.hr_scales, [1, 0.5]);
  assert.notEqual(runIdentity(m), runIdentity(a));
  assert.notEqual(runIdentity(m), runIdentity(loadTrainConfig(file, ['datasets.train.hr_scales=[1, 0.75]'])));
  for (const bad of ['[0]', '[1, 1.5]', '[]', '0.5']) {
    assert.throws(() => loadTrainConfig(file, [`datasets.train.hr_scales=${bad}`]), /datasets\.train\.hr_scales(\[\d\])?: expected a (list of at least 1 item, each a )?number > 0 and <= 1/, bad);
  }
  assert.throws(() => loadTrainConfig(file, ['datasets.train.hr_scales=[1, 0.5, 1]']), /hr_scales lists 1, 0\.5, 1: a factor appears twice/);
  assert.throws(() => loadTrainConfig(join(CONFIGS, 'train_MobileRRN_x4.yml'), ['datasets.train.hr_scales=[1, 0.5]']),
    /datasets\.train\.hr_scales downscales the HR images of an HRFolder dataset; VideoFolder reads its LR as given/);
});

test('distill.precompute: off by default, keeps the identity of distillation runs written before the key existed, and is a different run when on', async () => {
  const { runIdentity } = await import('../src/train/trainer.node.js');
  const file = join(CONFIGS, 'train_ETDS_M5C16_x4_distill.yml');
  const a = loadTrainConfig(file);
  assert.equal(a.distill!.precompute, false);
  const { precompute: _p, ...before } = a.distill!;
  assert.equal(runIdentity(a), runIdentity({ ...a, distill: before } as unknown as typeof a), 'a run from before precompute existed still resumes');
  const p = loadTrainConfig(file, ['distill.precompute=true']);
  assert.equal(p.distill!.precompute, true);
  assert.notEqual(runIdentity(p), runIdentity(a));
});

const RECBSR_CONFIG = 'train_RECBSR_x4.yml';

test('the RECBSR config: ECBSR-M4C16 made recurrent, started from the shipped ecbsr-m4c16-x4 (it fits once widened), trained on stills only, validated on the real clips held out by name', async () => {
  await useEngine(1);
  const { widenConvInputs } = await import('../src/models/surgery.js');
  const { loadWeightsFile } = await import('../src/io/weights.node.js');
  const path = join(CONFIGS, RECBSR_CONFIG);
  const c = loadTrainConfig(path), ecbsr = loadTrainConfig(join(CONFIGS, 'train_ECBSR_M4C16_x4.yml'));
  assert.equal(`train_${c.name}.yml`, RECBSR_CONFIG);
  assert.equal(c.network_g.type, 'RECBSR');
  for (const k of ['num_feat', 'num_block', 'act_type', 'upscale'] as const) assert.equal(c.network_g[k], ecbsr.network_g[k], k);
  const { type, ...args } = c.network_g;
  const m = createVideoModel(type, args);
  assert.equal(videoMacsPerPixel(m), 19296);
  // what the header's command does: the shipped image model, widened, loads into every parameter
  const shipped = join(ROOT, 'weights/ecbsr-m4c16-x4.safetensors');
  assert.match(readFileSync(path, 'utf8'), /--init weights\/ecbsr-m4c16-x4\.safetensors/);
  const { tensors, widened } = widenConvInputs(loadWeightsFile(shipped).tensors, m);
  assert.deepEqual(widened, ['backbone.0.0.weight (3 -> 22 input channels)']);
  m.loadStateDict(tensors, true);
  m.dispose();
  assert.equal(c.datasets.train.type, 'HRFolder');
  assert.deepEqual(c.datasets.train.dataroot_gt, ['../shared/data/train/images'], 'no clip is trained on');
  assert.ok(c.datasets.train.num_frame > 1 && c.datasets.train.motion_shift > 0, 'sequences filmed by a moving camera');
  assert.deepEqual(c.datasets.val?.include, ['basketballpass', 'clips/vtest.avi']);
  const ms = assumedMs(path);
  assert.ok(ms > 0 && (c.train.total_iter * ms) / 3.6e6 <= 3, `${RECBSR_CONFIG}: fits a session`);
});
