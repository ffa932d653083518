// Training data pipeline: folder sources (RGB conversion, mod-crop, MATLAB-bicubic LR, skipped
// tiny images, paired folders, disk cache), stateless sampling checked against a naive
// crop-then-flip implementation written here, and the worker loader against the inline one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../src/tensor/random.js';
import { type Image, createImage, toRGB, to8Bit, modCrop, cropImage, imageToFloat32 } from '../src/io/image.js';
import { writeImage, readImage } from '../src/io/image.node.js';
import { imresizeUint8 } from '../src/data/imresize.js';
import { makePair } from '../src/eval/image.js';
import { sampleBatch, planBatch, patchEnergy, type SampleOptions, type SrDataset, type SrItem } from '../src/data/dataset.js';
import { gatherPatch, CHANNEL_PERMUTATIONS, type AugmentPlan } from '../src/data/augment.js';
import { hrFolderSource, pairedFolderSource, loadValSet } from '../src/data/sources.node.js';
import { createBatchLoader, type SourceSpec } from '../src/data/loader.js';
import { targetFile, writeTarget } from '../src/data/targets.node.js';
import { DATA_DIR, needData } from './data.js';

// ---------------------------------------------------------------------------------------------
// Fixtures: small noisy images of every storage kind, written to a temp folder.

function noise(w: number, h: number, channels: 1 | 2 | 3 | 4, seed: number, bitDepth: 8 | 16 = 8): Image {
  const img = createImage(w, h, channels, bitDepth);
  const r = new Rng(seed), max = bitDepth === 16 ? 65536 : 256;
  for (let i = 0; i < img.data.length; i++) img.data[i] = r.int(max);
  return img;
}

const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `mvsr-data-${tag}-`));
  tmpDirs.push(d);
  return d;
}

const SCALE = 4;

/** rgb 50x42 (not a multiple of 4), grey, RGBA, 16-bit, and a 10x10 that is smaller than a patch. */
async function makeHrFolder(): Promise<{ dir: string; imgs: Record<string, Image> }> {
  const dir = tmpDir('hr');
  const imgs: Record<string, Image> = {
    a_rgb: noise(50, 42, 3, 1),
    b_grey: noise(37, 64, 1, 2),
    c_rgba: noise(44, 40, 4, 3),
    d_16bit: noise(40, 33, 3, 4, 16),
    e_tiny: noise(10, 10, 3, 5),
  };
  for (const [n, img] of Object.entries(imgs)) await writeImage(path.join(dir, `${n}.png`), img);
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
  return { dir, imgs };
}

const fixture = makeHrFolder();

const LR_PATCH = 6; // HR patch 24: e_tiny (10x10) is skipped

function opts(o: Partial<SampleOptions> = {}): SampleOptions {
  return { seed: 7, batchSize: 5, lrPatch: LR_PATCH, hflip: true, rot: true, channelShuffle: false, ...o };
}

// ---------------------------------------------------------------------------------------------
// Naive reference: crop, then BasicSR's augment step by step on nested arrays, then x / 255.

type Px = number[][][]; // [row][col][channel]

function cropNaive(data: Uint8Array, w: number, x0: number, y0: number, q: number): Px {
  const out: Px = [];
  for (let r = 0; r < q; r++) {
    const row: number[][] = [];
    for (let c = 0; c < q; c++) {
      const s = ((y0 + r) * w + x0 + c) * 3;
      row.push([data[s]!, data[s + 1]!, data[s + 2]!]);
    }
    out.push(row);
  }
  return out;
}

function augmentNaive(p: Px, plan: AugmentPlan): Px {
  let a = p.map((row) => row.map((px) => px.slice()));
  if (plan.hflip) a = a.map((row) => row.slice().reverse()); // cv2.flip(img, 1)
  if (plan.vflip) a = a.slice().reverse(); // cv2.flip(img, 0)
  if (plan.transpose) a = a[0]!.map((_, c) => a.map((row) => row[c]!)); // img.transpose(1, 0, 2)
  return a.map((row) => row.map((px) => plan.perm.map((k) => px[k]!)));
}

function flat(p: Px): Float32Array {
  return Float32Array.from(p.flat(2), (v) => v / 255);
}

function allPlans(): AugmentPlan[] {
  const out: AugmentPlan[] = [];
  for (let m = 0; m < 8; m++) {
    for (const perm of CHANNEL_PERMUTATIONS) out.push({ hflip: !!(m & 1), vflip: !!(m & 2), transpose: !!(m & 4), perm });
  }
  return out;
}

