// The model report (`mvsr report`), browser-safe part: the leaderboard's data model, the bench
// JSON reader and the matching of a model to the benchmarked network with the same deploy graph,
// the crop window search, and the HTML, markdown and SVG renderers. Files, models and Chromium
// are in report.node.ts.
import { cropImage, type Image } from '../io/image.js';
import { rgbToY } from '../metrics/color.js';
import { createModel, getArch } from '../models/registry.js';
import { toGraph } from '../models/registry.js';
import { profileGraph } from '../graph/profile.js';
import { escapeXml, niceTicks, gridAndTicks } from './plot.js';
import { INT8_ENGINES, shippedWeights } from './infer.js';

/** The MAI 2021/2022 input (180x320 -> 720x1280 at x4): params/MACs and the ms columns use it. */
export const REPORT_INPUT = { setting: 'MAI', H: 180, W: 320 } as const;
/** The engine whose ms per frame is the scatter plot's x axis. */
export const PLOT_ENGINE = 'mvsr-2';
export const REPORT_SCALE = 4;

export type ModelSource = 'official' | 'mvsr' | 'weightless' | 'file';

export const SOURCE_LABELS: Record<ModelSource, string> = {
  official: 'official ETDS checkpoint',
  mvsr: 'trained by mvsr',
  weightless: 'weightless',
  file: 'weights file',
};

export interface Metric { psnr: number; ssim: number }

export interface ReportModel {
  /** Display name: the checkpoint's file stem, the shipped model's name, or the architecture. */
  name: string;
  /** What the user passed (a path, a shipped name, bicubic). */
  spec: string;
  source: ModelSource;
  /** e.g. "trained by mvsr, 70000 iterations". */
  sourceLabel: string;
  arch: string;
  deployArch: string;
  deployArgs: Record<string, unknown>;
  params: number;
  /** MACs of one 180x320 frame. */
  macs: number;
  set5: Metric;
  set14: Metric;
  /** The benchmarked network with this deploy graph, or null (cells "–"). */
  benchModel: string | null;
  /** Median ms per frame at the MAI setting, by engine id (null: no bench row). */
  ms: Record<string, number | null>;
  /** The model's crop PNG (a file name in the report folder) and its PSNR/SSIM-Y on the whole crop image. */
  crop: { file: string } & Metric;
}

export interface ReportCrop {
  /** Image name (file stem) and the set it came from ('' for a file given by path). */
  image: string;
  dataset: string;
  /** Top-left corner and edge of the window in HR pixels (of the HR image, as evaluated). */
  x: number;
  y: number;
  size: number;
  /** Pixels kept from every edge (the metrics' border). */
  margin: number;
  magnify: number;
  gt: string;
  bicubic: { file: string } & Metric;
}

export interface ReportBench {
  file: string;
  machine: string;
  /** Engine ids in column order and their descriptions. */
  engines: { id: string; label: string; threads: number }[];
  warmup: number | null;
  reps: number | null;
  /** The weights the bench ran, as "<network>: <models[].weights>" (empty for JSONs from before it said). */
  weights: string[];
}

export interface ReportData {
  scale: number;
  input: { setting: string; H: number; W: number };
  data: string;
  protocol: { testY: boolean; cropBorder: number; modCrop: number; lr: string };
  bench: ReportBench;
  /** Sorted by Set5 PSNR, best first. */
  models: ReportModel[];
  /** Bicubic on Set5: the plot's reference line. */
  bicubicSet5: Metric;
  crop: ReportCrop;
  /** Footnotes of the leaderboard, in order. */
  notes: string[];
}

// ---- official checkpoint names -------------------------------------------------------------

/** The scale argument of an architecture (`upscale`, or `scale` in ABPN). */
export { officialCheckpointSpec } from '../models/official.js';

// ---- the benchmark JSON ------------------------------------------------------------------------

