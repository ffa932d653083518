// The plain deploy IR: a small DAG of NHWC ops (conv, act, add, concat, slice, depth_to_space,
// resize, ...) in topological order, with weights held by name in PyTorch layouts. The structure
// is plain JSON; the weights are Float32Arrays (serializeGraph packs them into one blob).
// An image model's graph has one input and one output; a video model's step graph has several
// of each (its window of LR frames and its state in, its HR frames and new state out), named by
// their node ids and described in meta.video.

import { shuffleOrder } from '../tensor/ops/layout.js';
import { MAX_ATTENTION_WINDOW } from '../tensor/ops/attention.js';

/** Activations; a PReLU names its slope weight (1 shared value or one per channel). */
export type Act =
  | { kind: 'relu' }
  | { kind: 'prelu'; alpha: string }
  | { kind: 'leaky'; slope: number }
  | { kind: 'tanh' }
  | { kind: 'sigmoid' }
  | { kind: 'gelu' }
  | { kind: 'clamp'; lo: number; hi: number };

/** PyTorch F.interpolate modes (align_corners=False) and MATLAB's antialiased imresize bicubic. */
export type GraphResizeMode = 'nearest' | 'bilinear' | 'bicubic' | 'matlabBicubic';
export type GraphPixelOrder = 'pytorch' | 'tf';

interface NodeBase {
  /** Unique name; builders use the PyTorch module name, so weights are `${id}.weight` / `${id}.bias`. */
  id: string;
  /** Ids of earlier nodes (a node may appear more than once, e.g. a concat repeating a channel). */
  inputs: string[];
}

/** A graph input of `channels` channels at `scale` times the base (LR frame) size (default 1; an HR state has the model's scale). */
export interface InputNode extends NodeBase { op: 'input'; channels: number; scale?: number }
/**
 * Zero-padded conv: weight OIHW [Cout, Cin/groups, k, k], bias [Cout] or null; taps `dilation`
 * pixels apart and outputs every `stride` pixels (both default 1).
 */
export interface ConvNode extends NodeBase {
  op: 'conv'; weight: string; bias: string | null; kernel: number; groups: number; padding: number; dilation?: number; stride?: number; act?: Act;
  /** The source model's nn.Linear over channels (BSRN), run as this 1x1 conv: the NTIRE counter counts it as no conv and no activations. */
  linear?: true;
}

/** A conv's tap spacing (1 when absent) and the span of its dilated kernel. */
export function convSpan(n: ConvNode): { dilation: number; span: number } {
  const dilation = n.dilation ?? 1;
  return { dilation, span: (n.kernel - 1) * dilation + 1 };
}
/** PyTorch ConvTranspose2d (groups 1): weight [Cin, Cout, k, k]. */
export interface ConvTransposeNode extends NodeBase {
  op: 'convTranspose'; weight: string; bias: string | null; kernel: number; stride: number; padding: number; outputPadding: number;
}
export interface ActNode extends NodeBase { op: 'act'; act: Act }
export interface AddNode extends NodeBase { op: 'add' }
export interface MulNode extends NodeBase { op: 'mul' }
/** Channel concatenation of one or more inputs of equal H, W. */
export interface ConcatNode extends NodeBase { op: 'concat' }
/** Channels [start, end) of the input. */
export interface SliceNode extends NodeBase { op: 'slice'; start: number; end: number }
export interface DepthToSpaceNode extends NodeBase { op: 'depthToSpace'; scale: number; order: GraphPixelOrder }
export interface ResizeNode extends NodeBase { op: 'resize'; scale: number; mode: GraphResizeMode }
/** The inverse of depthToSpace (PyTorch pixel_unshuffle for order 'pytorch'). */
export interface SpaceToDepthNode extends NodeBase { op: 'spaceToDepth'; scale: number; order: GraphPixelOrder }
/**
 * The global translation from frame inputs[0] to frame inputs[1] (align.ts's estimate: integer
 * search within +-radius, then sub-pixel Gauss-Newton), as a [1, 1, 2] value (dx, dy) per item.
 */
