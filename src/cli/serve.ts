// `mvsr serve`: the web app (player and on-device benchmark) on a local server.
import { type Command, parse, intFlag } from './args.js';
import { serve } from '../api/serve.node.js';

export const serveCmd: Command = {
  summary: 'the web app: a real-time player and an on-device benchmark, served locally',
  help: `usage: mvsr serve [--port <n>] [--host <h>]

Serves the mvsr web app (built into dist/web by "npm run build") with every script, WebAssembly
file and shipped model it needs, so it works offline, and with the cross-origin-isolation headers
WASM threads need. Open the printed URL:
  /           the player: a video or image (file picker, drag and drop, or the built-in sample),
              upscaled in real time by a shipped model or a dropped .safetensors, against bicubic
  /bench.html the benchmark: every shipped model at the MAI setting (180x320 -> 720x1280) on
              this device, mvsr WebGPU and WASM against onnxruntime-web's webgpu and wasm

options:
  -p, --port <n>   port (default 8080; 0 picks a free one)
      --host <h>   interface to bind (default 127.0.0.1: this machine only; 0.0.0.0 opens it to
                   the network, e.g. to test a phone on the same Wi-Fi)`,
  async run(argv) {
    const { values: v } = parse('serve', argv, { port: { type: 'string', short: 'p' }, host: { type: 'string' } });
    const port = intFlag('serve', v.port, 'port', 0) ?? 8080;
    if (port > 65535) throw new Error(`mvsr serve: --port must be at most 65535, got ${port}`);
    const { server, url } = await serve({ port, host: typeof v.host === 'string' ? v.host : undefined });
    process.stdout.write(`mvsr web app at ${url} (player) and ${url}bench.html (benchmark); Ctrl-C stops it\n`);
    await new Promise<void>((done) => {
      const stop = () => server.close(() => done());
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    process.stderr.write('mvsr serve: stopped\n');
    return 0;
  },
};
