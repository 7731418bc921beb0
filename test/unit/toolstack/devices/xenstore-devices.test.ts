// Unit: vif and vbd devices over XenStore against the Xen test double: layout, permissions, device numbers, one transaction, errors, forget().
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Toolstack } from '../../../../toolstack/domain.js';
import { XenStore } from '../../../../toolstack/xen/xenstore.js';
import { XenStoreBackend } from '../../../../toolstack/devices/xenstore-backend.js';
import { macFor, planVbds, planVifs } from '../../../../toolstack/devices/device-plan.js';
import { deviceNumber, LoopHostBlock, type HostBlock, type OpenedTarget } from '../../../../toolstack/devices/host-block.js';
import { DomainStore } from '../../../../toolstack/store.js';
import { ChaosError } from '../../../../toolstack/errors.js';
import { parseDiskSpec } from '../../../../toolstack/config/disk-spec.js';
import { parseVifSpec } from '../../../../toolstack/config/vif-spec.js';
import type { DomainConfig } from '../../../../toolstack/config/domain-config.js';
import type { XsOp } from '../../../../toolstack/xen/types.js';
import { FakeXen } from '../fake-xen.js';

const reject = (code: string, reason: string): never => { throw new ChaosError(code as 'CONFIG_INVALID', reason); };
const vif = (s: string) => parseVifSpec(s, reject);
const disk = (s: string) => parseDiskSpec(s, reject);

/** Files become loop devices, numbered in order; "/missing" does not exist. */
class FakeBlock implements HostBlock {
  attached = new Set<string>();
  released: string[] = [];
  private next = 0;
  async open(target: string): Promise<OpenedTarget> {
    if (target === '/missing') throw new ChaosError('CONFIG_INVALID', `the disk target ${target} does not exist`, { key: 'disk' });
    if (target.startsWith('/dev/')) return { physicalDevice: 'fe:10' };
    const loop = `/dev/loop${this.next++}`;
    this.attached.add(loop);
    return { physicalDevice: `7:${(this.next - 1).toString(16)}`, loop };
  }
  async release(loop: string): Promise<void> { this.released.push(loop); this.attached.delete(loop); }
}

function setup(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-dev-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const xen = new FakeXen();
  const block = new FakeBlock();
  const ts = new Toolstack({
    xen, backend: new XenStoreBackend(new XenStore(xen), block), store: new DomainStore(dir), log: pino({ level: 'silent' }),
    wrap: (err, domid) => new ChaosError('XEN_CALL', (err as Error).message, { domid, cause: err }),
  });
  const batches: { ops: XsOp[]; tx: boolean }[] = [];
  const batch = xen.xsBatch.bind(xen);
  xen.xsBatch = async (ops, tx) => { batches.push({ ops, tx }); return batch(ops, tx); };
  return { xen, ts, block, batches };
}

function cfg(over: Partial<DomainConfig> = {}): DomainConfig {
  return {
    name: 'g1', type: 'pv', kernel: '/guests/noop', cmdline: '', memoryMiB: 4, maxMemoryMiB: 4, vcpus: 1, maxVcpus: 1,
    cpus: 'all', vifs: [], disks: [], onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy', devMethod: 'xenstore', ...over,
  } as DomainConfig;
}

const owner = (domid: number, reader: number) => [{ domid, read: false, write: false }, { domid: reader, read: true, write: false }];

