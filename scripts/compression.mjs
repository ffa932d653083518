// Rows of the README's compression tables, every figure from a .tflite run in LiteRT.js (Set5 /
// Set14 PSNR-Y, crop = scale) against the model's FP32 .tflite:
//   node scripts/compression.mjs <model> [--json]
//     FP32, FP16, INT8 PTQ by each calibration method (mvsr quantize on the training photos, 32 patches of
//     64x64 LR, seed 7) and weight clustering at 16 and 32 centroids (no fine-tuning);
//   node scripts/compression.mjs <model> --file <graph file> [--label L] [--json]
//     one row for a file from mvsr quantize (--qat) or mvsr compress (--tune).
// --no-outlier-split: the PTQ rows with every conv whole (mvsr quantize --no-outlier-split).
// --mvsr-int8 also measures every int8 row on mvsr's own integer runtime (backend 'int8', the
// kernels `mvsr bench` times as mvsr-int8), printed after the LiteRT.js figures.
// Sizes: the .tflite at 180x320 (int8 for a quantized file), in KiB, and its gzip -9 size.
// A video model (rlsp-x4) is measured on clips instead, every frame counted (mean PSNR-Y over
// clips): Vimeo group 00002 (8 clips of 7 frames) / basketballpass (100 frames), both real camera
// video not among the calibration clips (../shared/data/train/video/clips, 8 frames of 4 clips).
// Needs the build (npm run build) and ../shared/data (Set5, Set14, the training photos and video).
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = (f) => import(path.join(here, '..', 'dist/src', f));
const { values: v, positionals: [name] } = parseArgs({ allowPositionals: true, options: { file: { type: 'string' }, label: { type: 'string' }, json: { type: 'boolean' }, calib: { type: 'string' }, 'mvsr-int8': { type: 'boolean' }, 'no-outlier-split': { type: 'boolean' } } });
if (!name) {
  console.error('usage: node scripts/compression.mjs <model> [--file <graph file> [--label L]] [--calib <folder>] [--no-outlier-split] [--mvsr-int8] [--json]');
  process.exit(2);
}
const data = path.join(here, '..', '..', 'shared', 'data');
const [{ initEngine }, { resolveAnyModel }, { toGraph, stepGraph, getArch }, { loadCalibrationData }, { calibrateGraph }, { exportTflite }, { createBackend }, { evaluateFolder, evaluateClips }, { loadGraphFile }, { clusterWeights }, { profileGraph }, { listClips }] = await Promise.all(
  ['tensor/engine.js', 'api/models.node.js', 'models/registry.js', 'eval/calibration.node.js', 'eval/calibrate.js', 'export/tflite.js', 'runtime/backend.node.js', 'eval/files.node.js', 'api/graph-file.node.js', 'graph/compress.js', 'graph/profile.js', 'data/clips.node.js'].map(dist));
await initEngine({ threads: 1 });
const model = resolveAnyModel(name);
const g = getArch(model.arch).kind === 'video' ? stepGraph(model) : toGraph(model);
const video = !!g.meta.video;
const clipSets = video ? [
  await listClips(path.join(data, 'train', 'video', 'vimeo'), { include: ['00002_*'] }),
  await listClips(path.join(data, 'train', 'video', 'basketballpass')),
] : [];
const figures = async (graph, backend) => {
  const psnr = [];
  if (video) {
    for (const clips of clipSets) psnr.push((await evaluateClips(graph, clips, { scale: model.scale, backend })).psnrY);
  } else {
    const b = await createBackend(graph, { backend });
    try {
      for (const set of ['Set5', 'Set14']) psnr.push((await evaluateFolder(b, path.join(data, 'benchmarks', set), { scale: model.scale })).psnr);
    } finally {
      await b.dispose();
    }
  }
  return psnr;
};
const measure = async (graph, fp16 = false) => {
  const psnr = await figures(graph, fp16 ? 'tflite-fp16' : 'tflite');
  const int8 = 'quant' in graph;
  const bytes = exportTflite(graph, { inputShape: [180, 320], ...(int8 ? { int8: true } : { fp16 }) });
  return {
    kb: bytes.length / 1024, gzipKb: gzipSync(bytes, { level: 9 }).length / 1024, params: profileGraph(graph, 180, 320).params, psnr,
    ...(int8 && v['mvsr-int8'] ? { psnrMvsrInt8: await figures(graph, 'int8') } : {}),
  };
};
const fp32 = await measure(g);
const rows = [];
const add = (label, m) => rows.push({ label, ...m, drop: m.psnr.map((p, i) => p - fp32.psnr[i]) });
if (v.file) {
  const f = loadGraphFile(v.file);
  if (!f) throw new Error(`${v.file}: not a graph file (from mvsr quantize or mvsr compress)`);
  add(v.label ?? path.basename(v.file), await measure(f));
} else {
  add('FP32', fp32);
  add('FP16', await measure(g, true));
  const { samples } = await loadCalibrationData(v.calib ?? path.join(data, 'train', video ? 'video/clips' : 'images'), video, { scale: model.scale });
  const whole = !!v['no-outlier-split'];
  for (const method of ['minmax', 'percentile', 'mse']) add(`INT8 PTQ ${method}${whole ? ', whole' : ''}`, await measure(await calibrateGraph(g, samples, { method, splitOutliers: !whole })));
  for (const k of [16, 32]) add(`clustered ${k}`, await measure(clusterWeights(g, k)));
}
model.dispose();
if (v.json) console.log(JSON.stringify({ model: name, fp32, rows }, null, 2));
else {
  const f = (x) => x.toFixed(3), d = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
  for (const r of rows) console.log(`| ${name} | ${r.label} | ${r.params.toLocaleString('en-US')} | ${r.kb.toFixed(1)} | ${r.gzipKb.toFixed(1)} | ${f(r.psnr[0])} / ${f(r.psnr[1])} | ${d(r.drop[0])} / ${d(r.drop[1])} |${r.psnrMvsrInt8 ? ` mvsr int8 runtime: ${f(r.psnrMvsrInt8[0])} / ${f(r.psnrMvsrInt8[1])}` : ''}`);
}