export interface EstimateShiftNode extends NodeBase { op: 'estimateShift'; radius: number }
/** inputs[0] moved by factor x the shift inputs[1] (bilinear, edges replicated): out(x, y) = in(x - f dx, y - f dy). */
export interface TranslateNode extends NodeBase { op: 'translate'; factor: number }
/** Each channel's mean, or population standard deviation, over H x W: [H, W, C] -> [1, 1, C]. */
export interface GlobalPoolNode extends NodeBase { op: 'globalPool'; stat: 'mean' | 'std' }
/** inputs[0] [H, W, C] times inputs[1] [1, 1, C], broadcast over the pixels (channel attention). */
export interface ScaleChannelsNode extends NodeBase { op: 'scaleChannels' }
/** Max pooling without padding (PyTorch F.max_pool2d(x, kernel, stride)): floor((H - kernel) / stride) + 1 rows. */
export interface MaxPoolNode extends NodeBase { op: 'maxPool'; kernel: number; stride: number }
/** inputs[0] resized to the H x W of inputs[1] (PyTorch F.interpolate(x, size=other.shape[2:]), align_corners=False). */
export interface ResizeLikeNode extends NodeBase { op: 'resizeLike'; mode: 'nearest' | 'bilinear' }
/**
 * PyTorch nn.LayerNorm(C) over each pixel's C channels: (x - mean) / sqrt(var + eps) * weight + bias,
 * var the population variance; weight and bias [C].
 */
export interface LayerNormNode extends NodeBase { op: 'layerNorm'; weight: string; bias: string; eps: number }
/**
 * Multi-head self-attention within window x window tiles (MobileSR's, Swin's W-MSA): the input
 * holds each pixel's q, k and v ([H, W, 3C]), the output the attended values ([H, W, C]); heads
 * on consecutive groups of C / heads channels, scores scaled by (C / heads)^-1/2, zero tokens
 * completing the tiles that cross the bottom or right edge (tensor/ops/attention.ts).
 */
export interface WindowAttentionNode extends NodeBase { op: 'windowAttention'; heads: number; window: number }
/** A graph output, named by its id. */
export interface OutputNode extends NodeBase { op: 'output' }

export type GraphNode =
  | InputNode | ConvNode | ConvTransposeNode | ActNode | AddNode | MulNode | ConcatNode | SliceNode
  | DepthToSpaceNode | SpaceToDepthNode | ResizeNode | EstimateShiftNode | TranslateNode | GlobalPoolNode | ScaleChannelsNode
  | MaxPoolNode | ResizeLikeNode | LayerNormNode | WindowAttentionNode | OutputNode;
export type GraphOp = GraphNode['op'];

export interface GraphWeight { shape: number[]; data: Float32Array }

export interface GraphMeta {
  /** The architecture the graph computes (the deploy form, e.g. ECBSRT for an ECBSR). */
  arch: string;
  args: Record<string, unknown>;
  scale: number;
  /** The architecture it was built from when that differs (ECBSR, ETDS). */
  from?: string;
  /** A video model's step graph: which inputs and outputs are frames and which carry the state. */
  video?: VideoStepMeta;
  /** What was done to the graph after it was built (mvsr compress: pruning, clustering, fine-tuning), in order. */
  history?: Record<string, unknown>[];
  /** A calibration probe (graph/quant.ts): any number of inputs and outputs, not a model to ship. */
  probe?: boolean;
}

/**
 * One step of a video model: `count` HR frames from the LR frames of their window (inputs
 * `frames`, in clip order: window.past before the first, window.future after the last) and the
 * state the previous step left (`state[i].input`, zeros at the start of a clip); outputs `outputs`
 * (the HR frames in order) and the new state (`state[i].output`, fed back as `state[i].input`).
 */
export interface VideoStepMeta {
  window: { past: number; future: number };
  count: number;
  frames: string[];
  outputs: string[];
  state: { input: string; output: string }[];
}

/** Indices of the window around frames [first, first + count) of a clip of `length` frames, edges replicated (clamped). */
export function windowIndices(length: number, first: number, count: number, w: { past: number; future: number }): number[] {
  const out: number[] = [];
  for (let i = first - w.past; i < first + count + w.future; i++) out.push(Math.min(length - 1, Math.max(0, i)));
  return out;
}

export interface Graph {
  meta: GraphMeta;
  /** Topologically ordered: at least one `input` and one `output` (an image model: exactly one each). */
  nodes: GraphNode[];
  weights: Record<string, GraphWeight>;
}

/** Expected input count per op (null: one or more). */
const ARITY: Record<GraphOp, number | null> = {
  input: 0, conv: 1, convTranspose: 1, act: 1, add: 2, mul: 2, concat: null, slice: 1, depthToSpace: 1, spaceToDepth: 1, resize: 1,
  estimateShift: 2, translate: 2, globalPool: 1, scaleChannels: 2, maxPool: 1, resizeLike: 2, layerNorm: 1, windowAttention: 1, output: 1,
};

export function nodeLabel(n: GraphNode): string {
  return `node '${n.id}' (${n.op})`;
}

export function graphError(g: Graph | null, n: GraphNode | null, msg: string): Error {
  const where = [g ? `graph ${g.meta?.arch ?? '?'}` : 'graph', n ? nodeLabel(n) : null].filter(Boolean).join(': ');
  return new Error(`mvsr: ${where}: ${msg}`);
}

