// A training run killed with SIGKILL and resumed gives exactly the loss curve and the final
// weights of an uninterrupted run; a checkpoint interrupted mid-swap is still found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, mkdtempSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './data.js';
import { useEngine } from './helpers.js';
import { encodePng } from '../src/io/image.node.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { loadCheckpoint } from '../src/train/checkpoint.node.js';
import { lineageOf, scrubProvenance } from '../src/train/lineage.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');

async function makeRun(): Promise<{ dir: string; cfg: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-resume-'));
  const imgs = path.join(dir, 'images');
  mkdirSync(imgs);
  await useEngine(1);
  for (let k = 0; k < 3; k++) {
    const W = 96 + 8 * k, H = 80;
    const d = Uint8Array.from({ length: W * H * 3 }, (_, i) => {
      const p = Math.floor(i / 3), x = p % W, y = Math.floor(p / W);
      return Math.round(127 + 120 * Math.sin(x / (5 + k) + (i % 3)) * Math.cos(y / 7));
    });
    writeFileSync(path.join(imgs, `img${k}.png`), await encodePng({ width: W, height: H, channels: 3, bitDepth: 8, data: d }));
  }
  const cfg = path.join(dir, 'train.yml');
  writeFileSync(cfg, `name: resume_test
scale: 2
manual_seed: 5
network_g: {type: ETDS, upscale: 2, num_block: 2, num_feat: 8}
datasets:
  train: {type: HRFolder, dataroot_gt: ${imgs}, gt_size: 48, use_hflip: true, use_rot: true, use_channel_shuffle: true, batch_size_per_gpu: 8}
train:
  ema_decay: 0.99
  optim_g: {type: Adam, lr: 0.001, betas: [0.9, 0.99]}
  scheduler: {type: MultiStepLR, milestones: [120], gamma: 0.5}
  total_iter: 200
  pixel_opt: {type: L1Loss, loss_weight: 1.0}
  aux_opt: {loss_weight: 1.0}
  fix_iter: 30
  fix_keys: [residual]
logger: {print_freq: 1, save_checkpoint_freq: 20}
`);
  return { dir, cfg };
}

const losses = (runDir: string) =>
  readFileSync(path.join(runDir, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { iter: number; loss?: number })
    .filter((r) => r.loss !== undefined).map((r) => [r.iter, r.loss]);

const weights = (file: string) => readSafetensors(readFileSync(file)).tensors;

test('a run killed with SIGKILL and resumed equals an uninterrupted run', { timeout: 240_000 }, async () => {
  const { dir, cfg } = await makeRun();
  const a = path.join(dir, 'A'), b = path.join(dir, 'B');
  const ra = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', a, '--threads', '2'], { encoding: 'utf8' });
  assert.equal(ra.status, 0, ra.stderr);

  // B: kill -9 once it has logged iteration 70 (checkpoints at 20, 40, 60), then resume
  const child = spawn(process.execPath, [CLI, 'train', cfg, '--run-dir', b, '--threads', '2'], { stdio: 'ignore' });
  const logB = path.join(b, 'train_log.jsonl');
  const killedAt = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const n = existsSync(logB) ? readFileSync(logB, 'utf8').split('\n').filter(Boolean).length : 0;
      if (n >= 70) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve(n);
      }
    }, 5);
    child.on('exit', () => { clearInterval(timer); reject(new Error('the run finished before it could be killed')); });
  });
  await new Promise((r) => child.on('exit', r));
  assert.ok(!existsSync(path.join(b, 'model.safetensors')), 'the killed run did not finish');
  const ck = loadCheckpoint(b);
  assert.ok(ck && ck.state.iter < 200 && ck.state.iter % 20 === 0, `a complete checkpoint survived (iteration ${ck?.state.iter}, killed after ${killedAt} log lines)`);

  const rb = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', b, '--resume', '--threads', '2'], { encoding: 'utf8' });
  assert.equal(rb.status, 0, rb.stderr);
  assert.match(rb.stderr, new RegExp(`resuming resume_test at iteration ${ck!.state.iter} of 200`));

  assert.deepEqual(losses(b), losses(a), 'same loss curve, iteration for iteration');
  const wa = weights(path.join(a, 'model.safetensors')), wb = weights(path.join(b, 'model.safetensors'));
  assert.deepEqual(Object.keys(wb).sort(), Object.keys(wa).sort());
  for (const k of Object.keys(wa)) assert.deepEqual(wb[k]!.data, wa[k]!.data, `final weights ${k}`);
  const ca = weights(path.join(a, 'checkpoint/optimizer.safetensors')), cb = weights(path.join(b, 'checkpoint/optimizer.safetensors'));
  for (const k of Object.keys(ca)) assert.deepEqual(cb[k]!.data, ca[k]!.data, `optimizer state ${k}`);
});

