// The model report (`mvsr report`), Node part: resolves the models (official .pth checkpoints by
// their file names, mvsr .safetensors, shipped names, bicubic), evaluates them on Set5 and Set14
// with `evaluate` (the `mvsr eval` protocol), profiles their deploy graphs, takes their times from
// a `mvsr bench --json` file, cuts the zoomed crops and writes report.html, report.md, the plot
// and the crop PNGs; optionally screenshots the page with headless Chromium.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, renameSync, rmSync, mkdtempSync } from 'node:fs';
import { basename, extname, join, resolve, relative, isAbsolute, delimiter } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readImage, encodePng } from '../io/image.node.js';
import { listImages } from '../data/sources.node.js';
import type { Image } from '../io/image.js';
import { loadWeightsFile } from '../io/weights.node.js';
import { resolveModel, loadModelFile } from '../api/models.node.js';
import { findShippedModel, listShippedModels } from '../api/shipped.node.js';
import { evaluate, evalImage, makePair, type EvalResult } from '../eval/image.js';
import { createModel, getArch, listArchs, type SRModel } from '../models/registry.js';
import { toGraph } from '../models/registry.js';
import { profileGraph } from '../graph/profile.js';
import { makeDirs } from '../io/files.node.js';
import {
  REPORT_INPUT, REPORT_SCALE, SOURCE_LABELS, officialCheckpointSpec, parseBenchJson, benchDeployKeys, benchTimes, benchRanWeights, sameDeploy,
  maxGradientWindow, zoomCrop, slug, reportNotes, reportHtml, reportMarkdown, psnrLatencySvg,
  type ModelSource, type ReportData, type ReportModel, type DeployKey, type Metric,
} from './report.js';

export const CROP_SIZE = 48;
export const CROP_MAGNIFY = 4;
export const DEFAULT_CROP_IMAGE = 'baboon';
export const SCREENSHOT_WIDTH = 1400;
const WEIGHTLESS = new Set(['bicubic', 'matlab-bicubic']);

/** $MVSR_DATA, else ../shared/data from the working directory. */
export function defaultDataDir(): string {
  return resolve(process.env.MVSR_DATA ?? '../shared/data');
}

/** The committed benchmark of the development machine, at the package root. */
export function defaultBenchFile(): string {
  return fileURLToPath(new URL('../../../docs/bench/infer-intel-xeon-2c-2026-12-06.json', import.meta.url));
}

export interface ReportOptions {
  outDir: string;
  /** Shared data root with benchmarks/Set5, benchmarks/Set14 (and checkpoints/etds-official). */
  dataDir: string;
  /** A `mvsr bench --json` file. */
  benchFile: string;
  /** Weights files, shipped model names or bicubic (default: see defaultModelSpecs). */
  models?: string[];
  /** The crops' image: a name in Set14 or Set5, or a path (default baboon). */
  cropImage?: string;
  /** Render report.png with headless Chromium. */
  screenshot?: boolean;
  /** (done, total) evaluated images. */
  onProgress?: (done: number, total: number) => void;
}

export interface ReportResult {
  data: ReportData;
  outDir: string;
  files: { html: string; markdown: string; plot: string; crops: string[]; screenshot: string | null };
  screenshot: { width: number; height: number } | null;
}

const setDir = (dataDir: string, set: string) => join(dataDir, 'benchmarks', set);

async function checkData(dataDir: string): Promise<void> {
  const missing: string[] = [];
  for (const d of ['Set5', 'Set14'].map((s) => setDir(dataDir, s))) {
    if (!existsSync(d) || !statSync(d).isDirectory() || !(await listImages(d)).length) missing.push(d);
  }
  if (missing.length) throw new Error(`mvsr report: ${dataDir}: no benchmark images (${missing.map((m) => m.slice(dataDir.length + 1)).join(', ')} missing or empty): pass --data <shared data folder> or set MVSR_DATA`);
}

