// Fuzzing of mvsr's file parsers (see test/fuzz/ and `npm run fuzz`): headers that claim huge
// sizes are refused before allocating, every crash the fuzzer found stays fixed (inputs under
// test/fuzz/regressions/<target>/), and a short deterministic run of every target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { TARGETS, ROOT, pngChunk, join } from './fuzz/targets.js';
import { runFuzz } from './fuzz/runner.js';
import { crashReason } from './fuzz/classify.js';
import { PNG_SIGNATURE } from '../src/io/png.js';
import { decodePng, decodeImage } from '../src/io/image.node.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { readY4MStream } from '../src/io/y4m.js';
import { openY4M } from '../src/io/y4m.node.js';

const enc = new TextEncoder();


/** Run `fn`, expecting a one-line `mvsr:` error matching `re`, quickly and without a big allocation. */
async function refusedCheaply(fn: () => unknown, re: RegExp): Promise<void> {
  const ab0 = process.memoryUsage().arrayBuffers;
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - t0;
  assert.ok(err instanceof Error, 'expected an error');
  assert.match(err.message, /^mvsr: [^\n]*$/);
  assert.match(err.message, re);
  assert.ok(ms < 1000, `refused in ${ms.toFixed(0)} ms`);
  const ab = (process.memoryUsage().arrayBuffers - ab0) / 2 ** 20, rss = (process.memoryUsage().rss - rss0) / 2 ** 20;
  assert.ok(ab < 64 && rss < 128, `refusing used ${ab.toFixed(0)} MB of ArrayBuffers, ${rss.toFixed(0)} MB rss`);
}

test('a 100,000 x 100,000 PNG header is refused before inflating or allocating', async () => {
  for (const [depth, colorType] of [[8, 2], [16, 6], [1, 0]] as const) {
    const ihdr = new Uint8Array(13);
    new DataView(ihdr.buffer).setUint32(0, 100_000);
    new DataView(ihdr.buffer).setUint32(4, 100_000);
    ihdr.set([depth, colorType, 0, 0, 0], 8);
    const idat = zlib.deflateSync(new Uint8Array(1 << 16)); // 64 kB of rows, nowhere near enough
    const png = join([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array(0))]);
    await refusedCheaply(() => decodePng(png), /too large to decode|IDAT data ends early/);
    await refusedCheaply(() => decodeImage(png), /too large to decode|IDAT data ends early/);
  }
  // a size that fits the sample limit but not the data: refused by the DEFLATE-ratio bound
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, 20_000);
  new DataView(ihdr.buffer).setUint32(4, 20_000);
  ihdr.set([8, 0, 0, 0, 0], 8);
  const png = join([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', zlib.deflateSync(new Uint8Array(100))), pngChunk('IEND', new Uint8Array(0))]);
  await refusedCheaply(() => decodePng(png), /^mvsr: truncated PNG: IDAT data ends early \(\d+ compressed bytes cannot hold the 400020000 bytes a 20000x20000 image needs\)$/);
});

test('a safetensors tensor claiming 2^40 bytes is refused before allocating', async () => {
  const header = enc.encode(JSON.stringify({ huge: { dtype: 'F32', shape: [2 ** 38], data_offsets: [0, 2 ** 40] } }));
  const file = new Uint8Array(8 + header.length + 64);
  new DataView(file.buffer).setBigUint64(0, BigInt(header.length), true);
  file.set(header, 8);
  await refusedCheaply(() => readSafetensors(file, 'huge.safetensors'), /^mvsr: huge\.safetensors: tensor 'huge': data_offsets \[0, 1099511627776\] lie outside the data section \(64 bytes\)$/);
  // a header length of 2^40 too
  const len = new Uint8Array(16);
  new DataView(len.buffer).setBigUint64(0, 2n ** 40n, true);
  await refusedCheaply(() => readSafetensors(len, 'len.safetensors'), /header length 1099511627776 is beyond the end of the file/);
});