function slice(a: Float32Array, b: number, n: number): Float32Array {
  return a.subarray(b * n, (b + 1) * n);
}

// ---------------------------------------------------------------------------------------------

test('hrFolderSource: RGB uint8, mod-cropped HR, LR = imresizeUint8(HR, 1/s), tiny images listed in skipped', async () => {
  const { dir, imgs } = await fixture;
  const warnings: string[] = [], progress: [number, number, string][] = [];
  const ds = await hrFolderSource(dir, SCALE, { lrPatch: LR_PATCH, onWarning: (m) => warnings.push(m), onProgress: (d, t, n) => progress.push([d, t, n]) });
  assert.deepEqual(ds.items.map((i) => i.name), ['a_rgb', 'b_grey', 'c_rgba', 'd_16bit']);
  assert.equal(ds.scale, SCALE);
  assert.equal(ds.skipped.length, 1);
  assert.match(ds.skipped[0]!, /e_tiny\.png: 8x8 .*smaller than one 24x24 HR patch/);
  assert.deepEqual(warnings, ds.skipped);
  assert.deepEqual(progress.map((p) => p[0]), [1, 2, 3, 4, 5]);
  assert.ok(progress.every((p) => p[1] === 5));
  for (const it of ds.items) {
    const src = imgs[it.name]!;
    const want = modCrop(toRGB(to8Bit(src)), SCALE);
    assert.equal(it.file, path.join(dir, `${it.name}.png`));
    assert.deepEqual([it.hrW, it.hrH, it.lrW, it.lrH], [want.width, want.height, want.width / SCALE, want.height / SCALE], it.name);
    assert.deepEqual(it.hr, want.data, `${it.name} HR`);
    assert.deepEqual(it.lr, imresizeUint8(want, 1 / SCALE).data, `${it.name} LR`);
  }
  // grey replicated, alpha dropped, 16-bit rounded: spot checks against the raw samples
  const grey = ds.items[1]!, g = imgs.b_grey!;
  assert.deepEqual([...grey.hr.subarray(0, 3)], [g.data[0], g.data[0], g.data[0]]);
  const rgba = ds.items[2]!, c = imgs.c_rgba!;
  assert.deepEqual([...rgba.hr.subarray(3, 6)], [...c.data.subarray(4, 7)]);
  const d16 = ds.items[3]!, d = imgs.d_16bit!;
  assert.equal(d16.hr[0], Math.round(d.data[0]! / 257));
  await assert.rejects(hrFolderSource(dir, SCALE, { lrPatch: 100 }), /every image was skipped/);
  await assert.rejects(hrFolderSource(path.join(dir, 'nope'), SCALE), /nope: no such folder/);
});

test('sampleBatch: a pure function of (seed, iteration): repeatable, resumable, order-free', async () => {
  const ds = await hrFolderSource((await fixture).dir, SCALE, { lrPatch: LR_PATCH });
  const o = opts({ channelShuffle: true });
  const b5 = sampleBatch(ds, 5, o);
  assert.equal(b5.lr.length, 5 * 6 * 6 * 3);
  assert.equal(b5.hr.length, 5 * 24 * 24 * 3);
  assert.deepEqual(sampleBatch(ds, 5, o), b5);
  assert.notDeepEqual(sampleBatch(ds, 6, o).lr, b5.lr);
  assert.notDeepEqual(sampleBatch(ds, 5, { ...o, seed: 8 }).lr, b5.lr);
  // batch k asked first == batch k asked after 0..k-1
  const k = 9, fresh = sampleBatch(ds, k, o);
  for (let i = 0; i < k; i++) sampleBatch(ds, i, o);
  assert.deepEqual(sampleBatch(ds, k, o), fresh);
  // values are x/255 of uint8 samples
  assert.ok(b5.hr.every((v) => v >= 0 && v <= 1 && Number.isInteger(Math.round(v * 255)) && Math.abs(v * 255 - Math.round(v * 255)) < 1e-4));
  // plans: uniform-ish use of items and of every flip/transpose combination over many batches
  const seen = new Set<string>(), used = new Set<number>();
  for (let it = 0; it < 100; it++) {
    for (const p of planBatch(ds, it, o)) {
      seen.add(`${+p.hflip}${+p.vflip}${+p.transpose}${p.perm.join('')}`);
      used.add(p.item);
    }
  }
  assert.equal(seen.size, 48);
  assert.equal(used.size, ds.items.length);
  assert.throws(() => sampleBatch(ds, 0, { ...o, lrPatch: 11 }), /a_rgb\.png: LR 12x10 is smaller than the 11x11 LR patch/);
  assert.throws(() => sampleBatch(ds, -1, o), /iteration -1/);
});