/** A path as the report shows it: relative to the working directory when it lies inside it. */
function shown(file: string): string {
  const r = relative(process.cwd(), resolve(file));
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : resolve(file);
}

function readBench(file: string) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`mvsr report: ${file}: cannot read the benchmark JSON: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (pass --bench <mvsr bench --json output>)' : (e as Error).message}`);
  }
  return parseBenchJson(text, shown(file));
}

/** The deploy graph's identity and cost at the MAI input (as `mvsr profile` counts). */
function deployKey(model: SRModel): DeployKey & { params: number } {
  const g = toGraph(model);
  const p = profileGraph(g, REPORT_INPUT.H, REPORT_INPUT.W);
  return { arch: g.meta.arch, args: g.meta.args, macs: p.macs, params: p.params };
}

// ---- models ----------------------------------------------------------------------------------

/** shipped: the shipped model's name when the spec named one. */
interface OpenedModel { spec: string; name: string; source: ModelSource; sourceLabel: string; model: SRModel; shipped?: string }

/** Where a .safetensors file's weights came from, from its metadata. */
function sourceOf(meta: Record<string, string>): { source: ModelSource; label: string } {
  if (meta.trained_by === 'mvsr') return { source: 'mvsr', label: `${SOURCE_LABELS.mvsr}${meta.iterations ? `, ${meta.iterations} iterations` : ''}` };
  if (meta.source && officialCheckpointSpec(meta.source)) return { source: 'official', label: `${SOURCE_LABELS.official} (converted)` };
  return { source: 'file', label: SOURCE_LABELS.file };
}

function reportError(e: unknown): Error {
  return new Error(`mvsr report: ${(e as Error).message.replace(/^mvsr: /, '')}`);
}

/** One model of the report from what the user typed; every problem is one `mvsr report:` line. */
export function openReportModel(spec: string): OpenedModel {
  const opened = ((): OpenedModel => {
    if (WEIGHTLESS.has(spec.toLowerCase()) && !existsSync(spec)) {
      const model = resolveModel(spec, { scale: REPORT_SCALE });
      return { spec, name: model.arch, source: 'weightless', sourceLabel: SOURCE_LABELS.weightless, model };
    }
    if (existsSync(spec)) {
      if (statSync(spec).isDirectory()) throw new Error(`mvsr report: ${spec}: a folder, not a model`);
      const name = basename(spec).replace(/\.(safetensors|pth|pt)$/i, '');
      if (/\.(pth|pt)$/i.test(spec)) {
        const off = officialCheckpointSpec(spec);
        if (!off) throw new Error(`mvsr report: ${spec}: cannot tell a .pth file's architecture from this name (official ones look like ETDS_M5C16_x4.pth): convert it with "mvsr convert-weights --arch <A>" first`);
        return { spec, name, source: 'official', sourceLabel: SOURCE_LABELS.official, model: loadModelFile(spec, off) };
      }
      const { source, label } = sourceOf(loadWeightsFile(spec).metadata);
      const shipped = listShippedModels().find((s) => resolve(s.file) === resolve(spec))?.name;
      return { spec, name, source, sourceLabel: label, model: loadModelFile(spec), ...(shipped ? { shipped } : {}) };
    }
    const shipped = findShippedModel(spec, REPORT_SCALE);
    if (shipped) {
      const { source, label } = sourceOf(shipped.metadata);
      return { spec, name: shipped.name, source, sourceLabel: label, model: loadModelFile(shipped.file), shipped: shipped.name };
    }
    throw new Error(`mvsr report: unknown model "${spec}": give a weights file (.safetensors, or an official .pth such as ETDS_M5C16_x4.pth), a shipped model (${listShippedModels().map((m) => m.name).join(', ') || 'none ship yet'}) or bicubic`);
  })();
  if (opened.model.scale !== REPORT_SCALE) {
    opened.model.dispose();
    throw new Error(`mvsr report: ${spec} upscales x${opened.model.scale}; the report compares x${REPORT_SCALE} models`);
  }
  return opened;
}

