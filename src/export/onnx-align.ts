// ONNX lowering of the video step graphs' alignment ops: translate as index Gathers with clamped
// edges and float64 offsets, and estimateShift as float64 ops (the integer search unrolled, the
// Gauss-Newton refinement as a Loop) that follow align.ts step by step. Browser-safe.
import type { EstimateShiftNode, TranslateNode } from '../graph/ir.js';
import { type Attr, type OnnxGraphBuilder, type SubGraph, type ValueInfo, rawFloat64, ONNX_BOOL, ONNX_DOUBLE, ONNX_FLOAT, ONNX_INT64 } from './onnx-builder.js';

const INT64_BIG = Number.MAX_SAFE_INTEGER;

/**
 * translate on NCHW (batch 1): out(x, y) = in(x - f dx, y - f dy) with edges clamped, as mvsr's
 * taps(): per axis t = -f d in float64, i0 = clamp(x + floor(t)), i1 = clamp(x + floor(t) + 1),
 * w1 = t - floor(t), w0 = 1 - w1; Gather along W and then along H, each a weighted sum of two
 * taps (in the model's float type; the weights are computed in float64 and cast).
 */
export function translateNode(n: TranslateNode, b: OnnxGraphBuilder, x: string, shift: string, elemType: number, out: string): void {
  const id = n.id;
  const op = (type: string, inputs: string[], name: string, attrs: Attr[] = []): string => b.node(type, inputs, b.fresh(`${id}.${name}`), attrs);
  const to = (t: number): Attr[] => [{ name: 'to', int: t }];
  const sd = op('Cast', [shift], 'shift_f64', to(ONNX_DOUBLE));
  const t = op('Neg', [op('Mul', [sd, b.float64(`${id}.factor`, n.factor)], 'moved')], 'source'); // -f d, [1, 2, 1, 1]
  const fl = op('Floor', [t], 'floor');
  const w1 = op('Sub', [t, fl], 'w1');
  const w0 = op('Sub', [b.float64(`${id}.one`, 1), w1], 'w0');
  const w0e = op('Cast', [w0], 'w0_cast', to(elemType)), w1e = op('Cast', [w1], 'w1_cast', to(elemType));
  const offs = op('Reshape', [op('Cast', [fl], 'floor_i64', to(ONNX_INT64)), b.int64(`${id}.flat`, [2])], 'offsets');
  const shape = op('Shape', [x], 'shape');
  const zero = b.int64(`${id}.zero`, [0]);
  let y = x;
  // channel 0 of the shift moves along W (axis 3), channel 1 along H (axis 2)
  for (const [k, axis, tag] of [[0, 3, 'x'], [1, 2, 'y']] as const) {
    const ch = (v: string, name: string): string => op('Slice', [v, b.int64(`${id}.${tag}_c0`, [k]), b.int64(`${id}.${tag}_c1`, [k + 1]), b.int64(`${id}.${tag}_axis_c`, [1])], name);
    const len = op('Slice', [shape, b.int64(`${id}.${tag}_a0`, [axis]), b.int64(`${id}.${tag}_a1`, [axis + 1])], `${tag}_len`);
    const last = op('Sub', [len, b.int64(`${id}.${tag}_one`, [1])], `${tag}_last`);
    const idx = op('Range', [b.int64Scalar(`${id}.${tag}_start`, 0), op('Squeeze', [len, zero], `${tag}_len_scalar`), b.int64Scalar(`${id}.${tag}_delta`, 1)], `${tag}_range`);
    const f = op('Slice', [offs, b.int64(`${id}.${tag}_o0`, [k]), b.int64(`${id}.${tag}_o1`, [k + 1])], `${tag}_offset`);
    const i0 = op('Add', [idx, f], `${tag}_i0_raw`);
    const i1 = op('Add', [i0, b.int64(`${id}.${tag}_next`, [1])], `${tag}_i1_raw`);
    const clamp = (v: string, name: string): string => op('Min', [op('Max', [v, zero], `${name}_lo`), last], name);
    const g0 = op('Gather', [y, clamp(i0, `${tag}_i0`)], `${tag}_tap0`, [{ name: 'axis', int: axis }]);
    const g1 = op('Gather', [y, clamp(i1, `${tag}_i1`)], `${tag}_tap1`, [{ name: 'axis', int: axis }]);
    const a = op('Mul', [g0, ch(w0e, `${tag}_w0`)], `${tag}_part0`), c = op('Mul', [g1, ch(w1e, `${tag}_w1`)], `${tag}_part1`);
    y = axis === 2 ? b.node('Add', [a, c], out) : op('Add', [a, c], `${tag}_moved`);
  }
}

