// A test double of the Xen interface for unit tests of toolstack logic: domains and a XenStore tree in memory. Never evidence of a feature.
import fs from 'node:fs';
import type { BuildPvParams, DomainRestoreParams, DomainSaveParams, BuildPvResult, CreateDomainParams, DomainIdList, DomainInfo, DomainListChanges, NativeError, PhysInfo, XenNative, XenVersion, XsBatchResult, XsOp, XsPerm, XsResult } from '../../../toolstack/xen/types.js';

interface FakeDomain { info: DomainInfo; maxKiB?: number; ports: number }

function nativeError(call: string, code: string, errno: number, domid?: number): NativeError {
  return Object.assign(new Error(`${call}: ${code}`), { call, code, errno, domid });
}

export class FakeXen implements XenNative {
  domains = new Map<number, FakeDomain>();
  store = new Map<string, string>();
  perms = new Map<string, XsPerm[]>();
  introduced = new Set<number>();
  calls: string[] = [];
  freePages = 512 * 256; // 512 MiB
  /** While set, each buildPv waits for it before it ends (a test holds builds to make them overlap). */
  buildGate: Promise<void> | undefined;
  /** For each buildPv, whether its caller asked for it to run on the calling thread. */
  readonly buildsOnCallingThread: boolean[] = [];
  /** Set to make buildPv fail like a non-ELF kernel. */
  badKernel = false;
  /** Guests answer control/shutdown = "suspend" by suspending (a Linux-like guest); false: they ignore it (noop). */
  guestsSuspend = true;
  /** How many transactions to fail with a conflict before committing. */
  conflicts = 0;
  private nextId = 1;

  constructor() {
    this.domains.set(0, { info: info(0, '00000000-0000-0000-0000-000000000000'), ports: 0 });
    // xenstored's tree always has dom0's home, and so its parents.
    for (const p of ['/local', '/local/domain', '/local/domain/0']) this.store.set(p, '');
    this.store.set('/local/domain/0/name', 'Domain-0');
  }

  async version(): Promise<XenVersion> { return { major: 4, minor: 17, extra: '.0-fake', capabilities: 'xen-3.0-x86_64' }; }
  async physinfo(): Promise<PhysInfo> { return { nrCpus: 2, cpuKHz: 2_000_000, totalPages: 1 << 20, freePages: this.freePages, scrubPages: 0, capabilities: ['pv'] }; }