test('a checkpoint left mid-swap (only checkpoint.old and a temporary directory) is still loaded', async () => {
  const { dir, cfg } = await makeRun();
  const run = path.join(dir, 'C');
  const r = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', run, 'train.total_iter=20', 'train.fix_iter=10', 'train.scheduler.milestones=[10]'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  renameSync(path.join(run, 'checkpoint'), path.join(run, 'checkpoint.old'));
  mkdirSync(path.join(run, 'checkpoint.tmp-999')); // a save that died half-way
  const ck = loadCheckpoint(run);
  assert.equal(ck?.state.iter, 20);
  const again = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', run], { encoding: 'utf8' });
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already holds a checkpoint: pass --resume/);
});

test('SIGTERM stops a running training within a few iterations and leaves a checkpoint at the iteration it stopped', { timeout: 120_000 }, async () => {
  const { dir, cfg } = await makeRun();
  const run = path.join(dir, 'D');
  // an override holding a space: the printed resume command must quote it
  const child = spawn(process.execPath, [CLI, 'train', cfg, '--run-dir', run, '--threads', '1', 'logger.save_checkpoint_freq=1000', 'train.scheduler.milestones=[150, 180]'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const log = path.join(run, 'train_log.jsonl');
  const sentAt = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const n = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
      if (n >= 40) { clearInterval(timer); child.kill('SIGTERM'); resolve(n); }
    }, 5);
    child.on('exit', () => { clearInterval(timer); reject(new Error('the run finished before SIGTERM was sent')); });
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('the run ignored SIGTERM for 30 s')); }, 30_000);
    child.on('exit', (c) => { clearTimeout(t); resolve(c); });
  });
  assert.equal(code, 130, stderr);
  assert.match(stderr, /SIGTERM: stopping after this iteration/);
  assert.match(stderr, new RegExp(`--resume.*--run-dir`), 'the printed resume command names the run directory');
  const ck = loadCheckpoint(run);
  const logged = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { iter: number }).at(-1)!.iter;
  assert.ok(ck, 'a checkpoint was written on the way out (none was due: save_checkpoint_freq 1000)');
  assert.equal(ck.state.iter, logged, 'the checkpoint is at the last completed iteration');
  assert.ok(ck.state.iter >= sentAt && ck.state.iter < sentAt + 20, `stopped promptly: signal after ${sentAt} iterations, stopped at ${ck.state.iter}`);
  assert.ok(!existsSync(path.join(run, 'model.safetensors')), 'an interrupted run does not export a final model');
  // but a snapshot of where it stands, marked as such, in the deploy form
  const snap = readSafetensors(readFileSync(path.join(run, 'snapshot.safetensors')));
  assert.equal(snap.metadata.snapshot, 'true');
  assert.equal(snap.metadata.iterations, String(ck.state.iter));
  assert.equal(snap.metadata.total_iter, '200');
  assert.equal(snap.metadata.arch, 'ETDSForInference');
  // finished with the printed command, pasted into a real shell, the run replaces the snapshot by its model
  const again = /^continue with: mvsr (.*)$/m.exec(stderr)![1]!;
  const done = spawnSync('/bin/sh', ['-c', `"$0" "$1" ${again} --threads 1`, process.execPath, CLI], { encoding: 'utf8' });
  assert.equal(done.status, 0, `${again}\n${done.stderr}`);
  assert.match(done.stderr, /resuming .* at iteration/);
  assert.ok(existsSync(path.join(run, 'model.safetensors')) && !existsSync(path.join(run, 'snapshot.safetensors')));
});

