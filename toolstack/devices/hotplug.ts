// Who finishes a vif's hotplug (bridge, hotplug-status) for chaos: xendevd, waited for with a bound, or nobody (the toolstack marks it done).
import fs from 'node:fs';
import { ChaosError } from '../errors.js';
import type { XenStore } from '../xen/xenstore.js';
import type { VifDevice } from './device-plan.js';

/** Where xendevd writes its pid (daemon/xendevd.ts --pid-file; docs/xendevd.md). */
export const XENDEVD_PID_FILE = '/run/lightvm/xendevd.pid';
/** The scripts whose work xendevd does (kept in step with daemon/xendevd/policy.ts by a unit test). */
export const XENDEVD_SCRIPTS = ['vif-xendevd'];

/** The pid a pid file names, if that process is alive and its command line mentions `marker`. */
export function livePid(file: string, marker: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const pid = Number(text);
  if (pid <= 1) return undefined;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface VifHotplug {
  /** True: the toolstack writes `hotplug-status = connected` itself with the back end (nobody bridges). */
  readonly marksConnected: boolean;
  /** Before any back end is written: throws if nothing would finish these vifs. */
  check(domid: number, vifs: readonly VifDevice[]): Promise<void>;
  /** After the back ends are written: resolves once every vif is connected; throws DEVICE on an error or when time runs out. */
  wait(domid: number, vifs: readonly VifDevice[], backendPath: (devid: number) => string): Promise<void>;
}

/** No hotplug agent: the back ends are marked connected at once and no vif is bridged (the test double's hosts). */
export class NoHotplug implements VifHotplug {
  readonly marksConnected = true;
  async check(): Promise<void> {}
  async wait(): Promise<void> {}
}

export interface XendevdHotplugOptions {
  pidFile?: string;
  /** What the live process's command line must mention (tests name their own process). */
  marker?: string;
  /** How long a vif may take to be connected; generous, since the lab's emulated CPU is slow. */
  timeoutMs?: number;
}

/**
 * xendevd finishes each vif, as udev and vif-bridge do for xl: chaos checks that it runs before
 * writing any back end (a clear error instead of a guest whose network never comes up), then
 * waits for its `hotplug-status` (connected, or error with xendevd's `hotplug-error`).
 */
export class XendevdHotplug implements VifHotplug {
  readonly marksConnected = false;
  private readonly pidFile: string;
  private readonly timeoutMs: number;
  private readonly marker: string;

  constructor(private readonly xs: XenStore, o: XendevdHotplugOptions = {}) {
    this.pidFile = o.pidFile ?? XENDEVD_PID_FILE;
    this.timeoutMs = o.timeoutMs ?? 60_000;
    this.marker = o.marker ?? 'xendevd';
  }

  async check(domid: number, vifs: readonly VifDevice[]): Promise<void> {
    if (vifs.length === 0) return;
    for (const v of vifs) {
      const base = v.script?.trim().split('/').pop() ?? '';
      if (v.script !== undefined && v.script.trim() !== '' && !XENDEVD_SCRIPTS.includes(base)) {
        throw new ChaosError('NOT_SUPPORTED', `vif ${v.devid}: script ${JSON.stringify(v.script)}: chaos runs no hotplug scripts (xendevd bridges the vif): leave script out`, { domid });
      }
    }
    if (livePid(this.pidFile, this.marker) === undefined) {
      throw new ChaosError('DEVICE', `a vif needs xendevd to put it on its bridge, and xendevd is not running (no live xendevd in ${this.pidFile}): start it (docs/xendevd.md)`, { domid });
    }
  }

  async wait(domid: number, vifs: readonly VifDevice[], backendPath: (devid: number) => string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    let pending = [...vifs];
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      const status = await this.xs.batch((b) => { for (const v of pending) b.read(`${backendPath(v.devid)}/hotplug-status`); });
      const left: VifDevice[] = [];
      for (let i = 0; i < pending.length; i++) {
        const s = status[i];
        if (s === 'connected') continue;
        if (s === 'error') {
          const why = await this.xs.read(`${backendPath(pending[i].devid)}/hotplug-error`);
          throw new ChaosError('DEVICE', `vif ${pending[i].devid}: xendevd could not connect it: ${why ?? 'no reason given'}`, { domid });
        }
        left.push(pending[i]);
      }
      pending = left;
      if (pending.length === 0) return;
      if (Date.now() > deadline) {
        const alive = livePid(this.pidFile, this.marker) !== undefined;
        throw new ChaosError('TIMEOUT', `vif ${pending.map((v) => v.devid).join(', ')}: not connected by xendevd within ${this.timeoutMs / 1000} s${alive ? '' : ' (xendevd is no longer running)'}; see xendevd's log`, { domid });
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
