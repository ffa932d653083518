// Deploy graphs on disk: a model that is no longer one of the zoo's architectures (an int8 model
// from mvsr quantize, a pruned or clustered one from mvsr compress) is one .safetensors file
// (graph/file.ts says what it holds). Node-only.
import { loadWeightsFile, saveSafetensorsFile } from '../io/weights.node.js';
import type { Graph } from '../graph/ir.js';
import { encodeGraphFile, decodeGraphFile } from '../graph/file.js';

/** Write a deploy graph (with its quant section, if any) as one .safetensors file, atomically. */
export function saveGraphFile(path: string, g: Graph): void {
  const { tensors, metadata } = encodeGraphFile(g);
  saveSafetensorsFile(path, tensors, metadata);
}

/** The deploy graph in `path`, or null when the file is not a graph file (errors name the file). */
export function loadGraphFile(path: string): Graph | null {
  if (!/\.safetensors$/i.test(path)) return null;
  const { tensors, metadata } = loadWeightsFile(path);
  return decodeGraphFile(tensors, metadata, path);
}
