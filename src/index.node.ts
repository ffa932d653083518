// mvsr for Node: everything in the browser-safe entry plus files, ffmpeg-free image codecs with
// node:zlib, createUpscaler accepting paths and zoo names, and the onnxruntime-node backend.
export * from './index.js';
export { createUpscaler, type CreateUpscalerOptions } from './api/create.node.js';
export { resolveModel, resolveAnyModel, loadModelFile, loadAnyModelFile, type ModelRequest } from './api/models.node.js';
export { runDemo, sideBySide, type DemoOptions, type DemoResult } from './api/demo.node.js';
export { listClips, type ClipRef } from './data/clips.node.js';
export { readImage, writeImage, writePngStream, decodeImage, encodePng } from './io/image.node.js';
export { loadWeightsFile, saveSafetensorsFile } from './io/weights.node.js';
export { openVideo, createVideoWriter, videoKindForOutput } from './io/video.node.js';
export { createBackend, listBackends } from './runtime/backend.node.js'; // registers the 'ort' backend
export { profileGraph } from './graph/profile.js';
export { writeOnnxFile } from './export/write.node.js';