test('a Y4M frame larger than the file is refused with little memory', async () => {
  // 16384x16384 4:4:4 is 805 MB a frame, under the frame limit: the file holds 100 bytes of it
  const small = join([enc.encode('YUV4MPEG2 W16384 H16384 F25:1 C444\nFRAME\n'), new Uint8Array(100)]);
  async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
    yield b;
  }
  await refusedCheaply(async () => {
    const s = await readY4MStream(once(small), { name: 'big.y4m' });
    for await (const _ of s.frames);
  }, /^mvsr: big\.y4m: frame 1: truncated Y4M: 100 of 805306368 picture bytes/);
  // the same through a file
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvsr-fuzz-'));
  try {
    const file = path.join(dir, 'big.y4m');
    fs.writeFileSync(file, small);
    await refusedCheaply(async () => {
      const y = await openY4M(file);
      for await (const _ of y.frames());
    }, /frame 1: truncated Y4M: 100 of 805306368 picture bytes/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // a frame beyond any typed array (16777216 x 16777216) is refused at the header
  const huge = enc.encode('YUV4MPEG2 W16777216 H16777216 C420jpeg\nFRAME\n');
  await refusedCheaply(async () => {
    const s = await readY4MStream(once(huge), { name: 'huge.y4m' });
    for await (const _ of s.frames);
  }, /^mvsr: huge\.y4m: Y4M frames of 16777216x16777216 \(C420jpeg, \d+ bytes each\) are larger than the 1073741824-byte limit$/);
});

/** What each committed crash input must now be refused with. */
const REGRESSIONS: Record<string, RegExp> = {
  'config/unresolved-alias.yml': /^mvsr: fuzz\.yml: invalid YAML: Unresolved alias/,
  'graphfile/null-node.bin': /^mvsr: fuzz\.safetensors: not a valid model graph: graph \?: node 0 is not an object$/,
  'graphfile/weight-name-proto.bin': /^mvsr: fuzz\.safetensors: not a valid model graph: .*refers to weight '__proto__', which the graph does not hold$/,
  'graphfile/weight-scales-not-array.bin': /^mvsr: fuzz\.safetensors: not a valid model graph: .*needs 4 positive per-channel scales in the quant section$/,
  // a control character in the first chunk's name made a two-line error
  'webp/fourcc-newline.webp': /^mvsr: corrupt WebP: unknown first chunk "V\\n8L"$/,
  'jpeg/huge-header-hang.jpg': /^mvsr: unsupported JPEG: image of 61700x51903 is too large to decode/,
  'onnx/graph-attr-without-graph.onnx': /^mvsr: readOnnxModel: graph attribute 'strides' holds no graph$/,
  'pth/broadcast-1e12.pth': /^mvsr: fuzz\.pth: tensor 'x': shape \[1000000, 1000000\] has 1000000000000 elements over a storage of 6; broadcast or overlapping views are limited to 16777216 elements per file$/,
  'pth/stride0-hang.pth': /^mvsr: fuzz\.pth: tensor 'x': shape \[2147483647, 1\] has 2147483647 elements over a storage of 6; broadcast or overlapping views are limited to 16777216 elements per file$/,
  'y4m/huge-frame.y4m': /^mvsr: fuzz\.y4m: Y4M frames of 444x16777216 .* are larger than the 1073741824-byte limit$/,
};

test('a WebP whose header claims a huge canvas is refused before libwebp allocates it', async () => {
  const seed = fs.readFileSync(path.join(ROOT, 'test', 'fuzz', 'corpus', 'webp', 'lossy-alpha-sample.webp'));
  const big = Uint8Array.from(seed);
  big.set([0xff, 0xff, 0x3f], 24); // VP8X canvas width - 1 = 4194303
  big.set([0xff, 0x3f, 0x00], 27); // height - 1 = 16383
  await refusedCheaply(() => decodeImage(big), /^mvsr: unsupported WebP: image of 4194304x16384 is too large to decode \(over 67108864 pixels\)$/);
  const lossless = Uint8Array.from(fs.readFileSync(path.join(ROOT, 'test', 'fuzz', 'corpus', 'webp', 'lossless-rgb.webp')));
  lossless.set([0xff, 0xff, 0xff, 0xff], 21); // VP8L 16384 x 16384
  await refusedCheaply(() => decodeImage(lossless), /^mvsr: unsupported WebP: image of 16384x16384 is too large to decode/);
});

test('every crash the fuzzer found is refused with a one-line mvsr error', async () => {
  const dir = path.join(ROOT, 'test', 'fuzz', 'regressions');
  const found = fs.readdirSync(dir).flatMap((t) => fs.readdirSync(path.join(dir, t)).map((f) => `${t}/${f}`)).sort();
  assert.deepEqual(found, Object.keys(REGRESSIONS).sort(), 'each regression input has an expected message');
  for (const [name, re] of Object.entries(REGRESSIONS)) {
    const target = TARGETS[name.split('/')[0]!]!;
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, name)));
    const t0 = performance.now();
    let err: unknown;
    try {
      await target.run(bytes);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof Error, `${name}: expected an error`);
    assert.equal(crashReason(err, target.accept), null, `${name}: ${err.message}`);
    assert.match(err.message, re, name);
    assert.ok(performance.now() - t0 < 1000, `${name} took ${(performance.now() - t0).toFixed(0)} ms`);
  }
});

test('the harness reports hangs (and goes on after them) and non-mvsr errors', async () => {
  const r = await runFuzz({ target: 'selftest', seconds: 20, seed: 1, maxInputs: 400, timeoutMs: 300 });
  assert.equal(r.execs, 400, 'every input ran, the hung ones included');
  const reasons = r.crashes.map((c) => c.reason).sort();
  assert.deepEqual(reasons, ['TypeError: boom', 'hang: input ran over 300 ms']);
  const hang = r.crashes.find((c) => c.reason.startsWith('hang'))!;
  assert.equal(hang.input.length, 41, 'the hung input is regenerated from (seed, index)');
  assert.equal(crashReason(new Error('mvsr: a\nb')), 'multi-line mvsr error: "mvsr: a\\nb"');
  assert.match(crashReason(new Error('mvsr: x.pth: corrupt or unreadable weights: Cannot read properties of undefined'))!, /^internal error wrapped/);
  assert.equal(crashReason(new Error('mvsr: x.pth: bad')), null);
});

/** Inputs per target for the run inside `npm test`: about 2 s each on one core. */
const SHORT_RUN: Record<string, number> = { safetensors: 50_000, png: 40_000, y4m: 50_000, pth: 25_000, jpeg: 4_000, config: 2_500, onnx: 30_000, graphfile: 20_000, webp: 40_000 };

test('short fuzz run of every target (fixed seed)', async (t) => {
  assert.deepEqual(Object.keys(SHORT_RUN).sort(), Object.keys(TARGETS).sort());
  for (const [target, maxInputs] of Object.entries(SHORT_RUN)) {
    await t.test(target, async () => {
      const r = await runFuzz({ target, seconds: 6, seed: 20261203, maxInputs });
      const report = r.crashes.map((c) => `input #${c.index} (${c.input.length} bytes, x${c.count}): ${c.reason}`).join('\n');
      assert.equal(r.crashes.length, 0, `${target}: ${report}`);
      assert.ok(r.execs > 0);
    });
  }
});
