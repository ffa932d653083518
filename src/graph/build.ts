// Deploy graphs from zoo models: each builder mirrors its family's inference forward op for op,
// reading the weights by their PyTorch state-dict names. Models are reached through their
// SRModel surface only (arch, args, stateDict, deploy), so graph/ has no runtime import of models/.
import type { SRModel } from '../models/registry.js';
import type { StateDict } from '../nn/module.js';
import { GraphBuilder, type Graph, type GraphWeight, type ActSpec } from './ir.js';

export type GraphBuilderFn = (args: Record<string, unknown>, sd: StateDict, arch: string) => Graph;

const builders = new Map<string, GraphBuilderFn>();

/** Training-time architectures whose deploy() gives the plain form a graph is built from. */
const TRAINING_FORMS: Record<string, string> = { ECBSR: 'ECBSRT', ETDS: 'ETDSForInference' };

/** Register the deploy-graph builder of an architecture (by its registry name). */
export function registerGraphBuilder(arch: string, fn: GraphBuilderFn): void {
  if (builders.has(arch)) throw new Error(`mvsr: registerGraphBuilder: '${arch}' already has a graph builder`);
  builders.set(arch, fn);
}

export function graphArchs(): string[] {
  return [...builders.keys()];
}

/** The graph of `arch` with `args` and the weights of a state dict (e.g. a checkpoint's, as loaded). */
export function graphFromStateDict(arch: string, args: Record<string, unknown>, sd: StateDict): Graph {
  const fn = builders.get(arch);
  if (!fn) {
    const hint = TRAINING_FORMS[arch] ? ` (it is a training graph: build ${TRAINING_FORMS[arch]} from its deploy(), or call toGraph on the model)` : '';
    throw new Error(`mvsr: toGraph: no graph builder for architecture '${arch}'${hint}; have: ${graphArchs().join(', ')}`);
  }
  return fn(args, sd, arch);
}

interface Deployable { deploy(): SRModel }

function hasDeploy(m: SRModel): m is SRModel & Deployable {
  return typeof (m as Partial<Deployable>).deploy === 'function';
}

/**
 * The plain deploy graph of a model: its deploy() form where it has one (ECBSR -> ECBSRT,
 * ETDS -> ETDSForInference), else the model itself. The model is not modified.
 */
