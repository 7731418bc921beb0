// Unit: the noxs back-end behind the router, against the Xen double, a fake devctl and a fake noxsd: no XenStore, devices on the page, cleanup, power, names, console.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Toolstack } from '../../../../toolstack/domain.js';
import { XenStore } from '../../../../toolstack/xen/xenstore.js';
import { XenStoreBackend } from '../../../../toolstack/devices/xenstore-backend.js';
import { NoxsBackend } from '../../../../toolstack/devices/noxs-backend.js';
import { DeviceRouter } from '../../../../toolstack/devices/router.js';
import type { DevMethod } from '../../../../toolstack/devices/backend.js';
import { DomainStore } from '../../../../toolstack/store.js';
import { ChaosError } from '../../../../toolstack/errors.js';
import type { DomainConfig } from '../../../../toolstack/config/domain-config.js';
import { FakeXen } from '../fake-xen.js';
import { FakeDevctl, FakeNoxsd } from './fake-noxs.js';

function setup(t: Test, opts: { defaultMethod?: DevMethod; xenstoreUp?: boolean } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-noxs-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const xen = new FakeXen();
  const store = new DomainStore(dir);
  const devctl = new FakeDevctl();
  const noxsd = new FakeNoxsd();
  const xsCalls: string[] = [];
  // Every XenStore call is counted: a noxs domain must make none.
  const realBatch = xen.xsBatch.bind(xen);
  xen.xsBatch = async (ops, tr) => { xsCalls.push(ops.map((o) => `${o.op} ${o.path}`).join('; ')); return realBatch(ops, tr); };
  const xs = new XenStore(xen, opts.xenstoreUp === false ? { probe: async () => 'down' } : {});
  const backend = new DeviceRouter({
    defaultMethod: opts.defaultMethod ?? 'xenstore', store, ...(opts.xenstoreUp === false ? { xenstoreReachable: () => xs.reachable(10) } : {}),
    make: {
      xenstore: () => new XenStoreBackend(xs),
      noxs: () => new NoxsBackend({ devctl: () => devctl, noxsd, store, domainInfo: (f, m) => xen.domainGetInfoList(f, m) }),
    },
  });
  const ts = new Toolstack({
    xen, backend, store, log: pino({ level: 'silent' }),
    wrap: (err, domid) => new ChaosError('XEN_CALL', (err as Error).message, { call: (err as { call?: string }).call, domid, cause: err }),
  });
  return { xen, ts, store, devctl, noxsd, xsCalls };
}

function cfg(over: Partial<DomainConfig> = {}): DomainConfig {
  return {
    name: 'n1', type: 'pv', kernel: '/guests/noop', cmdline: '', memoryMiB: 4, maxMemoryMiB: 4, vcpus: 1, maxVcpus: 1,
    cpus: 'all', vifs: [], disks: [], onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy', devMethod: 'noxs', ...over,
  } as DomainConfig;
}

t.test('a noxs domain: power device and vifs on its page, nothing in XenStore, not introduced, recorded as noxs', async (t) => {
  const { xen, ts, store, devctl, noxsd, xsCalls } = setup(t);
  const r = await ts.create(cfg({ vifs: [{ bridge: 'xenbr0' }, { mac: '00:16:3e:00:00:02', mtu: 9000, vifname: 'web0' }, {}] }));
  t.same(xsCalls.filter((c) => !/^(read|directory) /.test(c)), [], 'nothing written to XenStore (only the names xl and others gave are read)');
  t.notOk(xen.introduced.has(r.domid), 'not introduced to xenstored');
  t.equal(store.get(r.domid)?.devMethod, 'noxs');
  t.equal(store.get(r.domid)?.consoleMfn, 1000 + r.domid, "the console ring's frame is in the record");
  const page = devctl.pages.get(r.domid)!;
  t.same(page.map((d) => `${d.type}/${d.id}/${d.beDomid}`), ['power/0/0', 'vif/0/0', 'vif/1/0', 'vif/2/0'], 'power first, then one vif per spec, ids by index, back end in dom0');
  t.same(page.map((d) => [d.grant, d.evtchn]), [...noxsd.devices.values()].map((d) => [d.grant, d.evtchn]), "with noxsd's grants and ports");
  t.equal(noxsd.vifs[0]!.bridge, 'xenbr0');
  t.equal(noxsd.vifs[1]!.mac, '00:16:3e:00:00:02');
  t.equal(noxsd.vifs[1]!.mtu, 9000);
  t.equal(noxsd.vifs[1]!.ifname, 'web0');
  t.equal(noxsd.vifs[2]!.bridge, 'xenbr0', 'the default bridge');
  t.match(noxsd.vifs[2]!.mac, /^00:16:3e:/, 'a MAC made from the uuid');
  t.equal((await ts.find('n1')).state.includes('p'), false, 'unpaused');
  t.same(await ts.backend.console(r.domid), { mfn: 1000 + r.domid, port: r.consolePort });
});

