// The web app (mvsr serve) in headless Debian Chromium: the server serves only its own files and
// the shipped models, with cross-origin isolation; the player plays the sample and an uploaded
// image on WebGPU (SwiftShader) and WASM with what it shows equal to mvsr's WASM engine; bad
// files get a message and the page keeps working; a browser without WebGPU falls back; the
// benchmark page completes in its quick mode. The network is blocked except the local server,
// and the console must stay free of errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { serve, webRoot } from '../src/api/serve.node.js';
import { listShippedModels } from '../src/api/shipped.node.js';
import { defaultDemoModel } from '../src/api/demo.node.js';
import { encodePng } from '../src/io/image.node.js';
import { createImage } from '../src/io/image.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { spawnSync } from 'node:child_process';
import { Tensor } from '../src/tensor/tensor.js';
import { initEngine } from '../src/tensor/engine.js';
import { createBackend } from '../src/runtime/backend.node.js';
import { resolveGraph } from '../src/api/models.node.js';
import { renderSampleFrame } from '../src/data/synthetic.js';
import { calculatePsnr } from '../src/metrics/psnr.js';

const CHROMIUM = process.env.MVSR_CHROMIUM ?? '/usr/bin/chromium';
const skip = !existsSync(join(webRoot(), 'index.html')) ? 'the web app is not built (npm run build)'
  : !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (apt-get install chromium)`
    : listShippedModels().length === 0 ? 'no shipped models in weights/' : false;
if (skip) console.log(`# skipping the web app tests: ${skip}`);
const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
if (!hasFfmpeg) console.log('# no ffmpeg: the saved video is not decoded (apt-get install ffmpeg)');
await initEngine({ threads: 1 });