export interface BenchRow { model: string; setting: string; engine: string; msMedian: number }
/** weights: which weights the bench ran (its models[].weights, e.g. "shipped etds-t-x4"; null in JSONs from before it said). */
export interface BenchModel { name: string; arch: string; args: Record<string, unknown>; macs: Record<string, number>; weights: string | null }
export interface BenchDoc { bench: ReportBench; models: BenchModel[]; rows: BenchRow[] }

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Read what `mvsr bench --json` wrote; any problem is one line naming the file. */
export function parseBenchJson(text: string, file: string): BenchDoc {
  const bad = (why: string): never => {
    throw new Error(`mvsr report: ${file}: cannot read the benchmark JSON: ${why}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return bad(`not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObj(doc) || !Array.isArray(doc.rows) || !Array.isArray(doc.models)) return bad('expected the object `mvsr bench --json` prints, with "models" and "rows"');
  const rows = doc.rows.map((r, i): BenchRow => {
    if (!isObj(r) || typeof r.model !== 'string' || typeof r.setting !== 'string' || typeof r.engine !== 'string' || typeof r.msMedian !== 'number') {
      return bad(`rows[${i}] lacks model, setting, engine or msMedian`);
    }
    return { model: r.model, setting: r.setting, engine: r.engine, msMedian: r.msMedian };
  });
  const models = doc.models.map((m, i): BenchModel => {
    if (!isObj(m) || typeof m.name !== 'string' || typeof m.arch !== 'string' || !isObj(m.args)) return bad(`models[${i}] lacks name, arch or args`);
    return { name: m.name, arch: m.arch, args: m.args, macs: isObj(m.macs) ? (m.macs as Record<string, number>) : {}, weights: typeof m.weights === 'string' ? m.weights : null };
  });
  const info = Array.isArray(doc.engines) ? doc.engines.filter(isObj) : [];
  // column order: the engines as the bench lists them, then any other engine of the rows
  const ids = [...new Set([...info.map((e) => e.id).filter((id): id is string => typeof id === 'string' && rows.some((r) => r.engine === id)), ...rows.map((r) => r.engine)])];
  const engines = ids.map((id) => {
    const e = info.find((x) => x.id === id);
    return { id, label: typeof e?.label === 'string' ? e.label : id, threads: typeof e?.threads === 'number' ? e.threads : 0 };
  });
  const mc = isObj(doc.machine) ? doc.machine : {};
  const machine = [mc.cpu, typeof mc.cores === 'number' ? `${mc.cores} cores` : null, typeof mc.node === 'string' ? `Node ${mc.node}` : null].filter((x) => typeof x === 'string').join(', ');
  const method = isObj(doc.method) ? doc.method : {};
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  const weights = models.filter((m) => m.weights !== null).map((m) => `${m.name}: ${m.weights}`);
  return { bench: { file, machine: machine || 'unknown machine', engines, warmup: num(method.warmup), reps: num(method.reps), weights }, models, rows };
}

// ---- matching a model to a benchmarked network -----------------------------------------------

/** A deploy graph's identity for timing: architecture, arguments and MACs at the MAI input. */
export interface DeployKey { arch: string; args: Record<string, unknown>; macs: number }

/** JSON with object keys sorted, so equal arguments compare equal whatever their order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

export function sameDeploy(a: DeployKey, b: DeployKey): boolean {
  return a.arch === b.arch && a.macs === b.macs && canonicalJson(a.args) === canonicalJson(b.args);
}

/** Deploy keys of the benchmarked networks (built with their default weights: only the shape counts). Needs the engine. */
export function benchDeployKeys(models: BenchModel[]): (DeployKey & { name: string })[] {
  return models.map((b) => {
    const m = createModel(b.arch, b.args);
    try {
      const g = toGraph(m);
      const macs = profileGraph(g, REPORT_INPUT.H, REPORT_INPUT.W).macs;
      // the bench counted its MACs the same way; a mismatch means the JSON is from another mvsr
      const stated = b.macs[REPORT_INPUT.setting];
      if (stated !== undefined && stated !== macs) throw new Error(`mvsr report: the benchmark JSON says ${b.name} has ${stated} MACs at ${REPORT_INPUT.H}x${REPORT_INPUT.W}, this mvsr counts ${macs}`);
      return { name: b.name, arch: g.meta.arch, args: g.meta.args, macs };
    } finally {
      m.dispose();
    }
  });
}

/** An int8 engine: its graph, and so its time, depends on the weights (the outlier split of the int8 graph). */
const weightBound = (engineId: string): boolean => INT8_ENGINES.includes(engineId);

/** Whether the bench ran these very weights: a shipped model's name against the bench's models[].weights. */
export function benchRanWeights(doc: BenchDoc, benchModel: string | null, shippedName: string | null): boolean {
  const m = benchModel === null ? undefined : doc.models.find((x) => x.name === benchModel);
  return !!m && shippedName !== null && m.weights === shippedWeights(shippedName);
}

/**
 * The MAI medians of the benchmarked network benchModel, per engine; null where it was not timed.
 * The float engines' times hold for any weights of the same deploy graph; the int8 engines' only
 * for the weights the bench ran (sameWeights), since the int8 graph depends on them.
 */
export function benchTimes(doc: BenchDoc, benchModel: string | null, sameWeights: boolean): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const e of doc.bench.engines) {
    const r = benchModel === null || (weightBound(e.id) && !sameWeights) ? undefined : doc.rows.find((x) => x.model === benchModel && x.setting === REPORT_INPUT.setting && x.engine === e.id);
    out[e.id] = r ? r.msMedian : null;
  }
  return out;
}