t.test('a vif: both ends in state 1, the links between them, MAC, bridge, script, ip and rate, and permissions', async (t) => {
  const { xen, ts } = setup(t);
  const r = await ts.create(cfg({ vifs: [vif('bridge=xenbr1,ip=192.0.2.10,rate=10MB/s@20ms,script=vif-bridge'), vif('mac=00:16:3e:aa:bb:cc,mtu=9000,untrusted')] }));
  const id = r.domid;
  const be = `/local/domain/0/backend/vif/${id}/0`, fe = `/local/domain/${id}/device/vif/0`;
  const s = (p: string) => xen.store.get(p);
  t.same([s(`${be}/state`), s(`${fe}/state`)], ['1', '1'], 'XenbusStateInitialising on both ends');
  t.same([s(`${be}/frontend`), s(`${be}/frontend-id`), s(`${fe}/backend`), s(`${fe}/backend-id`)], [fe, String(id), be, '0']);
  t.same([s(`${be}/online`), s(`${be}/handle`), s(`${fe}/handle`), s(`${be}/type`)], ['1', '0', '0', 'vif']);
  t.equal(s(`${be}/mac`), macFor(r.uuid, 0), 'a generated MAC');
  t.equal(s(`${fe}/mac`), s(`${be}/mac`));
  t.match(s(`${be}/mac`), /^00:16:3e:[0-7][0-9a-f](:[0-9a-f]{2}){2}$/);
  t.same([s(`${be}/bridge`), s(`${be}/script`), s(`${be}/ip`)], ['xenbr1', 'vif-bridge', '192.0.2.10'], 'recorded as given');
  t.equal(s(`${be}/rate`), '200000,20000', '10 MB/s is 200000 bytes per 20 ms');
  t.equal(s(`${be}/hotplug-status`), 'connected', 'no script runs, so netback need not wait for one');
  t.same(xen.perms.get(be), owner(0, id), 'dom0 owns the back end, the guest reads it');
  t.same(xen.perms.get(fe), owner(id, 0), 'the guest owns the front end, dom0 reads it');
  const be1 = `/local/domain/0/backend/vif/${id}/1`, fe1 = `/local/domain/${id}/device/vif/1`;
  t.equal(s(`${be1}/mac`), '00:16:3e:aa:bb:cc', 'the MAC given');
  t.equal(s(`${be1}/script`), '', 'no script: an empty one, which netback needs to probe');
  t.equal(s(`${be1}/bridge`), undefined, 'no bridge when none is given');
  t.same([s(`${fe1}/mtu`), s(`${fe1}/trusted`)], ['9000', '0']);
  t.same(xen.perms.get(`${fe1}/mtu`), owner(0, id), 'the guest may read its MTU but not change it');
  t.equal(s(`${fe}/mtu`), undefined, 'no MTU node when none is given (netfront takes 1500)');
  t.same([s(`/libxl/${id}/device/vif/1/backend`), s(`/libxl/${id}/device/vif/1/frontend`), s(`/libxl/${id}/device/vif/1/handle`)], [be1, fe1, '1'], 'the record xl network-list reads');
});

t.test('device ids and MACs: explicit devids are kept, the others take the next free one; MACs are stable per domain and devid', async (t) => {
  const uuid = '5f0a3b8e-6c1d-4f2a-9b7e-0d4c3a2b1e9f';
  t.same(planVifs(uuid, [vif('devid=1'), vif(''), vif(''), vif('devid=7')]).map((v) => v.devid), [1, 2, 3, 7]);
  t.same(planVifs(uuid, [vif(''), vif('devid=0')]).map((v) => v.devid), [1, 0]);
  t.equal(macFor(uuid, 0), macFor(uuid, 0));
  t.not(macFor(uuid, 0), macFor(uuid, 1));
  t.not(macFor(uuid, 0), macFor('11111111-2222-3333-4444-555555555555', 0));
  t.throws(() => planVifs(uuid, [{ bridge: 'br0/../x' }]), { code: 'CONFIG_INVALID', message: /vif\[0\]: bridge "br0\/\.\.\/x" is not a usable network interface name/ });
  t.throws(() => planVifs(uuid, [{ bridge: 'a-very-long-bridge-name' }]), { code: 'CONFIG_INVALID' });
  t.throws(() => planVifs(uuid, [{ devid: -1 }]), { code: 'CONFIG_INVALID', message: /devid -1/ });
  t.throws(() => planVifs(uuid, [{ mac: '00:16:3E:AA:BB:CC; rm' }]), { code: 'CONFIG_INVALID', message: /MAC address/ });
  t.throws(() => planVifs(uuid, [{ backend: 'driverdom' }]), { code: 'NOT_SUPPORTED', message: /only dom0 runs back ends/ });
  t.same(planVifs(uuid, [{ backend: 'Domain-0' }]).length, 1);
});

