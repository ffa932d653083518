// Two `mvsr eval --json` results on the same images, compared image by image: each mean PSNR, the
// difference, and on how many images the first is better (the README's "better on N of 105").
//   npx mvsr eval -m <model a> --data <folder> --json > a.json
//   npx mvsr eval -m <model b> --data <folder> --json > b.json
//   node scripts/compare-evals.mjs a.json b.json
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length !== 2) {
  console.error('usage: node scripts/compare-evals.mjs <a.json> <b.json>   (two mvsr eval --json outputs)');
  process.exit(2);
}
const rows = files.map((f) => {
  let j;
  try {
    j = JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    console.error(`compare-evals: ${f}: ${e instanceof SyntaxError ? 'not JSON' : e.code ?? e.message}`);
    process.exit(1);
  }
  if (!Array.isArray(j.rows)) {
    console.error(`compare-evals: ${f}: no rows (not an mvsr eval --json output)`);
    process.exit(1);
  }
  return new Map(j.rows.map((r) => [r.name, r.psnr]));
});
const [a, b] = rows;
const names = [...a.keys()];
const missing = names.filter((n) => !b.has(n));
if (missing.length || a.size !== b.size) {
  console.error(`compare-evals: the two files are not on the same images (${missing[0] ?? 'sizes differ'}${missing.length > 1 ? `, and ${missing.length - 1} more` : ''})`);
  process.exit(1);
}
const mean = (m) => [...m.values()].reduce((s, x) => s + x, 0) / m.size;
const better = names.filter((n) => a.get(n) > b.get(n)).length;
console.log(`${files[0]}: ${mean(a).toFixed(3)} dB, ${files[1]}: ${mean(b).toFixed(3)} dB, difference ${(mean(a) - mean(b)).toFixed(3)}; the first is better on ${better} of ${names.length}`);
