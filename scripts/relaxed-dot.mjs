// Is WebAssembly's relaxed int8 dot product fast on this machine's V8? Times, in one process, the
// inner loop of an int8 conv (16 independent accumulators: 4 pixels x 4 output channels) with
// i32x4.relaxed_dot_i8x16_i7x16_add_s (16 multiply-adds an instruction) against
// i32x4.dot_i16x8_s + i32x4.add (8), on data that stays in L1. GMAC/s per core, best of 5.
//   node --experimental-wasm-relaxed-simd scripts/relaxed-dot.mjs
// (Node 20 needs the flag; without it mvsr's engine loads its SIMD128 build. Needs the
// assemblyscript devDependency.)
import asc from 'assemblyscript/asc';

const acc = (body) => {
  const lines = [];
  for (const a of 'abcd') lines.push(`  let ${[0, 1, 2, 3].map((j) => `${a}${j} = i32x4.splat(0)`).join(', ')};`);
  lines.push('  for (let it = 0; it < iters; it++) {', '    for (let i = 0; i < n; i += 16) {');
  lines.push('      const xa = v128.load(p + <usize>i), xb = v128.load(p + 2048 + <usize>i), xc = v128.load(p + 4096 + <usize>i), xd = v128.load(p + 6144 + <usize>i);');
  for (let j = 0; j < 4; j++) {
    lines.push(`      const w${j} = v128.load(p + ${8192 + j * 2048} + <usize>i);`);
    for (const a of 'abcd') lines.push(`      ${a}${j} = ${body(`x${a}`, `w${j}`, `${a}${j}`)};`);
  }
  lines.push('    }', '  }');
  const all = [...'abcd'].flatMap((a) => [0, 1, 2, 3].map((j) => `${a}${j}`));
  lines.push(`  return i32x4.extract_lane(${all.reduce((s, v) => `i32x4.add(${s}, ${v})`, 'i32x4.splat(0)')}, 0);`);
  return lines.join('\n');
};
const source = `
export function relaxed(p: usize, n: i32, iters: i32): i32 {
${acc((x, w, a) => `i32x4.relaxed_dot_i8x16_i7x16_add_s(${x}, ${w}, ${a})`)}
}
export function i16(p: usize, n: i32, iters: i32): i32 {
${acc((x, w, a) => `i32x4.add(${a}, i32x4.dot_i16x8_s(${x}, ${w}))`)}
}`;
const { binary, stderr } = await asc.compileString(source, { optimizeLevel: 3, runtime: 'stub', noAssert: true, enable: ['simd', 'relaxed-simd'], initialMemory: 1 });
if (!binary) throw new Error(`relaxed-dot: compile failed: ${stderr.toString()}`);
if (!WebAssembly.validate(binary)) {
  console.error(`relaxed-dot: this V8 (${process.versions.v8}) has no relaxed SIMD without a flag: run node --experimental-wasm-relaxed-simd scripts/relaxed-dot.mjs`);
  process.exit(1);
}
const { instance } = await WebAssembly.instantiate(binary);
const n = 1024, iters = 100_000, instructions = iters * (n / 16) * 16;
const best = { relaxed: Infinity, i16: Infinity };
for (let r = 0; r < 5; r++) {
  for (const f of ['relaxed', 'i16']) {
    const t0 = performance.now();
    instance.exports[f](0, n, iters);
    best[f] = Math.min(best[f], performance.now() - t0);
  }
}
const gmac = (f, per) => ((instructions * per) / best[f] / 1e6).toFixed(1);
console.log(`V8 ${process.versions.v8}: relaxed_dot_i8x16_i7x16_add_s ${gmac('relaxed', 16)} GMAC/s, dot_i16x8_s + add ${gmac('i16', 8)} GMAC/s (one core, best of 5)`);
