#!/usr/bin/env node
// xendevd: dom0's hotplug daemon for vifs; puts each new vif on its bridge with ioctls (no udev, no scripts) and tells XenStore. Exit: 0 ok, 1 failure, 2 usage.
import { pino } from 'pino';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { XenStore } from '../toolstack/xen/xenstore.js';
import { loadNative } from '../toolstack/xen/native.js';
import { LinuxHostNet, isIfName } from '../toolstack/xen/host-net.js';
import type { Log } from '../toolstack/log.js';
import { Xendevd } from './xendevd/policy.js';
import { AlreadyRunning, acquirePidFile } from './xendevd/pidfile.js';

export const XENDEVD_DEFAULTS = { bridge: 'xenbr0', pidFile: '/run/lightvm/xendevd.pid', logLevel: 'info' } as const;

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('xendevd')
    .usage('$0 [options]\n\nIn dom0: puts every new vif on its bridge (the back end\'s `bridge` node, else --bridge),\nbrings it up and writes hotplug-status = connected; undoes it on removal. See docs/xendevd.md.')
    .option('bridge', { type: 'string', default: XENDEVD_DEFAULTS.bridge, describe: 'bridge for vifs whose back end names none' })
    .option('log-level', { type: 'string', default: XENDEVD_DEFAULTS.logLevel, choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] })
    .option('log-file', { type: 'string', describe: 'append JSON logs to this file (default: standard output)' })
    .option('pid-file', { type: 'string', default: XENDEVD_DEFAULTS.pidFile, describe: 'pid file, also a lock: a second xendevd refuses to start' })
    .strict()
    .help()
    .version(false)
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`xendevd: ${msg}\nTry \`xendevd --help\`.\n`);
      process.exit(2);
    })
    .parseAsync();

  if (!isIfName(argv.bridge)) {
    process.stderr.write(`xendevd: --bridge ${JSON.stringify(argv.bridge)} is not an interface name\n`);
    process.exit(2);
  }
  const dest = argv['log-file'] ? pino.destination({ dest: argv['log-file'], append: true, mkdir: true, sync: true }) : pino.destination({ dest: 1, sync: true });
  const log = pino({ name: 'xendevd', level: argv['log-level'], base: { pid: process.pid } }, dest) as unknown as Log;

  let lock: { release(): void };
  try {
    lock = acquirePidFile(argv['pid-file'], 'xendevd');
  } catch (err) {
    const msg = err instanceof AlreadyRunning ? err.message : `cannot write the pid file ${argv['pid-file']}: ${(err as Error).message}`;
    log.fatal(msg);
    process.stderr.write(`xendevd: ${msg}\n`);
    process.exit(1);
  }

  const daemon = new Xendevd(new LinuxHostNet(), new XenStore(loadNative()), { defaultBridge: argv.bridge }, log);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, stats: daemon.stats }, 'stopping');
    await daemon.stop();
    lock.release();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    process.stderr.write(`xendevd: cannot start: ${(err as Error).message}\n`);
    lock.release();
    process.exit(1);
  }
  log.info({ bridge: argv.bridge, pidFile: argv['pid-file'] }, 'xendevd ready');
}

main().catch((err: unknown) => {
  process.stderr.write(`xendevd: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