test('sampleBatch: LR and HR patches are the cached LR/HR crops at (x, y) and (x*s, y*s), augmented alike (naive reference)', async () => {
  const ds = await hrFolderSource((await fixture).dir, SCALE, { lrPatch: LR_PATCH });
  const o = opts({ channelShuffle: true, batchSize: 8 });
  const P = o.lrPatch, Q = P * SCALE;
  for (let it = 0; it < 12; it++) {
    const b = sampleBatch(ds, it, o), plans = planBatch(ds, it, o);
    plans.forEach((p, i) => {
      const item = ds.items[p.item]!;
      assert.ok(p.x >= 0 && p.y >= 0 && p.x + P <= item.lrW && p.y + P <= item.lrH);
      assert.deepEqual(slice(b.lr, i, P * P * 3), flat(augmentNaive(cropNaive(item.lr, item.lrW, p.x, p.y, P), p)), `it ${it} sample ${i} LR`);
      assert.deepEqual(slice(b.hr, i, Q * Q * 3), flat(augmentNaive(cropNaive(item.hr, item.hrW, p.x * SCALE, p.y * SCALE, Q), p)), `it ${it} sample ${i} HR`);
    });
  }
});

test('gatherPatch: each flip/transpose/channel order is the exact permutation the naive steps give', () => {
  const W = 11, H = 9, q = 5;
  const src = new Uint8Array(W * H * 3).map((_, i) => i % 251); // distinct within any 5x5 window
  for (const plan of allPlans()) {
    const out = new Float32Array(2 + q * q * 3).fill(-1);
    gatherPatch(src, W, 4, 3, q, plan, out, 2);
    assert.deepEqual(out.subarray(0, 2), Float32Array.of(-1, -1), 'writes nothing before outOffset');
    const want = flat(augmentNaive(cropNaive(src, W, 4, 3, q), plan));
    assert.deepEqual(out.subarray(2), want, JSON.stringify(plan));
    // a permutation of the window's samples
    const sorted = (a: Float32Array) => Array.from(a).sort((x, y) => x - y);
    assert.deepEqual(sorted(out.subarray(2)), sorted(flat(cropNaive(src, W, 4, 3, q))));
  }
});

test('channel shuffle: same crops and flips, channels permuted by one order shared by LR and HR', async () => {
  const ds = await hrFolderSource((await fixture).dir, SCALE, { lrPatch: LR_PATCH });
  const o = opts({ batchSize: 16 });
  const plain = sampleBatch(ds, 3, o), shuffled = sampleBatch(ds, 3, { ...o, channelShuffle: true });
  const plans = planBatch(ds, 3, { ...o, channelShuffle: true });
  assert.ok(plans.some((p) => p.perm.join() !== '0,1,2'), 'some sample is shuffled');
  for (const [a, b, n] of [[plain.lr, shuffled.lr, 36], [plain.hr, shuffled.hr, 576]] as const) {
    plans.forEach((p, i) => {
      for (let px = 0; px < n; px++) {
        for (let c = 0; c < 3; c++) assert.equal(b[(i * n + px) * 3 + c], a[(i * n + px) * 3 + p.perm[c]!]);
      }
    });
  }
});

/** Naive gradient energy: luma R+G+B as a 2-D array, then |right - here| and |below - here| inside the window. */
function energyNaive(lr: Uint8Array, w: number, x: number, y: number, P: number): number {
  const L = Array.from({ length: P }, (_, r) => Array.from({ length: P }, (_, c) => {
    const i = ((y + r) * w + x + c) * 3;
    return lr[i]! + lr[i + 1]! + lr[i + 2]!;
  }));
  let e = 0;
  for (let r = 0; r < P; r++) for (let c = 0; c < P; c++) {
    if (c + 1 < P) e += Math.abs(L[r]![c + 1]! - L[r]![c]!);
    if (r + 1 < P) e += Math.abs(L[r + 1]![c]! - L[r]![c]!);
  }
  return e;
}

