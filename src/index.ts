// mvsr public entry point (engine level). Higher rooms (models, api) add their exports here.
export { initEngine, engine, disposeEngine, Engine, type EngineOptions, type SimdLevel } from './tensor/engine.js';
export { Tensor, type Shape, liveTensorCount } from './tensor/tensor.js';
export { Rng } from './tensor/random.js';
export * as ops from './tensor/ops/index.js';
export * as autograd from './autograd/index.js';
export * as nn from './nn/index.js';
export { Adam, type AdamOptions } from './train/optim.js';
