// Training checkpoints: a directory holding model.safetensors, ema.safetensors,
// optimizer.safetensors and state.json. It is written under a temporary name, flushed, and
// swapped in by renames, so a process killed at any moment leaves the previous complete
// checkpoint (as `checkpoint`, or as `checkpoint.old` during the swap) and never a partial one.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { StateDict } from '../nn/module.js';
import type { AdamState } from './optim.js';
import { makeDirs } from '../io/files.node.js';

export interface TrainState {
  /** Iterations completed. */
  iter: number;
  seed: number;
  /** Training wall time so far, summed over sessions. */
  elapsedSeconds: number;
  best: { iter: number; psnr: number; ssim: number } | null;
  /** Name of the run's config and a hash of its effective content, to refuse resuming a different run. */
  configHash: string;
  [key: string]: unknown;
}

export interface Checkpoint {
  model: StateDict;
  ema: StateDict | null;
  optimizer: AdamState;
  /** Parameter names in optimizer order. */
  paramNames: string[];
  state: TrainState;
}

function writeSynced(file: string, bytes: Uint8Array | string): void {
  writeFileSync(file, bytes);
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* directories cannot be fsynced on every platform */
  }
}

export function saveCheckpoint(runDir: string, c: Checkpoint, name = 'checkpoint'): void {
  makeDirs(runDir);
  const final = join(runDir, name), old = join(runDir, `${name}.old`), tmp = join(runDir, `${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeSynced(join(tmp, 'model.safetensors'), writeSafetensors(c.model));
  if (c.ema) writeSynced(join(tmp, 'ema.safetensors'), writeSafetensors(c.ema));
  const opt: StateDict = {};
  c.paramNames.forEach((n, i) => {
    const m = c.optimizer.m[i], v = c.optimizer.v[i];
    if (m && v) {
      opt[`m.${n}`] = { shape: [m.length], data: m };
      opt[`v.${n}`] = { shape: [v.length], data: v };
    }
  });
  writeSynced(join(tmp, 'optimizer.safetensors'), writeSafetensors(opt, { steps: JSON.stringify(c.optimizer.steps), params: JSON.stringify(c.paramNames) }));
  writeSynced(join(tmp, 'state.json'), JSON.stringify(c.state, null, 2) + '\n');
  syncDir(tmp);
  if (existsSync(final)) {
    rmSync(old, { recursive: true, force: true });
    renameSync(final, old);
  }
  renameSync(tmp, final);
  syncDir(runDir);
  rmSync(old, { recursive: true, force: true });
}

/** The newest complete checkpoint in runDir, or null if there is none. */
export function loadCheckpoint(runDir: string, name = 'checkpoint'): Checkpoint | null {
  let dir = join(runDir, name);
  if (!existsSync(join(dir, 'state.json'))) {
    dir = join(runDir, `${name}.old`); // killed between the two renames of a save
    if (!existsSync(join(dir, 'state.json'))) return null;
  }
  const st = (f: string) => readSafetensors(readFileSync(join(dir, f)), join(dir, f));
  const model = st('model.safetensors').tensors as StateDict;
  const ema = existsSync(join(dir, 'ema.safetensors')) ? (st('ema.safetensors').tensors as StateDict) : null;
  const o = st('optimizer.safetensors');
  const paramNames = JSON.parse(o.metadata.params ?? '[]') as string[];
  const steps = JSON.parse(o.metadata.steps ?? '[]') as number[];
  const optimizer: AdamState = {
    steps,
    m: paramNames.map((n) => o.tensors[`m.${n}`]?.data ?? null),
    v: paramNames.map((n) => o.tensors[`v.${n}`]?.data ?? null),
  };
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as TrainState;
  return { model, ema, optimizer, paramNames, state };
}
