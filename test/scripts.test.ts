// The maintenance scripts in scripts/ as a maintainer runs them: clip-stats finds a known
// translation and a known loss of sharpness; ship-model copies the weights bit for bit and adds
// the figures `mvsr eval` reports for the same model and data; compare-evals counts as by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './data.js';
import { mulberry32, useEngine } from './helpers.js';
import { writeImage } from '../src/io/image.node.js';
import type { Image } from '../src/io/image.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { encodeModelMetadata } from '../src/io/weights.js';
import { createModel } from '../src/models/registry.js';
import { manualSeed } from '../src/nn/init.js';

function node(args: string[], cwd = REPO_ROOT): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A W x H window of a noise field (grey, one value per pixel) starting at (ox, oy). */
function crop(field: Float64Array, FW: number, ox: number, oy: number, W: number, H: number): Float64Array {
  const out = new Float64Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = field[(oy + y) * FW + ox + x]!;
  return out;
}

/** 3x3 box blur with clamped borders. */
function blur(a: Float64Array, W: number, H: number): Float64Array {
  const out = new Float64Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let j = -1; j <= 1; j++) for (let i = -1; i <= 1; i++) s += a[Math.min(H - 1, Math.max(0, y + j)) * W + Math.min(W - 1, Math.max(0, x + i))]!;
      out[y * W + x] = s / 9;
    }
  }
  return out;
}

const toRgb = (a: Float64Array, W: number, H: number): Image => ({
  width: W, height: H, channels: 3, bitDepth: 8,
  data: Uint8Array.from({ length: W * H * 3 }, (_, i) => Math.round(a[Math.floor(i / 3)]!)),
});

