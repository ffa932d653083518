// Deploy graphs on disk: a model that is no longer one of the zoo's architectures (a quantized
// model from mvsr quantize, a pruned or clustered one from mvsr compress) is one .safetensors
// file: the graph's weights as F32 tensors and, in the metadata, `mvsr.graph`: its nodes, meta
// and, for an int8 model, its quant section (every tensor's scale and zero point, the
// per-channel weight scales). Node-only: reads and writes files.
import { loadWeightsFile, saveSafetensorsFile } from '../io/weights.node.js';
import { validateGraph, type Graph } from '../graph/ir.js';
import { validateQuant, type QuantGraph } from '../graph/quant.js';

const KEY = 'mvsr.graph';

/** Write a deploy graph (with its quant section, if any) as one .safetensors file, atomically. */
export function saveGraphFile(path: string, g: Graph): void {
  validateGraph(g);
  const quant = (g as Partial<QuantGraph>).quant;
  if (quant) validateQuant(g);
  const tensors = Object.fromEntries(Object.entries(g.weights).map(([k, w]) => [k, { shape: [...w.shape], data: w.data }]));
  saveSafetensorsFile(path, tensors, {
    [KEY]: JSON.stringify({ meta: g.meta, nodes: g.nodes, ...(quant ? { quant } : {}) }),
    arch: g.meta.arch, scale: String(g.meta.scale), args: JSON.stringify(g.meta.args),
  });
}

/** The deploy graph in `path`, or null when the file is not a graph file (errors name the file). */
export function loadGraphFile(path: string): Graph | null {
  if (!/\.safetensors$/i.test(path)) return null;
  const { tensors, metadata } = loadWeightsFile(path);
  const doc = metadata[KEY];
  if (doc === undefined) return null;
  let parsed: { meta: Graph['meta']; nodes: Graph['nodes']; quant?: QuantGraph['quant'] };
  try {
    parsed = JSON.parse(doc);
  } catch {
    throw new Error(`mvsr: ${path}: metadata "${KEY}" is not JSON`);
  }
  const weights = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { shape: [...t.shape], data: t.data }]));
  const g = { meta: parsed.meta, nodes: parsed.nodes, weights, ...(parsed.quant ? { quant: parsed.quant } : {}) } as Graph;
  try {
    validateGraph(g);
    if (parsed.quant) validateQuant(g);
  } catch (e) {
    throw new Error(`mvsr: ${path}: not a valid model graph: ${(e as Error).message.replace(/^mvsr: /, '')}`);
  }
  return g;
}
