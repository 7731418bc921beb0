// Domain lifecycle: create in two named phases (prepare a shell, finish it), destroy, pause, unpause, shutdown, reboot, list.
import crypto from 'node:crypto';
import type { Log } from './log.js';
import { ChaosError } from './errors.js';
import type { DomainConfig } from './config/domain-config.js';
import type { DeviceBackend, DevMethod, DomainSetup, PowerRequest, ShellDevices } from './devices/backend.js';
import { DomainStore, type DomainRecord } from './store.js';
import type { DomainIdList, DomainInfo, DomainListChanges, XenNative } from './xen/types.js';

/** Xen's shutdown reasons (SHUTDOWN_* in xen/sched.h). */
export const SHUTDOWN_REASONS = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'] as const;

/** Xen refuses a domain without grant frames; these are the sizes small guests need. */
const MAX_GRANT_FRAMES = 32;
const MAX_MAPTRACK_FRAMES = 1024;
/** Headroom above maxmem for the pages Xen charges to a domain besides its RAM (as libxl adds). */
const MAXMEM_SLACK_KIB = 1024;

export interface DomainSummary {
  domid: number;
  name: string;
  memMiB: number;
  vcpus: number;
  /** xl's six-letter state: r b p s c d, or '-'. */
  state: string;
  cpuTimeSec: number;
  shutdownReason?: (typeof SHUTDOWN_REASONS)[number];
}

/** A shell's size class: what is fixed when the domain is made (vCPUs, memory limit) and the memory its build populates. */
export interface ShellSize {
  memoryMiB: number;
  maxMemoryMiB: number;
  maxVcpus: number;
}

/**
 * An anonymous domain of a size class, with its limits, vCPUs, event channels and XenStore home but
 * no name and no kernel yet: the output of the prepare phase.
 */
export interface Shell {
  domid: number;
  uuid: string;
  size: ShellSize;
  consolePort: number;
  storePort: number;
  /** How its devices are controlled; a shell takes only configs of its method (absent: the toolstack's default). */
  devMethod?: DevMethod;
  /** The devices its back-end made ahead (noxs: the power device); finish adds only the rest. */
  devices?: ShellDevices;
  /** Where its prepare's milliseconds went: domain (the domain made), devices (the back-end's part), prepare (all). */
  phases?: PhaseTimings;
}

/** Milliseconds each phase of a create took, by phase name (filled in by finish for callers that want them). */
export type PhaseTimings = Record<string, number>;

/** The size class a config needs. */
export function shellSizeOf(cfg: Pick<DomainConfig, 'memoryMiB' | 'maxMemoryMiB' | 'maxVcpus'>): ShellSize {
  return { memoryMiB: cfg.memoryMiB, maxMemoryMiB: cfg.maxMemoryMiB, maxVcpus: cfg.maxVcpus };
}

/** Whether a config can be finished in a shell of this size (exactly its class: memory is populated to memoryMiB). */
export function fitsShell(size: ShellSize, cfg: Pick<DomainConfig, 'memoryMiB' | 'maxMemoryMiB' | 'maxVcpus'>): boolean {
  return size.memoryMiB === cfg.memoryMiB && size.maxMemoryMiB === cfg.maxMemoryMiB && size.maxVcpus === cfg.maxVcpus;
}

export function describeSize(s: ShellSize): string {
  return `${s.memoryMiB} MiB, maxmem ${s.maxMemoryMiB} MiB, ${s.maxVcpus} vCPU${s.maxVcpus === 1 ? '' : 's'}`;
}

export interface ToolstackDeps {
  xen: XenNative;
  backend: DeviceBackend;
  store: DomainStore;
  log: Log;
  /** Converts a native error into a ChaosError (XEN_CALL with call, errno, domid). */
  wrap(err: unknown, domid?: number): ChaosError;
}

