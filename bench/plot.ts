// Plot specs (Vega) for the benchmark doc, and their rendering to SVG headless: lines with a min–max band, and dot-and-whisker charts.
import * as vega from 'vega';

/** One point of a line: the median of several samples at x, with their min and max. */
export interface LinePoint { series: string; x: number; median: number; min: number; max: number }
/** One dot of a dot-and-whisker chart: `series` (e.g. a tool) measured for `item` (e.g. a metric). */
export interface DotPoint { item: string; series: string; median: number; min: number; max: number }

const WIDTH = 560;
const FONT = 'sans-serif';

/** A log scale helps when the values span more than `span` times (and none is zero or less). */
export function wantsLog(values: readonly number[], span = 20): boolean {
  const v = values.filter(Number.isFinite);
  if (v.length === 0 || v.some((x) => x <= 0)) return false;
  return Math.max(...v) / Math.min(...v) > span;
}

/** A scale over the points' min and max: log (no zero) or linear from zero. */
function valueScale(name: string, log: boolean, range: 'width' | 'height'): vega.Scale {
  const domain = { data: 'points', fields: ['min', 'max'] };
  return log ? { name, type: 'log', domain, range, padding: 14 } : { name, type: 'linear', domain, range, nice: true, zero: true };
}

const legend = (title: string): vega.Legend => ({ stroke: 'color', fill: 'color', title, orient: 'bottom', direction: 'horizontal', labelFont: FONT, titleFont: FONT, labelLimit: 400 });

/**
 * Lines of medians against x, one per series (a `path` each, in the mark named "median-line"), with
 * min–max as a translucent band and a dot per point.
 */
export function lineSpec(p: { title: string; xTitle: string; yTitle: string; points: readonly LinePoint[]; logY?: boolean; seriesTitle?: string }): vega.Spec {
  const logY = p.logY ?? wantsLog(p.points.flatMap((x) => [x.min, x.max]));
  const series = [...new Set(p.points.map((x) => x.series))];
  return {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width: WIDTH, height: 300, padding: 8, background: 'white',
    title: { text: p.title, font: FONT },
    data: [{ name: 'points', values: p.points.map((x) => ({ ...x })) }],
    scales: [
      { name: 'x', type: 'linear', domain: { data: 'points', field: 'x' }, range: 'width', nice: true, zero: true },
      valueScale('y', logY, 'height'),
      { name: 'color', type: 'ordinal', domain: series, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: p.xTitle, grid: true, tickMinStep: 1, format: 'd', labelFont: FONT, titleFont: FONT },
      { orient: 'left', scale: 'y', title: p.yTitle + (logY ? ' (log scale)' : ''), grid: true, labelFont: FONT, titleFont: FONT },
    ],
    legends: [legend(p.seriesTitle ?? 'configuration')],
    marks: [{
      type: 'group',
      name: 'series',
      from: { facet: { name: 'one', data: 'points', groupby: 'series' } },
      marks: [
        {
          type: 'area', name: 'min-max-band', from: { data: 'one' }, sort: { field: 'datum.x' },
          encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'min' }, y2: { scale: 'y', field: 'max' }, fill: { scale: 'color', field: 'series' }, fillOpacity: { value: 0.15 } } },
        },
        {
          type: 'line', name: 'median-line', from: { data: 'one' }, sort: { field: 'datum.x' },
          encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'median' }, stroke: { scale: 'color', field: 'series' }, strokeWidth: { value: 2 } } },
        },
        {
          type: 'symbol', name: 'median-dot', from: { data: 'one' },
          encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'median' }, fill: { scale: 'color', field: 'series' }, size: { value: 30 } } },
        },
      ],
    }],
  };
}

/** Medians as dots with a min–max whisker, one row per item, series side by side within a row. */
export function dotSpec(p: { title: string; xTitle: string; points: readonly DotPoint[]; logX?: boolean; seriesTitle?: string }): vega.Spec {
  const logX = p.logX ?? wantsLog(p.points.flatMap((x) => [x.min, x.max]));
  const items = [...new Set(p.points.map((x) => x.item))];
  const series = [...new Set(p.points.map((x) => x.series))];
  const rowHeight = Math.max(24, series.length * 14);
  return {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width: WIDTH, height: items.length * rowHeight, padding: 8, background: 'white',
    title: { text: p.title, font: FONT },
    data: [{ name: 'points', values: p.points.map((x) => ({ ...x })) }],
    scales: [
      valueScale('x', logX, 'width'),
      { name: 'row', type: 'band', domain: items, range: 'height', padding: 0.2 },
      { name: 'color', type: 'ordinal', domain: series, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: p.xTitle + (logX ? ' (log scale)' : ''), grid: true, labelFont: FONT, titleFont: FONT },
      { orient: 'left', scale: 'row', labelFont: FONT, labelLimit: 260 },
    ],
    legends: series.length > 1 ? [legend(p.seriesTitle ?? 'tool')] : [],
    marks: [{
      type: 'group',
      from: { facet: { name: 'row-points', data: 'points', groupby: 'item' } },
      encode: { enter: { y: { scale: 'row', field: 'item' }, height: { scale: 'row', band: 1 }, width: { signal: 'width' } } },
      signals: [{ name: 'rowHeight', update: 'bandwidth("row")' }],
      scales: [{ name: 'offset', type: 'band', domain: series, range: [0, { signal: 'rowHeight' }], padding: 0.3 }],
      marks: [
        {
          type: 'rule', name: 'min-max', from: { data: 'row-points' },
          encode: { enter: { x: { scale: 'x', field: 'min' }, x2: { scale: 'x', field: 'max' }, y: { scale: 'offset', field: 'series', band: 0.5 }, stroke: { scale: 'color', field: 'series' }, strokeWidth: { value: 1.5 } } },
        },
        {
          type: 'symbol', name: 'median-dot', from: { data: 'row-points' },
          encode: { enter: { x: { scale: 'x', field: 'median' }, y: { scale: 'offset', field: 'series', band: 0.5 }, fill: { scale: 'color', field: 'series' }, size: { value: 50 } } },
        },
      ],
    }],
  };
}

/** Renders a spec to SVG without a browser or a canvas (text widths are estimated). */
export async function renderSvg(spec: vega.Spec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
