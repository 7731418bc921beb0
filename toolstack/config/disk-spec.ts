// Reads one xl-disk-configuration(5) DISKSPEC (positional, key=value and the deprecated prefix forms) into a typed DiskConfig.
import { backendDomain } from './vif-spec.js';
import { didYouMean, type Reject } from './report.js';

export type DiskFormat = 'raw' | 'qcow' | 'qcow2' | 'vhd' | 'qed';

/** One virtual block device, with every default of xl-disk-configuration(5) applied. */
export interface DiskConfig {
  /** Block device or image path ("/dev/" put in front of a relative one), or script data; absent for an empty CD-ROM drive. */
  target?: string;
  format: DiskFormat;
  /** The guest's name for it, as written (xvda, xvdb1, hdc, sda, d0p1, or a number). */
  vdev: string;
  /** The vdev encoded as xen-vbd-interface(7) says: the device number the backend and frontend use. */
  vbd: number;
  /** Read-only ("r") or read-write ("w"); CD-ROMs default to read-only. */
  mode: 'r' | 'w';
  devtype: 'disk' | 'cdrom';
  /** Backend domain, a name or a domain id; absent means dom0. */
  backend?: string;
  /** Backend implementation; absent lets the toolstack choose. */
  backendtype?: 'phy' | 'qdisk' | 'standalone';
  /** Hotplug script that interprets the target (a deprecated "nbd:" style prefix sets block-nbd). */
  script?: string;
  directIoSafe: boolean;
  discard: boolean;
  trusted: boolean;
  specification: 'xen' | 'virtio';
}

const FORMATS: readonly DiskFormat[] = ['raw', 'qcow', 'qcow2', 'vhd', 'qed'];
const NAMED = ['target', 'format', 'vdev', 'access', 'devtype', 'backend', 'backendtype', 'script', 'specification'] as const;
const FLAGS = ['cdrom', 'direct-io-safe', 'discard', 'no-discard', 'trusted', 'untrusted'] as const;
/** Documented by the spec, but for COLO replication, which lightvm does not do. */
const COLO = ['colo', 'colo-host', 'colo-port', 'colo-export', 'active-disk', 'hidden-disk'];

/** Deprecated target prefixes: the ones that name a format, the ones that name a script, and the ones that are dropped. */
const PREFIX_FORMATS: Record<string, DiskFormat> = { raw: 'raw', qcow: 'qcow', qcow2: 'qcow2', vhd: 'vhd' };
const PREFIX_SCRIPTS = ['iscsi', 'nbd', 'enbd', 'drbd'];
const PREFIX_IGNORED = ['tapdisk', 'tap2', 'tap', 'aio', 'ioemu', 'file', 'phy'];

/** Disk number from the letters of a vdev: a..z are 0..25, then aa is 26, as drive letters count. */
function letters(s: string): number {
  let n = 0;
  for (const ch of s) n = n * 26 + (ch.charCodeAt(0) - 96);
  return n - 1;
}

/** A partition number as written after the disk letters; leading zeros would make two names for one device. */
function partition(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return 0;
  return /^(0|[1-9]\d*)$/.test(s) ? Number(s) : undefined;
}

function xvdNumber(disk: number, part: number): number | undefined {
  if (disk < 16 && part < 16) return (202 << 8) | (disk << 4) | part;
  if (disk < 1 << 20 && part < 256) return (1 << 28) | (disk << 8) | part;
  return undefined;
}

/** The xen-vbd-interface(7) encoding of a vdev, or a reason it has none. */
export function vbdNumber(vdev: string): number | string {
  let m = /^xvd([a-z]+)(\d*)$/.exec(vdev);
  if (m) {
    const part = partition(m[2]);
    const n = part === undefined ? undefined : xvdNumber(letters(m[1]), part);
    return n ?? 'xvd disks go up to 1048575 and partitions up to 255, with no leading zeros';
  }
  m = /^d(\d+)(?:p(\d+))?$/.exec(vdev);
  if (m) {
    const disk = partition(m[1]);
    const part = partition(m[2]);
    const n = disk === undefined || part === undefined ? undefined : xvdNumber(disk, part);
    return n ?? 'dNpM disks go up to 1048575 and partitions up to 255, with no leading zeros';
  }
  m = /^sd([a-z]+)(\d*)$/.exec(vdev);
  if (m) {
    const disk = letters(m[1]);
    const part = partition(m[2]);
    if (part !== undefined && disk < 16 && part < 16) return (8 << 8) | (disk << 4) | part;
    return 'SCSI names go from sda to sdp with partitions up to 15';
  }
  m = /^hd([a-z]+)(\d*)$/.exec(vdev);
  if (m) {
    const disk = letters(m[1]);
    const part = partition(m[2]);
    if (part !== undefined && disk < 2 && part < 64) return (3 << 8) | (disk << 6) | part;
    if (part !== undefined && disk < 4 && part < 64) return (22 << 8) | ((disk - 2) << 6) | part;
    return 'IDE names go from hda to hdd with partitions up to 63';
  }
  // A bare number is written to XenStore as it is, for guests older than the names above.
  let n: number | undefined;
  if (/^0x[0-9a-f]+$/i.test(vdev)) n = Number.parseInt(vdev.slice(2), 16);
  else if (/^0[0-7]*$/.test(vdev)) n = Number.parseInt(vdev, 8);
  else if (/^[1-9]\d*$/.test(vdev)) n = Number(vdev);
  if (n !== undefined) {
    // From 2 << 28 on the encoding is reserved.
    return n >= 1 && n < 2 << 28 ? n : 'a numeric vdev must be from 1 to 536870911';
  }
  return 'it is not xvdX, hdX, sdX (each with an optional partition number), dNpM or a device number';
}

