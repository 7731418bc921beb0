// Save images: a domain's config and libxc's save stream in one file; save to it, restore from it, and check what it holds.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ChaosError } from './errors.js';
import { domainNameProblem, type DomainConfig } from './config/domain-config.js';
import type { DomainSummary, Toolstack } from './domain.js';
import type { DomainRecord } from './store.js';
import { planVifs } from './devices/device-plan.js';
import type { DevMethod } from './devices/backend.js';

/**
 * The file starts with this line, then the metadata's length (4 bytes, big-endian), the metadata
 * (UTF-8 JSON), then libxc's stream to the end of the file. The version moves when any of that changes.
 */
export const SAVE_MAGIC = 'LIGHTVM-SAVE 1\n';
/** Metadata is a config and a few names: anything larger is not a save image of ours. */
export const MAX_META_BYTES = 1 << 20;

export interface SaveMeta {
  version: 1;
  name: string;
  uuid: string;
  config: DomainConfig;
  savedAt: string;
  /** Where it was saved: the host's name, for the curious. */
  host: string;
}

/** The file's first bytes: magic, length, metadata. */
export function encodeSaveHeader(meta: SaveMeta): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  if (json.length > MAX_META_BYTES) throw new ChaosError('INTERNAL', `the save metadata is ${json.length} bytes, more than ${MAX_META_BYTES}`);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat([Buffer.from(SAVE_MAGIC, 'latin1'), len, json]);
}

/**
 * Reads and checks the header from the current position of `fd`, leaving the position at the
 * start of libxc's stream. `what` names the source in errors (a file, or a peer).
 */
export function readSaveHeader(fd: number, what: string): SaveMeta {
  const exact = (n: number, part: string): Buffer => {
    const b = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const r = fs.readSync(fd, b, got, n - got, null);
      if (r === 0) throw new ChaosError('SAVE_INVALID', `${what} ends inside its ${part}: it is not a complete lightvm save image`);
      got += r;
    }
    return b;
  };
  const magic = exact(SAVE_MAGIC.length, 'header');
  if (magic.toString('latin1') !== SAVE_MAGIC) {
    throw new ChaosError('SAVE_INVALID', `${what} is not a lightvm save image (it does not start with ${JSON.stringify(SAVE_MAGIC.trim())})`);
  }
  const len = exact(4, 'header').readUInt32BE(0);
  if (len === 0 || len > MAX_META_BYTES) throw new ChaosError('SAVE_INVALID', `${what} says its metadata is ${len} bytes: a save image's is 1 to ${MAX_META_BYTES}`);
  return parseSaveMeta(exact(len, 'metadata').toString('utf8'), what);
}

