// Unit: xendevd's policy against a fake host and a fake XenStore: attach, already attached, bridges, scripts, errors, removal, restart scan, untrusted senders.
import t from 'tap';
import { pino } from 'pino';
import { Xendevd, handlesScript, XENDEVD_SCRIPTS, type XsLike } from '../../../../daemon/xendevd/policy.js';
import type { HostNet, UeventSignal } from '../../../../toolstack/xen/host-net.js';
import { XENDEVD_SCRIPTS as TOOLSTACK_SCRIPTS } from '../../../../toolstack/devices/hotplug.js';
import type { Log } from '../../../../toolstack/log.js';
import { datagram, vifOnline } from './uevent.test.js';

class FakeHost implements HostNet {
  ifaces = new Map<string, { bridge: boolean; master?: string; up: boolean }>();
  devices: string[] = [];
  calls: string[] = [];
  failAdd = false;
  onSignal?: (s: UeventSignal) => void;
  closed = false;

  listen(onSignal: (s: UeventSignal) => void) { this.onSignal = onSignal; return { close: () => { this.closed = true; } }; }
  exists(n: string) { return this.ifaces.has(n); }
  isBridge(n: string) { return this.ifaces.get(n)?.bridge ?? false; }
  master(n: string) { return this.ifaces.get(n)?.master; }
  async bridgeAddIf(b: string, n: string) {
    this.calls.push(`addif ${b} ${n}`);
    if (this.failAdd) throw new Error('SIOCBRADDIF: Device or resource busy');
    this.ifaces.get(n)!.master = b;
  }
  async bridgeDelIf(b: string, n: string) { this.calls.push(`delif ${b} ${n}`); this.ifaces.get(n)!.master = undefined; }
  async setUp(n: string, up: boolean) { this.calls.push(`up ${n} ${up}`); this.ifaces.get(n)!.up = up; }
  backendDevices() { return this.devices; }

  /** What netback does for a new vif: the bus device and the interface. */
  addVif(domid: number, devid: number) {
    this.devices.push(`vif-${domid}-${devid}`);
    this.ifaces.set(`vif${domid}.${devid}`, { bridge: false, up: false });
  }
}

class FakeXs implements XsLike {
  nodes = new Map<string, string>();
  async read(p: string) { return this.nodes.get(p); }
  async write(p: string, v: string) { this.nodes.set(p, v); }
  async rm(p: string) { this.nodes.delete(p); }
}

const be = (domid: number, devid = 0) => `/local/domain/0/backend/vif/${domid}/${devid}`;

function setup(opts: { bridgeNode?: string; script?: string } = {}) {
  const host = new FakeHost();
  host.ifaces.set('xenbr0', { bridge: true, up: true });
  host.ifaces.set('br1', { bridge: true, up: true });
  host.ifaces.set('eth0', { bridge: false, up: true });
  const xs = new FakeXs();
  const backend = (domid: number, devid = 0) => {
    xs.nodes.set(`${be(domid, devid)}/frontend-id`, String(domid));
    xs.nodes.set(`${be(domid, devid)}/script`, opts.script ?? '');
    if (opts.bridgeNode !== undefined) xs.nodes.set(`${be(domid, devid)}/bridge`, opts.bridgeNode);
  };
  const d = new Xendevd(host, xs, { defaultBridge: 'xenbr0' }, pino({ level: 'silent' }) as unknown as Log);
  const send = async (data: Buffer, senderPid = 0) => { host.onSignal!({ kind: 'message', data, senderPid }); await d.idle(); };
  return { host, xs, d, backend, send };
}

t.test('a vif coming online joins the default bridge, comes up, and is marked connected', async (t) => {
  const { host, xs, d, backend, send } = setup();
  await d.start();
  backend(5); host.addVif(5, 0);
  await send(vifOnline(5, 0));
  t.equal(host.master('vif5.0'), 'xenbr0');
  t.ok(host.ifaces.get('vif5.0')!.up, 'up');
  t.equal(xs.nodes.get(`${be(5)}/hotplug-status`), 'connected');
  t.equal(d.stats.attached, 1);
});

