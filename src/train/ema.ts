// Model EMA as BasicSR keeps it (network_g_ema): after every optimizer step each parameter's
// average moves as ema = decay * ema + (1 - decay) * param, in f32 in WASM memory. Element-wise,
// so the result does not depend on the thread count.
import type { Module, StateDict } from '../nn/module.js';
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { engine } from '../tensor/engine.js';

/** Below this many floats the update runs on the calling thread only (same result, less overhead). */
const SERIAL_BELOW = 16384;

function checkDecay(decay: number): void {
  if (!(typeof decay === 'number' && decay >= 0 && decay < 1)) {
    throw new Error(`mvsr: ModelEMA: decay must be a number in [0, 1), got ${decay}`);
  }
}

export class ModelEMA {
  private readonly avg = new Map<string, Tensor>();

  /** Starts as a copy of `model`'s parameters (BasicSR's model_ema(0)). */
  constructor(model: Module, public decay = 0.999) {
    checkDecay(decay);
    for (const [name, p] of model.namedParameters()) this.avg.set(name, p.value.clone());
  }

  /** Parameter names, in the model's order. */
  get names(): string[] {
    return [...this.avg.keys()];
  }

  /** The averaged tensor of one parameter (owned by this object). */
  get(name: string): Tensor | undefined {
    return this.avg.get(name);
  }

  /** ema = decay * ema + (1 - decay) * param for every parameter of `model`. */
  update(model: Module, decay = this.decay): void {
    checkDecay(decay);
    const e = engine();
    const b = 1 - decay; // in f64 here, rounded to f32 once at the kernel boundary
    let seen = 0;
    for (const [name, p] of model.namedParameters()) {
      const t = this.avg.get(name);
      if (!t) throw new Error(`mvsr: ModelEMA.update: the model has a parameter ${name} the EMA does not track`);
      if (t.size !== p.value.size) {
        throw new Error(`mvsr: ModelEMA.update: ${name} has shape ${shapeStr(p.value.shape)}, the EMA holds ${shapeStr(t.shape)}`);
      }
      seen++;
      if (t.size === 0) continue;
      e.run('axpby', [t.ptr, p.value.ptr, t.size, decay, b], t.size < SERIAL_BELOW ? 1 : e.threads);
    }
    if (seen !== this.avg.size) throw new Error(`mvsr: ModelEMA.update: the model lacks ${this.avg.size - seen} parameter(s) the EMA tracks`);
  }

  /** Write the averages into `model`'s parameters (for validation or export). */
  copyTo(model: Module): void {
    model.loadStateDict(this.stateDict(), true);
  }

  /** Copies of the averages under the model's parameter names (for ema.safetensors). */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [n, t] of this.avg) out[n] = { shape: [...t.shape], data: t.toArray() };
    return out;
  }

  /** Restore averages saved by stateDict(); names and shapes must match exactly. */
  load(dict: StateDict): void {
    const missing = [...this.avg.keys()].filter((k) => !(k in dict));
    const unexpected = Object.keys(dict).filter((k) => !this.avg.has(k));
    if (missing.length || unexpected.length) {
      throw new Error(`mvsr: ModelEMA.load: missing keys [${missing.join(', ')}], unexpected keys [${unexpected.join(', ')}]`);
    }
    for (const [k, t] of this.avg) {
      const s = dict[k]!;
      if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i]) || s.data.length !== t.size) {
        throw new Error(`mvsr: ModelEMA.load: ${k} has shape ${shapeStr(s.shape)}, the EMA holds ${shapeStr(t.shape)}`);
      }
    }
    for (const [k, t] of this.avg) t.data.set(dict[k]!.data);
  }

  dispose(): void {
    for (const t of this.avg.values()) t.dispose();
    this.avg.clear();
  }
}
