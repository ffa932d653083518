/**
 * Global pooling over H x W and channel scaling, from their definitions: the mean of each channel
 * of each image, its population standard deviation sqrt(sum((x - mean)^2) / (H W)), and x times a
 * per-image, per-channel value.
 */
import { type RT, shapeStr } from './tensor.js';

export function globalPool(x: RT, stat: 'mean' | 'std'): RT {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  const P = H * W;
  const out: RT = { shape: [N, 1, 1, C], data: new Float64Array(N * C) };
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let p = 0; p < P; p++) s += x.data[(n * P + p) * C + c]!;
      const mean = s / P;
      if (stat === 'mean') {
        out.data[n * C + c] = mean;
        continue;
      }
      let v = 0;
      for (let p = 0; p < P; p++) v += (x.data[(n * P + p) * C + c]! - mean) ** 2;
      out.data[n * C + c] = Math.sqrt(v / P);
    }
  }
  return out;
}

export function scaleChannels(x: RT, s: RT): RT {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  if (s.shape.join() !== [N, 1, 1, C].join()) throw new Error(`scaleChannels: scale ${shapeStr(s.shape)} vs input ${shapeStr(x.shape)}`);
  const out: RT = { shape: [...x.shape], data: new Float64Array(x.data.length) };
  for (let i = 0; i < x.data.length; i++) {
    const c = i % C, n = Math.floor(i / (H * W * C));
    out.data[i] = x.data[i]! * s.data[n * C + c]!;
  }
  return out;
}