const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const shapeText = (s: readonly number[]): string => `[${s.join(',')}]`;

/** The weight a node refers to, or an error naming the node and the missing name. */
export function weightOf(g: Graph, n: GraphNode, name: string): GraphWeight {
  const w = typeof name === 'string' && Object.hasOwn(g.weights, name) ? g.weights[name] : undefined;
  if (!w) throw graphError(g, n, `refers to weight '${name}', which the graph does not hold`);
  return w;
}

function checkAct(g: Graph, n: GraphNode, a: Act): void {
  switch (a?.kind) {
    case 'relu': case 'tanh': case 'sigmoid': case 'gelu': return;
    case 'leaky':
      if (typeof a.slope !== 'number' || !Number.isFinite(a.slope)) throw graphError(g, n, `leaky slope ${a.slope} is not a finite number`);
      return;
    case 'clamp':
      if (typeof a.lo !== 'number' || typeof a.hi !== 'number' || !Number.isFinite(a.lo) || !Number.isFinite(a.hi) || a.lo > a.hi) {
        throw graphError(g, n, `clamp bounds lo=${a.lo} hi=${a.hi} must be finite with lo <= hi`);
      }
      return;
    case 'prelu': {
      const w = checkWeightData(g, n, a.alpha);
      if (w.shape.length !== 1) throw graphError(g, n, `PReLU alpha '${a.alpha}' ${shapeText(w.shape)} must be a vector`);
      return;
    }
    default:
      throw graphError(g, n, `unknown activation ${JSON.stringify(a)}`);
  }
}

function checkWeightData(g: Graph, n: GraphNode, name: string): GraphWeight {
  const w = weightOf(g, n, name);
  const size = w.shape.reduce((a, b) => a * b, 1);
  if (!(w.data instanceof Float32Array) || w.data.length !== size) {
    throw graphError(g, n, `weight '${name}' ${shapeText(w.shape)} needs ${size} float32 values, has ${w.data?.length}`);
  }
  return w;
}

/**
 * Structural checks that need no input size: unique ids, inputs that name earlier nodes, the
 * right number of inputs, one input and one output node, valid attributes, weights present with
 * the layout their node needs. Errors name the node. Shape checks are inferShapes' job.
 */
