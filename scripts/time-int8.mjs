// Per-frame time of a model at the MAI setting (180x320 -> 720x1280) on the fp32 wasm backend and
// on the int8 backend (its quantized graph: mvsr quantize --method mse on the training photos; a
// model that the outlier split changes is also timed whole, as --no-outlier-split gives it),
// alternating in one process: 2 warm-ups, then N timed runs each, median and min ms.
// Then where the time goes: a per-op profile of the int8 program (median ms per node over the
// runs, with the input quantization and the output dequantization) and a per-step profile of the
// fp32 compiled graph (median ms per fused step, with reading the output back to JS).
//   node scripts/time-int8.mjs <model> [threads=2] [runs=15]
// Needs the build and ../shared/data/train/images (for the calibration).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = (f) => import(path.join(here, '..', 'dist/src', f));
const [name = 'etds-t-x4', threadsArg = '2', runsArg = '15'] = process.argv.slice(2);
const [{ initEngine }, { resolveAnyModel }, { toGraph }, { loadCalibrationData }, { calibrateGraph }, { createBackend }, { Tensor }, { compileInt8, quantizeTensor, dequantizeTensor }, { outlierCarriers }, { compileGraph }] = await Promise.all(
  ['tensor/engine.js', 'api/models.node.js', 'models/registry.js', 'eval/calibration.node.js', 'eval/calibrate.js', 'runtime/backend.js', 'tensor/tensor.js', 'runtime/int8.js', 'graph/quant.js', 'runtime/wasm.js'].map(dist));
await initEngine({ threads: Number(threadsArg) });
const model = resolveAnyModel(name);
const g = toGraph(model);
const { samples } = await loadCalibrationData(path.join(here, '..', '..', 'shared', 'data', 'train', 'images'), false, { scale: model.scale });
const q = await calibrateGraph(g, samples, { method: 'mse' });
const whole = outlierCarriers(q).size ? await calibrateGraph(g, samples, { method: 'mse', splitOutliers: false }) : null;
const x = Tensor.from([1, 180, 320, 3], Array.from({ length: 180 * 320 * 3 }, (_, i) => ((i * 2654435761) % 1000) / 1000));
const backends = { fp32: await createBackend(g, { backend: 'wasm' }), int8: await createBackend(q), ...(whole ? { 'int8 --no-outlier-split': await createBackend(whole) } : {}) };
const ms = Object.fromEntries(Object.keys(backends).map((k) => [k, []]));
for (let r = -2; r < Number(runsArg); r++) {
  for (const [k, b] of Object.entries(backends)) {
    const t0 = performance.now();
    const y = await b.run(x);
    const dt = performance.now() - t0;
    y.dispose();
    if (r >= 0) ms[k].push(dt);
  }
}
const med = (a) => [...a].sort((p, q2) => p - q2)[(a.length - 1) >> 1];
for (const k of Object.keys(ms)) console.log(`${name} ${k}: median ${med(ms[k]).toFixed(1)} ms, min ${Math.min(...ms[k]).toFixed(1)} ms (${threadsArg} threads, ${ms[k].length} runs, 180x320)`);
for (const b of Object.values(backends)) await b.dispose();

// per-op profile of the int8 program
const prog = compileInt8(q);
const per = new Map();
const add = (k, v) => per.set(k, [...(per.get(k) ?? []), v]);
for (let r = -2; r < Number(runsArg); r++) {
  let t0 = performance.now();
  const xi = quantizeTensor(x, q.quant.act[q.nodes.find((n) => n.op === 'input').id]);
  if (r >= 0) add('(quantize input)', performance.now() - t0);
  const out = prog.run({ [q.nodes.find((n) => n.op === 'input').id]: xi }, (n, dt) => { if (r >= 0) add(`${n.op} ${n.id}`, dt); });
  t0 = performance.now();
  const y = dequantizeTensor(Object.values(out)[0]);
  if (r >= 0) add('(dequantize output)', performance.now() - t0);
  y.dispose();
}
prog.dispose();
const show = (title, per) => {
  const rows = [...per].map(([k, v]) => [k, med(v)]).sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((a, [, v]) => a + v, 0);
  console.log(`${title} (sum ${total.toFixed(1)} ms):`);
  for (const [k, v] of rows) console.log(`  ${v.toFixed(2).padStart(7)} ms  ${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`);
};
show('int8 per-op medians', per);

// per-step profile of the fp32 compiled graph (the wasm backend's plan: fused steps)
const cg = compileGraph(g);
const perF = new Map();
const addF = (k, v) => perF.set(k, [...(perF.get(k) ?? []), v]);
for (let r = -2; r < Number(runsArg); r++) {
  let t0 = performance.now();
  const y = cg.run(x, (label) => { const t = performance.now(); if (r >= 0) addF(label, t - t0); t0 = t; });
  t0 = performance.now();
  y.toArray();
  if (r >= 0) addF('(read the output back)', performance.now() - t0);
  y.dispose();
}
cg.dispose();
show('fp32 per-step medians', perF);
