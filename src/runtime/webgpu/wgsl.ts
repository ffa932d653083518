// WGSL compute shaders for the WebGPU backend, generated from TypeScript templates and
// specialised by shape: every size, channel count, kernel size, group count and epilogue is a
// constant in the source (the GPU compiler unrolls and folds), so one template covers every
// case and no variant is written by hand.
//
// Layout: every tensor is NHWC with its channels padded to a multiple of 4 and stored as
// array<vec4<f32>> (CB = ceil(C / 4) blocks per pixel); padded lanes hold finite values that the
// packed weights multiply by zero. Every kernel runs one invocation per output (x, y) and
// z = n * ZB + block, in 8x8 workgroups.
import type { Act } from '../../graph/ir.js';

export const WG = 8;

export const blocks = (c: number): number => Math.ceil(c / 4);

/** An f32 literal WGSL accepts (always with a decimal point or exponent). */
export function f32(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`mvsr: webgpu: constant ${v} is not finite`);
  const s = String(Math.fround(v));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** The shape an invocation grid covers: output width, height and z = n * ZB + block. */
export interface Grid { W: number; H: number; Z: number }

const header = (g: Grid): string => `
@compute @workgroup_size(${WG}, ${WG}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= ${g.W}u || gid.y >= ${g.H}u || gid.z >= ${g.Z}u) { return; }
  let ox = i32(gid.x);
  let oy = i32(gid.y);
  let oz = i32(gid.z);`;

/** Activation applied to a vec4 `v` of channel block `cb` (prelu reads `alpha`, one vec4 per block). */
export function actCode(a: Act | undefined, v: string, cb: string): string {
  if (!a) return v;
  switch (a.kind) {
    case 'relu': return `max(${v}, vec4<f32>(0.0))`;
    case 'leaky': return `select(${v} * ${f32(a.slope)}, ${v}, ${v} > vec4<f32>(0.0))`;
    case 'prelu': return `select(${v} * alpha[${cb}], ${v}, ${v} > vec4<f32>(0.0))`;
    case 'tanh': return `tanh_v(${v})`;
    case 'sigmoid': return `(vec4<f32>(1.0) / (vec4<f32>(1.0) + exp(-${v})))`;
    case 'gelu': return `gelu_v(${v})`;
    case 'clamp': return `clamp(${v}, vec4<f32>(${f32(a.lo)}), vec4<f32>(${f32(a.hi)}))`;
  }
}

// WGSL's tanh overflows to NaN for large |x| on some drivers (it is computed from exp):
// saturate first (tanh(10) is 1 in float32).
const TANH = `fn tanh_v(v: vec4<f32>) -> vec4<f32> { return tanh(clamp(v, vec4<f32>(-10.0), vec4<f32>(10.0))); }\n`;

// GELU's erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), as the WASM kernels compute it.
const GELU = `fn gelu_v(v: vec4<f32>) -> vec4<f32> {
  let z = v * 0.7071067811865476;
  let a = abs(z);
  let t = vec4<f32>(1.0) / (vec4<f32>(1.0) + 0.3275911 * a);
  let p = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  let e = sign(z) * (vec4<f32>(1.0) - p * exp(-a * a));
  return 0.5 * v * (vec4<f32>(1.0) + e);
}
`;

const actDecls = (a: Act | undefined, binding: number): string =>
  (a?.kind === 'prelu' ? `@group(0) @binding(${binding}) var<storage, read> alpha: array<vec4<f32>>;\n` : '') + (a?.kind === 'tanh' ? TANH : '') + (a?.kind === 'gelu' ? GELU : '');

/** Fused conv epilogue: residual add (channel map) and depth_to_space of the output. */
export interface ConvTail {
  /** HR factor; the conv's Cout = C * s * s. */
  scale: number;
  order: 'pytorch' | 'tf';
  /** Residual source channel per conv output channel, or null for no residual. */
  residualMap: number[] | null;
  /** Channels of the residual source. */
  residualChannels: number;
}

export interface ConvSpec {
  /** Input size; the output is Ho x Wo (H + 2 padding - (K - 1) dilation). */
  N: number; H: number; W: number; Ho: number; Wo: number;
  Cin: number; Cout: number; K: number; padding: number; groups: number;
  /** Tap spacing (default 1). */
  dilation?: number;
  /** Output every `stride` input pixels (default 1). */
  stride?: number;
  act?: Act;
  tail?: ConvTail;
  /** Output channel blocks each invocation computes (groups 1, no tail). */
  coPerThread: number;
  /** Output pixels along x each invocation computes (dense convs; default convTiling). */
  pixelsPerThread?: number;
  /** A tail's output blocks per invocation (default convTiling.tailBlocks; 0: all). */
  tailBlocks?: number;
  /** Dense stride-1 convs: stage the input tile in workgroup memory (default convTiling.shared). */
  shared?: boolean;
}

