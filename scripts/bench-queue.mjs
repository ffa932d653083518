// Throughput of the Redis queue on this machine against `mvsr upscale` in a loop: K short videos
// (Y4M, mvsr's rendered sample) upscaled (a) one `mvsr upscale` process after another, (b) as
// queue jobs by 1 worker with all threads, (c) by 2 workers with half the threads each, and
// (d) one long video (the K videos end to end) split into segments for 2 workers. Also the
// per-job overheads: the queue round trip of a job that does almost nothing, a worker's first
// job (model load and compile) against the next ones, and the join. Outputs are checked against
// the loop's bytes. Needs redis-server (apt-get install redis-server).
//   node scripts/bench-queue.mjs [--videos 6] [--frames 24] [--size 160x90] [--model etds-t-x4] [--threads 2] [--runs 2] [--json out.json]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(root, 'dist/src/cli/main.js');
const lib = (p) => import(path.join(root, 'dist/src', p));
const { values: o } = parseArgs({
  options: {
    videos: { type: 'string', default: '6' }, frames: { type: 'string', default: '24' }, size: { type: 'string', default: '160x90' },
    model: { type: 'string', default: 'etds-t-x4' }, threads: { type: 'string', default: String(cpus().length) }, runs: { type: 'string', default: '2' },
    json: { type: 'string' },
  },
});
const K = Number(o.videos), F = Number(o.frames), T = Number(o.threads), R = Number(o.runs);
const [W, H] = o.size.split('x').map(Number);
if (spawnSync('redis-server', ['--version']).error) throw new Error('bench-queue: redis-server is not installed (apt-get install redis-server)');
const { renderSampleFrame } = await lib('data/synthetic.js');
const { createVideoWriter } = await lib('io/video.node.js');
const q = await lib('queue/queue.node.js');
const { jobId } = await lib('queue/jobs.node.js');
const { QueueEvents } = await import('bullmq');

const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-bench-queue-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// inputs: K videos of F frames, and the same frames end to end as one long video
const videos = [];
const long = await createVideoWriter(path.join(dir, 'long.y4m'), { width: W, height: H, fps: [25, 1] });
for (let k = 0; k < K; k++) {
  const file = path.join(dir, `v${k}.y4m`);
  const w = await createVideoWriter(file, { width: W, height: H, fps: [25, 1] });
  for (let t = 0; t < F; t++) {
    const f = renderSampleFrame(k * F + t, { width: W, height: H, supersample: 1 });
    await w.write(f);
    await long.write(f);
  }
  await w.close();
  videos.push(file);
}
await long.close();
const tiny = path.join(dir, 'tiny.png');
const { writeImage } = await lib('io/image.node.js');
await writeImage(tiny, { width: 8, height: 8, channels: 3, bitDepth: 8, data: new Uint8Array(192).fill(90) });

// redis on a free loopback port
const port = await new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const url = `redis://127.0.0.1:${port}`;
let redis;
for (let i = 0; ; i++) {
  try { redis = await q.connectRedis('bench', { url, connectTimeoutMs: 500 }); break; } catch (e) { if (i > 40) throw e; await sleep(100); }
}
const queue = q.openQueue(redis);

function mvsr(args) {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c) => (err += c));
    p.once('exit', (c) => (c === 0 ? res(err) : rej(new Error(`mvsr ${args.join(' ')}: ${err}`))));
  });
}

/** Start n worker processes with `threads` each; resolves once all wait for jobs. Returns their logs and a stop(). */
async function workers(n, threads) {
  const ps = [], logs = [];
  for (let i = 0; i < n; i++) {
    const p = spawn(process.execPath, [CLI, 'worker', '--redis', url, '--threads', String(threads)], { stdio: ['ignore', 'ignore', 'pipe'] });
    logs.push('');
    p.stderr.on('data', (c) => (logs[i] += c));
    ps.push(p);
  }
  while (logs.some((l) => !l.includes('waiting for jobs'))) await sleep(20);
  return {
    logs,
    stop: async () => {
      await Promise.all(ps.map((p) => new Promise((r) => { p.once('exit', r); p.kill('SIGTERM'); })));
    },
  };
}

async function drain() {
  await q.cleanJobs(queue);
  await q.forgetOutputs(redis);
}

/** Add the jobs (library calls: no process per add), run them on the workers; seconds from the first add to an idle queue. */
async function queued(jobs, w) {
  const t0 = performance.now();
  for (const d of jobs) await q.addJob(queue, d);
  if (!(await q.waitIdle(queue, { pollMs: 20 }))) throw new Error('queue did not drain');
  const s = (performance.now() - t0) / 1000;
  const failed = (await q.listJobs(queue)).filter((r) => r.state !== 'completed');
  if (failed.length) throw new Error(`failed jobs: ${JSON.stringify(failed.map((r) => r.failedReason))}`);
  void w;
  return s;
}

const results = { machine: `${cpus().length} x ${cpus()[0].model}`, model: o.model, videos: K, frames: F, size: `${W}x${H}`, threads: T, runs: R, configs: {}, overhead: {} };
const record = (name, secs, videosDone) => {
  const s = median(secs);
  results.configs[name] = { seconds: s, all: secs, videosPerMinute: (60 * videosDone) / s, framesPerSecond: (videosDone * F) / s };
  console.log(`${name.padEnd(46)} ${s.toFixed(2).padStart(7)} s  ${((60 * videosDone) / s).toFixed(1).padStart(6)} videos/min  ${((videosDone * F) / s).toFixed(1).padStart(6)} frames/s   (runs: ${secs.map((x) => x.toFixed(2)).join(', ')})`);
};

