// The backends of Node: the browser-safe ones (wasm, int8), onnxruntime-node ('ort'), LiteRT.js
// running the exported .tflite ('tflite') and WebGPU through the `webgpu` package ('webgpu'),
// registered by importing their modules. Node code creates backends through this module.
import './ort.node.js';
import './tflite.node.js';
import './webgpu.node.js';

export { createBackend, registerBackend, listBackends, runFirst, AUTO_AGREEMENT_255, type Backend, type BackendCalibration, type CreateBackendOptions } from './backend.js';
