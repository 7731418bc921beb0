// Unit: lifecycle logic against the Xen test double: what create writes, name and memory checks, rollback, destroy, shutdown timeouts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Toolstack, opsSince } from '../../../toolstack/domain.js';
import { XenStore } from '../../../toolstack/xen/xenstore.js';
import { XenStoreBackend } from '../../../toolstack/devices/xenstore-backend.js';
import { DomainStore } from '../../../toolstack/store.js';
import { ChaosError } from '../../../toolstack/errors.js';
import type { DomainConfig } from '../../../toolstack/config/domain-config.js';
import { FakeXen } from './fake-xen.js';

function setup(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-ts-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const xen = new FakeXen();
  const store = new DomainStore(dir);
  const xs = new XenStore(xen);
  const ts = new Toolstack({
    xen, backend: new XenStoreBackend(xs), store, log: pino({ level: 'silent' }),
    wrap: (err, domid) => new ChaosError('XEN_CALL', (err as Error).message, { call: (err as { call?: string }).call, domid, cause: err }),
  });
  return { xen, ts, store, xs };
}

function cfg(over: Partial<DomainConfig> = {}): DomainConfig {
  return {
    name: 'g1', type: 'pv', kernel: '/guests/noop', cmdline: '', memoryMiB: 4, maxMemoryMiB: 4, vcpus: 1, maxVcpus: 1,
    cpus: 'all', vifs: [], disks: [], onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy', devMethod: 'xenstore', ...over,
  } as DomainConfig;
}

t.test('create writes the nodes stock guests, xenconsoled and xl read, introduces the domain and unpauses it', async (t) => {
  const { xen, ts, store } = setup(t);
  const r = await ts.create(cfg());
  const h = `/local/domain/${r.domid}`;
  t.equal(xen.store.get(`${h}/name`), 'g1');
  t.equal(xen.store.get(`${h}/vm`), `/vm/${r.uuid}`);
  t.equal(xen.store.get(`/vm/${r.uuid}/name`), 'g1');
  t.equal(xen.store.get(`${h}/console/ring-ref`), String(1000 + r.domid));
  t.equal(xen.store.get(`${h}/console/port`), '2', 'the console event channel (the second allocated)');
  t.equal(xen.store.get(`${h}/store/ring-ref`), String(2000 + r.domid));
  t.equal(xen.store.get(`${h}/memory/target`), '4096');
  t.equal(xen.store.get(`${h}/cpu/0/availability`), 'online');
  const ro = [{ domid: 0, read: false, write: false }, { domid: r.domid, read: true, write: false }];
  t.same(xen.perms.get(h), ro, 'the guest may only read its home');
  t.same(xen.perms.get(`${h}/memory/target`), ro, 'and what is made below it');
  t.same(xen.perms.get(`${h}/control`), [{ domid: r.domid, read: false, write: false }], 'the guest owns control (its feature flags and acknowledgements)');
  t.same(xen.perms.get(`${h}/control/platform-feature-multiprocessor-suspend`), ro, "but not dom0's platform flag");
  t.same(xen.perms.get(`${h}/data`), [{ domid: r.domid, read: false, write: false }], 'the guest owns data');
  await ts.shutdown('g1');
  t.same(xen.perms.get(`${h}/control/shutdown`), [{ domid: r.domid, read: false, write: false }], 'a shutdown request is the guest\'s to acknowledge');
  t.ok(xen.introduced.has(r.domid), 'introduced to xenstored');
  t.equal((await ts.find('g1')).state.includes('p'), false, 'running');
  t.equal(store.get(r.domid)?.name, 'g1', 'recorded');
  const paused = await ts.create(cfg({ name: 'g2' }), { paused: true });
  t.match((await ts.find(paused.domid)).state, /p/, '-p leaves it paused');
});

