// Resolving a model from what a user types: a weights file (.safetensors carrying its arch in
// the metadata, or a .pth with --arch and arguments) or a zoo architecture that needs no
// weights (bicubic). Node-only: reads files.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { loadWeightsFile } from '../io/weights.node.js';
import { modelFromWeights, deployGraphOf, scaleArg, archByName, type ModelRequest } from './models.js';
import { decodeGraphFile } from '../graph/file.js';
import type { Graph } from '../graph/ir.js';
import { findShippedModel } from './shipped.node.js';
import { createModel, listArchs, type SRModel } from '../models/registry.js';
import { isVideoModel, type VideoSRModel } from '../models/vsr.js';

export { scaleArg, archByName, type ModelRequest };

/** Zoo architectures usable without weights, by lower-case alias. */
const WEIGHTLESS: Record<string, string> = { bicubic: 'Bicubic', 'matlab-bicubic': 'MatlabBicubic' };

/** Build a model (image or video, as its architecture is) from a weights file; every problem is reported as `mvsr: <file>: …`. */
export function loadAnyModelFile(file: string, req: ModelRequest = {}): SRModel | VideoSRModel {
  return modelFromWeights(file, loadWeightsFile(file), req);
}

function imageOnly(m: SRModel | VideoSRModel, what: string): SRModel {
  if (!isVideoModel(m)) return m;
  m.dispose();
  throw new Error(`mvsr: ${what}: ${m.arch} is a video model (it reads neighbouring frames and carries a state): give it a video, or use VideoUpscaler`);
}

/** An image model from a weights file (a video model is refused: see loadAnyModelFile). */
export function loadModelFile(file: string, req: ModelRequest = {}): SRModel {
  return imageOnly(loadAnyModelFile(file, req), file);
}

/** An image model from a path or a zoo name (`bicubic`); a video model is refused. */
export function resolveModel(spec: string, req: ModelRequest = {}): SRModel {
  return imageOnly(resolveAnyModel(spec, req), spec);
}

/**
 * A deploy graph from what a user types: a graph file (mvsr quantize / compress output, read
 * once), or the deploy graph of any model resolveAnyModel finds.
 */
export function resolveGraph(spec: string, req: ModelRequest = {}): Graph {
  if (/\.safetensors$/i.test(spec) && existsSync(spec)) {
    const loaded = loadWeightsFile(spec);
    return decodeGraphFile(loaded.tensors, loaded.metadata, spec) ?? deployGraphOf(modelFromWeights(spec, loaded, req));
  }
  return deployGraphOf(resolveAnyModel(spec, req));
}

/** A model of either kind from a path, a shipped model's name or a zoo name that needs no weights. */
export function resolveAnyModel(spec: string, req: ModelRequest = {}): SRModel | VideoSRModel {
  if (existsSync(spec)) return loadAnyModelFile(spec, req);
  const shipped = findShippedModel(spec, req.scale);
  if (shipped) return loadAnyModelFile(shipped.file, { ...req, arch: undefined, args: undefined });
  const weightless = WEIGHTLESS[spec.toLowerCase()];
  if (weightless) return createModel(weightless, { ...(req.args ?? {}), ...(req.scale !== undefined ? { [scaleArg(weightless)]: req.scale } : {}) });
  if (/\.(safetensors|pth|pt)$/i.test(spec) || basename(spec) !== spec) throw new Error(`mvsr: ${spec}: no such file`);
  const arch = archByName(spec) ?? archByName(spec.replace(/[-_].*$/, ''));
  if (arch) {
    throw new Error(`mvsr: no trained weights ship for "${spec}" yet: pass a weights file (.safetensors, or .pth with --arch ${arch}); "mvsr convert-weights" turns a checkpoint into a self-describing .safetensors`);
  }
  throw new Error(`mvsr: model "${spec}" is neither a weights file nor a model that needs none (${Object.keys(WEIGHTLESS).join(', ')})`);
}
