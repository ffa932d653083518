// IR-to-IR passes over the deploy graph, applied before a backend compiles it: activations fold
// into the convs before them (one moves above a pixel shuffle to get there), and a channel slice
// of a conv becomes a conv computing just those channels. Each pass returns a new graph that
// computes the same function.
import { type Graph, type GraphNode, type ActNode, type Act, type ConvNode, type DepthToSpaceNode, type GraphWeight, usedWeights, validateGraph } from './ir.js';

/** How many times each node's output is read (an input listed twice counts twice). */
export function useCounts(g: Graph): Map<string, number> {
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  return uses;
}

/**
 * Rewrite nodes in order: `fold(n, inputs, out)` may return the id of an already emitted node
 * that now computes n (n is dropped and its readers renamed), a node to emit in n's place (same
 * id), or null to keep n. Nodes nothing reads any more are dropped at the end.
 */
function rewrite(g: Graph, fold: (n: GraphNode, emitted: Map<string, GraphNode>, weights: Record<string, GraphWeight>) => string | GraphNode | null): Graph {
  const rename = new Map<string, string>();
  const emitted = new Map<string, GraphNode>();
  const weights = { ...g.weights };
  let nodes: GraphNode[] = [];
  for (const n0 of g.nodes) {
    let n = { ...n0, inputs: n0.inputs.map((i) => rename.get(i) ?? i) } as GraphNode;
    const into = fold(n, emitted, weights);
    if (typeof into === 'string') {
      rename.set(n.id, into);
      continue;
    }
    if (into) n = into;
    nodes.push(n);
    emitted.set(n.id, n);
  }
  // drop what no output needs (a conv whose every slice became a conv of its own)
  const needed = new Set<string>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (n.op === 'output' || n.op === 'input' || needed.has(n.id)) for (const x of n.inputs) needed.add(x);
  }
  nodes = nodes.filter((n) => n.op === 'output' || n.op === 'input' || needed.has(n.id));
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

/** Output channels [start, end) of a weight (OIHW) or bias. */
export function rows(w: GraphWeight, start: number, end: number): GraphWeight {
  const per = w.shape.slice(1).reduce((a, b) => a * b, 1);
  return { shape: [end - start, ...w.shape.slice(1)], data: w.data.slice(start * per, end * per) };
}

/**
 * slice(conv(x)) with the conv read only by slices (groups 1): a conv computing just those output
 * channels (weights, bias and per-channel PReLU slopes cut to the range). One slice takes the
 * conv's place; several (RLSP's output residual and next hidden state) each get a conv of their
 * own, which can then fuse with what follows (depth_to_space, an activation).
 */
