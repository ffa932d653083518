// Compare builds on the bench's networks (INFER_MODELS of src/bench/infer.ts) at the MAI setting
// (180x320 -> 720x1280): each checkout's own compiled graphs, 2 warm-ups then 25 timed runs,
// min / p25 / median ms. Checkouts run one after another, each in its own process, so
// `old . old .` alternates two builds; run on an idle machine. Default checkout: this one.
//   node scripts/time-graph.mjs [threads] [checkout ...]
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const [threadsArg = '1', ...roots] = process.argv.slice(2);
const root = process.env.MVSR_TIME_ROOT;
if (root) {
  const load = (f) => import(pathToFileURL(path.join(root, 'dist/src', f)).href);
  const exists = (f) => existsSync(path.join(root, 'dist/src', f));
  // builds before the one-inference-path change kept toGraph in graph/build and the executor in graph/run
  const [{ initEngine }, { Tensor }, { createModel }, { toGraph }, { compileGraph }, { INFER_MODELS, INFER_SETTINGS }, { timeIt, percentile }] = await Promise.all(
    ['tensor/engine.js', 'tensor/tensor.js', 'models/registry.js', exists('graph/build.js') ? 'graph/build.js' : 'models/registry.js',
      exists('graph/run.js') ? 'graph/run.js' : 'runtime/wasm.js', 'bench/infer.js', 'bench/timing.js'].map(load));
  await initEngine({ threads: Number(threadsArg) });
  const { H, W } = INFER_SETTINGS.mai;
  const x = Tensor.from([1, H, W, 3], Float32Array.from({ length: H * W * 3 }, (_, i) => ((i * 7919) % 255) / 255));
  const out = [];
  for (const m of INFER_MODELS) {
    const model = createModel(m.arch, m.args);
    const c = compileGraph(toGraph(model));
    model.dispose();
    const t = timeIt(() => c.run(x).dispose(), 2, 25);
    c.dispose();
    out.push(`${m.name} ${Math.min(...t).toFixed(1)} / ${percentile(t, 0.25).toFixed(1)} / ${percentile(t, 0.5).toFixed(1)}`);
  }
  x.dispose();
  console.log(`${root} (${threadsArg} thread(s)), ms min / p25 / median: ${out.join(', ')}`);
} else {
  const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  for (const r of roots.length ? roots : [here]) {
    execFileSync(process.execPath, [fileURLToPath(import.meta.url), threadsArg], { stdio: 'inherit', env: { ...process.env, MVSR_TIME_ROOT: path.resolve(r) } });
  }
}
