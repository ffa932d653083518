// The 'webgpu' backend (browser-safe): a deploy graph (image graph or video step graph) compiled
// to WGSL compute shaders (wgsl.ts) after the same IR passes and fused tails as the wasm runtime.
// Per input size a plan holds the GPU buffers (reused once their last reader has run), the
// pipelines (cached per device by shader source) and the bind groups; a run uploads the inputs,
// encodes every dispatch in one compute pass, and reads the outputs back. The GPU comes from
// navigator.gpu, or from the provider Node sets (webgpu.node.ts: the `webgpu` npm package).
import { Tensor } from '../../tensor/tensor.js';
import { ensureEngine } from '../../tensor/engine.js';
import { type Graph, type GraphNode, type Act, type TranslateNode, type EstimateShiftNode, graphError, graphInputs, graphOutputs, weightOf } from '../../graph/ir.js';
import { estimateShiftTensor } from '../../tensor/ops/align.js';
import { attentionScale } from '../../tensor/ops/attention.js';
import { inferChannels, inferShapes, type NodeShape } from '../../graph/shapes.js';
import { optimizeFloatGraph, fusedTails, neededSteps, tailLabel, type FusedTail } from '../../graph/passes.js';
import { interpolateMatrix, type ResampleMatrix } from '../../tensor/ops/resize.js';
import { matlabResampleMatrix } from '../../tensor/ops/matlabResize.js';
import { registerBackend, type Backend } from '../backend.js';
import { namedInputs, runOneInput } from '../sized.js';
import * as wgsl from './wgsl.js';

// WebGPU's numeric flags (GPUBufferUsage, GPUMapMode), so that no global is needed in Node
const STORAGE = 0x80, COPY_SRC = 0x04, COPY_DST = 0x08, MAP_READ = 0x01, MAP_MODE_READ = 0x1;

