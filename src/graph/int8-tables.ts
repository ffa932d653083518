// The int8 ops that take at most 256 (one input) or 65,536 (two inputs) values, as tables
// computed once by each op's own arithmetic (TFLite's reference kernels, or XNNPACK's where
// TFLite's CPU runtime hands the op to it): activations, PReLU, int8 -> int8 requantization, ADD.
// The int8 runtime reads them (runtime/int8.ts, also inside the conv kernel's stores), and the
// ONNX export can write them as Gathers so that onnxruntime computes the same values. Browser-safe.
import { type GraphNode, type Act, weightOf } from './ir.js';
import {
  type QParams, type QuantGraph, quantizeMultiplier, multiplyByQuantizedMultiplier,
  srdhm, roundingDivideByPOT, quantizeValue, roundHalfAway, roundHalfEven, INT8_MIN, INT8_MAX,
} from './quant.js';

export const sat8 = (v: number): number => (v < INT8_MIN ? INT8_MIN : v > INT8_MAX ? INT8_MAX : v);

/** requantizeInt8's value for every int8 input, by the int8 value's low byte. */
export function requantizeTable(from: QParams, to: QParams): Int8Array {
  const all = Int8Array.from({ length: 256 }, (_, i) => i - 128);
  const ratio = Math.fround(from.scale / to.scale);
  const out = new Int8Array(256);
  if (!(ratio >= 2 ** -8 && ratio <= 2 ** 7)) {
    requantize(all, from, to).forEach((v, i) => { out[all[i]! & 255] = v; });
    return out;
  }
  const m = roundHalfEven(256 * ratio), bias = to.zeroPoint * 256 - m * from.zeroPoint + 128;
  for (const v of all) out[v & 255] = sat8(Math.floor((bias + v * m) / 256));
  return out;
}

/** An int8 op of two int8 inputs, f(a, b), tabulated over all 65,536 pairs (index: a's low byte * 256 + b's). */
export function pairTable(f: (a: number, b: number) => number): Int8Array {
  const t = new Int8Array(65536);
  for (let a = INT8_MIN; a <= INT8_MAX; a++) for (let b = INT8_MIN; b <= INT8_MAX; b++) t[((a & 255) << 8) | (b & 255)] = f(a, b);
  return t;
}

