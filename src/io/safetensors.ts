// safetensors, the native weight format of mvsr: u64 little-endian header length, a JSON header
// `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {string: string}}`, then the
// raw little-endian tensor bytes. Offsets are relative to the data section, which the tensors
// must cover exactly (no overlaps, no holes), as the format's reference implementation requires.
// mvsr keeps `arch`, JSON `args`, `scale` and provenance in `__metadata__` (see weights.ts).
import {
  type LoadedTensor,
  type WeightTensor,
  FLOAT_DTYPE_BYTES,
  HOST_LITTLE_ENDIAN,
  decodeToFloat32,
  fail,
  numel,
  setOwn,
  shapeString,
  withFileErrors,
} from './weights.js';

export interface SafetensorsContents {
  tensors: Record<string, LoadedTensor>;
  metadata: Record<string, string>;
}

/** Every dtype of the format; mvsr reads only the floating ones. */
const KNOWN_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64']);

/** The reference implementation refuses headers over 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000;

/** Parse a safetensors file; float tensors (F32, F16, BF16, F64) come back as float32. */
export function readSafetensors(bytes: Uint8Array, source = '<memory>'): SafetensorsContents {
  return withFileErrors(source, readSafetensors, () => parse(bytes, source));
}

function parse(bytes: Uint8Array, source: string): SafetensorsContents {
  if (bytes.length < 8) fail(source, `not a safetensors file: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = dv.getBigUint64(0, true);
  if (headerLen > BigInt(bytes.length - 8)) {
    fail(source, `safetensors header length ${headerLen} is beyond the end of the file (${bytes.length} bytes); the file is truncated or not safetensors`);
  }
  const n = Number(headerLen);
  if (n > MAX_HEADER_BYTES) fail(source, `safetensors header of ${n} bytes is larger than the 100 MB limit`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch {
    fail(source, 'safetensors header is not valid UTF-8 JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(source, 'safetensors header is not a JSON object');

  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors: Record<string, LoadedTensor> = {};
  const entries = header as Record<string, unknown>;
  for (const name of Object.keys(entries)) {
    const info = entries[name];
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(source, 'safetensors __metadata__ is not a JSON object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(source, `safetensors metadata '${k}' is not a string (the format allows only string values)`);
        setOwn(metadata, k, v);
      }
      continue;
    }
    const what = `tensor '${name}'`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(source, `${what}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string' || !KNOWN_DTYPES.has(dtype)) fail(source, `${what}: unknown dtype ${JSON.stringify(dtype)}`);
    const size = FLOAT_DTYPE_BYTES[dtype];
    if (size === undefined) fail(source, `${what}: dtype ${dtype} is not supported; mvsr reads F32, F16, BF16 and F64 weights`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(source, `${what}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(source, `${what}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > data.length) fail(source, `${what}: data_offsets [${begin}, ${end}] lie outside the data section (${data.length} bytes)`);
    let count: number;
    try {
      count = numel(shape as number[]);
    } catch {
      fail(source, `${what}: shape ${shapeString(shape as number[])} has too many elements`);
    }
    if (count * size !== end - begin) {
      fail(source, `${what}: ${end - begin} bytes of data do not match shape ${shapeString(shape as number[])} of ${dtype} (${count * size} bytes)`);
    }
    spans.push({ name, begin, end });
    setOwn(tensors, name, { dtype, shape: [...(shape as number[])], data: decodeToFloat32(data.subarray(begin, end), dtype, count) });
  }

  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!;
    if (s.begin < covered) fail(source, `tensor '${s.name}': data_offsets [${s.begin}, ${s.end}] overlap tensor '${spans[i - 1]!.name}'`);
    if (s.begin > covered) fail(source, `tensor '${s.name}': data_offsets [${s.begin}, ${s.end}] leave a hole at bytes ${covered}..${s.begin} of the data section`);
    covered = s.end;
  }
  if (covered !== data.length) fail(source, `data section has ${data.length - covered} bytes after the last tensor; the header does not describe the file`);
  return { tensors, metadata };
}

/**
 * Serialise float32 tensors as safetensors (dtype F32): tensors in sorted-name order, contiguous
 * data_offsets, header JSON padded with spaces so the data section starts 8-byte aligned.
 * Metadata values must be strings.
 */
export function writeSafetensors(tensors: Record<string, WeightTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`mvsr: writeSafetensors: metadata '${k}' must be a string (safetensors allows only string values)`);
    }
    header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new TypeError("mvsr: writeSafetensors: '__metadata__' cannot be a tensor name");
    const t = tensors[name]!;
    let count: number;
    try {
      count = numel(t.shape);
    } catch {
      throw new TypeError(`mvsr: writeSafetensors: tensor '${name}' has a bad shape ${JSON.stringify(t.shape)}`);
    }
    if (!(t.data instanceof Float32Array) || t.data.length !== count) {
      throw new TypeError(`mvsr: writeSafetensors: tensor '${name}' has ${t.data?.length} values, shape ${shapeString(t.shape)} needs ${count}`);
    }
    setOwn(header, name, { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + count * 4] });
    offset += count * 4;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const name of names) {
    const d = tensors[name]!.data;
    if (HOST_LITTLE_ENDIAN) out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    else for (let i = 0; i < d.length; i++) dv.setFloat32(pos + 4 * i, d[i]!, true);
    pos += d.byteLength;
  }
  return out;
}
