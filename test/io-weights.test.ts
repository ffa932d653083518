// Weight I/O: safetensors against hand-built files, .pth against zips, legacy pickle streams and
// pickles assembled here (their own zip writer and CRC, not the reader's), the unpickler's
// refusals, atomic saves, every official ETDS checkpoint and the efficient-SR ones (legacy IMDN,
// RFDN and NTIRE 2022 files; zip files with size-1 stride quirks or a net/optimizer wrapper).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { mulberry32 } from './helpers.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { crc32, readZip } from '../src/io/zip.js';
import { type PickleValue, type PickledTensor, unpickle, unpickleAt } from '../src/io/pickle.js';
import { readPth } from '../src/io/pth.js';
import { decodeModelMetadata, detectWeightsFormat, encodeModelMetadata, halfToFloat, type WeightTensor } from '../src/io/weights.js';
import { loadWeightsFile, nodeInflateRaw, saveSafetensorsFile } from '../src/io/weights.node.js';
import { DATA_DIR, ZOO_DIR, needData } from './data.js';
import { crcRef, makeZip, PickleWriter, makePth, makeLegacyPth, f32Bytes, type ZipInput, type PthTensor, type LegacyStorage, type LegacyOptions } from './pth-builder.js';

const enc = new TextEncoder();

/** Assert `fn` throws a one-line error whose message matches `re` exactly from the start. */
function throwsOneLine(fn: () => unknown, re: RegExp): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error, `expected an error matching ${re}`);
  assert.match(caught.message, re);
  assert.ok(!caught.message.includes('\n'), `error is not one line: ${caught.message}`);
  return caught;
}

// ---------------------------------------------------------------------------------------------
// safetensors

/** A safetensors file from a header (object or raw text) and data bytes, padded like the writer does not. */
function stFile(header: object | string, data: ArrayLike<number> = [], headerLen?: number): Uint8Array {
  const json = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function randomTensors(seed: number): Record<string, WeightTensor> {
  const rng = mulberry32(seed);
  const out: Record<string, WeightTensor> = {};
  const names = ['body.0.weight', 'body.0.bias', 'Zeta', 'alpha.β', 'upsampler.weight', 'scalar', 'empty'];
  for (const name of names) {
    const rank = name === 'scalar' ? 0 : 1 + Math.floor(rng() * 4);
    const shape = Array.from({ length: rank }, () => 1 + Math.floor(rng() * 5));
    if (name === 'empty') shape[0] = 0;
    const n = shape.reduce((a, b) => a * b, 1);
    out[name] = { shape, data: Float32Array.from({ length: n }, () => (rng() - 0.5) * 10 ** Math.floor(rng() * 8 - 4)) };
  }
  out['specials'] = { shape: [6], data: Float32Array.of(-0, Infinity, -Infinity, NaN, 1e-45, 3.4028234663852886e38) };
  return out;
}

function bits(a: Float32Array): number[] {
  return [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
}

test('safetensors: write then read gives back every tensor bit for bit, and the metadata', () => {
  for (const seed of [1, 2, 3]) {
    const tensors = randomTensors(seed);
    const metadata = { arch: 'ETDS', args: '{"num_feat":16}', scale: '4', source: `seed ${seed}` };
    const file = writeSafetensors(tensors, metadata);
    const back = readSafetensors(file);
    assert.deepEqual(back.metadata, metadata);
    assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(tensors).sort());
    for (const [k, t] of Object.entries(tensors)) {
      assert.equal(back.tensors[k]!.dtype, 'F32');
      assert.deepEqual(back.tensors[k]!.shape, t.shape, k);
      assert.deepEqual(bits(back.tensors[k]!.data), bits(t.data), k);
    }
  }
});

test('safetensors: the writer pads the header with spaces to 8 bytes and lays tensors out sorted and contiguous', () => {
  const tensors = randomTensors(7);
  const file = writeSafetensors(tensors, { arch: 'x' });
  const n = Number(new DataView(file.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(file.subarray(8, 8 + n));
  assert.match(text, /^\{.*\} *$/);
  const header = JSON.parse(text) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const keys = Object.keys(header);
  assert.equal(keys[0], '__metadata__');
  const names = keys.slice(1);
  assert.deepEqual(names, [...names].sort((a, b) => (a < b ? -1 : 1)));
  let offset = 0;
  for (const name of names) {
    const h = header[name]!;
    assert.equal(h.dtype, 'F32');
    assert.deepEqual(h.data_offsets, [offset, offset + 4 * tensors[name]!.data.length]);
    offset = h.data_offsets[1];
  }
  assert.equal(file.length, 8 + n + offset);
  // no metadata: no __metadata__ entry
  const plain = writeSafetensors({ a: { shape: [1], data: Float32Array.of(1) } });
  const plainLen = Number(new DataView(plain.buffer).getBigUint64(0, true));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(plain.subarray(8, 8 + plainLen))), { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
});

test('safetensors: F16, BF16 and F64 decode to the hand-computed float32 values, at unaligned offsets too', () => {
  const bytes: number[] = [];
  const u16 = (v: number): void => void bytes.push(v & 0xff, v >> 8);
  u16(0x3c00); // 'o' [1] F16: 1
  for (const h of [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x3555, 0x7c00, 0xfc00, 0x8000, 0x7e00]) u16(h); // 'h'
  const f = new DataView(new ArrayBuffer(8));
  f.setFloat32(0, 1.5, true);
  f.setFloat32(4, -7, true);
  bytes.push(...new Uint8Array(f.buffer)); // 'f' [2] F32 at data offset 22 (not a multiple of 4)
  for (const b of [0x3f80, 0xc049, 0x7f80, 0x0001]) u16(b); // 'b' [2,2] BF16
  const d = new DataView(new ArrayBuffer(32));
  [0.1, -2.5, 1e300, 5e-324].forEach((v, i) => d.setFloat64(8 * i, v, true));
  bytes.push(...new Uint8Array(d.buffer)); // 'd' [4] F64
  const header = {
    o: { dtype: 'F16', shape: [1], data_offsets: [0, 2] },
    h: { dtype: 'F16', shape: [10], data_offsets: [2, 22] },
    f: { dtype: 'F32', shape: [2], data_offsets: [22, 30] },
    b: { dtype: 'BF16', shape: [2, 2], data_offsets: [30, 38] },
    d: { dtype: 'F64', shape: [4], data_offsets: [38, 70] },
  };
  const { tensors } = readSafetensors(stFile(header, bytes));
  assert.deepEqual([...tensors.o!.data], [1]);
  assert.deepEqual([...tensors.h!.data], [1, -2, 65504, 2 ** -24, 2 ** -14, 0.333251953125, Infinity, -Infinity, -0, NaN]);
  assert.ok(Object.is(tensors.h!.data[8], -0));
  assert.equal(tensors.h!.dtype, 'F16');
  assert.deepEqual([...tensors.f!.data], [1.5, -7]);
  assert.deepEqual(tensors.b!.shape, [2, 2]);
  assert.deepEqual([...tensors.b!.data], [1, -3.140625, Infinity, 2 ** -133]);
  assert.deepEqual([...tensors.d!.data], [0.10000000149011612, -2.5, Infinity, 0]);
  // the table-free half decoder agrees on every bit pattern with the definition sign·2^(e-15)·1.f
  for (let h = 0; h < 0x10000; h += 97) {
    const e = (h >> 10) & 31, m = h & 1023, s = h >> 15 ? -1 : 1;
    const want = e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * (m / 1024) * 2 ** -14 : s * (1 + m / 1024) * 2 ** (e - 15);
    assert.ok(Object.is(halfToFloat(h), want), `half 0x${h.toString(16)}`);
  }
});

test('safetensors: each malformed file gives a one-line error naming the file and the problem', () => {
  const F = "^mvsr: bad\\.safetensors: ";
  const ok = (dtype = 'F32', shape: unknown = [2], offsets: unknown = [0, 8]) => ({ a: { dtype, shape, data_offsets: offsets } });
  const data8 = new Array(8).fill(0);
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(4), 'not a safetensors file: 4 bytes, shorter than the 8-byte header length$'],
    [stFile(ok(), data8, 1000), 'safetensors header length 1000 is beyond the end of the file \\(70 bytes\\); the file is truncated or not safetensors$'],
    [stFile('{"a": nope}', data8), 'safetensors header is not valid UTF-8 JSON$'],
    [stFile('[1, 2]'), 'safetensors header is not a JSON object$'],
    [stFile('"text"'), 'safetensors header is not a JSON object$'],
    [stFile(ok('I64'), data8), "tensor 'a': dtype I64 is not supported; mvsr reads F32, F16, BF16 and F64 weights$"],
    [stFile(ok('Q7'), data8), `tensor 'a': unknown dtype "Q7"$`],
    [stFile(ok('F32', [2, -1]), data8), "tensor 'a': shape \\[2,-1\\] is not a list of non-negative integers$"],
    [stFile(ok('F32', '2'), data8), `tensor 'a': shape "2" is not a list of non-negative integers$`],
    [stFile(ok('F32', [2], [8, 0]), data8), "tensor 'a': data_offsets \\[8,0\\] is not \\[begin, end\\] with 0 <= begin <= end$"],
    [stFile(ok('F32', [2], null), data8), "tensor 'a': data_offsets null is not \\[begin, end\\]"],
    [stFile(ok('F32', [2], [0, 16]), data8), "tensor 'a': data_offsets \\[0, 16\\] lie outside the data section \\(8 bytes\\)$"],
    [stFile(ok('F32', [3]), data8), "tensor 'a': 8 bytes of data do not match shape \\[3\\] of F32 \\(12 bytes\\)$"],
    [stFile({ a: ok().a, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data8), "tensor 'b': data_offsets \\[4, 8\\] overlap tensor 'a'$"],
    [stFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Array(12).fill(0)), "tensor 'b': data_offsets \\[8, 12\\] leave a hole at bytes 4..8 of the data section$"],
    [stFile(ok(), new Array(12).fill(0)), 'data section has 4 bytes after the last tensor; the header does not describe the file$'],
    [stFile({ ...ok(), __metadata__: { arch: 'x', scale: 4 } }, data8), "safetensors metadata 'scale' is not a string \\(the format allows only string values\\)$"],
    [stFile({ ...ok(), __metadata__: ['x'] }, data8), 'safetensors __metadata__ is not a JSON object$'],
    [stFile({ a: 3 }, data8), "tensor 'a': header entry is not an object$"],
  ];
  for (const [file, problem] of cases) throwsOneLine(() => readSafetensors(file, 'bad.safetensors'), new RegExp(F + problem));
  // the default source name
  throwsOneLine(() => readSafetensors(new Uint8Array(3)), /^mvsr: <memory>: not a safetensors file/);
});

test('safetensors: the writer refuses bad tensors and non-string metadata', () => {
  assert.throws(() => writeSafetensors({ a: { shape: [2, 2], data: new Float32Array(3) } }), /tensor 'a' has 3 values, shape \[2, 2\] needs 4/);
  assert.throws(() => writeSafetensors({ a: { shape: [1.5], data: new Float32Array(1) } }), /tensor 'a' has a bad shape/);
  assert.throws(() => writeSafetensors({}, { scale: 4 as unknown as string }), /metadata 'scale' must be a string/);
  assert.throws(() => writeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } }), /'__metadata__' cannot be a tensor name/);
});

