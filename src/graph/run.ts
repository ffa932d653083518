// Interpreter of the deploy IR on the engine's raw ops (no autograd). Two IR-to-IR passes fold
// activations and channel slices into the convs before them; the plan then runs the last
// conv (+ residual add + activation) + depth_to_space as one fused kernel where the pattern fits.
// Every intermediate is freed as soon as its last consumer has run.
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { conv2d, conv2dDepthToSpace, type Activation } from '../tensor/ops/conv.js';
import { convTranspose2d } from '../tensor/ops/convTranspose.js';
import { relu, leakyRelu, prelu, tanh, sigmoid, clamp, add, mul } from '../tensor/ops/pointwise.js';
import { concat, copyChannels, depthToSpace } from '../tensor/ops/layout.js';
import { upsample } from '../tensor/ops/resize.js';
import { matlabImresize } from '../tensor/ops/matlabResize.js';
import {
  type Graph, type GraphNode, type ConvNode, type ActNode, type Act, type GraphWeight,
  type DepthToSpaceNode, graphError, inputNode, outputNode, usedWeights, validateGraph,
} from './ir.js';
import { inferShapes, inferChannels } from './shapes.js';

// ---- passes ----------------------------------------------------------------------------------

/** How many times each node's output is read (an input listed twice counts twice). */
export function useCounts(g: Graph): Map<string, number> {
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  return uses;
}

/**
 * Rewrite nodes in order: `fold(n, inputs, out)` may return the id of an already emitted node
 * that now computes n (n is dropped and its readers renamed), or null to keep n.
 */
function rewrite(g: Graph, fold: (n: GraphNode, emitted: Map<string, GraphNode>, weights: Record<string, GraphWeight>) => string | null): Graph {
  const rename = new Map<string, string>();
  const emitted = new Map<string, GraphNode>();
  const weights = { ...g.weights };
  const nodes: GraphNode[] = [];
  for (const n0 of g.nodes) {
    const n = { ...n0, inputs: n0.inputs.map((i) => rename.get(i) ?? i) } as GraphNode;
    const into = fold(n, emitted, weights);
    if (into !== null) {
      rename.set(n.id, into);
      continue;
    }
    nodes.push(n);
    emitted.set(n.id, n);
  }
  const out: Graph = { meta: g.meta, nodes, weights };
  const keep = new Set(usedWeights(out));
  out.weights = Object.fromEntries(Object.entries(weights).filter(([k]) => keep.has(k)));
  return out;
}

/** conv -> act with the conv read only by the act: the conv's fused activation (every Act kind has a kernel epilogue). */
export function fuseConvActivations(g: Graph): Graph {
  const uses = useCounts(g);
  return rewrite(g, (n, emitted) => {
    if (n.op !== 'act') return null;
    const c = emitted.get(n.inputs[0]!);
    if (!c || c.op !== 'conv' || c.act || uses.get(c.id) !== 1) return null;
    c.act = n.act;
    return c.id;
  });
}

function rows(w: GraphWeight, start: number, end: number): GraphWeight {
  const per = w.shape.slice(1).reduce((a, b) => a * b, 1);
  return { shape: [end - start, ...w.shape.slice(1)], data: w.data.slice(start * per, end * per) };
}

/**
 * slice(conv(x)) with the conv read only by the slice (groups 1): a conv computing just those
 * output channels (weights, bias and per-channel PReLU slopes cut to the range).
 */
export function foldChannelSlices(g: Graph): Graph {
  const uses = useCounts(g);
  return rewrite(g, (n, emitted, weights) => {
    if (n.op !== 'slice') return null;
    const c = emitted.get(n.inputs[0]!);
    if (!c || c.op !== 'conv' || c.groups !== 1 || uses.get(c.id) !== 1) return null;
    const w = weights[c.weight];
    if (!w || n.end > w.shape[0]!) return null; // inconsistent: leave it to shape inference
    const tag = `[${n.start}:${n.end}]`;
    const cut = (name: string): string => {
      const key = `${name}${tag}`;
      weights[key] = rows(weights[name]!, n.start, n.end);
      return key;
    };
    if (c.act?.kind === 'prelu' && weights[c.act.alpha]?.shape[0] !== 1) c.act = { kind: 'prelu', alpha: cut(c.act.alpha) };
    c.weight = cut(c.weight);
    if (c.bias !== null) c.bias = cut(c.bias);
    return c.id;
  });
}

