// The model zoo's registry, in the BasicSR shape: architectures by the names the reference
// code and its YAML configs use (`network_g: {type: ETDS, ...}`), built from plain args. Each
// family file declares its ArchSpecs (types.ts); here they are listed by name, and a model is
// turned into its deploy graph (image) or step graph (video) through its spec's typed fields.
import { bicubicArch, matlabBicubicArch } from './bicubic.js';
import { espcnArch } from './espcn.js';
import { fsrcnnArch } from './fsrcnn.js';
import { ecbsrArch, ecbsrtArch, ecbsretArch } from './ecbsr.js';
import { abpnArch, abpnEtArch } from './abpn.js';
import { plainArch } from './plain.js';
import { etdsArch, etdsInferenceArch } from './etds.js';
import { elsrArch } from './elsr.js';
import { rlspArch } from './rlsp.js';
import { mobileRrnArch } from './mobilerrn.js';
import { swrnArch } from './swrn.js';
import { multiFramePlainArch } from './multiframe.js';
import { imdnArch, imdnPlusArch, imdnBaselineArch } from './imdn.js';
import { efdnArch, efdnEdbbArch } from './efdn.js';
import { mobileSrArch } from './mobilesr.js';
import { rfdnArch } from './rfdn.js';
import { rlfnArch } from './rlfn.js';
import { vapsrArch } from './vapsr.js';
import { bsrnArch, bsrnsArch } from './bsrn.js';
import { slidingWindowVsrArch } from './swvsr.js';
import { recbsrArch } from './recbsr.js';
import type { Graph, WeightSource } from '../graph/ir.js';
import type { ArchArgs, ArchSpec, ImageArchSpec, SRModel, VideoArchSpec, VideoSRModel } from './types.js';

export type { ArchArgs, ArchSpec, ImageArchSpec, VideoArchSpec, SRModel, VideoSRModel };

const archs = new Map<string, ArchSpec>();

export function registerArch(name: string, spec: ArchSpec): void {
  if (archs.has(name)) throw new Error(`mvsr: registerArch: an architecture named '${name}' is already registered`);
  if (spec.kind === 'image' && !spec.graph === !spec.deploy) throw new Error(`mvsr: registerArch: image architecture '${name}' needs exactly one of graph (its deploy graph) and deploy (the plain model it folds into)`);
  if (spec.kind === 'video' && typeof spec.stepGraph !== 'function') throw new Error(`mvsr: registerArch: video architecture '${name}' needs a stepGraph`);
  archs.set(name, spec);
}

export function listArchs(): string[] {
  return [...archs.keys()];
}

export function getArch(name: string): ArchSpec {
  const spec = archs.get(name);
  if (!spec) throw new Error(`mvsr: unknown architecture '${name}' (registered: ${listArchs().join(', ')})`);
  return spec;
}

/** Defaults overlaid with `args`; rejects unknown keys and values whose type differs from the default's. */
export function resolveArgs(name: string, args: ArchArgs = {}): ArchArgs {
  const spec = getArch(name);
  const out: ArchArgs = { ...spec.defaults };
  for (const [k, v] of Object.entries(args)) {
    if (!(k in spec.defaults)) {
      throw new Error(`mvsr: ${name}: unknown argument '${k}' (accepted: ${Object.keys(spec.defaults).join(', ')})`);
    }
    const d = spec.defaults[k];
    if (typeof d === 'number' && !(typeof v === 'number' && Number.isInteger(v) && v > 0)) {
      throw new Error(`mvsr: ${name}: argument '${k}' must be a positive integer, got ${JSON.stringify(v)}`);
    }
    if (typeof d === 'string' && typeof v !== 'string') {
      throw new Error(`mvsr: ${name}: argument '${k}' must be a string, got ${JSON.stringify(v)}`);
    }
    if (typeof d === 'boolean' && typeof v !== 'boolean') {
      throw new Error(`mvsr: ${name}: argument '${k}' must be true or false, got ${JSON.stringify(v)}`);
    }
    out[k] = v;
  }
  return out;
}

/** An image model (SRModel); a video architecture is refused with a pointer to createVideoModel. */
export function createModel(name: string, args: ArchArgs = {}): SRModel {
  const spec = getArch(name);
  if (spec.kind !== 'image') throw new Error(`mvsr: ${name} is a video model (it needs neighbouring frames and a recurrent state): use createVideoModel / VideoUpscaler`);
  return spec.create(resolveArgs(name, args)) as SRModel;
}

/** A video model (VideoSRModel); an image architecture is refused. */
export function createVideoModel(name: string, args: ArchArgs = {}): VideoSRModel {
  const spec = getArch(name);
  if (spec.kind !== 'video') throw new Error(`mvsr: ${name} is an image model: use createModel / Upscaler (a video is upscaled frame by frame with it)`);
  return spec.create(resolveArgs(name, args)) as VideoSRModel;
}

