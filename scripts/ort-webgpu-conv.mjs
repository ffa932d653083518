// A single dense 3x3 (or 1x1) conv with seeded weights, run by onnxruntime-web's webgpu execution
// provider (through the bench's loader: the `webgpu` package, Dawn) and by mvsr's wasm runtime;
// prints the largest difference per channel configuration. On onnxruntime-web 1.30.0 a 6 -> 48
// channel 3x3 conv (ELSR's last conv) is wrong by up to 0.18 on both SwiftShader and an NVIDIA
// H200 (docs/bench/webgpu-h200-adapter.txt); the other shapes agree to 5e-7.
//   npm run build && node scripts/ort-webgpu-conv.mjs   (without a GPU: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const here = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (f) => import(pathToFileURL(path.join(here, 'dist/src', f)).href);
const [{ initEngine }, { createOrtWebGpuPeer }, { runGraph }, { Tensor }] = await Promise.all(['tensor/engine.js', 'bench/peers.js', 'runtime/wasm.js', 'tensor/tensor.js'].map(load));
await initEngine({ threads: 1 });
const rnd = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.5);
const conv = (cin, cout, k) => ({
  meta: { arch: 'conv', args: {}, scale: 1 },
  nodes: [
    { op: 'input', id: 'input', inputs: [], channels: cin },
    { op: 'conv', id: 'c', inputs: ['input'], weight: 'w', bias: 'b', kernel: k, groups: 1, padding: (k - 1) / 2 },
    { op: 'output', id: 'output', inputs: ['c'] },
  ],
  weights: { w: { shape: [cout, cin, k, k], data: rnd(cout * cin * k * k, 1) }, b: { shape: [cout], data: rnd(cout, 2) } },
});
const H = 12, W = 16;
for (const [cin, cout, k] of [[3, 6, 3], [6, 6, 3], [6, 48, 3], [3, 8, 3], [8, 8, 3], [6, 6, 1], [3, 64, 3]]) {
  const g = conv(cin, cout, k);
  const x = rnd(H * W * cin, 3);
  const xt = Tensor.from([1, H, W, cin], x);
  const yt = runGraph(g, xt);
  const ref = yt.toArray();
  xt.dispose();
  yt.dispose();
  const p = await createOrtWebGpuPeer(g);
  const r = await p.prepare(x, H, W);
  const y = r.toNhwc(await r.run());
  let d = 0;
  for (let i = 0; i < y.length; i++) d = Math.max(d, Math.abs(y[i] - ref[i]));
  console.log(`${cin} -> ${cout} k ${k}: max |ort webgpu - mvsr| = ${d.toExponential(2)}`);
  r.dispose();
  await p.dispose();
}
process.exit(0);