// ---- crops -------------------------------------------------------------------------------------

/**
 * The size x size window with the most gradient energy: the sum over the window of squared
 * forward differences of Y (BT.601, as the metrics), horizontal and vertical, counting only
 * pixel pairs inside the window. The window keeps `margin` pixels from every edge (the border
 * the metrics crop: some benchmark images have dark edge lines) and its corner is a multiple of
 * `align` (the scale: whole LR pixels); the first best window in raster order wins.
 */
export function maxGradientWindow(img: Image, size: number, align: number, margin = 0): { x: number; y: number; energy: number } {
  const { width: W, height: H } = img;
  const start = Math.ceil(margin / align) * align;
  if (start + size > W - margin || start + size > H - margin) throw new Error(`mvsr report: a ${size}x${size} crop ${margin} pixels from the edges does not fit in a ${W}x${H} image`);
  const Y = rgbToY(img);
  // prefix sums (W+1) x (H+1) of the horizontal and the vertical squared differences
  const sx = new Float64Array((W + 1) * (H + 1)), sy = new Float64Array((W + 1) * (H + 1));
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const dx = c + 1 < W ? Y[r * W + c + 1]! - Y[r * W + c]! : 0;
      const dy = r + 1 < H ? Y[(r + 1) * W + c]! - Y[r * W + c]! : 0;
      const i = (r + 1) * (W + 1) + c + 1;
      sx[i] = dx * dx + sx[i - 1]! + sx[i - W - 1]! - sx[i - W - 2]!;
      sy[i] = dy * dy + sy[i - 1]! + sy[i - W - 1]! - sy[i - W - 2]!;
    }
  }
  // sum of a prefix table over rows [r0, r1) and columns [c0, c1)
  const box = (s: Float64Array, r0: number, r1: number, c0: number, c1: number) =>
    s[r1 * (W + 1) + c1]! - s[r0 * (W + 1) + c1]! - s[r1 * (W + 1) + c0]! + s[r0 * (W + 1) + c0]!;
  let best = { x: start, y: start, energy: -1 };
  for (let y = start; y + size <= H - margin; y += align) {
    for (let x = start; x + size <= W - margin; x += align) {
      const e = box(sx, y, y + size, x, x + size - 1) + box(sy, y, y + size - 1, x, x + size);
      if (e > best.energy) best = { x, y, energy: e };
    }
  }
  return best;
}

/** Each pixel repeated k x k times (nearest neighbour), so the crop's pixels stay visible. */
export function magnifyNearest(img: Image, k: number): Image {
  const { width: W, height: H, channels: C } = img;
  const out = new Uint8Array(W * k * H * k * C);
  for (let r = 0; r < H * k; r++) {
    for (let c = 0; c < W * k; c++) {
      const s = (Math.floor(r / k) * W + Math.floor(c / k)) * C, d = (r * W * k + c) * C;
      for (let ch = 0; ch < C; ch++) out[d + ch] = img.data[s + ch]!;
    }
  }
  return { width: W * k, height: H * k, channels: C, bitDepth: 8, data: out };
}

