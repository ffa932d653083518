// Sequences filmed from stills: integer pans are exact crops; on a linear ramp (which Keys
// bicubic reproduces exactly) every pixel lands where the analytic camera model puts it, with
// zoom and rotation; the sampler's LR frames are MATLAB bicubic of its HR frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMotionFrame, minMotionSize, type CameraPath } from '../src/data/motion.js';
import { sampleBatch } from '../src/data/dataset.js';
import { imresizeUint8 } from '../src/data/imresize.js';
import { Rng } from '../src/tensor/random.js';

const W = 120, H = 100;
const photo = (f: (x: number, y: number, c: number) => number) => Uint8Array.from({ length: W * H * 3 }, (_, i) => f(Math.floor(i / 3) % W, Math.floor(i / 3 / W), i % 3));

test('an integer pan without zoom or rotation gives exact crops of the photo', () => {
  const r = new Rng(3);
  const img = photo(() => Math.floor(r.next() * 256));
  const q = 16, p: CameraPath = { cx: 40, cy: 50, vx: 3, vy: -2, zoom: 0, rotate: 0 };
  for (const t of [0, 1, 4]) {
    const f = renderMotionFrame(img, W, H, p, t, q);
    const x0 = 40 + 3 * t - q / 2, y0 = 50 - 2 * t - q / 2;
    for (let i = 0; i < q; i++) for (let j = 0; j < q; j++) for (let c = 0; c < 3; c++) {
      assert.equal(f[(i * q + j) * 3 + c], img[((y0 + i) * W + x0 + j) * 3 + c], `t ${t} (${i},${j},${c})`);
    }
  }
});

test('sub-pixel pan, zoom and rotation on a linear ramp: every pixel samples the analytic source position', () => {
  // value 20 + u + v - 1 at continuous position (u, v): integers at pixel centres (k + 0.5)
  const ramp2 = (u: number, v: number) => 20 + u + v;
  const img2 = photo((x, y) => ramp2(x + 0.5, y + 0.5) - 1);
  const q = 12, p: CameraPath = { cx: 60.3, cy: 47.8, vx: 1.37, vy: -0.61, zoom: 0.02, rotate: 0.03 };
  for (const t of [0, 2, 5]) {
    const f = renderMotionFrame(img2, W, H, p, t, q);
    const s = 1 + t * p.zoom, a = t * p.rotate;
    for (let i = 0; i < q; i++) for (let j = 0; j < q; j++) {
      const dx = j + 0.5 - q / 2, dy = i + 0.5 - q / 2;
      const sx = p.cx + t * p.vx + s * (Math.cos(a) * dx - Math.sin(a) * dy);
      const sy = p.cy + t * p.vy + s * (Math.sin(a) * dx + Math.cos(a) * dy);
      const want = ramp2(sx, sy) - 1;
      assert.ok(Math.abs(f[(i * q + j) * 3]! - want) <= 0.5 + 1e-9, `t ${t} (${i},${j}): ${f[(i * q + j) * 3]} vs ${want}`);
    }
  }
});

test('sampler on stills: T frames per sample that move, LR = MATLAB bicubic of HR, paths inside the photo', () => {
  const r = new Rng(9);
  const Wb = 200, Hb = 180;
  const hrData = Uint8Array.from({ length: Wb * Hb * 3 }, (_, i) => { const x = Math.floor(i / 3) % Wb, y = Math.floor(i / 3 / Wb); return Math.round(127 + 100 * Math.sin(x / 3.1 + (i % 3)) * Math.cos(y / 4.3)) + Math.floor(r.next() * 8); });
  const lrImg = imresizeUint8({ width: Wb, height: Hb, channels: 3, bitDepth: 8, data: hrData }, 1 / 2);
  const ds = { scale: 2, skipped: [], items: [{ name: 's', file: '', hr: hrData, lr: lrImg.data as Uint8Array, hrW: Wb, hrH: Hb, lrW: 100, lrH: 90 }] };
  const o = { seed: 4, batchSize: 2, lrPatch: 16, hflip: false, rot: false, channelShuffle: false, numFrame: 4, motion: { maxShift: 2, maxZoom: 0.01, maxRotate: 0.01 } };
  assert.ok(minMotionSize(32, 4, o.motion) <= Math.min(Wb, Hb));
  const b = sampleBatch(ds, 7, o);
  const P = 16, Q = 32, nl = 2 * P * P * 3, nh = 2 * Q * Q * 3;
  for (let k = 0; k < 2; k++) {
    const frames: Uint8Array[] = [];
    for (let t = 0; t < 4; t++) {
      const h = Uint8Array.from(b.hr.subarray(t * nh + k * Q * Q * 3, t * nh + (k + 1) * Q * Q * 3), (v) => Math.round(v * 255));
      const l = Uint8Array.from(b.lr.subarray(t * nl + k * P * P * 3, t * nl + (k + 1) * P * P * 3), (v) => Math.round(v * 255));
      assert.deepEqual(l, imresizeUint8({ width: Q, height: Q, channels: 3, bitDepth: 8, data: h }, 1 / 2).data, `sample ${k} frame ${t}: LR = imresize(HR)`);
      frames.push(h);
    }
    for (let t = 1; t < 4; t++) assert.ok(frames[t]!.some((v, i) => v !== frames[t - 1]![i]), `sample ${k}: frame ${t} moved`);
  }
  assert.throws(() => sampleBatch({ ...ds, items: [{ ...ds.items[0]!, hrW: 60, hrH: 60, hr: hrData.subarray(0, 60 * 60 * 3), lrW: 30, lrH: 30 }] }, 0, o), /too small to film 4 frames/);
});