export function foldChannelSlices(g: Graph): Graph {
  const uses = useCounts(g);
  const slices = new Map<string, number>();
  for (const n of g.nodes) if (n.op === 'slice') slices.set(n.inputs[0]!, (slices.get(n.inputs[0]!) ?? 0) + 1);
  return rewrite(g, (n, emitted, weights) => {
    if (n.op !== 'slice') return null;
    const c = emitted.get(n.inputs[0]!);
    if (!c || c.op !== 'conv' || c.groups !== 1 || uses.get(c.id) !== slices.get(c.id)) return null;
    const w = weights[c.weight];
    if (!w || n.end > w.shape[0]!) return null; // inconsistent: leave it to shape inference
    const tag = `[${n.start}:${n.end}]`;
    const cut = (name: string): string => {
      const key = `${name}${tag}`;
      weights[key] ??= rows(weights[name]!, n.start, n.end);
      return key;
    };
    const alpha = c.act?.kind === 'prelu' && weights[c.act.alpha]?.shape[0] !== 1 ? cut(c.act.alpha) : null;
    const part = { ...c, weight: cut(c.weight), bias: c.bias === null ? null : cut(c.bias), ...(alpha ? { act: { kind: 'prelu' as const, alpha } } : {}) };
    if (uses.get(c.id) === 1) {
      Object.assign(c, part);
      return c.id;
    }
    return { ...part, id: n.id, inputs: [...c.inputs] };
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

/**
 * A grouped conv that is not depthwise (VapSR-S's groups-2 body conv) as one conv per group over
 * its channel slice, joined by a concat: the same values, for formats whose convs have no groups
 * (TFLite's CONV_2D, DEPTHWISE_CONV_2D). Weights, biases and per-channel PReLU slopes are cut per group.
 * `stayWhole` says which grouped convs stay whole (default: the depthwise ones, Cin = Cout = groups).
 */
export function splitGroupedConvs(g: Graph, channels: Map<string, number>, stayWhole: (n: GraphNode & { op: 'conv' }, Cin: number, Cout: number) => boolean = (n, Cin, Cout) => n.groups === Cin && Cout === Cin): Graph {
  const nodes: GraphNode[] = [];
  const weights = { ...g.weights };
  for (const n of g.nodes) {
    const Cin = n.op === 'conv' ? channels.get(n.inputs[0]!)! : 0;
    const Cout = n.op === 'conv' ? g.weights[n.weight]!.shape[0]! : 0;
    if (n.op !== 'conv' || n.groups === 1 || stayWhole(n, Cin, Cout)) {
      nodes.push(n);
      continue;
    }
    const cig = Cin / n.groups, cog = Cout / n.groups;
    const parts: string[] = [];
    for (let k = 0; k < n.groups; k++) {
      const id = `${n.id}.group${k}`, cut = (name: string): string => {
        weights[`${name}.group${k}`] = rows(g.weights[name]!, k * cog, (k + 1) * cog);
        return `${name}.group${k}`;
      };
      const alpha = n.act?.kind === 'prelu' && g.weights[n.act.alpha]!.shape[0] !== 1 ? cut(n.act.alpha) : null;
      nodes.push({ op: 'slice', id: `${id}.in`, inputs: [n.inputs[0]!], start: k * cig, end: (k + 1) * cig });
      nodes.push({ ...n, id, inputs: [`${id}.in`], groups: 1, weight: cut(n.weight), bias: n.bias === null ? null : cut(n.bias), ...(alpha ? { act: { kind: 'prelu' as const, alpha } } : {}) });
      parts.push(id);
    }
    nodes.push({ op: 'concat', id: n.id, inputs: parts });
  }
  const out: Graph = { meta: g.meta, nodes, weights };
  const keep = new Set(usedWeights(out));
  out.weights = Object.fromEntries(Object.entries(weights).filter(([k]) => keep.has(k)));
  validateGraph(out);
  return out;
}

/**
 * The diagonal of a 1x1 conv that scales each channel on its own (groups 1 with every weight off
 * the diagonal 0, or depthwise), stride 1, no padding or dilation; null for any other conv.
 */
function channelScales(n: ConvNode, w: GraphWeight): Float32Array | null {
  if (n.kernel !== 1 || n.padding !== 0 || (n.stride ?? 1) !== 1 || (n.dilation ?? 1) !== 1) return null;
  const [C, cin] = w.shape as [number, number];
  if (n.groups === C && cin === 1) return Float32Array.from(w.data);
  if (n.groups !== 1 || cin !== C) return null;
  const d = new Float32Array(C);
  for (let o = 0; o < C; o++) {
    for (let i = 0; i < C; i++) {
      const v = w.data[o * C + i]!;
      if (i === o) d[o] = v;
      else if (v !== 0) return null;
    }
  }
  return d;
}

/**
 * B(A(x)) where B is a 1x1 conv that scales each channel on its own (d, plus its bias b) and A a
 * conv that only B reads: one conv, A's weights and bias times d plus b, when the activations
 * fold too: A without one (B's activation stays), or A and B both ReLU with every d < 0 and one b
 * for all channels: relu(d relu(u) + b) = clamp(d u + b, 0, relu(b)) for d < 0 (u <= 0 gives
 * relu(b); u > 0 gives relu(d u + b), which is below b). ETDS's structural conv_clip (-I, bias 1,
 * ReLU after conv_last's ReLU) becomes a clamp to [0, 1] of conv_last with its weights negated,
 * which then fuses with the pixel shuffle: one pass over the 48 channels less. For the float
 * runtimes only: int8 keeps the graph as the model wrote it (the quantized ops, their ranges and
 * the .tflite follow the source model's layers).
 */
export function foldChannelScales(g: Graph): Graph {
  const uses = useCounts(g);
  return rewrite(g, (n, emitted, weights) => {
    if (n.op !== 'conv') return null;
    const a = emitted.get(n.inputs[0]!);
    if (!a || a.op !== 'conv' || uses.get(a.id) !== 1) return null;
    const wa = weights[a.weight], wb = weights[n.weight];
    const d = wa && wb ? channelScales(n, wb) : null;
    if (!d || d.length !== wa!.shape[0]) return null;
    const C = d.length;
    const b = n.bias === null ? new Float32Array(C) : weights[n.bias]!.data;
    let act: Act | undefined;
    if (!a.act) act = n.act;
    else if (a.act.kind === 'relu' && n.act?.kind === 'relu' && d.every((v) => v < 0) && b.every((v) => v === b[0])) act = { kind: 'clamp', lo: 0, hi: Math.max(0, b[0]!) };
    else return null;
    const per = wa!.data.length / C;
    const w = new Float32Array(wa!.data.length);
    for (let o = 0; o < C; o++) for (let k = 0; k < per; k++) w[o * per + k] = Math.fround(d[o]! * wa!.data[o * per + k]!);
    const ba = a.bias === null ? null : weights[a.bias]!.data;
    const bias = Float32Array.from({ length: C }, (_, o) => (ba ? d[o]! * ba[o]! : 0) + b[o]!);
    weights[`${a.weight}*${n.id}`] = { shape: [...wa!.shape], data: w };
    weights[`${a.id}.bias*${n.id}`] = { shape: [C], data: bias };
    const folded: ConvNode = { ...a, id: n.id, weight: `${a.weight}*${n.id}`, bias: `${a.id}.bias*${n.id}` };
    if (act) folded.act = act;
    else delete folded.act;
    return folded;
  });
}

/** The float runtimes' passes: optimizeGraph, then channel-scale convs folded into the conv before them. */
export function optimizeFloatGraph(g: Graph): Graph {
  return foldChannelScales(optimizeGraph(g));
}

/** The passes the wasm runtime applies (when fuse is on): activations above pixel shuffles, slices into convs, activations into convs. */
export function optimizeGraph(g: Graph): Graph {
  validateGraph(g);
  return fuseConvActivations(foldChannelSlices(fuseConvActivations(hoistActivationsAboveDepthToSpace(g))));
}

/** A conv [+ residual] [+ activation] + depthToSpace that a runtime runs as one fused kernel. */
export interface FusedTail {
  depthToSpace: DepthToSpaceNode;
  conv: ConvNode;
  /** The activation applied after the residual (the conv's own when there is no separate act). */
  act: Act | undefined;
  /** The residual added to the conv's output: its source value and, per conv output channel, the source channel. */
  residual: { src: string; map: number[] } | null;
  /** Ids of the nodes the fused kernel computes (the act, add and conv). */
  absorbed: string[];
}

const identity = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

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

/**
 * The fusable tails of an optimized graph, by depthToSpace id: depthToSpace over [act](conv
 * [+ residual]) where every absorbed value has no other reader and the conv has groups 1.
 * `channels` is inferChannels(g).
 */
export function fusedTails(g: Graph, channels: Map<string, number>): Map<string, FusedTail> {
  const uses = useCounts(g);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const single = (id: string): GraphNode | null => (uses.get(id) === 1 ? byId.get(id)! : null);
  const tails = new Map<string, FusedTail>();
  for (const d of g.nodes) {
    if (d.op !== 'depthToSpace') continue;
    let n = single(d.inputs[0]!);
    const absorbed: string[] = [];
    let act: Act | undefined;
    if (n?.op === 'act') {
      act = n.act;
      absorbed.push(n.id);
      n = single(n.inputs[0]!);
    }
    let residual: FusedTail['residual'] = null;
    if (n?.op === 'add') {
      const [a, b] = n.inputs as [string, string];
      const ca = single(a), cb = a === b ? null : single(b);
      const conv = ca?.op === 'conv' && !ca.act ? ca : cb?.op === 'conv' && !cb.act ? cb : null;
      if (!conv) continue;
      absorbed.push(n.id);
      residual = residualMap(byId.get(conv.id === a ? b : a)!, byId, channels);
      n = conv;
    } else if (act && n?.op === 'conv' && n.act) {
      continue; // act(conv with its own act): two activations
    }
    if (n?.op !== 'conv' || n.groups !== 1) continue;
    absorbed.push(n.id);
    tails.set(d.id, { depthToSpace: d, conv: n, act: act ?? n.act, residual, absorbed });
  }
  return tails;
}

/** The label a runtime's plan shows for a fused tail, e.g. "conv_last+residual(x)+relu+depthToSpace(up)". */
export function tailLabel(t: FusedTail): string {
  return `${t.conv.id}${t.residual ? `+residual(${t.residual.src})` : ''}${t.act ? `+${t.act.kind}` : ''}+depthToSpace(${t.depthToSpace.id})`;
}

/** The steps (in order) that the graph's outputs need, walking back from the outputs' sources through each step's inputs. */
export function neededSteps<T extends { id: string; inputs: readonly string[] }>(g: Graph, steps: readonly T[]): T[] {
  const needed = new Set(g.nodes.filter((n) => n.op === 'output').map((o) => o.inputs[0]!));
  const live: T[] = [];
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i]!;
    if (!needed.has(s.id)) continue;
    for (const x of s.inputs) needed.add(x);
    live.unshift(s);
  }
  return live;
}
