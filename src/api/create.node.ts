// createUpscaler for Node: the model may be given as a path or a zoo name.
import { ensureEngine } from '../tensor/engine.js';
import type { SRModel } from '../models/registry.js';
import { resolveModel, type ModelRequest } from './models.node.js';
import { Upscaler, type UpscalerOptions } from './upscaler.js';

export interface CreateUpscalerOptions extends UpscalerOptions, ModelRequest {
  /** An SR model, a weights file (.safetensors / .pth), or a weightless zoo name ('bicubic'). */
  model: SRModel | string;
  /** Engine threads if the engine is not running yet (default: all cores). */
  threads?: number;
}

export async function createUpscaler(o: CreateUpscalerOptions): Promise<Upscaler> {
  await ensureEngine({ threads: o.threads });
  const model = typeof o.model === 'string' ? resolveModel(o.model, o) : o.model;
  if (o.scale !== undefined && model.scale !== o.scale) {
    throw new Error(`mvsr: the model upscales x${model.scale}, but x${o.scale} was asked for`);
  }
  return new Upscaler(model, o);
}
