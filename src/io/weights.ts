// Format-agnostic pieces of weight I/O: tensor types, one-line file errors, dtype decoding,
// format detection, the `module.` prefix rule and the model metadata stored in safetensors.
// No Node imports here: browser code uses this file.

/** A float32 tensor in PyTorch layout (row-major, conv weights OIHW), as `nn` state dicts hold them. */
export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

/** A tensor read from a file: `dtype` is the dtype stored there (safetensors names), `data` is float32. */
export interface LoadedTensor extends WeightTensor {
  dtype: string;
}

/** An error about one weights file: the message is one line, `mvsr: <file>: <problem>`. */
export class WeightsFileError extends Error {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string) {
    // one line, and nothing a terminal would act on: names from the file may hold control characters
    const oneLine = problem.replace(/\s*\n\s*/g, ' ').replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    super(`mvsr: ${file}: ${oneLine}`);
    this.name = 'WeightsFileError';
    this.file = file;
    this.problem = oneLine;
  }
}

/** Throw a WeightsFileError. */
export function fail(file: string, problem: string): never {
  throw new WeightsFileError(file, problem);
}

type AnyFunction = (...args: never[]) => unknown;

/**
 * Run `fn` and turn whatever it throws into a WeightsFileError naming `file`, with its stack
 * cut at `entry` (the public function the caller called), so no frames from deep inside show.
 */
export function withFileErrors<T>(file: string, entry: AnyFunction, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const err =
      e instanceof WeightsFileError
        ? new WeightsFileError(e.file, e.problem)
        : new WeightsFileError(file, `corrupt or unreadable weights: ${e instanceof Error ? e.message : String(e)}`);
    Error.captureStackTrace?.(err, entry);
    throw err;
  }
}

/** Number of elements of a shape; throws on anything that is not a list of safe non-negative integers. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`bad dimension ${String(d)}`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new RangeError('too many elements');
  return n;
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** True on little-endian hosts (all the platforms mvsr targets); big-endian hosts take the DataView path. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The dtypes that readers convert to float32, with their sizes in bytes (safetensors names). */
export const FLOAT_DTYPE_BYTES: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** IEEE 754 binary16 bits to a number (exact; subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

/**
 * Decode `count` little-endian elements of `dtype` starting at `bytes[0]` into a new Float32Array.
 * Supports F32, F16, BF16, F64 and the integer buffers I64, I32 (values rounded to float32).
 * `littleEndian: false` reads big-endian data (PyTorch archives saved on big-endian machines).
 */
export function decodeToFloat32(bytes: Uint8Array, dtype: string, count: number, littleEndian = true): Float32Array {
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      if (littleEndian && HOST_LITTLE_ENDIAN) {
        // copy the bytes (the source may be unaligned for a Float32Array view)
        new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
      } else {
        for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, littleEndian);
      }
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, littleEndian);
      break;
    case 'F16': {
      const table = halfTable();
      for (let i = 0; i < count; i++) out[i] = table[dv.getUint16(i * 2, littleEndian)]!;
      break;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u32[i] = dv.getUint16(i * 2, littleEndian) << 16;
      break;
    }
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(i * 8, littleEndian));
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(i * 4, littleEndian);
      break;
    default:
      throw new RangeError(`cannot decode dtype ${dtype}`);
  }
  return out;
}

let halfLookup: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!halfLookup) {
    halfLookup = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfLookup[h] = halfToFloat(h);
  }
  return halfLookup;
}

/** Which reader a file needs, judged by its first bytes. */
export function detectWeightsFormat(bytes: Uint8Array): 'safetensors' | 'pth' | 'unknown' {
  const b = bytes;
  // safetensors: u64 little-endian header length (far below 4 GiB), then the JSON object
  if (b.length >= 9 && b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] === 0 && b[8] === 0x7b) return 'safetensors';
  // zip: a local header, or the end of central directory of an empty archive
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && ((b[2] === 3 && b[3] === 4) || (b[2] === 5 && b[3] === 6))) return 'pth';
  // legacy torch.save: pickle PROTO 2, then LONG1 of the 10-byte magic number (readPth explains)
  if (b.length >= 4 && b[0] === 0x80 && b[1] === 0x02 && b[2] === 0x8a && b[3] === 0x0a) return 'pth';
  // legacy torch.save tar archive
  if (b.length >= 262 && String.fromCharCode(...b.subarray(257, 262)) === 'ustar') return 'pth';
  return 'unknown';
}

/** Set an own enumerable property, safe for any key (`__proto__` included) read from a file. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** If every key starts with `module.` (a DataParallel state dict), return a copy without it. */
export function stripModulePrefix<T>(dict: Record<string, T>): Record<string, T> {
  const keys = Object.keys(dict);
  if (keys.length === 0 || !keys.every((k) => k.startsWith('module.'))) return dict;
  const out: Record<string, T> = {};
  for (const k of keys) setOwn(out, k.slice('module.'.length), dict[k]!);
  return out;
}

/*
 * Model metadata in safetensors `__metadata__` (values must be strings there):
 *   arch   — the model registry name, e.g. "ETDS" (BasicSR `network_g.type`)
 *   args   — JSON object of the constructor arguments, BasicSR names (`{"num_feat":16,…}`)
 *   scale  — the upscaling factor as a decimal integer, e.g. "4"
 *   any other key is provenance, by convention: `source` (the file or training run the weights
 *   came from), `source_sha256`, `created` (ISO 8601), `mvsr_version`, `license`.
 */
export interface ModelMetadata {
  arch: string;
  args: Record<string, unknown>;
  scale: number;
  provenance?: Record<string, string>;
}

const MODEL_KEYS = new Set(['arch', 'args', 'scale']);

/** Encode model metadata as the string map safetensors stores. */
export function encodeModelMetadata(m: ModelMetadata): Record<string, string> {
  if (typeof m.arch !== 'string' || m.arch === '') throw new TypeError('mvsr: model metadata: arch must be a non-empty string');
  if (!Number.isSafeInteger(m.scale) || m.scale < 1) throw new TypeError(`mvsr: model metadata: scale must be a positive integer, got ${String(m.scale)}`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.provenance ?? {})) {
    if (MODEL_KEYS.has(k)) throw new TypeError(`mvsr: model metadata: provenance key '${k}' is reserved`);
    if (typeof v !== 'string') throw new TypeError(`mvsr: model metadata: provenance '${k}' must be a string`);
    out[k] = v;
  }
  out.arch = m.arch;
  out.args = JSON.stringify(m.args ?? {});
  out.scale = String(m.scale);
  return out;
}

/** Decode model metadata from a safetensors `__metadata__` map; errors name `file`. */
export function decodeModelMetadata(meta: Record<string, string>, file = '<memory>'): ModelMetadata {
  const arch = meta.arch;
  if (typeof arch !== 'string' || arch === '') fail(file, "metadata has no 'arch' (the model name), so the file is not a usable mvsr model");
  let args: unknown = {};
  if (meta.args !== undefined) {
    try {
      args = JSON.parse(meta.args);
    } catch {
      fail(file, "metadata 'args' is not valid JSON");
    }
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) fail(file, "metadata 'args' must be a JSON object");
  const scaleText = meta.scale ?? '';
  if (!/^[1-9][0-9]*$/.test(scaleText)) fail(file, `metadata 'scale' must be a positive integer, got '${scaleText}'`);
  const provenance: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) if (!MODEL_KEYS.has(k)) provenance[k] = v;
  return { arch, args: args as Record<string, unknown>, scale: Number(scaleText), provenance };
}
