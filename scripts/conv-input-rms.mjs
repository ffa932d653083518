#!/usr/bin/env node
// How much a conv reads each group of its input channels: the RMS of its weights over each group
// (every output channel and tap). For a RECBSR, whether training made use of the inputs that
// --init widened with zeros:
//   node scripts/conv-input-rms.mjs weights/recbsr-x4.safetensors backbone.0.0.weight current:3 previous:3 state:16
import { readFileSync } from 'node:fs';
import { readSafetensors } from '../dist/src/io/safetensors.js';

const [file, key, ...groups] = process.argv.slice(2);
if (!file || !key || !groups.length) {
  process.stderr.write('usage: node scripts/conv-input-rms.mjs <model.safetensors> <conv weight name> <label:channels>...\n');
  process.exit(2);
}
const { tensors } = readSafetensors(readFileSync(file), file);
const w = tensors[key];
if (!w || w.shape.length !== 4) {
  process.stderr.write(`${file}: no 4-d weight '${key}'\n`);
  process.exit(1);
}
const [O, I, kh, kw] = w.shape, taps = kh * kw;
const parts = groups.map((g) => { const [label, n] = g.split(':'); return { label, n: Number(n) }; });
const total = parts.reduce((a, p) => a + p.n, 0);
if (parts.some((p) => !Number.isInteger(p.n) || p.n < 1) || total !== I) {
  process.stderr.write(`${file}: ${key} has ${I} input channels; the groups give ${total}\n`);
  process.exit(1);
}
let first = 0;
for (const { label, n } of parts) {
  let sum = 0;
  for (let o = 0; o < O; o++) for (let i = first; i < first + n; i++) for (let t = 0; t < taps; t++) sum += w.data[(o * I + i) * taps + t] ** 2;
  process.stdout.write(`${label.padEnd(12)} channels ${first}-${first + n - 1}  RMS ${Math.sqrt(sum / (O * n * taps)).toFixed(4)}\n`);
  first += n;
}