export function validateGraph(g: Graph): void {
  if (!g || !Array.isArray(g.nodes) || typeof g.weights !== 'object' || !g.meta) {
    throw new Error('mvsr: graph: expected { meta, nodes: [...], weights: {...} }');
  }
  const seen = new Set<string>();
  let inputs = 0, outputs = 0;
  g.nodes.forEach((n, i) => {
    if (!n || typeof n !== 'object') throw graphError(g, null, `node ${i} is not an object`);
    if (typeof n.id !== 'string' || n.id === '') throw graphError(g, null, `node ${i} has no id`);
    if (seen.has(n.id)) throw graphError(g, n, 'duplicate id');
    if (!(n.op in ARITY)) throw graphError(g, n, `unknown op '${String(n.op)}'`);
    if (!Array.isArray(n.inputs)) throw graphError(g, n, 'inputs must be a list of node ids');
    const arity = ARITY[n.op];
    if (arity === null ? n.inputs.length < 1 : n.inputs.length !== arity) {
      throw graphError(g, n, `takes ${arity ?? 'one or more'} input(s), got ${n.inputs.length}`);
    }
    for (const src of n.inputs) {
      if (!seen.has(src)) {
        const later = g.nodes.some((m) => m.id === src);
        throw graphError(g, n, later ? `input '${src}' comes later in the node list (nodes must be topologically ordered)` : `input '${src}' is not a node of the graph`);
      }
    }
    switch (n.op) {
      case 'input':
        inputs++;
        if (!isPosInt(n.channels)) throw graphError(g, n, `channels ${n.channels} is not a positive integer`);
        if (n.scale !== undefined && !isPosInt(n.scale)) throw graphError(g, n, `scale ${n.scale} is not a positive integer`);
        break;
      case 'output':
        outputs++;
        break;
      case 'conv': {
        if (!isPosInt(n.kernel) || !isPosInt(n.groups) || !isNonNegInt(n.padding) || (n.dilation !== undefined && !isPosInt(n.dilation)) || (n.stride !== undefined && !isPosInt(n.stride))) {
          throw graphError(g, n, `kernel ${n.kernel}, groups ${n.groups}, padding ${n.padding}, dilation ${n.dilation ?? 1}, stride ${n.stride ?? 1}: need positive integers (padding >= 0)`);
        }
        const w = checkWeightData(g, n, n.weight);
        if (w.shape.length !== 4 || w.shape[2] !== n.kernel || w.shape[3] !== n.kernel || w.shape[0]! % n.groups) {
          throw graphError(g, n, `weight '${n.weight}' ${shapeText(w.shape)} is not OIHW [Cout, Cin/${n.groups}, ${n.kernel}, ${n.kernel}] with Cout divisible by groups`);
        }
        if (n.bias !== null) {
          const b = checkWeightData(g, n, n.bias);
          if (b.shape.length !== 1 || b.shape[0] !== w.shape[0]) throw graphError(g, n, `bias '${n.bias}' ${shapeText(b.shape)} does not match ${w.shape[0]} output channels`);
        }
        if (n.act) checkAct(g, n, n.act);
        break;
      }
      case 'convTranspose': {
        if (!isPosInt(n.kernel) || !isPosInt(n.stride) || !isNonNegInt(n.padding) || !isNonNegInt(n.outputPadding) || n.outputPadding >= n.stride) {
          throw graphError(g, n, `kernel ${n.kernel}, stride ${n.stride}, padding ${n.padding}, outputPadding ${n.outputPadding}: need positive kernel/stride, padding >= 0, 0 <= outputPadding < stride`);
        }
        const w = checkWeightData(g, n, n.weight);
        if (w.shape.length !== 4 || w.shape[2] !== n.kernel || w.shape[3] !== n.kernel) {
          throw graphError(g, n, `weight '${n.weight}' ${shapeText(w.shape)} is not [Cin, Cout, ${n.kernel}, ${n.kernel}]`);
        }
        if (n.bias !== null) {
          const b = checkWeightData(g, n, n.bias);
          if (b.shape.length !== 1 || b.shape[0] !== w.shape[1]) throw graphError(g, n, `bias '${n.bias}' ${shapeText(b.shape)} does not match ${w.shape[1]} output channels`);
        }
        break;
      }
      case 'act':
        checkAct(g, n, n.act);
        break;
      case 'slice':
        if (!isNonNegInt(n.start) || !isNonNegInt(n.end) || n.end <= n.start) throw graphError(g, n, `channel range [${n.start}, ${n.end}) is empty or not integral`);
        break;
      case 'depthToSpace':
      case 'spaceToDepth':
        if (!isPosInt(n.scale)) throw graphError(g, n, `scale ${n.scale} is not a positive integer`);
        if (n.order !== 'pytorch' && n.order !== 'tf') throw graphError(g, n, `order '${String(n.order)}' is not 'pytorch' or 'tf'`);
        break;
      case 'estimateShift':
        if (!isPosInt(n.radius)) throw graphError(g, n, `radius ${n.radius} is not a positive integer`);
        break;
      case 'translate':
        if (typeof n.factor !== 'number' || !Number.isFinite(n.factor)) throw graphError(g, n, `factor ${n.factor} is not a finite number`);
        break;
      case 'maxPool':
        if (!isPosInt(n.kernel) || !isPosInt(n.stride)) throw graphError(g, n, `kernel ${n.kernel} and stride ${n.stride} must be positive integers`);
        break;
      case 'windowAttention':
        if (!isPosInt(n.heads) || !isPosInt(n.window)) throw graphError(g, n, `heads ${n.heads} and window ${n.window} must be positive integers`);
        if (n.window > MAX_ATTENTION_WINDOW) throw graphError(g, n, `window ${n.window} is larger than ${MAX_ATTENTION_WINDOW} (${MAX_ATTENTION_WINDOW ** 2} tokens attending to each other)`);
        break;
      case 'resizeLike':
        if (n.mode !== 'nearest' && n.mode !== 'bilinear') throw graphError(g, n, `resize mode '${String(n.mode)}' is not 'nearest' or 'bilinear'`);
        break;
      case 'globalPool':
        if (n.stat !== 'mean' && n.stat !== 'std') throw graphError(g, n, `statistic '${String(n.stat)}' is not 'mean' or 'std'`);
        break;
      case 'layerNorm': {
        if (typeof n.eps !== 'number' || !(n.eps > 0) || !Number.isFinite(n.eps)) throw graphError(g, n, `eps ${n.eps} is not a finite number > 0`);
        const w = checkWeightData(g, n, n.weight), b = checkWeightData(g, n, n.bias);
        if (w.shape.length !== 1) throw graphError(g, n, `weight '${n.weight}' ${shapeText(w.shape)} is not a vector [C]`);
        if (b.shape.length !== 1 || b.shape[0] !== w.shape[0]) throw graphError(g, n, `bias '${n.bias}' ${shapeText(b.shape)} does not match weight '${n.weight}' ${shapeText(w.shape)}`);
        break;
      }
      case 'resize':
        if (typeof n.scale !== 'number' || !(n.scale > 0) || !Number.isFinite(n.scale)) throw graphError(g, n, `scale ${n.scale} is not a positive finite number`);
        if (!['nearest', 'bilinear', 'bicubic', 'matlabBicubic'].includes(n.mode)) throw graphError(g, n, `unknown resize mode '${String(n.mode)}'`);
        break;
      default:
        break;
    }
    seen.add(n.id);
  });
  if (inputs < 1 || outputs < 1) throw graphError(g, null, `needs at least one input and one output node, has ${inputs} and ${outputs}`);
  if (g.meta.video) validateVideoMeta(g, g.meta.video);
  else if (g.meta.probe) return;
  else if (inputs !== 1 || outputs !== 1) throw graphError(g, null, `an image graph needs exactly one input and one output node, has ${inputs} and ${outputs} (a video step graph describes its inputs in meta.video)`);
}

