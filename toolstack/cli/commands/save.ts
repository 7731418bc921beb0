// save and restore: a domain to a file and back (xl's save/restore, with lightvm's own image format).
import fs from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { open, type GlobalArgs } from '../context.js';
import { daemon } from '../daemon.js';

type SaveArgs = GlobalArgs & { domain: string; file: string; checkpoint?: boolean; live?: boolean; timeout: number; json?: boolean };
type RestoreArgs = GlobalArgs & { file: string; paused?: boolean; name?: string; json?: boolean; monitor: boolean; 'dev-method'?: 'xenstore' | 'noxs' };

export const save: CommandModule<GlobalArgs, SaveArgs> = {
  command: 'save <domain> <file>',
  describe: "save a domain's memory and config to a file, then destroy it (see -c)",
  builder: (y) => y
    .positional('domain', { type: 'string', demandOption: true, describe: 'domain id or name' })
    .positional('file', { type: 'string', demandOption: true, describe: 'the save image to write (mode 0600; replaced only once complete)' })
    .option('checkpoint', { alias: 'c', type: 'boolean', describe: 'leave the domain running after the save' })
    .option('live', { type: 'boolean', describe: 'copy memory while the guest runs, then suspend it briefly (shorter pause, larger image)' })
    .option('timeout', { type: 'number', default: 30, describe: 'seconds the guest has to suspend' })
    .option('json', { type: 'boolean', describe: 'print JSON' })
    .example('$0 save web /var/lib/lightvm/web.save', 'save and destroy')
    .example('$0 save -c web web.save', 'a checkpoint: web keeps running') as never,
  handler: async (a) => {
    if (!(a.timeout > 0)) throw Object.assign(new Error('--timeout must be more than 0 seconds'), { usage: true });
    let r: { domid: number; name: string; bytes: number; ms: number };
    const c = await daemon(a);
    if (c) {
      // chaosd does the save (it keeps its journal right); the file is a path in its file system, not relative to our directory.
      const body = { file: path.resolve(String(a.file)), checkpoint: !!a.checkpoint, live: !!a.live, timeoutSec: a.timeout };
      r = await c.request('POST', `/v1/domains/${encodeURIComponent(String(a.domain))}/save`, body);
      c.close();
    } else {
      const { ts } = await open(a);
      const { saveToFile } = await import('../../save.js');
      const s = await saveToFile(ts, String(a.domain), String(a.file), { checkpoint: a.checkpoint, live: a.live, suspendTimeoutMs: a.timeout * 1000 });
      r = { domid: s.dom.domid, name: s.dom.name, bytes: s.bytes, ms: s.ms };
    }
    if (a.json) process.stdout.write(JSON.stringify({ domid: r.domid, name: r.name, file: a.file, bytes: r.bytes, ms: r.ms, daemon: !!c }, null, 2) + '\n');
    else process.stderr.write(`saved ${r.name} (domain ${r.domid}) to ${a.file}: ${(r.bytes / 1048576).toFixed(1)} MiB in ${r.ms.toFixed(0)} ms${a.checkpoint ? '; it keeps running' : ''}\n`);
  },
};

export const restore: CommandModule<GlobalArgs, RestoreArgs> = {
  command: 'restore <file>',
  describe: 'make a running domain from a save image',
  builder: (y) => y
    .positional('file', { type: 'string', demandOption: true, describe: 'a save image written by `chaos save`' })
    .option('paused', { alias: 'p', type: 'boolean', describe: 'leave the domain paused' })
    .option('name', { type: 'string', describe: 'restore under another name' })
    .option('dev-method', { type: 'string', choices: ['xenstore', 'noxs'], describe: 'the device method expected: the image\'s dev_method is kept (a saved guest reconnects its devices the way it had them), a different one is refused' })
    .option('json', { type: 'boolean', describe: 'print JSON' })
    .option('monitor', { type: 'boolean', default: true, describe: 'start the per-host monitor that applies on_poweroff/on_reboot/on_crash (--no-monitor: do not)' }) as never,
  handler: async (a) => {
    let r: { domid: number; name: string; ms: number };
    const devMethod = a['dev-method'];
    const c = await daemon(a);
    if (c) {
      // chaosd takes no dev_method for a restore: the image's is checked here, before it is asked.
      if (devMethod) await checkImageMethod(String(a.file), devMethod);
      const body = { file: path.resolve(String(a.file)), ...(a.name !== undefined ? { name: String(a.name) } : {}), ...(a.paused ? { paused: true } : {}) };
      r = await c.request('POST', '/v1/restore', body);
      c.close();
    } else {
      const { ts } = await open(a);
      const { restoreFromFile } = await import('../../save.js');
      const { record, ms } = await restoreFromFile(ts, String(a.file), { paused: a.paused, ...(a.name !== undefined ? { name: String(a.name) } : {}), ...(devMethod ? { devMethod } : {}) });
      r = { domid: record.domid, name: record.name, ms };
      if (a.monitor) (await import('./monitor.js')).ensureMonitor(a);
    }
    if (a.json) process.stdout.write(JSON.stringify({ domid: r.domid, name: r.name, ms: r.ms, daemon: !!c }, null, 2) + '\n');
    else process.stderr.write(`restored ${r.name} (domain ${r.domid}) in ${r.ms.toFixed(0)} ms\n`);
  },
};

/** Refuses an image saved with another device method than `wanted` (toolstack/save.ts sameDevMethod). */
async function checkImageMethod(file: string, wanted: 'xenstore' | 'noxs'): Promise<void> {
  const { readSaveHeader, sameDevMethod } = await import('../../save.js');
  const { ChaosError } = await import('../../errors.js');
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new ChaosError('SAVE_INVALID', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    sameDevMethod(readSaveHeader(fd, file), wanted, file);
  } finally {
    fs.closeSync(fd);
  }
}
