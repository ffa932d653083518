// Shape inference over the deploy IR: for an H x W input, every node's [H, W, C] (batch is
// free), with errors that name the node whose inputs or weights do not fit.
import { type Graph, type GraphNode, type Act, graphError, validateGraph, weightOf, convSpan } from './ir.js';
import { matlabOutputSize } from '../tensor/ops/matlabResize.js';

/** [height, width, channels] of a node's output. */
export type NodeShape = readonly [number, number, number];

// Channel-only inference runs with NaN for H and W: spatial checks are skipped, messages show channels.
const fmt = (s: NodeShape): string => (Number.isNaN(s[0]) ? `${s[2]} channels` : `${s[0]}x${s[1]}x${s[2]}`);
const sameDim = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

function checkActChannels(g: Graph, n: GraphNode, a: Act | undefined, C: number): void {
  if (a?.kind !== 'prelu') return;
  const size = weightOf(g, n, a.alpha).shape[0]!;
  if (size !== 1 && size !== C) throw graphError(g, n, `PReLU alpha '${a.alpha}' has ${size} values, expected 1 or ${C} (channels)`);
}

/** Output size of a resize node along one axis (PyTorch scale_factor: floor; MATLAB: ceil). */
export function resizeOutputSize(size: number, scale: number, mode: string): number {
  return mode === 'matlabBicubic' ? matlabOutputSize(size, scale) : Math.floor(size * scale);
}

