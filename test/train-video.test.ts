// Training a recurrent model on sequences: clips from frame folders, backpropagation through time,
// the loss falls, validation runs on held-out clips, the exported model loads as a video model,
// a stopped and resumed run ends with the same weights; config errors name the mismatch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './data.js';
import { encodePng } from '../src/io/image.node.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { parseTrainConfig } from '../src/train/config.js';
import { videoFolderSource } from '../src/data/videoSources.node.js';
import { sampleBatch } from '../src/data/dataset.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mvsr-tv-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** Learnable clips: smooth moving sinusoids (three clips, six frames of 64x48). */
async function clips(): Promise<string> {
  const root = path.join(tmp, 'clips');
  if (fs.existsSync(root)) return root;
  const W = 64, H = 48;
  const frame = (t: number, k: number) => {
    const d = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) {
      const u = x + 1.3 * t, v = y - 0.6 * t;
      d[(y * W + x) * 3 + c] = Math.round(127 + 110 * Math.sin(u / (2.2 + k) + c) * Math.cos(v / (3.1 + 0.5 * k)) * (0.6 + 0.4 * Math.sin((u + v) / 9)));
    }
    return { width: W, height: H, channels: 3 as const, bitDepth: 8 as const, data: d };
  };
  for (const [name, k] of [['00001_0001', 0], ['00002_0001', 1], ['00002_0002', 2]] as const) {
    fs.mkdirSync(path.join(root, name), { recursive: true });
    for (let t = 0; t < 6; t++) fs.writeFileSync(path.join(root, name, `im${t + 1}.png`), await encodePng(frame(t, k)));
  }
  return root;
}

const config = (root: string, total: number) => `name: rrn_test
scale: 2
manual_seed: 3
network_g: {type: MobileRRN, upscale: 2, num_feat: 8, num_block: 1}
datasets:
  train: {type: VideoFolder, dataroot_gt: ${root}, exclude: ['00001_*'], num_frame: 4, flip_sequence: true, lq_size: 12, batch_size_per_gpu: 4}
  val: {type: VideoFolder, dataroot_gt: ${root}, include: ['00001_*']}
train:
  optim_g: {type: Adam, lr: 0.003, betas: [0.9, 0.99]}
  total_iter: ${total}
  pixel_opt: {type: L1Loss}
val: {val_freq: ${total}}
logger: {print_freq: 1, save_checkpoint_freq: 20}
`;

function run(args: string[]): { code: number; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stderr: r.stderr };
}

test('sequence batches: every frame of a sample cut at the same place, consecutive frames (or reversed), held-out clips excluded', async () => {
  const root = await clips();
  const src = await videoFolderSource([root], 2, { exclude: ['00001_*'], numFrame: 4, lrPatch: 12 });
  assert.deepEqual(src.items.map((i) => [i.name, i.frames]), [['00002_0001', 6], ['00002_0002', 6]]);
  const o = { seed: 1, batchSize: 3, lrPatch: 12, hflip: false, rot: false, channelShuffle: false, numFrame: 4, temporalFlip: true };
  const b = sampleBatch(src, 5, o);
  const P = 12, n = 3 * P * P * 3;
  assert.equal(b.lr.length, 4 * n);
  // each sample's frames are found as consecutive frames of one clip at one crop, forwards or backwards
  for (let k = 0; k < 3; k++) {
    const patch = (t: number) => b.lr.subarray(t * n + k * P * P * 3, t * n + (k + 1) * P * P * 3);
    const found = src.items.some((it) => {
      const fr = it.lrW * it.lrH * 3;
      for (let start = 0; start + 4 <= it.frames!; start++) {
        for (const rev of [false, true]) {
          for (let y = 0; y + P <= it.lrH; y++) {
            for (let x = 0; x + P <= it.lrW; x++) {
              const ok = [0, 1, 2, 3].every((t) => {
                const f = start + (rev ? 3 - t : t), p = patch(t);
                for (let r = 0; r < P; r++) for (let c = 0; c < P * 3; c++) {
                  if (Math.abs(p[r * P * 3 + c]! - it.lr[f * fr + ((y + r) * it.lrW + x) * 3 + c]! / 255) > 1e-7) return false;
                }
                return true;
              });
              if (ok) return true;
            }
          }
        }
      }
      return false;
    });
    assert.ok(found, `sample ${k} is 4 consecutive frames of one training clip at one crop`);
  }
});

