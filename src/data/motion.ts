// Video sequences synthesised from still photos: a camera that moves smoothly over the photo
// (constant sub-pixel pan, zoom and rotation per frame) films T HR patches, each resampled from
// the photo with Keys bicubic interpolation (a = -0.5), and each patch's LR is made by MATLAB
// bicubic, as for real frames. For pre-training recurrent models where real video is scarce.
import type { Rng } from '../tensor/random.js';
import { imresizeUint8 } from './imresize.js';

export interface MotionOptions {
  /** Largest pan per frame, HR pixels, along each axis (default 2). */
  maxShift?: number;
  /** Largest zoom change per frame, relative (default 0.01). */
  maxZoom?: number;
  /** Largest rotation per frame, radians (default 0.005). */
  maxRotate?: number;
}

export interface CameraPath {
  /** Patch centre in the photo at frame 0 (HR pixel coordinates, centres at +0.5). */
  cx: number;
  cy: number;
  /** Per frame: pan (HR pixels), zoom (relative), rotation (radians). */
  vx: number;
  vy: number;
  zoom: number;
  rotate: number;
}

const defaults = { maxShift: 2, maxZoom: 0.01, maxRotate: 0.005 };

/** Half-extent of the photo region T frames of a q x q patch can read (bicubic taps included). */
export function motionMargin(q: number, T: number, o: MotionOptions = {}): number {
  const m = { ...defaults, ...o };
  return Math.ceil((q / 2) * Math.SQRT2 * (1 + (T - 1) * m.maxZoom) + (T - 1) * m.maxShift + 3);
}

/** The smallest photo edge a q x q, T-frame sequence can be cut from. */
export function minMotionSize(q: number, T: number, o: MotionOptions = {}): number {
  return 2 * motionMargin(q, T, o) + 1;
}

/** Draw a camera path: six numbers, always, whatever the options. */
export function drawCameraPath(rng: Rng, w: number, h: number, q: number, T: number, o: MotionOptions = {}): CameraPath {
  const m = { ...defaults, ...o };
  const margin = motionMargin(q, T, o);
  if (w < 2 * margin + 1 || h < 2 * margin + 1) throw new Error(`mvsr: motion: a ${w}x${h} photo is too small for ${T} frames of ${q}x${q} (needs ${2 * margin + 1} pixels each way)`);
  const cx = margin + rng.next() * (w - 2 * margin), cy = margin + rng.next() * (h - 2 * margin);
  const u = (a: number) => (2 * rng.next() - 1) * a;
  return { cx, cy, vx: u(m.maxShift), vy: u(m.maxShift), zoom: u(m.maxZoom), rotate: u(m.maxRotate) };
}

function keys(t: number): number {
  const a = -0.5, x = Math.abs(t);
  if (x <= 1) return (a + 2) * x * x * x - (a + 3) * x * x + 1;
  if (x < 2) return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a;
  return 0;
}

/**
 * Frame t of the path: a q x q RGB uint8 patch. Pixel (i, j) reads the photo at
 * centre + t * pan + R(t * rotate) * (1 + t * zoom) * ((j + 0.5, i + 0.5) - q / 2).
 */
export function renderMotionFrame(photo: Uint8Array, w: number, h: number, p: CameraPath, t: number, q: number): Uint8Array {
  const out = new Uint8Array(q * q * 3);
  const s = 1 + t * p.zoom, a = t * p.rotate, ca = Math.cos(a) * s, sa = Math.sin(a) * s;
  const ox = p.cx + t * p.vx, oy = p.cy + t * p.vy;
  const wx = new Float64Array(4), wy = new Float64Array(4);
  for (let i = 0; i < q; i++) {
    for (let j = 0; j < q; j++) {
      const dx = j + 0.5 - q / 2, dy = i + 0.5 - q / 2;
      // source position in pixel-index space (pixel k has its centre at k + 0.5)
      const sx = ox + ca * dx - sa * dy - 0.5, sy = oy + sa * dx + ca * dy - 0.5;
      const x0 = Math.floor(sx), y0 = Math.floor(sy), fx = sx - x0, fy = sy - y0;
      for (let k = 0; k < 4; k++) { wx[k] = keys(fx - (k - 1)); wy[k] = keys(fy - (k - 1)); }
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let ky = 0; ky < 4; ky++) {
          const yy = Math.min(h - 1, Math.max(0, y0 + ky - 1));
          let row = 0;
          for (let kx = 0; kx < 4; kx++) {
            const xx = Math.min(w - 1, Math.max(0, x0 + kx - 1));
            row += wx[kx]! * photo[(yy * w + xx) * 3 + c]!;
          }
          v += wy[ky]! * row;
        }
        out[(i * q + j) * 3 + c] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
  return out;
}

/** T frames of the path: HR patches (q x q) and their MATLAB-bicubic LR (q/scale), RGB uint8. */
export function motionSequence(photo: Uint8Array, w: number, h: number, p: CameraPath, T: number, q: number, scale: number): { hr: Uint8Array[]; lr: Uint8Array[] } {
  const hr: Uint8Array[] = [], lr: Uint8Array[] = [];
  for (let t = 0; t < T; t++) {
    const f = renderMotionFrame(photo, w, h, p, t, q);
    hr.push(f);
    lr.push(imresizeUint8({ width: q, height: q, channels: 3, bitDepth: 8, data: f }, 1 / scale).data as Uint8Array);
  }
  return { hr, lr };
}
