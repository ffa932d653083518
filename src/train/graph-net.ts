// A deploy graph as a trainable network, for fine-tuning what is no longer a zoo model: a pruned
// or clustered graph (graph/compress.ts) in float, or an int8 graph (graph/quant.ts) with
// quantization in the loop: every int8 tensor fake-quantized at its scale and zero point (fixed
// from calibration) and every conv weight per output channel at the scales the export will
// compute, so fine-tuning learns weights that survive rounding (QAT). Browser-safe; the loop over
// training batches is graph-tune.node.ts.
import { Tensor } from '../tensor/tensor.js';
import { type Var } from '../autograd/var.js';
import { conv2d, convRelu } from '../autograd/ops/conv.js';
import { relu, leakyRelu, prelu, tanh, sigmoid, gelu, clamp, add, mul } from '../autograd/ops/pointwise.js';
import { concat, split, depthToSpace, spaceToDepth } from '../autograd/ops/layout.js';
import { upsample, resize } from '../autograd/ops/resize.js';
import { maxPool2d } from '../autograd/ops/pool.js';
import { globalPool, scaleChannels } from '../autograd/ops/channels.js';
import { layerNorm } from '../autograd/ops/norm.js';
import { windowAttention } from '../autograd/ops/attention.js';
import { fakeQuant, fakeQuantPerChannel, fakeQuantRange } from '../autograd/ops/quant.js';
import { translateBy } from '../autograd/ops/align.js';
import { convTranspose2d } from '../autograd/ops/convTranspose.js';
import { estimateShiftTensor } from '../tensor/ops/align.js';
import { sharedWeight } from '../autograd/ops/cluster.js';
import type { Clusters } from '../graph/compress.js';
import { Parameter } from '../nn/module.js';
import { graphError, graphInputs, graphOutputs, type Graph, type Act } from '../graph/ir.js';
import { validateQuant, quantizeWeights, assignQParams, rangeKind, reluFedAdds, qRange, type QuantGraph, type QParams } from '../graph/quant.js';

export class GraphNet {
  private readonly params = new Map<string, Parameter>();
  private readonly quant: QuantGraph['quant'] | null;

  private readonly clusters: Clusters;
  /** learnRanges: the range [lo, hi] of every tensor whose int8 parameters calibration observed, trained (fakeQuantRange). */
  private readonly ranges = new Map<string, Parameter>();

  /**
   * `g` with a quant section trains with fake quantization (QAT); without, in float. Weights in
   * `clusters` train as their centroids (each value stays its centroid: clustering is kept).
   * `learnRanges` (an int8 graph) also trains the activation ranges calibration chose; the
   * tensors whose parameters follow others' (a resize, a concat, a video state, an add
   * before a ReLU) follow them.
   */
  constructor(readonly graph: Graph, clusters: Clusters = {}, o: { learnRanges?: boolean } = {}) {
    this.clusters = clusters;
    const quant = (graph as Partial<QuantGraph>).quant;
    if (quant) validateQuant(graph);
    this.quant = quant ?? null;
    if (o.learnRanges) {
      if (!quant) throw graphError(graph, null, 'learned ranges need an int8 graph (quantize it first)');
      const followers = reluFedAdds(graph); // an add before a ReLU has the ReLU's range
      for (const n of graph.nodes) if (n.op !== 'estimateShift' && rangeKind(n) === 'observed' && !followers.has(n.id)) this.ranges.set(n.id, new Parameter(Tensor.from([2], qRange(quant.act[n.id]!))));
    }
    const g = graph;
    if (!g.meta.video && (graphInputs(g).length !== 1 || graphOutputs(g).length !== 1)) {
      throw graphError(g, null, 'fine-tuning an image graph takes one input and one output (a video step graph describes its own in meta.video)');
    }
    for (const [k, w] of Object.entries(g.weights)) {
      const c = clusters[k];
      this.params.set(k, new Parameter(c ? Tensor.from([c.centroids.length], c.centroids) : Tensor.from(w.shape, w.data)));
    }
  }

  parameters(): Parameter[] {
    return [...this.params.values()];
  }

  /** The learned activation ranges (empty unless learnRanges). */
  rangeParameters(): Parameter[] {
    return [...this.ranges.values()];
  }

