// Enhanced spatial attention (ESA, Liu et al. 2020, "Residual Feature Aggregation Network"), the
// gate of RFDN's and RLFN's blocks, with the reference code's parameter names. A 1x1 conv squeezes
// to f channels, a 3x3 stride-2 conv and a 7x7 stride-3 max pool shrink the map, 3x3 convs
// process it, it is resized back (bilinear) and added to a 1x1 branch, and a 1x1 conv + sigmoid
// gives the per-pixel, per-channel gate. RLFN's variant drops conv_max, conv3_ and the ReLUs.
import { Module } from '../nn/module.js';
import { Conv2d } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { add, mul, relu, sigmoid } from '../autograd/ops/pointwise.js';
import { maxPool2d } from '../autograd/ops/pool.js';
import { resize } from '../autograd/ops/resize.js';
import type { GraphBuilder } from '../graph/ir.js';

export class ESA extends Module {
  readonly conv1: Conv2d; readonly conv_f: Conv2d; readonly conv2: Conv2d; readonly conv3: Conv2d; readonly conv4: Conv2d;
  readonly conv_max: Conv2d | null; readonly conv3_: Conv2d | null;

  /** `f` squeezed channels of `C`; `light`: RLFN's variant (no conv_max, conv3_ or ReLUs). */
  constructor(C: number, f: number, readonly light = false) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(C, f, 1));
    this.conv_f = this.child('conv_f', new Conv2d(f, f, 1));
    this.conv_max = light ? null : this.child('conv_max', new Conv2d(f, f, 3));
    this.conv2 = this.child('conv2', new Conv2d(f, f, 3, { stride: 2, padding: 0 }));
    this.conv3 = this.child('conv3', new Conv2d(f, f, 3));
    this.conv3_ = light ? null : this.child('conv3_', new Conv2d(f, f, 3));
    this.conv4 = this.child('conv4', new Conv2d(f, C, 1));
  }

  forward(x: Var): Var {
    const c1a = this.conv1.forward(x);
    const vmax = maxPool2d(this.conv2.forward(c1a), 7, 3);
    let c3 = this.light ? this.conv3.forward(vmax) : this.conv3_!.forward(relu(this.conv3.forward(relu(this.conv_max!.forward(vmax)))));
    c3 = resize(c3, x.shape[1]!, x.shape[2]!, 'bilinear');
    return mul(x, sigmoid(this.conv4.forward(add(c3, this.conv_f.forward(c1a)))));
  }
}

/** ESA over node x as graph nodes; weights under `key` (e.g. 'B1.esa'); node ids end in `tag` (a video step's frame). */
export function esaGraph(b: GraphBuilder, key: string, x: string, light: boolean, tag = ''): string {
  const conv = (k: string, y: string, o: { stride?: number; padding?: number; act?: { kind: 'relu' } | { kind: 'sigmoid' } } = {}) => b.convOf(`${key}.${k}`, y, { id: `${key}.${k}${tag}`, ...o });
  const relu = { kind: 'relu' } as const;
  const c1a = conv('conv1', x);
  const vmax = b.maxPool(`${key}.pool${tag}`, conv('conv2', c1a, { stride: 2, padding: 0 }), 7, 3);
  let c3 = light ? conv('conv3', vmax) : conv('conv3_', conv('conv3', conv('conv_max', vmax, { act: relu }), { act: relu }));
  c3 = b.resizeLike(`${key}.up${tag}`, c3, x, 'bilinear');
  const gate = conv('conv4', b.add(`${key}.sum${tag}`, c3, conv('conv_f', c1a)), { act: { kind: 'sigmoid' } });
  return b.mul(`${key}.gate${tag}`, x, gate);
}
