// monitor: one process per host (not one per domain, as xl does) that applies on_poweroff/on_reboot/on_crash when guests shut down.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { CommandModule } from 'yargs';
import { open, type GlobalArgs } from '../context.js';
import { monitorRunning, ShutdownMonitor } from '../../monitor.js';

type Args = GlobalArgs & { 'exit-when-idle': boolean };

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
    if (monitorRunning(a['state-dir'])) { process.stderr.write('chaos: a monitor (or chaosd, which monitors) is already running for this state directory\n'); return; }
    const { ts, xen, log } = await open(a);
    let stop: () => void = () => {};
    const finished = new Promise<void>((resolve) => { stop = resolve; });
    const m = new ShutdownMonitor({ ts, xen, log, stateDir: a['state-dir'], ...(a['exit-when-idle'] ? { onIdle: () => stop() } : {}) });
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (!(await m.start())) {
      process.stderr.write('chaos: a monitor (or chaosd, which monitors) took this state directory first\n');
      await m.stop();
      return;
    }
    log.info({ pid: process.pid }, 'monitor started');
    await finished;
    const pending = m.watchPending;
    await m.stop();
    log.info('monitor stopped');
    // A watch still waiting for xenstored holds a thread that would keep the process alive.
    if (pending) process.exit(0);
  },
};
