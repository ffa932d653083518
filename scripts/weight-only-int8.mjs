#!/usr/bin/env node
// How much of a model's int8 loss is its weights': writes a float copy of a model in which the
// weights of the chosen convs (names starting with one of the prefixes, or "all") are rounded to
// int8 per output channel, symmetric, as mvsr quantize does, and everything else stays float.
// Evaluate the copy with mvsr eval. For example:
//   node scripts/weight-only-int8.mjs weights/etds-t-x4.safetensors conv_last /tmp/w.safetensors
//   npx mvsr eval -m /tmp/w.safetensors --data ../shared/data/benchmarks/Set5
import { readFileSync, writeFileSync } from 'node:fs';
import { readSafetensors, writeSafetensors } from '../dist/src/io/safetensors.js';
import { weightScales, quantizeWeight } from '../dist/src/graph/quant.js';

const [src, list, dst] = process.argv.slice(2);
if (!src || !list || !dst) {
  process.stderr.write('usage: node scripts/weight-only-int8.mjs <model.safetensors> <prefix,prefix,...|all> <out.safetensors>\n');
  process.exit(2);
}
const { tensors, metadata } = readSafetensors(readFileSync(src), src);
const prefixes = list.split(',');
const chosen = Object.keys(tensors).filter((k) => k.endsWith('.weight') && tensors[k].shape.length === 4 && (list === 'all' || prefixes.some((p) => k.startsWith(p))));
if (!chosen.length) {
  process.stderr.write(`${src}: no conv weight starts with ${list}\n`);
  process.exit(1);
}
const out = { ...tensors };
for (const k of chosen) {
  // mvsr quantize's own per-channel scales and rounding, dequantized back to float
  const t = tensors[k], scales = weightScales(t), q = quantizeWeight(t, scales), n = t.data.length / t.shape[0];
  out[k] = { shape: t.shape, data: Float32Array.from(q, (v, i) => v * scales[Math.floor(i / n)]) };
}
writeFileSync(dst, writeSafetensors(out, metadata));
process.stderr.write(`${dst}: ${chosen.join(', ')} rounded to int8 per output channel\n`);
