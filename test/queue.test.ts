// Scale-out on a Redis queue (BullMQ), against a real redis-server started here on a free
// loopback port: queued upscales equal `mvsr upscale`, jobs are idempotent, permanent failures
// are not retried and do not block the queue, a model with another hash is refused, a Redis that
// is down fails fast with one line, and a worker killed mid-job loses no job.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, writeFileSync, copyFileSync, appendFileSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { writeImage } from '../src/io/image.node.js';
import { shippedWeightsDir } from '../src/api/shipped.node.js';
import { connectRedis, openQueue, addJob, upscaleJobData, videoJobData, commandJobData, waitIdle, listJobs, cleanJobs } from '../src/queue/queue.node.js';
import { planSegments, planWarmup, DEFAULT_RECURRENT_WARMUP } from '../src/queue/segments.node.js';
import { createVideoWriter, openVideo } from '../src/io/video.node.js';
import { sampleClip, renderSampleFrame } from '../src/data/synthetic.js';
import { calculatePsnr as psnr } from '../src/metrics/index.js';
import { startWorker, type RunningWorker } from '../src/queue/worker.node.js';
import type { Redis } from 'ioredis';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const run = promisify(execFile);
const hasRedis = !spawnSync('redis-server', ['--version']).error;
const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
const skip = hasRedis ? false : 'redis-server is not installed (apt-get install redis-server): the queue tests need a real Redis';

