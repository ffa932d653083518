// npm run bench:engine [-- --json] [--quick]
// Engine throughput: conv3x3 28->28 at 180x320 (forward, input gradient, weight gradient) on 1
// and 2 threads, one training step of an ABPN-like net (batch 16, 64x64, L1, Adam), and
// TensorFlow.js's wasm backend on the same forward pass in the same run.
import { initEngine, disposeEngine } from '../tensor/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { conv2d, conv2dBackward } from '../tensor/ops/conv.js';
import { leaf, backward, clearTape, noGrad } from '../autograd/var.js';
import { l1Loss } from '../autograd/ops/loss.js';
import { manualSeed } from '../nn/init.js';
import { Adam } from '../train/optim.js';
import { Rng } from '../tensor/random.js';
import { AbpnLike } from './abpn-like.js';
import { describeMachine, machineDescription, median, percentile, timeIt } from './timing.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const log = (s: string) => process.stderr.write(s + '\n');

const H = 180, W = 320, C = 28, K = 3;
const convFlops = 2 * H * W * C * C * K * K;
const reps = quick ? 3 : 10;

function randomTensor(shape: number[], rng: Rng, lo = 0, hi = 1): Tensor {
  const t = Tensor.empty(shape);
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = rng.uniform(lo, hi);
  return t;
}

interface ConvRow { threads: number; pass: string; ms: number; gflops: number }
interface StepRow { threads: number; msMedian: number; msP90: number; lrPixelsPerSec: number }

async function benchConv(threads: number): Promise<ConvRow[]> {
  await initEngine({ threads });
  const rng = new Rng(1);
  const x = randomTensor([1, H, W, C], rng);
  const w = randomTensor([C, C, K, K], rng, -0.1, 0.1);
  const dy = randomTensor([1, H, W, C], rng, -1, 1);
  const rows: ConvRow[] = [];
  const passes: [string, () => void][] = [
    ['forward', () => conv2d(x, w, null).dispose()],
    ['input gradient', () => conv2dBackward(x, w, dy, {}, { dx: true, dw: false, db: false }).dx!.dispose()],
    ['weight gradient', () => conv2dBackward(x, w, dy, {}, { dx: false, dw: true, db: false }).dw!.dispose()],
  ];
  for (const [pass, fn] of passes) {
    const ms = median(timeIt(fn, 2, reps));
    rows.push({ threads, pass, ms, gflops: convFlops / ms / 1e6 });
    log(`  conv 28->28 ${pass}, ${threads} thread(s): ${ms.toFixed(2)} ms`);
  }
  [x, w, dy].forEach((t) => t.dispose());
  return rows;
}

async function benchStep(threads: number): Promise<StepRow> {
  await initEngine({ threads });
  manualSeed(0);
  const net = new AbpnLike();
  const opt = new Adam(net.parameters(), { lr: 5e-4 });
  const rng = new Rng(2);
  const B = 16, P = 64;
  const lr = randomTensor([B, P, P, 3], rng);
  const hr = randomTensor([B, P * 4, P * 4, 3], rng);
  const x = leaf(lr), t = leaf(hr);
  const step = () => {
    const loss = l1Loss(net.forward(x), t);
    backward(loss);
    clearTape();
    opt.update();
    opt.zeroGrad();
  };
  const times = timeIt(step, 2, quick ? 3 : 8);
  const ms = median(times);
  log(`  ABPN-like training step, ${threads} thread(s): ${ms.toFixed(1)} ms`);
  opt.dispose();
  net.dispose();
  lr.dispose();
  hr.dispose();
  return { threads, msMedian: ms, msP90: percentile(times, 0.9), lrPixelsPerSec: (B * P * P) / (ms / 1000) };
}