/** The window of an image, magnified. */
export function zoomCrop(img: Image, c: { x: number; y: number; size: number; magnify: number }): Image {
  return magnifyNearest(cropImage(img, c.x, c.y, c.size, c.size), c.magnify);
}

/** A file-name-safe form of a model's name. */
export function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'model';
}

// ---- text --------------------------------------------------------------------------------------

const DASH = '–';
const fix = (v: number | null, d: number) => (v === null || !Number.isFinite(v) ? DASH : v.toFixed(d));

/** The leaderboard's footnotes, from the data. */
export function reportNotes(d: Omit<ReportData, 'notes'>): string[] {
  const p = d.protocol;
  const runs = d.bench.reps !== null ? `, median of ${d.bench.reps} timed runs after ${d.bench.warmup ?? '?'} warm-ups` : '';
  const notes = [
    `PSNR (dB) / SSIM on ${p.testY ? 'Y (BT.601)' : 'RGB'}, ${p.cropBorder}-pixel border cropped, HR mod-${p.modCrop}, LR: ${p.lr}, output rounded to uint8 (the ETDS paper's protocol; \`mvsr eval\`).`,
    `Params and MACs of the deploy graph (ECBSR → ECBSRT, ETDS → ETDSForInference) at a ${d.input.H}×${d.input.W} input, KAIR/NTIRE counting (\`mvsr profile\`).`,
    `ms per frame: ${d.bench.file} (${d.bench.machine}), ${d.input.setting} setting ${d.input.H}×${d.input.W} → ${d.input.H * d.scale}×${d.input.W * d.scale}${runs}. The float engines' times do not depend on the weights, so a model takes the times of the benchmarked network whose deploy graph has the same architecture and arguments ("timed as").`,
  ];
  const int8 = d.bench.engines.filter((e) => weightBound(e.id)).map((e) => e.id);
  if (int8.length) notes.push(`${int8.join(', ')}: the int8 graph depends on the weights (the outlier split of \`mvsr quantize\`), so these columns are filled only for the model whose weights the bench ran (its models[].weights: ${d.bench.weights.length ? d.bench.weights.join(', ') : 'none given'}).`);
  const untimed = d.models.filter((m) => m.benchModel === null).map((m) => m.name);
  if (untimed.length) notes.push(`${DASH}: no benchmarked network has the deploy graph of ${untimed.join(', ')}, so ${untimed.length === 1 ? 'it has' : 'they have'} no times.`);
  return notes;
}

