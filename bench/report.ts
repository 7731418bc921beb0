// Regenerates docs/benchmarks.md and docs/plots/*.svg from recorded results: the headline figure, a section per scenario, tables with ratios.
import fs from 'node:fs';
import path from 'node:path';
import type * as vega from 'vega';
import { readRunInfo, readSamples, runDirs, summarize, type HostProps, type Sample } from './record.js';
import { dotSpec, lineSpec, renderSvg, type DotPoint, type LinePoint } from './plot.js';

export interface ScenarioResult { file: string; files: string[]; samples: Sample[]; description?: string }

const toolOf = (x: Sample) => String(x.parameters.tool ?? '');

/**
 * Each scenario's newest samples: per tool, the newest run that measured it (a run may compare
 * only some tools). `files` lists the runs used, newest first. `resultsDir` is a folder of runs
 * (bench/results) or a single run.
 */
export function latestResults(resultsDir: string): Map<string, ScenarioResult> {
  const out = new Map<string, ScenarioResult & { tools: Set<string> }>();
  for (const run of runDirs(resultsDir)) {
    const info = readRunInfo(run);
    for (const f of fs.readdirSync(run).filter((f) => f.endsWith('.jsonl')).sort()) {
      const scenario = f.slice(0, -'.jsonl'.length);
      const file = path.join(run, f);
      const samples = readSamples(file);
      const entry = out.get(scenario);
      if (!entry) {
        out.set(scenario, { file, files: [file], samples, tools: new Set(samples.map(toolOf)), description: info?.scenarios[scenario]?.description });
        continue;
      }
      const older = samples.filter((x) => !entry.tools.has(toolOf(x)));
      if (older.length === 0) continue;
      entry.samples.push(...older);
      entry.files.push(file);
      entry.description ??= info?.scenarios[scenario]?.description;
      for (const x of older) entry.tools.add(toolOf(x));
    }
  }
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(3));
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

/** A table per metric: one row per number of running guests. */
export function runningTable(samples: readonly Sample[], metric: string): string {
  const rows = new Map<number, number[]>();
  for (const s of samples.filter((x) => x.metric === metric)) {
    const n = Number(s.parameters.running);
    rows.set(n, [...(rows.get(n) ?? []), s.value]);
  }
  const unit = samples.find((x) => x.metric === metric)?.unit ?? '';
  const base = rows.get(Math.min(...rows.keys()));
  const lines = [`| running guests | median (${unit}) | min | max | samples | vs N=${Math.min(...rows.keys())} |`, '|---:|---:|---:|---:|---:|---:|'];
  for (const n of [...rows.keys()].sort((a, b) => a - b)) {
    const s = summarize(rows.get(n)!);
    lines.push(`| ${n} | ${fmt(s.median)} | ${fmt(s.min)} | ${fmt(s.max)} | ${s.n} | ${base ? ratio(s.median, summarize(base).median) : '–'} |`);
  }
  return lines.join('\n');
}

/** The stock tools lightvm's parts are measured against, in order of preference: xl, and Xen's vif-bridge hotplug script (against xendevd). */
const BASELINES = ['xl', 'vif-bridge'];
/** The baseline among the tools a table shows, if any: ratios read "baseline ÷ tool" (how many times faster than stock). */
export const baselineOf = (tools: readonly string[]): string | undefined => BASELINES.find((b) => tools.includes(b));