test('best.safetensors says which iteration of how many it comes from, and that it is a snapshot when that was before the end', { timeout: 120_000 }, async () => {
  const { dir } = await makeRun();
  const cfg = path.join(dir, 'best.yml');
  // the learning rate jumps 30x at iteration 30, which wrecks the model: the best is from before the end
  writeFileSync(cfg, `name: best_test
scale: 2
manual_seed: 3
network_g: {type: ESPCN, upscale: 2}
datasets:
  train: {type: HRFolder, dataroot_gt: ${path.join(dir, 'images')}, gt_size: 32, batch_size_per_gpu: 4}
  val: {type: HRFolder, dataroot_gt: ${path.join(dir, 'images')}}
train:
  optim_g: {type: Adam, lr: 0.003, betas: [0.9, 0.99]}
  scheduler: {type: MultiStepLR, milestones: [30], gamma: 30}
  total_iter: 40
  pixel_opt: {type: L1Loss}
val: {val_freq: 20}
logger: {print_freq: 1, save_checkpoint_freq: 40}
`);
  const run = path.join(dir, 'E');
  // print_freq and val_freq set on the command line, over the file's: the provenance must record them
  const r = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', run, '--threads', '1', 'logger.print_freq=5', 'val.val_freq=5'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const vals = readFileSync(path.join(run, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { iter: number; val?: { psnr: number } })
    .filter((x) => x.val);
  assert.equal(vals.length, 8);
  const best = vals.reduce((a, b) => (b.val!.psnr > a.val!.psnr ? b : a));
  const meta = readSafetensors(readFileSync(path.join(run, 'best.safetensors'))).metadata;
  assert.equal(meta.iterations, String(best.iter), 'the best model is the one of the highest validation PSNR in the log');
  assert.equal(meta.val_psnr, best.val!.psnr.toFixed(3));
  assert.equal(meta.total_iter, '40');
  assert.ok(best.iter < 40, `the best is from before the end (iteration ${best.iter})`);
  assert.equal(meta.snapshot, 'true');
  const final = readSafetensors(readFileSync(path.join(run, 'model.safetensors'))).metadata;
  assert.deepEqual([final.iterations, final.total_iter, final.snapshot], ['40', '40', undefined]);
  assert.deepEqual(JSON.parse(final.overrides!), ['logger.print_freq=5', 'val.val_freq=5'], 'the overrides of the run are in its provenance');
});

