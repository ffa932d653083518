// Distillation with precomputed targets (distill.precompute): the teacher runs once on every whole
// training image, before the first step, and its uint8 output is kept on disk
// (data/targets.node.ts); the training steps then crop it with the HR patch instead of running the
// teacher on every batch. The teacher sees each image's real surroundings rather than a
// zero-padded patch, and a step costs what it costs without distillation, so a large teacher
// (VapSR, IMDN) costs minutes once instead of most of every step.
import type { Backend } from '../runtime/backend.js';
import { upscaleBands } from '../runtime/tiling.js';
import { UINT8_TO_UNIT } from '../data/augment.js';
import { loadSource, type SourceSpec } from '../data/loader.js';
import { hasTarget, targetFile, writeTarget } from '../data/targets.node.js';
import { makeDirs } from '../io/files.node.js';

export interface TargetsResult {
  /** Targets computed by this call / found on disk from an earlier one. */
  made: number;
  reused: number;
  seconds: number;
}

/** Tiles of the teacher run: LR tile edge and the real context around each. */
const TILE = 256, HALO = 32;

/**
 * Make sure `dir` holds the teacher's target for every image of `spec` (loaded here, in this
 * thread, as the batch loader will load it), computing the missing or damaged ones on `backend`.
 */
export async function makeTeacherTargets(
  spec: SourceSpec, lrPatch: number, backend: Backend, dir: string, say: (line: string) => void,
): Promise<TargetsResult> {
  const t0 = performance.now();
  const { targetDir: _, ...plain } = spec;
  const ds = await loadSource(plain as SourceSpec, lrPatch);
  makeDirs(dir);
  const todo: { it: (typeof ds.items)[number]; file: string }[] = [];
  let reused = 0;
  for (const it of ds.items) {
    if ((it.frames ?? 1) !== 1) throw new Error(`mvsr train: distill.precompute: ${it.file || it.name} is a clip; precomputed targets are for still images`);
    const file = targetFile(dir, it, ds.scale);
    // header and size only: the loader reads (and checks) the pixels when it attaches them
    if (await hasTarget(file, it.hrW, it.hrH)) reused++;
    else todo.push({ it, file });
  }
  const px = todo.reduce((a, { it }) => a + it.lrW * it.lrH, 0);
  if (todo.length) say(`teacher targets: ${todo.length} of ${ds.items.length} images to compute (${(px / 1e6).toFixed(1)} M LR pixels) into ${dir}`);
  let done = 0, lastSay = performance.now();
  const t1 = performance.now();
  for (const [i, { it, file }] of todo.entries()) {
    const n = it.lrW * it.lrH * 3, data = new Float32Array(n);
    for (let k = 0; k < n; k++) data[k] = UINT8_TO_UNIT[it.lr[k]!]!;
    const out = new Uint8Array(it.hrW * it.hrH * 3);
    for await (const band of upscaleBands(backend, ds.scale, { width: it.lrW, height: it.lrH, channels: 3, data }, { tile: TILE, halo: HALO, pixels: 8 })) {
      out.set(band.data as Uint8Array, band.y * band.width * 3);
    }
    await writeTarget(file, it.hrW, it.hrH, out);
    done += it.lrW * it.lrH;
    const now = performance.now();
    if (now - lastSay > 10_000 || i === todo.length - 1) {
      const eta = ((now - t1) / done) * (px - done) / 1000;
      say(`teacher targets: ${i + 1}/${todo.length} (${it.name})${i < todo.length - 1 ? `, about ${Math.ceil(eta / 60)} min left` : ''}`);
      lastSay = now;
    }
  }
  return { made: todo.length, reused, seconds: (performance.now() - t0) / 1000 };
}