let dir = '';
let server: ChildProcess | null = null;
let url = '';
let redis: Redis;
let queue: ReturnType<typeof openQueue>;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(): Promise<void> {
  const port = await freePort();
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      redis = await connectRedis('test', { url, connectTimeoutMs: 500 });
      return;
    } catch (e) {
      if (i > 40) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function image(file: string, w: number, h: number, seed: number): Promise<void> {
  const d = new Uint8Array(w * h * 3);
  let x = seed;
  for (let i = 0; i < d.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    d[i] = ((x >>> 16) & 255 & 0xf0) | (i % 16); // noisy but compressible
  }
  return writeImage(file, { width: w, height: h, channels: 3, bitDepth: 8, data: d });
}

const cli = (...args: string[]) => run(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

before(async () => {
  if (!hasRedis) return;
  dir = mkdtempSync(join(tmpdir(), 'mvsr-queue-'));
  await startRedis();
  queue = openQueue(redis);
});

after(async () => {
  await queue?.close();
  redis?.disconnect();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  if (hasRedis) await redis.flushall();
});

async function withWorker<T>(fn: (w: RunningWorker, log: string[]) => Promise<T>): Promise<T> {
  const log: string[] = [];
  const w = await startWorker({ url, threads: 1, log: (s) => log.push(s) });
  try {
    return await fn(w, log);
  } finally {
    await w.close();
  }
}

test('a queued upscale gives the bytes of `mvsr upscale` (bicubic and the shipped etds-t-x4)', { skip }, async () => {
  const input = join(dir, 'a.png');
  await image(input, 37, 29, 1);
  const cases = [['bicubic', '--scale', '2'], ['etds-t-x4', '--tile', '16']];
  for (const [i, [model, ...flags]] of cases.entries()) {
    const { stdout } = await cli('queue', 'add', 'upscale', input, '-o', join(dir, `q${i}.png`), '--model', model!, ...flags, '--redis', url);
    assert.match(stdout.trim(), /^upscale-[0-9a-f]{40}$/);
    await cli('upscale', input, '-o', join(dir, `d${i}.png`), '--model', model!, ...flags, '--threads', '1');
  }
  const t0 = performance.now();
  await withWorker(async () => assert.ok(await waitIdle(queue, { timeoutMs: 60_000 })));
  const seconds = (performance.now() - t0) / 1000;
  for (const i of cases.keys()) assert.deepEqual(readFileSync(join(dir, `q${i}.png`)), readFileSync(join(dir, `d${i}.png`)), `case ${i}: byte-identical`);
  const rows = await listJobs(queue);
  assert.deepEqual(rows.map((r) => [r.state, r.progress, r.attemptsMade]), [['completed', 1, 1], ['completed', 1, 1]]);
  const { stdout } = await cli('queue', 'status', '--json', '--redis', url);
  assert.equal((JSON.parse(stdout) as unknown[]).length, 2);
  const text = await cli('queue', 'status', '--redis', url);
  assert.match(text.stdout, /completed +█{20} 100%/);
  assert.ok(seconds < 30, `2 jobs in ${seconds.toFixed(1)} s`);
});

test('the same job added twice runs once; after clean, a worker finds the output complete and does nothing', { skip }, async () => {
  const input = join(dir, 'b.png'), output = join(dir, 'b-x2.png');
  await image(input, 20, 16, 2);
  const data = await upscaleJobData({ input, output, model: 'bicubic', scale: 2 });
  const first = await addJob(queue, data), second = await addJob(queue, await upscaleJobData({ input, output, model: 'bicubic', scale: 2 }));
  assert.equal(first.added, true);
  assert.deepEqual([second.added, second.id], [false, first.id]);
  const other = await addJob(queue, await upscaleJobData({ input, output, model: 'bicubic', scale: 2, tile: 8 }));
  assert.notEqual(other.id, first.id, 'other options, another job');
  await queue.remove(other.id);
  await withWorker(async (_, log) => {
    assert.ok(await waitIdle(queue, { timeoutMs: 30_000 }));
    assert.equal(log.filter((l) => l.startsWith(first.id) && l.includes('done in')).length, 1, log.join('\n'));
    const mtime = statSync(output).mtimeMs;
    assert.equal(await cleanJobs(queue), 1);
    assert.equal((await addJob(queue, data)).added, true, 'after clean the job can be added again');
    assert.ok(await waitIdle(queue, { timeoutMs: 30_000 }));
    const [row] = await listJobs(queue);
    assert.equal(row!.result?.skipped, true, 'the output was already complete');
    assert.equal(statSync(output).mtimeMs, mtime, 'and was not rewritten');
    const forgot = await cli('queue', 'clean', '--forget', '--redis', url);
    assert.match(forgot.stderr, /removed 1 finished jobs\nforgot 1 complete outputs/);
    assert.equal((await addJob(queue, data)).added, true);
    assert.ok(await waitIdle(queue, { timeoutMs: 30_000 }));
    const [again] = await listJobs(queue);
    assert.equal(again!.result?.skipped, false, 'after --forget the job runs again');
  });
});

test('a missing input and a corrupt model fail once, without retries, and do not block the next job; a transient failure is retried', { skip }, async () => {
  const gone = join(dir, 'gone.png'), good = join(dir, 'good.png'), blocker = join(dir, 'not-a-dir');
  await image(gone, 12, 10, 3);
  await image(good, 12, 10, 4);
  writeFileSync(blocker, 'a file where the output folder should be');
  const bad = await addJob(queue, await upscaleJobData({ input: gone, output: join(dir, 'gone-x2.png'), model: 'bicubic', scale: 2 }));
  const retried = await addJob(queue, await upscaleJobData({ input: good, output: join(blocker, 'x.png'), model: 'bicubic', scale: 2 }));
  const corruptModel = join(dir, 'corrupt.safetensors');
  writeFileSync(corruptModel, Buffer.from('\x10\x00\x00\x00\x00\x00\x00\x00{"a": not json}', 'latin1'));
  const corrupt = await addJob(queue, await upscaleJobData({ input: good, output: join(dir, 'corrupt-x4.png'), model: corruptModel }));
  const ok = await addJob(queue, await upscaleJobData({ input: good, output: join(dir, 'good-x2.png'), model: 'bicubic', scale: 2 }));
  rmSync(gone);
  await withWorker(async () => assert.ok(await waitIdle(queue, { timeoutMs: 30_000 })));
  const rows = new Map((await listJobs(queue)).map((r) => [r.id, r]));
  const b = rows.get(bad.id)!, r = rows.get(retried.id)!, o = rows.get(ok.id)!;
  assert.deepEqual([b.state, b.attemptsMade], ['failed', 1]);
  assert.match(b.failedReason!, /gone\.png: no such file/);
  assert.deepEqual([r.state, r.attemptsMade], ['failed', 3], 'an error that may pass is retried (3 attempts, backoff)');
  assert.equal(o.state, 'completed');
  assert.ok(existsSync(join(dir, 'good-x2.png')) && !existsSync(join(dir, 'gone-x2.png')));
  const c = rows.get(corrupt.id)!;
  assert.deepEqual([c.state, c.attemptsMade], ['failed', 1], 'a corrupt model file is not retried');
  assert.match(c.failedReason!, /corrupt\.safetensors/);
  assert.equal(c.failedReason!.split('\n').length, 1);
  assert.ok(!existsSync(join(dir, 'corrupt-x4.png')));
});

test('a model file whose hash changed after the job was added is refused', { skip }, async () => {
  const input = join(dir, 'c.png'), model = join(dir, 'model.safetensors');
  await image(input, 12, 10, 5);
  copyFileSync(join(shippedWeightsDir(), 'etds-t-x4.safetensors'), model);
  const job = await addJob(queue, await upscaleJobData({ input, output: join(dir, 'c-x4.png'), model }));
  appendFileSync(model, Buffer.from('tampered'));
  await withWorker(async () => assert.ok(await waitIdle(queue, { timeoutMs: 30_000 })));
  const [row] = await listJobs(queue);
  assert.deepEqual([row!.id, row!.state, row!.attemptsMade], [job.id, 'failed', 1]);
  assert.match(row!.failedReason!, /SHA-256 .*refusing to run another model/);
  assert.ok(!existsSync(join(dir, 'c-x4.png')));
});

test('a Redis that is down: `mvsr queue add` fails within a few seconds with one line naming the URL', { skip }, async () => {
  const input = join(dir, 'd.png');
  await image(input, 8, 8, 6);
  const down = `redis://127.0.0.1:${await freePort()}`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'queue', 'add', 'upscale', input, '-o', join(dir, 'd-x2.png'), '--model', 'bicubic', '--redis', down], { encoding: 'utf8', timeout: 30_000 });
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `mvsr queue add: cannot reach Redis at ${down}: ECONNREFUSED\n`);
  assert.ok(seconds < 5, `failed after ${seconds.toFixed(1)} s`);
});

