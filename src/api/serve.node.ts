// `mvsr serve`: the web app (dist/web, built by scripts/build-web.mjs) on a local HTTP server.
// Everything the pages load comes from here (scripts, kernels, onnxruntime-web's wasm, the shipped
// models), so the app works offline; the cross-origin-isolation headers let WASM threads run.
// Only GET and HEAD of the app's own files and of the shipped models are answered: a path with a
// `..` segment, a backslash or a NUL, or anything outside those folders, is a 404; other methods
// are a 405 and requests over 16 KiB of headers a 431.
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultShippedModel, listShippedModels } from './shipped.node.js';
import { teachersOf } from '../train/lineage.js';
import { getArch } from '../models/registry.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.map': 'application/json',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.safetensors': 'application/octet-stream',
};

/** dist/web next to this module (dist/src/api -> dist/web). */
export function webRoot(): string {
  return fileURLToPath(new URL('../../web/', import.meta.url));
}

export interface ServeOptions {
  port?: number;
  /** Interface to bind (default 127.0.0.1: only this machine). */
  host?: string;
  /** The built app (default webRoot()). */
  root?: string;
}

/** A model the app can load: shipped .safetensors files, listed at /models/index.json. */
export interface ServedModel {
  name: string; arch: string; scale: number; params: number; video: boolean; url: string;
  /** The teachers' file names, oldest first, for a model trained by distillation (`teachersOf`: its whole lineage, as `mvsr models` lists them); empty otherwise. */
  teachers: string[];
  /** The model the app starts with: mvsr's default (defaultShippedModel), one in the list. */
  default: boolean;
}

export function servedModels(): ServedModel[] {
  const shipped = listShippedModels();
  const first = defaultShippedModel(4, shipped) ?? shipped[0];
  return shipped.map((m) => {
    let video = false;
    try {
      video = getArch(m.arch).kind === 'video';
    } catch { /* an unknown architecture loads (and fails) in the page */ }
    return { name: m.name, arch: m.arch, scale: m.scale, params: m.params, video, url: `/models/${m.name}.safetensors`, teachers: teachersOf(m.file, m.metadata), default: m === first };
  });
}

/** The file a request path names under `root`, or null (not a file, or not under root). */
export function safePath(root: string, urlPath: string): string | null {
  let p: string;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (p.includes('\0') || p.includes('\\') || p.split('/').some((s) => s === '..')) return null;
  const base = resolve(root);
  const full = resolve(base, `.${p.startsWith('/') ? p : `/${p}`}`);
  if (full !== base && !full.startsWith(base + sep)) return null;
  try {
    return statSync(full).isFile() ? full : null;
  } catch {
    return null;
  }
}

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { ...ISOLATION, 'Content-Type': type, 'Cache-Control': 'no-cache' }).end(body);
}

/** Start the server; resolves once it listens, with its URL. */
export async function serve(o: ServeOptions = {}): Promise<{ server: Server; url: string }> {
  const root = o.root ?? webRoot();
  if (!existsSync(join(root, 'index.html'))) throw new Error(`mvsr serve: the web app is not built (${join(root, 'index.html')} is missing): run "npm run build"`);
  const models = servedModels();
  const files = new Map(listShippedModels().map((m) => [`/models/${m.name}.safetensors`, m.file]));
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain', 'method not allowed\n');
      return;
    }
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      send(res, 404, 'text/plain', 'not found\n');
      return;
    }
    if (path === '/models/index.json') {
      send(res, 200, TYPES['.json']!, JSON.stringify(models));
      return;
    }
    const file = files.get(path) ?? (path.startsWith('/models/') ? null : safePath(root, path === '/' ? '/index.html' : path));
    if (!file) {
      send(res, 404, 'text/plain', 'not found\n');
      return;
    }
    res.writeHead(200, { ...ISOLATION, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache', 'Content-Length': statSync(file).size });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  };
  // requests are small GETs: 16 KiB of request line and headers at most (431 beyond), and a
  // client that trickles its headers is cut off
  const server = createServer({ maxHeaderSize: 16_384, headersTimeout: 10_000, requestTimeout: 30_000 }, handler);
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(new Error(`mvsr serve: cannot listen on ${host}:${o.port ?? 8080}: ${e.code ?? e.message}`)));
    server.listen(o.port ?? 8080, host, () => ok());
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : o.port ?? 8080;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/` };
}
