// The model zoo's registry, in the BasicSR shape: architectures by the names the reference
// code and its YAML configs use (`network_g: {type: ETDS, ...}`), built from plain args.
import type { Module } from '../nn/module.js';
import { Bicubic, MatlabBicubic, type BicubicArgs, type MatlabBicubicArgs } from './bicubic.js';
import { ESPCN, type ESPCNArgs } from './espcn.js';
import { FSRCNN, type FSRCNNArgs } from './fsrcnn.js';
import { ECBSR, ECBSRT, ECBSRET, type ECBSRArgs } from './ecbsr.js';
import { ABPN, ABPN_ET, type ABPNArgs } from './abpn.js';
import { Plain, type PlainArgs } from './plain.js';
import { ETDS, ETDSForInference, type ETDSArgs } from './etds.js';
import { ELSR, type ELSRArgs } from './elsr.js';
import type { VideoSRModel } from './vsr.js';
import { RLSP, type RLSPArgs } from './rlsp.js';
import { MobileRRN, type MobileRRNArgs } from './mobilerrn.js';
import { SWRN, type SWRNArgs } from './swrn.js';
import { MultiFramePlain, type MultiFramePlainArgs } from './multiframe.js';

/** A super-resolution network: NHWC RGB in [0,1] at LR size -> NHWC at `scale` times the size. */
export interface SRModel extends Module {
  readonly scale: number;
  /** The registry name it was built under (the config's `type`). */
  readonly arch: string;
  /** The full argument set (defaults filled in), enough to rebuild it with createModel. */
  readonly args: Record<string, unknown>;
}

export type ArchArgs = Record<string, unknown>;

export interface ArchSpec {
  create(args: ArchArgs): SRModel | VideoSRModel;
  /** Every accepted argument with its default; an argument's type is its default's type. */
  defaults: ArchArgs;
  /** 'image': one frame in, one out (SRModel); 'video': frames and a recurrent state (VideoSRModel). */
  kind: 'image' | 'video';
}

const archs = new Map<string, ArchSpec>();

export function registerArch(name: string, spec: ArchSpec): void {
  if (archs.has(name)) throw new Error(`mvsr: registerArch: an architecture named '${name}' is already registered`);
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

// Defaults: the smallest configuration of each family in the ETDS paper's Table 2, at x4.
// `create` receives resolveArgs' output: every key of `defaults`, each of its default's type.
const ecbsrDefaults = { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_block: 4, num_feat: 16, act_type: 'prelu' };
const etdsDefaults = { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_block: 5, num_feat: 16, num_residual_feat: 3 };
const abpnDefaults = { num_feat: 28, num_block: 4, scale: 4 };
const plainDefaults = { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_block: 6, num_feat: 32 };
const elsrDefaults = { num_in_ch: 3, num_out_ch: 3, upscale: 4, num_feat: 6 };

function builtin<A>(name: string, defaults: A & ArchArgs, make: (a: A) => SRModel): void {
  registerArch(name, { kind: 'image', defaults, create: (a) => make(a as A) });
}

builtin<BicubicArgs>('Bicubic', { upscale: 4 }, (a) => new Bicubic(a));
builtin<MatlabBicubicArgs>('MatlabBicubic', { upscale: 4 }, (a) => new MatlabBicubic(a));
builtin<ESPCNArgs>('ESPCN', { colors: 3, upscale: 4 }, (a) => new ESPCN(a));
builtin<FSRCNNArgs>('FSRCNN', { upscale: 4 }, (a) => new FSRCNN(a));
builtin<ECBSRArgs>('ECBSR', ecbsrDefaults, (a) => new ECBSR(a));
builtin<ECBSRArgs>('ECBSRT', ecbsrDefaults, (a) => new ECBSRT(a));
builtin<ECBSRArgs>('ECBSRET', ecbsrDefaults, (a) => new ECBSRET(a));
builtin<ABPNArgs>('ABPN', abpnDefaults, (a) => new ABPN(a));
builtin<ABPNArgs>('ABPN_ET', abpnDefaults, (a) => new ABPN_ET(a));
builtin<PlainArgs>('Plain', plainDefaults, (a) => new Plain(a));
builtin<ETDSArgs>('ETDS', etdsDefaults, (a) => new ETDS(a));
builtin<ETDSArgs>('ETDSForInference', etdsDefaults, (a) => new ETDSForInference(a));
builtin<ELSRArgs>('ELSR', elsrDefaults, (a) => new ELSR(a));

// Video models: RGB, x4 defaults sized for the MAI setting (180x320 -> 720x1280).
const videoBase = { num_in_ch: 3, num_out_ch: 3, upscale: 4 };
function video<A>(name: string, defaults: A & ArchArgs, make: (a: A) => VideoSRModel): void {
  registerArch(name, { kind: 'video', defaults, create: (a) => make(a as A) });
}
video<RLSPArgs>('RLSP', { ...videoBase, num_feat: 16, num_layer: 7, align: 'none', align_radius: 4 }, (a) => new RLSP(a));
video<MobileRRNArgs>('MobileRRN', { ...videoBase, num_feat: 16, num_block: 5, align: 'none', align_radius: 4 }, (a) => new MobileRRN(a));
video<SWRNArgs>('SWRN', { ...videoBase, num_feat: 16, num_block: 3, chunk: 8 }, (a) => new SWRN(a));
video<MultiFramePlainArgs>('MultiFramePlain', { ...videoBase, num_feat: 16, num_block: 4, num_frame: 3, block: 'plain' }, (a) => new MultiFramePlain(a));
