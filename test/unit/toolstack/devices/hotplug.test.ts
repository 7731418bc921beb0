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
