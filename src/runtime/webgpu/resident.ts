// Timing with the frames resident on the GPU, as a player runs a model: each frame's work is
// issued after the previous frame's, on an input already in a GPU buffer, its output left on the
// GPU, and the GPU's completion awaited once at the end. Shared by `mvsr bench`'s GPU engines
// (Node, through the `webgpu` package) and the web app's benchmark page, for mvsr's compiled
// program and for onnxruntime-web's webgpu execution provider alike.
import type * as OrtWeb from 'onnxruntime-web';
import type { WebGpuProgram } from './backend.js';
import type { Tensor } from '../../tensor/tensor.js';

const STORAGE = 0x80, COPY_SRC = 0x04, COPY_DST = 0x08;

/** Milliseconds for `frames` calls of `issue` (each issues one frame's GPU work), the GPU's completion included. */
export async function timeResident(d: GPUDevice, frames: number, issue: () => void | Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < frames; i++) await issue();
  await d.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/** Per-frame milliseconds of `reps` samples of `frames` frames each (see timeResident), after `warm` untimed samples. */
export async function residentSamples(time: (frames: number) => Promise<number>, frames: number, reps: number, warm = 1): Promise<number[]> {
  for (let i = 0; i < warm; i++) await time(frames);
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) ms.push((await time(frames)) / frames);
  return ms;
}

/**
 * A compiled mvsr program's frames-resident timer: one run with `inputs` makes the plan at their
 * size and leaves them in its input buffers; then each frame is one command buffer, one submit.
 */
export async function mvsrResident(prog: WebGpuProgram, d: GPUDevice, inputs: Record<string, Tensor>): Promise<(frames: number) => Promise<number>> {
  for (const t of Object.values(await prog.runNamed(inputs))) t.dispose();
  const [N, H, W] = Object.values(inputs)[0]!.shape as [number, number, number];
  const bufs = await prog.buffersAt(N, H, W);
  return (frames) => timeResident(d, frames, () => {
    const enc = d.createCommandEncoder();
    const pass = enc.beginComputePass();
    bufs.encode(pass);
    pass.end();
    d.queue.submit([enc.finish()]);
  });
}

/**
 * A device for onnxruntime-web's webgpu provider, handed to its sessions so that GPU buffers
 * made on it can be fed: the adapter's limits, with shader-f16 and subgroups where offered (what
 * onnxruntime-web asks for when it makes its own).
 */
export function requestPeerDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const l = adapter.limits;
  return adapter.requestDevice({
    requiredFeatures: (['shader-f16', 'subgroups'] as GPUFeatureName[]).filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX, maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY, maxComputeWorkgroupSizeZ: l.maxComputeWorkgroupSizeZ,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
}

/** An onnxruntime-web webgpu session on `device`, as a `create` option set. */
export function ortWebGpuOptions(device: GPUDevice, gpuOutput: boolean): OrtWeb.InferenceSession.SessionOptions {
  return { executionProviders: [{ name: 'webgpu', device } as never], graphOptimizationLevel: 'all', ...(gpuOutput ? { preferredOutputLocation: 'gpu-buffer' as const } : {}) };
}

export interface OrtResident {
  /** Milliseconds for `frames` runs (see timeResident). */
  time(frames: number): Promise<number>;
  dispose(): Promise<void>;
}

/**
 * onnxruntime-web's webgpu provider with its inputs in GPU buffers (Tensor.fromGpuBuffer) and its
 * outputs kept on the GPU (preferredOutputLocation 'gpu-buffer'); each run is awaited, as its API
 * requires, and its outputs released to onnxruntime's pool. `inputs` by the ONNX input names.
 */
export async function ortResident(ort: typeof OrtWeb, device: GPUDevice, onnx: Uint8Array, inputs: Record<string, { data: Float32Array; dims: number[] }>): Promise<OrtResident> {
  const s = await ort.InferenceSession.create(onnx, ortWebGpuOptions(device, true));
  const bufs: GPUBuffer[] = [];
  const feeds: Record<string, OrtWeb.Tensor> = {};
  for (const [name, { data, dims }] of Object.entries(inputs)) {
    const buf = device.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: STORAGE | COPY_SRC | COPY_DST });
    device.queue.writeBuffer(buf, 0, data);
    bufs.push(buf);
    feeds[name] = ort.Tensor.fromGpuBuffer(buf as never, { dataType: 'float32', dims });
  }
  return {
    time: (frames) => timeResident(device, frames, async () => {
      const r = await s.run(feeds);
      for (const v of Object.values(r)) v.dispose();
    }),
    async dispose() {
      await s.release();
      for (const b of bufs) b.destroy();
    },
  };
}
