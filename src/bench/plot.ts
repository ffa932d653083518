// A small dependency-free SVG line-chart writer (axes, ticks, legend, optional log scale and a
// right-hand axis) and the training-log plot built on it: loss vs iteration on a log axis
// (smoothed, with the raw curve faint behind it) and validation PSNR on the right axis.

export type Point = readonly [number, number];

export interface ChartSeries {
  name: string;
  points: readonly Point[];
  /** Which y axis the series is drawn against (default left). */
  axis?: 'left' | 'right';
  /** CSS colour; default: the next palette colour. */
  color?: string;
  /** Line opacity (default 1). */
  opacity?: number;
  strokeWidth?: number;
  /** Draw a dot at every point (default: only when the series has a single point). */
  markers?: boolean;
  dashed?: boolean;
  /** Leave the series out of the legend (default false). */
  hideInLegend?: boolean;
}

export interface LineChartOptions {
  title: string;
  series: readonly ChartSeries[];
  xLabel: string;
  yLabel: string;
  /** Label of the right axis; the axis is drawn when a series uses it or this is given. */
  y2Label?: string;
  /** Log scale for the left axis (points with y <= 0 are left out). */
  logY?: boolean;
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';
/** Series longer than this are thinned to per-bucket min and max before drawing. */
const MAX_DRAWN_POINTS = 2000;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Coordinates with 2 decimals; never NaN (callers only pass finite values). */
const f2 = (v: number): string => (Math.round(v * 100) / 100).toString();

/** Compact tick label: 150k, 2.5M, 2e-4, 0.03, 31.5. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  const trim = (s: string): string => (s.includes('e') ? s.replace(/\.?0+e/, 'e') : s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (a >= 1e6) return `${trim((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${trim((v / 1e3).toPrecision(3))}k`;
  if (a < 1e-3) return trim(v.toExponential(1));
  return trim(v.toPrecision(4));
}

/** About `count` evenly spaced round ticks covering [lo, hi] (1, 2, 5 times a power of ten). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  log: boolean;
}

/** A linear axis over the values, widened to round ticks; a span of zero gets room around it. */
function linearAxis(values: number[]): Axis {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!values.length) [lo, hi] = [0, 1];
  else if (hi === lo) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.05 : 1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const t = niceTicks(lo, hi);
  const step = t.length > 1 ? t[1]! - t[0]! : hi - lo;
  const nlo = Math.floor(lo / step + 1e-9) * step, nhi = Math.ceil(hi / step - 1e-9) * step;
  return { lo: nlo, hi: nhi, ticks: niceTicks(nlo, nhi), log: false };
}

/** A log10 axis over positive values, from and to whole decades. */
function logAxis(values: number[]): Axis {
  const pos = values.filter((v) => v > 0);
  if (!pos.length) return { lo: 0.1, hi: 1, ticks: [0.1, 1], log: true };
  let a = Math.floor(Math.log10(Math.min(...pos)) + 1e-12), b = Math.ceil(Math.log10(Math.max(...pos)) - 1e-12);
  if (b <= a) b = a + 1;
  const ticks: number[] = [];
  for (let e = a; e <= b; e++) {
    ticks.push(Number(Math.pow(10, e).toPrecision(12)));
    if (b - a <= 2 && e < b) for (const m of [2, 5]) ticks.push(Number((m * Math.pow(10, e)).toPrecision(12)));
  }
  ticks.sort((x, y) => x - y);
  [a, b] = [Math.pow(10, a), Math.pow(10, b)];
  return { lo: a, hi: b, ticks, log: true };
}

