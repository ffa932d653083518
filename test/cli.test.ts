// The mvsr command as a user runs it: bad inputs give one line naming the file and leave no
// output; a 4000x3000 photo upscales x4 in bounded memory; convert-weights + eval reproduce
// the published figure of an official checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT, ZOO_DIR, DATA_DIR, needData, readTable } from './data.js';
import { useEngine } from './helpers.js';
import { PickleWriter, makePth, f32Bytes } from './pth-builder.js';
import { encodePng, readImage } from '../src/io/image.node.js';
import { writeSafetensors, readSafetensors } from '../src/io/safetensors.js';
import { encodeModelMetadata } from '../src/io/weights.js';
import { createModel } from '../src/models/registry.js';
import { manualSeed } from '../src/nn/init.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');

function mvsr(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The command failed with exactly one stderr line that matches `re`, and wrote nothing in `dir`. */
function failsCleanly(r: { code: number; stderr: string }, re: RegExp, dir: string, before: string[]): void {
  assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
  // progress lines (bars and counters) may come first; the error itself is one line
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !/[█░]| \d+ frames [\d.]+ frames\/s/.test(l));
  assert.equal(lines.length, 1, `one line of error, got:\n${r.stderr}`);
  assert.match(lines[0]!, re);
  assert.deepEqual(readdirSync(dir).sort(), before, 'no output file (not even a temporary one) is left');
}

async function fixtures() {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-cli-'));
  await useEngine(1);
  const img = { width: 24, height: 16, channels: 3 as const, bitDepth: 8 as const, data: Uint8Array.from({ length: 24 * 16 * 3 }, (_, i) => (i * 7) % 256) };
  const png = await encodePng(img);
  writeFileSync(path.join(dir, 'ok.png'), png);
  writeFileSync(path.join(dir, 'truncated.png'), png.subarray(0, Math.floor(png.length / 2)));
  writeFileSync(path.join(dir, 'garbage.png'), Uint8Array.from({ length: 300 }, (_, i) => (i * 31) % 256));
  manualSeed(3);
  const espcn = createModel('ESPCN', { upscale: 2 });
  writeFileSync(path.join(dir, 'espcn.safetensors'), writeSafetensors(espcn.stateDict(), encodeModelMetadata({ arch: 'ESPCN', args: espcn.args, scale: 2 })));
  // ESPCN weights labelled as another architecture: they do not fit
  writeFileSync(path.join(dir, 'mislabelled.safetensors'), writeSafetensors(espcn.stateDict(), encodeModelMetadata({ arch: 'ETDSForInference', args: { upscale: 2 }, scale: 2 })));
  espcn.dispose();
  const st = writeSafetensors({ w: { shape: [2], data: new Float32Array(2) } });
  const bad = st.slice();
  new DataView(bad.buffer).setUint32(0, 1_000_000, true); // header length beyond the file
  writeFileSync(path.join(dir, 'badheader.safetensors'), bad);
  const evil = new PickleWriter().proto().global('os', 'system').str('touch /tmp/mvsr-should-not-exist').tuple1().reduce().stop().bytes();
  writeFileSync(path.join(dir, 'evil.pth'), makePth(evil, { '0': f32Bytes([1]) }));
  return dir;
}

test('bad inputs: one line naming the file and the problem, and no output file', async () => {
  const dir = await fixtures();
  const before = readdirSync(dir).sort();
  const p = (f: string) => path.join(dir, f);
  const esc = (f: string) => p(f).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const out = p('out.png');
  assert.equal(mvsr('upscale', p('ok.png'), '-o', out, '-m', p('espcn.safetensors')).code, 0, 'the fixtures themselves work');
  assert.ok(existsSync(out));
  const r0 = mvsr('upscale', p('ok.png'), '-o', p('out2.png'), '-m', p('espcn.safetensors'));
  assert.equal(r0.code, 0);
  const beforeErrors = readdirSync(dir).sort();
  failsCleanly(mvsr('upscale', p('truncated.png'), '-o', p('x.png'), '-m', 'bicubic', '-s', '2'), new RegExp(`^mvsr: ${esc('truncated.png')}: .*(truncated|ends)`, 'i'), dir, beforeErrors);
  failsCleanly(mvsr('upscale', p('garbage.png'), '-o', p('x.png'), '-m', 'bicubic', '-s', '2'), new RegExp(`^mvsr: ${esc('garbage.png')}: not a PNG`), dir, beforeErrors);
  failsCleanly(mvsr('convert-weights', p('evil.pth'), p('x.safetensors'), '--arch', 'ESPCN'),
    new RegExp(`^mvsr: ${esc('evil.pth')}: refusing to load: the checkpoint references the global os\\.system`), dir, beforeErrors);
  assert.ok(!existsSync('/tmp/mvsr-should-not-exist'), 'nothing from the pickle ran');
  failsCleanly(mvsr('upscale', p('ok.png'), '-o', p('x.png'), '-m', p('badheader.safetensors')), new RegExp(`^mvsr: ${esc('badheader.safetensors')}: .*header`), dir, beforeErrors);
  failsCleanly(mvsr('upscale', p('ok.png'), '-o', p('x.png'), '-m', p('mislabelled.safetensors')),
    new RegExp(`^mvsr: ${esc('mislabelled.safetensors')}: the weights do not fit ETDSForInference.*missing keys \\[conv_first\\.weight`), dir, beforeErrors);
  failsCleanly(mvsr('upscale', p('ok.png'), '-o', p('x.jpg'), '-m', 'bicubic'), /only PNG output is supported/, dir, beforeErrors);
  failsCleanly(mvsr('upscale', p('ok.png'), '-o', p('x.png'), '-m', 'bicubic', '--tile', 'big'), /--tile must be an integer/, dir, beforeErrors);
  void before;
});

