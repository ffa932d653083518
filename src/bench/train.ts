// npm run bench:train [-- --json] [--quick] [--arch NAME]
// Training throughput of the networks mvsr trains and ships: ms per step and LR pixels per
// second at batch 16 of 64x64 LR patches (x4), L1 loss + Adam, on 1 and 2 threads.
import { initEngine } from '../tensor/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { leaf, backward, clearTape } from '../autograd/var.js';
import { l1Loss } from '../autograd/ops/loss.js';
import { manualSeed } from '../nn/init.js';
import { Adam } from './../train/optim.js';
import { Rng } from '../tensor/random.js';
import { createModel } from '../models/registry.js';
import { describeMachine, machineDescription, median, timeIt } from './timing.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const only = args.includes('--arch') ? args[args.indexOf('--arch') + 1] : undefined;
const log = (s: string) => process.stderr.write(s + '\n');

/** The training-time forms of the networks configs/ trains (x4). */
export const TRAINED_NETS: { name: string; arch: string; args: Record<string, unknown> }[] = [
  { name: 'ELSR', arch: 'ELSR', args: { upscale: 4 } },
  { name: 'ESPCN', arch: 'ESPCN', args: { upscale: 4 } },
  { name: 'ECBSR-M4C16', arch: 'ECBSR', args: { num_block: 4, num_feat: 16, upscale: 4 } },
  { name: 'ETDS-T (M5C16)', arch: 'ETDS', args: { num_block: 5, num_feat: 16, upscale: 4 } },
  { name: 'ABPN-M4C28', arch: 'ABPN', args: { num_block: 4, num_feat: 28, scale: 4 } },
];

interface Row { net: string; threads: number; msPerStep: number; lrPixelsPerSec: number }

async function benchNet(n: (typeof TRAINED_NETS)[number], threads: number): Promise<Row> {
  await initEngine({ threads });
  manualSeed(0);
  const model = createModel(n.arch, n.args);
  const opt = new Adam(model.parameters(), { lr: 1e-4 });
  const rng = new Rng(1);
  const B = 16, P = 64, s = 4;
  const rand = (shape: number[]) => {
    const t = Tensor.empty(shape);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = rng.next();
    return t;
  };
  const x = leaf(rand([B, P, P, 3])), y = leaf(rand([B, P * s, P * s, 3]));
  const ms = median(timeIt(() => {
    backward(l1Loss(model.forward(x), y));
    clearTape();
    opt.update();
    opt.zeroGrad();
  }, 2, quick ? 3 : 6));
  opt.dispose();
  model.dispose();
  x.value.dispose();
  y.value.dispose();
  log(`  ${n.name}, ${threads} thread(s): ${ms.toFixed(1)} ms/step`);
  return { net: n.name, threads, msPerStep: ms, lrPixelsPerSec: (B * P * P) / (ms / 1000) };
}

const machine = await machineDescription();
const rows: Row[] = [];
for (const n of TRAINED_NETS.filter((t) => !only || t.name.toLowerCase().startsWith(only.toLowerCase()))) {
  for (const threads of [1, 2]) rows.push(await benchNet(n, threads));
}
if (json) process.stdout.write(JSON.stringify({ machine, batch: 16, lrPatch: 64, scale: 4, rows }, null, 2) + '\n');
else {
  const out = [`machine: ${describeMachine(machine)}, Node ${machine.node}; batch 16 of 64x64 LR patches, x4, L1 + Adam`, '',
    '| network (training form) | threads | ms/step | LR pixels/s | steps/hour |', '|---|---|---|---|---|'];
  for (const r of rows) out.push(`| ${r.net} | ${r.threads} | ${r.msPerStep.toFixed(1)} | ${Math.round(r.lrPixelsPerSec)} | ${Math.round(3.6e6 / r.msPerStep)} |`);
  process.stdout.write(out.join('\n') + '\n');
}