/** Parses and checks metadata from a file or a peer: every field the toolstack will use is typed and bounded. */
export function parseSaveMeta(text: string, what: string): SaveMeta {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new ChaosError('SAVE_INVALID', `${what}: the metadata is not JSON (${(err as Error).message})`);
  }
  const bad = (why: string): never => { throw new ChaosError('SAVE_INVALID', `${what}: ${why}`); };
  if (!isObject(m)) return bad('the metadata is not a JSON object');
  if (m.version !== 1) bad(`metadata version ${JSON.stringify(m.version)} is not one this toolstack reads (1)`);
  if (typeof m.name !== 'string' || domainNameProblem(m.name)) bad(`the domain name is missing or not a valid name${typeof m.name === 'string' ? ` (${domainNameProblem(m.name)})` : ''}`);
  if (typeof m.uuid !== 'string' || !UUID_RE.test(m.uuid)) bad('the uuid is missing or malformed');
  if (typeof m.savedAt !== 'string' || m.savedAt.length > 64) bad('savedAt is missing or malformed');
  if (typeof m.host !== 'string' || m.host.length > 255) bad('host is missing or malformed');
  checkConfig(m.config, bad);
  return m as unknown as SaveMeta;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ACTIONS = ['destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A DomainConfig as the toolstack wrote it; a file that was edited or damaged is refused before anything is built from it. */
function checkConfig(c: unknown, bad: (why: string) => never): asserts c is DomainConfig {
  if (!isObject(c)) bad('the config is missing');
  const cfg = c as Record<string, unknown>;
  const int = (k: string, min: number, max: number) => {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`config.${k} must be a whole number from ${min} to ${max}`);
  };
  const str = (k: string, max: number, optional = false) => {
    const v = cfg[k];
    if (optional && v === undefined) return;
    if (typeof v !== 'string' || v.length > max || /[\0-\x1f]/.test(v.replace(/[\t\n]/g, ''))) bad(`config.${k} must be a string of at most ${max} characters`);
  };
  if (typeof cfg.name !== 'string' || domainNameProblem(cfg.name)) bad('config.name is not a valid name');
  if (cfg.type !== 'pv') bad('config.type must be "pv"');
  str('kernel', 4096);
  str('ramdisk', 4096, true);
  str('cmdline', 1023);
  int('memoryMiB', 1, 1 << 24);
  int('maxMemoryMiB', cfg.memoryMiB as number, 1 << 24);
  int('maxVcpus', 1, 128);
  int('vcpus', 1, cfg.maxVcpus as number);
  const cpuSet = (v: unknown) => v === 'all' || (Array.isArray(v) && v.length <= 4096 && v.every((x) => Number.isInteger(x) && x >= 0 && x < 4096));
  if (!cpuSet(cfg.cpus)) bad('config.cpus must be "all" or a list of CPU numbers');
  if (cfg.cpusPerVcpu !== undefined && !(Array.isArray(cfg.cpusPerVcpu) && cfg.cpusPerVcpu.length <= 128 && cfg.cpusPerVcpu.every(cpuSet))) bad('config.cpusPerVcpu is malformed');
  for (const k of ['onPoweroff', 'onReboot', 'onCrash']) if (!ACTIONS.includes(cfg[k] as string)) bad(`config.${k} is not an action`);
  if (cfg.devMethod !== 'xenstore' && cfg.devMethod !== 'noxs') bad('config.devMethod must be "xenstore" or "noxs"');
  if (cfg.uuid !== undefined && (typeof cfg.uuid !== 'string' || !UUID_RE.test(cfg.uuid))) bad('config.uuid is malformed');
  for (const k of ['vifs', 'disks']) {
    const list = cfg[k];
    if (!Array.isArray(list) || list.length > 64) bad(`config.${k} must be a list of at most 64 devices`);
    (list as unknown[]).forEach((d, i) => checkDevice(d, `config.${k}[${i}]`, bad));
  }
}

/** A device's fields end up in XenStore paths and values: plain scalars, short, no control characters or slashes in names. */
function checkDevice(d: unknown, where: string, bad: (why: string) => never): void {
  if (!isObject(d)) bad(`${where} is not an object`);
  for (const [k, v] of Object.entries(d as Record<string, unknown>)) {
    if (!/^[A-Za-z]{1,32}$/.test(k)) bad(`${where} has a malformed key`);
    if (typeof v === 'string') {
      if (v.length > 4096 || /[\0-\x1f]/.test(v)) bad(`${where}.${k} is not a plain string`);
    } else if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0 || v > 2 ** 32) bad(`${where}.${k} is not a whole number`);
    } else if (isObject(v)) {
      for (const [kk, vv] of Object.entries(v)) if (!/^[A-Za-z]{1,32}$/.test(kk) || typeof vv !== 'number' || !Number.isFinite(vv) || vv < 0) bad(`${where}.${k} is malformed`);
    } else if (typeof v !== 'boolean') {
      bad(`${where}.${k} has a value of the wrong type`);
    }
  }
  const o = d as Record<string, unknown>;
  if (o.mac !== undefined && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(String(o.mac))) bad(`${where}.mac is not a MAC address`);
  for (const k of ['bridge', 'vifname', 'vdev', 'backend']) if (o[k] !== undefined && !/^[A-Za-z0-9_.+@:-]{1,64}$/.test(String(o[k]))) bad(`${where}.${k} is malformed`);
}

