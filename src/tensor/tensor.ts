// NHWC float32 tensors living in the engine's WebAssembly memory. Kernels read and write them
// in place; dispose() returns the block to the engine's pool for reuse.
import { engine, type Engine } from './engine.js';

export type Shape = readonly number[];

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

let liveTensors = 0;

export class Tensor {
  readonly size: number;
  private _ptr: number;

  private constructor(readonly shape: Shape, ptr: number, readonly eng: Engine) {
    this.size = shapeSize(shape);
    this._ptr = ptr;
    liveTensors++;
  }

  /** Uninitialised tensor (contents are whatever the pooled block held). */
  static empty(shape: Shape): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`mvsr: invalid tensor shape ${shapeStr(shape)}`);
    }
    const e = engine();
    return new Tensor([...shape], e.alloc(shapeSize(shape) * 4), e);
  }

  static zeros(shape: Shape): Tensor {
    const t = Tensor.empty(shape);
    t.data.fill(0);
    return t;
  }

  static full(shape: Shape, v: number): Tensor {
    const t = Tensor.empty(shape);
    t.data.fill(v);
    return t;
  }

  static from(shape: Shape, values: ArrayLike<number>): Tensor {
    const n = shapeSize(shape);
    if (values.length !== n) {
      throw new Error(`mvsr: ${values.length} values do not fill a tensor of shape ${shapeStr(shape)} (${n} elements)`);
    }
    const t = Tensor.empty(shape);
    t.data.set(values);
    return t;
  }

  get ptr(): number {
    if (this._ptr === 0) throw new Error(`mvsr: use of a disposed tensor of shape ${shapeStr(this.shape)}`);
    return this._ptr;
  }

  get disposed(): boolean {
    return this._ptr === 0;
  }

  /** A live view into WASM memory: valid until the next allocation that grows memory. */
  get data(): Float32Array {
    return this.eng.f32.subarray(this.ptr >>> 2, (this.ptr >>> 2) + this.size);
  }

  /** A copy of the contents. */
  toArray(): Float32Array {
    return this.data.slice();
  }

  clone(): Tensor {
    return Tensor.from(this.shape, this.data);
  }

  /** A copy with another shape of equal size. */
  reshape(shape: Shape): Tensor {
    if (shapeSize(shape) !== this.size) {
      throw new Error(`mvsr: reshape ${shapeStr(this.shape)} -> ${shapeStr(shape)} changes the element count`);
    }
    const t = Tensor.empty(shape);
    t.data.set(this.data);
    return t;
  }

  dispose(): void {
    if (this._ptr === 0) return;
    this.eng.release(this._ptr);
    this._ptr = 0;
    liveTensors--;
  }
}

/** Number of tensors created and not yet disposed (for leak tests). */
export function liveTensorCount(): number {
  return liveTensors;
}

/** Throw a clear error naming the op when a tensor holds NaN or Inf (skipped if the engine's checkFinite is off). */
export function assertFinite(op: string, name: string, t: Tensor): void {
  if (!t.eng.checkFinite) return;
  const i = t.eng.firstNonFinite(t.ptr, t.size);
  if (i >= 0) {
    throw new Error(`mvsr: ${op}: ${name} of shape ${shapeStr(t.shape)} contains ${t.data[i]} at index ${i}`);
  }
}

export function assertRank4(op: string, name: string, t: Tensor): void {
  if (t.shape.length !== 4) {
    throw new Error(`mvsr: ${op}: ${name} must be NHWC (rank 4), got shape ${shapeStr(t.shape)}`);
  }
}

export function assertSameShape(op: string, a: Tensor, b: Tensor, an = 'a', bn = 'b'): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`mvsr: ${op}: shapes differ: ${an} ${shapeStr(a.shape)} vs ${bn} ${shapeStr(b.shape)}`);
  }
}
