// Post-training quantization: the float graph runs on calibration inputs (LR patches for an
// image model, runs of LR frames for a video step graph, state carried), every tensor of the
// int8 graph (graph/quant.ts int8Graph) is observed, and its range is chosen by one of three
// methods: minmax (the observed extremes), percentile (the central p of the values), or mse (the
// clipping of the observed range that minimises the int8 round-trip error on the values).
// Browser-safe.
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { type Graph, type GraphNode, graphInputs, graphError, windowIndices } from '../graph/ir.js';
import { inferShapes } from '../graph/shapes.js';
import {
  type CalibrationMethod, type QuantGraph, CALIBRATION_METHODS, int8Graph, assignQParams, quantizeWeights, chooseQParams, outlierCarriers, INT8_MIN, INT8_MAX,
} from '../graph/quant.js';
import { compileGraph } from '../runtime/wasm.js';

/** One calibration sample: the LR frames of a clip (an image model: one frame), each [1, H, W, C] in [0, 1]. */
export interface CalibrationSample { frames: Tensor[] }

export interface CalibrateOptions {
  method?: CalibrationMethod;
  /** The central fraction kept by 'percentile' (default 0.9999: the 0.005% tails on each side are clipped). */
  percentile?: number;
  /** Values kept per tensor for percentile and mse (a seeded reservoir sample; default 2^18). */
  maxSamples?: number;
  seed?: number;
  /** Provenance recorded in the quant section (files, patch size, ...). */
  provenance?: Record<string, unknown>;
  onSample?: (i: number, n: number) => void;
  /** Split outlier centre weights into 1x1 convs of their own (graph/quant.ts splitOutlierWeights; default true). */
  splitOutliers?: boolean;
}

/** Running statistics of one tensor: exact extremes and a reservoir sample of its values. */
export class RangeObserver {
  min = Infinity;
  max = -Infinity;
  private seen = 0;
  readonly sample: Float32Array;
  private kept = 0;

  constructor(private readonly cap: number, private readonly rng: Rng) {
    this.sample = new Float32Array(cap);
  }

  add(v: Float32Array): void {
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x < this.min) this.min = x;
      if (x > this.max) this.max = x;
    }
    // at most ~4 candidates per kept slot are drawn: stride over big tensors
    const stride = Math.max(1, Math.floor(v.length / (4 * this.cap)));
    for (let i = 0; i < v.length; i += stride) {
      this.seen++;
      if (this.kept < this.cap) this.sample[this.kept++] = v[i]!;
      else {
        const j = this.rng.int(this.seen);
        if (j < this.cap) this.sample[j] = v[i]!;
      }
    }
  }

  values(): Float32Array {
    return this.sample.subarray(0, this.kept);
  }

  /** The range `method` keeps. */
  range(method: CalibrationMethod, percentile = 0.9999): [number, number] {
    if (!(this.max >= this.min)) return [0, 0];
    if (method === 'minmax') return [this.min, this.max];
    const v = Float32Array.from(this.values()).sort();
    if (method === 'percentile') {
      const at = (p: number): number => v[Math.min(v.length - 1, Math.max(0, Math.round(p * (v.length - 1))))]!;
      return [Math.max(this.min, at((1 - percentile) / 2)), Math.min(this.max, at(1 - (1 - percentile) / 2))];
    }
    // mse: shrink the observed range by a common factor; keep the factor with the least round-trip error
    let best: [number, number] = [this.min, this.max], bestErr = Infinity;
    for (let k = 0; k <= 40; k++) {
      const t = 1 - k * 0.0175; // 1 .. 0.3
      const lo = this.min * t, hi = this.max * t, q = chooseQParams(lo, hi);
      let err = 0;
      for (let i = 0; i < v.length; i++) {
        const r = Math.round(v[i]! / q.scale) + q.zeroPoint;
        const d = q.scale * ((r < INT8_MIN ? INT8_MIN : r > INT8_MAX ? INT8_MAX : r) - q.zeroPoint) - v[i]!;
        err += d * d;
      }
      if (err < bestErr) { bestErr = err; best = [lo, hi]; }
    }
    return best;
  }
}

const PROBE = '#probe';