t.test('virtual-device is the xen-vbd-interface(7) number of the vdev', async (t) => {
  const cases: [string, number][] = [
    ['xvda', 51712], ['xvdb', 51728], ['xvda1', 51713], ['xvdp15', 51967], ['xvdq', (1 << 28) | (16 << 8)], ['xvdaa', (1 << 28) | (26 << 8)],
    ['hda', 768], ['hdb', 832], ['hdc', 5632], ['hdd1', 5697], ['sda', 2048], ['sdb2', 2066], ['d0p1', 51713], ['51712', 51712], ['0x301', 769],
  ];
  for (const [vdev, n] of cases) t.equal(planVbds([disk(`/img,raw,${vdev}`)])[0].devid, n, vdev);
});

t.test('a vbd backed by a file: params, mode, type, device-type, removable, dev, physical-device and the loop device, in one transaction', async (t) => {
  const { xen, ts, block, batches } = setup(t);
  const r = await ts.create(cfg({ vifs: [vif('')], disks: [disk('/srv/a.img,raw,xvda,w'), disk('/dev/vg/b,raw,xvdb1,r'), disk(',,hdc:cdrom,r')] }));
  const id = r.domid;
  const s = (p: string) => xen.store.get(p);
  const be = `/local/domain/0/backend/vbd/${id}/51712`, fe = `/local/domain/${id}/device/vbd/51712`;
  t.same([s(`${be}/state`), s(`${fe}/state`), s(`${be}/online`)], ['1', '1', '1']);
  t.same([s(`${be}/params`), s(`${be}/mode`), s(`${be}/type`), s(`${be}/device-type`), s(`${be}/removable`), s(`${be}/dev`)], ['/srv/a.img', 'w', 'phy', 'disk', '0', 'xvda']);
  t.same([s(`${be}/physical-device`), s(`${be}/node`)], ['7:0', '/dev/loop0'], 'the loop device and its number');
  t.same([s(`${fe}/virtual-device`), s(`${fe}/device-type`), s(`${fe}/backend`), s(`${be}/frontend`)], ['51712', 'disk', be, fe]);
  t.same(xen.perms.get(be), owner(0, id));
  t.same(xen.perms.get(fe), owner(id, 0));
  const be2 = `/local/domain/0/backend/vbd/${id}/51729`;
  t.same([s(`${be2}/physical-device`), s(`${be2}/node`), s(`${be2}/mode`)], ['fe:10', undefined, 'r'], 'a block device is used as it is');
  const cd = `/local/domain/0/backend/vbd/${id}/5632`;
  t.same([s(`${cd}/params`), s(`${cd}/device-type`), s(`${cd}/removable`), s(`${cd}/physical-device`)], ['', 'cdrom', '1', undefined], 'an empty CD-ROM drive');
  for (const k of ['type', 'dev', 'mode', 'params', 'removable', 'device-type', 'backend']) t.ok(s(`/libxl/${id}/device/vbd/51712/${k}`) !== undefined, `libxl record has ${k}`);
  t.same([...block.attached], ['/dev/loop0']);
  const deviceTx = batches.filter((b) => b.tx && b.ops.some((o) => o.path.includes('/device/v')));
  t.equal(deviceTx.length, 1, 'every device of the domain in one transaction');
  t.notOk(deviceTx[0].ops.some((o) => o.op === 'read' || o.op === 'directory'), 'no reads in it');
  const perVif = deviceTx[0].ops.filter((o) => o.path.includes('/vif/')).length;
  // Back end 11 (2 for the directory, 9 nodes), front end 7 (2 + 5), libxl's record 4; xl also sets permissions node by node.
  t.equal(perVif, 22, 'a default vif costs 22 XenStore operations and no more');
});

