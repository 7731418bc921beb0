#!/usr/bin/env node
// `chaos`: the lightvm command line, in the spirit of xl. Exit codes: 0 success, 1 failure, 2 bad usage.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { globalOptions, mark, stuckNativeCalls } from './context.js';
import { create } from './commands/create.js';
import { destroy, pause, unpause } from './commands/simple.js';
import { reboot, shutdown } from './commands/shutdown.js';
import { list } from './commands/list.js';
import { info } from './commands/info.js';
import { console as consoleCmd } from './commands/console.js';
import { monitor } from './commands/monitor.js';
import { restore, save } from './commands/save.js';
import { migrate, migrateReceive } from './commands/migrate.js';
import { pools } from './commands/pools.js';

function fail(message: string, code: number): void {
  process.stderr.write(`chaos: ${message}\n`);
  process.exitCode = code;
}

/**
 * yargs renders the whole help text after starting any command's handler, in case the handler
 * asks for it; ours never do (usage errors print one line), and the rendering (string widths of
 * every row) is a good part of a command's start-up under an emulated CPU. Without the hook (a
 * future yargs), help is rendered as before.
 */
function skipHelpCache(y: Argv): void {
  const usage = (y as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: unknown } } }).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

async function main(): Promise<void> {
  mark('modules evaluated');
  const y = yargs(hideBin(process.argv));
  skipHelpCache(y);
  await globalOptions(y)
    .scriptName('chaos')
    .usage('$0 <command> [options]\n\nCreate, inspect and control Xen domains (lightvm).')
    .command(create).command(destroy).command(shutdown).command(reboot).command(pause).command(unpause)
    .command(list).command(info).command(consoleCmd).command(save).command(restore).command(migrate).command(migrateReceive).command(monitor).command(pools)
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .strict()
    .help()
    .version(false)
    .middleware(() => mark('arguments parsed'))
    .fail((msg, err) => {
      if (err) throw err;
      fail(`${msg}\nTry \`chaos --help\`.`, 2);
      process.exit(2);
    })
    .parseAsync();
}

process.once('exit', () => mark('exit'));
main().catch((err: unknown) => {
  const e = err as { code?: string; usage?: boolean; message?: string };
  if (e.usage) fail(e.message ?? String(err), 2);
  else if (e && typeof e.code === 'string' && (err as Error).name === 'ChaosError') fail(`${e.message} [${e.code}]`, 1);
  else fail((err as Error)?.stack ?? String(err), 1);
}).finally(async () => {
  // A XenStore call that timed out (xenstored stopped) still holds a thread: exit rather than wait for it.
  if (await stuckNativeCalls()) process.exit();
});
