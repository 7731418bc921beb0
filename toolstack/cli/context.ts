// What every chaos command shares: options common to all, the logger, and the toolstack opened on first use.
import fs from 'node:fs';
import type { Argv } from 'yargs';
import type { Logger } from 'pino';
import type { Toolstack } from '../domain.js';
import type { XenNative } from '../xen/types.js';

export interface GlobalArgs {
  'log-level': string;
  'log-file'?: string;
  'state-dir': string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function globalOptions<T>(y: Argv<T>) {
  return y
    .option('log-level', { type: 'string', choices: LOG_LEVELS, default: 'warn', describe: 'log level (JSON logs on stderr or --log-file)' })
    .option('log-file', { type: 'string', describe: 'append JSON logs to this file instead of stderr' })
    .option('state-dir', { type: 'string', default: '/var/lib/lightvm', describe: "where the toolstack keeps its domains' records" });
}

let opened: { ts: Toolstack; xen: XenNative; log: Logger } | undefined;

/** Opens the toolstack once per process; modules load here, so `--help` stays fast. */
export async function open(a: GlobalArgs): Promise<{ ts: Toolstack; xen: XenNative; log: Logger }> {
  if (opened) return opened;
  const [{ pino }, { openToolstack }] = await Promise.all([import('pino'), import('../index.js')]);
  const dest = a['log-file'] ? pino.destination({ dest: a['log-file'], append: true, mkdir: true, sync: true }) : pino.destination({ dest: 2, sync: true });
  const log = pino({ level: a['log-level'], base: { pid: process.pid } }, dest);
  const { ts, xen } = openToolstack({ stateDir: a['state-dir'], log });
  opened = { ts, xen, log };
  return opened;
}

/** Prints data as JSON (with --json) or as the text `human` makes. */
export function print(json: boolean | undefined, data: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(data, null, 2) + '\n' : human());
}

export function readable(path: string): boolean {
  try { fs.accessSync(path, fs.constants.R_OK); return true; } catch { return false; }
}
