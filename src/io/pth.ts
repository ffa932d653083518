// PyTorch `.pth`/`.pt` checkpoints, in both layouts torch.save has written since PyTorch 0.4:
//
// - zip (PyTorch >= 1.6): `<archive>/data.pkl` holds the pickled object, `<archive>/data/<key>`
//   the raw bytes of each storage, `<archive>/byteorder` their byte order.
// - legacy (before 1.6, still written with `_use_new_zipfile_serialization=False`): one stream
//   of pickles — the magic number, the protocol version (1001), a sys_info dict, the object,
//   the list of storage keys — then, for each key in that order, an int64 element count and the
//   storage's raw bytes. Persistent ids carry a sixth field, a view (key, offset, size) of a
//   root storage or None.
//
// Both go through the restricted unpickler, so loading a checkpoint never runs code from it.
// Every size read from a file is checked against the bytes that are there before anything is
// allocated from it, and errors are one line naming the file. The older tar layout is refused.
import { type InflateRaw, readZip } from './zip.js';
import { type PickleValue, type PersistentValue, PickledTensor, TorchStorageType, describe, unpickleAt } from './pickle.js';
import { type LoadedTensor, decodeToFloat32, fail, numel, setOwn, shapeString, stripModulePrefix, withFileErrors } from './weights.js';

/**
 * Which entry of a wrapped checkpoint holds the weights (BasicSR writes `params`/`params_ema`,
 * many training scripts `state_dict`, some `net` next to `optimizer` and `epoch`).
 */
export type PthStateDictKey = 'params' | 'params_ema' | 'state_dict' | 'net';

export interface PthOptions {
  /**
   * The entry to take from a wrapper dict. Default: `params_ema` if present, else `params`,
   * else `state_dict`, else `net`, else the top-level dict itself. Naming a key that is absent
   * is an error.
   */
  key?: PthStateDictKey;
}

const DEFAULT_KEY_ORDER: PthStateDictKey[] = ['params_ema', 'params', 'state_dict', 'net'];

interface StorageRef extends PersistentValue {
  readonly type: TorchStorageType;
  /** The key of the storage whose bytes the file holds. */
  readonly key: string;
  /** Its element count. */
  readonly numel: number;
  /** Legacy files only: the tensor's storage is elements [offset, offset + numel) of that one. */
  readonly view?: { readonly offset: number; readonly numel: number };
}

function isStorageRef(v: PickleValue): v is StorageRef {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'persistent' && (v as { type?: unknown }).type instanceof TorchStorageType;
}

/** An unpickled checkpoint and how its container hands out the raw bytes of a storage. */
interface Checkpoint {
  root: PickleValue;
  littleEndian: boolean;
  /** Exactly `ref.numel * ref.type.itemBytes` bytes of storage `ref.key`, or a file error. */
  storageBytes(ref: StorageRef): Uint8Array;
}

/**
 * Read the tensors of a PyTorch checkpoint (zip or legacy layout) as float32 (Half, BFloat16
 * and Double storages are converted; Long/Int buffers such as `num_batches_tracked` come back
 * with dtype I64/I32). Wrappers (`params_ema`, `params`, `state_dict`, `net`) are unwrapped as
 * `options.key` says, and a `module.` prefix on every key (DataParallel) is stripped. Errors
 * name `source`.
 */
export function readPth(bytes: Uint8Array, source = '<memory>', inflateRaw?: InflateRaw, options: PthOptions = {}): Record<string, LoadedTensor> {
  return withFileErrors(source, readPth, () => parsePth(bytes, source, inflateRaw, options));
}

function isZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && ((b[2] === 3 && b[3] === 4) || (b[2] === 5 && b[3] === 6));
}

