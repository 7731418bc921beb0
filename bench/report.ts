// Regenerates docs/benchmarks.md from the newest recorded result of every scenario.
import fs from 'node:fs';
import path from 'node:path';
import { readSamples, summarize, type Sample } from './record.js';

/**
 * Each scenario's newest samples: per tool, the newest run that measured it (a run may compare
 * only some tools). `files` lists the runs used, newest first.
 */
export function latestResults(resultsDir: string): Map<string, { file: string; files: string[]; samples: Sample[] }> {
  const out = new Map<string, { file: string; files: string[]; samples: Sample[]; tools: Set<string> }>();
  if (!fs.existsSync(resultsDir)) return out;
  const runs = fs.readdirSync(resultsDir).filter((d) => fs.statSync(path.join(resultsDir, d)).isDirectory()).sort().reverse();
  for (const run of runs) {
    for (const f of fs.readdirSync(path.join(resultsDir, run)).filter((f) => f.endsWith('.jsonl')).sort()) {
      const scenario = f.slice(0, -'.jsonl'.length);
      const file = path.join(resultsDir, run, f);
      const samples = readSamples(file);
      const tool = (x: Sample) => String(x.parameters.tool ?? '');
      const entry = out.get(scenario);
      if (!entry) {
        out.set(scenario, { file, files: [file], samples, tools: new Set(samples.map(tool)) });
        continue;
      }
      const older = samples.filter((x) => !entry.tools.has(tool(x)));
      if (older.length === 0) continue;
      entry.samples.push(...older);
      entry.files.push(file);
      for (const x of older) entry.tools.add(tool(x));
    }
  }
  return out;
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

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
    const ratio = base ? s.median / summarize(base).median : NaN;
    lines.push(`| ${n} | ${fmt(s.median)} | ${fmt(s.min)} | ${fmt(s.max)} | ${s.n} | ${ratio.toFixed(2)}x |`);
  }
  return lines.join('\n');
}

/** Medians per tool side by side, with how many times faster each tool is than xl at the same N. */
export function comparisonTable(samples: readonly Sample[], metric: string): string {
  const ofMetric = samples.filter((x) => x.metric === metric);
  const tools = [...new Set(ofMetric.map((x) => String(x.parameters.tool)))];
  const ns = [...new Set(ofMetric.map((x) => Number(x.parameters.running)))].sort((a, b) => a - b);
  const med = (tool: string, n: number) => {
    const v = ofMetric.filter((x) => x.parameters.tool === tool && Number(x.parameters.running) === n).map((x) => x.value);
    return v.length ? summarize(v) : undefined;
  };
  const others = tools.filter((x) => x !== 'xl');
  const unit = ofMetric[0]?.unit ?? '';
  const head = ['running guests', ...tools.map((x) => `${x} median (${unit}) [min–max]`), ...(tools.includes('xl') ? others.map((x) => `xl ÷ ${x}`) : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---:').join('|')}|`];
  for (const n of ns) {
    const cells = tools.map((x) => { const s = med(x, n); return s ? `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]` : '–'; });
    const xl = med('xl', n);
    const ratios = tools.includes('xl') ? others.map((x) => { const s = med(x, n); return s && xl ? `${(xl.median / s.median).toFixed(2)}x` : '–'; }) : [];
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

/** Metrics in rows, tools in columns (a metric one tool lacks shows "–"), and xl ÷ each other tool. */
function toolMetricTable(samples: readonly Sample[], tools: string[]): string {
  const others = tools.filter((x) => x !== 'xl');
  const head = ['what', ...tools.map((x) => `${x} median [min–max]`), ...(tools.includes('xl') ? others.map((x) => `xl ÷ ${x}`) : [])];
  const lines = [`| ${head.join(' | ')} |`, `|---|${head.slice(1).map(() => '---:').join('|')}|`];
  for (const metric of [...new Set(samples.map((x) => x.metric))]) {
    const of = (tool: string) => {
      const v = samples.filter((x) => x.metric === metric && String(x.parameters.tool) === tool).map((x) => x.value);
      return v.length ? summarize(v) : undefined;
    };
    const unit = samples.find((x) => x.metric === metric)?.unit ?? '';
    const cells = tools.map((x) => { const m = of(x); return m ? `${fmt(m.median)} ${unit} [${fmt(m.min)}–${fmt(m.max)}]` : '–'; });
    const xl = of('xl');
    const ratios = tools.includes('xl') ? others.map((x) => { const m = of(x); return m && xl ? `${(xl.median / m.median).toFixed(2)}x` : '–'; }) : [];
    lines.push(`| ${[metric, ...cells, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

const METRIC_TEXT: Record<string, string> = {
  'create-to-ready': 'create call to the guest\'s ready mark on its console (boot time as the design defines it)',
  'create-call': 'create call until it returns',
  destroy: 'destroy call until it returns',
  'pause-unpause': 'pause then unpause of a running guest',
  save: 'save to a file until the command returns (the domain is destroyed after it)',
  restore: 'restore from a file until the command returns (the domain runs)',
  'restore-to-tick': 'restore call until the guest prints again on its console',
  'migrate-localhost': 'migration to a receiver on the same host, from the call until the target runs the domain',
  'migrate-downtime': 'the part of a migration during which the guest is suspended',
};

export function renderBenchmarks(resultsDir: string, repoRoot: string): string {
  const latest = latestResults(resultsDir);
  const out: string[] = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/report.ts) from bench/results/: do not edit by hand. -->',
    '',
    'How to read these numbers: the lab runs Xen under QEMU\'s software CPU (TCG), so absolute times are',
    'inflated and noisy. Compare configurations measured side by side in one run and read the ratios;',
    'absolute times are "in the lab" unless the host line says `real`. Each point is the median of',
    'several creates, with min and max kept; every raw sample is in the linked JSON lines file.',
    '',
  ];
  if (latest.size === 0) out.push('No results yet: run `npm run bench`.');
  for (const [scenario, { files, samples }] of latest) {
    const h = samples[0].host;
    out.push(`## ${scenario}`, '');
    out.push(`Host: ${h.kind} (${h.cpu}, ${h.cores} cores), Xen ${h.xen}, dom0 Linux ${h.dom0Kernel} with ${h.dom0MemoryMiB} MiB` +
      `${h.labMemoryMiB ? `, lab machine ${h.labMemoryMiB} MiB` : ''}; commit ${h.commit}; measured ${samples[0].at.slice(0, 10)}.`);
    const rel = (f: string) => path.relative(path.join(repoRoot, 'docs'), f);
    out.push(`Raw samples: ${files.map((f) => `[${rel(f)}](${rel(f)})`).join(', ')}${files.length > 1 ? ' (each tool from the newest run that measured it)' : ''}.`, '');
    if (samples.every((x) => x.parameters.running === undefined)) {
      out.push(metricTable(samples), '');
      continue;
    }
    for (const metric of [...new Set(samples.map((s) => s.metric))]) {
      const multi = new Set(samples.map((x) => String(x.parameters.tool))).size > 1;
      out.push(`### ${metric}: ${METRIC_TEXT[metric] ?? metric}`, '', multi ? comparisonTable(samples, metric) : runningTable(samples, metric), '');
    }
  }
  return out.join('\n');
}