/**
 * The K x K taps of a stride-1 conv around output (ox, oy): `inner` runs for each tap inside the
 * input, with ky, kx, iy, ix and p (the input pixel's index, n * H * W + iy * W + ix) defined.
 */
function taps(s: { H: number; W: number; K: number; padding: number; dilation?: number; stride?: number }, inner: string, indent = '  '): string {
  const d = s.dilation ?? 1, st = s.stride ?? 1;
  return `${indent}for (var ky = 0; ky < ${s.K}; ky++) {
${indent}  let iy = oy * ${st} + ky * ${d} - ${s.padding};
${indent}  if (iy < 0 || iy >= ${s.H}) { continue; }
${indent}  for (var kx = 0; kx < ${s.K}; kx++) {
${indent}    let ix = ox * ${st} + kx * ${d} - ${s.padding};
${indent}    if (ix < 0 || ix >= ${s.W}) { continue; }
${indent}    let p = (n * ${s.H} + iy) * ${s.W} + ix;
${inner.split('\n').map((l) => `${indent}    ${l}`).join('\n')}
${indent}  }
${indent}}`;
}

/**
 * How convDense tiles its work. `px`: output pixels along x per invocation (the weights loaded
 * once serve them all); `co`: output blocks per invocation; `tailBlocks`: output blocks per
 * invocation of a fused tail (its pixel shuffle scatters every block it computes), 0 for all of
 * them; `tailPx`: a tail's pixels per invocation. Chosen on an NVIDIA H200 (Dawn, Vulkan) by
 * scripts/tune-webgpu.mjs (docs/bench/webgpu-h200-tuning.txt): at the MAI setting more pixels per
 * invocation left too few invocations for the small networks (ECBSR-M4C16 0.27 ms at px 1, 1.32
 * at px 4), 4 blocks beat 2 and 8, and a tail computing all its blocks for 2 pixels took ESPCN
 * from 0.65 to 0.47 ms (the tail variants were not all timed: the run ran out of time).
 * `shared`: each workgroup first copies the input tile its outputs read (zeros outside the image)
 * into workgroup memory, a chunk of input blocks at a time, so the K x K taps of neighbouring
 * outputs read it there instead of from the storage buffer; stride-1 convs only. Off until a GPU
 * times it (scripts/tune-webgpu.mjs, stage 3): it is checked on SwiftShader, which says nothing
 * about speed.
 */
export const convTiling = { px: 1, co: 4, tailBlocks: 0, tailPx: 2, shared: false };

/** Workgroup memory a kernel may use: WebGPU's default maxComputeWorkgroupStorageSize. */
const WORKGROUP_BYTES = 16384;

/**
 * Dense (groups 1) convolution, weights as mat4x4 per (tap, input block, output block), columns
 * the 4 input channels: acc += w * x. An invocation computes PX pixels along x times T output
 * blocks (convTiling, or the spec's coPerThread / pixelsPerThread), over (ox / PX, oy, n * ZB + zb);
 * bindings x, w, b, y [, alpha] [, residual]. With a tail it adds the residual, applies the
 * activation and writes each channel to its place in the HR image (pixel shuffle).
 */
