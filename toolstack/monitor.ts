// The shutdown monitor: one loop per state directory (in `chaos monitor` or inside chaosd) that applies on_poweroff/on_reboot/on_crash as guests shut down, claimed through a pid file.
import fs from 'node:fs';
import path from 'node:path';
import type { Toolstack } from './domain.js';
import type { Log } from './log.js';
import type { XenNative } from './xen/types.js';

/** Xen and xenstored fire this watch whenever a domain shuts down or dies. */
const RELEASE = '@releaseDomain';
/** A safety net in case a watch event is missed (a xenstored restart), and the only signal without xenstored. */
const POLL_MS = 5000;
/** The programs that may hold the claim (what their command line holds). */
const HOLDERS = ['monitor', 'chaosd'];

export function monitorPidFile(stateDir: string): string {
  return path.join(stateDir, 'monitor.pid');
}

/** The pid of the live process that holds the claim for this state directory, if any. */
export function monitorHolder(stateDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(monitorPidFile(stateDir), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return HOLDERS.some((h) => cmd.includes(h)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True when a monitor (or a chaosd, which monitors) runs for this state directory. */
export function monitorRunning(stateDir: string): boolean {
  return monitorHolder(stateDir) !== undefined;
}

/** Takes the claim if nobody live holds it: the pid file made exclusively, a stale one replaced. */
function claim(stateDir: string): boolean {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = monitorPidFile(stateDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = monitorHolder(stateDir);
      if (holder === process.pid) return true;
      if (holder !== undefined) return false;
      fs.rmSync(file, { force: true });
    }
  }
  return false;
}

export interface MonitorOptions {
  ts: Toolstack;
  xen: Pick<XenNative, 'xsWatch' | 'xsUnwatch'>;
  log: Log;
  stateDir: string;
  /** Called after a sweep finds no domain made by this toolstack (`chaos monitor --exit-when-idle`). */
  onIdle?: () => void;
  pollMs?: number;
}

/**
 * Applies shutdown actions while it holds the state directory's claim. A process that finds the
 * claim taken (a `chaos monitor` started by a create) tries again at every poll, so that when that
 * monitor exits, this one takes over and no shutdown goes unhandled.
 */
export class ShutdownMonitor {
  private holding = false;
  private busy = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private watch: number | undefined;
  private watching = false;
  private stopped = false;

  constructor(private readonly o: MonitorOptions) {}

  /** Whether this process applies the actions now. */
  get holds(): boolean { return this.holding; }
  /** A watch call still waiting for xenstored (it holds a thread that keeps the process alive). */
  get watchPending(): boolean { return this.watching; }

  /** Starts the loop; returns whether the claim was taken now (else it is tried again at each poll). */
  async start(): Promise<boolean> {
    this.holding = claim(this.o.stateDir);
    this.timer = setInterval(() => { void this.sweep(); }, this.o.pollMs ?? POLL_MS);
    // The watch only makes the loop quicker: without xenstored (noxs domains) it polls, and the
    // watch, whose call would not return, is not waited for.
    this.watching = true;
    void this.o.xen.xsWatch(RELEASE, `chaos-monitor-${process.pid}`, () => { void this.sweep(); })
      .then((id) => { if (this.stopped) void this.o.xen.xsUnwatch(id).catch(() => undefined); else this.watch = id; },
        (err: Error) => this.o.log.warn({ err: err.message }, `no XenStore watch for shutdowns (polling every ${(this.o.pollMs ?? POLL_MS) / 1000} s)`))
      .finally(() => { this.watching = false; });
    await this.sweep();
    return this.holding;
  }

  /** One pass: every domain of ours that has shut down gets its action. */
  async sweep(): Promise<void> {
    if (this.stopped) return;
    if (!this.holding) {
      this.holding = claim(this.o.stateDir);
      if (!this.holding) return;
      this.o.log.info('took over applying shutdown actions (the monitor that held them is gone)');
    }
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    try {
      do {
        this.again = false;
        for (const d of await this.o.ts.applyShutdownActions()) this.o.log.info(d, `applied ${d.action} after ${d.reason}`);
      } while (this.again && !this.stopped);
      if (this.o.onIdle && (await this.o.ts.list()).every((d) => !this.o.ts.record(d.domid))) this.o.onIdle();
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'applying shutdown actions failed');
    } finally {
      this.busy = false;
    }
  }

  /** Stops the loop and gives the claim up. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.watch !== undefined) await this.o.xen.xsUnwatch(this.watch).catch(() => undefined);
    if (this.holding && monitorHolder(this.o.stateDir) === process.pid) fs.rmSync(monitorPidFile(this.o.stateDir), { force: true });
    this.holding = false;
  }
}
