// libchaos: opens a toolstack (native Xen layer, device back-end chosen once, record store) for programs to use.
import type { Log } from './log.js';
import { Toolstack } from './domain.js';
import { DomainStore } from './store.js';
import { XenStore } from './xen/xenstore.js';
import { XsWire } from './xen/xs-wire.js';
import { XenStoreBackend } from './devices/xenstore-backend.js';
import { NoxsBackend } from './devices/noxs-backend.js';
import { NoxsdClient } from './devices/noxsd-client.js';
import { DeviceRouter } from './devices/router.js';
import { LoopHostBlock } from './devices/host-block.js';
import { XendevdHotplug } from './devices/hotplug.js';
import { Devctl } from './xen/devctl.js';
import { loadNative, toChaosError } from './xen/native.js';
import { findXenstoredSocket, probeXenstored } from './xen/xenstored-probe.js';
import { ChaosError } from './errors.js';
import type { XenNative } from './xen/types.js';

export interface OpenOptions {
  /** Where the toolstack keeps its domains' records. */
  stateDir: string;
  log: Log;
  /**
   * The device method of shells made without a config (chaosd's pools) and of domains without a
   * record; each domain is made with its config's `dev_method` and keeps it (docs/noxs.md).
   */
  devMethod?: 'xenstore' | 'noxs';
  /** noxsd's socket (default /run/lightvm/noxsd.sock). */
  noxsdSocket?: string;
  /** Bound on each XenStore call, so that a stopped xenstored gives an error instead of a hang. */
  xenstoreTimeoutMs?: number;
}

/** Long enough for a loaded lab under QEMU's emulated CPU, short enough to report a stopped xenstored. */
const XENSTORE_TIMEOUT_MS = 30_000;
const XENSTORE_PROBE_MS = 15_000;
/** When XenStore is optional (names of domains a noxs toolstack did not make): a shorter wait. */
const XENSTORE_OPTIONAL_PROBE_MS = 1_500;

export function openToolstack(o: OpenOptions): { ts: Toolstack; xen: XenNative } {
  const method = o.devMethod ?? 'xenstore';
  if (method !== 'xenstore' && method !== 'noxs') throw new ChaosError('CONFIG_INVALID', `device method ${JSON.stringify(method)}: it is "xenstore" or "noxs"`, { key: 'dev_method' });
  const xen = loadNative();
  // xenstored's socket, spoken to directly, pipelines a batch (LIGHTVM_XS_WIRE=0 keeps libxenstore: for comparison).
  const socket = process.env.LIGHTVM_XS_WIRE !== '0' ? findXenstoredSocket() : undefined;
  const transport = socket ? new XsWire(socket) : undefined;
  const xs = new XenStore(xen, { timeoutMs: o.xenstoreTimeoutMs ?? XENSTORE_TIMEOUT_MS, probe: (ms) => probeXenstored(ms), probeTimeoutMs: XENSTORE_PROBE_MS, transport });
  const store = new DomainStore(o.stateDir);
  const backend = new DeviceRouter({
    defaultMethod: method, store, log: o.log,
    xenstoreReachable: () => xs.reachable(XENSTORE_OPTIONAL_PROBE_MS),
    make: {
      xenstore: () => new XenStoreBackend(xs, new LoopHostBlock(), new XendevdHotplug(xs)),
      noxs: () => new NoxsBackend({
        devctl: () => new Devctl(), noxsd: new NoxsdClient(o.noxsdSocket ? { socket: o.noxsdSocket } : {}), store, log: o.log,
        domainInfo: (first, max) => xen.domainGetInfoList(first, max),
      }),
    },
  });
  const ts = new Toolstack({ xen, backend, store, log: o.log, wrap: (err, domid) => toChaosError(err, domid) });
  return { ts, xen };
}

export { stuckXenStoreCalls } from './xen/xenstore.js';

export { Toolstack } from './domain.js';
export type { DomainSummary, Shell, ShellSize } from './domain.js';
export { shellSizeOf, fitsShell, describeSize } from './domain.js';
export { ChaosError } from './errors.js';
export type { Log } from './log.js';
