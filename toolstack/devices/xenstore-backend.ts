// Device control over XenStore: the nodes stock guests, xenconsoled and xl read, written in the fewest operations and round trips.
import type { XsPerm } from '../xen/types.js';
import { ChaosError } from '../errors.js';
import { XenStore } from '../xen/xenstore.js';
import type { BootChannels, DeviceBackend, DomainSetup, GuestRings, PowerRequest, ShellLayout, ShellSetup } from './backend.js';
import { planVbds, planVifs, type DeviceConfig } from './device-plan.js';
import { LOOP_RE, LoopHostBlock, type HostBlock, type OpenedTarget } from './host-block.js';
import { backendDir, backendPath, writeVbd, writeVif } from './xenstore-devices.js';
import { NoHotplug, type VifHotplug } from './hotplug.js';

const DOM0 = 0;
/** The ring size xenconsoled may buffer for a guest (its `limit` node), bytes. */
const CONSOLE_LIMIT = 1 << 20;

const home = (domid: number) => `/local/domain/${domid}`;

/** dom0 owns it, the guest may read it. */
const readOnly = (domid: number): XsPerm[] => [{ domid: DOM0, read: false, write: false }, { domid, read: true, write: false }];
/** The guest owns it (owner has every right), nobody else but dom0. */
const guestOwned = (domid: number): XsPerm[] => [{ domid, read: false, write: false }];

export class XenStoreBackend implements DeviceBackend {
  readonly method = 'xenstore' as const;

  constructor(private readonly xs: XenStore, private readonly block: HostBlock = new LoopHostBlock(),
    private readonly hotplug: VifHotplug = new NoHotplug()) {}

  async prepare(d: ShellSetup, l: ShellLayout): Promise<void> {
    const h = home(d.domid), vm = `/vm/${d.uuid}`;
    // What a shell needs (docs/xenstore.md lists every node and its reader), outside a transaction and in
    // one round trip: nothing reads a shell's nodes before connect names it and introduces it, and a
    // failed create removes them all (forget). A fresh domain id and uuid: forget() removed whatever an
    // earlier domain with this id left. Order matters: a node takes its parent's permissions when it
    // is made, so the home's permissions (the guest reads, dom0 writes) cover every node written after,
    // without a mkdir or permission of its own.
    await this.xs.pipeline((b) => {
      b.mkdir(h).perms(h, readOnly(d.domid));
      b.write(`${h}/domid`, d.domid).write(`${h}/vm`, vm);
      // /vm/<uuid>: xl uptime reads its start time, xl destroy removes it; nothing in a guest reads it.
      b.write(`${vm}/start_time`, (Date.now() / 1000).toFixed(2));
      // control: dom0's platform flag first (it stays read-only to the guest), then the directory is the
      // guest's, so that what is made in it later is too: the guest's feature flags, and control/shutdown
      // and control/sysrq, which the toolstack (or xl) writes and the guest clears to acknowledge.
      b.write(`${h}/control/platform-feature-multiprocessor-suspend`, 1).perms(`${h}/control`, guestOwned(d.domid));
      // Where a guest writes of its own accord: its data, and the errors Linux's xenbus reports.
      for (const dir of ['data', 'error']) b.mkdir(`${h}/${dir}`).perms(`${h}/${dir}`, guestOwned(d.domid));
      // What depends only on the size class and the event channels, written now so that a create's
      // connect has only the name and the rings left. A shell is no one's domain yet: xenconsoled
      // skips it until its console has a ring-ref (connect writes it), and xenstored until it is introduced.
      b.write(`${h}/memory/static-max`, l.maxMemoryKiB).write(`${h}/memory/target`, l.memoryKiB);
      for (let i = 0; i < l.maxVcpus; i++) b.write(`${h}/cpu/${i}/availability`, 'online');
      b.write(`${h}/store/port`, l.storePort);
      b.write(`${h}/console/port`, l.consolePort).write(`${h}/console/limit`, CONSOLE_LIMIT);
    });
  }

  async connect(d: DomainSetup, ch: BootChannels, built: GuestRings): Promise<void> {
    const h = home(d.domid), vm = `/vm/${d.uuid}`;
    // prepare wrote the memory, vCPU, port and console nodes of the size class (the memory target is
    // the class's: a config finishes only a shell of its own size). The rings, then the introduction,
    // in one round trip: xenstored applies a connection's requests in order, so the domain is
    // introduced (and xenconsoled told, by @introduceDomain) once its nodes are there.
    try {
      await this.xs.pipeline((b) => {
        b.write(`${h}/name`, d.name).write(`${vm}/name`, d.name);
        for (let i = d.vcpus; i < d.maxVcpus; i++) b.write(`${h}/cpu/${i}/availability`, 'offline');
        b.write(`${h}/store/ring-ref`, built.storeMfn).write(`${h}/console/ring-ref`, built.consoleMfn);
        b.introduce(d.domid, built.storeMfn, ch.storePort);
      });
    } catch (err) {
      if ((err as { call?: string }).call !== 'xs_introduce_domain') throw err;
      throw new ChaosError('XENSTORE', `xenstored did not take domain ${d.domid} (is xenstored running?)`, { cause: err, domid: d.domid });
    }
  }

  async requestPower(domid: number, req: PowerRequest): Promise<void> {
    await this.xs.write(`${home(domid)}/control/shutdown`, req);
  }

