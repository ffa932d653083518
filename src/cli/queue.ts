// `mvsr queue ...` and `mvsr worker`: scale-out over a Redis queue (BullMQ). Thin: the logic is
// in src/queue/ (loaded on first use, so other commands never load the Redis client).
import { existsSync } from 'node:fs';
import { resolve, extname } from 'node:path';
import { parse, intFlag, jsonArgs, backendFlag, type Command, type Options } from './args.js';
import { barGlyphs } from './progress.js';
import { EVAL_FLAGS, EVAL_VIDEO_FLAGS, EXPORT_FLAGS, QUANTIZE_FLAGS } from './flags.js';
import { COMMAND_JOBS, type CommandJobName } from '../queue/jobs.node.js';

const out = (s: string) => process.stdout.write(s + '\n');
const err = (s: string) => process.stderr.write(s + '\n');

const REDIS_HELP = `      --redis <url>   Redis to use (default redis://127.0.0.1:6379)`;

const QUEUE_HELP = `usage: mvsr queue <add|status|wait|clean> [options]

  mvsr queue add upscale <input image> -o <output.png> --model <m> [options]
      submit an upscale job. Paths are made absolute and must name the same files on every
      worker (a shared filesystem). The job carries the SHA-256 of the input and of the model
      file (a shipped model's file in weights/; the name of a weightless model), and its id is a
      hash of (command, input path and hash, output path, model hash, options): adding the same
      job again does nothing. Prints the job id.
      -m, --model <m>     a weights file, a shipped model (mvsr models) or "bicubic"
          --arch <A>, --args <a>, -s/--scale <n>, --tile <n>, --halo <n>, -b/--backend <b>
                          as for "mvsr upscale"
  mvsr queue add upscale <input video> -o <output video> --model <m> [options]
      a video (.y4m, or what ffmpeg reads, with a known frame count) is split into segment jobs
      that any worker takes; each starts --warmup frames early and their output is discarded.
      Segments wait beside the output in a hidden folder until a join job writes them, in order,
      to the output: for .y4m each segment is the Y4M "mvsr upscale" would write and the join
      copies its frame bytes; for .mp4, .mkv, ... segments hold raw RGB frames and the join
      encodes them once, with the audio. For a model without a recurrent state the output is
      the bytes of a single run.
          --segment-frames <n>  output frames per segment (default 250)
          --warmup <n>          frames fed before each segment (default: the model's look-back;
                                a recurrent model 8 more: see the README for what it costs)
  mvsr queue add eval|eval-video <the command's arguments> [-o report.json]
  mvsr queue add export|quantize <the command's arguments>
      run that mvsr command on a worker (as a child process): its files are made absolute, the
      model and every input file or folder are hashed, and the worker refuses them changed. An
      eval's report (what --json prints) is kept with the job and written to -o; export and
      quantize write their -o atomically.
  mvsr queue status [--json]   every job with its state, progress and result or error
  mvsr queue wait [--timeout <s>]
                              wait until no job is waiting, active or retrying; exit 1 on timeout
  mvsr queue clean [--forget]  remove finished (completed and failed) jobs; --forget also drops
                              the record of complete outputs (a job added again then runs again
                              instead of finding its output complete)

options:
${REDIS_HELP}

Failed jobs are retried with exponential backoff (3 attempts) unless retrying cannot help (a
missing or changed input, an undecodable image, a model whose file has another hash, a command
that stopped with its own error); a failed segment fails its video job.`;


/** An eval report's headline figures. */
function summary(report: unknown): string {
  const r = report as { psnr?: number; ssim?: number; psnrY?: number; ssimY?: number };
  if (typeof r.psnr === 'number') return `PSNR ${r.psnr.toFixed(3)} SSIM ${r.ssim?.toFixed(4)}`;
  if (typeof r.psnrY === 'number') return `PSNR-Y ${r.psnrY.toFixed(3)} SSIM-Y ${r.ssimY?.toFixed(4)}`;
  return '';
}


type QueueModule = typeof import('../queue/queue.node.js');

