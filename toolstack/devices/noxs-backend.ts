// Device control without XenStore (noxs): noxsd makes each device's back end, devctl puts it on the guest's device page, the store keeps names.
import { ChaosError } from '../errors.js';
import type { Log } from '../log.js';
import type { DomainStore } from '../store.js';
import type { NoxsDevice, NoxsDeviceType } from '../xen/devctl.js';
import type { DomainInfo } from '../xen/types.js';
import type { BootChannels, DeviceBackend, DomainSetup, GuestRings, PowerRequest, ShellDevices, ShellSetup } from './backend.js';
import { planVifs, type DeviceConfig } from './device-plan.js';
import { NOXS_POWER_F_SUSPEND, NOXS_STATE_CONNECTED, NoxsdError, type NoxsdClient } from './noxsd-client.js';

/** What the back-end needs of the Xen layer's devctl (toolstack/xen/devctl.ts). */
export interface DevctlLike {
  available(): Promise<boolean>;
  add(domid: number, dev: NoxsDevice): Promise<void>;
  remove(domid: number, type: NoxsDeviceType, id: number): Promise<void>;
}

export interface NoxsBackendDeps {
  /** Made on first use: loading devctl needs the native addon. */
  devctl: () => DevctlLike;
  noxsd: Pick<NoxsdClient, 'ping' | 'powerAdd' | 'vifAdd' | 'domainRem' | 'powerReq' | 'status'>;
  store: DomainStore;
  /** Xen's view of domains (xc_domain_getinfolist), to tell a record of a live domain from one whose id was reused. */
  domainInfo(first: number, max: number): Promise<DomainInfo[]>;
  log?: Log;
}

/** The bridge a vif goes on when its spec names none (the lab's, and xl's usual). */
export const DEFAULT_BRIDGE = 'xenbr0';
/** The power device's id: one per domain. */
const POWER_ID = 0;
const DOM0 = 0;
const INFO_PAGE = 1024;

export class NoxsBackend implements DeviceBackend {
  readonly method = 'noxs' as const;
  private ready?: Promise<void>;
  private dc?: DevctlLike;

  constructor(private readonly d: NoxsBackendDeps) {}

  private devctl(): DevctlLike {
    this.dc ??= this.d.devctl();
    return this.dc;
  }

  /**
   * Once per toolstack: the hypervisor has devctl and noxsd answers; otherwise NOT_SUPPORTED with
   * what is missing. Checked before a domain is made, so a host without noxs fails fast and clean.
   */
  check(): Promise<void> {
    this.ready ??= (async () => {
      if (!(await this.devctl().available())) {
        throw new ChaosError('NOT_SUPPORTED', 'dev_method "noxs" needs the devctl hypercall, and this hypervisor has none (a stock Xen): boot the patched Xen that xen-patches/build.sh makes, or use dev_method "xenstore"');
      }
      await this.d.noxsd.ping();
    })();
    this.ready.catch(() => { this.ready = undefined; });
    return this.ready;
  }

  /**
   * No XenStore: a noxs shell is the domain with its device page and, on it, its power device
   * (every domain has one, whatever its config), made by noxsd here so that a finish only adds
   * what the config asks for beyond it. On failure noxsd is told to forget the domain.
   */
  async prepare(d: ShellSetup): Promise<ShellDevices> {
    await this.check();
    try {
      await this.addPower(d.domid);
    } catch (err) {
      await this.d.noxsd.domainRem(d.domid).catch(() => undefined);
      throw err;
    }
    this.d.log?.debug({ domid: d.domid }, 'noxs power device made for the shell');
    return { power: true };
  }

  private async addPower(domid: number): Promise<void> {
    const power = await this.d.noxsd.powerAdd(domid, POWER_ID);
    await this.devctl().add(domid, { type: 'power', id: POWER_ID, beDomid: DOM0, ...power });
  }

  /** No XenStore: the name and the console ring's frame and port are in the toolstack's record (written by the caller). */
  async connect(_d: DomainSetup, _ch: BootChannels, _rings: GuestRings): Promise<void> {}

