// The player (web/index.html): a video, an image or the built-in sample, reduced to the chosen LR
// size and upscaled in real time by a shipped or dropped model, with a split slider against
// bicubic. On WebGPU an image model runs frame -> texture -> graph -> canvas with no CPU round
// trip (runtime/webgpu/frames.ts); a video model streams through VideoStream with its state on
// the GPU; without WebGPU everything runs on the WASM engine (threads when cross-origin isolated).
import { Tensor } from '../tensor/tensor.js';
import { createBackend, type Backend } from '../runtime/backend.js';
import { resetGpuDevice } from '../runtime/webgpu/backend.js';
import { VideoStream } from '../runtime/video.js';
import { createFrameRenderer, type FrameRenderer } from '../runtime/webgpu/frames.js';
import { renderSampleFrame } from '../data/synthetic.js';
import { writeWebm, type WebmFrame } from './webm.js';
import {
  $, status, errorText, startEngine, webgpuStatus, listModels, fetchModel, loadModelBytes, bicubicGraph,
  rgbaToTensor, tensorToImageData, download, type LoadedModel, type ModelEntry,
} from './common.js';

type Source = { kind: 'image'; bitmap: ImageBitmap; name: string } | { kind: 'video'; el: HTMLVideoElement; name: string } | { kind: 'sample'; t: number };

/** What runs the frames: the GPU path (two frame renderers) or the tensor path (backends / stream). */
interface Pipeline {
  backend: 'webgpu' | 'wasm';
  /** How frames travel, when it matters. */
  readonly note?: string;
  /** Upscale the LR canvas into the two output canvases. */
  frame(lr: HTMLCanvasElement): Promise<void>;
  /** The model's output for the LR canvas as ImageData (for saving and checks). */
  snapshot(lr: HTMLCanvasElement): Promise<ImageData>;
  /** Upscale the LR canvas and return the RGBA bytes shown in the upscaled canvas (for checks). */
  shown(lr: HTMLCanvasElement): Promise<{ data: Uint8Array | Uint8ClampedArray; width: number; height: number }>;
  dispose(): Promise<void>;
}

const state = {
  gpu: { ok: false, why: '', adapter: '' },
  engine: { threads: 1, simd: '' },
  models: [] as ModelEntry[],
  model: null as LoadedModel | null,
  source: { kind: 'sample', t: 0 } as Source,
  pipeline: null as Pipeline | null,
  playing: true,
  frames: 0,
  lastMs: 0,
  fps: 0,
  busy: false,
  generation: 0,
  /** The GPU frame path failed here (a canvas texture broke the device): WebGPU runs with read-back. */
  canvasBroken: false,
};

const lr = document.createElement('canvas');
const lrCtx = lr.getContext('2d', { willReadFrequently: true })!;

/** The LR size for the source at the chosen height (width keeps the aspect ratio, even). */
function lrSize(srcW: number, srcH: number): [number, number] {
  const h = Number(($('lrh') as HTMLSelectElement).value) || 180;
  const H = Math.min(h, srcH), W = Math.max(2, Math.round((srcW * H) / srcH / 2) * 2);
  return [W, H];
}

/** Draw the current source frame into the LR canvas; false when there is no new frame. */
let lastVideoTime = -1;
function grabFrame(force: boolean): boolean {
  const s = state.source;
  if (s.kind === 'sample') {
    const [W, H] = lrSize(320, 180);
    if (!force && !state.playing) return false;
    const img = renderSampleFrame(s.t, { width: W, height: H });
    if (state.playing) s.t++;
    if (lr.width !== W || lr.height !== H) [lr.width, lr.height] = [W, H];
    const id = new ImageData(W, H);
    for (let i = 0; i < W * H; i++) {
      id.data[i * 4] = img.data[i * 3]!;
      id.data[i * 4 + 1] = img.data[i * 3 + 1]!;
      id.data[i * 4 + 2] = img.data[i * 3 + 2]!;
      id.data[i * 4 + 3] = 255;
    }
    lrCtx.putImageData(id, 0, 0);
    return true;
  }
  if (s.kind === 'video') {
    if (s.el.readyState < 2 || (!force && s.el.currentTime === lastVideoTime)) return false;
    lastVideoTime = s.el.currentTime;
    const [W, H] = lrSize(s.el.videoWidth, s.el.videoHeight);
    if (lr.width !== W || lr.height !== H) [lr.width, lr.height] = [W, H];
    lrCtx.drawImage(s.el, 0, 0, lr.width, lr.height);
    return true;
  }
  if (!force) return false;
  const [W, H] = lrSize(s.bitmap.width, s.bitmap.height);
  if (lr.width !== W || lr.height !== H) [lr.width, lr.height] = [W, H];
  lrCtx.drawImage(s.bitmap, 0, 0, lr.width, lr.height);
  return true;
}

