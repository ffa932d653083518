// FSRCNN (ETDS repo variant, RGB): conv5x5 3->56 + PReLU, shrink 1x1 56->12 + PReLU,
// 4 x (conv3x3 12->12 + PReLU), expand 1x1 12->56 + PReLU, then a 9x9 transposed conv with
// stride s, padding 4, output_padding s-1 (output exactly s times the input size).
import { Module } from '../nn/module.js';
import { Conv2d, ConvTranspose2d, PReLU, Sequential } from '../nn/layers.js';
import { initRng, kaimingNormal } from '../nn/init.js';
import type { Var } from '../autograd/var.js';
import { GraphBuilder, type Graph, type WeightSource } from '../graph/ir.js';
import type { ImageArchSpec, SRModel } from './types.js';

export type FSRCNNArgs = { upscale: number };

/** The reference's init: N(0, sqrt(2 / (out_channels * k * k))) weights, zero biases. */
function initConv(c: Conv2d): Conv2d {
  const shape = [...c.weight.value.shape];
  const w = kaimingNormal(shape, c.outChannels * c.kernelSize * c.kernelSize, 1, initRng());
  c.weight.value.data.set(w.data);
  w.dispose();
  c.bias?.value.data.fill(0);
  return c;
}

export class FSRCNN extends Module implements SRModel {
  readonly arch = 'FSRCNN';
  readonly scale: number;
  readonly first_part: Sequential;
  readonly mid_part: Sequential;
  readonly last_part: ConvTranspose2d;

  constructor(readonly args: FSRCNNArgs) {
    super();
    const s = args.upscale;
    this.scale = s;
    this.first_part = this.child('first_part', new Sequential(initConv(new Conv2d(3, 56, 5)), new PReLU(56)));
    const mid: Module[] = [initConv(new Conv2d(56, 12, 1)), new PReLU(12)];
    for (let i = 0; i < 4; i++) mid.push(initConv(new Conv2d(12, 12, 3)), new PReLU(12));
    mid.push(initConv(new Conv2d(12, 56, 1)), new PReLU(56));
    this.mid_part = this.child('mid_part', new Sequential(...mid));
    this.last_part = this.child('last_part', new ConvTranspose2d(56, 3, 9, { stride: s, padding: 4, outputPadding: s - 1 }));
    // N(0, 0.001) for the deconvolution: kaimingNormal's std is sqrt(2 / fanIn)
    const w = kaimingNormal([...this.last_part.weight.value.shape], 2 / 1e-6, 1, initRng());
    this.last_part.weight.value.data.set(w.data);
    w.dispose();
    this.last_part.bias?.value.data.fill(0);
  }

  forward(x: Var): Var {
    return this.last_part.forward(this.mid_part.forward(this.first_part.forward(x)));
  }
}

/** FSRCNN: (conv + PReLU) x 7 as first_part / mid_part, then the 9x9 transposed conv. */
export function fsrcnnGraph(a: FSRCNNArgs, sd: WeightSource): Graph {
  const s = a.upscale;
  const b = new GraphBuilder({ arch: 'FSRCNN', args: a, scale: s }, sd);
  let y = b.input(3);
  const convPrelu = (prefix: string, i: number): void => {
    y = b.act(`${prefix}.${i + 1}`, b.convOf(`${prefix}.${i}`, y), b.prelu(`${prefix}.${i + 1}.weight`));
  };
  convPrelu('first_part', 0);
  for (let i = 0; i < 12; i += 2) convPrelu('mid_part', i);
  return b.output(b.convTransposeOf('last_part', y, { stride: s, padding: 4, outputPadding: s - 1 }));
}

export const fsrcnnArch: ImageArchSpec<FSRCNNArgs, FSRCNN> = { kind: 'image', defaults: { upscale: 4 }, create: (a) => new FSRCNN(a), graph: fsrcnnGraph };
