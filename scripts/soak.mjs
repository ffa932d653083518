// Soak: a long Y4M (default 10,000 frames of 160x90, mvsr's rendered sample looped over 100
// frames) streamed through `mvsr upscale` with a model, the child's RSS sampled every second. Flat memory: the peak over the last 90% of the
// frames stays within a few MiB of the peak over the first 10% (by time: the output is written
// under a temporary name and renamed at the end, and the frame rate is steady).
//   node scripts/soak.mjs <model> [frames=10000] [WxH=160x90] [trace-gc]    (after npm run build)
// trace-gc: the child runs with node --trace-gc; the result adds the JavaScript heap after each
// full collection (live) and the heap's committed size, first and last, from its Mark-Compact lines.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, writeSync, closeSync, readFileSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const [model = 'etds-t-x4', framesArg = '10000', sizeArg = '160x90', traceArg] = process.argv.slice(2);
const traceGc = traceArg === 'trace-gc';
const frames = Number(framesArg), [W, H] = sizeArg.split('x').map(Number);
const { renderSampleFrame } = await import(path.join(root, 'dist/src/data/synthetic.js'));
const { rgbToYuv } = await import(path.join(root, 'dist/src/io/y4m.js'));

const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-soak-'));
const input = path.join(dir, 'in.y4m'), output = path.join(dir, 'out.y4m');
// 100 distinct frames as I420, written in a loop
const distinct = [];
for (let t = 0; t < 100; t++) {
  const img = renderSampleFrame(t, { width: W, height: H });
  distinct.push(rgbToYuv(img, '420jpeg'));
}
const fd = openSync(input, 'w');
writeSync(fd, `YUV4MPEG2 W${W} H${H} F30:1 Ip A1:1 C420jpeg\n`);
for (let i = 0; i < frames; i++) {
  writeSync(fd, 'FRAME\n');
  const f = distinct[i % 100];
  for (const plane of [f.y, f.u, f.v]) writeSync(fd, plane);
}
closeSync(fd);
console.error(`wrote ${input} (${frames} frames of ${W}x${H}, ${(statSync(input).size / 2 ** 20).toFixed(0)} MiB)`);

const child = spawn(process.execPath, [...(traceGc ? ['--trace-gc'] : []), path.join(root, 'dist/src/cli/main.js'), 'upscale', input, '-o', output, '--model', model], { stdio: ['ignore', traceGc ? 'pipe' : 'ignore', 'pipe'] });
const gcs = []; // [live MB after, committed MB after] per Mark-Compact
if (traceGc) {
  let buf = '';
  child.stdout.on('data', (c) => {
    buf += c;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) {
      const m = /Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\) MB/.exec(l);
      if (m) gcs.push([Number(m[1]), Number(m[2])]);
    }
  });
}
let stderr = '';
child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
const samples = [];
const t0 = performance.now();
const timer = setInterval(() => {
  try {
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;
    samples.push({ s: (performance.now() - t0) / 1000, rssMiB: rss });
  } catch { /* the child has exited */ }
}, 1000);
const code = await new Promise((r) => child.on('exit', r));
clearInterval(timer);
if (code !== 0) throw new Error(`mvsr upscale failed (${code}): ${stderr}`);
const seconds = (performance.now() - t0) / 1000;
const early = samples.filter((x) => x.s <= seconds * 0.1), late = samples.filter((x) => x.s > seconds * 0.1);
const peak = (xs) => Math.max(...xs.map((x) => x.rssMiB));
const result = {
  model, frames, size: `${W}x${H}`, seconds: +seconds.toFixed(1), fps: +(frames / seconds).toFixed(1), samples: samples.length,
  peakFirst10PctMiB: +peak(early).toFixed(1), peakLast90PctMiB: +peak(late).toFixed(1), growthMiB: +(peak(late) - peak(early)).toFixed(1),
  // peak RSS in each tenth of the run: a leak climbs to the end, a warm-up levels off
  peakByTenthMiB: Array.from({ length: 10 }, (_, k) => +peak(samples.filter((x) => x.s > (seconds * k) / 10 && x.s <= (seconds * (k + 1)) / 10)).toFixed(1)),
};
if (traceGc && gcs.length) {
  const live = gcs.map((g) => g[0]);
  result.gc = { fullCollections: gcs.length, liveMinMB: Math.min(...live), liveMaxMB: Math.max(...live), committedFirstMB: gcs[0][1], committedLastMB: gcs.at(-1)[1] };
}
console.log(JSON.stringify(result));
rmSync(dir, { recursive: true, force: true });