function parsePth(bytes: Uint8Array, source: string, inflateRaw: InflateRaw | undefined, options: PthOptions): Record<string, LoadedTensor> {
  if (isZip(bytes)) return tensorsOf(readZipCheckpoint(bytes, source, inflateRaw), source, options);
  if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    fail(source, "this is PyTorch's legacy tar torch.save format, which mvsr does not read; re-save it with PyTorch 1.6 or newer: torch.save(torch.load(old), new)");
  }
  // a bare pickle: the pre-1.6 torch.save layout
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! <= 5) return tensorsOf(readLegacyCheckpoint(bytes, source), source, options);
  fail(source, 'not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save pickle stream); expected a .pth written by torch.save');
}

// ---------------------------------------------------------------------------------------------
// zip layout

function readZipCheckpoint(bytes: Uint8Array, source: string, inflateRaw: InflateRaw | undefined): Checkpoint {
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

  const persistentLoad = (pid: PickleValue): PickleValue => {
    // ('storage', storage_type, key, location, numel)
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') fail(source, `pickle: unexpected persistent id ${describe(pid as PickleValue)}`);
    const [, type, key, , count] = pid as readonly PickleValue[];
    const ref: StorageRef = { kind: 'persistent', type: storageType(type, source), key: storageKey(key, source), numel: elementCount(count, source) };
    return ref;
  };
  const root = unpickleAt(entries.get(pickles[0]!)!, 0, { source, persistentLoad }).value;
  const storageBytes = (s: StorageRef): Uint8Array => {
    const raw = entries.get(`${prefix}data/${s.key}`);
    if (!raw) fail(source, `storage '${s.key}' is missing from the archive (${prefix}data/${s.key})`);
    if (raw.length !== s.numel * s.type.itemBytes) {
      fail(source, `storage '${s.key}' has ${raw.length} bytes, ${s.numel} elements of ${s.type.name} need ${s.numel * s.type.itemBytes}`);
    }
    return raw;
  };
  return { root, littleEndian: order === 'little', storageBytes };
}

function storageType(v: PickleValue, source: string): TorchStorageType {
  if (!(v instanceof TorchStorageType)) fail(source, `pickle: persistent id names ${describe(v)}, not a storage type`);
  return v;
}

function storageKey(v: PickleValue, source: string): string {
  if (typeof v !== 'string') fail(source, 'pickle: malformed storage persistent id (the key is not a string)');
  return v;
}

function elementCount(v: PickleValue, source: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) fail(source, 'pickle: malformed storage persistent id (the element count is not a non-negative integer)');
  return v as number;
}

// ---------------------------------------------------------------------------------------------
// legacy layout

/** The int torch.save's legacy layout pickles first. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function readLegacyCheckpoint(bytes: Uint8Array, source: string): Checkpoint {
  let pos = 0;
  const next = (persistentLoad?: (pid: PickleValue) => PickleValue): PickleValue => {
    const r = unpickleAt(bytes, pos, { source, persistentLoad });
    pos = r.end;
    return r.value;
  };
  if (next() !== LEGACY_MAGIC) fail(source, "not a PyTorch checkpoint: a pickle stream that does not start with torch.save's legacy magic number");
  const protocol = next();
  if (protocol !== LEGACY_PROTOCOL) fail(source, `legacy torch.save protocol version ${describeScalar(protocol)} is not supported (mvsr reads ${LEGACY_PROTOCOL})`);
  checkSysInfo(next(), source);
  const pids = new LegacyStorages(source);
  const root = next((pid) => pids.load(pid));
  const keys = storageKeyList(next(), pids, source);
  const spans = storageSpans(bytes, pos, keys, pids, source);
  return { root, littleEndian: true, storageBytes: (s) => spans.get(s.key)! };
}

/** A number or string as Python would print it; other values by their kind. */
function describeScalar(v: PickleValue | undefined): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return typeof v === 'number' || typeof v === 'bigint' ? String(v) : typeof v === 'string' ? `'${v.slice(0, 40)}'` : describe(v);
}