/** The leaderboard as a markdown table with its footnotes. */
export function leaderboardMarkdown(d: ReportData): string {
  const eng = d.bench.engines.map((e) => e.id);
  const head = ['model', 'source', 'timed as', 'params (K)', 'MACs (G)', 'Set5 PSNR', 'Set5 SSIM', 'Set14 PSNR', 'Set14 SSIM', ...eng.map((e) => `${e} ms`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`];
  for (const m of d.models) {
    const cells = [m.name, m.sourceLabel, m.benchModel ?? DASH, fix(m.params / 1e3, 2), fix(m.macs / 1e9, 2),
      fix(m.set5.psnr, 3), fix(m.set5.ssim, 4), fix(m.set14.psnr, 3), fix(m.set14.ssim, 4), ...eng.map((e) => fix(m.ms[e] ?? null, 1))];
    lines.push(`| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  }
  lines.push('', ...d.notes.map((n, i) => `${i + 1}. ${n}`));
  return lines.join('\n') + '\n';
}

/** The crops in order (ground truth, bicubic, the models as ranked) with a title and a figure line. */
function cropCaptions(d: ReportData): { file: string; title: string; figures: string }[] {
  const m = (x: Metric) => `${x.psnr.toFixed(2)} dB / ${x.ssim.toFixed(4)}`;
  return [
    { file: d.crop.gt, title: 'ground truth', figures: `${d.crop.image} (${d.crop.x}, ${d.crop.y})` },
    { file: d.crop.bicubic.file, title: 'bicubic', figures: m(d.crop.bicubic) },
    ...d.models.filter((x) => x.crop.file !== d.crop.bicubic.file).map((x) => ({ file: x.crop.file, title: x.name, figures: m(x.crop) })),
  ];
}

function cropSentence(d: ReportData): string {
  const c = d.crop;
  return `${c.dataset ? `${c.dataset} ` : ''}${c.image}: the ${c.size}×${c.size} HR window at (${c.x}, ${c.y}) with the most gradient energy (outside the ${c.margin}-pixel border the metrics skip), magnified ×${c.magnify} with nearest neighbour. Under each model: PSNR-Y / SSIM-Y of the whole image.`;
}

/** The whole report as markdown (the plot and the crops are files beside it). */
export function reportMarkdown(d: ReportData, plotFile: string): string {
  const crops = cropCaptions(d);
  return [
    `# mvsr report: x${d.scale} models`,
    '',
    '## Leaderboard',
    '',
    leaderboardMarkdown(d).trimEnd(),
    '',
    `## Set5 PSNR vs. ms per frame (${PLOT_ENGINE})`,
    '',
    `![Set5 PSNR-Y against ms per frame on ${PLOT_ENGINE}](${plotFile})`,
    '',
    '## Crops',
    '',
    cropSentence(d),
    '',
    `| ${crops.map((c) => c.title).join(' | ')} |`,
    `|${crops.map(() => ':---:').join('|')}|`,
    `| ${crops.map((c) => `![${c.title}](${c.file})`).join(' | ')} |`,
    `| ${crops.map((c) => c.figures).join(' | ')} |`,
    '',
  ].join('\n');
}

const CSS = `
body { font-family: Helvetica, Arial, sans-serif; color: #222; margin: 20px; max-width: 1360px; font-size: 14px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 22px 0 8px; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { padding: 4px 7px; border-bottom: 1px solid #ddd; white-space: nowrap; }
th { background: #f3f3f3; font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.untimed td { color: #555; } .notes { font-size: 12px; color: #444; max-width: 1300px; padding-left: 20px; }
.crops { display: flex; flex-wrap: wrap; gap: 14px; } figure { margin: 0; } figcaption { font-size: 12px; text-align: center; margin-top: 4px; max-width: 192px; }
figure img { display: block; border: 1px solid #ccc; image-rendering: pixelated; }
`;

/** The report page: leaderboard, inline scatter plot, crops (PNG files beside the page). */
export function reportHtml(d: ReportData, svg: string): string {
  const e = escapeXml;
  const eng = d.bench.engines;
  const code = (s: string) => e(s).replace(/`([^`]+)`/g, '<code>$1</code>');
  const head1 = `<tr><th rowspan="2">model</th><th rowspan="2">source</th><th rowspan="2">timed as</th><th rowspan="2">params (K)</th><th rowspan="2">MACs (G)</th>`
    + `<th colspan="2">Set5</th><th colspan="2">Set14</th><th colspan="${eng.length}">ms per frame, ${e(d.input.setting)} ${d.input.H}×${d.input.W} → ${d.input.H * d.scale}×${d.input.W * d.scale}</th></tr>`;
  const head2 = `<tr><th>PSNR</th><th>SSIM</th><th>PSNR</th><th>SSIM</th>${eng.map((x) => `<th title="${e(x.label)}">${e(x.id)}</th>`).join('')}</tr>`;
  const rows = d.models.map((m) => `<tr${m.benchModel === null ? ' class="untimed"' : ''}><td>${e(m.name)}</td><td>${e(m.sourceLabel)}</td><td>${e(m.benchModel ?? DASH)}</td>`
    + `<td class="n">${fix(m.params / 1e3, 2)}</td><td class="n">${fix(m.macs / 1e9, 2)}</td>`
    + `<td class="n">${fix(m.set5.psnr, 3)}</td><td class="n">${fix(m.set5.ssim, 4)}</td><td class="n">${fix(m.set14.psnr, 3)}</td><td class="n">${fix(m.set14.ssim, 4)}</td>`
    + eng.map((x) => `<td class="n">${fix(m.ms[x.id] ?? null, 1)}</td>`).join('') + '</tr>');
  const figs = cropCaptions(d).map((c) => {
    const px = d.crop.size * d.crop.magnify;
    return `<figure><img src="${e(c.file)}" width="${px}" height="${px}" alt="${e(c.title)}"><figcaption><b>${e(c.title)}</b><br>${e(c.figures)}</figcaption></figure>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mvsr report: x${d.scale} models</title><style>${CSS}</style></head>
<body>
<h1>mvsr report: x${d.scale} models</h1>
<p>Quality on Set5 and Set14 from ${e(d.data)}; speed from ${e(d.bench.file)} (${e(d.bench.machine)}).</p>
<h2>Leaderboard</h2>
<table>
<thead>${head1}${head2}</thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
<ol class="notes">${d.notes.map((n) => `<li>${code(n)}</li>`).join('')}</ol>
<h2>Set5 PSNR vs. ms per frame (${PLOT_ENGINE})</h2>
${svg.trim()}
<h2>Crops</h2>
<p>${e(cropSentence(d))}</p>
<div class="crops">
${figs.join('\n')}
</div>
</body></html>
`;
}

// ---- the scatter plot --------------------------------------------------------------------------

const SOURCE_COLORS: Record<ModelSource, string> = { official: '#1f77b4', mvsr: '#d62728', file: '#2ca02c', weightless: '#7f7f7f' };
const FONT = 'font-family="Helvetica, Arial, sans-serif"';
const f2 = (v: number) => (Math.round(v * 100) / 100).toString();

/** Round-tick axis range over values, padded by a fraction of the span. */
function axisRange(values: number[], pad: number): { lo: number; hi: number; ticks: number[] } {
  let lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || Math.abs(hi) * 0.1 || 1;
  lo -= span * pad;
  hi += span * pad;
  const ticks = niceTicks(lo, hi, 6).filter((t) => t >= lo && t <= hi);
  return { lo, hi, ticks };
}

/**
 * Set5 PSNR-Y (y) against ms per frame on `engine` (x): one labelled point per model that has
 * both, coloured by source, and bicubic as a dashed horizontal line.
 */
export function psnrLatencySvg(d: ReportData, engine = PLOT_ENGINE, width = 1000, height = 520): string {
  const pts = d.models.filter((m) => typeof m.ms[engine] === 'number' && Number.isFinite(m.set5.psnr))
    .map((m) => ({ m, x: m.ms[engine] as number, y: m.set5.psnr }));
  const x0 = 70, x1 = width - 30, y0 = height - 52, y1 = 62;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`];
  const title = `Set5 PSNR-Y vs. median ms per frame, ${engine}, ${d.input.H}×${d.input.W} → ${d.input.H * d.scale}×${d.input.W * d.scale}`;
  out.push(`<text x="${x0}" y="22" ${FONT} font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  if (!pts.length) {
    out.push(`<text x="${f2((x0 + x1) / 2)}" y="${f2((y0 + y1) / 2)}" ${FONT} font-size="13" fill="#999999" text-anchor="middle">no model has both a Set5 PSNR and a time on ${escapeXml(engine)}</text></svg>`);
    return out.join('\n') + '\n';
  }
  const ax = axisRange(pts.map((p) => p.x), 0.12);
  const ay = axisRange([...pts.map((p) => p.y), d.bicubicSet5.psnr], 0.1);
  const px = (v: number) => x0 + ((v - ax.lo) / (ax.hi - ax.lo)) * (x1 - x0);
  const py = (v: number) => y0 - ((v - ay.lo) / (ay.hi - ay.lo)) * (y0 - y1);

  out.push(...gridAndTicks(ax.ticks, ay.ticks, px, py, { x0, x1, y0, y1 }));
  out.push(`<g stroke="#333333" stroke-width="1"><line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/><line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}"/></g>`);
  out.push(`<g ${FONT} font-size="12" fill="#333333"><text x="${f2((x0 + x1) / 2)}" y="${height - 14}" text-anchor="middle">median ms per frame (${escapeXml(engine)}, lower is faster)</text>`
    + `<text transform="translate(18 ${f2((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle">Set5 PSNR-Y (dB)</text></g>`);

  // bicubic: a dashed reference line across the plot
  const by = py(d.bicubicSet5.psnr);
  out.push(`<line class="reference" x1="${x0}" y1="${f2(by)}" x2="${x1}" y2="${f2(by)}" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${x1 - 4}" y="${f2(by - 6)}" ${FONT} font-size="12" fill="#555555" text-anchor="end">bicubic ${d.bicubicSet5.psnr.toFixed(2)} dB</text>`);

  // each label takes the first free spot beside its point (right, else left; then further down or
  // up), so that no label covers another label or a point
  const label = (p: (typeof pts)[number]) => `${p.m.name} (${p.y.toFixed(2)} dB, ${p.x.toFixed(1)} ms)`;
  const dots = pts.map((p) => ({ p, cx: px(p.x), cy: py(p.y) }));
  const boxes: { l: number; r: number; t: number; b: number }[] = dots.map((d) => ({ l: d.cx - 6, r: d.cx + 6, t: d.cy - 6, b: d.cy + 6 }));
  const hit = (q: { l: number; r: number; t: number; b: number }) => q.l < x0 || q.r > x1 || q.t < y1 || q.b > y0
    || boxes.some((o) => q.l < o.r && q.r > o.l && q.t < o.b && q.b > o.t);
  out.push(`<g ${FONT} font-size="12">`);
  for (const d of [...dots].sort((a, b) => a.cy - b.cy)) {
    const text = label(d.p), w = 6.7 * text.length;
    const sides = d.cx > x0 + 0.66 * (x1 - x0) ? [-1, 1] : [1, -1];
    let spot = { dir: sides[0]!, ly: d.cy + 4 };
    search: for (const dy of [0, 15, -15, 30, -30, 45, -45, 60, -60]) {
      for (const dir of sides) {
        const ly = d.cy + 4 + dy, l = dir > 0 ? d.cx + 10 : d.cx - 10 - w;
        const q = { l, r: l + w, t: ly - 11, b: ly + 3 };
        if (!hit(q)) {
          spot = { dir, ly };
          boxes.push(q);
          break search;
        }
      }
    }
    const color = SOURCE_COLORS[d.p.m.source];
    out.push(`<circle class="point" data-name="${escapeXml(d.p.m.name)}" cx="${f2(d.cx)}" cy="${f2(d.cy)}" r="5" fill="${color}"/>`);
    if (Math.abs(spot.ly - 4 - d.cy) > 2) out.push(`<line x1="${f2(d.cx + spot.dir * 5)}" y1="${f2(d.cy)}" x2="${f2(d.cx + spot.dir * 9)}" y2="${f2(spot.ly - 4)}" stroke="${color}" stroke-width="1"/>`);
    out.push(`<text x="${f2(d.cx + spot.dir * 10)}" y="${f2(spot.ly)}" fill="#222222"${spot.dir < 0 ? ' text-anchor="end"' : ''}>${escapeXml(text)}</text>`);
  }
  out.push('</g>');

  // legend: one row under the title, the sources present and the reference line
  const sources = [...new Set(pts.map((p) => p.m.source))];
  out.push(`<g ${FONT} font-size="12" fill="#333333">`);
  let lx = x0;
  for (const s of sources) {
    out.push(`<circle cx="${lx + 5}" cy="42" r="5" fill="${SOURCE_COLORS[s]}"/><text x="${lx + 14}" y="46">${escapeXml(SOURCE_LABELS[s])}</text>`);
    lx += 14 + 7 * SOURCE_LABELS[s].length + 18;
  }
  out.push(`<line x1="${lx}" y1="42" x2="${lx + 22}" y2="42" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="6 4"/><text x="${lx + 28}" y="46">bicubic (reference)</text>`);
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}