test('--init starts from another model (its weights, and its provenance in the exported metadata)', { timeout: 120_000 }, async () => {
  const { dir } = await makeRun();
  const cfg = path.join(dir, 'elsr.yml');
  writeFileSync(cfg, `name: init_test
scale: 2
manual_seed: 7
network_g: {type: ELSR, upscale: 2, num_feat: 6}
datasets:
  train: {type: HRFolder, dataroot_gt: ${path.join(dir, 'images')}, gt_size: 32, batch_size_per_gpu: 4}
train:
  ema_decay: 0.9
  optim_g: {type: Adam, lr: 0.002, betas: [0.9, 0.99]}
  scheduler: {type: MultiStepLR, milestones: [], gamma: 0.5}
  total_iter: 30
  pixel_opt: {type: L1Loss}
logger: {print_freq: 10, save_checkpoint_freq: 10}
`);
  const a = path.join(dir, 'A'), b = path.join(dir, 'B');
  const ra = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', a, '--threads', '1'], { encoding: 'utf8' });
  assert.equal(ra.status, 0, ra.stderr);
  const fileA = path.join(a, 'model.safetensors');
  // a learning rate too small to move a float32 weight and no EMA: B's model must be A's, bit for bit
  const rb = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', b, '--threads', '1', '--init', fileA,
    'train.optim_g.lr=1e-30', 'train.ema_decay=0', 'train.total_iter=3', 'manual_seed=8', `datasets.train.cache_dir=${path.join(dir, 'lr-cache')}`], { encoding: 'utf8' });
  assert.equal(rb.status, 0, rb.stderr);
  assert.match(rb.stderr, /initialised \d+\/\d+ parameters from /);
  const wa = readSafetensors(readFileSync(fileA)), wb = readSafetensors(readFileSync(path.join(b, 'model.safetensors')));
  for (const k of Object.keys(wa.tensors)) assert.deepEqual(wb.tensors[k]!.data, wa.tensors[k]!.data, `weights ${k} come from --init`);
  assert.equal(wb.metadata.iterations, '3');
  assert.ok(readdirSync(path.join(dir, 'lr-cache')).length > 0, 'the cache folder was used');
  assert.deepEqual(JSON.parse(wb.metadata.overrides!), ['train.optim_g.lr=1e-30', 'train.ema_decay=0', 'train.total_iter=3', 'manual_seed=8'],
    'the overrides as given, less the local cache path');
  assert.equal(wb.metadata.init_file, 'A/model.safetensors');
  assert.equal(wb.metadata.init_iterations, wa.metadata.iterations);
  assert.equal(wb.metadata.init_config, 'init_test');
  assert.equal(wb.metadata.init_seed, '7');
  assert.equal(wb.metadata.init_wall_time_s, wa.metadata.wall_time_s);
  // a fine-tune of the fine-tune (from B's run folder) states both runs before it, as A's and B's files record them
  const b2 = path.join(dir, 'B2');
  const rb2 = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', b2, '--threads', '1', '--init', b, 'train.total_iter=2', 'manual_seed=9'], { encoding: 'utf8' });
  assert.equal(rb2.status, 0, rb2.stderr);
  const wb2 = readSafetensors(readFileSync(path.join(b2, 'model.safetensors')));
  const lineage = JSON.parse(wb2.metadata.lineage!) as Record<string, unknown>[];
  assert.equal(lineage.length, 2);
  assert.deepEqual(lineage.map((l) => [l.file, l.config, l.iterations, l.seed, l.wall_time_s]), [
    ['A/model.safetensors', wa.metadata.config, wa.metadata.iterations, wa.metadata.seed, wa.metadata.wall_time_s],
    ['B/checkpoint (model)', wb.metadata.config, wb.metadata.iterations, wb.metadata.seed, wb.metadata.wall_time_s],
  ]);
  assert.deepEqual(lineage[1]!.overrides, JSON.parse(wb.metadata.overrides!), "B's overrides, as a list");
  assert.equal(lineage[0]!.overrides, undefined, 'A had none');
  // a file from before lineage (init_* only) still gives both steps
  const { lineage: _, ...older } = wb.metadata;
  assert.deepEqual(lineageOf('B/model.safetensors', older).map((l) => [l.file, l.iterations]), [['A/model.safetensors', wa.metadata.iterations], ['B/model.safetensors', '3']]);
  assert.deepEqual(lineageOf('official.pth', { arch: 'ETDS' }), [], 'nothing for a file mvsr did not train');
  // a file written before the filter: its cache paths go no further, in its lineage nor when shipped
  const cached = { ...wb2.metadata, overrides: JSON.stringify(['datasets.train.cache_dir=/home/x/cache', 'train.total_iter=2']),
    lineage: JSON.stringify([{ file: 'A/model.safetensors', overrides: ['datasets.val.cache_dir=/tmp/c', 'seed=1'] }]) };
  assert.deepEqual(lineageOf('C/model.safetensors', cached).map((l) => l.overrides), [['seed=1'], ['train.total_iter=2']]);
  const scrubbed = scrubProvenance(cached);
  assert.equal(scrubbed.overrides, JSON.stringify(['train.total_iter=2']));
  assert.equal(scrubbed.lineage, JSON.stringify([{ file: 'A/model.safetensors', overrides: ['seed=1'] }]));
  assert.equal(scrubProvenance({ ...cached, overrides: '["datasets.train.cache_dir=/c"]' }).overrides, undefined, 'a list left empty is left out');
  // mvsr models adds the runs up
  const wdir = path.join(dir, 'weights');
  mkdirSync(wdir);
  writeFileSync(path.join(wdir, 'chain-x4.safetensors'), readFileSync(path.join(b2, 'model.safetensors')));
  const models = spawnSync(process.execPath, [CLI, 'models'], { encoding: 'utf8', env: { ...process.env, MVSR_WEIGHTS_DIR: wdir } });
  assert.equal(models.status, 0, models.stderr);
  assert.match(models.stdout, new RegExp(`chain-x4 .* 2 iterations \\(${Number(wa.metadata.iterations) + 3 + 2} over 3 runs\\)`));
  // a fresh run (no --init) differs from A: the comparison above can fail
  const c = path.join(dir, 'C');
  const rc = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', c, '--threads', '1', 'train.optim_g.lr=1e-30', 'train.ema_decay=0', 'train.total_iter=3', 'manual_seed=8'], { encoding: 'utf8' });
  assert.equal(rc.status, 0, rc.stderr);
  const wc = readSafetensors(readFileSync(path.join(c, 'model.safetensors')));
  assert.ok(Object.keys(wa.tensors).some((k) => wc.tensors[k]!.data.some((v: number, i: number) => v !== wa.tensors[k]!.data[i])));
  assert.equal(wc.metadata.init_file, undefined);
});