export function convDense(s: ConvSpec): { code: string; grid: Grid } {
  const CIB = blocks(s.Cin), COB = blocks(s.Cout);
  const wantT = s.tail ? (s.tailBlocks ?? convTiling.tailBlocks) || COB : s.coPerThread;
  const T = Math.max(1, Math.min(wantT, COB));
  const PX = Math.max(1, Math.min(s.pixelsPerThread ?? (s.tail ? convTiling.tailPx : convTiling.px), s.Wo));
  const ZB = Math.ceil(COB / T), XB = Math.ceil(s.Wo / PX);
  const grid = { W: XB, H: s.Ho, Z: s.N * ZB };
  const d = s.dilation ?? 1, st = s.stride ?? 1;
  let bind = 4;
  const alphaB = s.act?.kind === 'prelu' ? bind++ : -1;
  const resB = s.tail?.residualMap ? bind++ : -1;
  const out = s.tail ? 'array<f32>' : 'array<vec4<f32>>';
  const decls = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<mat4x4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: ${out};
${actDecls(s.act, alphaB)}${resB >= 0 ? `@group(0) @binding(${resB}) var<storage, read> res: array<f32>;\n` : ''}`;
  // the input tile in workgroup memory: stride 1 only, and only when one input block of the tile fits
  const span = (s.K - 1) * d, TW = WG * PX + span, TH = WG + span;
  const shared = (s.shared ?? convTiling.shared) && st === 1 && TH * TW * 16 <= WORKGROUP_BYTES;
  const body: string[] = [];
  // acc[t * PX + j]: output block cb0 + t at pixel ox0 + j
  body.push(`  let n = oz / ${ZB};
  let cb0 = (oz % ${ZB}) * ${T};
  let ox0 = ox * ${PX};
  var acc: array<vec4<f32>, ${T * PX}>;
  for (var t = 0; t < ${T}; t++) {
    let bt = b[min(cb0 + t, ${COB - 1})];
    for (var j = 0; j < ${PX}; j++) { acc[t * ${PX} + j] = bt; }
  }`);
  let head = header(grid);
  if (!shared) {
    body.push(`  for (var ky = 0; ky < ${s.K}; ky++) {
    let iy = oy * ${st} + ky * ${d} - ${s.padding};
    if (iy < 0 || iy >= ${s.H}) { continue; }
    for (var kx = 0; kx < ${s.K}; kx++) {
      var xp: array<i32, ${PX}>;
      var inside: array<bool, ${PX}>;
      for (var j = 0; j < ${PX}; j++) {
        let ix = (ox0 + j) * ${st} + kx * ${d} - ${s.padding};
        inside[j] = ix >= 0 && ix < ${s.W};
        xp[j] = ((n * ${s.H} + iy) * ${s.W} + clamp(ix, 0, ${s.W - 1})) * ${CIB};
      }
      let wb = (ky * ${s.K} + kx) * ${CIB * COB};
      for (var ci = 0; ci < ${CIB}; ci++) {
        var xv: array<vec4<f32>, ${PX}>;
        for (var j = 0; j < ${PX}; j++) { xv[j] = select(vec4<f32>(0.0), x[xp[j] + ci], inside[j]); }
        for (var t = 0; t < ${T}; t++) {
          let wm = w[wb + ci * ${COB} + min(cb0 + t, ${COB - 1})];
          for (var j = 0; j < ${PX}; j++) { acc[t * ${PX} + j] += wm * xv[j]; }
        }
      }
    }
  }`);
  } else {
    // The workgroup's WG*PX x WG outputs read a TH x TW input tile (zeros outside the image), CC
    // input blocks at a time: its invocations load it together, then every tap reads it there.
    // Loads walk the storage buffer in order (pixel-major, as it is laid out); the tile is stored
    // block-major, so neighbouring invocations read neighbouring vec4s of it (no bank conflicts
    // when PX is 1). No invocation may return before a barrier, so the grid check moves to the epilogue.
    const chunks = Math.ceil(CIB / Math.max(1, Math.min(CIB, Math.floor(WORKGROUP_BYTES / (TH * TW * 16)))));
    const CC = Math.ceil(CIB / chunks), L = TH * TW * CC;
    head = `
var<workgroup> tile: array<vec4<f32>, ${L}>;
@compute @workgroup_size(${WG}, ${WG}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let ox = i32(gid.x);
  let oy = i32(gid.y);
  let oz = i32(gid.z);`;
    body.push(`  let tx0 = i32(wid.x) * ${WG * PX} - ${s.padding};
  let ty0 = i32(wid.y) * ${WG} - ${s.padding};
  let lx = i32(lid.x) * ${PX};
  let ly = i32(lid.y);
  for (var c0 = 0; c0 < ${CIB}; c0 += ${CC}) {
    workgroupBarrier();
    for (var i = i32(li); i < ${L}; i += ${WG * WG}) {
      let q = i / ${CC};
      let cc = i % ${CC};
      let c = c0 + cc;
      let iy = ty0 + q / ${TW};
      let ix = tx0 + q % ${TW};
      var v = vec4<f32>(0.0);
      if (iy >= 0 && iy < ${s.H} && ix >= 0 && ix < ${s.W} && c < ${CIB}) { v = x[((n * ${s.H} + iy) * ${s.W} + ix) * ${CIB} + c]; }
      tile[cc * ${TH * TW} + q] = v;
    }
    workgroupBarrier();
    for (var ky = 0; ky < ${s.K}; ky++) {
      for (var kx = 0; kx < ${s.K}; kx++) {
        let tb = (ly + ky * ${d}) * ${TW} + lx + kx * ${d};
        let wb = (ky * ${s.K} + kx) * ${CIB * COB};
        for (var ci = 0; ci < ${CC}; ci++) {
          if (c0 + ci >= ${CIB}) { break; }
          var xv: array<vec4<f32>, ${PX}>;
          for (var j = 0; j < ${PX}; j++) { xv[j] = tile[ci * ${TH * TW} + tb + j]; }
          for (var t = 0; t < ${T}; t++) {
            let wm = w[wb + (c0 + ci) * ${COB} + min(cb0 + t, ${COB - 1})];
            for (var j = 0; j < ${PX}; j++) { acc[t * ${PX} + j] += wm * xv[j]; }
          }
        }
      }
    }
  }
  if (gid.x >= ${grid.W}u || gid.y >= ${grid.H}u) { return; }`);
  }
  if (!s.tail) {
    body.push(`  for (var j = 0; j < ${PX}; j++) {
    let oxj = ox0 + j;
    if (oxj >= ${s.Wo}) { break; }
    let yb = ((n * ${s.Ho} + oy) * ${s.Wo} + oxj) * ${COB};
    for (var t = 0; t < ${T}; t++) {
      let cb = cb0 + t;
      if (cb < ${COB}) {
        let v = acc[t * ${PX} + j];
        y[yb + cb] = ${actCode(s.act, 'v', 'cb')};
      }
    }
  }`);
  } else {
    const { scale: sc, order } = s.tail;
    const C = s.Cout / (sc * sc), CB = blocks(C);
    const RB = blocks(s.tail.residualChannels) * 4;
    // per output block (a constant when T covers every block, else chosen by cb0): residual,
    // activation, then each lane to its HR pixel (dy, dx) and channel
    const blockCode = (cb: number, t: string): string => {
      const lines: string[] = [`var v = acc[${t} * ${PX} + j];`];
      if (s.tail!.residualMap) {
        const reads = [0, 1, 2, 3].filter((k) => cb * 4 + k < s.Cout).map((k) => `res[rb + ${s.tail!.residualMap![cb * 4 + k]}]`);
        while (reads.length < 4) reads.push('0.0');
        lines.push(`v += vec4<f32>(${reads.join(', ')});`);
      }
      lines.push(`v = ${actCode(s.act, 'v', `${cb}`)};`);
      for (let k = 0; k < 4 && cb * 4 + k < s.Cout; k++) {
        const co = cb * 4 + k;
        const [c, sub] = order === 'pytorch' ? [Math.floor(co / (sc * sc)), co % (sc * sc)] : [co % C, Math.floor(co / C)];
        const dy = Math.floor(sub / sc), dx = sub % sc;
        lines.push(`y[((n * ${s.Ho * sc} + oy * ${sc} + ${dy}) * ${s.Wo * sc} + oxj * ${sc} + ${dx}) * ${CB * 4} + ${c}] = v[${k}];`);
      }
      return lines.join(' ');
    };
    body.push(`  for (var j = 0; j < ${PX}; j++) {
    let oxj = ox0 + j;
    if (oxj >= ${s.Wo}) { break; }${s.tail.residualMap ? `\n    let rb = ((n * ${s.Ho} + oy) * ${s.Wo} + oxj) * ${RB};` : ''}`);
    if (T === COB) {
      for (let cb = 0; cb < COB; cb++) body.push(`    { ${blockCode(cb, String(cb))} }`);
    } else {
      body.push(`    for (var t = 0; t < ${T}; t++) {\n      switch (cb0 + t) {`);
      for (let cb = 0; cb < COB; cb++) body.push(`        case ${cb}: { ${blockCode(cb, 't')} }`);
      body.push(`        default: {}\n      }\n    }`);
    }
    body.push(`  }`);
  }
  return { code: `${decls}${head}\n${body.join('\n')}\n}\n`, grid };
}

/** Depthwise conv (groups == Cin == Cout): weights one vec4 per (tap, block); bindings x, w, b, y [, alpha]. */
export function convDepthwise(s: ConvSpec): { code: string; grid: Grid } {
  const CB = blocks(s.Cout);
  const grid = { W: s.Wo, H: s.Ho, Z: s.N * CB };
  const code = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
${actDecls(s.act, 4)}${header(grid)}
  let n = oz / ${CB};
  let cb = oz % ${CB};
  var v = b[cb];
${taps(s, `v += w[(ky * ${s.K} + kx) * ${CB} + cb] * x[p * ${CB} + cb];`)}
  y[((n * ${s.Ho} + oy) * ${s.Wo} + ox) * ${CB} + cb] = ${actCode(s.act, 'v', 'cb')};
}
`;
  return { code, grid };
}

