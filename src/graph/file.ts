// A deploy graph as the contents of one .safetensors file (browser-safe; the file I/O is
// api/graph-file.node.ts): the weights as tensors, and in the metadata `mvsr.graph` (its nodes,
// meta and, for an int8 model, its quant section) plus arch / scale / args as every mvsr model
// file has them.
import { validateGraph, type Graph, type GraphWeight } from './ir.js';
import { validateQuant, type QuantGraph } from './quant.js';

export const GRAPH_FILE_KEY = 'mvsr.graph';

export function encodeGraphFile(g: Graph): { tensors: Record<string, GraphWeight>; metadata: Record<string, string> } {
  validateGraph(g);
  const quant = (g as Partial<QuantGraph>).quant;
  if (quant) validateQuant(g);
  return {
    tensors: Object.fromEntries(Object.entries(g.weights).map(([k, w]) => [k, { shape: [...w.shape], data: w.data }])),
    metadata: {
      [GRAPH_FILE_KEY]: JSON.stringify({ meta: g.meta, nodes: g.nodes, ...(quant ? { quant } : {}) }),
      arch: g.meta.arch, scale: String(g.meta.scale), args: JSON.stringify(g.meta.args),
    },
  };
}

/** The graph a file's contents hold, or null when its metadata has no graph; errors name `source`. */
export function decodeGraphFile(tensors: Record<string, GraphWeight>, metadata: Record<string, string>, source: string): Graph | null {
  const doc = metadata[GRAPH_FILE_KEY];
  if (doc === undefined) return null;
  let parsed: { meta: Graph['meta']; nodes: Graph['nodes']; quant?: QuantGraph['quant'] };
  try {
    parsed = JSON.parse(doc);
  } catch {
    throw new Error(`mvsr: ${source}: metadata "${GRAPH_FILE_KEY}" is not JSON`);
  }
  const weights = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { shape: [...t.shape], data: t.data }]));
  const g = { meta: parsed.meta, nodes: parsed.nodes, weights, ...(parsed.quant ? { quant: parsed.quant } : {}) } as Graph;
  try {
    validateGraph(g);
    if (parsed.quant) validateQuant(g);
  } catch (e) {
    throw new Error(`mvsr: ${source}: not a valid model graph: ${(e as Error).message.replace(/^mvsr: /, '')}`);
  }
  return g;
}
