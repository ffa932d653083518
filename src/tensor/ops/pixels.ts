// Float samples in [0, 1] to 8- or 16-bit pixel values in one threaded pass (kernels/convert.ts),
// rounded exactly as io/image.ts float32ToImage rounds them.
import { engine } from '../engine.js';
import type { Tensor } from '../tensor.js';

/** t's values clamped to [0, 1], times 255 (or 65535) in float32, rounded half to even; a NaN is an error naming its index. */
export function tensorToPixels(t: Tensor, bitDepth: 8 | 16): Uint8Array | Uint16Array {
  const e = engine(), n = t.size, bytes = bitDepth === 16 ? 2 : 1;
  const out = e.alloc(n * bytes), bad = e.alloc(4 * e.threads);
  try {
    e.run('float_to_pixels', [t.ptr, n, bitDepth, out, bad]);
    for (const i of e.i32.subarray(bad >>> 2, (bad >>> 2) + e.threads)) {
      if (i >= 0) throw new Error(`mvsr: float32ToImage: value ${i} is NaN`);
    }
    const buf = e.memory.buffer;
    return bitDepth === 16 ? new Uint16Array(buf, out, n).slice() : new Uint8Array(buf, out, n).slice();
  } finally {
    e.release(out);
    e.release(bad);
  }
}
