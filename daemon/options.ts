// chaosd's settings: the command line parsed into one typed, checked value (pools, socket, TCP listener, limits).
import os from 'node:os';
import fs from 'node:fs';
import { checkClasses, type PoolClass } from './pool.js';

export interface DaemonSettings {
  socket: string;
  /** The group that may use the socket (with root); its gid. */
  gid: number;
  stateDir: string;
  pools: PoolClass[];
  marginMiB: number;
  parallel: number;
  /** Build worker processes; 0: builds run in chaosd's own process. */
  workers: number;
  maxBodyBytes: number;
  tcp?: { host: string; port: number; token: string };
  /** How the devices of shells and of configs without dev_method are set up (docs/noxs.md). */
  devMethod: 'xenstore' | 'noxs';
}

export const DEFAULTS = {
  socket: '/run/lightvm/chaosd.sock',
  stateDir: '/var/lib/lightvm',
  /** One class fits the noop and daytime unikernels (4 MiB, 1 vCPU). */
  pool: 'name=small,memory=4,vcpus=1,low=4,high=16',
  marginMiB: 64,
  maxBodyBytes: 1 << 20,
} as const;

const usage = (m: string) => Object.assign(new Error(m), { usage: true });

/** One --pool: comma-separated key=value (name, memory, maxmem (default memory), vcpus (1), low, high). */
export function parsePool(spec: string): PoolClass {
  const kv = new Map<string, string>();
  for (const part of spec.split(',')) {
    const m = /^([a-z]+)=(.+)$/.exec(part.trim());
    if (!m) throw usage(`--pool ${JSON.stringify(spec)}: each part is key=value (name, memory, maxmem, vcpus, low, high)`);
    if (!['name', 'memory', 'maxmem', 'vcpus', 'low', 'high'].includes(m[1])) throw usage(`--pool ${JSON.stringify(spec)}: unknown key ${m[1]}`);
    kv.set(m[1], m[2]);
  }
  const num = (k: string, dflt?: number) => {
    const v = kv.get(k);
    if (v === undefined) {
      if (dflt === undefined) throw usage(`--pool ${JSON.stringify(spec)} needs ${k}=`);
      return dflt;
    }
    if (!/^\d+$/.test(v)) throw usage(`--pool ${JSON.stringify(spec)}: ${k} must be a whole number`);
    return Number(v);
  };
  const memoryMiB = num('memory');
  return {
    name: kv.get('name') ?? `m${memoryMiB}`, memoryMiB, maxMemoryMiB: num('maxmem', memoryMiB), maxVcpus: num('vcpus', 1),
    low: num('low'), high: num('high'),
  };
}

/** A group's gid from /etc/group (a number is taken as a gid). */
export function groupId(name: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(name)) return Number(name);
  let text = '';
  try { text = fs.readFileSync(groupFile, 'utf8'); } catch { /* no file: only numeric groups */ }
  for (const line of text.split('\n')) {
    const [g, , gid] = line.split(':');
    if (g === name && /^\d+$/.test(gid ?? '')) return Number(gid);
  }
  throw usage(`--group ${name}: no such group in ${groupFile}`);
}

export interface RawArgs {
  socket: string; group: string; 'state-dir': string; pool?: string[]; 'no-pools'?: boolean; pools?: boolean; 'margin-mib': number; parallel?: number; workers?: number;
  'max-body': number; 'tcp-port'?: number; 'tcp-host': string; 'token-file'?: string; 'dev-method'?: string;
}

export function settingsFrom(a: RawArgs): DaemonSettings {
  const pools = a['no-pools'] || a.pools === false ? [] : (a.pool?.length ? a.pool : [DEFAULTS.pool]).map(String).map(parsePool);
  const problem = checkClasses(pools);
  if (problem) throw usage(problem);
  if (!a.socket.startsWith('/')) throw usage('--socket must be an absolute path');
  if (!Number.isInteger(a['margin-mib']) || a['margin-mib'] < 0) throw usage('--margin-mib must be a whole number of MiB');
  const workers = a.workers ?? os.cpus().length;
  if (!Number.isInteger(workers) || workers < 0 || workers > 64) throw usage('--workers must be from 0 to 64');
  const parallel = a.parallel ?? Math.max(1, workers * 2, os.cpus().length);
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 256) throw usage('--parallel must be from 1 to 256');
  if (!Number.isInteger(a['max-body']) || a['max-body'] < 1024) throw usage('--max-body must be at least 1024 bytes');
  let tcp: DaemonSettings['tcp'];
  if (a['tcp-port'] !== undefined) {
    if (!Number.isInteger(a['tcp-port']) || a['tcp-port'] < 1 || a['tcp-port'] > 65535) throw usage('--tcp-port takes a TCP port');
    if (!a['token-file']) throw usage('--tcp-port needs --token-file: the TCP listener only takes requests with the token');
    let token: string;
    try { token = fs.readFileSync(a['token-file'], 'utf8').trim(); } catch (err) { throw usage(`--token-file ${a['token-file']}: ${(err as Error).message}`); }
    if (token.length < 16) throw usage(`--token-file ${a['token-file']}: the token must be at least 16 characters`);
    tcp = { host: a['tcp-host'], port: a['tcp-port'], token };
  }
  const devMethod = a['dev-method'] ?? 'xenstore';
  if (devMethod !== 'xenstore' && devMethod !== 'noxs') throw usage(`--dev-method ${JSON.stringify(devMethod)}: it is xenstore or noxs`);
  return {
    devMethod, socket: a.socket, gid: groupId(a.group), stateDir: a['state-dir'], pools, marginMiB: a['margin-mib'], parallel, workers, maxBodyBytes: a['max-body'], ...(tcp ? { tcp } : {}),
  };
}
