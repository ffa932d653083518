// Fine-tuning a deploy graph (graph-net.ts): HR photos cut into patches (their LR by MATLAB
// bicubic, as training and evaluation make it), L1 to the HR through the graph (fake-quantized for
// an int8 graph: quantization-aware training), Adam with a cosine-decayed learning rate.
// Node-only: the batches come from the training data loader (a worker thread).
import { Tensor } from '../tensor/tensor.js';
import { leaf, constant, backward, clearTape } from '../autograd/var.js';
import { l1Loss } from '../autograd/ops/loss.js';
import { createBatchLoader } from '../data/loader.js';
import { batchShapes } from '../data/dataset.js';
import { Adam } from './optim.js';
import { GraphNet } from './graph-net.js';
import type { Graph } from '../graph/ir.js';
import type { Clusters } from '../graph/compress.js';

export interface TuneOptions {
  /** Folders of HR training images. */
  dirs: string[];
  iterations: number;
  /** Peak learning rate (default 1e-4), cosine-decayed to 0. */
  lr?: number;
  batchSize?: number;
  /** LR patch edge (default 48). */
  patch?: number;
  seed?: number;
  /** Where generated LR images are kept between runs (the loader's cache). */
  cacheDir?: string;
  onStep?: (iteration: number, loss: number) => void;
  onLoad?: (done: number, total: number) => void;
  /** Clustered weights (graph/compress.ts clusterGraph): trained as shared centroids, so they stay clustered. */
  clusters?: Clusters;
}

/** Fine-tune an image graph (with quantization in the loop for an int8 one); returns the graph with the new weights. */
export async function fineTuneGraph<G extends Graph>(g: G, o: TuneOptions): Promise<G> {
  if (!Number.isInteger(o.iterations) || o.iterations < 1) throw new Error(`mvsr: fine-tune: iterations must be a positive integer, got ${o.iterations}`);
  const scale = g.meta.scale, batchSize = o.batchSize ?? 8, lrPatch = o.patch ?? 48, peak = o.lr ?? 1e-4;
  const net = new GraphNet(g, o.clusters);
  const loader = createBatchLoader(
    { kind: 'hrFolder', dirs: o.dirs, scale, options: { cacheDir: o.cacheDir } },
    { seed: o.seed ?? 0, batchSize, lrPatch, hflip: true, rot: true, channelShuffle: false, onProgress: (d, t) => o.onLoad?.(d, t) },
  );
  const shapes = batchShapes({ batchSize, lrPatch }, scale);
  const opt = new Adam(net.parameters(), { lr: peak });
  try {
    await loader.ready;
    for (let it = 1; it <= o.iterations; it++) {
      opt.lr = peak * 0.5 * (1 + Math.cos((Math.PI * (it - 1)) / o.iterations));
      const b = await loader.next(it);
      const x = leaf(Tensor.from(shapes.lr, b.lr)), y = constant(Tensor.from(shapes.hr, b.hr));
      const loss = l1Loss(net.forward(x), y);
      const value = loss.value.toArray()[0]!;
      backward(loss);
      opt.update();
      opt.zeroGrad();
      clearTape();
      x.value.dispose();
      o.onStep?.(it, value);
    }
    return net.toGraph({ iterations: o.iterations, lr: peak, batchSize, patch: lrPatch, data: o.dirs }) as G;
  } finally {
    await loader.close();
    opt.dispose();
    net.dispose();
  }
}
