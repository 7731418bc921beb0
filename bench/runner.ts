// Runs scenarios on a target one after another, records each one's samples as it ends (a failure keeps what was measured), and notes the run in run.json.
import path from 'node:path';
import type { HostProps } from './record.js';
import { writeResults, writeRunInfo, type RunInfo } from './record.js';
import type { Progress } from './progress.js';
import { ScenarioError, type Scenario, type ScenarioOptions, type Target } from './scenario.js';

export interface RunPlan {
  scenarios: readonly Scenario[];
  /** With `signal`: aborting it stops the scenario running (its samples are kept) and skips the rest. */
  options: Omit<ScenarioOptions, 'progress' | 'step'>;
  target: Target;
  host: HostProps;
  /** bench/results/<run id>/ */
  dir: string;
}

export interface RunOutcome { info: RunInfo; failures: { scenario: string; message: string }[] }

/** A failure that makes every later scenario pointless: the lab or host is gone. */
export function fatal(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  if (code === 'ENOLAB' || code === 'ECONNREFUSED' || code === 'ECONNRESET') return true;
  return /closed the connection before the command finished|no lab is running|ECONNREFUSED/.test((err as Error).message ?? '');
}

export async function runScenarios(plan: RunPlan, ui: Progress): Promise<RunOutcome> {
  const info: RunInfo = { id: path.basename(plan.dir), mode: plan.options.full ? 'full' : 'quick', startedAt: new Date().toISOString(), host: plan.host, scenarios: {} };
  const failures: RunOutcome['failures'] = [];
  const rel = (f: string) => path.relative(process.cwd(), f);
  const interrupted = () => plan.options.signal?.aborted === true;
  for (const s of plan.scenarios) {
    if (interrupted()) {
      failures.push({ scenario: s.name, message: 'not run: interrupted' });
      continue;
    }
    ui.start(s.name);
    const t0 = performance.now();
    const tools = plan.options.tools && s.tools ? plan.options.tools.filter((x) => s.tools!.includes(x)) : plan.options.tools;
    if (tools && tools.length === 0) {
      ui.line(`  skipped: it compares ${s.tools!.join(', ')}, none of --tools`);
      ui.finish();
      continue;
    }
    const o: ScenarioOptions = { ...plan.options, tools, progress: (l) => ui.line(`  ${l}`), step: (d, t) => ui.step(d, t) };
    let samples = [] as Awaited<ReturnType<Scenario['run']>>;
    let error: string | undefined;
    try {
      samples = await s.run(plan.target, plan.host, o);
    } catch (err) {
      error = interrupted() ? 'interrupted' : (err as Error).message;
      if (err instanceof ScenarioError) samples = err.partial;
      failures.push({ scenario: s.name, message: error });
      ui.line(`  ${s.name} failed: ${error}`);
      if (fatal(err)) {
        info.scenarios[s.name] = { description: s.description, seconds: (performance.now() - t0) / 1000, samples: samples.length, error };
        if (samples.length) writeResults(plan.dir, s.name, samples);
        writeRunInfo(plan.dir, info);
        ui.finish();
        for (const rest of plan.scenarios.slice(plan.scenarios.indexOf(s) + 1)) failures.push({ scenario: rest.name, message: 'not run: the target is gone' });
        break;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    info.scenarios[s.name] = { description: s.description, seconds, samples: samples.length, ...(error ? { error } : {}) };
    if (samples.length) {
      const { jsonl } = writeResults(plan.dir, s.name, samples);
      ui.line(`  ${samples.length} samples in ${seconds.toFixed(0)} s${error ? ' (kept, measured before the failure)' : ''} -> ${rel(jsonl)}`);
    }
    writeRunInfo(plan.dir, info);
    ui.finish();
  }
  return { info, failures };
}