t.test('a name in use, a bad name, and too little memory are refused, and leave no domain behind', async (t) => {
  const { xen, ts } = setup(t);
  await ts.create(cfg());
  // The checks run while the shell is made (to hide their cost): a shell made meanwhile is destroyed.
  const alive = () => xen.calls.filter((c) => c === 'domainCreate').length - xen.calls.filter((c) => c.startsWith('destroy ')).length;
  const before = alive();
  await t.rejects(ts.create(cfg()), { code: 'NAME_IN_USE' });
  await t.rejects(ts.create(cfg({ name: 'Domain-0' })), { code: 'NAME_IN_USE' });
  await t.rejects(ts.create(cfg({ name: 'bad name/..' })), { code: 'CONFIG_INVALID' });
  await t.rejects(ts.create(cfg({ name: 'big', memoryMiB: 100_000, maxMemoryMiB: 100_000 })), { code: 'NO_MEMORY', message: /100000 MiB/ });
  t.equal(alive(), before, 'every shell made meanwhile was destroyed');
  t.same((await ts.list()).map((d) => d.name).filter((n) => n !== 'Domain-0'), ['g1'], 'only the first domain exists');
});

t.test("a long-running caller's names in use (taken, even as a promise) replace the scan: a name in it is refused, one outside it made", async (t) => {
  const { xen, ts } = setup(t);
  const alive = () => xen.calls.filter((c) => c === 'domainCreate').length - xen.calls.filter((c) => c.startsWith('destroy ')).length;
  await t.rejects(ts.create(cfg({ name: 'held' }), { taken: Promise.resolve(new Set(['held'])) }), { code: 'NAME_IN_USE' });
  t.equal(alive(), 0, 'the shell made meanwhile was destroyed');
  const r = await ts.create(cfg({ name: 'free' }), { taken: new Set(['held']) });
  t.equal(r.name, 'free');
  await t.rejects(ts.create(cfg({ name: 'other' }), { taken: Promise.reject(new Error('index broke')) }), { message: 'index broke' });
  t.equal(alive(), 1, 'a failed index leaves no shell behind');
});

t.test('a kernel Xen cannot parse is KERNEL_INVALID, and the half-made domain is gone without a trace', async (t) => {
  const { xen, ts, store } = setup(t);
  xen.badKernel = true;
  const err = await ts.create(cfg({ kernel: '/etc/passwd' })).catch((e: unknown) => e) as ChaosError;
  t.equal(err.code, 'KERNEL_INVALID');
  t.match(err.message, /\/etc\/passwd is not a kernel/);
  t.same([...xen.domains.keys()], [0], 'only dom0 is left');
  t.notOk([...xen.store.keys()].some((k) => /^\/local\/domain\/[1-9]/.test(k) || k.startsWith('/vm/')), 'no XenStore node is left');
  t.same(store.all(), [], 'no record is left');
});

t.test('destroy removes the domain, its nodes and its record; dom0 cannot be destroyed', async (t) => {
  const { xen, ts, store } = setup(t);
  const r = await ts.create(cfg());
  await ts.destroy('g1');
  t.notOk(xen.domains.has(r.domid));
  t.notOk([...xen.store.keys()].some((k) => k.startsWith(`/local/domain/${r.domid}`) || k.startsWith(`/vm/${r.uuid}`)));
  t.equal(store.get(r.domid), undefined);
  await t.rejects(ts.destroy('g1'), { code: 'DOMAIN_NOT_FOUND', message: /name "g1"/ });
  await t.rejects(ts.destroy(0), { code: 'GUEST_STATE' });
  await t.rejects(ts.destroy('77'), { code: 'DOMAIN_NOT_FOUND', message: /id "77"/ });
});

