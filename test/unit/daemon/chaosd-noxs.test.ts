// Unit: chaosd with --dev-method noxs against the Xen, devctl and noxsd doubles: shells hold their power device, a create adds only the rest, and no shell's device outlives it (stop, crash and reconcile).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Toolstack } from '../../../toolstack/domain.js';
import { XenStore } from '../../../toolstack/xen/xenstore.js';
import { XenStoreBackend } from '../../../toolstack/devices/xenstore-backend.js';
import { NoxsBackend } from '../../../toolstack/devices/noxs-backend.js';
import { DeviceRouter } from '../../../toolstack/devices/router.js';
import type { DevMethod } from '../../../toolstack/devices/backend.js';
import { DomainStore } from '../../../toolstack/store.js';
import { ChaosError } from '../../../toolstack/errors.js';
import { parseJsonConfig } from '../../../toolstack/config/index.js';
import { Chaosd } from '../../../daemon/service.js';
import { Journal, reconcile } from '../../../daemon/journal.js';
import type { PoolClass } from '../../../daemon/pool.js';
import { FakeXen } from '../toolstack/fake-xen.js';
import { FakeDevctl, FakeNoxsd } from '../toolstack/devices/fake-noxs.js';

const SMALL: PoolClass = { name: 'small', memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1, low: 1, high: 3 };

function world(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-chaosd-noxs-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kernel = path.join(dir, 'noop');
  fs.writeFileSync(kernel, 'not really a kernel: the fake builds anything');
  const xen = new FakeXen();
  const devctl = new FakeDevctl();
  const noxsd = new FakeNoxsd();
  /** For each DOMAIN_REM: whether Xen still had the domain (a shell's devices go first, so noxsd's reaper never races the request). */
  const remWhileAlive = new Map<number, boolean>();
  const realRem = noxsd.domainRem.bind(noxsd);
  noxsd.domainRem = async (domid: number) => { if (!remWhileAlive.has(domid)) remWhileAlive.set(domid, xen.domains.has(domid)); return realRem(domid); };
  /** A toolstack as chaosd opens it with --dev-method `method`, over the same host, store and noxsd. */
  const toolstack = (method: DevMethod) => {
    const store = new DomainStore(dir);
    const xs = new XenStore(xen as never);
    return new Toolstack({
      xen: xen as never, store, log: pino({ level: 'silent' }),
      backend: new DeviceRouter({
        defaultMethod: method, store,
        make: {
          xenstore: () => new XenStoreBackend(xs),
          noxs: () => new NoxsBackend({ devctl: () => devctl, noxsd, store, domainInfo: (f, m) => xen.domainGetInfoList(f, m) }),
        },
      }),
      wrap: (err, domid) => new ChaosError('XEN_CALL', (err as Error).message, { call: (err as { call?: string }).call, domid, cause: err }),
    });
  };
  const make = (method: DevMethod = 'noxs') => new Chaosd({
    ts: toolstack(method), journalDir: path.join(dir, 'chaosd'), classes: [SMALL], log: pino({ level: 'silent' }), marginMiB: 0, parallel: 2,
    syncJournal: false, hostMiB: async () => 4096, refillRetryMs: 20, refillQuietMs: 0,
  });
  const cfg = (name: string, over: Record<string, unknown> = {}) => parseJsonConfig(JSON.stringify({ name, type: 'pv', kernel, memory: 4, dev_method: 'noxs', ...over }), 'test');
  /** The domains noxsd holds devices of, and the device pages' entries, by domid. */
  const held = () => [...new Set([...noxsd.devices.keys()].map((k) => Number(k.split('/')[0])))].sort((a, b) => a - b);
  const page = (domid: number) => (devctl.pages.get(domid) ?? []).map((d) => `${d.type}/${d.id}`);
  return { xen, devctl, noxsd, dir, make, cfg, held, page, remWhileAlive };
}

const guests = (xen: FakeXen) => [...xen.domains.keys()].filter((d) => d !== 0).sort((a, b) => a - b);