test('clip-stats: the per-frame translation of a panned clip, and the sharpness lost by a clip blurred frame after frame', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-clipstats-'));
  const W = 180, H = 160, FW = 260, FH = 240, N = 4, move = [3, -2] as const;
  const rnd = mulberry32(5);
  // noise smoothed twice: texture with some spatial correlation, as in a photo (block matching
  // between white noise and its blurred copy has nothing to lock on)
  const field = blur(blur(Float64Array.from({ length: FW * FH }, () => 255 * rnd()), FW, FH), FW, FH);
  for (const clip of ['pan', 'pan_blurred']) {
    mkdirSync(path.join(dir, clip));
    for (let t = 0; t < N; t++) {
      // content moves by `move` per frame: frame t shows the field from (40 - t*dx, 40 - t*dy)
      let f = crop(field, FW, 40 - t * move[0], 40 - t * move[1], W, H);
      if (clip === 'pan_blurred') for (let k = 0; k < t; k++) f = blur(f, W, H);
      await writeImage(path.join(dir, clip, `im${t + 1}.png`), toRgb(f, W, H));
    }
  }
  const r = node(['scripts/clip-stats.mjs', dir, '--radius', '6']);
  assert.equal(r.code, 0, r.stderr);
  const block = (name: string) => r.stdout.split('\n').slice(r.stdout.split('\n').findIndex((l) => l.startsWith(`${name}:`))).slice(0, 3).join('\n');
  const pan = block('pan'), blurred = block('pan_blurred');
  assert.match(pan, new RegExp(`^pan: ${N} frames, ${W}x${H}`));
  // the exact shift with no residual, for each of the N - 1 frame pairs
  assert.equal(pan.match(/\(3,-2\) 0\.0\b/g)?.length, N - 1, pan);
  const ratio = (b: string) => Number(/last\/first ([\d.]+)/.exec(b)![1]);
  assert.ok(Math.abs(ratio(pan) - 1) <= 0.1, `a panned clip keeps its sharpness: ${ratio(pan)}`);
  // three more box blurs: the Laplacian's RMS falls far below the first frame's
  assert.ok(ratio(blurred) < 0.5, `a clip blurred frame after frame loses it: ${ratio(blurred)}`);
  assert.equal(blurred.match(/\(3,-2\)/g)?.length, N - 1, `blurring does not hide the shift: ${blurred}`);
  // --scale: the align: global estimator on the x1/2 LR frames finds the same pan, to a fraction of a pixel
  const sub = node(['scripts/clip-stats.mjs', dir, '--clips', 'pan', '--radius', '6', '--scale', '2']);
  assert.equal(sub.code, 0, sub.stderr);
  const est = [...(/align: global estimate x2 \(dx,dy\) HR px: (.*)/.exec(sub.stdout)?.[1] ?? '').matchAll(/\((-?[\d.]+),(-?[\d.]+)\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(est.length, N - 1, sub.stdout);
  for (const [dx, dy] of est) assert.ok(Math.abs(dx! - move[0]) < 0.25 && Math.abs(dy! - move[1]) < 0.25, `estimated (${dx}, ${dy}) for (${move})`);
  // a selection that matches nothing is one line on stderr, not a stack trace
  const none = node(['scripts/clip-stats.mjs', dir, '--clips', 'zoom*']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no clips match the selection/);
  assert.doesNotMatch(none.stderr, /\n\s+at /);
});

test('ship-model: weights copied bit for bit, the provenance kept, and the Set5/Set14 figures of `mvsr eval` added', async () => {
  await useEngine(1);
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-ship-'));
  const rnd = mulberry32(9);
  // a tiny data folder in the shared-data layout: smooth images (so a x4 net has something to do)
  const smooth = (W: number, H: number, s: number): Image => ({
    width: W, height: H, channels: 3, bitDepth: 8,
    data: Uint8Array.from({ length: W * H * 3 }, (_, i) => {
      const p = Math.floor(i / 3), x = p % W, y = Math.floor(p / W), c = i % 3;
      return Math.round(128 + 90 * Math.sin((x + 3 * c) / (5 + s)) * Math.cos(y / (7 + s)) + 20 * rnd());
    }),
  });
  for (const [set, n] of [['Set5', 2], ['Set14', 3]] as const) {
    mkdirSync(path.join(dir, 'data/benchmarks', set), { recursive: true });
    for (let k = 0; k < n; k++) await writeImage(path.join(dir, 'data/benchmarks', set, `img${k}.png`), smooth(50 + 7 * k, 44 + 5 * k, k));
  }
  manualSeed(4);
  const m = createModel('ESPCN', { colors: 3, upscale: 4 });
  const src = path.join(dir, 'run-model.safetensors');
  writeFileSync(src, writeSafetensors(m.stateDict(), encodeModelMetadata({ arch: 'ESPCN', args: m.args, scale: 4, provenance: { trained_by: 'mvsr', iterations: '1234' } })));
  m.dispose();
  mkdirSync(path.join(dir, 'weights'));
  const r = node([path.join(REPO_ROOT, 'scripts/ship-model.mjs'), src, 'toy-x4', '--data', 'data'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(path.join(dir, 'weights')), ['toy-x4.safetensors'], 'one file, no temporary left');
  const a = readSafetensors(readFileSync(src), 'src'), b = readSafetensors(readFileSync(path.join(dir, 'weights/toy-x4.safetensors')), 'shipped');
  assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort());
  for (const k of Object.keys(a.tensors)) {
    assert.deepEqual(b.tensors[k]!.shape, a.tensors[k]!.shape, k);
    assert.deepEqual(Buffer.from(b.tensors[k]!.data.buffer, b.tensors[k]!.data.byteOffset, b.tensors[k]!.data.byteLength), Buffer.from(a.tensors[k]!.data.buffer, a.tensors[k]!.data.byteOffset, a.tensors[k]!.data.byteLength), k);
  }
  for (const [k, v] of Object.entries(a.metadata)) assert.equal(b.metadata[k], v, `metadata ${k} kept`);
  assert.ok(existsSync(path.join(REPO_ROOT, 'dist/src/cli/main.js')));
  for (const set of ['Set5', 'Set14']) {
    const e = node([path.join(REPO_ROOT, 'dist/src/cli/main.js'), 'eval', '--model', src, '--data', path.join('data/benchmarks', set), '--json'], dir);
    assert.equal(e.code, 0, e.stderr);
    const want = JSON.parse(e.stdout) as { psnr: number; ssim: number };
    assert.equal(b.metadata[`${set.toLowerCase()}_psnr`], want.psnr.toFixed(3), `${set} PSNR as mvsr eval`);
    assert.equal(b.metadata[`${set.toLowerCase()}_ssim`], want.ssim.toFixed(4), `${set} SSIM as mvsr eval`);
  }
  assert.match(b.metadata.metrics_protocol ?? '', /crop = scale/);
});

test('compare-evals: the means, their difference and the images where the first is better, as counted by hand; mismatched or foreign files stop with the file named', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-compare-'));
  const rows = (psnrs: number[]) => JSON.stringify({ rows: psnrs.map((psnr, i) => ({ name: `img${i}.png`, psnr })) });
  // a is better on img0 and img2 (equal on img3 counts as not better); means 31.0 and 30.5
  writeFileSync(path.join(dir, 'a.json'), rows([32, 30, 33, 29]));
  writeFileSync(path.join(dir, 'b.json'), rows([31, 31, 31, 29]));
  writeFileSync(path.join(dir, 'short.json'), rows([31, 31]));
  writeFileSync(path.join(dir, 'other.json'), '{"psnr": 30}');
  const script = path.join(REPO_ROOT, 'scripts', 'compare-evals.mjs');
  const r = node([script, path.join(dir, 'a.json'), path.join(dir, 'b.json')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /a\.json: 31\.000 dB, .*b\.json: 30\.500 dB, difference 0\.500; the first is better on 2 of 4/);
  const short = node([script, path.join(dir, 'a.json'), path.join(dir, 'short.json')]);
  assert.equal(short.code, 1);
  assert.match(short.stderr, /not on the same images \(img2\.png, and 1 more\)/);
  const other = node([script, path.join(dir, 'other.json'), path.join(dir, 'b.json')]);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /other\.json: no rows/);
});
