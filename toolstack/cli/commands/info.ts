// info: the host as Xen sees it (version, CPUs, memory).
import type { CommandModule } from 'yargs';
import { open, print, type GlobalArgs } from '../context.js';

type Args = GlobalArgs & { json?: boolean };

export const info: CommandModule<GlobalArgs, Args> = {
  command: 'info',
  describe: 'show the host: Xen version, CPUs, memory',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print JSON' }) as never,
  handler: async (a) => {
    const { xen } = await open(a);
    const [v, p] = await Promise.all([xen.version(), xen.physinfo()]);
    const data = {
      xenVersion: `${v.major}.${v.minor}${v.extra}`, xenCaps: v.capabilities, nrCpus: p.nrCpus, cpuMHz: Math.round(p.cpuKHz / 1000),
      totalMemoryMiB: Math.floor((p.totalPages * 4) / 1024), freeMemoryMiB: Math.floor((p.freePages * 4) / 1024),
    };
    print(a.json, data, () => Object.entries(data).map(([k, val]) => `${k.padEnd(16)}: ${val}\n`).join(''));
  },
};
