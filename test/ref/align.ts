/**
 * Reference global motion compensation (the plain JavaScript implementation that
 * src/autograd/ops/align.ts used before its WebAssembly kernels): the shift estimate and the
 * bilinear translation with clamped edges, and its transpose. The kernels follow these loops
 * and float64 accumulations exactly, so the estimates compare bit for bit.
 *
 * Frames are NHWC arrays of float32 values (anything with a shape and a data array: an RT, or
 * an engine Tensor); the translation works on Float32Arrays, rounding each result to float32
 * as the original did.
 */

/** A translation in pixels: content at (x, y) in the earlier frame is at (x + dx, y + dy) in the later one. */
export interface RefShift {
  dx: number;
  dy: number;
}

/** A frame batch: NHWC shape and its values. */
export interface Frames {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/**
 * The translation d, per batch item, that best explains `cur` as `prev` moved by d:
 * cur(x, y) ~ prev(x - dx, y - dy), on the channel means. First the integer d with the least mean
 * squared difference within |dx|, |dy| <= radius (a margin of `radius` pixels left out; every
 * second row and column on frames larger than 64 x 64); then Gauss-Newton steps on the same cost
 * over every pixel, with prev and its central-difference gradient resampled bilinearly
 * (Lucas-Kanade for one translation), for the sub-pixel part, kept within 1 px of the integer
 * minimum; a step that does not lower the cost is not kept, and an ill-conditioned system (a
 * picture with structure along one axis only) stops the refinement. Ties in the integer search
 * go to the smaller move, so two equal frames (even flat ones) give exactly (0, 0). Frames too
 * small for the radius use a smaller one.
 */
export function estimateShiftRef(prev: Frames, cur: Frames, radius: number): RefShift[] {
  const [N, H, W, C] = prev.shape as [number, number, number, number];
  if (cur.shape.join() !== prev.shape.join()) throw new Error(`estimateShiftRef: frames of shapes [${prev.shape}] and [${cur.shape}]`);
  const R = Math.max(0, Math.min(Math.floor(radius), Math.floor((Math.min(H, W) - 4) / 3)));
  const step = H * W > 64 * 64 ? 2 : 1;
  const out: RefShift[] = [];
  const pd = prev.data, cd = cur.data;
  const grey = (d: ArrayLike<number>, n: number) => {
    const g = new Float32Array(H * W);
    for (let p = 0, q = n * H * W * C; p < H * W; p++, q += C) {
      let s = 0;
      for (let c = 0; c < C; c++) s += d[q + c]!;
      g[p] = s / C;
    }
    return g;
  };
  for (let n = 0; n < N; n++) {
    const a = grey(pd, n), b = grey(cd, n);
    // integer search; ties go to the smaller move (no motion first)
    let best = { cost: Infinity, u: 0, v: 0 };
    for (let v = -R; v <= R; v++) {
      for (let u = -R; u <= R; u++) {
        let s = 0, k = 0;
        for (let y = R; y < H - R; y += step) {
          const rb = y * W, ra = (y - v) * W - u;
          for (let x = R; x < W - R; x += step) {
            const e = b[rb + x]! - a[ra + x]!;
            s += e * e;
            k++;
          }
        }
        const cost = s / Math.max(1, k);
        if (cost < best.cost || (cost === best.cost && Math.abs(u) + Math.abs(v) < Math.abs(best.u) + Math.abs(best.v))) best = { cost, u, v };
      }
    }
    // sub-pixel: Gauss-Newton on sum (cur(x) - prev(x - d))^2. With |d| <= R + 1 and a margin of
    // R + 2, every sample lies inside the picture, and one translation has the same bilinear
    // weights at every pixel.
    const ax = new Float32Array(H * W), ay = new Float32Array(H * W);
    for (let y = 1; y < H - 1; y++) {
      for (let x = 1; x < W - 1; x++) {
        const p = y * W + x;
        ax[p] = (a[p + 1]! - a[p - 1]!) / 2;
        ay[p] = (a[p + W]! - a[p - W]!) / 2;
      }
    }
    let dx = best.u, dy = best.v;
    let kept = { cost: Infinity, dx, dy };
    const m = R + 2;
    for (let it = 0; it < 8; it++) {
      const fx = Math.floor(-dx), fy = Math.floor(-dy), wx = -dx - fx, wy = -dy - fy;
      const w00 = (1 - wy) * (1 - wx), w01 = (1 - wy) * wx, w10 = wy * (1 - wx), w11 = wy * wx;
      const off = fy * W + fx;
      let hxx = 0, hxy = 0, hyy = 0, gx = 0, gy = 0, ss = 0;
      for (let y = m; y < H - m; y++) {
        for (let x = m; x < W - m; x++) {
          const p = y * W + x, q = p + off;
          const w = w00 * a[q]! + w01 * a[q + 1]! + w10 * a[q + W]! + w11 * a[q + W + 1]!;
          const ix = w00 * ax[q]! + w01 * ax[q + 1]! + w10 * ax[q + W]! + w11 * ax[q + W + 1]!;
          const iy = w00 * ay[q]! + w01 * ay[q + 1]! + w10 * ay[q + W]! + w11 * ay[q + W + 1]!;
          const r = b[p]! - w;
          hxx += ix * ix; hxy += ix * iy; hyy += iy * iy;
          gx += ix * r; gy += iy * r;
          ss += r * r;
        }
      }
      // the cost at this iterate: keep the best one seen, stop when a step made it worse
      if (ss < kept.cost) kept = { cost: ss, dx, dy };
      else break;
      const det = hxx * hyy - hxy * hxy;
      if (!(ss > 0 && det > 1e-4 * (hxx + hyy) * (hxx + hyy))) break;
      // H delta = -g, with the residual after the step cur - prev(x - d - delta) ~ r + grad . delta
      const ddx = -(hyy * gx - hxy * gy) / det, ddy = -(hxx * gy - hxy * gx) / det;
      dx = Math.max(best.u - 1, Math.min(best.u + 1, dx + ddx));
      dy = Math.max(best.v - 1, Math.min(best.v + 1, dy + ddy));
      if (Math.abs(ddx) + Math.abs(ddy) < 1e-3) {
        // converged: this last small step is taken without evaluating it
        kept.dx = dx;
        kept.dy = dy;
        break;
      }
    }
    out.push({ dx: kept.dx, dy: kept.dy });
  }
  return out;
}

/** Source index and weight pairs of a 1-D bilinear translation by d (edges clamped). */
function taps(n: number, d: number): { i0: Int32Array; i1: Int32Array; w0: number; w1: number } {
  const f = Math.floor(-d), w1 = -d - f, w0 = 1 - w1;
  const i0 = new Int32Array(n), i1 = new Int32Array(n);
  for (let x = 0; x < n; x++) {
    i0[x] = Math.min(n - 1, Math.max(0, x + f));
    i1[x] = Math.min(n - 1, Math.max(0, x + f + 1));
  }
  return { i0, i1, w0, w1 };
}

/**
 * The bilinear translation as a linear map over [N,H,W,C]: forward, dst = M src (every element
 * written); transposed, dst += M^T src (the gradient scattered back through the same weights).
 */
function bilinearMap(shifts: readonly RefShift[], shape: readonly number[], src: ArrayLike<number>, dst: Float32Array | Float64Array, transposed: boolean): void {
  const [N, H, W, C] = shape as [number, number, number, number];
  for (let n = 0; n < N; n++) {
    const tx = taps(W, shifts[n]!.dx), ty = taps(H, shifts[n]!.dy), base = n * H * W * C;
    const w00 = ty.w0 * tx.w0, w01 = ty.w0 * tx.w1, w10 = ty.w1 * tx.w0, w11 = ty.w1 * tx.w1;
    for (let r = 0; r < H; r++) {
      const ra = base + ty.i0[r]! * W * C, rb = base + ty.i1[r]! * W * C, o = base + r * W * C;
      for (let c0 = 0; c0 < W; c0++) {
        const a0 = ra + tx.i0[c0]! * C, a1 = ra + tx.i1[c0]! * C, b0 = rb + tx.i0[c0]! * C, b1 = rb + tx.i1[c0]! * C, oo = o + c0 * C;
        for (let c = 0; c < C; c++) {
          if (transposed) {
            const v = src[oo + c]!;
            dst[a0 + c] += w00 * v;
            dst[a1 + c] += w01 * v;
            dst[b0 + c] += w10 * v;
            dst[b1 + c] += w11 * v;
          } else {
            dst[oo + c] = w00 * src[a0 + c]! + w01 * src[a1 + c]! + w10 * src[b0 + c]! + w11 * src[b1 + c]!;
          }
        }
      }
    }
  }
}

function checkShifts(op: string, shape: readonly number[], shifts: readonly RefShift[]): void {
  if (shape.length !== 4) throw new Error(`${op}: expected an NHWC shape, got [${shape}]`);
  if (shifts.length !== shape[0]) throw new Error(`${op}: ${shifts.length} shifts for a batch of ${shape[0]}`);
}

/** x [N,H,W,C] moved by shifts[n] (bilinear, edges replicated): out(x, y) = x(x - dx, y - dy), rounded to float32. */
export function translateRef(x: Frames, shifts: readonly RefShift[]): Float32Array {
  checkShifts('translateRef', x.shape, shifts);
  const out = new Float32Array(x.data.length);
  bilinearMap(shifts, x.shape, x.data, out, false);
  return out;
}

/**
 * The transposed translation: M^T g, scattered in float32 as the original backward did, or
 * accumulated in float64 (`f64`).
 */
export function translateTransposedRef(g: Frames, shifts: readonly RefShift[], f64 = false): Float32Array | Float64Array {
  checkShifts('translateTransposedRef', g.shape, shifts);
  const out = f64 ? new Float64Array(g.data.length) : new Float32Array(g.data.length);
  bilinearMap(shifts, g.shape, g.data, out, true);
  return out;
}
