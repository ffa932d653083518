// The host's part of a host-aligned model (graph/host-align.ts): the shifts and the moved inputs,
// computed from a step's own inputs with the engine's alignment kernels, as the float graph and
// the int8 runtime compute them. Browser-safe.
import { Tensor } from '../tensor/tensor.js';
import { estimateShiftTensor, translateTensor } from '../tensor/ops/align.js';
import { type Graph, graphError } from '../graph/ir.js';
import type { HostAlign } from '../graph/host-align.js';
import { type QuantGraph, quantizeValue } from '../graph/quant.js';

/**
 * The moved inputs (by id) from the step's inputs (float NHWC, any batch). For a quantized graph
 * each input is first rounded to its int8 parameters, since the int8 model sees those values (and
 * the int8 runtime estimates and moves on them); the moved values are then given as float32 and
 * quantized by the model as any input is. New tensors: the caller disposes them.
 */
export function hostAlignInputs(g: Graph, align: HostAlign, inputs: Record<string, Tensor>): Record<string, Tensor> {
  const quant = (g as Partial<QuantGraph>).quant;
  const own: Tensor[] = [];
  const valueOf = new Map<string, Tensor>();
  const get = (id: string): Tensor => {
    const have = valueOf.get(id);
    if (have) return have;
    const x = inputs[id];
    if (!x) throw graphError(g, null, `host alignment: no tensor given for input '${id}'`);
    let v = x;
    if (quant) {
      const q = quant.act[id]!;
      v = Tensor.empty(x.shape);
      own.push(v);
      const src = x.data, dst = v.data;
      for (let i = 0; i < src.length; i++) dst[i] = Math.fround(q.scale * (quantizeValue(src[i]!, q) - q.zeroPoint));
    }
    valueOf.set(id, v);
    return v;
  };
  const shifts = new Map<string, Tensor>();
  const out: Record<string, Tensor> = {};
  try {
    for (const s of align.shifts) {
      const d = estimateShiftTensor(get(s.prev), get(s.cur), s.radius);
      own.push(d);
      shifts.set(s.id, d);
    }
    for (const t of align.inputs) out[t.id] = translateTensor(get(t.from), shifts.get(t.shift)!, t.factor);
    return out;
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  } finally {
    for (const t of own) t.dispose();
  }
}
