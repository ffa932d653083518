// Conformance with the efficient-SR papers' tables: every row of esr-published.json that has
// Set5/Set14 figures and a checkpoint, evaluated by mvsr (HR mod-crop to the scale, LR by MATLAB
// bicubic, uint8 output, Y with `scale` pixels cropped), within 0.05 dB and 0.001 SSIM, and the
// parameter count the row publishes. The IMDN rows (RCAN's MATLAB script on double images)
// reproduce with BasicSR's fractional Y. IMDN+'s NTIRE 2022 figures were measured on Y rounded to
// 8 bits (the IMDN repository's test script: skimage rgb2ycbcr, then uint8): with fractional Y its
// SSIM comes out 0.0011 (Set5) and 0.0008 (Set14) high, with rounded Y within 0.0001.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { useEngine, runGraphArray, maxAbsDiff } from './helpers.js';
import { DATA_DIR, needData } from './data.js';
import { readImage } from '../src/io/image.node.js';
import type { Image } from '../src/io/image.js';
import { makePair, evalPair } from '../src/eval/image.js';
import { listArchs } from '../src/models/registry.js';
import { officialCheckpointSpec } from '../src/models/official.js';
import { loadModelFile } from '../src/api/models.node.js';
import { toGraph } from '../src/models/registry.js';
import { profileGraph } from '../src/graph/profile.js';
import { exportOnnx } from '../src/export/onnx.js';

const TOL = { psnr: 0.05, ssim: 0.001 };
const SETS = ['Set5', 'Set14'] as const;
const TABLE = path.join(DATA_DIR, 'benchmarks/published/esr-published.json');
const skip = needData('benchmarks/Set5') || needData('benchmarks/Set14') || needData('benchmarks/published/esr-published.json');

interface Row {
  model: string; scale: number; params: string; checkpoint: string | null; Set5?: { psnr: number; ssim: number }; Set14?: { psnr: number; ssim: number };
  /** NTIRE 2022 ESR table: FLOPs (G) and activations (M) at a 256x256 LR input, conv count. */
  flops_g?: number; acts_m?: number; num_conv?: number;
}

/** Rows measured on Y rounded to 8 bits; the others with BasicSR's fractional Y. */
const Y_UINT8 = /^IMDN\+/;

/** '694K' -> [693500, 694500); '275,844' -> exactly; '0.433M' -> [432500, 433500). */
function paramRange(p: string): [number, number] {
  const exact = /^([\d,]+)(\s|$)/.exec(p);
  if (exact && exact[1]!.includes(',')) { const n = Number(exact[1]!.replace(/,/g, '')); return [n, n + 1]; }
  const k = /^([\d.]+)K/.exec(p);
  if (k) return [(Number(k[1]) - 0.5) * 1e3, (Number(k[1]) + 0.5) * 1e3];
  const m = /^([\d.]+)M/.exec(p);
  if (m) { const d = 0.5 * 10 ** (6 - (m[1]!.split('.')[1]?.length ?? 0)); return [Number(m[1]) * 1e6 - d, Number(m[1]) * 1e6 + d]; }
  throw new Error(`cannot read the published parameter count '${p}'`);
}

test('efficient-SR tables: Set5/Set14 PSNR/SSIM and parameter counts of the official checkpoints', { skip, timeout: 30 * 60_000 }, async (t) => {
  await useEngine(2);
  const rows = (JSON.parse(readFileSync(TABLE, 'utf8')) as { rows: Row[] }).rows.filter((r) => r.checkpoint && r.Set5 && r.Set14);
  assert.ok(rows.length >= 6, 'the table lists IMDN x2/x3/x4, IMDN+, VapSR and VapSR-S');
  const hrs: Record<string, Image[]> = {};
  for (const set of SETS) {
    const dir = path.join(DATA_DIR, 'benchmarks', set);
    hrs[set] = await Promise.all(readdirSync(dir).filter((f) => f.endsWith('.png')).sort().map((f) => readImage(path.join(dir, f))));
  }
  const lines: string[] = [];
  for (const row of rows) {
    const file = path.join(DATA_DIR, 'checkpoints', row.checkpoint!);
    const spec = officialCheckpointSpec(file);
    const missing = needData(path.join('checkpoints', row.checkpoint!));
    const notYet = !spec || !listArchs().includes(spec.arch) ? `mvsr has no ${row.model} yet` : false;
    await t.test(`${row.model} x${row.scale}`, { skip: missing || notYet }, async () => {
      const model = loadModelFile(file);
      try {
        const n = model.numParameters(), [lo, hi] = paramRange(row.params);
        assert.ok(n >= lo && n < hi, `${n} parameters, published ${row.params}`);
        for (const set of SETS) {
          let psnr = 0, ssim = 0;
          for (const h of hrs[set]!) {
            const { hr, lr } = makePair(h, row.scale, row.scale);
            const r = await evalPair(model, hr, lr, { scale: row.scale, yUint8: Y_UINT8.test(row.model) });
            psnr += r.psnr;
            ssim += r.ssim;
          }
          psnr /= hrs[set]!.length;
          ssim /= hrs[set]!.length;
          const pub = row[set]!, dp = psnr - pub.psnr, ds = ssim - pub.ssim;
          lines.push(`${row.model.slice(0, 24).padEnd(24)} x${row.scale} ${set.padEnd(5)} PSNR ${psnr.toFixed(3)} (paper ${pub.psnr.toFixed(2)}, ${dp >= 0 ? '+' : ''}${dp.toFixed(3)})  SSIM ${ssim.toFixed(4)} (paper ${pub.ssim.toFixed(4)}, ${ds >= 0 ? '+' : ''}${ds.toFixed(4)})  ${n} params`);
          assert.ok(Math.abs(dp) <= TOL.psnr, `${set} PSNR ${psnr.toFixed(3)} vs published ${pub.psnr}`);
          assert.ok(Math.abs(ds) <= TOL.ssim, `${set} SSIM ${ssim.toFixed(4)} vs published ${pub.ssim}`);
        }
      } finally {
        model.dispose();
      }
    });
  }
  process.stderr.write(lines.map((l) => '  ' + l).join('\n') + '\n');
});

