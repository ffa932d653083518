// Distillation in training (a distill: section): the loss to the teacher's outputs is the one the
// log records (zero for a student that starts as the teacher, scaled by loss_weight, falling as
// the student learns it), the exported model names the teacher and its SHA-256, and bad
// combinations stop in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeImage } from '../src/io/image.node.js';
import { loadWeightsFile } from '../src/io/weights.node.js';
import { renderSampleFrame } from '../src/data/synthetic.js';
import { shippedWeightsDir } from '../src/api/shipped.node.js';
import { loadModelFile } from '../src/api/models.node.js';
import { initEngine } from '../src/tensor/engine.js';
import { Tensor } from '../src/tensor/tensor.js';
import { leaf, noGrad, clearTape } from '../src/autograd/var.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function config(o: { name: string; pixel: number; distill: number; iters: number; teacher?: string; extra?: string; network?: string; data?: string }): string {
  return `name: ${o.name}
scale: 4
manual_seed: 3
network_g: ${o.network ?? '{ type: ESPCN, colors: 3, upscale: 4 }'}
datasets:
  train: ${o.data ?? '{ type: HRFolder, dataroot_gt: hr, gt_size: 32, batch_size_per_gpu: 2 }'}
path: { experiments_root: runs }
train:
  optim_g: { type: Adam, lr: !!float 2e-3 }
  total_iter: ${o.iters}
  pixel_opt: { type: L1Loss, loss_weight: ${o.pixel} }
logger: { print_freq: 1, save_checkpoint_freq: 1000 }
distill:
  teacher: ${o.teacher ?? 'teacher.safetensors'}
  loss: { type: L1Loss, loss_weight: ${o.distill} }
${o.extra ?? ''}`;
}

