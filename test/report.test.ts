// `mvsr report` against independent references: its Set5 figures are what `mvsr eval` prints and
// within 0.02 dB of the ETDS paper, its params/MACs what `mvsr profile` prints, its ms cells the
// bench JSON's medians of the matched network, its ground-truth crop the HR pixels of the stated
// window (found again here by brute force), and its screenshot a real picture of the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT, ZOO_DIR, DATA_DIR, needData, readTable } from './data.js';
import { readImage, decodePng } from '../src/io/image.node.js';
import { toRGB, type Image } from '../src/io/image.js';
import { rgbToY } from '../src/metrics/color.js';
import { maxGradientWindow, magnifyNearest, officialCheckpointSpec, parseBenchJson } from '../src/bench/report.js';
import { findChromium } from '../src/bench/report.node.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
const BENCH = path.join(REPO_ROOT, 'docs/bench/infer-intel-xeon-2c-2026-12-06.json');
const ETDS = path.join(ZOO_DIR, 'ETDS/ETDS_M5C16_x4.pth');
const ESPCN = path.join(ZOO_DIR, 'ESPCN/ESPCN_x4.pth');

function mvsr(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Sum of squared forward differences of Y over every pixel pair inside the window, by direct loops. */
function naiveEnergy(Y: Float64Array, W: number, x: number, y: number, n: number): number {
  let e = 0;
  for (let r = y; r < y + n; r++) {
    for (let c = x; c < x + n; c++) {
      if (c + 1 < x + n) e += (Y[r * W + c + 1]! - Y[r * W + c]!) ** 2;
      if (r + 1 < y + n) e += (Y[(r + 1) * W + c]! - Y[r * W + c]!) ** 2;
    }
  }
  return e;
}

/** The best window by trying every allowed corner (first best in raster order). */
function naiveBestWindow(img: Image, n: number, align: number, margin: number): { x: number; y: number } {
  const Y = rgbToY(img);
  let best = { x: -1, y: -1, e: -1 };
  for (let y = margin; y + n <= img.height - margin; y += align) {
    for (let x = margin; x + n <= img.width - margin; x += align) {
      const e = naiveEnergy(Y, img.width, x, y, n);
      if (e > best.e) best = { x, y, e };
    }
  }
  return { x: best.x, y: best.y };
}

/** The window [x, x+w) x [y, y+h) of an RGB image, each pixel repeated k x k, by direct indexing. */
function expectedZoom(img: Image, x: number, y: number, w: number, h: number, k: number): Uint8Array {
  const out = new Uint8Array(w * k * h * k * 3);
  for (let r = 0; r < h * k; r++) {
    for (let c = 0; c < w * k; c++) {
      for (let ch = 0; ch < 3; ch++) out[(r * w * k + c) * 3 + ch] = img.data[((y + Math.floor(r / k)) * img.width + x + Math.floor(c / k)) * 3 + ch]!;
    }
  }
  return out;
}

test('report: crop window search and nearest-neighbour zoom against brute force', () => {
  // a noise background with one strongly textured square: the search must find the square's best window
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const W = 61, H = 47;
  const img: Image = { width: W, height: H, channels: 3, bitDepth: 8, data: new Uint8Array(W * H * 3) };
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const stripe = r >= 20 && r < 40 && c >= 30 && c < 52 ? ((r + c) % 2) * 200 : 0;
      for (let ch = 0; ch < 3; ch++) img.data[(r * W + c) * 3 + ch] = Math.min(255, Math.floor(rnd() * 30) + stripe);
    }
  }
  for (const [n, align, margin] of [[12, 4, 4], [16, 1, 0], [9, 3, 3]] as const) {
    const got = maxGradientWindow(img, n, align, margin);
    const want = naiveBestWindow(img, n, align, margin);
    assert.deepEqual({ x: got.x, y: got.y }, want, `window ${n} align ${align} margin ${margin}`);
  }
  const z = magnifyNearest(img, 3);
  assert.deepEqual([z.width, z.height], [W * 3, H * 3]);
  assert.deepEqual(z.data, expectedZoom(img, 0, 0, W, H, 3));
});

