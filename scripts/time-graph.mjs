// Time the compiled deploy graphs of ESPCN, ABPN-M4C28 and ETDS-T at 180x320 -> 720x1280 (x4),
// 25 runs each after building the graph: min / p25 / median ms. Give one or more built
// checkouts (default: this one) to compare builds; run them one after another on an idle machine.
//   node scripts/time-graph.mjs [threads] [checkout ...]
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const [threadsArg = '1', ...roots] = process.argv.slice(2);
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (process.env.MVSR_TIME_ROOT) {
  const root = process.env.MVSR_TIME_ROOT;
  const m = await import(pathToFileURL(path.join(root, 'dist/src/index.node.js')).href);
  const { Tensor } = await import(pathToFileURL(path.join(root, 'dist/src/tensor/tensor.js')).href);
  await m.initEngine({ threads: Number(threadsArg) });
  const nets = {
    ESPCN: ['ESPCN', { upscale: 4 }],
    'ABPN-M4C28': ['ABPN', { scale: 4, num_feat: 28, num_block: 4 }],
    'ETDS-T': ['ETDSForInference', { upscale: 4, num_block: 5, num_feat: 16, num_residual_feat: 3 }],
  };
  const out = [];
  for (const [name, [arch, args]] of Object.entries(nets)) {
    const c = m.compileGraph(m.toGraph(m.createModel(arch, args)));
    const x = Tensor.from([1, 180, 320, 3], Float32Array.from({ length: 180 * 320 * 3 }, (_, i) => ((i * 7919) % 255) / 255));
    const t = [];
    for (let i = 0; i < 25; i++) {
      const t0 = performance.now();
      c.run(x).dispose();
      t.push(performance.now() - t0);
    }
    t.sort((a, b) => a - b);
    out.push(`${name} ${t[0].toFixed(1)} / ${t[6].toFixed(1)} / ${t[12].toFixed(1)}`);
    c.dispose();
    x.dispose();
  }
  console.log(`${root} (${threadsArg} thread(s)), ms min / p25 / median: ${out.join(', ')}`);
} else {
  for (const r of roots.length ? roots : [here]) {
    execFileSync(process.execPath, [fileURLToPath(import.meta.url), threadsArg], { stdio: 'inherit', env: { ...process.env, MVSR_TIME_ROOT: path.resolve(r) } });
  }
}