/**
 * Any grouped conv, scalar: weights as PyTorch's [Cout][Cin/groups][K][K] floats, input read as
 * floats; one invocation per output block. Bindings x, w, b, y [, alpha].
 */
export function convGrouped(s: ConvSpec): { code: string; grid: Grid } {
  const CIB = blocks(s.Cin), COB = blocks(s.Cout), cig = s.Cin / s.groups, cog = s.Cout / s.groups;
  const grid = { W: s.Wo, H: s.Ho, Z: s.N * COB };
  const code = `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
${actDecls(s.act, 4)}${header(grid)}
  let n = oz / ${COB};
  let cb = oz % ${COB};
  var v = b[cb];
  for (var j = 0; j < 4; j++) {
    let co = cb * 4 + j;
    if (co >= ${s.Cout}) { break; }
    let c0 = (co / ${cog}) * ${cig};
    var s = 0.0;
${taps(s, `let xb = p * ${CIB * 4} + c0;
for (var ci = 0; ci < ${cig}; ci++) {
  s += w[((co * ${cig} + ci) * ${s.K} + ky) * ${s.K} + kx] * x[xb + ci];
}`, '    ')}
    v[j] += s;
  }
  y[((n * ${s.Ho} + oy) * ${s.Wo} + ox) * ${COB} + cb] = ${actCode(s.act, 'v', 'cb')};
}
`;
  return { code, grid };
}

