// Streaming video super-resolution (browser-safe): a VideoUpscaler takes LR frames one at a time
// and returns HR frames as soon as the model has what it needs, carrying the recurrent state
// between calls. Latency and memory are bounded by the model's window and chunk: a causal model
// with `future` frames of look-ahead answers `future` frames late; a bidirectional one (SWRN,
// chunk L) answers once L + future frames are in. An image model runs frame by frame (tiled).
import type { Image } from '../io/image.js';
import { toRGB, imageToFloat32, float32ToImage } from '../io/image.js';
import { Tensor } from '../tensor/tensor.js';
import { leaf, noGrad, clearTape, type Var } from '../autograd/var.js';
import type { SRModel } from '../models/registry.js';
import { isVideoModel, windowIndices, type VideoSRModel } from '../models/vsr.js';
import { Upscaler, type UpscalerOptions } from './upscaler.js';

export interface VideoCallOptions {
  signal?: AbortSignal;
}

function aborted(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('mvsr: aborted');
}

export class VideoUpscaler {
  private readonly video: VideoSRModel | null;
  private readonly image: Upscaler | null;
  /** LR frames (RGB float) from index `base` on: the look-behind still needed and the frames not yet upscaled. */
  private frames: Float32Array[] = [];
  private base = 0;
  private pushed = 0;
  private next = 0;
  private state: Tensor[] | null = null;
  private size: { width: number; height: number; bitDepth: 8 | 16 } | null = null;

  /** `options` apply to image models, which are tiled (video models see whole frames). */
  constructor(readonly model: SRModel | VideoSRModel, options: UpscalerOptions = {}) {
    this.video = isVideoModel(model) ? model : null;
    this.image = this.video ? null : new Upscaler(model as SRModel, options);
  }

  get scale(): number {
    return this.model.scale;
  }

  /** Frames between pushing a frame and getting it back (before flush): the look-ahead a stream must wait for. */
  get latency(): number {
    const v = this.video;
    return v ? v.window.future + v.chunk - 1 : 0;
  }

  /** LR frames held at most (look-behind + chunk + look-ahead), the memory bound besides the state. */
  get framesHeld(): number {
    const v = this.video;
    return v ? v.window.past + v.chunk + v.window.future : 1;
  }

  /** Feed the next LR frame; returns the HR frames that became ready (possibly none), in order. */
  async push(frame: Image, o: VideoCallOptions = {}): Promise<Image[]> {
    if (o.signal?.aborted) throw aborted(o.signal);
    if (!this.size) this.size = { width: frame.width, height: frame.height, bitDepth: frame.bitDepth };
    else if (frame.width !== this.size.width || frame.height !== this.size.height) {
      throw new Error(`mvsr: VideoUpscaler: frame ${this.pushed + 1} is ${frame.width}x${frame.height}, the clip's first frame was ${this.size.width}x${this.size.height}`);
    }
    this.pushed++;
    if (this.image) return [await this.image.upscale(toRGB(frame), o)];
    this.frames.push(imageToFloat32(toRGB(frame)));
    return this.drain(false, o);
  }

  /** The clip ended: returns the frames still held (the last frames' look-ahead replicates the last frame) and resets for a new clip. */
  async flush(o: VideoCallOptions = {}): Promise<Image[]> {
    const out = this.image ? [] : await this.drain(true, o);
    this.reset();
    return out;
  }

  /** Start a new clip: drop held frames and the recurrent state. */
  reset(): void {
    this.state?.forEach((t) => t.dispose());
    this.state = null;
    this.frames = [];
    this.base = this.pushed = this.next = 0;
    this.size = null;
  }

  private async drain(ended: boolean, o: VideoCallOptions): Promise<Image[]> {
    const m = this.video!;
    const out: Image[] = [];
    for (;;) {
      const left = this.pushed - this.next;
      let count: number;
      if (m.chunk > 1) count = left >= m.chunk + m.window.future ? m.chunk : ended ? Math.min(m.chunk, left) : 0;
      else count = ended ? left : Math.max(0, left - m.window.future);
      if (count <= 0) break;
      if (o.signal?.aborted) throw aborted(o.signal);
      out.push(...this.run(count, ended));
      // let abort signals and progress rendering through between calls
      await new Promise<void>((r) => setTimeout(r, 0));
    }
    return out;
  }

  private run(count: number, ended: boolean): Image[] {
    const m = this.video!, { width: W, height: H, bitDepth } = this.size!, s = m.scale;
    // indices into the clip as far as it is known: clamped at 0 and (when ended) at the last frame
    const idx = windowIndices(this.pushed, this.next, count, m.window);
    if (!ended && idx.at(-1)! !== this.next + count + m.window.future - 1) throw new Error('mvsr: VideoUpscaler: internal: look-ahead not available');
    const inputs = new Map<number, Var>();
    const vars = idx.map((i) => {
      let v = inputs.get(i);
      if (!v) inputs.set(i, v = leaf(Tensor.from([1, H, W, 3], this.frames[i - this.base]!)));
      return v;
    });
    const prev = this.state;
    const images: Image[] = [];
    try {
      const r = noGrad(() => m.forwardFrames(vars, count, prev ? prev.map((t) => leaf(t)) : null));
      for (const y of r.outputs) {
        const [, oh, ow, oc] = y.shape as [number, number, number, number];
        if (oh !== H * s || ow !== W * s || oc !== 3) throw new Error(`mvsr: VideoUpscaler: ${m.arch} mapped [1,${H},${W},3] to [${y.shape.join(',')}], expected x${s} with 3 channels`);
        images.push(float32ToImage(y.value.data, ow, oh, 3, bitDepth));
      }
      this.state = r.state.map((v) => v.value.clone());
    } finally {
      clearTape();
      for (const v of inputs.values()) v.value.dispose();
      prev?.forEach((t) => t.dispose());
      if (this.state === prev) this.state = null; // the call failed: the old state is gone
    }
    this.next += count;
    // keep only the look-behind the next call reads
    const keepFrom = Math.max(0, this.next - m.window.past);
    this.frames.splice(0, keepFrom - this.base);
    this.base = keepFrom;
    return images;
  }

  dispose(): void {
    this.reset();
    if (this.image) this.image.dispose();
    else this.model.dispose();
  }
}
