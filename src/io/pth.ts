// PyTorch `.pth`/`.pt` checkpoints in the zip format (PyTorch >= 1.6): `<archive>/data.pkl` holds
// the pickled object, `<archive>/data/<key>` the raw bytes of each storage. Read through the
// restricted unpickler, so loading a checkpoint never runs code from it.
import { type InflateRaw, readZip } from './zip.js';
import { type PickleValue, type PersistentValue, PickledTensor, TorchStorageType, describe, unpickle } from './pickle.js';
import { type LoadedTensor, decodeToFloat32, fail, numel, setOwn, shapeString, stripModulePrefix, withFileErrors } from './weights.js';

/** Which entry of a wrapped checkpoint holds the weights (BasicSR writes `params`/`params_ema`). */
export type PthStateDictKey = 'params' | 'params_ema' | 'state_dict';

export interface PthOptions {
  /**
   * The entry to take from a wrapper dict. Default: `params_ema` if present, else `params`,
   * else `state_dict`, else the top-level dict itself. Naming a key that is absent is an error.
   */
  key?: PthStateDictKey;
}

const DEFAULT_KEY_ORDER: PthStateDictKey[] = ['params_ema', 'params', 'state_dict'];

interface StorageRef extends PersistentValue {
  readonly type: TorchStorageType;
  readonly key: string;
  readonly numel: number;
}

function isStorageRef(v: PickleValue): v is StorageRef {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'persistent' && (v as { type?: unknown }).type instanceof TorchStorageType;
}

/**
 * Read the tensors of a PyTorch zip checkpoint as float32 (Half, BFloat16 and Double storages are
 * converted; Long/Int buffers such as `num_batches_tracked` come back with dtype I64/I32).
 * Wrappers (`params_ema`, `params`, `state_dict`) are unwrapped as `options.key` says, and a
 * `module.` prefix on every key (DataParallel) is stripped. Errors name `source`.
 */
export function readPth(bytes: Uint8Array, source = '<memory>', inflateRaw?: InflateRaw, options: PthOptions = {}): Record<string, LoadedTensor> {
  return withFileErrors(source, readPth, () => parsePth(bytes, source, inflateRaw, options));
}

function isZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && ((b[2] === 3 && b[3] === 4) || (b[2] === 5 && b[3] === 6));
}

function parsePth(bytes: Uint8Array, source: string, inflateRaw: InflateRaw | undefined, options: PthOptions): Record<string, LoadedTensor> {
  if (!isZip(bytes)) {
    const legacy =
      (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) || // a bare pickle: the pre-1.6 torch.save layout
      (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar'); // the older tar layout
    if (legacy) {
      fail(source, "this is PyTorch's legacy (pre-1.6, non-zip) torch.save format, which mvsr does not read; re-save it with PyTorch 1.6 or newer: torch.save(torch.load(old), new)");
    }
    fail(source, 'not a PyTorch checkpoint (no zip signature); expected a .pth written by torch.save');
  }
  const entries = readZip(bytes, source, inflateRaw);
  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    if ([...entries.keys()].some((n) => /^[^/]+\/(constants\.pkl|code\/)/.test(n))) {
      fail(source, 'this is a TorchScript archive (torch.jit.save), not a state dict; save model.state_dict() with torch.save instead');
    }
    fail(source, pickles.length ? 'the archive holds more than one data.pkl' : 'the zip archive has no <archive>/data.pkl; it is not a torch.save checkpoint');
  }
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  const order = byteorder ? new TextDecoder().decode(byteorder).trim() : 'little';
  if (order !== 'little' && order !== 'big') fail(source, `unknown byteorder '${order}'`);
  const littleEndian = order === 'little';

  const persistentLoad = (pid: PickleValue): PickleValue => {
    // ('storage', storage_type, key, location, numel)
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') fail(source, `pickle: unexpected persistent id ${describe(pid as PickleValue)}`);
    const [, type, key, , count] = pid as readonly PickleValue[];
    if (!(type instanceof TorchStorageType)) fail(source, `pickle: persistent id names ${describe(type)}, not a storage type`);
    if (typeof key !== 'string' || !Number.isSafeInteger(count) || (count as number) < 0) fail(source, 'pickle: malformed storage persistent id');
    const ref: StorageRef = { kind: 'persistent', type, key, numel: count as number };
    return ref;
  };
  const root = unpickle(entries.get(pickles[0]!)!, { source, persistentLoad });

  const dict = selectStateDict(root, source, options.key);
  const decoded = new Map<string, Float32Array>();
  const storageData = (s: StorageRef): Float32Array => {
    const id = `${s.key}:${s.type.dtype}`;
    let data = decoded.get(id);
    if (!data) {
      const raw = entries.get(`${prefix}data/${s.key}`);
      if (!raw) fail(source, `storage '${s.key}' is missing from the archive (${prefix}data/${s.key})`);
      if (raw.length !== s.numel * s.type.itemBytes) {
        fail(source, `storage '${s.key}' has ${raw.length} bytes, ${s.numel} elements of ${s.type.name} need ${s.numel * s.type.itemBytes}`);
      }
      data = decodeToFloat32(raw, s.type.dtype, s.numel, littleEndian);
      decoded.set(id, data);
    }
    return data;
  };

  const out: Record<string, LoadedTensor> = {};
  const budget = { repeating: MAX_REPEATING_VIEW };
  for (const [k, v] of dict) {
    if (typeof k !== 'string') fail(source, `state dict key ${describe(k)} is not a string`);
    if (!(v instanceof PickledTensor)) fail(source, `entry '${k}' is ${describe(v)}, not a tensor`);
    if (!isStorageRef(v.storage)) fail(source, `tensor '${k}' is not backed by a storage of the archive`);
    setOwn(out, k, { dtype: v.storage.type.dtype, shape: v.shape, data: materialize(v, storageData(v.storage), k, source, budget) });
  }
  return stripModulePrefix(out);
}

