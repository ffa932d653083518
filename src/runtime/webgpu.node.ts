// The 'webgpu' backend in Node: the GPU from the `webgpu` npm package (Dawn), an optional
// dependency loaded on first use. Without a GPU driver Dawn can run on SwiftShader, a CPU
// Vulkan emulator (VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json with Debian's
// libvulkan1): right for checking results, never for timing.
import { setGpuSource } from './webgpu/backend.js';
import { convTiling } from './webgpu/wgsl.js';

/**
 * MVSR_WEBGPU_TILING='{"px":2,"shared":true}' overrides convTiling's keys in this process when the
 * GPU is first asked for (the tiling scripts/tune-webgpu.mjs found on a GPU, tried in `mvsr bench`
 * before it becomes the default).
 */
function applyTilingOverride(text: string | undefined): void {
  if (!text) return;
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new Error(`mvsr: MVSR_WEBGPU_TILING is not JSON: ${text}`);
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error(`mvsr: MVSR_WEBGPU_TILING must be a JSON object of ${Object.keys(convTiling).join(', ')}: ${text}`);
  for (const [k, v] of Object.entries(o)) {
    if (!(k in convTiling)) throw new Error(`mvsr: MVSR_WEBGPU_TILING: unknown key '${k}' (known: ${Object.keys(convTiling).join(', ')})`);
    const flag = typeof (convTiling as Record<string, unknown>)[k] === 'boolean';
    const least = k === 'tailBlocks' ? 0 : 1; // tailBlocks 0: all of a tail's blocks
    const ok = flag ? typeof v === 'boolean' : Number.isInteger(v) && (v as number) >= least;
    if (!ok) throw new Error(`mvsr: MVSR_WEBGPU_TILING: '${k}' must be ${flag ? 'true or false' : `an integer ≥ ${least}`}, not ${JSON.stringify(v)}`);
  }
  Object.assign(convTiling, o);
}

let gpu: Promise<GPU> | null = null;

/** The `webgpu` package's GPU (loaded once), with the WebGPU constants browser code expects set on globalThis. */
export function nodeGpu(): Promise<GPU> {
  gpu ??= (async () => {
    applyTilingOverride(process.env.MVSR_WEBGPU_TILING);
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