t.test('the back end\'s bridge node wins over the default', async (t) => {
  const { host, d, backend, send } = setup({ bridgeNode: 'br1' });
  await d.start();
  backend(6); host.addVif(6, 0);
  await send(vifOnline(6, 0));
  t.equal(host.master('vif6.0'), 'br1');
});

t.test('a bridge that does not exist, or is no bridge: hotplug-status error with the reason', async (t) => {
  for (const bridge of ['nosuch', 'eth0', '../x']) {
    const { host, xs, d, backend, send } = setup({ bridgeNode: bridge });
    await d.start();
    backend(7); host.addVif(7, 0);
    await send(vifOnline(7, 0));
    t.equal(xs.nodes.get(`${be(7)}/hotplug-status`), 'error', bridge);
    t.match(xs.nodes.get(`${be(7)}/hotplug-error`), /does not exist or is not a bridge/);
    t.equal(host.master('vif7.0'), undefined);
  }
});

t.test('a failed ioctl: hotplug-status error, no crash', async (t) => {
  const { host, xs, d, backend, send } = setup();
  await d.start();
  host.failAdd = true;
  backend(8); host.addVif(8, 0);
  await send(vifOnline(8, 0));
  t.equal(xs.nodes.get(`${be(8)}/hotplug-status`), 'error');
  t.match(xs.nodes.get(`${be(8)}/hotplug-error`), /SIOCBRADDIF/);
  t.equal(d.stats.failed, 1);
});

t.test('scripts: none and vif-xendevd are xendevd\'s; others (libxl runs them) are left alone', async (t) => {
  t.ok(handlesScript(undefined));
  t.ok(handlesScript(''));
  t.ok(handlesScript('/etc/xen/scripts/vif-xendevd'));
  t.ok(handlesScript('vif-xendevd'));
  t.notOk(handlesScript('/etc/xen/scripts/vif-bridge'));
  t.notOk(handlesScript('/etc/xen/scripts/vif-route'));
  t.same(XENDEVD_SCRIPTS, TOOLSTACK_SCRIPTS, 'chaos and xendevd agree');
  const { host, xs, d, backend, send } = setup({ script: '/etc/xen/scripts/vif-nat' });
  await d.start();
  backend(9); host.addVif(9, 0);
  await send(vifOnline(9, 0));
  t.equal(host.master('vif9.0'), undefined);
  t.equal(xs.nodes.get(`${be(9)}/hotplug-status`), undefined);
});

t.test('an event before netback made the interface does nothing; a second online is harmless', async (t) => {
  const { host, xs, d, backend, send } = setup();
  await d.start();
  backend(10);
  await send(datagram('add@/devices/vif-10-0', { SUBSYSTEM: 'xen-backend', XENBUS_TYPE: 'vif', XENBUS_PATH: 'backend/vif/10/0' }));
  t.equal(xs.nodes.get(`${be(10)}/hotplug-status`), undefined);
  host.addVif(10, 0);
  await send(vifOnline(10, 0));
  await send(vifOnline(10, 0));
  t.same(host.calls.filter((c) => c.startsWith('addif')), ['addif xenbr0 vif10.0'], 'attached once');
});

t.test('a back end already gone: nothing attached, nothing written', async (t) => {
  const { host, xs, d, send } = setup();
  await d.start();
  host.addVif(11, 0);
  await send(vifOnline(11, 0));
  t.equal(host.master('vif11.0'), undefined);
  t.equal(xs.nodes.size, 0);
});

