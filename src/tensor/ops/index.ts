// Raw (non-differentiable) ops over engine tensors.
export * from './conv.js';
export * from './convTranspose.js';
export * from './pointwise.js';
export * from './loss.js';
export * from './optim.js';
export * from './layout.js';
export * from './resize.js';
export { channelSum } from './util.js';
export * from './channels.js';
export * from './pool.js';
export * from './norm.js';
export * from './attention.js';