export interface ConvTransposeSpec {
  N: number; H: number; W: number; Ho: number; Wo: number;
  Cin: number; Cout: number; K: number; stride: number; padding: number;
}

/** PyTorch ConvTranspose2d as a gather, scalar: weights [Cin][Cout][K][K]. Bindings x, w, b, y. */
export function convTranspose(s: ConvTransposeSpec): { code: string; grid: Grid } {
  const CIB = blocks(s.Cin), COB = blocks(s.Cout);
  const grid = { W: s.Wo, H: s.Ho, Z: s.N * COB };
  const code = `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
${header(grid)}
  let n = oz / ${COB};
  let cb = oz % ${COB};
  var v = b[cb];
  for (var ky = 0; ky < ${s.K}; ky++) {
    let ty = oy + ${s.padding} - ky;
    if (ty < 0 || ty % ${s.stride} != 0) { continue; }
    let iy = ty / ${s.stride};
    if (iy >= ${s.H}) { continue; }
    for (var kx = 0; kx < ${s.K}; kx++) {
      let tx = ox + ${s.padding} - kx;
      if (tx < 0 || tx % ${s.stride} != 0) { continue; }
      let ix = tx / ${s.stride};
      if (ix >= ${s.W}) { continue; }
      let xb = ((n * ${s.H} + iy) * ${s.W} + ix) * ${CIB * 4};
      for (var ci = 0; ci < ${s.Cin}; ci++) {
        let xv = x[xb + ci];
        for (var j = 0; j < 4; j++) {
          let co = cb * 4 + j;
          if (co < ${s.Cout}) { v[j] += xv * w[((ci * ${s.Cout} + co) * ${s.K} + ky) * ${s.K} + kx]; }
        }
      }
    }
  }
  y[((n * ${s.Ho} + oy) * ${s.Wo} + ox) * ${COB} + cb] = v;
}
`;
  return { code, grid };
}

/** Elementwise over blocks: an activation of one input, or add / mul of two. Bindings a [, b], y [, alpha]. */
export function pointwise(kind: 'act' | 'add' | 'mul', N: number, H: number, W: number, C: number, act?: Act): { code: string; grid: Grid } {
  const CB = blocks(C);
  const grid = { W, H, Z: N * CB };
  const two = kind !== 'act';
  const expr = kind === 'add' ? 'a[i] + b[i]' : kind === 'mul' ? 'a[i] * b[i]' : actCode(act, 'a[i]', 'cb');
  const yb = two ? 2 : 1;
  const code = `@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
${two ? '@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;\n' : ''}@group(0) @binding(${yb}) var<storage, read_write> y: array<vec4<f32>>;
${kind === 'act' ? actDecls(act, yb + 1) : ''}${header(grid)}
  let cb = oz % ${CB};
  let i = ((oz / ${CB}) * ${H} + oy) * ${W * CB} + ox * ${CB} + cb;
  y[i] = ${expr};
}
`;
  return { code, grid };
}

/**
 * Each channel's mean or population standard deviation over the H x W pixels of its image: one
 * 8 x 8 workgroup per (image, block), its 64 invocations striding over the pixels and summing in a
 * tree in workgroup memory (for 'std' a second pass sums the squared deviations from the mean, as
 * the CPU kernels compute it). Bindings x, y ([N, 1, 1, C]).
 */