  async domainCreate(p: CreateDomainParams): Promise<number> {
    this.calls.push('domainCreate');
    const domid = this.nextId++;
    this.domains.set(domid, { info: { ...info(domid, p.handle), paused: true }, ports: 0 });
    return domid;
  }
  private dom(domid: number, call: string): FakeDomain {
    const d = this.domains.get(domid);
    if (!d) throw nativeError(call, 'ESRCH', 3, domid);
    return d;
  }
  async domainMaxVcpus(domid: number) { this.dom(domid, 'xc_domain_max_vcpus'); }
  async domainSetMaxMem(domid: number, kib: number) { this.dom(domid, 'xc_domain_setmaxmem').maxKiB = kib; }
  async domainSetMemmapLimit(domid: number) { this.dom(domid, 'xc_domain_set_memmap_limit'); }
  async vcpuSetAffinity(domid: number) { this.dom(domid, 'xc_vcpu_setaffinity'); }
  async domainPause(domid: number) { this.dom(domid, 'xc_domain_pause').info.paused = true; }
  async domainUnpause(domid: number) { this.dom(domid, 'xc_domain_unpause').info.paused = false; }
  async domainShutdown(domid: number, reason: number) { const d = this.dom(domid, 'xc_domain_shutdown'); d.info.shutdown = true; d.info.shutdownReason = reason; }
  async domainDestroy(domid: number) { this.calls.push(`destroy ${domid}`); this.dom(domid, 'xc_domain_destroy'); this.domains.delete(domid); }
  async domainGetInfoList(first: number, max: number): Promise<DomainInfo[]> {
    return [...this.domains.keys()].sort((a, b) => a - b).filter((id) => id >= first).slice(0, max).map((id) => ({ ...this.domains.get(id)!.info }));
  }
  /** The addon's list format (u32 domid, 16 bytes handle, sorted), diffed here in plain JavaScript. */
  async domainListChanges(previous?: DomainIdList): Promise<DomainListChanges> {
    const prev = new Map<number, string>();
    const p = previous?.packed ?? Buffer.alloc(0);
    for (let r = 0; r < p.length; r += 20) prev.set(p.readUInt32LE(r), p.subarray(r + 4, r + 20).toString('hex'));
    const ids = [...this.domains.keys()].sort((a, b) => a - b);
    const packed = Buffer.alloc(ids.length * 20);
    const added: DomainListChanges['added'] = [];
    const removed: number[] = [];
    ids.forEach((domid, k) => {
      const handle = this.domains.get(domid)!.info.handle;
      const hex = handle.replace(/-/g, '');
      packed.writeUInt32LE(domid, k * 20);
      Buffer.from(hex, 'hex').copy(packed, k * 20 + 4);
      const old = prev.get(domid);
      if (old === hex) return;
      if (old !== undefined) removed.push(domid);
      added.push({ domid, handle });
    });
    for (const domid of prev.keys()) if (!this.domains.has(domid)) removed.push(domid);
    return { list: { packed, count: ids.length }, added, removed: removed.sort((a, b) => a - b) };
  }
  async evtchnAllocUnbound(domid: number): Promise<number> { return ++this.dom(domid, 'xc_evtchn_alloc_unbound').ports; }
  async buildPv(p: BuildPvParams): Promise<BuildPvResult> {
    this.calls.push('buildPv');
    this.buildsOnCallingThread.push(p.onCallingThread === true);
    if (this.buildGate) await this.buildGate;
    this.dom(p.domid, 'xc_dom_boot_xen_init');
    if (this.badKernel) throw nativeError('xc_dom_parse_image', 'EINVAL', 22, p.domid);
    this.domains.get(p.domid)!.info.nrPages = p.memMiB * 256;
    return { consoleMfn: 1000 + p.domid, storeMfn: 2000 + p.domid, guestOs: 'lightvm-noop' };
  }

  async xsBatch(ops: XsOp[], transaction: boolean): Promise<XsBatchResult> {
    if (transaction && this.conflicts > 0) { this.conflicts--; return { committed: false, results: [] }; }
    const results: XsResult[] = ops.map((o) => {
      switch (o.op) {
        case 'read': return this.store.get(o.path) ?? null;
        case 'write': this.mkparents(o.path); this.make(o.path); this.store.set(o.path, o.value); this.guestSees(o.path, o.value); this.fire(o.path); return undefined;
        case 'mkdir': this.mkparents(o.path); this.make(o.path); this.fire(o.path); return undefined;
        case 'rm':
          if (!this.store.has(o.path.split('/').slice(0, -1).join('/'))) throw nativeError('xs_rm', 'ENOENT', 2);
          for (const k of [...this.store.keys()]) if (k === o.path || k.startsWith(o.path + '/')) { this.store.delete(k); this.perms.delete(k); }
          this.fire(o.path);
          return undefined;
        case 'directory': {
          if (!this.store.has(o.path) && ![...this.store.keys()].some((k) => k.startsWith(o.path + '/'))) return null;
          return [...new Set([...this.store.keys()].filter((k) => k.startsWith(o.path + '/')).map((k) => k.slice(o.path.length + 1).split('/')[0]))];
        }
        case 'setPermissions': this.perms.set(o.path, o.perms); return undefined;
        case 'getPermissions': return this.perms.get(o.path) ?? null;
      }
      return undefined;
    });
    return { committed: true, results };
  }
  /** What a cooperative guest does when its control/shutdown node changes. */
  private guestSees(path: string, value: string) {
    const m = /^\/local\/domain\/(\d+)\/control\/shutdown$/.exec(path);
    const d = m ? this.domains.get(Number(m[1])) : undefined;
    if (d && value === 'suspend' && this.guestsSuspend) { d.info.shutdown = true; d.info.shutdownReason = 2; }
  }

