// Training configs: YAML in the BasicSR shape (name, scale, network_g, datasets, train, val,
// logger), checked against one schema that also holds every default and its documentation.
// Every problem is reported, each naming the full key path, what was expected and what was
// found; unknown keys are errors (with the closest known key as a suggestion), and network_g's
// arguments are checked against the model registry. `key.path=value` overrides are applied
// to the YAML before it is checked, so an override is held to the same rules.
import { parseDocument, parse as parseYaml } from 'yaml';
import { getArch, listArchs, resolveArgs, type ArchArgs } from '../models/registry.js';
import type { SchedulerConfig } from './schedulers.js';

// ---- the resulting types ------------------------------------------------------------------

export type DatasetType = 'HRFolder' | 'PairedFolders' | 'VideoFolder';
export type LossType = 'L1Loss' | 'MSELoss' | 'CharbonnierLoss';
export type MetricType = 'calculate_psnr' | 'calculate_ssim';

export interface TrainDatasetConfig {
  name: string;
  /** HRFolder: LR made from each HR by MATLAB bicubic; PairedFolders: LR files next to HR files. */
  type: DatasetType;
  dataroot_gt: string[];
  /** PairedFolders only: one LR folder per dataroot_gt entry; null for HRFolder. */
  dataroot_lq: string[] | null;
  filename_tmpl: string;
  /** HR patch edge; always lq_size * scale. */
  gt_size: number;
  lq_size: number;
  use_hflip: boolean;
  use_rot: boolean;
  use_channel_shuffle: boolean;
  /** Candidate LR crops per patch, one kept with probability proportional to its gradient energy; 1: uniform crops. */
  mine_patches: number;
  /** HRFolder only: each HR image is also used downscaled by each of these factors (1: as it is). */
  hr_scales: number[];
  batch_size_per_gpu: number;
  prefetch: number;
  /** HRFolder only: where generated LR images are kept between runs; null: no cache. */
  cache_dir: string | null;
  /** VideoFolder: frames per training sequence (1 for image datasets). */
  num_frame: number;
  /** VideoFolder: play sequences backwards with p = 0.5. */
  flip_sequence: boolean;
  /** VideoFolder: clip-name patterns to keep / leave out; null: all. */
  include: string[] | null;
  exclude: string[] | null;
  /** VideoFolder: frames read per clip at most. */
  max_frames: number;
  /** HRFolder with num_frame > 1: the camera's largest pan (HR px), zoom and rotation (rad) per frame. */
  motion_shift: number;
  motion_zoom: number;
  motion_rotate: number;
}

export interface ValDatasetConfig {
  name: string;
  type: DatasetType;
  dataroot_gt: string;
  dataroot_lq: string | null;
  filename_tmpl: string;
  include: string[] | null;
  exclude: string[] | null;
  max_frames: number;
}

export interface OptimConfig {
  type: 'Adam' | 'AdamW';
  lr: number;
  weight_decay: number;
  betas: [number, number];
  eps: number;
}

export interface LossConfig {
  type: LossType;
  loss_weight: number;
  reduction: 'mean';
  /** CharbonnierLoss only (0 for the others). */
  eps: number;
}

export interface TrainSection {
  /** 0: no EMA model. */
  ema_decay: number;
  optim_g: OptimConfig;
  scheduler: SchedulerConfig;
  total_iter: number;
  /** Linear warm-up while iter < warmup_iter; -1 or 0: none. */
  warmup_iter: number;
  pixel_opt: LossConfig;
  /** ETDS: loss on the residual stream's own output, added to pixel_opt's; null: none. */
  aux_opt: LossConfig | null;
  /** Parameters whose names contain one of fix_keys get no update while iter < fix_iter; 0: none. */
  fix_iter: number;
  fix_keys: string[];
  /** Max global L2 norm of the gradients; null: no clipping. */
  grad_clip: number | null;
}

export interface MetricConfig {
  type: MetricType;
  crop_border: number;
  test_y_channel: boolean;
}

export interface ValSection {
  val_freq: number;
  metrics: Record<string, MetricConfig>;
}

/** Quantization-aware training: the int8 model of the --init weights, calibrated, then fine-tuned with quantization in the loop. */
export interface QuantSection {
  /** Folder of calibration images (HR; their LR made as evaluation makes it), or of clips for a video model. */
  calib: string;
  method: 'minmax' | 'percentile' | 'mse';
  /** Calibration patches (a video model: clips) and their LR edge. */
  samples: number;
  patch: number;
  /** A video model: the first `frames` frames of each calibration clip, run with the state carried. */
  frames: number;
  /** fixed: calibration's activation ranges are kept; learn: they are trained with the weights (asymmetric LSQ). */
  ranges: 'fixed' | 'learn';
  /** Peak learning rate of learned ranges (null: optim_g.lr). */
  range_lr: number | null;
  /** Move dominant centre weights into 1x1 convs of their own before quantizing (graph/quant.ts splitOutlierWeights). */
  outlier_split: boolean;
  /** What the int8 model's output learns: the HR patches, or the float model's own output (self-distillation). */
  target: 'hr' | 'float';
}

/** Distillation: an L1/MSE/Charbonnier loss to a teacher model's output on the same LR patches, added to pixel_opt's. */
export interface DistillSection {
  /** The teacher: a weights file (.safetensors with its arch, or .pth with `network`) or a shipped model name. */
  teacher: string;
  /** The teacher's architecture and arguments, for a .pth file (null: from the file's metadata). */
  network: ({ type: string } & ArchArgs) | null;
  /** The loss between the student's and the teacher's outputs (loss_weight scales it). */
  loss: LossConfig;
  /** Run the teacher once per whole training image before training and crop its output with the HR patches, instead of on every batch. */
  precompute: boolean;
}

export interface TrainConfig {
  name: string;
  scale: number;
  manual_seed: number;
  /** `type` plus the architecture's full argument set (registry defaults filled in). */
  network_g: { type: string } & ArchArgs;
  datasets: { train: TrainDatasetConfig; val: ValDatasetConfig | null };
  path: { experiments_root: string };
  train: TrainSection;
  /** null when there is no datasets.val. */
  val: ValSection | null;
  logger: { print_freq: number; save_checkpoint_freq: number };
  /** null: a float run; else quantization-aware training of the --init model (train.total_iter steps, datasets.train's patches). */
  quant: QuantSection | null;
  /** null: no teacher; else the student also learns the teacher's outputs. */
  distill: DistillSection | null;
  /** Where the config came from (a file path, or the name given to parseTrainConfig). */
  source: string;
  /** The key.path=value overrides applied to it, as given (recorded in exported models' provenance). */
  overrides: string[];
}

