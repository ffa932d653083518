// Provenance of mvsr-trained model files: the training runs behind a file (its `lineage`, oldest
// first), what a fine-tune records of its start, and the teachers a model was distilled from.
// Pure functions of a file's name and metadata, shared by `mvsr train`, `mvsr models` and the
// web app's model list (the server), so the command line and the app name the same teachers.

/** A file's name for provenance; a run's exported model (`<run>/model.safetensors`, `best.safetensors`) keeps its run folder's name. */
export function fileLabel(file: string): string {
  const parts = file.split(/[\\/]/).filter((p) => p !== '');
  const last = parts.pop() ?? file;
  return /^(model|best)\.safetensors$/.test(last) && parts.length ? `${parts.pop()!}/${last}` : last;
}

/** What one mvsr training run records of itself: the keys of a lineage step. */
const STEP_KEYS = ['config', 'data', 'iterations', 'wall_time_s', 'seed'] as const;

/**
 * The overrides worth keeping in a file's provenance: all but those that only say where this
 * machine keeps its caches (`datasets.*.cache_dir=`), which change nothing in the result and
 * would publish a local path with every shipped model.
 */
export function provenanceOverrides(overrides: readonly string[]): string[] {
  return overrides.filter((o) => !/^datasets\.[^.=]+\.cache_dir=/.test(o.trim()));
}

/** A JSON list kept in a metadata value; undefined when there is none or the text is not one. */
function parseList(text: string | undefined): unknown[] | undefined {
  if (text === undefined) return undefined;
  try { const l = JSON.parse(text) as unknown; return Array.isArray(l) ? l : undefined; } catch { return undefined; }
}

/** A lineage step with `provenanceOverrides` applied to its overrides. */
function scrubStep(step: LineageStep): LineageStep {
  return Array.isArray(step.overrides) ? { ...step, overrides: provenanceOverrides(step.overrides.map(String)) } : step;
}

/**
 * A file's metadata with `provenanceOverrides` applied to its own `overrides` and to every step
 * of its `lineage`: for shipping a file trained before the trainer filtered them.
 */
export function scrubProvenance(metadata: Record<string, string>): Record<string, string> {
  const out = { ...metadata };
  const o = parseList(out.overrides), l = parseList(out.lineage);
  if (o) {
    const kept = provenanceOverrides(o.map(String));
    if (kept.length) out.overrides = JSON.stringify(kept); else delete out.overrides;
  }
  if (l) out.lineage = JSON.stringify((l as LineageStep[]).map(scrubStep));
  return out;
}

/** One earlier mvsr training run in a model's lineage (metadata `lineage`, oldest first). */
export interface LineageStep {
  file: string;
  config?: string;
  data?: string;
  iterations?: string;
  wall_time_s?: string;
  seed?: string;
  /** The run's command-line overrides (a JSON list in the file's metadata, parsed here). */
  overrides?: string[];
  distilled_from?: string;
}

/**
 * The mvsr training runs behind a model file, oldest first, the file's own run last: its
 * `lineage` (written since fine-tunes record it), else the one step its init_* keys name (files
 * from before), then itself. Empty for a file mvsr did not train (an official checkpoint).
 */
export function lineageOf(file: string, metadata: Record<string, string>, label = fileLabel(file)): LineageStep[] {
  if (metadata.trained_by !== 'mvsr') return [];
  const step = (f: string, get: (k: string) => string | undefined): LineageStep => {
    const r: LineageStep = { file: f };
    for (const k of STEP_KEYS) { const v = get(k); if (v !== undefined) r[k] = v; }
    const o = parseList(get('overrides')), d = get('distilled_from'); // overrides that are not a list are left out
    if (o) r.overrides = provenanceOverrides(o.map(String));
    if (d !== undefined) r.distilled_from = d;
    return r;
  };
  let before: LineageStep[] = [];
  if (metadata.lineage !== undefined) {
    // unreadable: start here; files written before the filter kept their cache paths: dropped here, so they go no further
    before = ((parseList(metadata.lineage) ?? []) as LineageStep[]).map(scrubStep);
  } else if (metadata.init_file !== undefined && metadata.init_trained_by === 'mvsr') {
    before = [step(metadata.init_file, (k) => metadata[`init_${k}`])];
  }
  return [...before, step(label, (k) => metadata[k])];
}

/**
 * What a fine-tuned model started from (`--init`), kept in the run state and written into the
 * exported model's metadata: as init_* the file's name and, for a model mvsr trained, that
 * model's config, data, iterations, wall time and seed; and as `lineage` (JSON) every mvsr run
 * behind it, oldest first (`lineageOf`), so a model fine-tuned in several runs states its whole
 * training, not only its last start.
 */
export function initProvenance(file: string, metadata: Record<string, string>, name = fileLabel(file)): Record<string, string> {
  const out: Record<string, string> = { init_file: name };
  for (const k of ['trained_by', ...STEP_KEYS]) {
    if (metadata[k] !== undefined) out[`init_${k}`] = metadata[k];
  }
  const lineage = lineageOf(file, metadata, name);
  if (lineage.length) out.lineage = JSON.stringify(lineage);
  return out;
}

/**
 * Every teacher a model was distilled from, oldest first, once each: those of the runs in its
 * lineage, then the file's own `distilled_from` (an official checkpoint has none). A caller
 * that has the lineage already passes it.
 */
export function teachersOf(file: string, metadata: Record<string, string>, lineage = lineageOf(file, metadata)): string[] {
  const all = [...lineage.map((l) => l.distilled_from), metadata.distilled_from];
  return [...new Set(all.filter((d): d is string => !!d))];
}
