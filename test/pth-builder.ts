// Independent writers for test fixtures: a zip writer (STORED or DEFLATE, optional zip64) with a
// bit-by-bit CRC, and pickles assembled opcode by opcode into torch.save-style .pth files, both
// the zip layout and the legacy (pre-1.6) stream of pickles followed by raw storages.
import { deflateRawSync } from 'node:zlib';

const enc = new TextEncoder();

/** CRC-32, bit by bit (no table), as the zip specification defines it. */
export function crcRef(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  crc?: number;
  /** The uncompressed size the headers declare (default: the real one). */
  size?: number;
}

/** A zip archive; `zip64` saturates every size/offset field and writes the zip64 records. */
export function makeZip(files: ZipInput[], opts: { zip64?: boolean; comment?: string } = {}): Uint8Array {
  const parts: number[] = [];
  const le = (v: number, n: number): void => {
    for (let i = 0; i < n; i++) parts.push(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
  };
  const z64 = !!opts.zip64;
  const central: number[][] = [];
  for (const f of files) {
    const name = enc.encode(f.name);
    const body = f.deflate ? new Uint8Array(deflateRawSync(f.data)) : f.data;
    const crc = f.crc ?? crcRef(f.data);
    const offset = parts.length;
    // PyTorch-style: pad the local extra field so the data starts 64-byte aligned
    const zip64Local = z64 ? 20 : 0;
    const pad = (64 - ((offset + 30 + name.length + zip64Local + 4) % 64)) % 64;
    le(0x04034b50, 4); le(z64 ? 45 : 20, 2); le(0x800, 2); le(f.deflate ? 8 : 0, 2); le(0, 2); le(0x21, 2);
    const size = f.size ?? f.data.length;
    le(crc, 4); le(z64 ? 0xffffffff : body.length, 4); le(z64 ? 0xffffffff : size, 4);
    le(name.length, 2); le(zip64Local + 4 + pad, 2);
    parts.push(...name);
    if (z64) { le(1, 2); le(16, 2); le(size, 8); le(body.length, 8); }
    le(0x4246, 2); le(pad, 2); for (let i = 0; i < pad; i++) parts.push(0x5a);
    parts.push(...body);
    const c: number[] = [];
    const cle = (v: number, n: number): void => {
      for (let i = 0; i < n; i++) c.push(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
    };
    cle(0x02014b50, 4); cle(z64 ? 45 : 20, 2); cle(z64 ? 45 : 20, 2); cle(0x800, 2); cle(f.deflate ? 8 : 0, 2); cle(0, 2); cle(0x21, 2);
    cle(crc, 4); cle(z64 ? 0xffffffff : body.length, 4); cle(z64 ? 0xffffffff : size, 4);
    cle(name.length, 2); cle(z64 ? 28 : 0, 2); cle(0, 2); cle(0, 2); cle(0, 2); cle(0, 4); cle(z64 ? 0xffffffff : offset, 4);
    c.push(...name);
    if (z64) { cle(1, 2); cle(24, 2); cle(size, 8); cle(body.length, 8); cle(offset, 8); }
    central.push(c);
  }
  const cdOffset = parts.length;
  for (const c of central) parts.push(...c);
  const cdSize = parts.length - cdOffset;
  if (z64) {
    const rec = parts.length;
    le(0x06064b50, 4); le(44, 8); le(45, 2); le(45, 2); le(0, 4); le(0, 4);
    le(files.length, 8); le(files.length, 8); le(cdSize, 8); le(cdOffset, 8);
    le(0x07064b50, 4); le(0, 4); le(rec, 8); le(1, 4);
  }
  const comment = enc.encode(opts.comment ?? '');
  le(0x06054b50, 4); le(0, 2); le(0, 2);
  le(z64 ? 0xffff : files.length, 2); le(z64 ? 0xffff : files.length, 2);
  le(z64 ? 0xffffffff : cdSize, 4); le(z64 ? 0xffffffff : cdOffset, 4);
  le(comment.length, 2); parts.push(...comment);
  return Uint8Array.from(parts);
}

export class PickleWriter {
  readonly out: number[] = [];
  /** `legacy`: storage persistent ids get the sixth field (view metadata) of the pre-1.6 layout. */
  constructor(readonly opts: { legacy?: boolean } = {}) {}
  op(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  private u32(n: number): number[] {
    return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
  }
  proto(v = 2): this { return this.op(0x80, v); }
  global(module: string, name: string): this { return this.op(0x63, ...enc.encode(`${module}\n${name}\n`)); }
  str(s: string): this { const b = enc.encode(s); return this.op(0x58, ...this.u32(b.length), ...b); }
  shortStr(s: string): this { const b = enc.encode(s); return this.op(0x8c, b.length, ...b); }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
    if (n >= -(2 ** 31) && n < 2 ** 31) return this.op(0x4a, ...this.u32(n));
    return this.long(BigInt(n));
  }
  /** LONG1: little-endian two's complement in as few bytes as hold the sign. */
  long(n: bigint): this {
    const b: number[] = [];
    for (let v = n; ; v >>= 8n) {
      b.push(Number(v & 0xffn));
      if ((v >> 7n === 0n && v >= 0n) || (v >> 7n === -1n && v < 0n)) break;
    }
    return this.op(0x8a, b.length, ...b);
  }
  none(): this { return this.op(0x4e); }
  bool(v: boolean): this { return this.op(v ? 0x88 : 0x89); }
  float(v: number): this { const d = new DataView(new ArrayBuffer(8)); d.setFloat64(0, v); return this.op(0x47, ...new Uint8Array(d.buffer)); }
  emptyList(): this { return this.op(0x5d); }
  appends(): this { return this.op(0x65); }
  put(i: number): this { return this.op(0x71, i); }
  get(i: number): this { return this.op(0x68, i); }
  mark(): this { return this.op(0x28); }
  tuple(): this { return this.op(0x74); }
  tuple1(): this { return this.op(0x85); }
  emptyTuple(): this { return this.op(0x29); }
  emptyDict(): this { return this.op(0x7d); }
  reduce(): this { return this.op(0x52); }
  setitem(): this { return this.op(0x73); }
  setitems(): this { return this.op(0x75); }
  build(): this { return this.op(0x62); }
  persid(): this { return this.op(0x51); }
  newFalse(): this { return this.op(0x89); }
  stop(): this { return this.op(0x2e); }
  ints(xs: number[]): this { this.mark(); xs.forEach((x) => this.int(x)); return this.tuple(); }
  orderedDict(): this { return this.global('collections', 'OrderedDict').emptyTuple().reduce(); }
  /** torch's tensor reduction: _rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict()) */
  tensor(t: PthTensor): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', t.storageClass ?? 'FloatStorage').str(t.key).str('cpu').int(t.numel);
    if (this.opts.legacy) {
      if (t.view) this.mark().str(t.view.key).int(t.view.offset).int(t.view.numel).tuple();
      else this.none();
    }
    this.tuple().persid();
    this.int(t.offset ?? 0).ints(t.shape).ints(t.stride).newFalse().orderedDict();
    this.tuple().reduce();
    return this;
  }
  parameter(t: PthTensor): this {
    this.global('torch._utils', '_rebuild_parameter').mark().tensor(t).newFalse().orderedDict().tuple().reduce();
    return this;
  }
  /** An OrderedDict state dict with `_metadata` set by BUILD, the way torch.save writes one. */
  stateDict(entries: [string, PthTensor][]): this {
    this.orderedDict().put(1).mark();
    for (const [k, t] of entries) (this.str(k), t.parameter ? this.parameter(t) : this.tensor(t));
    this.setitems();
    this.emptyDict().str('_metadata').orderedDict().setitem().build();
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

export interface PthTensor {
  key: string;
  numel: number;
  shape: number[];
  stride: number[];
  offset?: number;
  storageClass?: string;
  parameter?: boolean;
  /** Legacy layout only: the tensor's storage is a window of storage `key`. */
  view?: { key: string; offset: number; numel: number };
}

/** A torch.save-style zip: archive/data.pkl, archive/data/<key>, version, byteorder. */
export function makePth(pickle: Uint8Array, storages: Record<string, Uint8Array>, opts: { deflate?: boolean; zip64?: boolean } = {}): Uint8Array {
  return makeZip(
    [
      { name: 'archive/data.pkl', data: pickle, deflate: opts.deflate },
      ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data, deflate: opts.deflate })),
      { name: 'archive/version', data: enc.encode('3\n') },
      { name: 'archive/byteorder', data: enc.encode('little') },
    ],
    { zip64: opts.zip64 },
  );
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** One storage record of a legacy file: its key, raw bytes, and the element count to write. */
export interface LegacyStorage {
  key: string;
  data: Uint8Array;
  /** The int64 element count written before the data (default: data.length / itemBytes). */
  count?: bigint;
  /** Bytes per element (default 4, float32). */
  itemBytes?: number;
}

export interface LegacyOptions {
  magic?: bigint;
  protocol?: number;
  littleEndian?: boolean;
  /** The storage key list (default: the keys of `storages`, in order). */
  keys?: string[];
  /** Bytes appended after the last storage. */
  trailing?: Uint8Array;
}

/** The int64 little-endian element count that precedes each storage's bytes. */
function int64le(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, v, true);
  return b;
}

