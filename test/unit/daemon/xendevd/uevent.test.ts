// Unit: xendevd's uevent parser and vif event extraction; malformed datagrams give a reason, never a throw.
import t from 'tap';
import { MAX_UEVENT_BYTES, parseUevent, vifDevice, vifEvent, type Uevent } from '../../../../daemon/xendevd/uevent.js';

/** A datagram as the kernel writes it: header and KEY=VALUE fields, each NUL-terminated. */
export function datagram(header: string, env: Record<string, string>): Buffer {
  return Buffer.from([header, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].map((s) => s + '\0').join(''));
}

export const vifOnline = (domid: number, devid: number, more: Record<string, string> = {}) => datagram(`online@/devices/vif-${domid}-${devid}`, {
  ACTION: 'online', DEVPATH: `/devices/vif-${domid}-${devid}`, SUBSYSTEM: 'xen-backend', XENBUS_TYPE: 'vif',
  XENBUS_PATH: `backend/vif/${domid}/${devid}`, XENBUS_BASE_PATH: 'backend', script: '', vif: `vif${domid}.${devid}`, SEQNUM: '1234', ...more,
});

const parsed = (b: Buffer): Uevent => {
  const r = parseUevent(b);
  if (!r.ok) throw new Error(r.reason);
  return r.event;
};

t.test('a vif back end coming online', async (t) => {
  const ev = parsed(vifOnline(5, 0));
  t.equal(ev.action, 'online');
  t.equal(ev.devpath, '/devices/vif-5-0');
  t.equal(ev.env.get('XENBUS_PATH'), 'backend/vif/5/0');
  t.same(vifEvent(ev), { action: 'online', domid: 5, devid: 0, ifname: 'vif5.0', xenbusPath: 'backend/vif/5/0' });
});

t.test('the interface name comes from netback, or from the ids when it gives none', async (t) => {
  const ev = parsed(vifOnline(7, 2, { vif: 'vif7.2' }));
  t.equal((vifEvent(ev) as { ifname: string }).ifname, 'vif7.2');
  const env = new Map(ev.env);
  env.delete('vif');
  t.equal((vifEvent({ ...ev, env }) as { ifname: string }).ifname, 'vif7.2');
});

t.test('unrelated events are not vif events', async (t) => {
  const lo = parsed(datagram('add@/devices/virtual/net/lo', { ACTION: 'add', DEVPATH: '/devices/virtual/net/lo', SUBSYSTEM: 'net', INTERFACE: 'lo', IFINDEX: '1' }));
  t.equal(vifEvent(lo), undefined);
  const vbd = parsed(datagram('online@/devices/vbd-5-51712', { SUBSYSTEM: 'xen-backend', XENBUS_TYPE: 'vbd', XENBUS_PATH: 'backend/vbd/5/51712' }));
  t.equal(vifEvent(vbd), undefined);
});

t.test('malformed datagrams are refused with a reason', async (t) => {
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['too long', Buffer.alloc(MAX_UEVENT_BYTES + 1, 0x41)],
    ['udev', Buffer.concat([Buffer.from('libudev\0'), Buffer.alloc(32)])],
    ['no @', Buffer.from('garbage\0')],
    ['unknown action', datagram('explode@/devices/x', {})],
    ['relative devpath', datagram('add@devices/x', {})],
    ['field without =', Buffer.from('add@/devices/x\0NOEQUALS\0')],
    ['bad key', Buffer.from('add@/devices/x\0BAD KEY=1\0')],
    ['duplicate key', Buffer.from('add@/devices/x\0A=1\0A=2\0')],
    ['ACTION mismatch', datagram('add@/devices/x', { ACTION: 'remove' })],
    ['DEVPATH mismatch', datagram('add@/devices/x', { DEVPATH: '/devices/y' })],
    ['too many fields', datagram('add@/devices/x', Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`K${i}`, 'v'])))],
    ['only NULs', Buffer.alloc(64)],
  ];
  for (const [what, b] of cases) {
    const r = parseUevent(b);
    t.equal(r.ok, false, what);
    if (!r.ok) t.type(r.reason, 'string');
  }
});

t.test('random bytes never throw', async (t) => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.alloc(rand() % 300);
    for (let j = 0; j < b.length; j++) b[j] = rand() % 4 === 0 ? 0 : rand() & 0xff;
    if (i % 3 === 0) b.write('online@/devices/vif-1-0\0SUBSYSTEM=xen-backend\0XENBUS_TYPE=vif\0', 0);
    const r = parseUevent(b);
    if (r.ok) vifEvent(r.event);
  }
  t.pass('2000 random datagrams parsed without a throw');
});

t.test('vif events that do not hold together give a reason', async (t) => {
  const bad = (more: Record<string, string>, header = 'online@/devices/vif-5-0') => {
    const r = parseUevent(datagram(header, {
      SUBSYSTEM: 'xen-backend', XENBUS_TYPE: 'vif', XENBUS_PATH: 'backend/vif/5/0', ...more,
    }));
    t.ok(r.ok);
    return r.ok ? vifEvent(r.event) : undefined;
  };
  t.match(bad({ XENBUS_PATH: 'backend/vif/../../0' }), { reason: /XENBUS_PATH/ });
  t.match(bad({ XENBUS_PATH: 'backend/vif/99999/0' }, 'online@/devices/vif-99999-0'), { reason: /domain id/ });
  t.match(bad({ XENBUS_PATH: 'backend/vif/5/9999999999' }, 'online@/devices/vif-5-9999999999'), { reason: /device id/ });
  t.match(bad({}, 'online@/devices/vif-6-0'), { reason: /devpath/ });
  t.match(bad({ vif: 'a/b' }), { reason: /interface name/ });
  t.match(bad({ vif: 'x'.repeat(16) }), { reason: /interface name/ });
});

t.test('xen-backend device names', async (t) => {
  t.same(vifDevice('vif-12-3'), { domid: 12, devid: 3 });
  t.equal(vifDevice('vbd-12-51712'), undefined);
  t.equal(vifDevice('vif-99999-0'), undefined);
  t.equal(vifDevice('vif-1-0-emu'), undefined);
});
