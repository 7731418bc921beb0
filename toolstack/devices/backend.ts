// The device-control back-end: one interface, two strategies (xenstore, noxs), chosen once per domain when it is made.
import type { BuildPvResult } from '../xen/types.js';
import type { DeviceConfig } from './device-plan.js';

export type DevMethod = 'xenstore' | 'noxs';

/** What a back-end knows of an anonymous shell: made for a size class, no name yet. */
export interface ShellSetup {
  domid: number;
  uuid: string;
  /** The method the domain is made with; absent: the back-end's own (DeviceRouter routes by it). */
  devMethod?: DevMethod;
}

/** What a shell is made with, for a back-end that sets up ahead what does not depend on the name or the build. */
export interface ShellLayout {
  memoryKiB: number;
  maxMemoryKiB: number;
  maxVcpus: number;
  consolePort: number;
  storePort: number;
}

/**
 * The devices a back-end made for a shell ahead of time (noxs: its power device, made by noxsd and on
 * its device page). Carried in the Shell, so that a finish in another process (a chaosd worker)
 * adds only the rest.
 */
export interface ShellDevices {
  power?: boolean;
}

/** What a back-end needs to know about a domain it sets up. */
export interface DomainSetup extends ShellSetup {
  name: string;
  memoryKiB: number;
  maxMemoryKiB: number;
  vcpus: number;
  maxVcpus: number;
  /** What the shell already holds (from prepare): not made again. */
  devices?: ShellDevices;
}

/** Event channels allocated for a new domain before it is built. */
export interface BootChannels { consolePort: number; storePort: number }

/** Machine frames of the console and xenstore rings, from a build or a restore. */
export type GuestRings = Pick<BuildPvResult, 'consoleMfn' | 'storeMfn'>;

export type PowerRequest = 'poweroff' | 'reboot' | 'suspend';

export interface DeviceBackend {
  /** The method of this back-end (for a DeviceRouter: the default one). */
  readonly method: DevMethod;
  /** Whether domains of this method can be made here (absent: only `method`). */
  handles?(method: DevMethod): boolean;
  /**
   * Before the build, while the shell is anonymous: the domain's home and control nodes, without a
   * name, and what depends only on the size class and the event channels (`layout`: memory, vCPU,
   * console and store port nodes), so that connect has little left to do per request. Resolves
   * with the devices it made for the shell (noxs: the power device), which addDevices then skips;
   * forget removes them with the rest.
   */
  prepare(d: ShellSetup, layout: ShellLayout): Promise<ShellDevices | void>;
  /**
   * After the build, before unpause: the name, the rings and what prepare did not write (vCPUs
   * the config keeps offline); the guest may start using them.
   */
  connect(d: DomainSetup, ch: BootChannels, rings: GuestRings): Promise<void>;
  /**
   * After connect, before unpause: the domain's network interfaces and disks, both ends in state
   * Initialising, for dom0's netback and blkback to take up. Attaches what a disk needs (a loop
   * device for an image file); on failure leaves nothing behind. Throws CONFIG_INVALID for a bad
   * value or a missing target, NOT_SUPPORTED for what lightvm cannot attach, DEVICE when dom0 fails.
   * `d.devices`: what prepare made already.
   */
  addDevices(d: DomainSetup, cfg: DeviceConfig): Promise<void>;
  /** Asks the guest to power off, reboot or suspend; the guest may ignore it (callers time out). */
  requestPower(domid: number, req: PowerRequest): Promise<void>;
  /** Gives a domain another name (the end of a migration that arrived under a temporary one). */
  rename(domid: number, name: string): Promise<void>;
  /** Whether the guest said it can suspend (Linux and lightvm's runtime do; noop does not); undefined when it cannot be known. */
  canSuspend(domid: number): Promise<boolean | undefined>;
  /** After destroy: removes everything the back-end keeps for the domain, devices' back ends included (and detaches their loop devices). Safe to call twice. */
  forget(domid: number, method?: DevMethod): Promise<void>;
  /** Names of the domains this back-end knows, by domid (includes domains other toolstacks made); only `domids` when given. */
  names(domids?: number[]): Promise<Map<number, string>>;
  /** Whether xenstored answers now (a router that may work without it); absent: XenStore is this back-end's own. */
  xenstoreUp?(): Promise<boolean>;
  /** Requests sent to xenstored so far, by kind (XenStore's op counter); absent for a back-end without XenStore. */
  xsOpCounts?(): Record<string, number>;
  /** Machine frame and event channel of the guest's console ring, if it has one. */
  console(domid: number): Promise<{ mfn: number; port: number; tty?: string } | undefined>;
}