test('report: official checkpoint names and bench JSON problems', () => {
  assert.deepEqual(officialCheckpointSpec('/x/ETDS_M5C16_x4.pth'), { arch: 'ETDSForInference', args: { num_block: 5, num_feat: 16, upscale: 4 } });
  assert.deepEqual(officialCheckpointSpec('ABPN_M4C28_x4.pth'), { arch: 'ABPN', args: { num_block: 4, num_feat: 28, scale: 4 } });
  assert.deepEqual(officialCheckpointSpec('ECBSR_ET_M4C16_x2.pth'), { arch: 'ECBSRET', args: { num_block: 4, num_feat: 16, upscale: 2 } });
  assert.deepEqual(officialCheckpointSpec('ESPCN_x4.pth'), { arch: 'ESPCN', args: { upscale: 4 } });
  assert.deepEqual(officialCheckpointSpec('/x/IMDN_x3.pth'), { arch: 'IMDN', args: { nf: 64, num_modules: 6, upscale: 3 } });
  assert.deepEqual(officialCheckpointSpec('team39_imdn_plus.pth'), { arch: 'IMDN_plus', args: { nf: 36, nb: 8, upscale: 4 } });
  assert.equal(officialCheckpointSpec('IMDN_x5.pth'), null);
  assert.equal(officialCheckpointSpec('my_model.pth'), null);
  assert.throws(() => parseBenchJson('{', 'b.json'), /^Error: mvsr report: b\.json: cannot read the benchmark JSON: not JSON/);
  assert.throws(() => parseBenchJson('{"rows": []}', 'b.json'), /"models" and "rows"/);
  assert.throws(() => parseBenchJson('{"models": [], "rows": [{"model": "X"}]}', 'b.json'), /rows\[0\] lacks/);
});

/** The command failed with one `mvsr report:` line matching re and left no output folder. */
function failsCleanly(r: { code: number; stderr: string }, re: RegExp, outDir: string): void {
  assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line of error, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^mvsr report: /);
  assert.match(lines[0]!, re);
  assert.ok(!existsSync(outDir), 'no output folder');
}

test('report: bad input gives one line naming the problem', { skip: needData('benchmarks/Set5') }, () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'mvsr-report-bad-'));
  const outDir = path.join(tmp, 'out');
  failsCleanly(mvsr(['report', '-o', outDir, '--data', path.join(tmp, 'nodata')]), /nodata: no benchmark images \(benchmarks\/Set5, benchmarks\/Set14 missing/, outDir);
  failsCleanly(mvsr(['report', '-o', outDir, '--data', DATA_DIR, '--bench', path.join(tmp, 'none.json')]), /none\.json: cannot read the benchmark JSON: no such file/, outDir);
  writeFileSync(path.join(tmp, 'bad.json'), '{"rows": ');
  failsCleanly(mvsr(['report', '-o', outDir, '--data', DATA_DIR, '--bench', path.join(tmp, 'bad.json')]), /bad\.json: cannot read the benchmark JSON: not JSON/, outDir);
  failsCleanly(mvsr(['report', '-o', outDir, '--data', DATA_DIR, '--models', 'bicubic,nosuchmodel']), /unknown model "nosuchmodel"/, outDir);
  failsCleanly(mvsr(['report', '-o', outDir, '--data', DATA_DIR, '--models', 'bicubic', '--screenshot'], { MVSR_CHROMIUM: path.join(tmp, 'no-chromium') }), /--screenshot needs Chromium/, outDir);
});

interface ReportJson {
  models: { name: string; source: string; deployArch: string; params: number; macs: number; set5: { psnr: number; ssim: number }; set14: { psnr: number; ssim: number }; benchModel: string | null; ms: Record<string, number | null>; crop: { file: string } }[];
  bicubicSet5: { psnr: number };
  crop: { image: string; dataset: string; x: number; y: number; size: number; margin: number; magnify: number; gt: string; bicubic: { file: string } };
  bench: { engines: { id: string }[] };
  files: { html: string; markdown: string; crops: string[]; screenshot: string | null };
  screenshot: { width: number; height: number } | null;
}