t.test('shutdown writes the request; with a wait it returns once the guest is down, or times out clearly', async (t) => {
  const { xen, ts } = setup(t);
  const r = await ts.create(cfg());
  await ts.shutdown('g1');
  t.equal(xen.store.get(`/local/domain/${r.domid}/control/shutdown`), 'poweroff');
  await t.rejects(ts.shutdown('g1', { waitMs: 300 }), { code: 'TIMEOUT', message: /did not shut down within/ });
  setTimeout(() => void xen.domainShutdown(r.domid, 0), 150);
  const d = await ts.shutdown('g1', { waitMs: 5000 });
  t.equal(d.shutdownReason, 'poweroff');
  await ts.shutdown('g1', { reboot: true });
  t.equal(xen.store.get(`/local/domain/${r.domid}/control/shutdown`), 'reboot');
});

t.test('transactions that conflict are retried, then given up with a clear error', async (t) => {
  const { xen, ts } = setup(t);
  // A device's nodes are one transaction (a create's own nodes are in none: they conflict with nothing).
  const vif = { vifs: [{}] as DomainConfig['vifs'] };
  xen.conflicts = 3;
  await ts.create(cfg(vif));
  t.equal(xen.conflicts, 0, 'three conflicts were retried');
  xen.conflicts = 1000;
  await t.rejects(ts.create(cfg({ name: 'g9', ...vif })), { code: 'XENSTORE', message: /conflicted/ });
  t.notOk((await ts.list()).some((d) => d.name === 'g9'), 'the half-made domain was rolled back');
});

t.test('list names domains made by others from XenStore and shows xl-style states', async (t) => {
  const { xen, ts } = setup(t);
  const r = await ts.create(cfg());
  const other = await xen.domainCreate({ handle: '11111111-2222-3333-4444-555555555555', maxVcpus: 1, maxGrantFrames: 1, maxMaptrackFrames: 1 });
  xen.store.set(`/local/domain/${other}/name`, 'made-by-xl');
  await xen.domainShutdown(other, 3);
  xen.domains.get(other)!.info.crashed = true;
  const l = await ts.list();
  t.same(l.map((d) => d.name), ['Domain-0', 'g1', 'made-by-xl']);
  t.equal(l.find((d) => d.domid === r.domid)!.memMiB, 4);
  t.match(l.find((d) => d.name === 'made-by-xl')!.state, /c/);
  t.equal(l.find((d) => d.name === 'made-by-xl')!.shutdownReason, 'crash');
});

t.test('shutdown actions: destroy, restart (with a loop guard), preserve once; domains made by others are left alone', async (t) => {
  const { xen, ts } = setup(t);
  const off = await ts.create(cfg({ name: 'off' }));
  const crash = await ts.create(cfg({ name: 'crashy', onCrash: 'restart' }));
  const keep = await ts.create(cfg({ name: 'keep', onPoweroff: 'preserve' }));
  const foreign = await xen.domainCreate({ handle: '11111111-2222-3333-4444-555555555555', maxVcpus: 1, maxGrantFrames: 1, maxMaptrackFrames: 1 });
  await xen.domainShutdown(off.domid, 0);
  await xen.domainShutdown(crash.domid, 3);
  await xen.domainShutdown(keep.domid, 0);
  await xen.domainShutdown(foreign, 0);
  const done = await ts.applyShutdownActions();
  t.same(done.map((d) => [d.name, d.reason, d.action]), [['off', 'poweroff', 'destroy'], ['crashy', 'crash', 'restart'], ['keep', 'poweroff', 'preserve']]);
  t.notOk(xen.domains.has(off.domid), 'on_poweroff=destroy destroyed it');
  const again = done[1].newDomid!;
  t.ok(xen.domains.has(again) && again !== crash.domid, 'on_crash=restart made a new domain');
  t.equal((await ts.find('crashy')).domid, again, 'with the same name');
  t.ok(xen.domains.has(keep.domid), 'preserve keeps it');
  t.ok(xen.domains.has(foreign), 'a domain chaos did not make is not touched');
  t.same(await ts.applyShutdownActions(), [], 'preserve is reported once');

  let id = again;
  for (let i = 0; i < 3; i++) {
    await xen.domainShutdown(id, 3);
    const [d] = await ts.applyShutdownActions();
    if (i < 2) { t.equal(d.action, 'restart'); id = d.newDomid!; } else t.equal(d.action, 'destroy (restart loop)', 'the fourth crash within a minute is not restarted');
  }
  t.notOk((await ts.list()).some((d) => d.name === 'crashy'));
});

