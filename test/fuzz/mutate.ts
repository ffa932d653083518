// Structured byte mutators for the fuzz harness. A mutation is a small "program" drawn by
// fast-check from (seed, index), so input number i of a run can be regenerated anywhere (the
// main thread rebuilds the input of a worker that hung without having to receive it).
import fc from 'fast-check';

/** A numeric field inside a file that a format-aware mutation may rewrite. */
export interface Field {
  at: number;
  width: 1 | 2 | 4 | 8;
  le: boolean;
}

export type Op =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'byte'; at: number; v: number }
  | { kind: 'int'; at: number; width: 1 | 2 | 4 | 8; le: boolean; v: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'dup'; at: number; len: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'splice'; other: number; at: number; at2: number }
  | { kind: 'field'; which: number; v: number }
  | { kind: 'structured'; n: number };

export interface Program {
  seed: number;
  ops: Op[];
  /** Let the target repair checksums/lengths afterwards (PNG CRCs, zip CRCs, …). */
  fixup: boolean;
}

/** Values that tend to break size arithmetic; the negative ones mean "file length minus k". */
const INTERESTING = [0, 1, 2, 3, 7, 8, 15, 16, 127, 128, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 63, 2 ** 64 - 1, 100_000, -1, -2, -8, -100];

const intArb = fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(), fc.integer({ min: 0, max: 255 }));
const at = fc.nat();
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('byte' as const), at, v: fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x0a, 0x20, 0x30, 0x39), fc.integer({ min: 0, max: 255 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('int' as const), at, width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), le: fc.boolean(), v: intArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dup' as const), at, len: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('splice' as const), other: fc.nat(), at, at2: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('field' as const), which: fc.nat(), v: intArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('structured' as const), n: fc.nat() }) },
);
export const programArb: fc.Arbitrary<Program> = fc.record({
  seed: fc.nat(),
  ops: fc.oneof({ weight: 3, arbitrary: fc.array(opArb, { minLength: 1, maxLength: 2 }) }, { weight: 1, arbitrary: fc.array(opArb, { minLength: 3, maxLength: 6 }) }),
  fixup: fc.integer({ min: 0, max: 3 }).map((k) => k !== 0), // 3 in 4
});

/** The mutation program number `index` of a run seeded with `seed` (deterministic). */
export function programAt(seed: number, index: number): Program {
  return fc.sample(programArb, { seed: (seed * 1_000_003 + index) | 0, numRuns: 1 })[0]!;
}

/** A tiny deterministic PRNG for the structured mutators. */
export function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Mutable {
  fields?(b: Uint8Array): Field[];
  structured?(b: Uint8Array, rnd: () => number, n: number): Uint8Array;
  fixup?(b: Uint8Array): Uint8Array;
}

function resolve(v: number, len: number): number {
  return v < 0 ? Math.max(0, len + v) : v;
}

export function writeInt(b: Uint8Array, at: number, width: number, le: boolean, v: number): void {
  let x = BigInt.asUintN(width * 8, BigInt(Math.floor(v)));
  for (let i = 0; i < width && at + i < b.length; i++) {
    const byte = Number(x & 0xffn);
    x >>= 8n;
    b[le ? at + i : at + width - 1 - i] = byte;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Apply a program to a seed chosen from `seeds`. */
export function mutate(seeds: readonly Uint8Array[], prog: Program, target: Mutable): Uint8Array {
  const rnd = mulberry32(prog.seed);
  let b: Uint8Array = seeds[prog.seed % seeds.length]!.slice();
  for (const op of prog.ops) {
    const len = b.length;
    const pos = len ? op.kind === 'field' || op.kind === 'structured' ? 0 : (op as { at: number }).at % (len + 1) : 0;
    switch (op.kind) {
      case 'flip':
        if (pos < len) b[pos] = b[pos]! ^ (1 << op.bit);
        break;
      case 'byte':
        if (pos < len) b[pos] = op.v;
        break;
      case 'int':
        writeInt(b, pos, op.width, op.le, resolve(op.v, len));
        break;
      case 'truncate':
        b = b.slice(0, pos);
        break;
      case 'delete':
        b = concat(b.subarray(0, pos), b.subarray(pos + op.len));
        break;
      case 'dup':
        b = concat(b.subarray(0, pos + op.len), b.subarray(pos));
        break;
      case 'insert':
        b = concat(b.subarray(0, pos), op.bytes, b.subarray(pos));
        break;
      case 'splice': {
        const o = seeds[op.other % seeds.length]!;
        b = concat(b.subarray(0, pos), o.subarray(op.at2 % (o.length + 1)));
        break;
      }
      case 'field': {
        const fs = target.fields?.(b) ?? [];
        if (!fs.length) break;
        const f = fs[op.which % fs.length]!;
        writeInt(b, f.at, f.width, f.le, resolve(op.v, len));
        break;
      }
      case 'structured':
        if (target.structured) b = target.structured(b, rnd, op.n);
        break;
    }
  }
  return prog.fixup && target.fixup ? target.fixup(b) : b;
}