export function globalPool(stat: 'mean' | 'std', N: number, H: number, W: number, C: number): { code: string; grid: Grid } {
  const CB = blocks(C), P = H * W, L = WG * WG;
  const grid = { W: WG, H: WG, Z: N * CB };
  const reduce = (v: string): string => `  part[li] = ${v};
  workgroupBarrier();
  for (var k = ${L / 2}u; k > 0u; k = k >> 1u) {
    if (li < k) { part[li] += part[li + k]; }
    workgroupBarrier();
  }`;
  const code = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
var<workgroup> part: array<vec4<f32>, ${L}>;
@compute @workgroup_size(${WG}, ${WG}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let oz = i32(wid.z);
  let n = oz / ${CB};
  let cb = oz % ${CB};
  var s = vec4<f32>(0.0);
  for (var p = i32(li); p < ${P}; p += ${L}) { s += x[(n * ${P} + p) * ${CB} + cb]; }
${reduce('s')}
  let mean = part[0] / ${f32(P)};
${stat === 'mean' ? '  if (li == 0u) { y[oz] = mean; }' : `  workgroupBarrier();
  var v = vec4<f32>(0.0);
  for (var p = i32(li); p < ${P}; p += ${L}) { let e = x[(n * ${P} + p) * ${CB} + cb] - mean; v += e * e; }
${reduce('v')}
  if (li == 0u) { y[oz] = sqrt(part[0] / ${f32(P)}); }`}
}
`;
  return { code, grid };
}

/** Max pooling without padding: the k x k window at (S ox, S oy) of x (H x W). Bindings x, y. */
export function maxPool(N: number, H: number, W: number, Ho: number, Wo: number, C: number, k: number, stride: number): { code: string; grid: Grid } {
  const CB = blocks(C);
  const grid = { W: Wo, H: Ho, Z: N * CB };
  const code = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
${header(grid)}
  let n = oz / ${CB};
  let cb = oz % ${CB};
  var m = x[((n * ${H} + oy * ${stride}) * ${W} + ox * ${stride}) * ${CB} + cb];
  for (var dy = 0; dy < ${k}; dy++) {
    for (var dx = 0; dx < ${k}; dx++) {
      m = max(m, x[((n * ${H} + oy * ${stride} + dy) * ${W} + ox * ${stride} + dx) * ${CB} + cb]);
    }
  }
  y[((n * ${Ho} + oy) * ${Wo} + ox) * ${CB} + cb] = m;
}
`;
  return { code, grid };
}

/**
 * Layer normalisation over each pixel's C channels (nn.LayerNorm(C)): one invocation per pixel
 * takes the mean, then the population variance from the deviations (two passes, as the CPU
 * kernel), with the padded lanes of the last block masked out of both; it writes
 * (x - mean) / sqrt(var + eps) * w + b, which is 0 in the padded lanes (w and b are zero there).
 * Bindings x, w, b (one vec4 per block), y.
 */
export function layerNorm(N: number, H: number, W: number, C: number, eps: number): { code: string; grid: Grid } {
  const CB = blocks(C), rem = C % 4;
  const grid = { W, H, Z: N };
  const lanes = rem === 0 ? 'vec4<f32>(1.0)'
    : `select(vec4<f32>(1.0), vec4<f32>(${[0, 1, 2, 3].map((i) => (i < rem ? '1.0' : '0.0')).join(', ')}), cb == ${CB - 1})`;
  const code = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
${header(grid)}
  let base = ((oz * ${H} + oy) * ${W} + ox) * ${CB};
  var s = 0.0;
  for (var cb = 0; cb < ${CB}; cb++) { s += dot(x[base + cb], ${lanes}); }
  let mean = vec4<f32>(s / ${f32(C)});
  var v = 0.0;
  for (var cb = 0; cb < ${CB}; cb++) { let d = (x[base + cb] - mean) * ${lanes}; v += dot(d, d); }
  let r = 1.0 / sqrt(v / ${f32(C)} + ${f32(eps)});
  for (var cb = 0; cb < ${CB}; cb++) { y[base + cb] = (x[base + cb] - mean) * r * w[cb] + b[cb]; }
}
`;
  return { code, grid };
}

/**
 * Windowed multi-head self-attention (tensor/ops/attention.ts): one invocation per pixel runs every
 * head over the pixel's ws x ws window, scores scale * q . k (0 for the zero tokens completing a
 * window that crosses the bottom or right edge), a max pass then exp, sum and the weighted values,
 * and writes the pixel's C outputs. x holds each pixel's q, k, v (3C channels, scalar reads from
 * its vec4 blocks). Bindings x, y.
 */
export function windowAttention(N: number, H: number, W: number, C: number, heads: number, ws: number, scale: number): { code: string; grid: Grid } {
  const CB3 = blocks(3 * C), CB = blocks(C), D = C / heads, T = ws * ws;
  const grid = { W, H, Z: N };
  const code = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
fn at(p: i32, c: i32) -> f32 { return x[p * ${CB3} + c / 4][c % 4]; }
${header(grid)}
  let p = (oz * ${H} + oy) * ${W} + ox;
  let y0 = (oy / ${ws}) * ${ws};
  let x0 = (ox / ${ws}) * ${ws};
  var o: array<f32, ${CB * 4}>;
  for (var h = 0; h < ${heads}; h++) {
    var m = -3.0e38;
    for (var u = 0; u < ${T}; u++) {
      let ty = y0 + u / ${ws};
      let tx = x0 + u % ${ws};
      var s = 0.0;
      if (ty < ${H} && tx < ${W}) {
        let pu = (oz * ${H} + ty) * ${W} + tx;
        for (var d = 0; d < ${D}; d++) { s += at(p, h * ${D} + d) * at(pu, ${C} + h * ${D} + d); }
        s *= ${f32(scale)};
      }
      m = max(m, s);
    }
    var z = 0.0;
    // initialised explicitly: declared without one, Dawn on SwiftShader kept the previous head's sums
    var acc = array<f32, ${D}>();
    for (var u = 0; u < ${T}; u++) {
      let ty = y0 + u / ${ws};
      let tx = x0 + u % ${ws};
      var s = 0.0;
      let valid = ty < ${H} && tx < ${W};
      let pu = (oz * ${H} + ty) * ${W} + tx;
      if (valid) {
        for (var d = 0; d < ${D}; d++) { s += at(p, h * ${D} + d) * at(pu, ${C} + h * ${D} + d); }
        s *= ${f32(scale)};
      }
      let e = exp(s - m);
      z += e;
      if (valid) { for (var d = 0; d < ${D}; d++) { acc[d] += e * at(pu, ${2 * C} + h * ${D} + d); } }
    }
    for (var d = 0; d < ${D}; d++) { o[h * ${D} + d] = acc[d] / z; }
  }
  for (var cb = 0; cb < ${CB}; cb++) { y[p * ${CB} + cb] = vec4<f32>(o[4 * cb], o[4 * cb + 1], o[4 * cb + 2], o[4 * cb + 3]); }
}
`;
  return { code, grid };
}

