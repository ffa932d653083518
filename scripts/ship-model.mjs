#!/usr/bin/env node
// Ship a model trained by `mvsr train`: copy its exported .safetensors into weights/<name>.safetensors
// with its Set5 and Set14 PSNR/SSIM (Y, crop = scale, the paper protocol, as `mvsr eval`) added to
// the metadata next to the training provenance the trainer wrote.
//   node scripts/ship-model.mjs <run>/model.safetensors etds-t-x4 [--data ../shared/data/benchmarks]
import { readFileSync, writeFileSync, renameSync, readdirSync } from 'node:fs';
import { join, extname } from 'node:path';
import { initEngine } from '../dist/src/tensor/engine.js';
import { readSafetensors, writeSafetensors } from '../dist/src/io/safetensors.js';
import { loadModelFile } from '../dist/src/api/models.node.js';
import { evaluate } from '../dist/src/api/eval.js';
import { readImage } from '../dist/src/io/image.node.js';

const [src, name, ...rest] = process.argv.slice(2);
if (!src || !name) {
  process.stderr.write('usage: node scripts/ship-model.mjs <model.safetensors> <name, e.g. etds-t-x4> [--data <benchmarks folder>]\n');
  process.exit(2);
}
const data = rest.includes('--data') ? rest[rest.indexOf('--data') + 1] : join(process.env.MVSR_DATA ?? '../shared/data', 'benchmarks');
await initEngine();
const { tensors, metadata } = readSafetensors(readFileSync(src), src);
const model = loadModelFile(src);
const meta = { ...metadata };
for (const set of ['Set5', 'Set14']) {
  const dir = join(data, set);
  const files = readdirSync(dir).filter((f) => ['.png', '.jpg', '.jpeg', '.webp'].includes(extname(f).toLowerCase())).sort();
  const r = await evaluate(model, files.map((f) => ({ name: f, image: () => readImage(join(dir, f)) })), { scale: model.scale });
  meta[`${set.toLowerCase()}_psnr`] = r.psnr.toFixed(3);
  meta[`${set.toLowerCase()}_ssim`] = r.ssim.toFixed(4);
  process.stderr.write(`${set}: ${r.psnr.toFixed(3)} dB / ${r.ssim.toFixed(4)} (Y, crop ${model.scale})\n`);
}
meta.metrics_protocol = 'PSNR/SSIM on Y (BT.601), crop = scale, HR mod 12, LR by MATLAB bicubic, uint8 output (mvsr eval)';
model.dispose();
const out = join('weights', `${name}.safetensors`);
writeFileSync(`${out}.tmp`, writeSafetensors(tensors, meta));
renameSync(`${out}.tmp`, out);
process.stderr.write(`wrote ${out}\n`);
process.exit(0);
