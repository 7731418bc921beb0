// Unit: save, checkpoint and restore of a noxs domain against the Xen double and fake noxs: suspend through the power device, devices made again for the new domain, the image's dev_method kept.
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
import { DomainStore } from '../../../toolstack/store.js';
import { ChaosError } from '../../../toolstack/errors.js';
import type { DomainConfig } from '../../../toolstack/config/domain-config.js';
import { readSaveHeader, restoreFromFile, saveToFile, sameDevMethod } from '../../../toolstack/save.js';
import { loadNative } from '../../../toolstack/xen/native.js';
import { FakeXen } from './fake-xen.js';
import { FakeDevctl, FakeNoxsd } from './devices/fake-noxs.js';

function host(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-noxs-save-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const xen = new FakeXen();
  xen.pipe = () => loadNative().pipe();
  const store = new DomainStore(path.join(dir, 'state'));
  const devctl = new FakeDevctl();
  const noxsd = new FakeNoxsd();
  const xsWrites: string[] = [];
  const realBatch = xen.xsBatch.bind(xen);
  xen.xsBatch = async (ops, tr) => { xsWrites.push(...ops.filter((o) => !/^(read|directory)$/.test(o.op)).map((o) => `${o.op} ${o.path}`)); return realBatch(ops, tr); };
  // A noxs guest that offers suspend answers the power device's request by suspending (SCHEDOP_shutdown(suspend)).
  let suspends = true;
  const realReq = noxsd.powerReq.bind(noxsd);
  noxsd.powerReq = async (domid, id, req) => {
    const seq = await realReq(domid, id, req);
    const d = xen.domains.get(domid);
    if (d && req === 'suspend' && suspends) { d.info.shutdown = true; d.info.shutdownReason = 2; }
    return seq;
  };
  const backend = new DeviceRouter({
    defaultMethod: 'xenstore', store,
    make: {
      xenstore: () => new XenStoreBackend(new XenStore(xen)),
      noxs: () => new NoxsBackend({ devctl: () => devctl, noxsd, store, domainInfo: (f, m) => xen.domainGetInfoList(f, m) }),
    },
  });
  const ts = new Toolstack({
    xen, backend, store, log: pino({ level: 'silent' }),
    wrap: (err, domid) => (err instanceof ChaosError ? err : new ChaosError('XEN_CALL', (err as Error).message, { call: (err as { call?: string }).call, domid, cause: err })),
  });
  return { xen, ts, dir, devctl, noxsd, xsWrites, guestSuspends: (on: boolean) => { suspends = on; } };
}

function cfg(over: Partial<DomainConfig> = {}): DomainConfig {
  return {
    name: 'day', type: 'pv', kernel: '/guests/daytime', cmdline: '', memoryMiB: 8, maxMemoryMiB: 8, vcpus: 1, maxVcpus: 1,
    cpus: 'all', vifs: [{ bridge: 'xenbr0' }], disks: [], onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy', devMethod: 'noxs', ...over,
  } as DomainConfig;
}

t.test('save -c of a noxs domain: suspend through the power device, the image says noxs, the same domain runs on with its devices', async (t) => {
  const { xen, ts, dir, devctl, noxsd, xsWrites } = host(t);
  const made = await ts.create(cfg());
  const file = path.join(dir, 'day.save');
  const before = [...(devctl.pages.get(made.domid) ?? [])];
  await saveToFile(ts, 'day', file, { checkpoint: true });
  t.ok(noxsd.log.includes(`POWER_REQ ${made.domid} 0 suspend`), 'the suspend went to the power device (noxsd POWER_REQ)');
  t.ok(xen.calls.includes(`resume ${made.domid}`), 'resumed as a cancelled suspend');
  t.equal((await ts.find('day')).domid, made.domid, 'the same domain runs on');
  t.same(devctl.pages.get(made.domid), before, 'its device page is untouched');
  t.notOk(noxsd.log.includes(`DOMAIN_REM ${made.domid}`), 'noxsd keeps its devices');
  const fd = fs.openSync(file, 'r');
  const meta = readSaveHeader(fd, file);
  fs.closeSync(fd);
  t.equal(meta.config.devMethod, 'noxs', "the image records the domain's dev_method with its config");
  t.same(xsWrites, [], 'no XenStore write');
});