test('two workers, one SIGKILLed mid-job: every job completes once with the right output; SIGTERM stops the other gracefully', { skip, timeout: 120_000 }, async () => {
  const input = join(dir, 'big.png');
  await image(input, 160, 120, 7);
  const N = 6, ids: string[] = [];
  for (let i = 0; i < N; i++) ids.push((await addJob(queue, await upscaleJobData({ input, output: join(dir, `k${i}.png`), model: 'etds-t-x4', tile: 32 }))).id);
  // and a video, split into segments the two workers share
  const clip = join(dir, 'kill.y4m');
  await y4m(clip, 24, 96, 64);
  const video = await addJob(queue, await videoJobData({ input: clip, output: join(dir, 'kill-x4.y4m'), model: 'etds-t-x4', segmentFrames: 6 }));
  ids.push(video.id, ...[0, 1, 2, 3].map((k) => `${video.id}-s${k}`));
  await cli('upscale', clip, '-o', join(dir, 'kill-direct.y4m'), '--model', 'etds-t-x4', '--threads', '1');
  await cli('upscale', input, '-o', join(dir, 'k-direct.png'), '--model', 'etds-t-x4', '--tile', '32', '--threads', '1');
  const expected = readFileSync(join(dir, 'k-direct.png'));
  const logs = ['', ''];
  const workers = [0, 1].map((k) => {
    const p = spawn(process.execPath, [CLI, 'worker', '--redis', url, '--threads', '1', '--lock-duration', '2000', '--stalled-interval', '1000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (b: Buffer) => (logs[k] += b.toString()));
    return p;
  });
  try {
    // kill the worker that runs a job which has made progress
    const t0 = Date.now();
    let victim = -1;
    while (victim < 0) {
      const active = (await listJobs(queue)).filter((r) => r.state === 'active' && r.progress > 0 && r.progress < 1);
      for (const r of active) victim = workers.findIndex((p) => r.worker?.endsWith(`:${p.pid}`));
      assert.ok(Date.now() - t0 < 60_000, 'no job became active');
      await new Promise((r) => setTimeout(r, 10));
    }
    const survivor = 1 - victim;
    const exited = new Promise((r) => workers[victim]!.once('exit', r));
    workers[victim]!.kill('SIGKILL');
    await exited;
    assert.ok(await waitIdle(queue, { timeoutMs: 90_000 }), 'the killed job went back to the queue and was run');
    const rows = await listJobs(queue);
    assert.deepEqual(rows.map((r) => r.state), Array(N + 5).fill('completed'), JSON.stringify(rows.map((r) => [r.state, r.failedReason])));
    for (let i = 0; i < N; i++) assert.deepEqual(readFileSync(join(dir, `k${i}.png`)), expected, `output ${i}`);
    assert.deepEqual(readFileSync(join(dir, 'kill-x4.y4m')), readFileSync(join(dir, 'kill-direct.y4m')), 'the joined video: the bytes of a single run');
    const done = (logs[0]! + logs[1]!).split('\n').filter((l) => l.includes(' done in ') || l.includes('already complete'));
    for (const id of ids) assert.equal(done.filter((l) => l.startsWith(id + ' ')).length, 1, `job ${id} completed once:\n${logs.join('\n---\n')}`);
    const exit = new Promise<number | null>((r) => workers[survivor]!.once('exit', (c) => r(c)));
    workers[survivor]!.kill('SIGTERM');
    assert.equal(await exit, 0);
    assert.match(logs[survivor]!, /SIGTERM: finishing the running jobs[\s\S]*stopped/);
  } finally {
    for (const p of workers) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
});

async function y4m(file: string, frames: number, width: number, height: number): Promise<void> {
  const w = await createVideoWriter(file, { width, height, fps: [25, 1] });
  for (const f of sampleClip({ frames, width, height })) await w.write(f);
  await w.close();
}

async function framesOf(file: string) {
  const out = [];
  for await (const f of (await openVideo(file)).frames()) out.push(f);
  return out;
}

test('segment plans: contiguous segments that cover the video, warm-ups and starts on whole chunks, the look-ahead fed', () => {
  for (const t of [
    { past: 0, future: 0, chunk: 1, recurrent: false }, { past: 2, future: 1, chunk: 1, recurrent: false },
    { past: 1, future: 0, chunk: 1, recurrent: true }, { past: 1, future: 2, chunk: 5, recurrent: true },
  ]) {
    for (const total of [1, 7, 30, 31]) {
      for (const size of [1, 4, 10, 40]) {
        for (const warmup of [undefined, t.past, t.past + 3]) {
          const segs = planSegments(total, t, { segmentFrames: size, warmup });
          const w = warmup ?? t.past + (t.recurrent ? DEFAULT_RECURRENT_WARMUP : 0);
          let next = 0;
          for (const [i, s] of segs.entries()) {
            assert.deepEqual([s.index, s.start], [i, next]);
            assert.ok(s.end > s.start && s.end <= total);
            assert.equal(s.start % t.chunk, 0, 'segments start on a chunk boundary');
            if (s.end < total) assert.equal(s.end - s.start, Math.ceil(size / t.chunk) * t.chunk);
            assert.equal(s.warmup, Math.min(s.start, Math.ceil(w / t.chunk) * t.chunk));
            assert.equal((s.start - s.warmup) % t.chunk, 0, 'the warm-up keeps the chunk grid');
            assert.equal(s.lookahead, Math.min(t.future, total - s.end));
            next = s.end;
          }
          assert.equal(next, total);
        }
      }
    }
    if (t.past > 0) assert.throws(() => planWarmup(t, t.past - 1), /less than the model's look-back/);
  }
});

test('a video job is split into segments run by two workers; the join equals `mvsr upscale` (image model to Y4M and, with ffmpeg, MP4; recurrent model with a full warm-up); a short warm-up changes only later segments', { skip, timeout: 180_000 }, async () => {
  const input = join(dir, 'clip.y4m');
  await y4m(input, 21, 64, 40);
  const jobs: { model: string; out: string; segmentFrames: number; warmup?: number }[] = [
    { model: 'etds-t-x4', out: 'v-etds.y4m', segmentFrames: 6 },
    ...(hasFfmpeg ? [{ model: 'etds-t-x4', out: 'v-etds.mp4', segmentFrames: 6 }] : []),
    { model: 'rlsp-x4', out: 'v-rlsp-full.y4m', segmentFrames: 8, warmup: 100 },
    { model: 'rlsp-x4', out: 'v-rlsp-short.y4m', segmentFrames: 8, warmup: 3 },
  ];
  const added = [];
  for (const j of jobs) {
    const data = await videoJobData({ input, output: join(dir, j.out), model: j.model, segmentFrames: j.segmentFrames, warmup: j.warmup });
    assert.equal(data.segments.length, Math.ceil(21 / j.segmentFrames));
    added.push({ ...j, data, r: await addJob(queue, data) });
    assert.equal((await addJob(queue, data)).added, false, 'the same video job twice is one job');
  }
  const text = await cli('queue', 'status', '--redis', url);
  assert.match(text.stdout, /upscale-video .*clip\.y4m -> .*v-etds\.y4m +\[segments: 0\/4 done\]/);
  const w2 = await startWorker({ url, threads: 1, name: 'second' });
  try {
    await withWorker(async () => assert.ok(await waitIdle(queue, { timeoutMs: 150_000 })));
  } finally {
    await w2.close();
  }
  const rows = await listJobs(queue);
  assert.deepEqual(rows.map((r) => r.state), Array(rows.length).fill('completed'), JSON.stringify(rows.map((r) => [r.id, r.state, r.failedReason])));
  assert.equal(rows.length, jobs.length + jobs.reduce((a, j) => a + Math.ceil(21 / j.segmentFrames), 0), 'the video jobs and their segments');
  const workers = new Set(rows.filter((r) => r.parent).map((r) => r.worker));
  assert.equal(workers.size, 2, 'both workers took segments');
  for (const model of ['etds-t-x4', 'rlsp-x4']) await cli('upscale', input, '-o', join(dir, `direct-${model}.y4m`), '--model', model, '--threads', '1');
  assert.deepEqual(readFileSync(join(dir, 'v-etds.y4m')), readFileSync(join(dir, 'direct-etds-t-x4.y4m')), 'image model: the bytes of a single run');
  if (hasFfmpeg) {
    // raw RGB segments, encoded once by the join: the mp4 mvsr upscale writes
    await cli('upscale', input, '-o', join(dir, 'direct-etds.mp4'), '--model', 'etds-t-x4', '--threads', '1');
    assert.deepEqual(readFileSync(join(dir, 'v-etds.mp4')), readFileSync(join(dir, 'direct-etds.mp4')), 'mp4 output: the bytes of a single run');
  }
  assert.deepEqual(readFileSync(join(dir, 'v-rlsp-full.y4m')), readFileSync(join(dir, 'direct-rlsp-x4.y4m')), 'recurrent model, warm-up from frame 1: the bytes of a single run');
  const short = await framesOf(join(dir, 'v-rlsp-short.y4m')), single = await framesOf(join(dir, 'direct-rlsp-x4.y4m'));
  assert.equal(short.length, 21);
  for (let i = 0; i < 21; i++) {
    const p = psnr(short[i]!, single[i]!);
    if (i < 8) assert.equal(p, Infinity, `frame ${i + 1} (first segment) equals the single run`);
    else assert.ok(p > 25, `frame ${i + 1}: ${p.toFixed(2)} dB from the single run`);
  }
  assert.ok(short.slice(8).some((f, i) => psnr(f, single[i + 8]!) < Infinity), 'a 3-frame warm-up does not rebuild the state exactly');
  for (const a of added) assert.ok(!existsSync(a.data.workDir), `segment folder ${a.data.workDir} removed after the join`);
});

test('eval, eval-video, export and quantize jobs run the command on a worker: the report and files equal a direct run; changed inputs and the command\'s own errors fail once', { skip, timeout: 180_000 }, async () => {
  const data = join(dir, 'hr');
  mkdirSync(data);
  for (let i = 0; i < 3; i++) {
    const f = renderSampleFrame(i * 9, { width: 96, height: 72 });
    await writeImage(join(data, `im${i}.png`), f);
  }
  const ids: Record<string, string> = {};
  const add = async (name: string, ...args: string[]) => {
    const { stdout } = await cli('queue', 'add', ...args, '--redis', url);
    ids[name] = stdout.trim();
  };
  await add('eval', 'eval', '--model', 'etds-t-x4', '--data', data, '-o', join(dir, 'report.json'));
  await add('export', 'export', 'etds-t-x4', '-o', join(dir, 'q.tflite'), '--input', '24x32');
  await add('quantize', 'quantize', 'etds-t-x4', '--calib', data, '--samples', '4', '--patch', '24', '-o', join(dir, 'q-int8.safetensors'));
  await add('bad', 'export', 'etds-t-x4', '-o', join(dir, 'bad.tflite'), '--io', 'uint8');
  const clips = join(dir, 'clips');
  mkdirSync(join(clips, 'c1'), { recursive: true });
  for (const [i, f] of [...sampleClip({ frames: 4, width: 64, height: 40 })].entries()) await writeImage(join(clips, 'c1', `f${i}.png`), f);
  await add('evalVideo', 'eval-video', '--model', 'rlsp-x4', '--data', clips);
  // a folder that changes after the job was added is refused
  const moving = join(dir, 'moving');
  mkdirSync(moving);
  copyFileSync(join(data, 'im0.png'), join(moving, 'a.png'));
  await add('changed', 'eval', '--model', 'bicubic', '--scale', '2', '--data', moving);
  copyFileSync(join(data, 'im1.png'), join(moving, 'a.png'));
  await withWorker(async () => assert.ok(await waitIdle(queue, { timeoutMs: 150_000 })));
  const rows = new Map((await listJobs(queue)).map((r) => [r.id, r]));
  for (const k of ['eval', 'export', 'quantize', 'evalVideo']) assert.equal(rows.get(ids[k]!)!.state, 'completed', `${k}: ${rows.get(ids[k]!)!.failedReason}`);
  const direct = JSON.parse((await cli('eval', '--model', 'etds-t-x4', '--data', data, '--json', '--threads', '1')).stdout);
  assert.deepEqual(rows.get(ids.eval!)!.result!.report, direct, 'the job\'s report is what mvsr eval --json prints');
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')), direct);
  const directVideo = JSON.parse((await cli('eval-video', '--model', 'rlsp-x4', '--data', clips, '--json', '--threads', '1')).stdout);
  assert.deepEqual(rows.get(ids.evalVideo!)!.result!.report, directVideo, 'eval-video: the report of a direct run');
  await cli('export', 'etds-t-x4', '-o', join(dir, 'd.tflite'), '--input', '24x32');
  assert.deepEqual(readFileSync(join(dir, 'q.tflite')), readFileSync(join(dir, 'd.tflite')));
  await cli('quantize', 'etds-t-x4', '--calib', data, '--samples', '4', '--patch', '24', '-o', join(dir, 'd-int8.safetensors'));
  assert.deepEqual(readFileSync(join(dir, 'q-int8.safetensors')), readFileSync(join(dir, 'd-int8.safetensors')));
  const bad = rows.get(ids.bad!)!, changed = rows.get(ids.changed!)!;
  assert.deepEqual([bad.state, bad.attemptsMade], ['failed', 1], 'the command\'s own error is not retried');
  assert.match(bad.failedReason!, /--io goes with --int8/);
  assert.deepEqual([changed.state, changed.attemptsMade], ['failed', 1]);
  assert.match(changed.failedReason!, /moving: changed since the job was added/);
  assert.ok(!existsSync(join(dir, 'bad.tflite')));
});

test('a worker SIGKILLed while its command job runs takes the child process with it; another worker runs the job', { skip, timeout: 120_000 }, async () => {
  const data = join(dir, 'slow');
  mkdirSync(data);
  for (let i = 0; i < 6; i++) await writeImage(join(data, `s${i}.png`), renderSampleFrame(i, { width: 320, height: 240, supersample: 1 }));
  await cli('queue', 'add', 'eval', '--model', 'etds-t-x4', '--data', data, '--threads', '1', '--redis', url);
  const spawnWorker = () => spawn(process.execPath, [CLI, 'worker', '--redis', url, '--threads', '1', '--lock-duration', '2000', '--stalled-interval', '1000'], { stdio: 'ignore' });
  const first = spawnWorker();
  const children = () => spawnSync('pgrep', ['-f', `eval .*${data}`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  const t0 = Date.now();
  while (!children().length || !(await listJobs(queue)).some((r) => r.state === 'active' && r.progress > 0)) {
    assert.ok(Date.now() - t0 < 60_000, 'the eval never started');
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise((r) => first.once('exit', r));
  first.kill('SIGKILL');
  await exited;
  const t1 = Date.now();
  while (children().length) {
    assert.ok(Date.now() - t1 < 5000, `the eval child outlived its worker: ${children().join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const second = spawnWorker();
  try {
    assert.ok(await waitIdle(queue, { timeoutMs: 90_000 }));
    const [row] = await listJobs(queue);
    assert.equal(row!.state, 'completed');
    assert.equal((row!.result!.report as { rows: unknown[] }).rows.length, 6);
  } finally {
    second.kill('SIGKILL');
  }
});
