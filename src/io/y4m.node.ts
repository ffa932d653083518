// Y4M files: open (header now, frames streamed from disk one at a time) and write (frames
// appended to a temporary file, renamed to the real name only by close()).
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { type Y4MHeader, type YuvFrame, Y4MError, Y4M_MAX_HEADER, readY4MStream, formatY4MHeader, encodeAscii, encodeY4MFrame, y4mFrameSize } from './y4m.js';

/** A Y4M file whose header has been read. */
export interface Y4MFile {
  path: string;
  header: Y4MHeader;
  /** Header line length in bytes (where frame 1 starts). */
  headerBytes: number;
  /** Frames, when the file size is a whole number of plain "FRAME\n" frames; undefined otherwise. */
  frameCount?: number;
  /** Stream the frames from the start or from frame opts.start (a fresh read each call); memory is about one frame. */
  frames(opts?: { signal?: AbortSignal; start?: number }): AsyncGenerator<YuvFrame>;
}

/** `mvsr: <file>: <problem>` for a failed open or read. */
export function fileReadError(file: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  const problem = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : `cannot read (${err.code ?? err.message})`;
  return new Error(`mvsr: ${file}: ${problem}`);
}

function fileChunks(file: string, highWaterMark = 1 << 20): fs.ReadStream {
  return fs.createReadStream(file, { highWaterMark });
}

/** Open a Y4M file: reads and checks the header; errors are `mvsr: <file>: <problem>`. */
export async function openY4M(file: string): Promise<Y4MFile> {
  let size: number;
  try {
    const st = await fsp.stat(file);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    size = st.size;
  } catch (e) {
    throw fileReadError(file, e);
  }
  // only the header's bytes are read here (the stream is closed right after)
  const probe = await readY4MStream(fileChunks(file, Y4M_MAX_HEADER), { name: file }).catch((e) => {
    throw e instanceof Y4MError ? e : fileReadError(file, e);
  });
  await probe.close();
  const { header, headerBytes } = probe;
  const per = 6 + y4mFrameSize(header);
  const body = size - headerBytes;
  const result: Y4MFile = {
    path: file,
    header,
    headerBytes,
    async *frames(opts = {}) {
      const start = opts.start ?? 0;
      // frames of one size ("FRAME\n" each): seek to the start frame, the header read again in front of it
      const seek = start > 0 && result.frameCount !== undefined;
      const stream = seek ? fs.createReadStream(file, { start: headerBytes + start * per, highWaterMark: 1 << 20 }) : fileChunks(file);
      const onAbort = (): void => void stream.destroy(abortReason(opts.signal));
      opts.signal?.throwIfAborted();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const source = seek ? withHeader(file, headerBytes, stream) : stream;
        const s = await readY4MStream(source, { name: file });
        let skip = seek ? 0 : start;
        for await (const f of s.frames) {
          opts.signal?.throwIfAborted();
          if (skip > 0) {
            skip--;
            continue;
          }
          yield f;
        }
      } catch (e) {
        opts.signal?.throwIfAborted();
        throw e instanceof Y4MError ? e : fileReadError(file, e);
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        stream.destroy();
      }
    },
  };
  if (body % per === 0) result.frameCount = body / per;
  return result;
}

/** The header's bytes, then `rest` (a stream that starts at a frame boundary). */
async function* withHeader(file: string, headerBytes: number, rest: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const fh = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(headerBytes);
    await fh.read(head, 0, headerBytes, 0);
    yield head;
  } finally {
    await fh.close();
  }
  yield* rest;
}

function abortReason(signal: AbortSignal | undefined): Error {
  const r: unknown = signal?.reason;
  return r instanceof Error ? r : new Error('aborted');
}

/** A name next to `file` that no reader takes for the finished output (hidden, ends in .tmp). */
export function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.tmp`);
}

export interface Y4MWriter {
  readonly header: Y4MHeader;
  /** Frames written so far. */
  readonly frames: number;
  write(frame: YuvFrame): Promise<void>;
  /** Finish: the file appears under its name only now. */
  close(): Promise<void>;
  /** Remove the partial file (safe to call twice, or after close failed). */
  abort(): Promise<void>;
}

/** Write a Y4M file frame by frame through a temporary file renamed by close(). */
export async function createY4MWriter(file: string, header: Y4MHeader): Promise<Y4MWriter> {
  const head = encodeAscii(formatY4MHeader(header));
  if (head.length > Y4M_MAX_HEADER) throw new Error(`mvsr: ${file}: Y4M header longer than ${Y4M_MAX_HEADER} bytes`);
  const tmp = tempNameFor(file);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(tmp, 'wx');
    await fh.writeFile(head);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw new Error(`mvsr: ${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let state: 'open' | 'closed' | 'aborted' = 'open';
  let frames = 0;
  let pending: Promise<void> = Promise.resolve();
  let aborted: Promise<void> = Promise.resolve();
  const fail = (e: unknown): Error => new Error(`mvsr: ${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  const w: Y4MWriter = {
    header,
    get frames() {
      return frames;
    },
    async write(frame) {
      if (state !== 'open') throw new Error(`mvsr: ${file}: write after ${state === 'closed' ? 'close' : 'abort'}`);
      const pieces = encodeY4MFrame(frame, header);
      // writes are chained so concurrent calls still land in order
      const p = pending.then(async () => {
        for (const b of pieces) await fh.write(b);
      });
      pending = p.catch(() => {});
      try {
        await p;
      } catch (e) {
        throw fail(e);
      }
      frames++;
    },
    async close() {
      if (state !== 'open') {
        if (state === 'closed') return;
        throw new Error(`mvsr: ${file}: close after abort`);
      }
      try {
        await pending;
        await fh.close();
        await fsp.rename(tmp, file);
        state = 'closed';
      } catch (e) {
        await w.abort();
        throw fail(e);
      }
    },
    abort() {
      if (state === 'closed') return Promise.resolve();
      if (state !== 'aborted') {
        state = 'aborted';
        aborted = (async () => {
          await pending;
          await fh.close().catch(() => {});
          await fsp.rm(tmp, { force: true }).catch(() => {});
        })();
      }
      return aborted;
    },
  };
  return w;
}