/**
 * estimateShift on NCHW frames (batch 1) as ONNX ops in float64, step for step mvsr's
 * estimateShift (autograd/ops/align.ts); returns the (dx, dy) value [1, 2, 1, 1] in float64.
 * - channel means in float64, rounded to float32 (mvsr keeps them in a Float32Array);
 * - the effective radius R = max(0, min(radius, floor((min(H, W) - 4) / 3))) and the subsampling
 *   step (2 when H*W > 64*64) from the frame size: constants for a fixed-size export, int64
 *   arithmetic on Shape otherwise (then every candidate up to `radius` is built, its slice clamped
 *   to R, and those beyond R get an infinite cost);
 * - the integer search unrolled: per candidate (u, v) a strided Slice of each frame, the mean
 *   squared difference (ReduceSum / count), NaN as +inf (mvsr never picks a NaN cost); ArgMin over
 *   the candidates sorted by |u| + |v| and then in mvsr's scan order (v outer, u inner), so
 *   ArgMin's first-index rule is mvsr's tie rule;
 * - central-difference gradients (float32-rounded, zero on the border rows and columns);
 * - up to 8 Gauss-Newton iterations as a Loop whose condition is mvsr's "no break" (one body, so
 *   the model stays small and stops as early as mvsr does), the bilinear taps as Slices at the
 *   data-dependent offset floor(-d), the decisions as Where masks: keep the iterate when its cost
 *   is below the best so far, else stop; stop when !(ss > 0 && det > 1e-4 (hxx + hyy)^2); step,
 *   clamp to +-1 px of the integer minimum; on |ddx| + |ddy| < 1e-3 take the step unevaluated and
 *   stop.
 * Only the summation order of the reductions differs from mvsr's.
 */
