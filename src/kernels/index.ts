// Entry point of the kernel module: every exported function is callable from TypeScript.
export * from './conv';
export * from './reduce';
