// dom0's network plumbing for hotplug: the addon's uevent socket and bridge/link ioctls, typed, plus what sysfs says about interfaces.
import fs from 'node:fs';
import path from 'node:path';
import { loadNet } from './native.js';
import type { NetNative } from './types.js';

export type { NetNative };

/** What the uevent socket hands over: a datagram (with its netlink sender, 0 = the kernel), or a loss of events. */
export type UeventSignal =
  | { kind: 'message'; data: Buffer; senderPid: number }
  | { kind: 'overflow'; code: string }
  | { kind: 'error'; code: string };


/** A uevent socket: call close() to stop it (it keeps the process alive while open). */
export interface UeventSource { close(): void }

/** What xendevd needs of the host: interfaces, bridges, and the kernel's uevents. */
export interface HostNet {
  listen(onSignal: (s: UeventSignal) => void): UeventSource;
  /** True if the network interface exists. */
  exists(ifname: string): boolean;
  /** True if the interface is a bridge. */
  isBridge(ifname: string): boolean;
  /** The bridge (or other master) the interface is enslaved to, if any. */
  master(ifname: string): string | undefined;
  bridgeAddIf(bridge: string, ifname: string): Promise<void>;
  bridgeDelIf(bridge: string, ifname: string): Promise<void>;
  setUp(ifname: string, up: boolean): Promise<void>;
  /** Back-end devices on the xen-backend bus, by their device names ("vif-5-0"). */
  backendDevices(): string[];
}

/** A name Linux accepts for a network interface: 1-15 bytes, no '/', ':' or white space, not "." or "..". */
export function isIfName(s: string): boolean {
  return s.length >= 1 && Buffer.byteLength(s) <= 15 && !/[/:\s\0]/.test(s) && s !== '.' && s !== '..';
}

/** The real host: the addon and sysfs under `sysfs` (default /sys). */
export class LinuxHostNet implements HostNet {
  private readonly net: NetNative;

  constructor(private readonly sysfs = '/sys', net?: NetNative) {
    this.net = net ?? loadNet();
  }

  listen(onSignal: (s: UeventSignal) => void): UeventSource {
    const id = this.net.ueventOpen((kind, data, senderPid) => {
      if (kind === 'message' && Buffer.isBuffer(data)) onSignal({ kind, data, senderPid });
      else if (kind === 'overflow' || kind === 'error') onSignal({ kind, code: String(data) });
    });
    let open = true;
    return { close: () => { if (open) { open = false; this.net.ueventClose(id); } } };
  }

  private netDir(ifname: string): string {
    if (!isIfName(ifname)) throw new Error(`not an interface name: ${JSON.stringify(ifname)}`);
    return path.join(this.sysfs, 'class', 'net', ifname);
  }

  exists(ifname: string): boolean { return isIfName(ifname) && fs.existsSync(this.netDir(ifname)); }
  isBridge(ifname: string): boolean { return isIfName(ifname) && fs.existsSync(path.join(this.netDir(ifname), 'bridge')); }

  master(ifname: string): string | undefined {
    if (!isIfName(ifname)) return undefined;
    try {
      return path.basename(fs.readlinkSync(path.join(this.netDir(ifname), 'master')));
    } catch {
      return undefined;
    }
  }

  bridgeAddIf(bridge: string, ifname: string): Promise<void> { return this.net.netBridgeAddIf(bridge, ifname); }
  bridgeDelIf(bridge: string, ifname: string): Promise<void> { return this.net.netBridgeDelIf(bridge, ifname); }
  setUp(ifname: string, up: boolean): Promise<void> { return this.net.netLinkSetUp(ifname, up); }

  backendDevices(): string[] {
    try {
      return fs.readdirSync(path.join(this.sysfs, 'bus', 'xen-backend', 'devices')).sort();
    } catch {
      return [];
    }
  }
}
