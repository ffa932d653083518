// What the web app's pages share: the engine, the model list the server publishes, model files
// (shipped or dropped) turned into step-graph sources, the backend to use on this device, and
// messages in the page instead of exceptions in the console.
import { initEngine, engine } from '../tensor/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { toGraph, stepGraph, createModel } from '../models/registry.js';
import { isVideoModel } from '../models/vsr.js';
import { readSafetensors } from '../io/safetensors.js';
import { decodeGraphFile } from '../graph/file.js';
import { modelFromWeights } from '../api/models.js';
import type { Graph } from '../graph/ir.js';
import type { StepGraphSource } from '../runtime/video.js';
import { gpuDevice } from '../runtime/webgpu/backend.js';

export interface ModelEntry { name: string; arch: string; scale: number; params: number; video: boolean; url: string; /** teachers, oldest first (a distilled model) */ teachers?: string[]; /** the model the app starts with (mvsr's default) */ default?: boolean }

/** A loaded model: what a VideoStream runs (an image graph is a one-frame step). */
export interface LoadedModel {
  name: string;
  scale: number;
  video: boolean;
  /** The full step's graph (an image model's deploy graph). */
  graph: Graph;
  source: StepGraphSource;
  dispose(): void;
}

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page has no #${id}`);
  return e as T;
};

/** Show a one-line message in #status (kind 'error' in red); the page keeps working. */
export function status(msg: string, kind: 'info' | 'error' = 'info'): void {
  const el = $('status');
  el.textContent = msg;
  el.className = kind;
}

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/^mvsr: /, '');

/** The engine with threads when the page is cross-origin isolated (WASM threads need it). */
export async function startEngine(): Promise<{ threads: number; simd: string }> {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const threads = isolated ? Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8)) : 1;
  await initEngine({ threads });
  return { threads: engine().threads, simd: engine().simd };
}

/** Whether this browser gives mvsr a WebGPU device, and why not. */
export async function webgpuStatus(): Promise<{ ok: boolean; why: string; adapter: string }> {
  if (!(navigator as { gpu?: unknown }).gpu) return { ok: false, why: 'this browser has no WebGPU (navigator.gpu is missing)', adapter: '' };
  try {
    const d = await gpuDevice();
    const info = (d as unknown as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return { ok: true, why: '', adapter: info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') : 'WebGPU' };
  } catch (e) {
    return { ok: false, why: errorText(e), adapter: '' };
  }
}

export async function listModels(): Promise<ModelEntry[]> {
  const r = await fetch('/models/index.json');
  if (!r.ok) throw new Error(`the server has no model list (HTTP ${r.status})`);
  return (await r.json()) as ModelEntry[];
}

/** A model from a .safetensors file's bytes: a graph file, or a model file (image or video). Errors name the file. */
export function loadModelBytes(bytes: Uint8Array, name: string): LoadedModel {
  const c = readSafetensors(bytes, name);
  const g = decodeGraphFile(c.tensors, c.metadata, name);
  if (g) {
    if (g.meta.video) throw new Error(`${name}: a video step graph file; load the video model's weights file instead`);
    return { name, scale: g.meta.scale, video: false, graph: g, source: { chunk: 1, graph: () => g }, dispose: () => undefined };
  }
  const m = modelFromWeights(name, { ...c, format: 'safetensors' });
  if (isVideoModel(m)) {
    const full = stepGraph(m, m.chunk);
    return { name, scale: m.scale, video: true, graph: full, source: { chunk: m.chunk, graph: (k) => (k === m.chunk ? full : stepGraph(m, k)) }, dispose: () => m.dispose() };
  }
  const graph = toGraph(m);
  m.dispose();
  return { name, scale: graph.meta.scale, video: false, graph, source: { chunk: 1, graph: () => graph }, dispose: () => undefined };
}

export async function fetchModel(e: ModelEntry): Promise<LoadedModel> {
  const r = await fetch(e.url);
  if (!r.ok) throw new Error(`${e.url}: HTTP ${r.status}`);
  return loadModelBytes(new Uint8Array(await r.arrayBuffer()), `${e.name}.safetensors`);
}

/** PyTorch bicubic x`scale` as a graph (the player's comparison). */
export function bicubicGraph(scale: number): Graph {
  const m = createModel('Bicubic', { upscale: scale });
  try {
    return toGraph(m);
  } finally {
    m.dispose();
  }
}

/** RGBA pixels to an NHWC [1, H, W, 3] float tensor in [0, 1]. */
export function rgbaToTensor(px: Uint8ClampedArray, W: number, H: number): Tensor {
  const t = Tensor.empty([1, H, W, 3]), d = t.data;
  for (let i = 0, n = W * H; i < n; i++) {
    d[i * 3] = px[i * 4]! / 255;
    d[i * 3 + 1] = px[i * 4 + 1]! / 255;
    d[i * 3 + 2] = px[i * 4 + 2]! / 255;
  }
  return t;
}

/** An NHWC [1, H, W, 3] tensor to ImageData (rounded, clamped). */
export function tensorToImageData(t: Tensor): ImageData {
  const [, H, W] = t.shape as [number, number, number, number];
  const out = new ImageData(W, H), d = t.data, px = out.data;
  for (let i = 0, n = W * H; i < n; i++) {
    px[i * 4] = Math.round(d[i * 3]! * 255);
    px[i * 4 + 1] = Math.round(d[i * 3 + 1]! * 255);
    px[i * 4 + 2] = Math.round(d[i * 3 + 2]! * 255);
    px[i * 4 + 3] = 255;
  }
  return out;
}

/** Offer bytes as a download. */
export function download(name: string, blob: Blob): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
