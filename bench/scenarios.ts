// The benchmark scenarios: each runs in the lab and returns samples; quick and full modes differ only in sizes.
import type { Lab } from '../lab/lab.js';
import { DOM0_PROJECT_DIR } from '../lab/image.js';
import type { HostProps, Sample } from './record.js';

export interface ScenarioOptions { full: boolean; reps?: number; counts?: number[]; tools?: string[]; progress(line: string): void }

export interface Scenario {
  name: string;
  description: string;
  /** Memory the lab needs for the largest size of this scenario, MiB. */
  memoryMiB(o: ScenarioOptions): number;
  run(lab: Lab, host: HostProps, o: ScenarioOptions): Promise<Sample[]>;
}

const NOOP = `${DOM0_PROJECT_DIR}/guests/noop/noop`;

function countsOf(o: ScenarioOptions): number[] {
  return o.counts ?? (o.full ? [0, 10, 50, 100] : [0, 10]);
}

/** A scenario that failed part way: the samples it had measured, so that the runner keeps them. */
export class ScenarioError extends Error {
  constructor(message: string, readonly partial: Sample[]) { super(message); }
}

/** Runs a dom0-side script that prints JSON lines: {kind:"sample"|"progress", ...}. */
async function runDom0Script(lab: Lab, script: string, args: string[], o: ScenarioOptions, onSample: (s: Record<string, unknown>) => void): Promise<void> {
  let partial = '';
  const r = await lab.run(['node', `${DOM0_PROJECT_DIR}/dist/bench/dom0/${script}`, ...args], {
    onStdout: (b) => {
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.trim()) continue;
        const m = JSON.parse(l) as Record<string, unknown>;
        if (m.kind === 'progress') o.progress(String(m.message));
        else if (m.kind === 'sample') onSample(m);
      }
    },
  });
  if (r.code !== 0) throw new Error(`${script} failed in dom0 (exit ${r.code}): ${r.stderr.toString().trim()}`);
}

function createScenario(name: string, tools: string[], description: string): Scenario {
  return {
    name,
    description,
    memoryMiB: (o) => 1024 /* dom0 */ + 512 /* Xen */ + Math.max(...countsOf(o)) * 6 + 256,
    async run(lab, host, o) {
      const samples: Sample[] = [];
      const reps = o.reps ?? (o.full ? 5 : 3);
      await runDom0Script(lab, 'create-vs-running.js',
        ['--tools', (o.tools ?? tools).join(','), '--counts', countsOf(o).join(','), '--reps', String(reps), '--kernel', NOOP, '--memory', '4', '--prefix', 'bench'], o,
        (m) => {
          samples.push({
            scenario: name, metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(),
            parameters: { tool: String(m.tool), guest: 'noop', memoryMiB: 4, running: Number(m.running), rep: Number(m.rep) },
          });
          if (m.metric === 'create-to-ready') o.progress(`${m.tool} N=${m.running} rep ${Number(m.rep) + 1}/${reps}: ${Number(m.value).toFixed(0)} ms`);
        }).catch((err: Error) => { throw new ScenarioError(err.message, samples); });
      return samples;
    },
  };
}

export const SCENARIOS: readonly Scenario[] = [
  createScenario('xl-create', ['xl'], 'stock xl: time from `xl create` of a noop guest to its ready mark, with N guests already running'),
  createScenario('create', ['xl', 'chaos', 'chaos-cli'],
    'xl vs chaos (toolstack in a long-running process) vs the chaos CLI: create to ready mark, pause+unpause, destroy, with N guests running'),
  {
    name: 'save-restore',
    description: 'save and restore of a Linux guest (tinyx ticker, 96 MiB), xl vs chaos, and chaos migrating it to localhost',
    memoryMiB: () => 4096,
    async run(lab, host, o) {
      const samples: Sample[] = [];
      const reps = o.reps ?? (o.full ? 5 : 2);
      await runDom0Script(lab, 'save-restore.js', ['--reps', String(reps), '--tinyx', `${DOM0_PROJECT_DIR}/guests/tinyx/ticker`, '--memory', '96', '--tools', (o.tools ?? ['xl', 'chaos']).join(',')], o, (m) => {
        samples.push({
          scenario: 'save-restore', metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(),
          parameters: { tool: String(m.tool), guest: 'tinyx-ticker', memoryMiB: 96, rep: Number(m.rep), ...(m.bytes !== undefined ? { bytes: Number(m.bytes) } : {}) },
        });
        o.progress(`${m.tool} ${m.metric} rep ${Number(m.rep) + 1}/${reps}: ${Number(m.value).toFixed(0)} ms`);
      }).catch((err: Error) => { throw new ScenarioError(err.message, samples); });
      return samples;
    },
  },
  {
    name: 'cli-startup',
    description: "where a command's time goes: bare node, loading yargs, pino and the toolstack, chaos vs xl for list and info",
    memoryMiB: () => 4096,
    async run(lab, host, o) {
      const samples: Sample[] = [];
      const reps = o.reps ?? (o.full ? 10 : 5);
      await runDom0Script(lab, 'cli-startup.js', ['--reps', String(reps)], o, (m) => {
        samples.push({ scenario: 'cli-startup', metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(), parameters: { rep: Number(m.rep) } });
      });
      o.progress(`${samples.length} samples`);
      return samples;
    },
  },
];

export function findScenarios(names: readonly string[] | undefined): Scenario[] {
  if (!names || names.length === 0) return [...SCENARIOS];
  return names.map((n) => {
    const s = SCENARIOS.find((x) => x.name === n);
    if (!s) throw new RangeError(`unknown scenario "${n}"; known: ${SCENARIOS.map((x) => x.name).join(', ')}`);
    return s;
  });
}
