// Lab: the benchmark scripts run in dom0 on real Xen: what they report is well formed, a 4 MiB guest holds 4 MiB, and they leave no domain behind.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { PROJECT_ROOT } from '../../lab/config.js';
import { chaos, labOrSkip, NOOP_KERNEL, PROJECT, putFile, READY, xlList } from './fixture.js';
import { noxsSkip } from './noxs-chaos.js';

const { lab, skip } = labOrSkip();
/** chaosd-create.js measures over noxs too: it needs the patched hypervisor (devctl). */
const noxs = await noxsSkip(lab, skip);

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

/** Every domain id Xen has (xl list shows those without a XenStore name, noxs guests and shells, as "(null)"). */
async function domids(): Promise<number[]> {
  return (await xlList(lab!)).map((d) => d.id).sort((a, b) => a - b);
}

/** Polls until Xen holds exactly the domains it held before (a destroyed domain may take a moment to go). */
async function domidsBackTo(before: number[], timeoutSec = 30): Promise<number[]> {
  const deadline = Date.now() + timeoutSec * 1000;
  for (;;) {
    const now = await domids();
    if (JSON.stringify(now) === JSON.stringify(before) || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** How many devices noxsd holds, of every domain. */
async function noxsdTotal(): Promise<number> {
  const r = await lab!.run(['node', `${PROJECT}/dist/test/lab/dom0/noxsd-count.js`], { timeoutMs: 120_000 });
  const out = JSON.parse(r.stdout.toString() || '{}') as { total?: number; fatal?: string };
  if (r.code !== 0 || out.total === undefined) throw new Error(`noxsd-count: ${out.fatal ?? r.stderr.toString()}`);
  return out.total;
}

/** The chaosd processes (and their workers) and directories chaosd-create.js makes: /run/lightvm-bench-chaosd-<pid>-<method>. */
async function benchDaemons(): Promise<string> {
  // "chaosd[-]": this shell's own command line must not match.
  return lab!.sh(`for p in /proc/[0-9]*; do a=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null) || continue; case "$a" in */run/lightvm-bench-chaosd[-]*) echo "pid \${p#/proc/}: $a";; esac; done; ls -d /run/lightvm-bench-chaosd[-]* 2>/dev/null; true`);
}

/**
 * Runs chaosd-create.js and checks that it left nothing: no domain, no noxs device, no chaosd.
 * `clean`: the domains and devices to come back to (what there was before a test left something for
 * the script's sweep to find); else those there when it starts, with no chaosd of an earlier run.
 */
async function chaosdCreate(t: Test, args: string[], clean?: { domids: number[]; devices: number }): Promise<Record<string, unknown>[]> {
  const [now, devicesNow, left] = await Promise.all([domids(), noxsdTotal(), benchDaemons()]);
  const before = clean?.domids ?? now, devices = clean?.devices ?? devicesNow;
  if (!clean) t.equal(left, '', 'no chaosd of an earlier run is left over');
  const t0 = performance.now();
  // Pools of one shell: a chaosd start (both at once, then one per batch) fills its pool sooner.
  const lines = await script('chaosd-create.js', [...args, '--kernel', NOOP_KERNEL, '--high', '1']);
  t.comment(`chaosd-create.js ${args.join(' ')}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const after = await domidsBackTo(before);
  const [devicesAfter, leftAfter] = await Promise.all([noxsdTotal(), benchDaemons()]);
  t.same(after, before, 'Xen holds the domains it held before, and no other');
  t.equal(devicesAfter, devices, 'noxsd holds as many devices as before');
  t.equal(leftAfter, '', 'its chaosd daemons are stopped and their directories gone');
  return lines;
}

const progressOf = (lines: Record<string, unknown>[]) => lines.filter((m) => m.kind === 'progress').map((m) => String(m.message));

t.test('chaosd-create.js: each of the five tools makes a guest at N = 0 and 2, chaosd batches, nothing is left', { skip: noxs }, async (t) => {
  const prefix = `tcd${process.pid.toString(36)}`;
  const tools = ['xl', 'chaos', 'chaos-noxs', 'chaosd', 'chaosd-noxs'];
  const lines = await chaosdCreate(t, ['--tools', tools.join(','), '--counts', '0,2', '--reps', '1', '--batch', '3', '--prefix', prefix]);
  const points = (metric: string) => samples(lines).filter((m) => m.metric === metric).map((m) => `${m.tool} N=${m.running} rep ${m.rep}`).sort();
  const want = tools.flatMap((tool) => [0, 2].map((n) => `${tool} N=${n} rep 0`)).sort();
  t.same(points('create-to-ready'), want, 'one create-to-ready sample per tool, N and repetition');
  t.same(points('create-call'), want, 'one create-call sample per tool, N and repetition');
  t.ok(samples(lines).filter((m) => String(m.metric).startsWith('create-') && m.metric !== 'create-phase').every((m) => typeof m.value === 'number' && m.value > 0), 'every time is a positive number');
  const daemon = samples(lines).filter((m) => m.metric === 'create-to-ready' && String(m.tool).startsWith('chaosd'));
  t.ok(daemon.every((m) => typeof m.fromPool === 'boolean'), 'chaosd says whether each guest came from a shell');
  for (const tool of ['chaosd', 'chaosd-noxs']) {
    t.ok(samples(lines).some((m) => m.tool === tool && m.metric === 'create-phase' && m.phase === 'build'), `${tool}: its reply's phases are reported`);
  }
  const batches = samples(lines).filter((m) => m.metric === 'batch-creates-per-second');
  t.same(batches.map((m) => m.tool).sort(), ['chaosd', 'chaosd-noxs'], 'one batch per chaosd');
  t.ok(batches.every((m) => m.batch === 3 && typeof m.value === 'number' && m.value > 0), 'each batch of 3 has a positive rate');
  const progress = progressOf(lines);
  t.ok(progress.includes('2/2 background guests'), 'chaosd made the two background guests');
  t.ok(progress.some((m) => /^2 guests running \(made in \d+ s by chaosd over xenstore\)$/.test(m)), 'xenconsoled logged both booting before the measuring began');
  for (const bg of [`${prefix}-bg-0`, `${prefix}-bg-1`]) {
    const log = (await lab!.run(['cat', `/var/log/xen/console/guest-${bg}.log`])).stdout.toString();
    t.ok(log.includes(READY), `background guest ${bg} booted (its console log holds the ready mark)`);
  }
  t.notOk((await xlList(lab!)).some((d) => d.name.startsWith(`${prefix}-`)), 'xl list shows none of its guests');
});

t.test('chaosd-create.js --background noxs --warmup 1: the background guests come from chaosd over noxs; warm-up creates are not samples', { skip: noxs }, async (t) => {
  const prefix = `tcn${process.pid.toString(36)}`;
  const lines = await chaosdCreate(t, ['--tools', 'xl,chaosd-noxs', '--counts', '2', '--reps', '1', '--batch', '0', '--background', 'noxs', '--prefix', prefix, '--warmup', '1']);
  const got = samples(lines).filter((m) => m.metric === 'create-to-ready').map((m) => `${m.tool} N=${m.running}`).sort();
  t.same(got, ['chaosd-noxs N=2', 'xl N=2'], 'one sample per tool: the warm-up creates are not counted');
  t.ok(progressOf(lines).includes('1 unmeasured create(s) per tool done'), 'the warm-up ran');
  t.ok(samples(lines).filter((m) => m.metric !== 'create-phase').every((m) => typeof m.value === 'number' && m.value > 0), 'every time is a positive number');
  t.notOk(samples(lines).some((m) => m.metric === 'batch-creates-per-second'), 'no batch with --batch 0');
  const progress = progressOf(lines);
  t.ok(progress.includes('2/2 background guests'), 'chaosd made the two background guests');
  t.ok(progress.some((m) => /^2 guests running \(made in \d+ s by chaosd over noxs\)$/.test(m)), 'over noxs');
});

t.test('chaosd-create.js sweeps a noxs guest that a killed run left: no name in XenStore, found by its chaosd\'s record', { skip: noxs }, async (t) => {
  const prefix = `tcs${process.pid.toString(36)}`;
  // The directory of a chaosd of this script whose process is gone (no pid is above 2^22).
  const dead = '/run/lightvm-bench-chaosd-4194304-noxs';
  const clean = { domids: await domids(), devices: await noxsdTotal() };
  const name = `${prefix}-m-cdx-0-0`;
  await putFile(lab!, `/tmp/${prefix}.cfg`, `name = "${name}"\ntype = "pv"\nkernel = "${NOOP_KERNEL}"\nmemory = 4\n`);
  const made = await chaos(lab!, ['--no-daemon', '--state-dir', `${dead}/state`, 'create', '--dev-method', 'noxs', `/tmp/${prefix}.cfg`]);
  t.equal(made.code, 0, `the leftover made${made.code ? `: ${made.stderr}` : ''}`);
  t.teardown(async () => { await chaos(lab!, ['--no-daemon', '--state-dir', `${dead}/state`, 'destroy', name]); await lab!.run(['rm', '-rf', dead]); });
  t.notOk((await xlList(lab!)).some((d) => d.name === name), 'xl list does not show it by name (a noxs guest has none in XenStore)');
  t.equal((await domids()).length, clean.domids.length + 1, 'Xen runs it');
  await chaosdCreate(t, ['--tools', 'chaosd-noxs', '--counts', '0', '--reps', '1', '--batch', '0', '--prefix', prefix], clean);
});

t.test('chaosd-create.js: a tool it does not know is a clear error', { skip }, async (t) => {
  const r = await lab!.run(['node', `${PROJECT}/dist/bench/dom0/chaosd-create.js`, '--tools', 'xl,xm', '--kernel', NOOP_KERNEL], { timeoutMs: 120_000 });
  t.equal(r.code, 1);
  t.match(r.stderr.toString(), /unknown tool xm: one of xl, chaos, chaos-noxs, chaosd, chaosd-noxs/);
});
