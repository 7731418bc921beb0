// Shared by the dom0 benchmark scripts: their arguments, their JSON-line output, and a noop guest made and awaited through libchaos.
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { openToolstack } from '../../toolstack/index.js';
import { parseXlConfig } from '../../toolstack/config/index.js';

export const CONSOLE_DIR = '/var/log/xen/console';
export const STATE_DIR = '/var/lib/lightvm-bench';
const MARK = 'LIGHTVM-READY';

/** `--key value` from argv, or the default; a missing required one is an error. */
export function arg(argv: readonly string[], key: string, dflt?: string): string {
  const i = argv.indexOf(`--${key}`);
  if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
  if (dflt === undefined) throw new Error(`--${key} is required`);
  return dflt;
}

/** A whole number in [min, max] from `--key`, or a clear error. */
export function intArg(argv: readonly string[], key: string, dflt: number, min: number, max: number): number {
  const v = Number(arg(argv, key, String(dflt)));
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${key} takes a whole number from ${min} to ${max}`);
  return v;
}

export const emit = (m: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(m) + '\n'); };
export const progress = (message: string): void => emit({ kind: 'progress', message });
export const step = (done: number, total: number): void => emit({ kind: 'step', done, total });

let opened: ReturnType<typeof openToolstack> | undefined;
/** libchaos in this process, as chaosd uses it (opened once: the addon loads once). */
export function toolstack(): ReturnType<typeof openToolstack> {
  opened ??= openToolstack({ stateDir: STATE_DIR, log: pino({ level: 'warn' }, pino.destination(2)) });
  return opened;
}

export function noopConfigText(name: string, kernel: string, memoryMiB: number): string {
  return `name="${name}"\ntype="pv"\nkernel="${kernel}"\nmemory=${memoryMiB}\nvcpus=1\n`;
}

/** Writes the config to /tmp/<name>.cfg (for xl and the chaos command) and returns its path. */
export function writeConfig(name: string, text: string): string {
  const file = `/tmp/${name}.cfg`;
  fs.writeFileSync(file, text);
  return file;
}

export function parseConfig(text: string) { return parseXlConfig(text, 'bench.cfg'); }

/** Waits until the guest's console log shows its ready mark. */
export async function waitReady(name: string, timeoutMs = 120_000): Promise<void> {
  const file = path.join(CONSOLE_DIR, `guest-${name}.log`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { if (fs.readFileSync(file, 'latin1').includes(MARK)) return; } catch { /* not written yet */ }
    if (Date.now() > deadline) throw new Error(`${name}: no ready mark within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function forgetConsole(name: string): void {
  fs.rmSync(path.join(CONSOLE_DIR, `guest-${name}.log`), { force: true });
}
