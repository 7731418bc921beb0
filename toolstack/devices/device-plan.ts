// Turns a config's vifs and disks into the devices a back-end sets up: device ids, MACs, and every value bound for XenStore re-checked.
import crypto from 'node:crypto';
import { ChaosError } from '../errors.js';
import { vbdNumber, type DiskConfig } from '../config/disk-spec.js';
import type { VifConfig } from '../config/vif-spec.js';

/** The devices of a domain, as a config gives them. */
export interface DeviceConfig { vifs: readonly VifConfig[]; disks: readonly DiskConfig[] }

/** One network interface, ready to be written: every field is a checked value. */
export interface VifDevice {
  devid: number;
  mac: string;
  bridge?: string;
  script?: string;
  ip?: string;
  vifname?: string;
  gatewaydev?: string;
  mtu?: number;
  trusted?: boolean;
  /** netback's `rate` node: "BYTES_PER_INTERVAL,INTERVAL_US". */
  rate?: string;
}

/** One virtual block device, ready to be written; `devid` is its xen-vbd-interface(7) number. */
export interface VbdDevice {
  devid: number;
  vdev: string;
  /** Absent for an empty CD-ROM drive. */
  target?: string;
  mode: 'r' | 'w';
  devtype: 'disk' | 'cdrom';
  discard: boolean;
  trusted: boolean;
}

/** Device ids go into XenStore paths: whole numbers only, as the front ends parse them. */
const MAX_DEVID = 0x7fffffff;
const IFNAME_RE = /^[A-Za-z0-9_.\-+@]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** The back-end domain: only dom0 runs back ends here (driver domains are not supported yet). */
const DOM0_NAMES = new Set(['0', 'Domain-0']);

/**
 * A MAC in Xen's 00:16:3e range, as xl makes when the vifspec gives none; derived from the domain's
 * uuid and the device id, so the same domain (restored, migrated) keeps its addresses.
 */
export function macFor(uuid: string, devid: number): string {
  const h = crypto.createHash('sha256').update(`${uuid}/vif/${devid}`).digest();
  // The 3 low bytes; the top bit of the 4th byte cleared as xl does, leaving room for other schemes.
  return ['00', '16', '3e', (h[0] & 0x7f).toString(16), h[1].toString(16), h[2].toString(16)].map((x) => x.padStart(2, '0')).join(':');
}

function invalid(key: 'vif' | 'disk', i: number, reason: string): never {
  throw new ChaosError('CONFIG_INVALID', `${key}[${i}]: ${reason}`, { key });
}

function unsupported(key: 'vif' | 'disk', i: number, reason: string): never {
  throw new ChaosError('NOT_SUPPORTED', `${key}[${i}]: ${reason}`, { key });
}

function ifname(i: number, what: string, v: string | undefined): string | undefined {
  if (v !== undefined && (!IFNAME_RE.test(v) || v === '.' || v === '..')) {
    invalid('vif', i, `${what} ${JSON.stringify(v)} is not a usable network interface name: at most 15 letters, digits or "_.-+@"`);
  }
  return v;
}

function noNul(key: 'vif' | 'disk', i: number, what: string, v: string | undefined): string | undefined {
  if (v !== undefined && v.includes('\0')) invalid(key, i, `${what} contains a NUL character`);
  return v;
}

/**
 * The vifs with their device ids and MACs. A vif without `devid` takes its index, or the next id no
 * other vif uses. A DomainConfig may be built by a program rather than the parser, so the values that
 * reach XenStore are checked again here.
 */