test('mvsr train on VideoFolder: BPTT lowers the loss, validates on the held-out clip, exports a loadable MobileRRN; resume ends identical', async () => {
  const root = await clips();
  const cfg = path.join(tmp, 'rrn.yml');
  fs.writeFileSync(cfg, config(root, 60));
  const a = path.join(tmp, 'A');
  const r = run(['train', cfg, '--run-dir', a, '--threads', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /2 training clips \(sequences of 4 frames\); 1 validation clips/);
  const log = fs.readFileSync(path.join(a, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { iter: number; loss?: number; val?: { psnr: number } });
  const losses = log.filter((x) => x.loss !== undefined).map((x) => x.loss!);
  const mean = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / xs.length;
  assert.ok(mean(losses.slice(-10)) < 0.5 * mean(losses.slice(0, 10)), `loss ${mean(losses.slice(0, 10))} -> ${mean(losses.slice(-10))}`);
  const val = log.find((x) => x.val)!.val!;
  assert.ok(val.psnr > 15 && val.psnr < 60, `validation PSNR ${val.psnr}`);
  const st = readSafetensors(fs.readFileSync(path.join(a, 'model.safetensors')));
  assert.equal(st.metadata.arch, 'MobileRRN');
  const ev = spawnSync(process.execPath, [CLI, 'eval-video', '--model', path.join(a, 'model.safetensors'), '--data', root, '--clips', '00001_*', '--json', '--threads', '1'], { encoding: 'utf8' });
  assert.equal(ev.status, 0, ev.stderr);
  const j = JSON.parse(ev.stdout) as { psnrY: number };
  assert.ok(Math.abs(j.psnrY - val.psnr) < 1e-9, `eval-video ${j.psnrY} = the run's validation ${val.psnr}`);
  // 40 iterations, then --resume to 60: the same final weights
  const b = path.join(tmp, 'B');
  assert.equal(run(['train', cfg, '--run-dir', b, '--threads', '2', 'train.total_iter=40']).code, 0);
  const rb = run(['train', cfg, '--run-dir', b, '--resume', '--threads', '2']);
  assert.equal(rb.code, 0, rb.stderr);
  const wa = readSafetensors(fs.readFileSync(path.join(a, 'model.safetensors'))).tensors;
  const wb = readSafetensors(fs.readFileSync(path.join(b, 'model.safetensors'))).tensors;
  for (const k of Object.keys(wa)) assert.deepEqual(wb[k]!.data, wa[k]!.data, k);
});

test('config: a video model needs VideoFolder data and an image model refuses it', () => {
  const base = (net: string, type: string) => `name: x\nscale: 4\nnetwork_g: {type: ${net}}\ndatasets:\n  train: {type: ${type}, dataroot_gt: d, lq_size: 16}\ntrain:\n  optim_g: {lr: 0.001}\n  total_iter: 10\n`;
  assert.throws(() => parseTrainConfig(base('RLSP', 'HRFolder'), 'a.yml'), /RLSP is a video model: train it on type: VideoFolder \(clips\), or on HRFolder stills with num_frame > 1/);
  assert.throws(() => parseTrainConfig(base('ETDS', 'VideoFolder'), 'a.yml'), /VideoFolder trains video models; ETDS is an image model/);
  assert.throws(() => parseTrainConfig(base('ETDS', 'HRFolder').replace('lq_size: 16', 'lq_size: 16, num_frame: 5'), 'a.yml'), /num_frame: sequences train video models; ETDS is an image model/);
  const ok = parseTrainConfig(base('RLSP', 'VideoFolder').replace('lq_size: 16', "lq_size: 16, num_frame: 7, exclude: ['00001_*']"), 'a.yml');
  assert.deepEqual([ok.datasets.train.num_frame, ok.datasets.train.exclude], [7, ['00001_*']]);
});

test('mvsr train --init an ECBSRT into RECBSR: the first conv is widened with zeros (said in the log), so a run that barely moves the weights scores as the image model in eval-video', async () => {
  const root = await clips();
  const { createModel } = await import('../src/models/registry.js');
  const { randomize, useEngine } = await import('./helpers.js');
  await useEngine(1);
  const { encodeModelMetadata } = await import('../src/io/weights.js');
  const { writeSafetensors } = await import('../src/io/safetensors.js');
  const img = createModel('ECBSRT', { upscale: 2, num_feat: 6, num_block: 1 });
  randomize(img, 0.2, 5);
  const imgFile = path.join(tmp, 'ecbsrt.safetensors');
  fs.writeFileSync(imgFile, writeSafetensors(img.stateDict(), encodeModelMetadata({ arch: 'ECBSRT', args: img.args, scale: 2 })));
  img.dispose();
  const cfg = path.join(tmp, 'recbsr.yml');
  // one step at a learning rate that cannot move a weight by more than 1e-10
  fs.writeFileSync(cfg, config(root, 1).replace('{type: MobileRRN, upscale: 2, num_feat: 8, num_block: 1}', '{type: RECBSR, upscale: 2, num_feat: 6, num_block: 1, align_radius: 2}').replace('lr: 0.003', 'lr: 1.0e-10'));
  const dir = path.join(tmp, 'R');
  const r = run(['train', cfg, '--run-dir', dir, '--threads', '2', '--init', imgFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /initialised 8\/8 parameters .*widened with zero weights for the new inputs: backbone\.0\.0\.weight \(3 -> 12 input channels\)/);
  const psnr = (m: string) => {
    const ev = spawnSync(process.execPath, [CLI, 'eval-video', '--model', m, '--data', root, '--clips', '00001_*', '--json', '--threads', '1'], { encoding: 'utf8' });
    assert.equal(ev.status, 0, ev.stderr);
    return (JSON.parse(ev.stdout) as { psnrY: number }).psnrY;
  };
  const a = psnr(imgFile), b = psnr(path.join(dir, 'model.safetensors'));
  assert.ok(Math.abs(a - b) < 1e-3, `ECBSRT ${a} dB, RECBSR started from it ${b} dB`);
});
