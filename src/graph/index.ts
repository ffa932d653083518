// The plain deploy IR: nodes and (de)serialisation, shape inference, builders from zoo models,
// the interpreter with its fusion passes, and the profiler.
export * from './ir.js';
export * from './shapes.js';
export * from './build.js';
export * from './run.js';
export * from './profile.js';
