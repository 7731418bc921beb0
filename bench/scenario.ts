// What a benchmark scenario is (the interface the runner calls) and the helpers scenarios share: dom0 scripts, partial results.
import type { RunOptions } from '../lab/lab.js';
import type { RunResult } from '../lab/agent/client.js';
import type { HostProps, Sample } from './record.js';

export interface ScenarioOptions {
  /** The whole sweep; quick mode (false) differs only in sizes. */
  full: boolean;
  reps?: number;
  counts?: number[];
  tools?: string[];
  /** A line for the person watching (shown above the progress bar). */
  progress(line: string): void;
  /** How far the scenario is, for the progress bar and its estimate of the time left; optional to call. */
  step?(done: number, total: number): void;
  /** Aborted when the run is interrupted (Ctrl-C): a scenario stops and keeps what it measured. */
  signal?: AbortSignal;
}

/** The names every dom0 script gives its guests begin with one of these (and a dash). */
export const BENCH_GUEST_PREFIXES = ['bench', 'bcd', 'bmem', 'bpause', 'bsr', 'bvh', 'ukb'] as const;

/**
 * Destroys every guest a benchmark left in dom0 (after an interruption, whose dom0 script was
 * killed before it could); returns their names. Guests of other users are left alone.
 */
export async function destroyBenchGuests(target: Target): Promise<string[]> {
  const re = new RegExp(`^(${BENCH_GUEST_PREFIXES.join('|')})-`);
  const r = await target.run(['xl', 'list'], { timeoutMs: 60_000 });
  const names = r.stdout.toString().split('\n').slice(1).map((l) => l.split(/\s+/)[0]).filter((n) => n && re.test(n));
  for (const n of names) await target.run(['xl', 'destroy', n], { timeoutMs: 60_000 });
  return names;
}

/**
 * Where a scenario runs its commands: dom0 of the lab (through its agent) or of the Xen host the
 * runner itself runs on (`--host`). The lab's `Lab` has the same `run` and `sh`.
 */
export interface Target {
  kind: 'lab' | 'real';
  /** This project as dom0 sees it (its dist/ holds the dom0 scripts). */
  projectDir: string;
  /** A writable folder, as the runner sees it and as dom0 sees it (the lab's /mnt/share). */
  scratch: { here: string; dom0: string };
  run(cmd: string | string[], opts?: RunOptions): Promise<RunResult>;
  sh(cmd: string, timeoutMs?: number): Promise<string>;
}

export interface Scenario {
  name: string;
  description: string;
  /** Memory the lab needs for the largest size of this scenario, MiB. */
  memoryMiB(o: ScenarioOptions): number;
  run(target: Target, host: HostProps, o: ScenarioOptions): Promise<Sample[]>;
  /** The tools (configurations) it can compare, if it compares any: `--tools` is narrowed to these. */
  tools?: readonly string[];
  /** A rough time for the progress bar's first estimate (later runs use the recorded times), s. */
  estimateSeconds?(o: ScenarioOptions): number;
}

/** A scenario that failed part way: the samples it had measured, so that the runner keeps them. */
export class ScenarioError extends Error {
  override name = 'ScenarioError';
  constructor(message: string, readonly partial: Sample[]) { super(message); }
}

/** A dom0 script's line: a sample (any fields), a progress message, or how far it is. */
export type Dom0Message = Record<string, unknown> & { kind: 'sample' | 'progress' | 'step' };

/**
 * Runs a dom0-side script (dist/bench/dom0/<script>) that prints JSON lines; samples go to
 * `onSample`, progress lines and steps to the options' callbacks. Throws when the script fails.
 */
export async function runDom0Script(target: Target, script: string, args: string[], o: ScenarioOptions, onSample: (m: Record<string, unknown>) => void): Promise<void> {
  let partial = '';
  const handle = (l: string) => {
    if (!l.trim()) return;
    let m: Dom0Message;
    try { m = JSON.parse(l) as Dom0Message; } catch { o.progress(`${script}: ${l}`); return; }
    if (m.kind === 'progress') o.progress(String(m.message));
    else if (m.kind === 'step') o.step?.(Number(m.done), Number(m.total));
    else if (m.kind === 'sample') onSample(m);
  };
  const r = await target.run(['node', `${target.projectDir}/dist/bench/dom0/${script}`, ...args], {
    signal: o.signal,
    onStdout: (b) => {
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(handle);
    },
  });
  handle(partial);
  if (r.code !== 0) throw new Error(`${script} failed in dom0 (${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}): ${r.stderr.toString().trim()}`);
}

/** Runs a dom0 script and turns each sample line into a Sample; a failure keeps the samples made so far. */
export async function collect(target: Target, script: string, args: string[], o: ScenarioOptions,
  toSample: (m: Record<string, unknown>) => Sample): Promise<Sample[]> {
  const samples: Sample[] = [];
  try {
    await runDom0Script(target, script, args, o, (m) => samples.push(toSample(m)));
  } catch (err) {
    throw new ScenarioError((err as Error).message, samples);
  }
  return samples;
}