test('a 4000x3000 photo upscales x4 with peak memory under 2 GiB', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-big-'));
  const W = 4000, H = 3000;
  const d = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const i = (y * W + x) * 3;
    d[i] = 128 + 100 * Math.sin(x / 37) * Math.cos(y / 53);
    d[i + 1] = ((x * y) >> 12) & 255;
    d[i + 2] = (x + y) & 255;
  }
  writeFileSync(path.join(dir, 'big.png'), await encodePng({ width: W, height: H, channels: 3, bitDepth: 8, data: d }));
  await useEngine(1);
  manualSeed(1);
  const m = createModel('ETDSForInference', { num_block: 5, num_feat: 16, upscale: 4 }); // ETDS-T size
  writeFileSync(path.join(dir, 'etds-t.safetensors'), writeSafetensors(m.stateDict(), encodeModelMetadata({ arch: m.arch, args: m.args, scale: 4 })));
  m.dispose();
  const r = mvsr('upscale', path.join(dir, 'big.png'), '-o', path.join(dir, 'big-x4.png'), '-m', path.join(dir, 'etds-t.safetensors'), '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { maxRssMiB: number; results: { width: number; height: number; seconds: number }[] };
  process.stderr.write(`  4000x3000 -> 16000x12000 in ${j.results[0]!.seconds.toFixed(1)} s, peak RSS ${j.maxRssMiB} MiB\n`);
  assert.deepEqual([j.results[0]!.width, j.results[0]!.height], [16000, 12000]);
  assert.ok(j.maxRssMiB < 2048, `peak RSS ${j.maxRssMiB} MiB`);
  // the PNG header says 16000x12000
  const head = readFileSync(path.join(dir, 'big-x4.png')).subarray(16, 24);
  assert.deepEqual([new DataView(head.buffer, head.byteOffset).getUint32(0), new DataView(head.buffer, head.byteOffset).getUint32(4)], [16000, 12000]);
});

test('eval searches sub-folders as training does, naming each image by its path under --data', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-evaltree-'));
  const img = (seed: number) => {
    const data = new Uint8Array(48 * 36 * 3);
    for (let i = 0, v = seed; i < data.length; i++) data[i] = v = (v * 1103515245 + 12345) % 256;
    return { width: 48, height: 36, channels: 3 as const, bitDepth: 8 as const, data };
  };
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'a.png'), encodePng(img(3)));
  writeFileSync(path.join(dir, 'sub', 'b.png'), encodePng(img(5)));
  const run = (d: string) => {
    const r = mvsr('eval', '--model', 'bicubic', '--scale', '2', '--data', d, '--json', '--threads', '1');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { rows: { name: string; psnr: number }[] };
  };
  const all = run(dir), sub = run(path.join(dir, 'sub'));
  assert.deepEqual(all.rows.map((r) => r.name), ['a.png', 'sub/b.png']);
  assert.deepEqual(sub.rows.map((r) => r.name), ['b.png']);
  assert.equal(all.rows[1]!.psnr, sub.rows[0]!.psnr, 'the same image measures the same wherever it is found');
});

