#!/usr/bin/env node
// `npm run bench`: runs the benchmark scenarios (in the lab, or on this Xen host with --host), records every sample, and regenerates docs/benchmarks.md; also --report, --compare, --list.
import fs from 'node:fs';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Lab } from '../lab/lab.js';
import { LabError } from '../lab/errors.js';
import { PROJECT_ROOT } from '../lab/config.js';
import { commitId, expectedSeconds } from './record.js';
import { findScenarios, SCENARIOS, type Scenario, type ScenarioOptions } from './scenarios.js';
import { destroyBenchGuests } from './scenario.js';
import { writeReport } from './report.js';
import { CompareError, loadResultSet, renderComparison } from './compare.js';
import { Progress, duration } from './progress.js';
import { runScenarios } from './runner.js';
import { hostProps, labTarget, localTarget, TargetError } from './target.js';

const say = (s: string) => process.stderr.write(s + '\n');

/** Bad usage: a sentence, exit 2. */
export class UsageError extends Error { override name = 'UsageError'; }

export interface BenchArgs {
  full: boolean; scenario?: string[]; reps?: number; counts?: string; tools?: string; host: boolean; dom0Project?: string;
  results: string; doc: string; report?: string; compare?: string[]; list: boolean;
}

export function parseArgs(argv: string[]): BenchArgs {
  const a = yargs(argv)
    .scriptName('bench')
    .usage('$0 [options]\n\nRuns benchmark scenarios on real Xen (the lab, or this host with --host), records every sample under bench/results/, and regenerates docs/benchmarks.md with its plots.')
    .option('full', { type: 'boolean', default: false, describe: 'the whole sweep (default: quick mode, a few minutes)' })
    .option('scenario', { type: 'string', array: true, describe: `scenario(s) to run: ${SCENARIOS.map((s) => s.name).join(', ')}` })
    .option('reps', { type: 'number', describe: 'samples per point (median, min, max are kept)' })
    .option('counts', { type: 'string', describe: 'numbers of running guests, e.g. 0,10,50' })
    .option('tools', { type: 'string', describe: 'the tools to compare where a scenario compares tools, e.g. xl,chaos' })
    .option('host', { type: 'boolean', default: false, describe: 'run on this machine, which must be dom0 of a Xen host (default: in the lab)' })
    .option('dom0-project', { type: 'string', describe: 'the project folder in the lab\'s dom0, e.g. /mnt/project (default: the image\'s copy if it is this build, else this build staged in dom0\'s RAM)' })
    .option('results', { type: 'string', default: path.join(PROJECT_ROOT, 'bench', 'results'), describe: 'where runs are recorded' })
    .option('doc', { type: 'string', default: path.join(PROJECT_ROOT, 'docs', 'benchmarks.md'), describe: 'the doc to regenerate; its plots go to plots/ beside it' })
    .option('report', { type: 'string', describe: 'only regenerate docs/benchmarks.md and its plots, from a folder of runs (default --results) or one run' })
    .option('report-only', { type: 'boolean', hidden: true })
    .option('compare', { type: 'string', array: true, describe: 'two result sets side by side: run folders, folders of runs, or run names (or part, e.g. a commit id)' })
    .option('list', { type: 'boolean', default: false, describe: 'list the scenarios' })
    .strict().help().version(false)
    .fail((msg, err) => { throw err ?? new UsageError(msg); })
    .parseSync();
  if (a.compare !== undefined && a.compare.length !== 2) throw new UsageError('--compare takes two result sets: --compare A B');
  const report = a.report ?? (a['report-only'] ? '' : undefined);
  return { full: a.full, scenario: a.scenario, reps: a.reps, counts: a.counts, tools: a.tools, host: a.host, dom0Project: a['dom0-project'], results: a.results, doc: a.doc, report, compare: a.compare, list: a.list };
}

/** The options the scenarios get, checked; a tool no selected scenario knows is bad usage. */
export function scenarioOptions(a: BenchArgs): { scenarios: Scenario[]; options: Omit<ScenarioOptions, 'progress' | 'step'> } {
  let scenarios: Scenario[];
  try { scenarios = findScenarios(a.scenario); } catch (e) { throw new UsageError((e as Error).message); }
  const counts = a.counts === undefined ? undefined : a.counts.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  if (counts && counts.some((n) => !Number.isInteger(n) || n < 0 || n > 5000)) throw new UsageError('--counts takes whole numbers from 0 to 5000, comma separated');
  if (a.reps !== undefined && (!Number.isInteger(a.reps) || a.reps < 1 || a.reps > 1000)) throw new UsageError('--reps takes a whole number from 1 to 1000');
  const tools = a.tools?.split(',');
  if (tools && tools.some((t) => !/^[a-z][a-z0-9-]{0,30}$/.test(t))) throw new UsageError('--tools takes tool names (lower case, digits, dashes), comma separated, e.g. xl,chaos');
  const known = new Set(scenarios.flatMap((s) => s.tools ?? []));
  const unknown = tools?.filter((t) => !known.has(t));
  if (scenarios.every((s) => s.tools) && unknown?.length) throw new UsageError(`--tools: ${unknown.join(', ')} is compared by none of these scenarios; they know ${[...known].join(', ')}`);
  return { scenarios, options: { full: a.full, reps: a.reps, counts, tools } };
}

