// A minimal protocol-buffers wire-format writer (what the ONNX writer needs: varints, 32-bit
// floats, length-delimited bytes and nested messages) and a generic reader that splits a
// message into its fields, enough to check written files without a .proto compiler.
// Large byte fields are kept by reference and joined once in finish(), so weights are copied once.

/** Wire types of the protobuf encoding. */
export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

const utf8 = new TextEncoder();
const TWO_64 = 1n << 64n;

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private pos = 0;
  private flushed = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.flushed + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = new Uint8Array(Math.max(n, 2 * this.buf.length));
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.buf.slice(0, this.pos));
    this.flushed += this.pos;
    this.pos = 0;
  }

  /** An unsigned varint (a non-negative safe integer or a bigint below 2^64). */
  private rawVarint(v: number | bigint): void {
    this.ensure(10);
    if (typeof v === 'number' && v >= 0 && v <= 0x7fffffff) {
      let n = v;
      while (n > 0x7f) {
        this.buf[this.pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      this.buf[this.pos++] = n;
      return;
    }
    let b = BigInt(v);
    if (b < 0n) b += TWO_64; // int64 two's complement: ten bytes
    if (b < 0n || b >= TWO_64) throw new Error(`mvsr: protobuf: varint ${String(v)} does not fit 64 bits`);
    while (b > 0x7fn) {
      this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
      b >>= 7n;
    }
    this.buf[this.pos++] = Number(b);
  }

  private tag(field: number, wire: number): void {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) throw new Error(`mvsr: protobuf: bad field number ${field}`);
    this.rawVarint(field * 8 + wire);
  }

  /** int32 / int64 / uint64 / enum / bool field (negative numbers as 64-bit two's complement). */
  varint(field: number, v: number | bigint | boolean): this {
    const n = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    if (typeof n === 'number' && !Number.isSafeInteger(n)) throw new Error(`mvsr: protobuf: field ${field}: ${n} is not an integer`);
    this.tag(field, WIRE_VARINT);
    this.rawVarint(n);
    return this;
  }

  /** float field (fixed 32 bits, little-endian). */
  float(field: number, v: number): this {
    this.tag(field, WIRE_I32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset).setFloat32(this.pos, v, true);
    this.pos += 4;
    return this;
  }

  /** bytes field; the array is kept by reference until finish() (do not modify it before). */
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.rawVarint(b.length);
    if (b.length <= 64) {
      this.ensure(b.length);
      this.buf.set(b, this.pos);
      this.pos += b.length;
    } else {
      this.flush();
      this.chunks.push(b);
      this.flushed += b.length;
    }
    return this;
  }

  /** string field (UTF-8). */
  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /** Packed repeated varints (e.g. repeated int64 with [packed = true]). */
  packedVarints(field: number, vs: readonly (number | bigint)[]): this {
    const w = new ProtoWriter();
    for (const v of vs) w.rawVarint(v);
    return this.bytes(field, w.finish());
  }

  /** Embedded message field: `fill` writes the sub-message's fields. */
  message(field: number, fill: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    fill(w);
    w.flush();
    this.tag(field, WIRE_LEN);
    this.rawVarint(w.length);
    this.flush();
    for (const c of w.chunks) this.chunks.push(c);
    this.flushed += w.length;
    return this;
  }

  /** The encoded message as one array. */
  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Uint8Array(this.flushed);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// ---- reading ----------------------------------------------------------------------------------

/** One field occurrence: varints as bigint, fixed-width fields as raw little-endian bytes. */
export type ProtoField =
  | { field: number; wire: typeof WIRE_VARINT; value: bigint }
  | { field: number; wire: typeof WIRE_I64 | typeof WIRE_I32 | typeof WIRE_LEN; value: Uint8Array };

function readVarint(b: Uint8Array, at: { pos: number }): bigint {
  let v = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (at.pos >= b.length) throw new Error('mvsr: protobuf: truncated varint');
    const byte = b[at.pos++]!;
    v |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return v & (TWO_64 - 1n);
  }
  throw new Error('mvsr: protobuf: varint longer than 10 bytes');
}

