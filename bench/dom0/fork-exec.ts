// Runs in dom0: the floor for comparison: fork+exec+wait of /bin/true from a C loop, and from node (spawnSync and spawn); one JSON line per sample.
import fs from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { arg, emit, intArg, progress, step } from './common.js';

const argv = process.argv.slice(2);
const reps = intArg(argv, 'reps', 50, 1, 10_000);
const program = arg(argv, 'program', '/bin/true');
const helper = arg(argv, 'c-helper', '');

function spawnAsync(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(program, [], { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${program} exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  if (!fs.existsSync(program)) throw new Error(`${program} does not exist in dom0`);
  const real = fs.realpathSync(program);
  progress(`${program} is ${real}${real !== program ? ' (a link)' : ''}`);
  const total = reps * (helper ? 3 : 2);
  let done = 0;
  if (helper) {
    const r = spawnSync(helper, [String(reps), program], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${helper}: ${r.error?.message ?? r.stderr.trim()}`);
    const values = r.stdout.trim().split('\n').map(Number);
    if (values.length !== reps || values.some((v) => !Number.isFinite(v) || v < 0)) throw new Error(`${helper} printed ${values.length} values, not ${reps} times`);
    values.forEach((value, rep) => emit({ kind: 'sample', metric: 'c-fork-exec-wait', rep, value, real }));
    step(done += reps, total);
  }
  for (let rep = 0; rep < reps; rep++) {
    const t0 = performance.now();
    const r = spawnSync(program, [], { stdio: 'ignore' });
    const value = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${program} exited with ${r.status ?? r.signal}: ${r.error?.message ?? ''}`);
    emit({ kind: 'sample', metric: 'node-spawnSync', rep, value, real });
  }
  step(done += reps, total);
  for (let rep = 0; rep < reps; rep++) emit({ kind: 'sample', metric: 'node-spawn', rep, value: await spawnAsync(), real });
  step(done += reps, total);
}

main().catch((err: Error) => { process.stderr.write(`fork-exec: ${err.message}\n`); process.exitCode = 1; });
