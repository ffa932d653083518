// The int8 runtime's computation that test/browser.test.ts runs twice: in headless Chromium (the
// page int8.html) and in Node, on the same build. Seeded default-initialised models, calibrated
// on three fixed inputs (mse ranges), run by compileInt8 on a fourth: the int8 output bytes.
import { initEngine } from '../../dist/src/tensor/engine.js';
import { Tensor } from '../../dist/src/tensor/tensor.js';
import { manualSeed } from '../../dist/src/nn/init.js';
import { createModel, toGraph } from '../../dist/src/models/registry.js';
import { graphInputs } from '../../dist/src/graph/ir.js';
import { calibrateGraph } from '../../dist/src/eval/calibrate.js';
import { compileInt8, quantizeTensor } from '../../dist/src/runtime/int8.js';

/** ESPCN (tanh, sigmoid tables), ECBSR with PReLU, ABPN (a residual ADD and clamp fused into the tail), ETDS's plain form. */
export const INT8_CASES = [
  ['ESPCN', { upscale: 4 }],
  ['ECBSRT', { upscale: 4, num_block: 2, num_feat: 8, act_type: 'prelu' }],
  ['ABPN', { scale: 4, num_block: 2, num_feat: 12 }],
  ['ETDSForInference', { upscale: 4, num_block: 3, num_feat: 16 }],
];

const image = (H, W, k) => Tensor.from([1, H, W, 3], Array.from({ length: H * W * 3 }, (_, i) => 0.5 + 0.45 * Math.sin(0.37 * i + k) * Math.cos(0.011 * i)));

/** Each case's int8 output bytes and how many nodes the WASM kernels fused; `kernels: false` runs the JavaScript reference loops. */
export async function int8Case(o = {}) {
  const e = await initEngine({ threads: o.threads ?? 2 });
  const out = { threads: e.threads, simd: e.simd, cases: {} };
  for (const [arch, args] of INT8_CASES) {
    manualSeed(5);
    const m = createModel(arch, args), g = toGraph(m);
    m.dispose();
    const samples = [0, 1, 2].map((k) => ({ frames: [image(12, 16, k)] }));
    const qg = await calibrateGraph(g, samples, { method: 'mse' });
    for (const s of samples) s.frames[0].dispose();
    const id = graphInputs(qg)[0].id, x = image(21, 19, 9), p = compileInt8(qg, { kernels: o.kernels ?? true });
    try {
      const y = Object.values(p.run({ [id]: quantizeTensor(x, qg.quant.act[id]) }))[0];
      out.cases[arch] = { fused: p.fused.length, shape: [y.h, y.w, y.c], bytes: Array.from(y.data) };
    } finally {
      p.dispose();
      x.dispose();
    }
  }
  return out;
}