/** Either kind, as the architecture's spec says. */
export function createAnyModel(name: string, args: ArchArgs = {}): SRModel | VideoSRModel {
  return getArch(name).create(resolveArgs(name, args));
}

/** Build from a BasicSR `network_g` section: `{ type: 'ETDS', num_feat: 32, ... }`. */
export function createModelFromConfig(networkG: ArchArgs): SRModel {
  const { type, ...args } = networkG;
  if (typeof type !== 'string') throw new Error(`mvsr: network_g: 'type' must name an architecture, got ${JSON.stringify(type)}`);
  return createModel(type, args);
}

/** Either kind from a `network_g` section. */
export function createAnyModelFromConfig(networkG: ArchArgs): SRModel | VideoSRModel {
  const { type, ...args } = networkG;
  if (typeof type !== 'string') throw new Error(`mvsr: network_g: 'type' must name an architecture, got ${JSON.stringify(type)}`);
  return createAnyModel(type, args);
}

// Defaults: the smallest configuration of each family in the ETDS paper's Table 2, at x4; video
// models sized for the MAI setting (180x320 -> 720x1280).
const builtins: [string, ArchSpec][] = [
  ['Bicubic', bicubicArch], ['MatlabBicubic', matlabBicubicArch], ['ESPCN', espcnArch], ['FSRCNN', fsrcnnArch],
  ['ECBSR', ecbsrArch], ['ECBSRT', ecbsrtArch], ['ECBSRET', ecbsretArch], ['ABPN', abpnArch], ['ABPN_ET', abpnEtArch],
  ['Plain', plainArch], ['ETDS', etdsArch], ['ETDSForInference', etdsInferenceArch], ['ELSR', elsrArch],
  ['IMDN', imdnArch], ['IMDN_plus', imdnPlusArch], ['IMDN_baseline', imdnBaselineArch], ['RFDN', rfdnArch], ['RLFN', rlfnArch], ['vapsr', vapsrArch],
  ['BSRN', bsrnArch], ['RFDNFINALB5', bsrnsArch], ['EFDN', efdnArch], ['EFDN_EDBB', efdnEdbbArch], ['MobileSR', mobileSrArch],
  ['RLSP', rlspArch], ['MobileRRN', mobileRrnArch], ['SWRN', swrnArch], ['MultiFramePlain', multiFramePlainArch],
  ['SlidingWindowVSR', slidingWindowVsrArch], ['RECBSR', recbsrArch],
];
for (const [name, spec] of builtins) registerArch(name, spec);

// ---- deploy graphs ---------------------------------------------------------------------------

function imageSpec(arch: string): ImageArchSpec {
  const spec = getArch(arch);
  if (spec.kind !== 'image') throw new Error(`mvsr: toGraph: ${arch} is a video model: its deploy form is a step graph (stepGraph)`);
  return spec;
}

/** The deploy graph of an image architecture with `args` and the weights of a state dict (e.g. a checkpoint's, as loaded). */
export function graphFromStateDict(arch: string, args: ArchArgs, sd: WeightSource): Graph {
  const spec = imageSpec(arch);
  if (!spec.graph) {
    const plain = spec.deploy ? ` (it is a training form: build its deploy() model, e.g. with toGraph(model))` : '';
    throw new Error(`mvsr: toGraph: architecture '${arch}' has no graph of its own${plain}`);
  }
  return spec.graph(resolveArgs(arch, args), sd);
}

/**
 * The plain deploy graph of an image model: its spec's deploy form where it has one (ECBSR ->
 * ECBSRT, ETDS -> ETDSForInference), else the model itself. The model is not modified.
 */
export function toGraph(model: SRModel): Graph {
  const spec = imageSpec(model.arch);
  if (spec.deploy) {
    const d = spec.deploy(model);
    try {
      const g = graphFromStateDict(d.arch, d.args, d.stateDict());
      g.meta.from = model.arch;
      return g;
    } finally {
      d.dispose();
    }
  }
  return graphFromStateDict(model.arch, model.args, model.stateDict());
}

/** The model a user deploys: the spec's deploy form (ECBSR -> ECBSRT, ETDS -> ETDSForInference), else the model itself (same object). */
export function deployModel<M extends SRModel | VideoSRModel>(m: M): SRModel | M {
  const spec = getArch(m.arch);
  return spec.kind === 'image' && spec.deploy ? spec.deploy(m as SRModel) : m;
}

/** The step graph of a video model for `count` frames (default: its chunk, 1 for causal models). */
export function stepGraph(model: VideoSRModel, count = model.chunk): Graph {
  const spec = getArch(model.arch);
  if (spec.kind !== 'video') throw new Error(`mvsr: stepGraph: ${model.arch} is an image model: use toGraph`);
  return spec.stepGraph(model.args, model.stateDict(), count);
}
