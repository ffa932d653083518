// Where the shared data lives for tests, and readers for what is there. Tests that need it
// skip with a message naming the missing path when it is absent (a user's fresh machine).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DATA_DIR = process.env.MVSR_DATA ? path.resolve(process.env.MVSR_DATA) : path.resolve(REPO_ROOT, '../shared/data');

/** `false` when DATA_DIR/rel exists, else the skip message. */
export function needData(rel: string): false | string {
  const p = path.join(DATA_DIR, rel);
  return existsSync(p) ? false : `${p} not found: set MVSR_DATA or put shared/data beside the repo`;
}

export const ZOO_DIR = path.join(DATA_DIR, 'checkpoints/etds-official');
export const TABLE_PATH = path.join(DATA_DIR, 'benchmarks/published/etds-table2.json');

export interface TestConfig {
  file: string;
  networkG: Record<string, unknown>;
  /** Checkpoint path relative to ZOO_DIR, or null (Bicubic). */
  checkpoint: string | null;
}

function scalar(v: string): unknown {
  const t = v.trim().replace(/\s+#.*$/, '');
  if (t === '~' || t === 'null') return null;
  if (/^-?\d+$/.test(t)) return Number(t);
  if (/^(['"]).*\1$/.test(t)) return t.slice(1, -1);
  return t;
}

/** The `network_g` section and `resume.network_g_path` of a BasicSR test config (flat maps only). */
export function readTestConfig(file: string): TestConfig {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  const start = lines.findIndex((l) => /^network_g:\s*$/.test(l));
  if (start < 0) throw new Error(`${file}: no network_g section`);
  const networkG: Record<string, unknown> = {};
  for (const l of lines.slice(start + 1)) {
    if (!/^\s+\S/.test(l)) break;
    const m = /^\s+([A-Za-z_]\w*):\s*(.*)$/.exec(l);
    if (!m) throw new Error(`${file}: cannot read '${l}' in network_g`);
    networkG[m[1]!] = scalar(m[2]!);
  }
  const ckLine = lines.find((l) => /^\s+network_g_path:/.test(l));
  const ck = ckLine ? scalar(ckLine.split(':').slice(1).join(':')) : null;
  const checkpoint = typeof ck === 'string' ? ck.replace(/^experiments\/pretrained_models\//, '') : null;
  return { file, networkG, checkpoint };
}

export function allTestConfigs(): TestConfig[] {
  const dir = path.join(ZOO_DIR, 'configs');
  return readdirSync(dir).sort().flatMap((fam) =>
    readdirSync(path.join(dir, fam)).filter((f) => f.endsWith('.yml')).sort().map((f) => readTestConfig(path.join(dir, fam, f))));
}

export interface TableRow {
  model: string;
  scale: number;
  params_k: number | null;
  macs_g: number | null;
  checkpoint: string | null;
  Set5: { psnr: number; ssim: number };
  Set14: { psnr: number; ssim: number };
}

export function readTable(): TableRow[] {
  return (JSON.parse(readFileSync(TABLE_PATH, 'utf8')) as { rows: TableRow[] }).rows;
}