t.test('list, find, pause, unpause, shutdown and destroy of a noxs domain need no XenStore', async (t) => {
  const { ts, noxsd, xsCalls } = setup(t, { defaultMethod: 'noxs', xenstoreUp: false });
  const r = await ts.create(cfg());
  const list = await ts.list();
  t.same(list.map((d) => d.name), ['Domain-0', 'n1'], 'names from the store (dom0 is Domain-0)');
  await ts.pause('n1');
  t.match((await ts.find(r.domid)).state, /p/);
  await ts.unpause('n1');
  await ts.shutdown('n1', { reboot: true });
  t.equal(noxsd.log.at(-1), `POWER_REQ ${r.domid} 0 reboot`, 'reboot through the power device');
  t.equal(await ts.backend.canSuspend(r.domid), true, "from the power page's feature bits");
  noxsd.features = 0;
  t.equal(await ts.backend.canSuspend(r.domid), false);
  noxsd.listening = false;
  t.equal(await ts.backend.canSuspend(r.domid), undefined, 'unknown before the guest connects');
  const e = await ts.shutdown('n1').then(() => undefined, (x: unknown) => x);
  t.equal((e as ChaosError).code, 'GUEST_STATE', 'a guest that does not listen: GUEST_STATE');
  t.match((e as Error).message, /does not listen to power requests/);
  await ts.destroy('n1');
  t.equal(noxsd.log.at(-1), `DOMAIN_REM ${r.domid}`, "destroy tears down noxsd's devices");
  t.same(xsCalls, [], 'XenStore was never called');
});

t.test('a vif noxsd refuses: the power device is taken off the page, noxsd forgets the domain, no domain is left', async (t) => {
  const { xen, ts, devctl, noxsd } = setup(t);
  noxsd.failVif = true;
  const e = await ts.create(cfg({ vifs: [{ bridge: 'xenbr9' }] })).then(() => undefined, (x: unknown) => x);
  t.equal((e as ChaosError).code, 'DEVICE');
  t.match((e as Error).message, /noxsd refused VIF_ADD for domain \d+: ENODEV \(no bridge xenbr9\)/);
  t.same([...devctl.pages.values()].flat(), [], 'the page is empty again');
  t.same([...noxsd.devices.keys()], [], 'noxsd holds nothing');
  t.equal(xen.domains.size, 1, 'only dom0 is left');
  devctl.failAddOf = 'vif';
  noxsd.failVif = false;
  const e2 = await ts.create(cfg({ vifs: [{}] })).then(() => undefined, (x: unknown) => x);
  t.match((e2 as Error).message, /ENOSPC/);
  t.same([...devctl.pages.values()].flat(), [], 'devctl refusing the vif: power removed too');
  t.equal(xen.domains.size, 1);
});

