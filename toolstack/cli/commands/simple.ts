// destroy, pause, unpause: commands that take domains (by id or name) and do one thing to each.
import type { CommandModule } from 'yargs';
import { open, type GlobalArgs } from '../context.js';
import { daemon, type ChaosdClient } from '../daemon.js';
import type { DomainSummary, Toolstack } from '../../domain.js';

type Args = GlobalArgs & { domains: string[]; json?: boolean };

function domainVerb(command: string, describe: string, past: string, act: (ts: Toolstack, ref: string) => Promise<DomainSummary>,
  remote: (c: ChaosdClient, ref: string) => Promise<DomainSummary>): CommandModule<GlobalArgs, Args> {
  return {
    command: `${command} <domains..>`,
    describe,
    builder: (y) => y
      .positional('domains', { type: 'string', array: true, demandOption: true, describe: 'domain ids or names' })
      .option('json', { type: 'boolean', describe: 'print JSON' }) as never,
    handler: async (a) => {
      const c = await daemon(a);
      const ts = c ? undefined : (await open(a)).ts;
      const done: DomainSummary[] = [];
      for (const ref of a.domains) done.push(c ? await remote(c, String(ref)) : await act(ts!, String(ref)));
      if (a.json) process.stdout.write(JSON.stringify(done.map((d) => ({ domid: d.domid, name: d.name })), null, 2) + '\n');
      else for (const d of done) process.stderr.write(`${past} ${d.name} (domain ${d.domid})\n`);
    },
  };
}

const path = (ref: string, verb = '') => `/v1/domains/${encodeURIComponent(ref)}${verb}`;

export const destroy = domainVerb('destroy', 'destroy domains at once (no guest shutdown)', 'destroyed', (ts, r) => ts.destroy(r), (c, r) => c.request('DELETE', path(r)));
export const pause = domainVerb('pause', 'pause domains (their vCPUs stop being scheduled)', 'paused', (ts, r) => ts.pause(r), (c, r) => c.request('POST', path(r, '/pause')));
export const unpause = domainVerb('unpause', 'unpause domains', 'unpaused', (ts, r) => ts.unpause(r), (c, r) => c.request('POST', path(r, '/unpause')));
