// The Xen layer's noxs device control: a domain's device page and its entries through the devctl hypercall, typed.
import { ChaosError } from '../errors.js';
import { isNativeError, loadDevctl, toChaosError } from './native.js';
import type { DevctlNative, DevctlRequest, DevctlResult, NoxsConstants, NoxsDevEntry } from './types.js';

export type NoxsDeviceType = 'power' | 'vif' | 'vbd';

/** One device on a domain's page, as the toolstack names it. */
export interface NoxsDevice {
  type: NoxsDeviceType;
  /** Unique per type on one page; the toolstack chooses it. */
  id: number;
  /** The domain that runs the back-end (dom0: 0). */
  beDomid: number;
  /** Grant reference of the device's control page. */
  grant: number;
  /** The back-end's unbound event channel port for the guest. */
  evtchn: number;
}

const TYPES: readonly NoxsDeviceType[] = ['power', 'vif', 'vbd'];

/**
 * devctl for the toolstack: domain ids in, typed devices out, errors as ChaosErrors. A hypervisor
 * without devctl (stock Xen) gives NOT_SUPPORTED; Xen's refusals give XEN_CALL with call "devctl"
 * and Xen's errno (EPERM, ESRCH, ENOSPC, EEXIST, ENOENT, EINVAL).
 */
export class Devctl {
  readonly abi: NoxsConstants;

  constructor(private readonly native: DevctlNative = loadDevctl()) {
    this.abi = native.noxs;
  }

  /** Devices a page holds at most. */
  get capacity(): number { return this.abi.PAGE_MAX_DEVS; }

  /** True when the running hypervisor has devctl (asks for dom0's own page; false on ENOSYS). */
  async available(): Promise<boolean> {
    try {
      await this.native.devctl({ version: this.abi.VERSION, op: this.abi.OP_GET, domid: this.abi.DOMID_SELF });
      return true;
    } catch (err) {
      if (isNativeError(err) && err.code === 'ENOSYS') return false;
      throw toChaosError(err);
    }
  }

  /** The machine frame of a domain's device page ('self': the caller's own). */
  async pageFrame(domid: number | 'self'): Promise<number> {
    const r = await this.call({ op: this.abi.OP_GET, domid: this.domid(domid) });
    return r.frame!;
  }

  /** Adds a device to a domain's page. */
  async add(domid: number, dev: NoxsDevice): Promise<void> {
    await this.call({ op: this.abi.OP_DEV_ADD, domid: this.domid(domid), dev: { ...dev, type: this.typeNumber(dev.type) } });
  }

  /** Removes the device of exactly this type and id. */
  async remove(domid: number, type: NoxsDeviceType, id: number): Promise<void> {
    await this.call({ op: this.abi.OP_DEV_REM, domid: this.domid(domid), dev: { type: this.typeNumber(type), id } });
  }

  /** Every device on a domain's page. */
  async list(domid: number): Promise<NoxsDevice[]> {
    const r = await this.call({ op: this.abi.OP_DEV_ENUM, domid: this.domid(domid), max: this.abi.PAGE_MAX_DEVS });
    return r.devs!.map((d) => this.device(d));
  }

  private async call(req: Omit<DevctlRequest, 'version'>): Promise<DevctlResult> {
    try {
      return await this.native.devctl({ version: this.abi.VERSION, ...req });
    } catch (err) {
      const domid = req.domid === this.abi.DOMID_SELF ? undefined : req.domid;
      if (isNativeError(err) && err.code === 'ENOSYS') {
        throw new ChaosError('NOT_SUPPORTED', 'this hypervisor has no devctl hypercall (noxs): boot the patched Xen that xen-patches/build.sh makes', { domid, cause: err });
      }
      throw toChaosError(err, domid);
    }
  }

  private domid(d: number | 'self'): number {
    if (d === 'self') return this.abi.DOMID_SELF;
    if (!Number.isInteger(d) || d < 0 || d >= this.abi.DOMID_SELF) {
      throw new ChaosError('INTERNAL', `devctl: ${JSON.stringify(d)} is not a domain id`);
    }
    return d;
  }

  private typeNumber(t: NoxsDeviceType): number {
    const n = { power: this.abi.DEV_POWER, vif: this.abi.DEV_VIF, vbd: this.abi.DEV_VBD }[t];
    if (n === undefined) throw new ChaosError('INTERNAL', `devctl: unknown device type ${JSON.stringify(t)} (one of ${TYPES.join(', ')})`);
    return n;
  }

  private device(d: NoxsDevEntry): NoxsDevice {
    const type = ({ [this.abi.DEV_POWER]: 'power', [this.abi.DEV_VIF]: 'vif', [this.abi.DEV_VBD]: 'vbd' } as Record<number, NoxsDeviceType>)[d.type];
    // Xen accepts only these three types, so anything else means the page and this code disagree.
    if (!type) throw new ChaosError('INTERNAL', `devctl: the device page holds an unknown device type ${d.type}`);
    return { type, id: d.id, beDomid: d.beDomid, grant: d.grant, evtchn: d.evtchn };
  }
}
