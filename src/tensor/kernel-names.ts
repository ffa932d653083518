/** The kernel functions a module exports, in a fixed order shared by main thread and workers. */
export function kernelNames(exports: WebAssembly.Exports): string[] {
  return Object.keys(exports).filter((k) => typeof exports[k] === 'function').sort();
}
