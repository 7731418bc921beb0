// Kernel uevents as xendevd reads them: the datagram parsed defensively, and the vif back-end events picked out of it.
import { isIfName } from '../../toolstack/xen/host-net.js';

/** A kernel uevent: "ACTION@DEVPATH\0" then "KEY=VALUE\0" pairs. */
export interface Uevent {
  action: string;
  devpath: string;
  env: ReadonlyMap<string, string>;
}

export type ParseResult = { ok: true; event: Uevent } | { ok: false; reason: string };

/** Longer datagrams are refused outright; the kernel's are at most about 2 KiB. */
export const MAX_UEVENT_BYTES = 8192;
const MAX_FIELDS = 128;
const ACTIONS = new Set(['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind']);
const KEY_RE = /^[A-Za-z0-9_]{1,64}$/;

const bad = (reason: string): ParseResult => ({ ok: false, reason });

/** Parses one datagram. Never throws: anything odd is a reason, and the caller ignores the datagram. */
export function parseUevent(buf: Buffer): ParseResult {
  if (!Buffer.isBuffer(buf) || buf.length === 0) return bad('empty datagram');
  if (buf.length > MAX_UEVENT_BYTES) return bad(`datagram of ${buf.length} bytes (at most ${MAX_UEVENT_BYTES})`);
  // udevd's re-broadcasts start with this magic; xendevd listens to the kernel only.
  if (buf.subarray(0, 8).toString('latin1') === 'libudev\0') return bad('a udev message, not a kernel uevent');
  const parts: string[] = [];
  let at = 0;
  while (at < buf.length) {
    let end = buf.indexOf(0, at);
    if (end < 0) end = buf.length;  // the last field without its NUL: taken as is
    if (end > at) parts.push(buf.toString('utf8', at, end));
    if (parts.length > MAX_FIELDS + 1) return bad(`more than ${MAX_FIELDS} fields`);
    at = end + 1;
  }
  const header = parts.shift();
  if (header === undefined) return bad('no header');
  const atSign = header.indexOf('@');
  if (atSign <= 0) return bad(`header ${JSON.stringify(header.slice(0, 64))} is not ACTION@DEVPATH`);
  const action = header.slice(0, atSign), devpath = header.slice(atSign + 1);
  if (!ACTIONS.has(action)) return bad(`unknown action ${JSON.stringify(action.slice(0, 32))}`);
  if (!devpath.startsWith('/')) return bad(`devpath ${JSON.stringify(devpath.slice(0, 64))} is not absolute`);
  const env = new Map<string, string>();
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) return bad(`field ${JSON.stringify(p.slice(0, 64))} is not KEY=VALUE`);
    const key = p.slice(0, eq);
    if (!KEY_RE.test(key)) return bad(`bad key ${JSON.stringify(key.slice(0, 64))}`);
    if (env.has(key)) return bad(`key ${key} given twice`);
    env.set(key, p.slice(eq + 1));
  }
  // The kernel repeats the header in the environment: a datagram whose two disagree is not the kernel's.
  if (env.has('ACTION') && env.get('ACTION') !== action) return bad('ACTION differs from the header');
  if (env.has('DEVPATH') && env.get('DEVPATH') !== devpath) return bad('DEVPATH differs from the header');
  return { ok: true, event: { action, devpath, env } };
}

/** Domain ids of ordinary domains stop below DOMID_FIRST_RESERVED. */
const MAX_DOMID = 0x7fef;
const MAX_DEVID = 0x7fffffff;
const XENBUS_PATH_RE = /^backend\/vif\/(\d{1,5})\/(\d{1,10})$/;

/** A vif back end's event, with what xendevd needs to act on it. */
export interface VifEvent {
  action: string;
  domid: number;
  devid: number;
  /** The interface netback made in dom0 ("vif5.0"). */
  ifname: string;
  /** The back end's XenStore directory, relative to the back-end domain's home ("backend/vif/5/0"). */
  xenbusPath: string;
}

/**
 * The vif event in a uevent; undefined when the event is about anything else (ignored quietly);
 * a reason when it claims to be a vif event but does not hold together (ignored with a warning).
 */
export function vifEvent(ev: Uevent): VifEvent | undefined | { reason: string } {
  if (ev.env.get('SUBSYSTEM') !== 'xen-backend' || ev.env.get('XENBUS_TYPE') !== 'vif') return undefined;
  const xenbusPath = ev.env.get('XENBUS_PATH') ?? '';
  const m = XENBUS_PATH_RE.exec(xenbusPath);
  if (!m) return { reason: `XENBUS_PATH ${JSON.stringify(xenbusPath.slice(0, 64))} is not backend/vif/<domid>/<devid>` };
  const domid = Number(m[1]), devid = Number(m[2]);
  if (domid > MAX_DOMID) return { reason: `domain id ${domid} is out of range` };
  if (devid > MAX_DEVID) return { reason: `device id ${devid} is out of range` };
  // The bus names the device vif-<domid>-<devid>; a devpath naming another is not to be trusted.
  if (!ev.devpath.endsWith(`/vif-${domid}-${devid}`)) return { reason: `devpath ${JSON.stringify(ev.devpath.slice(0, 64))} does not name vif-${domid}-${devid}` };
  // netback names the interface vif<domid>.<devid> and says so in `vif` once it exists.
  const ifname = ev.env.get('vif') ?? `vif${domid}.${devid}`;
  if (!isIfName(ifname)) return { reason: `interface name ${JSON.stringify(ifname.slice(0, 32))} is not valid` };
  return { action: ev.action, domid, devid, ifname, xenbusPath };
}

/** The vif a xen-backend device name ("vif-5-0") stands for, or undefined for any other device. */
export function vifDevice(name: string): { domid: number; devid: number } | undefined {
  const m = /^vif-(\d{1,5})-(\d{1,10})$/.exec(name);
  if (!m) return undefined;
  const domid = Number(m[1]), devid = Number(m[2]);
  return domid <= MAX_DOMID && devid <= MAX_DEVID ? { domid, devid } : undefined;
}
