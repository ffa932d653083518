// The same engine code in headless Chromium: threads over Web Workers when the page is
// cross-origin isolated, one thread otherwise, and the same numbers as in Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initEngine, Tensor, ops, autograd, nn, Adam } from '../src/index.js';
import { assertClose } from './helpers.js';

const CHROMIUM = process.env.MVSR_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..'); // dist/test -> repo root
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.map': 'application/json' };

function serve(isolated: boolean): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path.includes('..')) { res.writeHead(400).end(); return; }
    try {
      const body = await readFile(join(ROOT, path));
      const headers: Record<string, string> = { 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream' };
      if (isolated) {
        headers['Cross-Origin-Opener-Policy'] = 'same-origin';
        headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      }
      res.writeHead(200, headers).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
  }));
}

interface PageResult { threads: number; simd: string; isolated: boolean; conv: number[]; losses: number[]; error?: string }

async function runPage(isolated: boolean): Promise<PageResult>;
async function runPage<T>(isolated: boolean, page: string): Promise<T>;
async function runPage(isolated: boolean, file = 'engine.html'): Promise<unknown> {
  const { chromium } = await import('playwright-core');
  const { server, url } = await serve(isolated);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/test/browser/${file}?threads=2`);
    await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout: 60_000 });
    return await page.evaluate(() => (window as unknown as { __result: unknown }).__result);
  } finally {
    await browser.close();
    server.close();
  }
}

/** The same computation as the page, in Node. */
async function runNode(): Promise<{ conv: Float32Array; losses: number[] }> {
  await initEngine({ threads: 2 });
  const x = Tensor.from([1, 9, 11, 5], Array.from({ length: 9 * 11 * 5 }, (_, i) => Math.sin(i)));
  const w = Tensor.from([7, 5, 3, 3], Array.from({ length: 7 * 5 * 9 }, (_, i) => Math.cos(i) * 0.3));
  const y = ops.conv2d(x, w, null, { act: { kind: 'relu' } });
  nn.manualSeed(1);
  const net = new nn.Sequential(new nn.Conv2d(3, 8, 3), new nn.ReLU(), new nn.Conv2d(8, 12, 3), new nn.PixelShuffle(2));
  const opt = new Adam(net.parameters(), { lr: 1e-2 });
  const lr = autograd.leaf(Tensor.from([2, 6, 6, 3], Array.from({ length: 216 }, (_, i) => (i % 7) / 7)));
  const hr = autograd.leaf(Tensor.from([2, 12, 12, 3], Array.from({ length: 864 }, (_, i) => (i % 5) / 5)));
  const losses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const loss = autograd.l1Loss(net.forward(lr), hr);
    losses.push(loss.value.data[0]!);
    autograd.backward(loss);
    autograd.clearTape();
    opt.update();
    opt.zeroGrad();
  }
  return { conv: y.toArray(), losses };
}

const skip = existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set MVSR_CHROMIUM)`;

test('browser: cross-origin isolated page runs on 2 threads and matches Node', { skip, timeout: 120_000 }, async () => {
  const page = await runPage(true);
  assert.equal(page.error, undefined, page.error ?? '');
  assert.equal(page.isolated, true);
  assert.equal(page.threads, 2, 'Web Workers over shared memory');
  process.stderr.write(`  Chromium: ${page.threads} threads, ${page.simd} kernels\n`);
  const node = await runNode();
  assertClose(page.conv, node.conv, 1e-6, 1e-6, 'conv2d browser vs Node');
  assertClose(page.losses, node.losses, 1e-6, 1e-6, 'training losses browser vs Node');
  assert.ok(page.losses[4]! < page.losses[0]!, 'loss decreases');
});

test('browser: without cross-origin isolation the engine falls back to one thread', { skip, timeout: 120_000 }, async () => {
  const page = await runPage(false);
  assert.equal(page.error, undefined, page.error ?? '');
  assert.equal(page.isolated, false);
  assert.equal(page.threads, 1);
  const node = await runNode();
  assertClose(page.conv, node.conv, 1e-6, 1e-6, 'conv2d browser (1 thread) vs Node');
});

interface Int8Result { threads: number; simd: string; isolated: boolean; cases: Record<string, { fused: number; shape: number[]; bytes: number[] }>; error?: string }

test('browser: the int8 runtime\'s WASM kernels (fused epilogues, 2 threads under cross-origin isolation) give the same bytes in Chromium as in Node, and as the JavaScript reference loops', { skip, timeout: 180_000 }, async () => {
  // the same module (test/browser/int8-case.mjs, on the built dist/) in the page and here
  const { int8Case, INT8_CASES } = (await import(join(ROOT, 'test', 'browser', 'int8-case.mjs'))) as { int8Case: (o?: { threads?: number; kernels?: boolean }) => Promise<Int8Result>; INT8_CASES: [string, unknown][] };
  const page = await runPage<Int8Result>(true, 'int8.html');
  assert.equal(page.error, undefined, page.error ?? '');
  assert.equal(page.isolated, true);
  assert.equal(page.threads, 2);
  const node = await int8Case({ threads: 2 }), ref = await int8Case({ threads: 2, kernels: false });
  for (const [arch] of INT8_CASES) {
    const b = page.cases[arch]!, n = node.cases[arch]!, r = ref.cases[arch]!;
    assert.ok(b.fused > 0, `${arch}: the page ran the WASM kernels with fused epilogues`);
    assert.equal(r.fused, 0, `${arch}: the reference ran no kernels`);
    assert.deepEqual(b.shape, r.shape);
    assert.deepEqual(b.bytes, n.bytes, `${arch}: Chromium vs Node`);
    assert.deepEqual(b.bytes, r.bytes, `${arch}: Chromium's kernels vs the JavaScript reference`);
  }
});
