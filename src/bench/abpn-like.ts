// The ABPN-shaped network used to time the engine: conv3->C + ReLU, blocks x (convC->C + ReLU),
// convC->3*s^2, + the input repeated s^2 times (anchor), depth_to_space(s).
import { Module } from '../nn/module.js';
import { Conv2d } from '../nn/layers.js';
import type { Var } from '../autograd/var.js';
import { relu, add } from '../autograd/ops/pointwise.js';
import { concat, depthToSpace } from '../autograd/ops/layout.js';

export class AbpnLike extends Module {
  readonly convs: Conv2d[] = [];
  constructor(readonly channels = 28, readonly blocks = 4, readonly scale = 4) {
    super();
    let cin = 3;
    for (let i = 0; i < blocks + 1; i++) {
      this.convs.push(this.child(`conv${i}`, new Conv2d(cin, channels, 3)));
      cin = channels;
    }
    this.convs.push(this.child(`conv${blocks + 1}`, new Conv2d(channels, 3 * scale * scale, 3)));
  }

  forward(x: Var): Var {
    let h = x;
    for (let i = 0; i < this.convs.length - 1; i++) h = relu(this.convs[i]!.forward(h));
    h = this.convs[this.convs.length - 1]!.forward(h);
    const anchor = concat(Array.from({ length: this.scale * this.scale }, () => x));
    return depthToSpace(add(h, anchor), this.scale);
  }

  /** Multiply-accumulates per LR pixel. */
  macsPerPixel(): number {
    const c = this.channels, s2 = this.scale * this.scale;
    return 9 * (3 * c + this.blocks * c * c + c * 3 * s2);
  }
}
