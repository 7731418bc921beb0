// xendevd's policy: which uevents matter, which bridge a vif joins, what goes into XenStore; all I/O through HostNet and a XenStore-like interface.
import type { Log } from '../../toolstack/log.js';
import { isIfName, type HostNet, type UeventSignal, type UeventSource } from '../../toolstack/xen/host-net.js';
import { parseUevent, vifDevice, vifEvent, type VifEvent } from './uevent.js';

/** The XenStore operations xendevd uses (toolstack/xen/xenstore.ts's XenStore fits). */
export interface XsLike {
  read(path: string): Promise<string | undefined>;
  write(path: string, value: string): Promise<void>;
  rm(path: string): Promise<void>;
}

export interface XendevdOptions {
  /** The bridge for vifs whose back end names none. */
  defaultBridge: string;
  /** The domain xendevd runs in: back ends live under its home (dom0: /local/domain/0). */
  backendDomid?: number;
}

/** What xendevd counts, for its logs and for tests. */
export interface XendevdStats {
  attached: number;
  detached: number;
  failed: number;
  /** Datagrams that were not well-formed uevents, or vif events that did not hold together. */
  malformed: number;
  /** Well-formed datagrams not from the kernel. */
  untrusted: number;
  /** Full rescans (at start and after the kernel dropped events). */
  scans: number;
}

/**
 * The vifs that are xendevd's: those with no hotplug script (chaos runs none) and those whose script
 * is vif-xendevd, the no-op an xl user names so that libxl (which always runs a vif's script) leaves
 * the work to xendevd. Any other script (vif-bridge, vif-route, a custom one) is run by libxl: such a
 * vif is left alone (see docs/xendevd.md).
 */
export const XENDEVD_SCRIPTS = ['vif-xendevd'];

export function handlesScript(script: string | undefined): boolean {
  if (script === undefined || script.trim() === '') return true;
  const base = script.trim().split('/').pop() ?? '';
  return XENDEVD_SCRIPTS.includes(base);
}

export class Xendevd {
  readonly stats: XendevdStats = { attached: 0, detached: 0, failed: 0, malformed: 0, untrusted: 0, scans: 0 };
  private source?: UeventSource;
  /** One chain of work per device, so events for one vif are handled in the order they came. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly home: string;

  constructor(private readonly host: HostNet, private readonly xs: XsLike, private readonly opts: XendevdOptions, private readonly log: Log) {
    if (!isIfName(opts.defaultBridge)) throw new Error(`bridge ${JSON.stringify(opts.defaultBridge)} is not an interface name`);
    this.home = `/local/domain/${opts.backendDomid ?? 0}`;
  }

  /** Listens first, then scans: a vif that appears during the scan is seen by one or the other (both is harmless). */
  async start(): Promise<void> {
    this.source = this.host.listen((s) => this.onSignal(s));
    await this.scan('start');
  }

  /** Stops listening and waits for work in progress. Attached vifs stay attached. */
  async stop(): Promise<void> {
    this.source?.close();
    this.source = undefined;
    await this.idle();
  }

  /** Resolves when no device has work queued. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  onSignal(s: UeventSignal): void {
    if (s.kind === 'overflow') {
      this.log.warn({ code: s.code }, 'the kernel dropped uevents: rescanning every vif');
      void this.scan('overflow');
      return;
    }
    if (s.kind === 'error') {
      this.log.error({ code: s.code }, 'the uevent socket failed');
      return;
    }
    const parsed = parseUevent(s.data);
    if (!parsed.ok) {
      this.stats.malformed++;
      this.log.warn({ reason: parsed.reason, bytes: s.data.length, senderPid: s.senderPid }, 'ignored a malformed uevent');
      return;
    }
    // Only the kernel (netlink pid 0) speaks for devices; anything else on the group is ignored.
    if (s.senderPid !== 0) {
      this.stats.untrusted++;
      this.log.warn({ senderPid: s.senderPid, action: parsed.event.action, devpath: parsed.event.devpath }, 'ignored a uevent not sent by the kernel');
      return;
    }
    const v = vifEvent(parsed.event);
    if (v === undefined) return;
    if ('reason' in v) {
      this.stats.malformed++;
      this.log.warn({ reason: v.reason, devpath: parsed.event.devpath }, 'ignored a malformed vif uevent');
      return;
    }
    this.dispatch(v);
  }

  /** Attaches every vif netback has made that is not attached yet: vifs that came while xendevd was down. */
  async scan(why: string): Promise<void> {
    this.stats.scans++;
    const found: string[] = [];
    for (const name of this.host.backendDevices()) {
      const d = vifDevice(name);
      if (!d) continue;
      const ifname = `vif${d.domid}.${d.devid}`;
      if (!this.host.exists(ifname)) continue;  // no interface yet: its online event will come
      found.push(ifname);
      this.dispatch({ action: 'online', domid: d.domid, devid: d.devid, ifname, xenbusPath: `backend/vif/${d.domid}/${d.devid}` });
    }
    this.log.info({ why, vifs: found }, `scan: ${found.length} vif(s) found`);
    await this.idle();
  }