test('model metadata: arch, JSON args, scale and provenance survive encode/decode; bad values are named', () => {
  const m = { arch: 'ETDS', args: { num_feat: 16, num_block: 5 }, scale: 4, provenance: { source: 'ETDS_M5C16_x4.pth', created: '2024-01-01T00:00:00Z' } };
  const meta = encodeModelMetadata(m);
  assert.deepEqual(meta, { source: 'ETDS_M5C16_x4.pth', created: '2024-01-01T00:00:00Z', arch: 'ETDS', args: '{"num_feat":16,"num_block":5}', scale: '4' });
  assert.deepEqual(decodeModelMetadata(meta), m);
  throwsOneLine(() => decodeModelMetadata({ arch: 'X', scale: 'four' }, 'm.safetensors'), /^mvsr: m\.safetensors: metadata 'scale' must be a positive integer, got 'four'$/);
  throwsOneLine(() => decodeModelMetadata({ arch: 'X', args: '{', scale: '2' }, 'm.safetensors'), /^mvsr: m\.safetensors: metadata 'args' is not valid JSON$/);
  throwsOneLine(() => decodeModelMetadata({ scale: '2' }, 'm.safetensors'), /^mvsr: m\.safetensors: metadata has no 'arch'/);
});

// ---------------------------------------------------------------------------------------------
// zip: an independent writer (STORED or DEFLATE, optional zip64) and CRC for the tests


test('zip: STORED and DEFLATE entries, zip64 fields, comments; CRC-32 matches the bitwise reference', () => {
  const big = enc.encode('super-resolution '.repeat(500));
  const files = [
    { name: 'a/data.pkl', data: enc.encode('hello') },
    { name: 'a/data/0', data: big, deflate: true },
    { name: 'a/ü.txt', data: new Uint8Array(0) },
  ];
  for (const zip64 of [false, true]) {
    const m = readZip(makeZip(files, { zip64, comment: 'made by the test' }), 't.zip', nodeInflateRaw);
    assert.deepEqual([...m.keys()], files.map((f) => f.name));
    for (const f of files) assert.deepEqual(m.get(f.name), f.data);
  }
  throwsOneLine(() => readZip(makeZip(files), 't.zip'), /^mvsr: t\.zip: zip: entry 'a\/data\/0' is DEFLATE-compressed and no inflate function was given/);
  const corrupt = makeZip([{ name: 'x', data: enc.encode('abc'), crc: crcRef(enc.encode('abd')) }]);
  throwsOneLine(() => readZip(corrupt, 't.zip'), /^mvsr: t\.zip: zip: entry 'x' fails its CRC-32 check; the file is corrupt$/);
  const whole = makeZip(files, { zip64: true });
  throwsOneLine(() => readZip(whole.subarray(0, 100), 't.zip'), /^mvsr: t\.zip: not a zip archive \(no end of central directory record\)/);
  throwsOneLine(() => readZip(whole.subarray(200), 't.zip'), /^mvsr: t\.zip: /);
  // the reference against the check value of the CRC catalogue, then the reader's table-driven CRC against it
  assert.equal(crcRef(enc.encode('123456789')), 0xcbf43926);
  const rng = mulberry32(5);
  const noise = Uint8Array.from({ length: 4099 }, () => Math.floor(rng() * 256));
  assert.equal(crc32(noise), crcRef(noise));
  assert.equal(crc32(new Uint8Array(0)), 0);
});

// ---------------------------------------------------------------------------------------------
// pickles assembled by hand, opcode by opcode

/** Storage '0': 12 floats n + 0.5; storage '1': five chosen floats. */
const STORAGE0 = Array.from({ length: 12 }, (_, n) => n + 0.5);
const STORAGE1 = [-1, 0.25, 3.0517578125e-5, -1024, 7];

