// Quantization-aware training on the int8 graph: the quantized deploy graph (graph/quant.ts) run
// as a differentiable network whose every int8 tensor is fake-quantized at its scale and zero
// point (fixed from calibration) and whose conv weights are fake-quantized per output channel
// at the scales the export will compute, so fine-tuning learns weights that survive rounding.
// Browser-safe; the loop over training batches is qat.node.ts.
import { Tensor } from '../tensor/tensor.js';
import { type Var } from '../autograd/var.js';
import { conv2d, convRelu } from '../autograd/ops/conv.js';
import { relu, leakyRelu, prelu, tanh, sigmoid, clamp, add, mul } from '../autograd/ops/pointwise.js';
import { concat, split, depthToSpace, spaceToDepth } from '../autograd/ops/layout.js';
import { upsample } from '../autograd/ops/resize.js';
import { fakeQuant, fakeQuantPerChannel } from '../autograd/ops/quant.js';
import { Parameter } from '../nn/module.js';
import { graphError, graphInputs, graphOutputs, type Graph } from '../graph/ir.js';
import { validateQuant, quantizeWeights, type QuantGraph } from '../graph/quant.js';

export class QatGraph {
  private readonly params = new Map<string, Parameter>();
  readonly graph: QuantGraph;

  constructor(g: Graph) {
    validateQuant(g);
    if (g.meta.video || graphInputs(g).length !== 1 || graphOutputs(g).length !== 1) {
      throw graphError(g, null, 'quantization-aware training takes an image model (one input, one output); video step graphs are not trained this way yet');
    }
    this.graph = g;
    for (const [k, w] of Object.entries(g.weights)) this.params.set(k, new Parameter(Tensor.from(w.shape, w.data)));
  }

  parameters(): Parameter[] {
    return [...this.params.values()];
  }

  /** The graph's function on x [N, H, W, C] with every int8 tensor fake-quantized. */
  forward(x: Var): Var {
    const q = this.graph.quant, vals = new Map<string, Var>();
    const p = (name: string): Parameter => this.params.get(name)!;
    const fq = (id: string, v: Var): Var => fakeQuant(v, q.act[id]!.scale, q.act[id]!.zeroPoint);
    const inOf = (i: string): Var => vals.get(i)!;
    for (const n of this.graph.nodes) {
      let y: Var;
      switch (n.op) {
        case 'input': y = fq(n.id, x); break;
        case 'output': y = inOf(n.inputs[0]!); break;
        case 'conv': {
          const w = fakeQuantPerChannel(p(n.weight)), b = n.bias === null ? null : p(n.bias);
          const o = { groups: n.groups, padding: n.padding };
          y = fq(n.id, n.act?.kind === 'relu' ? convRelu(inOf(n.inputs[0]!), w, b, o) : conv2d(inOf(n.inputs[0]!), w, b, o));
          break;
        }
        case 'act': {
          const v = inOf(n.inputs[0]!), a = n.act;
          if (a.kind === 'clamp') { y = clamp(v, a.lo, a.hi); break; }
          const r = a.kind === 'relu' ? relu(v) : a.kind === 'leaky' ? leakyRelu(v, a.slope) : a.kind === 'tanh' ? tanh(v) : a.kind === 'sigmoid' ? sigmoid(v)
            : prelu(v, fakeQuant(p(a.alpha), q.alpha[a.alpha]!.scale, q.alpha[a.alpha]!.zeroPoint));
          y = fq(n.id, r);
          break;
        }
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
          if (n.mode !== 'nearest' && n.mode !== 'bilinear') throw graphError(this.graph, n, `${n.mode} resize has no int8 form`);
          y = fq(n.id, upsample(inOf(n.inputs[0]!), n.scale, n.mode));
          break;
        }
        default: throw graphError(this.graph, n, `${n.op} is not trained with quantization`);
      }
      vals.set(n.id, y);
    }
    return vals.get(graphOutputs(this.graph)[0]!.id)!;
  }

  /** The quantized graph with the trained weights: activation parameters kept, weight and slope scales recomputed. */
  toQuantGraph(provenance: Record<string, unknown> = {}): QuantGraph {
    const weights = Object.fromEntries([...this.params].map(([k, v]) => [k, { shape: [...v.value.shape], data: v.value.toArray().slice() }]));
    const g = { ...this.graph, weights };
    return { ...g, quant: { ...this.graph.quant, ...quantizeWeights(g), calibration: { ...this.graph.quant.calibration, qat: provenance } } };
  }

  dispose(): void {
    for (const v of this.params.values()) v.value.dispose();
  }
}
