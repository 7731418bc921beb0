// Tests of the `lab` command without a running lab: usage errors, help, and what each command says when no lab is up.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../lab/cli.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-cli-test-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const stateDir = path.join(tmp, 'state');

/** A port from the kernel's ephemeral range, released again; far from the real lab's 17000-17002. */
async function unusedPortBase(): Promise<number> {
  for (;;) {
    const s = net.createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    if (port >= 1024 && port <= 65533 && Math.abs(port - 17000) > 4) return port;
  }
}
const portBase = await unusedPortBase();

// Should the CLI ever try to install packages, it meets a stub apt-get that refuses.
const stubDir = path.join(tmp, 'bin');
fs.mkdirSync(stubDir);
fs.writeFileSync(path.join(stubDir, 'apt-get'), '#!/bin/sh\necho "apt-get stub: refusing" >&2\nexit 100\n', { mode: 0o755 });

/** The environment of every run: no LIGHTVM_LAB_* from outside, none of tap's hooks, the test's state dir and ports. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(LIGHTVM_LAB_|TAP|_TAPJS_|NODE_OPTIONS$)/.test(k)) e[k] = v;
  return { ...e, PATH: `${stubDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, LIGHTVM_LAB_STATE_DIR: stateDir, LIGHTVM_LAB_PORT_BASE: String(portBase), ...extra };
}

interface Result { code: number | null; stdout: string; stderr: string }

function lab(args: string[], extraEnv: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: env(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b; });
    child.stderr.on('data', (b: Buffer) => { stderr += b; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.once('error', reject);
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

t.test('no command: exit 2 and a message naming the commands', async (tt) => {
  const r = await lab([]);
  tt.equal(r.code, 2);
  tt.match(r.stderr, /^lab: name a command: up, run, shell, status, down/m);
  tt.match(r.stderr, /lab --help/);
  tt.equal(r.stdout, '');
});

t.test('an unknown option: exit 2', async (tt) => {
  const opt = await lab(['status', '--bogus-option']);
  tt.equal(opt.code, 2);
  tt.match(opt.stderr, /^lab: Unknown argument.*bogus-option/m);
  tt.equal(opt.stdout, '');
});

t.test('--help: exit 0, lists the commands', async (tt) => {
  const r = await lab(['--help']);
  tt.equal(r.code, 0);
  for (const c of ['up', 'run', 'shell', 'status', 'down']) tt.match(r.stdout, new RegExp(`^\\s+lab ${c}\\b`, 'm'), `lists ${c}`);
  tt.match(r.stdout, /--port-base/);
});

t.test('run with no lab: exit 1, says no lab is running', async (tt) => {
  const r = await lab(['run', 'xl', 'list']);
  tt.equal(r.code, 1);
  tt.match(r.stderr, /^lab: no lab is running \(state directory .*\); start one with `lab up`$/m);
  tt.ok(r.stderr.includes(stateDir), 'names the state directory from LIGHTVM_LAB_STATE_DIR');
  tt.equal(r.stdout, '');
});

t.test('run with no command: exit 1, asks for one', async (tt) => {
  const r = await lab(['run']);
  tt.equal(r.code, 1);
  tt.match(r.stderr, /^lab: lab run needs a command/m);
});

t.test('status with no lab says so, in text and JSON', async (tt) => {
  const [text, json] = await Promise.all([lab(['status']), lab(['status', '--json'])]);
  tt.equal(text.code, 0);
  tt.equal(text.stdout, 'no lab is running\n');
  tt.equal(json.code, 0);
  const st = JSON.parse(json.stdout) as Record<string, unknown>;
  tt.match(st, { running: false, agent: false });
  tt.notOk('pid' in st, 'no pid without a lab');
});

t.test('a state record whose QEMU is gone counts as no lab, and is removed', async (tt) => {
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  fs.mkdirSync(stateDir, { recursive: true });
  const record = path.join(stateDir, 'state.json');
  fs.writeFileSync(record, JSON.stringify({ pid: pidMax + 1, startedAt: new Date().toISOString(), ports: { agent: portBase, api: portBase + 1, dns: portBase + 2 } }));
  tt.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const r = await lab(['status', '--json']);
  tt.equal(r.code, 0);
  tt.match(JSON.parse(r.stdout), { running: false });
  tt.notOk(fs.existsSync(record), 'the stale record is gone');
});

t.test('down with no lab: exit 0, no lab was running', async (tt) => {
  const r = await lab(['down']);
  tt.equal(r.code, 0);
  tt.match(r.stderr, /^no lab was running$/m);
});

t.test('up with a bad option value fails before anything boots', async (tt) => {
  // The state dir sits under a regular file: had validation come after the start of a boot, mkdir would fail before QEMU.
  const blocker = path.join(tmp, 'not-a-dir');
  fs.writeFileSync(blocker, '');
  const guarded = { LIGHTVM_LAB_STATE_DIR: path.join(blocker, 'state') };

  const [small, dom0, env, noInstall] = await Promise.all([
    lab(['up', '--memory', '100'], guarded),
    lab(['up', '--memory', '1024', '--dom0-memory', '1024'], guarded),
    lab(['up'], { ...guarded, LIGHTVM_LAB_CPUS: '0' }),
    lab(['up', '--no-install', '--memory', '100'], guarded),
  ]);
  tt.equal(noInstall.code, 1, '--no-install is an option of up, not a usage error');
  tt.match(noInstall.stderr, /^lab: memory \(MiB\) must be/m);
  tt.equal(small.code, 1, '--memory 100: exit 1');
  tt.match(small.stderr, /^lab: memory \(MiB\) must be a whole number from 1024 to \d+, got 100$/m);
  tt.notMatch(small.stderr, /building|booting|installing/, 'nothing was built, booted or installed');

  tt.equal(dom0.code, 1, 'dom0 as big as the machine: exit 1');
  tt.match(dom0.stderr, /^lab: dom0 memory \(1024 MiB\) must leave at least 256 MiB/m);

  tt.equal(env.code, 1, 'a bad value from the environment: exit 1');
  tt.match(env.stderr, /^lab: cpus must be a whole number from 1 to 64, got 0$/m);

  tt.notOk(fs.existsSync(stateDir), 'the test state dir was not created either');
});