async function benchTfjs(): Promise<{ convMs: number; version: string } | { error: string }> {
  try {
    const tf = await import('@tensorflow/tfjs-core');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const { createRequire } = await import('node:module');
    const path = await import('node:path');
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(dir + path.sep);
    await tf.setBackend('wasm');
    await tf.ready();
    const x = tf.randomUniform([1, H, W, C]);
    const w = tf.randomUniform([K, K, C, C], -0.1, 0.1);
    const ms = median(
      await timeItAsync(async () => {
        const y = tf.conv2d(x as Parameters<typeof tf.conv2d>[0], w as Parameters<typeof tf.conv2d>[1], 1, 'same');
        await y.data();
        y.dispose();
      }, 2, reps),
    );
    x.dispose();
    w.dispose();
    log(`  tfjs-wasm conv 28->28 forward: ${ms.toFixed(2)} ms`);
    return { convMs: ms, version: tf.version_core };
  } catch (e) {
    return { error: `tfjs-wasm unavailable: ${(e as Error).message}` };
  }
}

async function timeItAsync(fn: () => Promise<void>, warm: number, n: number): Promise<number[]> {
  for (let i = 0; i < warm; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(): Promise<void> {
  const machine = await machineDescription();
  log(`mvsr engine benchmark on ${describeMachine(machine)}, Node ${machine.node}`);
  const conv: ConvRow[] = [];
  const steps: StepRow[] = [];
  let simd = '';
  for (const threads of [1, 2]) {
    conv.push(...(await benchConv(threads)));
    steps.push(await benchStep(threads));
  }
  {
    const e = await initEngine({ threads: 1 });
    simd = e.simd;
  }
  disposeEngine();
  const tfjs = await benchTfjs();
  const fwd1 = conv.find((r) => r.threads === 1 && r.pass === 'forward')!;
  const fwd2 = conv.find((r) => r.threads === 2 && r.pass === 'forward')!;
  const result = {
    machine: { ...machine, simd },
    conv: { shape: `1x${H}x${W}x${C} -> ${C}, 3x3`, flops: convFlops, rows: conv },
    trainingStep: { net: 'ABPN-like (conv3->28, 4x conv28->28, conv28->48, anchor, d2s x4)', batch: 16, patch: 64, rows: steps },
    tfjsWasm: tfjs,
    speedupVsTfjs: 'convMs' in tfjs ? { threads1: tfjs.convMs / fwd1.ms, threads2: tfjs.convMs / fwd2.ms } : null,
  };
  if (json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }
  const out: string[] = [];
  out.push(`machine: ${describeMachine(machine)}, Node ${machine.node}, kernels: ${simd}`);
  out.push('');
  out.push(`| conv3x3 28->28 on 180x320 | threads | ms | GFLOP/s | GFLOP/s per thread |`);
  out.push(`|---|---|---|---|---|`);
  for (const r of conv) out.push(`| ${r.pass} | ${r.threads} | ${r.ms.toFixed(2)} | ${r.gflops.toFixed(1)} | ${(r.gflops / r.threads).toFixed(1)} |`);
  if ('convMs' in tfjs) {
    out.push(`| forward, tfjs-wasm ${tfjs.version} | 1 | ${tfjs.convMs.toFixed(2)} | ${(convFlops / tfjs.convMs / 1e6).toFixed(1)} | |`);
  } else out.push(`tfjs-wasm: ${tfjs.error}`);
  out.push('');
  out.push(`| ABPN-like training step, batch 16 x 64x64, L1, Adam | threads | median ms | p90 ms | LR pixels/s |`);
  out.push(`|---|---|---|---|---|`);
  for (const r of steps) out.push(`| | ${r.threads} | ${r.msMedian.toFixed(1)} | ${r.msP90.toFixed(1)} | ${Math.round(r.lrPixelsPerSec)} |`);
  if (result.speedupVsTfjs) {
    out.push('');
    out.push(`forward speed-up over tfjs-wasm: ${result.speedupVsTfjs.threads1.toFixed(2)}x (1 thread), ${result.speedupVsTfjs.threads2.toFixed(2)}x (2 threads)`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

await main();
