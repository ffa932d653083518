// The on-device benchmark (web/bench.html): every shipped model at the MAI setting (180x320 LR)
// on this device, on mvsr's WebGPU and WASM backends and on onnxruntime-web's webgpu and wasm
// execution providers, all on the same deploy graph in the same page; each engine's output checked
// against mvsr's WASM engine; the PSNR on mvsr's sample frame; and the MAI 2022 score once the
// user enters the power they measured. The WebGPU engines are timed twice: with the frames
// resident on the GPU (as the player runs them, runtime/webgpu/resident.ts) and as a round trip
// through the CPU. The result downloads as JSON.
import * as ort from 'onnxruntime-web/webgpu';
import { Tensor } from '../tensor/tensor.js';
import { createBackend, timeRuns } from '../runtime/backend.js';
import { gpuDevice, compileWebGpu } from '../runtime/webgpu/backend.js';
import { residentSamples, mvsrResident, requestPeerDevice, ortWebGpuOptions, ortResident } from '../runtime/webgpu/resident.js';
import { graphInputs, graphOutputs, type Graph } from '../graph/ir.js';
import { exportOnnx } from '../export/onnx.js';
import { renderSampleFrame } from '../data/synthetic.js';
import { imresizeUint8 } from '../data/imresize.js';
import { calculatePsnr } from '../metrics/psnr.js';
import { createImage, type Image } from '../io/image.js';
import { $, status, errorText, startEngine, webgpuStatus, listModels, fetchModel, download } from './common.js';

/** MAI 2022 video SR score (Ignatov et al., report arXiv:2211.05256): alpha * PSNR + beta * (1 - power in W at 30 fps). */
export const MAI_ALPHA = 1.66, MAI_BETA = 50;
export const maiScore = (psnr: number, watts: number): number => MAI_ALPHA * psnr + MAI_BETA * (1 - watts);

const ENGINES = ['mvsr webgpu', 'mvsr wasm', 'ort webgpu', 'ort wasm'] as const;
type EngineName = (typeof ENGINES)[number];

/**
 * ms: round trip per frame (input from the CPU, output read back), median of `runs`; WebGPU
 * engines also gpuMs: per frame with the frames resident on the GPU (each sample FRAMES frames).
 */
interface Cell { ms: number | null; runs: number[]; gpuMs: number | null; gpuRuns: number[]; maxDiff255: number | null; error?: string }
interface Row { model: string; arch: string; params: number; psnr: number | null; cells: Record<EngineName, Cell> }

let FRAMES_NOTE = '';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;

/** Inputs for one step: the frames random-free (the sample's LR), a video graph's state zeros. */
function stepInputs(g: Graph, lr: Float32Array, H: number, W: number): Record<string, Tensor> {
  const x: Record<string, Tensor> = {};
  for (const n of graphInputs(g)) {
    const k = n.scale ?? 1, state = g.meta.video?.state.some((s) => s.input === n.id);
    x[n.id] = state ? Tensor.zeros([1, H * k, W * k, n.channels]) : Tensor.from([1, H, W, 3], lr);
  }
  return x;
}

let peerDevice: Promise<GPUDevice> | null = null;

/** onnxruntime-web's own device (runtime/webgpu/resident.ts), so that GPU buffers can be fed to it. */
function ortDevice(): Promise<GPUDevice> {
  peerDevice ??= (async () => {
    const a = await (navigator as { gpu?: GPU }).gpu?.requestAdapter({ powerPreference: 'high-performance' });
    if (!a) throw new Error('no WebGPU adapter');
    return requestPeerDevice(a);
  })();
  return peerDevice;
}

type Timed = { runs: number[]; out: Float32Array; gpuRuns?: number[] };

async function timeOrt(g: Graph, ep: 'webgpu' | 'wasm', x: Record<string, Tensor>, H: number, W: number, runs: number, frames: number): Promise<Timed> {
  const bytes = exportOnnx(g, { layout: 'nhwc', inputShape: [H, W] });
  const device = ep === 'webgpu' ? await ortDevice() : null;
  const session = await ort.InferenceSession.create(bytes, device ? ortWebGpuOptions(device, false) : { executionProviders: [ep] });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(x)) feeds[k] = new ort.Tensor('float32', t.toArray(), [...t.shape]);
    const first = graphOutputs(g)[0]!.id;
    const r0 = await session.run(feeds);
    const out = Float32Array.from(r0[first]!.data as Float32Array);
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = await session.run(feeds);
      ms.push(performance.now() - t0);
      for (const v of Object.values(r)) v.dispose();
    }
    if (!device) return { runs: ms, out };
    const res = await ortResident(ort, device, bytes, Object.fromEntries(Object.entries(x).map(([k, t]) => [k, { data: t.toArray(), dims: [...t.shape] }])));
    try {
      return { runs: ms, out, gpuRuns: await residentSamples(res.time, frames, runs) };
    } finally {
      await res.dispose();
    }
  } finally {
    await session.release();
  }
}