/** sys_info: the storages that follow are read as little-endian, so the file must say so. */
function checkSysInfo(info: PickleValue, source: string): void {
  if (!(info instanceof Map)) fail(source, `the legacy sys_info pickle holds ${describe(info)}, not a dict`);
  const version = info.get('protocol_version');
  if (version !== LEGACY_PROTOCOL) fail(source, `legacy sys_info: protocol_version is ${describeScalar(version)}, mvsr reads ${LEGACY_PROTOCOL}`);
  const little = info.get('little_endian');
  if (little !== true) fail(source, `legacy sys_info: little_endian is ${describeScalar(little)}; mvsr reads only little-endian legacy files`);
  // type_sizes is not needed: the record counts are int64 even where it says long = 4 (Windows)
}

/** The persistent ids of a legacy object pickle: root storages by key, and the views of them. */
class LegacyStorages {
  readonly roots = new Map<string, StorageRef>();
  private readonly views = new Map<string, string>();
  constructor(private readonly source: string) {}

  /** ('storage', storage_type, root_key, location, numel, view_metadata) → a StorageRef. */
  load(pid: PickleValue): StorageRef {
    const source = this.source;
    if (!Array.isArray(pid) || pid.length !== 6 || pid[0] !== 'storage') {
      const what = Array.isArray(pid) ? `${describe(pid)} of ${pid.length}` : describe(pid);
      fail(source, `pickle: unexpected persistent id (${what}); a legacy file's are ('storage', type, key, location, numel, view)`);
    }
    const [, typeValue, keyValue, , countValue, viewValue] = pid as readonly PickleValue[];
    const root: StorageRef = { kind: 'persistent', type: storageType(typeValue, source), key: storageKey(keyValue, source), numel: elementCount(countValue, source) };
    const known = this.roots.get(root.key);
    if (!known) this.roots.set(root.key, root);
    else if (known.type !== root.type || known.numel !== root.numel) {
      fail(source, `storage '${root.key}' is named as ${known.numel} x ${known.type.name} and as ${root.numel} x ${root.type.name}`);
    }
    return viewValue === null ? root : { ...root, view: this.view(viewValue!, root) };
  }

  /** view_metadata (view_key, offset, size): a window of the root; one key always the same window. */
  private view(v: PickleValue, root: StorageRef): { offset: number; numel: number } {
    const source = this.source;
    if (!Array.isArray(v) || v.length !== 3 || typeof v[0] !== 'string') fail(source, `pickle: storage '${root.key}': view metadata is ${describe(v)}, not (key, offset, size)`);
    const [key, offset, size] = v as readonly PickleValue[];
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || (offset as number) < 0 || (size as number) < 0 || (offset as number) + (size as number) > root.numel) {
      fail(source, `storage '${root.key}': view '${String(key)}' (offset ${describeScalar(offset!)}, size ${describeScalar(size!)}) does not lie within its ${root.numel} elements`);
    }
    const window = `${root.key}\0${offset as number}\0${size as number}`;
    const seen = this.views.get(key as string);
    if (seen !== undefined && seen !== window) fail(source, `storage view '${String(key)}' is named with two different windows`);
    this.views.set(key as string, window);
    return { offset: offset as number, numel: size as number };
  }
}

/** The storage key list: strings, each once, naming exactly the storages the object uses. */
function storageKeyList(v: PickleValue, pids: LegacyStorages, source: string): string[] {
  if (!Array.isArray(v) || Object.isFrozen(v)) fail(source, `the legacy storage key list is ${describe(v)}, not a list`);
  const keys = new Set<string>();
  for (const k of v as PickleValue[]) {
    if (typeof k !== 'string') fail(source, `the legacy storage key list holds ${describe(k)}, not a string`);
    if (keys.has(k)) fail(source, `storage '${k}' is listed twice in the storage key list`);
    if (!pids.roots.has(k)) fail(source, `storage '${k}' is in the storage key list, but no tensor of the checkpoint uses it`);
    keys.add(k);
  }
  for (const k of pids.roots.keys()) {
    if (!keys.has(k)) fail(source, `storage '${k}' is used by a tensor but missing from the storage key list`);
  }
  return [...keys];
}

