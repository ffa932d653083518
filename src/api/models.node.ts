// Resolving a model from what a user types: a weights file (.safetensors carrying its arch in
// the metadata, or a .pth with --arch and arguments) or a zoo architecture that needs no
// weights (bicubic). Node-only: reads files.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { loadWeightsFile, type LoadedWeights } from '../io/weights.node.js';
import { decodeGraphFile } from '../graph/file.js';
import type { Graph } from '../graph/ir.js';
import { findShippedModel } from './shipped.node.js';
import { createModel, createAnyModel, listArchs, getArch, toGraph, stepGraph, type SRModel, type ArchArgs } from '../models/registry.js';
import { isVideoModel, type VideoSRModel } from '../models/vsr.js';

export interface ModelRequest {
  /** Architecture name (registry `type`), required for .pth files. */
  arch?: string;
  /** Architecture arguments (merged over the file's metadata). */
  args?: ArchArgs;
  /** Scale, as the `upscale` argument. */
  scale?: number;
}

/** Zoo architectures usable without weights, by lower-case alias. */
const WEIGHTLESS: Record<string, string> = { bicubic: 'Bicubic', 'matlab-bicubic': 'MatlabBicubic' };

/** The argument that carries the scale for an architecture (`upscale` in most, `scale` in ABPN). */
export function scaleArg(arch: string): string {
  const d = getArch(arch).defaults;
  if ('upscale' in d) return 'upscale';
  if ('scale' in d) return 'scale';
  throw new Error(`mvsr: architecture ${arch} has no scale argument`);
}

export function archByName(name: string): string | undefined {
  const all = listArchs();
  return all.find((a) => a === name) ?? all.find((a) => a.toLowerCase() === name.toLowerCase());
}

/** Build a model (image or video, as its architecture is) from a weights file; every problem is reported as `mvsr: <file>: …`. */
export function loadAnyModelFile(file: string, req: ModelRequest = {}): SRModel | VideoSRModel {
  return modelFromWeights(file, loadWeightsFile(file), req);
}

function modelFromWeights(file: string, { tensors, metadata, format }: LoadedWeights, req: ModelRequest): SRModel | VideoSRModel {
  const archName = req.arch ?? metadata.arch;
  if (!archName) {
    throw new Error(`mvsr: ${file}: no architecture: pass --arch (one of ${listArchs().join(', ')})${format === 'pth' ? ' for a .pth file' : ''}`);
  }
  const arch = archByName(archName);
  if (!arch) throw new Error(`mvsr: ${file}: unknown architecture "${archName}" (known: ${listArchs().join(', ')})`);
  let metaArgs: ArchArgs = {};
  if (metadata.args) {
    try {
      metaArgs = JSON.parse(metadata.args) as ArchArgs;
    } catch {
      throw new Error(`mvsr: ${file}: metadata "args" is not JSON`);
    }
  }
  const args: ArchArgs = { ...metaArgs, ...(req.args ?? {}) };
  const sk = scaleArg(arch);
  if (req.scale !== undefined) args[sk] = req.scale;
  else if (args[sk] === undefined && metadata.scale) args[sk] = Number(metadata.scale);
  let model: SRModel | VideoSRModel;
  try {
    model = createAnyModel(arch, args);
  } catch (e) {
    throw new Error(`mvsr: ${file}: ${(e as Error).message.replace(/^mvsr: /, '')}`);
  }
  try {
    model.loadStateDict(tensors);
  } catch (e) {
    model.dispose();
    const why = (e as Error).message.replace(/^mvsr: loadStateDict: /, '');
    throw new Error(`mvsr: ${file}: the weights do not fit ${arch}(${JSON.stringify(model.args)}): ${why}`);
  }
  return model;
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

/** The deploy graph of a model (a video model: its step graph); the model is disposed. */
function deployGraphOf(m: SRModel | VideoSRModel): Graph {
  try {
    return isVideoModel(m) ? stepGraph(m) : toGraph(m);
  } finally {
    m.dispose();
  }
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
