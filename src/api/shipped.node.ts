// Models that ship with mvsr: self-describing .safetensors files in the package's weights/
// folder, named <model>-x<scale>.safetensors (e.g. etds-t-x4), trained by `mvsr train`.
import { existsSync, readdirSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** weights/ at the package root (override with MVSR_WEIGHTS_DIR). */
export function shippedWeightsDir(): string {
  return process.env.MVSR_WEIGHTS_DIR ?? fileURLToPath(new URL('../../../weights/', import.meta.url));
}

export interface ShippedModel {
  name: string;
  file: string;
  arch: string;
  scale: number;
  params: number;
  metadata: Record<string, string>;
}

/** Read only the safetensors header of a file (cheap: no tensor data). */
function readHeader(file: string): { metadata: Record<string, string>; params: number } {
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    if (n > 100e6) throw new Error(`mvsr: ${file}: safetensors header of ${n} bytes`);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 8);
    const h = JSON.parse(buf.toString('utf8')) as Record<string, { shape?: number[] } | Record<string, string>>;
    let params = 0;
    for (const [k, v] of Object.entries(h)) {
      if (k === '__metadata__') continue;
      params += ((v as { shape?: number[] }).shape ?? []).reduce((a, b) => a * b, 1);
    }
    return { metadata: (h.__metadata__ ?? {}) as Record<string, string>, params };
  } finally {
    closeSync(fd);
  }
}

export function listShippedModels(): ShippedModel[] {
  const dir = shippedWeightsDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort().map((f) => {
    const file = join(dir, f);
    const { metadata, params } = readHeader(file);
    return { name: f.replace(/\.safetensors$/, ''), file, arch: metadata.arch ?? '?', scale: Number(metadata.scale ?? 0), params, metadata };
  });
}

/**
 * The model mvsr runs when none is named (`mvsr demo`, the web app's first choice), best first:
 * etds-t-kd-vapsr-x4 is etds-t-x4's architecture (same cost) trained further by distillation from
 * the official ETDS-L and VapSR weights (figures: README, Shipped models and Video).
 * test/shipped.test.ts fails if a shipped model of no more MACs beats the first on Set5.
 */
export const DEFAULT_MODELS = ['etds-t-kd-vapsr-x4', 'etds-t-x4'];

/** The first of DEFAULT_MODELS that is shipped at `scale`, else any shipped model of that scale, or null. */
export function defaultShippedModel(scale = 4, shipped: ShippedModel[] = listShippedModels()): ShippedModel | null {
  const at = shipped.filter((m) => m.scale === scale);
  for (const name of DEFAULT_MODELS) {
    const m = at.find((x) => x.name === name);
    if (m) return m;
  }
  return at[0] ?? null;
}

/** The shipped model for a name ('etds-t-x4', or 'etds-t' with a scale), or null. */
export function findShippedModel(name: string, scale?: number): ShippedModel | null {
  const all = listShippedModels();
  const want = name.toLowerCase();
  return all.find((m) => m.name === want) ?? all.find((m) => scale !== undefined && m.name === `${want}-x${scale}`)
    ?? (scale === undefined ? all.filter((m) => m.name.startsWith(`${want}-x`)).sort((a, b) => b.scale - a.scale)[0] ?? null : null);
}
