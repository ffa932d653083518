// Frames from the page straight through a graph on the GPU (browser): an ImageBitmap, <video>,
// VideoFrame or canvas is copied into a texture, unpacked into the graph's input buffer by a
// compute pass, run, and the output drawn into a WebGPU canvas by a fullscreen triangle. No
// pixel crosses to the CPU. For an image graph (one 3-channel input, one 3-channel output).
import { type Graph, graphInputs, graphOutputs, graphError } from '../../graph/ir.js';
import { compileWebGpu, gpuDevice, type WebGpuProgram } from './backend.js';
import { blocks } from './wgsl.js';

const TEXTURE_BINDING = 0x04, COPY_DST_TEX = 0x02, COPY_SRC_TEX = 0x01, RENDER_ATTACHMENT = 0x10, MAP_READ = 0x01, COPY_DST = 0x08;

const UNPACK = (W: number, H: number, CB: number) => `
@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> x: array<vec4<f32>>;
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= ${W}u || gid.y >= ${H}u) { return; }
  let c = textureLoad(src, vec2<i32>(i32(gid.x), i32(gid.y)), 0);
  x[(gid.y * ${W}u + gid.x) * ${CB}u] = vec4<f32>(c.rgb, 0.0);
}`;

const DRAW = (W: number, CB: number) => `
@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
  let p = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
  return vec4<f32>(p * 2.0 - 1.0, 0.0, 1.0);
}
@fragment
fn fs(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
  let v = y[(u32(pos.y) * ${W}u + u32(pos.x)) * ${CB}u];
  return vec4<f32>(clamp(v.rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}`;

export interface FrameRenderer {
  readonly program: WebGpuProgram;
  /**
   * False once the browser refused to copy a frame straight into a texture (headless Chromium on
   * SwiftShader does): frames then go through a 2D canvas's pixels and writeTexture.
   */
  readonly zeroCopy: boolean;
  /**
   * Upscale one frame of W x H pixels into the canvas (resized to the output size); resolves when
   * the GPU has finished it. With `readback`, also returns the RGBA bytes drawn into the canvas's
   * texture (what the page displays; for checks).
   */
  render(source: GPUCopyExternalImageSource, W: number, H: number, o?: { readback?: boolean }): Promise<Uint8Array | null>;
  dispose(): void;
}

/**
 * A renderer of `g` into `canvas` (its 'webgpu' context, configured here), or with 'texture' into
 * a texture of its own (what tests read back: headless Chromium on SwiftShader loses the device
 * once a canvas texture is presented).
 */
