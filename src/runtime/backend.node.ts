// The backends of Node: the browser-safe ones (wasm), onnxruntime-node ('ort') and LiteRT.js
// running the exported .tflite ('tflite'), registered by importing their modules. Node code
// creates backends through this module.
import './ort.node.js';
import './tflite.node.js';

export { createBackend, registerBackend, listBackends, runFirst, AUTO_AGREEMENT_255, type Backend, type BackendCalibration, type CreateBackendOptions } from './backend.js';