/** Grid lines and tick labels of a plot area (x ticks below it, y ticks left of it); px / py map values to pixels. */
export function gridAndTicks(
  xTicks: number[], yTicks: number[], px: (v: number) => number, py: (v: number) => number,
  box: { x0: number; x1: number; y0: number; y1: number },
): string[] {
  const { x0, x1, y0, y1 } = box;
  const out = ['<g stroke="#e6e6e6" stroke-width="1">'];
  for (const t of xTicks) out.push(`<line x1="${f2(px(t))}" y1="${y0}" x2="${f2(px(t))}" y2="${y1}"/>`);
  for (const t of yTicks) out.push(`<line x1="${x0}" y1="${f2(py(t))}" x2="${x1}" y2="${f2(py(t))}"/>`);
  out.push('</g>', `<g ${FONT} font-size="11" fill="#333333">`);
  for (const t of xTicks) out.push(`<text x="${f2(px(t))}" y="${y0 + 16}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  for (const t of yTicks) out.push(`<text x="${x0 - 6}" y="${f2(py(t) + 4)}" text-anchor="end">${escapeXml(formatTick(t))}</text>`);
  out.push('</g>');
  return out;
}

function project(ax: Axis, v: number, from: number, to: number): number {
  const t = ax.log ? (Math.log10(v) - Math.log10(ax.lo)) / (Math.log10(ax.hi) - Math.log10(ax.lo)) : (v - ax.lo) / (ax.hi - ax.lo);
  return from + t * (to - from);
}

/** Keep at most ~max points: per bucket of consecutive points, its lowest and highest. */
function thin(points: Point[], max: number): Point[] {
  if (points.length <= max) return points;
  const buckets = Math.floor(max / 2), out: Point[] = [];
  for (let b = 0; b < buckets; b++) {
    const i0 = Math.floor((b * points.length) / buckets), i1 = Math.floor(((b + 1) * points.length) / buckets);
    let lo = i0, hi = i0;
    for (let i = i0; i < i1; i++) {
      if (points[i]![1] < points[lo]![1]) lo = i;
      if (points[i]![1] > points[hi]![1]) hi = i;
    }
    for (const i of lo <= hi ? [lo, hi] : [hi, lo]) if (out[out.length - 1] !== points[i]) out.push(points[i]!);
  }
  return out;
}

/** An SVG document with one line per series, axes with ticks and labels, and a legend. */
export function lineChartSvg(o: LineChartOptions): string {
  const W = o.width ?? 800, H = o.height ?? 480;
  const usable = (s: ChartSeries): Point[] => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!(o.logY && (s.axis ?? 'left') === 'left') || y > 0));
  const series = o.series.map((s, i) => ({ ...s, axis: s.axis ?? 'left', color: s.color ?? PALETTE[i % PALETTE.length]!, pts: usable(s) }));
  const hasRight = o.y2Label !== undefined || series.some((s) => s.axis === 'right');
  const left = { x: 72 }, right = hasRight ? 72 : 24, top = 64, bottom = 56;
  const x0 = left.x, x1 = W - right, y0 = H - bottom, y1 = top;

  const xs = series.flatMap((s) => s.pts.map((p) => p[0]));
  const yl = series.filter((s) => s.axis === 'left').flatMap((s) => s.pts.map((p) => p[1]));
  const yr = series.filter((s) => s.axis === 'right').flatMap((s) => s.pts.map((p) => p[1]));
  const ax = linearAxis(xs);
  const ayl = o.logY ? logAxis(yl) : linearAxis(yl);
  const ayr = linearAxis(yr);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${x0}" y="24" ${FONT} font-size="16" font-weight="bold">${escapeXml(o.title)}</text>`);

  out.push(...gridAndTicks(ax.ticks, ayl.ticks, (t) => project(ax, t, x0, x1), (t) => project(ayl, t, y0, y1), { x0, x1, y0, y1 }));
  if (hasRight) {
    out.push(`<g ${FONT} font-size="11" fill="#333333">`);
    for (const t of ayr.ticks) out.push(`<text x="${x1 + 6}" y="${f2(project(ayr, t, y0, y1) + 4)}" text-anchor="start">${escapeXml(formatTick(t))}</text>`);
    out.push('</g>');
  }

  // axes and labels
  out.push(`<g stroke="#333333" stroke-width="1" fill="none"><line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/><line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}"/>${hasRight ? `<line x1="${x1}" y1="${y0}" x2="${x1}" y2="${y1}"/>` : ''}</g>`);
  out.push(`<g ${FONT} font-size="12" fill="#333333">`);
  out.push(`<text x="${f2((x0 + x1) / 2)}" y="${H - 14}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${f2((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel + (o.logY ? ' (log scale)' : ''))}</text>`);
  if (hasRight) out.push(`<text transform="translate(${W - 16} ${f2((y0 + y1) / 2)}) rotate(90)" text-anchor="middle">${escapeXml(o.y2Label ?? '')}</text>`);
  out.push('</g>');

  // the series, clipped to the plot area
  out.push(`<defs><clipPath id="plot-area"><rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}"/></clipPath></defs>`);
  out.push('<g clip-path="url(#plot-area)" fill="none">');
  for (const s of series) {
    const ay = s.axis === 'right' ? ayr : ayl;
    const pts = thin(s.pts, MAX_DRAWN_POINTS).map(([x, y]) => `${f2(project(ax, x, x0, x1))},${f2(project(ay, y, y0, y1))}`);
    const style = `stroke="${escapeXml(s.color)}" stroke-width="${s.strokeWidth ?? 1.5}" stroke-opacity="${s.opacity ?? 1}"${s.dashed ? ' stroke-dasharray="5 3"' : ''}`;
    if (pts.length > 1) out.push(`<polyline class="series" data-name="${escapeXml(s.name)}" ${style} stroke-linejoin="round" points="${pts.join(' ')}"/>`);
    if (s.markers || pts.length === 1) {
      for (const p of pts) {
        const [cx, cy] = p.split(',');
        out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${escapeXml(s.color)}" fill-opacity="${s.opacity ?? 1}"/>`);
      }
    }
  }
  out.push('</g>');

  // legend: one row under the title
  out.push(`<g ${FONT} font-size="12" fill="#333333">`);
  let lx = x0;
  for (const s of series) {
    if (s.hideInLegend) continue;
    const label = s.name + (s.axis === 'right' && !o.y2Label ? ' (right axis)' : '');
    out.push(`<line x1="${lx}" y1="42" x2="${lx + 18}" y2="42" stroke="${escapeXml(s.color)}" stroke-width="2.5" stroke-opacity="${Math.max(0.35, s.opacity ?? 1)}"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text x="${lx + 24}" y="46">${escapeXml(label)}</text>`);
    lx += 24 + 7 * label.length + 20;
  }
  if (series.every((s) => s.pts.length === 0)) out.push(`<text x="${f2((x0 + x1) / 2)}" y="${f2((y0 + y1) / 2)}" text-anchor="middle" fill="#999999">no data yet</text>`);
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// ---- training logs --------------------------------------------------------------------------

export interface TrainingLog {
  /** (iter, loss) of the training lines. */
  loss: Point[];
  /** (iter, PSNR dB) of the validation lines. */
  psnr: Point[];
  /** (iter, SSIM) of the validation lines that have it. */
  ssim: Point[];
}

/** The validation metrics of a line: {psnr, ssim} directly, or under one dataset name. */
function valMetrics(v: unknown): { psnr?: unknown; ssim?: unknown } | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if ('psnr' in o || 'ssim' in o) return o;
  const inner = Object.values(o).find((x) => typeof x === 'object' && x !== null && 'psnr' in x);
  return (inner as { psnr?: unknown; ssim?: unknown } | undefined) ?? null;
}

