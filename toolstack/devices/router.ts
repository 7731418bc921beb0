// One DeviceBackend over both strategies: a new domain uses the method its config chose, an existing one the method its record says.
import type { Log } from '../log.js';
import type { DomainStore } from '../store.js';
import type { BootChannels, DeviceBackend, DevMethod, DomainSetup, GuestRings, PowerRequest } from './backend.js';
import type { DeviceConfig } from './device-plan.js';

export interface RouterOptions {
  /** The method of shells made without one (chaosd's pools) and of domains without a record. */
  defaultMethod: DevMethod;
  /** Each back-end is made on first use: a toolstack that never uses XenStore never opens it. */
  make: { [M in DevMethod]: () => DeviceBackend };
  store: DomainStore;
  /**
   * Whether xenstored answers, asked before XenStore is read for what is optional to a noxs
   * toolstack (the names of domains other toolstacks made), so that `list` works without it.
   */
  xenstoreReachable?: () => Promise<boolean>;
  log?: Log;
}

/**
 * The choice is made once per domain, when it is made (config `dev_method`, `--dev-method`, or the
 * daemon's default), recorded in the toolstack's store, and followed by every later operation:
 * a noxs domain never touches XenStore, whatever the toolstack's default.
 */
export class DeviceRouter implements DeviceBackend {
  readonly method: DevMethod;
  private readonly made = new Map<DevMethod, DeviceBackend>();

  constructor(private readonly o: RouterOptions) {
    this.method = o.defaultMethod;
  }

  handles(method: DevMethod): boolean {
    return method === 'xenstore' || method === 'noxs';
  }

  /** The back-end of one method. */
  of(method: DevMethod): DeviceBackend {
    let b = this.made.get(method);
    if (!b) { b = this.o.make[method](); this.made.set(method, b); }
    return b;
  }

  /** The method a domain was made with: its record's, else the default (a domain another toolstack made is xenstore's). */
  methodOf(domid: number): DevMethod {
    return this.o.store.get(domid)?.devMethod ?? this.o.defaultMethod;
  }

  private forDomain(domid: number): DeviceBackend { return this.of(this.methodOf(domid)); }

  prepare(...a: Parameters<DeviceBackend['prepare']>): ReturnType<DeviceBackend['prepare']> { return this.of(a[0].devMethod ?? this.method).prepare(...a); }
  connect(d: DomainSetup, ch: BootChannels, rings: GuestRings): Promise<void> { return this.of(d.devMethod ?? this.method).connect(d, ch, rings); }
  addDevices(d: DomainSetup, cfg: DeviceConfig): Promise<void> { return this.of(d.devMethod ?? this.method).addDevices(d, cfg); }
  requestPower(domid: number, req: PowerRequest): Promise<void> { return this.forDomain(domid).requestPower(domid, req); }
  rename(domid: number, name: string): Promise<void> { return this.forDomain(domid).rename(domid, name); }
  canSuspend(domid: number): Promise<boolean | undefined> { return this.forDomain(domid).canSuspend(domid); }
  console(domid: number) { return this.forDomain(domid).console(domid); }
  /** XenStore's op counter, once the xenstore back-end is in use (none before: nothing was sent). */
  xsOpCounts(): Record<string, number> { return this.made.get('xenstore')?.xsOpCounts?.() ?? {}; }

  /** `method`: the caller knows it (a rollback, before the record exists); else the record's. */
  forget(domid: number, method?: DevMethod): Promise<void> { return this.of(method ?? this.methodOf(domid)).forget(domid); }

  /** Whether xenstored answers now (always true when no probe was given: XenStore is then required). */
  async xenstoreUp(): Promise<boolean> {
    return !this.o.xenstoreReachable || this.o.xenstoreReachable();
  }

  /**
   * XenStore's names (every domain xl or chaos over xenstore made) with the noxs domains' names
   * from the store on top. A noxs toolstack reads XenStore only if xenstored answers, else lists
   * without those names; a xenstore toolstack needs XenStore and reports its failure.
   */
  async names(domids?: number[]): Promise<Map<number, string>> {
    let xs = new Map<number, string>();
    let xsOk = await this.xenstoreUp();
    if (xsOk) {
      try {
        xs = await this.of('xenstore').names(domids);
      } catch (err) {
        if (this.method === 'xenstore') throw err;
        xsOk = false;
      }
    }
    // Not a warning: every command on a noxs domain without xenstored would print it (docs/noxs.md says what is lost).
    if (!xsOk) this.o.log?.info({}, 'xenstored is not answering: only the names of domains chaos made are known');
    // Without XenStore, or when noxs domains are made here: the store's names (the caller falls back to the store otherwise).
    if (xsOk && this.method === 'xenstore' && !this.made.has('noxs')) return xs;
    for (const [id, name] of await this.of('noxs').names(domids)) xs.set(id, name);
    return xs;
  }
}
