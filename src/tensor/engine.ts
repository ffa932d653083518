// The compute engine: one shared WebAssembly.Memory, the kernels instantiated over it on every
// thread, a size-class allocator that recycles blocks (training memory stays flat), and run().
import { isNode, hardwareThreads, loadKernelBytes, enableRelaxedSimdFlag, nodeCpuCount } from './platform.js';
import { ThreadPool } from './pool.js';
import { kernelNames } from './kernel-names.js';

export type SimdLevel = 'relaxed' | 'simd128';

export interface EngineOptions {
  /** Worker threads including the caller; default: number of cores. 1 in browsers without cross-origin isolation. */
  threads?: number;
  /** 'auto' (default) uses relaxed SIMD (fused multiply-add) when the runtime supports it. */
  simd?: 'auto' | SimdLevel;
  /** Check op inputs for NaN/Inf and name the op in the error (default true; about one read pass per conv input). */
  checkFinite?: boolean;
}

const PAGE = 65536;
const RESERVED = 4 * PAGE; // kernels' static area; our heap starts above it
const ALIGN = 64;
const SLACK = 64; // kernels may read up to 3 lanes past a tensor's end (never write)
const MAX_PAGES = 65536;

/** Round up to a multiple of ALIGN and to one of four classes per power of two. */
export function sizeClass(bytes: number): number {
  const b = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  if (b <= 4096) return b;
  const step = 2 ** (Math.floor(Math.log2(b)) - 2); // quarter of the power of two below b
  return Math.ceil(b / step) * step;
}

export class Engine {
  readonly names: string[];
  private readonly fns: ((...a: number[]) => void)[];
  private readonly index = new Map<string, number>();
  private top = RESERVED;
  private readonly free = new Map<number, number[]>();
  private readonly sizes = new Map<number, number>();
  private f32cache: Float32Array;
  private i32cache: Int32Array;
  bytesInUse = 0;
  checkFinite = true;
  peakBytesInUse = 0;

  private constructor(
    readonly memory: WebAssembly.Memory,
    readonly exports: WebAssembly.Exports,
    readonly simd: SimdLevel,
    readonly threads: number,
    private readonly pool: ThreadPool | null,
  ) {
    this.names = kernelNames(exports);
    this.fns = this.names.map((n) => exports[n] as (...a: number[]) => void);
    this.names.forEach((n, i) => this.index.set(n, i));
    this.f32cache = new Float32Array(memory.buffer);
    this.i32cache = new Int32Array(memory.buffer);
  }

  static async create(opts: EngineOptions = {}): Promise<Engine> {
    const want = opts.simd ?? 'auto';
    let simd: SimdLevel = 'simd128';
    let bytes: Uint8Array | null = null;
    if (want !== 'simd128') {
      await enableRelaxedSimdFlag();
      const relaxed = await loadKernelBytes('mvsr-relaxed.wasm');
      // Feature detection on the real module: valid only where relaxed SIMD is supported.
      if (WebAssembly.validate(relaxed as BufferSource)) {
        simd = 'relaxed';
        bytes = relaxed;
      } else if (want === 'relaxed') {
        throw new Error('mvsr: relaxed SIMD requested but this runtime does not support it');
      }
    }
    if (!bytes) bytes = await loadKernelBytes('mvsr-simd.wasm');
    const module = await WebAssembly.compile(bytes as BufferSource);
    const memory = new WebAssembly.Memory({ initial: 512, maximum: MAX_PAGES, shared: true });
    const inst = await WebAssembly.instantiate(module, { env: { memory } });
    // Shared memory needs cross-origin isolation in browsers; without workers we use one thread.
    const canThread = isNode || (typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated && typeof Worker !== 'undefined');
    const cores = isNode ? await nodeCpuCount() : hardwareThreads();
    let threads = Math.max(1, Math.floor(opts.threads ?? cores));
    if (!canThread) threads = 1;
    const pool = threads > 1 ? await ThreadPool.create(threads, module, memory) : null;
    const eng = new Engine(memory, inst.exports, simd, threads, pool);
    eng.checkFinite = opts.checkFinite ?? true;
    return eng;
  }

