// Lab: the benchmark scripts run in dom0 on real Xen: what they report is well formed, a 4 MiB guest holds 4 MiB, and they leave no domain behind.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { PROJECT_ROOT } from '../../lab/config.js';
import { labOrSkip, NOOP_KERNEL, PROJECT, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();

/** Runs dist/bench/dom0/<script> in dom0 and returns its JSON lines. */
async function script(name: string, args: string[]): Promise<Record<string, unknown>[]> {
  const r = await lab!.run(['node', `${PROJECT}/dist/bench/dom0/${name}`, ...args], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`${name} failed (exit ${r.code}): ${r.stderr.toString()}`);
  return r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}
const samples = (lines: Record<string, unknown>[]) => lines.filter((m) => m.kind === 'sample');

t.test('pause.js: a pause and an unpause per tool and repetition, on one guest it then destroys', { skip }, async (t) => {
  const lines = await script('pause.js', ['--reps', '2', '--tools', 'xl,chaos', '--kernel', NOOP_KERNEL]);
  const got = samples(lines).map((m) => `${m.tool} ${m.metric} ${m.rep}`).sort();
  t.same(got, ['chaos pause 0', 'chaos pause 1', 'chaos unpause 0', 'chaos unpause 1', 'xl pause 0', 'xl pause 1', 'xl unpause 0', 'xl unpause 1']);
  t.ok(samples(lines).every((m) => typeof m.value === 'number' && m.value > 0), 'every time is a positive number');
  t.ok(lines.some((m) => m.kind === 'step'), 'it reports how far it is');
  t.notOk((await xlList(lab!)).some((d) => d.name.startsWith('bpause-')), 'no guest left behind');
});

t.test('memory.js: each 4 MiB noop guest holds 4096 KiB, and the host gives at least that per guest', { skip }, async (t) => {
  const lines = await script('memory.js', ['--count', '2', '--tools', 'xl,chaos', '--kernel', NOOP_KERNEL]);
  for (const tool of ['xl', 'chaos']) {
    const of = (metric: string) => samples(lines).find((m) => m.tool === tool && m.metric === metric)?.value as number;
    t.equal(of('guest-pages-per-guest'), 4096, `${tool}: the guest's own pages`);
    t.ok(of('host-memory-per-guest') >= 4096, `${tool}: the host's free memory drops by ${of('host-memory-per-guest')} KiB a guest`);
    t.equal(of('xen-overhead-per-guest'), of('host-memory-per-guest') - of('guest-pages-per-guest'), `${tool}: the rest is Xen's`);
  }
  t.notOk((await xlList(lab!)).some((d) => d.name.startsWith('bmem-')), 'no guest left behind');
});

t.test('fork-exec.js: the C loop and node both fork+exec+wait /bin/true', { skip }, async (t) => {
  const dir = path.join(lab!.shareDir, 'bench-test');
  fs.mkdirSync(dir, { recursive: true });
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  execFileSync('gcc', ['-O2', '-static', '-o', path.join(dir, 'fork-exec'), path.join(PROJECT_ROOT, 'bench', 'dom0', 'fork-exec.c')]);
  const lines = await script('fork-exec.js', ['--reps', '3', '--c-helper', '/mnt/share/bench-test/fork-exec']);
  for (const metric of ['c-fork-exec-wait', 'node-spawnSync', 'node-spawn']) {
    const of = samples(lines).filter((m) => m.metric === metric);
    t.equal(of.length, 3, `${metric}: one sample per repetition`);
    t.ok(of.every((m) => (m.value as number) > 0 && typeof m.real === 'string'), `${metric}: positive times, and what /bin/true really is`);
  }
  const bad = await lab!.run(['/mnt/share/bench-test/fork-exec', '2', '/bin/false']);
  t.not(bad.code, 0, 'the C loop fails when the program does not exit with 0');
  t.match(bad.stderr.toString(), /did not exit with 0/);
});
