// One row of the README's INT8 compression table: a model quantized by each calibration method
// (mvsr quantize on the training photos, 32 patches of 64x64 LR, seed 7), exported as a
// full-integer .tflite (float32 in and out, 180x320), and its Set5 / Set14 PSNR-Y measured by
// running that .tflite in LiteRT.js (mvsr eval --backend tflite), against the FP32 .tflite's.
//   node scripts/compression.mjs <model> [calibration folder] [--json]
// Needs the build (npm run build) and ../shared/data (Set5, Set14, the training photos).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = (f) => import(path.join(here, '..', 'dist/src', f));
const args = process.argv.slice(2).filter((a) => a !== '--json'), json = process.argv.includes('--json');
const [name, calibArg] = args;
if (!name) {
  console.error('usage: node scripts/compression.mjs <model> [calibration folder] [--json]');
  process.exit(2);
}
const data = path.join(here, '..', '..', 'shared', 'data');
const calib = calibArg ?? path.join(data, 'train', 'images');
const [{ initEngine }, { resolveAnyModel }, { toGraph }, { loadCalibrationData }, { calibrateGraph }, { exportTflite }, { createBackend }, { evaluateFolder }] = await Promise.all(
  ['tensor/engine.js', 'api/models.node.js', 'models/registry.js', 'api/quantized.node.js', 'eval/calibrate.js', 'export/tflite.js', 'runtime/backend.node.js', 'eval/files.node.js'].map(dist));
await initEngine({ threads: 1 });
const model = resolveAnyModel(name);
const g = toGraph(model);
const psnr = async (graph, backend) => {
  const b = await createBackend(graph, { backend });
  try {
    const out = [];
    for (const set of ['Set5', 'Set14']) out.push((await evaluateFolder(b, path.join(data, 'benchmarks', set), { scale: model.scale })).psnr);
    return out;
  } finally {
    await b.dispose();
  }
};
const row = { model: name, fp32: { kb: exportTflite(g, { inputShape: [180, 320] }).length / 1024, psnr: await psnr(g, 'tflite') }, int8: {} };
const { samples, files } = await loadCalibrationData(calib, false, { scale: model.scale });
for (const method of ['minmax', 'percentile', 'mse']) {
  const q = await calibrateGraph(g, samples, { method });
  const p = await psnr(q, 'tflite');
  row.int8[method] = { kb: exportTflite(q, { inputShape: [180, 320], int8: true }).length / 1024, psnr: p, drop: p.map((v, i) => v - row.fp32.psnr[i]) };
}
row.calibration = { folder: calib, files: files.length, patches: samples.length };
if (json) console.log(JSON.stringify(row, null, 2));
else {
  const f = (x) => x.toFixed(3), d = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
  const m = row.int8;
  console.log(`| ${name} | ${row.fp32.kb.toFixed(1)} | ${f(row.fp32.psnr[0])} / ${f(row.fp32.psnr[1])} | ${m.mse.kb.toFixed(1)} | ${['minmax', 'percentile', 'mse'].map((k) => `${f(m[k].psnr[0])} / ${f(m[k].psnr[1])} (${d(m[k].drop[0])} / ${d(m[k].drop[1])})`).join(' | ')} |`);
}
model.dispose();