test('patch mining: crops drawn with the exact probability of "K uniform candidates, one kept by energy + 1" (enumerated reference)', () => {
  // LR 16 x 8: left half flat grey, right half noise; 4 x 4 patches at 13 x 5 positions
  const lrW = 16, lrH = 8, P = 4, K = 3;
  const lr = new Uint8Array(lrW * lrH * 3).fill(100);
  const rng = new Rng(7);
  for (let y = 0; y < lrH; y++) for (let x = 8; x < lrW; x++) for (let c = 0; c < 3; c++) lr[(y * lrW + x) * 3 + c] = rng.int(256);
  const item: SrItem = { name: 'half', file: '', lr, hr: new Uint8Array(lrW * lrH * 48), lrW, lrH, hrW: lrW * 4, hrH: lrH * 4 };
  const ds: SrDataset = { items: [item], scale: 4, skipped: [] };
  for (let x = 0; x <= lrW - P; x++) for (let y = 0; y <= lrH - P; y++) assert.equal(patchEnergy(lr, lrW, x, y, P), energyNaive(lr, lrW, x, y, P));
  assert.equal(patchEnergy(lr, lrW, 0, 0, P), 0, 'a flat window has no energy');

  // exact law of the kept crop's x: every tuple of K positions, each kept with weight / sum
  const pos: [number, number][] = [];
  for (let y = 0; y <= lrH - P; y++) for (let x = 0; x <= lrW - P; x++) pos.push([x, y]);
  const wt = pos.map(([x, y]) => energyNaive(lr, lrW, x, y, P) + 1);
  const pX = new Float64Array(lrW - P + 1);
  const n = pos.length, tuples = n ** K;
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) for (let c = 0; c < n; c++) {
    const sum = wt[a]! + wt[b]! + wt[c]!;
    for (const k of [a, b, c]) pX[pos[k]![0]]! += wt[k]! / sum / tuples;
  }
  const o: SampleOptions = { seed: 3, batchSize: 4000, lrPatch: P, hflip: true, rot: true, channelShuffle: false };
  const plans = [0, 1, 2].flatMap((it) => planBatch(ds, it, { ...o, minePatches: K }));
  const N = plans.length;
  for (const [label, inSet] of [['flat (x = 0)', (x: number) => x === 0], ['all noise (x >= 8)', (x: number) => x >= 8], ['x = 5', (x: number) => x === 5]] as const) {
    const p = pX.reduce((s, v, x) => s + (inSet(x) ? v : 0), 0);
    const f = plans.filter((q) => inSet(q.x)).length / N;
    assert.ok(Math.abs(f - p) < 4.5 * Math.sqrt(p * (1 - p) / N), `${label}: drawn ${f.toFixed(4)}, expected ${p.toFixed(4)}`);
  }
  assert.ok(pX[0]! < 0.25 / (lrW - P + 1), 'a flat crop is kept far less often than uniform sampling would');

  // 1 candidate is the uniform crop, draw for draw
  assert.deepEqual(planBatch(ds, 5, { ...o, batchSize: 50, minePatches: 1 }), planBatch(ds, 5, { ...o, batchSize: 50 }));
  assert.throws(() => planBatch(ds, 0, { ...o, minePatches: 0 }), /minePatches 0 must be a positive integer/);
  assert.throws(() => planBatch(ds, 0, { ...o, minePatches: 2, numFrame: 2 }), /patch mining \(minePatches 2\) is for single frames/);
});

test('batch loader: the worker gives the inline batches, in order, after jumps and on resume; each caller owns its buffers', async () => {
  const { dir } = await fixture;
  const spec: SourceSpec = { kind: 'hrFolder', dirs: dir, scale: SCALE };
  const o = { ...opts({ channelShuffle: true }), prefetch: 2 };
  const progress: number[] = [];
  const worker = createBatchLoader(spec, { ...o, onProgress: (d) => progress.push(d) });
  const inline = createBatchLoader(spec, { ...o, inline: true });
  try {
    const info = await worker.ready;
    assert.deepEqual(info.names, ['a_rgb', 'b_grey', 'c_rgba', 'd_16bit']);
    assert.equal(info.skipped.length, 1);
    assert.deepEqual(progress, [1, 2, 3, 4, 5]);
    const ds = await hrFolderSource(dir, SCALE, { lrPatch: LR_PATCH });
    for (const k of [0, 1, 2, 3, 4, 20, 21, 3, 4, 5, 0]) {
      const [w, i] = await Promise.all([worker.next(k), inline.next(k)]);
      assert.deepEqual(w, i, `iteration ${k}`);
      assert.deepEqual(w, sampleBatch(ds, k, o), `iteration ${k} vs sampleBatch`);
    }
    // two requests at once, and the same iteration twice: each caller owns its own buffers
    const [x, y, z] = await Promise.all([worker.next(30), worker.next(31), worker.next(31)]);
    assert.deepEqual(x, sampleBatch(ds, 30, o));
    assert.deepEqual(y, z);
    assert.notEqual(y.lr.buffer, z.lr.buffer);
  } finally {
    await worker.close();
    await inline.close();
  }
  await assert.rejects(worker.next(0), /loader is closed/);
});

