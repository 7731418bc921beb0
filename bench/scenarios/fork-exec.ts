// Scenario: the floor on the same host: fork+exec+wait of /bin/true in dom0, from a C loop and from node (spawnSync, spawn).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { PROJECT_ROOT } from '../../lab/config.js';
import { collect, type Scenario } from '../scenario.js';

/** Builds the C loop for dom0 (static: it runs whatever C library dom0 has) into the scratch folder both sides see. */
function buildHelper(scratchHere: string): string {
  fs.mkdirSync(scratchHere, { recursive: true });
  const out = path.join(scratchHere, 'fork-exec');
  try {
    execFileSync('gcc', ['-O2', '-static', '-o', out, path.join(PROJECT_ROOT, 'bench', 'dom0', 'fork-exec.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`could not build the C loop (gcc -static, from libc6-dev): ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`);
  }
  return path.basename(out);
}

const scenario: Scenario = {
  name: 'fork-exec',
  description: 'the floor: fork+exec+wait of /bin/true in dom0, from a C loop and from node (spawnSync and spawn)',
  memoryMiB: () => 2048,
  estimateSeconds: (o) => 10 + (o.reps ?? (o.full ? 100 : 10)) * 3,
  async run(target, host, o) {
    const reps = o.reps ?? (o.full ? 100 : 10);
    const helper = buildHelper(target.scratch.here);
    return collect(target, 'fork-exec.js', ['--reps', String(reps), '--program', '/bin/true', '--c-helper', `${target.scratch.dom0}/${helper}`], o, (m) => ({
      scenario: 'fork-exec', metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(),
      parameters: { program: '/bin/true', resolved: String(m.real), rep: Number(m.rep) },
    }));
  },
};
export default scenario;
