// Reads one xl-network-configuration(5) vifspec ("mac=...,bridge=...") into a typed VifConfig.
import net from 'node:net';
import { didYouMean, type Reject } from './report.js';

/** Outgoing rate limit: so many bytes per second, credit replenished every intervalUs. */
export interface VifRate {
  /** Fractional when the rate was given in bits and is not a multiple of 8. */
  bytesPerSecond: number;
  intervalUs: number;
}

/**
 * One network interface as the vifspec wrote it. Absent fields take the defaults of whoever attaches
 * the device (for xl: a generated 00:16:3e MAC, bridge xenbr0, script vif-bridge, backend dom0), so
 * that no bridge or script name is built into the configuration layer.
 */
export interface VifConfig {
  /** Lower case, six pairs of hex digits separated by ":". */
  mac?: string;
  bridge?: string;
  /** Interface whose network the vif reaches (for vif-route); `netdev` is read as this. */
  gatewaydev?: string;
  /** Addresses, separated by single spaces. */
  ip?: string;
  script?: string;
  /** Backend domain, a name or a domain id. */
  backend?: string;
  vifname?: string;
  /** HVM only in xl; kept so a configuration shared with xl is not refused, ignored for PV guests. */
  type?: 'ioemu' | 'vif';
  /** HVM only in xl, like type. */
  model?: string;
  rate?: VifRate;
  devid?: number;
  mtu?: number;
  /** From the trusted / untrusted flags; absent when neither is given. */
  trusted?: boolean;
}

export const VIF_KEYS = [
  'mac', 'bridge', 'gatewaydev', 'netdev', 'type', 'model', 'vifname', 'script', 'ip', 'backend', 'rate', 'devid', 'mtu',
] as const;
const VIF_FLAGS = ['trusted', 'untrusted'] as const;

/** Linux keeps interface names below IFNAMSIZ (16) bytes, with no "/", whitespace or ":". */
function interfaceName(what: string, v: string, reject: Reject): string {
  if (v.length > 15 || !/^[A-Za-z0-9_.\-+@]+$/.test(v) || v === '.' || v === '..') {
    reject('CONFIG_INVALID', `${what} ${JSON.stringify(v)} is not a usable network interface name: at most 15 letters, digits or "_.-+@"`);
  }
  return v;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function mac(v: string, reject: Reject): string {
  if (!MAC_RE.test(v)) {
    reject('CONFIG_INVALID', `the MAC address ${JSON.stringify(v)} is not six pairs of hex digits separated by ":" (e.g. 00:16:3e:12:34:56)`);
  }
  const first = Number.parseInt(v.slice(0, 2), 16);
  // A guest NIC with a multicast (group) source address breaks every switch it talks to.
  if (first & 1) reject('CONFIG_INVALID', `the MAC address ${v} is a multicast address (its first byte is odd): clear the lowest bit of the first byte`);
  if (/^00(:00){5}$/.test(v)) reject('CONFIG_INVALID', 'the MAC address 00:00:00:00:00:00 is not a usable address');
  return v.toLowerCase();
}

function addresses(v: string, reject: Reject): string {
  const parts = v.split(/\s+/).filter((p) => p !== '');
  for (const p of parts) {
    const [addr, prefix, extra] = p.split('/');
    const family = net.isIP(addr);
    const maxPrefix = family === 6 ? 128 : 32;
    const okPrefix = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !okPrefix || extra !== undefined) {
      reject('CONFIG_INVALID', `ip ${JSON.stringify(p)} is not an IPv4 or IPv6 address (optionally with a /prefix)`);
    }
  }
  if (parts.length === 0) reject('CONFIG_INVALID', 'ip is blank: give an address or leave the key out');
  return parts.join(' ');
}

const RATE_UNITS: Record<string, number> = { GB: 1e9, MB: 1e6, KB: 1e3, B: 1, Gb: 1e9 / 8, Mb: 1e6 / 8, Kb: 1e3 / 8, b: 1 / 8 };
const INTERVAL_UNITS: Record<string, number> = { s: 1e6, ms: 1e3, us: 1 };
/** The spec's default credit interval. */
const DEFAULT_INTERVAL_US = 50_000;
/** Backends keep the interval in an unsigned 32-bit count of microseconds. */
const MAX_INTERVAL_US = 0xffffffff;

