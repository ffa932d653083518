// npm run bench:video [-- --json] [--quick] [--input HxW] [--only <text>]  (--only: the nets whose name contains it)
// Per-frame cost of the video models at the MAI setting (180x320 -> 720x1280) on mvsr's wasm
// engine, 1 and 2 threads, through the streaming VideoUpscaler: a frame goes in as an 8-bit RGB
// image and comes out as one (conversion, recurrent state and look-ahead included), in steady
// state (after the look-ahead has filled). The peers of `mvsr bench` need a deploy graph, which
// the recurrent models do not have yet, so this compares mvsr with itself only.
import { initEngine } from '../tensor/engine.js';
import { manualSeed } from '../nn/init.js';
import { Rng } from '../tensor/random.js';
import { createVideoModel } from '../models/registry.js';
import { videoMacsPerPixel } from '../models/vsr.js';
import { VideoUpscaler } from '../api/video.js';
import type { Image } from '../io/image.js';
import { machineDescription, median, percentile } from './timing.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const size = args.includes('--input') ? args[args.indexOf('--input') + 1]! : '180x320';
const m = /^(\d+)x(\d+)$/.exec(size);
if (!m) throw new Error(`bench:video: --input must look like 180x320, got "${size}"`);
const H = Number(m[1]), W = Number(m[2]);
const log = (s: string) => process.stderr.write(s + '\n');

/** The video models (x4, registry defaults unless given). */
export const VIDEO_NETS: { name: string; arch: string; args: Record<string, unknown> }[] = [
  { name: 'MobileRRN (16, 5 blocks)', arch: 'MobileRRN', args: {} },
  { name: 'MobileRRN aligned (align: global)', arch: 'MobileRRN', args: { align: 'global' } },
  { name: 'RLSP 7-16', arch: 'RLSP', args: {} },
  { name: 'RLSP 7-16 aligned (align: global)', arch: 'RLSP', args: { align: 'global' } },
  { name: 'SWRN (16, 3 blocks, chunk 8)', arch: 'SWRN', args: {} },
  { name: 'MultiFramePlain 3 frames (16, 4 blocks)', arch: 'MultiFramePlain', args: {} },
  { name: 'single-frame plain (16, 12 blocks)', arch: 'MultiFramePlain', args: { num_frame: 1, num_block: 12 } },
  { name: 'single-frame residual (16, 6 blocks)', arch: 'MultiFramePlain', args: { num_frame: 1, num_block: 6, block: 'residual' } },
];

interface Row { net: string; threads: number; macsPerFrame: number; msMedian: number; msP90: number; fps: number; gflops: number }

async function benchNet(n: (typeof VIDEO_NETS)[number], threads: number): Promise<Row> {
  await initEngine({ threads });
  manualSeed(0);
  const model = createVideoModel(n.arch, n.args);
  const macs = videoMacsPerPixel(model) * H * W;
  const up = new VideoUpscaler(model);
  const rng = new Rng(1);
  const frame = (): Image => ({ width: W, height: H, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: W * H * 3 }, () => Math.floor(rng.next() * 256)) });
  const frames = Array.from({ length: 4 }, frame);
  const warm = 2 + up.latency, reps = Math.max(quick ? 4 : 12, 2 * (up.latency + 1));
  const times: number[] = [];
  for (let i = 0; i < warm + reps; i++) {
    const t = performance.now();
    const out = await up.push(frames[i % frames.length]!);
    const ms = performance.now() - t;
    // a chunked model answers a whole chunk at once: spread that call over its frames
    if (i >= warm && out.length) for (let k = 0; k < out.length; k++) times.push(ms / out.length);
  }
  up.dispose();
  const med = median(times);
  log(`  ${n.name}, ${threads} thread(s): ${med.toFixed(1)} ms/frame`);
  return { net: n.name, threads, macsPerFrame: macs, msMedian: med, msP90: percentile(times, 90), fps: 1000 / med, gflops: (2 * macs) / (med * 1e6) };
}

const machine = await machineDescription();
const rows: Row[] = [];
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]! : '';
const nets = VIDEO_NETS.filter((n) => n.name.includes(only));
if (!nets.length) throw new Error(`bench:video: --only "${only}" matches none of: ${VIDEO_NETS.map((n) => n.name).join('; ')}`);
for (const n of nets) for (const threads of [1, 2]) rows.push(await benchNet(n, threads));
if (json) process.stdout.write(JSON.stringify({ machine, input: [H, W], scale: 4, rows }, null, 2) + '\n');
else {
  const out = [`machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ${H}x${W} -> ${H * 4}x${W * 4} per frame, VideoUpscaler (8-bit RGB in and out), steady state`, '',
    '| model | GMACs/frame | threads | median ms | p90 ms | fps | GFLOP/s |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) out.push(`| ${r.net} | ${(r.macsPerFrame / 1e9).toFixed(2)} | ${r.threads} | ${r.msMedian.toFixed(1)} | ${r.msP90.toFixed(1)} | ${r.fps.toFixed(1)} | ${r.gflops.toFixed(1)} |`);
  process.stdout.write(out.join('\n') + '\n');
}
