// Float samples in [0, 1] to 8- or 16-bit pixel values and back, each in one threaded pass
// (kernels/convert.ts), rounded exactly as io/image.ts float32ToImage and imageToFloat32 do.
import { engine } from '../engine.js';
import { Tensor } from '../tensor.js';

/**
 * 8- or 16-bit samples as a tensor of `shape` with values sample / 255 (or 65535) in float32,
 * equal to Tensor.from(shape, imageToFloat32(img)) without the JavaScript pass and the float
 * array between (2.5 ms against ~0.3 for a 180x320 RGB frame here).
 */
export function pixelsToTensor(data: Uint8Array | Uint16Array, bitDepth: 8 | 16, shape: readonly number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`mvsr: pixelsToTensor: ${data.length} samples do not fill [${shape.join(', ')}] (${n})`);
  const e = engine(), bytes = bitDepth === 16 ? 2 : 1;
  const src = e.alloc(n * bytes);
  const t = Tensor.empty(shape);
  try {
    if (bitDepth === 16) new Uint16Array(e.memory.buffer, src, n).set(data);
    else new Uint8Array(e.memory.buffer, src, n).set(data);
    e.run('pixels_to_float', [src, n, bitDepth, t.ptr]);
  } catch (err) {
    t.dispose();
    throw err;
  } finally {
    e.release(src);
  }
  return t;
}

/**
 * t's values clamped to [0, 1], times 255 (or 65535) in float32, rounded half to even; a NaN is an
 * error naming its index. `into` (t.size samples of the bit depth) receives them instead of a new
 * array: a caller that reuses its arrays spares the fresh memory's first touch (6.4 ms for a 720p
 * RGB frame on our sandboxed 2-core machine, against 1.4 ms for the whole call into a reused one).
 */
export function tensorToPixels(t: Tensor, bitDepth: 8 | 16, into?: Uint8Array | Uint16Array): Uint8Array | Uint16Array {
  const e = engine(), n = t.size, bytes = bitDepth === 16 ? 2 : 1;
  const out = e.alloc(n * bytes), bad = e.alloc(4 * e.threads);
  try {
    e.run('float_to_pixels', [t.ptr, n, bitDepth, out, bad]);
    for (const i of e.i32.subarray(bad >>> 2, (bad >>> 2) + e.threads)) {
      if (i >= 0) throw new Error(`mvsr: float32ToImage: value ${i} is NaN`);
    }
    const buf = e.memory.buffer;
    const px = bitDepth === 16 ? new Uint16Array(buf, out, n) : new Uint8Array(buf, out, n);
    if (!into) return px.slice();
    if (into.length !== n || (bitDepth === 16) !== (into instanceof Uint16Array)) {
      throw new Error(`mvsr: tensorToPixels: the array given has ${into.length} ${into instanceof Uint16Array ? '16' : '8'}-bit samples, the tensor ${n} ${bitDepth}-bit ones`);
    }
    into.set(px);
    return into;
  } finally {
    e.release(out);
    e.release(bad);
  }
}
