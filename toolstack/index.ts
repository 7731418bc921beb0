// libchaos: opens a toolstack (native Xen layer, device back-end chosen once, record store) for programs to use.
import type { Log } from './log.js';
import { Toolstack } from './domain.js';
import { DomainStore } from './store.js';
import { XenStore } from './xen/xenstore.js';
import { XenStoreBackend } from './devices/xenstore-backend.js';
import { LoopHostBlock } from './devices/host-block.js';
import { XendevdHotplug } from './devices/hotplug.js';
import { loadNative, toChaosError } from './xen/native.js';
import { ChaosError } from './errors.js';
import type { XenNative } from './xen/types.js';

export interface OpenOptions {
  /** Where the toolstack keeps its domains' records. */
  stateDir: string;
  log: Log;
  /** The device-control back-end, chosen once for this toolstack. */
  devMethod?: 'xenstore' | 'noxs';
}

export function openToolstack(o: OpenOptions): { ts: Toolstack; xen: XenNative } {
  const method = o.devMethod ?? 'xenstore';
  if (method !== 'xenstore') throw new ChaosError('NOT_SUPPORTED', `device method "${method}" is not available yet: use xenstore`);
  const xen = loadNative();
  const xs = new XenStore(xen);
  const ts = new Toolstack({
    xen, backend: new XenStoreBackend(xs, new LoopHostBlock(), new XendevdHotplug(xs)), store: new DomainStore(o.stateDir), log: o.log,
    wrap: (err, domid) => toChaosError(err, domid),
  });
  return { ts, xen };
}

export { Toolstack } from './domain.js';
export type { DomainSummary, Shell, ShellSize } from './domain.js';
export { shellSizeOf, fitsShell, describeSize } from './domain.js';
export { ChaosError } from './errors.js';
export type { Log } from './log.js';
