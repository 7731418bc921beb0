// Test doubles of noxs for unit tests: devctl's device pages and noxsd's devices, with a log of the requests noxsd got.
import { NoxsdError, type NoxsdResponse } from '../../../../toolstack/devices/noxsd-client.js';
import type { DevctlLike } from '../../../../toolstack/devices/noxs-backend.js';
import type { NoxsDevice, NoxsDeviceType } from '../../../../toolstack/xen/devctl.js';
import { ChaosError } from '../../../../toolstack/errors.js';

export class FakeDevctl implements DevctlLike {
  pages = new Map<number, NoxsDevice[]>();
  hasDevctl = true;
  failAddOf?: NoxsDeviceType;
  async available() { return this.hasDevctl; }
  async add(domid: number, dev: NoxsDevice) {
    if (this.failAddOf === dev.type) throw new ChaosError('XEN_CALL', 'devctl failed: ENOSPC', { call: 'devctl', domid });
    const p = this.pages.get(domid) ?? [];
    if (p.some((d) => d.type === dev.type && d.id === dev.id)) throw new ChaosError('XEN_CALL', 'devctl failed: EEXIST', { call: 'devctl' });
    p.push(dev);
    this.pages.set(domid, p);
  }
  async remove(domid: number, type: NoxsDeviceType, id: number) {
    const p = this.pages.get(domid) ?? [];
    const i = p.findIndex((d) => d.type === type && d.id === id);
    if (i < 0) throw new ChaosError('XEN_CALL', 'devctl failed: ENOENT', { call: 'devctl' });
    p.splice(i, 1);
  }
}

export class FakeNoxsd {
  running = true;
  log: string[] = [];
  devices = new Map<string, { grant: number; evtchn: number }>();
  vifs: { domid: number; id: number; mac: string; bridge: string; mtu?: number; ifname?: string }[] = [];
  failVif = false;
  listening = true;
  features = 1;
  private next = 10;
  private down(): void {
    if (!this.running) throw new ChaosError('NOT_SUPPORTED', 'noxs needs noxsd, dom0\'s noxs back-end, and it is not running (ENOENT on /run/lightvm/noxsd.sock)');
  }
  private refuse(op: string, domid: number, err: number, msg: string): never {
    const r: NoxsdResponse = { err, grant: 0, evtchn: 0, seq: 0, beState: 0, feState: 0, feFeatures: 0, ifname: '', msg };
    throw new NoxsdError({ op: op as never, domid }, r);
  }
  async ping() { this.down(); this.log.push('PING'); }
  async powerAdd(domid: number, id: number) {
    this.down(); this.log.push(`POWER_ADD ${domid} ${id}`);
    const d = { grant: this.next++, evtchn: this.next++ };
    this.devices.set(`${domid}/power/${id}`, d);
    return d;
  }
  async vifAdd(domid: number, id: number, v: { mac: string; bridge: string; mtu?: number; ifname?: string }) {
    this.down(); this.log.push(`VIF_ADD ${domid} ${id}`);
    if (this.failVif) this.refuse('VIF_ADD', domid, -19, 'no bridge xenbr9');
    this.vifs.push({ domid, id, ...v });
    const d = { grant: this.next++, evtchn: this.next++ };
    this.devices.set(`${domid}/vif/${id}`, d);
    return { ...d, ifname: v.ifname ?? `vif${domid}.${id}` };
  }
  async domainRem(domid: number) {
    this.down(); this.log.push(`DOMAIN_REM ${domid}`);
    for (const k of [...this.devices.keys()]) if (k.startsWith(`${domid}/`)) this.devices.delete(k);
  }
  async powerReq(domid: number, id: number, req: string) {
    this.down(); this.log.push(`POWER_REQ ${domid} ${id} ${req}`);
    if (!this.listening) this.refuse('POWER_REQ', domid, -107, 'the guest does not listen');
    return 1;
  }
  async status(domid: number, type: string, id: number): Promise<NoxsdResponse> {
    this.down(); this.log.push(`STATUS ${domid} ${type} ${id}`);
    return { err: 0, grant: 0, evtchn: 0, seq: 0, beState: 4, feState: this.listening ? 4 : 1, feFeatures: this.features, ifname: '', msg: '' };
  }
}