/**
 * act(depthToSpace(x)) with the depthToSpace read only by the act becomes depthToSpace(act(x)):
 * an element-wise activation commutes with the pixel permutation (a PReLU only when its slope is
 * shared; per-channel slopes would change channel), and before the depthToSpace it can join the
 * conv, so ESPCN's conv + pixel shuffle + sigmoid tail runs as one fused kernel. Only one
 * activation moves (the conv epilogue applies one); a second stays after the shuffle.
 */
export function hoistActivationsAboveDepthToSpace(g: Graph): Graph {
  for (;;) {
    const uses = useCounts(g);
    const byId = new Map(g.nodes.map((n) => [n.id, n]));
    const moved = new Map<string, ActNode>(); // depthToSpace id -> the act that moves above it
    for (const n of g.nodes) {
      if (n.op !== 'act' || (n.act.kind === 'prelu' && g.weights[n.act.alpha]?.data.length !== 1)) continue;
      const d = byId.get(n.inputs[0]!);
      if (d?.op !== 'depthToSpace' || uses.get(d.id) !== 1) continue;
      // one activation per conv epilogue: a second one stays after the shuffle
      const src = byId.get(d.inputs[0]!);
      if (src?.op === 'act' || (src?.op === 'conv' && src.act)) continue;
      moved.set(d.id, n);
    }
    if (moved.size === 0) return g;
    const rename = new Map<string, string>([...moved].map(([d, a]) => [a.id, d]));
    const nodes: GraphNode[] = [];
    for (const n0 of g.nodes) {
      if (rename.has(n0.id)) continue;
      const n = { ...n0, inputs: n0.inputs.map((i) => rename.get(i) ?? i) } as GraphNode;
      const a = moved.get(n.id);
      if (a) nodes.push({ ...a, inputs: [n.inputs[0]!] }, { ...n, inputs: [a.id] } as GraphNode);
      else nodes.push(n);
    }
    g = { meta: g.meta, nodes, weights: g.weights };
  }
}

/** The passes runGraph applies (when fuse is on): activations above pixel shuffles, slices into convs, activations into convs. */
export function optimizeGraph(g: Graph): Graph {
  validateGraph(g);
  return fuseConvActivations(foldChannelSlices(fuseConvActivations(hoistActivationsAboveDepthToSpace(g))));
}

// ---- plan ------------------------------------------------------------------------------------

interface Step {
  id: string;
  label: string;
  inputs: string[];
  exec: (ins: Tensor[]) => Tensor;
}

export interface RunOptions {
  /** Apply optimizeGraph and the fused conv + residual + activation + depth_to_space kernel (default true). */
  fuse?: boolean;
}

export interface CompiledGraph {
  readonly graph: Graph;
  /** One label per executed step, in order (e.g. "conv_last+depthToSpace(upsampler)"). */
  readonly plan: readonly string[];
  /**
   * Run on an NHWC input; returns a new tensor (x is not consumed). `onStep` is called after each
   * step, once the values it read for the last time are freed (for tracing and memory tests).
   */
  run(x: Tensor, onStep?: (label: string) => void): Tensor;
  /** Free the weight tensors. */
  dispose(): void;
}

/** Where a residual's channels come from: concat of slices of one source (or the source itself). */
function residualMap(r: GraphNode, byId: Map<string, GraphNode>, channels: Map<string, number>): { src: string; map: number[] } {
  if (r.op === 'concat') {
    let src: string | null = null;
    const map: number[] = [];
    for (const i of r.inputs) {
      const p = byId.get(i)!;
      const [s, lo, hi] = p.op === 'slice' ? [p.inputs[0]!, p.start, p.end] : [p.id, 0, channels.get(p.id)!];
      if (src !== null && s !== src) return { src: r.id, map: identity(channels.get(r.id)!) };
      src = s;
      for (let c = lo; c < hi; c++) map.push(c);
    }
    return { src: src!, map };
  }
  return { src: r.id, map: identity(channels.get(r.id)!) };
}

const identity = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * Compile a graph for repeated runs: passes, a step list with fused kernels, weights uploaded
 * to the engine once. Channel consistency is checked here; sizes at each run.
 */