/** Pick the state dict out of the unpickled object, following PthOptions.key. */
function selectStateDict(root: PickleValue, source: string, key: PthStateDictKey | undefined): Map<PickleValue, PickleValue> {
  if (!(root instanceof Map)) fail(source, `the checkpoint holds ${describe(root)}, not a dict of tensors`);
  const keys = [...root.keys()].map((k) => String(k));
  const listed = keys.length > 8 ? `${keys.slice(0, 8).join(', ')}, …` : keys.join(', ');
  if (key !== undefined) {
    const v = root.get(key);
    if (!(v instanceof Map)) fail(source, `the checkpoint has no '${key}' dict (top-level keys: ${listed})`);
    return v;
  }
  for (const k of DEFAULT_KEY_ORDER) {
    const v = root.get(k);
    if (v instanceof Map) return v;
  }
  for (const [k, v] of root) {
    if (!(v instanceof PickledTensor)) {
      fail(source, `entry '${String(k)}' is ${describe(v)}, not a tensor, and there is no params_ema/params/state_dict entry (top-level keys: ${listed})`);
    }
  }
  return root;
}

/** Most elements, over all tensors of a file, of views that repeat storage elements (stride 0 or overlapping strides). */
const MAX_REPEATING_VIEW = 1 << 24;

/** Copy a strided view (offset, shape, strides in elements) of a storage into a contiguous array. */
function materialize(t: PickledTensor, storage: Float32Array, name: string, source: string, budget: { repeating: number }): Float32Array {
  const { shape, stride, offset } = t;
  let n: number;
  try {
    n = numel(shape);
  } catch {
    fail(source, `tensor '${name}': shape ${shapeString(shape)} has too many elements`);
  }
  if (n === 0) return new Float32Array(0);
  // A view with more elements than its storage repeats elements (stride 0: broadcast, or
  // overlapping strides). Such views are rare in state dicts; a file may hold 2^24 elements of
  // them in all, so a 1 kB file cannot make us allocate (and loop over) gigabytes.
  if (n > storage.length) {
    if (n > budget.repeating) {
      fail(source, `tensor '${name}': shape ${shapeString(shape)} has ${n} elements over a storage of ${storage.length}; broadcast or overlapping views are limited to ${MAX_REPEATING_VIEW} elements per file`);
    }
    budget.repeating -= n;
  }
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * stride[d]!;
  if (last >= storage.length) {
    fail(source, `tensor '${name}': shape ${shapeString(shape)}, strides ${shapeString(stride)} at offset ${offset} reach element ${last} of a storage of ${storage.length}`);
  }
  let contiguous = true;
  for (let d = shape.length - 1, expect = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d]!;
  }
  if (contiguous) return storage.slice(offset, offset + n);

  const out = new Float32Array(n);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  const innerSize = shape[rank - 1]!;
  const innerStride = stride[rank - 1]!;
  let base = offset; // storage position of index[0..rank-2], inner index 0
  for (let o = 0; o < n; o += innerSize) {
    for (let i = 0; i < innerSize; i++) out[o + i] = storage[base + i * innerStride]!;
    // odometer over the outer dimensions
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d]! < shape[d]!) {
        base += stride[d]!;
        break;
      }
      base -= (shape[d]! - 1) * stride[d]!;
      index[d] = 0;
    }
  }
  return out;
}