function validateVideoMeta(g: Graph, v: VideoStepMeta): void {
  const ins = new Set(graphInputs(g).map((n) => n.id)), outs = new Set(graphOutputs(g).map((n) => n.id));
  const named = [...v.frames, ...v.state.map((s) => s.input)];
  const made = [...v.outputs, ...v.state.map((s) => s.output)];
  if (!isPosInt(v.count) || !isNonNegInt(v.window?.past) || !isNonNegInt(v.window?.future)) throw graphError(g, null, 'meta.video: count, window.past and window.future must be integers (count >= 1)');
  if (v.frames.length !== v.count + v.window.past + v.window.future) throw graphError(g, null, `meta.video: ${v.frames.length} frame inputs for a window of ${v.window.past} + ${v.count} + ${v.window.future}`);
  if (v.outputs.length !== v.count) throw graphError(g, null, `meta.video: ${v.outputs.length} frame outputs for count ${v.count}`);
  if (named.length !== ins.size || named.some((id) => !ins.has(id))) throw graphError(g, null, `meta.video names inputs [${named.join(', ')}], the graph has [${[...ins].join(', ')}]`);
  if (made.length !== outs.size || made.some((id) => !outs.has(id))) throw graphError(g, null, `meta.video names outputs [${made.join(', ')}], the graph has [${[...outs].join(', ')}]`);
}

/** The input nodes in graph order. */
export function graphInputs(g: Graph): InputNode[] {
  return g.nodes.filter((m): m is InputNode => m.op === 'input');
}

/** The output nodes in graph order. */
export function graphOutputs(g: Graph): OutputNode[] {
  return g.nodes.filter((m): m is OutputNode => m.op === 'output');
}

/** The first input node (an image graph's only one). */
export function inputNode(g: Graph): InputNode {
  const n = g.nodes.find((m): m is InputNode => m.op === 'input');
  if (!n) throw graphError(g, null, 'has no input node');
  return n;
}

/** The first output node (an image graph's only one). */
export function outputNode(g: Graph): OutputNode {
  const n = g.nodes.find((m): m is OutputNode => m.op === 'output');
  if (!n) throw graphError(g, null, 'has no output node');
  return n;
}

/** Names of the weights the nodes use, each once, in node order. */
export function usedWeights(g: Graph): string[] {
  const out = new Set<string>();
  for (const n of g.nodes) {
    if (n.op === 'conv' || n.op === 'convTranspose') {
      out.add(n.weight);
      if (n.bias !== null) out.add(n.bias);
    }
    if (n.op === 'layerNorm') out.add(n.weight).add(n.bias);
    const act = n.op === 'act' ? n.act : n.op === 'conv' ? n.act : undefined;
    if (act?.kind === 'prelu') out.add(act.alpha);
  }
  return [...out];
}

// ---- building --------------------------------------------------------------------------------

/** An activation with a PReLU's slopes given as values (GraphBuilder stores them as a weight). */
export type ActSpec = Exclude<Act, { kind: 'prelu' }> | { kind: 'prelu'; alpha: GraphWeight };

/** A state dict as the graph builders read it: PyTorch names to shapes and float32 values. */
export type WeightSource = Record<string, GraphWeight>;

/**
 * Appends nodes in order; each method returns the new node's id. Built from a model's state dict
 * (`sd`), `convOf(key)` and `weightOf(key)` read its weights by their PyTorch names, each stored
 * once however often it is used (a video step graph unrolled over frames shares its convs).
 */
