/**
 * Naive float64 reference implementations for the mvsr test suite
 * (single entry point; the code lives in the sibling modules).
 */
export * from './tensor.js';
export * from './conv.js';
export * from './elementwise.js';
export * from './layout.js';
export * from './resize.js';
export * from './loss.js';
export * from './optim.js';
export * from './grad.js';
export * from './channels.js';
export * from './pool.js';
export * from './norm.js';
export * from './attention.js';