type GpuSource = () => Promise<GPU | null>;
let source: GpuSource = async () => (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu ?? null;
let device: Promise<GPUDevice> | null = null;

/** Where the GPU comes from (Node: the `webgpu` package); resets the shared device. */
export function setGpuSource(s: GpuSource): void {
  source = s;
  device = null;
}

/** Drop the shared device (after it failed); the next gpuDevice() call makes a new one. */
export function resetGpuDevice(): void {
  void device?.then((d) => d.destroy(), () => undefined);
  device = null;
}

/** What the adapter says of itself, and whether it is a CPU emulator (SwiftShader, a fallback adapter). */
export interface GpuAdapterSummary {
  vendor: string;
  architecture: string;
  /** e.g. "nvidia-h200" (Dawn). */
  device: string;
  description: string;
  /** Every optional feature the adapter offers (e.g. shader-f16). */
  features: string[];
  /** A CPU emulator: its timings say nothing about a GPU. */
  emulated: boolean;
  /** One line: vendor, architecture, device and description, e.g. "nvidia nvidia-h200 (NVIDIA: 580.159.04 580.159.4.0)". */
  name: string;
}

export function summarizeAdapter(a: GPUAdapter): GpuAdapterSummary {
  const info = (a as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const vendor = info?.vendor ?? '', architecture = info?.architecture ?? '', device = (info as { device?: string } | undefined)?.device ?? '', description = info?.description ?? '';
  const fallback = (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true || (a as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const emulated = fallback || /swiftshader|llvmpipe|lavapipe|warp/i.test(`${vendor} ${architecture} ${device} ${description}`);
  const name = [vendor, architecture, device].filter(Boolean).join(' ') + (description ? ` (${description})` : '') || 'unnamed adapter';
  return { vendor, architecture, device, description, features: [...a.features].map(String).sort(), emulated, name };
}

const adapters = new WeakMap<GPUDevice, GpuAdapterSummary>();

/** The adapter behind a device made by gpuDevice(). */
export function adapterOf(d: GPUDevice): GpuAdapterSummary | undefined {
  return adapters.get(d);
}

/** The shared device (created on first use; a lost device is replaced on the next call). */
export function gpuDevice(): Promise<GPUDevice> {
  device ??= (async () => {
    const gpu = await source();
    if (!gpu) throw new Error('mvsr: webgpu: this runtime has no WebGPU (navigator.gpu is missing; in Node install the `webgpu` package)');
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('mvsr: webgpu: no GPU adapter is available');
    const limits = adapter.limits;
    const d = await adapter.requestDevice({
      requiredLimits: { maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize, maxBufferSize: limits.maxBufferSize },
    });
    adapters.set(d, summarizeAdapter(adapter));
    void d.lost.then((info) => {
      device = null;
      if (info.reason !== 'destroyed') console.warn(`mvsr: webgpu: the device was lost (${info.reason}): ${info.message}`);
    });
    return d;
  })();
  device.catch(() => { device = null; });
  return device;
}

const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

function pipeline(d: GPUDevice, code: string): Promise<GPUComputePipeline> {
  let m = pipelines.get(d);
  if (!m) pipelines.set(d, (m = new Map()));
  let p = m.get(code);
  if (!p) {
    p = d.createComputePipelineAsync({ layout: 'auto', compute: { module: d.createShaderModule({ code }), entryPoint: 'main' } });
    m.set(code, p);
    p.catch(() => m!.delete(code));
  }
  return p;
}

/** Weights packed for the kernels of wgsl.ts. */
function vec4Blocks(values: ArrayLike<number>, C: number): Float32Array {
  const out = new Float32Array(wgsl.blocks(C) * 4);
  for (let c = 0; c < C; c++) out[c] = values[c]!;
  return out;
}

/** OIHW [Cout, Cin, K, K] as mat4x4 per (tap, input block, output block), column j = input channel. */
function packDense(w: Float32Array, Cout: number, Cin: number, K: number): Float32Array {
  const CIB = wgsl.blocks(Cin), COB = wgsl.blocks(Cout);
  const out = new Float32Array(K * K * CIB * COB * 16);
  for (let co = 0; co < Cout; co++) {
    for (let ci = 0; ci < Cin; ci++) {
      for (let t = 0; t < K * K; t++) {
        out[((t * CIB + (ci >> 2)) * COB + (co >> 2)) * 16 + (ci & 3) * 4 + (co & 3)] = w[(co * Cin + ci) * K * K + t]!;
      }
    }
  }
  return out;
}

function packDepthwise(w: Float32Array, C: number, K: number): Float32Array {
  const CB = wgsl.blocks(C);
  const out = new Float32Array(K * K * CB * 4);
  for (let c = 0; c < C; c++) for (let t = 0; t < K * K; t++) out[(t * CB + (c >> 2)) * 4 + (c & 3)] = w[c * K * K + t]!;
  return out;
}

/**
 * The taps of a bilinear translation by (dx, dy) on an H x W tensor, formed as the wasm kernel
 * (kernels/align.ts, align_translate) forms them: weights in f64 rounded to f32, integer offsets
 * clamped to [-n - 1, n]. Returns [w00, w01, w10, w11, fx, fy, 0, 0].
 */
export function translateTaps(dx: number, dy: number, H: number, W: number): Float32Array {
  const flx = Math.floor(-dx), fly = Math.floor(-dy);
  const wx1 = -dx - flx, wy1 = -dy - fly, wx0 = 1 - wx1, wy0 = 1 - wy1;
  const off = (fl: number, n: number): number => (Number.isNaN(fl) ? 0 : Math.max(-n - 1, Math.min(n, fl)));
  return Float32Array.of(wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1, off(flx, W), off(fly, H), 0, 0);
}

/** Buffers a plan owns (freed with it): translate taps and size-dependent constants. */
interface PlanBuffers {
  taps(n: TranslateNode, H: number, W: number): GPUBuffer;
  constant(data: Float32Array | Int32Array): GPUBuffer;
}

interface Dispatch {
  node: GraphNode;
  code: string;
  grid: wgsl.Grid;
  /** Bindings in order: value ids (activations) or constant buffers. */
  binds: (string | GPUBuffer)[];
}

/** A dispatch ready to encode. */
interface Pass { pipeline: GPUComputePipeline; group: GPUBindGroup; grid: wgsl.Grid }

interface Plan {
  N: number;
  H: number;
  W: number;
  inputs: Map<string, GPUBuffer>;
  /**
   * Per input: where a run writes the tight NHWC floats, and the pass that pads them into the
   * input's buffer (null when C is a multiple of 4: the layouts are the same).
   */
  uploads: Map<string, { tight: GPUBuffer; pad: Pass | null }>;
  /** Per output: the padded buffer, the tight one it is unpadded into (with its pass) and the staging buffer it is read from. */
  outputs: { id: string; buffer: GPUBuffer; tight: GPUBuffer; unpad: Pass | null; staging: GPUBuffer; shape: NodeShape }[];
  passes: Pass[];
  buffers: GPUBuffer[];
  /** Each translate's tap buffer, written at every run from the shifts estimated on the CPU. */
  translates: { node: TranslateNode; H: number; W: number; buffer: GPUBuffer }[];
  /** A video step graph's state: each output's buffer copied into its input's after a resident step. */
  state: { input: string; output: string }[];
  /** The state inputs must be zeroed before the next resident step (a new clip). */
  clearState: boolean;
  /** Runs on this plan, one after another (the staging buffers are shared). */
  queue: Promise<unknown>;
}

const bytesOf = (N: number, s: NodeShape): number => Math.max(16, N * s[0] * s[1] * wgsl.blocks(s[2]) * 16);
/** Bytes of the tight NHWC floats of a value (rounded up to 16). */
const tightBytesOf = (N: number, s: NodeShape): number => Math.max(16, Math.ceil((N * s[0] * s[1] * s[2] * 4) / 16) * 16);

/** Compile `g` for WebGPU on `d`: the IR passes and fused tails now, a plan per input size on first use. */
export interface WebGpuProgram {
  /** The graph after the IR passes. */
  graph: Graph;
  /** One label per step (fused tails as one). */
  plan: string[];
  /** Every input given; every output read back. */
  runNamed(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** A video step with the state kept on the GPU: frames in, HR frames out (state outputs stay). */
  runResident(frames: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** Zero the resident state before the next runResident (a new clip). */
  resetState(): void;
  /** The buffers and dispatches at one size, for callers that feed and read the GPU themselves (frames.ts). */
  buffersAt(N: number, H: number, W: number): Promise<GpuBuffers>;
  dispose(): void;
}

/** A plan's GPU side: input and output buffers (NHWC, channels padded to 4) and its dispatches. */
export interface GpuBuffers {
  inputs: Map<string, GPUBuffer>;
  outputs: Map<string, { buffer: GPUBuffer; shape: NodeShape }>;
  /** Record every dispatch of the graph into a compute pass. */
  encode(pass: GPUComputePassEncoder): void;
}

/** Record a plan's dispatches into a compute pass. */
function encodePasses(pass: GPUComputePassEncoder, passes: Plan['passes']): void {
  for (const p of passes) {
    pass.setPipeline(p.pipeline);
    pass.setBindGroup(0, p.group);
    pass.dispatchWorkgroups(Math.ceil(p.grid.W / wgsl.WG), Math.ceil(p.grid.H / wgsl.WG), p.grid.Z);
  }
}

export async function compileWebGpu(g: Graph, d: GPUDevice): Promise<WebGpuProgram> {
  const original = g;
  const fg = optimizeFloatGraph(g);
  const channels = inferChannels(fg);
  const tails = fusedTails(fg, channels);
  const byId = new Map(fg.nodes.map((n) => [n.id, n]));
  const absorbed = new Set<string>();
  for (const t of tails.values()) for (const a of t.absorbed) absorbed.add(a);
  // global alignment: the shift is estimated on the CPU from the LR frames the run is given (a few
  // reductions over small frames), the translations run on the GPU with taps formed on the CPU
  const inputIds = new Set(graphInputs(fg).map((n) => n.id));
  for (const n of fg.nodes) {
    if (n.op === 'estimateShift' && !n.inputs.every((i) => inputIds.has(i))) {
      throw graphError(original, n, 'the webgpu backend estimates shifts between graph inputs only (here a computed value); run this graph on the wasm backend');
    }
    if (n.op === 'translate' && byId.get(n.inputs[1]!)?.op !== 'estimateShift') throw graphError(original, n, 'the webgpu backend translates by an estimateShift of the inputs only');
  }
  // the steps that produce what the outputs need (a fused tail reads its residual's source directly)
  type Step = { id: string; node: GraphNode; inputs: string[]; tail?: FusedTail; label: string };
  const all: Step[] = [];
  for (const n of fg.nodes) {
    if (n.op === 'input' || n.op === 'output' || absorbed.has(n.id)) continue;
    const t = tails.get(n.id);
    if (t) all.push({ id: n.id, node: n, tail: t, inputs: t.residual ? [t.conv.inputs[0]!, t.residual.src] : [t.conv.inputs[0]!], label: tailLabel(t) });
    else all.push({ id: n.id, node: n, inputs: n.inputs, label: `${n.op}(${n.id})${n.op === 'conv' && n.act ? `+${n.act.kind}` : ''}` });
  }
  const outs = graphOutputs(fg), ins = graphInputs(fg);
  const steps = neededSteps(fg, all);

  const constants: GPUBuffer[] = [];
  const upload = (data: Float32Array | Int32Array): GPUBuffer => {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const b = d.createBuffer({ size, usage: STORAGE | COPY_DST, mappedAtCreation: true });
    new (data instanceof Int32Array ? Int32Array : Float32Array)(b.getMappedRange()).set(data);
    b.unmap();
    constants.push(b);
    return b;
  };
  const weightCache = new Map<string, GPUBuffer>();
  const weightBuffer = (key: string, make: () => Float32Array): GPUBuffer => {
    let b = weightCache.get(key);
    if (!b) weightCache.set(key, (b = upload(make())));
    return b;
  };
  const biasOf = (n: GraphNode, bias: string | null, C: number): GPUBuffer =>
    weightBuffer(`bias:${bias}:${C}`, () => vec4Blocks(bias === null ? new Float32Array(C) : weightOf(fg, n, bias).data, C));
  const alphaOf = (n: GraphNode, a: Act | undefined, C: number): GPUBuffer[] => {
    if (a?.kind !== 'prelu') return [];
    const w = weightOf(fg, n, a.alpha).data;
    return [weightBuffer(`alpha:${a.alpha}:${C}`, () => vec4Blocks(w.length === 1 ? new Float32Array(C).fill(w[0]!) : w, C))];
  };

  /**
   * The dispatches of one step at this size. `plan` gives buffers that live with the plan: a
   * translate node's per-item tap buffer and constant data of this size (resize matrices).
   */
  const dispatches = (s: Step, N: number, shapes: Map<string, NodeShape>, plan: PlanBuffers): Dispatch[] => {
    const n = s.node, out = shapes.get(s.id)!, inp = shapes.get(s.inputs[0]!)!;
    const [H, W] = inp;
    if (s.tail) {
      const { conv: c, residual, act } = s.tail;
      const Cout = channels.get(c.id)!, Cin = channels.get(c.inputs[0]!)!;
      const co = shapes.get(c.id)!; // the conv before the pixel shuffle (inferShapes covers every node)
      const spec = wgsl.convDense({
        N, H, W, Ho: co[0], Wo: co[1], Cin, Cout, K: c.kernel, padding: c.padding, dilation: c.dilation ?? 1, groups: 1, act, coPerThread: 1,
        tail: { scale: s.tail.depthToSpace.scale, order: s.tail.depthToSpace.order, residualMap: residual?.map ?? null, residualChannels: residual ? channels.get(residual.src)! : 0 },
      });
      const w = weightBuffer(`dense:${c.weight}`, () => packDense(weightOf(fg, c, c.weight).data, Cout, Cin, c.kernel));
      return [{ node: n, ...spec, binds: [s.inputs[0]!, w, biasOf(c, c.bias, Cout), s.id, ...alphaOf(c, act, Cout), ...(residual ? [residual.src] : [])] }];
    }
    switch (n.op) {
      case 'conv': {
        const Cout = out[2], Cin = inp[2];
        const base = { N, H, W, Ho: out[0], Wo: out[1], Cin, Cout, K: n.kernel, padding: n.padding, dilation: n.dilation ?? 1, stride: n.stride ?? 1, groups: n.groups, act: n.act, coPerThread: wgsl.convTiling.co };
        const wd = weightOf(fg, n, n.weight).data;
        let spec: { code: string; grid: wgsl.Grid }, w: GPUBuffer;
        if (n.groups === 1) {
          spec = wgsl.convDense(base);
          w = weightBuffer(`dense:${n.weight}`, () => packDense(wd, Cout, Cin, n.kernel));
        } else if (n.groups === Cin && Cout === Cin) {
          spec = wgsl.convDepthwise(base);
          w = weightBuffer(`dw:${n.weight}`, () => packDepthwise(wd, Cout, n.kernel));
        } else {
          spec = wgsl.convGrouped(base);
          w = weightBuffer(`raw:${n.weight}`, () => wd);
        }
        return [{ node: n, ...spec, binds: [s.inputs[0]!, w, biasOf(n, n.bias, Cout), s.id, ...alphaOf(n, n.act, Cout)] }];
      }
      case 'convTranspose': {
        const spec = wgsl.convTranspose({ N, H, W, Ho: out[0], Wo: out[1], Cin: inp[2], Cout: out[2], K: n.kernel, stride: n.stride, padding: n.padding });
        return [{ node: n, ...spec, binds: [s.inputs[0]!, weightBuffer(`raw:${n.weight}`, () => weightOf(fg, n, n.weight).data), biasOf(n, n.bias, out[2]), s.id] }];
      }
      case 'act': return [{ node: n, ...wgsl.pointwise('act', N, H, W, out[2], n.act), binds: [s.inputs[0]!, s.id, ...alphaOf(n, n.act, out[2])] }];
      case 'add': case 'mul': return [{ node: n, ...wgsl.pointwise(n.op, N, H, W, out[2]), binds: [n.inputs[0]!, n.inputs[1]!, s.id] }];
      case 'slice': return [{ node: n, ...wgsl.copyChannels(N, H, W, inp[2], n.start, n.end - n.start, out[2], 0), binds: [s.inputs[0]!, s.id] }];
      case 'concat': {
        let to = 0;
        return n.inputs.map((id) => {
          const C = shapes.get(id)![2];
          const dsp = { node: n, ...wgsl.copyChannels(N, H, W, C, 0, C, out[2], to), binds: [id, s.id] };
          to += C;
          return dsp;
        });
      }
      case 'depthToSpace': case 'spaceToDepth':
        return [{ node: n, ...wgsl.pixelShuffle(n.op, N, out[0], out[1], out[2], inp[2], n.scale, n.order), binds: [s.inputs[0]!, s.id] }];
      case 'resize': case 'resizeLike': {
        const mat = (i: number, o: number): ResampleMatrix => (n.op === 'resize' && n.mode === 'matlabBicubic' ? matlabResampleMatrix(i, o, n.scale) : interpolateMatrix(i, o, n.mode as 'nearest' | 'bilinear' | 'bicubic'));
        const csr = (m: ResampleMatrix): GPUBuffer[] => [plan.constant(m.rowPtr), plan.constant(m.col), plan.constant(Float32Array.from(m.weight))];
        const mid = `${s.id}#rows`;
        shapes.set(mid, [out[0], W, out[2]]);
        return [
          { node: n, ...wgsl.resamplePass('H', N, H, W, out[0], W, out[2]), binds: [s.inputs[0]!, ...csr(mat(H, out[0])), mid] },
          { node: n, ...wgsl.resamplePass('W', N, out[0], W, out[0], out[1], out[2]), binds: [mid, ...csr(mat(W, out[1])), s.id] },
        ];
      }
      case 'maxPool': return [{ node: n, ...wgsl.maxPool(N, H, W, out[0], out[1], out[2], n.kernel, n.stride), binds: [s.inputs[0]!, s.id] }];
      case 'globalPool': return [{ node: n, ...wgsl.globalPool(n.stat, N, H, W, inp[2]), binds: [s.inputs[0]!, s.id] }];
      case 'scaleChannels': return [{ node: n, ...wgsl.scaleChannels(N, H, W, out[2]), binds: [s.inputs[0]!, s.inputs[1]!, s.id] }];
      case 'layerNorm': {
        const C = out[2], vec = (name: string): GPUBuffer => weightBuffer(`vec:${name}:${C}`, () => vec4Blocks(weightOf(fg, n, name).data, C));
        return [{ node: n, ...wgsl.layerNorm(N, H, W, C, n.eps), binds: [s.inputs[0]!, vec(n.weight), vec(n.bias), s.id] }];
      }
      case 'windowAttention': return [{ node: n, ...wgsl.windowAttention(N, H, W, out[2], n.heads, n.window, attentionScale(out[2], n.heads)), binds: [s.inputs[0]!, s.id] }];
      case 'estimateShift': return []; // computed on the CPU at each run (taps)
      case 'translate': return [{ node: n, ...wgsl.translate(N, H, W, out[2]), binds: [s.inputs[0]!, plan.taps(n, H, W), s.id] }];
      default: throw graphError(original, n, `the webgpu backend has no ${n.op} kernel`);
    }
  };

  const plans = new Map<string, Promise<Plan>>();
  const MAX_PLANS = 4;

  const makePlan = async (N: number, H: number, W: number, shapes: Map<string, NodeShape>): Promise<Plan> => {
    const buffers: GPUBuffer[] = [];
    const free = new Map<number, GPUBuffer[]>();
    const newBuffer = (size: number, usage: number): GPUBuffer => {
      const b = d.createBuffer({ size, usage });
      buffers.push(b);
      return b;
    };
    const take = (size: number): GPUBuffer => free.get(size)?.pop() ?? newBuffer(size, STORAGE | COPY_SRC | COPY_DST);
    const values = new Map<string, GPUBuffer>();
    const inputs = new Map<string, GPUBuffer>();
    for (const i of ins) {
      const b = newBuffer(bytesOf(N, shapes.get(i.id)!), STORAGE | COPY_DST | COPY_SRC);
      inputs.set(i.id, b);
      values.set(i.id, b);
    }
    // readers left per value; the outputs' sources are never released
    const left = new Map<string, number>();
    const translates: Plan['translates'] = [];
    const taps = (n: TranslateNode, th: number, tw: number): GPUBuffer => {
      const buffer = newBuffer(N * 32, STORAGE | COPY_DST);
      translates.push({ node: n, H: th, W: tw, buffer });
      return buffer;
    };
    const constant = (data: Float32Array | Int32Array): GPUBuffer => {
      const b = newBuffer(Math.max(16, Math.ceil(data.byteLength / 16) * 16), STORAGE | COPY_DST);
      d.queue.writeBuffer(b, 0, data);
      return b;
    };
    /** A pass over given buffers (the shader compiled, the bind group validated). */
    const passOf = async (node: GraphNode | null, code: string, grid: wgsl.Grid, bufs: GPUBuffer[]): Promise<Pass> => {
      let p: GPUComputePipeline;
      try {
        p = await pipeline(d, code);
      } catch (e) {
        throw graphError(original, node, `webgpu: the shader did not compile: ${(e as Error).message}`);
      }
      d.pushErrorScope('validation');
      const group = d.createBindGroup({ layout: p.getBindGroupLayout(0), entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) });
      const err = await d.popErrorScope();
      if (err) throw graphError(original, node, `webgpu: ${err.message}`);
      return { pipeline: p, group, grid };
    };
    const uploads: Plan['uploads'] = new Map();
    for (const i of ins) {
      const sh = shapes.get(i.id)!;
      if (sh[2] % 4 === 0) uploads.set(i.id, { tight: inputs.get(i.id)!, pad: null });
      else {
        const tight = newBuffer(tightBytesOf(N, sh), STORAGE | COPY_DST);
        const r = wgsl.repack('pad', N, sh[0], sh[1], sh[2]);
        uploads.set(i.id, { tight, pad: await passOf(i, r.code, r.grid, [tight, inputs.get(i.id)!]) });
      }
    }
    const all: Dispatch[][] = steps.map((s) => dispatches(s, N, shapes, { taps, constant }));
    all.forEach((ds) => ds.forEach((dsp) => dsp.binds.forEach((v) => { if (typeof v === 'string') left.set(v, (left.get(v) ?? 0) + 1); })));
    for (const o of outs) left.set(o.inputs[0]!, Infinity);
    const passes: Plan['passes'] = [];
    for (const ds of all) {
      for (const dsp of ds) {
        const bufs = dsp.binds.map((v) => {
          if (typeof v !== 'string') return v;
          let b = values.get(v);
          if (!b) values.set(v, (b = take(bytesOf(N, shapes.get(v)!))));
          return b;
        });
        passes.push(await passOf(dsp.node, dsp.code, dsp.grid, bufs));
        for (const v of dsp.binds) {
          if (typeof v !== 'string') continue;
          const k = left.get(v)! - 1;
          left.set(v, k);
          if (k === 0 && !inputs.has(v)) {
            const b = values.get(v)!;
            let l = free.get(b.size);
            if (!l) free.set(b.size, (l = []));
            l.push(b);
          }
        }
      }
    }
    const outputs: Plan['outputs'] = [];
    for (const o of outs) {
      const src = o.inputs[0]!, shape = shapes.get(src)!, buffer = values.get(src)!;
      const staging = newBuffer(tightBytesOf(N, shape), MAP_READ | COPY_DST);
      if (shape[2] % 4 === 0) outputs.push({ id: o.id, buffer, tight: buffer, unpad: null, staging, shape });
      else {
        const tight = newBuffer(tightBytesOf(N, shape), STORAGE | COPY_SRC);
        const r = wgsl.repack('unpad', N, shape[0], shape[1], shape[2]);
        outputs.push({ id: o.id, buffer, tight, unpad: await passOf(o, r.code, r.grid, [buffer, tight]), staging, shape });
      }
    }
    return { N, H, W, inputs, uploads, outputs, passes, buffers, translates, state: fg.meta.video?.state ?? [], clearState: true, queue: Promise.resolve() };
  };

  const planFor = (N: number, H: number, W: number): Promise<Plan> => {
    const key = `${N}x${H}x${W}`;
    let p = plans.get(key);
    if (p) {
      plans.delete(key);
      plans.set(key, p);
      return p;
    }
    p = makePlan(N, H, W, new Map(inferShapes(fg, H, W)));
    plans.set(key, p);
    p.catch(() => plans.delete(key));
    while (plans.size > MAX_PLANS) {
      const [oldest, q] = plans.entries().next().value as [string, Promise<Plan>];
      plans.delete(oldest);
      void q.then((old) => old.queue.then(() => old.buffers.forEach((b) => b.destroy())), () => undefined);
    }
    return p;
  };

  /** Estimate every shift from the given frames (the wasm engine's estimateShift) and write each translate's taps. */
  const writeTaps = (plan: Plan, given: Record<string, Tensor>): void => {
    const shifts = new Map<string, Float32Array>();
    for (const t of plan.translates) {
      const e = byId.get(t.node.inputs[1]!) as EstimateShiftNode;
      let sh = shifts.get(e.id);
      if (!sh) {
        const st = estimateShiftTensor(given[e.inputs[0]!]!, given[e.inputs[1]!]!, e.radius);
        sh = st.toArray();
        st.dispose();
        shifts.set(e.id, sh);
      }
      const p = new Float32Array(plan.N * 8);
      for (let n = 0; n < plan.N; n++) {
        const tp = translateTaps(sh[2 * n]! * t.node.factor, sh[2 * n + 1]! * t.node.factor, t.H, t.W);
        p.set(tp, n * 8);
      }
      d.queue.writeBuffer(t.buffer, 0, p);
    }
  };

  /**
   * One run. `resident`: the state inputs are not taken from `given` but kept on the GPU (zeros
   * after a reset), and the state outputs are copied into them instead of being read back.
   */
  const runOn = async (plan: Plan, given: Record<string, Tensor>, resident: boolean): Promise<Record<string, Tensor>> => {
    const stateIn = new Set(resident ? plan.state.map((s) => s.input) : []), stateOut = new Set(resident ? plan.state.map((s) => s.output) : []);
    const pads: Pass[] = [];
    for (const id of plan.inputs.keys()) {
      if (stateIn.has(id)) continue;
      const up = plan.uploads.get(id)!;
      // a copy: the tensor's data may be a view of the engine's shared memory, which Dawn refuses to read
      d.queue.writeBuffer(up.tight, 0, given[id]!.data.slice());
      if (up.pad) pads.push(up.pad);
    }
    if (plan.translates.length) writeTaps(plan, given);
    const enc = d.createCommandEncoder();
    if (resident && plan.clearState) for (const id of stateIn) enc.clearBuffer(plan.inputs.get(id)!);
    const read = plan.outputs.filter((o) => !stateOut.has(o.id));
    const pass = enc.beginComputePass();
    encodePasses(pass, [...pads, ...plan.passes, ...read.flatMap((o) => (o.unpad ? [o.unpad] : []))]);
    pass.end();
    for (const o of read) enc.copyBufferToBuffer(o.tight, 0, o.staging, 0, o.staging.size);
    for (const st of resident ? plan.state : []) {
      const src = plan.outputs.find((o) => o.id === st.output)!.buffer, dst = plan.inputs.get(st.input)!;
      enc.copyBufferToBuffer(src, 0, dst, 0, dst.size);
    }
    d.pushErrorScope('validation');
    d.queue.submit([enc.finish()]);
    const err = await d.popErrorScope();
    if (err) throw graphError(original, null, `webgpu: ${err.message}`);
    if (resident) plan.clearState = false;
    await Promise.all(read.map((o) => o.staging.mapAsync(MAP_MODE_READ)));
    const result: Record<string, Tensor> = {};
    for (const o of read) {
      const [Ho, Wo, C] = o.shape;
      const y = Tensor.empty([plan.N, Ho, Wo, C]);
      y.data.set(new Float32Array(o.staging.getMappedRange(), 0, y.data.length));
      o.staging.unmap();
      result[o.id] = y;
    }
    return result;
  };

  let disposed = false;
  const run = async (inputs: Record<string, Tensor>, resident: boolean): Promise<Record<string, Tensor>> => {
    if (disposed) throw new Error('mvsr: webgpu backend used after dispose()');
    let N: number, H: number, W: number;
    if (resident) {
      // the state inputs are on the GPU: size the run from the frames
      const f = graphInputs(original).find((n) => !(original.meta.video?.state ?? []).some((st) => st.input === n.id))!;
      const x = inputs[f.id];
      if (!x || x.shape.length !== 4) throw graphError(original, f, 'no frame tensor given for this input');
      [N, H, W] = x.shape as [number, number, number];
    } else ({ N, H, W } = namedInputs(original, inputs));
    const plan = await planFor(N, H, W);
    const r = plan.queue.then(() => runOn(plan, inputs, resident));
    plan.queue = r.catch(() => undefined);
    return r;
  };
  return {
    graph: fg,
    plan: steps.map((s) => s.label),
    runNamed: (inputs) => run(inputs, false),
    runResident: (frames) => run(frames, true),
    async buffersAt(N, H, W) {
      if (disposed) throw new Error('mvsr: webgpu backend used after dispose()');
      const plan = await planFor(N, H, W);
      return {
        inputs: plan.inputs,
        outputs: new Map(plan.outputs.map((o) => [o.id, { buffer: o.buffer, shape: o.shape }])),
        encode: (pass) => encodePasses(pass, plan.passes),
      };
    },
    resetState() {
      for (const p of plans.values()) void p.then((pl) => { pl.clearState = true; }, () => undefined);
    },
    dispose() {
      disposed = true;
      const ps = [...plans.values()];
      plans.clear();
      for (const p of ps) void p.then((pl) => pl.queue.then(() => pl.buffers.forEach((b) => b.destroy())), () => undefined);
      for (const b of constants) b.destroy();
    },
  };
}

registerBackend('webgpu', async (g) => {
  await ensureEngine(); // tensors in and out live in the engine's memory
  const d = await gpuDevice();
  const c = await compileWebGpu(g, d);
  const b: Backend = {
    name: 'webgpu', threads: 1, graph: g, calibration: null,
    run: (x) => runOneInput(g, x, c.runNamed),
    runNamed: c.runNamed,
    ...(g.meta.video?.state.length ? { runResident: c.runResident, resetState: () => c.resetState() } : {}),
    dispose: async () => c.dispose(),
  };
  return b;
}, { auto: false });
