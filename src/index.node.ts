// mvsr for Node: everything in the browser-safe entry plus files, ffmpeg-free image codecs with
// node:zlib, and createUpscaler accepting paths and zoo names.
export * from './index.js';
export { createUpscaler, type CreateUpscalerOptions } from './api/create.node.js';
export { resolveModel, loadModelFile, type ModelRequest } from './api/models.node.js';
export { readImage, writeImage, writePngStream, decodeImage, encodePng } from './io/image.node.js';
export { loadWeightsFile, saveSafetensorsFile } from './io/weights.node.js';
export { openVideo, createVideoWriter, videoKindForOutput } from './io/video.node.js';
export { toGraph } from './graph/build.js';
export { runGraph, compileGraph } from './graph/run.js';
export { profileGraph } from './graph/profile.js';
export { writeOnnxFile } from './export/onnx.node.js';