/** Walk the storage records after the pickles: each an int64 count, then its bytes; nothing after. */
function storageSpans(bytes: Uint8Array, start: number, keys: string[], pids: LegacyStorages, source: string): Map<string, Uint8Array> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const spans = new Map<string, Uint8Array>();
  let pos = start;
  for (const key of keys) {
    const ref = pids.roots.get(key)!;
    if (bytes.length - pos < 8) fail(source, `storage '${key}': the file ends before its element count; the file is truncated`);
    const count = dv.getBigInt64(pos, true);
    pos += 8;
    if (count !== BigInt(ref.numel)) fail(source, `storage '${key}': the file records ${count} elements, its persistent id ${ref.numel}`);
    const size = ref.numel * ref.type.itemBytes;
    if (size > bytes.length - pos) {
      fail(source, `storage '${key}': ${ref.numel} elements of ${ref.type.name} need ${size} bytes, only ${bytes.length - pos} remain; the file is truncated`);
    }
    spans.set(key, bytes.subarray(pos, pos + size));
    pos += size;
  }
  if (pos !== bytes.length) fail(source, `${bytes.length - pos} bytes follow the last storage; the file is corrupt`);
  return spans;
}

// ---------------------------------------------------------------------------------------------
// both layouts

/** The state dict's tensors, decoded from the storages they use (and only those). */
function tensorsOf(ck: Checkpoint, source: string, options: PthOptions): Record<string, LoadedTensor> {
  const dict = selectStateDict(ck.root, source, options.key);
  const decoded = new Map<string, Float32Array>();
  const storageData = (s: StorageRef): Float32Array => {
    const id = `${s.key}:${s.type.dtype}`;
    let data = decoded.get(id);
    if (!data) {
      data = decodeToFloat32(ck.storageBytes(s), s.type.dtype, s.numel, ck.littleEndian);
      decoded.set(id, data);
    }
    return s.view ? data.subarray(s.view.offset, s.view.offset + s.view.numel) : data;
  };

  const out: Record<string, LoadedTensor> = {};
  const budget = { repeating: MAX_REPEATING_VIEW };
  for (const [k, v] of dict) {
    if (typeof k !== 'string') fail(source, `state dict key ${describe(k)} is not a string`);
    if (!(v instanceof PickledTensor)) fail(source, `entry '${k}' is ${describe(v)}, not a tensor`);
    if (!isStorageRef(v.storage)) fail(source, `tensor '${k}' is not backed by a storage of the file`);
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
  // the first wrapper entry that is a dict wins; siblings (optimizer state, epoch) are not read
  for (const k of DEFAULT_KEY_ORDER) {
    const v = root.get(k);
    if (v instanceof Map) return v;
  }
  for (const [k, v] of root) {
    if (!(v instanceof PickledTensor)) {
      fail(source, `entry '${String(k)}' is ${describe(v)}, not a tensor, and there is no ${DEFAULT_KEY_ORDER.join('/')} entry (top-level keys: ${listed})`);
    }
  }
  return root;
}

/** Most elements, over all tensors of a file, of views that repeat storage elements (stride 0 or overlapping strides). */
const MAX_REPEATING_VIEW = 1 << 24;

/** Copy a strided view (offset, shape, strides in elements) of a storage into a contiguous array. */
function materialize(t: PickledTensor, storage: Float32Array, name: string, source: string, budget: { repeating: number }): Float32Array {
  const { shape, offset } = t;
  // A size-1 dimension never steps, so its stride means nothing; official checkpoints record
  // non-canonical ones there (depthwise weights (48,1,3,3) with strides (9,1,3,1)). Zero them.
  const stride = t.stride.map((s, d) => (shape[d] === 1 ? 0 : s));
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
    fail(source, `tensor '${name}': shape ${shapeString(shape)}, strides ${shapeString(t.stride)} at offset ${offset} reach element ${last} of a storage of ${storage.length}`);
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
