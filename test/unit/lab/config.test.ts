// Unit tests of the lab configuration: defaults, every validation error, host ports and state paths.
import path from 'node:path';
import t, { type Test } from 'tap';
import { DEFAULTS, DOM0_PORTS, PROJECT_ROOT, defaultStateDir, hostPorts, resolveConfig, statePaths, type LabConfig } from '../../../lab/config.js';
import { LabError } from '../../../lab/errors.js';

/** Checks that resolveConfig(input) throws LabError EINVAL whose sentence matches `sentence`. */
function rejects(tt: Test, input: Partial<LabConfig>, sentence: RegExp, what: string): void {
  let err: unknown;
  try {
    resolveConfig(input);
  } catch (e) {
    err = e;
  }
  tt.ok(err instanceof LabError, `${what}: throws a LabError`);
  tt.match(err, { code: 'EINVAL', message: sentence }, `${what}: EINVAL naming the option`);
}

t.test('defaults fill every field', async (tt) => {
  const cfg = resolveConfig();
  tt.same(cfg, {
    stateDir: path.join(PROJECT_ROOT, '.lab'),
    memoryMiB: 4096,
    dom0MemoryMiB: 1024,
    cpus: 2,
    portBase: 17000,
    bootTimeoutSec: 300,
    xenImage: undefined,
    xenArgs: [],
  });
  tt.equal(defaultStateDir(), path.join(PROJECT_ROOT, '.lab'));
  tt.equal(cfg.memoryMiB, DEFAULTS.memoryMiB);
});

t.test('PROJECT_ROOT is the source tree, not dist/', async (tt) => {
  tt.equal(path.basename(PROJECT_ROOT) === 'dist', false);
  tt.ok(PROJECT_ROOT.length > 1 && path.isAbsolute(PROJECT_ROOT));
});

t.test('explicit values win over defaults; undefined does not', async (tt) => {
  const cfg = resolveConfig({
    stateDir: 'rel/dir', memoryMiB: 2048, dom0MemoryMiB: 768, cpus: 4, portBase: 20000, bootTimeoutSec: 60,
    xenImage: 'xen.img', xenArgs: ['sched=credit', 'loglvl=all'],
  });
  tt.equal(cfg.stateDir, path.resolve('rel/dir'), 'state dir made absolute');
  tt.equal(cfg.xenImage, path.resolve('xen.img'), 'xen image made absolute');
  tt.same([cfg.memoryMiB, cfg.dom0MemoryMiB, cfg.cpus, cfg.portBase, cfg.bootTimeoutSec], [2048, 768, 4, 20000, 60]);
  tt.same(cfg.xenArgs, ['sched=credit', 'loglvl=all']);
  const partial = resolveConfig({ memoryMiB: undefined, cpus: undefined, stateDir: undefined });
  tt.equal(partial.memoryMiB, 4096, 'undefined memory keeps the default');
  tt.equal(partial.cpus, 2, 'undefined cpus keeps the default');
});

t.test("the hypervisor: 'stock' and 'noxs' are names, anything else a file made absolute", async (tt) => {
  tt.equal(resolveConfig({ xenImage: 'stock' }).xenImage, 'stock');
  tt.equal(resolveConfig({ xenImage: 'noxs' }).xenImage, 'noxs');
  tt.equal(resolveConfig({ xenImage: './noxs' }).xenImage, path.resolve('noxs'), 'a path that looks like a name is still a path');
  tt.equal(resolveConfig({}).xenImage, undefined, "unset: Debian's");
});

t.test('numbers given as strings (from the environment) are accepted', async (tt) => {
  const cfg = resolveConfig({ memoryMiB: '3072' as unknown as number, portBase: ' 18000 ' as unknown as number });
  tt.equal(cfg.memoryMiB, 3072);
  tt.equal(cfg.portBase, 18000);
});

t.test('limits are inclusive', async (tt) => {
  const lo = resolveConfig({ memoryMiB: 1024, dom0MemoryMiB: 512, cpus: 1, portBase: 1024, bootTimeoutSec: 10 });
  tt.same([lo.memoryMiB, lo.dom0MemoryMiB, lo.cpus, lo.portBase, lo.bootTimeoutSec], [1024, 512, 1, 1024, 10]);
  const hi = resolveConfig({ cpus: 64, portBase: 65533, bootTimeoutSec: 3600 });
  tt.same([hi.cpus, hi.portBase, hi.bootTimeoutSec], [64, 65533, 3600]);
});

t.test('non-integers are refused with a sentence naming the option', async (tt) => {
  rejects(tt, { memoryMiB: 2048.5 }, /^memory \(MiB\) must be a whole number from 1024 to 1048576, got 2048\.5$/, 'fractional memory');
  rejects(tt, { cpus: Number.NaN }, /^cpus must be a whole number/, 'NaN cpus');
  rejects(tt, { cpus: 'two' as unknown as number }, /^cpus must be a whole number from 1 to 64, got "two"$/, 'word for cpus');
  rejects(tt, { portBase: '' as unknown as number }, /^port base must be a whole number/, 'empty port base');
  rejects(tt, { bootTimeoutSec: null as unknown as number }, /^boot timeout \(s\) must be a whole number/, 'null timeout');
  rejects(tt, { dom0MemoryMiB: Infinity }, /^dom0 memory \(MiB\) must be a whole number/, 'infinite dom0 memory');
});