// (a) mvsr upscale in a loop
const loopSecs = [];
for (let r = 0; r < R; r++) {
  const t0 = performance.now();
  for (const [k, v] of videos.entries()) await mvsr(['upscale', v, '-o', path.join(dir, `loop${k}.y4m`), '--model', o.model, '--threads', String(T)]);
  loopSecs.push((performance.now() - t0) / 1000);
}
record(`mvsr upscale in a loop (--threads ${T})`, loopSecs, K);
const expected = videos.map((_, k) => readFileSync(path.join(dir, `loop${k}.y4m`)));

const jobsFor = async (tag) => Promise.all(videos.map((v, k) => q.videoJobData({ input: v, output: path.join(dir, `${tag}${k}.y4m`), model: o.model, segmentFrames: F })));
for (const [n, threads] of [[1, T], [2, Math.max(1, Math.floor(T / 2))]]) {
  const secs = [];
  for (let r = 0; r < R; r++) {
    await drain();
    const w = await workers(n, threads);
    secs.push(await queued(await jobsFor(`q${n}-${r}-`), w));
    await w.stop();
    videos.forEach((_, k) => { if (!readFileSync(path.join(dir, `q${n}-${r}-${k}.y4m`)).equals(expected[k])) throw new Error(`queued output ${k} differs from mvsr upscale's`); });
  }
  record(`queue, ${n} worker${n > 1 ? 's' : ''} x ${threads} thread${threads > 1 ? 's' : ''} (${K} videos)`, secs, K);
}

// (d) one long video: mvsr upscale, and split into K segments for 2 workers
const longSingle = [];
for (let r = 0; r < R; r++) {
  const t0 = performance.now();
  await mvsr(['upscale', path.join(dir, 'long.y4m'), '-o', path.join(dir, 'long-direct.y4m'), '--model', o.model, '--threads', String(T)]);
  longSingle.push((performance.now() - t0) / 1000);
}
record(`one ${K * F}-frame video: mvsr upscale`, longSingle, K);
const longSplit = [], joinSecs = [];
for (let r = 0; r < R; r++) {
  await drain();
  const w = await workers(2, Math.max(1, Math.floor(T / 2)));
  const data = await q.videoJobData({ input: path.join(dir, 'long.y4m'), output: path.join(dir, `long-q${r}.y4m`), model: o.model, segmentFrames: F });
  longSplit.push(await queued([data], w));
  const join = w.logs.join('').split('\n').find((l) => l.startsWith(jobId(data) + ' done in'));
  if (join) joinSecs.push(Number(/done in ([\d.]+) s/.exec(join)[1]));
  await w.stop();
  if (!readFileSync(path.join(dir, `long-q${r}.y4m`)).equals(readFileSync(path.join(dir, 'long-direct.y4m')))) throw new Error('the joined long video differs from mvsr upscale\'s');
}
record(`one ${K * F}-frame video: ${K} segments, 2 workers`, longSplit, K);
results.overhead.joinSeconds = median(joinSecs);

// per-job overheads with one warm worker: a near-empty job's round trip; first job vs the next ones
await drain();
const w = await workers(1, T);
const events = new QueueEvents(q.QUEUE_NAME, { connection: { url } });
await events.waitUntilReady();
const trips = [];
for (let i = 0; i < 20; i++) {
  const d = await q.upscaleJobData({ input: tiny, output: path.join(dir, `tiny${i}.png`), model: 'bicubic', scale: 2 });
  const t0 = performance.now();
  await q.addJob(queue, d);
  const job = await queue.getJob(jobId(d));
  await job.waitUntilFinished(events);
  trips.push((performance.now() - t0) * 1);
}
results.overhead.roundTripMs = median(trips);
await drain();
const perJob = [];
for (const [k, v] of videos.entries()) {
  const d = await q.videoJobData({ input: v, output: path.join(dir, `warm${k}.y4m`), model: o.model, segmentFrames: F });
  await q.addJob(queue, d);
  await q.waitIdle(queue, { pollMs: 20 });
}
for (const l of w.logs[0].split('\n')) {
  const m = /-s0 done in ([\d.]+) s/.exec(l);
  if (m) perJob.push(Number(m[1]));
}
await events.close();
await w.stop();
results.overhead.firstSegmentSeconds = perJob[0];
results.overhead.nextSegmentsSeconds = median(perJob.slice(1));
results.overhead.modelLoadSeconds = perJob[0] - median(perJob.slice(1));
// the fixed cost of one mvsr upscale process: a 1-frame video
const one = path.join(dir, 'one.y4m');
const ow = await createVideoWriter(one, { width: W, height: H, fps: [25, 1] });
await ow.write(renderSampleFrame(0, { width: W, height: H, supersample: 1 }));
await ow.close();
const oneSecs = [];
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  await mvsr(['upscale', one, '-o', path.join(dir, 'one-out.y4m'), '--model', o.model, '--threads', String(T)]);
  oneSecs.push((performance.now() - t0) / 1000);
}
results.overhead.processOneFrameSeconds = median(oneSecs);
const ov = results.overhead;
console.log(`per job: queue round trip ${ov.roundTripMs.toFixed(1)} ms (bicubic 8x8 job, add -> completed); a worker's first segment ${ov.firstSegmentSeconds.toFixed(3)} s, the next ${ov.nextSegmentsSeconds.toFixed(3)} s (model load and compile ${ov.modelLoadSeconds.toFixed(3)} s, once per worker); the join of ${K * F} frames ${ov.joinSeconds.toFixed(2)} s; one mvsr upscale process on 1 frame ${ov.processOneFrameSeconds.toFixed(2)} s`);

await queue.close();
redis.disconnect();
server.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
if (o.json) writeFileSync(o.json, JSON.stringify(results, null, 2) + '\n');
