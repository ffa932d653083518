// What splitting a video into segments costs a recurrent model, as a function of the warm-up:
// each clip's LR frames (MATLAB bicubic from the HR, as mvsr eval-video makes them) are upscaled
// once in one run and once in segments (the queue's planSegments/upscaleSegment), and both are
// scored against the HR (PSNR-Y, border of `scale` cropped, as eval-video) and against each other.
//   node scripts/segment-warmup.mjs [--models rlsp-x4,mobilerrn-x4] [--json out.json]   (after npm run build)
// Clips: mvsr's rendered sample (96 frames, 640x360 HR; segments of 24 frames) and the held-out
// Vimeo-90K group 00002 in ../shared/data (8 septuplets, 448x256 HR; segments of 3 frames).
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const lib = (p) => import(path.join(root, 'dist/src', p));
const { values: o } = parseArgs({ options: { models: { type: 'string', default: 'rlsp-x4,mobilerrn-x4' }, json: { type: 'string' }, threads: { type: 'string', default: '2' } } });
const { initEngine } = await lib('tensor/engine.js');
const { resolveAnyModel } = await lib('api/models.node.js');
const { VideoUpscaler } = await lib('api/video.js');
const { planSegments, upscaleSegment } = await lib('queue/segments.node.js');
const { createVideoWriter, openVideo } = await lib('io/video.node.js');
const { sampleClip } = await lib('data/synthetic.js');
const { makePair } = await lib('data/pairs.js');
const { listClips } = await lib('data/clips.node.js');
const { calculatePsnr } = await lib('metrics/index.js');
await initEngine({ threads: Number(o.threads) });

const tmp = mkdtempSync(path.join(tmpdir(), 'mvsr-warmup-'));
const vimeo = path.join(root, '../shared/data/train/video/vimeo');

/** HR frames of each clip set, and the segment length used on it. */
async function clipSets() {
  const sets = [{ name: 'sample (96 frames, 640x360)', segmentFrames: 24, clips: [{ name: 'sample', hr: [...sampleClip({ frames: 96 })] }] }];
  if (existsSync(vimeo)) {
    const clips = [];
    for (const c of await listClips(vimeo, { include: ['00002_*'] })) {
      const hr = [];
      for await (const f of (await openVideo(c.path)).frames()) hr.push(f);
      clips.push({ name: c.name, hr });
    }
    sets.push({ name: 'Vimeo-90K 00002 (8 x 7 frames, 448x256)', segmentFrames: 3, clips });
  } else console.error(`${vimeo} not found: the sample clip only`);
  return sets;
}

/** The frames of a raw RGB segment file. */
function rawFrames(file, width, height) {
  const b = readFileSync(file), n = width * height * 3, out = [];
  for (let o = 0; o < b.length; o += n) out.push({ width, height, channels: 3, bitDepth: 8, data: new Uint8Array(b.subarray(o, o + n)) });
  return out;
}

let run = 0;
/** The clip's LR frames through the model in the given segments; returns the HR outputs in order. */
async function upscale(lrDir, segs, up, width, height) {
  const outs = [];
  for (const s of segs) {
    const file = path.join(tmp, `out-${run++}.rgb`);
    await upscaleSegment(lrDir, s, up, file);
    outs.push(...rawFrames(file, width, height));
    rmSync(file);
  }
  return outs;
}

const results = [];
const sets = await clipSets();
for (const spec of o.models.split(',')) {
  const up = new VideoUpscaler(resolveAnyModel(spec));
  const t = up.temporal, scale = up.scale;
  const warmups = [...new Set([t.past, t.past + 1, 2, 4, 8, 16, 32].filter((w) => w >= t.past))].sort((a, b) => a - b);
  for (const set of sets) {
    const rows = warmups.map((w) => ({ warmup: w, psnrY: 0, single: 0, drop: 0, worst: Infinity, vsSingle: 0, affected: 0, n: 0 }));
    for (const clip of set.clips) {
      const pairs = clip.hr.map((f) => makePair(f, scale, scale));
      const lrDir = path.join(tmp, `lr-${run++}`);
      const w = await createVideoWriter(lrDir + '/', { width: pairs[0].lr.width, height: pairs[0].lr.height, fps: [25, 1] }, { level: 0 });
      for (const p of pairs) await w.write(p.lr);
      await w.close();
      const n = pairs.length;
      const [Wh, Hh] = [pairs[0].hr.width, pairs[0].hr.height];
      const single = await upscale(lrDir, [{ index: 0, start: 0, end: n, warmup: 0, lookahead: 0 }], up, Wh, Hh);
      const y = { cropBorder: scale, testY: true };
      const singleP = single.map((s, i) => calculatePsnr(s, pairs[i].hr, y));
      for (const r of rows) {
        const segs = planSegments(n, t, { segmentFrames: set.segmentFrames, warmup: r.warmup });
        const split = await upscale(lrDir, segs, up, Wh, Hh);
        split.forEach((s, i) => {
          const p = calculatePsnr(s, pairs[i].hr, y);
          r.psnrY += p;
          r.single += singleP[i];
          r.n++;
          if (i >= segs[1]?.start) {
            // frames after the first segment's: those a split can change
            r.drop += singleP[i] - p;
            r.worst = Math.min(r.worst, p - singleP[i]);
            r.vsSingle += Math.min(calculatePsnr(s, single[i], { testY: true }), 99);
            r.affected++;
          }
        });
      }
      rmSync(lrDir, { recursive: true });
    }
    for (const r of rows) {
      const row = {
        model: spec, clips: set.name, segmentFrames: set.segmentFrames, warmup: r.warmup, frames: r.n,
        psnrYSingle: r.single / r.n, psnrYSplit: r.psnrY / r.n, deltaAll: (r.psnrY - r.single) / r.n,
        deltaLaterSegments: -r.drop / r.affected, worstFrame: r.worst, psnrYVsSingle: r.vsSingle / r.affected,
      };
      results.push(row);
      console.log(`${spec.padEnd(13)} ${set.name.padEnd(40)} warm-up ${String(r.warmup).padStart(2)}: PSNR-Y ${row.psnrYSplit.toFixed(3)} (single ${row.psnrYSingle.toFixed(3)}, ${row.deltaAll >= 0 ? '+' : ''}${row.deltaAll.toFixed(3)} dB over all frames, ${row.deltaLaterSegments.toFixed(3)} dB over frames after segment 1, worst frame ${row.worstFrame.toFixed(2)} dB); split vs single ${row.psnrYVsSingle.toFixed(1)} dB`);
    }
  }
  await up.dispose();
}
rmSync(tmp, { recursive: true, force: true });
if (o.json) await writeFile(o.json, JSON.stringify(results, null, 2) + '\n');
