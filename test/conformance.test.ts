// Conformance with a published table: the official ETDS checkpoints, evaluated by mvsr on Set5
// and Set14 (HR mod-12, LR by MATLAB bicubic, uint8 output, PSNR/SSIM on Y with `scale` pixels
// cropped), reproduce ETDS Table 2 for every listed model at x2, x3 and x4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { useEngine } from './helpers.js';
import { DATA_DIR, ZOO_DIR, needData, readTable, readTestConfig, type TableRow } from './data.js';
import { readImage } from '../src/io/image.node.js';
import type { Image } from '../src/io/image.js';
import { makePair, evalPair } from '../src/eval/image.js';
import { createModel, createModelFromConfig, type SRModel } from '../src/models/registry.js';
import { loadWeightsFile } from '../src/io/weights.node.js';

const TOL = { Set5: { psnr: 0.02, ssim: 0.0005 }, Set14: { psnr: 0.05, ssim: 0.001 } } as const;
const SETS = ['Set5', 'Set14'] as const;

const skip = needData('benchmarks/Set5') || needData('benchmarks/Set14') || needData('checkpoints/etds-official') || needData('benchmarks/published/etds-table2.json');

function buildModel(row: TableRow): SRModel {
  if (!row.checkpoint) return createModel('Bicubic', { upscale: row.scale });
  const family = row.checkpoint.split('/')[0]!;
  const cfg = readTestConfig(path.join(ZOO_DIR, 'configs', family, `test_${path.basename(row.checkpoint, '.pth')}.yml`));
  const model = createModelFromConfig(cfg.networkG);
  model.loadStateDict(loadWeightsFile(path.join(ZOO_DIR, row.checkpoint)).tensors);
  return model;
}

test('ETDS Table 2 is reproduced on Set5 and Set14 for every listed model at x2, x3, x4', { skip, timeout: 30 * 60_000 }, async (t) => {
  await useEngine(2);
  const hrs: Record<string, { name: string; image: Image }[]> = {};
  for (const set of SETS) {
    const dir = path.join(DATA_DIR, 'benchmarks', set);
    hrs[set] = await Promise.all(readdirSync(dir).filter((f) => f.endsWith('.png')).sort()
      .map(async (f) => ({ name: f, image: await readImage(path.join(dir, f)) })));
  }
  const pairs = new Map<string, { hr: Image; lr: Image }[]>();
  const pairsFor = (set: string, scale: number) => {
    const k = `${set}x${scale}`;
    if (!pairs.has(k)) pairs.set(k, hrs[set]!.map((h) => makePair(h.image, scale)));
    return pairs.get(k)!;
  };
  const lines: string[] = [];
  const failures: string[] = [];
  for (const row of readTable()) {
    await t.test(`${row.model} x${row.scale}`, async () => {
      const model = buildModel(row);
      try {
        for (const set of SETS) {
          let psnr = 0, ssim = 0;
          const ps = pairsFor(set, row.scale);
          for (const p of ps) {
            const r = await evalPair(model, p.hr, p.lr, { scale: row.scale });
            psnr += r.psnr;
            ssim += r.ssim;
          }
          psnr /= ps.length;
          ssim /= ps.length;
          const pub = row[set];
          const dp = psnr - pub.psnr, ds = ssim - pub.ssim;
          lines.push(`${row.model.padEnd(12)} x${row.scale} ${set.padEnd(5)} PSNR ${psnr.toFixed(3)} (paper ${pub.psnr.toFixed(2)}, ${dp >= 0 ? '+' : ''}${dp.toFixed(3)})  SSIM ${ssim.toFixed(4)} (paper ${pub.ssim.toFixed(4)}, ${ds >= 0 ? '+' : ''}${ds.toFixed(4)})`);
          const tol = TOL[set];
          if (Math.abs(dp) > tol.psnr || Math.abs(ds) > tol.ssim) failures.push(lines[lines.length - 1]!);
          assert.ok(Math.abs(dp) <= tol.psnr, `${set} PSNR ${psnr.toFixed(3)} vs published ${pub.psnr} (tolerance ±${tol.psnr})`);
          assert.ok(Math.abs(ds) <= tol.ssim, `${set} SSIM ${ssim.toFixed(4)} vs published ${pub.ssim} (tolerance ±${tol.ssim})`);
        }
      } finally {
        model.dispose();
      }
    });
  }
  process.stderr.write(lines.map((l) => '  ' + l).join('\n') + '\n');
  if (failures.length) process.stderr.write(`  outside tolerance:\n${failures.map((l) => '    ' + l).join('\n')}\n`);
});