t.test('out-of-range values are refused with a sentence naming the option', async (tt) => {
  rejects(tt, { memoryMiB: 1023 }, /^memory \(MiB\) must be a whole number from 1024 to .*got 1023$/, 'memory below');
  rejects(tt, { memoryMiB: (1 << 20) + 1 }, /^memory \(MiB\) must be/, 'memory above');
  rejects(tt, { dom0MemoryMiB: 511 }, /^dom0 memory \(MiB\) must be a whole number from 512/, 'dom0 memory below');
  rejects(tt, { cpus: 0 }, /^cpus must be a whole number from 1 to 64, got 0$/, 'no cpus');
  rejects(tt, { cpus: 65 }, /^cpus must be a whole number from 1 to 64, got 65$/, 'too many cpus');
  rejects(tt, { portBase: 1023 }, /^port base must be a whole number from 1024 to 65533/, 'privileged port');
  rejects(tt, { portBase: 65534 }, /^port base must be a whole number from 1024 to 65533/, 'port base + 2 beyond 65535');
  rejects(tt, { bootTimeoutSec: 9 }, /^boot timeout \(s\) must be a whole number from 10 to 3600/, 'timeout below');
  rejects(tt, { bootTimeoutSec: 3601 }, /^boot timeout \(s\) must be/, 'timeout above');
  rejects(tt, { cpus: -1 }, /^cpus must be/, 'negative cpus');
});

t.test('dom0 must leave 256 MiB of the machine to Xen and guests', async (tt) => {
  rejects(tt, { memoryMiB: 1024, dom0MemoryMiB: 1024 },
    /^dom0 memory \(1024 MiB\) must leave at least 256 MiB of the machine's 1024 MiB/, 'dom0 as big as the machine');
  rejects(tt, { memoryMiB: 2048, dom0MemoryMiB: 1793 }, /^dom0 memory \(1793 MiB\) must leave/, 'one MiB too many');
  tt.equal(resolveConfig({ memoryMiB: 2048, dom0MemoryMiB: 1792 }).dom0MemoryMiB, 1792, 'exactly 256 MiB left is fine');
  rejects(tt, { memoryMiB: 1024 }, /^dom0 memory \(1024 MiB\)/, 'default dom0 memory on the smallest machine');
});

t.test('a Xen argument must be one non-empty word', async (tt) => {
  rejects(tt, { xenArgs: ['loglvl=all guest_loglvl=all'] }, /^a Xen argument must be one word, got "loglvl=all guest_loglvl=all"$/, 'space');
  rejects(tt, { xenArgs: ['ok', 'tab\there'] }, /^a Xen argument must be one word, got "tab\\there"$/, 'tab after a good word');
  rejects(tt, { xenArgs: ['nl\n'] }, /^a Xen argument must be one word/, 'newline');
  rejects(tt, { xenArgs: [''] }, /^a Xen argument must be one word, got ""$/, 'empty');
  rejects(tt, { xenArgs: [42 as unknown as string] }, /^a Xen argument must be one word, got 42$/, 'not a string');
});

t.test('hostPorts: agent at the base, API +1, DNS +2', async (tt) => {
  tt.same(hostPorts({ portBase: 17000 }), { agent: 17000, api: 17001, dns: 17002 });
  tt.same(hostPorts({ portBase: 40123 }), { agent: 40123, api: 40124, dns: 40125 });
  tt.same(DOM0_PORTS, { agent: 7000, api: 8080, dns: 53 });
});

t.test('statePaths lie inside the state directory', async (tt) => {
  const dir = '/some/where/.lab';
  const p = statePaths(dir);
  tt.same(p, {
    dir,
    state: `${dir}/state.json`,
    serial: `${dir}/serial.log`,
    qemuLog: `${dir}/qemu.log`,
    token: `${dir}/agent-token`,
    imageDir: `${dir}/image`,
    xen: `${dir}/image/xen`,
    share: `${dir}/share`,
  });
});

t.test('the environment sets the port base and the hypervisor for programs that make a Lab (npm test, bench); options still win', async (t) => {
  const { envConfig } = await import('../../../lab/config.js');
  t.same(envConfig({ LIGHTVM_LAB_PORT_BASE: '17300', LIGHTVM_LAB_XEN: 'noxs' }), { portBase: 17300, xenImage: 'noxs' });
  t.same(envConfig({}), {});
  t.throws(() => envConfig({ LIGHTVM_LAB_PORT_BASE: 'x' }), { code: 'EINVAL', message: /LIGHTVM_LAB_PORT_BASE must be a whole number/ });
  const saved = process.env.LIGHTVM_LAB_PORT_BASE;
  process.env.LIGHTVM_LAB_PORT_BASE = '17400';
  t.teardown(() => { if (saved === undefined) delete process.env.LIGHTVM_LAB_PORT_BASE; else process.env.LIGHTVM_LAB_PORT_BASE = saved; });
  t.equal(resolveConfig().portBase, 17400);
  t.equal(resolveConfig({ portBase: 18000 }).portBase, 18000);
});
