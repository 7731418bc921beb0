// shutdown and reboot: ask guests to power off or reboot, optionally waiting until they have.
import type { CommandModule } from 'yargs';
import { open, type GlobalArgs } from '../context.js';
import { daemon } from '../daemon.js';
import type { DomainSummary } from '../../domain.js';

type Args = GlobalArgs & { domains: string[]; wait?: boolean; timeout: number };

function powerCommand(reboot: boolean): CommandModule<GlobalArgs, Args> {
  const verb = reboot ? 'reboot' : 'shutdown';
  return {
    command: `${verb} <domains..>`,
    describe: reboot ? 'ask guests to reboot' : 'ask guests to power off (see -w)',
    builder: (y) => y
      .positional('domains', { type: 'string', array: true, demandOption: true, describe: 'domain ids or names' })
      .option('wait', { alias: 'w', type: 'boolean', describe: `wait until each guest has ${reboot ? 'rebooted' : 'shut down'}` })
      .option('timeout', { type: 'number', default: 60, describe: 'seconds to wait with -w before failing' }) as never,
    handler: async (a) => {
      if (!(a.timeout > 0)) throw Object.assign(new Error('--timeout must be more than 0 seconds'), { usage: true });
      const c = await daemon(a);
      const ts = c ? undefined : (await open(a)).ts;
      for (const ref of a.domains) {
        const d = c
          ? await c.request<DomainSummary>('POST', `/v1/domains/${encodeURIComponent(String(ref))}/shutdown`, { reboot, ...(a.wait ? { waitSec: a.timeout } : {}) })
          : await ts!.shutdown(String(ref), { reboot, waitMs: a.wait ? a.timeout * 1000 : undefined });
        process.stderr.write(a.wait ? `${d.name} (domain ${d.domid}) ${reboot ? 'rebooted' : 'shut down'}\n` : `asked ${d.name} (domain ${d.domid}) to ${reboot ? 'reboot' : 'power off'}\n`);
      }
    },
  };
}

export const shutdown = powerCommand(false);
export const reboot = powerCommand(true);