t.test('offline takes the vif off its bridge and removes hotplug-status', async (t) => {
  const { host, xs, d, backend, send } = setup();
  await d.start();
  backend(12); host.addVif(12, 0);
  await send(vifOnline(12, 0));
  await send(datagram('offline@/devices/vif-12-0', { SUBSYSTEM: 'xen-backend', XENBUS_TYPE: 'vif', XENBUS_PATH: 'backend/vif/12/0', vif: 'vif12.0' }));
  t.equal(host.master('vif12.0'), undefined);
  t.equal(xs.nodes.get(`${be(12)}/hotplug-status`), undefined);
  t.equal(d.stats.detached, 1);
});

t.test('start scans: vifs made while xendevd was down are attached', async (t) => {
  const { host, xs, d, backend } = setup();
  backend(13); host.addVif(13, 0);
  backend(13, 1); host.addVif(13, 1);
  host.devices.push('vbd-13-51712', 'vif-14-0');  // a disk, and a vif whose interface is not there yet
  await d.start();
  t.equal(host.master('vif13.0'), 'xenbr0');
  t.equal(host.master('vif13.1'), 'xenbr0');
  t.equal(xs.nodes.get(`${be(13, 1)}/hotplug-status`), 'connected');
  t.equal(d.stats.scans, 1);
});

t.test('an overflow rescans', async (t) => {
  const { host, d, backend } = setup();
  await d.start();
  backend(15); host.addVif(15, 0);
  host.onSignal!({ kind: 'overflow', code: 'ENOBUFS' });
  await new Promise((r) => setImmediate(r));
  await d.idle();
  t.equal(host.master('vif15.0'), 'xenbr0');
  t.equal(d.stats.scans, 2);
});

t.test('malformed, unrelated and untrusted datagrams are ignored and counted', async (t) => {
  const { host, xs, d, backend, send } = setup();
  await d.start();
  backend(16); host.addVif(16, 0);
  await send(Buffer.from('rubbish'));
  await send(Buffer.alloc(10000));
  await send(datagram('add@/devices/virtual/net/lo', { SUBSYSTEM: 'net', INTERFACE: 'lo' }));
  await send(datagram('online@/devices/vif-16-0', { SUBSYSTEM: 'xen-backend', XENBUS_TYPE: 'vif', XENBUS_PATH: 'backend/vif/../0' }));
  await send(vifOnline(16, 0), 4242);
  t.equal(d.stats.malformed, 3);
  t.equal(d.stats.untrusted, 1);
  t.equal(host.master('vif16.0'), undefined, 'a vif event from a user process is not acted on');
  t.equal(xs.nodes.get(`${be(16)}/hotplug-status`), undefined);
  host.onSignal!({ kind: 'error', code: 'EIO' });
  await send(vifOnline(16, 0));
  t.equal(host.master('vif16.0'), 'xenbr0', 'still working afterwards');
});

t.test('stop closes the socket; a bad default bridge is refused', async (t) => {
  const { host, d } = setup();
  await d.start();
  await d.stop();
  t.ok(host.closed);
  t.throws(() => new Xendevd(host, new FakeXs(), { defaultBridge: 'a/b' }, pino({ level: 'silent' }) as unknown as Log), /not an interface name/);
});

t.test('an interface that goes away during offline is not an error', async (t) => {
  const { host, xs, d, backend, send } = setup();
  await d.start();
  backend(17); host.addVif(17, 0);
  await send(vifOnline(17, 0));
  host.bridgeDelIf = async (b: string, n: string) => { host.ifaces.delete(n); throw new Error(`if_nametoindex: No such device (${n}) on ${b}`); };
  await send(datagram('offline@/devices/vif-17-0', { SUBSYSTEM: 'xen-backend', XENBUS_TYPE: 'vif', XENBUS_PATH: 'backend/vif/17/0', vif: 'vif17.0' }));
  t.equal(d.stats.detached, 1);
  t.equal(xs.nodes.get(`${be(17)}/hotplug-status`), undefined, 'hotplug-status removed all the same');
});