const INFO_PAGE = 1024;
/** The smallest page of domain infos asked for. */
const INFO_PAGE_MIN = 64;
/** More restarts than this within the window is a guest that cannot stay up. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class Toolstack {
  /** How many domains the last full list held: the next list's first page is sized from it. */
  private lastInfoCount = 0;
  constructor(private readonly d: ToolstackDeps) {}

  get backend(): DeviceBackend { return this.d.backend; }

  /** The device method of new shells when nothing else says (chaosd's --dev-method). */
  get defaultDevMethod(): DevMethod { return this.d.backend.method; }

  private checkMethod(m: DevMethod): void {
    const ok = this.d.backend.handles ? this.d.backend.handles(m) : m === this.d.backend.method;
    if (!ok) throw new ChaosError('NOT_SUPPORTED', `this toolstack was opened without the "${m}" device back-end`, { key: 'dev_method' });
  }

  private async call<T>(what: Promise<T>, domid?: number): Promise<T> {
    try {
      return await what;
    } catch (err) {
      throw err instanceof ChaosError ? err : this.d.wrap(err, domid);
    }
  }

  /** Every domain Xen runs, with the names XenStore (or our store) gives them. */
  async list(): Promise<DomainSummary[]> {
    // The names of the domains Xen lists (not a listing of /local/domain: with a thousand domains
    // xenstored's answer to that outgrows XenStore's 4096-byte message and the call fails).
    const infos = await this.allInfo();
    const names = await this.d.backend.names(infos.map((i) => i.domid));
    return infos.map((i) => summarize(i, names.get(i.domid) ?? this.d.store.get(i.domid, i.handle)?.name ?? `(domain ${i.domid})`));
  }

  /**
   * Every domain's id and handle, and which came and went since `previous` (a list this call gave
   * earlier): a long-running caller (daemon/names.ts) then works on the changes, not on every domain.
   */
  listChanges(previous?: DomainIdList): Promise<DomainListChanges> {
    return this.call(this.d.xen.domainListChanges(previous));
  }

  /** Every domain's info, a page at a time (Xen returns them in domid order). */
  async allInfo(): Promise<DomainInfo[]> {
    // The hypercall's buffer is as large as the page asked for (about 120 bytes a domain, bounced
    // through hypercall memory): a page sized to the last count, not the most, keeps the common call small.
    const size = Math.min(INFO_PAGE, Math.max(INFO_PAGE_MIN, this.lastInfoCount + (this.lastInfoCount >> 2) + 32));
    const all: DomainInfo[] = [];
    for (let first = 0; ;) {
      const page = await this.call(this.d.xen.domainGetInfoList(first, size));
      all.push(...page);
      if (page.length < size) break;
      first = page[page.length - 1].domid + 1;
    }
    this.lastInfoCount = all.length;
    return all;
  }

  /** Resolves a domain by id (all digits) or by name. */
  async find(ref: string | number): Promise<DomainSummary> {
    const s = String(ref);
    // Fast paths, one hypercall each: an id, or a name this toolstack's index knows (checked
    // against Xen, since ids are reused). Anything else scans every domain's name, as xl does.
    if (/^\d+$/.test(s)) {
      const i = await this.info(Number(s));
      if (!i) throw new ChaosError('DOMAIN_NOT_FOUND', `no domain has the id ${JSON.stringify(s)}`);
      const name = this.d.store.get(i.domid, i.handle)?.name ?? (await this.d.backend.names([i.domid])).get(i.domid) ?? `(domain ${i.domid})`;
      return summarize(i, name);
    }
    const rec = this.d.store.byName(s);
    if (rec) {
      const i = await this.info(rec.domid);
      if (i && i.handle === rec.uuid) return summarize(i, rec.name);
    }
    const all = await this.list();
    const hit = /^\d+$/.test(s) ? all.find((x) => x.domid === Number(s)) : all.find((x) => x.name === s);
    if (!hit) throw new ChaosError('DOMAIN_NOT_FOUND', `no domain has the ${/^\d+$/.test(s) ? 'id' : 'name'} ${JSON.stringify(s)}`);
    return hit;
  }

  private async info(domid: number): Promise<DomainInfo | undefined> {
    const [i] = await this.call(this.d.xen.domainGetInfoList(domid, 1), domid);
    return i && i.domid === domid ? i : undefined;
  }

  /**
   * What a create checks before anything is made: the name is valid and free, and the host has the
   * memory. The shell's phase does not know the name; callers that take a shell from a pool check here first.
   * `taken`: the names in use, when the caller has them (else they are read from the back-end).
   */
  async checkCreate(cfg: DomainConfig, taken?: ReadonlySet<string> | Promise<ReadonlySet<string>>): Promise<void> {
    // The free memory is asked for while the names are checked (each is a wait on a Xen call).
    const free = this.freeMiB();
    free.catch(() => undefined);
    if (taken) {
      // The caller's snapshot of the names in use (a daemon shares one between concurrent requests).
      if (!NAME_RE.test(cfg.name)) throw new ChaosError('CONFIG_INVALID', `the name ${JSON.stringify(cfg.name)} is not a valid domain name`, { key: 'name' });
      if ((await taken).has(cfg.name)) throw new ChaosError('NAME_IN_USE', `a domain named ${JSON.stringify(cfg.name)} already exists`, { key: 'name' });
    } else {
      await this.checkName(cfg.name);
    }
    const freeMiB = await free;
    if (cfg.memoryMiB > freeMiB) {
      throw new ChaosError('NO_MEMORY', `${cfg.name} asks for ${cfg.memoryMiB} MiB but the host has ${Math.floor(freeMiB)} MiB free`);
    }
  }

  private async checkName(name: string, domid?: number): Promise<void> {
    if (!NAME_RE.test(name)) throw new ChaosError('CONFIG_INVALID', `the name ${JSON.stringify(name)} is not a valid domain name`, { key: 'name' });
    // A domain this toolstack made: its record, checked against Xen (the back-end may not know it: a noxs domain).
    const rec = this.d.store.byName(name);
    if (rec && rec.domid !== domid && (await this.info(rec.domid))?.handle === rec.uuid) {
      throw new ChaosError('NAME_IN_USE', `a domain named ${JSON.stringify(name)} already exists`, { key: 'name' });
    }
    for (const [id, n] of await this.allNames()) {
      if (n === name && id !== domid) throw new ChaosError('NAME_IN_USE', `a domain named ${JSON.stringify(name)} already exists`, { key: 'name' });
    }
  }

  /** The names of every domain, from the device back-end (XenStore): one read per domain. */
  async namesInUse(): Promise<Set<string>> {
    return new Set((await this.allNames()).values());
  }

  /** The name of each domain Xen lists (read by domid: a listing of /local/domain outgrows one XenStore message at a thousand domains). */
  private async allNames(): Promise<Map<number, string>> {
    return this.d.backend.names((await this.allInfo()).map((i) => i.domid));
  }

  /** The names of these domains (those that have one), from the device back-end: one read each. */
  async namesOf(domids: number[]): Promise<Map<number, string>> {
    return domids.length ? this.call(this.d.backend.names(domids)) : new Map();
  }

  /**
   * Tells `onChange(domid)` when a domain's name may have changed (its name node or its whole home
   * was written or removed, by any toolstack), and `onChange()` when any may have; for callers that
   * keep the names instead of reading every domain's at each create. XenStore's watch on
   * /local/domain (where xl and chaos keep names); undefined when xenstored does not
   * answer (a noxs toolstack without it), whose names are then read each time. Resolves with the function that stops it.
   */
  async watchNames(onChange: (domid?: number) => void): Promise<(() => Promise<void>) | undefined> {
    // A noxs toolstack watches too while xenstored answers (other domains' names live there; without
    // the watch, each create would read every domain's name); the call would hang without xenstored.
    if (this.d.backend.method !== 'xenstore' && !(await this.d.backend.xenstoreUp?.())) return undefined;
    const id = await this.call(this.d.xen.xsWatch('/local/domain', 'names', (path) => {
      const m = /^\/local\/domain\/(\d+)(\/name)?$/.exec(path);
      if (m) onChange(Number(m[1]));
      else if (path === '/local/domain') onChange();
    }));
    return () => this.call(this.d.xen.xsUnwatch(id));
  }

  /** Memory Xen has not given to any domain, MiB. */
  async freeMiB(): Promise<number> {
    const phys = await this.call(this.d.xen.physinfo());
    return (phys.freePages * 4) / 1024;
  }

  /**
   * Phase 1 of create, before any name is known: an anonymous shell of a size class - the domain
   * (with its uuid, Xen's handle, which is fixed at creation), its vCPUs, memory limits, event channels
   * and XenStore home. Memory is not populated here: libxc's builder populates it when it loads the
   * kernel (finish), so a shell holds almost no memory until then (callers that keep shells must
   * reserve their size). Rolled back on failure.
   */
  async prepare(size: ShellSize, opts: { uuid?: string; devMethod?: DevMethod } = {}): Promise<Shell> {
    for (const k of ['memoryMiB', 'maxMemoryMiB', 'maxVcpus'] as const) {
      if (!Number.isInteger(size[k]) || size[k] < 1) throw new ChaosError('CONFIG_INVALID', `a shell's ${k} must be a whole number of at least 1, not ${size[k]}`, { key: k });
    }
    if (size.maxMemoryMiB < size.memoryMiB) throw new ChaosError('CONFIG_INVALID', `a shell's maxMemoryMiB (${size.maxMemoryMiB}) is below its memoryMiB (${size.memoryMiB})`, { key: 'maxmem' });
    const devMethod = opts.devMethod ?? this.d.backend.method;
    this.checkMethod(devMethod);
    const uuid = opts.uuid ?? crypto.randomUUID();
    const t0 = performance.now();
    const domid = await this.call(this.d.xen.domainCreate({
      handle: uuid, maxVcpus: size.maxVcpus, maxGrantFrames: MAX_GRANT_FRAMES, maxMaptrackFrames: MAX_MAPTRACK_FRAMES,
    }));
    try {
      // Each step needs only the domain id: they run side by side (the addon runs each on a thread of
      // its own). All are waited for, failed or not, so a rollback never races a step still running.
      // The back-end's nodes name the event channels, so they are written once the channels exist.
      const channels = settleAll([
        this.call(this.d.xen.evtchnAllocUnbound(domid, 0), domid),
        this.call(this.d.xen.evtchnAllocUnbound(domid, 0), domid),
      ] as const);
      let devices: ShellDevices | undefined;
      let devicesMs = 0;
      const tMade = performance.now();
      const [, , , [storePort, consolePort]] = await settleAll([
        this.call(this.d.xen.domainMaxVcpus(domid, size.maxVcpus), domid),
        this.call(this.d.xen.domainSetMaxMem(domid, size.maxMemoryMiB * 1024 + MAXMEM_SLACK_KIB), domid),
        this.call(this.d.xen.domainSetMemmapLimit(domid, size.maxMemoryMiB * 1024), domid),
        channels.then(async ([store, console]) => {
          const td = performance.now();
          devices = (await this.d.backend.prepare({ domid, uuid, devMethod }, {
            memoryKiB: size.memoryMiB * 1024, maxMemoryKiB: size.maxMemoryMiB * 1024, maxVcpus: size.maxVcpus, consolePort: console, storePort: store,
          })) ?? undefined;
          devicesMs = performance.now() - td;
          return [store, console] as const;
        }),
      ] as const);
      const phases: PhaseTimings = { domain: tMade - t0, devices: devicesMs, prepare: performance.now() - t0 };
      this.d.log.debug({ domid, phase: 'prepare', ms: phases.prepare, phases, devMethod }, 'shell prepared');
      return { domid, uuid, size: { ...size }, consolePort, storePort, devMethod, ...(devices ? { devices } : {}), phases };
    } catch (err) {
      await this.rollback(domid, err, devMethod);
      throw err;
    }
  }

  /**
   * Phase 2 of create: name the shell, pin its vCPUs, load the kernel (which populates its memory),
   * connect console and store, record the domain, unpause. A config that does not fit the shell, or
   * (unless the caller checked it already) a name that is bad or in use, is refused before the shell
   * is touched: it is still the caller's. Any later failure destroys the shell.
   */
  async finish(shell: Shell, cfg: DomainConfig, opts: { paused?: boolean; nameChecked?: boolean; timings?: PhaseTimings; buildOnCallingThread?: boolean; recordAfterStart?: boolean } = {}): Promise<DomainRecord> {
    const { domid } = shell;
    if (!fitsShell(shell.size, cfg)) {
      throw new ChaosError('CONFIG_INVALID', `${cfg.name} (${describeSize(shellSizeOf(cfg))}) does not fit the shell of domain ${domid} (${describeSize(shell.size)})`, { domid });
    }
    const shellMethod = shell.devMethod ?? this.d.backend.method;
    if (cfg.devMethod !== shellMethod) {
      throw new ChaosError('CONFIG_INVALID', `${cfg.name} asks for dev_method "${cfg.devMethod}" but the shell of domain ${domid} was made for "${shellMethod}"`, { domid, key: 'dev_method' });
    }
    if (cfg.uuid !== undefined && cfg.uuid !== shell.uuid) {
      throw new ChaosError('CONFIG_INVALID', `${cfg.name} asks for the uuid ${cfg.uuid} but the shell of domain ${domid} was made as ${shell.uuid}: a domain's uuid is fixed when it is made`, { domid, key: 'uuid' });
    }
    if (!opts.nameChecked) await this.checkName(cfg.name, domid);
    const t0 = performance.now();
    const tm = opts.timings ?? {};
    try {
      await this.pin(domid, cfg);
      tm.pin = performance.now() - t0;
      let built;
      try {
        built = await this.d.xen.buildPv({
          domid, kernel: cfg.kernel, ...(cfg.ramdisk ? { ramdisk: cfg.ramdisk } : {}), cmdline: cfg.cmdline, memMiB: cfg.memoryMiB,
          maxVcpus: cfg.maxVcpus, consolePort: shell.consolePort, consoleDomid: 0, storePort: shell.storePort, storeDomid: 0,
          ...(opts.buildOnCallingThread ? { onCallingThread: true } : {}),
        });
      } catch (err) {
        const e = this.d.wrap(err, domid);
        if (e.call === 'xc_dom_parse_image' || e.call === 'xc_dom_kernel_file') {
          throw new ChaosError('KERNEL_INVALID', `${cfg.kernel} is not a kernel Xen can boot as a PV guest (${e.message})`, { cause: e, domid, key: 'kernel' });
        }
        throw e;
      }
      const tBuilt = performance.now();
      tm.build = tBuilt - t0 - tm.pin;
      for (const [call, ms] of Object.entries(built.stepsMs ?? {})) tm[`build.${call}`] = ms;
      const record = await this.complete(shell, cfg, built, { ...opts, timings: tm });
      tm.finish = performance.now() - t0;
      // One line with the domain's fields, not a child logger: making a child costs up to a
      // millisecond in the lab's emulated dom0, on every create, whether the line is written or not.
      this.d.log.info({ domid, name: cfg.name, phase: 'finish', buildMs: tBuilt - t0, ms: tm.finish, guestOs: built.guestOs, phases: tm }, 'domain started');
      return record;
    } catch (err) {
      await this.rollback(domid, err, cfg.devMethod);
      throw err;
    }
  }

  /** vCPU affinity from the config (per request, so not part of the shell). */
  private async pin(domid: number, cfg: DomainConfig): Promise<void> {
    for (let v = 0; v < cfg.maxVcpus; v++) {
      const cpus = cfg.cpusPerVcpu?.[v] ?? cfg.cpus;
      if (cpus !== 'all') await this.call(this.d.xen.vcpuSetAffinity(domid, v, cpus), domid);
    }
  }

  /**
   * Destroys a shell nobody took (a pool shrinking or shutting down), its back-end's part first
   * (noxs: noxsd's power device): the shell never ran, so nothing uses it, and noxsd is told
   * rather than left to notice the dead domain. The domain is destroyed even if that fails.
   */
  async destroyShell(shell: Pick<Shell, 'domid' | 'devMethod'>): Promise<void> {
    const forgot = await this.d.backend.forget(shell.domid, shell.devMethod).then(() => undefined, (err: unknown) => err);
    await this.call(this.d.xen.domainDestroy(shell.domid), shell.domid);
    if (forgot) throw forgot;
  }

  /** The end of every path to a running domain (build or restore): devices, the record, xenstored, unpause. */
  private async complete(shell: Shell, cfg: DomainConfig, rings: { consoleMfn: number; storeMfn: number }, opts: { paused?: boolean; timings?: PhaseTimings; recordAfterStart?: boolean }): Promise<DomainRecord> {
    const { domid } = shell;
    const tm = opts.timings ?? {};
    let t = performance.now();
    const lap = (phase: string) => { const now = performance.now(); tm[phase] = now - t; t = now; };
    const setup: DomainSetup = {
      domid, name: cfg.name, uuid: shell.uuid, memoryKiB: cfg.memoryMiB * 1024, maxMemoryKiB: cfg.maxMemoryMiB * 1024,
      vcpus: cfg.vcpus, maxVcpus: cfg.maxVcpus, devMethod: cfg.devMethod, ...(shell.devices ? { devices: shell.devices } : {}),
    };
    // The console and store nodes and the devices' nodes are separate transactions that need nothing of each other.
    const td = performance.now();
    await settleAll([this.d.backend.connect(setup, shell, rings), this.d.backend.addDevices(setup, cfg).then(() => { tm.devices = performance.now() - td; })] as const);
    lap('connect');
    // A xenstore domain was introduced to xenstored by connect, in the round trip of its nodes; a noxs
    // domain never meets xenstored: its devices are on its device page, its name in the store.
    lap('introduce');
    const record: DomainRecord = {
      domid, name: cfg.name, uuid: shell.uuid, config: cfg, devMethod: cfg.devMethod,
      createdAt: new Date().toISOString(), consoleMfn: rings.consoleMfn, consolePort: shell.consolePort,
    };
    const write = () => { this.d.store.put(record); lap('record'); };
    // The record is dom0's bookkeeping, which the guest never reads. A caller that journals its
    // creates (chaosd) has it written while the guest boots: a crash between the two leaves a domain
    // its journal rolls back. Otherwise it is written first, so that no domain runs without one.
    if (!opts.recordAfterStart) write();
    if (!opts.paused) await this.call(this.d.xen.domainUnpause(domid), domid);
    lap('unpause');
    if (opts.recordAfterStart) write();
    return record;
  }

  /** checkCreate + prepare + finish: a domain built from scratch. */
  async create(cfg: DomainConfig, opts: { paused?: boolean; taken?: ReadonlySet<string> | Promise<ReadonlySet<string>> } = {}): Promise<DomainRecord> {
    // The checks (a scan of every domain's name, the host's free memory) run while the shell is made,
    // which takes neither name nor memory; a failed check destroys the shell before anyone sees it.
    // `taken`: the names in use, from a long-running caller's index (daemon/names.ts) instead of a scan.
    const ops0 = this.d.backend.xsOpCounts?.();
    const check = this.checkCreate(cfg, opts.taken);
    const [checked, made] = await Promise.allSettled([check, this.prepare(shellSizeOf(cfg), { uuid: cfg.uuid, devMethod: cfg.devMethod })]);
    if (checked.status === 'rejected') {
      if (made.status === 'fulfilled') await this.destroyShell(made.value).catch(() => undefined);
      throw checked.reason;
    }
    if (made.status === 'rejected') throw made.reason;
    const record = await this.finish(made.value, cfg, { paused: opts.paused, nameChecked: true });
    if (ops0) this.d.log.debug({ domid: record.domid, xsOps: opsSince(ops0, this.d.backend.xsOpCounts?.() ?? {}) }, 'XenStore requests of this create (and of any call that overlapped it)');
    return record;
  }

  /** Undoes a half-made domain; the original error is what the caller reports. */
  private async rollback(domid: number, cause: unknown, method?: DevMethod): Promise<void> {
    this.d.log.warn({ domid, err: (cause as Error)?.message }, 'create failed: destroying the half-made domain');
    await this.d.xen.domainDestroy(domid).catch(() => undefined);
    await this.d.backend.forget(domid, method).catch(() => undefined);
    this.d.store.remove(domid);
  }

  async destroy(ref: string | number): Promise<DomainSummary> {
    const dom = await this.find(ref);
    if (dom.domid === 0) throw new ChaosError('GUEST_STATE', 'domain 0 is the control domain and cannot be destroyed');
    const t0 = performance.now();
    await this.call(this.d.xen.domainDestroy(dom.domid), dom.domid);
    await this.d.backend.forget(dom.domid);
    this.d.store.remove(dom.domid);
    this.d.log.info({ domid: dom.domid, name: dom.name, phase: 'destroy', ms: performance.now() - t0 }, 'domain destroyed');
    return dom;
  }

  async pause(ref: string | number): Promise<DomainSummary> {
    const dom = await this.guest(ref);
    await this.call(this.d.xen.domainPause(dom.domid), dom.domid);
    return dom;
  }

  async unpause(ref: string | number): Promise<DomainSummary> {
    const dom = await this.guest(ref);
    await this.call(this.d.xen.domainUnpause(dom.domid), dom.domid);
    return dom;
  }

  private async guest(ref: string | number): Promise<DomainSummary> {
    const dom = await this.find(ref);
    if (dom.domid === 0) throw new ChaosError('GUEST_STATE', 'domain 0 is the control domain: the toolstack does not pause or stop it');
    return dom;
  }

  /**
   * Asks the guest to power off or reboot. With `waitMs`, waits until Xen reports it shut down
   * and throws TIMEOUT if the guest ignored the request.
   */
  async shutdown(ref: string | number, opts: { reboot?: boolean; waitMs?: number } = {}): Promise<DomainSummary> {
    const dom = await this.guest(ref);
    const req: PowerRequest = opts.reboot ? 'reboot' : 'poweroff';
    await this.d.backend.requestPower(dom.domid, req);
    if (!opts.waitMs) return dom;
    const deadline = Date.now() + opts.waitMs;
    for (;;) {
      const i = await this.info(dom.domid);
      if (!i || i.shutdown || i.dying) return i ? summarize(i, dom.name) : { ...dom, state: 'gone' };
      if (Date.now() > deadline) {
        throw new ChaosError('TIMEOUT', `${dom.name} (domain ${dom.domid}) did not ${req === 'reboot' ? 'reboot' : 'shut down'} within ${(opts.waitMs / 1000).toFixed(0)} s: the guest ignored the request`, { domid: dom.domid });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * For each domain this toolstack made that has shut down, does what its config says for the
   * reason (on_poweroff, on_reboot, on_crash). Returns what it did, for logs and tests.
   */
  async applyShutdownActions(): Promise<{ domid: number; name: string; reason: string; action: string; newDomid?: number }[]> {
    const done: { domid: number; name: string; reason: string; action: string; newDomid?: number }[] = [];
    for (const info of await this.allInfo()) {
      if (!info.shutdown || info.dying || info.domid === 0) continue;
      const rec = this.d.store.get(info.domid, info.handle);
      if (!rec) continue; // made by another toolstack: its business
      const reason = SHUTDOWN_REASONS[info.shutdownReason] ?? `reason ${info.shutdownReason}`;
      // A suspended domain is being saved; a soft reset is handled by whoever asked for it.
      if (reason === 'suspend' || reason === 'soft_reset') continue;
      const action = reason === 'poweroff' ? rec.config.onPoweroff : reason === 'reboot' ? rec.config.onReboot : rec.config.onCrash;
      const log = this.d.log.child({ domid: info.domid, name: rec.name });
      if (action === 'preserve') {
        if (!rec.preserved) { this.d.store.put({ ...rec, preserved: true }); done.push({ domid: info.domid, name: rec.name, reason, action }); }
        continue;
      }
      // Core dumps are not written yet: the coredump actions do the rest of their work and say so.
      if (action.startsWith('coredump-')) log.warn({ action }, 'core dumps are not supported: the domain is not dumped');
      await this.destroy(info.domid);
      if (action === 'destroy' || action === 'coredump-destroy') {
        done.push({ domid: info.domid, name: rec.name, reason, action });
        continue;
      }
      // restart, rename-restart and coredump-restart: the same config, a new domain; a guest that dies
      // right after every start would restart forever, so that is cut short.
      const now = Date.now();
      const recent = (rec.restarts ?? []).filter((t) => now - t < RESTART_WINDOW_MS);
      if (recent.length >= MAX_RESTARTS) {
        log.error({ reason, restarts: recent.length }, `restarted ${recent.length} times in ${RESTART_WINDOW_MS / 1000} s: not restarting again`);
        done.push({ domid: info.domid, name: rec.name, reason, action: 'destroy (restart loop)' });
        continue;
      }
      const again = await this.create({ ...rec.config, uuid: undefined });
      this.d.store.put({ ...again, restarts: [...recent, now] });
      log.info({ reason, action, newDomid: again.domid }, 'domain restarted');
      done.push({ domid: info.domid, name: rec.name, reason, action, newDomid: again.domid });
    }
    return done;
  }

  /**
   * Asks the guest to suspend and waits until Xen reports it shut down for suspend. A guest that
   * ignores the request (noop, or one without suspend support) ends in TIMEOUT.
   */
  async suspend(dom: DomainSummary, timeoutMs: number): Promise<void> {
    const can = await this.d.backend.canSuspend(dom.domid);
    if (can === false) throw new ChaosError('GUEST_STATE', `${dom.name} (domain ${dom.domid}) says it cannot suspend`, { domid: dom.domid });
    const t0 = performance.now();
    await this.d.backend.requestPower(dom.domid, 'suspend');
    const deadline = Date.now() + timeoutMs;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      const i = await this.info(dom.domid);
      if (!i) throw new ChaosError('DOMAIN_NOT_FOUND', `${dom.name} (domain ${dom.domid}) went away while suspending`, { domid: dom.domid });
      if (i.shutdown) {
        if (SHUTDOWN_REASONS[i.shutdownReason] === 'suspend') break;
        throw new ChaosError('GUEST_STATE', `${dom.name} (domain ${dom.domid}) shut down (${SHUTDOWN_REASONS[i.shutdownReason] ?? i.shutdownReason}) instead of suspending`, { domid: dom.domid });
      }
      if (Date.now() > deadline) {
        const hint = can === undefined ? ': the guest does not advertise suspend support (control/feature-suspend), and may have none' : '';
        throw new ChaosError('TIMEOUT', `${dom.name} (domain ${dom.domid}) did not suspend within ${(timeoutMs / 1000).toFixed(0)} s${hint}`, { domid: dom.domid });
      }
      await new Promise((r) => setTimeout(r, wait));
    }
    this.d.log.debug({ domid: dom.domid, phase: 'suspend', ms: performance.now() - t0 }, 'guest suspended');
  }

  /**
   * Writes the domain's save stream (libxc's format) into `fd`, suspending the guest when libxc asks
   * (at once, or after the pre-copy rounds when `live`). The domain is left suspended; on failure it
   * is resumed if it had been suspended, so the guest is never left stopped by a failed save.
   */
  async saveStream(dom: DomainSummary, fd: number, opts: { live: boolean; suspendTimeoutMs: number }): Promise<{ suspendedAt: number }> {
    let suspended = false;
    let suspendedAt = 0;
    let suspendError: unknown;
    const t0 = performance.now();
    try {
      await this.d.xen.domainSave({
        domid: dom.domid, fd, live: opts.live,
        onSuspend: async () => {
          try {
            await this.suspend(dom, opts.suspendTimeoutMs);
            suspended = true;
            suspendedAt = performance.now();
            return true;
          } catch (err) {
            suspendError = err;
            return false;
          }
        },
      });
    } catch (err) {
      if (suspended) await this.resume(dom.domid).catch((e) => this.d.log.error({ domid: dom.domid, err: (e as Error).message }, 'could not resume the guest after a failed save'));
      if (suspendError) throw suspendError;
      const e = this.d.wrap(err, dom.domid);
      if (/p2m frame list/i.test(e.message)) {
        throw new ChaosError('NOT_SUPPORTED', `${dom.name} (domain ${dom.domid}) cannot be saved: it never published the list of its memory frames (the p2m frame list in its shared info) that a save needs, as guests without suspend support do (${e.message})`, { cause: e, domid: dom.domid });
      }
      if (opts.live && /logdirty/i.test(e.message)) {
        throw new ChaosError('NOT_SUPPORTED', `this hypervisor cannot track the pages a PV guest dirties (log-dirty mode: ${e.message}), so a live save or migration is not possible here: leave out --live`, { cause: e, domid: dom.domid });
      }
      throw e;
    }
    this.d.log.debug({ domid: dom.domid, phase: 'save', live: opts.live, ms: performance.now() - t0 }, 'save stream written');
    return { suspendedAt };
  }

  /** A pipe for a save stream on its way to a socket or a file ([readFd, writeFd], both blocking; the caller closes both). */
  pipe(): [number, number] {
    try {
      return this.d.xen.pipe();
    } catch (err) {
      throw this.d.wrap(err);
    }
  }

  /** Runs a suspended domain again, telling the guest its suspend was cancelled (xc_domain_resume, cooperative). */
  async resume(domid: number): Promise<void> {
    await this.call(this.d.xen.domainResume(domid, true), domid);
  }

  /**
   * Makes a domain from a save stream read from `fd`: prepare a shell for `cfg`, let libxc fill it,
   * then connect it like a freshly built one. Rolled back on any failure.
   */
  async restoreStream(cfg: DomainConfig, fd: number, opts: { paused?: boolean; onShell?: (domid: number) => void } = {}): Promise<DomainRecord> {
    await this.checkCreate(cfg);
    const shell = await this.prepare(shellSizeOf(cfg), { uuid: cfg.uuid, devMethod: cfg.devMethod });
    const t0 = performance.now();
    try {
      opts.onShell?.(shell.domid);
      await this.pin(shell.domid, cfg);
      const rings = await this.call(this.d.xen.domainRestore({
        domid: shell.domid, fd, storePort: shell.storePort, storeDomid: 0, consolePort: shell.consolePort, consoleDomid: 0,
      }), shell.domid);
      const record = await this.complete(shell, cfg, rings, opts);
      this.d.log.info({ domid: shell.domid, name: cfg.name, phase: 'restore', ms: performance.now() - t0 }, 'domain restored');
      return record;
    } catch (err) {
      await this.rollback(shell.domid, err, cfg.devMethod);
      throw err;
    }
  }

  /** Whether any domain on this host has this uuid (Xen's domain handle). */
  async hasUuid(uuid: string): Promise<boolean> {
    return (await this.allInfo()).some((i) => i.handle === uuid);
  }

  /** Renames a domain this toolstack made (XenStore and its record); refuses a name in use. */
  async rename(domid: number, name: string): Promise<DomainRecord | undefined> {
    await this.checkName(name, domid);
    await this.d.backend.rename(domid, name);
    const rec = this.d.store.get(domid);
    if (!rec) return undefined;
    const renamed = { ...rec, name, config: { ...rec.config, name } };
    this.d.store.remove(domid);
    this.d.store.put(renamed);
    return renamed;
  }

  record(domid: number): DomainRecord | undefined {
    return this.d.store.get(domid);
  }
}

function summarize(i: DomainInfo, name: string): DomainSummary {
  const flag = (on: boolean, c: string) => (on ? c : '-');
  const reason = i.shutdown ? SHUTDOWN_REASONS[i.shutdownReason] : undefined;
  return {
    domid: i.domid, name, memMiB: Math.round((i.nrPages * 4) / 1024), vcpus: i.nrOnlineVcpus,
    state: flag(i.running, 'r') + flag(i.blocked, 'b') + flag(i.paused, 'p') + flag(i.shutdown && !i.crashed, 's') + flag(i.crashed, 'c') + flag(i.dying, 'd'),
    cpuTimeSec: i.cpuTimeNs / 1e9, ...(reason ? { shutdownReason: reason } : {}),
  };
}

/** The requests of each kind sent between two readings of XenStore's op counter, and their total. */
export function opsSince(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d) { out[k] = d; total += d; }
  }
  return { ...out, total };
}

/** Promise.all that waits for every promise to settle before it rejects with the first failure (in order). */
async function settleAll<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