/**
 * The default models: bicubic, every official x4 checkpoint under <data>/checkpoints/etds-official
 * whose deploy graph is one the bench timed, and every shipped x4 image model.
 */
export function defaultModelSpecs(dataDir: string, timed: DeployKey[]): string[] {
  const specs = ['bicubic'];
  const zoo = join(dataDir, 'checkpoints', 'etds-official');
  if (existsSync(zoo)) {
    for (const fam of readdirSync(zoo).sort()) {
      const dir = join(zoo, fam);
      if (!statSync(dir).isDirectory()) continue;
      for (const f of readdirSync(dir).sort()) {
        const off = officialCheckpointSpec(f);
        if (!off || !/\.pth$/i.test(f) || !f.includes(`_x${REPORT_SCALE}.`)) continue;
        const m = createModel(off.arch, off.args);
        try {
          const key = deployKey(m);
          if (timed.some((t) => sameDeploy(t, key))) specs.push(join(dir, f));
        } finally {
          m.dispose();
        }
      }
    }
  }
  for (const s of listShippedModels()) {
    const kind = listArchs().includes(s.arch) ? getArch(s.arch).kind : null;
    if (s.scale === REPORT_SCALE && kind === 'image') specs.push(s.name);
  }
  return specs;
}

/** An image of Set14 or Set5 by name (with or without extension), or a path. */
export async function findCropImage(dataDir: string, name: string): Promise<{ file: string; image: string; dataset: string }> {
  if (existsSync(name) && statSync(name).isFile()) return { file: name, image: basename(name, extname(name)), dataset: '' };
  const want = name.toLowerCase().replace(/\.(png|jpe?g|webp)$/, '');
  const names: string[] = [];
  for (const set of ['Set14', 'Set5']) {
    for (const f of await listImages(setDir(dataDir, set))) {
      const stem = basename(f, extname(f));
      names.push(stem);
      if (stem.toLowerCase() === want) return { file: f, image: stem, dataset: set };
    }
  }
  throw new Error(`mvsr report: --crop-image "${name}": no such image in Set14 or Set5 (have: ${names.join(', ')})`);
}

// ---- the report -------------------------------------------------------------------------------