/**
 * Quantize a float graph (image or video step graph) to int8 by calibration on `samples`. The
 * result is the int8 graph (float weights kept; the int8 values are derived from them and the
 * scales) with its quant section.
 */
export async function calibrateGraph(g: Graph, samples: CalibrationSample[], o: CalibrateOptions = {}): Promise<QuantGraph> {
  const method = o.method ?? 'mse';
  if (!CALIBRATION_METHODS.includes(method)) throw new Error(`mvsr: quantize: method '${method}' is not one of ${CALIBRATION_METHODS.join(', ')}`);
  if (!samples.length) throw new Error('mvsr: quantize: no calibration samples');
  const q = int8Graph(g, { splitOutliers: o.splitOutliers });
  const video = q.meta.video;
  const probed = q.nodes.filter((n) => n.op !== 'input' && n.op !== 'output');
  const probe: Graph = {
    meta: { ...q.meta, video: undefined, probe: true },
    nodes: [...q.nodes.filter((n) => n.op !== 'output'), ...probed.map((n): GraphNode => ({ op: 'output', id: n.id + PROBE, inputs: [n.id] }))],
    weights: q.weights,
  };
  const c = compileGraph(probe, { fuse: false });
  const rng = new Rng(o.seed ?? 0x0ca1);
  const obs = new Map(probed.map((n) => [n.id, new RangeObserver(o.maxSamples ?? 2 ** 18, rng)]));
  const record = (ys: Record<string, Tensor>): void => {
    for (const n of probed) obs.get(n.id)!.add(ys[n.id + PROBE]!.toArray());
  };
  try {
    for (let s = 0; s < samples.length; s++) {
      const { frames } = samples[s]!;
      if (!video) {
        const ys = c.runNamed({ [graphInputs(q)[0]!.id]: frames[0]! });
        try { record(ys); } finally { for (const t of Object.values(ys)) t.dispose(); }
      } else {
        const [, H, W] = frames[0]!.shape as [number, number, number, number];
        const shapes = inferShapes(q, H, W);
        let state: Record<string, Tensor> = Object.fromEntries(video.state.map((st) => [st.input, Tensor.zeros([1, ...shapes.get(st.input)!])]));
        try {
          for (let first = 0; first + video.count <= frames.length; first += video.count) {
            const idx = windowIndices(frames.length, first, video.count, video.window);
            const ins: Record<string, Tensor> = { ...state };
            video.frames.forEach((id, k) => { ins[id] = frames[idx[k]!]!; });
            const ys = c.runNamed(ins);
            try {
              record(ys);
            } finally {
              for (const t of Object.values(state)) t.dispose();
              state = Object.fromEntries(video.state.map((st) => [st.input, ys[byOutput(q, st.output)! + PROBE]!.clone()]));
              for (const t of Object.values(ys)) t.dispose();
            }
          }
        } finally {
          for (const t of Object.values(state)) t.dispose();
        }
      }
      o.onSample?.(s + 1, samples.length);
      await Promise.resolve();
    }
  } finally {
    c.dispose();
  }
  // an outlier split's centre conv, add and ReLU carry the image itself (ETDS's residual channels):
  // clipping them clips pixels, so they keep the extremes observed whatever the method
  const carriers = outlierCarriers(q);
  const ranges = new Map([...obs].map(([id, ob]) => [id, ob.range(carriers.has(id) ? 'minmax' : method, o.percentile)]));
  const act = assignQParams(q, ranges);
  return {
    ...q,
    quant: {
      scheme: 'int8', method, act, ...quantizeWeights(q),
      calibration: { samples: samples.length, ...(method === 'percentile' ? { percentile: o.percentile ?? 0.9999 } : {}), ...(o.provenance ?? {}) },
    },
  };
}

/** The node a state output reads (the probe holds every node's value under its own id). */
function byOutput(g: Graph, outputId: string): string {
  const n = g.nodes.find((m) => m.id === outputId);
  if (!n || n.op !== 'output') throw graphError(g, null, `state output '${outputId}' is not an output node`);
  const src = g.nodes.find((m) => m.id === n.inputs[0]);
  if (src?.op === 'input') throw graphError(g, n, 'a state output that passes its input through is not supported in calibration');
  return n.inputs[0]!;
}
