// Fine-tuning a deploy graph (graph-net.ts): HR photos cut into patches (their LR by MATLAB
// bicubic, as training and evaluation make it), L1 to the HR through the graph (fake-quantized for
// an int8 graph: quantization-aware training), Adam with a cosine-decayed learning rate.
// Node-only: the batches come from the training data loader (a worker thread).
import { Tensor } from '../tensor/tensor.js';
import { leaf, constant, backward, clearTape, noGrad, type Var } from '../autograd/var.js';
import { add, mul } from '../autograd/ops/pointwise.js';
import { inferShapes } from '../graph/shapes.js';
import { graphError, windowIndices } from '../graph/ir.js';
import { l1Loss } from '../autograd/ops/loss.js';
import { createBatchLoader } from '../data/loader.js';
import { batchShapes } from '../data/dataset.js';
import { Adam } from './optim.js';
import { GraphNet } from './graph-net.js';
import type { Graph } from '../graph/ir.js';
import type { Clusters } from '../graph/compress.js';

export interface TuneOptions {
  /** Folders of HR training images (an image graph) or of clips (a video step graph: video files or frame folders). */
  dirs: string[];
  /** A video step graph: frames per training sequence, run step by step with the state carried (default 7). */
  numFrame?: number;
  /** A video step graph: clips whose name matches (include) or does not (exclude), and at most maxFrames of each (VideoFolder's keys). */
  clips?: { include?: string[]; exclude?: string[]; maxFrames?: number };
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
  /** An int8 graph: also train the activation ranges calibration observed (GraphNet learnRanges), by Adam at rangeLr (default lr), cosine-decayed alike. */
  learnRanges?: boolean;
  rangeLr?: number;
  /**
   * What the output learns: 'hr' (default), the HR patches; 'float', the float graph's own output
   * on the same input (the weights it starts from, run without quantization): an int8 graph then
   * learns to match the model it quantizes instead of refitting the training photos.
   */
  target?: 'hr' | 'float';
}

/**
 * A video step graph over a sequence of T frames (each [B, H, W, 3]): step after step, each step's
 * frames by windowIndices (edges replicated, as forwardClip takes them), the state zero at the start
 * and carried (backpropagation through time); one output per frame. `own` collects the zero state.
 */
export function runSequence(net: GraphNet, g: Graph, frames: Var[], own: Tensor[]): Var[] {
  const v = g.meta.video!, T = frames.length;
  if (T % v.count !== 0) throw graphError(g, null, `a sequence of ${T} frames is not a whole number of steps of ${v.count}`);
  const [B, H, W] = frames[0]!.value.shape as [number, number, number];
  const shapes = inferShapes(g, H, W);
  let state: Record<string, Var> = Object.fromEntries(v.state.map((st) => {
    const z = Tensor.zeros([B, ...shapes.get(st.input)!]);
    own.push(z);
    return [st.input, constant(z)];
  }));
  const out: Var[] = [];
  for (let first = 0; first < T; first += v.count) {
    const idx = windowIndices(T, first, v.count, v.window);
    const r = net.forwardNamed({ ...state, ...Object.fromEntries(v.frames.map((id, k) => [id, frames[idx[k]!]!])) });
    for (const id of v.outputs) out.push(r[id]!);
    state = Object.fromEntries(v.state.map((st) => [st.input, r[st.output]!]));
  }
  return out;
}

/** The float graph an int8 graph quantizes (its weights, no quant section). */
function floatOf(g: Graph): Graph {
  const { quant: _q, ...rest } = g as Graph & { quant?: unknown };
  return rest;
}

/**
 * Fine-tune a graph (with quantization in the loop for an int8 one); returns the graph with the new
 * weights. An image graph learns from HR photos' patches; a video step graph from sequences of
 * `numFrame` frames of clips, run step by step with its state carried, the L1 averaged over the frames.
 */
