// Every command that writes a file, pointed at a full filesystem (a 16 KiB tmpfs: ENOSPC) and at a
// read-only one (EROFS): exit status 1, one line naming the output and the reason, and no file
// left behind (no partial output, no temporary file). Needs root to mount the tmpfs filesystems
// (CI runs as root); skips with the reason otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeImage } from '../src/io/image.node.js';
import { createVideoWriter } from '../src/io/video.node.js';
import { sampleClip } from '../src/data/synthetic.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mvsr-outputs-'));
const full = join(dir, 'full'), ro = join(dir, 'ro');

function mount(target: string, opts: string): boolean {
  mkdirSync(target, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', target], { stdio: 'ignore' }).status === 0;
}
const isRoot = process.getuid?.() === 0;
const mounted = isRoot && mount(full, 'size=16k') && mount(ro, 'size=16k,ro');
const skip = !isRoot ? 'not root: mounting the small and read-only tmpfs filesystems needs root (CI runs as root)' : !mounted ? 'mount -t tmpfs failed here (no CAP_SYS_ADMIN?)' : false;

/** Every regular file under `d` (empty folders are allowed: they hold nothing that looks complete). */
function filesUnder(d: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

before(async () => {
  if (skip) return;
  const d = new Uint8Array(120 * 90 * 3).map((_, i) => (i * 7919) % 251);
  await writeImage(join(dir, 'big.png'), { width: 120, height: 90, channels: 3, bitDepth: 8, data: d });
  const w = await createVideoWriter(join(dir, 'clip.y4m'), { width: 64, height: 40, fps: [25, 1] });
  for (const f of sampleClip({ frames: 3, width: 64, height: 40 })) await w.write(f);
  await w.close();
  mkdirSync(join(dir, 'calib'));
  for (const [i, f] of [...sampleClip({ frames: 2, width: 96, height: 72 })].entries()) await writeImage(join(dir, 'calib', `c${i}.png`), f);
});

after(() => {
  for (const m of [full, ro]) spawnSync('umount', [m], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});

/** [what, argv (OUT is the output folder), the path the error must name] */
const CASES: [string, string[], string][] = [
  ['upscale an image', ['upscale', 'big.png', '-o', 'OUT/out.png', '--model', 'bicubic', '--scale', '4'], 'OUT/out.png'],
  ['upscale into a folder', ['upscale', 'big.png', '-o', 'OUT/outs/', '--model', 'bicubic', '--scale', '4'], 'OUT/outs'],
  ['upscale a video', ['upscale', 'clip.y4m', '-o', 'OUT/out.y4m', '--model', 'bicubic', '--scale', '4'], 'OUT/out.y4m'],
  ['export ONNX', ['export', 'etds-t-x4', '-o', 'OUT/m.onnx'], 'OUT/m.onnx'],
  ['export TFLite', ['export', 'etds-t-x4', '-o', 'OUT/m.tflite'], 'OUT/m.tflite'],
  ['convert', ['convert', 'etds-t-x4', '-o', 'OUT/c.safetensors'], 'OUT/c.safetensors'],
  ['quantize', ['quantize', 'etds-t-x4', '--calib', 'calib', '--samples', '2', '--patch', '24', '-o', 'OUT/q.safetensors'], 'OUT/q.safetensors'],
  ['demo', ['demo', '--out', 'OUT/demo', '--frames', '3', '--format', 'y4m', '--threads', '1'], 'OUT/demo'],
];

for (const [fs, code, why] of [[full, 'ENOSPC', 'a full disk'], [ro, 'EROFS', 'a read-only folder']] as const) {
  test(`${why} (${code}): every writing command stops with one line naming the output and ${code}, and leaves no file`, { skip, timeout: 300_000 }, () => {
    for (const [what, argv, named] of CASES) {
      const args = argv.map((a) => a.replace('OUT', fs));
      const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      const lines = r.stderr.split('\n').filter((l) => l && !l.includes('█') && !/ tiles\/s| frames\/s/.test(l));
      assert.equal(r.status, 1, `${what}: exit status (stderr: ${r.stderr})`);
      assert.equal(lines.length, 1, `${what}: one line of error, got:\n${lines.join('\n')}`);
      const target = named.replace('OUT', fs);
      assert.ok(lines[0]!.includes(target), `${what}: "${lines[0]}" names ${target}`);
      assert.match(lines[0]!, new RegExp(code), what);
      assert.deepEqual(filesUnder(fs), [], `${what}: nothing left in ${fs}`);
    }
    assert.ok(statSync(fs).isDirectory());
  });
}

test('Ctrl-C (SIGINT) during a write: upscale of a video and of an image, demo and quantize leave no output file and no temporary file', { timeout: 300_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'mvsr-sigint-'));
  try {
    const clip = join(work, 'long.y4m');
    const w = await createVideoWriter(clip, { width: 160, height: 96, fps: [25, 1] });
    for (const f of sampleClip({ frames: 200, width: 160, height: 96, supersample: 1 })) await w.write(f);
    await w.close();
    await writeImage(join(work, 'wide.png'), { width: 1600, height: 1200, channels: 3, bitDepth: 8, data: new Uint8Array(1600 * 1200 * 3).map((_, i) => (i * 31) % 253) });
    const out = join(work, 'out');
    mkdirSync(out);
    mkdirSync(join(work, 'calib'));
    for (const [i, f] of [...sampleClip({ frames: 2, width: 96, height: 72 })].entries()) await writeImage(join(work, 'calib', `c${i}.png`), f);
    const cases: [string, string[]][] = [
      ['upscale a video', ['upscale', clip, '-o', join(out, 'v.y4m'), '--model', 'etds-t-x4', '--threads', '1']],
      ['upscale an image', ['upscale', join(work, 'wide.png'), '-o', join(out, 'i.png'), '--model', 'etds-t-x4', '--tile', '64', '--threads', '1']],
      ['demo', ['demo', '--out', join(out, 'demo'), '--frames', '24', '--format', 'y4m', '--threads', '1']],
      ['quantize', ['quantize', 'etds-t-x4', '--calib', join(work, 'calib'), '--samples', '256', '--patch', '48', '-o', join(out, 'q.safetensors')]],
    ];
    const { spawn } = await import('node:child_process');
    for (const [what, argv] of cases) {
      const p = spawn(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      // interrupt it 1.2 s in: after the model is loaded, before the output is complete
      await new Promise((r) => setTimeout(r, 1200));
      const exited = new Promise<[number | null, string | null]>((r) => p.once('exit', (c, s) => r([c, s])));
      if (p.exitCode !== null) assert.fail(`${what}: finished before it could be interrupted (make its input larger): ${err}`);
      p.kill('SIGINT');
      const [c, s] = await exited;
      assert.ok(c !== 0 || s === 'SIGINT', `${what}: stopped (exit ${c}, signal ${s})`);
      assert.deepEqual(filesUnder(out), [], `${what}: nothing left in the output folder`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