test('batch loader: a bad file or a dead worker rejects next() with one line naming the cause', async () => {
  const dir = tmpDir('bad');
  await writeImage(path.join(dir, 'good.png'), noise(32, 32, 3, 9));
  const bad = path.join(dir, 'bad.png');
  fs.writeFileSync(bad, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(40, 7)]));
  const spec: SourceSpec = { kind: 'hrFolder', dirs: dir, scale: 2 };
  for (const inline of [false, true]) {
    const l = createBatchLoader(spec, { ...opts({ lrPatch: 4 }), inline });
    const e = await l.next(0).then(() => null, (err: Error) => err);
    assert.ok(e, `inline=${inline}: rejected`);
    assert.ok(e.message.includes(bad), e.message);
    assert.ok(!e.message.includes('\n'), e.message);
    await assert.rejects(l.ready, (r: Error) => r.message === e.message);
    await l.close();
  }
  // a worker that dies (uncaught error) fails every pending and later request
  const l = createBatchLoader({ kind: 'hrFolder', dirs: (await fixture).dir, scale: SCALE }, { ...opts(), _crashAtIteration: 0 });
  await assert.rejects(l.next(0), /^Error: mvsr: batch loader worker failed: test crash at iteration 0$/m);
  await assert.rejects(l.next(1), /batch loader worker failed/);
  await l.close();
});

test('distillation targets: cropped and augmented exactly as the HR (naive reference), through the worker and inline; a missing or damaged target stops in one line naming the image and the file', async () => {
  const { dir } = await fixture;
  const ds = await hrFolderSource(dir, SCALE, { lrPatch: LR_PATCH });
  const tdir = tmpDir('targets');
  // each image's target: its HR with every byte moved by 17 (mod 256), so it differs from the HR everywhere
  const targets = ds.items.map((it) => it.hr.map((v) => (v + 17) % 256));
  for (const [i, it] of ds.items.entries()) await writeTarget(targetFile(tdir, it, SCALE), it.hrW, it.hrH, targets[i]!);
  const spec: SourceSpec = { kind: 'hrFolder', dirs: dir, scale: SCALE, targetDir: tdir };
  const o = opts({ channelShuffle: true, batchSize: 8 });
  const Q = o.lrPatch * SCALE;
  const worker = createBatchLoader(spec, o), inline = createBatchLoader(spec, { ...o, inline: true });
  try {
    assert.deepEqual((await worker.ready).missingTargets, []);
    for (const k of [0, 1, 7, 3]) {
      const [w, i] = await Promise.all([worker.next(k), inline.next(k)]);
      assert.deepEqual(w, i, `iteration ${k}: worker and inline`);
      assert.ok(w.target && w.target.length === w.hr.length);
      planBatch(ds, k, o).forEach((p, b) => {
        const it = ds.items[p.item]!;
        assert.deepEqual(slice(w.target!, b, Q * Q * 3), flat(augmentNaive(cropNaive(targets[p.item]!, it.hrW, p.x * SCALE, p.y * SCALE, Q), p)), `it ${k} sample ${b}`);
      });
      // the LR and HR are the batch without targets
      const plain = sampleBatch(ds, k, o);
      assert.deepEqual(w.lr, plain.lr);
      assert.deepEqual(w.hr, plain.hr);
    }
  } finally {
    await worker.close();
    await inline.close();
  }
  // a damaged target (wrong size) and a missing one
  const victim = ds.items[1]!, vf = targetFile(tdir, victim, SCALE);
  await writeTarget(vf, victim.hrW - SCALE, victim.hrH, new Uint8Array((victim.hrW - SCALE) * victim.hrH * 3));
  for (const why of [/holds \d+x\d+, expected/, /missing/]) {
    if (String(why).includes('missing')) fs.rmSync(vf);
    const l = createBatchLoader(spec, { ...o, inline: true });
    const e = await l.next(0).then(() => null, (err: Error) => err);
    assert.ok(e && !e.message.includes('\n'), String(e?.message));
    assert.ok(e.message.includes(victim.file) && e.message.includes(vf), e.message);
    assert.match(e.message, why);
    await l.close();
  }
  // with missingTargets 'report' the loader lists the images without a whole target instead of
  // stopping (the trainer then makes them and loads again), through the worker and inline
  for (const inline of [false, true]) {
    const l = createBatchLoader({ ...spec, missingTargets: 'report' }, { ...o, inline });
    assert.deepEqual((await l.ready).missingTargets, [victim.name], `inline ${inline}`);
    await l.close();
  }
});

