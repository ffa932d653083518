// Where a video stream's JavaScript garbage comes from: pushes frames of mvsr's rendered sample
// through a VideoUpscaler and reports the sampled allocations per frame by function (objects
// collected by minor and major GCs included, so short-lived garbage shows up), and who calls
// the top three.   node scripts/alloc-profile.mjs [model=rlsp-x4] [frames=300]   (after npm run build)
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src');
const [model = 'rlsp-x4', framesArg = '300'] = process.argv.slice(2);
const frames = Number(framesArg);
const { resolveAnyModel, VideoUpscaler, initEngine } = await import(path.join(root, 'index.node.js'));
const { renderSampleFrame } = await import(path.join(root, 'data/synthetic.js'));
await initEngine({ threads: 2 });
const vu = new VideoUpscaler(await resolveAnyModel(model), { threads: 2 });
const clip = Array.from({ length: 20 }, (_, t) => renderSampleFrame(t, { width: 160, height: 90 }));
for (let i = 0; i < 100; i++) await vu.push(clip[i % 20]); // warm up: plans, pools, JIT
const s = new Session();
s.connect();
await s.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
for (let i = 0; i < frames; i++) await vu.push(clip[i % 20]);
const { profile } = await s.post('HeapProfiler.stopSampling');
const where = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
const self = new Map(), callers = new Map();
let total = 0;
(function walk(n, stack) {
  if (n.selfSize) {
    total += n.selfSize;
    self.set(where(n), (self.get(where(n)) ?? 0) + n.selfSize);
    const k = [where(n), ...stack.slice(-3).reverse()].join(' <- ');
    callers.set(k, (callers.get(k) ?? 0) + n.selfSize);
  }
  for (const c of n.children) walk(c, [...stack, where(n)]);
})(profile.head, []);
const kib = (b) => (b / frames / 1024).toFixed(1).padStart(8);
console.log(`${model}: ${kib(total)} KiB allocated per frame (${frames} frames of 160x90)`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${kib(v)} KiB/frame  ${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`);
console.log('callers of the largest:');
for (const [k, v] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 3)) console.log(`${kib(v)} KiB/frame  ${k}`);
await vu.dispose();
