// Models and deploy graphs from weights in memory (browser-safe; models.node.ts adds files,
// shipped names and zoo names): a self-describing .safetensors (arch, scale and args in its
// metadata), a .pth's tensors with an architecture named, or a graph file.
import { readSafetensors } from '../io/safetensors.js';
import type { LoadedTensor } from '../io/weights.js';
import { decodeGraphFile } from '../graph/file.js';
import type { Graph } from '../graph/ir.js';
import { createAnyModel, listArchs, getArch, toGraph, stepGraph, type SRModel, type ArchArgs } from '../models/registry.js';
import { isVideoModel, type VideoSRModel } from '../models/vsr.js';
import { officialCheckpointSpec } from '../models/official.js';

export interface ModelRequest {
  /** Architecture name (registry `type`), required for .pth files. */
  arch?: string;
  /** Architecture arguments (merged over the file's metadata). */
  args?: ArchArgs;
  /** Scale, as the `upscale` argument. */
  scale?: number;
}

/** What a weights file holds: tensors by name, and a safetensors file's metadata. */
export interface WeightsContents {
  tensors: Record<string, LoadedTensor>;
  metadata: Record<string, string>;
  format?: 'safetensors' | 'pth';
}

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

/** Build a model (image or video, as its architecture is) from weights; every problem is reported as `mvsr: <file>: …`. */
export function modelFromWeights(file: string, { tensors, metadata, format }: WeightsContents, req: ModelRequest = {}): SRModel | VideoSRModel {
  // an official checkpoint is known by its file name (IMDN_x4.pth, ETDS_M5C16_x4.pth, ...)
  const official = !req.arch && !metadata.arch ? officialCheckpointSpec(file) : null;
  const archName = req.arch ?? metadata.arch ?? official?.arch;
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
  const args: ArchArgs = { ...(official?.args ?? {}), ...metaArgs, ...(req.args ?? {}) };
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

/** The deploy graph of a model (a video model: its step graph); the model is disposed. */
export function deployGraphOf(m: SRModel | VideoSRModel): Graph {
  try {
    return isVideoModel(m) ? stepGraph(m) : toGraph(m);
  } finally {
    m.dispose();
  }
}

/** The deploy graph in a .safetensors file's bytes: a graph file's graph, or the deploy graph of the model it holds. */
export function graphFromSafetensors(bytes: Uint8Array, source: string, req: ModelRequest = {}): Graph {
  const c = readSafetensors(bytes, source);
  return decodeGraphFile(c.tensors, c.metadata, source) ?? deployGraphOf(modelFromWeights(source, { ...c, format: 'safetensors' }, req));
}
