#!/usr/bin/env node
// npm run fuzz -- --target <name|all> --seconds N [--seed S] [--timeout-ms 2000] [--out dir]
// Structured mutation fuzzing (fast-check programs over real seed files) of mvsr's file parsers;
// see test/fuzz/. Crashing inputs are written to <out>/<target>/ (default fuzz-findings/).
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { runFuzz } from '../dist/test/fuzz/runner.js';
import { TARGETS } from '../dist/test/fuzz/targets.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const targetArg = opt('target', 'all');
const seconds = Number(opt('seconds', '10'));
const seed = Number(opt('seed', String(Date.now() % 1e9)));
const timeoutMs = Number(opt('timeout-ms', '2000'));
const out = opt('out', 'fuzz-findings');
const names = targetArg === 'all' ? Object.keys(TARGETS) : targetArg.split(',');
for (const n of names) if (!TARGETS[n]) {
  console.error(`mvsr: fuzz: unknown target '${n}' (known: ${Object.keys(TARGETS).join(', ')})`);
  process.exit(2);
}
let failed = false;
for (const target of names) {
  const r = await runFuzz({ target, seconds, seed, timeoutMs });
  console.log(`${target}: ${r.execs} execs in ${r.seconds.toFixed(1)} s (${(r.execs / r.seconds).toFixed(0)}/s), ${r.seeds} seeds, seed ${seed}, ${r.crashes.length} distinct crash(es)`);
  for (const c of r.crashes) {
    failed = true;
    const dir = path.join(out, target);
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `crash-${createHash('sha1').update(c.input).digest('hex').slice(0, 12)}.bin`);
    writeFileSync(file, c.input);
    console.log(`  CRASH x${c.count} (input #${c.index}, ${c.input.length} bytes -> ${file}): ${c.reason}`);
    if (c.stack) console.log(c.stack.split('\n').map((l) => '    ' + l).join('\n'));
  }
}
process.exit(failed ? 1 : 0);