/** x times a per-(image, channel) scale [N, 1, 1, C], broadcast over the pixels. Bindings x, s, y. */
export function scaleChannels(N: number, H: number, W: number, C: number): { code: string; grid: Grid } {
  const CB = blocks(C);
  const grid = { W, H, Z: N * CB };
  const code = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> s: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
${header(grid)}
  let cb = oz % ${CB};
  let i = ((oz / ${CB}) * ${H} + oy) * ${W * CB} + ox * ${CB} + cb;
  y[i] = x[i] * s[oz];
}
`;
  return { code, grid };
}

/**
 * Between tight NHWC floats (C per pixel, as Tensors hold them) and the kernels' layout (C padded
 * to vec4 blocks): 'pad' reads tight and writes padded, the extra lanes zero; 'unpad' the reverse.
 * So that an upload and a readback move C floats a pixel and need no repacking loop in JS.
 * Bindings x, y.
 */
export function repack(kind: 'pad' | 'unpad', N: number, H: number, W: number, C: number): { code: string; grid: Grid } {
  const CB = blocks(C);
  const grid = { W, H, Z: N };
  const tight = 'array<f32>', padded = 'array<vec4<f32>>';
  const lanes = (cb: number): number[] => [0, 1, 2, 3].filter((j) => cb * 4 + j < C);
  const body: string[] = [];
  for (let cb = 0; cb < CB; cb++) {
    if (kind === 'pad') {
      const v = [0, 1, 2, 3].map((j) => (cb * 4 + j < C ? `x[p * ${C} + ${cb * 4 + j}]` : '0.0'));
      body.push(`  y[p * ${CB} + ${cb}] = vec4<f32>(${v.join(', ')});`);
    } else {
      body.push(`  { let v = x[p * ${CB} + ${cb}]; ${lanes(cb).map((j) => `y[p * ${C} + ${cb * 4 + j}] = v[${j}];`).join(' ')} }`);
    }
  }
  const code = `@group(0) @binding(0) var<storage, read> x: ${kind === 'pad' ? tight : padded};
@group(0) @binding(1) var<storage, read_write> y: ${kind === 'pad' ? padded : tight};
${header(grid)}
  let p = (oz * ${H} + oy) * ${W} + ox;
${body.join('\n')}
}
`;
  return { code, grid };
}

/**
 * Copy channels [from, from + count) of x (C channels) into channels [to, to + count) of y
 * (Cy channels), same pixels. Grid over output blocks touched. Bindings x, y.
 */
export function copyChannels(N: number, H: number, W: number, C: number, from: number, count: number, Cy: number, to: number): { code: string; grid: Grid } {
  const b0 = Math.floor(to / 4), b1 = blocks(to + count), nb = b1 - b0;
  const grid = { W, H, Z: N * nb };
  const code = `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