/** Add one job and print its id (or the AddResult as JSON). */
async function submit(cmd: string, data: import('../queue/jobs.node.js').JobData, v: Record<string, unknown>, q: QueueModule, detail?: string): Promise<number> {
  const redis = await q.connectRedis(cmd, { url: typeof v.redis === 'string' ? v.redis : q.DEFAULT_REDIS_URL });
  const queue = q.openQueue(redis);
  try {
    const r = await q.addJob(queue, data);
    if (v.json) out(JSON.stringify(r));
    else {
      out(r.id);
      if (!r.added) err(`mvsr ${cmd}: the same job is already queued (${r.state}): nothing added`);
      else if (detail) err(`mvsr ${cmd}: ${detail}`);
    }
  } finally {
    await queue.close();
    redis.disconnect();
  }
  return 0;
}

/** Flags whose value names a file or folder (made absolute; the ones read are hashed). */
const PATH_FLAGS = new Set(['data', 'calib', 'output', 'cache', 'qat-data', 'model']);
const COMMAND_FLAGS: Record<CommandJobName, Options> = { eval: EVAL_FLAGS, 'eval-video': EVAL_VIDEO_FLAGS, export: EXPORT_FLAGS, quantize: QUANTIZE_FLAGS };

/** `queue add eval|eval-video|export|quantize <the command's own arguments>`. */
async function addCommandJob(what: CommandJobName, argv: string[], q: QueueModule): Promise<number> {
  const cmd = `queue add ${what}`;
  const isEval = what === 'eval' || what === 'eval-video';
  const flags: Options = { ...COMMAND_FLAGS[what], redis: { type: 'string' }, json: { type: 'boolean' } };
  if (isEval) flags.output = { type: 'string', short: 'o' };
  const { values: v, positionals } = parse(cmd, argv, flags);
  // a model may be a name (a shipped or weightless model); every other path flag names a path
  const abs = (p: string) => (existsSync(p) || /[\/]/.test(p) || /\.[a-z0-9]+$/i.test(p) ? resolve(p) : p);
  const list = (x: string) => x.split(',').filter(Boolean).map((p) => resolve(p)).join(',');
  const job: string[] = [];
  for (const [k, val] of Object.entries(v)) {
    if (k === 'redis' || k === 'json' || (isEval && k === 'output') || val === undefined || val === false) continue;
    if (val === true) job.push(`--${k}`);
    else job.push(`--${k}`, k === 'qat-data' ? list(val) : k === 'model' ? abs(val) : PATH_FLAGS.has(k) ? resolve(val) : val);
  }
  const model = isEval ? v.model : positionals[0];
  if (typeof model !== 'string') throw new Error(`mvsr ${cmd}: ${isEval ? '--model is required' : 'give a model'} (see "mvsr ${what} --help")`);
  if (positionals.length > (isEval ? 0 : 1)) throw new Error(`mvsr ${cmd}: unexpected argument "${positionals[isEval ? 0 : 1]}"`);
  if (!isEval) job.unshift(abs(model));
  else if (typeof v.output === 'string' && extname(v.output).toLowerCase() !== '.json') throw new Error(`mvsr ${cmd}: ${v.output}: the report of an eval job is JSON (name it .json)`);
  const reads: string[] = [];
  if (isEval) {
    if (typeof v.data !== 'string') throw new Error(`mvsr ${cmd}: --data is required`);
    reads.push(resolve(v.data));
  }
  if (what === 'quantize') {
    if (typeof v.calib !== 'string') throw new Error(`mvsr ${cmd}: --calib <folder> is required`);
    reads.push(resolve(v.calib));
    if (typeof v['qat-data'] === 'string') reads.push(...list(v['qat-data']).split(','));
  }
  if (!isEval && typeof v.output !== 'string') throw new Error(`mvsr ${cmd}: --output is required`);
  const output = typeof v.output === 'string' ? resolve(v.output) : undefined;
  const data = await q.commandJobData(what, job, { model: abs(model), reads: [...new Set(reads)], output }, {
    arch: typeof v.arch === 'string' ? v.arch : undefined, args: jsonArgs(cmd, v.args), scale: intFlag(cmd, v.scale, 'scale'),
  }, cmd);
  return submit(cmd, data, v, q);
}

