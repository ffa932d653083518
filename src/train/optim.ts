// Adam / AdamW over module parameters, matching torch.optim.Adam and torch.optim.AdamW.
import type { Var } from '../autograd/var.js';
import { Tensor } from '../tensor/tensor.js';
import { adamUpdate } from '../tensor/ops/optim.js';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** true: AdamW (decoupled weight decay); false: Adam (L2 added to the gradient). */
  decoupled?: boolean;
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  step = 0;
  private readonly m = new Map<Var, Tensor>();
  private readonly v = new Map<Var, Tensor>();

  constructor(readonly params: Var[], o: AdamOptions = {}) {
    this.lr = o.lr ?? 1e-3;
    [this.beta1, this.beta2] = o.betas ?? [0.9, 0.999];
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
    this.decoupled = o.decoupled ?? false;
  }

  /** One update of every parameter that has a gradient; parameters without one are skipped. */
  update(): void {
    this.step++;
    for (const p of this.params) {
      if (!p.grad) continue;
      let m = this.m.get(p), v = this.v.get(p);
      if (!m || !v) {
        m = Tensor.zeros(p.value.shape);
        v = Tensor.zeros(p.value.shape);
        this.m.set(p, m);
        this.v.set(p, v);
      }
      adamUpdate(p.value, p.grad, m, v, this.step, {
        lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, decoupled: this.decoupled,
      });
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
