// Model compression on the deploy graph: structured pruning (whole conv channels removed by the L1
// norm of their filters, Li et al. 2017, "Pruning Filters for Efficient ConvNets"), which leaves a
// smaller plain graph every exporter handles, and weight clustering (k-means per layer, as the
// TensorFlow Model Optimization toolkit's weight clustering), which leaves the same graph with at
// most k distinct values per conv weight, so the file compresses. Browser-safe.
import { type Graph, type GraphNode, type ConvNode, type GraphWeight, graphError, validateGraph, weightOf, usedWeights } from './ir.js';
import { optimizeGraph, useCounts } from './passes.js';

export interface PruneResult {
  graph: Graph;
  /** Per pruned conv: channels before and after. */
  pruned: { id: string; from: number; to: number }[];
}

/**
 * Remove `ratio` of the output channels (those with the smallest L1 filter norm) of every conv
 * whose output only convs read (groups 1; its bias and per-channel PReLU slopes cut along), and
 * the matching input channels of the convs that read it. Convs feeding anything else (an add, a
 * concat, a pixel shuffle, an output) keep their channels, so the graph's interface and every
 * residual stay as they were. Returns the smaller graph (not fine-tuned: see mvsr compress --tune).
 */
export function pruneChannels(g0: Graph, ratio: number): PruneResult {
  if (!(ratio > 0 && ratio < 1)) throw new Error(`mvsr: prune: ratio must be in (0, 1), got ${ratio}`);
  const g = optimizeGraph(g0);
  validateGraph(g);
  const uses = useCounts(g);
  const readers = new Map<string, GraphNode[]>();
  for (const n of g.nodes) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n]);
  const weights: Record<string, GraphWeight> = { ...g.weights };
  const nodes = g.nodes.map((n) => ({ ...n })) as GraphNode[];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const pruned: PruneResult['pruned'] = [];
  for (const n of nodes) {
    if (n.op !== 'conv' || n.groups !== 1) continue;
    const rs = readers.get(n.id) ?? [];
    if (!rs.length || rs.length !== uses.get(n.id) || !rs.every((r) => r.op === 'conv' && r.groups === 1)) continue;
    // filters ranked by their L1 norm in the graph as given (before any input of theirs was pruned)
    const w = g.weights[(g.nodes.find((m) => m.id === n.id) as ConvNode).weight]!, O = w.shape[0]!, per = w.data.length / O;
    const drop = Math.floor(ratio * O);
    if (drop < 1 || O - drop < 1) continue;
    const norms = Array.from({ length: O }, (_, o) => {
      let s = 0;
      for (let i = o * per; i < (o + 1) * per; i++) s += Math.abs(w.data[i]!);
      return [s, o] as const;
    });
    const keep = norms.sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, O - drop).map(([, o]) => o).sort((a, b) => a - b);
    const cutRows = (name: string): string => {
      const src = weights[name]!, rowLen = src.data.length / src.shape[0]!, key = `${name}[pruned]`;
      const data = new Float32Array(keep.length * rowLen);
      keep.forEach((o, k) => data.set(src.data.subarray(o * rowLen, (o + 1) * rowLen), k * rowLen));
      weights[key] = { shape: [keep.length, ...src.shape.slice(1)], data };
      return key;
    };
    const conv = n as ConvNode;
    conv.weight = cutRows(conv.weight);
    if (conv.bias !== null) conv.bias = cutRows(conv.bias);
    if (conv.act?.kind === 'prelu' && weights[conv.act.alpha]!.shape[0]! > 1) conv.act = { kind: 'prelu', alpha: cutRows(conv.act.alpha) };
    for (const r of rs) {
      const rc = byId.get(r.id) as ConvNode;
      const src = weights[rc.weight]!, [Or, Ir, K] = src.shape as [number, number, number], key = `${rc.weight}[in-pruned]`;
      if (Ir !== O) throw graphError(g, r, `reads ${O} channels but its weight has ${Ir} inputs`);
      const data = new Float32Array(Or * keep.length * K * K);
      for (let o = 0; o < Or; o++) keep.forEach((i, k) => data.set(src.data.subarray((o * Ir + i) * K * K, (o * Ir + i + 1) * K * K), (o * keep.length + k) * K * K));
      weights[key] = { shape: [Or, keep.length, K, K], data };
      rc.weight = key;
    }
    pruned.push({ id: n.id, from: O, to: keep.length });
  }
  const used = new Set(usedWeights({ meta: g.meta, nodes, weights }));
  const out: Graph = {
    meta: { ...g.meta, history: [...(g.meta.history ?? []), { prune: { ratio, channels: pruned } }] },
    nodes,
    weights: Object.fromEntries(Object.entries(weights).filter(([k]) => used.has(k))),
  };
  validateGraph(out);
  return { graph: out, pruned };
}