export function toGraph(model: SRModel): Graph {
  if (hasDeploy(model)) {
    const d = model.deploy();
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

// ---- helpers -------------------------------------------------------------------------------

function num(arch: string, args: Record<string, unknown>, key: string): number {
  const v = args[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`mvsr: toGraph: ${arch}: argument '${key}' must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function get(arch: string, sd: StateDict, key: string): GraphWeight {
  const t = sd[key];
  if (!t) throw new Error(`mvsr: toGraph: ${arch}: the state dict has no '${key}'`);
  return t;
}

/** A conv named `key` (weights `${key}.weight`, `${key}.bias`) with an optional fused activation. */
function conv(b: GraphBuilder, arch: string, sd: StateDict, key: string, x: string, act?: ActSpec): string {
  const bias = sd[`${key}.bias`] ?? null;
  return b.conv(key, x, get(arch, sd, `${key}.weight`), bias, act ? { act } : {});
}

const RELU: ActSpec = { kind: 'relu' };

/**
 * torch.repeat_interleave(x, times, dim=channels) as slices and one concat: channel c fills
 * channels c*times .. c*times+times-1 (so pixel shuffle spreads each LR pixel over its block).
 */
function repeatInterleave(b: GraphBuilder, id: string, x: string, C: number, times: number): string {
  const parts: string[] = [];
  for (let c = 0; c < C; c++) {
    const ch = C === 1 ? x : b.slice(`${id}.c${c}`, x, c, c + 1);
    for (let j = 0; j < times; j++) parts.push(ch);
  }
  return b.concat(id, parts);
}

function meta(arch: string, args: Record<string, unknown>, scale: number): ConstructorParameters<typeof GraphBuilder>[0] {
  return { arch, args: { ...args }, scale };
}

// ---- families ------------------------------------------------------------------------------

function resizeGraph(mode: 'bicubic' | 'matlabBicubic') {
  return (args: Record<string, unknown>, _sd: StateDict, arch: string): Graph => {
    const s = num(arch, args, 'upscale');
    const b = new GraphBuilder(meta(arch, args, s));
    return b.output(b.resize('resize', b.input(3), s, mode));
  };
}

/** ESPCN: conv1 + tanh, conv2 + tanh, conv3, pixel shuffle, sigmoid. */
function espcn(args: Record<string, unknown>, sd: StateDict, arch: string): Graph {
  const s = num(arch, args, 'upscale');
  const b = new GraphBuilder(meta(arch, args, s));
  let y = b.input(num(arch, args, 'colors'));
  y = b.act('conv1.tanh', conv(b, arch, sd, 'conv1', y), { kind: 'tanh' });
  y = b.act('conv2.tanh', conv(b, arch, sd, 'conv2', y), { kind: 'tanh' });
  y = b.depthToSpace('pixel_shuffle', conv(b, arch, sd, 'conv3', y), s);
  return b.output(b.act('sigmoid', y, { kind: 'sigmoid' }));
}

/** FSRCNN: (conv + PReLU) x 7 as first_part / mid_part, then the 9x9 transposed conv. */
function fsrcnn(args: Record<string, unknown>, sd: StateDict, arch: string): Graph {
  const s = num(arch, args, 'upscale');
  const b = new GraphBuilder(meta(arch, args, s));
  let y = b.input(3);
  const convPrelu = (prefix: string, i: number): void => {
    y = conv(b, arch, sd, `${prefix}.${i}`, y);
    y = b.act(`${prefix}.${i + 1}`, y, { kind: 'prelu', alpha: get(arch, sd, `${prefix}.${i + 1}.weight`) });
  };
  convPrelu('first_part', 0);
  for (let i = 0; i < 12; i += 2) convPrelu('mid_part', i);
  y = b.convTranspose('last_part', y, get(arch, sd, 'last_part.weight'), sd['last_part.bias'] ?? null, { stride: s, padding: 4, outputPadding: s - 1 });
  return b.output(y);
}

/** ECB activation of act_type (PReLU slopes from `${key}.weight`), or null for 'linear'. */
function ecbAct(arch: string, sd: StateDict, actType: unknown, key: string): ActSpec | null {
  switch (actType) {
    case 'prelu': return { kind: 'prelu', alpha: get(arch, sd, `${key}.weight`) };
    case 'relu': return RELU;
    case 'linear': return null;
    default: throw new Error(`mvsr: toGraph: ${arch}: act_type '${String(actType)}' has no graph form (prelu, relu, linear)`);
  }
}

/** backbone.i = Sequential(conv, act) for i = 0..num_block (hidden layers of ECBSRT / ECBSRET). */
function ecbHidden(b: GraphBuilder, arch: string, sd: StateDict, args: Record<string, unknown>, x: string): string {
  const nb = num(arch, args, 'num_block');
  let y = x;
  for (let i = 0; i <= nb; i++) {
    y = conv(b, arch, sd, `backbone.${i}.0`, y);
    const a = ecbAct(arch, sd, args.act_type, `backbone.${i}.1`);
    if (a) y = b.act(`backbone.${i}.1`, y, a);
  }
  return y;
}

/** ECBSRT: the re-parameterised ECBSR; pixel_shuffle(backbone(x) + repeat_interleave(x)). */
function ecbsrt(args: Record<string, unknown>, sd: StateDict, arch: string): Graph {
  const s = num(arch, args, 'upscale'), nb = num(arch, args, 'num_block');
  const Cin = num(arch, args, 'num_in_ch'), Cout = num(arch, args, 'num_out_ch');
  const b = new GraphBuilder(meta(arch, args, s));
  const x = b.input(Cin);
  const y = conv(b, arch, sd, `backbone.${nb + 1}.0`, ecbHidden(b, arch, sd, args, x));
  // one input channel is broadcast to every output sub-pixel channel, else each repeated s^2 times
  const sc = repeatInterleave(b, 'shortcut', x, Cin, Cin > 1 ? s * s : Cout * s * s);
  return b.output(b.depthToSpace('upsampler', b.add('add_shortcut', y, sc), s));
}

/** Drop the padding channel at x3 (y[:, :-1]) before the pixel shuffle, as the ET forms do. */
function dropLastAtX3(b: GraphBuilder, y: string, s: number, channels: number): string {
  return s === 3 ? b.slice('drop_last', y, 0, channels - 1) : y;
}

/** ECBSRET: hidden layers, conv + ReLU, 1x1 clip conv + ReLU, (x3: drop last), pixel shuffle. */
function ecbsret(args: Record<string, unknown>, sd: StateDict, arch: string): Graph {
  const s = num(arch, args, 'upscale'), nb = num(arch, args, 'num_block');
  const b = new GraphBuilder(meta(arch, args, s));
  let y = ecbHidden(b, arch, sd, args, b.input(num(arch, args, 'num_in_ch')));
  for (const i of [nb + 1, nb + 2]) y = b.act(`backbone.${i}.1`, conv(b, arch, sd, `backbone.${i}.0`, y), RELU);
  const Oe = get(arch, sd, `backbone.${nb + 2}.0.weight`).shape[0]!;
  return b.output(b.depthToSpace('upsampler', dropLastAtX3(b, y, s, Oe), s));
}

/** ABPN backbone up to (not including) the tail: conv + ReLU, num_block x (conv + ReLU). */
function abpnBody(b: GraphBuilder, arch: string, sd: StateDict, nb: number, x: string): string {
  let y = b.act('backbone.1', conv(b, arch, sd, 'backbone.0', x), RELU);
  for (let i = 0; i < nb; i++) y = b.act(`backbone.${2 + i}.1`, conv(b, arch, sd, `backbone.${2 + i}.0`, y), RELU);
  return y;
}

/** ABPN: body, conv + ReLU, conv, + anchor (repeat_interleave(x, s^2)), pixel shuffle. */
function abpn(args: Record<string, unknown>, sd: StateDict, arch: string): Graph {
  const s = num(arch, args, 'scale'), nb = num(arch, args, 'num_block');
  const b = new GraphBuilder(meta(arch, args, s));
  const x = b.input(3);
  let y = abpnBody(b, arch, sd, nb, x);
  y = b.act(`backbone.${3 + nb}`, conv(b, arch, sd, `backbone.${2 + nb}`, y), RELU);
  y = conv(b, arch, sd, `backbone.${4 + nb}`, y);
  const anchor = repeatInterleave(b, 'anchor', x, 3, s * s);
  return b.output(b.depthToSpace('upsampler', b.add('add_anchor', y, anchor), s));
}

/** ABPN_ET: body, (conv + ReLU) x 3 (the last a 1x1 clip), (x3: drop last), pixel shuffle. */
function abpnEt(args: Record<string, unknown>, sd: StateDict, arch: string): Graph {
  const s = num(arch, args, 'scale'), nb = num(arch, args, 'num_block');
  const b = new GraphBuilder(meta(arch, args, s));
  let y = abpnBody(b, arch, sd, nb, b.input(3));
  for (const j of [2 + nb, 4 + nb, 6 + nb]) y = b.act(`backbone.${j + 1}`, conv(b, arch, sd, `backbone.${j}`, y), RELU);
  const Oe = get(arch, sd, `backbone.${6 + nb}.weight`).shape[0]!;
  return b.output(b.depthToSpace('upsampler', dropLastAtX3(b, y, s, Oe), s));
}

/** conv_first + ReLU, num_block x (backbone_convs.i + ReLU): the stem of Plain and ETDSForInference. */
function plainBody(b: GraphBuilder, arch: string, sd: StateDict, nb: number, x: string): string {
  let y = b.act('conv_first.relu', conv(b, arch, sd, 'conv_first', x), RELU);
  for (let i = 0; i < nb; i++) y = b.act(`backbone_convs.${i}.relu`, conv(b, arch, sd, `backbone_convs.${i}`, y), RELU);
  return y;
}

/** Plain: stem, conv_last, pixel shuffle. */
function plain(args: Record<string, unknown>, sd: StateDict, arch: string): Graph {
  const s = num(arch, args, 'upscale');
  const b = new GraphBuilder(meta(arch, args, s));
  const y = plainBody(b, arch, sd, num(arch, args, 'num_block'), b.input(num(arch, args, 'num_in_ch')));
  return b.output(b.depthToSpace('upsampler', conv(b, arch, sd, 'conv_last', y), s));
}

/** ETDSForInference: stem, conv_last + ReLU, conv_clip + ReLU, (x3: drop last), pixel shuffle. */
function etdsInference(args: Record<string, unknown>, sd: StateDict, arch: string): Graph {
  const s = num(arch, args, 'upscale');
  const b = new GraphBuilder(meta(arch, args, s));
  let y = plainBody(b, arch, sd, num(arch, args, 'num_block'), b.input(num(arch, args, 'num_in_ch')));
  y = b.act('conv_last.relu', conv(b, arch, sd, 'conv_last', y), RELU);
  y = b.act('conv_clip.relu', conv(b, arch, sd, 'conv_clip', y), RELU);
  const Oe = get(arch, sd, 'conv_clip.weight').shape[0]!;
  return b.output(b.depthToSpace('upsampler', dropLastAtX3(b, y, s, Oe), s));
}

/** ELSR: f = conv_first(x); conv_last(f + body(f)) with body = conv, PReLU, conv; pixel shuffle. */
function elsr(args: Record<string, unknown>, sd: StateDict, arch: string): Graph {
  const s = num(arch, args, 'upscale');
  const b = new GraphBuilder(meta(arch, args, s));
  const f = conv(b, arch, sd, 'conv_first', b.input(num(arch, args, 'num_in_ch')));
  let y = b.act('body.1', conv(b, arch, sd, 'body.0', f), { kind: 'prelu', alpha: get(arch, sd, 'body.1.weight') });
  y = b.add('add_body', f, conv(b, arch, sd, 'body.2', y));
  return b.output(b.depthToSpace('upsampler', conv(b, arch, sd, 'conv_last', y), s));
}

registerGraphBuilder('Bicubic', resizeGraph('bicubic'));
registerGraphBuilder('MatlabBicubic', resizeGraph('matlabBicubic'));
registerGraphBuilder('ESPCN', espcn);
registerGraphBuilder('FSRCNN', fsrcnn);
registerGraphBuilder('ECBSRT', ecbsrt);
registerGraphBuilder('ECBSRET', ecbsret);
registerGraphBuilder('ABPN', abpn);
registerGraphBuilder('ABPN_ET', abpnEt);
registerGraphBuilder('Plain', plain);
registerGraphBuilder('ETDSForInference', etdsInference);
registerGraphBuilder('ELSR', elsr);