/** TFLite's Requantize (QUANTIZE between integer types): MultiplyByQuantizedMultiplier(q - zpIn, in/out) + zpOut, saturated to [lo, hi]. */
export function requantize(src: ArrayLike<number>, from: QParams, to: QParams, lo = INT8_MIN, hi = INT8_MAX, out: Int8Array | Uint8Array = new Int8Array(src.length)): Int8Array | Uint8Array {
  if (from.scale === to.scale) {
    const d = to.zeroPoint - from.zeroPoint;
    for (let i = 0; i < src.length; i++) { const v = src[i]! + d; out[i] = v < lo ? lo : v > hi ? hi : v; }
    return out;
  }
  const [m, s] = quantizeMultiplier(from.scale / to.scale);
  for (let i = 0; i < src.length; i++) {
    const v = multiplyByQuantizedMultiplier(src[i]! - from.zeroPoint, m, s) + to.zeroPoint;
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return out;
}

/**
 * erf in double precision (the C library's, to a few ulps): its Taylor series below |x| = 3, where
 * the terms' cancellation costs at most four digits, and erfc's continued fraction (Lentz) above.
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (Number.isNaN(x)) return NaN;
  if (a < 3) {
    // erf(x) = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = a, sum = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const d = term / (2 * n + 1);
      sum += d;
      if (Math.abs(d) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  if (a > 27) return Math.sign(x);
  // erfc(a) = e^{-a^2} / sqrt(pi) * 1 / (a + (1/2) / (a + 1 / (a + (3/2) / (a + 2 / (a + ...)))))
  const tiny = 1e-300;
  let f = a, C = a, D = 0;
  for (let k = 1; k < 500; k++) {
    const ak = k / 2;
    D = a + ak * D;
    D = D === 0 ? tiny : D;
    C = a + ak / C;
    C = C === 0 ? tiny : C;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/** TFLite's int8 lookup table for an elementwise function (PopulateLookupTable, float32 arithmetic). */
export function lut(qin: QParams, qout: QParams, f: (v: number) => number): Int8Array {
  const table = new Int8Array(256), inv = Math.fround(1 / qout.scale);
  for (let v = INT8_MIN; v <= INT8_MAX; v++) {
    const real = Math.fround(qin.scale * (v - qin.zeroPoint));
    const t = Math.fround(f(real));
    table[v & 255] = sat8(roundHalfAway(Math.fround(t * inv)) + qout.zeroPoint);
  }
  return table;
}

/**
 * An int8 activation as lookup tables computed by its own arithmetic: 256 values by the input's low
 * byte, one table for every channel (`perChannel` false) or one per channel (PReLU's slopes),
 * channel c's at c * 256.
 */
export function actTables(g: QuantGraph, n: GraphNode, a: Act, qin: QParams, qout: QParams): { tables: Int8Array; perChannel: boolean } {
  const map = (f: (v: number) => number): { tables: Int8Array; perChannel: boolean } => {
    const table = new Int8Array(256);
    for (let v = INT8_MIN; v <= INT8_MAX; v++) table[v & 255] = f(v);
    return { tables: table, perChannel: false };
  };
  switch (a.kind) {
    case 'gelu': {
      // TFLite's GELU (approximate = false) is a lookup table of x (1 + erf(x / sqrt 2)) / 2
      const t = lut(qin, qout, (v) => 0.5 * v * (1 + erf(v * Math.SQRT1_2)));
      return map((v) => t[v & 255]!);
    }
    case 'tanh': case 'sigmoid': {
      const t = lut(qin, qout, a.kind === 'tanh' ? Math.tanh : (v) => 1 / (1 + Math.exp(-v)));
      return map((v) => t[v & 255]!);
    }
    case 'relu': {
      // ReluQuantized: rescale, then clamp at the output's zero
      const [m, s] = quantizeMultiplier(qin.scale / qout.scale), lo = Math.max(INT8_MIN, qout.zeroPoint);
      return map((v) => Math.max(lo, sat8(multiplyByQuantizedMultiplier(v - qin.zeroPoint, m, s) + qout.zeroPoint)));
    }
    case 'leaky': {
      // TFLite's CPU runtime hands LEAKY_RELU to XNNPACK (qs8 vlrelu) when both rescales lie in
      // its range: one 8.8 fixed-point multiplier per sign, round(256 * scale) ties to even, and
      // (zero point * 256 + 128 + d * multiplier) >> 8. Outside it TFLite's own kernel runs.
      const ps = Math.fround(Math.fround(qin.scale) / Math.fround(qout.scale)), ns = Math.fround(ps * Math.fround(a.slope));
      if (ps >= 2 ** -8 && ps <= 2 ** 7 && ns <= 2 ** 7 && ns >= -127.99609375 && Math.abs(ns) >= 2 ** -8) {
        const pm = roundHalfEven(256 * ps), nm = roundHalfEven(256 * ns), bias = qout.zeroPoint * 256 + 128;
        return map((v) => {
          const d = v - qin.zeroPoint;
          return sat8((bias + d * (d >= 0 ? pm : nm)) >> 8);
        });
      }
      const [m1, s1] = quantizeMultiplier(qin.scale / qout.scale), [m2, s2] = quantizeMultiplier((qin.scale * Math.fround(a.slope)) / qout.scale);
      return map((v) => {
        const d = v - qin.zeroPoint;
        return sat8(qout.zeroPoint + (d >= 0 ? multiplyByQuantizedMultiplier(d, m1, s1) : multiplyByQuantizedMultiplier(d, m2, s2)));
      });
    }
    case 'clamp': {
      // the output shares the input's parameters: a clamp of the int8 values
      const lo = quantizeValue(a.lo, qout), hi = quantizeValue(a.hi, qout);
      return map((v) => (v < lo ? lo : v > hi ? hi : v));
    }
    case 'prelu': {
      const qa = g.quant.alpha[a.alpha]!, al = weightOf(g, n, a.alpha).data;
      const aq = Int32Array.from(al, (v) => quantizeValue(v, qa) - qa.zeroPoint);
      const [m1, s1] = quantizeMultiplier(qin.scale / qout.scale), [m2, s2] = quantizeMultiplier((qin.scale * qa.scale) / qout.scale);
      // one table of 256 per slope
      const tables = new Int8Array(aq.length * 256);
      for (let c = 0; c < aq.length; c++) {
        for (let v = INT8_MIN; v <= INT8_MAX; v++) {
          const d = v - qin.zeroPoint;
          tables[c * 256 + (v & 255)] = sat8((d >= 0 ? multiplyByQuantizedMultiplier(d, m1, s1) : multiplyByQuantizedMultiplier(d * aq[c]!, m2, s2)) + qout.zeroPoint);
        }
      }
      return { tables, perChannel: aq.length > 1 };
    }
  }
}

/**
 * TFLite's int8 ADD. Its CPU runtime hands ADD to XNNPACK (qs8 vadd) when both inputs' scales
 * over the output's lie in [2^-10, 2^8): each input times a multiplier of about 20 bits
 * (round(scale ratio * 2^shift), ties to even, the shift set by the larger ratio's exponent),
 * summed with a bias that holds the zero points and half a step, shifted right (floor).
 * Otherwise TFLite's own kernel runs: both inputs rescaled to twice the larger scale at a 2^20
 * left shift, summed, rescaled to the output. The two differ by a step on a few pairs (4 of
 * 65,536 at etds-t-x4's split conv_first add; test/quant.test.ts compares every pair with LiteRT.js).
 */
export function addTable(qa: QParams, qb: QParams, qout: QParams): Int8Array {
  const ra = Math.fround(qa.scale / qout.scale), rb = Math.fround(qb.scale / qout.scale);
  if ([ra, rb].every((r) => r >= 2 ** -10 && r < 2 ** 8)) {
    const shift = 20 - Math.floor(Math.log2(Math.max(ra, rb)));
    const ma = roundHalfEven(ra * 2 ** shift), mb = roundHalfEven(rb * 2 ** shift);
    const bias = 2 ** (shift - 1) - ma * qa.zeroPoint - mb * qb.zeroPoint;
    return pairTable((va, vb) => sat8(Math.floor((bias + va * ma + vb * mb) / 2 ** shift) + qout.zeroPoint));
  }
  const twiceMax = 2 * Math.max(qa.scale, qb.scale);
  const [ma, sa] = quantizeMultiplier(qa.scale / twiceMax), [mb, sb] = quantizeMultiplier(qb.scale / twiceMax);
  const [mo, so] = quantizeMultiplier(twiceMax / (2 ** 20 * qout.scale));
  const smaller = (x: number, m: number, s: number): number => roundingDivideByPOT(srdhm(x, m), -s);
  return pairTable((va, vb) => {
    const x = smaller((va - qa.zeroPoint) * 1048576, ma, sa), y = smaller((vb - qb.zeroPoint) * 1048576, mb, sb);
    return sat8(smaller(x + y, mo, so) + qout.zeroPoint);
  });
}