/** mvsr's WebGPU program with the frames resident on the GPU: per-frame ms of `runs` samples of `frames` frames. */
async function timeMvsrResident(g: Graph, x: Record<string, Tensor>, runs: number, frames: number): Promise<number[]> {
  const d = await gpuDevice();
  const prog = await compileWebGpu(g, d);
  try {
    return await residentSamples(await mvsrResident(prog, d, x), frames, runs);
  } finally {
    prog.dispose();
  }
}

function toImage(data: Float32Array, W: number, H: number): Image {
  const img = createImage(W, H, 3);
  for (let i = 0; i < data.length; i++) img.data[i] = Math.round(Math.min(1, Math.max(0, data[i]!)) * 255);
  return img;
}

function render(rows: Row[], power: Record<string, number>): void {
  const head = `<tr><th>model</th><th>params</th>${ENGINES.map((e) => `<th>${e}<br>ms / frame${e.endsWith('webgpu') ? '<br>on GPU · round trip' : ''}</th>`).join('')}<th>mvsr webgpu vs<br>ort webgpu (on GPU)</th><th>PSNR (sample, Y)</th><th>power W<br>(you measure)</th><th>MAI 2022 score</th></tr>`;
  const body = rows.map((r) => {
    const c = (e: EngineName) => {
      const x = r.cells[e];
      if (x.error) return `<td title="${x.error.replace(/"/g, '&quot;')}">n/a</td>`;
      const off = x.maxDiff255 !== null && x.maxDiff255 > 1;
      const ms = x.ms === null ? '…' : x.gpuMs !== null ? `${x.gpuMs.toFixed(2)} · ${x.ms.toFixed(1)}` : x.ms.toFixed(2);
      return `<td title="max |diff| vs mvsr wasm: ${x.maxDiff255 === null ? '-' : `${x.maxDiff255.toExponential(2)}/255`}"${off ? ' class="off"' : ''}>${ms}${off ? ' ≠' : ''}</td>`;
    };
    const a = r.cells['mvsr webgpu'].gpuMs, b = r.cells['ort webgpu'].gpuMs;
    const w = power[r.model];
    const score = r.psnr !== null && w !== undefined && Number.isFinite(w) ? maiScore(r.psnr, w).toFixed(2) : '-';
    return `<tr><td>${r.model}</td><td>${r.params.toLocaleString()}</td>${ENGINES.map(c).join('')}<td>${a && b ? `${(b / a).toFixed(2)}x` : '-'}</td><td>${r.psnr === null ? '-' : r.psnr.toFixed(2)}</td><td><input class="power" data-model="${r.model}" size="5" value="${w ?? ''}"></td><td>${score}</td></tr>`;
  }).join('');
  $('table').innerHTML = `<table>${head}${body}</table><p class="hint">WebGPU cells: ms per frame with the frames on the GPU (${FRAMES_NOTE}) · ms per round trip (input from the CPU, output read back). ≠: that engine's output is more than one 8-bit level away from mvsr's WASM engine on this frame (hover for the difference).</p>`;
  for (const inp of document.querySelectorAll<HTMLInputElement>('input.power')) {
    inp.onchange = () => {
      const v = Number(inp.value);
      if (inp.value.trim() === '' || !Number.isFinite(v) || v < 0) delete power[inp.dataset.model!];
      else power[inp.dataset.model!] = v;
      render(rows, power);
    };
  }
}