/** Fresh output canvases (a canvas keeps the context type it was first given). */
function newCanvases(): [HTMLCanvasElement, HTMLCanvasElement] {
  const stage = $('stage');
  stage.replaceChildren();
  const base = document.createElement('canvas'), top = document.createElement('canvas');
  base.id = 'bicubic';
  top.id = 'upscaled';
  const line = document.createElement('div');
  line.id = 'divider';
  stage.append(base, top, line);
  applySplit();
  return [base, top];
}

function applySplit(): void {
  const v = Number(($('split') as HTMLInputElement).value);
  const top = document.getElementById('upscaled');
  if (top) top.style.clipPath = `inset(0 0 0 ${v}%)`;
  const line = document.getElementById('divider');
  if (line && top) line.style.left = `${(top.clientWidth * v) / 100}px`;
}

function chosenBackend(m: LoadedModel): { name: 'webgpu' | 'wasm'; note: string } {
  const want = ($('backend') as HTMLSelectElement).value;
  if (want === 'wasm') return { name: 'wasm', note: '' };
  if (!state.gpu.ok) return { name: 'wasm', note: want === 'webgpu' ? `WebGPU unavailable (${state.gpu.why}): running on WASM` : '' };
  return { name: 'webgpu', note: '' };
}

async function gpuPipeline(m: LoadedModel): Promise<Pipeline> {
  const [base, top] = newCanvases();
  const model: FrameRenderer = await createFrameRenderer(m.graph, top);
  let bic: FrameRenderer;
  try {
    bic = await createFrameRenderer(bicubicGraph(m.scale), base);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return {
    backend: 'webgpu',
    get note() {
      return model.zeroCopy ? 'frames stay on the GPU' : 'frames reach the GPU through the CPU: this browser refused a direct copy';
    },
    async frame(c) {
      // an ImageBitmap of the LR canvas: a GPU-side snapshot, stable while it is copied
      const bmp = await createImageBitmap(c);
      try {
        await model.render(bmp, c.width, c.height);
        await bic.render(bmp, c.width, c.height);
      } finally {
        bmp.close();
      }
    },
    snapshot: (c) => stillOutput(m, 'webgpu', c),
    async shown(c) {
      const bmp = await createImageBitmap(c);
      try {
        const data = (await model.render(bmp, c.width, c.height, { readback: true }))!;
        return { data, width: c.width * m.scale, height: c.height * m.scale };
      } finally {
        bmp.close();
      }
    },
    async dispose() {
      model.dispose();
      bic.dispose();
    },
  };
}

const frameTensor = (c: HTMLCanvasElement): Tensor => rgbaToTensor(lrCtx.getImageData(0, 0, c.width, c.height).data, c.width, c.height);

/** The model's output for the LR frame alone (a video model as a one-frame clip), as ImageData. */
async function stillOutput(m: LoadedModel, backend: 'webgpu' | 'wasm', c: HTMLCanvasElement): Promise<ImageData> {
  const s = new VideoStream(m.source, { backend });
  try {
    const ys = [...(await s.push(frameTensor(c))), ...(await s.flush())];
    const id = tensorToImageData(ys[0]!);
    for (const y of ys) y.dispose();
    return id;
  } finally {
    await s.dispose();
  }
}

async function tensorPipeline(m: LoadedModel, backend: 'webgpu' | 'wasm'): Promise<Pipeline> {
  const [base, top] = newCanvases();
  const bctx = base.getContext('2d')!, tctx = top.getContext('2d')!;
  const bic: Backend = await createBackend(bicubicGraph(m.scale), { backend: 'wasm' });
  const stream = new VideoStream(m.source, { backend });
  const put = (ctx: CanvasRenderingContext2D, y: Tensor) => {
    const id = tensorToImageData(y);
    if (ctx.canvas.width !== id.width || ctx.canvas.height !== id.height) [ctx.canvas.width, ctx.canvas.height] = [id.width, id.height];
    ctx.putImageData(id, 0, 0);
  };
  const frame = async (c: HTMLCanvasElement): Promise<void> => {
    const x = frameTensor(c);
    const b = await bic.run(x);
    put(bctx, b);
    b.dispose();
    // the stream owns the frame; a video model answers once its look-ahead is in
    const ys = await stream.push(x);
    const last = ys.pop();
    for (const y of ys) y.dispose();
    if (last) {
      put(tctx, last);
      last.dispose();
    }
  };
  return {
    backend,
    frame,
    snapshot: (c) => stillOutput(m, backend, c),
    async shown(c) {
      await frame(c);
      return tctx.getImageData(0, 0, top.width, top.height);
    },
    async dispose() {
      await stream.dispose();
      await bic.dispose();
    },
  };
}

function backendLabel(): string {
  const p = state.pipeline, m = state.model;
  if (!p || !m) return '-';
  const what = p.backend === 'webgpu' ? `WebGPU (${state.gpu.adapter || 'adapter'})` : `WASM, ${state.engine.threads} thread(s), ${state.engine.simd}`;
  const readBack = p.backend === 'webgpu' && p.note === undefined && !m.video ? 'frames read back to the CPU' : '';
  return [what, m.video && p.backend === 'webgpu' ? 'state on the GPU' : '', p.note ?? '', readBack].filter(Boolean).join(', ');
}

/** Rebuild the pipeline for the current model and backend choice. */
let rebuilding: Promise<unknown> = Promise.resolve();

/**
 * Rebuild the pipeline for the current model, backend and size. Rebuilds run one at a time
 * (each makes the stage's canvases) and only the latest request runs: a pipeline built for an
 * older request would draw into canvases a newer one has replaced.
 */
function rebuild(): Promise<void> {
  const gen = ++state.generation;
  const run = rebuilding.then(() => (gen === state.generation ? buildPipeline() : undefined));
  rebuilding = run.catch(() => undefined);
  return run;
}

async function buildPipeline(): Promise<void> {
  const m = state.model;
  if (!m) return;
  const old = state.pipeline;
  state.pipeline = null;
  // a frame in flight on the old pipeline finishes first (its stream and buffers go with it)
  while (state.busy) await new Promise((r) => setTimeout(r, 5));
  await old?.dispose();
  const { name, note } = chosenBackend(m);
  let p: Pipeline;
  try {
    p = name === 'webgpu' && !m.video && !state.canvasBroken ? await gpuPipeline(m) : await tensorPipeline(m, name);
  } catch (e) {
    if (name !== 'webgpu') throw e;
    status(`WebGPU failed for ${m.name} (${errorText(e)}): running on WASM`, 'error');
    p = await tensorPipeline(m, 'wasm');
  }
  state.pipeline = p;
  if (note) status(note);
  $('backend-used').textContent = backendLabel();
  grabFrame(true);
  await runFrame();
}

async function setModel(m: LoadedModel): Promise<void> {
  const old = state.model;
  state.model = m;
  try {
    await rebuild();
    old?.dispose();
    status(`${m.name}: x${m.scale}${m.video ? ' video model' : ''}`);
  } catch (e) {
    state.model = old;
    m.dispose();
    if (old) await rebuild();
    throw e;
  }
}

async function runFrame(): Promise<void> {
  const p = state.pipeline;
  if (!p || state.busy) return;
  state.busy = true;
  const t0 = performance.now();
  try {
    await p.frame(lr);
    state.frames++;
    state.lastMs = performance.now() - t0;
  } catch (e) {
    if (p.backend === 'webgpu' && p.note !== undefined && !state.canvasBroken) {
      // the frame path (texture -> graph -> canvas) failed: WebGPU with the frames read back
      state.canvasBroken = true;
      resetGpuDevice();
      status(`WebGPU could not draw into the page (${errorText(e)}): frames now go through the CPU`, 'error');
      // not awaited: this frame may be the last step of a rebuild, which the new one queues behind
      void rebuild().catch((err) => status(errorText(err), 'error'));
      return;
    }
    state.playing = false;
    status(`upscaling stopped: ${errorText(e)}`, 'error');
  } finally {
    state.busy = false;
  }
}

let fpsWindow = { t: performance.now(), frames: 0 };
function loop(): void {
  const fresh = state.playing && !state.busy && grabFrame(false);
  const done = fresh ? runFrame() : Promise.resolve();
  void done.then(() => {
    const now = performance.now();
    if (now - fpsWindow.t >= 1000) {
      state.fps = ((state.frames - fpsWindow.frames) * 1000) / (now - fpsWindow.t);
      fpsWindow = { t: now, frames: state.frames };
      applySplit(); // the divider follows the canvas's displayed width
      if (state.playing) $('fps').textContent = state.fps.toFixed(1);
      $('ms').textContent = state.lastMs.toFixed(1);
      $('backend-used').textContent = backendLabel();
      $('size').textContent = `${lr.width}x${lr.height} -> ${lr.width * (state.model?.scale ?? 1)}x${lr.height * (state.model?.scale ?? 1)}`;
    }
    requestAnimationFrame(loop);
  });
}

async function openFile(f: File): Promise<void> {
  if (/\.safetensors$/i.test(f.name)) {
    await setModel(loadModelBytes(new Uint8Array(await f.arrayBuffer()), f.name));
    return;
  }
  if (f.type.startsWith('image/')) {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(f);
    } catch {
      throw new Error(`${f.name}: not an image this browser can decode`);
    }
    setSource({ kind: 'image', bitmap, name: f.name });
    return;
  }
  if (f.type.startsWith('video/')) {
    const el = document.createElement('video');
    el.muted = true;
    el.loop = true;
    el.playsInline = true;
    el.src = URL.createObjectURL(f);
    await new Promise<void>((ok, fail) => {
      el.onloadeddata = () => ok();
      el.onerror = () => fail(new Error(`${f.name}: not a video this browser can play`));
    });
    await el.play();
    setSource({ kind: 'video', el, name: f.name });
    return;
  }
  throw new Error(`${f.name}: not an image, a video or a .safetensors model`);
}

