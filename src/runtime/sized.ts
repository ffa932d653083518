// What the backends that compile one fixed-shape model per input size share (onnxruntime
// sessions, LiteRT.js interpreters): the cache of those models by size, and the check of named
// NHWC inputs against the graph's input nodes.
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { type Graph, graphError, graphInputs, inputNode, outputNode } from '../graph/ir.js';
import { inferShapes, type NodeShape } from '../graph/shapes.js';

/**
 * Compiled models per input size ("HxW"), created on first use by `create`, the least recently
 * used released by `release` past `max`; a failed creation is forgotten (the next call tries again).
 */
export class SizeCache<T> {
  private readonly items = new Map<string, Promise<T>>();
  private closed = false;

  constructor(
    private readonly what: string,
    private readonly max: number,
    private readonly create: (H: number, W: number) => Promise<T>,
    private readonly release: (t: T) => unknown,
  ) {}

  get(H: number, W: number): Promise<T> {
    if (this.closed) throw new Error(`mvsr: ${this.what}: used after dispose()`);
    const key = `${H}x${W}`;
    let p = this.items.get(key);
    if (p) {
      this.items.delete(key); // re-insert: most recently used last
      this.items.set(key, p);
      return p;
    }
    p = this.create(H, W);
    this.items.set(key, p);
    p.catch(() => this.items.delete(key));
    while (this.items.size > this.max) {
      const [oldest, q] = this.items.entries().next().value as [string, Promise<T>];
      this.items.delete(oldest);
      void q.then((old) => this.release(old), () => undefined);
    }
    return p;
  }

  /** Input sizes with a cached model, least recently used first ("HxW"). */
  sizes(): string[] {
    return [...this.items.keys()];
  }

  /** Release every cached model; later get() calls fail. */
  async dispose(): Promise<void> {
    this.closed = true;
    const all = [...this.items.values()];
    this.items.clear();
    await Promise.all(all.map((p) => p.then((t) => this.release(t), () => undefined)));
  }
}

/**
 * Named NHWC inputs checked against the graph's input nodes (channels, scale, one batch and
 * frame size for all); returns the batch, the base frame size and every node's shape at it.
 * Errors name the node.
 */
export function namedInputs(g: Graph, inputs: Record<string, Tensor>): { N: number; H: number; W: number; shapes: Map<string, NodeShape> } {
  const ins = graphInputs(g);
  const first = ins[0]!, x0 = inputs[first.id];
  if (!x0 || x0.shape.length !== 4) throw graphError(g, first, `expects an NHWC input '${first.id}', got ${x0 ? shapeStr(x0.shape) : 'none'}`);
  const k0 = first.scale ?? 1;
  const [N, H, W] = [x0.shape[0]!, x0.shape[1]! / k0, x0.shape[2]! / k0];
  if (!Number.isInteger(H) || !Number.isInteger(W)) throw graphError(g, first, `input ${shapeStr(x0.shape)} is not a multiple of its scale ${k0}`);
  for (const n of ins) {
    const x = inputs[n.id], k = n.scale ?? 1;
    if (!x || x.shape.length !== 4 || x.shape[0] !== N || x.shape[1] !== H * k || x.shape[2] !== W * k || x.shape[3] !== n.channels) {
      throw graphError(g, n, `expects an NHWC input with ${n.channels} channels at ${H * k}x${W * k}, got ${x ? shapeStr(x.shape) : 'none'}`);
    }
  }
  return { N, H, W, shapes: inferShapes(g, H, W) }; // size errors name the node
}

/** A one-input graph's run through a named run: its first output, the others freed. */
export async function runOneInput(g: Graph, x: Tensor, runNamed: (inputs: Record<string, Tensor>) => Promise<Record<string, Tensor>>): Promise<Tensor> {
  const r = await runNamed({ [inputNode(g).id]: x });
  const first = outputNode(g).id;
  for (const [k, t] of Object.entries(r)) if (k !== first) t.dispose();
  return r[first]!;
}

/** The process-wide engine's thread count, or 1 when no engine runs (a backend's default). */
export async function engineThreads(): Promise<number> {
  const { engine } = await import('../tensor/engine.js');
  try {
    return engine().threads;
  } catch {
    return 1;
  }
}