/**
 * k-means of a 1-D set of values, then Lloyd's iterations. The centroids start at evenly spaced
 * quantiles (dense where the weights are) with the two outermost moved to the smallest and the
 * largest value, so rare large weights (a residual path's identity) keep a centroid of their own:
 * quantiles alone merge them into the bulk, evenly spaced centroids (TF MOT's linear init) crush
 * the bulk (ETDS-T at k = 32, no tuning: Set5 20.7 dB linear, 29.0 quantiles).
 */
export function kmeans1d(values: Float32Array, k: number, iterations = 30): { centroids: Float64Array; assign: Uint16Array } {
  const sorted = Float64Array.from(values).sort();
  const K = Math.max(1, Math.min(k, sorted.length));
  const c = Float64Array.from({ length: K }, (_, j) => sorted[Math.min(sorted.length - 1, Math.round(((j + 0.5) / K) * sorted.length - 0.5))]!);
  if (K >= 2) {
    c[0] = sorted[0]!;
    c[K - 1] = sorted[sorted.length - 1]!;
  }
  const assign = new Uint16Array(values.length);
  for (let it = 0; it < iterations; it++) {
    const sum = new Float64Array(K), cnt = new Float64Array(K);
    c.sort();
    for (let i = 0; i < values.length; i++) {
      // nearest centroid by binary search over the sorted centroids
      const v = values[i]!;
      let lo = 0, hi = K - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (v > (c[mid]! + c[mid + 1]!) / 2) lo = mid + 1; else hi = mid; }
      assign[i] = lo;
      sum[lo] += v;
      cnt[lo]++;
    }
    let moved = false;
    for (let j = 0; j < K; j++) {
      if (cnt[j]! > 0 && sum[j]! / cnt[j]! !== c[j]) { c[j] = sum[j]! / cnt[j]!; moved = true; }
    }
    if (!moved) break;
  }
  return { centroids: c, assign };
}

/** Per clustered weight: its centroids and which one each value uses. */
export type Clusters = Record<string, { centroids: Float64Array; assign: Uint16Array }>;

/**
 * Every conv weight (and transposed conv's) replaced by its nearest of k per-layer centroids
 * (k-means); biases and slopes stay. `clusters` says which centroid each value took, for
 * fine-tuning that keeps the clustering (train/graph-net.ts).
 */
export function clusterGraph(g: Graph, k: number): { graph: Graph; clusters: Clusters } {
  if (!Number.isInteger(k) || k < 2 || k > 65535) throw new Error(`mvsr: cluster: the number of centroids must be an integer in [2, 65535], got ${k}`);
  validateGraph(g);
  const weights = { ...g.weights }, clusters: Clusters = {};
  for (const n of g.nodes) {
    if (n.op !== 'conv' && n.op !== 'convTranspose') continue;
    if (clusters[n.weight]) continue;
    const w = weightOf(g, n, n.weight);
    const c = kmeans1d(w.data, k);
    clusters[n.weight] = c;
    weights[n.weight] = { shape: [...w.shape], data: Float32Array.from(c.assign, (j) => c.centroids[j]!) };
  }
  return { graph: { ...g, meta: { ...g.meta, history: [...(g.meta.history ?? []), { cluster: { centroids: k } }] }, weights }, clusters };
}

/** clusterGraph's graph. */
export function clusterWeights(g: Graph, k: number): Graph {
  return clusterGraph(g, k).graph;
}

/** Distinct values of each conv weight (what clustering bounds). */
export function distinctWeightValues(g: Graph): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of g.nodes) if (n.op === 'conv' || n.op === 'convTranspose') out[n.weight] = new Set(weightOf(g, n, n.weight).data).size;
  return out;
}