t.test('find by id or by a name chaos made costs no scan of every domain; stale index entries fall back to the scan', async (t) => {
  const { xen, ts, store } = setup(t);
  const r = await ts.create(cfg({ name: 'web' }));
  // A scan reads the name of every domain Xen lists (dom0's among them).
  let scans = 0;
  const batch = xen.xsBatch.bind(xen);
  xen.xsBatch = async (ops, tx) => { if (ops.some((o) => o.op === 'read' && o.path === '/local/domain/0/name')) scans++; return batch(ops, tx); };
  t.equal((await ts.find('web')).domid, r.domid);
  t.equal((await ts.find(String(r.domid))).name, 'web');
  t.equal(scans, 0, 'no scan of every domain\'s name');
  // The domain dies behind chaos's back and its id is reused by xl: the index must not be believed.
  await xen.domainDestroy(r.domid);
  t.equal(store.byName('web')?.domid, r.domid, 'the index still points at the dead domain');
  await t.rejects(ts.find('web'), { code: 'DOMAIN_NOT_FOUND' });
  t.ok(scans > 0, 'the scan was the fallback');
  await ts.create(cfg({ name: 'web2' }));
  await ts.destroy('web2');
  t.equal(store.byName('web2'), undefined, 'destroy removes the name from the index');
  t.equal(store.byName('../etc'), undefined, 'a name is never a path');
});

t.test('a shell is anonymous until finish names it; a config of another size or a taken name is refused and the shell is left intact', async (t) => {
  const { xen, ts } = setup(t);
  const shell = await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 });
  const h = `/local/domain/${shell.domid}`;
  t.equal(xen.store.get(`${h}/vm`), `/vm/${shell.uuid}`, 'the shell has its home');
  t.notOk(xen.store.has(`${h}/name`), 'but no name');
  t.equal(xen.domains.get(shell.domid)?.info.nrPages, 0, 'and no memory populated yet');
  await ts.create(cfg({ name: 'taken' }));
  await t.rejects(ts.finish(shell, cfg({ name: 'big', memoryMiB: 8, maxMemoryMiB: 8 })), { code: 'CONFIG_INVALID', message: /does not fit the shell/ });
  await t.rejects(ts.finish(shell, cfg({ name: 'taken' })), { code: 'NAME_IN_USE' });
  await t.rejects(ts.finish(shell, cfg({ name: 'u', uuid: '11111111-2222-3333-4444-555555555555' })), { code: 'CONFIG_INVALID', message: /uuid/ });
  t.ok(xen.domains.has(shell.domid), 'the shell survived the refusals');
  const r = await ts.finish(shell, cfg({ name: 'late' }));
  t.equal(r.domid, shell.domid);
  t.equal(xen.store.get(`${h}/name`), 'late');
  t.equal(xen.store.get(`/vm/${shell.uuid}/name`), 'late');
  t.equal(xen.domains.get(shell.domid)?.info.nrPages, 4 * 256, 'memory is populated by the build');
  const spare = await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 });
  await ts.destroyShell(spare);
  t.notOk(xen.domains.has(spare.domid), 'destroyShell removes the domain');
  t.notOk(xen.store.has(`/local/domain/${spare.domid}`), 'and its home');
  await t.rejects(ts.prepare({ memoryMiB: 0, maxMemoryMiB: 4, maxVcpus: 1 }), { code: 'CONFIG_INVALID' });
});

