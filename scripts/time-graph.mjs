// A/B of builds on the bench's networks (INFER_MODELS of src/bench/infer.ts) at the MAI setting
// (180x320 -> 720x1280): each checkout's own compiled graphs and engine, all loaded in this one
// process and run in turn, one run each per round, so that a machine whose speed drifts (ours
// moved by 30% within minutes) slows every build alike. 2 warm-up rounds, then `runs` timed ones;
// per build min and median ms, and per model the median of the paired speed-ups of the first build
// (each other build's time over the first's, round by round). Default checkout: this one. Run on an idle machine.
// --int8: the int8 programs instead (each model calibrated as mvsr bench calibrates it: INT8_CALIBRATION
// on seeded inputs; a run quantizes the frame, runs the integer program and dequantizes its output).
// --shipped: the shipped models' weights (weights/<name>-x4.safetensors, each checkout's own loader)
// instead of the seeded initialisation; they change the int8 graph (etds-t-x4's outlier split).
//   node scripts/time-graph.mjs [--int8] [--shipped] [threads] [runs] [checkout ...]
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const int8 = process.argv.includes('--int8'), shipped = process.argv.includes('--shipped');
const [threadsArg = '1', runsArg = '15', ...rest] = process.argv.slice(2).filter((a) => a !== '--int8' && a !== '--shipped');
const threads = Number(threadsArg), runs = Number(runsArg);
const roots = (rest.length ? rest : [here]).map((r) => path.resolve(r));
const builds = [];
for (const root of roots) {
  const load = (f) => import(pathToFileURL(path.join(root, 'dist/src', f)).href);
  const exists = (f) => existsSync(path.join(root, 'dist/src', f));
  // builds before the one-inference-path change kept toGraph in graph/build and the executor in graph/run
  const [{ initEngine }, { Tensor }, { createModel }, { toGraph }, { compileGraph }, { INFER_MODELS, INFER_SETTINGS }] = await Promise.all(
    ['tensor/engine.js', 'tensor/tensor.js', 'models/registry.js', exists('graph/build.js') ? 'graph/build.js' : 'models/registry.js',
      exists('graph/run.js') ? 'graph/run.js' : 'runtime/wasm.js', 'bench/infer.js'].map(load));
  await initEngine({ threads });
  const { H, W } = INFER_SETTINGS.mai;
  const x = Tensor.from([1, H, W, 3], Float32Array.from({ length: H * W * 3 }, (_, i) => ((i * 7919) % 255) / 255));
  const nets = [];
  const { resolveAnyModel } = shipped ? await load('api/models.node.js') : {};
  for (const m of INFER_MODELS) {
    const model = shipped ? resolveAnyModel(path.join(root, 'weights', `${m.name.toLowerCase()}-x4.safetensors`)) : createModel(m.arch, m.args);
    const g = toGraph(model);
    model.dispose();
    if (!int8) {
      nets.push({ name: m.name, c: compileGraph(g) });
      continue;
    }
    const [{ calibrateGraph }, { compileInt8, quantizeTensor, dequantizeTensor }, { INT8_CALIBRATION: cal }] = await Promise.all(['eval/calibrate.js', 'runtime/int8.js', 'bench/infer.js'].map(load));
    const frames = Array.from({ length: cal.samples }, (_, k) => Tensor.from([1, cal.H, cal.W, 3], Float32Array.from({ length: cal.H * cal.W * 3 }, (_, i) => ((i * 2654435761 + k * 97) % 1000) / 1000)));
    const qg = await calibrateGraph(g, frames.map((f) => ({ frames: [f] })), { method: cal.method });
    const prog = compileInt8(qg), inId = qg.nodes.find((n) => n.op === 'input').id, outId = qg.nodes.find((n) => n.op === 'output').id;
    nets.push({ name: m.name, c: { run: (t) => dequantizeTensor(prog.run({ [inId]: quantizeTensor(t, qg.quant.act[inId]) })[outId]) } });
  }
  builds.push({ root, x, nets });
}
const names = builds[0].nets.map((n) => n.name);
const times = builds.map(() => names.map(() => []));
for (let r = 0; r < runs + 2; r++) {
  for (let m = 0; m < names.length; m++) {
    for (let b = 0; b < builds.length; b++) {
      const t0 = performance.now();
      builds[b].nets[m].c.run(builds[b].x).dispose();
      if (r >= 2) times[b][m].push(performance.now() - t0);
    }
  }
}
const median = (a) => { const s = [...a].sort((p, q) => p - q); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log(`${threads} thread(s), ${runs} rounds; ms min / median per build${builds.length > 1 ? '; speed-up of the first: paired median of other / first' : ''}`);
names.forEach((name, m) => {
  const cols = builds.map((b, i) => `${path.basename(b.root)} ${Math.min(...times[i][m]).toFixed(1)} / ${median(times[i][m]).toFixed(1)}`);
  const ratios = builds.slice(1).map((_, k) => median(times[0][m].map((t, j) => times[k + 1][m][j] / t)).toFixed(2) + 'x');
  console.log(`${name}: ${cols.join(' | ')}${ratios.length ? ` | ${ratios.join(' ')}` : ''}`);
});