const skipData = needData('benchmarks/Set14') || needData('checkpoints/etds-official/ETDS/ETDS_M5C16_x4.pth') || needData('benchmarks/published/etds-table2.json');

test('report: leaderboard, crops and screenshot against eval, profile, the paper and the bench JSON', { skip: skipData, timeout: 300_000 }, async () => {
  const outDir = path.join(mkdtempSync(path.join(tmpdir(), 'mvsr-report-')), 'rep');
  const chromium = findChromium();
  const r = mvsr(['report', '-o', outDir, '--data', DATA_DIR, '--models', `bicubic,${ETDS},${ESPCN},etds-t-x4`, '-t', '2', '--json', ...(chromium ? ['--screenshot'] : [])]);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as ReportJson;
  assert.deepEqual(rep.models.map((m) => m.name), ['ETDS_M5C16_x4', 'ESPCN_x4', 'etds-t-x4', 'Bicubic'], 'ranked by Set5 PSNR');
  const etds = rep.models[0]!, espcn = rep.models[1]!, shipped = rep.models[2]!, bic = rep.models[3]!;
  assert.equal(etds.source, 'official');
  assert.equal(bic.source, 'weightless');

  // quality: exactly what `mvsr eval` prints, and the paper's figure
  const ev = mvsr(['eval', '--model', ETDS, '--arch', 'ETDSForInference', '--args', 'num_block=5,num_feat=16', '--data', path.join(DATA_DIR, 'benchmarks/Set5'), '-t', '2', '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const evj = JSON.parse(ev.stdout) as { psnr: number; ssim: number };
  assert.equal(etds.set5.psnr, evj.psnr);
  assert.equal(etds.set5.ssim, evj.ssim);
  const paper = readTable().find((row) => row.checkpoint === 'ETDS/ETDS_M5C16_x4.pth')!;
  assert.ok(Math.abs(etds.set5.psnr - paper.Set5.psnr) <= 0.02, `Set5 ${etds.set5.psnr} vs paper ${paper.Set5.psnr}`);
  assert.ok(Math.abs(etds.set14.psnr - paper.Set14.psnr) <= 0.05, `Set14 ${etds.set14.psnr} vs paper ${paper.Set14.psnr}`);
  const paperBicubic = readTable().find((row) => row.model === 'Bicubic' && row.scale === 4)!;
  assert.ok(Math.abs(rep.bicubicSet5.psnr - paperBicubic.Set5.psnr) <= 0.02, 'the reference line is bicubic');

  // cost: what `mvsr profile` prints at the MAI input
  for (const [m, file, arch, args] of [[etds, ETDS, 'ETDSForInference', 'num_block=5,num_feat=16'], [espcn, ESPCN, 'ESPCN', 'upscale=4']] as const) {
    const p = mvsr(['profile', file, '--arch', arch, '--args', args, '--json']);
    assert.equal(p.code, 0, p.stderr);
    const pj = JSON.parse(p.stdout) as { params: number; macs: number; input: number[] };
    assert.deepEqual(pj.input, [180, 320]);
    assert.equal(m.params, pj.params, `${m.name} params`);
    assert.equal(m.macs, pj.macs, `${m.name} MACs`);
  }

  // speed: the bench JSON's MAI medians of the network with the same deploy graph; none for
  // bicubic; the int8 engines' only for the weights the bench ran (the shipped etds-t-x4's: the
  // official ETDS checkpoint has another int8 graph)
  const bench = JSON.parse(readFileSync(BENCH, 'utf8')) as { models: { name: string; weights: string }[]; rows: { model: string; setting: string; engine: string; msMedian: number }[] };
  assert.equal(bench.models.find((m) => m.name === 'ETDS-T')!.weights, 'shipped etds-t-x4');
  assert.equal(etds.benchModel, 'ETDS-T');
  assert.equal(espcn.benchModel, 'ESPCN');
  assert.equal(shipped.benchModel, 'ETDS-T');
  assert.equal(bic.benchModel, null);
  const engines = rep.bench.engines.map((e) => e.id);
  const int8 = ['mvsr-int8-1', 'mvsr-int8-2', 'ort-node-int8-1', 'ort-node-int8-2'];
  assert.deepEqual([...engines].sort(), ['mvsr-1', 'mvsr-2', ...int8, 'ort-node-1', 'ort-node-2', 'ort-web-1', 'ort-web-2', 'tfjs-wasm'].sort());
  for (const m of [etds, espcn, shipped]) {
    for (const e of engines) {
      const row = bench.rows.find((x) => x.model === m.benchModel && x.setting === 'MAI' && x.engine === e)!;
      assert.equal(m.ms[e], int8.includes(e) && m !== shipped ? null : row.msMedian, `${m.name} ${e}`);
    }
  }
  for (const e of engines) assert.equal(bic.ms[e], null);
  const md = readFileSync(rep.files.markdown, 'utf8');
  const bicRow = md.split('\n').find((l) => l.startsWith('| Bicubic |'))!;
  assert.equal(bicRow.split('|').filter((c) => c.trim() === '–').length, 1 + engines.length, 'timed-as and every ms cell empty');
  assert.match(md, /–: no benchmarked network has the deploy graph of Bicubic/);
  assert.match(md, /mvsr-int8-1, mvsr-int8-2, ort-node-int8-1, ort-node-int8-2: the int8 graph depends on the weights .*ETDS-T: shipped etds-t-x4/);
  assert.ok(md.includes(`| ${etds.set5.psnr.toFixed(3)} |`) && md.includes(`| ${etds.ms['mvsr-2']!.toFixed(1)} |`));

  // the plot: one labelled point per timed model, bicubic as the reference line
  const html = readFileSync(rep.files.html, 'utf8');
  assert.deepEqual([...html.matchAll(/class="point" data-name="([^"]+)"/g)].map((m) => m[1]).sort(), ['ESPCN_x4', 'ETDS_M5C16_x4', 'etds-t-x4']);
  assert.equal([...html.matchAll(/class="reference"/g)].length, 1);

  // crops: the window is the brute-force best of the mod-cropped HR, the GT crop its pixels magnified
  const c = rep.crop;
  assert.deepEqual([c.image, c.dataset, c.size, c.magnify], ['baboon', 'Set14', 48, 4]);
  const hrFull = toRGB(await readImage(path.join(DATA_DIR, 'benchmarks/Set14/baboon.png')));
  const W = hrFull.width - (hrFull.width % 12), H = hrFull.height - (hrFull.height % 12);
  const hr: Image = { ...hrFull, width: W, height: H, data: Uint8Array.from({ length: W * H * 3 }, (_, i) => hrFull.data[(Math.floor(i / (W * 3)) * hrFull.width) * 3 + (i % (W * 3))]!) };
  assert.deepEqual(naiveBestWindow(hr, 48, 4, c.margin), { x: c.x, y: c.y });
  const gt = decodePng(readFileSync(path.join(outDir, c.gt)));
  assert.deepEqual([gt.width, gt.height, gt.channels], [192, 192, 3]);
  assert.deepEqual(gt.data, expectedZoom(hrFull, c.x, c.y, 48, 48, 4));
  for (const f of [c.bicubic.file, etds.crop.file, espcn.crop.file]) {
    const im = decodePng(readFileSync(path.join(outDir, f)));
    assert.deepEqual([im.width, im.height], [192, 192], f);
    assert.ok(html.includes(`src="${f}"`) && md.includes(`(${f})`), `${f} is shown`);
    assert.notDeepEqual(im.data, gt.data, `${f} is a model's output, not the ground truth`);
  }

  if (!chromium) {
    process.stderr.write('  (no Chromium: --screenshot not checked)\n');
    return;
  }
  const shot = decodePng(readFileSync(path.join(outDir, 'report.png')));
  assert.deepEqual([shot.width, shot.height], [rep.screenshot!.width, rep.screenshot!.height], 'the PNG is the window');
  assert.equal(shot.width, 1400);
  let differ = 0;
  for (let i = shot.channels; i < shot.data.length; i += shot.channels) if (shot.data[i] !== shot.data[0]) differ++;
  assert.ok(differ > 0.01 * shot.width * shot.height, 'not one colour');
});