  private dispatch(v: VifEvent): void {
    const key = `${v.domid}/${v.devid}`;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.act(v)).catch((err: unknown) => {
      this.log.error({ err, domid: v.domid, devid: v.devid }, 'a vif event failed unexpectedly');
    });
    this.chains.set(key, next);
    void next.then(() => { if (this.chains.get(key) === next) this.chains.delete(key); });
  }

  private async act(v: VifEvent): Promise<void> {
    switch (v.action) {
      case 'add':
      case 'online':
      case 'change':
        // add comes before netback made the interface; online after. Either way: attach once it exists.
        if (this.host.exists(v.ifname)) await this.attach(v);
        return;
      case 'offline':
      case 'remove':
        await this.detach(v);
        return;
      default:
        return;
    }
  }

  private async attach(v: VifEvent): Promise<void> {
    const be = `${this.home}/${v.xenbusPath}`;
    const log = this.log.child({ domid: v.domid, devid: v.devid, vif: v.ifname });
    const [frontendId, bridgeNode, script, status] = await Promise.all(
      ['frontend-id', 'bridge', 'script', 'hotplug-status'].map((k) => this.xs.read(`${be}/${k}`)));
    if (frontendId === undefined) {
      log.debug('no back-end directory (the device is going away): nothing to attach');
      return;
    }
    if (!handlesScript(script)) {
      log.info({ script }, 'the back end names a hotplug script that is not vif-xendevd: left to whoever runs it');
      return;
    }
    const bridge = bridgeNode === undefined || bridgeNode === '' ? this.opts.defaultBridge : bridgeNode;
    if (!isIfName(bridge) || !this.host.isBridge(bridge)) {
      await this.fail(be, log, `bridge ${JSON.stringify(bridge.slice(0, 32))} does not exist or is not a bridge`);
      return;
    }
    const t0 = performance.now();
    try {
      const master = this.host.master(v.ifname);
      if (master !== bridge) {
        if (master !== undefined) await this.host.bridgeDelIf(master, v.ifname);
        await this.host.bridgeAddIf(bridge, v.ifname);
      }
      await this.host.setUp(v.ifname, true);
    } catch (err) {
      await this.fail(be, log, `cannot attach ${v.ifname} to ${bridge}: ${(err as Error).message}`);
      return;
    }
    if (status !== 'connected') {
      await this.xs.write(`${be}/hotplug-status`, 'connected');
      // The device may have gone between the read and the write, which then made a stray node: take it back.
      if (await this.xs.read(`${be}/frontend-id`) === undefined) await this.rmQuiet(`${be}/hotplug-status`);
    }
    this.stats.attached++;
    log.info({ bridge, ms: Number((performance.now() - t0).toFixed(2)), already: status === 'connected' }, `attached ${v.ifname} to ${bridge}`);
  }

  private async detach(v: VifEvent): Promise<void> {
    const be = `${this.home}/${v.xenbusPath}`;
    const log = this.log.child({ domid: v.domid, devid: v.devid, vif: v.ifname });
    const master = this.host.exists(v.ifname) ? this.host.master(v.ifname) : undefined;
    if (master !== undefined && this.host.isBridge(master)) {
      await this.host.bridgeDelIf(master, v.ifname).catch((err: Error) => {
        // netback often frees the interface (which leaves the bridge with it) between the check and the ioctl.
        if (this.host.exists(v.ifname)) log.warn({ err: err.message }, `cannot take ${v.ifname} off ${master}`);
        else log.debug(`${v.ifname} went away by itself`);
      });
    }
    // Only a back end that is still there: an rm of a gone node is harmless, a write would not be.
    if (await this.xs.read(`${be}/hotplug-status`) !== undefined) await this.rmQuiet(`${be}/hotplug-status`);
    this.stats.detached++;
    log.info({ bridge: master, action: v.action }, `detached ${v.ifname}`);
  }

  /** Tells the toolstack the way a hotplug script does: `hotplug-error`, then `hotplug-status` = error. */
  private async fail(be: string, log: Log, why: string): Promise<void> {
    this.stats.failed++;
    log.error(why);
    if (await this.xs.read(`${be}/frontend-id`) === undefined) return;
    await this.xs.write(`${be}/hotplug-error`, why);
    await this.xs.write(`${be}/hotplug-status`, 'error');
  }

  private async rmQuiet(p: string): Promise<void> {
    await this.xs.rm(p).catch(() => undefined);
  }
}
