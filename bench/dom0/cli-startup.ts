// Runs in dom0: where a CLI invocation's time goes: bare node, module loading (yargs, pino, addon, toolstack), chaos vs xl commands.
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
/** What `chaos` runs: the one-file bundle with its code cache (toolstack/cli/start.cts). */
const CHAOS = path.join(ROOT, 'toolstack/cli/start.cjs');
/** The same CLI from its ES modules, as before the bundle. */
const MODULES = { LIGHTVM_NO_BUNDLE: '1' };

/** Each step is a whole command, timed from spawn to exit, as a user at the shell sees it. */
const STEPS: { metric: string; cmd: string[]; env?: Record<string, string> }[] = [
  { metric: 'node-bare', cmd: ['node', '-e', '0'] },
  { metric: 'import-yargs', cmd: ['node', '--input-type=module', '-e', "await import('yargs'); await import('yargs/helpers')"] },
  { metric: 'import-pino', cmd: ['node', '--input-type=module', '-e', "await import('pino')"] },
  { metric: 'import-toolstack', cmd: ['node', '--input-type=module', '-e', `await import('${path.join(ROOT, 'toolstack/index.js')}')`] },
  { metric: 'chaos-help', cmd: ['node', CHAOS, '--help'] },
  { metric: 'chaos-help-modules', cmd: ['node', CHAOS, '--help'], env: MODULES },
  { metric: 'chaos-list', cmd: ['node', CHAOS, 'list'] },
  { metric: 'chaos-list-modules', cmd: ['node', CHAOS, 'list'], env: MODULES },
  { metric: 'xl-list', cmd: ['xl', 'list'] },
  { metric: 'chaos-info', cmd: ['node', CHAOS, 'info'] },
  { metric: 'xl-info', cmd: ['xl', 'info'] },
];

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1] || 5);
if (!Number.isInteger(reps) || reps < 1 || reps > 100) throw new Error('--reps takes 1 to 100');
for (let rep = 0; rep < reps; rep++) {
  for (const s of STEPS) {
    const t0 = performance.now();
    const r = spawnSync(s.cmd[0], s.cmd.slice(1), { cwd: ROOT, env: { ...process.env, ...s.env }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${s.cmd.join(' ')} failed: ${r.stderr}`);
    process.stdout.write(JSON.stringify({ kind: 'sample', metric: s.metric, rep, value: ms }) + '\n');
  }
}
