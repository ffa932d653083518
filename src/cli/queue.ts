// `mvsr queue ...` and `mvsr worker`: scale-out over a Redis queue (BullMQ). Thin: the logic is
// in src/queue/ (loaded on first use, so other commands never load the Redis client).
import { parse, intFlag, jsonArgs, type Command } from './args.js';
import { listBackends } from '../runtime/backend.node.js';

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
  mvsr queue status [--json]   every job with its state, progress and result or error
  mvsr queue wait [--timeout <s>]
                              wait until no job is waiting, active or retrying; exit 1 on timeout
  mvsr queue clean            remove finished (completed and failed) jobs

options:
${REDIS_HELP}

Failed jobs are retried with exponential backoff (3 attempts) unless retrying cannot help (a
missing or changed input, an undecodable image, a model whose file has another hash).`;

function backendFlag(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  const known = [...listBackends(), 'auto'];
  if (typeof v !== 'string' || !known.includes(v)) throw new Error(`mvsr queue add: --backend must be one of ${known.join(', ')}, got "${String(v)}"`);
  return v;
}

function bar(p: number, width = 20): string {
  const fill = Math.round(width * p);
  return '█'.repeat(fill) + '░'.repeat(width - fill);
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
        const { values: v, positionals } = parse(cmd, rest, {
          redis: { type: 'string' }, output: { type: 'string', short: 'o' }, model: { type: 'string', short: 'm' }, arch: { type: 'string' },
          args: { type: 'string' }, scale: { type: 'string', short: 's' }, tile: { type: 'string' }, halo: { type: 'string' },
          backend: { type: 'string', short: 'b' }, json: { type: 'boolean' },
        });
        const [what, input, ...extra] = positionals;
        if (what !== 'upscale') throw new Error(`mvsr ${cmd}: ${what ? `unknown job "${what}"` : 'no job given'}: only "upscale" jobs exist (see "mvsr queue --help")`);
        if (!input) throw new Error(`mvsr ${cmd}: no input image given`);
        if (extra.length) throw new Error(`mvsr ${cmd}: one input per job (got also "${extra[0]}")`);
        if (typeof v.output !== 'string') throw new Error(`mvsr ${cmd}: --output is required`);
        if (typeof v.model !== 'string') throw new Error(`mvsr ${cmd}: --model is required`);
        const data = await q.upscaleJobData({
          input, output: v.output, model: v.model, arch: typeof v.arch === 'string' ? v.arch : undefined, args: jsonArgs(cmd, v.args),
          scale: intFlag(cmd, v.scale, 'scale'), tile: intFlag(cmd, v.tile, 'tile'), halo: intFlag(cmd, v.halo, 'halo', 0), backend: backendFlag(v.backend),
        });
        const redis = await q.connectRedis(cmd, { url: url(v) });
        const queue = q.openQueue(redis);
        try {
          const r = await q.addJob(queue, data);
          if (v.json) out(JSON.stringify(r));
          else {
            out(r.id);
            if (!r.added) err(`mvsr ${cmd}: the same job is already queued (${r.state}): nothing added`);
          }
        } finally {
          await queue.close();
          redis.disconnect();
        }
        return 0;
      }
      case 'status':
      case 'wait':
      case 'clean': {
        const cmd = `queue ${sub}`;
        const { values: v, positionals } = parse(cmd, rest, { redis: { type: 'string' }, json: { type: 'boolean' }, timeout: { type: 'string' } });
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
              for (const r of rows) {
                const tail = r.state === 'failed' ? `  ${r.failedReason ?? ''}` : r.state === 'completed' && r.result?.skipped ? '  (output was already complete)' : '';
                out(`${r.id.slice(0, 19)}  ${r.state.padEnd(9)} ${bar(r.progress)} ${String(Math.floor(r.progress * 100)).padStart(3)}%  ${r.input} -> ${r.output}${r.attemptsMade > 1 ? `  [${r.attemptsMade} attempts]` : ''}${tail}`);
              }
            }
          } else if (sub === 'wait') {
            const ok = await q.waitIdle(queue, { timeoutMs });
            if (!ok) throw new Error(`mvsr ${cmd}: ${await q.pendingCount(queue)} jobs still waiting or active after ${Number(v.timeout)} s`);
            const c = await queue.getJobCounts('completed', 'failed');
            err(`queue idle: ${c.completed ?? 0} completed, ${c.failed ?? 0} failed`);
          } else {
            err(`removed ${await q.cleanJobs(queue)} finished jobs`);
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