t.test('save then restore of a noxs domain: the source goes with its devices, the new domain gets a power device and its vif (same MAC) from noxsd', async (t) => {
  const { xen, ts, dir, devctl, noxsd, xsWrites } = host(t);
  const made = await ts.create(cfg());
  const mac = noxsd.vifs[0]!.mac;
  const file = path.join(dir, 'day.save');
  await saveToFile(ts, 'day', file);
  t.notOk(xen.domains.has(made.domid), 'the saved domain is destroyed');
  t.ok(noxsd.log.includes(`DOMAIN_REM ${made.domid}`), "noxsd took the source's devices down");

  const wrong = restoreFromFile(ts, file, { devMethod: 'xenstore' });
  await t.rejects(wrong, { code: 'CONFIG_INVALID', message: /saved with dev_method "noxs": it can only resume over "noxs".*not "xenstore"/ }, 'another method is refused');
  t.equal(xen.domains.size, 1, 'and nothing was made for it (dom0 only)');

  const { record } = await restoreFromFile(ts, file, { devMethod: 'noxs' });
  t.not(record.domid, made.domid, 'a new domain');
  t.equal(record.devMethod, 'noxs', 'recorded as noxs');
  t.same((devctl.pages.get(record.domid) ?? []).map((d) => `${d.type}/${d.id}`), ['power/0', 'vif/0'], "the new domain's page has its power device and vif again");
  const vif = noxsd.vifs.find((v) => v.domid === record.domid);
  t.equal(vif?.mac, mac, 'the vif keeps the MAC the guest had');
  t.notOk(xen.introduced.has(record.domid), 'not introduced to xenstored');
  t.equal(record.consoleMfn, 1000 + record.domid, "the restored console ring's frame is in the record");
  t.notOk((await ts.find('day')).state.includes('p'), 'unpaused');
  t.same(xsWrites, [], 'no XenStore write on the way');
});

t.test('a noxs guest that does not offer suspend is refused at once and keeps running; one that ignores the request times out and keeps running', async (t) => {
  const { ts, dir, noxsd, guestSuspends } = host(t);
  const made = await ts.create(cfg());
  const file = path.join(dir, 'day.save');
  noxsd.features = 0;
  await t.rejects(saveToFile(ts, 'day', file), { code: 'GUEST_STATE', message: /says it cannot suspend/ });
  t.notOk(noxsd.log.includes(`POWER_REQ ${made.domid} 0 suspend`), 'no request was sent');
  noxsd.features = 1;
  guestSuspends(false);
  await t.rejects(saveToFile(ts, 'day', file, { suspendTimeoutMs: 50 }), { code: 'TIMEOUT', message: /did not suspend within/ });
  t.notOk(fs.existsSync(file), 'no image is left');
  const d = await ts.find('day');
  t.equal(d.domid, made.domid);
  t.notMatch(d.state, /s/, 'still running');
});

t.test('sameDevMethod: absent or equal passes, another method is refused naming both', async (t) => {
  const meta = { version: 1 as const, name: 'day', uuid: '0f0e0d0c-0b0a-4908-8706-050403020100', config: cfg(), savedAt: 'x', host: 'h' };
  t.doesNotThrow(() => sameDevMethod(meta, undefined, 'f'));
  t.doesNotThrow(() => sameDevMethod(meta, 'noxs', 'f'));
  t.throws(() => sameDevMethod({ ...meta, config: cfg({ devMethod: 'xenstore' }) }, 'noxs', 'the migration from p'), { code: 'CONFIG_INVALID', message: /^the migration from p: day was saved with dev_method "xenstore"/ });
});