t.test('what noxs cannot do is refused before anything is made', async (t) => {
  const { xen, ts } = setup(t);
  const disk = await ts.create(cfg({ disks: [{ vdev: 'xvda', vbd: 51712, target: '/x.img', format: 'raw', mode: 'w', devtype: 'disk', discard: true, trusted: true, specification: 'xen' } as never] }))
    .then(() => undefined, (x: unknown) => x);
  t.equal((disk as ChaosError).code, 'NOT_SUPPORTED');
  t.match((disk as Error).message, /no block devices yet/);
  const script = await ts.create(cfg({ vifs: [{ script: 'vif-bridge' }] })).then(() => undefined, (x: unknown) => x);
  t.match((script as Error).message, /vif\[0\]: script "vif-bridge" .* not supported with dev_method "noxs"/);
  t.equal(xen.domains.size, 1, 'no domain left behind');
});

t.test('a stock hypervisor (no devctl) or no noxsd: NOT_SUPPORTED, and no domain is made', async (t) => {
  const stock = setup(t);
  stock.devctl.hasDevctl = false;
  const e = await stock.ts.create(cfg()).then(() => undefined, (x: unknown) => x);
  t.equal((e as ChaosError).code, 'NOT_SUPPORTED');
  t.match((e as Error).message, /needs the devctl hypercall, and this hypervisor has none/);
  t.equal(stock.xen.domains.size, 1, 'no domain left behind');
  const nod = setup(t);
  nod.noxsd.running = false;
  const e2 = await nod.ts.create(cfg()).then(() => undefined, (x: unknown) => x);
  t.equal((e2 as ChaosError).code, 'NOT_SUPPORTED');
  t.match((e2 as Error).message, /noxsd.*not running/);
  t.equal(nod.xen.domains.size, 1);
  nod.noxsd.running = true;
  t.ok(await nod.ts.create(cfg()), 'once noxsd runs, the same toolstack creates (a failed check is not remembered)');
});

t.test('xenstore and noxs domains side by side: each keeps its method; names from both', async (t) => {
  const { xen, ts, noxsd } = setup(t);
  const a = await ts.create(cfg({ name: 'over-xs', devMethod: 'xenstore' }));
  const b = await ts.create(cfg({ name: 'over-noxs' }));
  t.ok(xen.introduced.has(a.domid), 'the xenstore one is introduced');
  t.notOk(xen.introduced.has(b.domid));
  t.equal(xen.store.get(`/local/domain/${a.domid}/name`), 'over-xs');
  t.equal(xen.store.get(`/local/domain/${b.domid}/name`), undefined, 'the noxs one has no XenStore home');
  const names = (await ts.list()).map((d) => d.name);
  t.ok(names.includes('over-xs') && names.includes('over-noxs'), `both listed by name (${names.join(', ')})`);
  const dup = await ts.create(cfg({ name: 'over-noxs', devMethod: 'xenstore' })).then(() => undefined, (x: unknown) => x);
  t.equal((dup as ChaosError).code, 'NAME_IN_USE', 'a noxs name is taken for xenstore domains too');
  await ts.shutdown('over-xs');
  t.equal(xen.store.get(`/local/domain/${a.domid}/control/shutdown`), 'poweroff', 'xenstore domain: control/shutdown');
  t.notOk(noxsd.log.some((l) => l.startsWith('POWER_REQ')), 'not noxsd');
  await ts.destroy('over-xs');
  t.notOk(noxsd.log.includes(`DOMAIN_REM ${a.domid}`), 'destroying a xenstore domain does not ask noxsd');
  await ts.destroy('over-noxs');
  t.ok(noxsd.log.includes(`DOMAIN_REM ${b.domid}`));
});

t.test('a shell of one method does not take a config of the other', async (t) => {
  const { ts } = setup(t, { defaultMethod: 'noxs' });
  const shell = await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 });
  t.equal(shell.devMethod, 'noxs', "a shell made without a method takes the toolstack's default");
  const e = await ts.finish(shell, cfg({ devMethod: 'xenstore' })).then(() => undefined, (x: unknown) => x);
  t.equal((e as ChaosError).code, 'CONFIG_INVALID');
  t.match((e as Error).message, /asks for dev_method "xenstore" but the shell of domain \d+ was made for "noxs"/);
  const r = await ts.finish(shell, cfg());
  t.equal(r.devMethod, 'noxs');
});