function setSource(s: Source): void {
  const old = state.source;
  if (old.kind === 'video') {
    old.el.pause();
    URL.revokeObjectURL(old.el.src);
  }
  if (old.kind === 'image') old.bitmap.close();
  state.source = s;
  lastVideoTime = -1;
  state.playing = s.kind !== 'image';
  $('play').textContent = state.playing ? 'Pause' : 'Play';
  status(s.kind === 'sample' ? 'the built-in sample (rendered by mvsr)' : s.name);
  void rebuild().catch((e) => status(errorText(e), 'error'));
}

async function save(): Promise<void> {
  const p = state.pipeline, m = state.model;
  if (!p || !m) return;
  const id = await p.snapshot(lr);
  const c = document.createElement('canvas');
  [c.width, c.height] = [id.width, id.height];
  c.getContext('2d')!.putImageData(id, 0, 0);
  const blob = await new Promise<Blob | null>((ok) => c.toBlob(ok, 'image/png'));
  if (blob) download(`${m.name.replace(/\.safetensors$/, '')}-x${m.scale}.png`, blob);
}

/**
 * The upscaled clip as a WebM file (WebCodecs VP8, else VP9): the sample's first `frames` frames
 * (default 48) or every frame of the opened video at 30 fps, streamed through the model (a video
 * model keeps its state across frames) on the current backend.
 */
