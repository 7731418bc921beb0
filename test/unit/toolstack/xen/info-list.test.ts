// Unit: the packed domain list the addon returns decodes field by field into DomainInfo objects, and a torn buffer is refused.
import t from 'tap';
import { decodeInfoList, INFO_RECORD_BYTES } from '../../../../toolstack/xen/info-list.js';

/** One record as native/src/xc.cc packs it. */
function record(o: { domid: number; state: number; pages: number; maxKiB: number; cpuNs: number; online: number; maxVcpu: number; pool: number; ssid: number; handle: string }): Buffer {
  const b = Buffer.alloc(INFO_RECORD_BYTES);
  b.writeUInt32LE(o.domid, 0);
  b.writeUInt32LE(o.state, 4);
  b.writeDoubleLE(o.pages, 8);
  b.writeDoubleLE(o.maxKiB, 16);
  b.writeDoubleLE(o.cpuNs, 24);
  b.writeUInt32LE(o.online, 32);
  b.writeUInt32LE(o.maxVcpu, 36);
  b.writeUInt32LE(o.pool, 40);
  b.writeUInt32LE(o.ssid, 44);
  Buffer.from(o.handle.replace(/-/g, ''), 'hex').copy(b, 48);
  return b;
}

t.test('each field of each record', async (t) => {
  const dom0 = { domid: 0, state: 32 | 16, pages: 262144, maxKiB: 2 ** 64 * 4, cpuNs: 123456789012, online: 2, maxVcpu: 1, pool: 0, ssid: 0, handle: '00000000-0000-0000-0000-000000000000' };
  // Crashed: shutdown (4) with reason 3 (SHUTDOWN_crash), paused (8), dying (1), hvm (64).
  const crashed = { domid: 32752 - 1, state: 1 | 2 | 4 | 8 | 64 | (3 << 8), pages: 1024, maxKiB: 4096, cpuNs: 0, online: 1, maxVcpu: 0, pool: 7, ssid: 9, handle: 'a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90' };
  const got = decodeInfoList(Buffer.concat([record(dom0), record(crashed)]));
  t.same(got, [
    { domid: 0, handle: dom0.handle, dying: false, crashed: false, shutdown: false, paused: false, blocked: true, running: true, hvm: false, shutdownReason: 0, nrPages: 262144, maxMemKiB: 2 ** 64 * 4, cpuTimeNs: 123456789012, nrOnlineVcpus: 2, maxVcpuId: 1, cpupool: 0, ssidref: 0 },
    { domid: 32751, handle: crashed.handle, dying: true, crashed: true, shutdown: true, paused: true, blocked: false, running: false, hvm: true, shutdownReason: 3, nrPages: 1024, maxMemKiB: 4096, cpuTimeNs: 0, nrOnlineVcpus: 1, maxVcpuId: 0, cpupool: 7, ssidref: 9 },
  ]);
});

t.test('an empty list, and a buffer that is not whole records', async (t) => {
  t.same(decodeInfoList(Buffer.alloc(0)), []);
  t.throws(() => decodeInfoList(Buffer.alloc(INFO_RECORD_BYTES + 10)), /74 bytes, not a whole number of 64-byte records/);
});

t.test('1000 records decode in one pass with distinct handles', async (t) => {
  const recs = Array.from({ length: 1000 }, (_, i) => record({ domid: i, state: 16, pages: 1024, maxKiB: 4096, cpuNs: i, online: 1, maxVcpu: 0, pool: 0, ssid: 0, handle: `00000000-0000-0000-0000-${i.toString(16).padStart(12, '0')}` }));
  const got = decodeInfoList(Buffer.concat(recs));
  t.equal(got.length, 1000);
  t.equal(new Set(got.map((d) => d.handle)).size, 1000);
  t.equal(got[999].handle, '00000000-0000-0000-0000-0000000003e7');
});