test('pairedFolderSource: pairs by name with filenameTmpl, checks sizes naming both files, and that every HR has an LR', async () => {
  const root = tmpDir('paired'), gt = path.join(root, 'gt'), lq = path.join(root, 'lq');
  fs.mkdirSync(gt);
  fs.mkdirSync(lq);
  const hrA = noise(32, 24, 3, 11), hrB = noise(16, 16, 1, 12), hrT = noise(8, 8, 3, 13);
  await writeImage(path.join(gt, 'a.png'), hrA);
  await writeImage(path.join(gt, 'b.png'), hrB);
  await writeImage(path.join(gt, 't.png'), hrT);
  const lrA = noise(16, 12, 3, 14), lrB = noise(8, 8, 3, 15);
  await writeImage(path.join(lq, 'ax2.png'), lrA);
  await writeImage(path.join(lq, 'bx2.png'), lrB);
  await writeImage(path.join(lq, 'tx2.png'), noise(4, 4, 3, 16));
  const ds = await pairedFolderSource(gt, lq, 2, { filenameTmpl: '{}x2', lrPatch: 5 });
  assert.deepEqual(ds.items.map((i) => i.name), ['a', 'b']);
  assert.deepEqual(ds.items[0]!.hr, hrA.data);
  assert.deepEqual(ds.items[0]!.lr, lrA.data);
  assert.deepEqual(ds.items[1]!.hr, toRGB(hrB).data);
  assert.match(ds.skipped[0]!, /t\.png: 8x8 .*smaller than one 10x10 HR patch/);
  // sampling from paired items works the same way
  const b = sampleBatch(ds, 0, { ...opts({ lrPatch: 5 }) });
  assert.equal(b.hr.length, 5 * 10 * 10 * 3);

  await assert.rejects(pairedFolderSource(gt, lq, 2), (e: Error) => /no LR image for 3 HR image\(s\)/.test(e.message) && e.message.includes('a.png -> a.png'));
  await writeImage(path.join(lq, 'bx2.png'), noise(8, 7, 3, 15));
  await assert.rejects(pairedFolderSource(gt, lq, 2, { filenameTmpl: '{}x2' }), (e: Error) =>
    e.message.includes(path.join(lq, 'bx2.png')) && e.message.includes(path.join(gt, 'b.png')) && /8x7.*16x16/.test(e.message));
  fs.rmSync(path.join(lq, 'bx2.png'));
  await assert.rejects(pairedFolderSource(gt, lq, 2, { filenameTmpl: '{}x2' }), (e: Error) => e.message.includes('b.png -> bx2.png'));
});

test('disk cache: reused on the next load, rebuilt when damaged or stale, optional HR skips decoding', async () => {
  const { dir } = await fixture;
  const cacheDir = path.join(tmpDir('cache'), 'c');
  const load = (extra: { cacheHr?: boolean; warn?: string[] } = {}) =>
    hrFolderSource(dir, SCALE, { lrPatch: LR_PATCH, cacheDir, cacheHr: extra.cacheHr, onWarning: (m) => extra.warn?.push(m) });
  const items = (ds: SrDataset) => ds.items.map((i: SrItem) => ({ ...i }));
  const first = await load();
  assert.deepEqual(first.stats, { decoded: 5, cacheHits: 0, cacheMisses: 4, cacheRebuilt: 0 });
  const entries = fs.readdirSync(cacheDir).sort();
  assert.equal(entries.length, 4);
  const second = await load();
  assert.deepEqual(second.stats, { decoded: 5, cacheHits: 4, cacheMisses: 0, cacheRebuilt: 0 });
  assert.deepEqual(items(second), items(first));

  // damage one entry (a flipped byte in the LR data) and truncate another: both rebuilt, with a warning
  const e0 = path.join(cacheDir, entries[0]!), e1 = path.join(cacheDir, entries[1]!);
  const b0 = fs.readFileSync(e0);
  b0[b0.length - 30]! ^= 0xff;
  fs.writeFileSync(e0, b0);
  fs.truncateSync(e1, 20);
  const warn: string[] = [];
  const third = await load({ warn });
  assert.deepEqual(third.stats, { decoded: 5, cacheHits: 2, cacheMisses: 0, cacheRebuilt: 2 });
  assert.deepEqual(items(third), items(first));
  assert.equal(warn.filter((w) => /damaged cache entry/.test(w)).length, 2, warn.join('\n'));
  assert.deepEqual((await load()).stats.cacheHits, 4);

  // a changed file (new mtime) is stale: rebuilt quietly
  const aFile = path.join(dir, 'a_rgb.png');
  const t = new Date(Date.now() - 3600_000);
  fs.utimesSync(aFile, t, t);
  const fourth = await load();
  assert.deepEqual(fourth.stats, { decoded: 5, cacheHits: 3, cacheMisses: 0, cacheRebuilt: 1 });

  // with cacheHr the next run decodes only the image that is never cached (the skipped tiny one)
  await load({ cacheHr: true });
  const fifth = await load({ cacheHr: true });
  assert.deepEqual(fifth.stats, { decoded: 1, cacheHits: 4, cacheMisses: 0, cacheRebuilt: 0 });
  assert.deepEqual(items(fifth), items(first));
  assert.equal(fs.readdirSync(cacheDir).length, 4, 'no temporary files left behind');
});

