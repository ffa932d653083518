// npm run bench:video [-- --json] [--quick] [--input HxW] [--only <text>[,<text>...]] [--threads 1,2] [--backends wasm,ort,...]
// Per-frame cost of the video models at the MAI setting (180x320 -> 720x1280) through the
// streaming VideoUpscaler: a frame goes in as an 8-bit RGB image and comes out as one
// (conversion, recurrent state and look-ahead included), in steady state (after the look-ahead
// has filled). Each model's step graph runs on mvsr's wasm engine and on onnxruntime-node (the
// same graph exported to ONNX, the state fed back frame by frame), at the same thread counts, in
// one run. scripts/time-video.mjs times other builds of mvsr the same way (A/B).
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { initEngine } from '../tensor/engine.js';
import { manualSeed } from '../nn/init.js';
import { Rng } from '../tensor/random.js';
import { createVideoModel } from '../models/registry.js';
import { videoMacsPerPixel, type VideoSRModel } from '../models/vsr.js';
import { VideoUpscaler } from '../api/video.js';
import { listBackends } from '../runtime/backend.node.js';
import type { Image } from '../io/image.js';
import { describeMachine, machineDescription, median, percentile } from './timing.js';

/** The video models (x4, registry defaults unless given). */
export const VIDEO_NETS: { name: string; arch: string; args: Record<string, unknown> }[] = [
  { name: 'MobileRRN (16, 5 blocks)', arch: 'MobileRRN', args: {} },
  { name: 'MobileRRN aligned (align: global)', arch: 'MobileRRN', args: { align: 'global' } },
  { name: 'RLSP 7-16', arch: 'RLSP', args: {} },
  { name: 'RLSP 7-16 aligned (align: global)', arch: 'RLSP', args: { align: 'global' } },
  { name: 'SWRN (16, 3 blocks, chunk 8)', arch: 'SWRN', args: {} },
  { name: 'SlidingWindowVSR (16, 2 plain blocks, chunk 8)', arch: 'SlidingWindowVSR', args: {} },
  { name: 'SlidingWindowVSR grouped (groups 4, channel shuffle)', arch: 'SlidingWindowVSR', args: { groups: 4 } },
  { name: 'SlidingWindowVSR RLFB trunk (16, 2 blocks)', arch: 'SlidingWindowVSR', args: { block: 'rlfb' } },
  { name: 'MultiFramePlain 3 frames (16, 4 blocks)', arch: 'MultiFramePlain', args: {} },
  { name: 'single-frame plain (16, 12 blocks)', arch: 'MultiFramePlain', args: { num_frame: 1, num_block: 12 } },
  { name: 'single-frame residual (16, 6 blocks)', arch: 'MultiFramePlain', args: { num_frame: 1, num_block: 6, block: 'residual' } },
];

/** What the timing needs of a VideoUpscaler (this build's, or another checkout's, whose options may be ignored). */
export interface StreamingUpscaler {
  readonly latency: number;
  push(frame: Image): Promise<Image[]>;
  /** Hand output frames back for reuse (this build's VideoUpscaler; absent in older checkouts). */
  recycle?(frames: Image[]): void;
  dispose(): unknown;
}

/**
 * Milliseconds per frame of `up` in steady state at H x W: 2 + latency untimed frames, then at
 * least `reps` timed ones (a chunked model's call is spread over the frames it answers). With
 * `recycle` (default) the output frames are handed back after each call, as `mvsr upscale` does
 * once it has written them.
 */
export async function timeStreaming(up: StreamingUpscaler, H: number, W: number, reps: number, recycle = true): Promise<number[]> {
  const rng = new Rng(1);
  const frame = (): Image => ({ width: W, height: H, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: W * H * 3 }, () => Math.floor(rng.next() * 256)) });
  const frames = Array.from({ length: 4 }, frame);
  const warm = 2 + up.latency, n = Math.max(reps, 2 * (up.latency + 1));
  const times: number[] = [];
  for (let i = 0; i < warm + n; i++) {
    const t = performance.now();
    const out = await up.push(frames[i % frames.length]!);
    const ms = performance.now() - t;
    if (recycle) up.recycle?.(out);
    if (i >= warm && out.length) for (let k = 0; k < out.length; k++) times.push(ms / out.length);
  }
  return times;
}

