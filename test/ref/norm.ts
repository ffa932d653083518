/**
 * Layer normalisation over the last axis, from its definition (PyTorch nn.LayerNorm(C) on NHWC):
 * for each pixel, mean = sum(x) / C, var = sum((x - mean)^2) / C (population), and
 * y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c].
 */
import { type RT, type VecLike, checkRT, vecData, shapeStr } from './tensor.js';

export function layerNorm(x: RT, weight: VecLike, bias: VecLike, eps = 1e-5): RT {
  checkRT(x, 'layerNorm input');
  const C = x.shape[x.shape.length - 1];
  if (!C) throw new Error(`layerNorm: input ${shapeStr(x.shape)} has no channels`);
  const w = vecData(weight, 'layerNorm weight', C), b = vecData(bias, 'layerNorm bias', C);
  const out: RT = { shape: [...x.shape], data: new Float64Array(x.data.length) };
  for (let p = 0; p < x.data.length / C; p++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x.data[p * C + c]!;
    const mean = s / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x.data[p * C + c]! - mean) ** 2;
    const sd = Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) out.data[p * C + c] = ((x.data[p * C + c]! - mean) / sd) * w[c]! + b[c]!;
  }
  return out;
}
