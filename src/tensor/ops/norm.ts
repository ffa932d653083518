// Layer normalisation over the last (channel) axis, PyTorch's nn.LayerNorm(C) on NHWC tensors
// (VapSR normalises each pixel's C channels), forward and backward. Per-pixel statistics in f64
// (kernels/norm.ts); the weight and bias gradients are deterministic chunked channel sums.
import { engine } from '../engine.js';
import { Tensor, assertSameShape, shapeStr } from '../tensor.js';
import { CHUNK_PIXELS, roundUp4, withScratch } from './util.js';

/** PyTorch's default eps of nn.LayerNorm. */
export const LAYER_NORM_EPS = 1e-5;

/** What the backward pass needs from a training forward: x̂ = (x - mean) / σ (x's shape) and 1/σ per pixel (last axis 1). */
export interface LayerNormSaved { xhat: Tensor; rstd: Tensor }

/** [pixels, channels] of x after checking the weight, bias and eps against it. */
function checkArgs(op: string, x: Tensor, weight: Tensor, bias: Tensor, eps: number): [number, number] {
  const C = x.shape[x.shape.length - 1];
  if (C === undefined || C < 1) throw new Error(`mvsr: ${op}: input ${shapeStr(x.shape)} has no channels to normalise`);
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t.shape.length !== 1 || t.shape[0] !== C) {
      throw new Error(`mvsr: ${op}: ${name} ${shapeStr(t.shape)} must be [${C}] (one value per channel of input ${shapeStr(x.shape)})`);
    }
  }
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) throw new Error(`mvsr: ${op}: eps must be a finite number > 0, got ${eps}`);
  return [x.size / C, C];
}

function forward(op: string, x: Tensor, weight: Tensor, bias: Tensor, eps: number, save: boolean): { y: Tensor; saved: LayerNormSaved | null } {
  const [P] = checkArgs(op, x, weight, bias, eps);
  const made: Tensor[] = [];
  try {
    const y = Tensor.empty(x.shape);
    made.push(y);
    let saved: LayerNormSaved | null = null;
    if (save) {
      saved = { xhat: Tensor.empty(x.shape), rstd: Tensor.empty([...x.shape.slice(0, -1), 1]) };
      made.push(saved.xhat, saved.rstd);
    }
    if (P > 0) {
      engine().run('layer_norm_fwd', [x.ptr, weight.ptr, bias.ptr, y.ptr, saved ? saved.xhat.ptr : 0, saved ? saved.rstd.ptr : 0, P, x.shape[x.shape.length - 1]!, eps]);
    }
    return { y, saved };
  } catch (err) {
    for (const t of made) t.dispose();
    throw err;
  }
}

/**
 * PyTorch F.layer_norm(x, [C], weight, bias, eps) over the last axis of x (NHWC: each pixel's
 * channels): (x - mean) / sqrt(var + eps) * weight + bias, var the population variance.
 */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps = LAYER_NORM_EPS): Tensor {
  return forward('layerNorm', x, weight, bias, eps, false).y;
}

/** layerNorm for training: the output and what layerNormBackward needs (the caller owns all three). */
export function layerNormTrain(x: Tensor, weight: Tensor, bias: Tensor, eps = LAYER_NORM_EPS): { y: Tensor } & LayerNormSaved {
  const { y, saved } = forward('layerNorm', x, weight, bias, eps, true);
  return { y, ...saved! };
}

export interface LayerNormGrads { dx: Tensor | null; dweight: Tensor | null; dbias: Tensor | null }

/**
 * Gradients of layerNorm given dy and the saved x̂, 1/σ: dx = (1/σ)(g - mean_c(g) - x̂ mean_c(g x̂))
 * with g = dy * weight per pixel; dweight = sum over pixels of dy * x̂, dbias = sum of dy
 * (deterministic, the same for any thread count).
 */
export function layerNormBackward(
  dy: Tensor, saved: LayerNormSaved, weight: Tensor, need: { dx: boolean; dweight: boolean; dbias: boolean } = { dx: true, dweight: true, dbias: true },
): LayerNormGrads {
  const op = 'layerNormBackward';
  const { xhat, rstd } = saved;
  assertSameShape(op, xhat, dy, 'normalised input', 'output gradient');
  const C = xhat.shape[xhat.shape.length - 1]!;
  if (weight.shape.length !== 1 || weight.shape[0] !== C) throw new Error(`mvsr: ${op}: weight ${shapeStr(weight.shape)} must be [${C}] (one value per channel of ${shapeStr(xhat.shape)})`);
  const P = xhat.size / C;
  if (rstd.size !== P) throw new Error(`mvsr: ${op}: 1/sigma ${shapeStr(rstd.shape)} does not hold one value per pixel of ${shapeStr(xhat.shape)}`);
  const e = engine();
  const made: Tensor[] = [];
  const make = (on: boolean, shape: readonly number[]): Tensor | null => {
    if (!on) return null;
    const t = Tensor.empty(shape);
    made.push(t);
    return t;
  };
  try {
    const dx = make(need.dx, xhat.shape), dweight = make(need.dweight, [C]), dbias = make(need.dbias, [C]);
    if (P === 0) {
      dweight?.data.fill(0);
      dbias?.data.fill(0);
      return { dx, dweight, dbias };
    }
    if (dx) e.run('layer_norm_bwd', [dy.ptr, xhat.ptr, rstd.ptr, weight.ptr, dx.ptr, P, C]);
    if (dweight || dbias) {
      const CP = roundUp4(C), nChunks = Math.ceil(P / CHUNK_PIXELS);
      withScratch(2 * nChunks * CP, (partial) => {
        const pw = partial, pb = partial + nChunks * CP * 4;
        e.run('layer_norm_wgrad_chunks', [dy.ptr, xhat.ptr, P, C, CP, dweight ? pw : 0, dbias ? pb : 0]);
        if (dweight) e.call('sum_chunks', [pw, nChunks, C, CP, dweight.ptr, 0]);
        if (dbias) e.call('sum_chunks', [pb, nChunks, C, CP, dbias.ptr, 0]);
      });
    }
    return { dx, dweight, dbias };
  } catch (err) {
    for (const t of made) t.dispose();
    throw err;
  }
}
