// list: the domains Xen runs, as xl prints them, or as JSON.
import type { CommandModule } from 'yargs';
import { open, print, type GlobalArgs } from '../context.js';
import { daemon } from '../daemon.js';
import type { DomainSummary } from '../../domain.js';
import type { DomainRecord } from '../../store.js';

type Args = GlobalArgs & { domains?: string[]; long?: boolean; json?: boolean };

export const list: CommandModule<GlobalArgs, Args> = {
  command: 'list [domains..]',
  describe: 'list domains (all, or the ones named)',
  builder: (y) => y
    .positional('domains', { type: 'string', array: true, describe: 'domain ids or names' })
    .option('long', { alias: 'l', type: 'boolean', describe: "also show each domain's record (config, uuid)" })
    .option('json', { type: 'boolean', describe: 'print JSON' }) as never,
  handler: async (a) => {
    let rows: (DomainSummary & { record?: DomainRecord | null })[];
    const c = await daemon(a);
    if (c) {
      // chaosd lists VMs (its idle shells are in `chaos pools`).
      type One = DomainSummary & { record?: DomainRecord };
      const doms = a.domains?.length || a.long
        ? await Promise.all((a.domains?.length ? a.domains.map(String) : (await c.request<DomainSummary[]>('GET', '/v1/domains')).map((d) => String(d.domid)))
          .map((r) => c.request<One>('GET', `/v1/domains/${encodeURIComponent(r)}`)))
        : await c.request<DomainSummary[]>('GET', '/v1/domains');
      rows = doms.map((d) => {
        const { record, uuid: _uuid, ...rest } = d as One & { uuid?: string };
        return { ...rest, ...(a.long ? { record: record ?? null } : {}) };
      });
    } else {
      const { ts } = await open(a);
      let doms = await ts.list();
      if (a.domains?.length) doms = await Promise.all(a.domains.map((r) => ts.find(String(r))));
      rows = doms.map((d) => ({ ...d, ...(a.long ? { record: ts.record(d.domid) ?? null } : {}) }));
    }
    print(a.json, rows, () => {
      const head = `${'Name'.padEnd(40)}${'ID'.padStart(5)}${'Mem'.padStart(6)} VCPUs\tState\tTime(s)\n`;
      return head + rows.map((d) => `${d.name.padEnd(40)}${String(d.domid).padStart(5)}${String(d.memMiB).padStart(6)}${String(d.vcpus).padStart(6)}\t${d.state}\t${d.cpuTimeSec.toFixed(1).padStart(7)}\n` +
        (a.long && d.record ? `    uuid ${d.record.uuid}, kernel ${d.record.config.kernel}, made ${d.record.createdAt}\n` : '')).join('');
    });
  },
};