t.test('a domain without devices costs no device operation', async (t) => {
  const { ts, batches } = setup(t);
  await ts.create(cfg());
  t.notOk(batches.some((b) => b.ops.some((o) => /\/(device|backend)\/(vif|vbd)/.test(o.path))));
});

t.test('a missing target is refused, the domain rolled back and the loop devices already made detached', async (t) => {
  const { xen, ts, block } = setup(t);
  const err = await ts.create(cfg({ vifs: [vif('')], disks: [disk('/srv/a.img,raw,xvda'), disk('/missing,raw,xvdb')] })).catch((e: unknown) => e) as ChaosError;
  t.equal(err.code, 'CONFIG_INVALID');
  t.match(err.message, /the disk target \/missing does not exist/);
  t.same([...xen.domains.keys()], [0], 'no domain is left');
  t.same([...block.attached], [], 'the loop device made for the other disk is detached');
  t.notOk([...xen.store.keys()].some((k) => /backend\/(vif|vbd)\/\d/.test(k) || k.startsWith('/libxl/')), 'no device node is left');
  await t.rejects(ts.create(cfg({ name: 'q', disks: [disk('qcow2:/srv/a.qcow2,xvda,w')] })), { code: 'NOT_SUPPORTED', message: /format qcow2/ });
  await t.rejects(ts.create(cfg({ name: 'q', disks: [disk('nbd:host:1,xvda,w')] })), { code: 'NOT_SUPPORTED', message: /no block hotplug scripts/ });
  t.same([...xen.domains.keys()], [0]);
});

t.test('destroy (forget) removes both ends, the back-end directories and libxl\'s record, and detaches the loop devices; twice is safe', async (t) => {
  const { xen, ts, block } = setup(t);
  const r = await ts.create(cfg({ vifs: [vif(''), vif('')], disks: [disk('/srv/a.img,raw,xvda'), disk('/srv/b.img,raw,xvdb,r')] }));
  const other = await ts.create(cfg({ name: 'g2', vifs: [vif('')] }));
  await ts.destroy('g1');
  t.notOk([...xen.store.keys()].some((k) => k.includes(`/backend/vif/${r.domid}`) || k.includes(`/backend/vbd/${r.domid}`)), 'back ends removed');
  t.notOk([...xen.store.keys()].some((k) => k.startsWith(`/local/domain/${r.domid}`) || k.startsWith(`/libxl/${r.domid}`)), 'front ends and libxl record removed');
  t.same(block.released.sort(), ['/dev/loop0', '/dev/loop1']);
  t.ok(xen.store.has(`/local/domain/0/backend/vif/${other.domid}/0/state`), 'another domain\'s devices are untouched');
  const backend = ts.backend;
  await backend.forget(r.domid);
  t.equal(block.released.length, 2, 'nothing released twice');
  // A node claiming some other device is never passed to losetup.
  xen.store.set(`/local/domain/0/backend/vbd/${other.domid}/51712/node`, '/dev/sda');
  await backend.forget(other.domid);
  t.equal(block.released.length, 2);
});

t.test('the host side: device numbers as blkback reads them, and targets that are missing or not disks', async (t) => {
  t.equal(deviceNumber(0x0700), '7:0');
  t.equal(deviceNumber(0x0fe10), 'fe:10');
  // makedev(259, 300): minor bits above 8 go to bits 20 and up.
  t.equal(deviceNumber((259 << 8) | 44 | (1 << 20)), '103:12c');
  const hb = new LoopHostBlock();
  await t.rejects(hb.open('/no/such/image.img', false), { code: 'CONFIG_INVALID', message: 'the disk target /no/such/image.img does not exist' });
  await t.rejects(hb.open(os.tmpdir(), false), { code: 'CONFIG_INVALID', message: /is neither a regular file nor a block device/ });
  await t.rejects(hb.open('/dev/null', false), { code: 'CONFIG_INVALID', message: /neither a regular file nor a block device/ });
  await t.rejects(hb.release('/dev/sda'), { code: 'INTERNAL' });
});
