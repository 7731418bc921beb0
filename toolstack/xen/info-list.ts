// Decodes the addon's packed domain lists (laid out in native/src/xc.cc): xc_domain_getinfolist's 64-byte records into DomainInfo objects, and domainListChanges' (domid, handle) entries.
import type { DomainInfo, DomainListChanges } from './types.js';

/** Bytes per domain in the addon's buffer. */
export const INFO_RECORD_BYTES = 64;

/** The handle of the record at byte `r`, from `hex` (the whole buffer in hex: one conversion, then slices). */
function uuidAt(hex: string, r: number): string {
  const a = (r + 48) * 2;
  return `${hex.slice(a, a + 8)}-${hex.slice(a + 8, a + 12)}-${hex.slice(a + 12, a + 16)}-${hex.slice(a + 16, a + 20)}-${hex.slice(a + 20, a + 32)}`;
}

/** The domains in `buf`; a buffer that is not a whole number of records is the addon's bug, and says so. */
export function decodeInfoList(buf: Buffer): DomainInfo[] {
  if (buf.length % INFO_RECORD_BYTES !== 0) {
    throw new Error(`domainGetInfoList: the addon returned ${buf.length} bytes, not a whole number of ${INFO_RECORD_BYTES}-byte records (addon and toolstack from different builds?)`);
  }
  const n = buf.length / INFO_RECORD_BYTES;
  const out = new Array<DomainInfo>(n);
  const hex = n > 0 ? buf.toString('hex') : '';
  for (let i = 0; i < n; i++) {
    const r = i * INFO_RECORD_BYTES;
    const state = buf.readUInt32LE(r + 4);
    out[i] = {
      domid: buf.readUInt32LE(r),
      handle: uuidAt(hex, r),
      dying: (state & 1) !== 0,
      crashed: (state & 2) !== 0,
      shutdown: (state & 4) !== 0,
      paused: (state & 8) !== 0,
      blocked: (state & 16) !== 0,
      running: (state & 32) !== 0,
      hvm: (state & 64) !== 0,
      shutdownReason: (state >>> 8) & 0xff,
      nrPages: buf.readDoubleLE(r + 8),
      maxMemKiB: buf.readDoubleLE(r + 16),
      cpuTimeNs: buf.readDoubleLE(r + 24),
      nrOnlineVcpus: buf.readUInt32LE(r + 32),
      maxVcpuId: buf.readUInt32LE(r + 36),
      cpupool: buf.readUInt32LE(r + 40),
      ssidref: buf.readUInt32LE(r + 44),
    };
  }
  return out;
}

/** Bytes per entry of domainListChanges' lists: u32 domid, 16 bytes handle. */
export const ID_ENTRY_BYTES = 20;

/** The addon's answer to domainListChanges, decoded: only the changes become objects, the list stays packed. */
export function decodeListChanges(raw: { list: Buffer; added: Buffer; removed: Buffer }): DomainListChanges {
  if (raw.list.length % ID_ENTRY_BYTES !== 0 || raw.added.length % ID_ENTRY_BYTES !== 0 || raw.removed.length % 4 !== 0) {
    throw new Error(`domainListChanges: the addon returned lists of ${raw.list.length}, ${raw.added.length} and ${raw.removed.length} bytes, not whole entries (addon and toolstack from different builds?)`);
  }
  const added: { domid: number; handle: string }[] = [];
  const hex = raw.added.length > 0 ? raw.added.toString('hex') : '';
  for (let r = 0; r < raw.added.length; r += ID_ENTRY_BYTES) {
    const a = (r + 4) * 2;
    added.push({
      domid: raw.added.readUInt32LE(r),
      handle: `${hex.slice(a, a + 8)}-${hex.slice(a + 8, a + 12)}-${hex.slice(a + 12, a + 16)}-${hex.slice(a + 16, a + 20)}-${hex.slice(a + 20, a + 32)}`,
    });
  }
  const removed: number[] = [];
  for (let r = 0; r < raw.removed.length; r += 4) removed.push(raw.removed.readUInt32LE(r));
  return { list: { packed: raw.list, count: raw.list.length / ID_ENTRY_BYTES }, added, removed };
}