  /** Run a kernel split across `nt` threads (default: all). Arguments are numbers (pointers, sizes, scalars). */
  run(name: string, args: readonly number[], nt = this.threads): void {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`mvsr: unknown kernel "${name}"`);
    const fn = this.fns[i]!;
    if (this.pool && nt > 1) this.pool.run(i, fn, args, nt);
    else fn(...args, 0, 1);
  }

  /** Call a kernel that does not take (tid, nt), on the calling thread. */
  call(name: string, args: readonly number[]): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`mvsr: unknown kernel "${name}"`);
    return (this.fns[i] as unknown as (...a: number[]) => number)(...args);
  }

  /** Index of the first NaN/Inf among n floats at ptr, or -1. */
  firstNonFinite(ptr: number, n: number): number {
    const out = this.alloc(4 * this.threads);
    try {
      this.run('nonfinite_scan', [ptr, n, out]);
      const r = this.i32.subarray(out >>> 2, (out >>> 2) + this.threads);
      for (const v of r) if (v >= 0) return v;
      return -1;
    } finally {
      this.release(out);
    }
  }

  /**
   * Allocate `bytes` (64-byte aligned). Sizes are rounded up to geometric size classes
   * (four per power of two, so at most 25% slack), and freed blocks of a class are reused:
   * a training loop's memory stays flat, and images of different sizes share blocks.
   */
  alloc(bytes: number): number {
    if (!(bytes >= 0) || !Number.isFinite(bytes)) throw new Error(`mvsr: bad allocation size ${bytes}`);
    const size = sizeClass(bytes + SLACK);
    let ptr = 0, got = size;
    const list = this.free.get(size);
    if (list && list.length) ptr = list.pop()!;
    else {
      // before growing the heap, take the smallest free block of up to twice the size
      for (const [cls, l] of this.free) {
        if (l.length && cls > size && cls <= 2 * size && (!ptr || cls < got)) {
          ptr = l[l.length - 1]!;
          got = cls;
        }
      }
      if (ptr) this.free.get(got)!.pop();
    }
    if (!ptr) {
      got = size;
      ptr = this.top;
      const end = ptr + size;
      const have = this.memory.buffer.byteLength;
      if (end > have) {
        const need = Math.ceil((end - have) / PAGE);
        const grow = Math.max(need, Math.ceil(have / PAGE / 4)); // grow by >= 25% to amortise
        const pages = Math.min(grow, MAX_PAGES - have / PAGE);
        if (pages < need) throw new Error(`mvsr: out of WebAssembly memory (asked ${bytes} bytes, ${this.bytesInUse} in use)`);
        this.memory.grow(pages);
      }
      this.top = end;
    }
    this.sizes.set(ptr, got);
    this.bytesInUse += got;
    if (this.bytesInUse > this.peakBytesInUse) this.peakBytesInUse = this.bytesInUse;
    return ptr;
  }

  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`mvsr: release of unknown pointer ${ptr}`);
    this.sizes.delete(ptr);
    this.bytesInUse -= size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(ptr);
  }

  /** Bytes the heap spans (high-water mark of the bump pointer). */
  get heapBytes(): number {
    return this.top - RESERVED;
  }

  /** A Float32Array over all of memory, refreshed after growth. */
  get f32(): Float32Array {
    if (this.f32cache.buffer !== this.memory.buffer || this.f32cache.length * 4 !== this.memory.buffer.byteLength) {
      this.f32cache = new Float32Array(this.memory.buffer);
    }
    return this.f32cache;
  }

  get i32(): Int32Array {
    if (this.i32cache.buffer !== this.memory.buffer || this.i32cache.length * 4 !== this.memory.buffer.byteLength) {
      this.i32cache = new Int32Array(this.memory.buffer);
    }
    return this.i32cache;
  }

  dispose(): void {
    this.pool?.terminate();
  }
}

let current: Engine | null = null;
let pending: Promise<Engine> | null = null;

/** Create (or replace) the process-wide engine. */
export async function initEngine(opts: EngineOptions = {}): Promise<Engine> {
  if (current) current.dispose();
  current = null;
  pending = Engine.create(opts);
  try {
    current = await pending;
  } finally {
    pending = null;
  }
  return current;
}

/** The current engine, or a new one with `opts` if none exists yet. */
export async function ensureEngine(opts: EngineOptions = {}): Promise<Engine> {
  if (current) return current;
  if (pending) return pending;
  return initEngine(opts);
}

/** The process-wide engine; throws if initEngine() has not completed. */
export function engine(): Engine {
  if (!current) throw new Error('mvsr: engine not initialised: await initEngine() first');
  return current;
}

export function disposeEngine(): void {
  current?.dispose();
  current = null;
}
