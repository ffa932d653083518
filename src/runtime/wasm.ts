// The wasm runtime: the deploy IR compiled for the engine's raw ops (no autograd). After the IR
// passes (graph/passes.ts) the plan runs the last conv (+ residual add + activation) +
// depth_to_space as one fused kernel where the pattern fits. Every intermediate is freed as soon
// as its last consumer has run. A graph may have several named inputs and outputs (a video
// model's step graph); an image graph's run(x) is the one-input, one-output case.
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { conv2d, conv2dDepthToSpace, type Activation } from '../tensor/ops/conv.js';
import { convTranspose2d } from '../tensor/ops/convTranspose.js';
import { relu, leakyRelu, prelu, tanh, sigmoid, gelu, clamp, add, mul } from '../tensor/ops/pointwise.js';
import { concat, copyChannels, depthToSpace, spaceToDepth } from '../tensor/ops/layout.js';
import { upsample, resize } from '../tensor/ops/resize.js';
import { matlabImresize } from '../tensor/ops/matlabResize.js';
import { estimateShiftTensor, translateTensor } from '../tensor/ops/align.js';
import { globalPool, scaleChannels } from '../tensor/ops/channels.js';
import { maxPool2d } from '../tensor/ops/pool.js';
import { layerNorm } from '../tensor/ops/norm.js';
import { windowAttention } from '../tensor/ops/attention.js';
import {
  type Graph, type ConvNode, type Act,
  graphError, graphInputs, graphOutputs, inputNode, outputNode,
} from '../graph/ir.js';
import { inferShapes, inferChannels } from '../graph/shapes.js';
import { optimizeFloatGraph, fusedTails, neededSteps, tailLabel, type FusedTail } from '../graph/passes.js';

// ---- plan ------------------------------------------------------------------------------------

interface Step {
  id: string;
  label: string;
  inputs: string[];
  exec: (ins: Tensor[]) => Tensor;
}

export interface RunOptions {
  /** Apply optimizeFloatGraph and the fused conv + residual + activation + depth_to_space kernel (default true). */
  fuse?: boolean;
}

export interface CompiledGraph {
  readonly graph: Graph;
  /** One label per executed step, in order (e.g. "conv_last+depthToSpace(upsampler)"). */
  readonly plan: readonly string[];
  /**
   * Run a one-input graph on an NHWC input; returns a new tensor, its first output (x is not
   * consumed). `onStep` is called after each step, once the values it read for the last time
   * are freed (for tracing and memory tests).
   */
  run(x: Tensor, onStep?: (label: string) => void): Tensor;
  /** Run on named inputs (every input node's id); returns a new tensor per output node id. Inputs are not consumed. */
  runNamed(inputs: Record<string, Tensor>, onStep?: (label: string) => void): Record<string, Tensor>;
  /** Free the weight tensors. */
  dispose(): void;
}

/**
 * Compile a graph for repeated runs: passes, a step list with fused kernels, weights uploaded
 * to the engine once. Channel consistency is checked here; sizes at each run.
 */