test('convert-weights then eval reproduces the published Set5 figure of ESPCN x4', { skip: needData('checkpoints/etds-official') || needData('benchmarks/Set5') }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-conv-'));
  const st = path.join(dir, 'espcn-x4.safetensors');
  const c = mvsr('convert-weights', path.join(ZOO_DIR, 'ESPCN/ESPCN_x4.pth'), st);
  assert.equal(c.code, 0, c.stderr);
  const r = mvsr('eval', '--model', st, '--data', path.join(DATA_DIR, 'benchmarks/Set5'), '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { psnr: number; ssim: number; rows: unknown[]; model: { arch: string; scale: number } };
  const row = readTable().find((x) => x.model === 'ESPCN' && x.scale === 4)!;
  assert.equal(j.model.arch, 'ESPCN');
  assert.equal(j.rows.length, 5);
  assert.ok(Math.abs(j.psnr - row.Set5.psnr) <= 0.02, `PSNR ${j.psnr} vs ${row.Set5.psnr}`);
  assert.ok(Math.abs(j.ssim - row.Set5.ssim) <= 0.0005, `SSIM ${j.ssim} vs ${row.Set5.ssim}`);
  // the converted file is self-describing: upscale needs no --arch
  const img = await readImage(path.join(DATA_DIR, 'benchmarks/Set5/bird.png'));
  assert.equal(img.width, 288);
  const u = mvsr('upscale', path.join(DATA_DIR, 'benchmarks/Set5/bird.png'), '-o', path.join(dir, 'bird-x4.png'), '-m', st);
  assert.equal(u.code, 0, u.stderr);
  assert.equal((await readImage(path.join(dir, 'bird-x4.png'))).width, 288 * 4);
});

test('mvsr profile reproduces ETDS Table 2 Params and MACs (360x640) for ETDS-T x4 and ECBSR-M4C16 x2', () => {
  const run = (...a: string[]) => JSON.parse(mvsr('profile', ...a, '--input', '360x640', '--json').stdout) as { params: number; macs: number; arch: string };
  const t = run('ETDSForInference', '--args', 'num_block=5,num_feat=16', '-s', '4');
  assert.ok(Math.abs(t.params / 1e3 - 21.36) < 0.01 && Math.abs(t.macs / 1e9 - 4.88) < 0.01, JSON.stringify(t));
  const e = run('ECBSR', '--args', 'num_block=4,num_feat=16', '-s', '2'); // training form, profiled in its deploy form
  assert.equal(e.arch, 'ECBSRT');
  assert.ok(Math.abs(e.params / 1e3 - 11.55) < 0.01 && Math.abs(e.macs / 1e9 - 2.64) < 0.01, JSON.stringify(e));
});

test('mvsr convert folds ETDS into ETDSForInference and applies ET to ABPN, checking the function', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-convert-'));
  await useEngine(1);
  manualSeed(3);
  const m = createModel('ETDS', { num_block: 3, num_feat: 8, upscale: 3 });
  for (const p of m.parameters()) { const d = p.value.data; for (let i = 0; i < d.length; i++) d[i] += Math.sin(i * 7.1) * 0.05; }
  writeFileSync(path.join(dir, 'etds.safetensors'), writeSafetensors(m.stateDict(), encodeModelMetadata({ arch: 'ETDS', args: m.args, scale: 3 })));
  m.dispose();
  const r = mvsr('convert', path.join(dir, 'etds.safetensors'), '-o', path.join(dir, 'deploy.safetensors'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\(ETDS, \d+ parameters\) -> .*\(ETDSForInference, \d+ parameters\), max \|diff\| [\d.e+-]+\/255/);
  const meta = readSafetensors(readFileSync(path.join(dir, 'deploy.safetensors'))).metadata;
  assert.equal(meta.arch, 'ETDSForInference');
  assert.equal(meta.converted_from, 'ETDS');
  const e = mvsr('convert', path.join(dir, 'etds.safetensors'), '-o', path.join(dir, 'x.safetensors'), '--et');
  assert.equal(e.code, 1);
  assert.match(e.stderr, /--et applies to ABPN and ECBSR, not ETDSForInference/);
  assert.ok(!existsSync(path.join(dir, 'x.safetensors')));
  manualSeed(4);
  const a = createModel('ABPN', { num_block: 2, num_feat: 8, scale: 2 });
  writeFileSync(path.join(dir, 'abpn.safetensors'), writeSafetensors(a.stateDict(), encodeModelMetadata({ arch: 'ABPN', args: a.args, scale: 2 })));
  a.dispose();
  const et = mvsr('convert', path.join(dir, 'abpn.safetensors'), '-o', path.join(dir, 'abpn-et.safetensors'), '--et');
  assert.equal(et.code, 0, et.stderr);
  assert.equal(readSafetensors(readFileSync(path.join(dir, 'abpn-et.safetensors'))).metadata.arch, 'ABPN_ET');
});

