// A minimal zip reader for PyTorch checkpoints: end of central directory (zip64 included),
// central directory, local headers, STORED and DEFLATE entries, CRC-32 of every entry.
// DEFLATE is done by an injected function so this file stays free of Node modules.
import { fail, withFileErrors } from './weights.js';

/** Inflate raw DEFLATE data (no zlib header) that should expand to `uncompressedSize` bytes. */
export type InflateRaw = (compressed: Uint8Array, uncompressedSize: number) => Uint8Array;

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;
/** The most one entry may hold (bytes): larger claims are refused before anything is read or inflated. */
export const ZIP_MAX_ENTRY = 2 ** 31;
/** DEFLATE expands at most about 1032:1; a directory that claims more is lying (a zip bomb's declared size). */
const DEFLATE_MAX_RATIO = 1032;

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO-HDLC, the zip and PNG one) of `bytes`. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * Read every file entry of a zip archive into a Map of name → bytes (STORED entries are views
 * into `bytes`). Directories are skipped. Errors name `source`.
 */
export function readZip(bytes: Uint8Array, source = '<memory>', inflateRaw?: InflateRaw): Map<string, Uint8Array> {
  return withFileErrors(source, readZip, () => parseZip(bytes, source, inflateRaw));
}

function parseZip(bytes: Uint8Array, source: string, inflateRaw: InflateRaw | undefined): Map<string, Uint8Array> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  const u16 = (o: number): number => dv.getUint16(o, true);
  const u32 = (o: number): number => dv.getUint32(o, true);
  const u64 = (o: number, what: string): number => {
    const v = dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(source, `zip: ${what} ${v} is too large`);
    return Number(v);
  };

  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = len - 22; i >= Math.max(0, len - 22 - 0xffff); i--) {
    if (u32(i) === SIG_EOCD && i + 22 + u16(i + 20) <= len) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(source, 'not a zip archive (no end of central directory record); the file is truncated or of another format');

  let diskNumber = u16(eocd + 4);
  let cdDisk = u16(eocd + 6);
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  const loc = eocd - 20;
  if (loc >= 0 && u32(loc) === SIG_ZIP64_LOCATOR) {
    const z = u64(loc + 8, 'zip64 end of central directory offset');
    if (z + 56 > loc || u32(z) !== SIG_ZIP64_EOCD) fail(source, 'zip: the zip64 end of central directory record is missing or corrupt');
    diskNumber = u32(z + 16);
    cdDisk = u32(z + 20);
    count = u64(z + 32, 'entry count');
    cdSize = u64(z + 40, 'central directory size');
    cdOffset = u64(z + 48, 'central directory offset');
  }
  if (diskNumber !== 0 || cdDisk !== 0) fail(source, 'zip: multi-disk (spanned) archives are not supported');
  if (cdOffset + cdSize > len) fail(source, `zip: the central directory (${cdSize} bytes at ${cdOffset}) lies beyond the end of the file (${len} bytes); the file is truncated`);

  const out = new Map<string, Uint8Array>();
  const decoder = new TextDecoder('utf-8');
  let p = cdOffset;
  for (let e = 0; e < count; e++) {
    if (p + 46 > cdOffset + cdSize || u32(p) !== SIG_CENTRAL) fail(source, `zip: central directory entry ${e} is corrupt`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let compSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let localOffset = u32(p + 42);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdOffset + cdSize) fail(source, `zip: central directory entry ${e} runs past the directory`);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));

    // zip64 extended information: 64-bit values for the fields saturated at 0xFFFFFFFF, in order
    if (size === U32_MAX || compSize === U32_MAX || localOffset === U32_MAX) {
      let q = p + 46 + nameLen;
      const extraEnd = q + extraLen;
      let found = false;
      while (q + 4 <= extraEnd) {
        const id = u16(q);
        const dataLen = u16(q + 2);
        if (q + 4 + dataLen > extraEnd) break;
        if (id === 0x0001) {
          let f = q + 4;
          const take = (what: string): number => {
            if (f + 8 > q + 4 + dataLen) fail(source, `zip: entry '${name}': zip64 extra field lacks the ${what}`);
            const v = u64(f, `entry '${name}' ${what}`);
            f += 8;
            return v;
          };
          if (size === U32_MAX) size = take('uncompressed size');
          if (compSize === U32_MAX) compSize = take('compressed size');
          if (localOffset === U32_MAX) localOffset = take('local header offset');
          found = true;
          break;
        }
        q += 4 + dataLen;
      }
      if (!found) fail(source, `zip: entry '${name}' has 32-bit fields at 0xFFFFFFFF but no zip64 extra field`);
    }
    p = next;

    if (flags & 1) fail(source, `zip: entry '${name}' is encrypted`);
    // entries are only ever read into memory by name; still, no archive mvsr reads names files outside it
    if (/^[\\/]|^[A-Za-z]:|(^|[\\/])\.\.([\\/]|$)/.test(name)) fail(source, `zip: entry '${name}' has an unsafe name (absolute, or reaching outside the archive with '..')`);
    if (size > ZIP_MAX_ENTRY) fail(source, `zip: entry '${name}' claims ${size} bytes, more than mvsr reads from one entry (${ZIP_MAX_ENTRY})`);
    if (method === 8 && size > compSize * DEFLATE_MAX_RATIO + 1024) {
      fail(source, `zip: entry '${name}' claims ${size} bytes from ${compSize} compressed, more than DEFLATE can expand to (a zip bomb or a corrupt directory)`);
    }
    if (localOffset + 30 > len || u32(localOffset) !== SIG_LOCAL) fail(source, `zip: entry '${name}': local header missing at offset ${localOffset}`);
    // the local header has its own name and extra lengths (PyTorch pads the extra field to align data)
    const dataStart = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28);
    if (dataStart + compSize > len) fail(source, `zip: entry '${name}': its ${compSize} bytes of data run past the end of the file; the file is truncated`);
    const raw = bytes.subarray(dataStart, dataStart + compSize);

    let content: Uint8Array;
    if (method === 0) {
      if (compSize !== size) fail(source, `zip: stored entry '${name}' has compressed size ${compSize} but size ${size}`);
      content = raw;
    } else if (method === 8) {
      if (!inflateRaw) fail(source, `zip: entry '${name}' is DEFLATE-compressed and no inflate function was given (pass one, e.g. node:zlib inflateRawSync)`);
      try {
        content = inflateRaw(raw, size);
      } catch (err) {
        fail(source, `zip: entry '${name}': DEFLATE data is corrupt (${err instanceof Error ? err.message : String(err)})`);
      }
      if (content.length !== size) fail(source, `zip: entry '${name}' inflates to ${content.length} bytes, the directory says ${size}`);
    } else {
      fail(source, `zip: entry '${name}' uses compression method ${method}; only STORED (0) and DEFLATE (8) are supported`);
    }
    if (crc32(content) !== crc) fail(source, `zip: entry '${name}' fails its CRC-32 check; the file is corrupt`);
    if (name.endsWith('/') && size === 0) continue;
    if (out.has(name)) fail(source, `zip: entry '${name}' appears twice`);
    out.set(name, content);
  }
  return out;
}