/** MATLAB imresize by 1/2 at an interior output pixel, written out: Keys' cubic (a = -0.5) stretched by 2, 8 taps. */
function halveNaive(img: Image, x: number, y: number, ch: number): number {
  const cubic = (t: number) => {
    const a = Math.abs(t);
    return a <= 1 ? 1.5 * a ** 3 - 2.5 * a ** 2 + 1 : a <= 2 ? -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2 : 0;
  };
  // output pixel i is centred on input 2i + 0.5: taps 2i - 3 ... 2i + 4 at distances 3.5 ... 0.5
  const taps = [-3, -2, -1, 0, 1, 2, 3, 4].map((k) => ({ k, w: cubic((k - 0.5) / 2) / 2 }));
  let v = 0;
  for (const r of taps) for (const c of taps) v += r.w * c.w * img.data[((2 * y + r.k) * img.width + 2 * x + c.k) * 3 + ch]!;
  return v;
}

test('hrScales: every image again downscaled (MATLAB bicubic, checked against the 8-tap x1/2 filter), LR from it, cached apart', async () => {
  const dir = tmpDir('scales');
  const big = noise(102, 90, 3, 11), small = noise(60, 52, 3, 12);
  await writeImage(path.join(dir, 'big.png'), big);
  await writeImage(path.join(dir, 'small.png'), small);
  const cacheDir = path.join(tmpDir('scales-cache'), 'c');
  const progress: [number, number][] = [];
  const load = (hrScales?: number[]) => hrFolderSource(dir, SCALE, { lrPatch: LR_PATCH, cacheDir, hrScales, onProgress: (d, t) => progress.push([d, t]) });
  const ds = await load([1, 0.5]);
  // small at 1/2 is 30x26 -> 28x24 HR, LR 7x6: one 6x6 LR patch fits; big at 1/2 is 51x45 -> 48x44
  assert.deepEqual(ds.items.map((i) => i.name), ['big', 'big@0.5', 'small', 'small@0.5']);
  assert.deepEqual(progress, [[1, 4], [2, 4], [3, 4], [4, 4]]);
  assert.equal(ds.stats.decoded, 2, 'each file decoded once for both factors');
  for (const [it, src] of [[ds.items[1]!, big], [ds.items[3]!, small]] as const) {
    const w = Math.floor(Math.ceil(src.width / 2) / SCALE) * SCALE, h = Math.floor(Math.ceil(src.height / 2) / SCALE) * SCALE;
    assert.deepEqual([it.hrW, it.hrH, it.lrW, it.lrH], [w, h, w / SCALE, h / SCALE], it.name);
    assert.equal(it.file, path.join(dir, `${it.name.replace('@0.5', '')}.png`));
    let worst = 0;
    for (let y = 2; y < h - 3; y++) {
      for (let x = 2; x < w - 3; x++) {
        for (let c = 0; c < 3; c++) {
          const want = Math.min(255, Math.max(0, Math.round(halveNaive(src, x, y, c))));
          worst = Math.max(worst, Math.abs(it.hr[(y * w + x) * 3 + c]! - want));
        }
      }
    }
    assert.ok(worst <= 1, `${it.name}: interior HR differs from the 8-tap x1/2 filter by up to ${worst}`);
    assert.deepEqual(it.lr, imresizeUint8({ ...createImage(w, h, 3, 8), data: it.hr }, 1 / SCALE).data, `${it.name} LR`);
  }
  // the factor-1 items are those of a load without hrScales
  const plain = await hrFolderSource(dir, SCALE, { lrPatch: LR_PATCH });
  assert.deepEqual([ds.items[0]!.lr, ds.items[2]!.lr], plain.items.map((i) => i.lr));
  // one cache entry per image and factor; a run with [1] reads only its own, and nothing is rebuilt
  assert.equal(fs.readdirSync(cacheDir).length, 4);
  assert.deepEqual((await load([1, 0.5])).stats, { decoded: 2, cacheHits: 4, cacheMisses: 0, cacheRebuilt: 0 });
  assert.deepEqual((await load()).stats, { decoded: 2, cacheHits: 2, cacheMisses: 0, cacheRebuilt: 0 });
  // a factor at which an image is too small skips that item only, naming the factor
  const three = await hrFolderSource(dir, SCALE, { lrPatch: LR_PATCH, hrScales: [1, 0.3] });
  assert.deepEqual(three.items.map((i) => i.name), ['big', 'big@0.3', 'small']);
  assert.match(three.skipped.join('\n'), /small\.png downscaled by 0\.3: /);
  await assert.rejects(hrFolderSource(dir, SCALE, { hrScales: [1, 1.5] }), /hrScales 1, 1\.5: each factor must be > 0 and <= 1/);
});