async function encodeVideo(o: { frames?: number } = {}): Promise<Uint8Array> {
  const m = state.model, p = state.pipeline, s = state.source;
  if (!m || !p) throw new Error('no model is loaded');
  if (typeof VideoEncoder === 'undefined') throw new Error('saving a video needs WebCodecs (VideoEncoder), which this browser does not have');
  if (s.kind === 'image') throw new Error('open a video or play the sample to save a video');
  state.playing = false;
  while (state.busy) await new Promise((r) => setTimeout(r, 10));
  state.busy = true; // no live frames and no rebuild while saving
  const fps = 30;
  const total = s.kind === 'sample' ? o.frames ?? 48 : Math.min(o.frames ?? Infinity, Math.max(1, Math.floor(s.el.duration * fps)));
  const stream = new VideoStream(m.source, { backend: p.backend });
  const chunks: WebmFrame[] = [];
  let failure: unknown = null;
  const enc = new VideoEncoder({
    output: (chunk) => {
      const data = new Uint8Array(chunk.byteLength);
      chunk.copyTo(data);
      chunks.push({ data, timestampMs: chunk.timestamp / 1000, key: chunk.type === 'key' });
    },
    error: (e) => { failure = e; },
  });
  let codec: 'V_VP8' | 'V_VP9' | null = null, W = 0, H = 0, n = 0;
  const emit = async (y: Tensor): Promise<void> => {
    const id = tensorToImageData(y);
    y.dispose();
    if (!codec) {
      [W, H] = [id.width, id.height];
      for (const [c, name] of [['vp8', 'V_VP8'], ['vp09.00.10.08', 'V_VP9']] as const) {
        const cfg: VideoEncoderConfig = { codec: c, width: W, height: H, bitrate: 20_000_000, framerate: fps, latencyMode: 'quality' };
        if ((await VideoEncoder.isConfigSupported(cfg)).supported) {
          enc.configure(cfg);
          codec = name;
          break;
        }
      }
      if (!codec) throw new Error(`this browser cannot encode ${W}x${H} VP8 or VP9`);
    }
    const frame = new VideoFrame(id.data, { format: 'RGBA', codedWidth: W, codedHeight: H, timestamp: Math.round((n * 1e6) / fps) });
    enc.encode(frame, { keyFrame: n % 60 === 0 });
    frame.close();
    n++;
    status(`saving the video: frame ${n} of ${total}`);
  };
  try {
    for (let i = 0; i < total; i++) {
      if (s.kind === 'sample') s.t = i;
      else {
        s.el.pause();
        await new Promise<void>((ok) => { s.el.onseeked = () => ok(); s.el.currentTime = i / fps; });
        lastVideoTime = -1;
      }
      grabFrame(true);
      for (const y of await stream.push(frameTensor(lr))) await emit(y);
    }
    for (const y of await stream.flush()) await emit(y);
    await enc.flush();
    if (failure) throw failure;
    return writeWebm(chunks, { width: W, height: H, codec: codec!, durationMs: (n * 1000) / fps });
  } finally {
    if (enc.state !== 'closed') enc.close();
    await stream.dispose();
    state.busy = false;
  }
}

