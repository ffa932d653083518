// SVG charts: well-formed XML (checked by a small independent parser), every series drawn and
// named, all coordinates finite and inside the canvas, and no trouble with empty, one-point,
// truncated or odd logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineChartSvg, plotTrainingLog, parseTrainingLog, smoothSeries, niceTicks, formatTick } from '../src/bench/plot.js';

/** Throws unless `xml` is one well-formed element tree (tags nest, attributes quoted, text escaped). */
function checkWellFormed(xml: string): { root: string; elements: number } {
  const re = /<[^<>]*>/g;
  const stack: string[] = [];
  let last = 0, elements = 0, root = '';
  const escaped = (t: string, where: number) => {
    if (/[<>]/.test(t)) throw new Error(`raw < or > in text at ${where}`);
    const amp = t.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, '');
    if (amp.includes('&')) throw new Error(`unescaped & at ${where}: ${t.slice(0, 40)}`);
  };
  const text = (t: string, where: number) => {
    escaped(t, where);
    if (stack.length === 0 && t.trim()) throw new Error(`text outside the root at ${where}`);
  };
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    text(xml.slice(last, m.index), last);
    last = m.index + m[0].length;
    const tag = m[0];
    if (tag.startsWith('<?') || tag.startsWith('<!--')) continue;
    const close = /^<\/([A-Za-z][\w:.-]*)\s*>$/.exec(tag);
    if (close) {
      const open = stack.pop();
      if (open !== close[1]) throw new Error(`</${close[1]}> closes <${open}>`);
      continue;
    }
    const open = /^<([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*="[^"<]*")*)\s*(\/?)>$/.exec(tag);
    if (!open) throw new Error(`malformed tag: ${tag.slice(0, 80)}`);
    const names = [...open[2]!.matchAll(/([A-Za-z_:][\w:.-]*)=/g)].map((a) => a[1]);
    if (new Set(names).size !== names.length) throw new Error(`repeated attribute in ${tag.slice(0, 80)}`);
    for (const [, v] of open[2]!.matchAll(/="([^"]*)"/g)) escaped(v!, m.index);
    if (stack.length === 0) {
      if (root) throw new Error('more than one root element');
      root = open[1]!;
    }
    elements++;
    if (!open[3]) stack.push(open[1]!);
    else if (stack.length === 0) throw new Error('self-closing root');
  }
  text(xml.slice(last), last);
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
  return { root, elements };
}

/** Every number in coordinate attributes and point lists, checked finite and inside the canvas. */
function checkCoordinates(svg: string): number {
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/, 'no NaN, Infinity or undefined anywhere');
  const [, w, h] = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
  let n = 0;
  for (const [, attr, v] of svg.matchAll(/ (x|x1|x2|cx|y|y1|y2|cy)="([^"]*)"/g)) {
    const num = Number(v);
    assert.ok(Number.isFinite(num), `${attr}="${v}"`);
    const lim = attr!.startsWith('x') || attr === 'cx' ? w! : h!;
    assert.ok(num >= -1 && num <= lim + 1, `${attr}=${num} outside 0..${lim}`);
    n++;
  }
  for (const [, pts] of svg.matchAll(/points="([^"]*)"/g)) {
    for (const p of pts!.split(' ')) {
      const [x, y] = p.split(',').map(Number);
      assert.ok(x! >= -1 && x! <= w! + 1 && y! >= -1 && y! <= h! + 1, `point ${p}`);
      n++;
    }
  }
  return n;
}

const polylines = (svg: string) => [...svg.matchAll(/<polyline class="series" data-name="([^"]*)"[^>]*points="([^"]*)"/g)].map((m) => ({ name: m[1]!, n: m[2]!.split(' ').length }));

function sampleLog(steps: number): string {
  const lines: string[] = [];
  for (let i = 1; i <= steps; i++) {
    lines.push(JSON.stringify({ iter: i * 100, loss: 0.08 * Math.exp(-i / 40) + 0.02 + 0.005 * Math.sin(i), lr: 5e-4, it_s: 14.2 }));
    if (i % 10 === 0) lines.push(JSON.stringify({ iter: i * 100, val: { psnr: 27 + Math.log(i), ssim: 0.8 } }));
  }
  return lines.join('\n') + '\n';
}

test('a training log plots loss (log axis, smoothed and raw) and validation PSNR (right axis) as well-formed SVG', () => {
  const svg = plotTrainingLog(sampleLog(100), { title: 'ETDS <M5C16> & x4' });
  const { root, elements } = checkWellFormed(svg);
  assert.equal(root, 'svg');
  assert.ok(elements > 30);
  checkCoordinates(svg);
  assert.ok(svg.includes('ETDS &lt;M5C16&gt; &amp; x4'), 'the title is escaped');
  const lines = polylines(svg);
  assert.deepEqual(lines.map((l) => l.name), ['loss (raw)', 'loss (smoothed 0.9)', 'val PSNR']);
  assert.deepEqual(lines.map((l) => l.n), [100, 100, 10]);
  assert.match(svg, /training loss \(log scale\)/);
  assert.match(svg, /validation PSNR \(dB\)/);
  // the raw loss is faint, the smoothed one is not
  assert.match(svg, /data-name="loss \(raw\)"[^>]*stroke-opacity="0.25"/);
  assert.match(svg, /data-name="loss \(smoothed 0.9\)"[^>]*stroke-opacity="1"/);
  // log axis ticks are decades (and 2, 5 in between for a short span)
  assert.match(svg, />0\.1</);
  assert.match(svg, />0\.01</);
});