/** Atomic write: a reader never sees half a file. */
function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** Measure, compute, write. The engine must be initialised (initEngine) first. */
export async function buildReport(o: ReportOptions): Promise<ReportResult> {
  await checkData(o.dataDir);
  const bench = readBench(o.benchFile);
  const chromium = o.screenshot ? requireChromium() : null;
  const timed = benchDeployKeys(bench.models);
  const crop = await findCropImage(o.dataDir, o.cropImage ?? DEFAULT_CROP_IMAGE);
  const specs = o.models ?? defaultModelSpecs(o.dataDir, timed);
  if (!specs.length) throw new Error('mvsr report: --models is empty');

  const opened: OpenedModel[] = [];
  try {
    for (const s of specs) {
      try {
        opened.push(openReportModel(s));
      } catch (e) {
        throw (e as Error).message.startsWith('mvsr report:') ? e : reportError(e);
      }
    }
    const hasBicubic = opened.some((m) => m.model.arch === 'Bicubic');
    if (!hasBicubic) opened.push({ ...openReportModel('bicubic'), spec: '' }); // the reference only: not a leaderboard row

    // decoded once: every model sees the same images, as `mvsr eval` reads them
    const cache = new Map<string, Promise<Image>>();
    const load = (f: string) => {
      if (!cache.has(f)) cache.set(f, readImage(f));
      return cache.get(f)!;
    };
    const sets = { set5: await listImages(setDir(o.dataDir, 'Set5')), set14: await listImages(setDir(o.dataDir, 'Set14')) };
    const items = (files: string[]) => files.map((f) => ({ name: basename(f), image: () => load(f) }));
    const cropHrIn = await load(crop.file);
    const cropHr = makePair(cropHrIn, REPORT_SCALE).hr;
    const win = { ...maxGradientWindow(cropHr, CROP_SIZE, REPORT_SCALE, REPORT_SCALE), size: CROP_SIZE, margin: REPORT_SCALE, magnify: CROP_MAGNIFY };

    const perModel = sets.set5.length + sets.set14.length + 1;
    const total = opened.reduce((a, m) => a + (m.spec ? perModel : sets.set5.length + 1), 0);
    let done = 0;
    const tick = () => o.onProgress?.(++done, total);
    const evalOpts = (m: SRModel) => ({ scale: m.scale, testY: true });
    const metric = (r: EvalResult | Metric): Metric => ({ psnr: r.psnr, ssim: r.ssim });

    makeDirs(o.outDir);
    const rows: ReportModel[] = [];
    const cropFiles: string[] = [];
    const used = new Set<string>(['crop-gt.png']);
    let protocol: ReportData['protocol'] | null = null;
    let bicubicSet5: Metric | null = null;
    let bicubicCrop: ({ file: string } & Metric) | null = null;
    const writeCrop = async (file: string, img: Image) => {
      writeAtomic(join(o.outDir, file), encodePng(zoomCrop(img, win)));
      cropFiles.push(file);
    };
    for (const m of opened) {
      const isBicubic = m.model.arch === 'Bicubic';
      let file = isBicubic ? 'crop-bicubic.png' : `crop-${slug(m.name)}.png`;
      for (let k = 2; used.has(file); k++) file = `crop-${slug(m.name)}-${k}.png`;
      used.add(file);
      const set5 = await evaluate(m.model, items(sets.set5), evalOpts(m.model), tick);
      const { testY, cropBorder, modCrop, lr } = set5.protocol; // evaluate's, as `mvsr eval` reports it
      protocol = { testY, cropBorder, modCrop, lr };
      const c = await evalImage(m.model, cropHrIn, evalOpts(m.model));
      tick();
      await writeCrop(file, c.sr);
      if (isBicubic && !bicubicSet5) {
        bicubicSet5 = metric(set5);
        bicubicCrop = { file, ...metric(c) };
      }
      if (!m.spec) continue;
      const set14 = await evaluate(m.model, items(sets.set14), evalOpts(m.model), tick);
      const key = deployKey(m.model);
      const match = timed.find((t) => sameDeploy(t, key));
      rows.push({
        name: m.name, spec: m.spec, source: m.source, sourceLabel: m.sourceLabel, arch: m.model.arch, deployArch: key.arch, deployArgs: key.args,
        params: key.params, macs: key.macs, set5: metric(set5), set14: metric(set14),
        benchModel: match?.name ?? null, ms: benchTimes(bench, match?.name ?? null, benchRanWeights(bench, match?.name ?? null, m.shipped ?? null)), crop: { file, ...metric(c) },
      });
    }
    writeAtomic(join(o.outDir, 'crop-gt.png'), encodePng(zoomCrop(cropHr, win)));
    cropFiles.unshift('crop-gt.png');

    rows.sort((a, b) => b.set5.psnr - a.set5.psnr);
    const partial: Omit<ReportData, 'notes'> = {
      scale: REPORT_SCALE, input: { ...REPORT_INPUT }, data: shown(o.dataDir), protocol: protocol!, bench: bench.bench, models: rows, bicubicSet5: bicubicSet5!,
      crop: { image: crop.image, dataset: crop.dataset, x: win.x, y: win.y, size: win.size, margin: win.margin, magnify: win.magnify, gt: 'crop-gt.png', bicubic: bicubicCrop! },
    };
    const data: ReportData = { ...partial, notes: reportNotes(partial) };
    const svg = psnrLatencySvg(data);
    const files = { html: join(o.outDir, 'report.html'), markdown: join(o.outDir, 'report.md'), plot: join(o.outDir, 'psnr-vs-latency.svg'), crops: cropFiles.map((f) => join(o.outDir, f)), screenshot: null as string | null };
    writeAtomic(files.plot, svg);
    writeAtomic(files.markdown, reportMarkdown(data, basename(files.plot)));
    writeAtomic(files.html, reportHtml(data, svg));
    let shot: ReportResult['screenshot'] = null;
    if (chromium) {
      files.screenshot = join(o.outDir, 'report.png');
      shot = screenshotPage(chromium, files.html, files.screenshot);
    }
    return { data, outDir: o.outDir, files, screenshot: shot };
  } finally {
    for (const m of opened) m.model.dispose();
  }
}