/** `RATE/s` or `RATE/s@INTERVAL`, as xl-network-configuration(5) describes. */
function rate(v: string, reject: Reject): VifRate {
  const m = /^(\d+)(GB|MB|KB|B|Gb|Mb|Kb|b)?\/s(?:@(\d+)(s|ms|us)?)?$/.exec(v);
  if (!m) {
    reject('CONFIG_INVALID', `rate ${JSON.stringify(v)} is not RATE/s or RATE/s@INTERVAL (e.g. 10Mb/s, 1MB/s@20ms; units GB MB KB B for bytes, Gb Mb Kb b for bits, s ms us for the interval)`);
  }
  const bytesPerSecond = Number(m[1]) * RATE_UNITS[m[2] ?? 'B'];
  const intervalUs = m[3] === undefined ? DEFAULT_INTERVAL_US : Number(m[3]) * INTERVAL_UNITS[m[4] ?? 'us'];
  if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond) || bytesPerSecond > Number.MAX_SAFE_INTEGER) {
    reject('CONFIG_INVALID', `rate ${JSON.stringify(v)} must be more than zero and less than ${Number.MAX_SAFE_INTEGER} bytes per second`);
  }
  if (intervalUs < 1 || intervalUs > MAX_INTERVAL_US) {
    reject('CONFIG_INVALID', `rate ${JSON.stringify(v)} has an interval outside 1us to ${MAX_INTERVAL_US}us`);
  }
  return { bytesPerSecond, intervalUs };
}

function integer(key: string, v: string, min: number, max: number, reject: Reject): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    reject('CONFIG_INVALID', `${key} must be a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`);
  }
  return Number(v);
}

/** A domain given by name or id; names follow the same rule as domain names do. */
export function backendDomain(v: string, reject: Reject): string {
  if (!/^(\d+|[A-Za-z0-9_][A-Za-z0-9_\-]{0,63})$/.test(v)) {
    reject('CONFIG_INVALID', `backend ${JSON.stringify(v)} is neither a domain id nor a domain name`);
  }
  return v;
}

/**
 * Parses a vifspec: comma-separated key=value pairs and flags, all optional, so '' means every
 * default. An empty value (`bridge=`) means the default too, as it does for disks. Each key at most once.
 */
export function parseVifSpec(spec: string, reject: Reject): VifConfig {
  const vif: VifConfig = {};
  const given = new Set<string>();
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq).trim();
    const value = eq < 0 ? undefined : item.slice(eq + 1).trim();
    const canonical = key === 'netdev' ? 'gatewaydev' : key === 'untrusted' ? 'trusted' : key;
    if (value === undefined) {
      if (!(VIF_FLAGS as readonly string[]).includes(key)) {
        if ((VIF_KEYS as readonly string[]).includes(key)) reject('CONFIG_INVALID', `"${key}" needs a value: write ${key}=VALUE`);
        reject('CONFIG_UNKNOWN_KEY', `"${key}" is not a vif key or flag${didYouMean(key, [...VIF_KEYS, ...VIF_FLAGS])} (keys: ${VIF_KEYS.join(', ')}; flags: trusted, untrusted)`);
      }
    } else if (!(VIF_KEYS as readonly string[]).includes(key)) {
      const flag = (VIF_FLAGS as readonly string[]).includes(key);
      if (flag) reject('CONFIG_INVALID', `"${key}" is a flag and takes no value: write just ${key}`);
      reject('CONFIG_UNKNOWN_KEY', `"${key}" is not a vif key${didYouMean(key, [...VIF_KEYS, ...VIF_FLAGS])} (keys: ${VIF_KEYS.join(', ')}; flags: trusted, untrusted)`);
    }
    if (given.has(canonical)) reject('CONFIG_INVALID', `${canonical === 'trusted' ? 'trusted/untrusted' : canonical} is given twice`);
    given.add(canonical);
    if (value === '') continue;
    switch (key) {
      case 'trusted': vif.trusted = true; break;
      case 'untrusted': vif.trusted = false; break;
      case 'mac': vif.mac = mac(value!, reject); break;
      case 'bridge': vif.bridge = interfaceName('bridge', value!, reject); break;
      case 'gatewaydev':
      case 'netdev': vif.gatewaydev = interfaceName(key, value!, reject); break;
      case 'vifname': vif.vifname = interfaceName('vifname', value!, reject); break;
      case 'type':
        if (value !== 'ioemu' && value !== 'vif') reject('CONFIG_INVALID', `type must be "vif" or "ioemu", not ${JSON.stringify(value)}`);
        vif.type = value;
        break;
      case 'model':
        if (!/^[A-Za-z0-9_\-]+$/.test(value!)) reject('CONFIG_INVALID', `model ${JSON.stringify(value)} is not a device model name (letters, digits, "_" and "-")`);
        vif.model = value;
        break;
      case 'script':
        if (value!.includes('\0')) reject('CONFIG_INVALID', 'script contains a NUL character');
        vif.script = value;
        break;
      case 'ip': vif.ip = addresses(value!, reject); break;
      case 'backend': vif.backend = backendDomain(value!, reject); break;
      case 'rate': vif.rate = rate(value!, reject); break;
      case 'devid': vif.devid = integer('devid', value!, 0, 0x7fffffff, reject); break;
      // 68 is the smallest MTU IPv4 allows.
      case 'mtu': vif.mtu = integer('mtu', value!, 68, 65535, reject); break;
    }
  }
  return vif;
}