  /** The int8 parameters of every tensor now: calibration's, or with learnRanges those the current ranges give. */
  private activationParams(): Record<string, QParams> {
    const q = this.quant!;
    if (!this.ranges.size) return q.act;
    const r = new Map<string, [number, number]>(Object.entries(q.act).map(([id, p]) => [id, qRange(p)]));
    for (const [id, p] of this.ranges) {
      const [lo, hi] = p.value.toArray();
      r.set(id, [lo!, hi!]);
    }
    return assignQParams(this.graph, r);
  }

  /** An image graph's function on x [N, H, W, C] (every int8 tensor fake-quantized in an int8 graph). */
  forward(x: Var): Var {
    const g = this.graph;
    return this.forwardNamed({ [graphInputs(g)[0]!.id]: x })[graphOutputs(g)[0]!.id]!;
  }

  /**
   * One run of the graph on named inputs (a video step: its frames and state), every output by id.
   * Global alignment estimates its shift from the (fake-quantized) frames' values, without a
   * gradient, as the int8 runtime does; the moved tensor is fake-quantized at its own parameters.
   */
  forwardNamed(inputs: Record<string, Var>): Record<string, Var> {
    const q = this.quant, vals = new Map<string, Var>(), shifts: Tensor[] = [];
    try {
      return this.run(inputs, q, vals, shifts);
    } finally {
      for (const d of shifts) d.dispose();
    }
  }

