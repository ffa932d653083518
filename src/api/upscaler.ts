// The public upscaling API (browser-safe): an Upscaler compiles an SR model's deploy graph on a
// runtime backend once and upscales Images in tiles, carrying alpha through bicubic upsampling
// and keeping grey and 16-bit inputs as they are.
import type { Image, ImageChannels } from '../io/image.js';
import { toGraph, type SRModel } from '../models/registry.js';
import { GraphBuilder, type Graph } from '../graph/ir.js';
import { createBackend, type Backend } from '../runtime/backend.js';
import { upscaleBands, type FloatImage, type TileOptions, type HrBand } from '../runtime/tiling.js';
import { float32ToImage, imageToFloat32, toRGB, alphaChannel } from '../io/image.js';

export interface UpscaleCallOptions {
  signal?: AbortSignal;
  /** (tilesDone, tilesTotal), counting the alpha pass when there is one. */
  onProgress?: (done: number, total: number) => void;
}

export interface UpscalerOptions {
  /** Tile edge in LR pixels (default 256). */
  tile?: number;
  /** Context pixels around each tile (default 16, more than any zoo model's receptive-field radius). */
  halo?: number;
  /** Runtime backend: 'wasm' (default), 'ort' (Node), or 'auto' (time them on the first tile's size). */
  backend?: string;
  /** Threads of the backend (see createBackend). */
  threads?: number;
}

export interface OutputBand {
  /** First output row. */
  y: number;
  height: number;
  data: Uint8Array | Uint16Array;
}

/** Split an Image into model input (RGB float; grey replicated) and, if present, its alpha plane. */
function planes(img: Image): { rgb: FloatImage; alpha: FloatImage | null } {
  const { width, height } = img;
  const a = alphaChannel(img);
  return {
    rgb: { width, height, channels: 3, data: imageToFloat32(toRGB(img)) },
    alpha: a ? { width, height, channels: 1, data: imageToFloat32(a) } : null,
  };
}

/** PyTorch bicubic upsampling of `channels` planes as a graph (alpha planes, baselines). */
export function bicubicGraph(scale: number, channels = 3): Graph {
  const b = new GraphBuilder({ arch: 'Bicubic', args: { upscale: scale }, scale });
  return b.output(b.resize('resize', b.input(channels), scale, 'bicubic'));
}

export class Upscaler {
  /** The deploy graph this upscaler runs. */
  readonly graph: Graph;
  private backendP: Promise<Backend> | null = null;
  private alphaBackend: Promise<Backend> | null = null;

  /** A model is turned into its deploy graph once (the Upscaler owns the model and disposes it with itself); a graph is run as is. */
  constructor(readonly model: SRModel | Graph, readonly options: UpscalerOptions = {}) {
    this.graph = 'nodes' in model ? model : toGraph(model);
  }

  get scale(): number {
    return this.graph.meta.scale;
  }

  /** The backend the graph runs on (compiled on first use). */
  backend(tileHW?: [number, number]): Promise<Backend> {
    const t = this.options.tile ?? 256;
    const [H, W] = tileHW ?? [t, t];
    this.backendP ??= createBackend(this.graph, { backend: this.options.backend, threads: this.options.threads, H, W });
    return this.backendP;
  }

  /** Shape of the output for an input image. */
  outputInfo(img: Image): { width: number; height: number; channels: ImageChannels; bitDepth: 8 | 16 } {
    return { width: img.width * this.scale, height: img.height * this.scale, channels: img.channels, bitDepth: img.bitDepth };
  }

  /** Upscale band by band (bounded memory): rows come top to bottom in the input's channel layout and bit depth. */
  async *upscaleRows(img: Image, o: UpscaleCallOptions = {}): AsyncGenerator<OutputBand> {
    const s = this.scale;
    const { rgb, alpha } = planes(img);
    const tiles = Math.ceil(img.width / (this.options.tile ?? 256)) * Math.ceil(img.height / (this.options.tile ?? 256));
    const total = alpha ? 2 * tiles : tiles;
    let rgbDone = 0, alphaDone = 0;
    const report = () => o.onProgress?.(rgbDone + alphaDone, total);
    const t: TileOptions = { tile: this.options.tile, halo: this.options.halo, signal: o.signal };
    const tile = this.options.tile ?? 256, halo = this.options.halo ?? 16;
    const backend = await this.backend([Math.min(img.height, tile + 2 * halo), Math.min(img.width, tile + 2 * halo)]);
    const c = img.channels, bd = img.bitDepth;
    // colour comes out of the tiles as pixels (a kernel rounds each tile); grey is averaged from floats first
    const rgbBands = upscaleBands(backend, s, rgb, { ...t, pixels: c >= 3 ? bd : undefined, onProgress: (d) => { rgbDone = d; report(); } });
    let alphaBands: AsyncGenerator<HrBand> | null = null;
    if (alpha) {
      this.alphaBackend ??= createBackend(bicubicGraph(s, 1), { backend: 'wasm' });
      alphaBands = upscaleBands(await this.alphaBackend, s, alpha, { ...t, onProgress: (d) => { alphaDone = d; report(); } });
    }
    for await (const b of rgbBands) {
      const a = alphaBands ? ((await alphaBands.next()).value as HrBand) : null;
      const n = b.width * b.height, d = b.data;
      let color: Image['data'];
      if (c <= 2) {
        const grey = new Float32Array(n);
        for (let i = 0; i < n; i++) grey[i] = (d[i * 3]! + d[i * 3 + 1]! + d[i * 3 + 2]!) / 3;
        color = float32ToImage(grey, b.width, b.height, 1, bd).data;
      } else color = d as Image['data'];
      if (!a) {
        yield { y: b.y, height: b.height, data: color };
        continue;
      }
      const alphaImg = float32ToImage(a.data as Float32Array, b.width, b.height, 1, bd);
      const cc = c - 1;
      const out = bd === 16 ? new Uint16Array(n * c) : new Uint8Array(n * c);
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < cc; k++) out[i * c + k] = color[i * cc + k]!;
        out[i * c + cc] = alphaImg.data[i]!;
      }
      yield { y: b.y, height: b.height, data: out };
    }
  }

  /** Upscale a whole image in memory. */
  async upscale(img: Image, o: UpscaleCallOptions = {}): Promise<Image> {
    const info = this.outputInfo(img);
    const row = info.width * info.channels;
    const data = img.bitDepth === 16 ? new Uint16Array(row * info.height) : new Uint8Array(row * info.height);
    for await (const b of this.upscaleRows(img, o)) data.set(b.data, b.y * row);
    return { ...info, data };
  }

  async dispose(): Promise<void> {
    if (!('nodes' in this.model)) this.model.dispose();
    for (const p of [this.backendP, this.alphaBackend]) await (await p?.catch(() => null))?.dispose();
    this.backendP = this.alphaBackend = null;
  }
}
