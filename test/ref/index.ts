export * from './ops.js';