export const queueCmd: Command = {
  summary: 'submit jobs to a Redis queue (BullMQ) run by "mvsr worker"s; status, wait, clean',
  help: QUEUE_HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    const q = await import('../queue/queue.node.js');
    const url = (v: Record<string, unknown>) => (typeof v.redis === 'string' ? v.redis : q.DEFAULT_REDIS_URL);
    switch (sub) {
      case 'add': {
        const cmd = 'queue add';
        const what = rest[0];
        if (what && (COMMAND_JOBS as readonly string[]).includes(what)) return addCommandJob(what as CommandJobName, rest.slice(1), q);
        const { values: v, positionals } = parse(cmd, rest, {
          redis: { type: 'string' }, output: { type: 'string', short: 'o' }, model: { type: 'string', short: 'm' }, arch: { type: 'string' },
          args: { type: 'string' }, scale: { type: 'string', short: 's' }, tile: { type: 'string' }, halo: { type: 'string' },
          backend: { type: 'string', short: 'b' }, json: { type: 'boolean' }, 'segment-frames': { type: 'string' }, warmup: { type: 'string' },
        });
        const [, input, ...extra] = positionals;
        if (what !== 'upscale') throw new Error(`mvsr ${cmd}: ${what ? `unknown job "${what}"` : 'no job given'}: the jobs are upscale, ${COMMAND_JOBS.join(', ')} (see "mvsr queue --help")`);
        if (!input) throw new Error(`mvsr ${cmd}: no input image or video given`);
        if (extra.length) throw new Error(`mvsr ${cmd}: one input per job (got also "${extra[0]}")`);
        if (typeof v.output !== 'string') throw new Error(`mvsr ${cmd}: --output is required`);
        if (typeof v.model !== 'string') throw new Error(`mvsr ${cmd}: --model is required`);
        const video = q.isVideoPath(input);
        if (!video && (v['segment-frames'] !== undefined || v.warmup !== undefined)) throw new Error(`mvsr ${cmd}: --segment-frames and --warmup are for video inputs`);
        const req = {
          input, output: v.output, model: v.model, arch: typeof v.arch === 'string' ? v.arch : undefined, args: jsonArgs(cmd, v.args),
          scale: intFlag(cmd, v.scale, 'scale'), tile: intFlag(cmd, v.tile, 'tile'), halo: intFlag(cmd, v.halo, 'halo', 0), backend: backendFlag('queue add', v.backend),
        };
        const data = video
          ? await q.videoJobData({ ...req, segmentFrames: intFlag(cmd, v['segment-frames'], 'segment-frames'), warmup: intFlag(cmd, v.warmup, 'warmup', 0) })
          : await q.upscaleJobData(req);
        return submit(cmd, data, v, q, data.command === 'upscale-video' ? `${data.segments.length} segments of ${data.options.segmentFrames} frames, warm-up ${data.options.warmup}` : undefined);
      }
      case 'status':
      case 'wait':
      case 'clean': {
        const cmd = `queue ${sub}`;
        const { values: v, positionals } = parse(cmd, rest, { redis: { type: 'string' }, json: { type: 'boolean' }, timeout: { type: 'string' }, forget: { type: 'boolean' } });
        if (v.forget && sub !== 'clean') throw new Error(`mvsr ${cmd}: --forget goes with "queue clean"`);
        if (positionals.length) throw new Error(`mvsr ${cmd}: unexpected argument "${positionals[0]}"`);
        let timeoutMs: number | undefined;
        if (v.timeout !== undefined) {
          const s = Number(v.timeout);
          if (!(s >= 0)) throw new Error(`mvsr ${cmd}: --timeout must be a number of seconds >= 0, got "${String(v.timeout)}"`);
          timeoutMs = s * 1000;
        }
        const redis = await q.connectRedis(cmd, { url: url(v) });
        const queue = q.openQueue(redis);
        try {
          if (sub === 'status') {
            const rows = await q.listJobs(queue);
            if (v.json) out(JSON.stringify(rows, null, 2));
            else if (!rows.length) err('no jobs');
            else {
              // a video's segments show under it while they run or when they failed
              for (const r of rows) {
                if (r.parent && r.state !== 'active' && r.state !== 'failed') continue;
                const tail = r.state === 'failed' ? `  ${(r.failedReason ?? '').replace(/^mvsr worker: job \S+: /, '')}` : r.state === 'completed' && r.result?.skipped ? '  (output was already complete)' : '';
                const segs = r.segments ? `  [segments: ${r.segments.completed}/${r.segments.total} done${r.segments.active ? `, ${r.segments.active} running` : ''}${r.segments.failed ? `, ${r.segments.failed} failed` : ''}]` : '';
                const what = r.parent ? `  └ segment ${r.id.slice(r.id.lastIndexOf('-s') + 2)}` : `${r.command} ${r.input} -> ${r.output || '(report in the job)'}`;
                const report = r.state === 'completed' && r.result?.report ? `  ${summary(r.result.report)}` : '';
                out(`${r.id.slice(0, 19)}  ${r.state.padEnd(r.state === 'waiting-children' ? 16 : 9)} ${barGlyphs(r.progress, 20)} ${String(Math.floor(r.progress * 100)).padStart(3)}%  ${what}${r.attemptsMade > 1 ? `  [${r.attemptsMade} attempts]` : ''}${segs}${report}${tail}`);
              }
            }
          } else if (sub === 'wait') {
            const ok = await q.waitIdle(queue, { timeoutMs });
            if (!ok) throw new Error(`mvsr ${cmd}: ${await q.pendingCount(queue)} jobs still waiting or active after ${Number(v.timeout)} s`);
            const c = await queue.getJobCounts('completed', 'failed');
            err(`queue idle: ${c.completed ?? 0} completed, ${c.failed ?? 0} failed`);
          } else {
            err(`removed ${await q.cleanJobs(queue)} finished jobs`);
            if (v.forget) err(`forgot ${await q.forgetOutputs(redis)} complete outputs: the same jobs added again will run again`);
          }
        } finally {
          await queue.close();
          redis.disconnect();
        }
        return 0;
      }
      default:
        throw new Error(`mvsr queue: ${sub ? `unknown subcommand "${sub}"` : 'no subcommand given'} (add, status, wait, clean; see "mvsr queue --help")`);
    }
  },
};