// ---- Chromium --------------------------------------------------------------------------------

const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** $MVSR_CHROMIUM, else the first Chromium on PATH; null when there is none. */
export function findChromium(): string | null {
  const env = process.env.MVSR_CHROMIUM;
  if (env) return existsSync(env) ? env : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const n of CHROMIUM_NAMES) if (existsSync(join(dir, n))) return join(dir, n);
  }
  return null;
}

function requireChromium(): string {
  const c = findChromium();
  if (!c) {
    const env = process.env.MVSR_CHROMIUM;
    throw new Error(`mvsr report: --screenshot needs Chromium and ${env ? `MVSR_CHROMIUM=${env} does not exist` : `none is on PATH (${CHROMIUM_NAMES.join(', ')})`}: install it (apt-get install -y chromium) or set MVSR_CHROMIUM`);
  }
  return c;
}

/** Run headless Chromium on a page; its noise on stderr is only shown when it fails. */
function runChromium(chromium: string, args: string[], page: string): string {
  const profile = mkdtempSync(join(tmpdir(), 'mvsr-chromium-'));
  try {
    const r = spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--force-device-scale-factor=1', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, ...args, pathToFileURL(page).href],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
    if (r.error || r.status !== 0) {
      const why = r.error?.message ?? (r.stderr.split('\n').filter((l) => l.trim() && !/dbus|unexpected operator/i.test(l)).pop() ?? `exit code ${r.status}`);
      throw new Error(`mvsr report: Chromium (${chromium}) could not render ${page}: ${why}`);
    }
    return r.stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/**
 * A PNG of the whole page at `width` CSS pixels: one run measures the page's height (a copy
 * of the page, beside it so relative image paths resolve, records scrollHeight in the DOM),
 * a second captures a window exactly that tall.
 */
export function screenshotPage(chromium: string, htmlFile: string, pngFile: string, width = SCREENSHOT_WIDTH): { width: number; height: number } {
  const probe = join(resolve(htmlFile, '..'), `.measure-${process.pid}.html`);
  const script = '<script>document.documentElement.setAttribute("data-mvsr-height", String(Math.ceil(document.documentElement.scrollHeight)))</script>';
  writeFileSync(probe, readFileSync(htmlFile, 'utf8').replace(/<\/body>/i, `${script}</body>`));
  let height: number;
  try {
    const dom = runChromium(chromium, [`--window-size=${width},800`, '--dump-dom'], probe);
    const m = /data-mvsr-height="(\d+)"/.exec(dom);
    if (!m) throw new Error(`mvsr report: Chromium (${chromium}) did not report the height of ${htmlFile}`);
    height = Math.max(200, Math.min(16384, Number(m[1])));
  } finally {
    rmSync(probe, { force: true });
  }
  const tmp = `${pngFile}.tmp-${process.pid}.png`;
  try {
    runChromium(chromium, [`--window-size=${width},${height}`, `--screenshot=${tmp}`], resolve(htmlFile));
    if (!existsSync(tmp)) throw new Error(`mvsr report: Chromium (${chromium}) wrote no screenshot of ${htmlFile}`);
    renameSync(tmp, pngFile);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { width, height };
}
