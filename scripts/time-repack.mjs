// What the WebGPU backend's readback used to do in JavaScript for a 720x1280 RGB output (drop the
// 4th lane of every pixel of the kernels' padded layout) against what it does now that the GPU
// unpads (one typed-array copy of the tight floats): ms of each, 5 rounds (the JIT warms up).
//   node scripts/time-repack.mjs
const P = 720 * 1280, C = 3, CB4 = 4;
const padded = Float32Array.from({ length: P * CB4 }, (_, i) => i % 7);
const tight = Float32Array.from({ length: P * C }, (_, i) => i % 5);
const dst = new Float32Array(P * C);
for (let r = 0; r < 5; r++) {
  let t = performance.now();
  for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) dst[p * C + c] = padded[p * CB4 + c];
  const loop = performance.now() - t;
  t = performance.now();
  dst.set(tight);
  console.log(`round ${r + 1}: JS unpad loop ${loop.toFixed(2)} ms, tight copy ${(performance.now() - t).toFixed(2)} ms`);
}