export function planVifs(uuid: string, vifs: readonly VifConfig[]): VifDevice[] {
  const taken = new Set<number>();
  vifs.forEach((v, i) => {
    if (v.devid === undefined) return;
    if (!Number.isInteger(v.devid) || v.devid < 0 || v.devid > MAX_DEVID) invalid('vif', i, `devid ${v.devid} is not a whole number from 0 to ${MAX_DEVID}`);
    if (taken.has(v.devid)) invalid('vif', i, `devid ${v.devid} is used by another vif`);
    taken.add(v.devid);
  });
  const macs = new Set<string>();
  let next = 0;
  return vifs.map((v, i) => {
    if (v.backend !== undefined && !DOM0_NAMES.has(v.backend)) unsupported('vif', i, `back-end domain ${JSON.stringify(v.backend)}: only dom0 runs back ends (driver domains are not supported yet)`);
    let devid = v.devid;
    if (devid === undefined) {
      next = Math.max(next, i);
      while (taken.has(next)) next++;
      devid = next;
      taken.add(devid);
    }
    const mac = v.mac ?? macFor(uuid, devid);
    if (!MAC_RE.test(mac)) invalid('vif', i, `the MAC address ${JSON.stringify(mac)} is not six pairs of lower-case hex digits separated by ":"`);
    if (macs.has(mac)) invalid('vif', i, `the MAC address ${mac} is used by another vif`);
    macs.add(mac);
    if (v.ip !== undefined && !/^[0-9A-Fa-f.:/ ]+$/.test(v.ip)) invalid('vif', i, `ip ${JSON.stringify(v.ip)} is not a list of addresses`);
    if (v.mtu !== undefined && (!Number.isInteger(v.mtu) || v.mtu < 68 || v.mtu > 65535)) invalid('vif', i, `mtu ${v.mtu} is not from 68 to 65535`);
    const dev: VifDevice = { devid, mac };
    const bridge = ifname(i, 'bridge', v.bridge);
    if (bridge !== undefined) dev.bridge = bridge;
    const vifname = ifname(i, 'vifname', v.vifname);
    if (vifname !== undefined) dev.vifname = vifname;
    const gatewaydev = ifname(i, 'gatewaydev', v.gatewaydev);
    if (gatewaydev !== undefined) dev.gatewaydev = gatewaydev;
    const script = noNul('vif', i, 'script', v.script);
    if (script !== undefined) dev.script = script;
    if (v.ip !== undefined) dev.ip = v.ip;
    if (v.mtu !== undefined) dev.mtu = v.mtu;
    if (v.trusted !== undefined) dev.trusted = v.trusted;
    if (v.rate !== undefined) {
      // netback takes credit per interval, as libxl writes it: bytes per interval, then the interval in us.
      const { bytesPerSecond, intervalUs } = v.rate;
      if (!(bytesPerSecond > 0) || !Number.isInteger(intervalUs) || intervalUs < 1 || intervalUs > 0xffffffff) invalid('vif', i, 'rate is out of range');
      dev.rate = `${Math.max(1, Math.floor((bytesPerSecond * intervalUs) / 1e6))},${intervalUs}`;
    }
    return dev;
  });
}

/** The disks lightvm can attach: raw images and block devices in dom0, served by blkback (no hotplug scripts, no qdisk). */
export function planVbds(disks: readonly DiskConfig[]): VbdDevice[] {
  const seen = new Set<number>();
  return disks.map((d, i) => {
    const n = vbdNumber(d.vdev);
    if (typeof n === 'string') invalid('disk', i, `vdev ${JSON.stringify(d.vdev)} is not a virtual device name: ${n}`);
    if (d.vbd !== n) invalid('disk', i, `vbd ${d.vbd} is not the number of vdev ${d.vdev} (${n})`);
    if (seen.has(n)) invalid('disk', i, `vdev ${d.vdev} is the same device as another disk`);
    seen.add(n);
    if (d.backend !== undefined && !DOM0_NAMES.has(d.backend)) unsupported('disk', i, `back-end domain ${JSON.stringify(d.backend)}: only dom0 runs back ends (driver domains are not supported yet)`);
    if (d.backendtype !== undefined && d.backendtype !== 'phy') unsupported('disk', i, `backendtype ${d.backendtype}: lightvm attaches disks with blkback (backendtype phy) only`);
    if (d.format !== 'raw') unsupported('disk', i, `format ${d.format}: blkback serves raw images and block devices only`);
    if (d.script !== undefined) unsupported('disk', i, `script ${JSON.stringify(d.script)}: lightvm runs no block hotplug scripts`);
    if (d.specification !== 'xen') unsupported('disk', i, `specification ${d.specification}: only Xen PV block devices are supported`);
    const target = noNul('disk', i, 'target', d.target);
    if (target !== undefined && !target.startsWith('/')) invalid('disk', i, `the target ${JSON.stringify(target)} is not an absolute path`);
    if (target === undefined && d.devtype !== 'cdrom') invalid('disk', i, 'the target is required (only a CD-ROM drive may be empty)');
    const dev: VbdDevice = { devid: n, vdev: d.vdev, mode: d.mode, devtype: d.devtype, discard: d.discard, trusted: d.trusted };
    if (target !== undefined) dev.target = target;
    return dev;
  });
}