async function saveVideo(): Promise<void> {
  const bytes = await encodeVideo();
  download(`${state.model!.name.replace(/\.safetensors$/, '')}-x${state.model!.scale}.webm`, new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "video/webm" }));
  status(`saved the video (${(bytes.length / 1e6).toFixed(1)} MB)`);
}

/** For tests: what the upscaled canvas shows for the current frame against the wasm engine's output on it (image models). */
async function check(): Promise<{ backend: string; equal: number; maxLevels: number; width: number; height: number }> {
  const p = state.pipeline!;
  const a = await p.shown(lr);
  const ref = await stillOutput(state.model!, 'wasm', lr);
  if (ref.width !== a.width || ref.height !== a.height) throw new Error(`shown ${a.width}x${a.height}, reference ${ref.width}x${ref.height}`);
  let eq = 0, max = 0, n = 0;
  for (let i = 0; i < a.data.length; i++) {
    if (i % 4 === 3) continue;
    const d = Math.abs(a.data[i]! - ref.data[i]!);
    if (d === 0) eq++;
    max = Math.max(max, d);
    n++;
  }
  return { backend: p.backend, equal: eq / n, maxLevels: max, width: a.width, height: a.height };
}

async function main(): Promise<void> {
  state.engine = await startEngine();
  state.gpu = await webgpuStatus();
  if (!state.gpu.ok) {
    const opt = ($('backend') as HTMLSelectElement).querySelector('option[value="webgpu"]') as HTMLOptionElement;
    opt.disabled = true;
    opt.textContent = 'WebGPU (unavailable)';
  }
  state.models = await listModels();
  const sel = $('model') as HTMLSelectElement;
  for (const m of state.models) sel.add(new Option(`${m.name} (${m.arch}, x${m.scale}${m.video ? ', video' : ''}${m.teachers?.length ? `, distilled from ${m.teachers.join(', then ')}` : ''})`, m.name));
  const first = state.models.find((m) => m.default) ?? state.models[0];
  if (!first) throw new Error('the server lists no models');
  sel.value = first.name;
  sel.onchange = () => void fetchModel(state.models.find((m) => m.name === sel.value)!).then(setModel).catch((e) => status(errorText(e), 'error'));
  ($('backend') as HTMLSelectElement).onchange = () => void rebuild().catch((e) => status(errorText(e), 'error'));
  ($('lrh') as HTMLSelectElement).onchange = () => void rebuild().catch((e) => status(errorText(e), 'error'));
  ($('split') as HTMLInputElement).oninput = applySplit;
  $('sample').onclick = () => setSource({ kind: 'sample', t: 0 });
  $('play').onclick = () => {
    state.playing = !state.playing;
    $('play').textContent = state.playing ? 'Pause' : 'Play';
    const s = state.source;
    if (s.kind === 'video') void (state.playing ? s.el.play() : s.el.pause());
  };
  $('save').onclick = () => void save().catch((e) => status(errorText(e), 'error'));
  const sv = $('savevideo') as HTMLButtonElement;
  if (typeof VideoEncoder === 'undefined') {
    sv.disabled = true;
    sv.title = 'needs WebCodecs, which this browser does not have';
  }
  sv.onclick = () => void saveVideo().catch((e) => status(`the video was not saved: ${errorText(e)}`, 'error'));
  const pick = $('file') as HTMLInputElement;
  pick.onchange = () => { if (pick.files?.[0]) void openFile(pick.files[0]).catch((e) => status(errorText(e), 'error')); };
  const modelPick = $('modelfile') as HTMLInputElement;
  modelPick.onchange = () => { if (modelPick.files?.[0]) void openFile(modelPick.files[0]).catch((e) => status(errorText(e), 'error')); };
  document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    const f = e.dataTransfer?.files?.[0];
    if (f) void openFile(f).catch((err) => status(errorText(err), 'error'));
  });
  await setModel(await fetchModel(first));
  status(`ready: ${first.name} on the built-in sample${state.gpu.ok ? '' : ` (WebGPU unavailable: ${state.gpu.why})`}`);
  requestAnimationFrame(loop);
}

/** For tests: stop playing and show the current frame, finished. */
async function still(): Promise<void> {
  state.playing = false;
  for (;;) {
    while (state.busy || !state.pipeline) await new Promise((r) => setTimeout(r, 10));
    const p = state.pipeline;
    grabFrame(true);
    await runFrame();
    if (state.pipeline === p) return; // else the pipeline was rebuilt meanwhile: show a frame on the new one
  }
}

(window as unknown as { __player: unknown }).__player = { state, check, still, openFile, setSource, encodeVideo };
main().catch((e) => status(`the player could not start: ${errorText(e)}`, 'error'));