async function main(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const quick = q.has('quick');
  const [H, W] = quick ? [36, 64] : [180, 320];
  const runs = Number(q.get('runs') ?? (quick ? 2 : 10));
  const frames = quick ? 4 : 50;
  FRAMES_NOTE = `each sample ${frames} frames issued back to back on an input already on the GPU, the output left there, completion awaited once`;
  const engine = await startEngine();
  const gpu = await webgpuStatus();
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  ort.env.wasm.wasmPaths = new URL('../ort/', import.meta.url).href;
  ort.env.wasm.numThreads = engine.threads;
  ort.env.logLevel = 'error';
  $('device').textContent = `${navigator.userAgent} · ${navigator.hardwareConcurrency} logical cores · ${isolated ? 'cross-origin isolated' : 'not isolated (1 thread)'} · WebGPU: ${gpu.ok ? gpu.adapter || 'yes' : `no (${gpu.why})`} · mvsr WASM ${engine.threads} thread(s), ${engine.simd}`;
  let models = await listModels();
  const only = q.get('models');
  if (only) models = models.filter((m) => only.split(',').includes(m.name));
  else if (quick) models = models.slice(0, 1);
  const rows: Row[] = [];
  const power: Record<string, number> = {};
  const result = { date: new Date().toISOString(), userAgent: navigator.userAgent, cores: navigator.hardwareConcurrency, isolated, webgpu: gpu, engine, lr: [H, W], runs, framesPerGpuSample: frames, rows, formula: 'MAI 2022 score = 1.66 * PSNR + 50 * (1 - power [W at 30 fps]), Ignatov et al., arXiv:2211.05256', power };
  const w = window as unknown as { __bench: { done: boolean; error?: string; result: typeof result } };
  w.__bench = { done: false, result };
  $('download').onclick = () => download(`mvsr-bench-${new Date().toISOString().slice(0, 10)}.json`, new Blob([JSON.stringify(result, null, 2)], { type: 'application/json' }));
  for (const [i, entry] of models.entries()) {
    status(`${entry.name} (${i + 1}/${models.length})…`);
    const cells = Object.fromEntries(ENGINES.map((e) => [e, { ms: null, runs: [], gpuMs: null, gpuRuns: [], maxDiff255: null } as Cell])) as Record<EngineName, Cell>;
    const row: Row = { model: entry.name, arch: entry.arch, params: entry.params, psnr: null, cells };
    rows.push(row);
    render(rows, power);
    const m = await fetchModel(entry);
    try {
      const g = m.graph, s = m.scale;
      // the sample at HR, its MATLAB-bicubic LR: the input every engine gets and the PSNR reference
      const hr = renderSampleFrame(0, { width: W * s, height: H * s, supersample: 1 });
      const lrImg = imresizeUint8(hr, 1 / s);
      const lr = Float32Array.from(lrImg.data, (v) => v / 255);
      const x = stepInputs(g, lr, H, W);
      const outs: Partial<Record<EngineName, Float32Array>> = {};
      try {
        for (const e of ENGINES) {
          const cell = cells[e];
          try {
            let r: Timed;
            if (e.startsWith('mvsr')) {
              const b = await createBackend(g, { backend: e === 'mvsr webgpu' ? 'webgpu' : 'wasm' });
              try {
                const t = await timeRuns(b, x, runs);
                r = { runs: t.ms, out: t.first[graphOutputs(g)[0]!.id]! };
              } finally {
                await b.dispose();
              }
              if (e === 'mvsr webgpu') r.gpuRuns = await timeMvsrResident(g, x, runs, frames);
            } else {
              if (e === 'ort webgpu' && !gpu.ok) throw new Error('no WebGPU');
              r = await timeOrt(g, e === 'ort webgpu' ? 'webgpu' : 'wasm', x, H, W, runs, frames);
            }
            cell.runs = r.runs;
            cell.ms = median(r.runs);
            if (r.gpuRuns) {
              cell.gpuRuns = r.gpuRuns;
              cell.gpuMs = median(r.gpuRuns);
            }
            outs[e] = r.out;
            if (e === 'mvsr wasm') {
              row.psnr = calculatePsnr(toImage(r.out, W * s, H * s), hr, { cropBorder: s, testY: true });
            }
          } catch (err) {
            cell.error = errorText(err);
          }
          render(rows, power);
        }
        // agreement with mvsr's wasm engine (each engine's first output)
        const ref = outs['mvsr wasm'];
        for (const e of ENGINES) {
          const out = outs[e];
          if (!ref || !out || out.length !== ref.length) continue;
          let d = 0;
          for (let k = 0; k < ref.length; k++) d = Math.max(d, Math.abs(out[k]! - ref[k]!));
          cells[e].maxDiff255 = d * 255;
        }
      } finally {
        for (const t of Object.values(x)) t.dispose();
      }
    } finally {
      m.dispose();
    }
    render(rows, power);
  }
  status(`done: ${rows.length} model(s) at ${H}x${W}, median of ${runs} runs each`);
  w.__bench.done = true;
}

main().catch((e) => {
  status(`the benchmark could not run: ${errorText(e)}`, 'error');
  (window as unknown as { __bench: { done: boolean; error?: string } }).__bench = { done: true, error: errorText(e) };
});