export interface SaveOptions {
  /** Leave the domain running after the save (a checkpoint), as `xl save -c`. */
  checkpoint?: boolean;
  /** Pre-copy while the guest runs (shorter pause, more data); off for a file, as xl. */
  live?: boolean;
  suspendTimeoutMs?: number;
}

const SUSPEND_TIMEOUT_MS = 30_000;

/**
 * Saves a domain this toolstack made into `file` (mode 0600: it holds the guest's memory). The image
 * is written beside its final name and renamed when complete, so a failed save never leaves a
 * truncated image under that name. Unless `checkpoint`, the domain is destroyed once it is saved.
 */
export async function saveToFile(ts: Toolstack, ref: string | number, file: string, opts: SaveOptions = {}): Promise<{ dom: DomainSummary; bytes: number; ms: number }> {
  const t0 = performance.now();
  const { dom, rec } = await savable(ts, ref);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'w', 0o600);
  } catch (err) {
    throw new ChaosError('SAVE_INVALID', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    fs.writeSync(fd, encodeSaveHeader(metaOf(rec, dom)));
    const stream = (out: number) => ts.saveStream(dom, out, { live: opts.live ?? false, suspendTimeoutMs: opts.suspendTimeoutMs ?? SUSPEND_TIMEOUT_MS });
    if (pinsUserPages(path.dirname(tmp))) {
      const file = fs.createWriteStream('', { fd, autoClose: false });
      await pipeInto(ts, file, stream);
    } else {
      await stream(fd);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (err) {
    try { fs.closeSync(fd); } catch { /* already closed */ }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  if (opts.checkpoint) await ts.resume(dom.domid);
  else await ts.destroy(dom.domid);
  return { dom, bytes: fs.statSync(file).size, ms: performance.now() - t0 };
}

/** File systems that pin user pages for I/O (see pipeInto). statfs(2) cannot tell: 9p reports the type of the file system it exports. */
const PINNING_FS = /^(9p|fuse(\..*)?|fuseblk|nfs4?|cifs|smb3|ceph|virtiofs)$/;

/** Whether libxc's writes from foreign mappings would fail on the file system that holds `dir`, as /proc/self/mounts names it. */
function pinsUserPages(dir: string): boolean {
  try {
    const real = fs.realpathSync(dir);
    let best = { point: '', type: '' };
    for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, rawPoint, type] = line.split(' ');
      if (!rawPoint || !type) continue;
      // Mount points escape spaces and such as octal: \040 is a space.
      const point = rawPoint.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
      const under = point === '/' || real === point || real.startsWith(point.endsWith('/') ? point : `${point}/`);
      if (under && point.length >= best.point.length) best = { point, type };
    }
    return best.type === '' || PINNING_FS.test(best.type);
  } catch {
    return true; // unknown: take the path that works everywhere
  }
}

/**
 * Runs `produce` with the write end of a pipe and copies what comes out into `sink` (a file or a
 * socket, which stays open), resolving once all of it is written. libxc writes guest pages straight
 * from their foreign mapping, which a file system that pins user pages for I/O (9p, FUSE or NFS with
 * direct I/O) refuses with EFAULT; a pipe copies them like any memory. The copy costs time (about 3x
 * the whole save in the lab), so local file systems and sockets do without it where they can.
 */
export async function pipeInto(ts: Toolstack, sink: NodeJS.WritableStream, produce: (wfd: number) => Promise<unknown>): Promise<void> {
  const [rfd, wfd] = ts.pipe();
  const out = new net.Socket({ fd: rfd, readable: true, writable: false });
  const copied = new Promise<void>((resolve, reject) => {
    out.on('error', reject);
    sink.on('error', reject);
    out.pipe(sink, { end: false });
    // A write after the last one completes only once everything before it is written.
    out.on('end', () => sink.write('', () => resolve()));
  });
  copied.catch(() => undefined); // reported below, after the producer settles
  try {
    await produce(wfd);
  } catch (err) {
    out.destroy();
    throw err;
  } finally {
    fs.closeSync(wfd);
  }
  await copied;
  out.destroy();
}

/** The domain and the record that says how to rebuild it; a domain another toolstack made cannot be saved by this one. */
export async function savable(ts: Toolstack, ref: string | number): Promise<{ dom: DomainSummary; rec: DomainRecord }> {
  const dom = await ts.find(ref);
  if (dom.domid === 0) throw new ChaosError('GUEST_STATE', 'domain 0 is the control domain and cannot be saved');
  const rec = ts.record(dom.domid);
  if (!rec || rec.name !== dom.name) {
    throw new ChaosError('NOT_SUPPORTED', `${dom.name} (domain ${dom.domid}) was not made by chaos: its config is unknown here, so save it with the toolstack that made it`, { domid: dom.domid });
  }
  if (dom.state.includes('s') || dom.state.includes('c') || dom.state.includes('d')) {
    throw new ChaosError('GUEST_STATE', `${dom.name} (domain ${dom.domid}) is not running (state ${dom.state})`, { domid: dom.domid });
  }
  return { dom, rec };
}

export function metaOf(rec: DomainRecord, dom: DomainSummary): SaveMeta {
  return { version: 1, name: dom.name, uuid: rec.uuid, config: rec.config, savedAt: new Date().toISOString(), host: hostName() };
}

function hostName(): string {
  try { return fs.readFileSync('/proc/sys/kernel/hostname', 'utf8').trim().slice(0, 255); } catch { return ''; }
}

export interface RestoreOptions {
  paused?: boolean;
  /** Restore under another name (the image's name may be in use). */
  name?: string;
  /** The device method the caller expects (`--dev-method`): it must be the image's (see sameDevMethod). */
  devMethod?: DevMethod;
}

/** Makes a running domain from a save image. The saved uuid is kept unless a running domain has it. */
export async function restoreFromFile(ts: Toolstack, file: string, opts: RestoreOptions = {}): Promise<{ record: DomainRecord; ms: number }> {
  const t0 = performance.now();
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ChaosError('SAVE_INVALID', `cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err });
  }
  try {
    const meta = readSaveHeader(fd, file);
    sameDevMethod(meta, opts.devMethod, file);
    const cfg = await configForRestore(ts, meta, opts.name);
    const record = await ts.restoreStream(cfg, fd, { paused: opts.paused });
    return { record, ms: performance.now() - t0 };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A saved guest resumes with the devices it had: its drivers reconnect over the method they were
 * connected by when it was saved (lightvm's runtime reads its new noxs device page, or XenStore;
 * Linux has no noxs client), so a restore or a migration keeps the image's `dev_method`. `wanted`
 * (`--dev-method`) is checked against it and a different one refused before anything is made.
 */
export function sameDevMethod(meta: SaveMeta, wanted: DevMethod | undefined, what: string): void {
  if (wanted === undefined || wanted === meta.config.devMethod) return;
  throw new ChaosError('CONFIG_INVALID', `${what}: ${meta.name} was saved with dev_method "${meta.config.devMethod}": it can only resume over "${meta.config.devMethod}" (its drivers reconnect the way they were connected; lightvm's runtime does not switch methods on resume, Linux has no noxs client), not "${wanted}"`, { key: 'dev_method' });
}

/** The saved config under the name wanted, with the saved uuid unless a domain on this host already has it. */
export async function configForRestore(ts: Toolstack, meta: SaveMeta, name?: string): Promise<DomainConfig> {
  const problem = name === undefined ? undefined : domainNameProblem(name);
  if (problem) throw new ChaosError('CONFIG_INVALID', problem, { key: 'name' });
  const uuidInUse = await ts.hasUuid(meta.uuid);
  // A vif without a MAC of its own gets one made from the uuid: pin it, so that a new uuid (a
  // restore beside the original, a migration to the same host) keeps the guest's addresses.
  const planned = planVifs(meta.uuid, meta.config.vifs);
  const vifs = meta.config.vifs.map((v, i) => ({ ...v, mac: planned[i].mac, devid: planned[i].devid }));
  return { ...meta.config, vifs, name: name ?? meta.name, uuid: uuidInUse ? undefined : meta.uuid };
}