const TWO_TENSORS: [string, PthTensor][] = [
  // a transposed view: shape [3, 2], strides [1, 3]
  ['conv.weight', { key: '0', numel: 12, shape: [3, 2], stride: [1, 3] }],
  // a contiguous slice at storage offset 2
  ['conv.bias', { key: '1', numel: 5, shape: [3], stride: [1], offset: 2 }],
];

test('pth: an OrderedDict of a strided view and an offset slice loads with exact values', () => {
  const pkl = new PickleWriter().proto().stateDict(TWO_TENSORS).stop().bytes();
  const storages = { '0': f32Bytes(STORAGE0), '1': f32Bytes(STORAGE1) };
  for (const opts of [{}, { deflate: true }, { zip64: true }]) {
    const sd = readPth(makePth(pkl, storages, opts), 'two.pth', nodeInflateRaw);
    assert.deepEqual(Object.keys(sd), ['conv.weight', 'conv.bias']);
    assert.deepEqual(sd['conv.weight']!.shape, [3, 2]);
    // element [i][j] = storage[i*1 + j*3]
    assert.deepEqual([...sd['conv.weight']!.data], [0.5, 3.5, 1.5, 4.5, 2.5, 5.5]);
    assert.deepEqual(sd['conv.bias']!.shape, [3]);
    assert.deepEqual([...sd['conv.bias']!.data], [3.0517578125e-5, -1024, 7]);
    assert.equal(sd['conv.weight']!.dtype, 'F32');
  }
});

test('pth: 3-d strided views, shared storages, Parameters, half/bfloat16/double/long storages', () => {
  const entries: [string, PthTensor][] = [
    // [i][j][k] = s0[1 + 1*i + 4*j + 2*k]
    ['v3', { key: '0', numel: 12, shape: [2, 2, 2], stride: [1, 4, 2], offset: 1 }],
    ['same.storage', { key: '0', numel: 12, shape: [2, 2], stride: [2, 1], offset: 7 }],
    ['broadcast', { key: '1', numel: 5, shape: [2, 3], stride: [0, 1], offset: 1 }],
    ['param', { key: '1', numel: 5, shape: [5], stride: [1], parameter: true }],
    ['half', { key: 'h', numel: 3, shape: [3], stride: [1], storageClass: 'HalfStorage' }],
    ['bf16', { key: 'b', numel: 2, shape: [1, 2], stride: [2, 1], storageClass: 'BFloat16Storage' }],
    ['double', { key: 'd', numel: 2, shape: [2], stride: [1], storageClass: 'DoubleStorage' }],
    ['bn.num_batches_tracked', { key: 'l', numel: 1, shape: [], stride: [], storageClass: 'LongStorage' }],
  ];
  const pkl = new PickleWriter().proto().stateDict(entries).stop().bytes();
  const d = new DataView(new ArrayBuffer(16));
  d.setFloat64(0, 1 / 3, true);
  d.setFloat64(8, -1e-50, true);
  const storages = {
    '0': f32Bytes(STORAGE0),
    '1': f32Bytes(STORAGE1),
    h: Uint8Array.of(0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c), // 1, -2, inf
    b: Uint8Array.of(0x80, 0x3f, 0x49, 0xc0), // 1, -3.140625
    d: new Uint8Array(d.buffer),
    l: Uint8Array.of(0x39, 0x30, 0, 0, 0, 0, 0, 0), // 12345
  };
  const sd = readPth(makePth(pkl, storages), 'mixed.pth');
  assert.deepEqual([...sd.v3!.data], [1.5, 3.5, 5.5, 7.5, 2.5, 4.5, 6.5, 8.5]);
  assert.deepEqual([...sd['same.storage']!.data], [7.5, 8.5, 9.5, 10.5]);
  assert.deepEqual([...sd.broadcast!.data], [0.25, 3.0517578125e-5, -1024, 0.25, 3.0517578125e-5, -1024]);
  assert.deepEqual([...sd.param!.data], STORAGE1);
  assert.deepEqual([...sd.half!.data], [1, -2, Infinity]);
  assert.equal(sd.half!.dtype, 'F16');
  assert.deepEqual([...sd.bf16!.data], [1, -3.140625]);
  assert.deepEqual([...sd.double!.data], [Math.fround(1 / 3), -0]);
  assert.deepEqual(sd['bn.num_batches_tracked'], { dtype: 'I64', shape: [], data: Float32Array.of(12345) });
});

test('pth: views reaching past their storage, and missing or short storages, are errors', () => {
  const pkl = (t: PthTensor) => new PickleWriter().proto().stateDict([['w', t]]).stop().bytes();
  const s0 = { '0': f32Bytes(STORAGE0) };
  throwsOneLine(
    () => readPth(makePth(pkl({ key: '0', numel: 12, shape: [3, 2], stride: [1, 11] }), s0), 'v.pth'),
    /^mvsr: v\.pth: tensor 'w': shape \[3, 2\], strides \[1, 11\] at offset 0 reach element 13 of a storage of 12$/,
  );
  throwsOneLine(
    () => readPth(makePth(pkl({ key: '0', numel: 12, shape: [4, 3], stride: [3, 1], offset: 1 }), s0), 'v.pth'),
    /^mvsr: v\.pth: tensor 'w': shape \[4, 3\], strides \[3, 1\] at offset 1 reach element 12 of a storage of 12$/,
  );
  throwsOneLine(() => readPth(makePth(pkl({ key: '9', numel: 1, shape: [1], stride: [1] }), s0), 'v.pth'), /^mvsr: v\.pth: storage '9' is missing from the archive \(archive\/data\/9\)$/);
  throwsOneLine(
    () => readPth(makePth(pkl({ key: '0', numel: 13, shape: [1], stride: [1] }), s0), 'v.pth'),
    /^mvsr: v\.pth: storage '0' has 48 bytes, 13 elements of torch\.FloatStorage need 52$/,
  );
});

const MARKER = path.join(tmpdir(), `mvsr-pickle-was-executed-${process.pid}`);