/** Architectures whose training form has an auxiliary output for train.aux_opt. */
export const AUX_OUTPUT_ARCHS: readonly string[] = ['ETDS'];

/** All problems found in one config, one line each (also the message, joined by newlines). */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(issues.join('\n'));
    this.name = 'ConfigError';
  }
}

// ---- checking context ---------------------------------------------------------------------

const BAD: unique symbol = Symbol('bad');
type Bad = typeof BAD;

class Ctx {
  readonly issues: string[] = [];
  /** Paths set by overrides, with the override text. */
  readonly overridden = new Map<string, string>();
  scale = 0;

  constructor(readonly source: string) {}

  err(path: string, message: string): Bad {
    let from = '';
    for (const [p, text] of this.overridden) {
      if (path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`) || p.startsWith(`${path}.`)) {
        from = ` (from override '${text}')`;
        break;
      }
    }
    this.issues.push(`mvsr: ${this.source}: ${message}${from}`);
    return BAD;
  }

  wrong(path: string, expect: string, v: unknown): Bad {
    const quoted = typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) && /number|integer/.test(expect);
    return this.err(path, `${path}: expected ${expect}, found ${describe(v)}${quoted ? ' (a quoted number: write it without quotes)' : ''}`);
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (null)';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return `${v}`;
  if (Array.isArray(v)) return `a list of ${v.length} item${v.length === 1 ? '' : 's'}`;
  return 'a mapping';
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

// ---- value checks -------------------------------------------------------------------------

interface Check<T> {
  /** What is expected, for messages and the schema description. */
  expect: string;
  parse(v: unknown, path: string, cx: Ctx): T | Bad;
  /** The mappings inside (for suggestions and the schema description); seg: a path segment for user-chosen names. */
  specs?: { label: string; seg?: string; spec: MapSpec }[];
}

const str = (nonEmpty = true): Check<string> => ({
  expect: nonEmpty ? 'a non-empty string' : 'a string',
  parse(v, p, cx) {
    return typeof v === 'string' && (!nonEmpty || v.length > 0) ? v : cx.wrong(p, this.expect, v);
  },
});

const bool: Check<boolean> = {
  expect: 'true or false',
  parse(v, p, cx) {
    return typeof v === 'boolean' ? v : cx.wrong(p, this.expect, v);
  },
};

function int(min: number, max = Infinity): Check<number> {
  const expect = min === 1 && max === Infinity ? 'a positive integer' : max === Infinity ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  return {
    expect,
    parse(v, p, cx) {
      return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : cx.wrong(p, expect, v);
    },
  };
}

/** A finite number in a range; `lo`/`hi` exclusive where the flags say so. */
function num(lo: number, hi = Infinity, loOpen = false, hiOpen = false): Check<number> {
  const parts: string[] = [];
  if (lo > -Infinity) parts.push(`${loOpen ? '>' : '>='} ${lo}`);
  if (hi < Infinity) parts.push(`${hiOpen ? '<' : '<='} ${hi}`);
  const expect = `a number${parts.length ? ` ${parts.join(' and ')}` : ''}`;
  return {
    expect,
    parse(v, p, cx) {
      const ok = typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
      return ok ? (v as number) : cx.wrong(p, expect, v);
    },
  };
}

function oneOf<T extends string>(values: readonly T[]): Check<T> {
  const expect = values.length === 1 ? `'${values[0]}'` : `one of ${values.join(', ')}`;
  return {
    expect,
    parse(v, p, cx) {
      if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
      const near = typeof v === 'string' ? closest(v, values) : undefined;
      return cx.err(p, `${p}: expected ${expect}, found ${describe(v)}${near ? ` (did you mean ${near}?)` : ''}`);
    },
  };
}

function list<T>(of: Check<T>, minLen = 0, len?: number): Check<T[]> {
  const size = len !== undefined ? ` of ${len} items` : minLen ? ` of at least ${minLen} item${minLen > 1 ? 's' : ''}` : '';
  const expect = `a list${size}, each ${of.expect}`;
  return {
    expect,
    parse(v, p, cx) {
      if (!Array.isArray(v) || v.length < minLen || (len !== undefined && v.length !== len)) return cx.wrong(p, expect, v);
      const out: T[] = [];
      let bad = false;
      v.forEach((x, i) => {
        const r = of.parse(x, `${p}[${i}]`, cx);
        if (r === BAD) bad = true;
        else out.push(r);
      });
      return bad ? BAD : out;
    },
  };
}

/** A string or a non-empty list of strings, as a list. */
const strOrList: Check<string[]> = {
  expect: 'a folder path or a list of folder paths',
  parse(v, p, cx) {
    if (typeof v === 'string' && v.length) return [v];
    if (Array.isArray(v) && v.length > 0) return list(str()).parse(v, p, cx);
    return cx.wrong(p, this.expect, v);
  },
};

function nullable<T>(c: Check<T>): Check<T | null> {
  return {
    expect: `${c.expect} or null`,
    specs: c.specs,
    parse(v, p, cx) {
      return v === null ? null : c.parse(v, p, cx);
    },
  };
}

// ---- mappings -----------------------------------------------------------------------------

interface Field {
  check: Check<unknown>;
  /** Absent: required. A function: computed from the rest of the config (see its doc). */
  default?: unknown;
  doc: string;
  /** Other spellings accepted for this key (BasicSR / ETDS names). */
  aliases?: string[];
}

interface MapSpec {
  fields: Record<string, Field>;
  /** Keys of other tools that mean nothing here, with what to do instead. */
  hints?: Record<string, string>;
}

const req = (check: Check<unknown>, doc: string, aliases?: string[]): Field => ({ check, doc, aliases });
const opt = (check: Check<unknown>, def: unknown, doc: string, aliases?: string[]): Field => ({ check, default: def, doc, aliases });

/** Marks a default computed after parsing (documented in the field's doc). */
const LATER = Symbol('computed later');
/** Marks an optional key with no default (absent from the result when not given). */
const ABSENT = Symbol('optional');

function parseMap(spec: MapSpec, v: unknown, path: string, cx: Ctx, otherVariants?: Map<string, string>, variantName?: string): Record<string, unknown> | Bad {
  if (!isMap(v)) return cx.wrong(path || '(top level)', 'a mapping of keys', v);
  const canon = new Map<string, string>();
  for (const [k, f] of Object.entries(spec.fields)) {
    canon.set(k, k);
    for (const a of f.aliases ?? []) canon.set(a, k);
  }
  const given = new Map<string, { key: string; value: unknown }>();
  let bad = false;
  for (const [k, value] of Object.entries(v)) {
    const c = canon.get(k);
    if (c === undefined) {
      bad = true;
      unknownKey(spec, k, path, cx, otherVariants, variantName);
      continue;
    }
    const prev = given.get(c);
    if (prev) {
      // an override replaces the file's value under either spelling
      const pFrom = cx.overridden.has(join(path, prev.key)), kFrom = cx.overridden.has(join(path, k));
      if (kFrom && !pFrom) given.set(c, { key: k, value });
      else if (!(pFrom && !kFrom)) {
        bad = true;
        cx.err(join(path, k), `${join(path, prev.key)} and ${join(path, k)} are the same setting; give only one`);
      }
      continue;
    }
    given.set(c, { key: k, value });
  }
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(spec.fields)) {
    const g = given.get(k);
    if (g === undefined) {
      if (!('default' in f)) {
        bad = true;
        cx.err(join(path, k), `missing required key ${join(path, k)} (${f.check.expect})`);
      } else if (f.default !== LATER && f.default !== ABSENT) {
        // defaults go through the same check, so a default mapping gets its own defaults
        const r = f.check.parse(structuredClone(f.default), join(path, k), cx);
        if (r === BAD) bad = true;
        else out[k] = r;
      }
      continue;
    }
    const r = f.check.parse(g.value, join(path, g.key), cx);
    if (r === BAD) bad = true;
    else out[k] = r;
  }
  return bad ? BAD : out;
}

function unknownKey(spec: MapSpec, key: string, path: string, cx: Ctx, otherVariants?: Map<string, string>, variantName?: string): void {
  const full = join(path, key);
  const hint = spec.hints?.[key];
  if (hint) {
    cx.err(full, `unknown key ${full}: ${hint}`);
    return;
  }
  const other = otherVariants?.get(key);
  if (other) {
    cx.err(full, `unknown key ${full}: ${key} is an option of ${other}, not of ${variantName}`);
    return;
  }
  const names = Object.entries(spec.fields).flatMap(([k, f]) => [k, ...(f.aliases ?? [])]);
  const near = closest(key, names);
  if (near) {
    cx.err(full, `unknown key ${full} (did you mean ${join(path, near)}?)`);
    return;
  }
  const elsewhere = KNOWN_PATHS.filter((p) => p.endsWith(`.${key}`) || p === key);
  if (elsewhere.length) {
    cx.err(full, `unknown key ${full} (did you mean ${elsewhere.slice(0, 2).join(' or ')}?)`);
    return;
  }
  cx.err(full, `unknown key ${full} (known keys here: ${names.join(', ')})`);
}

/** A mapping whose `type` picks one of several field sets. */
function tagged(variants: Record<string, MapSpec>, defaultType?: string): Check<Record<string, unknown>> {
  const types = Object.keys(variants);
  const owner = new Map<string, string>();
  for (const [t, s] of Object.entries(variants)) for (const k of Object.keys(s.fields)) if (!owner.has(k)) owner.set(k, t);
  return {
    expect: `a mapping with type: ${types.join(' | ')}`,
    specs: Object.entries(variants).map(([t, spec]) => ({ label: `type: ${t}`, spec })),
    parse(v, p, cx) {
      if (!isMap(v)) return cx.wrong(p, this.expect, v);
      const t = v.type ?? defaultType;
      if (t === undefined) return cx.err(join(p, 'type'), `missing required key ${join(p, 'type')} (one of ${types.join(', ')})`);
      const type = oneOf(types).parse(t, join(p, 'type'), cx);
      if (type === BAD) return BAD;
      const spec = variants[type]!;
      const others = new Map([...owner].filter(([k]) => !(k in spec.fields)));
      const r = parseMap(spec, { ...v, type }, p, cx, others, type);
      return r;
    },
  };
}

/** Mapping of user-chosen names to values of one kind (val.metrics). */
function mapOf<T>(of: Check<T>): Check<Record<string, T>> {
  return {
    expect: `a mapping of names to ${of.expect}`,
    specs: (of.specs ?? []).map((x) => ({ ...x, seg: '<name>' })),
    parse(v, p, cx) {
      if (!isMap(v)) return cx.wrong(p, this.expect, v);
      const out: Record<string, T> = {};
      let bad = false;
      for (const [k, x] of Object.entries(v)) {
        const r = of.parse(x, join(p, k), cx);
        if (r === BAD) bad = true;
        else out[k] = r;
      }
      return bad ? BAD : out;
    },
  };
}

const mapping = (spec: MapSpec): Check<Record<string, unknown>> => ({
  expect: 'a mapping',
  specs: [{ label: '', spec }],
  parse: (v, p, cx) => parseMap(spec, v, p, cx),
});

// ---- the schema: every key, its default and its meaning -------------------------------------

const datasetTypes = ['HRFolder', 'PairedFolders', 'VideoFolder'] as const;

const trainDataset: MapSpec = {
  fields: {
    name: opt(str(), 'train', 'a label for logs'),
    type: req(oneOf(datasetTypes), 'HRFolder: HR images only, LR made by MATLAB bicubic (cached in cache_dir); PairedFolders: HR and LR files; VideoFolder: clips (frame folders, video files), LR made per frame, for video models'),
    dataroot_gt: req(strOrList, 'HR image folder(s), searched recursively (VideoFolder: roots of clips); relative paths are relative to the working directory, as in BasicSR'),
    dataroot_lq: opt(nullable(strOrList), null, 'PairedFolders: LR folder(s), one per dataroot_gt entry'),
    filename_tmpl: opt(str(), '{}', "PairedFolders: LR file name from the HR name without extension ('{}' is replaced), e.g. '{}x4'"),
    gt_size: opt(int(1), LATER, 'HR patch edge; give this or lq_size (gt_size = lq_size * scale)'),
    lq_size: opt(int(1), LATER, 'LR patch edge (the ETDS configs use this); give this or gt_size'),
    use_hflip: opt(bool, true, 'random horizontal flips'),
    use_rot: opt(bool, true, "random vertical flips and transposes (BasicSR's rotation)"),
    use_channel_shuffle: opt(bool, false, 'random RGB channel permutations', ['use_channels_shuffle']),
    mine_patches: opt(int(1), 1, 'patch mining: candidate LR crops drawn per patch, one kept with probability proportional to its gradient energy (sum of |horizontal| and |vertical| differences of R+G+B, plus 1), so textured crops are trained on more often than flat ones; 1: uniform crops, as BasicSR; single frames only (num_frame 1)'),
    hr_scales: opt(list(num(0, 1, true), 1), [1], 'HRFolder: the training set holds every HR image once per factor, downscaled by it (MATLAB bicubic) before its LR is made, e.g. [1, 0.5]: the same photos at a scale where a patch holds more detail; a smaller image is left out as usual'),
    batch_size_per_gpu: opt(int(1), 16, 'patches per iteration', ['batch_size']),
    prefetch: opt(int(0), 3, 'batches prepared ahead by the loader (0: none)'),
    cache_dir: opt(nullable(str()), null, 'HRFolder: folder keeping generated LR images between runs'),
    num_frame: opt(int(1), 1, 'VideoFolder: frames per training sequence (backpropagation through all of them)'),
    flip_sequence: opt(bool, false, 'VideoFolder: play a sequence backwards with p = 0.5'),
    include: opt(nullable(strOrList), null, "VideoFolder: only clips whose name matches one of these patterns (* and ?), e.g. ['00002_*']"),
    exclude: opt(nullable(strOrList), null, "VideoFolder: leave out clips matching these patterns, e.g. ['00001_*'] (a held-out group)"),
    max_frames: opt(int(1), 100, 'VideoFolder: frames read per clip at most (memory: 6 bytes per HR pixel per frame)'),
    motion_shift: opt(num(0), 2, 'HRFolder sequences (num_frame > 1, stills filmed by a moving camera): largest pan per frame, HR pixels'),
    motion_zoom: opt(num(0), 0.01, 'HRFolder sequences: largest zoom change per frame (relative)'),
    motion_rotate: opt(num(0), 0.005, 'HRFolder sequences: largest rotation per frame (radians)'),
  },
  hints: {
    io_backend: 'mvsr reads image folders directly; remove it',
    num_worker_per_gpu: 'batches are prepared by one loader worker; use prefetch for its depth',
    use_shuffle: 'patches are always sampled at random; remove it',
    dataset_enlarge_ratio: 'training is counted in iterations (train.total_iter); remove it',
    prefetch_mode: 'use prefetch (batches prepared ahead) instead',
    pin_memory: 'there is no GPU memory to pin; remove it',
    use_vflip: "use_rot covers vertical flips (BasicSR's rotation = vflip + transpose)",
    meta_info_file: 'every image under dataroot_gt is used; remove it',
  },
};

const valDataset: MapSpec = {
  fields: {
    name: opt(str(), LATER, "a label for logs (default: dataroot_gt's folder name)"),
    type: req(oneOf(datasetTypes), 'HRFolder: LR made from the HR (mod-crop + MATLAB bicubic, the paper protocol); PairedFolders: LR files'),
    dataroot_gt: req(str(), 'HR image folder'),
    dataroot_lq: opt(nullable(str()), null, 'PairedFolders: LR folder'),
    filename_tmpl: opt(str(), '{}', 'PairedFolders: LR file name template'),
    include: opt(nullable(strOrList), null, 'VideoFolder: only clips matching these patterns'),
    exclude: opt(nullable(strOrList), null, 'VideoFolder: leave out clips matching these patterns'),
    max_frames: opt(int(1), 100, 'VideoFolder: frames read per clip at most'),
  },
  hints: { io_backend: 'mvsr reads image folders directly; remove it' },
};

const optim: MapSpec = {
  fields: {
    type: opt(oneOf(['Adam', 'AdamW'] as const), 'Adam', 'Adam (L2 in the gradient) or AdamW (decoupled weight decay), as in torch.optim'),
    lr: req(num(0, Infinity, true), 'base learning rate'),
    weight_decay: opt(num(0), 0, 'weight decay'),
    betas: opt(list(num(0, 1, false, true), 2, 2), [0.9, 0.999], 'Adam betas (torch default [0.9, 0.999]; BasicSR and ETDS configs use [0.9, 0.99])'),
    eps: opt(num(0, Infinity, true), 1e-8, 'Adam epsilon'),
  },
};

const nonNegInts = list(int(0));
const scheduler = tagged({
  MultiStepLR: {
    fields: {
      type: req(oneOf(['MultiStepLR'] as const), 'BasicSR MultiStepRestartLR'),
      milestones: opt(nonNegInts, [], 'iterations after which the lr is multiplied by gamma (empty: constant lr)'),
      gamma: opt(num(0, Infinity, true), 0.1, 'factor applied at each milestone'),
      restarts: opt(nonNegInts, [0], 'iterations where the lr restarts at lr * restart weight'),
      restart_weights: opt(list(num(0)), [1], 'one weight per restart'),
    },
  },
  CosineAnnealingRestartLR: {
    fields: {
      type: req(oneOf(['CosineAnnealingRestartLR'] as const), 'BasicSR CosineAnnealingRestartLR'),
      periods: opt(list(int(1), 1), LATER, 'length of each cosine cycle (default: one cycle of train.total_iter)'),
      restart_weights: opt(list(num(0)), LATER, 'peak of each cycle relative to lr (default: 1 for each period)'),
      eta_min: opt(num(0), 0, 'lr at the end of each cycle'),
    },
  },
}, 'MultiStepLR');

function lossVariant(type: string, doc: string, withEps: boolean): MapSpec {
  const fields: Record<string, Field> = {
    type: req(oneOf([type]), doc),
    loss_weight: opt(num(0), 1, 'weight of this loss in the total'),
    reduction: opt(oneOf(['mean'] as const), 'mean', 'mean over all elements (the only reduction the engine has)'),
  };
  if (withEps) fields.eps = opt(num(0, Infinity, true), 1e-12, "sqrt((x - y)^2 + eps), BasicSR's default eps");
  return { fields };
}
const lossVariants = {
  L1Loss: lossVariant('L1Loss', 'mean |x - y|', false),
  MSELoss: lossVariant('MSELoss', 'mean (x - y)^2', false),
  CharbonnierLoss: lossVariant('CharbonnierLoss', 'mean sqrt((x - y)^2 + eps)', true),
};
const loss = tagged(lossVariants);

const trainSection: MapSpec = {
  fields: {
    ema_decay: opt(num(0, 1, false, true), 0, 'model EMA decay, e.g. 0.999 (0: no EMA model)'),
    optim_g: req(mapping(optim), 'the optimizer'),
    scheduler: opt(scheduler, { type: 'MultiStepLR' }, 'the lr schedule (default: constant lr)'),
    total_iter: req(int(1), 'iterations to train'),
    warmup_iter: opt(int(-1), -1, 'linear warm-up while iter < warmup_iter (-1 or 0: none)'),
    pixel_opt: opt(loss, { type: 'L1Loss' }, 'the loss between output and HR'),
    aux_opt: opt(nullable(loss), null,
      "ETDS: a loss between the residual stream's output and HR, added to pixel_opt's (type defaults to pixel_opt's)"),
    fix_iter: opt(int(0), 0, 'parameters matching fix_keys get no update while iter < fix_iter (0: none)'),
    fix_keys: opt(list(str()), [], 'parameter-name substrings frozen for the first fix_iter iterations'),
    grad_clip: opt(nullable(num(0, Infinity, true)), null, 'max global L2 norm of the gradients (null: no clipping)'),
    fixed_residual_model_iters: opt(int(0), ABSENT,
      "ETDS spelling: fix_iter with fix_keys ['residual'] (0 in an ETDS config freezes nothing here)"),
    interpolation_loss_weight: opt(num(0), ABSENT,
      "ETDS spelling: aux_opt of pixel_opt's type with loss_weight = this * pixel_opt.loss_weight (0: none)"),
  },
  hints: {
    losses: 'give the loss as train.pixel_opt (and the ETDS residual loss as train.aux_opt)',
    fix_flow: 'use fix_iter with fix_keys',
  },
};

const metric = tagged({
  calculate_psnr: {
    fields: {
      type: req(oneOf(['calculate_psnr'] as const), 'PSNR, BasicSR-compatible'),
      crop_border: opt(int(0), LATER, 'pixels cropped from each edge (default: scale)'),
      test_y_channel: opt(bool, false, "on the Y channel of BasicSR's rgb2ycbcr (BasicSR's default: false, RGB)"),
    },
  },
  calculate_ssim: {
    fields: {
      type: req(oneOf(['calculate_ssim'] as const), 'SSIM, BasicSR-compatible'),
      crop_border: opt(int(0), LATER, 'pixels cropped from each edge (default: scale)'),
      test_y_channel: opt(bool, false, 'on the Y channel (default false, RGB)'),
    },
  },
});

const valSection: MapSpec = {
  fields: {
    val_freq: opt(int(1), 5000, 'validate every this many iterations (and at the end)'),
    metrics: opt(mapOf(metric), LATER, 'default: psnr and ssim on Y with crop_border = scale (the paper protocol)'),
  },
  hints: {
    save_img: 'validation images are not saved during training; use `mvsr upscale` on a checkpoint',
    pbar: 'progress goes to stderr; remove it',
    suffix: 'validation images are not saved; remove it',
  },
};

const loggerSection: MapSpec = {
  fields: {
    print_freq: opt(int(1), 100, 'log a training line every this many iterations'),
    save_checkpoint_freq: opt(int(1), 5000, 'write a checkpoint every this many iterations'),
  },
  hints: {
    use_tb_logger: 'mvsr logs JSONL (plot it with plotTrainingLog); remove it',
    wandb: 'mvsr logs JSONL; remove it',
  },
};

const networkG: Check<Record<string, unknown>> = {
  expect: 'a mapping with type: <architecture> and its arguments',
  parse(v, p, cx) {
    if (!isMap(v)) return cx.wrong(p, this.expect, v);
    if (v.type === undefined) return cx.err(`${p}.type`, `missing required key ${p}.type (one of ${listArchs().join(', ')})`);
    const type = oneOf(listArchs()).parse(v.type, `${p}.type`, cx);
    if (type === BAD) return BAD;
    const defaults = getArch(type).defaults;
    const args: ArchArgs = {};
    let bad = false;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'type') continue;
      const full = `${p}.${k}`;
      if (!(k in defaults)) {
        bad = true;
        const near = closest(k, Object.keys(defaults));
        cx.err(full, `unknown key ${full}: ${type} has no argument ${k} (${near ? `did you mean ${p}.${near}?` : `its arguments: ${Object.keys(defaults).join(', ')}`})`);
        continue;
      }
      const d = defaults[k];
      const r = typeof d === 'number' ? int(1).parse(x, full, cx) : typeof d === 'string' ? str().parse(x, full, cx) : x;
      if (r === BAD) bad = true;
      else args[k] = r;
    }
    if (bad) return BAD;
    // the top-level scale fills the architecture's scale argument when it is not given
    const scaleKey = ['upscale', 'scale'].find((k) => k in defaults);
    if (scaleKey && cx.scale > 0) {
      if (args[scaleKey] === undefined) args[scaleKey] = cx.scale;
      else if (args[scaleKey] !== cx.scale) {
        return cx.err(`${p}.${scaleKey}`, `${p}.${scaleKey} is ${String(args[scaleKey])} but scale is ${cx.scale}; they must agree`);
      }
    }
    try {
      return { type, ...resolveArgs(type, args) };
    } catch (e) {
      return cx.err(p, `${p}: ${(e as Error).message.replace(/^mvsr: /, '')}`);
    }
  },
};

const quantSection: MapSpec = {
  fields: {
    calib: req(str(), 'folder of calibration images (HR; LR made by MATLAB bicubic as in evaluation), or of clips for a video model'),
    method: opt(oneOf(['minmax', 'percentile', 'mse'] as const), 'mse', 'how each int8 range is chosen: the extremes, the central 99.99%, or the least round-trip error'),
    samples: opt(int(1), 32, 'calibration patches (a video model: clips, one patch each)'),
    patch: opt(int(8), 64, 'calibration patch edge (LR pixels)'),
    frames: opt(int(1), 8, 'a video model: frames of each calibration clip, run with the state carried'),
    ranges: opt(oneOf(['fixed', 'learn'] as const), 'fixed', "the activation ranges: calibration's kept (fixed), or trained with the weights (learn: asymmetric LSQ)"),
    range_lr: opt(nullable(num(0, Infinity, true)), null, 'peak learning rate of learned ranges (default: optim_g.lr)'),
    target: opt(oneOf(['hr', 'float'] as const), 'hr', "what the int8 model's output learns: the HR patches (hr), or the float model's own output on the same LR patches (float)"),
    outlier_split: opt(bool, true, "move a channel's dominant centre weight (>= 4x its others, e.g. ETDS's image-carrying channels) into a 1x1 conv of its own before quantizing (mvsr quantize --no-outlier-split: false)"),
  },
};

const distillSection: MapSpec = {
  fields: {
    teacher: req(str(), 'the teacher: a weights file (.safetensors, or .pth with network) or a shipped model name, run without gradients through its deploy graph'),
    network: opt(nullable(networkG), null, "the teacher's architecture and arguments, for a .pth file (type: ... as in network_g)"),
    loss: opt(loss, { type: 'L1Loss' }, "the loss between the student's and the teacher's outputs, added to pixel_opt's"),
    precompute: opt(bool, false, "run the teacher once on every whole training image before the first step (kept in datasets.train.cache_dir, else the run folder) and crop its uint8 output with the HR patches, instead of running it on every batch: a step then costs what it costs without a teacher; still images only"),
  },
};

const topLevel: MapSpec = {
  fields: {
    name: req(str(), 'the run name (experiments/<name>)'),
    scale: req(int(1, 16), 'upscaling factor'),
    manual_seed: opt(int(0), 0, 'seed of weight init and batch sampling'),
    network_g: req(networkG, 'the architecture (a model registry name) and its arguments'),
    datasets: req(mapping({
      fields: {
        train: req(mapping(trainDataset), 'training data'),
        val: opt(nullable(mapping(valDataset)), null, 'validation data (optional)'),
      },
    }), 'training and validation data'),
    path: opt(mapping({ fields: { experiments_root: opt(str(), LATER, 'run folder (default: experiments/<name>)') } }), {}, 'output folders'),
    train: req(mapping(trainSection), 'training settings'),
    val: opt(nullable(mapping(valSection)), LATER, 'validation settings (default when datasets.val is given: see its keys)'),
    logger: opt(mapping(loggerSection), {}, 'logging and checkpoints'),
    quant: opt(nullable(mapping(quantSection)), null, 'quantization-aware training of the --init model into an int8 one (optional)'),
    distill: opt(nullable(mapping(distillSection)), null, "distillation: the student also learns a teacher model's outputs (optional)"),
  },
  hints: {
    model_type: 'the training recipe follows network_g and train.*; remove it',
    num_gpu: 'mvsr trains on the CPU engine; remove it',
    dist_params: 'mvsr trains in one process; remove it',
    is_train: 'remove it',
  },
};


// ---- schema description and suggestions ---------------------------------------------------

/** Every key path of the schema (`<name>` for user-chosen names), for "did you mean" across levels. */
const KNOWN_PATHS: string[] = [];
const SCHEMA_LINES: string[] = [];
(function walk(spec: MapSpec, path: string, indent: string): void {
  for (const [k, f] of Object.entries(spec.fields)) {
    const p = join(path, k);
    if (!KNOWN_PATHS.includes(p)) KNOWN_PATHS.push(p);
    const def = !('default' in f) ? 'required' : f.default === LATER ? 'computed default' : f.default === ABSENT ? 'optional' : `default ${JSON.stringify(f.default)}`;
    const alias = f.aliases?.length ? `; also spelled ${f.aliases.join(', ')}` : '';
    SCHEMA_LINES.push(`${indent}${k}: ${f.check.expect} (${def}${alias}): ${f.doc}`);
    const subs = f.check.specs ?? [];
    const seg = subs[0]?.seg;
    if (seg) SCHEMA_LINES.push(`${indent}  ${seg}:`);
    const inner = `${indent}  ${seg ? '  ' : ''}`;
    for (const sub of subs) {
      if (subs.length > 1) SCHEMA_LINES.push(`${inner}[${sub.label}]`);
      walk(sub.spec, seg ? join(p, seg) : p, subs.length > 1 ? `${inner}  ` : inner);
    }
  }
})(topLevel, '', '');

/** The schema as indented text: every key, what it takes, its default and what it does. */
export function describeConfigSchema(): string {
  return SCHEMA_LINES.join('\n');
}

/** Optimal-string-alignment distance (a transposition counts as one edit). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate nearest to `key` when it is near enough to be a typo of it. */
export function closest(key: string, candidates: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  const limit = k.length <= 3 ? 1 : k.length <= 6 ? 2 : 3;
  let best: string | undefined, bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(k, c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return bestD <= limit ? best : undefined;
}

// ---- overrides ------------------------------------------------------------------------------

/** Apply `a.b.c=value` strings (value: a YAML scalar or flow collection) to the raw document. */
function applyOverrides(raw: Record<string, unknown>, overrides: readonly string[], cx: Ctx): void {
  for (const text of overrides) {
    const eq = text.indexOf('=');
    const keyPath = eq > 0 ? text.slice(0, eq).trim() : '';
    const keys = keyPath.split('.');
    if (!keyPath || keys.some((k) => !k)) {
      cx.issues.push(`mvsr: ${cx.source}: override '${text}': expected key.path=value, e.g. train.total_iter=1000`);
      continue;
    }
    let value: unknown;
    try {
      value = parseYaml(text.slice(eq + 1));
    } catch (e) {
      cx.issues.push(`mvsr: ${cx.source}: override '${text}': the value is not valid YAML (${(e as Error).message.split('\n')[0]})`);
      continue;
    }
    let node: Record<string, unknown> = raw;
    let ok = true;
    for (let i = 0; i < keys.length - 1; i++) {
      const k = keys[i]!;
      const next = node[k];
      if (next === undefined || next === null) node[k] = {};
      else if (!isMap(next)) {
        cx.issues.push(`mvsr: ${cx.source}: override '${text}': ${keys.slice(0, i + 1).join('.')} is ${describe(next)}, not a mapping`);
        ok = false;
        break;
      }
      node = node[k] as Record<string, unknown>;
    }
    if (!ok) continue;
    node[keys[keys.length - 1]!] = value ?? null;
    cx.overridden.set(keyPath, text);
  }
}

// ---- parsing ------------------------------------------------------------------------------

function yamlDocument(text: string, cx: Ctx): Record<string, unknown> | Bad {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    for (const e of doc.errors.slice(0, 5)) cx.issues.push(`mvsr: ${cx.source}: invalid YAML: ${e.message.split('\n')[0]!.replace(/:\s*$/, '')}`);
    return BAD;
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // toJS throws (ReferenceError) on an alias used before its anchor or too many alias expansions
    cx.issues.push(`mvsr: ${cx.source}: invalid YAML: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
    return BAD;
  }
  if (raw === null || raw === undefined) {
    cx.issues.push(`mvsr: ${cx.source}: the file is empty`);
    return BAD;
  }
  if (!isMap(raw)) {
    cx.issues.push(`mvsr: ${cx.source}: expected a mapping of keys at the top level, found ${describe(raw)}`);
    return BAD;
  }
  return raw;
}

/**
 * Parse and check a training config given as YAML text. `source` names it in messages (a file
 * path). Throws a ConfigError listing every problem found.
 */
export function parseTrainConfig(text: string, source = 'config', overrides: readonly string[] = []): TrainConfig {
  const cx = new Ctx(source);
  const raw = yamlDocument(text, cx);
  if (raw === BAD) throw new ConfigError(cx.issues);
  applyOverrides(raw, overrides, cx);
  if (cx.issues.length) throw new ConfigError(cx.issues);
  preprocess(raw, cx);
  const parsed = parseMap(topLevel, raw, '', cx);
  if (parsed === BAD || cx.issues.length) throw new ConfigError(cx.issues.length ? cx.issues : [`mvsr: ${source}: invalid config`]);
  const cfg = finish(parsed, raw, cx);
  if (cx.issues.length) throw new ConfigError(cx.issues);
  return cfg;
}

/** Steps that need other parts of the raw document before the schema check. */
function preprocess(raw: Record<string, unknown>, cx: Ctx): void {
  const s = raw.scale;
  if (typeof s === 'number' && Number.isInteger(s) && s >= 1) cx.scale = s;
  const train = raw.train;
  if (isMap(train) && isMap(train.aux_opt) && train.aux_opt.type === undefined) {
    // aux_opt without a type uses pixel_opt's loss
    const pix = isMap(train.pixel_opt) ? train.pixel_opt.type : undefined;
    train.aux_opt = { ...train.aux_opt, type: typeof pix === 'string' ? pix : 'L1Loss' };
  }
}

type Obj = Record<string, unknown>;

/** Computed defaults and the checks that involve more than one key. */
function finish(c: Obj, raw: Obj, cx: Ctx): TrainConfig {
  const scale = c.scale as number;
  const name = c.name as string;
  const network = c.network_g as TrainConfig['network_g'];
  const datasets = c.datasets as { train: Obj; val: Obj | null };
  const rawTrain = raw.train as Obj;

  // training data
  const td = datasets.train;
  const p = 'datasets.train';
  // an override of one patch size replaces the file's other one
  const ovGt = cx.overridden.has(`${p}.gt_size`), ovLq = cx.overridden.has(`${p}.lq_size`);
  if (ovLq && !ovGt) delete td.gt_size;
  if (ovGt && !ovLq) delete td.lq_size;
  if (td.gt_size === undefined && td.lq_size === undefined) {
    cx.err(`${p}.gt_size`, `missing required key ${p}.gt_size (the HR patch edge, a positive integer; or give ${p}.lq_size)`);
  } else if (td.gt_size !== undefined) {
    const gt = td.gt_size as number;
    if (gt % scale !== 0) cx.err(`${p}.gt_size`, `${p}.gt_size: expected a multiple of scale (${scale}), found the number ${gt}`);
    else if (td.lq_size !== undefined && (td.lq_size as number) * scale !== gt) {
      cx.err(`${p}.lq_size`, `${p}.lq_size (${String(td.lq_size)}) times scale (${scale}) must equal ${p}.gt_size (${gt}); give only one`);
    } else td.lq_size = gt / scale;
  } else td.gt_size = (td.lq_size as number) * scale;
  checkLqFolders(td, p, cx, (td.dataroot_gt as string[]).length);
  if (td.type === 'PairedFolders' && td.cache_dir !== null) {
    cx.err(`${p}.cache_dir`, `${p}.cache_dir applies to HRFolder (it keeps the generated LR images); PairedFolders reads its LR files`);
  }
  const videoArch = typeof network.type === 'string' && listArchs().includes(network.type) && getArch(network.type).kind === 'video';
  if (td.type === 'VideoFolder' && td.cache_dir !== null) cx.err(`${p}.cache_dir`, `${p}.cache_dir applies to HRFolder; VideoFolder makes its LR frames in memory`);
  if (td.type !== 'VideoFolder') {
    for (const k of ['include', 'exclude'] as const) if (td[k] !== null) cx.err(`${p}.${k}`, `${p}.${k} selects clips of a VideoFolder dataset; remove it`);
  }
  if (td.type === 'PairedFolders' && (td.num_frame as number) !== 1) cx.err(`${p}.num_frame`, `${p}.num_frame: sequences need type: VideoFolder (clips) or HRFolder (stills filmed by a moving camera)`);
  if (videoArch && (td.type === 'PairedFolders' || (td.type === 'HRFolder' && (td.num_frame as number) < 2))) {
    cx.err(`${p}.type`, `${p}.type: ${String(network.type)} is a video model: train it on type: VideoFolder (clips), or on HRFolder stills with num_frame > 1 (camera motion)`);
  }
  const hs = td.hr_scales as number[];
  if (td.type !== 'HRFolder' && (hs.length !== 1 || hs[0] !== 1)) cx.err(`${p}.hr_scales`, `${p}.hr_scales downscales the HR images of an HRFolder dataset; ${String(td.type)} reads its LR as given: remove it`);
  else if (new Set(hs).size !== hs.length) cx.err(`${p}.hr_scales`, `${p}.hr_scales lists ${hs.join(', ')}: a factor appears twice`);
  if ((td.mine_patches as number) > 1 && (td.type === 'VideoFolder' || (td.num_frame as number) > 1)) {
    cx.err(`${p}.mine_patches`, `${p}.mine_patches picks crops of single frames; sequences (num_frame ${String(td.num_frame)}) are cropped uniformly: remove it`);
  }
  if (!videoArch && (td.type === 'VideoFolder' || (td.num_frame as number) > 1)) {
    cx.err(td.type === 'VideoFolder' ? `${p}.type` : `${p}.num_frame`, `${p}.${td.type === 'VideoFolder' ? 'type: VideoFolder trains' : 'num_frame: sequences train'} video models; ${String(network.type)} is an image model (use HRFolder, e.g. on the frames)`);
  }

  // validation data and settings
  const vd = datasets.val;
  if (vd) {
    if (vd.name === undefined) vd.name = String(vd.dataroot_gt).replace(/[\\/]+$/, '').split(/[\\/]/).pop() || 'val';
    checkLqFolders(vd, 'datasets.val', cx, 1);
    if ((vd.type === 'VideoFolder') !== videoArch) {
      cx.err('datasets.val.type', videoArch ? `datasets.val.type: ${String(network.type)} is a video model: validate it on type: VideoFolder (clips)` : 'datasets.val.type: VideoFolder validates video models; use HRFolder or PairedFolders');
    }
  }
  let val = c.val as Obj | null | undefined;
  if (val && !vd) cx.err('val', 'val: there is no datasets.val to validate on (add datasets.val or remove val)');
  if (vd && !val) val = parseMap(valSection, {}, 'val', cx) as Obj;
  if (!vd) val = null;
  if (val) {
    if (val.metrics === undefined) {
      val.metrics = {
        psnr: { type: 'calculate_psnr', crop_border: scale, test_y_channel: true },
        ssim: { type: 'calculate_ssim', crop_border: scale, test_y_channel: true },
      };
    }
    for (const m of Object.values(val.metrics as Record<string, Obj>)) if (m.crop_border === undefined) m.crop_border = scale;
  }

  // training settings
  const t = c.train as Obj;
  const total = t.total_iter as number;
  const sch = t.scheduler as Obj;
  if (sch.type === 'CosineAnnealingRestartLR') {
    if (sch.periods === undefined) sch.periods = [total];
    const periods = sch.periods as number[];
    if (sch.restart_weights === undefined) sch.restart_weights = periods.map(() => 1);
    const w = sch.restart_weights as number[];
    if (w.length !== periods.length) {
      cx.err('train.scheduler.restart_weights', `train.scheduler.restart_weights: expected ${periods.length} weights (one per period in train.scheduler.periods), found ${w.length}`);
    }
    const sum = periods.reduce((a, b) => a + b, 0);
    if (sum < total) cx.err('train.scheduler.periods', `train.scheduler.periods: the cycles add up to ${sum} iterations, fewer than train.total_iter (${total})`);
  } else {
    const r = sch.restarts as number[], w = sch.restart_weights as number[];
    if (r.length !== w.length) {
      cx.err('train.scheduler.restart_weights', `train.scheduler.restart_weights: expected ${r.length} weights (one per restart in train.scheduler.restarts), found ${w.length}`);
    }
  }
  const pixel = t.pixel_opt as Obj;
  if (pixel.eps === undefined) pixel.eps = 0;
  const distill = c.distill as Obj | null | undefined;
  if (distill) {
    const dl = distill.loss as Obj;
    if (dl.eps === undefined) dl.eps = 0;
    if (c.quant) cx.err('distill', 'distill: and quant: in one run are not supported: distil into a float model first, then quantize it (quant: with --init)');
    const td = (c.datasets as Obj).train as Obj;
    if (distill.precompute && (td.type === 'VideoFolder' || (td.num_frame as number) > 1)) {
      cx.err('distill.precompute', `distill.precompute keeps the teacher's output on whole still images; sequences (num_frame ${String(td.num_frame)}) run the teacher on every batch: remove it`);
    }
  }

  // ETDS's spellings: fixed_residual_model_iters and interpolation_loss_weight
  if (t.fixed_residual_model_iters !== undefined) {
    if ('fix_iter' in rawTrain || 'fix_keys' in rawTrain) {
      cx.err('train.fixed_residual_model_iters', 'train.fixed_residual_model_iters is the ETDS spelling of train.fix_iter (with fix_keys [residual]); give only one of them');
    } else {
      t.fix_iter = t.fixed_residual_model_iters;
      t.fix_keys = (t.fix_iter as number) > 0 ? ['residual'] : [];
    }
  }
  if (t.interpolation_loss_weight !== undefined) {
    if (rawTrain.aux_opt !== undefined && rawTrain.aux_opt !== null) {
      cx.err('train.interpolation_loss_weight', 'train.interpolation_loss_weight is the ETDS spelling of train.aux_opt.loss_weight; give only one of them');
    } else {
      const w = t.interpolation_loss_weight as number;
      t.aux_opt = w > 0 ? { ...pixel, loss_weight: w * (pixel.loss_weight as number) } : null;
    }
  }
  delete t.fixed_residual_model_iters;
  delete t.interpolation_loss_weight;
  const aux = t.aux_opt as Obj | null;
  if (aux) {
    if (aux.eps === undefined) aux.eps = 0;
    if (!AUX_OUTPUT_ARCHS.includes(network.type)) {
      cx.err('train.aux_opt', `train.aux_opt: the auxiliary loss needs a network with a residual-stream output (${AUX_OUTPUT_ARCHS.join(', ')}); network_g.type is ${network.type}`);
    }
  }
  const fixIter = t.fix_iter as number, fixKeys = t.fix_keys as string[];
  if (fixIter > 0 && fixKeys.length === 0) cx.err('train.fix_keys', 'missing required key train.fix_keys (parameter-name substrings to freeze while train.fix_iter > 0)');
  if (fixIter === 0 && fixKeys.length > 0) cx.err('train.fix_iter', 'train.fix_keys is set but train.fix_iter is 0, so nothing would be frozen; set train.fix_iter');
  if (fixIter > total) cx.err('train.fix_iter', `train.fix_iter (${fixIter}) is beyond train.total_iter (${total}): the frozen parameters would never train`);

  const path = c.path as Obj;
  if (path.experiments_root === undefined) path.experiments_root = `experiments/${name}`;

  return {
    name,
    scale,
    manual_seed: c.manual_seed as number,
    network_g: network,
    datasets: {
      train: td as unknown as TrainDatasetConfig,
      val: (vd ?? null) as unknown as ValDatasetConfig | null,
    },
    path: path as TrainConfig['path'],
    train: t as unknown as TrainSection,
    val: (val ?? null) as unknown as ValSection | null,
    logger: c.logger as TrainConfig['logger'],
    quant: (c.quant ?? null) as QuantSection | null,
    distill: (c.distill ?? null) as DistillSection | null,
    source: cx.source,
    overrides: [...cx.overridden.values()],
  };
}

/** dataroot_lq: required (and as many folders as dataroot_gt) for PairedFolders, absent for HRFolder. */
function checkLqFolders(d: Obj, p: string, cx: Ctx, nGt: number): void {
  const lq = d.dataroot_lq as string | string[] | null;
  if (d.type === 'VideoFolder') {
    if (lq !== null) cx.err(`${p}.dataroot_lq`, `${p}.dataroot_lq: VideoFolder makes the LR frames from dataroot_gt; remove it`);
  } else if (d.type === 'HRFolder') {
    if (lq !== null) cx.err(`${p}.dataroot_lq`, `${p}.dataroot_lq is for PairedFolders; HRFolder makes its LR images from dataroot_gt (set type: PairedFolders to read LR files)`);
  } else if (lq === null) {
    cx.err(`${p}.dataroot_lq`, `missing required key ${p}.dataroot_lq (PairedFolders reads LR files from it; use type: HRFolder to make them)`);
  } else if (Array.isArray(lq) && lq.length !== nGt) {
    cx.err(`${p}.dataroot_lq`, `${p}.dataroot_lq: expected ${nGt} folder(s), one per dataroot_gt entry, found ${lq.length}`);
  }
}

/**
 * The names of the parameters train.fix_keys freezes (each name containing one of the keys).
 * Throws, naming the key, when a key matches no parameter: a typo would otherwise freeze nothing.
 */
export function frozenParameterNames(names: Iterable<string>, fixKeys: readonly string[], arch = 'the model'): string[] {
  const all = [...names];
  for (const k of fixKeys) {
    if (!all.some((n) => n.includes(k))) {
      throw new Error(`mvsr: train.fix_keys: '${k}' matches no parameter of ${arch} (parameters: ${all.slice(0, 8).join(', ')}${all.length > 8 ? ', ...' : ''})`);
    }
  }
  return all.filter((n) => fixKeys.some((k) => n.includes(k)));
}

/** Whether the parameters matching fix_keys are frozen in the update of iteration `iter` (1-based). */
export function isFrozenAt(train: Pick<TrainSection, 'fix_iter'>, iter: number): boolean {
  return train.fix_iter > 0 && iter < train.fix_iter;
}
