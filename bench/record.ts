// Benchmark samples: one record per measurement with its scenario, parameters, unit and the host it ran on; JSON lines and CSV.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

export interface HostProps {
  /** "lab" (Xen in QEMU under TCG: inflated, noisy absolute times) or "real" (a Xen host). */
  kind: 'lab' | 'real';
  cpu: string;
  cores: number;
  hostKernel: string;
  xen: string;
  dom0Kernel: string;
  dom0MemoryMiB: number;
  labMemoryMiB?: number;
  commit: string;
  node: string;
  /** Where dom0 ran the project from (the lab: the image's copy or the live tree). */
  dom0Project?: string;
}

export interface Sample {
  scenario: string;
  /** What was varied and fixed, e.g. {tool: "xl", running: 10, rep: 3}. */
  parameters: Record<string, string | number | boolean>;
  /** What the value is, e.g. "create-to-ready". */
  metric: string;
  value: number;
  unit: 'us' | 'ms' | 's' | 'MiB' | 'KiB' | 'bytes' | 'per-s';
  host: HostProps;
  at: string;
}

export function commitId(root: string): string {
  try {
    const id = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${id}-dirty` : id;
  } catch {
    return 'unknown';
  }
}

export function hostCpu(): string {
  return os.cpus()[0]?.model.trim() ?? 'unknown';
}

const CSV_FIELDS = ['scenario', 'metric', 'parameters', 'value', 'unit', 'host_kind', 'xen', 'commit', 'at'] as const;

function csvCell(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

export function toCsv(samples: readonly Sample[]): string {
  const rows = samples.map((s) => [
    s.scenario, s.metric, Object.entries(s.parameters).map(([k, v]) => `${k}=${v}`).join(' '), String(s.value), s.unit,
    s.host.kind, s.host.xen, s.host.commit, s.at,
  ].map(csvCell).join(','));
  return [CSV_FIELDS.join(','), ...rows].join('\n') + '\n';
}

/** A run's results live in bench/results/<run id>/: <scenario>.jsonl and <scenario>.csv. */
export function writeResults(dir: string, scenario: string, samples: readonly Sample[]): { jsonl: string; csv: string } {
  fs.mkdirSync(dir, { recursive: true });
  const jsonl = path.join(dir, `${scenario}.jsonl`), csv = path.join(dir, `${scenario}.csv`);
  fs.writeFileSync(jsonl, samples.map((s) => JSON.stringify(s)).join('\n') + (samples.length ? '\n' : ''));
  fs.writeFileSync(csv, toCsv(samples));
  return { jsonl, csv };
}

export function readSamples(file: string): Sample[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l, i) => {
    const s = JSON.parse(l) as Sample;
    if (typeof s.scenario !== 'string' || typeof s.value !== 'number' || typeof s.metric !== 'string') {
      throw new Error(`${file}:${i + 1}: not a benchmark sample`);
    }
    return s;
  });
}

export interface Summary { median: number; min: number; max: number; n: number }

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('no values to summarize');
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

/** What a run did, in its directory as run.json: its mode and, per scenario, what it is, how long it took, how it ended. */
export interface RunInfo {
  id: string;
  mode: 'quick' | 'full';
  startedAt: string;
  host?: HostProps;
  scenarios: Record<string, { description: string; seconds: number; samples: number; error?: string }>;
}

export const RUN_INFO = 'run.json';

export function writeRunInfo(dir: string, info: RunInfo): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, RUN_INFO), JSON.stringify(info, null, 2) + '\n');
}

export function readRunInfo(dir: string): RunInfo | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(dir, RUN_INFO), 'utf8')) as RunInfo;
    return info && typeof info.scenarios === 'object' ? info : undefined;
  } catch {
    return undefined;
  }
}

/** The runs under a results folder, newest first (names start with their time); a folder that is itself a run is its only run. */
export function runDirs(resultsDir: string): string[] {
  if (!fs.existsSync(resultsDir)) return [];
  const entries = fs.readdirSync(resultsDir);
  if (entries.some((f) => f.endsWith('.jsonl'))) return [resultsDir];
  return entries.filter((d) => fs.statSync(path.join(resultsDir, d)).isDirectory()).sort().reverse().map((d) => path.join(resultsDir, d));
}

/** Each scenario's time in the newest run of the same mode that finished it, s: the progress bar's expectations. */
export function expectedSeconds(resultsDir: string, mode: RunInfo['mode']): Map<string, number> {
  const out = new Map<string, number>();
  for (const dir of runDirs(resultsDir)) {
    const info = readRunInfo(dir);
    if (!info || info.mode !== mode) continue;
    for (const [name, s] of Object.entries(info.scenarios)) if (!s.error && !out.has(name)) out.set(name, s.seconds);
  }
  return out;
}