export const workerCmd: Command = {
  summary: 'run queued jobs (mvsr queue add) until SIGINT/SIGTERM',
  help: `usage: mvsr worker [--redis <url>] [--concurrency <n>] [--threads <n>]

Takes jobs from the Redis queue and runs them; any number of workers on any number of machines
may share a queue, as long as the job paths name the same files everywhere (a shared
filesystem). Outputs are written to a temporary name and renamed; a job whose output is already
complete does nothing. The first SIGINT/SIGTERM stops taking jobs and lets the running ones
finish; a second one exits at once (the interrupted jobs go back to the queue after the lock
expires, about 30 s).

options:
${REDIS_HELP}
      --concurrency <n>  jobs at once in this process (default 1)
  -t, --threads <n>      engine threads (default: all cores)
      --lock-duration <ms>, --stalled-interval <ms>
                         BullMQ job lock and stalled-job check (default 30000 each): how soon
                         the job of a worker that died is run by another`,
  async run(argv) {
    const { values: v, positionals } = parse('worker', argv, {
      redis: { type: 'string' }, concurrency: { type: 'string' }, threads: { type: 'string', short: 't' },
      'lock-duration': { type: 'string' }, 'stalled-interval': { type: 'string' },
    });
    if (positionals.length) throw new Error(`mvsr worker: unexpected argument "${positionals[0]}"`);
    const { startWorker } = await import('../queue/worker.node.js');
    const w = await startWorker({
      url: typeof v.redis === 'string' ? v.redis : undefined,
      concurrency: intFlag('worker', v.concurrency, 'concurrency'), threads: intFlag('worker', v.threads, 'threads'),
      lockDurationMs: intFlag('worker', v['lock-duration'], 'lock-duration'), stalledIntervalMs: intFlag('worker', v['stalled-interval'], 'stalled-interval'),
      log: err,
    });
    err(`mvsr worker: waiting for jobs on ${typeof v.redis === 'string' ? v.redis : 'redis://127.0.0.1:6379'} (pid ${process.pid})`);
    await new Promise<void>((resolve) => {
      let signals = 0;
      const onSignal = (sig: string) => {
        if (++signals > 1) process.exit(130);
        err(`mvsr worker: ${sig}: finishing the running jobs (again to exit now)`);
        w.close().then(resolve, resolve);
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
    });
    err('mvsr worker: stopped');
    return 0;
  },
};
