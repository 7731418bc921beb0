// monitor: one process per host (not one per domain, as xl does) that applies on_poweroff/on_reboot/on_crash when guests shut down.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { CommandModule } from 'yargs';
import { open, type GlobalArgs } from '../context.js';

type Args = GlobalArgs & { 'exit-when-idle': boolean };

/** Xen and xenstored fire this watch whenever a domain shuts down or dies. */
const RELEASE = '@releaseDomain';
/** A safety net in case a watch event is missed (for instance across a xenstored restart). */
const POLL_MS = 5000;

function pidFile(stateDir: string): string {
  return path.join(stateDir, 'monitor.pid');
}

/** True when a monitor for this state directory is alive. */
export function monitorRunning(stateDir: string): boolean {
  try {
    const pid = Number(fs.readFileSync(pidFile(stateDir), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('monitor');
  } catch {
    return false;
  }
}

/** Starts a detached monitor unless one runs already; its logs go to <state-dir>/monitor.log. */
export function ensureMonitor(a: GlobalArgs): void {
  if (monitorRunning(a['state-dir'])) return;
  fs.mkdirSync(a['state-dir'], { recursive: true, mode: 0o700 });
  // Required here: only a create that starts the monitor needs child_process, not every command's start-up.
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const child = spawn(process.execPath, [process.argv[1], '--state-dir', a['state-dir'], '--log-level', 'info',
    '--log-file', path.join(a['state-dir'], 'monitor.log'), 'monitor', '--exit-when-idle'], { detached: true, stdio: 'ignore' });
  child.unref();
}

export const monitor: CommandModule<GlobalArgs, Args> = {
  command: 'monitor',
  describe: 'apply on_poweroff/on_reboot/on_crash as guests shut down (create starts one when needed)',
  builder: (y) => y.option('exit-when-idle', { type: 'boolean', default: false, describe: 'exit once no domain made by chaos is left' }) as never,
  handler: async (a) => {
    if (monitorRunning(a['state-dir'])) { process.stderr.write('chaos: a monitor is already running for this state directory\n'); return; }
    const { ts, xen, log } = await open(a);
    fs.mkdirSync(a['state-dir'], { recursive: true, mode: 0o700 });
    fs.writeFileSync(pidFile(a['state-dir']), String(process.pid));
    let busy = false, again = false;
    let stop: () => void = () => {};
    const finished = new Promise<void>((resolve) => { stop = resolve; });
    const sweep = async () => {
      if (busy) { again = true; return; }
      busy = true;
      try {
        do {
          again = false;
          for (const d of await ts.applyShutdownActions()) log.info(d, `applied ${d.action} after ${d.reason}`);
        } while (again);
        if (a['exit-when-idle'] && (await ts.list()).every((d) => !ts.record(d.domid))) stop();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'applying shutdown actions failed');
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => { void sweep(); }, POLL_MS);
    // The watch only makes the monitor quicker: without xenstored (noxs domains) it polls, and the
    // watch, whose call would not return, is not waited for.
    let watch: number | undefined;
    let watching = true;
    void xen.xsWatch(RELEASE, 'chaos-monitor', () => { void sweep(); })
      .then((id) => { watch = id; }, (err: Error) => log.warn({ err: err.message }, `no XenStore watch (polling every ${POLL_MS / 1000} s)`))
      .finally(() => { watching = false; });
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    log.info({ pid: process.pid }, 'monitor started');
    await sweep();
    await finished;
    clearInterval(timer);
    if (watch !== undefined) await xen.xsUnwatch(watch).catch(() => undefined);
    fs.rmSync(pidFile(a['state-dir']), { force: true });
    log.info('monitor stopped');
    // A watch still waiting for xenstored holds a thread that would keep the process alive.
    if (watching) process.exit(0);
  },
};
