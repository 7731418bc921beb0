// What every chaos command shares: options common to all, the logger, and the toolstack opened on first use.
import type { Argv } from 'yargs';
import { createRequire } from 'node:module';
import type { Log, LogFn } from '../log.js';
import type { Toolstack } from '../domain.js';
import type { XenNative } from '../xen/types.js';

export interface GlobalArgs {
  'log-level': string;
  'log-file'?: string;
  'state-dir': string;
  /** false with --no-daemon: never ask chaosd, use the in-process toolstack. */
  daemon: boolean;
  'chaosd-socket': string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function globalOptions<T>(y: Argv<T>) {
  return y
    .option('log-level', { type: 'string', choices: LOG_LEVELS, default: 'warn', describe: 'log level (JSON logs on stderr or --log-file)' })
    .option('log-file', { type: 'string', describe: 'append JSON logs to this file instead of stderr' })
    .option('state-dir', { type: 'string', default: '/var/lib/lightvm', describe: "where the toolstack keeps its domains' records" })
    .option('daemon', { type: 'boolean', default: true, describe: 'use chaosd when its socket is there (--no-daemon: always the in-process toolstack)' })
    .option('chaosd-socket', { type: 'string', default: '/run/lightvm/chaosd.sock', describe: "chaosd's API socket" });
}

const TIMES = process.env.LIGHTVM_CLI_TIMES === '1';

/**
 * With LIGHTVM_CLI_TIMES=1, writes `chaos-time <ms since the process started> <what>` to stderr:
 * where a command's start-up goes (docs/chaos.md); nothing otherwise.
 */
export function mark(what: string): void {
  if (TIMES) process.stderr.write(`chaos-time ${performance.now().toFixed(1)} ${what}\n`);
}

let opened: { ts: Toolstack; xen: XenNative; log: Log } | undefined;

/** Opens the toolstack once per process; modules load here, so `--help` stays fast. */
export async function open(a: GlobalArgs): Promise<{ ts: Toolstack; xen: XenNative; log: Log }> {
  if (opened) return opened;
  const { openToolstack } = await import('../index.js');
  const log = lazyLogger(a['log-level'], a['log-file']);
  const { ts, xen } = openToolstack({ stateDir: a['state-dir'], log });
  mark('toolstack opened');
  opened = { ts, xen, log };
  return opened;
}

/** Whether a native call of the opened toolstack gave up waiting and still runs (then the process must exit by itself). */
export async function stuckNativeCalls(): Promise<boolean> {
  if (!opened) return false;
  const { stuckXenStoreCalls } = await import('../index.js');
  return stuckXenStoreCalls() > 0;
}

const LEVEL_VALUES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/**
 * A logger that loads pino only when a record at an enabled level is written: most commands log
 * nothing at the default level, and loading pino is a good part of a command's start-up.
 */
export function lazyLogger(level: string, file?: string, bindings: Record<string, unknown> = {}, root?: { get(): Log }): Log {
  const base = root ?? (() => {
    let real: Log | undefined;
    return {
      get(): Log {
        if (!real) {
          const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
          const dest = file ? pino.destination({ dest: file, append: true, mkdir: true, sync: true }) : pino.destination({ dest: 2, sync: true });
          real = pino({ level, base: { pid: process.pid } }, dest) as unknown as Log;
        }
        return real;
      },
    };
  })();
  const min = LEVEL_VALUES[level] ?? LEVEL_VALUES.warn;
  const at = (name: keyof typeof LEVEL_VALUES): LogFn => (obj, msg) => {
    if (LEVEL_VALUES[name] < min) return;
    const l = Object.keys(bindings).length ? base.get().child(bindings) : base.get();
    (l[name as 'info'] as LogFn)(obj, msg);
  };
  return {
    child: (b) => lazyLogger(level, file, { ...bindings, ...b }, base),
    trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal'),
  };
}

/** Prints data as JSON (with --json) or as the text `human` makes. */
export function print(json: boolean | undefined, data: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(data, null, 2) + '\n' : human());
}