/**
 * MobileSR's FLOPs as the challenge's counter (utils/model_summary.py) computes them: it hooks
 * convs, activations and nn.Linear, not the attention's matrix products, and its Linear hook adds
 * input.shape[0] * input.shape[1] * output.shape[1], which for the attention's qkv and proj_out
 * (applied to [windows, 64 tokens, C]) is windows * 64 * 64 and for the MLP's (applied to
 * [1, H, W, C]) H * H. So: mvsr's MACs without the Linears and the attention, plus those terms.
 */
function mobileSrCounterFlops(g: ReturnType<typeof toGraph>, p: ReturnType<typeof profileGraph>): number {
  const attn = g.nodes.find((x) => x.op === 'windowAttention');
  assert.ok(attn?.op === 'windowAttention', 'MobileSR has window attention');
  const ws = attn.window, windows = Math.ceil(p.H / ws) * Math.ceil(p.W / ws);
  let flops = 0;
  for (const n of p.nodes) {
    const node = g.nodes.find((x) => x.id === n.id)!;
    if (node.op === 'windowAttention') continue;
    if (node.op !== 'conv' || !node.linear) { flops += n.macs; continue; }
    flops += /\.attn\./.test(node.id) ? windows * ws * ws * ws * ws : p.H * p.H;
  }
  return flops;
}

test('NTIRE 2022 ESR table: parameters, FLOPs and activations at 256x256 and conv counts of the official checkpoints (mvsr profile, the challenge\'s counting), and their ONNX export in onnxruntime equals mvsr', { skip: needData('benchmarks/published/esr-published.json') }, async (t) => {
  await useEngine(2);
  const rows = (JSON.parse(readFileSync(TABLE, 'utf8')) as { rows: Row[] }).rows.filter((r) => r.checkpoint && r.flops_g !== undefined && !r.model.includes('2024'));
  assert.ok(rows.length >= 6, 'the table lists the NTIRE 2022 baselines and entries');
  let ort: typeof import('onnxruntime-node') | null = null;
  try {
    ort = await import('onnxruntime-node');
  } catch {
    ort = null;
  }
  for (const row of rows) {
    const file = path.join(DATA_DIR, 'checkpoints', row.checkpoint!);
    const spec = officialCheckpointSpec(file);
    const notYet = !spec || !listArchs().includes(spec.arch) ? `mvsr has no ${row.model} yet` : false;
    await t.test(row.model, { skip: needData(path.join('checkpoints', row.checkpoint!)) || notYet }, async () => {
      const model = loadModelFile(file);
      try {
        const g = toGraph(model);
        const p = profileGraph(g, 256, 256);
        const [lo, hi] = paramRange(row.params);
        assert.ok(p.params >= lo && p.params < hi, `${p.params} parameters, published ${row.params}`);
        // the table prints G and M with two decimals. BSRN-S is the exception: its 1x1s are
        // nn.Linear layers, which the challenge's model_summary counts as batch x dim1 x dim1 of
        // their NHWC input (about 2 G in all), yet the table prints 9.50 G; mvsr counts their true
        // MACs, 9.43 G, and this row is held to 1 %
        const flopsTol = row.model.startsWith('BSRN-S') ? row.flops_g! * 0.01 : 0.005 + 1e-9;
        const flops = row.model.startsWith('MobileSR') ? mobileSrCounterFlops(g, p) : p.macs;
        assert.ok(Math.abs(flops / 1e9 - row.flops_g!) <= flopsTol, `${(flops / 1e9).toFixed(4)} G FLOPs, published ${row.flops_g}`);
        assert.ok(Math.abs(p.activations / 1e6 - row.acts_m!) <= 0.005 + 1e-9, `${(p.activations / 1e6).toFixed(4)} M activations, published ${row.acts_m}`);
        assert.equal(p.convs, row.num_conv);
        if (!ort) return;
        const x = { shape: [1, 24, 20, 3], data: Float32Array.from({ length: 24 * 20 * 3 }, (_, i) => ((i * 7919) % 256) / 255) };
        const want = runGraphArray(g, x);
        const s = await ort.InferenceSession.create(exportOnnx(g, { layout: 'nhwc', inputShape: [24, 20] }), { intraOpNumThreads: 1, executionProviders: ['cpu'] });
        const got = (await s.run({ input: new ort.Tensor('float32', x.data, x.shape) })).output!.data as Float32Array;
        assert.ok(maxAbsDiff(got, want.data) * 255 < 0.05, `max |onnxruntime - mvsr| * 255 = ${maxAbsDiff(got, want.data) * 255}`);
      } finally {
        model.dispose();
      }
    });
  }
});