test('pth: os.system via GLOBAL+REDUCE or STACK_GLOBAL, and other dangerous globals, are refused and nothing runs', () => {
  rmSync(MARKER, { force: true });
  const refused = (module: string, name: string) =>
    new RegExp(`^mvsr: evil\\.pth: refusing to load: the checkpoint references the global ${module.replace(/\./g, '\\.')}\\.${name}, which mvsr does not allow \\(only tensors and ordered dicts\\)$`);
  const viaGlobal = new PickleWriter().proto().global('os', 'system').str(`touch ${MARKER}`).tuple1().reduce().stop().bytes();
  const viaStack = new PickleWriter().proto(4).shortStr('os').shortStr('system').op(0x93).shortStr(`touch ${MARKER}`).tuple1().reduce().stop().bytes();
  // the payload hidden as a dict value after a valid tensor
  const hidden = new PickleWriter().proto().orderedDict().mark().str('w').tensor(TWO_TENSORS[1]![1]).str('x')
    .global('os', 'system').str(`touch ${MARKER}`).tuple1().reduce().setitems().stop().bytes();
  const storages = { '1': f32Bytes(STORAGE1) };
  for (const pkl of [viaGlobal, viaStack, hidden]) throwsOneLine(() => readPth(makePth(pkl, storages), 'evil.pth'), refused('os', 'system'));
  for (const [m, n] of [['builtins', 'eval'], ['__builtin__', 'getattr'], ['torch', 'load'], ['collections', 'defaultdict'], ['torch._utils', '_rebuild_qtensor'], ['numpy.core.multiarray', '_reconstruct']]) {
    const pkl = new PickleWriter().proto().global(m!, n!).emptyTuple().reduce().stop().bytes();
    throwsOneLine(() => readPth(makePth(pkl, {}), 'evil.pth'), refused(m!, n!));
  }
  // a global named with control characters (a terminal escape, a carriage return) is shown escaped, on one line
  const ansi = new PickleWriter().proto(4).shortStr('os\x1b[2J').shortStr('sys\rtem').op(0x93).emptyTuple().reduce().stop().bytes();
  const e = throwsOneLine(() => readPth(makePth(ansi, {}), 'evil.pth'), /the global os\\x1b\[2J\.sys\\x0dtem, which mvsr does not allow/);
  assert.doesNotMatch(e.message, /[\x00-\x1f\x7f]/, 'no raw control character reaches the message');
  assert.equal(existsSync(MARKER), false, 'the pickle payload must not have run');
});

test('pth: zip bombs (a claimed size DEFLATE cannot reach, a real bomb under a small claim, a claim over 2 GiB), unsafe entry names, a nested zip and BUILD on a forbidden object are refused in one line, quickly', () => {
  const zeros = new Uint8Array(50 << 20); // 50 MiB of zeros: about 50 KB deflated
  const cases: [Uint8Array, RegExp][] = [
    [makeZip([{ name: 'archive/data.pkl', data: new Uint8Array(1024), deflate: true, size: 2 ** 34 }], { zip64: true }), /claims 17179869184 bytes, more than mvsr reads from one entry/],
    [makeZip([{ name: 'archive/data.pkl', data: new Uint8Array(4096), deflate: true, size: 2 ** 30 }]), /claims 1073741824 bytes from \d+ compressed, more than DEFLATE can expand to/],
    [makeZip([{ name: 'archive/data.pkl', data: zeros, deflate: true, size: 1000 }]), /entry 'archive\/data\.pkl': DEFLATE data is corrupt|inflates to/],
    [makeZip([{ name: '../../etc/cron.d/x', data: enc.encode('x') }]), /entry '\.\.\/\.\.\/etc\/cron\.d\/x' has an unsafe name/],
    [makeZip([{ name: '/etc/passwd', data: enc.encode('x') }]), /entry '\/etc\/passwd' has an unsafe name/],
    [makeZip([{ name: 'archive/data.pkl', data: makePth(new PickleWriter().proto().orderedDict().stop().bytes(), {}) }]), /pickle/],
    [makePth(new PickleWriter().proto().global('torch._utils', '_rebuild_tensor_v2').mark().tuple().build().stop().bytes(), {}), /refusing to load|not allowed/],
    [makePth(new PickleWriter().proto().orderedDict().global('os', 'system').build().stop().bytes(), {}), /refusing to load: the checkpoint references the global os\.system/],
  ];
  for (const [i, [bytes, re]] of cases.entries()) {
    const t0 = performance.now();
    throwsOneLine(() => readPth(bytes, 'bad.pth', nodeInflateRaw), re);
    assert.ok(performance.now() - t0 < 2000, `case ${i}: refused in ${(performance.now() - t0).toFixed(0)} ms`);
  }
});

test('pickle: opcodes outside the torch.save set are refused with their name and offset', () => {
  const cases: [number[], RegExp][] = [
    [[0x80, 2, 0x69, ...enc.encode('os\nsystem\n'), 0x2e], /opcode INST \(0x69\) at offset 2 is not supported/],
    [[0x80, 2, 0x28, 0x6f, 0x2e], /opcode OBJ \(0x6f\) at offset 3 is not supported/],
    [[0x80, 2, 0x82, 1, 0x2e], /opcode EXT1 \(0x82\) at offset 2 is not supported/],
    [[0x80, 2, 0x4e, 0x32, 0x2e], /opcode DUP \(0x32\) at offset 3 is not supported/],
    [[0x80, 2, 0xff], /opcode unknown \(0xff\) at offset 2 is not supported/],
    [[0x80, 2, 0x4e], /pickle: the pickle ends without STOP; the file is truncated \(at offset 3\)$/],
    [[0x80, 2, 0x58, 9, 0, 0, 0, 0x61], /pickle: the pickle ends in the middle of an opcode; the file is truncated \(opcode BINUNICODE at offset 2\)/],
    [[0x80, 2, 0x68, 3, 0x2e], /pickle: memo slot 3 is empty \(opcode BINGET at offset 2\)/],
    [[0x80, 2, 0x4e, 0x4e, 0x52, 0x2e], /pickle: cannot call None \(opcode REDUCE at offset 4\)/],
  ];
  for (const [b, re] of cases) {
    const e = throwsOneLine(() => unpickle(Uint8Array.from(b), { source: 'p.pkl' }), re);
    assert.match(e.message, /^mvsr: p\.pkl: pickle: /);
  }
  // plain data comes through: lists, tuples, dicts, ints of every width, floats, strings, bools
  const w = new PickleWriter().proto(4).op(0x95, 0, 0, 0, 0, 0, 0, 0, 0).emptyDict().put(0).mark()
    .shortStr('ints').mark().int(7).int(300).int(-5).op(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1).op(0x8a, 1, 0xff).op(0x6c)
    .shortStr('misc').op(0x5d, 0x94).op(0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0).op(0x61).op(0x88, 0x89, 0x4e).op(0x87).op(0x61).op(0x8d, 2, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x69).op(0x61)
    .op(0x75).stop();
  const v = unpickle(w.bytes()) as Map<string, unknown>;
  assert.deepEqual(v.get('ints'), [7, 300, -5, 2n ** 64n, -1]);
  assert.deepEqual(v.get('misc'), [1.5, [true, false, null], 'hi']);
  // NEWOBJ builds an OrderedDict, nothing else; BUILD only sets state on dicts
  const od = new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().op(0x81).str('k').int(1).setitem().stop().bytes();
  assert.deepEqual(unpickle(od), new Map([['k', 1]]));
  const storageNew = new PickleWriter().proto().global('torch', 'FloatStorage').emptyTuple().op(0x81).stop().bytes();
  throwsOneLine(() => unpickle(storageNew, { source: 'p.pkl' }), /^mvsr: p\.pkl: pickle: NEWOBJ of torch\.FloatStorage is not allowed \(opcode NEWOBJ at offset 23\)$/);
  const buildList = new PickleWriter().proto().op(0x5d).emptyDict().build().stop().bytes();
  throwsOneLine(() => unpickle(buildList, { source: 'p.pkl' }), /^mvsr: p\.pkl: pickle: BUILD of a list with a dict is not allowed \(opcode BUILD at offset 4\)$/);
  const callStorage = new PickleWriter().proto().global('torch', 'HalfStorage').emptyTuple().reduce().stop().bytes();
  throwsOneLine(() => unpickle(callStorage, { source: 'p.pkl' }), /^mvsr: p\.pkl: pickle: cannot call torch\.HalfStorage \(opcode REDUCE at offset 22\)$/);
});

test('pth: wrappers {params, params_ema, state_dict}, the key option, and the DataParallel module. prefix', () => {
  const t = (k: string, offset: number): PthTensor => ({ key: k, numel: 5, shape: [1], stride: [1], offset });
  const storages = { '1': f32Bytes(STORAGE1) };
  const wrapped = new PickleWriter().proto().emptyDict().mark()
    .str('params').stateDict([['w', t('1', 0)]])
    .str('params_ema').stateDict([['w', t('1', 1)]])
    .str('iter').int(5000)
    .setitems().stop().bytes();
  const file = makePth(wrapped, storages);
  assert.deepEqual([...readPth(file, 'w.pth').w!.data], [0.25], 'default: params_ema');
  assert.deepEqual([...readPth(file, 'w.pth', undefined, { key: 'params' }).w!.data], [-1]);
  assert.deepEqual([...readPth(file, 'w.pth', undefined, { key: 'params_ema' }).w!.data], [0.25]);
  throwsOneLine(() => readPth(file, 'w.pth', undefined, { key: 'state_dict' }), /^mvsr: w\.pth: the checkpoint has no 'state_dict' dict \(top-level keys: params, params_ema, iter\)$/);

  const onlyParams = new PickleWriter().proto().emptyDict().str('params').stateDict([['module.a', t('1', 2)], ['module.b', t('1', 3)]]).setitem().stop().bytes();
  assert.deepEqual(Object.keys(readPth(makePth(onlyParams, storages), 'p.pth')), ['a', 'b']);
  const sdWrap = new PickleWriter().proto().emptyDict().mark().str('epoch').int(3).str('state_dict').stateDict([['x', t('1', 4)]]).setitems().stop().bytes();
  assert.deepEqual([...readPth(makePth(sdWrap, storages), 's.pth').x!.data], [7]);
  // not every key has the prefix: keys stay as they are
  const mixed = new PickleWriter().proto().stateDict([['module.a', t('1', 0)], ['b', t('1', 1)]]).stop().bytes();
  assert.deepEqual(Object.keys(readPth(makePth(mixed, storages), 'm.pth')), ['module.a', 'b']);
  // a dict that is neither a state dict nor a known wrapper
  const other = new PickleWriter().proto().emptyDict().mark().str('model').stateDict([['x', t('1', 0)]]).str('epoch').int(3).setitems().stop().bytes();
  throwsOneLine(() => readPth(makePth(other, storages), 'o.pth'), /^mvsr: o\.pth: entry 'model' is a dict, not a tensor, and there is no params_ema\/params\/state_dict\/net entry \(top-level keys: model, epoch\)$/);
});

test('pth: tar-format torch.save files, plain pickles, TorchScript archives and non-checkpoints get a clear message', () => {
  const tar = new Uint8Array(1024);
  tar.set(enc.encode('storages'), 0);
  tar.set(enc.encode('ustar\x0000'), 257);
  throwsOneLine(() => readPth(tar, 'old.pth'), /^mvsr: old\.pth: this is PyTorch's legacy tar torch\.save format, which mvsr does not read; re-save it with PyTorch 1\.6 or newer: torch\.save\(torch\.load\(old\), new\)$/);
  // only the magic number: the protocol pickle is missing
  const magicOnly = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e);
  throwsOneLine(() => readPth(magicOnly, 'old.pth'), /^mvsr: old\.pth: pickle: the pickle ends without STOP; the file is truncated \(at offset 15\)$/);
  const plain = new PickleWriter().proto().emptyDict().stop().bytes();
  throwsOneLine(() => readPth(plain, 'p.pth'), /^mvsr: p\.pth: not a PyTorch checkpoint: a pickle stream that does not start with torch\.save's legacy magic number$/);
  const ts = makeZip([{ name: 'm/code/m.py', data: new Uint8Array(1) }, { name: 'm/constants.pkl', data: new Uint8Array(1) }]);
  throwsOneLine(() => readPth(ts, 'ts.pt'), /^mvsr: ts\.pt: this is a TorchScript archive/);
  throwsOneLine(() => readPth(enc.encode('hello world'), 'x.pth'), /^mvsr: x\.pth: not a PyTorch checkpoint \(neither a zip archive nor a legacy torch\.save pickle stream\)/);
  throwsOneLine(() => readPth(makeZip([{ name: 'readme.txt', data: enc.encode('hi') }]), 'z.pth'), /^mvsr: z\.pth: the zip archive has no <archive>\/data\.pkl/);
});

// ---------------------------------------------------------------------------------------------
// legacy (pre-1.6) torch.save files: a stream of pickles, then the raw storages

/** A legacy file holding the state dict `entries`, followed by `storages`. */
function legacyFile(entries: [string, PthTensor][], storages: LegacyStorage[], opts: LegacyOptions = {}): Uint8Array {
  return makeLegacyPth(new PickleWriter({ legacy: true }).proto().stateDict(entries).stop().bytes(), storages, opts);
}

test('pickle: unpickleAt reads consecutive pickles and reports where each ends; offsets in errors are within the stream', () => {
  const a = new PickleWriter().proto().int(1001).stop().bytes();
  const b = new PickleWriter().proto().emptyList().mark().str('k').appends().stop().bytes();
  const stream = Uint8Array.from([...a, ...b, 0x80, 2, 0x4e]);
  assert.deepEqual(unpickleAt(stream, 0), { value: 1001, end: a.length });
  assert.deepEqual(unpickleAt(stream, a.length), { value: ['k'], end: a.length + b.length });
  throwsOneLine(() => unpickleAt(stream, a.length + b.length, { source: 's.pth' }), new RegExp(`^mvsr: s\\.pth: pickle: the pickle ends without STOP; the file is truncated \\(at offset ${stream.length}\\)$`));
  // unpickle still reads the first pickle of a longer stream
  assert.equal(unpickle(stream), 1001);
});

test('pth legacy: strided views, offsets, storage views, shared storages, Parameters, half/bfloat16/double/long storages round-trip exactly', () => {
  const entries: [string, PthTensor][] = [
    ['conv.weight', { key: '0', numel: 12, shape: [3, 2], stride: [1, 3] }], // transposed
    ['conv.bias', { key: '1', numel: 5, shape: [3], stride: [1], offset: 2 }], // a slice at storage offset 2
    // a storage view (elements 4..9 of storage '0'), and the tensor at offset 1 inside it
    ['view', { key: '0', numel: 12, shape: [2, 2], stride: [3, 1], offset: 1, view: { key: 'v', offset: 4, numel: 6 } }],
    ['view.again', { key: '0', numel: 12, shape: [6], stride: [1], view: { key: 'v', offset: 4, numel: 6 } }],
    ['param', { key: '1', numel: 5, shape: [5], stride: [1], parameter: true }],
    ['half', { key: 'h', numel: 3, shape: [3], stride: [1], storageClass: 'HalfStorage' }],
    ['bf16', { key: 'b', numel: 2, shape: [1, 2], stride: [2, 1], storageClass: 'BFloat16Storage' }],
    ['double', { key: 'd', numel: 2, shape: [2], stride: [1], storageClass: 'DoubleStorage' }],
    ['bn.num_batches_tracked', { key: 'l', numel: 1, shape: [], stride: [], storageClass: 'LongStorage' }],
  ];
  const d = new DataView(new ArrayBuffer(16));
  d.setFloat64(0, 1 / 3, true);
  d.setFloat64(8, -1e-50, true);
  // records in an order other than the tensors': the key list decides
  const storages: LegacyStorage[] = [
    { key: 'l', data: Uint8Array.of(0x39, 0x30, 0, 0, 0, 0, 0, 0), itemBytes: 8 }, // 12345
    { key: '0', data: f32Bytes(STORAGE0) },
    { key: 'd', data: new Uint8Array(d.buffer), itemBytes: 8 },
    { key: '1', data: f32Bytes(STORAGE1) },
    { key: 'h', data: Uint8Array.of(0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c), itemBytes: 2 }, // 1, -2, inf
    { key: 'b', data: Uint8Array.of(0x80, 0x3f, 0x49, 0xc0), itemBytes: 2 }, // 1, -3.140625
  ];
  const sd = readPth(legacyFile(entries, storages), 'legacy.pth');
  assert.deepEqual(Object.keys(sd), entries.map(([k]) => k));
  assert.deepEqual(sd['conv.weight']!.shape, [3, 2]);
  assert.deepEqual([...sd['conv.weight']!.data], [0.5, 3.5, 1.5, 4.5, 2.5, 5.5]);
  assert.deepEqual([...sd['conv.bias']!.data], [3.0517578125e-5, -1024, 7]);
  // view[i][j] = storage0[4 + 1 + 3i + j]
  assert.deepEqual([...sd.view!.data], [5.5, 6.5, 8.5, 9.5]);
  assert.deepEqual([...sd['view.again']!.data], [4.5, 5.5, 6.5, 7.5, 8.5, 9.5]);
  assert.deepEqual([...sd.param!.data], STORAGE1);
  assert.deepEqual([...sd.half!.data], [1, -2, Infinity]);
  assert.equal(sd.half!.dtype, 'F16');
  assert.deepEqual([...sd.bf16!.data], [1, -3.140625]);
  assert.deepEqual([...sd.double!.data], [Math.fround(1 / 3), -0]);
  assert.equal(sd.double!.dtype, 'F64');
  assert.deepEqual(sd['bn.num_batches_tracked'], { dtype: 'I64', shape: [], data: Float32Array.of(12345) });
  // the same tensors (less the views, which only the legacy layout has) read alike from a zip
  const plain = entries.filter(([k]) => !k.startsWith('view'));
  const zip = readPth(makePth(new PickleWriter().proto().stateDict(plain).stop().bytes(), Object.fromEntries(storages.map((s) => [s.key, s.data]))), 'zip.pth');
  for (const [k] of plain) assert.deepEqual(zip[k], sd[k], k);
  // an empty state dict: no storages at all
  assert.deepEqual(readPth(legacyFile([], []), 'empty.pth'), {});
});

test('pth: strides on size-1 dimensions are ignored (depthwise weights (48,1,3,3) with strides (9,1,3,1)), in both layouts', () => {
  const iota = (n: number) => Array.from({ length: n }, (_, i) => i);
  const entries: [string, PthTensor][] = [
    ['dw', { key: '0', numel: 18, shape: [2, 1, 3, 3], stride: [9, 1, 3, 1] }],
    ['pw', { key: '1', numel: 8, shape: [4, 2, 1, 1], stride: [2, 1, 2, 2] }],
    // transposed, with junk on the size-1 dimension: [i][0][j] = s[i + 3j]
    ['tt', { key: '2', numel: 6, shape: [3, 1, 2], stride: [1, 99, 3] }],
    ['huge', { key: '2', numel: 6, shape: [6, 1], stride: [1, 2 ** 40] }],
  ];
  const data = { '0': f32Bytes(iota(18)), '1': f32Bytes(iota(8)), '2': f32Bytes(iota(6)) };
  const legacy = legacyFile(entries, Object.entries(data).map(([key, d]) => ({ key, data: d })));
  const zip = makePth(new PickleWriter().proto().stateDict(entries).stop().bytes(), data);
  for (const [name, file] of [['legacy', legacy], ['zip', zip]] as const) {
    const sd = readPth(file, `${name}.pth`);
    assert.deepEqual([...sd.dw!.data], iota(18), name);
    assert.deepEqual(sd.dw!.shape, [2, 1, 3, 3]);
    assert.deepEqual([...sd.pw!.data], iota(8), name);
    assert.deepEqual([...sd.tt!.data], [0, 3, 1, 4, 2, 5], name);
    assert.deepEqual([...sd.huge!.data], iota(6), name);
  }
});

/** A MobileSR-style wrapper: net (the weights), optimizer (Adam state: nested dicts of tensors, floats, tuples), epoch. */
function netOptimizerEpoch(w: PickleWriter, extra?: (w: PickleWriter) => void): Uint8Array {
  const t = (key: string, numel: number): PthTensor => ({ key, numel, shape: [numel], stride: [1] });
  w.proto().emptyDict().mark();
  extra?.(w);
  w.str('net').stateDict([['head.weight', t('0', 12)], ['head.bias', t('1', 5)]]);
  w.str('optimizer').emptyDict().mark().str('state').emptyDict().mark();
  for (const [i, key] of [[0, 'a'], [1, 'b']] as const) {
    w.int(i).emptyDict().mark().str('step').int(700).str('exp_avg').tensor(t(key, 3)).str('exp_avg_sq').tensor(t(key, 3)).setitems();
  }
  w.setitems().str('param_groups').emptyList().mark().emptyDict().mark()
    .str('lr').float(5e-4).str('betas').float(0.9).float(0.999).op(0x86).str('eps').float(1e-8).str('weight_decay').int(0).str('amsgrad').bool(false)
    .str('params').emptyList().mark().int(0).int(1).appends()
    .setitems().appends().setitems();
  w.str('epoch').int(7).setitems().stop();
  return w.bytes();
}

test('pth: a net/optimizer/epoch wrapper (MobileSR) loads net, reading but not using the optimizer state, in both layouts', () => {
  const storages: LegacyStorage[] = [
    { key: '0', data: f32Bytes(STORAGE0) },
    { key: '1', data: f32Bytes(STORAGE1) },
    { key: 'a', data: f32Bytes([1, 2, 3]) },
    { key: 'b', data: f32Bytes([4, 5, 6]) },
  ];
  const zipStorages = Object.fromEntries(storages.map((s) => [s.key, s.data]));
  const files: [string, Uint8Array][] = [
    ['legacy', makeLegacyPth(netOptimizerEpoch(new PickleWriter({ legacy: true })), storages)],
    ['zip', makePth(netOptimizerEpoch(new PickleWriter()), zipStorages)],
  ];
  for (const [name, file] of files) {
    for (const opts of [{}, { key: 'net' as const }]) {
      const sd = readPth(file, `${name}.pth`, undefined, opts);
      assert.deepEqual(Object.keys(sd), ['head.weight', 'head.bias'], name);
      assert.deepEqual([...sd['head.bias']!.data], STORAGE1, name);
    }
    throwsOneLine(() => readPth(file, `${name}.pth`, undefined, { key: 'params' }), new RegExp(`^mvsr: ${name}\\.pth: the checkpoint has no 'params' dict \\(top-level keys: net, optimizer, epoch\\)$`));
  }
  // net comes last in the default order: params wins when both are there
  const both = netOptimizerEpoch(new PickleWriter(), (w) => w.str('params').stateDict([['p', { key: 'a', numel: 3, shape: [3], stride: [1] }]]));
  assert.deepEqual(Object.keys(readPth(makePth(both, zipStorages), 'both.pth')), ['p']);
});

test('pth legacy: corrupt or hostile files are refused in one line naming the file', () => {
  const entries: [string, PthTensor][] = [
    ['w', { key: '0', numel: 6, shape: [2, 3], stride: [3, 1] }],
    ['b', { key: '1', numel: 3, shape: [3], stride: [1] }],
  ];
  const storages: LegacyStorage[] = [{ key: '0', data: f32Bytes([1, 2, 3, 4, 5, 6]) }, { key: '1', data: f32Bytes([7, 8, 9]) }];
  const good = legacyFile(entries, storages);
  assert.deepEqual([...readPth(good, 'bad.pth').b!.data], [7, 8, 9]);
  const withView = (view: { key: string; offset: number; numel: number }, shape = [3]): [string, PthTensor][] => [['w', { key: '0', numel: 6, shape, stride: shape.length === 2 ? [3, 1] : [1], view }]];
  const F = '^mvsr: bad\\.pth: ';
  const cases: [string, Uint8Array, string][] = [
    ['wrong magic', legacyFile(entries, storages, { magic: 0x1950a86a20f9469cfc6dn }), "not a PyTorch checkpoint: a pickle stream that does not start with torch\\.save's legacy magic number$"],
    ['protocol', legacyFile(entries, storages, { protocol: 1000 }), 'legacy torch\\.save protocol version 1000 is not supported \\(mvsr reads 1001\\)$'],
    ['big endian', legacyFile(entries, storages, { littleEndian: false }), 'legacy sys_info: little_endian is False; mvsr reads only little-endian legacy files$'],
    ['count != numel', legacyFile(entries, [{ ...storages[0]!, count: 2n ** 40n }, storages[1]!]), "storage '0': the file records 1099511627776 elements, its persistent id 6$"],
    ['negative count', legacyFile(entries, [{ ...storages[0]!, count: -1n }, storages[1]!]), "storage '0': the file records -1 elements, its persistent id 6$"],
    ['truncated data', good.subarray(0, good.length - 4), "storage '1': 3 elements of torch\\.FloatStorage need 12 bytes, only 8 remain; the file is truncated$"],
    ['no records', legacyFile(entries, [], { keys: ['0', '1'] }), "storage '0': the file ends before its element count; the file is truncated$"],
    ['key missing from the list', legacyFile(entries, storages, { keys: ['0'] }), "storage '1' is used by a tensor but missing from the storage key list$"],
    ['key no tensor uses', legacyFile(entries, storages, { keys: ['0', '1', '2'] }), "storage '2' is in the storage key list, but no tensor of the checkpoint uses it$"],
    ['key listed twice', legacyFile(entries, storages, { keys: ['0', '1', '0'] }), "storage '0' is listed twice in the storage key list$"],
    ['trailing bytes', legacyFile(entries, storages, { trailing: Uint8Array.of(1, 2, 3) }), '3 bytes follow the last storage; the file is corrupt$'],
    ['zip-style persistent id', makeLegacyPth(new PickleWriter().proto().stateDict(entries).stop().bytes(), storages), "pickle: unexpected persistent id \\(a tuple of 5\\); a legacy file's are \\('storage', type, key, location, numel, view\\)$"],
    ['one key, two types', legacyFile([entries[0]!, ['h', { key: '0', numel: 3, shape: [3], stride: [1], storageClass: 'HalfStorage' }]], storages.slice(0, 1)), "storage '0' is named as 6 x torch\\.FloatStorage and as 3 x torch\\.HalfStorage$"],
    ['view past its root', legacyFile(withView({ key: 'v', offset: 4, numel: 6 }), storages.slice(0, 1)), "storage '0': view 'v' \\(offset 4, size 6\\) does not lie within its 6 elements$"],
    ['one view, two windows', legacyFile([...withView({ key: 'v', offset: 0, numel: 3 }), ['x', { key: '0', numel: 6, shape: [3], stride: [1], view: { key: 'v', offset: 1, numel: 3 } }]], storages.slice(0, 1)), "storage view 'v' is named with two different windows$"],
    ['tensor past its view', legacyFile(withView({ key: 'v', offset: 3, numel: 3 }, [2, 3]), storages.slice(0, 1)), "tensor 'w': shape \\[2, 3\\], strides \\[3, 1\\] at offset 0 reach element 5 of a storage of 3$"],
  ];
  for (const [what, file, re] of cases) {
    const e = throwsOneLine(() => readPth(file, 'bad.pth'), new RegExp(F + re));
    assert.ok(e.message.length < 300, `${what}: ${e.message}`);
  }
  // every truncation of a good file is refused in one line
  for (let n = 0; n < good.length; n++) throwsOneLine(() => readPth(good.subarray(0, n), 'bad.pth'), /^mvsr: bad\.pth: /);
});

test('pth legacy: an element count of 2^40 in the persistent id and the record is refused before allocating', () => {
  const entries: [string, PthTensor][] = [['w', { key: '0', numel: 2 ** 40, shape: [2 ** 40], stride: [1] }]];
  const file = legacyFile(entries, [{ key: '0', data: f32Bytes([1, 2, 3, 4, 5, 6]), count: 2n ** 40n }]);
  const ab0 = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  throwsOneLine(() => readPth(file, 'huge.pth'), /^mvsr: huge\.pth: storage '0': 1099511627776 elements of torch\.FloatStorage need 4398046511104 bytes, only 24 remain; the file is truncated$/);
  assert.ok(performance.now() - t0 < 500);
  assert.ok(process.memoryUsage().arrayBuffers - ab0 < 16 << 20);
});

test('pth legacy: os.system in the object pickle is refused and nothing runs', () => {
  rmSync(MARKER, { force: true });
  const evil = new PickleWriter({ legacy: true }).proto().orderedDict().mark().str('w').tensor({ key: '1', numel: 5, shape: [5], stride: [1] }).str('x')
    .global('os', 'system').str(`touch ${MARKER}`).tuple1().reduce().setitems().stop().bytes();
  const file = makeLegacyPth(evil, [{ key: '1', data: f32Bytes(STORAGE1) }]);
  throwsOneLine(() => readPth(file, 'evil.pth'), /^mvsr: evil\.pth: refusing to load: the checkpoint references the global os\.system, which mvsr does not allow \(only tensors and ordered dicts\)$/);
  // the magic number slot too
  const evilMagic = Uint8Array.from([...new PickleWriter().proto().global('os', 'system').str(`touch ${MARKER}`).tuple1().reduce().stop().bytes(), ...file.subarray(15)]);
  throwsOneLine(() => readPth(evilMagic, 'evil.pth'), /^mvsr: evil\.pth: refusing to load: the checkpoint references the global os\.system/);
  assert.equal(existsSync(MARKER), false, 'the pickle payload must not have run');
});

// ---------------------------------------------------------------------------------------------
// files on disk

test('files: save is atomic and round-trips; errors name the file in one line with no deep stack', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mvsr-io-'));
  try {
    const file = path.join(dir, 'model.safetensors');
    const tensors = randomTensors(11);
    const meta = encodeModelMetadata({ arch: 'ESPCN', args: { scale: 4 }, scale: 4, provenance: { source: 'test' } });
    saveSafetensorsFile(file, tensors, meta);
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    const back = loadWeightsFile(file);
    assert.equal(back.format, 'safetensors');
    assert.deepEqual(back.metadata, meta);
    for (const [k, t] of Object.entries(tensors)) assert.deepEqual(bits(back.tensors[k]!.data), bits(t.data));

    // a failing save leaves the previous file untouched and no temporary behind
    const before = readFileSync(file);
    throwsOneLine(() => saveSafetensorsFile(file, { a: { shape: [3], data: new Float32Array(2) } }), /^mvsr: .*model\.safetensors: tensor 'a' has 2 values, shape \[3\] needs 3$/);
    throwsOneLine(() => saveSafetensorsFile(path.join(dir, 'missing', 'x.safetensors'), tensors), /^mvsr: .*x\.safetensors: cannot write: the directory does not exist$/);
    assert.deepEqual(readFileSync(file), before);
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);

    const pth = path.join(dir, 'ck.pth');
    writeFileSync(pth, makePth(new PickleWriter().proto().stateDict(TWO_TENSORS).stop().bytes(), { '0': f32Bytes(STORAGE0), '1': f32Bytes(STORAGE1) }, { deflate: true }));
    const p = loadWeightsFile(pth);
    assert.equal(p.format, 'pth');
    assert.deepEqual([...p.tensors['conv.bias']!.data], [3.0517578125e-5, -1024, 7]);

    const missing = path.join(dir, 'nope.pth');
    throwsOneLine(() => loadWeightsFile(missing), new RegExp(`^mvsr: ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: file not found$`));
    throwsOneLine(() => loadWeightsFile(path.join(dir, 'w.onnx')), /^mvsr: .*w\.onnx: unknown weights file extension '\.onnx'; mvsr reads \.safetensors, \.pth and \.pt$/);
    const truncated = path.join(dir, 'cut.pth');
    writeFileSync(truncated, readFileSync(pth).subarray(0, 300));
    const e = throwsOneLine(() => loadWeightsFile(truncated), /^mvsr: .*cut\.pth: /);
    const frames = (e.stack ?? '').split('\n').slice(1).join('\n');
    assert.doesNotMatch(frames, /src[\\/]io[\\/](zip|pickle|pth|safetensors|weights)/, 'the stack starts at the caller');
    // content and extension disagree: say so, unless the caller forces the format
    const renamed = path.join(dir, 'really-safetensors.pth');
    writeFileSync(renamed, readFileSync(file));
    throwsOneLine(() => loadWeightsFile(renamed), /^mvsr: .*really-safetensors\.pth: the extension says pth but the content is safetensors; rename the file or pass format: 'safetensors'$/);
    assert.equal(loadWeightsFile(renamed, { format: 'safetensors' }).metadata.arch, 'ESPCN');
    assert.equal(detectWeightsFormat(readFileSync(pth)), 'pth');
    assert.equal(detectWeightsFormat(enc.encode('GIF89a........')), 'unknown');
    writeFileSync(path.join(dir, 'bad.safetensors'), stFile('[1]'));
    throwsOneLine(() => loadWeightsFile(path.join(dir, 'bad.safetensors')), /^mvsr: .*bad\.safetensors: safetensors header is not a JSON object$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// the official ETDS checkpoints

const CKPT = ZOO_DIR;
const SKIP = needData('checkpoints/etds-official');

test('official ETDS checkpoints: all 49 load, with finite float32 tensors only', { skip: SKIP }, (t) => {
  const files = readdirSync(CKPT, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'configs')
    .flatMap((d) => readdirSync(path.join(CKPT, d.name)).filter((f) => f.endsWith('.pth')).map((f) => path.join(CKPT, d.name, f)))
    .sort();
  assert.equal(files.length, 49);
  for (const file of files) {
    const { tensors, format } = loadWeightsFile(file);
    assert.equal(format, 'pth');
    let params = 0;
    for (const [k, w] of Object.entries(tensors)) {
      assert.equal(w.dtype, 'F32', `${file}: ${k}`);
      assert.equal(w.data.length, w.shape.reduce((a, b) => a * b, 1));
      for (const v of w.data) if (!Number.isFinite(v)) assert.fail(`${file}: ${k} has a non-finite value`);
      params += w.data.length;
    }
    t.diagnostic(`${path.basename(file)}: ${Object.keys(tensors).length} tensors, ${params} parameters`);
  }
  // ESPCN x4 by its architecture: conv 3→64 5x5, 64→32 3x3, 32→3·4² 3x3, with biases
  const espcn = loadWeightsFile(path.join(CKPT, 'ESPCN', 'ESPCN_x4.pth')).tensors;
  assert.deepEqual(
    Object.entries(espcn).map(([k, v]) => [k, v.shape]),
    [['conv1.weight', [64, 3, 5, 5]], ['conv1.bias', [64]], ['conv2.weight', [32, 64, 3, 3]], ['conv2.bias', [32]], ['conv3.weight', [48, 32, 3, 3]], ['conv3.bias', [48]]],
  );
  assert.equal(Object.values(espcn).reduce((a, v) => a + v.data.length, 0), 64 * 3 * 25 + 64 + 32 * 64 * 9 + 32 + 48 * 32 * 9 + 48);
});

// ---------------------------------------------------------------------------------------------
// official efficient-SR checkpoints: legacy files (IMDN, RFDN, the NTIRE 2022 IMDN baseline) and
// zip files with strides on size-1 dimensions (BSRN-S, team18) or a net/optimizer wrapper (MobileSR)

const ESR_DIRS = ['imdn-official', 'rfdn-official', 'ntire2022-esr-official', 'bsrn-official'];
const SKIP_ESR = ESR_DIRS.map((d) => needData(`checkpoints/${d}`)).find((s) => s !== false) ?? false;

/** Parameter counts from shared/data/MANIFEST.md, "Efficient-SR checkpoints". */
const ESR_PARAMS: [string, 'legacy' | 'zip', number][] = [
  ['imdn-official/IMDN_x2.pth', 'legacy', 694_404],
  ['imdn-official/IMDN_x3.pth', 'legacy', 703_059],
  ['imdn-official/IMDN_x4.pth', 'legacy', 715_176],
  ['imdn-official/IMDN_AS.pth', 'legacy', 752_104],
  ['imdn-official/model_RTC.pth', 'legacy', 20_190],
  ['imdn-official/model_RTE.pth', 'legacy', 89_748],
  ['rfdn-official/RFDN_AIM.pth', 'legacy', 433_448],
  ['ntire2022-esr-official/imdn_baseline.pth', 'legacy', 893_936],
  ['bsrn-official/net_g_BSRN-S.pth', 'zip', 156_288],
  ['ntire2022-esr-official/team18_bsrn.pth', 'zip', 156_288],
  ['ntire2022-esr-official/team20_mobilesr.pth', 'zip', 175_883],
];

test('official efficient-SR checkpoints: the legacy and zip files load with the MANIFEST parameter counts', { skip: SKIP_ESR }, (t) => {
  for (const [rel, layout, params] of ESR_PARAMS) {
    const file = path.join(DATA_DIR, 'checkpoints', rel);
    const bytes = readFileSync(file);
    assert.equal(bytes[0] === 0x50 ? 'zip' : 'legacy', layout, rel);
    const { tensors } = loadWeightsFile(file);
    let n = 0;
    for (const [k, w] of Object.entries(tensors)) {
      assert.equal(w.dtype, 'F32', `${rel}: ${k}`);
      assert.ok(!k.startsWith('module.'), `${rel}: ${k}`);
      assert.equal(w.data.length, w.shape.reduce((a, b) => a * b, 1));
      for (const v of w.data) if (!Number.isFinite(v)) assert.fail(`${rel}: ${k} has a non-finite value`);
      n += w.data.length;
    }
    assert.equal(n, params, rel);
    t.diagnostic(`${rel} (${layout}): ${Object.keys(tensors).length} tensors, ${n} parameters`);
  }
});

test('official BSRN-S: a depthwise weight recorded with strides (9,1,3,1) loads as its storage in order', { skip: SKIP_ESR }, () => {
  const file = path.join(DATA_DIR, 'checkpoints', 'bsrn-official', 'net_g_BSRN-S.pth');
  const entries = readZip(readFileSync(file), file, nodeInflateRaw);
  const pkl = [...entries.keys()].find((k) => k.endsWith('/data.pkl'))!;
  // the raw pickle, storages left as their keys, to see what the file records
  const root = unpickle(entries.get(pkl)!, { persistentLoad: (pid) => (pid as readonly PickleValue[])[2]! }) as Map<string, Map<string, PickledTensor>>;
  const rec = root.get('params')!.get('fea_conv.dw.weight')!;
  assert.deepEqual([rec.shape, rec.stride], [[48, 1, 3, 3], [9, 1, 3, 1]]);
  const raw = entries.get(`${pkl.slice(0, -'data.pkl'.length)}data/${rec.storage as string}`)!;
  const want = new Float32Array(Uint8Array.from(raw.subarray(rec.offset * 4, (rec.offset + 432) * 4)).buffer);
  assert.deepEqual(loadWeightsFile(file).tensors['fea_conv.dw.weight']!.data, want);
});