export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly weights: Record<string, GraphWeight> = {};
  private readonly fromSd = new Set<string>();

  constructor(private readonly meta: GraphMeta, private readonly sd: WeightSource = {}) {}

  private push<N extends GraphNode>(n: N): string {
    if (this.nodes.some((m) => m.id === n.id)) throw new Error(`mvsr: GraphBuilder: duplicate node id '${n.id}'`);
    this.nodes.push(n);
    return n.id;
  }

  /** Store a weight under `name` (a copy of the values). */
  weight(name: string, t: GraphWeight): string {
    if (name in this.weights) throw new Error(`mvsr: GraphBuilder: duplicate weight '${name}'`);
    this.weights[name] = { shape: [...t.shape], data: Float32Array.from(t.data) };
    return name;
  }

  /** The state dict's tensor `key`, or an error naming the architecture and the missing key. */
  sdTensor(key: string): GraphWeight {
    const t = this.sd[key];
    if (!t) throw new Error(`mvsr: toGraph: ${this.meta.arch}: the state dict has no '${key}'`);
    return t;
  }

  /** The state dict's tensor `key` stored as a graph weight of the same name (once). */
  private sdWeight(key: string): string {
    if (!this.fromSd.has(key)) {
      this.weight(key, this.sdTensor(key));
      this.fromSd.add(key);
    }
    return key;
  }

  private act0(key: string, a: ActSpec): Act {
    return a.kind === 'prelu' ? { kind: 'prelu', alpha: this.weight(key, a.alpha) } : a;
  }

  /** A graph input: `channels` channels at `scale` times the base size (the primary input is 'input'). */
  input(channels: number, id = 'input', scale = 1): string {
    return this.push({ op: 'input', id, inputs: [], channels, ...(scale !== 1 ? { scale } : {}) });
  }

  /** Conv with weights stored as `${id}.weight` / `${id}.bias` (a fused PReLU's as `${id}.alpha`); padding defaults to (k-1)/2. */
  conv(id: string, x: string, weight: GraphWeight, bias: GraphWeight | null, o: { groups?: number; padding?: number; dilation?: number; stride?: number; act?: ActSpec; linear?: boolean } = {}): string {
    const k = weight.shape[2]!, d = o.dilation ?? 1;
    const n: ConvNode = {
      op: 'conv', id, inputs: [x], weight: this.weight(`${id}.weight`, weight), bias: bias ? this.weight(`${id}.bias`, bias) : null,
      kernel: k, groups: o.groups ?? 1, padding: o.padding ?? ((k - 1) * d) / 2, ...(d !== 1 ? { dilation: d } : {}), ...((o.stride ?? 1) !== 1 ? { stride: o.stride } : {}),
      ...(o.linear ? { linear: true as const } : {}),
    };
    if (o.act) n.act = this.act0(`${id}.alpha`, o.act);
    return this.push(n);
  }

  /**
   * The state dict's conv `key` (`${key}.weight`, `${key}.bias` when present) as node `id`
   * (default: the key), with an optional fused activation (a PReLU names its slope key).
   */
  convOf(key: string, x: string, o: { id?: string; groups?: number; padding?: number; dilation?: number; stride?: number; act?: Act } = {}): string {
    const weight = this.sdWeight(`${key}.weight`);
    const k = this.sdTensor(weight).shape[2]!, d = o.dilation ?? 1;
    const n: ConvNode = {
      op: 'conv', id: o.id ?? key, inputs: [x], weight, bias: this.sd[`${key}.bias`] ? this.sdWeight(`${key}.bias`) : null,
      kernel: k, groups: o.groups ?? 1, padding: o.padding ?? ((k - 1) * d) / 2, ...(d !== 1 ? { dilation: d } : {}), ...((o.stride ?? 1) !== 1 ? { stride: o.stride } : {}),
    };
    if (o.act) n.act = o.act.kind === 'prelu' ? { kind: 'prelu', alpha: this.sdWeight(o.act.alpha) } : o.act;
    return this.push(n);
  }

  /**
   * The state dict's nn.Linear `key` (weight [out, in], `${key}.bias` when present) over each
   * pixel's channels as a 1x1 conv marked linear (the NTIRE counter counts no Linear as a conv);
   * `colScale` multiplies its input columns (a per-channel weight folded in).
   */
  linearOf(key: string, x: string, o: { id?: string; act?: ActSpec; colScale?: Float32Array } = {}): string {
    const w = this.sdTensor(`${key}.weight`);
    if (w.shape.length !== 2) throw new Error(`mvsr: toGraph: ${this.meta.arch}: '${key}.weight' [${w.shape.join(',')}] is not a Linear weight [out, in]`);
    const [out, inn] = w.shape as [number, number];
    const data = o.colScale ? w.data.map((v, i) => v * o.colScale![i % inn]!) : w.data;
    const bias = this.sd[`${key}.bias`] ? this.sdTensor(`${key}.bias`) : null;
    return this.conv(o.id ?? key, x, { shape: [out, inn, 1, 1], data }, bias, { linear: true, ...(o.act ? { act: o.act } : {}) });
  }

  /** The state dict's PReLU slopes `key` as an activation (for act() or convOf's act). */
  prelu(key: string): Act {
    return { kind: 'prelu', alpha: this.sdWeight(key) };
  }

  /** The state dict's transposed conv `key` as node `key`. */
  convTransposeOf(key: string, x: string, o: { stride: number; padding?: number; outputPadding?: number }): string {
    const weight = this.sdWeight(`${key}.weight`);
    return this.push({
      op: 'convTranspose', id: key, inputs: [x], weight, bias: this.sd[`${key}.bias`] ? this.sdWeight(`${key}.bias`) : null,
      kernel: this.sdTensor(weight).shape[2]!, stride: o.stride, padding: o.padding ?? 0, outputPadding: o.outputPadding ?? 0,
    });
  }

  convTranspose(id: string, x: string, weight: GraphWeight, bias: GraphWeight | null, o: { stride: number; padding?: number; outputPadding?: number }): string {
    return this.push({
      op: 'convTranspose', id, inputs: [x], weight: this.weight(`${id}.weight`, weight), bias: bias ? this.weight(`${id}.bias`, bias) : null,
      kernel: weight.shape[2]!, stride: o.stride, padding: o.padding ?? 0, outputPadding: o.outputPadding ?? 0,
    });
  }

  /** An activation node; a PReLU given by values is stored as `${id}.weight` (nn.PReLU's name), one from prelu(key) by its key. */
  act(id: string, x: string, a: ActSpec | Act): string {
    const act = a.kind === 'prelu' && typeof a.alpha === 'string' ? a as Act : this.act0(`${id}.weight`, a as ActSpec);
    return this.push({ op: 'act', id, inputs: [x], act });
  }

  add(id: string, a: string, b: string): string {
    return this.push({ op: 'add', id, inputs: [a, b] });
  }

  mul(id: string, a: string, b: string): string {
    return this.push({ op: 'mul', id, inputs: [a, b] });
  }

  concat(id: string, xs: string[]): string {
    return this.push({ op: 'concat', id, inputs: [...xs] });
  }

  slice(id: string, x: string, start: number, end: number): string {
    return this.push({ op: 'slice', id, inputs: [x], start, end });
  }

  /**
   * ShuffleNet's channel shuffle of node x (C channels, g groups): output channel o is input
   * channel shuffleSource(o, C, g). Lowered to one slice per channel and one concat, which every
   * backend runs; node ids start with `id`.
   */
  channelShuffle(id: string, x: string, C: number, g: number): string {
    return this.concat(id, shuffleOrder(C, g).map((c) => this.slice(`${id}.${c}`, x, c, c + 1)));
  }

  /**
   * torch.repeat_interleave(x, times, dim=channels) as slices and one concat: channel c fills
   * channels c*times .. c*times+times-1 (so pixel shuffle spreads each LR pixel over its block).
   */
  repeatInterleave(id: string, x: string, C: number, times: number): string {
    const parts: string[] = [];
    for (let c = 0; c < C; c++) {
      const ch = C === 1 ? x : this.slice(`${id}.c${c}`, x, c, c + 1);
      for (let j = 0; j < times; j++) parts.push(ch);
    }
    return this.concat(id, parts);
  }

  depthToSpace(id: string, x: string, scale: number, order: GraphPixelOrder = 'pytorch'): string {
    return this.push({ op: 'depthToSpace', id, inputs: [x], scale, order });
  }

  spaceToDepth(id: string, x: string, scale: number, order: GraphPixelOrder = 'pytorch'): string {
    return this.push({ op: 'spaceToDepth', id, inputs: [x], scale, order });
  }

  resize(id: string, x: string, scale: number, mode: GraphResizeMode): string {
    return this.push({ op: 'resize', id, inputs: [x], scale, mode });
  }

  maxPool(id: string, x: string, kernel: number, stride: number): string {
    return this.push({ op: 'maxPool', id, inputs: [x], kernel, stride });
  }

  /** x resized to the size of node `like`. */
  resizeLike(id: string, x: string, like: string, mode: 'nearest' | 'bilinear' = 'bilinear'): string {
    return this.push({ op: 'resizeLike', id, inputs: [x, like], mode });
  }

  globalPool(id: string, x: string, stat: 'mean' | 'std'): string {
    return this.push({ op: 'globalPool', id, inputs: [x], stat });
  }

  scaleChannels(id: string, x: string, scale: string): string {
    return this.push({ op: 'scaleChannels', id, inputs: [x, scale] });
  }

  /** Layer normalisation over the channels with weights stored as `${id}.weight` / `${id}.bias`. */
  layerNorm(id: string, x: string, weight: GraphWeight, bias: GraphWeight, eps = 1e-5): string {
    return this.push({ op: 'layerNorm', id, inputs: [x], weight: this.weight(`${id}.weight`, weight), bias: this.weight(`${id}.bias`, bias), eps });
  }

  /** Windowed multi-head self-attention over node qkv (each pixel's q, k, v side by side). */
  windowAttention(id: string, qkv: string, heads: number, window: number): string {
    return this.push({ op: 'windowAttention', id, inputs: [qkv], heads, window });
  }

  /** The state dict's nn.LayerNorm `key` (`${key}.weight`, `${key}.bias`) as node `id` (default: the key). */
  layerNormOf(key: string, x: string, eps = 1e-5, id = key): string {
    return this.push({ op: 'layerNorm', id, inputs: [x], weight: this.sdWeight(`${key}.weight`), bias: this.sdWeight(`${key}.bias`), eps });
  }

  estimateShift(id: string, prev: string, cur: string, radius: number): string {
    return this.push({ op: 'estimateShift', id, inputs: [prev, cur], radius });
  }

  translate(id: string, x: string, shift: string, factor = 1): string {
    return this.push({ op: 'translate', id, inputs: [x, shift], factor });
  }

  /** Close the graph with an output node and validate it. */
  output(x: string, id = 'output'): Graph {
    return this.outputs([[id, x]]);
  }

  /** Close the graph with named outputs ([output id, node read]) and validate it; `video` describes a step graph. */
  outputs(outs: [string, string][], video?: VideoStepMeta): Graph {
    for (const [id, x] of outs) this.push({ op: 'output', id, inputs: [x] });
    const g: Graph = { meta: { ...this.meta, args: { ...this.meta.args }, ...(video ? { video } : {}) }, nodes: [...this.nodes], weights: { ...this.weights } };
    validateGraph(g);
    return g;
  }
}