export async function fineTuneGraph<G extends Graph>(g: G, o: TuneOptions): Promise<G> {
  if (!Number.isInteger(o.iterations) || o.iterations < 1) throw new Error(`mvsr: fine-tune: iterations must be a positive integer, got ${o.iterations}`);
  const scale = g.meta.scale, batchSize = o.batchSize ?? 8, lrPatch = o.patch ?? 48, peak = o.lr ?? 1e-4;
  const video = g.meta.video !== undefined, T = video ? o.numFrame ?? 7 : 1;
  if (!Number.isInteger(T) || T < 1) throw new Error(`mvsr: fine-tune: numFrame must be a positive integer, got ${T}`);
  const target = o.target ?? 'hr';
  if (target !== 'hr' && target !== 'float') throw new Error(`mvsr: fine-tune: the target must be hr or float, got "${String(target)}"`);
  const net = new GraphNet(g, o.clusters, { learnRanges: o.learnRanges });
  // the float model (the graph's starting weights, no fake quantization) as the teacher
  const teacher = target === 'float' ? new GraphNet(floatOf(g)) : null;
  const rangePeak = o.rangeLr ?? peak;
  if (o.learnRanges && !(rangePeak > 0 && Number.isFinite(rangePeak))) throw new Error(`mvsr: fine-tune: the range learning rate must be a positive number, got ${o.rangeLr}`);
  const loader = createBatchLoader(
    video
      ? { kind: 'videoFolder', roots: o.dirs, scale, options: { ...o.clips, numFrame: T } }
      : { kind: 'hrFolder', dirs: o.dirs, scale, options: { cacheDir: o.cacheDir } },
    { seed: o.seed ?? 0, batchSize, lrPatch, hflip: true, rot: true, channelShuffle: false, numFrame: T, onProgress: (d, t) => o.onLoad?.(d, t) },
  );
  const shapes = batchShapes({ batchSize, lrPatch }, scale);
  const nl = shapes.lr.reduce((a, b) => a * b, 1), nh = shapes.hr.reduce((a, b) => a * b, 1);
  const opt = new Adam(net.parameters(), { lr: peak }), rangeOpt = new Adam(net.rangeParameters(), { lr: rangePeak, betas: [0.9, 0.99] });
  try {
    await loader.ready;
    for (let it = 1; it <= o.iterations; it++) {
      const decay = 0.5 * (1 + Math.cos((Math.PI * (it - 1)) / o.iterations));
      opt.lr = peak * decay;
      rangeOpt.lr = rangePeak * decay;
      const b = await loader.next(it);
      const xs = Array.from({ length: T }, (_, t) => leaf(Tensor.from(shapes.lr, b.lr.subarray(t * nl, (t + 1) * nl))));
      const own: Tensor[] = [];
      let taught: Tensor[] | null = null;
      if (teacher) {
        taught = noGrad(() => (video ? runSequence(teacher, g, xs.map((x) => constant(x.value.clone())), own) : [teacher.forward(constant(xs[0]!.value.clone()))]).map((y) => y.value.clone()));
        clearTape(); // the teacher's values, its input copies included (its outputs were copied)
      }
      const ys = taught ? taught.map((y) => constant(y)) : Array.from({ length: T }, (_, t) => constant(Tensor.from(shapes.hr, b.hr.subarray(t * nh, (t + 1) * nh))));
      try {
        const outs = video ? runSequence(net, g, xs, own) : [net.forward(xs[0]!)];
        let loss = outs.map((y, t) => l1Loss(y, ys[t]!)).reduce((a, c) => add(a, c));
        if (T > 1) loss = mul(loss, constant(Tensor.full([1], 1 / T)));
        const value = loss.value.toArray()[0]!;
        backward(loss);
        opt.update();
        opt.zeroGrad();
        rangeOpt.update();
        rangeOpt.zeroGrad();
        o.onStep?.(it, value);
      } finally {
        clearTape();
        for (const v of [...xs, ...ys]) v.value.dispose();
        for (const t of own) t.dispose();
      }
    }
    return net.toGraph({ iterations: o.iterations, lr: peak, batchSize, patch: lrPatch, data: o.dirs, ...(video ? { frames: T, ...o.clips } : {}), ...(o.learnRanges ? { rangeLr: rangePeak } : {}), ...(teacher ? { target } : {}) }) as G;
  } finally {
    await loader.close();
    opt.dispose();
    rangeOpt.dispose();
    net.dispose();
    teacher?.dispose();
  }
}