export async function createFrameRenderer(g: Graph, canvas: HTMLCanvasElement | OffscreenCanvas | 'texture'): Promise<FrameRenderer> {
  const ins = graphInputs(g), outs = graphOutputs(g);
  if (ins.length !== 1 || ins[0]!.channels !== 3 || outs.length !== 1) throw graphError(g, null, 'a frame renderer needs an image graph with one RGB input and one output');
  const d = await gpuDevice();
  const program = await compileWebGpu(g, d);
  const ctx = canvas === 'texture' ? null : (canvas.getContext('webgpu') as GPUCanvasContext | null);
  if (canvas !== 'texture' && !ctx) throw new Error('mvsr: webgpu: the canvas has no WebGPU context');
  const format: GPUTextureFormat = ctx ? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu?.getPreferredCanvasFormat() ?? 'rgba8unorm' : 'rgba8unorm';
  ctx?.configure({ device: d, format, alphaMode: 'opaque', usage: RENDER_ATTACHMENT | COPY_SRC_TEX });
  let own: GPUTexture | null = null;
  let size = '';
  let tex: GPUTexture | null = null;
  let unpack: { pipeline: GPUComputePipeline; group: GPUBindGroup } | null = null;
  let draw: { pipeline: GPURenderPipeline; group: GPUBindGroup } | null = null;
  let encodeGraph: ((pass: GPUComputePassEncoder) => void) | null = null;
  let outBuffer: GPUBuffer | null = null;
  const fence = d.createBuffer({ size: 16, usage: MAP_READ | COPY_DST });
  const setup = async (W: number, H: number): Promise<void> => {
    const bufs = await program.buffersAt(1, H, W);
    const input = bufs.inputs.get(ins[0]!.id)!, output = bufs.outputs.get(outs[0]!.id)!;
    const [Ho, Wo, Co] = output.shape;
    if (Co !== 3) throw graphError(g, null, `a frame renderer needs 3 output channels, the graph has ${Co}`);
    tex?.destroy();
    tex = d.createTexture({ size: [W, H], format: 'rgba8unorm', usage: TEXTURE_BINDING | COPY_DST_TEX | RENDER_ATTACHMENT });
    const up = await d.createComputePipelineAsync({ layout: 'auto', compute: { module: d.createShaderModule({ code: UNPACK(W, H, blocks(3)) }), entryPoint: 'main' } });
    unpack = { pipeline: up, group: d.createBindGroup({ layout: up.getBindGroupLayout(0), entries: [{ binding: 0, resource: tex.createView() }, { binding: 1, resource: { buffer: input } }] }) };
    const mod = d.createShaderModule({ code: DRAW(Wo, blocks(Co)) });
    const rp = await d.createRenderPipelineAsync({ layout: 'auto', vertex: { module: mod, entryPoint: 'vs' }, fragment: { module: mod, entryPoint: 'fs', targets: [{ format }] }, primitive: { topology: 'triangle-list' } });
    draw = { pipeline: rp, group: d.createBindGroup({ layout: rp.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: output.buffer } }] }) };
    encodeGraph = bufs.encode;
    outBuffer = output.buffer;
    if (canvas === 'texture') {
      own?.destroy();
      own = d.createTexture({ size: [Wo, Ho], format, usage: RENDER_ATTACHMENT | COPY_SRC_TEX });
    } else {
      canvas.width = Wo;
      canvas.height = Ho;
    }
    size = `${W}x${H}`;
  };
  let zeroCopy = true;
  let scratch: OffscreenCanvasRenderingContext2D | null = null;
  const upload = (source: GPUCopyExternalImageSource, W: number, H: number): void => {
    if (zeroCopy) {
      try {
        d.queue.copyExternalImageToTexture({ source }, { texture: tex! }, [W, H]);
        return;
      } catch {
        zeroCopy = false;
      }
    }
    if (!scratch || scratch.canvas.width !== W || scratch.canvas.height !== H) scratch = new OffscreenCanvas(W, H).getContext('2d', { willReadFrequently: true })!;
    scratch.drawImage(source as CanvasImageSource, 0, 0, W, H);
    d.queue.writeTexture({ texture: tex! }, scratch.getImageData(0, 0, W, H).data, { bytesPerRow: W * 4 }, [W, H]);
  };
  return {
    program,
    get zeroCopy() {
      return zeroCopy;
    },
    async render(source, W, H, o = {}) {
      if (`${W}x${H}` !== size) await setup(W, H);
      upload(source, W, H);
      const enc = d.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(unpack!.pipeline);
      pass.setBindGroup(0, unpack!.group);
      pass.dispatchWorkgroups(Math.ceil(W / 8), Math.ceil(H / 8), 1);
      encodeGraph!(pass);
      pass.end();
      const target = ctx ? ctx.getCurrentTexture() : own!;
      const rpass = enc.beginRenderPass({ colorAttachments: [{ view: target.createView(), loadOp: 'clear', storeOp: 'store', clearValue: { r: 0, g: 0, b: 0, a: 1 } }] });
      rpass.setPipeline(draw!.pipeline);
      rpass.setBindGroup(0, draw!.group);
      rpass.draw(3);
      rpass.end();
      let staging: GPUBuffer | null = null;
      const Wo = target.width, Ho = target.height, row = Math.ceil((Wo * 4) / 256) * 256;
      if (o.readback) {
        staging = d.createBuffer({ size: row * Ho, usage: MAP_READ | COPY_DST });
        enc.copyTextureToBuffer({ texture: target }, { buffer: staging, bytesPerRow: row }, [Wo, Ho]);
      }
      // a 16-byte read of the output as the fence: it resolves once this frame's work is done
      // (onSubmittedWorkDone rejects in headless Chromium once a canvas texture is involved)
      enc.copyBufferToBuffer(outBuffer!, 0, fence, 0, 16);
      d.queue.submit([enc.finish()]);
      await fence.mapAsync(0x1);
      fence.unmap();
      if (!staging) return null;
      await staging.mapAsync(0x1);
      const raw = new Uint8Array(staging.getMappedRange()), px = new Uint8Array(Wo * Ho * 4);
      const bgra = target.format.startsWith('bgra');
      for (let y = 0; y < Ho; y++) {
        for (let x = 0; x < Wo; x++) {
          const s = y * row + x * 4, t = (y * Wo + x) * 4;
          px[t] = raw[s + (bgra ? 2 : 0)]!;
          px[t + 1] = raw[s + 1]!;
          px[t + 2] = raw[s + (bgra ? 0 : 2)]!;
          px[t + 3] = raw[s + 3]!;
        }
      }
      staging.destroy();
      return px;
    },
    dispose() {
      tex?.destroy();
      fence.destroy();
      own?.destroy();
      program.dispose();
      ctx?.unconfigure();
    },
  };
}