// ---- serialisation ---------------------------------------------------------------------------

export const GRAPH_FORMAT = 'mvsr-graph';
export const GRAPH_VERSION = 1;

/** The JSON document: the graph with each weight replaced by its shape and offset (in floats) into the blob. */
export interface GraphJSON {
  format: typeof GRAPH_FORMAT;
  version: number;
  meta: GraphMeta;
  nodes: GraphNode[];
  weights: Record<string, { shape: number[]; offset: number }>;
}

/** JSON text for the structure plus all weights packed into one Float32Array (in name order). */
export function serializeGraph(g: Graph): { json: string; blob: Float32Array } {
  validateGraph(g);
  const names = Object.keys(g.weights).sort();
  let total = 0;
  const index: GraphJSON['weights'] = {};
  for (const k of names) {
    index[k] = { shape: [...g.weights[k]!.shape], offset: total };
    total += g.weights[k]!.data.length;
  }
  const blob = new Float32Array(total);
  for (const k of names) blob.set(g.weights[k]!.data, index[k]!.offset);
  const doc: GraphJSON = { format: GRAPH_FORMAT, version: GRAPH_VERSION, meta: g.meta, nodes: g.nodes, weights: index };
  return { json: JSON.stringify(doc), blob };
}

/** Inverse of serializeGraph (weights are copied out of the blob); validates the result. */
export function deserializeGraph(json: string, blob: Float32Array): Graph {
  let doc: GraphJSON;
  try {
    doc = JSON.parse(json) as GraphJSON;
  } catch (e) {
    throw new Error(`mvsr: deserializeGraph: not JSON (${(e as Error).message})`);
  }
  if (doc?.format !== GRAPH_FORMAT) throw new Error(`mvsr: deserializeGraph: format '${String(doc?.format)}' is not '${GRAPH_FORMAT}'`);
  if (doc.version !== GRAPH_VERSION) throw new Error(`mvsr: deserializeGraph: version ${doc.version} is not supported (expected ${GRAPH_VERSION})`);
  const weights: Record<string, GraphWeight> = {};
  for (const [k, { shape, offset }] of Object.entries(doc.weights ?? {})) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (!isNonNegInt(offset) || offset + size > blob.length) {
      throw new Error(`mvsr: deserializeGraph: weight '${k}' ${shapeText(shape)} at offset ${offset} lies outside the ${blob.length}-float blob`);
    }
    weights[k] = { shape: [...shape], data: blob.slice(offset, offset + size) };
  }
  const g: Graph = { meta: doc.meta, nodes: doc.nodes, weights };
  validateGraph(g);
  return g;
}

/** One line per node: id, op, inputs and attributes (for logs and error reports). */
export function describeGraph(g: Graph): string {
  return g.nodes.map((n) => {
    const { id, op, inputs, ...attrs } = n as GraphNode & Record<string, unknown>;
    const a = Object.entries(attrs).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
    return `${id} = ${op}(${inputs.join(', ')})${a ? ` ${a}` : ''}`;
  }).join('\n');
}