${header(grid)}
  let n = oz / ${nb};
  let cb = ${b0} + oz % ${nb};
  let p = (n * ${H} + oy) * ${W} + ox;
  for (var j = 0; j < 4; j++) {
    let c = cb * 4 + j;
    if (c >= ${to} && c < ${to + count}) { y[p * ${blocks(Cy) * 4} + c] = x[p * ${blocks(C) * 4} + c - ${to - from}]; }
  }
}
`;
  return { code, grid };
}

/**
 * depth_to_space (d2s: LR x, HR y) or space_to_depth (the inverse), as a gather over the
 * output's blocks. Bindings x, y.
 */
export function pixelShuffle(kind: 'depthToSpace' | 'spaceToDepth', N: number, Ho: number, Wo: number, Co: number, Ci: number, s: number, order: 'pytorch' | 'tf'): { code: string; grid: Grid } {
  const CB = blocks(Co), CIB4 = blocks(Ci) * 4, Hi = kind === 'depthToSpace' ? Ho / s : Ho * s, Wi = kind === 'depthToSpace' ? Wo / s : Wo * s;
  const grid = { W: Wo, H: Ho, Z: N * CB };
  // source pixel and channel of output channel c at (oy, ox)
  const src = kind === 'depthToSpace'
    ? `let iy = oy / ${s}; let ix = ox / ${s}; let sub = (oy % ${s}) * ${s} + ox % ${s};
      let ci = ${order === 'pytorch' ? `c * ${s * s} + sub` : `sub * ${Co} + c`};`
    : `let sub = ${order === 'pytorch' ? `c % ${s * s}` : `c / ${Ci}`}; let cc = ${order === 'pytorch' ? `c / ${s * s}` : `c % ${Ci}`};
      let iy = oy * ${s} + sub / ${s}; let ix = ox * ${s} + sub % ${s}; let ci = cc;`;
  const code = `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
${header(grid)}
  let n = oz / ${CB};
  let cb = oz % ${CB};
  var v = vec4<f32>(0.0);
  for (var j = 0; j < 4; j++) {
    let c = cb * 4 + j;
    if (c < ${Co}) {
      ${src}
      v[j] = x[((n * ${Hi} + iy) * ${Wi} + ix) * ${CIB4} + ci];
    }
  }
  y[((n * ${Ho} + oy) * ${Wo} + ox) * ${CB} + cb] = v;
}
`;
  return { code, grid };
}

/**
 * One separable resampling pass by a CSR matrix (rows: output positions) along H or W.
 * Bindings x, rowPtr (i32), col (i32), weight (f32), y.
 */
export function resamplePass(axis: 'H' | 'W', N: number, Hi: number, Wi: number, Ho: number, Wo: number, C: number): { code: string; grid: Grid } {
  const CB = blocks(C);
  const grid = { W: Wo, H: Ho, Z: N * CB };
  const d = axis === 'H' ? 'oy' : 'ox';
  const at = axis === 'H' ? `((n * ${Hi} + i) * ${Wi} + ox)` : `((n * ${Hi} + oy) * ${Wi} + i)`;
  const code = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> rowPtr: array<i32>;
@group(0) @binding(2) var<storage, read> col: array<i32>;
@group(0) @binding(3) var<storage, read> wt: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;
${header(grid)}
  let n = oz / ${CB};
  let cb = oz % ${CB};
  var v = vec4<f32>(0.0);
  for (var k = rowPtr[${d}]; k < rowPtr[${d} + 1]; k++) {
    let i = col[k];
    v += wt[k] * x[${at} * ${CB} + cb];
  }
  y[((n * ${Ho} + oy) * ${Wo} + ox) * ${CB} + cb] = v;
}
`;
  return { code, grid };
}

/**
 * Bilinear translation with edges replicated (align.ts's translate): per item, p[2n] holds the
 * four tap weights (formed on the CPU as the wasm kernel forms them) and p[2n + 1].xy the integer
 * tap offsets (fx, fy): out(x, y) = w00 in(x+fx, y+fy) + w01 in(x+fx+1, y+fy) + w10 in(x+fx, y+fy+1)
 * + w11 in(x+fx+1, y+fy+1), coordinates clamped. Bindings x, p, y.
 */
export function translate(N: number, H: number, W: number, C: number): { code: string; grid: Grid } {
  const CB = blocks(C);
  const grid = { W, H, Z: N * CB };
  const code = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> p: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
${header(grid)}
  let n = oz / ${CB};
  let cb = oz % ${CB};
  let w = p[2 * n];
  let o = vec2<i32>(p[2 * n + 1].xy);
  let x0 = clamp(ox + o.x, 0, ${W - 1});
  let x1 = clamp(ox + o.x + 1, 0, ${W - 1});
  let y0 = clamp(oy + o.y, 0, ${H - 1});
  let y1 = clamp(oy + o.y + 1, 0, ${H - 1});
  let r0 = (n * ${H} + y0) * ${W};
  let r1 = (n * ${H} + y1) * ${W};
  var v = w.x * x[(r0 + x0) * ${CB} + cb];
  v += w.y * x[(r0 + x1) * ${CB} + cb];
  v += w.z * x[(r1 + x0) * ${CB} + cb];
  v += w.w * x[(r1 + x1) * ${CB} + cb];
  y[((n * ${H} + oy) * ${W} + ox) * ${CB} + cb] = v;
}
`;
  return { code, grid };
}
