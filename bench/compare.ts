// Comparison mode: two result sets (two commits, or the lab and a real host) side by side, with B ÷ A per measurement and xl ÷ tool in each.
import fs from 'node:fs';
import path from 'node:path';
import { runDirs, summarize, type HostProps, type Sample, type Summary } from './record.js';
import { latestResults } from './report.js';

export interface ResultSet { label: string; dirs: string[]; samples: Sample[] }

export class CompareError extends Error { override name = 'CompareError'; }

/**
 * A result set named by: a run folder (holding .jsonl files), a folder of runs (each scenario's
 * newest), or a run's name under `resultsDir` or part of it (e.g. a commit id); several matches
 * mean the newest, and the choice is said in the label.
 */
export function loadResultSet(spec: string, resultsDir: string): ResultSet {
  let dir: string | undefined;
  if (fs.existsSync(spec) && fs.statSync(spec).isDirectory()) dir = spec;
  else {
    const runs = runDirs(resultsDir).filter((d) => path.basename(d) === spec || path.basename(d).includes(spec));
    if (runs.length === 0) {
      throw new CompareError(`no result set "${spec}": give a results folder, or a run of ${resultsDir} by name or part of it (e.g. a commit id); runs there: ${runDirs(resultsDir).map((d) => path.basename(d)).join(', ') || 'none'}`);
    }
    dir = runs[0];
  }
  const latest = latestResults(dir);
  const samples = [...latest.values()].flatMap((r) => r.samples);
  if (samples.length === 0) throw new CompareError(`${dir} holds no benchmark samples (*.jsonl)`);
  return { label: path.basename(path.resolve(dir)), dirs: [...new Set([...latest.values()].flatMap((r) => r.files.map(path.dirname)))], samples };
}

/** Parameters that tell one repetition or one outcome from another, not what was measured. */
const NOT_KEYS = new Set(['rep', 'bytes', 'resolved']);

/** What a sample measured: scenario, metric and its parameters but the repetition. */
export function keyOf(s: Sample): string {
  const p = Object.entries(s.parameters).filter(([k]) => !NOT_KEYS.has(k)).sort(([a], [b]) => a.localeCompare(b));
  return `${s.scenario} | ${s.metric} | ${p.map(([k, v]) => `${k}=${v}`).join(' ')}`;
}

export interface CompareRow { key: string; unit: string; a?: Summary; b?: Summary }

export function compareSets(a: readonly Sample[], b: readonly Sample[]): CompareRow[] {
  const group = (v: readonly Sample[]) => {
    const m = new Map<string, { unit: string; values: number[] }>();
    for (const s of v) { const k = keyOf(s); const g = m.get(k) ?? { unit: s.unit, values: [] }; g.values.push(s.value); m.set(k, g); }
    return m;
  };
  const ga = group(a), gb = group(b);
  const keys = [...new Set([...ga.keys(), ...gb.keys()])].sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
  return keys.map((key) => {
    const x = ga.get(key), y = gb.get(key);
    return { key, unit: (x ?? y)!.unit, ...(x ? { a: summarize(x.values) } : {}), ...(y ? { b: summarize(y.values) } : {}) };
  });
}

/** xl ÷ each other tool for every measurement that has both, in one set: the ratios that carry over from the lab to a real host. */
export function toolRatios(samples: readonly Sample[]): Map<string, number> {
  const rows = compareSets(samples, []);
  const med = new Map(rows.map((r) => [r.key, r.a!.median]));
  const out = new Map<string, number>();
  for (const [key, m] of med) {
    if (!/ tool=xl(\s|$)/.test(key)) continue;
    for (const [other, o] of med) {
      if (other === key) continue;
      const tool = / tool=(\S+)/.exec(other)?.[1];
      if (tool && tool !== 'xl' && other.replace(` tool=${tool}`, ' tool=xl') === key) out.set(`${key.replace(' tool=xl', '')} | xl ÷ ${tool}`, m / o);
    }
  }
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(3));
const hostText = (h: HostProps) => `${h.kind === 'lab' ? 'lab (TCG)' : 'real Xen host'}, ${h.cpu}, ${h.cores} cores, Xen ${h.xen}, dom0 ${h.dom0Kernel}, commit ${h.commit}`;

export function renderComparison(a: ResultSet, b: ResultSet): string {
  const hosts = (s: ResultSet) => [...new Set(s.samples.map((x) => hostText(x.host)))].join('; ');
  const out = [
    `# ${a.label} (A) vs ${b.label} (B)`, '',
    `- A: ${hosts(a)} (${a.dirs.join(', ')})`,
    `- B: ${hosts(b)} (${b.dirs.join(', ')})`, '',
  ];
  if (new Set([...a.samples, ...b.samples].map((x) => x.host.kind)).size > 1) {
    out.push('A and B ran on different kinds of host: compare the xl ÷ tool ratios (second table), not the times.', '');
  }
  const rows = compareSets(a.samples, b.samples);
  const both = rows.filter((r) => r.a && r.b), only = rows.filter((r) => !(r.a && r.b));
  out.push('| scenario | metric | parameters | A median [min–max] | B median [min–max] | B ÷ A |', '|---|---|---|---:|---:|---:|');
  for (const r of both) {
    const [scenario, metric, params] = r.key.split(' | ');
    out.push(`| ${scenario} | ${metric} | ${params} | ${fmt(r.a!.median)} ${r.unit} [${fmt(r.a!.min)}–${fmt(r.a!.max)}] | ${fmt(r.b!.median)} ${r.unit} [${fmt(r.b!.min)}–${fmt(r.b!.max)}] | ${(r.b!.median / r.a!.median).toFixed(2)}x |`);
  }
  if (both.length === 0) out.push('| (nothing measured in both) | | | | | |');
  const ra = toolRatios(a.samples), rb = toolRatios(b.samples);
  const keys = [...ra.keys()].filter((k) => rb.has(k)).sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
  if (keys.length) {
    out.push('', '| scenario | metric | parameters | ratio | in A | in B |', '|---|---|---|---|---:|---:|');
    for (const k of keys) {
      const [scenario, metric, params, r] = k.split(' | ');
      out.push(`| ${scenario} | ${metric} | ${params} | ${r} | ${ra.get(k)!.toFixed(2)}x | ${rb.get(k)!.toFixed(2)}x |`);
    }
  }
  if (only.length) out.push('', `Measured in one set only: ${only.map((r) => `${r.key} (${r.a ? 'A' : 'B'})`).join('; ')}.`);
  return out.join('\n') + '\n';
}
