#!/usr/bin/env node
// `npm run bench`: runs the benchmark scenarios in the lab, records every sample, and regenerates docs/benchmarks.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Lab } from '../lab/lab.js';
import { LabError } from '../lab/errors.js';
import { PROJECT_ROOT } from '../lab/config.js';
import { parseXlInfo } from '../lab/xl.js';
import { commitId, hostCpu, writeResults, type HostProps } from './record.js';
import { findScenarios, ScenarioError, SCENARIOS } from './scenarios.js';
import { renderBenchmarks } from './report.js';

const RESULTS = path.join(PROJECT_ROOT, 'bench', 'results');
const DOC = path.join(PROJECT_ROOT, 'docs', 'benchmarks.md');
const say = (s: string) => process.stderr.write(s + '\n');

async function main(): Promise<number> {
  const a = await yargs(hideBin(process.argv))
    .scriptName('bench')
    .usage('$0 [options]\n\nRuns benchmark scenarios on real Xen in the lab and regenerates docs/benchmarks.md.')
    .option('full', { type: 'boolean', default: false, describe: 'the whole sweep (default: quick mode, a few minutes)' })
    .option('scenario', { type: 'string', array: true, describe: `scenario(s) to run: ${SCENARIOS.map((s) => s.name).join(', ')}` })
    .option('reps', { type: 'number', describe: 'creates per point (median, min, max are kept)' })
    .option('counts', { type: 'string', describe: 'numbers of running guests, e.g. 0,10,50' })
    .option('tools', { type: 'string', describe: 'for create scenarios: the tools to compare, e.g. xl,chaos (default: all of the scenario)' })
    .option('report-only', { type: 'boolean', default: false, describe: 'only regenerate docs/benchmarks.md from recorded results' })
    .option('list', { type: 'boolean', default: false, describe: 'list the scenarios' })
    .strict().help()
    .fail((msg, err) => { if (err) throw err; say(`bench: ${msg}\nTry \`npm run bench -- --help\`.`); process.exit(2); })
    .parseAsync();

  if (a.list) { for (const s of SCENARIOS) process.stdout.write(`${s.name}: ${s.description}\n`); return 0; }
  let scenarios;
  try { scenarios = findScenarios(a.scenario); } catch (e) { say(`bench: ${(e as Error).message}`); return 2; }
  const counts = a.counts === undefined ? undefined : a.counts.split(',').map(Number);
  if (counts && counts.some((n) => !Number.isInteger(n) || n < 0 || n > 5000)) { say('bench: --counts takes whole numbers from 0 to 5000, comma separated'); return 2; }
  if (a.reps !== undefined && (!Number.isInteger(a.reps) || a.reps < 1 || a.reps > 100)) { say('bench: --reps takes a whole number from 1 to 100'); return 2; }

  if (!a['report-only']) {
    const tools = a.tools?.split(',');
    if (tools?.some((x) => !['xl', 'chaos', 'chaos-cli'].includes(x))) { say('bench: --tools takes xl, chaos and chaos-cli, comma separated'); return 2; }
    const opts = { full: a.full, reps: a.reps, counts, tools, progress: (l: string) => say(`  ${l}`) };
    const memoryMiB = Math.max(4096, ...scenarios.map((s) => s.memoryMiB(opts)));
    const lab = new Lab({ stateDir: process.env.LIGHTVM_LAB_STATE_DIR, memoryMiB });
    const up = await lab.up({ reuse: true, log: say });
    const runId = `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-${commitId(PROJECT_ROOT)}`;
    try {
      if (up.reused && up.state.config.memoryMiB < memoryMiB) {
        throw new LabError('EINVAL', `the running lab has ${up.state.config.memoryMiB} MiB; these scenarios need ${memoryMiB} MiB: \`lab down\` and run again`);
      }
      const info = parseXlInfo(await lab.sh('xl info'));
      const host: HostProps = {
        kind: 'lab', cpu: hostCpu(), cores: os.cpus().length, hostKernel: os.release(),
        xen: info.xen_version, dom0Kernel: (await lab.sh('uname -r')).trim(), dom0MemoryMiB: up.state.config.dom0MemoryMiB,
        labMemoryMiB: up.state.config.memoryMiB, commit: commitId(PROJECT_ROOT), node: process.version,
      };
      for (const s of scenarios) {
        say(`scenario ${s.name}: ${s.description}`);
        const t0 = performance.now();
        // Results are written per scenario, so a later failure keeps what was measured; so does a failure part way.
        let samples;
        try {
          samples = await s.run(lab, host, opts);
        } catch (err) {
          if (err instanceof ScenarioError && err.partial.length) {
            const { jsonl } = writeResults(path.join(RESULTS, runId), s.name, err.partial);
            say(`  kept the ${err.partial.length} samples measured before the failure -> ${path.relative(PROJECT_ROOT, jsonl)}`);
          }
          throw err;
        }
        const { jsonl } = writeResults(path.join(RESULTS, runId), s.name, samples);
        say(`  ${samples.length} samples in ${((performance.now() - t0) / 1000).toFixed(0)} s -> ${path.relative(PROJECT_ROOT, jsonl)}`);
      }
    } finally {
      if (!up.reused) await lab.down();
    }
  }
  fs.mkdirSync(path.dirname(DOC), { recursive: true });
  fs.writeFileSync(DOC, renderBenchmarks(RESULTS, PROJECT_ROOT));
  say(`wrote ${path.relative(PROJECT_ROOT, DOC)}`);
  return 0;
}

main().then((c) => { process.exitCode = c; }, (err: unknown) => {
  say(`bench: ${(err as Error).message}${err instanceof LabError && err.details ? '\n' + err.details : ''}`);
  process.exitCode = 1;
});
