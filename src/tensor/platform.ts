// Environment detection and wasm byte loading, the only place that knows Node from browser.

export const isNode: boolean =
  typeof process !== 'undefined' && process.versions != null && process.versions.node != null;

export function hardwareThreads(): number {
  if (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) return navigator.hardwareConcurrency;
  return 1;
}

/** Bytes of a file next to this module's kernels folder (Node: fs, browser: fetch). */
export async function loadKernelBytes(name: string): Promise<Uint8Array> {
  const url = new URL(`../kernels/${name}`, import.meta.url);
  if (isNode) {
    const fs = await import('node:fs/promises');
    try {
      return new Uint8Array(await fs.readFile(url));
    } catch (e) {
      throw new Error(`mvsr: cannot read WebAssembly kernels at ${url.pathname} (run "npm run build"): ${(e as Error).message}`);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`mvsr: cannot fetch WebAssembly kernels at ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Turn on the relaxed-SIMD V8 flag in Node 20 (a no-op where it is already on or absent). */
export async function enableRelaxedSimdFlag(): Promise<void> {
  if (!isNode) return;
  try {
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    /* older or embedded runtimes: fall back to the SIMD128 build */
  }
}

export async function nodeCpuCount(): Promise<number> {
  const os = await import('node:os');
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * Let the event loop run (abort signals, progress rendering) without a timer's delay: setTimeout(0)
 * waits at least 1 ms in Node and 4 ms in nested browser timers, a real share of a video frame.
 */
export function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((r) => setImmediate(r));
  if (typeof MessageChannel === 'function') {
    return new Promise((r) => {
      const c = new MessageChannel();
      c.port1.onmessage = () => { c.port1.close(); r(); };
      c.port2.postMessage(0);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}