export function estimateShiftNode(n: EstimateShiftNode, b: OnnxGraphBuilder, prev: string, cur: string, C: number, size: [number, number] | null): string {
  const id = n.id;
  const op = (type: string, inputs: string[], name: string, attrs: Attr[] = []): string => b.node(type, inputs, b.fresh(`${id}.${name}`), attrs);
  const i64 = (name: string, v: number[]): string => b.int64(`${id}.${name}`, v);
  const f64 = (name: string, v: number): string => b.float64(`${id}.${name}`, v);
  const to = (t: number): Attr[] => [{ name: 'to', int: t }];
  const keep: Attr[] = [{ name: 'keepdims', int: 1 }];
  const axesHW = i64('axes_hw', [2, 3]), axesAll = i64('axes_all', [1, 2, 3]);
  const sum = (x: string, name: string): string => op('ReduceSum', [x, axesAll], name, keep);
  const slice = (x: string, starts: string, ends: string, name: string, steps?: string): string => op('Slice', [x, starts, ends, axesHW, ...(steps ? [steps] : [])], name);

  const channelsF = f64('channels', C);
  const grey = (x: string, tag: string): string => {
    const s = op('ReduceSum', [op('Cast', [x], `${tag}_f64`, to(ONNX_DOUBLE)), i64(`${tag}_axis_c`, [1])], `${tag}_sum`, keep);
    const m32 = op('Cast', [op('Div', [s, channelsF], `${tag}_mean`)], `${tag}_mean_f32`, to(ONNX_FLOAT));
    return op('Cast', [m32], `${tag}_grey`, to(ONNX_DOUBLE));
  };
  const a = grey(prev, 'prev'), c = grey(cur, 'cur');

  // frame size, effective radius, subsampling step
  let HW: string, Hs: string, Ws: string, RR: string, R1: string | null = null, STEP: string, Rmax: number;
  if (size) {
    const [H, W] = size;
    Rmax = Math.max(0, Math.min(Math.floor(n.radius), Math.floor((Math.min(H, W) - 4) / 3)));
    const st = H * W > 64 * 64 ? 2 : 1;
    HW = i64('hw', [H, W]);
    Hs = b.int64Scalar(`${id}.h`, H);
    Ws = b.int64Scalar(`${id}.w`, W);
    RR = i64('rr', [Rmax, Rmax]);
    STEP = i64('steps', [st, st]);
  } else {
    Rmax = n.radius;
    HW = op('Slice', [op('Shape', [a], 'shape'), i64('hw_from', [2]), i64('hw_to', [4])], 'hw');
    const H1 = op('Slice', [HW, i64('h_from', [0]), i64('h_to', [1])], 'h1'), W1 = op('Slice', [HW, i64('w_from', [1]), i64('w_to', [2])], 'w1');
    Hs = op('Squeeze', [H1, i64('h_axis', [0])], 'h');
    Ws = op('Squeeze', [W1, i64('w_axis', [0])], 'w');
    // floor((min - 4) / 3) by truncating int64 division: they differ only below 0, where max(0, .) gives 0 either way
    const fit = op('Div', [op('Sub', [op('Min', [H1, W1], 'min_hw'), i64('four', [4])], 'min_hw_4'), i64('three', [3])], 'r_fit');
    R1 = op('Max', [i64('zero', [0]), op('Min', [i64('radius', [n.radius]), fit], 'r_min')], 'r');
    RR = op('Concat', [R1, R1], 'rr', [{ name: 'axis', int: 0 }]);
    const big = op('Cast', [op('Greater', [op('Mul', [H1, W1], 'area'), i64('area_max', [64 * 64])], 'subsample')], 'subsample_i64', to(ONNX_INT64));
    const st = op('Add', [i64('one', [1]), big], 'step');
    STEP = op('Concat', [st, st], 'steps', [{ name: 'axis', int: 0 }]);
  }

  // integer search
  const searchEnds = op('Sub', [HW, RR], 'search_ends');
  const curRegion = slice(c, RR, searchEnds, 'search_cur', STEP);
  const count = op('Cast', [op('Size', [curRegion], 'search_count')], 'search_count_f64', to(ONNX_DOUBLE));
  const cands: { u: number; v: number; scan: number }[] = [];
  for (let v = -Rmax, scan = 0; v <= Rmax; v++) for (let u = -Rmax; u <= Rmax; u++) cands.push({ u, v, scan: scan++ });
  cands.sort((p, q) => Math.abs(p.u) + Math.abs(p.v) - (Math.abs(q.u) + Math.abs(q.v)) || p.scan - q.scan);
  const negRR = R1 ? op('Neg', [RR], 'neg_rr') : null;
  const costs = cands.map(({ u, v }) => {
    const tag = `u${u}_v${v}`.replace(/-/g, 'm');
    let off = i64(`off_${tag}`, [v, u]);
    if (negRR) off = op('Min', [op('Max', [off, negRR], `off_${tag}_lo`), RR], `off_${tag}_clamped`); // beyond R: any valid slice, masked below
    const prevRegion = slice(a, op('Sub', [RR, off], `start_${tag}`), op('Sub', [searchEnds, off], `end_${tag}`), `search_prev_${tag}`, STEP);
    const e = op('Sub', [curRegion, prevRegion], `diff_${tag}`);
    return op('Div', [sum(op('Mul', [e, e], `sq_${tag}`), `ss_${tag}`), count], `cost_${tag}`);
  });
  const inf = f64('inf', Infinity);
  let all = costs.length === 1 ? costs[0]! : op('Concat', costs, 'costs', [{ name: 'axis', int: 1 }]); // [1, K, 1, 1]
  all = op('Where', [op('IsNaN', [all], 'cost_nan'), inf, all], 'costs_finite');
  if (R1) {
    const reach = b.int64(`${id}.reach`, cands.map(({ u, v }) => Math.max(Math.abs(u), Math.abs(v))));
    const within = op('LessOrEqual', [op('Reshape', [reach, i64('reach_shape', [1, -1, 1, 1])], 'reach_4d'), R1], 'within');
    all = op('Where', [within, all, inf], 'costs_within');
  }
  const best = op('ArgMin', [all], 'best', [{ name: 'axis', int: 1 }, { name: 'keepdims', int: 1 }]);
  const table = (name: string, vals: number[]): string => {
    const t = b.fresh(`${id}.${name}`);
    b.inits.push({ name: t, type: ONNX_DOUBLE, dims: [vals.length], raw: rawFloat64(vals) });
    return t;
  };
  const bu = op('Gather', [table('cand_u', cands.map((p) => p.u)), best], 'best_u');
  const bv = op('Gather', [table('cand_v', cands.map((p) => p.v)), best], 'best_v');

  // central differences (a[x+1] - a[x-1]) / 2, rounded to float32, zero on the border
  const interior = (len: string, tag: string, shape: number[]): string => {
    const i = op('Reshape', [op('Range', [b.int64Scalar(`${id}.${tag}_start`, 0), len, b.int64Scalar(`${id}.${tag}_delta`, 1)], `${tag}_range`), i64(`${tag}_shape`, shape)], `${tag}_index`);
    const last = op('Sub', [op('Unsqueeze', [len, i64(`${tag}_axis`, [0])], `${tag}_len`), i64(`${tag}_one`, [1])], `${tag}_last`);
    return op('And', [op('GreaterOrEqual', [i, i64(`${tag}_first`, [1])], `${tag}_ge1`), op('Less', [i, last], `${tag}_lt_last`)], `${tag}_inner`);
  };
  const inner = op('And', [interior(Hs, 'rows', [1, 1, -1, 1]), interior(Ws, 'cols', [1, 1, 1, -1])], 'inner');
  const zeroF = f64('zero_f', 0), two = f64('two', 2);
  const gradient = (axis: 2 | 3, tag: string): string => {
    const pads = axis === 3 ? [0, 0, 0, 1, 0, 0, 0, 1] : [0, 0, 1, 0, 0, 0, 1, 0];
    const p = op('Pad', [a, i64(`${tag}_pads`, pads)], `${tag}_padded`);
    const ax = i64(`${tag}_axis`, [axis]);
    const hi = op('Slice', [p, i64(`${tag}_hi_from`, [2]), i64(`${tag}_hi_to`, [INT64_BIG]), ax], `${tag}_next`);
    const lo = op('Slice', [p, i64(`${tag}_lo_from`, [0]), i64(`${tag}_lo_to`, [-2]), ax], `${tag}_prev`);
    const d = op('Div', [op('Sub', [hi, lo], `${tag}_diff`), two], `${tag}_half`);
    const r = op('Cast', [op('Cast', [d], `${tag}_f32`, to(ONNX_FLOAT))], `${tag}_rounded`, to(ONNX_DOUBLE));
    return op('Where', [inner, r, zeroF], tag);
  };
  const gx = gradient(3, 'grad_x'), gy = gradient(2, 'grad_y');

  // Gauss-Newton over the region [m, H - m) x [m, W - m), m = R + 2
  const MM = op('Add', [RR, i64('two_i', [2])], 'margin');
  const gnEnds = op('Sub', [HW, MM], 'gn_ends');
  const curGN = slice(c, MM, gnEnds, 'gn_cur');
  const one = f64('one', 1), flat1 = i64('flat1', [1]);
  const loU = op('Sub', [bu, one], 'lo_u'), hiU = op('Add', [bu, one], 'hi_u');
  const loV = op('Sub', [bv, one], 'lo_v'), hiV = op('Add', [bv, one], 'hi_v');
  const threshold = f64('cond', 1e-4), converged = f64('converged', 1e-3);
  const tapOff = { x: i64('tap_x', [0, 1]), y: i64('tap_y', [1, 0]), xy: i64('tap_xy', [1, 1]) };
  // one iteration as a Loop body (at most 8 trips, ending when mvsr's loop would break): carried
  // the iterate (dx, dy) and the best (kdx, kdy, kcost), all [1, 1, 1, 1] float64
  const scalar4 = [1, 1, 1, 1];
  const carried = ['dx', 'dy', 'kdx', 'kdy', 'kcost'];
  const vin = carried.map((k) => b.fresh(`${id}.gn.${k}_in`));
  const iterIn = b.fresh(`${id}.gn.iter`), condIn = b.fresh(`${id}.gn.cond_in`);
  let outs: string[] = [];
  const body = b.body(() => {
    const [dx, dy, kdx0, kdy0, kcost0] = vin as [string, string, string, string, string];
    const t = 'gn';
    const nx = op('Neg', [dx], `${t}_ndx`), ny = op('Neg', [dy], `${t}_ndy`);
    const fx = op('Floor', [nx], `${t}_fx`), fy = op('Floor', [ny], `${t}_fy`);
    const wx = op('Sub', [nx, fx], `${t}_wx`), wy = op('Sub', [ny, fy], `${t}_wy`);
    const ux = op('Sub', [one, wx], `${t}_1mwx`), uy = op('Sub', [one, wy], `${t}_1mwy`);
    const w00 = op('Mul', [uy, ux], `${t}_w00`), w01 = op('Mul', [uy, wx], `${t}_w01`);
    const w10 = op('Mul', [wy, ux], `${t}_w10`), w11 = op('Mul', [wy, wx], `${t}_w11`);
    const off = op('Cast', [op('Concat', [op('Reshape', [fy, flat1], `${t}_fy1`), op('Reshape', [fx, flat1], `${t}_fx1`)], `${t}_off_f`, [{ name: 'axis', int: 0 }])], `${t}_off`, to(ONNX_INT64));
    const s00 = op('Add', [MM, off], `${t}_s00`), e00 = op('Add', [gnEnds, off], `${t}_e00`);
    const s01 = op('Add', [s00, tapOff.x], `${t}_s01`), e01 = op('Add', [e00, tapOff.x], `${t}_e01`);
    const s10 = op('Add', [s00, tapOff.y], `${t}_s10`), e10 = op('Add', [e00, tapOff.y], `${t}_e10`);
    const s11 = op('Add', [s00, tapOff.xy], `${t}_s11`), e11 = op('Add', [e00, tapOff.xy], `${t}_e11`);
    // w00 a[q] + w01 a[q + 1] + w10 a[q + W] + w11 a[q + W + 1], summed left to right as mvsr does
    const sample = (x: string, tag: string): string => {
      const p = (st: string, en: string, w: string, k: string): string => op('Mul', [w, slice(x, st, en, `${t}_${tag}${k}`)], `${t}_${tag}${k}_w`);
      const s0 = op('Add', [p(s00, e00, w00, '00'), p(s01, e01, w01, '01')], `${t}_${tag}_s0`);
      const s1 = op('Add', [s0, p(s10, e10, w10, '10')], `${t}_${tag}_s1`);
      return op('Add', [s1, p(s11, e11, w11, '11')], `${t}_${tag}`);
    };
    const w = sample(a, 'w'), ix = sample(gx, 'ix'), iy = sample(gy, 'iy');
    const r = op('Sub', [curGN, w], `${t}_r`);
    const dot = (p: string, q: string, name: string): string => sum(op('Mul', [p, q], `${t}_${name}_terms`), `${t}_${name}`);
    const hxx = dot(ix, ix, 'hxx'), hxy = dot(ix, iy, 'hxy'), hyy = dot(iy, iy, 'hyy');
    const gxs = dot(ix, r, 'gx'), gys = dot(iy, r, 'gy'), ss = dot(r, r, 'ss');
    // keep the iterate when its cost is below the best so far; otherwise stop
    const improve = op('Less', [ss, kcost0], `${t}_lower`);
    const kcost = op('Where', [improve, ss, kcost0], `${t}_kcost`);
    let kdx = op('Where', [improve, dx, kdx0], `${t}_kdx`);
    let kdy = op('Where', [improve, dy, kdy0], `${t}_kdy`);
    // stop when ill-conditioned: !(ss > 0 && det > 1e-4 (hxx + hyy)^2)
    const det = op('Sub', [op('Mul', [hxx, hyy], `${t}_hxxhyy`), op('Mul', [hxy, hxy], `${t}_hxy2`)], `${t}_det`);
    const tr = op('Add', [hxx, hyy], `${t}_trace`);
    const bound = op('Mul', [op('Mul', [threshold, tr], `${t}_bound0`), tr], `${t}_bound`);
    const well = op('And', [op('Greater', [ss, zeroF], `${t}_ss_pos`), op('Greater', [det, bound], `${t}_det_ok`)], `${t}_well`);
    const go = op('And', [improve, well], `${t}_go`);
    const ddx = op('Div', [op('Neg', [op('Sub', [op('Mul', [hyy, gxs], `${t}_hyygx`), op('Mul', [hxy, gys], `${t}_hxygy`)], `${t}_nx_num`)], `${t}_x_num`), det], `${t}_ddx`);
    const ddy = op('Div', [op('Neg', [op('Sub', [op('Mul', [hxx, gys], `${t}_hxxgy`), op('Mul', [hxy, gxs], `${t}_hxygx`)], `${t}_ny_num`)], `${t}_y_num`), det], `${t}_ddy`);
    // the step, clamped to +-1 px of the integer minimum
    const ndx = op('Max', [loU, op('Min', [hiU, op('Add', [dx, ddx], `${t}_dx_step`)], `${t}_dx_hi`)], `${t}_dx_new`);
    const ndy = op('Max', [loV, op('Min', [hiV, op('Add', [dy, ddy], `${t}_dy_step`)], `${t}_dy_hi`)], `${t}_dy_new`);
    const dxOut = op('Where', [go, ndx, dx], `${t}_dx`);
    const dyOut = op('Where', [go, ndy, dy], `${t}_dy`);
    // converged: the last small step is taken without evaluating it
    const small = op('Less', [op('Add', [op('Abs', [ddx], `${t}_abs_ddx`), op('Abs', [ddy], `${t}_abs_ddy`)], `${t}_step_size`), converged], `${t}_small`);
    const done = op('And', [go, small], `${t}_converged`);
    kdx = op('Where', [done, dxOut, kdx], `${t}_kdx_final`);
    kdy = op('Where', [done, dyOut, kdy], `${t}_kdy_final`);
    const more = op('Reshape', [op('And', [go, op('Not', [small], `${t}_not_small`)], `${t}_more4`), i64('scalar_shape', [])], `${t}_more`);
    outs = [more, dxOut, dyOut, kdx, kdy, kcost];
  });
  const f64T = (name: string): ValueInfo => ({ name, elemType: ONNX_DOUBLE, dims: scalar4 });
  const graph: SubGraph = {
    name: `${id}.gauss_newton`, nodes: body,
    inputs: [{ name: iterIn, elemType: ONNX_INT64, dims: [] }, { name: condIn, elemType: ONNX_BOOL, dims: [] }, ...vin.map(f64T)],
    outputs: [{ name: outs[0]!, elemType: ONNX_BOOL, dims: [] }, ...outs.slice(1).map(f64T)],
  };
  const start = b.fresh(`${id}.gn.start`);
  b.inits.push({ name: start, type: ONNX_BOOL, dims: [], raw: Uint8Array.of(1) });
  const inf4 = b.fresh(`${id}.inf4`);
  b.inits.push({ name: inf4, type: ONNX_DOUBLE, dims: scalar4, raw: rawFloat64([Infinity]) });
  const finals = carried.map((k) => b.fresh(`${id}.gn.${k}`));
  const [, , kdx, kdy] = b.nodeMulti('Loop', [b.int64Scalar(`${id}.gn.trips`, 8), start, bu, bv, bu, bv, inf4], finals, [{ name: 'body', graph }], b.fresh(`${id}.gn.loop`));
  return op('Concat', [kdx, kdy], 'shift', [{ name: 'axis', int: 1 }]);
}