test('a checkpoint of the right family but the wrong scale or size: one error naming the keys and shapes that do not fit', { skip: needData('checkpoints/imdn-official/IMDN_x4.pth') || needData('checkpoints/vapsr-official/VapSR-S.pth') }, async () => {
  await useEngine(1);
  const imdn = path.join(DATA_DIR, 'checkpoints/imdn-official/IMDN_x4.pth');
  assert.throws(() => loadModelFile(imdn, { arch: 'IMDN', args: { upscale: 3 } }), (e: Error) => {
    assert.match(e.message, /IMDN_x4\.pth: the weights do not fit IMDN/);
    assert.match(e.message, /upsampler\.0\.weight/);
    assert.match(e.message, /48,64,3,3/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
  const vapsr = path.join(DATA_DIR, 'checkpoints/vapsr-official/VapSR-S.pth');
  assert.throws(() => loadModelFile(vapsr, { arch: 'vapsr', args: { num_feat: 32, num_block: 11, d_atten: 64, scale: 4 } }), /VapSR-S\.pth: the weights do not fit vapsr.*conv_body\.weight/);
  // this session's families: a wrong scale (a shape), a block too few (unexpected keys), blocks too few (missing and unexpected)
  const ntire = (f: string) => path.join(DATA_DIR, 'checkpoints/ntire2022-esr-official', f);
  if (!needData('checkpoints/ntire2022-esr-official/team01_efdn.pth')) {
    assert.throws(() => loadModelFile(ntire('team01_efdn.pth'), { arch: 'EFDN', args: { scale: 2 } }), /team01_efdn\.pth: the weights do not fit EFDN\(.*\): tail\.0\.weight has shape \[48,48,3,3\], the model expects \[12,48,3,3\]$/);
    assert.throws(() => loadModelFile(ntire('team20_mobilesr.pth'), { arch: 'MobileSR', args: { ratios: '4,2,2,2' } }), /team20_mobilesr\.pth: the weights do not fit MobileSR\(.*\): missing keys \[\], unexpected keys \[body\.layers\.4\.0\.pos_embed\.weight/);
    assert.throws(() => loadModelFile(ntire('imdn_baseline.pth'), { arch: 'IMDN_baseline', args: { nb: 6 } }), /imdn_baseline\.pth: the weights do not fit IMDN_baseline\(.*\): missing keys \[model\.1\.sub\.6\.weight, model\.1\.sub\.6\.bias\], unexpected keys \[model\.1\.sub\.6\.conv1\.0\.weight/);
  }
});

test('BSRN x2/x3/x4 and BSRN-S (no published table was readable): the official files load strictly by name with the parameter counts MANIFEST.md records, and both BSRN-S files give the same network', { skip: needData('checkpoints/bsrn-official/net_g_BSRN_x4.pth') }, async () => {
  await useEngine(1);
  const want: [string, string, number][] = [
    ['bsrn-official/net_g_BSRN_x2.pth', 'BSRN', 331_628], ['bsrn-official/net_g_BSRN_x3.pth', 'BSRN', 340_283],
    ['bsrn-official/net_g_BSRN_x4.pth', 'BSRN', 352_400], ['bsrn-official/net_g_BSRN-S.pth', 'RFDNFINALB5', 156_288],
    ['ntire2022-esr-official/team18_bsrn.pth', 'RFDNFINALB5', 156_288],
  ];
  for (const [file, arch, params] of want) {
    if (needData(path.join('checkpoints', file))) continue;
    const model = loadModelFile(path.join(DATA_DIR, 'checkpoints', file));
    try {
      assert.equal(model.arch, arch, file);
      assert.equal(model.numParameters(), params, file);
    } finally {
      model.dispose();
    }
  }
  // BSRN's 1x1s are 4-D conv weights; BSRN-S's are 2-D nn.Linear weights: one cannot pose as the other
  assert.throws(() => loadModelFile(path.join(DATA_DIR, 'checkpoints/bsrn-official/net_g_BSRN-S.pth'), { arch: 'BSRN', args: { num_feat: 48, num_block: 5 } }), /net_g_BSRN-S\.pth: the weights do not fit BSRN/);
});
