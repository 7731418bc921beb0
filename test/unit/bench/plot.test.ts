// Unit: the Vega plot specs render headless to SVG: one line (path) per configuration, a log scale when values span far, a dot per tool and item.
import t from 'tap';
import { dotSpec, lineSpec, renderSvg, wantsLog, type LinePoint } from '../../../bench/plot.js';

/** The `<tag>` elements inside the SVG groups of the mark named `name`. */
function pathsOf(svg: string, name: string, tag = 'path'): number {
  let n = 0;
  const re = new RegExp(`<g class="mark-[a-z]+ role-mark ${name}"[^>]*>(.*?)</g>`, 'gs');
  for (const m of svg.matchAll(re)) n += (m[1].match(new RegExp(`<${tag}[ >]`, 'g')) ?? []).length;
  return n;
}

const pts = (series: string, k: number): LinePoint[] => [0, 10, 50].map((x) => ({ series, x, median: k * (1 + x / 10), min: k, max: k * (2 + x / 10) }));

t.test('a line plot has one path per configuration, and a dot per point', async (t) => {
  const svg = await renderSvg(lineSpec({ title: 'T', xTitle: 'N', yTitle: 'ms', points: [...pts('xl', 1000), ...pts('chaos', 300), ...pts('chaos-noxs', 100)] }));
  t.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.equal(pathsOf(svg, 'median-line'), 3);
  t.equal(pathsOf(svg, 'min-max-band'), 3);
  t.equal(pathsOf(svg, 'median-dot'), 9);
  for (const name of ['xl', 'chaos', 'chaos-noxs']) t.match(svg, new RegExp(`>${name}<`), `the legend names ${name}`);
  const two = await renderSvg(lineSpec({ title: 'T', xTitle: 'N', yTitle: 'ms', points: [...pts('xl', 1000), ...pts('chaos', 300)] }));
  t.equal(pathsOf(two, 'median-line'), 2);
});

t.test('log scale where it helps: values spanning more than 20x, none zero', async (t) => {
  t.ok(wantsLog([10, 1000]));
  t.notOk(wantsLog([10, 100]));
  t.notOk(wantsLog([0, 1000]), 'zero cannot sit on a log scale');
  t.notOk(wantsLog([]));
  const scaleType = (spec: ReturnType<typeof lineSpec>, name: string) => (spec.scales ?? []).find((s) => s.name === name)?.type;
  t.equal(scaleType(lineSpec({ title: '', xTitle: '', yTitle: '', points: [...pts('a', 10), ...pts('b', 5000)] }), 'y'), 'log');
  t.equal(scaleType(lineSpec({ title: '', xTitle: '', yTitle: '', points: pts('a', 10) }), 'y'), 'linear');
  t.match(await renderSvg(lineSpec({ title: '', xTitle: '', yTitle: 'ms', points: [...pts('a', 10), ...pts('b', 5000)] })), /\(log scale\)/);
});

t.test('a dot-and-whisker plot has a dot and a whisker per (item, tool)', async (t) => {
  const points = ['save', 'restore'].flatMap((item) => ['xl', 'chaos'].map((series, i) => ({ item, series, median: 100 + i, min: 90, max: 120 })));
  const svg = await renderSvg(dotSpec({ title: 'S', xTitle: 'ms', points: [...points, { item: 'migrate', series: 'chaos', median: 5, min: 4, max: 6 }] }));
  t.equal(pathsOf(svg, 'median-dot'), 5);
  t.equal(pathsOf(svg, 'min-max', 'line'), 5);
  t.match(svg, />migrate</);
});