export function compileGraph(g: Graph, opts: RunOptions = {}): CompiledGraph {
  const fuse = opts.fuse ?? true;
  const original = g;
  inferChannels(g); // channel consistency, with errors naming nodes
  const fg = fuse ? optimizeGraph(g) : g;
  const channels = inferChannels(fg);
  const byId = new Map(fg.nodes.map((n) => [n.id, n]));
  const uses = useCounts(fg);
  const tensors = new Map<string, Tensor>();
  const W = (name: string): Tensor => {
    let t = tensors.get(name);
    if (!t) {
      const w = fg.weights[name]!;
      t = Tensor.from(w.shape, w.data);
      tensors.set(name, t);
    }
    return t;
  };
  const toActivation = (a: Act | undefined): Activation => {
    if (!a) return { kind: 'none' };
    switch (a.kind) {
      case 'leaky': return { kind: 'leaky', slope: a.slope };
      case 'clamp': return { kind: 'clamp', lo: a.lo, hi: a.hi };
      case 'prelu': return { kind: 'prelu', alpha: W(a.alpha) };
      default: return { kind: a.kind }; // relu, tanh, sigmoid
    }
  };
  const applyAct = (a: Act, x: Tensor): Tensor => {
    switch (a.kind) {
      case 'relu': return relu(x);
      case 'leaky': return leakyRelu(x, a.slope);
      case 'prelu': return prelu(x, W(a.alpha));
      case 'tanh': return tanh(x);
      case 'sigmoid': return sigmoid(x);
      case 'clamp': return clamp(x, a.lo, a.hi);
    }
  };
  const convStep = (c: ConvNode): Step['exec'] => {
    const w = W(c.weight), b = c.bias === null ? null : W(c.bias);
    const act = toActivation(c.act);
    return ([x]) => conv2d(x!, w, b, { groups: c.groups, padding: c.padding, act });
  };

  /** depthToSpace over [act](conv [+ residual]) as one conv2dDepthToSpace step, or null. */
  const fusedTail = (d: DepthToSpaceNode): { step: Step; absorbed: string[] } | null => {
    const single = (id: string): GraphNode | null => (uses.get(id) === 1 ? byId.get(id)! : null);
    let n = single(d.inputs[0]!);
    const absorbed: string[] = [];
    let act: Act | undefined;
    if (n?.op === 'act') {
      act = n.act;
      absorbed.push(n.id);
      n = single(n.inputs[0]!);
    }
    let residual: { src: string; map: number[] } | null = null;
    if (n?.op === 'add') {
      const [a, b] = n.inputs as [string, string];
      const ca = single(a), cb = a === b ? null : single(b);
      const conv = ca?.op === 'conv' && !ca.act ? ca : cb?.op === 'conv' && !cb.act ? cb : null;
      if (!conv) return null;
      absorbed.push(n.id);
      residual = residualMap(byId.get(conv.id === a ? b : a)!, byId, channels);
      n = conv;
    } else if (act && n?.op === 'conv' && n.act) {
      return null; // act(conv with its own act): two activations
    }
    if (n?.op !== 'conv' || n.groups !== 1) return null;
    const c = n;
    act ??= c.act;
    const fused = toActivation(act);
    absorbed.push(c.id);
    const w = W(c.weight), b = c.bias === null ? null : W(c.bias);
    const res = residual;
    const label = `${c.id}${res ? `+residual(${res.src})` : ''}${act ? `+${act.kind}` : ''}+depthToSpace(${d.id})`;
    return {
      absorbed,
      step: {
        id: d.id, label, inputs: res ? [c.inputs[0]!, res.src] : [c.inputs[0]!],
        exec: ([x, r]) => conv2dDepthToSpace(x!, w, b, { scale: d.scale, order: d.order, residual: r, residualMap: res?.map }, { padding: c.padding, act: fused }),
      },
    };
  };

  const steps: Step[] = [];
  const absorbed = new Set<string>();
  const tails = new Map<string, Step>();
  if (fuse) {
    for (const n of fg.nodes) {
      if (n.op !== 'depthToSpace') continue;
      const t = fusedTail(n);
      if (!t) continue;
      tails.set(n.id, t.step);
      for (const a of t.absorbed) absorbed.add(a);
    }
  }
  for (const n of fg.nodes) {
    if (n.op === 'input' || n.op === 'output' || absorbed.has(n.id)) continue;
    const tail = tails.get(n.id);
    if (tail) {
      steps.push(tail);
      continue;
    }
    const step = (exec: Step['exec']): Step => ({ id: n.id, label: `${n.op}(${n.id})${n.op === 'conv' && n.act ? `+${n.act.kind}` : ''}`, inputs: n.inputs, exec });
    switch (n.op) {
      case 'conv': steps.push(step(convStep(n))); break;
      case 'convTranspose': {
        const w = W(n.weight), b = n.bias === null ? null : W(n.bias);
        steps.push(step(([x]) => convTranspose2d(x!, w, b, { stride: n.stride, padding: n.padding, outputPadding: n.outputPadding })));
        break;
      }
      case 'act': {
        const a = n.act;
        if (a.kind === 'prelu') W(a.alpha);
        steps.push(step(([x]) => applyAct(a, x!)));
        break;
      }
      case 'add': steps.push(step(([a, b]) => add(a!, b!))); break;
      case 'mul': steps.push(step(([a, b]) => mul(a!, b!))); break;
      case 'concat': steps.push(step((xs) => concat(xs))); break;
      case 'slice':
        steps.push(step(([x]) => {
          const [N, H, Wd] = x!.shape as [number, number, number];
          const y = Tensor.empty([N, H, Wd, n.end - n.start]);
          try {
            copyChannels(x!, n.start, y, 0, n.end - n.start);
          } catch (e) {
            y.dispose();
            throw e;
          }
          return y;
        }));
        break;
      case 'depthToSpace': steps.push(step(([x]) => depthToSpace(x!, n.scale, n.order))); break;
      case 'resize':
        steps.push(step(([x]) => (n.mode === 'matlabBicubic' ? matlabImresize(x!, n.scale) : upsample(x!, n.scale, n.mode))));
        break;
    }
  }

  // drop steps nothing needs (the slices and concat of a residual the fused tail reads directly)
  const inId = inputNode(fg).id, out = outputNode(fg), outSrc = out.inputs[0]!;
  const needed = new Set([outSrc]);
  const live: Step[] = [];
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i]!;
    if (!needed.has(s.id)) continue;
    for (const x of s.inputs) needed.add(x);
    live.unshift(s);
  }
  const reads = new Map<string, number>([[outSrc, 1]]);
  for (const s of live) for (const x of s.inputs) reads.set(x, (reads.get(x) ?? 0) + 1);
  const Cin = inputNode(original).channels;

  return {
    graph: fg,
    plan: live.map((s) => s.label),
    run(x: Tensor, onStep?: (label: string) => void): Tensor {
      if (x.shape.length !== 4 || x.shape[3] !== Cin) {
        throw graphError(original, inputNode(original), `expects an NHWC input with ${Cin} channels, got ${shapeStr(x.shape)}`);
      }
      inferShapes(original, x.shape[1]!, x.shape[2]!); // size errors name the node
      const vals = new Map<string, Tensor>([[inId, x]]);
      const left = new Map(reads);
      try {
        for (const s of live) {
          let y: Tensor;
          try {
            y = s.exec(s.inputs.map((i) => vals.get(i)!));
          } catch (e) {
            throw graphError(original, byId.get(s.id) ?? null, `${s.label}: ${(e as Error).message.replace(/^mvsr: /, '')}`);
          }
          vals.set(s.id, y);
          for (const i of s.inputs) {
            const k = left.get(i)! - 1;
            left.set(i, k);
            if (k === 0 && i !== inId) {
              vals.get(i)!.dispose();
              vals.delete(i);
            }
          }
          onStep?.(s.label);
        }
        const y = vals.get(outSrc)!;
        if (y === x) return x.clone();
        vals.delete(outSrc);
        return y;
      } finally {
        for (const [id, t] of vals) if (id !== inId) t.dispose();
      }
    },
    dispose(): void {
      for (const t of tensors.values()) t.dispose();
      tensors.clear();
    },
  };
}

/** Run a graph once on x (NHWC, the graph's input channels): compile, run, free the weights. */
export function runGraph(g: Graph, x: Tensor, opts: RunOptions = {}): Tensor {
  if (x.shape.length === 4) inferShapes(g, x.shape[1]!, x.shape[2]!); // errors with this input's sizes
  const c = compileGraph(g, opts);
  try {
    return c.run(x);
  } finally {
    c.dispose();
  }
}