  /**
   * The power device (every domain has one; made by prepare already, `d.devices.power`) and a vif
   * per vif spec, each made by noxsd and put on the guest's page. On failure, every device of the
   * domain (the shell's power device too) is taken down again before the error is thrown.
   */
  async addDevices(d: DomainSetup, cfg: DeviceConfig): Promise<void> {
    if (cfg.disks.length) {
      throw new ChaosError('NOT_SUPPORTED', `disk[0]: dev_method "noxs" has no block devices yet: use dev_method "xenstore" for a domain with disks`, { key: 'disk', domid: d.domid });
    }
    const vifs = planVifs(d.uuid, cfg.vifs);
    vifs.forEach((v, i) => {
      const no = (what: string) => { throw new ChaosError('NOT_SUPPORTED', `vif[${i}]: ${what} is not supported with dev_method "noxs"`, { key: 'vif', domid: d.domid }); };
      if (v.devid > 0xffff) throw new ChaosError('CONFIG_INVALID', `vif[${i}]: devid ${v.devid} is above 65535, the largest noxs device id`, { key: 'vif', domid: d.domid });
      if (v.script !== undefined && v.script !== '') no(`script ${JSON.stringify(v.script)} (noxsd bridges the interface itself, no hotplug script runs)`);
      if (v.rate !== undefined) no('rate');
      if (v.gatewaydev !== undefined) no('gatewaydev');
    });
    const added: { type: NoxsDeviceType; id: number }[] = [];
    const t0 = performance.now();
    if (d.devices?.power) added.push({ type: 'power', id: POWER_ID });
    try {
      if (!d.devices?.power) {
        await this.addPower(d.domid);
        added.push({ type: 'power', id: POWER_ID });
      }
      for (const v of vifs) {
        const made = await this.d.noxsd.vifAdd(d.domid, v.devid, {
          mac: v.mac, bridge: v.bridge ?? DEFAULT_BRIDGE, ...(v.mtu ? { mtu: v.mtu } : {}), ...(v.vifname ? { ifname: v.vifname } : {}),
        });
        await this.devctl().add(d.domid, { type: 'vif', id: v.devid, beDomid: DOM0, grant: made.grant, evtchn: made.evtchn });
        added.push({ type: 'vif', id: v.devid });
        this.d.log?.debug({ domid: d.domid, vif: v.devid, ifname: made.ifname }, 'noxs vif added');
      }
    } catch (err) {
      for (const a of added.reverse()) await this.devctl().remove(d.domid, a.type, a.id).catch(() => undefined);
      await this.d.noxsd.domainRem(d.domid).catch(() => undefined);
      throw err;
    }
    this.d.log?.debug({ domid: d.domid, phase: 'devices', devices: added.length, ms: performance.now() - t0 }, 'noxs devices added');
  }

  async requestPower(domid: number, req: PowerRequest): Promise<void> {
    try {
      await this.d.noxsd.powerReq(domid, POWER_ID, req);
    } catch (err) {
      if (err instanceof NoxsdError && err.errnoName === 'ENOTCONN') {
        throw new ChaosError('GUEST_STATE', `domain ${domid} does not listen to power requests: its power device is not connected (the guest has no noxs client, or has not started it yet)`, { domid, cause: err });
      }
      if (err instanceof NoxsdError && err.errnoName === 'EOPNOTSUPP') {
        throw new ChaosError('GUEST_STATE', `domain ${domid} says it cannot ${req} (its power device lacks the feature)`, { domid, cause: err });
      }
      throw err;
    }
  }

  /** From the power page: the guest's feature bits, once it has connected; undefined before. */
  async canSuspend(domid: number): Promise<boolean | undefined> {
    const s = await this.d.noxsd.status(domid, 'power', POWER_ID);
    if (s.feState !== NOXS_STATE_CONNECTED) return undefined;
    return (s.feFeatures & NOXS_POWER_F_SUSPEND) !== 0;
  }

  /** The renamed record is the caller's (Toolstack.rename): nothing else holds the name. */
  async rename(_domid: number, _name: string): Promise<void> {}

  /**
   * noxsd tears down the domain's back ends (it also does so by itself when Xen reports the domain
   * dead); the device page goes with the domain. A noxsd that is not running holds nothing.
   */
  async forget(domid: number): Promise<void> {
    try {
      await this.d.noxsd.domainRem(domid);
    } catch (err) {
      if (err instanceof ChaosError && err.code === 'NOT_SUPPORTED') return;
      throw err;
    }
  }

  /** From the toolstack's records, for the domains Xen runs with the uuid the record has; dom0 is Domain-0. */
  async names(domids?: number[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const infos = domids ? await this.some(domids) : await this.all();
    for (const i of infos) {
      if (i.domid === DOM0) { out.set(DOM0, 'Domain-0'); continue; }
      const r = this.d.store.get(i.domid, i.handle);
      if (r) out.set(i.domid, r.name);
    }
    return out;
  }

  /** The console ring's frame and event channel, from the record the build left (no pty: xenconsoled does not know the domain). */
  async console(domid: number): Promise<{ mfn: number; port: number } | undefined> {
    const r = this.d.store.get(domid);
    if (!r || r.consoleMfn === undefined || r.consolePort === undefined) return undefined;
    return { mfn: r.consoleMfn, port: r.consolePort };
  }

  private async all(): Promise<DomainInfo[]> {
    const all: DomainInfo[] = [];
    for (let first = 0; ;) {
      const page = await this.d.domainInfo(first, INFO_PAGE);
      all.push(...page);
      if (page.length < INFO_PAGE) return all;
      first = page[page.length - 1]!.domid + 1;
    }
  }

  private async some(domids: number[]): Promise<DomainInfo[]> {
    const got = await Promise.all(domids.map(async (id) => (await this.d.domainInfo(id, 1)).filter((i) => i.domid === id)));
    return got.flat();
  }
}
