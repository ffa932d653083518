// Adam / AdamW over module parameters, matching torch.optim.Adam and torch.optim.AdamW,
// including per-parameter step counts (a parameter frozen for a while starts its own count
// when it is first updated, as PyTorch's lazily created state does).
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

interface ParamState { m: Tensor; v: Tensor; step: number }

/** Serialisable optimiser state: per parameter index, moments and step. */
export interface AdamState {
  steps: number[];
  m: (Float32Array | null)[];
  v: (Float32Array | null)[];
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  private readonly state = new Map<Var, ParamState>();

  constructor(readonly params: Var[], o: AdamOptions = {}) {
    this.lr = o.lr ?? 1e-3;
    [this.beta1, this.beta2] = o.betas ?? [0.9, 0.999];
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
    this.decoupled = o.decoupled ?? false;
  }

  /** One update of every parameter that has a gradient; parameters without one are skipped. */
  update(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      let s = this.state.get(p);
      if (!s) {
        s = { m: Tensor.zeros(p.value.shape), v: Tensor.zeros(p.value.shape), step: 0 };
        this.state.set(p, s);
      }
      s.step++;
      adamUpdate(p.value, p.grad, s.m, s.v, s.step, {
        lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, decoupled: this.decoupled,
      });
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  getState(): AdamState {
    const st = this.params.map((p) => this.state.get(p));
    return {
      steps: st.map((s) => s?.step ?? 0),
      m: st.map((s) => (s ? s.m.toArray() : null)),
      v: st.map((s) => (s ? s.v.toArray() : null)),
    };
  }

  setState(state: AdamState): void {
    if (state.steps.length !== this.params.length) {
      throw new Error(`mvsr: optimizer state has ${state.steps.length} parameters, the model has ${this.params.length}`);
    }
    this.dispose();
    this.params.forEach((p, i) => {
      const m = state.m[i], v = state.v[i];
      if (!m || !v || !state.steps[i]) return;
      if (m.length !== p.value.size || v.length !== p.value.size) {
        throw new Error(`mvsr: optimizer state for parameter ${i} has ${m.length} values, the parameter ${p.value.size}`);
      }
      this.state.set(p, { m: Tensor.from(p.value.shape, m), v: Tensor.from(p.value.shape, v), step: state.steps[i]! });
    });
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