test('--init <run dir> starts from the run\'s training-form weights; a deploy-form file that does not fit says what to do', { timeout: 120_000 }, async () => {
  const { dir, cfg } = await makeRun();
  const a = path.join(dir, 'A'), b = path.join(dir, 'B'), c = path.join(dir, 'C');
  const ra = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', a, '--threads', '1', 'train.total_iter=8', 'train.fix_iter=2'], { encoding: 'utf8' });
  assert.equal(ra.status, 0, ra.stderr);
  // the exported model is ETDS's deploy form, which the ETDS training form cannot load
  const exported = path.join(a, 'model.safetensors');
  assert.equal(readSafetensors(readFileSync(exported)).metadata.arch, 'ETDSForInference');
  const rc = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', c, '--threads', '1', '--init', exported, 'train.total_iter=2', 'train.fix_iter=1'], { encoding: 'utf8' });
  assert.equal(rc.status, 1);
  assert.match(rc.stderr, /--init .*model\.safetensors does not fit ETDS \(.*shape.*\)\. It holds ETDSForInference weights \(the deploy form of ETDS\): fine-tune them as network_g\.type: ETDSForInference, or pass a training run's directory/);
  assert.ok(!existsSync(path.join(c, 'checkpoint')), 'nothing trained');
  // from the run directory: its checkpoint's EMA weights, so with no step taken (lr 1e-30, no EMA)
  // B exports exactly what A exported (the deploy form of the same weights)
  const rb = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', b, '--threads', '1', '--init', a,
    'train.optim_g.lr=1e-30', 'train.ema_decay=0', 'train.total_iter=2', 'train.fix_iter=1'], { encoding: 'utf8' });
  assert.equal(rb.status, 0, rb.stderr);
  assert.match(rb.stderr, /initialised (\d+)\/\1 parameters from .*A \(its checkpoint at iteration 8, EMA weights, training form\)/);
  const wa = readSafetensors(readFileSync(exported)), wb = readSafetensors(readFileSync(path.join(b, 'model.safetensors')));
  for (const k of Object.keys(wa.tensors)) assert.deepEqual(wb.tensors[k]!.data, wa.tensors[k]!.data, `weights ${k} come from A's checkpoint`);
  assert.equal(wb.metadata.init_file, 'A/checkpoint (EMA)');
  assert.equal(wb.metadata.init_iterations, '8');
  assert.equal(wb.metadata.init_config, 'resume_test');
  assert.equal(wb.metadata.init_seed, '5');
  // a folder without a checkpoint is refused by name
  const rd = spawnSync(process.execPath, [CLI, 'train', cfg, '--run-dir', path.join(dir, 'D'), '--threads', '1', '--init', path.join(dir, 'images'), 'train.total_iter=2', 'train.fix_iter=1'], { encoding: 'utf8' });
  assert.equal(rd.status, 1);
  assert.match(rd.stderr, /images: a folder, but it holds no training checkpoint/);
});

test('train() that fails while setting up (no training images, a missing validation folder, an unreadable checkpoint) releases what it made: no tensor left live', async () => {
  const { dir, cfg } = await makeRun();
  const { parseTrainConfig } = await import('../src/train/config.js');
  const { train } = await import('../src/train/trainer.node.js');
  const { liveTensorCount } = await import('../src/tensor/tensor.js');
  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  const text = readFileSync(cfg, 'utf8');
  const cases: [string, string[], RegExp][] = [
    ['no training images', [`datasets.train.dataroot_gt=${empty}`], /no PNG\/JPEG\/WebP images/],
    ['a validation folder that is not there', [`datasets.val={name: V, type: HRFolder, dataroot_gt: ${path.join(dir, 'nowhere')}}`], /nowhere/],
  ];
  for (const [what, overrides, err] of cases) {
    const live = liveTensorCount();
    await assert.rejects(train(parseTrainConfig(text, cfg, overrides), { runDir: path.join(dir, `run-${cases.findIndex((c) => c[0] === what)}`), threads: 1, onMessage: () => undefined }), err, what);
    assert.equal(liveTensorCount(), live, `${what}: every tensor made before the error is released`);
  }
  // distillation from a teacher of another scale: refused after the teacher and its backend exist
  const { createModel } = await import('../src/models/registry.js');
  const live = liveTensorCount();
  await assert.rejects(train(parseTrainConfig(text, cfg, ['distill={teacher: t.safetensors, loss: {type: L1Loss, loss_weight: 1.0}}']), {
    runDir: path.join(dir, 'run-distill'), threads: 1, onMessage: () => undefined,
    loadTeacher: () => ({ model: createModel('ESPCN', { upscale: 4 }) as never, name: 't.safetensors', sha256: '0'.repeat(64) }),
  }), /upscales x4, the student x2/);
  assert.equal(liveTensorCount(), live, 'the teacher too is released');
});