test('mvsr upscale on a video: Y4M natively, mp4 through ffmpeg with audio, truncated input leaves nothing', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-video-'));
  const { createVideoWriter, openVideo } = await import('../src/io/video.node.js');
  const w = await createVideoWriter(path.join(dir, 'clip.y4m'), { width: 20, height: 14, fps: [25, 1] });
  for (let f = 0; f < 6; f++) {
    await w.write({ width: 20, height: 14, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: 20 * 14 * 3 }, (_, i) => (i * 5 + f * 40) % 256) });
  }
  await w.close();
  const r = mvsr('upscale', path.join(dir, 'clip.y4m'), '-o', path.join(dir, 'clip-x2.y4m'), '-m', 'bicubic', '-s', '2', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { frames: number; width: number; height: number; fps: number[] };
  assert.deepEqual([j.frames, j.width, j.height, j.fps], [6, 40, 28, [25, 1]]);
  const back = await openVideo(path.join(dir, 'clip-x2.y4m'));
  let n = 0;
  for await (const fr of back.frames()) { assert.deepEqual([fr.width, fr.height], [40, 28]); n++; }
  assert.equal(n, 6);
  const bytes = readFileSync(path.join(dir, 'clip.y4m'));
  writeFileSync(path.join(dir, 'cut.y4m'), bytes.subarray(0, bytes.length - 100));
  const before = readdirSync(dir).sort();
  failsCleanly(mvsr('upscale', path.join(dir, 'cut.y4m'), '-o', path.join(dir, 'cut-x2.y4m'), '-m', 'bicubic', '-s', '2'), /^mvsr: .*cut\.y4m: frame 6: truncated Y4M/, dir, before);
  const ff = spawnSync('ffmpeg', ['-version']);
  if (ff.status !== 0) return; // the mp4 half needs Debian's ffmpeg (CI installs it)
  const mk = spawnSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=32x24:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=440',
    '-t', '1', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', path.join(dir, 'a.mp4')]);
  assert.equal(mk.status, 0, String(mk.stderr));
  const u = mvsr('upscale', path.join(dir, 'a.mp4'), '-o', path.join(dir, 'a-x2.mp4'), '-m', 'bicubic', '-s', '2', '--json');
  assert.equal(u.code, 0, u.stderr);
  const uj = JSON.parse(u.stdout) as { frames: number; width: number; audio: boolean };
  assert.equal(uj.width, 64);
  assert.equal(uj.audio, true);
  const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', path.join(dir, 'a-x2.mp4')], { encoding: 'utf8' });
  assert.deepEqual(probe.stdout.trim().split('\n').sort(), ['audio', 'video']);
});

test('shipped models are listed by mvsr models and usable by name', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-weights-'));
  await useEngine(1);
  manualSeed(9);
  const m = createModel('ESPCN', { upscale: 2 });
  writeFileSync(path.join(dir, 'toy-x2.safetensors'), writeSafetensors(m.stateDict(), encodeModelMetadata({ arch: 'ESPCN', args: m.args, scale: 2, provenance: { iterations: '123' } })));
  // a paused run's snapshot, as the trainer marks it
  writeFileSync(path.join(dir, 'toy-snap-x2.safetensors'), writeSafetensors(m.stateDict(), encodeModelMetadata({ arch: 'ESPCN', args: m.args, scale: 2, provenance: { iterations: '40', snapshot: 'true', total_iter: '100', set5_psnr: '31.234' } })));
  const params = m.numParameters();
  m.dispose();
  const env = { ...process.env, MVSR_WEIGHTS_DIR: dir };
  const run = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8', env });
  const l = run('models', '--json');
  assert.equal(l.status, 0, l.stderr);
  const j = JSON.parse(l.stdout) as { shipped: { name: string; arch: string; scale: number; params: number; trained: { iterations: string; snapshot: boolean; total_iter: string | null } }[]; architectures: { arch: string }[] };
  assert.deepEqual(j.shipped.map((s) => [s.name, s.arch, s.scale, s.params, s.trained.iterations, s.trained.snapshot, s.trained.total_iter]),
    [['toy-snap-x2', 'ESPCN', 2, params, '40', true, '100'], ['toy-x2', 'ESPCN', 2, params, '123', false, null]]);
  assert.ok(j.architectures.some((a) => a.arch === 'ETDSForInference'));
  const txt = run('models');
  assert.equal(txt.status, 0, txt.stderr);
  assert.match(txt.stdout, /toy-snap-x2 .* 40 of 100 iterations \(snapshot of an unfinished run\), Set5 31\.234 dB/);
  assert.match(txt.stdout, /toy-x2 .* 123 iterations\n/);
  await useEngine(1);
  writeFileSync(path.join(dir, 'in.png'), await encodePng({ width: 6, height: 5, channels: 3, bitDepth: 8, data: new Uint8Array(90).fill(100) }));
  for (const spec of [['-m', 'toy', '-s', '2'], ['-m', 'toy-x2']]) {
    const u = run('upscale', path.join(dir, 'in.png'), '-o', path.join(dir, 'out.png'), ...spec);
    assert.equal(u.status, 0, u.stderr);
    assert.equal((await readImage(path.join(dir, 'out.png'))).width, 12);
  }
});