/** A raw GET (no URL normalisation, unlike fetch): status and headers. */
function rawGet(url: string, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

test('mvsr serve: its own files with cross-origin isolation, the model list and files; 404 for traversal and absolute paths, 405 for other methods, 431 for oversized requests, loopback by default', { skip }, async () => {
  const { server, url } = await serve({ port: 0 });
  try {
    const index = await rawGet(url, '/');
    assert.equal(index.status, 200);
    assert.equal(index.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(index.headers['cross-origin-embedder-policy'], 'require-corp');
    assert.match(index.body, /mvsr player/);
    const list = JSON.parse((await rawGet(url, '/models/index.json')).body) as { name: string; url: string; teachers: string[]; default: boolean }[];
    assert.deepEqual(list.map((m) => m.name), listShippedModels().map((m) => m.name));
    // the app starts with the model mvsr demo runs (one default, the same in both)
    assert.deepEqual(list.filter((m) => m.default).map((m) => m.name), [defaultDemoModel()]);
    // a distilled model names its teachers, oldest first, over its whole lineage (the player shows
    // them in the model list): etds-t-kd-vapsr-x4 was distilled from the official ETDS-L, then
    // fine-tuned with VapSR as teacher (README, "Distillation"); its file's own run names only VapSR
    const teachers = (name: string) => list.find((m) => m.name === name)?.teachers;
    assert.deepEqual(teachers('espcn-kd-x4'), ['VapSR_X4.pth']);
    assert.deepEqual(teachers('etds-t-kd-vapsr-x4'), ['ETDS_M7C48_x4.pth', 'VapSR_X4.pth']);
    assert.deepEqual(teachers('espcn-x4'), []);
    assert.equal((await rawGet(url, list[0]!.url, 'HEAD')).status, 200);
    for (const p of ['/../package.json', '/%2e%2e/package.json', '/js/../../package.json', '/js/%2E%2E/%2E%2E/package.json', '/..%2fpackage.json',
      '/etc/passwd', '//etc/passwd', '/%2Fetc%2Fpasswd', '/models/../../package.json', '/models/nope.safetensors', '/..\\package.json', '/%00', '/js/%ZZ']) {
      assert.equal((await rawGet(url, p)).status, 404, `${p} must be a 404`);
    }
    assert.equal((await rawGet(url, '/', 'POST')).status, 405);
    // request size: a request line and headers over Node's 16 KiB limit are refused (431)
    assert.equal((await rawGet(url, `/${'a'.repeat(20_000)}`)).status, 431);
    // it listens on the loopback interface only, unless --host says otherwise
    assert.equal((server.address() as { address: string }).address, '127.0.0.1');
  } finally {
    server.close();
  }
});

interface Session {
  page: import('playwright-core').Page;
  errors: string[];
  blocked: string[];
  close(): Promise<void>;
}

/** page.waitForFunction, failing with what the page says (its status and backend lines). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function waitFor(page: import('playwright-core').Page, fn: (a: any) => unknown, arg: unknown, timeout: number, what: string): Promise<void> {
  try {
    await page.waitForFunction(fn, arg, { timeout });
  } catch (e) {
    const say = await page.evaluate(() => `${document.getElementById('status')?.textContent} | ${document.getElementById('backend-used')?.textContent}`).catch(() => '?');
    throw new Error(`${what}: ${(e as Error).message.split('\n')[0]} (page: ${say})`);
  }
}

async function open(path: string, webgpu = true): Promise<Session> {
  const { chromium } = await import('playwright-core');
  const { server, url } = await serve({ port: 0 });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...(webgpu ? ['--enable-unsafe-webgpu'] : ['--disable-gpu'])],
  });
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
  const errors: string[] = [], blocked: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  // the network: only the local server
  await page.route('**/*', (r) => (r.request().url().startsWith(url) ? r.continue() : (blocked.push(r.request().url()), r.abort())));
  await page.goto(url + path.replace(/^\//, ''));
  return { page, errors, blocked, close: async () => { await browser.close(); server.close(); } };
}

type Check = { backend: string; equal: number; maxLevels: number; width: number; height: number };

test('the player: the sample plays on WebGPU and WASM, an image upscales, what it shows equals the WASM engine, bad files get a message', { skip }, async () => {
  const s = await open('/');
  const page = s.page;
  const dir = mkdtempSync(join(tmpdir(), 'mvsr-webapp-'));
  try {
    await waitFor(page, () => (window as unknown as { __player?: { state: { model: unknown } } }).__player?.state.model, null, 60_000, 'the first model');
    // the model list names every teacher of a model's lineage, as `mvsr models` does
    const label = await page.evaluate(() => [...(document.getElementById('model') as HTMLSelectElement).options].find((o) => o.value === 'etds-t-kd-vapsr-x4')?.textContent);
    assert.match(label ?? '', /distilled from ETDS_M7C48_x4\.pth, then VapSR_X4\.pth\)$/);
    await page.selectOption('#lrh', '90');
    const frames = () => page.evaluate(() => (window as unknown as { __player: { state: { frames: number } } }).__player.state.frames);
    const f0 = await frames();
    await waitFor(page, (n) => (window as unknown as { __player: { state: { frames: number } } }).__player.state.frames >= n + 2, f0, 120_000, 'sample frames');
    const check = async (): Promise<Check> => page.evaluate(async () => {
      const p = (window as unknown as { __player: { still(): Promise<void>; check(): Promise<Check> } }).__player;
      await p.still();
      return p.check();
    });
    const results: string[] = [];
    for (const backend of ['webgpu', 'wasm']) {
      await page.selectOption('#backend', backend);
      await waitFor(page, (b) => document.getElementById('backend-used')!.textContent!.toLowerCase().startsWith(b), backend, 60_000, `backend ${backend}`);
      const c = await check();
      results.push(`${backend}: ${JSON.stringify(c)}`);
      assert.equal(c.backend, backend);
      assert.deepEqual([c.width, c.height], [640, 360], 'x4 of the 160x90 sample frame');
      assert.ok(c.equal >= 0.999 && c.maxLevels <= 1, `${backend}: shown pixels equal the WASM engine's on ${(c.equal * 100).toFixed(3)}%, max ${c.maxLevels} levels`);
    }
    // the sample saved as a video (WebCodecs VP8 in mvsr's WebM writer), read back by ffmpeg
    if (hasFfmpeg) {
      const bytes = await page.evaluate(async () => Array.from(await (window as unknown as { __player: { encodeVideo(o: { frames: number }): Promise<Uint8Array> } }).__player.encodeVideo({ frames: 6 })));
      const file = join(dir, 'sample.webm');
      writeFileSync(file, Uint8Array.from(bytes));
      const dec = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
      assert.equal(dec.status, 0, `ffmpeg could not read the saved video: ${dec.stderr}`);
      const frameBytes = 640 * 360 * 3;
      assert.equal(dec.stdout.length, 6 * frameBytes, 'six 640x360 frames');
      // each frame against the default model run here on the same sample frame (the page draws it exactly)
      const g = resolveGraph(defaultDemoModel());
      const be = await createBackend(g, { backend: 'wasm' });
      const psnrs: number[] = [], refs: ReturnType<typeof createImage>[] = [], gots: ReturnType<typeof createImage>[] = [];
      for (let t = 0; t < 6; t++) {
        const lr = renderSampleFrame(t, { width: 160, height: 90 });
        const x = Tensor.from([1, 90, 160, 3], Float32Array.from(lr.data, (v) => v / 255));
        const y = await be.run(x);
        const ref = createImage(640, 360, 3), got = createImage(640, 360, 3);
        const yd = y.toArray();
        for (let i = 0; i < yd.length; i++) ref.data[i] = Math.round(Math.min(1, Math.max(0, yd[i]!)) * 255);
        got.data.set(dec.stdout.subarray(t * frameBytes, (t + 1) * frameBytes));
        psnrs.push(calculatePsnr(got, ref, { testY: true }));
        refs.push(ref);
        gots.push(got);
        x.dispose();
        y.dispose();
      }
      await be.dispose();
      // control: each decoded frame against the model's next frame (the sample moves ~0.3 px a frame at 160x90)
      const shifted = gots.slice(0, 5).map((gt, t) => calculatePsnr(gt, refs[t + 1]!, { testY: true }));
      results.push(`saved video (VP8, Y): PSNR of the decoded frames vs the model's ${psnrs.map((v) => v.toFixed(2)).join(', ')} dB; vs the next frame's ${shifted.map((v) => v.toFixed(2)).join(', ')} dB`);
      for (let t = 0; t < 5; t++) assert.ok(psnrs[t]! > shifted[t]! + 3, `frame ${t} of the saved video is the model's frame ${t} (PSNR ${psnrs[t]} vs ${shifted[t]} for frame ${t + 1})`);
      assert.ok(Math.min(...psnrs) > 30, `the saved frames are the model's frames (Y PSNR ${psnrs.join(', ')})`);
    }
    // an uploaded image (PNG, 48x40), through the file picker
    const img = createImage(48, 40, 3);
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 37 + (i % 3) * 80) % 256;
    writeFileSync(join(dir, 'in.png'), encodePng(img));
    await page.setInputFiles('#file', join(dir, 'in.png'));
    await waitFor(page, () => document.getElementById('status')!.textContent === 'in.png', null, 30_000, 'the uploaded image');
    await page.selectOption('#backend', 'webgpu');
    await waitFor(page, () => document.getElementById('backend-used')!.textContent!.startsWith('WebGPU'), null, 60_000, 'WebGPU for the image');
    const ci = await check();
    assert.deepEqual([ci.width, ci.height], [192, 160], 'the 48x40 image at x4');
    assert.ok(ci.equal >= 0.999 && ci.maxLevels <= 1, `uploaded image: ${JSON.stringify(ci)}`);
    // bad input: a text file as a video, junk as a model; the page keeps working
    writeFileSync(join(dir, 'notes.txt'), 'not a picture');
    await page.setInputFiles('#file', join(dir, 'notes.txt'));
    await page.waitForFunction(() => /notes\.txt: not an image, a video or a \.safetensors model/.test(document.getElementById('status')!.textContent!), null, { timeout: 10_000 });
    writeFileSync(join(dir, 'junk.safetensors'), writeSafetensors({ w: { shape: [2], data: Float32Array.of(1, 2) } }));
    await page.setInputFiles('#modelfile', join(dir, 'junk.safetensors'));
    await page.waitForFunction(() => /junk\.safetensors: no architecture/.test(document.getElementById('status')!.textContent!), null, { timeout: 10_000 });
    writeFileSync(join(dir, 'broken.safetensors'), 'garbage');
    await page.setInputFiles('#modelfile', join(dir, 'broken.safetensors'));
    await page.waitForFunction(() => /broken\.safetensors: /.test(document.getElementById('status')!.textContent!), null, { timeout: 10_000 });
    const after = await check();
    assert.ok(after.equal >= 0.999, 'the player still works after bad files');
    // a shipped video model streams the sample
    await page.click('#sample');
    await page.selectOption('#model', 'mobilerrn-x4');
    await waitFor(page, () => /mobilerrn-x4/.test(document.getElementById('status')!.textContent!), null, 60_000, 'the video model');
    const fv = await frames();
    await waitFor(page, (n) => (window as unknown as { __player: { state: { frames: number } } }).__player.state.frames >= n + 2, fv, 120_000, 'video model frames');
    assert.match((await page.textContent('#backend-used'))!, /WebGPU.*state on the GPU/);
    // the screenshot: WASM's 2D canvases (headless Chromium does not composite WebGPU canvases)
    await page.selectOption('#backend', 'wasm'); // first: a SwiftShader frame at 180p takes seconds
    const first = defaultDemoModel();
    await page.selectOption('#model', first);
    await page.selectOption('#lrh', '180');
    await waitFor(page, (name) => document.getElementById('status')!.textContent!.includes(name) && document.getElementById('backend-used')!.textContent!.startsWith('WASM'), first, 60_000, `back to ${first} on WASM`);
    await check();
    const shot = join(process.env.MVSR_SCREENSHOT_DIR ?? dir, 'player.png');
    await page.screenshot({ path: shot });
    console.log(`player checks:\n${results.join('\n')}\nscreenshot: ${shot}`);
    assert.deepEqual(s.blocked, [], 'the app asked for something outside the local server');
    assert.deepEqual(s.errors, [], 'console errors');
  } finally {
    await s.close();
  }
});

test('the player without WebGPU says so and plays on WASM', { skip }, async () => {
  const s = await open('/', false);
  try {
    await s.page.waitForFunction(() => /ready: .*WebGPU unavailable/.test(document.getElementById('status')!.textContent!), null, { timeout: 60_000 });
    assert.match((await s.page.textContent('#backend-used'))!, /^WASM/);
    assert.ok(await s.page.$eval('option[value="webgpu"]', (o) => (o as HTMLOptionElement).disabled));
    assert.deepEqual(s.errors, []);
  } finally {
    await s.close();
  }
});

test('the benchmark page completes in quick mode: every engine timed, outputs checked against mvsr WASM, JSON offered', { skip }, async () => {
  const s = await open('/bench.html?quick&models=etds-t-x4');
  try {
    await s.page.waitForFunction(() => (window as unknown as { __bench?: { done: boolean } }).__bench?.done, null, { timeout: 180_000 });
    const r = await s.page.evaluate(() => (window as unknown as { __bench: { error?: string; result: { framesPerGpuSample: number; rows: { model: string; psnr: number; cells: Record<string, { ms: number | null; gpuMs: number | null; gpuRuns: number[]; maxDiff255: number | null; error?: string }> }[] } } }).__bench);
    assert.equal(r.error, undefined);
    const row = r.result.rows[0]!;
    assert.equal(row.model, 'etds-t-x4');
    for (const e of ['mvsr webgpu', 'mvsr wasm', 'ort webgpu', 'ort wasm']) {
      const c = row.cells[e]!;
      assert.equal(c.error, undefined, `${e}: ${c.error}`);
      assert.ok(c.ms !== null && c.ms > 0, `${e} timed`);
      if (e !== 'mvsr wasm') assert.ok(c.maxDiff255! < 0.5, `${e} output vs mvsr wasm: ${c.maxDiff255}/255`);
      // the WebGPU engines are also timed with the frames kept on the GPU; the WASM ones are not
      if (e.endsWith('webgpu')) assert.ok(c.gpuMs !== null && c.gpuMs > 0 && c.gpuRuns.length === 2, `${e} timed on the GPU: ${JSON.stringify(c)}`);
      else assert.equal(c.gpuMs, null);
    }
    assert.ok(row.psnr > 10 && row.psnr < 60, `PSNR ${row.psnr}`);
    assert.equal(r.result.framesPerGpuSample, 4);
    assert.match((await s.page.textContent('body'))!, /arXiv:2211\.05256/);
    assert.match((await s.page.textContent('body'))!, /frames on the GPU/);
    const [dl] = await Promise.all([s.page.waitForEvent('download'), s.page.click('#download')]);
    assert.match(dl.suggestedFilename(), /^mvsr-bench-.*\.json$/);
    assert.deepEqual(s.blocked, []);
    assert.deepEqual(s.errors, []);
  } finally {
    await s.close();
  }
});