type Slot = 'target' | 'format' | 'vdev' | 'access';

/**
 * Parses one DISKSPEC. Items without "=" that are not flags fill the positional parameters still
 * unset, in the order target, format, vdev, access; a target with a deprecated prefix ("phy:",
 * "raw:", "nbd:"...) or an empty target followed by "vdev:devtype" selects the deprecated order
 * target, vdev, access. "target=" takes the rest of the string, commas included. Every parameter
 * may be given once; an empty value means its default.
 */
export function parseDiskSpec(spec: string, reject: Reject): DiskConfig {
  const set = new Map<string, string>();
  const flags = new Set<string>();
  let deprecated = false;

  const assign = (name: string, value: string) => {
    // An empty positional target may still be followed by target=..., as the spec allows.
    if (set.has(name) && !(name === 'target' && set.get(name) === '')) reject('CONFIG_INVALID', `${name} is given twice`);
    set.set(name, value);
  };

  const positional = (value: string) => {
    if (!set.has('target')) {
      let target = value;
      let format: DiskFormat | undefined;
      let script: string | undefined;
      for (let m = /^([a-z0-9]+):/.exec(target); m; m = /^([a-z0-9]+):/.exec(target)) {
        const p = m[1];
        if (Object.hasOwn(PREFIX_FORMATS, p)) format = PREFIX_FORMATS[p];
        else if (PREFIX_SCRIPTS.includes(p)) script = `block-${p}`;
        else if (!PREFIX_IGNORED.includes(p)) break;
        target = target.slice(m[0].length);
        deprecated = true;
      }
      assign('target', target);
      if (format !== undefined) assign('format', format);
      if (script !== undefined) assign('script', script);
      return;
    }
    if (!deprecated && set.get('target') === '' && !set.has('format') && !set.has('vdev') && /^[^:]+:/.test(value)) deprecated = true;
    const order: Slot[] = deprecated ? ['vdev', 'access'] : ['format', 'vdev', 'access'];
    const slot = order.find((s) => !set.has(s));
    if (slot === undefined) {
      const they = deprecated
        ? 'after a deprecated prefix such as "phy:" they are target, vdev and access'
        : 'they are target, format, vdev and access';
      reject('CONFIG_INVALID', `${JSON.stringify(value)} is one positional parameter too many (${they})`);
    }
    set.set(slot, value);
  };

  let pos = 0;
  for (;;) {
    const comma = spec.indexOf(',', pos);
    const end = comma < 0 ? spec.length : comma;
    // Leading white space is ignored; trailing white space is part of the value, as the spec says.
    const item = spec.slice(pos, end).replace(/^\s+/, '');
    const last = comma < 0;
    if (item.startsWith('target=')) {
      assign('target', spec.slice(spec.indexOf('target=', pos) + 'target='.length));
      break;
    }
    // One trailing comma closes the list rather than starting an empty parameter.
    if (!(last && item === '' && pos > 0 && spec[pos - 1] === ',' && pos === spec.length)) {
      const eq = item.indexOf('=');
      if (eq >= 0) {
        const key = item.slice(0, eq);
        const value = item.slice(eq + 1);
        if (COLO.includes(key)) reject('CONFIG_INVALID', `"${key}" is for COLO replication, which lightvm does not support`);
        if (!(NAMED as readonly string[]).includes(key)) {
          reject('CONFIG_UNKNOWN_KEY', `"${key}" is not a disk key${didYouMean(key, [...NAMED, ...FLAGS])} (keys: ${NAMED.join(', ')}; flags: ${FLAGS.join(', ')})`);
        }
        assign(key, value);
      } else if ((FLAGS as readonly string[]).includes(item)) {
        if (flags.has(item)) reject('CONFIG_INVALID', `the flag ${item} is given twice`);
        flags.add(item);
      } else if (COLO.includes(item)) {
        reject('CONFIG_INVALID', `"${item}" is for COLO replication, which lightvm does not support`);
      } else {
        positional(item);
      }
    }
    if (last) break;
    pos = comma + 1;
  }

  const value = (name: string) => {
    const v = set.get(name);
    return v === undefined || v === '' ? undefined : v;
  };

  const format = value('format') ?? 'raw';
  if (!(FORMATS as readonly string[]).includes(format)) {
    // "/img,xvda,w" is the old order without the prefix that selects it; say so, as that is the likely mistake.
    const old = typeof vbdNumber(format.split(':')[0]) === 'number' ? ' (for the old order target,vdev,access, put a prefix such as "phy:" or "file:" before the target)' : '';
    reject('CONFIG_INVALID', `format must be one of ${FORMATS.join(', ')}, not ${JSON.stringify(format)}${old}`);
  }

  let vdev = value('vdev');
  let devtype: 'disk' | 'cdrom' = 'disk';
  if (vdev !== undefined && vdev.includes(':')) {
    const [name, type] = vdev.split(':', 2);
    if (type !== 'cdrom') reject('CONFIG_INVALID', `"${vdev}" gives the device type ${JSON.stringify(type)}; the only one is cdrom`);
    vdev = name;
    devtype = 'cdrom';
  }
  const devtypeKey = value('devtype');
  if (devtypeKey !== undefined) {
    if (devtypeKey !== 'cdrom') reject('CONFIG_INVALID', `devtype must be cdrom, not ${JSON.stringify(devtypeKey)}`);
    devtype = 'cdrom';
  }
  if (flags.has('cdrom')) devtype = 'cdrom';

  if (vdev === undefined) reject('CONFIG_INVALID', 'vdev is required: say how the guest names the disk, e.g. xvda');
  const vbd = vbdNumber(vdev);
  if (typeof vbd === 'string') reject('CONFIG_INVALID', `vdev ${JSON.stringify(vdev)} is not a virtual device name: ${vbd}`);

  const access = value('access');
  let mode: 'r' | 'w' = devtype === 'cdrom' ? 'r' : 'w';
  if (access === 'r' || access === 'ro') mode = 'r';
  else if (access === 'w' || access === 'rw') mode = 'w';
  else if (access !== undefined) reject('CONFIG_INVALID', `access must be r, ro, w or rw, not ${JSON.stringify(access)}`);

  const script = value('script');
  if (script !== undefined && script.includes('\0')) reject('CONFIG_INVALID', 'script contains a NUL character');
  let target = value('target');
  if (target !== undefined) {
    if (target.includes('\0')) reject('CONFIG_INVALID', 'the target contains a NUL character');
    // A script reads the target as its own data; otherwise it is a path, and relative ones live in /dev.
    if (script === undefined && !target.startsWith('/')) target = `/dev/${target}`;
  } else if (devtype !== 'cdrom') {
    reject('CONFIG_INVALID', 'the target is required: give the image file or block device (only a CD-ROM drive may be empty)');
  }

  const backendtype = value('backendtype');
  if (backendtype !== undefined && backendtype !== 'phy' && backendtype !== 'qdisk' && backendtype !== 'standalone') {
    reject('CONFIG_INVALID', `backendtype must be phy, qdisk or standalone, not ${JSON.stringify(backendtype)}`);
  }
  const specification = value('specification') ?? 'xen';
  if (specification !== 'xen' && specification !== 'virtio') {
    reject('CONFIG_INVALID', `specification must be xen or virtio, not ${JSON.stringify(specification)}`);
  }
  if (flags.has('discard') && flags.has('no-discard')) reject('CONFIG_INVALID', 'discard and no-discard contradict each other: give one');
  if (flags.has('trusted') && flags.has('untrusted')) reject('CONFIG_INVALID', 'trusted and untrusted contradict each other: give one');

  const disk: DiskConfig = {
    format: format as DiskFormat,
    vdev,
    vbd,
    mode,
    devtype,
    directIoSafe: flags.has('direct-io-safe'),
    discard: !flags.has('no-discard'),
    trusted: !flags.has('untrusted'),
    specification,
  };
  if (target !== undefined) disk.target = target;
  const backend = value('backend');
  if (backend !== undefined) disk.backend = backendDomain(backend, reject);
  if (backendtype !== undefined) disk.backendtype = backendtype;
  if (script !== undefined) disk.script = script;
  return disk;
}