test('empty, one-point, validation-only and odd logs give valid charts without NaN', () => {
  const cases: [string, string, number][] = [
    ['empty', '', 0],
    ['blank lines', '\n\n  \n', 0],
    ['one loss point', '{"iter": 1, "loss": 0.5}\n', 0],
    ['one of each', '{"iter": 100, "loss": 0.03}\n{"iter": 100, "val": {"psnr": 30.1, "ssim": 0.85}}\n', 0],
    ['validation only', '{"iter": 1000, "val": {"psnr": 30.1}}\n{"iter": 2000, "val": {"psnr": 30.4}}\n', 1],
    ['zero, negative and null losses', '{"iter": 1, "loss": 0}\n{"iter": 2, "loss": -1}\n{"iter": 3, "loss": null}\n{"iter": 4, "loss": 0.2}\n', 0],
    ['all losses equal', '{"iter": 1, "loss": 0.2}\n{"iter": 2, "loss": 0.2}\n{"iter": 3, "loss": 0.2}\n', 2],
    ['same iteration twice', '{"iter": 5, "loss": 0.2}\n{"iter": 5, "loss": 0.1}\n', 2],
    ['truncated last line', '{"iter": 1, "loss": 0.2}\n{"iter": 2, "loss": 0.1}\n{"iter": 3, "lo', 2],
    ['metrics under a dataset name', '{"iter": 10, "val": {"Set5": {"psnr": 29.5, "ssim": 0.8}}}\n{"iter": 20, "val": {"Set5": {"psnr": 29.9}}}\n', 1],
  ];
  for (const [what, log, nLines] of cases) {
    const svg = plotTrainingLog(log);
    assert.doesNotThrow(() => checkWellFormed(svg), what);
    checkCoordinates(svg);
    assert.equal(polylines(svg).length, nLines, `${what}: drawn lines`);
    for (const name of ['loss (raw)', 'loss (smoothed 0.9)', 'val PSNR']) assert.ok(svg.includes(`>${name}</text>`), `${what}: legend has ${name}`);
  }
  // single points are drawn as dots
  assert.equal([...plotTrainingLog(cases[3]![1]).matchAll(/<circle /g)].length, 3);
  assert.match(plotTrainingLog(''), /no data yet/);
  assert.throws(() => plotTrainingLog('{"iter": 1, "loss": 0.2}\nnot json\n{"iter": 3, "loss": 0.1}\n'), /training log line 2 is not JSON: not json/);
  assert.deepEqual(parseTrainingLog('{"iter": 10, "val": {"Set5": {"psnr": 29.5, "ssim": 0.8}}}'), { loss: [], psnr: [[10, 29.5]], ssim: [[10, 0.8]] });
});

test('lineChartSvg: two axes, legend, thinning of long series, escaping', () => {
  const long = Array.from({ length: 50000 }, (_, i) => [i, Math.sin(i / 500) + (i === 31337 ? 5 : 0)] as [number, number]);
  const svg = lineChartSvg({
    title: 'a "quoted" title', xLabel: 'x', yLabel: 'left', y2Label: 'right',
    series: [
      { name: 'long & spiky', points: long },
      { name: 'right one', points: [[0, 10], [25000, 20], [49999, 15]], axis: 'right', dashed: true },
      { name: 'hidden', points: [[0, 0], [1, 1]], hideInLegend: true },
    ],
  });
  checkWellFormed(svg);
  checkCoordinates(svg);
  const lines = polylines(svg);
  assert.deepEqual(lines.map((l) => l.name), ['long &amp; spiky', 'right one', 'hidden']);
  assert.ok(lines[0]!.n <= 2000, `long series thinned to ${lines[0]!.n} points`);
  // thinning keeps the extremes: the spike is still the highest point drawn
  const ys = /data-name="long &amp; spiky"[^>]*points="([^"]*)"/.exec(svg)![1]!.split(' ').map((p) => Number(p.split(',')[1]));
  const top = Math.min(...ys);
  assert.ok(ys.filter((y) => y === top).length === 1, 'one spike at the top');
  assert.ok(svg.includes('a &quot;quoted&quot; title'));
  assert.ok(!svg.includes('>hidden</text>'), 'hidden series is not in the legend');
  assert.match(svg, /stroke-dasharray="5 3"/);
});

test('the well-formedness check itself rejects broken XML', () => {
  for (const bad of ['<svg><g></svg>', '<svg a=1></svg>', '<svg>a & b</svg>', '<svg></svg><svg></svg>', '<svg><g>', '<svg x="1" x="2"></svg>', '<svg>1 < 2</svg>']) {
    assert.throws(() => checkWellFormed(bad), Error, bad);
  }
  assert.deepEqual(checkWellFormed('<?xml version="1.0"?>\n<svg a="&amp;"><g/><text>&lt;ok&gt;</text></svg>\n'), { root: 'svg', elements: 3 });
});

test('ticks and smoothing', () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(27.3, 31.2), [28, 29, 30, 31]);
  assert.deepEqual(niceTicks(0, 150000), [0, 50000, 100000, 150000]);
  assert.deepEqual([150000, 2.5e6, 2e-4, 0.03, 31.5, 0].map(formatTick), ['150k', '2.5M', '2e-4', '0.03', '31.5', '0']);
  // debiased EMA: a constant stays constant; the first value is the first point
  assert.deepEqual(smoothSeries([[1, 2], [2, 2], [3, 2]], 0.9).map((p) => Number(p[1].toFixed(12))), [2, 2, 2]);
  const s = smoothSeries([[1, 1], [2, 0]], 0.5);
  assert.equal(s[0]![1], 1);
  assert.ok(Math.abs(s[1]![1] - (0.25 / 0.75)) < 1e-15);
});