test('loadValSet: the pairs eval/image makePair makes (RGB, mod-crop, MATLAB bicubic)', async () => {
  const { dir, imgs } = await fixture;
  const valDir = tmpDir('val');
  for (const n of ['a_rgb', 'b_grey', 'c_rgba', 'e_tiny']) await writeImage(path.join(valDir, `${n}.png`), imgs[n]!);
  const val = await loadValSet(valDir, 2);
  assert.deepEqual(val.map((v) => v.name), ['a_rgb', 'b_grey', 'c_rgba', 'e_tiny']);
  for (const v of val) {
    const want = makePair(await readImage(path.join(valDir, `${v.name}.png`)), 2, 2);
    assert.deepEqual(v, { name: v.name, ...want });
  }
  await assert.rejects(loadValSet(valDir, 3, 12), (e: Error) => e.message.includes(path.join(valDir, 'e_tiny.png')));
  fs.rmSync(path.join(valDir, 'e_tiny.png'));
  const v12 = await loadValSet(valDir, 3, 12);
  assert.deepEqual([v12[0]!.hr.width, v12[0]!.hr.height, v12[0]!.lr.width], [48, 36, 16]);
  await assert.rejects(loadValSet(dir, 4), /d_16bit\.png: 16-bit ground truth is not supported/);
});

test('shared training photos: 5 real images (JPEG/PNG, grey included) load, sample, and match through the worker', async (t) => {
  const rel = 'train/images/python3-skimage';
  const missing = needData(rel);
  if (missing) {
    t.skip(missing);
    return;
  }
  const dir = path.join(DATA_DIR, rel);
  const spec: SourceSpec = { kind: 'hrFolder', dirs: [dir], scale: 4, options: { limit: 5 } };
  const o = { seed: 1, batchSize: 4, lrPatch: 16, hflip: true, rot: true, channelShuffle: false };
  const ds = await hrFolderSource(dir, 4, { limit: 5, lrPatch: 16 });
  assert.equal(ds.items.length + ds.skipped.length, 5);
  for (const it of ds.items) {
    assert.equal(it.hrW % 4, 0);
    assert.equal(it.hrH % 4, 0);
    assert.equal(it.hr.length, it.hrW * it.hrH * 3);
  }
  const first = ds.items[0]!;
  const hr = modCrop(toRGB(to8Bit(await readImage(first.file))), 4);
  assert.deepEqual(first.hr, hr.data);
  assert.deepEqual(first.lr, imresizeUint8(hr, 1 / 4).data);
  const l = createBatchLoader(spec, o);
  try {
    for (const k of [0, 1]) assert.deepEqual(await l.next(k), sampleBatch(ds, k, o));
  } finally {
    await l.close();
  }
  // the first LR patch is the crop of the cached LR (no augmentation on this check)
  const plain = { ...o, hflip: false, rot: false };
  const p = planBatch(ds, 0, plain)[0]!, item = ds.items[p.item]!;
  const lrImg: Image = { width: item.lrW, height: item.lrH, channels: 3, bitDepth: 8, data: item.lr };
  assert.deepEqual(slice(sampleBatch(ds, 0, plain).lr, 0, 16 * 16 * 3), imageToFloat32(cropImage(lrImg, p.x, p.y, 16, 16)));
});
