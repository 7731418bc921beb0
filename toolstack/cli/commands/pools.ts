// pools: chaosd's pools of VM shells - each size class, its watermarks and how many idle shells it holds.
import type { CommandModule } from 'yargs';
import { ChaosError } from '../../errors.js';
import { print, type GlobalArgs } from '../context.js';
import { daemon } from '../daemon.js';

type Args = GlobalArgs & { json?: boolean };

interface Level { name: string; memoryMiB: number; maxMemoryMiB: number; maxVcpus: number; low: number; high: number; level: number; filling: number; shells: number[] }

export const pools: CommandModule<GlobalArgs, Args> = {
  command: 'pools',
  describe: "show chaosd's pools of pre-created VM shells (needs chaosd)",
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print JSON' }) as never,
  handler: async (a) => {
    const c = await daemon(a);
    if (!c) throw new ChaosError('UNAVAILABLE', a.daemon === false ? 'pools are chaosd\'s: leave out --no-daemon' : `chaosd is not running (no socket at ${a['chaosd-socket']}): pools exist only in the daemon`);
    const levels = await c.request<Level[]>('GET', '/v1/pools');
    print(a.json, levels, () => `${'Pool'.padEnd(16)}${'Mem'.padStart(6)}${'Max'.padStart(6)} VCPUs${'Low'.padStart(6)}${'High'.padStart(6)}${'Idle'.padStart(6)}${'Filling'.padStart(9)}\n` +
      levels.map((l) => `${l.name.padEnd(16)}${String(l.memoryMiB).padStart(6)}${String(l.maxMemoryMiB).padStart(6)}${String(l.maxVcpus).padStart(6)}${String(l.low).padStart(6)}${String(l.high).padStart(6)}${String(l.level).padStart(6)}${String(l.filling).padStart(9)}\n`).join(''));
  },
};