/** Medians per tool side by side, with how many times faster each tool is than the baseline (xl) at the same N. */
export function comparisonTable(samples: readonly Sample[], metric: string, label: (tool: string) => string = (t) => t, ratioOk: (tool: string) => boolean = () => true): string {
  const ofMetric = samples.filter((x) => x.metric === metric);
  const tools = [...new Set(ofMetric.map(toolOf))];
  const ns = [...new Set(ofMetric.map((x) => Number(x.parameters.running)))].sort((a, b) => a - b);
  const med = (tool: string, n: number) => {
    const v = ofMetric.filter((x) => toolOf(x) === tool && Number(x.parameters.running) === n).map((x) => x.value);
    return v.length ? summarize(v) : undefined;
  };
  const base = baselineOf(tools), others = tools.filter((x) => x !== base);
  const unit = ofMetric[0]?.unit ?? '';
  const head = ['running guests', ...tools.map((x) => `${label(x)} median (${unit}) [min–max]`), ...(base ? others.map((x) => `${label(base)} ÷ ${label(x)}`) : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---:').join('|')}|`];
  for (const n of ns) {
    const cells = tools.map((x) => { const s = med(x, n); return s ? `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]` : '–'; });
    const b = base && med(base, n);
    const ratios = base ? others.map((x) => { const s = med(x, n); return s && b && ratioOk(x) ? ratio(b.median, s.median) : '–'; }) : [];
    lines.push(`| ${[String(n), ...cells, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** One row per metric, for scenarios without a number of running guests; tools side by side when there are several. */
export function metricTable(samples: readonly Sample[]): string {
  const tools = [...new Set(samples.map((x) => x.parameters.tool).filter((x) => x !== undefined).map(String))];
  if (tools.length > 1) return toolMetricTable(samples, tools);
  const lines = ['| what | median | min | max | samples |', '|---|---:|---:|---:|---:|'];
  for (const metric of [...new Set(samples.map((x) => x.metric))]) {
    const ofMetric = samples.filter((x) => x.metric === metric);
    const s = summarize(ofMetric.map((x) => x.value));
    lines.push(`| ${metric} | ${fmt(s.median)} ${ofMetric[0].unit} | ${fmt(s.min)} | ${fmt(s.max)} | ${s.n} |`);
  }
  return lines.join('\n');
}

/** Metrics in rows, tools in columns (a metric one tool lacks shows "–"), and the baseline ÷ each other tool. */
function toolMetricTable(samples: readonly Sample[], tools: string[]): string {
  const base = baselineOf(tools), others = tools.filter((x) => x !== base);
  const head = ['what', ...tools.map((x) => `${x} median [min–max]`), ...(base ? others.map((x) => `${base} ÷ ${x}`) : [])];
  const lines = [`| ${head.join(' | ')} |`, `|---|${head.slice(1).map(() => '---:').join('|')}|`];
  // A scenario that measures several guests (parameters.guest) gets a row per guest and metric: a
  // median or ratio never mixes two guests.
  const guestOf = (x: Sample) => (x.parameters.guest === undefined ? '' : String(x.parameters.guest));
  const guests = [...new Set(samples.map(guestOf))];
  const rows = [...new Map(samples.map((x) => [`${guestOf(x)}\0${x.metric}`, { guest: guestOf(x), metric: x.metric }])).values()];
  for (const { guest, metric } of rows) {
    const of = (tool: string) => {
      const v = samples.filter((x) => x.metric === metric && guestOf(x) === guest && toolOf(x) === tool).map((x) => x.value);
      return v.length ? summarize(v) : undefined;
    };
    const unit = samples.find((x) => x.metric === metric)?.unit ?? '';
    const cells = tools.map((x) => { const m = of(x); return m ? `${fmt(m.median)} ${unit} [${fmt(m.min)}–${fmt(m.max)}]` : '–'; });
    const b = base && of(base);
    const ratios = base ? others.map((x) => { const m = of(x); return m && b ? ratio(b.median, m.median) : '–'; }) : [];
    lines.push(`| ${[guests.length > 1 ? `${guest}: ${metric}` : metric, ...cells, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

const METRIC_TEXT: Record<string, string> = {
  'create-to-ready': 'create call to the guest\'s ready mark on its console (boot time as the design defines it)',
  'create-call': 'create call until it returns',
  destroy: 'destroy call until it returns',
  'pause-unpause': 'pause then unpause of a running guest',
};

/** How the headline names each configuration (a tool recorded by a create scenario); others show as recorded. */
export const CONFIG_LABELS: Record<string, string> = {
  xl: 'xl',
  chaos: 'chaos over xenstore',
  'chaos-cli': 'chaos command over xenstore',
  'chaos-noxs': 'chaos over noxs',
  chaosd: 'chaosd with shells (xenstore)',
  'chaosd-noxs': 'chaosd with shells over noxs (LightVM)',
};
const label = (tool: string) => CONFIG_LABELS[tool] ?? tool;

/**
 * The headline's samples: create-to-ready against the number of running guests, from every scenario
 * that records it; a configuration (tool) measured by several scenarios comes from the newest.
 */
export function headlineSamples(latest: ReadonlyMap<string, ScenarioResult>): Sample[] {
  const best = new Map<string, Sample[]>();
  for (const { samples } of latest.values()) {
    const ofRunning = samples.filter((x) => x.metric === 'create-to-ready' && typeof x.parameters.running === 'number');
    for (const tool of new Set(ofRunning.map(toolOf))) {
      const mine = ofRunning.filter((x) => toolOf(x) === tool);
      const newest = (v: Sample[]) => v.reduce((a, x) => (x.at > a ? x.at : a), '');
      const had = best.get(tool);
      if (!had || newest(mine) > newest(had)) best.set(tool, mine);
    }
  }
  const order = (t: string) => { const i = Object.keys(CONFIG_LABELS).indexOf(t); return i < 0 ? 99 : i; };
  return [...best.entries()].sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b)).flatMap(([, v]) => v);
}

/** Medians with min and max per (series, x). */
export function linePoints(samples: readonly Sample[], x: (s: Sample) => number, series: (s: Sample) => string): LinePoint[] {
  const groups = new Map<string, { series: string; x: number; v: number[] }>();
  for (const s of samples) {
    const k = `${series(s)}\u0000${x(s)}`;
    const g = groups.get(k) ?? { series: series(s), x: x(s), v: [] };
    g.v.push(s.value);
    groups.set(k, g);
  }
  return [...groups.values()].map((g) => { const m = summarize(g.v); return { series: g.series, x: g.x, median: m.median, min: m.min, max: m.max }; });
}

export function dotPoints(samples: readonly Sample[]): DotPoint[] {
  const groups = new Map<string, { item: string; series: string; v: number[] }>();
  for (const s of samples) {
    const k = `${s.metric}\u0000${toolOf(s)}`;
    const g = groups.get(k) ?? { item: s.metric, series: toolOf(s) || s.scenario, v: [] };
    g.v.push(s.value);
    groups.set(k, g);
  }
  return [...groups.values()].map((g) => { const m = summarize(g.v); return { item: g.item, series: g.series, median: m.median, min: m.min, max: m.max }; });
}

const TIME_UNITS = new Set(['us', 'ms', 's']);

function hostLine(h: HostProps, at: string): string {
  return `Host: ${h.kind === 'lab' ? 'the lab (Xen in QEMU, TCG)' : 'a real Xen host'} on ${h.cpu}, ${h.cores} cores; Xen ${h.xen}, dom0 Linux ${h.dom0Kernel} with ${h.dom0MemoryMiB} MiB` +
    `${h.labMemoryMiB ? `, lab machine ${h.labMemoryMiB} MiB` : ''}; commit ${h.commit}; measured ${at.slice(0, 10)}` +
    `${h.dom0Project ? `; project in dom0 from ${h.dom0Project}` : ''}.`;
}

const LAB_NOTE = '**Measured in the lab** (Xen under QEMU\'s software CPU): absolute times are inflated and noisy; quote the ratios.';

export interface Plot { file: string; spec: vega.Spec }
export interface Report { markdown: string; plots: Plot[] }

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** The doc and its plots from the newest results; `plotsRel` is the plots folder relative to the doc. */
export function buildReport(resultsDir: string, repoRoot: string, docDir = path.join(repoRoot, 'docs'), plotsRel = 'plots'): Report {
  const latest = latestResults(resultsDir);
  const plots: Plot[] = [];
  const fig = (file: string, spec: vega.Spec, alt: string) => { plots.push({ file, spec }); return `![${alt}](${plotsRel}/${file})`; };
  const out: string[] = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/report.ts) from bench/results/: do not edit by hand; `npm run bench -- --report` regenerates it. -->',
    '',
    'How to read these numbers: the lab runs Xen under QEMU\'s software CPU (TCG), so absolute times are',
    'inflated and noisy. Compare configurations measured side by side in one run and read the ratios;',
    'absolute times are "in the lab" unless the host line says a real Xen host. Each point is the median of',
    'several samples, with min and max kept (the band or whisker in the plots); every raw sample is in the linked JSON lines file.',
    '`npm run bench -- --compare A B` puts two result sets (two commits, or the lab and a real host) side by side.',
    '',
    'Method: where time is measured against N running guests, the N background guests are made the fastest',
    'way available (the toolstack in process, or chaosd: each scenario says which); only the measured creates use',
    'the configuration under test, and the configurations take turns within each repetition, so that drift in the',
    'lab hits them alike. Boot time runs from the create call (or API request) to the guest\'s ready mark, read',
    'every 5 ms from the guest\'s console ring itself (bench/dom0/ready.ts: the same way for every configuration,',
    'whether or not xenconsoled serves the guest). The lab\'s memory is sized for the largest N.',
    'A commit id ending in `-dirty` means the working tree had uncommitted changes when it ran.',
    '',
  ];
  if (latest.size === 0) {
    out.push('No results yet: run `npm run bench`.');
    return { markdown: out.join('\n') + '\n', plots };
  }

  const head = headlineSamples(latest);
  if (head.length) {
    const h = head[0].host, tools = [...new Set(head.map(toolOf))];
    out.push('## Creation time against the number of running VMs', '');
    if (head.some((x) => x.host.kind === 'lab')) out.push(LAB_NOTE, '');
    out.push(fig('headline.svg', lineSpec({
      title: 'Create to ready mark of a noop guest (4 MiB) with N guests running', xTitle: 'guests already running (N)', yTitle: 'create to ready (ms, median)',
      points: linePoints(head, (s) => Number(s.parameters.running), (s) => label(toolOf(s))),
    }), 'creation time against running VMs, one line per configuration'), '');
    const ns = [...new Set(head.map((x) => Number(x.parameters.running)))].sort((a, b) => a - b);
    const med = (tool: string, n: number) => {
      const v = head.filter((x) => toolOf(x) === tool && x.parameters.running === n).map((x) => x.value);
      return v.length ? summarize(v).median : undefined;
    };
    // Ratios only between lines measured in the same run (same commit, same day): never across runs.
    const runOf = (t: string) => { const v = head.filter((y) => toolOf(y) === t); if (!v.length) return ''; const x = v.reduce((a, y) => (y.at > a.at ? y : a)); return `${x.host.commit} ${x.at.slice(0, 10)}`; };
    const sameRun = (t: string) => runOf(t) === runOf('xl');
    const said: string[] = [];
    const speed = (r: number) => (r >= 1 ? `${r.toFixed(2)}x faster than xl` : `${(1 / r).toFixed(2)}x slower than xl`);
    for (const t of tools.filter((x) => x !== 'xl' && tools.includes('xl') && sameRun(x))) {
      const at = [ns[0], ns[ns.length - 1]].filter((n, i, a) => a.indexOf(n) === i)
        .map((n) => { const a = med('xl', n), b = med(t, n); return a && b ? `${speed(a / b)} at N=${n}` : undefined; }).filter(Boolean);
      if (at.length) said.push(`${label(t)} goes from create to ready ${at.join(' and ')}`);
    }
    if (said.length) out.push(`Measured side by side (medians): ${said.join('; ')}.`, '');
    const floor = latest.get('fork-exec')?.samples.filter((x) => x.metric === 'c-fork-exec-wait' && x.host.kind === h.kind && `${x.host.commit} ${x.at.slice(0, 10)}` === runOf('chaos'));
    const chaos0 = med('chaos', ns[0]);
    if (floor?.length && chaos0) {
      out.push(`For scale, in the same run: a create to ready mark by chaos at N=${ns[0]} takes ${(chaos0 / summarize(floor.map((x) => x.value)).median).toFixed(0)}x the time of a fork+exec+wait of /bin/true in dom0 (the fork-exec scenario).`, '');
    }
    out.push(comparisonTable(head, 'create-to-ready', label, sameRun), '', 'A ratio is given only between configurations measured in the same run.', '');
    const whence = (t: string) => { const x = head.filter((y) => toolOf(y) === t).reduce((a, y) => (y.at > a.at ? y : a)); return `${label(t)}: the ${x.scenario} scenario, commit ${x.host.commit}, ${x.at.slice(0, 10)}`; };
    out.push(`Where each line comes from (the newest run that measured it): ${tools.map(whence).join('; ')}.`, '');
  }

  const names = [...latest.keys()].sort((a, b) => {
    const r = (n: string) => (latest.get(n)!.samples.some((x) => x.parameters.running !== undefined) ? 0 : 1);
    return r(a) - r(b) || a.localeCompare(b);
  });
  out.push('## Scenarios', '', ...names.map((n) => `- [${n}](#${slug(n)})${latest.get(n)!.description ? `: ${latest.get(n)!.description}` : ''}`), '');
  const rel = (f: string) => path.relative(docDir, f);
  for (const scenario of names) {
    const { files, samples } = latest.get(scenario)!;
    const newest = samples.reduce((a, x) => (x.at > a.at ? x : a), samples[0]);
    out.push(`## ${scenario}`, '');
    out.push(hostLine(newest.host, newest.at));
    out.push(`Raw samples: ${files.map((f) => `[${rel(f)}](${rel(f)})`).join(', ')}${files.length > 1 ? ' (each tool from the newest run that measured it)' : ''}.`, '');
    if (samples.some((x) => x.host.kind === 'lab' && TIME_UNITS.has(x.unit))) out.push(LAB_NOTE, '');
    if (samples.every((x) => x.parameters.running === undefined)) {
      for (const unit of [...new Set(samples.map((x) => x.unit))]) {
        const of = samples.filter((x) => x.unit === unit);
        const many = new Set(samples.map((x) => x.unit)).size > 1;
        out.push(fig(`${scenario}${many ? `-${unit}` : ''}.svg`, dotSpec({ title: `${scenario}: median, min–max`, xTitle: unit, points: dotPoints(of) }), `${scenario} (${unit})`), '');
      }
      out.push(metricTable(samples), '');
      continue;
    }
    for (const metric of [...new Set(samples.map((s) => s.metric))]) {
      const of = samples.filter((x) => x.metric === metric);
      const multi = new Set(of.map(toolOf)).size > 1;
      out.push(`### ${metric}${METRIC_TEXT[metric] ? `: ${METRIC_TEXT[metric]}` : ''}`, '');
      out.push(fig(`${scenario}-${metric}.svg`, lineSpec({
        title: `${scenario}: ${metric}`, xTitle: 'guests already running (N)', yTitle: `${metric} (${of[0].unit}, median)`,
        points: linePoints(of, (s) => Number(s.parameters.running), (s) => toolOf(s) || scenario), seriesTitle: 'tool',
      }), `${scenario} ${metric} against running guests`), '');
      out.push(multi ? comparisonTable(samples, metric) : runningTable(samples, metric), '');
    }
  }
  return { markdown: out.join('\n'), plots };
}

/** Markdown only (no plots rendered). */
export function renderBenchmarks(resultsDir: string, repoRoot: string): string {
  return buildReport(resultsDir, repoRoot).markdown;
}

/** Writes the doc and its plots (SVG, rendered by Vega); plots of scenarios no longer present are removed. Returns the files written. */
export async function writeReport(resultsDir: string, repoRoot: string, docFile: string, plotsDir: string): Promise<string[]> {
  const { markdown, plots } = buildReport(resultsDir, repoRoot, path.dirname(docFile), path.relative(path.dirname(docFile), plotsDir));
  fs.mkdirSync(plotsDir, { recursive: true });
  const written: string[] = [];
  for (const p of plots) {
    const file = path.join(plotsDir, p.file);
    fs.writeFileSync(file, await renderSvg(p.spec) + '\n');
    written.push(file);
  }
  for (const f of fs.readdirSync(plotsDir)) if (f.endsWith('.svg') && !plots.some((p) => p.file === f)) fs.rmSync(path.join(plotsDir, f));
  fs.writeFileSync(docFile, markdown.endsWith('\n') ? markdown : markdown + '\n');
  return [docFile, ...written];
}
