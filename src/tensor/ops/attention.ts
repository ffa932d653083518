// Windowed multi-head self-attention over NHWC tensors (kernels/attention.ts): the input holds each
// pixel's q, k and v ([N, H, W, 3C]), the output the attended values ([N, H, W, C]). Windows of
// ws x ws pixels from the top left, zero tokens completing those that cross the bottom or right
// edge, heads on consecutive channel groups of C / heads, scores scaled by (C / heads)^-1/2.
import { engine } from '../engine.js';
import { Tensor, shapeStr } from '../tensor.js';
import { withScratch } from './util.js';

export interface WindowAttention { heads: number; window: number }

/** The largest window side (32 x 32 tokens attending to each other; Swin uses 7-12, MobileSR 8): also a graph file's bound. */
export const MAX_ATTENTION_WINDOW = 32;

/** [N, H, W, C] of qkv's output after checking it against the heads and window. */
function checkArgs(op: string, qkv: Tensor, o: WindowAttention): [number, number, number, number] {
  if (qkv.shape.length !== 4) throw new Error(`mvsr: ${op}: input must be NHWC (rank 4), got shape ${shapeStr(qkv.shape)}`);
  const [N, H, W, C3] = qkv.shape as [number, number, number, number];
  for (const [k, v] of [['heads', o.heads], ['window', o.window]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`mvsr: ${op}: ${k} must be a positive integer, got ${v}`);
  }
  if (o.window > MAX_ATTENTION_WINDOW) throw new Error(`mvsr: ${op}: window ${o.window} is larger than ${MAX_ATTENTION_WINDOW} (${MAX_ATTENTION_WINDOW ** 2} tokens attending to each other)`);
  if (C3 % 3 || (C3 / 3) % o.heads) throw new Error(`mvsr: ${op}: input ${shapeStr(qkv.shape)} must hold q, k and v of C channels each, C divisible by ${o.heads} heads`);
  return [N, H, W, C3 / 3];
}

/** The scale PyTorch's attention applies to q . k: head_dim^-1/2, in float32. */
export const attentionScale = (C: number, heads: number): number => Math.fround((C / heads) ** -0.5);

function forward(op: string, qkv: Tensor, o: WindowAttention, save: boolean): { y: Tensor; probs: Tensor | null } {
  const [N, H, W, C] = checkArgs(op, qkv, o);
  const T = o.window * o.window, jobs = N * Math.ceil(H / o.window) * Math.ceil(W / o.window) * o.heads;
  const y = Tensor.empty([N, H, W, C]);
  let probs: Tensor | null = null;
  try {
    if (save) probs = Tensor.empty([jobs, T, T]);
    if (y.size > 0) {
      const e = engine();
      withScratch(e.threads * e.call('window_attn_fwd_scratch', [T, C / o.heads]), (scratch) => e.run('window_attn_fwd', [qkv.ptr, y.ptr, probs ? probs.ptr : 0, scratch, N, H, W, C, o.heads, o.window, attentionScale(C, o.heads)]));
    }
    return { y, probs };
  } catch (err) {
    y.dispose();
    probs?.dispose();
    throw err;
  }
}

/** Windowed multi-head self-attention of qkv ([N, H, W, 3C] -> [N, H, W, C]). */
export function windowAttention(qkv: Tensor, o: WindowAttention): Tensor {
  return forward('windowAttention', qkv, o, false).y;
}

/** windowAttention for training: the output and the attention probabilities the backward needs (the caller owns both). */
export function windowAttentionTrain(qkv: Tensor, o: WindowAttention): { y: Tensor; probs: Tensor } {
  const { y, probs } = forward('windowAttention', qkv, o, true);
  return { y, probs: probs! };
}

/** The gradient with respect to qkv, from dy and windowAttentionTrain's probabilities. */
export function windowAttentionBackward(dy: Tensor, qkv: Tensor, probs: Tensor, o: WindowAttention): Tensor {
  const [N, H, W, C] = checkArgs('windowAttentionBackward', qkv, o);
  if (dy.shape.join() !== [N, H, W, C].join()) throw new Error(`mvsr: windowAttentionBackward: dy ${shapeStr(dy.shape)} must be ${shapeStr([N, H, W, C])}`);
  const T = o.window * o.window, D = C / o.heads;
  const dqkv = Tensor.zeros(qkv.shape);
  try {
    if (dy.size > 0) {
      const e = engine();
      withScratch(e.threads * e.call('window_attn_bwd_scratch', [T, D]), (scratch) => e.run('window_attn_bwd', [qkv.ptr, probs.ptr, dy.ptr, dqkv.ptr, scratch, N, H, W, C, o.heads, o.window, attentionScale(C, o.heads)]));
    }
    return dqkv;
  } catch (err) {
    dqkv.dispose();
    throw err;
  }
}