const usage = (): string => `usage: npm run bench:video -- [options]

Median ms per output frame of each video network through VideoUpscaler (8-bit RGB in and out,
steady state), its step graph on each runtime backend, random weights.

options:
  --input HxW          LR frame size (default 180x320; output 4x)
  --threads 1,2        thread counts to time (default 1,2)
  --backends a,b       backends (default every float backend: ${listBackends().filter((b) => b !== 'int8').join(', ')})
  --only name,name     networks whose name contains one of these
  --quick              4 frames per setting instead of 12
  --json               one JSON document on stdout
`;

interface Row { net: string; backend: string; threads: number; macsPerFrame: number; msMedian: number; msP90: number; fps: number; gflops: number }

async function main(): Promise<void> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: process.argv.slice(2), strict: true,
      options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, quick: { type: 'boolean' }, input: { type: 'string' }, threads: { type: 'string' }, only: { type: 'string' }, backends: { type: 'string' } },
    }).values;
  } catch (e) {
    const arg = /'(-[-\w]*)/.exec((e as Error).message)?.[1] ?? (e as Error).message;
    throw new Error(`bench:video: unknown or incomplete argument "${arg}" (npm run bench:video -- --help)`);
  }
  if (v.help) {
    process.stdout.write(usage());
    return;
  }
  const flag = (k: string): string | undefined => v[k] as string | undefined;
  const json = !!v.json;
  const quick = !!v.quick;
  const size = flag('input') ?? '180x320';
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m) throw new Error(`bench:video: --input must look like 180x320, got "${size}"`);
  const H = Number(m[1]), W = Number(m[2]);
  const threadList = (flag('threads') ?? '1,2').split(',').map(Number);
  const log = (s: string) => process.stderr.write(s + '\n');
  const only = flag('only') ?? '';
  const wanted = only.split(',');
  const nets = VIDEO_NETS.filter((n) => wanted.some((w) => n.name.includes(w)));
  if (!nets.length) throw new Error(`bench:video: --only "${only}" matches none of: ${VIDEO_NETS.map((n) => n.name).join('; ')}`);
  // every float backend by default: 'int8' runs quantized graphs only (time those with mvsr quantize + eval-video)
  const known = listBackends(), picked = flag('backends')?.split(',') ?? known.filter((b) => b !== 'int8');
  const unknown = picked.filter((b) => !known.includes(b));
  if (unknown.length) throw new Error(`bench:video: --backends: unknown backend(s) ${unknown.join(', ')} (have: ${known.join(', ')})`);
  const backends = picked;
  const machine = await machineDescription();
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const threads of threadList) {
    await initEngine({ threads });
    for (const n of nets) {
      for (const backend of backends) {
        manualSeed(0);
        const model: VideoSRModel = createVideoModel(n.arch, n.args);
        const macs = videoMacsPerPixel(model) * H * W;
        const up = new VideoUpscaler(model, { backend, threads });
        let times: number[];
        try {
          times = await timeStreaming(up, H, W, quick ? 4 : 12);
        } catch (e) {
          const note = `${n.name} on ${backend}: ${(e as Error).message.split('\n')[0]}`;
          if (!notes.includes(note)) notes.push(note); // once, not once per thread count
          log(`  ${n.name}, ${backend}, ${threads} thread(s): failed (${(e as Error).message.split('\n')[0]})`);
          await up.dispose();
          continue;
        }
        await up.dispose();
        const med = median(times);
        log(`  ${n.name}, ${backend}, ${threads} thread(s): ${med.toFixed(1)} ms/frame`);
        rows.push({ net: n.name, backend, threads, macsPerFrame: macs, msMedian: med, msP90: percentile(times, 0.9), fps: 1000 / med, gflops: (2 * macs) / (med * 1e6) });
      }
    }
  }
  if (json) {
    process.stdout.write(JSON.stringify({ machine, input: [H, W], scale: 4, rows, notes }, null, 2) + '\n');
    return;
  }
  const out = [`machine: ${describeMachine(machine)}, Node ${machine.node}; ${H}x${W} -> ${H * 4}x${W * 4} per frame, VideoUpscaler (8-bit RGB in and out), steady state; the step graph on each backend`, '',
    '| model | GMACs/frame | backend | threads | median ms | p90 ms | fps | GFLOP/s |', '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) out.push(`| ${r.net} | ${(r.macsPerFrame / 1e9).toFixed(2)} | ${r.backend} | ${r.threads} | ${r.msMedian.toFixed(1)} | ${r.msP90.toFixed(1)} | ${r.fps.toFixed(1)} | ${r.gflops.toFixed(1)} |`);
  for (const n of notes) out.push(`note: ${n}`);
  process.stdout.write(out.join('\n') + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main().catch((e: unknown) => {
    process.stderr.write(`${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
    process.exitCode = 2;
  });
}
