// Module tree with PyTorch-style parameter names ("body.0.weight") and state dicts in PyTorch
// layouts (conv weights OIHW), so checkpoints map one to one.
import { Var } from '../autograd/var.js';
import { Tensor, shapeStr } from '../tensor/tensor.js';

/** A trainable leaf variable. */
export class Parameter extends Var {
  constructor(value: Tensor) {
    super(value, true, 'parameter');
  }
}

export interface StateTensor {
  shape: number[];
  data: Float32Array;
}
export type StateDict = Record<string, StateTensor>;

export abstract class Module {
  private readonly _params = new Map<string, Parameter>();
  private readonly _children = new Map<string, Module>();
  training = true;

  abstract forward(x: Var): Var;

  /** Register (or replace) a parameter under a PyTorch-style name. */
  protected param(name: string, value: Tensor): Parameter {
    const p = new Parameter(value);
    this._params.get(name)?.value.dispose();
    this._params.set(name, p);
    return p;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const [n, p] of this._params) yield [prefix + n, p];
    for (const [n, c] of this._children) yield* c.namedParameters(`${prefix}${n}.`);
  }

  parameters(): Parameter[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.value.size, 0);
  }

  train(on = true): this {
    this.training = on;
    for (const c of this._children.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [n, p] of this.namedParameters()) out[n] = { shape: [...p.value.shape], data: p.value.toArray() };
    return out;
  }

  /** Load values by name; strict mode rejects missing and unexpected keys, always rejects shape mismatches. */
  loadStateDict(dict: StateDict, strict = true): void {
    const own = new Map(this.namedParameters());
    const missing = [...own.keys()].filter((k) => !(k in dict));
    const unexpected = Object.keys(dict).filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      throw new Error(`mvsr: loadStateDict: missing keys [${missing.join(', ')}], unexpected keys [${unexpected.join(', ')}]`);
    }
    for (const [k, p] of own) {
      const t = dict[k];
      if (!t) continue;
      if (t.shape.length !== p.value.shape.length || t.shape.some((d, i) => d !== p.value.shape[i])) {
        throw new Error(`mvsr: loadStateDict: ${k} has shape ${shapeStr(t.shape)}, the model expects ${shapeStr(p.value.shape)}`);
      }
      p.value.data.set(t.data);
    }
  }

  /** Free all parameter memory (and gradients). */
  dispose(): void {
    for (const p of this.parameters()) {
      p.zeroGrad();
      p.value.dispose();
    }
  }
}