t.test('noxs pools: every idle shell holds its power device; a create adds only its vif; the metrics put the power device in prepare', async (t) => {
  const { xen, noxsd, make, cfg, held, page, remWhileAlive } = world(t);
  const d = make();
  await d.start();
  await d.pools.settled();
  const shells = d.poolLevels()[0].shells;
  t.equal(shells.length, 3, 'filled to high');
  t.same(held(), [...shells].sort((a, b) => a - b), 'noxsd holds a device of each shell');
  for (const s of shells) {
    t.ok(noxsd.devices.has(`${s}/power/0`), `shell ${s}: its power device`);
    t.same(page(s), ['power/0'], `shell ${s}: on its device page`);
  }
  t.same(xen.introduced.size, 0, 'no shell is introduced to xenstored');
  noxsd.log.length = 0;
  const c = await d.create(cfg('vm1', { vif: ['bridge=xenbr0'] }));
  t.equal(c.fromPool, 'small');
  t.same(noxsd.log, [`VIF_ADD ${c.domid} 0`], 'the create asked noxsd for the vif only');
  t.same(page(c.domid), ['power/0', 'vif/0']);
  t.ok(c.phases.devices >= 0, `the finish's own device time is in the reply (${c.phases.devices} ms)`);
  const metrics = await d.metricsText();
  t.match(metrics, /chaosd_phase_seconds_count\{phase="prepare_devices"\} [1-9]/, 'the shells\' device time is a prepare phase');
  t.match(metrics, /chaosd_phase_seconds_count\{phase="finish_devices"\} 1\n/, "and the finish's is its own");
  const big = await d.create(cfg('big', { memory: 8 }));
  t.equal(big.fromPool, null);
  t.ok(big.phases['prepare.devices'] >= 0, 'a create from scratch says how long its shell\'s power device took');
  await d.pools.settled();
  const idle = d.poolLevels()[0].shells;
  noxsd.log.length = 0;
  const st = await d.stop();
  t.equal(st.shellsDestroyed, 3);
  t.same([...noxsd.log].sort(), idle.map((s) => `DOMAIN_REM ${s}`).sort(), 'stop told noxsd to remove each idle shell\'s devices');
  t.same(idle.map((s) => remWhileAlive.get(s)), idle.map(() => true), 'before the domain was destroyed');
  t.same(held(), [c.domid, big.domid].sort((a, b) => a - b), 'noxsd holds only the VMs\' devices');
  t.same(guests(xen), [c.domid, big.domid].sort((a, b) => a - b), 'VMs left running');
});

t.test('after a crash, reconcile destroys the noxs shells with their devices and adopts the noxs VMs with theirs', async (t) => {
  const { xen, noxsd, dir, make, cfg, held, remWhileAlive } = world(t);
  const a = make();
  await a.start();
  await a.pools.settled();
  const vm = await a.create(cfg('keep'));
  await a.pools.settled();
  const shells = a.poolLevels()[0].shells;
  const journal = new Journal(path.join(dir, 'chaosd'), false).replay().state;
  for (const s of shells) {
    const e = [...journal.values()].find((x) => x.t === 'shell' && x.domid === s);
    t.match(e, { t: 'shell', dev: 'noxs' }, `shell ${s} is journaled with its method`);
  }
  // kill -9: no stop; the shells' domains and noxsd's devices stay.
  noxsd.log.length = 0;
  const b = make();
  const r = await b.start();
  t.equal(r.adopted, 1);
  t.equal(r.destroyed, 3);
  for (const s of shells) {
    t.notOk(xen.domains.has(s), `old shell ${s} destroyed`);
    t.ok(noxsd.log.includes(`DOMAIN_REM ${s}`), `and noxsd told to remove its devices`);
    t.equal(remWhileAlive.get(s), true, 'before the domain was destroyed');
  }
  t.ok(noxsd.devices.has(`${vm.domid}/power/0`), "the adopted VM keeps its power device");
  await b.pools.settled();
  const fresh = b.poolLevels()[0].shells;
  t.same(held(), [vm.domid, ...fresh].sort((x, y) => x - y), 'noxsd holds the VM\'s and the new shells\' devices, nothing else');
  await b.shutdown('keep', { reboot: true });
  t.equal(noxsd.log.at(-1), `POWER_REQ ${vm.domid} 0 reboot`, 'the adopted VM is still driven through its power device');
  await b.stop();
  t.same(held(), [vm.domid]);
});

t.test('noxs shells left by a chaosd restarted over xenstore are still removed from noxsd', async (t) => {
  const { xen, noxsd, make, held } = world(t);
  const a = make('noxs');
  await a.start();
  await a.pools.settled();
  const shells = a.poolLevels()[0].shells;
  noxsd.log.length = 0;
  const b = make('xenstore');
  await b.start();
  for (const s of shells) t.ok(noxsd.log.includes(`DOMAIN_REM ${s}`), `shell ${s}: its journaled method's devices removed`);
  t.notOk(shells.some((s) => xen.domains.has(s)));
  await b.pools.settled();
  t.same(held(), [], 'the new xenstore shells hold no noxs device, the old ones none any more');
  await b.stop();
});

t.test('reconcile carries the journaled method of shells and half-built domains; a journal line with an unknown method is skipped', async (t) => {
  const u = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
  const r = reconcile(new Map([
    [u(1), { t: 'shell', uuid: u(1), domid: 5, cls: 'small', dev: 'noxs' }],
    [u(2), { t: 'build', uuid: u(2), name: 'half', domid: 6, dev: 'noxs' }],
    [u(3), { t: 'begin', uuid: u(3), cls: 'small' }],
  ]), new Map([[u(1), 5], [u(2), 6], [u(3), 7]]));
  t.same(r.destroy.map((d) => [d.domid, d.dev]), [[5, 'noxs'], [6, 'noxs'], [7, undefined]]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-journal-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'journal.jsonl'), `${JSON.stringify({ t: 'shell', uuid: u(1), domid: 5, cls: 's', dev: 'carrier-pigeon' })}\n`);
  t.equal(new Journal(dir, false).replay().skipped, 1);
});
