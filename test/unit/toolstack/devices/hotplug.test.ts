// Unit: chaos and xendevd: the check that xendevd runs, the wait for hotplug-status, its errors and its bound; and the pid-file lock.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { XenStore } from '../../../../toolstack/xen/xenstore.js';
import { XendevdHotplug, livePid } from '../../../../toolstack/devices/hotplug.js';
import { acquirePidFile, AlreadyRunning } from '../../../../daemon/xendevd/pidfile.js';
import type { VifDevice } from '../../../../toolstack/devices/device-plan.js';
import { FakeXen } from '../fake-xen.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotplug-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
// This process's command line names this file: it stands in for xendevd.
const MARKER = 'hotplug.test';
const vif = (devid: number, more: Partial<VifDevice> = {}): VifDevice => ({ devid, mac: '00:16:3e:00:00:01', ...more });
const be = (devid: number) => `/local/domain/0/backend/vif/3/${devid}`;

t.test('no live xendevd: a clear DEVICE error before anything is written', async (t) => {
  const h = new XendevdHotplug(new XenStore(new FakeXen() as never), { pidFile: path.join(dir, 'none.pid'), marker: MARKER });
  await t.rejects(h.check(3, [vif(0)]), { code: 'DEVICE', message: /xendevd is not running/ });
  fs.writeFileSync(path.join(dir, 'stale.pid'), '999999999\n');
  const s = new XendevdHotplug(new XenStore(new FakeXen() as never), { pidFile: path.join(dir, 'stale.pid'), marker: MARKER });
  await t.rejects(s.check(3, [vif(0)]), { code: 'DEVICE' });
  await t.resolves(h.check(3, []), 'no vif, no need');
});

t.test('a live xendevd passes the check; scripts it does not do are refused', async (t) => {
  const pidFile = path.join(dir, 'live.pid');
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  const h = new XendevdHotplug(new XenStore(new FakeXen() as never), { pidFile, marker: MARKER });
  await t.resolves(h.check(3, [vif(0), vif(1, { script: '' }), vif(2, { script: '/etc/xen/scripts/vif-xendevd' })]));
  await t.rejects(h.check(3, [vif(0, { script: '/etc/xen/scripts/vif-route' })]), { code: 'NOT_SUPPORTED', message: /vif-route/ });
  await t.rejects(h.check(3, [vif(0, { script: 'vif-bridge' })]), { code: 'NOT_SUPPORTED', message: /leave script out/ });
});

t.test('wait: connected, error with xendevd\'s reason, and the bound', async (t) => {
  const xen = new FakeXen();
  const pidFile = path.join(dir, 'live2.pid');
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  const h = new XendevdHotplug(new XenStore(xen as never), { pidFile, marker: MARKER, timeoutMs: 300 });
  setTimeout(() => { xen.store.set(`${be(0)}/hotplug-status`, 'connected'); xen.store.set(`${be(1)}/hotplug-status`, 'connected'); }, 50);
  await t.resolves(h.wait(3, [vif(0), vif(1)], be));
  xen.store.set(`${be(2)}/hotplug-status`, 'error');
  xen.store.set(`${be(2)}/hotplug-error`, 'bridge "br9" does not exist or is not a bridge');
  await t.rejects(h.wait(3, [vif(2)], be), { code: 'DEVICE', message: /br9/ });
  await t.rejects(h.wait(3, [vif(4)], be), { code: 'TIMEOUT', message: /vif 4: not connected by xendevd within 0.3 s/ });
});

t.test('the pid file is a lock: a second holder is refused, a stale one replaced', async (t) => {
  const file = path.join(dir, 'x.pid');
  const lock = acquirePidFile(file, MARKER);
  t.equal(livePid(file, MARKER), process.pid);
  // Another live process (this one's parent stands in) holding it: refused.
  fs.writeFileSync(file, `${process.ppid}\n`);
  const parentCmd = fs.readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8');
  const marker = parentCmd.split('\0')[0];
  t.throws(() => acquirePidFile(file, marker), /another xendevd is running/);
  t.ok((() => { try { acquirePidFile(file, marker); } catch (e) { return e instanceof AlreadyRunning; } return false; })(), 'an AlreadyRunning');
  fs.writeFileSync(file, '999999999\n');
  const again = acquirePidFile(file, MARKER);
  t.equal(fs.readFileSync(file, 'utf8').trim(), String(process.pid), 'a stale file is taken over');
  again.release();
  t.notOk(fs.existsSync(file), 'released');
  lock.release();
});

t.test('create with xendevd: the back end is written without hotplug-status, create waits for it, and a failure destroys the domain', async (t) => {
  const { Toolstack } = await import('../../../../toolstack/domain.js');
  const { XenStoreBackend } = await import('../../../../toolstack/devices/xenstore-backend.js');
  const { DomainStore } = await import('../../../../toolstack/store.js');
  const { ChaosError } = await import('../../../../toolstack/errors.js');
  const { pino } = await import('pino');
  const pidFile = path.join(dir, 'create.pid');
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  const xen = new FakeXen();
  const xs = new XenStore(xen as never);
  const stateDir = fs.mkdtempSync(path.join(dir, 'state-'));
  const ts = new Toolstack({
    xen: xen as never, backend: new XenStoreBackend(xs, undefined, new XendevdHotplug(xs, { pidFile, marker: MARKER, timeoutMs: 500 })),
    store: new DomainStore(stateDir), log: pino({ level: 'silent' }),
    wrap: (err, domid) => new ChaosError('XEN_CALL', (err as Error).message, { domid, cause: err }),
  });
  const cfg = (name: string) => ({
    name, type: 'pv', kernel: '/guests/noop', cmdline: '', memoryMiB: 4, maxMemoryMiB: 4, vcpus: 1, maxVcpus: 1, cpus: 'all',
    vifs: [{ bridge: 'xenbr0' }], disks: [], onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy', devMethod: 'xenstore',
  }) as never;
  // A stand-in for xendevd: marks every vif back end connected once it appears, and records what it first saw.
  const seen: (string | undefined)[] = [];
  let connect = true;
  const timer = setInterval(() => {
    for (const k of [...xen.store.keys()]) {
      const m = /^(\/local\/domain\/0\/backend\/vif\/\d+\/\d+)\/frontend-id$/.exec(k);
      if (m && !xen.store.has(`${m[1]}/seen`)) {
        xen.store.set(`${m[1]}/seen`, '1');
        seen.push(xen.store.get(`${m[1]}/hotplug-status`));
        if (connect) xen.store.set(`${m[1]}/hotplug-status`, 'connected');
      }
    }
  }, 5);
  t.teardown(() => clearInterval(timer));
  const r = await ts.create(cfg('hp1'));
  t.same(seen, [undefined], 'chaos wrote no hotplug-status of its own');
  t.equal(xen.store.get(`/local/domain/0/backend/vif/${r.domid}/0/hotplug-status`), 'connected');
  connect = false;
  await t.rejects(ts.create(cfg('hp2')), { code: 'TIMEOUT', message: /not connected by xendevd/ });
  t.notOk((await ts.list()).some((d) => d.name === 'hp2'), 'the half-made domain is gone');
});
