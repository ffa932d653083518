// The README's screenshot of the player: mvsr serve, headless Debian Chromium, the built-in
// sample upscaled x4 by the model the app starts with (mvsr's default) at the MAI size (180p -> 720p), split against bicubic.
// Headless Chromium on SwiftShader does not composite WebGPU canvases, so the shot uses the WASM
// backend (2D canvases); the pixels are the same (the web app test checks both).
// usage: node scripts/screenshot-player.mjs [out.png]   (after npm run build)
import { serve } from '../dist/src/api/serve.node.js';
import { chromium } from 'playwright-core';

const outPath = process.argv[2] ?? 'docs/web/player.png';
const { server, url } = await serve({ port: 0 });
const browser = await chromium.launch({ executablePath: process.env.MVSR_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1320, height: 1040 } });
  await page.goto(url);
  await page.waitForFunction(() => window.__player?.state.model, null, { timeout: 60_000 });
  await page.selectOption('#backend', 'wasm');
  await page.waitForFunction(() => document.getElementById('backend-used').textContent.startsWith('WASM'), null, { timeout: 120_000 });
  const n = await page.evaluate(() => window.__player.state.frames);
  await page.waitForFunction((k) => window.__player.state.frames > k + 8, n, { timeout: 120_000 });
  // the fps figure covers whole seconds of playing: let two of them pass on the WASM backend, so the
  // shot does not show a second that held the switch of backends (0.0 fps)
  await page.waitForTimeout(2500);
  await page.waitForFunction(() => Number(document.getElementById('fps').textContent) > 0, null, { timeout: 30_000 });
  await page.evaluate(() => window.__player.still());
  await page.waitForTimeout(1200); // the stats line refreshes once a second
  await page.screenshot({ path: outPath });
  console.error(`wrote ${outPath}`);
} finally {
  await browser.close();
  server.close();
}
