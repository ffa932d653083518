// mvsr's own sample clip, rendered procedurally (no third-party media): a continuous scene of
// textures (multi-octave value noise, bricks, a zone plate, stripes of rising frequency) and hard-
// edged shapes, filmed by a camera that pans and zooms smoothly while two shapes move on their
// own. Each pixel averages ss x ss samples, so frames are antialiased ground truth at any size.
import type { Image } from '../io/image.js';
import { float32ToImage } from '../io/image.js';

function hash2(ix: number, iy: number, seed: number): number {
  let h = (Math.imul(ix, 374761393) + Math.imul(iy, 668265263) + Math.imul(seed, 1442695041)) | 0;
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Smooth value noise in [0,1] with a period-free lattice. */
function valueNoise(x: number, y: number, seed: number): number {
  const ix = Math.floor(x), iy = Math.floor(y), fx = x - ix, fy = y - iy;
  const sx = fx * fx * (3 - 2 * fx), sy = fy * fy * (3 - 2 * fy);
  const a = hash2(ix, iy, seed), b = hash2(ix + 1, iy, seed), c = hash2(ix, iy + 1, seed), d = hash2(ix + 1, iy + 1, seed);
  return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
}

function fbm(x: number, y: number, seed: number, octaves: number): number {
  let s = 0, amp = 0.5, f = 1;
  for (let o = 0; o < octaves; o++, amp *= 0.5, f *= 2.03) s += amp * valueNoise(x * f, y * f, seed + o);
  return s;
}

type RGB = [number, number, number];

/** The scene at world point (u, v) (1 unit = 1 pixel of a 640x360 frame at zoom 1) at time t in frames. */
function scene(u: number, v: number, t: number): RGB {
  // ground: two-tone noise "terrain" with fine grain
  const n = fbm(u / 90, v / 90, 3, 5), g = valueNoise(u / 5, v / 5, 17);
  let c: RGB = [0.25 + 0.5 * n + 0.08 * g, 0.35 + 0.35 * n + 0.06 * g, 0.2 + 0.3 * (1 - n) + 0.05 * g];
  // bricks (sharp mortar lines)
  if (u > 60 && u < 330 && v > 40 && v < 170) {
    const row = Math.floor((v - 40) / 14), off = row % 2 ? 14 : 0;
    const bu = (u - 60 + off) % 28, bv = (v - 40) % 14;
    const mortar = bu < 2 || bv < 2;
    const tone = 0.1 * hash2(Math.floor((u - 60 + off) / 28), row, 5);
    c = mortar ? [0.82, 0.8, 0.74] : [0.55 + tone, 0.22 + tone / 2, 0.16];
  }
  // zone plate (rings of rising frequency)
  const zu = u - 480, zv = v - 110, r2 = zu * zu + zv * zv;
  if (r2 < 85 * 85) {
    const z = 0.5 + 0.5 * Math.cos(r2 / 180);
    c = [z, z, z];
  }
  // stripes whose period shrinks from 12 to 3 pixels
  if (u > 380 && u < 620 && v > 230 && v < 330) {
    const p = 12 - (9 * (u - 380)) / 240;
    const s = Math.sin((2 * Math.PI * (v - 230)) / p) > 0 ? 0.9 : 0.12;
    c = [s, s * 0.95, s * 0.85];
  }
  // a yellow disk and a blue square moving on their own
  const du = u - (120 + 2.2 * t), dv = v - (270 - 0.8 * t);
  if (du * du + dv * dv < 38 * 38) c = [0.95, 0.8, 0.15];
  const a = 0.02 * t, qu = u - (300 - 1.5 * t), qv = v - (250 + 0.5 * t);
  const ru = Math.cos(a) * qu + Math.sin(a) * qv, rv = -Math.sin(a) * qu + Math.cos(a) * qv;
  if (Math.abs(ru) < 26 && Math.abs(rv) < 26) c = Math.abs(ru) < 22 && Math.abs(rv) < 22 ? [0.15, 0.35, 0.85] : [0.05, 0.05, 0.08];
  return c;
}

export interface SampleClipOptions {
  width?: number;
  height?: number;
  frames?: number;
  /** Samples per pixel along each axis (default 2). */
  supersample?: number;
}

/**
 * Render frame t of the sample clip (8-bit RGB). The camera pans right and down by ~1.3 px and
 * zooms in 0.3% per frame, with a slow sub-pixel wobble: every frame is a new sub-pixel sampling.
 */
export function renderSampleFrame(t: number, o: SampleClipOptions = {}): Image {
  const W = o.width ?? 640, H = o.height ?? 360, ss = o.supersample ?? 2;
  const zoom = (1 + 0.003 * t) * (W / 640);
  const cu = 320 + 1.3 * t + 0.6 * Math.sin(t / 5), cv = 180 + 0.5 * t + 0.4 * Math.cos(t / 7);
  const jitter = Array.from({ length: ss * ss }, (_, k) => [((k % ss) + 0.5) / ss, (Math.floor(k / ss) + 0.5) / ss] as const);
  const out = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let r = 0, g = 0, b = 0;
      for (const [jx, jy] of jitter) {
        const c = scene(cu + (x + jx - W / 2) / zoom, cv + (y + jy - H / 2) / zoom, t);
        r += c[0]; g += c[1]; b += c[2];
      }
      const i = (y * W + x) * 3, k = 1 / jitter.length;
      out[i] = r * k; out[i + 1] = g * k; out[i + 2] = b * k;
    }
  }
  return float32ToImage(out, W, H, 3, 8);
}

/** The sample clip's frames, rendered one at a time. */
export function* sampleClip(o: SampleClipOptions = {}): Generator<Image> {
  const n = o.frames ?? 48;
  for (let t = 0; t < n; t++) yield renderSampleFrame(t, o);
}