/**
 * Read a JSONL training log: lines like {"iter": 100, "loss": 0.03, "lr": 2e-4, "it_s": 7.1}
 * and {"iter": 1000, "val": {"psnr": 30.1, "ssim": 0.85}}; other lines are ignored. A last line
 * cut short (a run killed mid-write) is skipped; any other line that is not JSON is an error.
 */
export function parseTrainingLog(jsonl: string): TrainingLog {
  const lines = jsonl.split(/\r?\n/);
  let last = lines.length - 1;
  while (last >= 0 && lines[last]!.trim() === '') last--;
  const log: TrainingLog = { loss: [], psnr: [], ssim: [] };
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  for (let i = 0; i <= last; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      if (i === last) break;
      throw new Error(`mvsr: training log line ${i + 1} is not JSON: ${line.slice(0, 60)}`);
    }
    if (typeof o !== 'object' || o === null) continue;
    const r = o as Record<string, unknown>;
    if (!num(r.iter)) continue;
    if (num(r.loss)) log.loss.push([r.iter, r.loss]);
    const v = valMetrics(r.val);
    if (v && num(v.psnr)) log.psnr.push([r.iter, v.psnr]);
    if (v && num(v.ssim)) log.ssim.push([r.iter, v.ssim]);
  }
  return log;
}

/** TensorBoard-style smoothing: an exponential moving average corrected for its zero start. */
export function smoothSeries(points: readonly Point[], weight: number): Point[] {
  let avg = 0, w = 1;
  return points.map(([x, y]) => {
    avg = avg * weight + (1 - weight) * y;
    w *= weight;
    return [x, avg / (1 - w)] as Point;
  });
}

export interface TrainingPlotOptions {
  title?: string;
  /** Smoothing weight of the loss curve in [0, 1) (default 0.9). */
  smoothing?: number;
  width?: number;
  height?: number;
}

/** Loss (left, log scale; smoothed, raw faint) and validation PSNR (right) against iteration. */
export function plotTrainingLog(jsonlText: string, o: TrainingPlotOptions = {}): string {
  const log = parseTrainingLog(jsonlText);
  const w = o.smoothing ?? 0.9;
  if (!(w >= 0 && w < 1)) throw new Error(`mvsr: plotTrainingLog: smoothing must be in [0, 1), got ${w}`);
  const positive = log.loss.filter(([, y]) => y > 0);
  return lineChartSvg({
    title: o.title ?? 'Training',
    xLabel: 'iteration',
    yLabel: 'training loss',
    y2Label: 'validation PSNR (dB)',
    logY: true,
    width: o.width,
    height: o.height,
    series: [
      { name: 'loss (raw)', points: positive, color: PALETTE[0], opacity: 0.25, strokeWidth: 1 },
      { name: `loss (smoothed ${w})`, points: smoothSeries(positive, w), color: PALETTE[0], strokeWidth: 2 },
      { name: 'val PSNR', points: log.psnr, axis: 'right', color: PALETTE[1], strokeWidth: 2, markers: true },
    ],
  });
}
