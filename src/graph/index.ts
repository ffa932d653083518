// The plain deploy IR: nodes and (de)serialisation, shape inference, the IR-to-IR passes and the
// profiler. Graphs are built by the model families (models/) and run by runtime/.
export * from './ir.js';
export * from './shapes.js';
export * from './passes.js';
export * from './profile.js';
