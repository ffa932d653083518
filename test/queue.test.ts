// Scale-out on a Redis queue (BullMQ), against a real redis-server started here on a free
// loopback port: queued upscales equal `mvsr upscale`, jobs are idempotent, permanent failures
// are not retried and do not block the queue, a model with another hash is refused, a Redis that
// is down fails fast with one line, and a worker killed mid-job loses no job.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, copyFileSync, appendFileSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { writeImage } from '../src/io/image.node.js';
import { shippedWeightsDir } from '../src/api/shipped.node.js';
import { connectRedis, openQueue, addJob, upscaleJobData, waitIdle, listJobs, cleanJobs } from '../src/queue/queue.node.js';
import { startWorker, type RunningWorker } from '../src/queue/worker.node.js';
import type { Redis } from 'ioredis';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const run = promisify(execFile);
const hasRedis = !spawnSync('redis-server', ['--version']).error;
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
  });
});

test('a missing input fails once, without retries, and does not block the next job; a transient failure is retried', { skip }, async () => {
  const gone = join(dir, 'gone.png'), good = join(dir, 'good.png'), blocker = join(dir, 'not-a-dir');
  await image(gone, 12, 10, 3);
  await image(good, 12, 10, 4);
  writeFileSync(blocker, 'a file where the output folder should be');
  const bad = await addJob(queue, await upscaleJobData({ input: gone, output: join(dir, 'gone-x2.png'), model: 'bicubic', scale: 2 }));
  const retried = await addJob(queue, await upscaleJobData({ input: good, output: join(blocker, 'x.png'), model: 'bicubic', scale: 2 }));
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
    assert.deepEqual(rows.map((r) => r.state), Array(N).fill('completed'), JSON.stringify(rows.map((r) => [r.state, r.failedReason])));
    for (let i = 0; i < N; i++) assert.deepEqual(readFileSync(join(dir, `k${i}.png`)), expected, `output ${i}`);
    const done = (logs[0]! + logs[1]!).split('\n').filter((l) => l.includes(' done in ') || l.includes('already complete'));
    for (const id of ids) assert.equal(done.filter((l) => l.startsWith(id)).length, 1, `job ${id} completed once:\n${logs.join('\n---\n')}`);
    const exit = new Promise<number | null>((r) => workers[survivor]!.once('exit', (c) => r(c)));
    workers[survivor]!.kill('SIGTERM');
    assert.equal(await exit, 0);
    assert.match(logs[survivor]!, /SIGTERM: finishing the running jobs[\s\S]*stopped/);
  } finally {
    for (const p of workers) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
});
