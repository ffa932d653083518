// Flag parsing shared by the commands (node:util parseArgs with typed accessors and clear errors).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { listBackends } from '../runtime/backend.node.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(cmd: string, argv: string[], options: Options): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new Error(`mvsr ${cmd}: ${(e as Error).message} (see "mvsr ${cmd} --help")`);
  }
}

export function intFlag(cmd: string, v: string | boolean | undefined, name: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`mvsr ${cmd}: --${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

/** --args '{"num_feat": 16}' or key=value,key=value. */
export function jsonArgs(cmd: string, v: string | boolean | undefined): Record<string, unknown> | undefined {
  if (typeof v !== 'string') return undefined;
  if (v.trim().startsWith('{')) {
    try {
      return JSON.parse(v) as Record<string, unknown>;
    } catch {
      throw new Error(`mvsr ${cmd}: --args is not valid JSON: ${v}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const kv of v.split(',')) {
    const [k, val] = kv.split('=');
    if (!k || val === undefined) throw new Error(`mvsr ${cmd}: --args expects key=value pairs or JSON, got "${kv}"`);
    out[k.trim()] = Number.isFinite(Number(val)) ? Number(val) : val === 'true' ? true : val === 'false' ? false : val;
  }
  return out;
}

/** A subcommand of `mvsr`: one line of summary, its --help text, and what it runs. */
export interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

/** The --backend flag, checked against the backends this process has. */
export function backendFlag(cmd: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  const known = [...listBackends(), 'auto'];
  if (typeof v !== 'string' || !known.includes(v)) throw new Error(`mvsr ${cmd}: --backend must be one of ${known.join(', ')}, got "${String(v)}"`);
  return v;
}

/** `a` quoted for a POSIX shell (single quotes) unless it is made only of characters no shell treats specially. */
export function shellQuote(a: string): string {
  return /^[A-Za-z0-9_\-.,/=:@%+]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}