t.test('a xenstore toolstack with xenstored down still lists, from the store', async (t) => {
  const { ts } = setup(t, { defaultMethod: 'xenstore', xenstoreUp: false });
  await ts.create(cfg({ name: 'quiet' }));
  t.same((await ts.list()).map((d) => d.name), ['Domain-0', 'quiet']);
  const e = await ts.create(cfg({ name: 'needs-xs', devMethod: 'xenstore' })).then(() => undefined, (x: unknown) => x);
  t.equal((e as ChaosError).code, 'XENSTORE', 'a xenstore domain cannot be made without xenstored');
  t.match((e as Error).message, /xenstored is not answering/);
});

t.test('a noxs shell holds its power device: made in prepare, not again in finish; an unused shell takes it with it', async (t) => {
  const { xen, ts, devctl, noxsd } = setup(t, { defaultMethod: 'noxs' });
  const shell = await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 });
  t.same(shell.devices, { power: true }, 'the shell says what it holds (it travels to a worker with the shell)');
  t.same(noxsd.log.filter((l) => l !== 'PING'), [`POWER_ADD ${shell.domid} 0`], 'noxsd made the power device in prepare');
  t.same(devctl.pages.get(shell.domid)?.map((d) => `${d.type}/${d.id}`), ['power/0'], 'and it is on the page before any config is known');
  t.type(shell.phases?.devices, 'number', "the back-end's part of prepare is timed");
  t.ok(shell.phases!.prepare >= shell.phases!.devices!, 'within the whole prepare');
  noxsd.log.length = 0;
  const timings: Record<string, number> = {};
  const r = await ts.finish(JSON.parse(JSON.stringify(shell)), cfg({ vifs: [{}] }), { timings });
  t.same(noxsd.log, [`VIF_ADD ${r.domid} 0`], 'finish (with the shell as a worker gets it, through JSON) adds only the vif');
  t.same(devctl.pages.get(r.domid)?.map((d) => `${d.type}/${d.id}`), ['power/0', 'vif/0']);
  t.type(timings.devices, 'number', "finish's own device time is its own phase");

  const idle = await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 });
  t.ok(noxsd.devices.has(`${idle.domid}/power/0`));
  await ts.destroyShell({ domid: idle.domid, devMethod: 'noxs' });
  t.notOk(xen.domains.has(idle.domid), 'the domain is gone');
  t.equal(noxsd.log.at(-1), `DOMAIN_REM ${idle.domid}`, 'noxsd was told at once (not left to its reaper)');
  t.same([...noxsd.devices.keys()].filter((k) => k.startsWith(`${idle.domid}/`)), [], 'noxsd holds nothing of the shell');
});

t.test('a shell config that fails in finish takes the pre-made power device down too; a power device noxs cannot make fails the prepare cleanly', async (t) => {
  const { xen, ts, devctl, noxsd } = setup(t, { defaultMethod: 'noxs' });
  const shell = await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 });
  noxsd.failVif = true;
  const e = await ts.finish(shell, cfg({ vifs: [{ bridge: 'xenbr9' }] })).then(() => undefined, (x: unknown) => x);
  t.match((e as Error).message, /ENODEV/);
  t.same(devctl.pages.get(shell.domid) ?? [], [], "the shell's power device is off the page");
  t.same([...noxsd.devices.keys()], [], 'noxsd holds nothing');
  t.equal(xen.domains.size, 1, 'only dom0 is left');
  devctl.failAddOf = 'power';
  const e2 = await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 }).then(() => undefined, (x: unknown) => x);
  t.match((e2 as Error).message, /ENOSPC/, 'devctl refusing the power device fails the prepare');
  t.same([...noxsd.devices.keys()], [], "noxsd's power device is taken down again");
  t.equal(xen.domains.size, 1, 'and the domain with it');
});

t.test('a xenstore shell holds no noxs device and says so', async (t) => {
  const { ts, noxsd } = setup(t);
  const shell = await ts.prepare({ memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 });
  t.equal(shell.devices, undefined);
  t.same(noxsd.log, [], 'noxsd is not asked');
});