t.test("a noop create and its destroy send xenstored a pinned number of requests (docs/xenstore.md says what each node is for)", async (t) => {
  const { xen, ts, xs } = setup(t);
  const sent: { transaction: boolean; ops: string[] }[] = [];
  const batch = xen.xsBatch.bind(xen);
  xen.xsBatch = (ops, transaction) => { sent.push({ transaction, ops: ops.map((o) => o.op) }); return batch(ops, transaction); };
  const c0 = xs.opCounts();
  // `taken`: the names in use come from the caller (as chaosd and the in-process bench keep them), so no name is read.
  const r = await ts.create(cfg(), { taken: new Set() });
  // prepare: home (mkdir, permissions), domid, vm, start_time, the platform flag and control's
  // permissions, data and error (mkdir, permissions each), memory static-max and target, one vCPU,
  // the store and console ports, the console limit; connect: two names, two ring-refs, the introduction.
  t.same(opsSince(c0, xs.opCounts()), { mkdir: 3, setPermissions: 4, write: 14, introduce: 1, total: 22 }, 'create: 22 requests');
  t.notOk(sent.some((b) => b.transaction), 'in no transaction');
  t.equal(sent.length, 2, "two batches, prepare's and connect's (the addon takes connect's introduction as a call of its own, the wire client in the batch)");
  const c1 = xs.opCounts();
  await ts.destroy(r.domid);
  t.same(opsSince(c1, xs.opCounts()), { read: 1, directory: 3, rm: 2, total: 6 }, 'destroy: 6 requests (what may be missing is looked at, the rest removed)');
  t.notOk([...xen.store.keys()].some((k) => /^\/local\/domain\/[1-9]/.test(k) || k.startsWith('/vm/')), 'and nothing is left');
  // A vCPU kept offline costs one more write in connect; a second vCPU one more in prepare.
  const c2 = xs.opCounts();
  await ts.create(cfg({ name: 'two', vcpus: 1, maxVcpus: 2 }), { taken: new Set() });
  t.same(opsSince(c2, xs.opCounts()).write, 16, 'two vCPUs, one of them offline: two writes more');
});

t.test('list and the name check read the names of the domains Xen lists, never a listing of /local/domain (too big for one XenStore message with a thousand domains)', async (t) => {
  const { xen, ts } = setup(t);
  await ts.create(cfg({ name: 'one' }));
  let directories = 0;
  const batch = xen.xsBatch.bind(xen);
  xen.xsBatch = async (ops, tx) => { directories += ops.filter((o) => o.op === 'directory' && o.path === '/local/domain').length; return batch(ops, tx); };
  t.ok((await ts.list()).some((d) => d.name === 'one'));
  t.ok((await ts.namesInUse()).has('one'));
  await t.rejects(ts.create(cfg({ name: 'one' })), { code: 'NAME_IN_USE' });
  t.equal(directories, 0);
});

t.test('finish records the domain before it unpauses it, or (recordAfterStart: a journaling caller) after; a record that cannot be written destroys the domain either way', async (t) => {
  const { xen, ts, store } = setup(t);
  const recordedAtUnpause = new Map<number, boolean>();
  const unpause = xen.domainUnpause.bind(xen);
  xen.domainUnpause = async (domid: number) => { recordedAtUnpause.set(domid, store.get(domid) !== undefined); return unpause(domid); };
  const first = await ts.finish(await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 }), cfg({ name: 'first' }));
  t.equal(recordedAtUnpause.get(first.domid), true, 'by default the record exists when the guest starts');
  const after = await ts.finish(await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 }), cfg({ name: 'after' }), { recordAfterStart: true });
  t.equal(recordedAtUnpause.get(after.domid), false, 'recordAfterStart: the guest starts first');
  t.equal(store.get(after.domid)?.name, 'after', 'and the record is written before finish returns');
  t.equal(xen.domains.get(after.domid)?.info.paused, false);
  const shell = await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 });
  const put = store.put.bind(store);
  store.put = () => { throw new Error('ENOSPC: no space left on device'); };
  await t.rejects(ts.finish(shell, cfg({ name: 'full' }), { recordAfterStart: true }), /ENOSPC/);
  store.put = put;
  t.notOk(xen.domains.has(shell.domid), 'a started domain whose record failed is destroyed');
});
