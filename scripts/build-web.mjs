// Builds the web app into dist/web: the player and the benchmark bundled by esbuild from
// src/web (with the engine's worker as its own file, next to them, as the thread pool loads it),
// the WebAssembly kernels where the engine looks for them (../kernels from the bundles),
// onnxruntime-web's WebAssembly for the benchmark, and the pages. Nothing is fetched from a CDN.
import { build } from 'esbuild';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'kernels'), { recursive: true });
mkdirSync(join(out, 'ort'), { recursive: true });

await build({
  entryPoints: { app: 'src/web/app.ts', bench: 'src/web/bench.ts', worker: 'src/tensor/worker.ts' },
  absWorkingDir: root,
  outdir: join(out, 'js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: process.env.MVSR_WEB_DEBUG !== "1",
  sourcemap: false,
  // Node-only branches (fs, worker_threads) are never taken in a browser
  external: ['node:*'],
  logLevel: 'warning',
});

for (const f of readdirSync(join(root, 'dist', 'src', 'kernels')).filter((f) => f.endsWith('.wasm'))) {
  cpSync(join(root, 'dist', 'src', 'kernels', f), join(out, 'kernels', f));
}
const ortDist = join(root, 'node_modules', 'onnxruntime-web', 'dist');
for (const f of ['ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.asyncify.mjs']) cpSync(join(ortDist, f), join(out, 'ort', f));
for (const f of readdirSync(join(root, 'web'))) cpSync(join(root, 'web', f), join(out, f));
console.error(`built ${out}`);
