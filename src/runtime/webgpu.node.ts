// The 'webgpu' backend in Node: the GPU from the `webgpu` npm package (Dawn), an optional
// dependency loaded on first use. Without a GPU driver Dawn can run on SwiftShader, a CPU
// Vulkan emulator (VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json with Debian's
// libvulkan1): right for checking results, never for timing.
import { setGpuSource } from './webgpu/backend.js';

let gpu: Promise<GPU> | null = null;

/** The `webgpu` package's GPU (loaded once), with the WebGPU constants browser code expects set on globalThis. */
export function nodeGpu(): Promise<GPU> {
  gpu ??= (async () => {
    let m: { create(flags: string[]): GPU; globals: Record<string, unknown> };
    try {
      m = (await import('webgpu' as string)) as typeof m;
    } catch (e) {
      gpu = null;
      throw new Error(`mvsr: the 'webgpu' backend in Node needs the webgpu package (npm install webgpu): ${(e as Error).message.split('\n')[0]}`);
    }
    // the WebGPU constants (GPUBufferUsage, ...) that code written for browsers expects
    for (const [k, v] of Object.entries(m.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    return m.create([]);
  })();
  return gpu;
}

setGpuSource(nodeGpu);