test('distill: the loss to a teacher is zero for a student that starts as it, scales with loss_weight, falls as a random student learns it; the model names the teacher and its SHA-256; bad sections stop in one line', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-distill-'));
  try {
    mkdirSync(join(dir, 'hr'));
    for (let i = 0; i < 3; i++) await writeImage(join(dir, 'hr', `${i}.png`), renderSampleFrame(i * 20, { width: 128, height: 96 }));
    copyFileSync(join(shippedWeightsDir(), 'espcn-x4.safetensors'), join(dir, 'teacher.safetensors'));
    const train = (name: string, yaml: string, ...flags: string[]) => {
      writeFileSync(join(dir, `${name}.yml`), yaml);
      return spawnSync(process.execPath, [CLI, 'train', `${name}.yml`, '--threads', '1', ...flags], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    };
    const losses = (name: string) => readFileSync(join(dir, 'runs', name, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { iter: number; loss?: number }).filter((r) => r.loss !== undefined).map((r) => r.loss!);

    // the student starts as the teacher: nothing to learn from it
    let r = train('same', config({ name: 'same', pixel: 0, distill: 1, iters: 3 }), '--init', 'teacher.safetensors');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /distilling from teacher\.safetensors \(ESPCN x4, SHA-256 [0-9a-f]{12}…\), L1Loss weight 1/);
    assert.deepEqual(losses('same'), [0, 0, 0], 'the deploy graph of the teacher gives the student\'s own output');
    const meta = loadWeightsFile(join(dir, 'runs', 'same', 'model.safetensors')).metadata;
    assert.equal(meta.distilled_from, 'teacher.safetensors');
    assert.equal(meta.distill_teacher_sha256, createHash('sha256').update(readFileSync(join(dir, 'teacher.safetensors'))).digest('hex'));

    // a random student: its first loss is the L1 to the teacher, half of it at loss_weight 0.5, and it falls
    r = train('full', config({ name: 'full', pixel: 0, distill: 1, iters: 40 }));
    assert.equal(r.status, 0, r.stderr);
    r = train('half', config({ name: 'half', pixel: 0, distill: 0.5, iters: 1 }));
    assert.equal(r.status, 0, r.stderr);
    const full = losses('full'), half = losses('half');
    assert.ok(full[0]! > 0.01, `a random student is far from the teacher (L1 ${full[0]})`);
    assert.ok(Math.abs(half[0]! - 0.5 * full[0]!) <= 1e-6 * full[0]!, `loss_weight 0.5: ${half[0]} against ${full[0]}`);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(full.slice(-10)) < 0.7 * mean(full.slice(0, 5)), `the distillation loss falls: ${full.map((x) => x.toFixed(4)).join(' ')}`);
    // the pixel loss and the teacher's add up: pixel alone plus distil alone at iteration 1
    r = train('pix', config({ name: 'pix', pixel: 1, distill: 0, iters: 1 }));
    assert.equal(r.status, 0, r.stderr);
    r = train('both', config({ name: 'both', pixel: 1, distill: 1, iters: 1 }));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Math.abs(losses('both')[0]! - (losses('pix')[0]! + full[0]!)) <= 1e-6, 'pixel + distillation');

    // bad sections
    const bad: [string, string, RegExp][] = [
      ['nofile', config({ name: 'nofile', pixel: 1, distill: 1, iters: 1, teacher: 'missing.safetensors' }), /missing\.safetensors: no such file/],
      ['weightless', config({ name: 'weightless', pixel: 1, distill: 1, iters: 1, teacher: 'bicubic' }), /distill\.teacher bicubic: distillation needs a teacher with weights/],
      ['quant', config({ name: 'quant', pixel: 1, distill: 1, iters: 1, extra: 'quant: { calib: hr }' }), /distill: and quant: in one run are not supported/],
    ];
    for (const [name, yaml, re] of bad) {
      r = train(name, yaml);
      assert.equal(r.status, 1, `${name}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.match(lines.at(-1)!, re, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function videoConfig(o: { name: string; pixel: number; distill: number; iters: number }): string {
  return config({
    ...o, network: '{ type: MobileRRN, upscale: 4, num_feat: 4, num_block: 1 }',
    data: '{ type: VideoFolder, dataroot_gt: clips, num_frame: 3, gt_size: 32, batch_size_per_gpu: 2 }',
  });
}

test('distill: a video student learns from an image teacher frame by frame: the loss scales with loss_weight, adds to the pixel loss, falls; the model names the teacher', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-distill-video-'));
  try {
    // one clip of the sample scene's pan, 8 frames of 128x96
    mkdirSync(join(dir, 'clips', 'pan'), { recursive: true });
    for (let t = 0; t < 8; t++) await writeImage(join(dir, 'clips', 'pan', `im${t}.png`), renderSampleFrame(3 * t, { width: 128, height: 96 }));
    copyFileSync(join(shippedWeightsDir(), 'etds-t-x4.safetensors'), join(dir, 'teacher.safetensors'));
    const train = (name: string, yaml: string) => {
      writeFileSync(join(dir, `${name}.yml`), yaml);
      return spawnSync(process.execPath, [CLI, 'train', `${name}.yml`, '--threads', '1'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    };
    const losses = (name: string) => readFileSync(join(dir, 'runs', name, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss?: number }).filter((r) => r.loss !== undefined).map((r) => r.loss!);
    for (const [name, pixel, distill, iters] of [['full', 0, 1, 40], ['half', 0, 0.5, 1], ['pix', 1, 0, 1], ['both', 1, 1, 1]] as const) {
      const r = train(name, videoConfig({ name, pixel, distill, iters }));
      assert.equal(r.status, 0, r.stderr);
      if (name === 'full') assert.match(r.stderr, /distilling from teacher\.safetensors \(ETDSForInference x4/);
    }
    const full = losses('full');
    assert.ok(full[0]! > 0.01, `a random student is far from the teacher (L1 ${full[0]})`);
    assert.ok(Math.abs(losses('half')[0]! - 0.5 * full[0]!) <= 1e-6 * full[0]!, `loss_weight 0.5: ${losses('half')[0]} against ${full[0]}`);
    assert.ok(Math.abs(losses('both')[0]! - (losses('pix')[0]! + full[0]!)) <= 1e-6, 'pixel + distillation, per frame and averaged alike');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(full.slice(-10)) < 0.7 * mean(full.slice(0, 5)), `the distillation loss falls: ${full.map((x) => x.toFixed(4)).join(' ')}`);
    const meta = loadWeightsFile(join(dir, 'runs', 'full', 'model.safetensors')).metadata;
    assert.equal(meta.distilled_from, 'teacher.safetensors');
    assert.equal(meta.arch, 'MobileRRN');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('distill.precompute: the targets on disk are the teacher on each whole LR image (autograd forward as reference), computed once and reused, a damaged one remade; the loss adds to the pixel loss and falls; sequences are refused', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-distill-pre-'));
  try {
    mkdirSync(join(dir, 'hr'));
    for (let i = 0; i < 3; i++) await writeImage(join(dir, 'hr', `${i}.png`), renderSampleFrame(i * 20, { width: 128, height: 96 }));
    copyFileSync(join(shippedWeightsDir(), 'espcn-x4.safetensors'), join(dir, 'teacher.safetensors'));
    const train = (name: string, yaml: string) => {
      writeFileSync(join(dir, `${name}.yml`), yaml);
      return spawnSync(process.execPath, [CLI, 'train', `${name}.yml`, '--threads', '1'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    };
    const losses = (name: string) => readFileSync(join(dir, 'runs', name, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss?: number }).filter((r) => r.loss !== undefined).map((r) => r.loss!);
    const data = '{ type: HRFolder, dataroot_gt: hr, cache_dir: cache, gt_size: 32, batch_size_per_gpu: 2 }';
    const pre = (name: string, pixel: number, distill: number, iters: number) =>
      config({ name, pixel, distill, iters, data }).replace('  loss: { type: L1Loss', '  precompute: true\n  loss: { type: L1Loss');

    let r = train('full', pre('full', 0, 1, 40));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /targets precomputed on the whole images/);
    assert.match(r.stderr, /teacher targets: 3 computed, 0 reused from cache\/teacher-[0-9a-f]{16}/);
    const meta = loadWeightsFile(join(dir, 'runs', 'full', 'model.safetensors')).metadata;
    assert.equal(meta.distilled_from, 'teacher.safetensors');

    // each target is the teacher's uint8 output on the whole LR image: checked against its autograd forward
    await initEngine({ threads: 1 });
    const { hrFolderSource } = await import('../src/data/sources.node.js');
    const { targetFile, readTarget } = await import('../src/data/targets.node.js');
    const ds = await hrFolderSource(join(dir, 'hr'), 4);
    const teacher = loadModelFile(join(dir, 'teacher.safetensors'));
    const sha = createHash('sha256').update(readFileSync(join(dir, 'teacher.safetensors'))).digest('hex');
    const tdir = join(dir, 'cache', `teacher-${sha.slice(0, 16)}`);
    for (const it of ds.items) {
      const got = await readTarget(targetFile(tdir, it, 4), it.hrW, it.hrH);
      assert.ok(!('bad' in got), `${it.name}: ${JSON.stringify(got)}`);
      const x = Tensor.from([1, it.lrH, it.lrW, 3], Float32Array.from(it.lr, (v) => v / 255));
      const y = noGrad(() => teacher.forward(leaf(x))).value.toArray();
      clearTape();
      x.dispose();
      let off = 0, worst = 0;
      for (let i = 0; i < y.length; i++) {
        const d = Math.abs(got[i]! - Math.round(Math.min(1, Math.max(0, y[i]!)) * 255));
        worst = Math.max(worst, d);
        if (d) off++;
      }
      assert.ok(worst <= 1 && off <= 0.001 * y.length, `${it.name}: ${off} of ${y.length} values off, worst ${worst}`);
    }
    teacher.dispose();

    // a second run reuses them; a damaged one is remade
    writeFileSync(targetFile(tdir, ds.items[1]!, 4), 'garbage');
    r = train('half', pre('half', 0, 0.5, 1));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /teacher targets: 1 computed, 2 reused/);
    r = train('pix', pre('pix', 1, 0, 1));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /teacher targets: 0 computed, 3 reused/);
    r = train('both', pre('both', 1, 1, 1));
    assert.equal(r.status, 0, r.stderr);
    const full = losses('full');
    assert.ok(full[0]! > 0.01, `a random student is far from the teacher (L1 ${full[0]})`);
    assert.ok(Math.abs(losses('half')[0]! - 0.5 * full[0]!) <= 1e-6 * full[0]!, `loss_weight 0.5: ${losses('half')[0]} against ${full[0]}`);
    assert.ok(Math.abs(losses('both')[0]! - (losses('pix')[0]! + full[0]!)) <= 1e-6, 'pixel + distillation');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(full.slice(-10)) < 0.7 * mean(full.slice(0, 5)), `the distillation loss falls: ${full.map((x) => x.toFixed(4)).join(' ')}`);

    // sequences: refused in one line
    mkdirSync(join(dir, 'clips', 'pan'), { recursive: true });
    for (let t = 0; t < 4; t++) await writeImage(join(dir, 'clips', 'pan', `im${t}.png`), renderSampleFrame(3 * t, { width: 128, height: 96 }));
    r = train('video', videoConfig({ name: 'video', pixel: 1, distill: 1, iters: 1 }).replace('  loss: { type: L1Loss', '  precompute: true\n  loss: { type: L1Loss'));
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trim().split('\n').at(-1)!, /distill\.precompute keeps the teacher's output on whole still images; sequences \(num_frame 3\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
