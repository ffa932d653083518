// Cost of a deploy graph at an H x W input, in the convention of the SR efficiency literature
// (KAIR / NTIRE, thop): a conv costs k^2 * Cin/groups * Cout MACs per output pixel, a transposed
// conv the same counted on its (large) output, biases add no MACs; a PReLU or leaky ReLU costs one
// multiply per element (the NTIRE 2022 ESR counter counts LeakyReLU so: with it RFDN's and RLFN's
// FLOPs match that table); other parameter-free ops (ReLU, add, concat, slice, depth_to_space,
// resize, ...) cost nothing, and a layer norm is counted as no MACs (its per-pixel statistics are
// not multiply-accumulates with weights). Params = conv weights + biases + PReLU slopes + layer-norm
// weights and biases, each weight once.
// These reproduce the ETDS paper's Table 2 (test/graph.test.ts).
import { type Graph, type GraphOp, type Act } from './ir.js';
import { inferShapes, type NodeShape } from './shapes.js';

export interface NodeProfile {
  id: string;
  op: GraphOp;
  shape: NodeShape;
  /** Parameters first used by this node. */
  params: number;
  macs: number;
}

export interface GraphProfile {
  H: number;
  W: number;
  params: number;
  /** Multiply-accumulates for one H x W image (convs + PReLU multiplies). */
  macs: number;
  /** The conv / transposed-conv share of macs. */
  convMacs: number;
  /** Sum of conv and transposed-conv output elements (the NTIRE "activations"; an nn.Linear run as a 1x1 conv is not one). */
  activations: number;
  /** Number of conv and transposed-conv nodes (nn.Linear layers run as 1x1 convs not counted, as NTIRE's counter does). */
  convs: number;
  /**
   * Most float32 bytes live at once when the nodes run in order and each value is freed after its
   * last reader (input and output included; batch 1; every non-input node materialises its output).
   */
  peakActivationBytes: number;
  nodes: NodeProfile[];
}

const sizeOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Profile g for one H x W input image (N = 1). */
export function profileGraph(g: Graph, H: number, W: number): GraphProfile {
  const shapes = inferShapes(g, H, W);
  const counted = new Set<string>();
  const paramsOf = (...names: (string | null | undefined)[]): number => {
    let p = 0;
    for (const k of names) {
      if (!k || counted.has(k)) continue;
      counted.add(k);
      p += sizeOf(g.weights[k]!.shape);
    }
    return p;
  };
  const alphaOf = (a: Act | undefined): string | undefined => (a?.kind === 'prelu' ? a.alpha : undefined);

  const nodes: NodeProfile[] = [];
  let params = 0, macs = 0, convMacs = 0, activations = 0, convs = 0;
  for (const n of g.nodes) {
    const shape = shapes.get(n.id)!;
    const elems = sizeOf(shape);
    let p = 0, m = 0;
    if (n.op === 'conv' || n.op === 'convTranspose') {
      // every output element takes Cin/groups * k^2 products (weight size / Cout)
      const w = g.weights[n.weight]!;
      const cm = elems * (sizeOf(w.shape) / shape[2]);
      m += cm;
      convMacs += cm;
      if (!(n.op === 'conv' && n.linear)) {
        activations += elems;
        convs++;
      }
      p += paramsOf(n.weight, n.bias);
      if (n.op === 'conv') {
        p += paramsOf(alphaOf(n.act));
        if (n.act?.kind === 'prelu' || n.act?.kind === 'leaky') m += elems;
      }
    } else if (n.op === 'act' && (n.act.kind === 'prelu' || n.act.kind === 'leaky')) {
      if (n.act.kind === 'prelu') p += paramsOf(n.act.alpha);
      m += elems;
    } else if (n.op === 'layerNorm') {
      p += paramsOf(n.weight, n.bias);
    } else if (n.op === 'windowAttention') {
      // per output value: window^2 products for its head's scores (q . k over the head's channels,
      // shared by them) and window^2 for the weighted sum of values; padding keys included
      m += 2 * n.window * n.window * elems;
    }
    params += p;
    macs += m;
    nodes.push({ id: n.id, op: n.op, shape, params: p, macs: m });
  }
  return { H, W, params, macs, convMacs, activations, convs, peakActivationBytes: peakBytes(g, shapes), nodes };
}

function peakBytes(g: Graph, shapes: Map<string, NodeShape>): number {
  const left = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) left.set(i, (left.get(i) ?? 0) + 1);
  let live = 0, peak = 0;
  for (const n of g.nodes) {
    if (n.op !== 'output') live += sizeOf(shapes.get(n.id)!) * 4;
    peak = Math.max(peak, live);
    for (const i of n.inputs) {
      const k = left.get(i)! - 1;
      left.set(i, k);
      if (k === 0 && n.op !== 'output') live -= sizeOf(shapes.get(i)!) * 4;
    }
  }
  return peak;
}