  private run(inputs: Record<string, Var>, q: QuantGraph['quant'] | null, vals: Map<string, Var>, shifts: Tensor[]): Record<string, Var> {
    const shiftOf = new Map<string, Tensor>();
    const p = (name: string): Parameter => this.params.get(name)!;
    const act = q ? this.activationParams() : null;
    const fq = (id: string, v: Var): Var => {
      if (!act) return v;
      const r = this.ranges.get(id);
      return r ? fakeQuantRange(v, r, act[id]!) : fakeQuant(v, act[id]!.scale, act[id]!.zeroPoint);
    };
    const weightOf = (name: string, axis: 0 | 1 = 0): Var => {
      const c = this.clusters[name], v = c ? sharedWeight(p(name), c.assign, this.graph.weights[name]!.shape) : p(name);
      return q ? fakeQuantPerChannel(v, axis) : v;
    };
    const inOf = (i: string): Var => vals.get(i)!;
    // an activation (fused into a conv in a float graph: every kind; in an int8 graph only ReLU is)
    const activate = (v: Var, a: Act): Var => {
      switch (a.kind) {
        case 'relu': return relu(v);
        case 'leaky': return leakyRelu(v, a.slope);
        case 'tanh': return tanh(v);
        case 'sigmoid': return sigmoid(v);
        case 'gelu': return gelu(v);
        case 'clamp': return clamp(v, a.lo, a.hi);
        case 'prelu': return prelu(v, q ? fakeQuant(p(a.alpha), q.alpha[a.alpha]!.scale, q.alpha[a.alpha]!.zeroPoint) : p(a.alpha));
      }
    };
    for (const n of this.graph.nodes) {
      let y: Var;
      switch (n.op) {
        case 'input': {
          const x = inputs[n.id];
          if (!x) throw graphError(this.graph, n, 'no value given for this input');
          y = fq(n.id, x);
          break;
        }
        case 'estimateShift': {
          const d = estimateShiftTensor(inOf(n.inputs[0]!).value, inOf(n.inputs[1]!).value, n.radius);
          shifts.push(d);
          shiftOf.set(n.id, d);
          continue;
        }
        case 'translate': y = fq(n.id, translateBy(inOf(n.inputs[0]!), shiftOf.get(n.inputs[1]!)!, n.factor)); break;
        case 'convTranspose': {
          const b = n.bias === null ? null : p(n.bias);
          y = fq(n.id, convTranspose2d(inOf(n.inputs[0]!), weightOf(n.weight, 1), b, { stride: n.stride, padding: n.padding, outputPadding: n.outputPadding }));
          break;
        }
        case 'output': y = inOf(n.inputs[0]!); break;
        case 'conv': {
          const w = weightOf(n.weight), b = n.bias === null ? null : p(n.bias);
          const o = { groups: n.groups, padding: n.padding, dilation: n.dilation, stride: n.stride }, x0 = inOf(n.inputs[0]!);
          y = fq(n.id, n.act?.kind === 'relu' ? convRelu(x0, w, b, o) : n.act ? activate(conv2d(x0, w, b, o), n.act) : conv2d(x0, w, b, o));
          break;
        }
        case 'act':
          // a clamp keeps its input's int8 parameters (no new rounding)
          y = n.act.kind === 'clamp' ? activate(inOf(n.inputs[0]!), n.act) : fq(n.id, activate(inOf(n.inputs[0]!), n.act));
          break;
        case 'add': y = fq(n.id, add(inOf(n.inputs[0]!), inOf(n.inputs[1]!))); break;
        case 'mul': y = fq(n.id, mul(inOf(n.inputs[0]!), inOf(n.inputs[1]!))); break;
        case 'concat': y = n.inputs.length === 1 ? inOf(n.inputs[0]!) : fq(n.id, concat(n.inputs.map(inOf))); break;
        case 'slice': {
          const v = inOf(n.inputs[0]!), C = v.value.shape[3]!;
          const sizes = [n.start, n.end - n.start, C - n.end].filter((s) => s > 0);
          y = split(v, sizes)[n.start > 0 ? 1 : 0]!;
          break;
        }
        case 'depthToSpace': y = depthToSpace(inOf(n.inputs[0]!), n.scale, n.order); break;
        case 'spaceToDepth': y = spaceToDepth(inOf(n.inputs[0]!), n.scale, n.order); break;
        case 'resize': {
          if (n.mode !== 'nearest' && n.mode !== 'bilinear') throw graphError(this.graph, n, `${n.mode} resize is not trainable here`);
          y = fq(n.id, upsample(inOf(n.inputs[0]!), n.scale, n.mode));
          break;
        }
        case 'globalPool': y = fq(n.id, globalPool(inOf(n.inputs[0]!), n.stat)); break;
        case 'scaleChannels': y = fq(n.id, scaleChannels(inOf(n.inputs[0]!), inOf(n.inputs[1]!))); break;
        case 'maxPool': y = maxPool2d(inOf(n.inputs[0]!), n.kernel, n.stride); break;
        case 'resizeLike': {
          const like = inOf(n.inputs[1]!).value.shape;
          y = fq(n.id, resize(inOf(n.inputs[0]!), like[1]!, like[2]!, n.mode));
          break;
        }
        case 'layerNorm': y = fq(n.id, layerNorm(inOf(n.inputs[0]!), p(n.weight), p(n.bias), n.eps)); break;
        case 'windowAttention': y = fq(n.id, windowAttention(inOf(n.inputs[0]!), { heads: n.heads, window: n.window })); break;
        default: throw graphError(this.graph, n, `${(n as { op: string }).op} is not trained with quantization`);
      }
      vals.set(n.id, y);
    }
    return Object.fromEntries(graphOutputs(this.graph).map((o) => [o.id, vals.get(o.id)!]));
  }

  /** The graph with the trained weights; an int8 graph keeps its activation parameters and gets its weight and slope scales recomputed. */
  toGraph(provenance: Record<string, unknown> = {}): Graph {
    const weights = Object.fromEntries([...this.params].map(([k, v]) => {
      const c = this.clusters[k], values = v.value.toArray();
      return [k, c ? { shape: [...this.graph.weights[k]!.shape], data: Float32Array.from(c.assign, (j) => values[j]!) } : { shape: [...v.value.shape], data: values.slice() }];
    }));
    const g = { ...this.graph, weights };
    if (!this.quant) return { ...g, meta: { ...g.meta, history: [...(g.meta.history ?? []), { tune: provenance }] } };
    const qat = this.ranges.size ? { ...provenance, learnedRanges: this.ranges.size } : provenance;
    return { ...g, quant: { ...this.quant, act: this.activationParams(), ...quantizeWeights(g), calibration: { ...this.quant.calibration, qat } } } as QuantGraph;
  }

  dispose(): void {
    for (const v of this.params.values()) v.value.dispose();
    for (const v of this.ranges.values()) v.value.dispose();
  }
}
