// mvsr public entry point, browser-safe (no node: imports). Node users get src/index.node.ts,
// which adds file-based helpers, through the package's "node" export condition.
export { initEngine, ensureEngine, engine, disposeEngine, Engine, type EngineOptions, type SimdLevel } from './tensor/engine.js';
export { Tensor, type Shape, liveTensorCount } from './tensor/tensor.js';
export { Rng } from './tensor/random.js';
export * as ops from './tensor/ops/index.js';
export * as autograd from './autograd/index.js';
export * as nn from './nn/index.js';
export { Adam, type AdamOptions } from './train/optim.js';
export {
  createModel, createVideoModel, createAnyModel, createModelFromConfig, listArchs, getArch, registerArch, toGraph, stepGraph, deployModel, graphFromStateDict,
  type SRModel, type ArchSpec, type ArchArgs, type ImageArchSpec, type VideoArchSpec,
} from './models/registry.js';
export { createBackend, registerBackend, listBackends, type Backend, type BackendCalibration, type CreateBackendOptions } from './runtime/backend.js';
export { compileGraph, runGraph, type CompiledGraph } from './runtime/wasm.js';
export { compileWebGpu, gpuDevice, setGpuSource } from './runtime/webgpu/backend.js';
export { VideoStream, type StepGraphSource } from './runtime/video.js';
export { forwardClip, windowFrames, windowIndices, isVideoModel, type VideoSRModel, type VideoState } from './models/vsr.js';
export { VideoUpscaler, type VideoCallOptions } from './api/video.js';
export { evaluateVideo, type VideoEvalOptions, type VideoEvalResult, type ClipRow, type FrameRow, type ClipInput } from './eval/video.js';
export { renderSampleFrame, sampleClip, type SampleClipOptions } from './data/synthetic.js';
export { Upscaler, type UpscalerOptions, type UpscaleCallOptions, type OutputBand } from './api/upscaler.js';
export { upscaleBands, upscaleFloat, type FloatImage, type TileOptions } from './runtime/tiling.js';
export { evaluate, evalImage, evalPair, makePair, type EvalOptions, type EvalResult, type EvalRow } from './eval/image.js';
export * from './io/image.js';
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export { readPth } from './io/pth.js';
export { encodeModelMetadata, decodeModelMetadata, type ModelMetadata, type WeightTensor } from './io/weights.js';
export { imresizeUint8, matlabImresize } from './data/imresize.js';
export * as metrics from './metrics/index.js';
export * as graph from './graph/index.js';
export { exportOnnx } from './export/onnx.js';
export { readY4MStream, rgbToYuv, yuvToRgb, parseY4MHeader, type VideoInfo } from './io/y4m.js';
