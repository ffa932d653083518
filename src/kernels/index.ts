// Entry point of the kernel module: every exported function is callable from TypeScript.
export * from './conv';
export * from './reduce';
export * from './blas';
export * from './layout';
export * from './resize';
export * from './convt';
export * from './pointwise';
export * from './loss';
export * from './optim';
export * from './train';
export * from './peak';
export * from './align';
export * from './convert';
export * from './conv8';
export * from './channels';
export * from './norm';
export * from './attention';