/**
 * A legacy torch.save file: pickles of the magic number, the protocol version, sys_info (as a
 * Windows build writes it: long = 4), the object (made with `new PickleWriter({ legacy: true })`)
 * and the storage key list, then each storage as an int64 count and its bytes.
 */
export function makeLegacyPth(objectPickle: Uint8Array, storages: LegacyStorage[], opts: LegacyOptions = {}): Uint8Array {
  const protocol = opts.protocol ?? 1001;
  const magic = new PickleWriter().proto().long(opts.magic ?? 0x1950a86a20f9469cfc6cn).stop().bytes();
  const version = new PickleWriter().proto().int(protocol).stop().bytes();
  const sysInfo = new PickleWriter().proto().emptyDict().mark()
    .str('protocol_version').int(protocol).str('little_endian').bool(opts.littleEndian ?? true)
    .str('type_sizes').emptyDict().mark().str('short').int(2).str('int').int(4).str('long').int(4).setitems()
    .setitems().stop().bytes();
  const keys = new PickleWriter().proto().emptyList().mark();
  for (const k of opts.keys ?? storages.map((s) => s.key)) keys.str(k);
  const keyList = keys.appends().stop().bytes();
  const records = storages.flatMap((s) => [int64le(s.count ?? BigInt(s.data.length / (s.itemBytes ?? 4))), s.data]);
  const parts = [magic, version, sysInfo, objectPickle, keyList, ...records, opts.trailing ?? new Uint8Array(0)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}