function nodeShape(g: Graph, n: GraphNode, ins: NodeShape[], H: number, W: number): NodeShape {
  const x = ins[0]!;
  switch (n.op) {
    case 'input':
      return [H * (n.scale ?? 1), W * (n.scale ?? 1), n.channels];
    case 'output':
      return x;
    case 'conv': {
      const w = weightOf(g, n, n.weight).shape;
      const [Cout, Cig] = w as [number, number];
      if (Cig * n.groups !== x[2]) {
        throw graphError(g, n, `input '${n.inputs[0]}' has ${x[2]} channels but weight '${n.weight}' [${w.join(',')}] with groups=${n.groups} expects ${Cig * n.groups}`);
      }
      const { dilation, span } = convSpan(n);
      const Ho1 = x[0] + 2 * n.padding - span + 1, Wo1 = x[1] + 2 * n.padding - span + 1, S = n.stride ?? 1;
      if (Ho1 < 1 || Wo1 < 1) throw graphError(g, n, `input ${fmt(x)} is smaller than kernel ${n.kernel}${dilation > 1 ? ` (dilation ${dilation})` : ''} with padding ${n.padding}`);
      const Ho = Math.floor((Ho1 - 1) / S) + 1, Wo = Math.floor((Wo1 - 1) / S) + 1;
      checkActChannels(g, n, n.act, Cout);
      return [Ho, Wo, Cout];
    }
    case 'convTranspose': {
      const w = weightOf(g, n, n.weight).shape;
      if (w[0] !== x[2]) throw graphError(g, n, `input '${n.inputs[0]}' has ${x[2]} channels but weight '${n.weight}' [${w.join(',')}] expects ${w[0]}`);
      const out = (s: number): number => (s - 1) * n.stride - 2 * n.padding + n.kernel + n.outputPadding;
      const Ho = out(x[0]), Wo = out(x[1]);
      if (Ho < 1 || Wo < 1) throw graphError(g, n, `input ${fmt(x)} gives an empty output ${Ho}x${Wo}`);
      return [Ho, Wo, w[1]!];
    }
    case 'act':
      checkActChannels(g, n, n.act, x[2]);
      return x;
    case 'add':
    case 'mul': {
      const y = ins[1]!;
      if (!sameDim(x[0], y[0]) || !sameDim(x[1], y[1]) || x[2] !== y[2]) {
        throw graphError(g, n, `inputs '${n.inputs[0]}' ${fmt(x)} and '${n.inputs[1]}' ${fmt(y)} differ in shape`);
      }
      return x;
    }
    case 'concat': {
      let C = 0;
      ins.forEach((s, i) => {
        if (!sameDim(s[0], x[0]) || !sameDim(s[1], x[1])) {
          throw graphError(g, n, `input '${n.inputs[i]}' ${fmt(s)} does not match input '${n.inputs[0]}' ${fmt(x)} in H, W`);
        }
        C += s[2];
      });
      return [x[0], x[1], C];
    }
    case 'slice':
      if (n.end > x[2]) throw graphError(g, n, `channel range [${n.start}, ${n.end}) exceeds the ${x[2]} channels of input '${n.inputs[0]}'`);
      return [x[0], x[1], n.end - n.start];
    case 'depthToSpace': {
      const s2 = n.scale * n.scale;
      if (x[2] % s2) throw graphError(g, n, `input '${n.inputs[0]}' has ${x[2]} channels, not divisible by scale^2 = ${s2}`);
      return [x[0] * n.scale, x[1] * n.scale, x[2] / s2];
    }
    case 'spaceToDepth': {
      if (x[0] % n.scale || x[1] % n.scale) throw graphError(g, n, `input '${n.inputs[0]}' ${fmt(x)} is not divisible by scale ${n.scale} in H and W`);
      return [x[0] / n.scale, x[1] / n.scale, x[2] * n.scale * n.scale];
    }
    case 'estimateShift': {
      const y = ins[1]!;
      if (!sameDim(x[0], y[0]) || !sameDim(x[1], y[1]) || x[2] !== y[2]) {
        throw graphError(g, n, `frames '${n.inputs[0]}' ${fmt(x)} and '${n.inputs[1]}' ${fmt(y)} differ in shape`);
      }
      return [1, 1, 2];
    }
    case 'translate': {
      const d = ins[1]!;
      if (d[0] !== 1 || d[1] !== 1 || d[2] !== 2) throw graphError(g, n, `shift '${n.inputs[1]}' is ${fmt(d)}, not an estimateShift's 1x1x2`);
      return x;
    }
    case 'globalPool':
      return [1, 1, x[2]];
    case 'maxPool': {
      const Ho = Math.floor((x[0] - n.kernel) / n.stride) + 1, Wo = Math.floor((x[1] - n.kernel) / n.stride) + 1;
      if (Ho < 1 || Wo < 1) throw graphError(g, n, `input ${fmt(x)} is smaller than the ${n.kernel}x${n.kernel} window`);
      return [Ho, Wo, x[2]];
    }
    case 'resizeLike': {
      const like = ins[1]!;
      return [like[0], like[1], x[2]];
    }
    case 'scaleChannels': {
      const y = ins[1]!;
      if (y[0] !== 1 || y[1] !== 1 || y[2] !== x[2]) throw graphError(g, n, `scale '${n.inputs[1]}' is ${fmt(y)}, not 1x1x${x[2]} (one value per channel of '${n.inputs[0]}')`);
      return x;
    }
    case 'windowAttention': {
      if (x[2] % 3 || (x[2] / 3) % n.heads) throw graphError(g, n, `input '${n.inputs[0]}' has ${x[2]} channels: not q, k and v of C channels each with C divisible by ${n.heads} heads`);
      return [x[0], x[1], x[2] / 3];
    }
    case 'layerNorm': {
      const C = weightOf(g, n, n.weight).shape[0]!;
      if (C !== x[2]) throw graphError(g, n, `input '${n.inputs[0]}' has ${x[2]} channels but weight '${n.weight}' [${C}] normalises ${C}`);
      return x;
    }
    case 'resize': {
      const Ho = resizeOutputSize(x[0], n.scale, n.mode), Wo = resizeOutputSize(x[1], n.scale, n.mode);
      if (Ho < 1 || Wo < 1) throw graphError(g, n, `input ${fmt(x)} resized by ${n.scale} is empty (${Ho}x${Wo})`);
      return [Ho, Wo, x[2]];
    }
  }
}

/**
 * Validate the graph and infer every node's output shape for an H x W input. Throws an error
 * naming the first node whose inputs or weights are inconsistent.
 */
export function inferShapes(g: Graph, H: number, W: number): Map<string, NodeShape> {
  validateGraph(g);
  if (!Number.isInteger(H) || !Number.isInteger(W) || H < 1 || W < 1) {
    throw graphError(g, null, `input size ${H}x${W} must be positive integers`);
  }
  return propagate(g, H, W);
}

function propagate(g: Graph, H: number, W: number): Map<string, NodeShape> {
  const shapes = new Map<string, NodeShape>();
  for (const n of g.nodes) shapes.set(n.id, nodeShape(g, n, n.inputs.map((i) => shapes.get(i)!), H, W));
  return shapes;
}

/** Validate the graph and infer every node's channel count (checks that hold for any input size). */
export function inferChannels(g: Graph): Map<string, number> {
  validateGraph(g);
  return new Map([...propagate(g, NaN, NaN)].map(([k, s]) => [k, s[2]]));
}

/** The output shape [H, W, C] for an H x W input (the first output of a step graph). */
export function outputShape(g: Graph, H: number, W: number): NodeShape {
  const shapes = inferShapes(g, H, W);
  return shapes.get(g.nodes.find((n) => n.op === 'output')!.id)!;
}
