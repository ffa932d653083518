#!/usr/bin/env node
// Ship a model trained by `mvsr train`: copy its exported .safetensors into weights/<name>.safetensors
// with its quality added to the metadata next to the training provenance the trainer wrote: image
// models Set5 and Set14 PSNR/SSIM (Y, crop = scale, the paper protocol, as `mvsr eval`), video
// models the held-out Vimeo group 00001 and the real camera clips held out by name (basketballpass,
// clips/vtest.avi), as `mvsr eval-video`: PSNR/SSIM-Y, tPSNR-Y.
//   node scripts/ship-model.mjs <run>/model.safetensors etds-t-x4 [--data ../shared/data]
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../dist/src/tensor/engine.js';
import { readSafetensors, writeSafetensors } from '../dist/src/io/safetensors.js';
import { loadAnyModelFile } from '../dist/src/api/models.node.js';
import { isVideoModel } from '../dist/src/models/vsr.js';
import { evaluateFolder, evaluateClips } from '../dist/src/eval/files.node.js';
import { listClips } from '../dist/src/data/clips.node.js';
import { scrubProvenance } from '../dist/src/train/lineage.js';

const REAL_CLIPS = ['basketballpass', 'clips/vtest.avi'];
const [src, name, ...rest] = process.argv.slice(2);
if (!src || !name) {
  process.stderr.write('usage: node scripts/ship-model.mjs <model.safetensors> <name, e.g. etds-t-x4> [--data <shared data folder>]\n');
  process.exit(2);
}
const data = rest.includes('--data') ? rest[rest.indexOf('--data') + 1] : (process.env.MVSR_DATA ?? '../shared/data');
await initEngine();
const { tensors, metadata } = readSafetensors(readFileSync(src), src);
const model = loadAnyModelFile(src);
// no local cache paths in a shipped file (files trained before the trainer dropped them)
const meta = scrubProvenance(metadata);
if (isVideoModel(model)) {
  const root = join(data, 'train/video/vimeo');
  const r = await evaluateClips(model, await listClips(root, { include: ['00001_*'] }), { scale: model.scale });
  Object.assign(meta, { vimeo00001_psnr_y: r.psnrY.toFixed(3), vimeo00001_ssim_y: r.ssimY.toFixed(4), vimeo00001_tpsnr_y: r.tPsnrY.toFixed(3) });
  process.stderr.write(`Vimeo 00001: ${r.psnrY.toFixed(3)} dB / ${r.ssimY.toFixed(4)}, tPSNR ${r.tPsnrY.toFixed(3)} dB\n`);
  // the real camera clips held out by name (the quality issue's test set; README, Video)
  const real = join(data, 'train/video');
  const q = await evaluateClips(model, await listClips(real, { include: REAL_CLIPS }), { scale: model.scale });
  Object.assign(meta, { real_psnr_y: q.psnrY.toFixed(3), real_ssim_y: q.ssimY.toFixed(4), real_tpsnr_y: q.tPsnrY.toFixed(3) });
  meta.real_clip_psnr_y = JSON.stringify(Object.fromEntries(q.clips.map((c) => [c.name, c.psnrY.toFixed(3)])));
  process.stderr.write(`${REAL_CLIPS.join(' + ')}: ${q.psnrY.toFixed(3)} dB / ${q.ssimY.toFixed(4)}, tPSNR ${q.tPsnrY.toFixed(3)} dB\n`);
  meta.metrics_protocol = `mvsr eval-video on ${root} clips 00001_* (vimeo00001_*) and on ${real} clips ${REAL_CLIPS.join(', ')} (real_*), each held out of training: Y (BT.601), crop = scale, every frame, mean over clips`;
} else {
  for (const set of ['Set5', 'Set14']) {
    const r = await evaluateFolder(model, join(data, 'benchmarks', set), { scale: model.scale });
    meta[`${set.toLowerCase()}_psnr`] = r.psnr.toFixed(3);
    meta[`${set.toLowerCase()}_ssim`] = r.ssim.toFixed(4);
    process.stderr.write(`${set}: ${r.psnr.toFixed(3)} dB / ${r.ssim.toFixed(4)} (Y, crop ${model.scale})\n`);
  }
  meta.metrics_protocol = 'PSNR/SSIM on Y (BT.601), crop = scale, HR mod 12, LR by MATLAB bicubic, uint8 output (mvsr eval)';
}
model.dispose();
const out = join('weights', `${name}.safetensors`);
writeFileSync(`${out}.tmp`, writeSafetensors(tensors, meta));
renameSync(`${out}.tmp`, out);
process.stderr.write(`wrote ${out}\n`);
process.exit(0);
