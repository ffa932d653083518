// Streaming video super-resolution (browser-safe): a VideoUpscaler takes LR frames one at a time
// and returns HR frames as soon as the model has what it needs. A video model runs its step graph
// on a runtime backend through a VideoStream (runtime/video.ts), its recurrent state kept there
// between calls; an image model runs frame by frame through a tiled Upscaler.
import type { Image } from '../io/image.js';
import { toRGB, imageToTensor, tensorToImage } from '../io/image.js';
import { Tensor } from '../tensor/tensor.js';
import { stepGraph, type SRModel } from '../models/registry.js';
import { isVideoModel, type VideoSRModel } from '../models/vsr.js';
import { VideoStream } from '../runtime/video.js';
import type { Backend } from '../runtime/backend.js';
import { Upscaler, type UpscalerOptions } from './upscaler.js';

export interface VideoCallOptions {
  signal?: AbortSignal;
}

export class VideoUpscaler {
  private readonly stream: VideoStream | null;
  private readonly image: Upscaler | null;
  private pushed = 0;
  private size: { width: number; height: number; bitDepth: 8 | 16 } | null = null;
  /** Pixel arrays of output frames handed back by recycle(), reused for later outputs. */
  private spare: (Uint8Array | Uint16Array)[] = [];

  /** `options` choose the backend; tile and halo apply to image models (video models see whole frames). */
  constructor(readonly model: SRModel | VideoSRModel, options: UpscalerOptions = {}) {
    if (isVideoModel(model)) {
      const m = model;
      this.stream = new VideoStream({ chunk: m.chunk, graph: (count) => stepGraph(m, count) }, { backend: options.backend, threads: options.threads });
      this.image = null;
    } else {
      this.stream = null;
      this.image = new Upscaler(model as SRModel, options);
    }
  }

  get scale(): number {
    return this.model.scale;
  }

  /** The runtime backend the model runs on (created on first use). */
  backend(): Promise<Backend> {
    return this.stream ? this.stream.backend() : this.image!.backend();
  }

  /** Frames between pushing a frame and getting it back (before flush): the look-ahead a stream must wait for. */
  get latency(): number {
    return this.stream?.latency ?? 0;
  }

  /** LR frames held at most (look-behind + chunk + look-ahead), the memory bound besides the state. */
  get framesHeld(): number {
    return this.stream?.framesHeld ?? 1;
  }

  /**
   * How an output frame depends on the others: the LR frames it reads before (`past`) and after
   * (`future`) it, the chunk of a backward recurrence (1 for causal models), and whether a state
   * carries information from every earlier frame (`recurrent`). An image model: 0, 0, 1, false.
   */
  get temporal(): { past: number; future: number; chunk: number; recurrent: boolean } {
    if (!this.stream) return { past: 0, future: 0, chunk: 1, recurrent: false };
    const m = this.stream.meta;
    return { past: m.window.past, future: m.window.future, chunk: (this.model as VideoSRModel).chunk, recurrent: m.state.length > 0 };
  }

  /** Feed the next LR frame; returns the HR frames that became ready (possibly none), in order. */
  async push(frame: Image, o: VideoCallOptions = {}): Promise<Image[]> {
    if (o.signal?.aborted) throw o.signal.reason instanceof Error ? o.signal.reason : new Error('mvsr: aborted');
    if (!this.size) this.size = { width: frame.width, height: frame.height, bitDepth: frame.bitDepth };
    else if (frame.width !== this.size.width || frame.height !== this.size.height) {
      throw new Error(`mvsr: VideoUpscaler: frame ${this.pushed + 1} is ${frame.width}x${frame.height}, the clip's first frame was ${this.size.width}x${this.size.height}`);
    }
    this.pushed++;
    if (this.image) return [await this.image.upscale(toRGB(frame), o)];
    const t = imageToTensor(toRGB(frame));
    return this.images(await this.stream!.push(t, o));
  }

  /** The clip ended: returns the frames still held (the last frames' look-ahead replicates the last frame) and resets for a new clip. */
  async flush(o: VideoCallOptions = {}): Promise<Image[]> {
    const out = this.stream ? this.images(await this.stream.flush(o)) : [];
    this.reset();
    return out;
  }

  /** Start a new clip: drop held frames and the recurrent state. */
  reset(): void {
    this.stream?.reset();
    this.pushed = 0;
    this.size = null;
    this.spare = [];
  }

  private images(ts: Tensor[]): Image[] {
    const bitDepth = this.size?.bitDepth ?? 8;
    try {
      return ts.map((y) => tensorToImage(y, bitDepth, this.spare.pop()));
    } finally {
      for (const t of ts) t.dispose();
    }
  }

  /**
   * Hand back output frames you are done with (written, scored): later output frames are written
   * into their pixel arrays instead of new ones, which spares the fresh memory's first touch
   * (6.4 ms of a 720p frame's 1.4 + 6.4 ms conversion on our sandboxed 2-core machine). Do not
   * read a frame after handing it back. Frames that are not this clip's output size are refused;
   * between clips (after flush) and for image models the call does nothing.
   */
  recycle(frames: Image[]): void {
    const s = this.size;
    if (!s || this.image) return; // between clips (after flush or reset), or an image model: nothing to reuse them for
    const W = s.width * this.scale, H = s.height * this.scale;
    for (const f of frames) {
      if (f.width !== W || f.height !== H || f.channels !== 3 || f.bitDepth !== s.bitDepth || f.data.length !== W * H * 3) {
        throw new Error(`mvsr: VideoUpscaler.recycle: a ${f.width}x${f.height} ${f.channels}-channel ${f.bitDepth}-bit frame is not an output frame of this clip (${W}x${H} RGB, ${s.bitDepth}-bit)`);
      }
      // enough for the frames one call returns (a chunk) and the caller's queue
      if (this.spare.length < this.framesHeld + 2 && !this.spare.includes(f.data)) this.spare.push(f.data);
    }
  }

  async dispose(): Promise<void> {
    this.reset();
    if (this.image) await this.image.dispose();
    else {
      await this.stream!.dispose();
      this.model.dispose();
    }
  }
}