async function regenerate(from: string, doc: string): Promise<void> {
  const plots = path.join(path.dirname(doc), 'plots');
  const files = await writeReport(from, PROJECT_ROOT, doc, plots);
  say(`wrote ${path.relative(process.cwd(), doc)} and ${files.length - 1} plots in ${path.relative(process.cwd(), plots)}/`);
}

async function measure(a: BenchArgs): Promise<number> {
  const { scenarios, options } = scenarioOptions(a);
  const memoryMiB = Math.max(4096, ...scenarios.map((s) => s.memoryMiB({ ...options, progress: () => {} })));
  let lab: Lab | undefined, reused = true;
  // The commit is read once, at the start: the code measured is what was built then (a file edited
  // during a long run does not reach the lab's image, and must not mark its samples "-dirty").
  const commit = commitId(PROJECT_ROOT);
  const runId = `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-${commit}`;
  const dir = path.join(a.results, runId);
  let outcome;
  // Ctrl-C (or SIGTERM): the scenario running stops, what it measured is recorded, the guests it
  // left in dom0 are destroyed and the doc is regenerated; a second Ctrl-C quits at once.
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) { say(`bench: ${sig} again: quitting without cleaning up`); process.exit(130); }
    say(`bench: ${sig}: stopping; keeping what was measured and destroying the benchmark's guests (${sig} again quits at once)`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let target, host;
    if (a.host) {
      target = await localTarget(PROJECT_ROOT);
      host = await hostProps(target, commit);
    } else {
      lab = new Lab({ stateDir: process.env.LIGHTVM_LAB_STATE_DIR, memoryMiB });
      // The lab's memory is sized for the largest N; a running lab is reused (never stopped) if it has enough.
      const up = await lab.up({ reuse: true, log: say });
      reused = up.reused;
      if (up.reused && up.state.config.memoryMiB < memoryMiB) {
        throw new LabError('EINVAL', `the running lab has ${up.state.config.memoryMiB} MiB; these scenarios need ${memoryMiB} MiB: stop it (\`lab down\`) or run fewer guests (--counts)`);
      }
      target = await labTarget(lab, PROJECT_ROOT, a.dom0Project);
      say(`dom0 runs the project from ${target.projectDir} (${target.projectNote})`);
      host = await hostProps(target, commit, up.state.config);
    }
    const expected = expectedSeconds(a.results, a.full ? 'full' : 'quick');
    const plan = scenarios.map((s) => ({ name: s.name, seconds: expected.get(s.name) ?? s.estimateSeconds?.({ ...options, progress: () => {} }) ?? 60 }));
    say(`${scenarios.length} scenarios (${a.full ? 'full' : 'quick'} mode), about ${duration(plan.reduce((x, p) => x + p.seconds, 0))}; results in ${path.relative(process.cwd(), dir)}/`);
    const ui = new Progress(plan);
    try {
      outcome = await runScenarios({ scenarios, options: { ...options, signal: stop.signal }, target, host, dir }, ui);
    } finally {
      ui.stop();
    }
    if (stop.signal.aborted) {
      const left = await destroyBenchGuests(target).catch((err: unknown) => { say(`bench: could not destroy the benchmark's guests: ${(err as Error).message}`); return []; });
      if (left.length) say(`bench: destroyed ${left.length} guests the interrupted scenario left in dom0`);
    }
  } finally {
    if (lab && !reused) await lab.down();
  }
  if (fs.existsSync(dir)) await regenerate(a.results, a.doc);
  for (const f of outcome.failures) say(`bench: ${f.scenario} failed: ${f.message}`);
  if (stop.signal.aborted) {
    say(`bench: interrupted; what was measured is kept in ${path.relative(process.cwd(), dir)}/`);
    return 130;
  }
  if (outcome.failures.length) say(`bench: ${outcome.failures.length} of ${scenarios.length} scenarios failed; what they measured before failing is kept in ${path.relative(process.cwd(), dir)}/`);
  return outcome.failures.length ? 1 : 0;
}

async function main(): Promise<number> {
  const a = parseArgs(hideBin(process.argv));
  if (a.list) { for (const s of SCENARIOS) process.stdout.write(`${s.name}: ${s.description}\n`); return 0; }
  if (a.compare) {
    process.stdout.write(renderComparison(loadResultSet(a.compare[0], a.results), loadResultSet(a.compare[1], a.results)));
    return 0;
  }
  if (a.report !== undefined) {
    const from = a.report || a.results;
    if (!fs.existsSync(from)) throw new UsageError(`--report: ${from} does not exist`);
    await regenerate(from, a.doc);
    return 0;
  }
  return measure(a);
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname;
if (isMain) {
  main().then((c) => { process.exitCode = c; }, (err: unknown) => {
    const e = err as Error;
    if (e instanceof UsageError) { say(`bench: ${e.message}\nTry \`npm run bench -- --help\`.`); process.exitCode = 2; return; }
    if (e instanceof CompareError) { say(`bench: ${e.message}`); process.exitCode = 2; return; }
    const known = e instanceof LabError || e instanceof TargetError;
    say(`bench: ${known ? '' : 'unexpected error: '}${e.message}${err instanceof LabError && err.details ? '\n' + err.details : ''}`);
    if (!known && e.stack) say(e.stack);
    process.exitCode = 1;
  });
}