export function compileGraph(g: Graph, opts: RunOptions = {}): CompiledGraph {
  const fuse = opts.fuse ?? true;
  const original = g;
  inferChannels(g); // channel consistency, with errors naming nodes
  const fg = fuse ? optimizeFloatGraph(g) : g;
  const channels = inferChannels(fg);
  const byId = new Map(fg.nodes.map((n) => [n.id, n]));
  const tensors = new Map<string, Tensor>();
  const W = (name: string): Tensor => {
    let t = tensors.get(name);
    if (!t) {
      const w = fg.weights[name]!;
      t = Tensor.from(w.shape, w.data);
      tensors.set(name, t);
    }
    return t;
  };
  const toActivation = (a: Act | undefined): Activation => {
    if (!a) return { kind: 'none' };
    switch (a.kind) {
      case 'leaky': return { kind: 'leaky', slope: a.slope };
      case 'clamp': return { kind: 'clamp', lo: a.lo, hi: a.hi };
      case 'prelu': return { kind: 'prelu', alpha: W(a.alpha) };
      default: return { kind: a.kind }; // relu, tanh, sigmoid, gelu
    }
  };
  const applyAct = (a: Act, x: Tensor): Tensor => {
    switch (a.kind) {
      case 'relu': return relu(x);
      case 'leaky': return leakyRelu(x, a.slope);
      case 'prelu': return prelu(x, W(a.alpha));
      case 'tanh': return tanh(x);
      case 'sigmoid': return sigmoid(x);
      case 'gelu': return gelu(x);
      case 'clamp': return clamp(x, a.lo, a.hi);
    }
  };
  const convStep = (c: ConvNode): Step['exec'] => {
    const w = W(c.weight), b = c.bias === null ? null : W(c.bias);
    const act = toActivation(c.act);
    return ([x]) => conv2d(x!, w, b, { groups: c.groups, padding: c.padding, dilation: c.dilation, stride: c.stride, act });
  };

  /** A fused tail (graph/passes.ts) as one conv2dDepthToSpace step. */
  const tailStep = (t: FusedTail): Step => {
    const { conv: c, depthToSpace: d, act, residual: res } = t;
    const fused = toActivation(act);
    const w = W(c.weight), b = c.bias === null ? null : W(c.bias);
    return {
      id: d.id, label: tailLabel(t), inputs: res ? [c.inputs[0]!, res.src] : [c.inputs[0]!],
      exec: ([x, r]) => conv2dDepthToSpace(x!, w, b, { scale: d.scale, order: d.order, residual: r, residualMap: res?.map }, { padding: c.padding, dilation: c.dilation, act: fused }),
    };
  };

  const steps: Step[] = [];
  const absorbed = new Set<string>();
  const tails = new Map<string, Step>();
  if (fuse) {
    for (const [id, t] of fusedTails(fg, channels)) {
      tails.set(id, tailStep(t));
      for (const a of t.absorbed) absorbed.add(a);
    }
  }
  for (const n of fg.nodes) {
    if (n.op === 'input' || n.op === 'output' || absorbed.has(n.id)) continue;
    const tail = tails.get(n.id);
    if (tail) {
      steps.push(tail);
      continue;
    }
    const step = (exec: Step['exec']): Step => ({ id: n.id, label: `${n.op}(${n.id})${n.op === 'conv' && n.act ? `+${n.act.kind}` : ''}`, inputs: n.inputs, exec });
    switch (n.op) {
      case 'conv': steps.push(step(convStep(n))); break;
      case 'convTranspose': {
        const w = W(n.weight), b = n.bias === null ? null : W(n.bias);
        steps.push(step(([x]) => convTranspose2d(x!, w, b, { stride: n.stride, padding: n.padding, outputPadding: n.outputPadding })));
        break;
      }
      case 'act': {
        const a = n.act;
        if (a.kind === 'prelu') W(a.alpha);
        steps.push(step(([x]) => applyAct(a, x!)));
        break;
      }
      case 'add': steps.push(step(([a, b]) => add(a!, b!))); break;
      case 'mul': steps.push(step(([a, b]) => mul(a!, b!))); break;
      case 'concat': steps.push(step((xs) => concat(xs))); break;
      case 'slice':
        steps.push(step(([x]) => {
          const [N, H, Wd] = x!.shape as [number, number, number];
          const y = Tensor.empty([N, H, Wd, n.end - n.start]);
          try {
            copyChannels(x!, n.start, y, 0, n.end - n.start);
          } catch (e) {
            y.dispose();
            throw e;
          }
          return y;
        }));
        break;
      case 'depthToSpace': steps.push(step(([x]) => depthToSpace(x!, n.scale, n.order))); break;
      case 'spaceToDepth': steps.push(step(([x]) => spaceToDepth(x!, n.scale, n.order))); break;
      case 'estimateShift': steps.push(step(([a, b]) => estimateShiftTensor(a!, b!, n.radius))); break;
      case 'translate': steps.push(step(([x, d]) => translateTensor(x!, d!, n.factor))); break;
      case 'resize':
        steps.push(step(([x]) => (n.mode === 'matlabBicubic' ? matlabImresize(x!, n.scale) : upsample(x!, n.scale, n.mode))));
        break;
      case 'globalPool': steps.push(step(([x]) => globalPool(x!, n.stat))); break;
      case 'scaleChannels': steps.push(step(([x, s]) => scaleChannels(x!, s!))); break;
      case 'maxPool': steps.push(step(([x]) => maxPool2d(x!, n.kernel, n.stride))); break;
      case 'resizeLike': steps.push(step(([x, l]) => resize(x!, l!.shape[1]!, l!.shape[2]!, n.mode))); break;
      case 'layerNorm': {
        const w = W(n.weight), b = W(n.bias);
        steps.push(step(([x]) => layerNorm(x!, w, b, n.eps)));
        break;
      }
      case 'windowAttention': steps.push(step(([x]) => windowAttention(x!, { heads: n.heads, window: n.window }))); break;
      default: throw graphError(fg, n, 'has no kernel in the wasm runtime');
    }
  }

  // drop steps nothing needs (the slices and concat of a residual the fused tail reads directly)
  const ins = graphInputs(fg), outs = graphOutputs(fg);
  const inIds = new Set(ins.map((n) => n.id));
  const live = neededSteps(fg, steps);
  const reads = new Map<string, number>();
  for (const o of outs) reads.set(o.inputs[0]!, (reads.get(o.inputs[0]!) ?? 0) + 1);
  for (const s of live) for (const x of s.inputs) reads.set(x, (reads.get(x) ?? 0) + 1);
  const inputSpecs = graphInputs(original);
  const baseSize = (id: string, x: Tensor): [number, number] => {
    const spec = inputSpecs.find((n) => n.id === id)!, k = spec.scale ?? 1;
    if (x.shape.length !== 4 || x.shape[3] !== spec.channels || x.shape[1]! % k || x.shape[2]! % k) {
      throw graphError(original, spec, `expects an NHWC input with ${spec.channels} channels${k > 1 ? ` at ${k}x the frame size` : ''}, got ${shapeStr(x.shape)}`);
    }
    return [x.shape[1]! / k, x.shape[2]! / k];
  };

  const runNamed = (inputs: Record<string, Tensor>, onStep?: (label: string) => void): Record<string, Tensor> => {
    let size: [number, number] | null = null;
    for (const spec of inputSpecs) {
      const x = inputs[spec.id];
      if (!x) throw graphError(original, spec, `input '${spec.id}' was not given (inputs: ${inputSpecs.map((n) => n.id).join(', ')})`);
      const s = baseSize(spec.id, x);
      if (size && (s[0] !== size[0] || s[1] !== size[1])) throw graphError(original, spec, `input ${shapeStr(x.shape)} does not match the other inputs' ${size[0]}x${size[1]} frame size`);
      size = s;
    }
    inferShapes(original, size![0], size![1]); // size errors name the node
    const vals = new Map<string, Tensor>(inputSpecs.map((n) => [n.id, inputs[n.id]!]));
    const left = new Map(reads);
    const result: Record<string, Tensor> = {};
    try {
      for (const s of live) {
        let y: Tensor;
        try {
          y = s.exec(s.inputs.map((i) => vals.get(i)!));
        } catch (e) {
          throw graphError(original, byId.get(s.id) ?? null, `${s.label}: ${(e as Error).message.replace(/^mvsr: /, '')}`);
        }
        vals.set(s.id, y);
        for (const i of s.inputs) {
          const k = left.get(i)! - 1;
          left.set(i, k);
          if (k === 0 && !inIds.has(i)) {
            vals.get(i)!.dispose();
            vals.delete(i);
          }
        }
        onStep?.(s.label);
      }
      for (const o of outs) {
        const src = o.inputs[0]!;
        const k = left.get(src)! - 1;
        left.set(src, k);
        // the last reader takes the value itself; an input, or a value read again, is copied
        if (k === 0 && !inIds.has(src)) {
          result[o.id] = vals.get(src)!;
          vals.delete(src);
        } else result[o.id] = vals.get(src)!.clone();
      }
      return result;
    } catch (e) {
      for (const t of Object.values(result)) t.dispose();
      throw e;
    } finally {
      for (const [id, t] of vals) if (!inIds.has(id)) t.dispose();
    }
  };

  const first = inputNode(original), firstOut = outputNode(original);
  return {
    graph: fg,
    plan: live.map((s) => s.label),
    run(x: Tensor, onStep?: (label: string) => void): Tensor {
      if (inputSpecs.length !== 1) throw graphError(original, null, `has ${inputSpecs.length} inputs (${inputSpecs.map((n) => n.id).join(', ')}): use runNamed`);
      const r = runNamed({ [first.id]: x }, onStep);
      for (const [id, t] of Object.entries(r)) if (id !== firstOut.id) t.dispose();
      return r[firstOut.id]!;
    },
    runNamed,
    dispose(): void {
      for (const t of tensors.values()) t.dispose();
      tensors.clear();
    },
  };
}

/** Run a graph once on x (NHWC, the graph's input channels): compile, run, free the weights. */
export function runGraph(g: Graph, x: Tensor, opts: RunOptions = {}): Tensor {
  if (x.shape.length === 4) inferShapes(g, x.shape[1]!, x.shape[2]!); // errors with this input's sizes
  const c = compileGraph(g, opts);
  try {
    return c.run(x);
  } finally {
    c.dispose();
  }
}

