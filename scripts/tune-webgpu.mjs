// Chooses the WebGPU dense-conv tiling (src/runtime/webgpu/wgsl.ts, convTiling) by timing mvsr's
// webgpu backend on this machine's GPU: the shipped x4 networks and a few efficient-SR families at
// the MAI setting (180x320 -> 720x1280), ms per frame with the frames resident on the GPU (the
// bench's GPU timing), for each tiling: the default first, then stage 1 stages each workgroup's
// input tile in workgroup memory (`shared`), stage 2 varies the pixels and output blocks per
// invocation of plain convs, stage 3 the fused tail's; the score is the sum of the models'
// medians. --out is rewritten after every timing, so a run cut short keeps what it measured.
// Also times an empty command buffer per frame (the per-frame floor of submitting at all).
//   npm run build && node scripts/tune-webgpu.mjs [--out tuning.json] [--frames 20] [--reps 5] [--input 180x320] [--models ESPCN,ETDS-T]
// Needs a GPU through the `webgpu` package; on an emulated adapter (SwiftShader) it refuses.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const here = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (f) => import(pathToFileURL(path.join(here, 'dist/src', f)).href);
const [{ initEngine }, { manualSeed }, { createModel, toGraph }, { convTiling }, { createMvsrWebGpuPeer }, { INFER_MODELS, ESR_MODELS }, { gpuDevice, adapterOf }, { residentSamples }] = await Promise.all(
  ['tensor/engine.js', 'nn/init.js', 'models/registry.js', 'runtime/webgpu/wgsl.js', 'bench/peers.js', 'bench/infer.js', 'runtime/webgpu/backend.js', 'runtime/webgpu/resident.js'].map(load));
const args = process.argv.slice(2);
const flag = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const frames = Number(flag('--frames', 20)), reps = Number(flag('--reps', 5)), out = flag('--out', null);
const [H, W] = flag('--input', '180x320').split('x').map(Number);
await initEngine({ threads: 1 });
await load('runtime/webgpu.node.js');
const d = await gpuDevice();
const adapter = adapterOf(d);
if (adapter.emulated && !args.includes('--allow-emulated')) throw new Error(`tune-webgpu: ${adapter.name} is an emulator: its timings say nothing about a GPU`);
const pick = ['ESR:IMDN', 'ESR:RFDN', 'ESR:RLFN-S'];
const all = [...INFER_MODELS, ...ESR_MODELS.filter((m) => pick.includes(`ESR:${m.name}`))];
const only = flag('--models', null)?.split(',');
const unknown = only?.filter((n) => !all.some((m) => m.name === n)) ?? [];
if (unknown.length) throw new Error(`tune-webgpu: --models: unknown ${unknown.join(', ')} (known: ${all.map((m) => m.name).join(', ')})`);
const nets = only ? all.filter((m) => only.includes(m.name)) : all;
const graphs = nets.map((m) => { manualSeed(1); const model = createModel(m.arch, m.args); try { return { name: m.name, g: toGraph(model) }; } finally { model.dispose(); } });
const x = Float32Array.from({ length: H * W * 3 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
const median = (v) => [...v].sort((a, b) => a - b)[(v.length - 1) >> 1];

async function timeTiling(tiling) {
  Object.assign(convTiling, tiling);
  const ms = {};
  for (const { name, g } of graphs) {
    const p = await createMvsrWebGpuPeer(g);
    const r = await p.prepare(x, H, W);
    ms[name] = median(await residentSamples(r.resident, frames, reps));
    r.dispose();
    await p.dispose();
  }
  const total = Object.values(ms).reduce((a, b) => a + b, 0);
  console.error(`${JSON.stringify(tiling)}: ${Object.entries(ms).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}; sum ${total.toFixed(3)} ms`);
  return { tiling: { ...tiling }, ms, total };
}

// the floor: an empty compute pass per frame
const floor = [];
for (let i = 0; i < reps + 1; i++) {
  const t0 = performance.now();
  for (let f = 0; f < frames; f++) { const e = d.createCommandEncoder(); e.beginComputePass().end(); d.queue.submit([e.finish()]); }
  await d.queue.onSubmittedWorkDone();
  if (i) floor.push((performance.now() - t0) / frames);
}
console.error(`empty frame: ${median(floor).toFixed(3)} ms`);

const results = [];
let best = null;
// the file is rewritten after every timing, so a run cut short still leaves what it measured
const save = () => {
  const doc = { date: new Date().toISOString(), adapter, H, W, frames, reps, emptyFrameMs: median(floor), before: results[0], best, results };
  if (out) writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  return doc;
};
const time = async (tiling) => {
  const r = await timeTiling(tiling);
  results.push(r);
  if (!best || r.total < best.total) best = r;
  save();
  return r;
};
// First the default (the reference), then what is new, so that a run cut short still answers it:
// stage 1, the input tile staged in workgroup memory, where more pixels and blocks per invocation
// may pay; stage 2, the plain convs' pixels and output blocks per invocation; stage 3, the fused tail's.
const key = (t) => JSON.stringify(t);
const done = new Set();
const once = async (t) => { if (!done.has(key(t))) { done.add(key(t)); await time(t); } };
const base = { ...convTiling, shared: false };
await once(base);
for (const [px, co] of [[1, 4], [2, 4], [4, 4], [2, 8], [4, 8]]) await once({ ...base, px, co, shared: true });
for (const px of [1, 2, 4]) for (const co of [2, 4, 8]) await once({ ...base, px, co, shared: false });
for (const [tailBlocks, tailPx] of [[1, 1], [0, 1], [0, 4], [4, 2], [2, 4]]) await once({ ...best.tiling, tailBlocks, tailPx });
console.error(`best: ${JSON.stringify(best.tiling)} sum ${best.total.toFixed(3)} ms (before: ${results[0].total.toFixed(3)} ms)`);
if (!out) console.log(JSON.stringify(save(), null, 2));