  /** The fake stream: one line naming the pages, as a real stream carries the memory. */
  async domainSave(p: DomainSaveParams): Promise<void> {
    this.calls.push(`save ${p.domid}`);
    const d = this.dom(p.domid, 'xc_domain_save');
    if (!(await p.onSuspend())) throw nativeError('xc_domain_save', 'EINVAL', 22, p.domid);
    fs.writeSync(p.fd, `FAKE-XC-STREAM ${d.info.nrPages}\n`);
  }
  async domainRestore(p: DomainRestoreParams): Promise<{ storeMfn: number; consoleMfn: number }> {
    this.calls.push('restore');
    const d = this.dom(p.domid, 'xc_domain_restore');
    // Byte by byte up to the newline, off the JS thread (the fd may be a pipe the same process feeds).
    let line = '';
    const b = Buffer.alloc(1);
    while (!line.endsWith('\n') && line.length < 64) {
      // libxc reads blocking (the addon clears O_NONBLOCK); on a socket Node made non-blocking, wait and retry.
      const n = await new Promise<number>((resolve, reject) => fs.read(p.fd, b, 0, 1, null, (err, got) => {
        if (err?.code === 'EAGAIN') setTimeout(() => resolve(-1), 2);
        else if (err) reject(err);
        else resolve(got);
      }));
      if (n < 0) continue;
      if (n === 0) break;
      line += b.toString('latin1');
    }
    const m = /^FAKE-XC-STREAM (\d+)\n$/.exec(line);
    if (!m) throw nativeError('xc_domain_restore', 'EIO', 5, p.domid);
    d.info.nrPages = Number(m[1]);
    return { consoleMfn: 1000 + p.domid, storeMfn: 2000 + p.domid };
  }
  async domainResume(domid: number): Promise<void> {
    const d = this.dom(domid, 'xc_domain_resume');
    d.info.shutdown = false;
    this.calls.push(`resume ${domid}`);
  }
  /** Pipes are not Xen: tests that need one set this to the real addon's. */
  pipe(): [number, number] { throw new Error('the fake has no pipes: set xen.pipe'); }

  private mkparents(path: string) {
    const parts = path.split('/');
    for (let i = 2; i < parts.length; i++) this.make(parts.slice(0, i).join('/'));
  }
  /** A new node takes its parent's permissions, as xenstored gives them. */
  private make(path: string) {
    if (this.store.has(path)) return;
    this.store.set(path, '');
    const parent = this.perms.get(path.split('/').slice(0, -1).join('/'));
    if (parent) this.perms.set(path, parent);
  }
  async xsIntroduceDomain(domid: number) { this.introduced.add(domid); }
  async xsReleaseDomain(domid: number) { this.introduced.delete(domid); }
  /** Watches fire, a moment later (as xenstored's events come), for a write, mkdir or rm of their path or below. */
  private readonly watches = new Map<number, { path: string; token: string; cb: (path: string, token: string) => void }>();
  private watchSeq = 0;
  async xsWatch(path: string, token: string, cb: (path: string, token: string) => void): Promise<number> {
    const id = ++this.watchSeq;
    this.watches.set(id, { path, token, cb });
    setImmediate(() => cb(path, token));
    return id;
  }
  async xsUnwatch(id: number): Promise<void> { this.watches.delete(id); }
  private fire(path: string): void {
    for (const w of this.watches.values()) if (path === w.path || path.startsWith(w.path + '/')) setImmediate(() => w.cb(path, w.token));
  }
  async foreignRead(_domid: number, _mfn: number, offset: number, length: number): Promise<Buffer> { return Buffer.alloc(length - offset); }
  async foreignWrite(): Promise<void> {}
  async evtchnBindInterdomain(): Promise<number> { return 1; }
  async evtchnNotify(): Promise<void> {}
  async evtchnUnbind(): Promise<void> {}
}

function info(domid: number, handle: string): DomainInfo {
  return {
    domid, handle, dying: false, crashed: false, shutdown: false, paused: false, blocked: domid !== 0, running: domid === 0, hvm: false,
    shutdownReason: 0, nrPages: domid === 0 ? 262144 : 0, maxMemKiB: 0, cpuTimeNs: 0, nrOnlineVcpus: 1, maxVcpuId: 0, cpupool: 0, ssidref: 0,
  };
}