/** Split a message into its fields, in order (sub-messages stay as bytes: decode them again). */
export function decodeMessage(b: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  const at = { pos: 0 };
  while (at.pos < b.length) {
    const key = readVarint(b, at);
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (field < 1) throw new Error(`mvsr: protobuf: field number 0 at byte ${at.pos}`);
    const take = (n: number): Uint8Array => {
      if (n < 0 || at.pos + n > b.length) throw new Error(`mvsr: protobuf: field ${field} runs past the end (${n} bytes at ${at.pos} of ${b.length})`);
      const v = b.subarray(at.pos, at.pos + n);
      at.pos += n;
      return v;
    };
    switch (wire) {
      case WIRE_VARINT: out.push({ field, wire, value: readVarint(b, at) }); break;
      case WIRE_I64: out.push({ field, wire, value: take(8) }); break;
      case WIRE_I32: out.push({ field, wire, value: take(4) }); break;
      case WIRE_LEN: out.push({ field, wire, value: take(Number(readVarint(b, at))) }); break;
      default: throw new Error(`mvsr: protobuf: unsupported wire type ${wire} (field ${field})`);
    }
  }
  return out;
}

/** Field accessors over a decoded message, for the scalar types the ONNX schema uses. */
export class ProtoMessage {
  readonly fields: ProtoField[];

  constructor(bytes: Uint8Array) {
    this.fields = decodeMessage(bytes);
  }

  private all(field: number): ProtoField[] {
    return this.fields.filter((f) => f.field === field);
  }

  has(field: number): boolean {
    return this.fields.some((f) => f.field === field);
  }

  /** Last occurrence of a varint field as a signed 64-bit number (undefined when absent). */
  int(field: number): number | undefined {
    const f = this.all(field).at(-1);
    if (!f) return undefined;
    if (f.wire !== WIRE_VARINT) throw new Error(`mvsr: protobuf: field ${field} is not a varint`);
    return Number(BigInt.asIntN(64, f.value));
  }

  /** Repeated int64 field, packed or not. */
  ints(field: number): number[] {
    const out: number[] = [];
    for (const f of this.all(field)) {
      if (f.wire === WIRE_VARINT) out.push(Number(BigInt.asIntN(64, f.value)));
      else if (f.wire === WIRE_LEN) {
        const at = { pos: 0 };
        while (at.pos < f.value.length) out.push(Number(BigInt.asIntN(64, readVarint(f.value, at))));
      } else throw new Error(`mvsr: protobuf: field ${field} is not an integer list`);
    }
    return out;
  }

  float(field: number): number | undefined {
    const f = this.all(field).at(-1);
    if (!f) return undefined;
    if (f.wire !== WIRE_I32) throw new Error(`mvsr: protobuf: field ${field} is not a 32-bit float`);
    return new DataView(f.value.buffer, f.value.byteOffset, 4).getFloat32(0, true);
  }

  bytes(field: number): Uint8Array | undefined {
    return this.bytesList(field).at(-1);
  }

  bytesList(field: number): Uint8Array[] {
    return this.all(field).map((f) => {
      if (f.wire !== WIRE_LEN) throw new Error(`mvsr: protobuf: field ${field} is not length-delimited`);
      return f.value;
    });
  }

  string(field: number): string | undefined {
    const b = this.bytes(field);
    return b === undefined ? undefined : new TextDecoder().decode(b);
  }

  strings(field: number): string[] {
    return this.bytesList(field).map((b) => new TextDecoder().decode(b));
  }

  message(field: number): ProtoMessage | undefined {
    const b = this.bytes(field);
    return b === undefined ? undefined : new ProtoMessage(b);
  }

  messages(field: number): ProtoMessage[] {
    return this.bytesList(field).map((b) => new ProtoMessage(b));
  }
}
