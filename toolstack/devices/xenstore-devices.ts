// The XenStore layout of PV vif and vbd devices (xenbus.h, netif.h, blkif.h), as xl writes it, with the fewest operations.
import type { XsPerm } from '../xen/types.js';
import type { XsBatch } from '../xen/xenstore.js';
import type { VbdDevice, VifDevice } from './device-plan.js';
import type { OpenedTarget } from './host-block.js';

/** The back ends run in dom0. */
export const BACKEND_DOMID = 0;
/** XenbusStateInitialising: the front and back ends take it from here. */
const INITIALISING = 1;

export const frontendPath = (domid: number, kind: 'vif' | 'vbd', devid: number) => `/local/domain/${domid}/device/${kind}/${devid}`;
/** Every back end of one kind a domain has, under one directory, which forget() removes. */
export const backendDir = (domid: number, kind: 'vif' | 'vbd') => `/local/domain/${BACKEND_DOMID}/backend/${kind}/${domid}`;
export const backendPath = (domid: number, kind: 'vif' | 'vbd', devid: number) => `${backendDir(domid, kind)}/${devid}`;
/** libxl's own record of a device, which `xl network-list`, `xl block-list` and `xl destroy` read. */
export const libxlPath = (domid: number, kind: 'vif' | 'vbd', devid: number) => `/libxl/${domid}/device/${kind}/${devid}`;

/** The back end's directory: dom0 owns it, the guest may read it. */
export const backendPerms = (domid: number): XsPerm[] => [{ domid: BACKEND_DOMID, read: false, write: false }, { domid, read: true, write: false }];
/** The front end's directory: the guest owns it, the back-end domain may read it. */
export const frontendPerms = (domid: number): XsPerm[] => [{ domid, read: false, write: false }, { domid: BACKEND_DOMID, read: true, write: false }];

/**
 * Both ends' directories with the nodes every PV device has. A new node takes its parent's
 * permissions, so setting them on the two directories first covers every node written after.
 */
function common(b: XsBatch, domid: number, kind: 'vif' | 'vbd', devid: number): { fe: string; be: string } {
  const fe = frontendPath(domid, kind, devid), be = backendPath(domid, kind, devid);
  b.mkdir(be).perms(be, backendPerms(domid));
  b.write(`${be}/frontend`, fe).write(`${be}/frontend-id`, domid).write(`${be}/online`, 1).write(`${be}/state`, INITIALISING);
  b.mkdir(fe).perms(fe, frontendPerms(domid));
  b.write(`${fe}/backend`, be).write(`${fe}/backend-id`, BACKEND_DOMID).write(`${fe}/state`, INITIALISING);
  // For xl: network-list and block-list find devices through this record, and xl destroy tears them down from it.
  const lx = libxlPath(domid, kind, devid);
  b.write(`${lx}/frontend`, fe).write(`${lx}/backend`, be);
  return { fe, be };
}

/**
 * A network interface. chaos runs no hotplug script: xendevd bridges the interface and writes
 * `hotplug-status` = connected, which netback waits for before it connects the guest (devices/hotplug.ts).
 * With `markConnected` (no hotplug agent) the back end is marked connected at once instead.
 * `bridge` and `script` are recorded as given (no script: an empty one), for whoever bridges the interface.
 */
export function writeVif(b: XsBatch, domid: number, v: VifDevice, markConnected = false): void {
  const { fe, be } = common(b, domid, 'vif', v.devid);
  b.write(`${be}/handle`, v.devid).write(`${be}/mac`, v.mac).write(`${be}/type`, 'vif');
  if (markConnected) b.write(`${be}/hotplug-status`, 'connected');
  // netback refuses a device without a script node (it passes it to udev); empty means none.
  b.write(`${be}/script`, v.script ?? '');
  if (v.bridge !== undefined) b.write(`${be}/bridge`, v.bridge);
  if (v.vifname !== undefined) b.write(`${be}/vifname`, v.vifname);
  if (v.gatewaydev !== undefined) b.write(`${be}/gatewaydev`, v.gatewaydev);
  if (v.ip !== undefined) b.write(`${be}/ip`, v.ip);
  if (v.rate !== undefined) b.write(`${be}/rate`, v.rate);
  b.write(`${fe}/handle`, v.devid).write(`${fe}/mac`, v.mac);
  // Absent, netfront takes 1500 and trusts its back end: write them only when the config says otherwise.
  if (v.mtu !== undefined) b.write(`${fe}/mtu`, v.mtu).perms(`${fe}/mtu`, backendPerms(domid));
  if (v.trusted !== undefined) b.write(`${fe}/trusted`, v.trusted ? 1 : 0);
  // xl network-list takes the device id and the MAC from libxl's record.
  b.write(`${libxlPath(domid, 'vif', v.devid)}/handle`, v.devid).write(`${libxlPath(domid, 'vif', v.devid)}/mac`, v.mac);
}

/**
 * A block device served by blkback from dom0. `physical-device` is what blkback waits for before it
 * opens the disk; `node` records the loop device made for an image file, which forget() detaches.
 */
export function writeVbd(b: XsBatch, domid: number, v: VbdDevice, opened: OpenedTarget | undefined): void {
  const { fe, be } = common(b, domid, 'vbd', v.devid);
  b.write(`${be}/params`, v.target ?? '').write(`${be}/type`, 'phy').write(`${be}/mode`, v.mode)
    .write(`${be}/device-type`, v.devtype).write(`${be}/removable`, v.devtype === 'cdrom' ? 1 : 0).write(`${be}/dev`, v.vdev);
  if (!v.discard) b.write(`${be}/discard-enable`, 0);
  if (opened?.loop !== undefined) b.write(`${be}/node`, opened.loop);
  // In the same transaction as the rest: blkback's watch never sees a device number without its mode.
  if (opened !== undefined) b.write(`${be}/physical-device`, opened.physicalDevice);
  b.write(`${fe}/virtual-device`, v.devid).write(`${fe}/device-type`, v.devtype);
  if (!v.trusted) b.write(`${fe}/trusted`, 0);
  // libxl rebuilds a disk from its own record and fails on a missing one of these.
  const lx = libxlPath(domid, 'vbd', v.devid);
  b.write(`${lx}/params`, v.target ?? '').write(`${lx}/type`, 'phy').write(`${lx}/mode`, v.mode)
    .write(`${lx}/device-type`, v.devtype).write(`${lx}/removable`, v.devtype === 'cdrom' ? 1 : 0).write(`${lx}/dev`, v.vdev);
}
