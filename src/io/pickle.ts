// A restricted unpickler for the pickles torch.save writes (protocol 2, also what 3-5 add for
// plain data). It builds plain JS values and never calls anything named by the file: globals
// resolve through an allow-list of tensor and ordered-dict constructors that mvsr implements
// itself, and every other global or opcode is refused before anything is built from it.
import { fail, withFileErrors } from './weights.js';

/** A torch storage type named by the pickle (e.g. `torch.FloatStorage`), with its dtype. */
export class TorchStorageType {
  constructor(
    readonly name: string,
    readonly dtype: 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32',
    readonly itemBytes: number,
  ) {}
}

/** What `_rebuild_tensor_v2` received: a storage (from persistent_load) and a strided view of it. */
export class PickledTensor {
  constructor(
    readonly storage: PickleValue,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** An allowed global that can be called by REDUCE/NEWOBJ (mvsr's own implementation). */
export class PickleCallable {
  constructor(
    readonly qualifiedName: string,
    readonly call: (args: readonly PickleValue[]) => PickleValue,
  ) {}
}

/**
 * Values the unpickler builds. Python lists are arrays, tuples are frozen arrays, dicts and
 * OrderedDicts are Maps (insertion order kept), ints beyond 2^53 are bigints.
 */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PickleValue[]
  | readonly PickleValue[]
  | Map<PickleValue, PickleValue>
  | TorchStorageType
  | PickledTensor
  | PickleCallable
  | PersistentValue;

/** Whatever the caller's persistent_load returns (e.g. a storage handle); opaque to the unpickler. */
export interface PersistentValue {
  readonly kind: 'persistent';
  readonly [k: string]: unknown;
}

export interface UnpickleOptions {
  /** Name of the file, for error messages. */
  source?: string;
  /** Resolves BINPERSID ids (torch: `('storage', StorageType, key, location, numel)`). */
  persistentLoad?: (pid: PickleValue) => PickleValue;
}

const STORAGE_TYPES: Record<string, TorchStorageType> = {
  FloatStorage: new TorchStorageType('torch.FloatStorage', 'F32', 4),
  HalfStorage: new TorchStorageType('torch.HalfStorage', 'F16', 2),
  DoubleStorage: new TorchStorageType('torch.DoubleStorage', 'F64', 8),
  BFloat16Storage: new TorchStorageType('torch.BFloat16Storage', 'BF16', 2),
  // integer buffers such as BatchNorm's num_batches_tracked; loaded, but not float weights
  LongStorage: new TorchStorageType('torch.LongStorage', 'I64', 8),
  IntStorage: new TorchStorageType('torch.IntStorage', 'I32', 4),
};

function isDict(v: PickleValue | undefined): v is Map<PickleValue, PickleValue> {
  return v instanceof Map;
}

function isIntList(v: PickleValue): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
}

function makeOrderedDict(args: readonly PickleValue[]): PickleValue {
  const d = new Map<PickleValue, PickleValue>();
  if (args.length === 0) return d;
  // OrderedDict(iterable_of_pairs), as some protocol-2 pickles write it
  const items = args[0];
  if (args.length > 1 || !Array.isArray(items)) throw new PickleError('collections.OrderedDict called with arguments other than a list of pairs');
  for (const pair of items) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new PickleError('collections.OrderedDict called with an item that is not a pair');
    d.set(pair[0] as PickleValue, pair[1] as PickleValue);
  }
  return d;
}

function rebuildTensorV2(args: readonly PickleValue[]): PickleValue {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (args.length < 6 || args.length > 7) throw new PickleError(`torch._utils._rebuild_tensor_v2 called with ${args.length} arguments`);
  const [storage, offset, size, stride] = args;
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new PickleError('torch._utils._rebuild_tensor_v2: bad storage offset');
  if (!isIntList(size!) || !isIntList(stride!) || size.length !== stride.length) throw new PickleError('torch._utils._rebuild_tensor_v2: bad size or stride');
  return new PickledTensor(storage!, offset as number, [...size], [...stride]);
}

function rebuildParameter(args: readonly PickleValue[]): PickleValue {
  // (data, requires_grad, backward_hooks): a Parameter is just its tensor for mvsr
  if (args.length !== 3 || !(args[0] instanceof PickledTensor)) throw new PickleError('torch._utils._rebuild_parameter called without a tensor');
  return args[0];
}

const CALLABLES: Record<string, PickleCallable> = {
  'collections.OrderedDict': new PickleCallable('collections.OrderedDict', makeOrderedDict),
  'torch._utils._rebuild_tensor_v2': new PickleCallable('torch._utils._rebuild_tensor_v2', rebuildTensorV2),
  'torch._utils._rebuild_parameter': new PickleCallable('torch._utils._rebuild_parameter', rebuildParameter),
};

/** Resolve a GLOBAL through the allow-list; anything else is refused with its name. */
function resolveGlobal(module: string, name: string, source: string): PickleValue {
  const qualified = `${module}.${name}`;
  const callable = CALLABLES[qualified];
  if (callable && Object.hasOwn(CALLABLES, qualified)) return callable;
  if (module === 'torch' && Object.hasOwn(STORAGE_TYPES, name)) return STORAGE_TYPES[name]!;
  fail(
    source,
    `refusing to load: the checkpoint references the global ${qualified}, which mvsr does not allow (only tensors and ordered dicts)`,
  );
}

/** An error inside an allowed constructor; reported with the opcode offset. */
class PickleError extends Error {}

/** Opcode names, for messages about the ones mvsr refuses. */
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x29: 'EMPTY_TUPLE', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x46: 'FLOAT', 0x47: 'BINFLOAT', 0x49: 'INT', 0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG',
  0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x5d: 'EMPTY_LIST', 0x61: 'APPEND', 0x62: 'BUILD',
  0x63: 'GLOBAL', 0x64: 'DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE',
  0x75: 'SETITEMS', 0x7d: 'EMPTY_DICT', 0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** A short Python-ish description of a value, for messages. */
export function describe(v: PickleValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  if (v instanceof Map) return 'a dict';
  if (v instanceof PickledTensor) return 'a tensor';
  if (v instanceof TorchStorageType) return v.name;
  if (v instanceof PickleCallable) return v.qualifiedName;
  if (typeof v === 'object' && (v as { kind?: unknown }).kind === 'persistent') return 'a storage';
  return `a ${typeof v}`;
}

/** Unpickle `bytes` with the allow-list; returns the value STOP leaves on the stack. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PickleValue {
  const source = options.source ?? '<memory>';
  return withFileErrors(source, unpickle, () => run(bytes, 0, source, options.persistentLoad).value);
}

/** A value unpickled from the middle of a stream, and where the bytes after its STOP begin. */
export interface UnpickledAt {
  value: PickleValue;
  end: number;
}

/**
 * Unpickle the pickle that starts at `offset` of `bytes` (legacy torch.save files hold several
 * in a row) with the allow-list. Error messages give offsets within `bytes`.
 */
export function unpickleAt(bytes: Uint8Array, offset: number, options: UnpickleOptions = {}): UnpickledAt {
  const source = options.source ?? '<memory>';
  return withFileErrors(source, unpickleAt, () => run(bytes, offset, source, options.persistentLoad));
}

function run(bytes: Uint8Array, start: number, source: string, persistentLoad: UnpickleOptions['persistentLoad']): UnpickledAt {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let stack: PickleValue[] = [];
  const marks: PickleValue[][] = [];
  const memo = new Map<number, PickleValue>();
  let pos = start;
  let at = start; // offset of the opcode being executed

  const bad = (problem: string): never =>
    fail(source, `pickle: ${problem} (${at < bytes.length ? `opcode ${OPCODE_NAMES[bytes[at]!] ?? 'unknown'} ` : ''}at offset ${at})`);
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) bad('the pickle ends in the middle of an opcode; the file is truncated');
    const p = pos;
    pos += n;
    return p;
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) bad('stack underflow');
    return stack.pop()!;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) bad('stack underflow');
    return stack[stack.length - 1]!;
  };
  const popMark = (): PickleValue[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) bad('no MARK on the stack');
    stack = prev!;
    return items;
  };
  const str = (n: number): string => {
    const p = need(n);
    try {
      return utf8.decode(bytes.subarray(p, p + n));
    } catch {
      return bad('string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) bad('GLOBAL name is not terminated');
    const s = new TextDecoder('utf-8').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const getMemo = (i: number): PickleValue => {
    if (!memo.has(i)) bad(`memo slot ${i} is empty`);
    return memo.get(i)!;
  };
  const setItems = (dict: PickleValue, items: PickleValue[]): void => {
    if (!isDict(dict)) bad(`SETITEM on ${describe(dict)}, not a dict`);
    if (items.length % 2) bad('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) (dict as Map<PickleValue, PickleValue>).set(items[i]!, items[i + 1]!);
  };
  const append = (list: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(list) || Object.isFrozen(list)) bad(`APPEND on ${describe(list)}, not a list`);
    (list as PickleValue[]).push(...items);
  };
  const call = (fn: PickleValue, args: PickleValue): PickleValue => {
    if (!(fn instanceof PickleCallable)) bad(`cannot call ${describe(fn)}`);
    if (!Array.isArray(args) || !Object.isFrozen(args)) bad(`arguments are ${describe(args)}, not a tuple`);
    try {
      return (fn as PickleCallable).call(args as readonly PickleValue[]);
    } catch (e) {
      if (e instanceof PickleError) bad(e.message);
      throw e;
    }
  };
  const tuple = (items: PickleValue[]): PickleValue => Object.freeze(items);

  for (;;) {
    at = pos;
    if (pos >= bytes.length) bad('the pickle ends without STOP; the file is truncated');
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: { // PROTO
        const v = bytes[need(1)]!;
        if (v > 5) bad(`pickle protocol ${v} is not supported`);
        break;
      }
      case 0x95: // FRAME: an 8-byte length, framing is transparent to us
        need(8);
        break;
      case 0x2e: { // STOP
        if (marks.length) bad('MARK left open at STOP');
        if (stack.length !== 1) bad(`${stack.length} values left on the stack at STOP`);
        return { value: stack[0]!, end: pos };
      }
      case 0x28: // MARK
        marks.push(stack);
        stack = [];
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x4a: // BININT
        stack.push(dv.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(bytes[need(1)]!);
        break;
      case 0x4d: // BININT2
        stack.push(dv.getUint16(need(2), true));
        break;
      case 0x8a: { // LONG1: n-byte little-endian two's complement
        const n = bytes[need(1)]!;
        const p = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[p + i]!);
        if (n > 0 && bytes[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(str(dv.getUint32(need(4), true)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(bytes[need(1)]!));
        break;
      case 0x8d: { // BINUNICODE8
        const n = dv.getBigUint64(need(8), true);
        if (n > BigInt(bytes.length)) bad('string length beyond the end of the pickle');
        stack.push(str(Number(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        stack.push(dv.getFloat64(need(8), false));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x74: { // TUPLE (popMark switches `stack`, so take the items before pushing)
        const t = tuple(popMark());
        stack.push(t);
        break;
      }
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x6c: { // LIST
        const l = popMark();
        stack.push(l);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x64: { // DICT
        const d = new Map<PickleValue, PickleValue>();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(bytes[need(1)]!, top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(dv.getUint32(need(4), true), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(getMemo(bytes[need(1)]!));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(getMemo(dv.getUint32(need(4), true)));
        break;
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name, source));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') bad('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, name as string, source));
        break;
      }
      case 0x52: { // REDUCE: callable(*args), callable from the allow-list only
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args), only for OrderedDict
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PickleCallable) || cls.qualifiedName !== 'collections.OrderedDict') bad(`NEWOBJ of ${describe(cls)} is not allowed`);
        if (!Array.isArray(args)) bad('NEWOBJ arguments are not a tuple');
        stack.push(new Map());
        break;
      }
      case 0x62: { // BUILD: set state on the object below
        const state = pop();
        const obj = top();
        // OrderedDict state is its __dict__ (torch keeps `_metadata` there): not weights, ignored
        if (isDict(obj) && (state === null || isDict(state))) break;
        bad(`BUILD of ${describe(obj)} with ${describe(state)} is not allowed`);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!persistentLoad) bad('persistent id found but no persistent_load was given');
        stack.push(persistentLoad!(pid));
        break;
      }
      default: {
        const name = OPCODE_NAMES[op];
        fail(
          source,
          `pickle: opcode ${name ?? 'unknown'} (0x${op.toString(16).padStart(2, '0')}) at offset ${at} is not supported; mvsr reads only the opcodes torch.save writes for tensors and dicts`,
        );
      }
    }
  }
}
