// The backends of Node: the browser-safe ones (wasm) and onnxruntime-node ('ort'), registered by
// importing ort.node.ts. Node code creates backends through this module.
import './ort.node.js';

export { createBackend, registerBackend, listBackends, runFirst, AUTO_AGREEMENT_255, type Backend, type BackendCalibration, type CreateBackendOptions } from './backend.js';
