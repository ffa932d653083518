export { Var, leaf, constant, record, backward, clearTape, noGrad, isGradEnabled, tapeLength, type BackwardFn } from './var.js';
export * from './ops/conv.js';
export * from './ops/convTranspose.js';
export * from './ops/pointwise.js';
export * from './ops/loss.js';
export * from './ops/layout.js';
export * from './ops/resize.js';
export * from './ops/norm.js';
