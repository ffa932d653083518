// Compiles the AssemblyScript kernels (src/kernels) to two WebAssembly builds:
// SIMD128 (runs everywhere) and relaxed SIMD (fused multiply-add), picked at load time.
import asc from 'assemblyscript/asc';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'src', 'kernels');
mkdirSync(outDir, { recursive: true });

const common = [
  join(root, 'src/kernels/index.ts'),
  '-O3', '--noAssert',
  '--runtime', 'stub',            // kernels never allocate: memory is managed from TypeScript
  '--importMemory', '--sharedMemory',
  '--initialMemory', '32', '--maximumMemory', '65536',
  '--use', 'abort=',              // no abort import: kernels trust the TypeScript side's checks
  '--enable', 'simd', '--enable', 'threads',
];
const builds = [
  { name: 'mvsr-simd.wasm', extra: [] },
  { name: 'mvsr-relaxed.wasm', extra: ['--enable', 'relaxed-simd'] },
];
for (const b of builds) {
  const out = join(outDir, b.name);
  const { error, stderr } = await asc.main([...common, ...b.extra, '-o', out], {});
  if (error) {
    console.error(stderr.toString());
    console.error(`kernel build failed: ${b.name}: ${error.message}`);
    process.exit(1);
  }
  console.error(`built ${out}`);
}