  async rename(domid: number, name: string): Promise<void> {
    const vm = await this.xs.read(`${home(domid)}/vm`);
    await this.xs.transaction((b) => {
      b.write(`${home(domid)}/name`, name);
      if (vm && /^\/vm\/[0-9a-f-]{36}$/.test(vm)) b.write(`${vm}/name`, name);
    });
  }

  async canSuspend(domid: number): Promise<boolean | undefined> {
    // Linux writes control/feature-suspend when it can suspend; a guest that writes nothing may still.
    const v = await this.xs.read(`${home(domid)}/control/feature-suspend`);
    return v === undefined || v === '' ? undefined : v === '1';
  }

  async addDevices(d: DomainSetup, cfg: DeviceConfig): Promise<void> {
    const vifs = planVifs(d.uuid, cfg.vifs);
    const vbds = planVbds(cfg.disks);
    if (vifs.length === 0 && vbds.length === 0) return;
    await this.hotplug.check(d.domid, vifs);
    // Disks' targets first (a loop device for a file), all at once; then every node in one transaction.
    const opened = await Promise.allSettled(vbds.map((v) => (v.target === undefined ? undefined : this.block.open(v.target, v.mode === 'r'))));
    const loops = opened.flatMap((o) => (o.status === 'fulfilled' && o.value?.loop !== undefined ? [o.value.loop] : []));
    try {
      const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) throw failed.reason;
      const targets = opened.map((o) => (o as PromiseFulfilledResult<OpenedTarget | undefined>).value);
      await this.xs.transaction((b) => {
        for (const v of vifs) writeVif(b, d.domid, v, this.hotplug.marksConnected);
        vbds.forEach((v, i) => writeVbd(b, d.domid, v, targets[i]));
      });
    } catch (err) {
      // No node records these loop devices yet, so forget() could not find them: detach them here.
      await Promise.all(loops.map((l) => this.block.release(l).catch(() => undefined)));
      throw err;
    }
    // Before the guest runs, as xl waits for its hotplug scripts: its network is on the bridge when it boots.
    await this.hotplug.wait(d.domid, vifs, (devid) => backendPath(d.domid, 'vif', devid));
  }

  async forget(domid: number): Promise<void> {
    // XenStore refuses to remove a node whose parent is missing: what may be missing with its parent
    // is read first (one round trip). The home's parent, /local/domain, is always there: it is removed
    // without a look (removing a missing node whose parent is there succeeds).
    const [vm, libxlDir, vifDir, vbdDir] = await this.xs.batch((b) => b.read(`${home(domid)}/vm`)
      .directory(`/libxl/${domid}`).directory(backendDir(domid, 'vif')).directory(backendDir(domid, 'vbd')));
    // The loop devices made for image files, recorded in their back ends (only disks have a second read).
    const vbds = Array.isArray(vbdDir) ? (vbdDir as string[]).filter((x) => /^\d+$/.test(x)) : [];
    const nodes = vbds.length ? await this.xs.batch((b) => { for (const v of vbds) b.read(`${backendDir(domid, 'vbd')}/${v}/node`); }) : [];
    const paths = [
      ...(typeof vm === 'string' && /^\/vm\/[0-9a-f-]{36}$/.test(vm) ? [vm] : []),
      home(domid),
      ...(Array.isArray(libxlDir) ? [`/libxl/${domid}`] : []),
      // Removing the back ends is what makes netback and blkback in dom0 tear the devices down.
      ...(Array.isArray(vifDir) ? [backendDir(domid, 'vif')] : []),
      ...(Array.isArray(vbdDir) ? [backendDir(domid, 'vbd')] : []),
    ];
    // Each removal stands on its own (a domain that is gone has no reader of a half-removed tree): one round trip, no transaction.
    await this.xs.pipeline((b) => { for (const p of paths) b.rm(p); });
    // blkback may still hold a loop device: the kernel then detaches it when blkback lets go.
    const loops = nodes.filter((n): n is string => typeof n === 'string' && LOOP_RE.test(n));
    const failed = (await Promise.allSettled(loops.map((l) => this.block.release(l)))).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** The requests this back-end's XenStore client has sent, by kind (for tests and a create's debug log). */
  xsOpCounts(): Record<string, number> {
    return this.xs.opCounts();
  }

  async names(domids?: number[]): Promise<Map<number, string>> {
    const ids = domids ?? (await this.xs.directory('/local/domain')).map(Number).filter((n) => Number.isInteger(n) && n >= 0);
    const values = await this.xs.batch((b) => { for (const id of ids) b.read(`${home(id)}/name`); });
    const out = new Map<number, string>();
    ids.forEach((id, i) => { if (typeof values[i] === 'string') out.set(id, values[i] as string); });
    return out;
  }

  async console(domid: number): Promise<{ mfn: number; port: number; tty?: string } | undefined> {
    const [ref, port, tty] = await this.xs.batch((b) => b.read(`${home(domid)}/console/ring-ref`).read(`${home(domid)}/console/port`).read(`${home(domid)}/console/tty`));
    if (typeof ref !== 'string' || typeof port !== 'string') return undefined;
    return { mfn: Number(ref), port: Number(port), ...(typeof tty === 'string' && tty ? { tty } : {}) };
  }
}
