// create: build and start domains from an xl-style or JSON config, with key=value overrides, one or N numbered copies.
import type { CommandModule } from 'yargs';
import { ChaosError } from '../../errors.js';
import { open, type GlobalArgs } from '../context.js';

type Args = GlobalArgs & { config: string; overrides?: string[]; paused?: boolean; console?: boolean; count?: number; json?: boolean; monitor: boolean };

export const create: CommandModule<GlobalArgs, Args> = {
  command: 'create <config> [overrides..]',
  describe: 'create domains from a config file (xl .cfg or .json); key=value words override the file',
  builder: (y) => y
    .positional('config', { type: 'string', demandOption: true, describe: 'config file' })
    .positional('overrides', { type: 'string', array: true, describe: 'xl-style settings, e.g. memory=8 \'name="web"\'' })
    .option('paused', { alias: 'p', type: 'boolean', describe: 'leave the domain paused' })
    .option('console', { alias: 'c', type: 'boolean', describe: "attach to the guest's console once it runs" })
    .option('count', { alias: 'n', type: 'number', describe: 'create N copies named <name>-1 .. <name>-N' })
    .option('json', { type: 'boolean', describe: 'print JSON' })
    .option('monitor', { type: 'boolean', default: true, describe: 'start the per-host monitor that applies on_poweroff/on_reboot/on_crash (--no-monitor: do not)' })
    .example('$0 create noop.cfg', 'one domain')
    .example('$0 create -n 20 noop.cfg memory=8', 'twenty, with 8 MiB each') as never,
  handler: async (a) => {
    const count = a.count ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > 10000) {
      throw Object.assign(new Error('-n takes a whole number from 1 to 10000'), { usage: true });
    }
    if (a.console && count > 1) throw Object.assign(new Error('-c attaches to one console: it does not go with -n'), { usage: true });
    const [{ loadConfig }, { checkFiles }] = await Promise.all([import('../../config/index.js'), import('../../config/domain-config.js')]);
    const base = await loadConfig(a.config, (a.overrides ?? []).map(String));
    await checkFiles(base);
    const { ts } = await open(a);
    const made: { domid: number; name: string; ms: number }[] = [];
    const failed: { name: string; error: string }[] = [];
    const t0 = performance.now();
    for (let i = 1; i <= count; i++) {
      const cfg = count === 1 ? base : { ...base, name: `${base.name}-${i}`, uuid: undefined };
      const t = performance.now();
      try {
        const r = await ts.create(cfg, { paused: a.paused });
        made.push({ domid: r.domid, name: r.name, ms: performance.now() - t });
        if (!a.json) process.stderr.write(`created ${r.name} (domain ${r.domid}) in ${(performance.now() - t).toFixed(0)} ms\n`);
      } catch (err) {
        if (count === 1) throw err;
        failed.push({ name: cfg.name, error: (err as Error).message });
        process.stderr.write(`failed to create ${cfg.name}: ${(err as Error).message}\n`);
      }
    }
    const totalMs = performance.now() - t0;
    if (made.length && a.monitor) (await import('./monitor.js')).ensureMonitor(a);
    if (a.json) process.stdout.write(JSON.stringify({ created: made, failed, totalMs }, null, 2) + '\n');
    else if (count > 1) process.stderr.write(`${made.length} created, ${failed.length} failed, ${(totalMs / Math.max(made.length, 1)).toFixed(0)} ms per domain\n`);
    if (failed.length) throw new ChaosError('INTERNAL', `${failed.length} of ${count} creates failed`);
    if (a.console) {
      const { console: con } = await import('./console.js');
      await (con.handler as (x: unknown) => Promise<void>)({ ...a, domain: String(made[0].domid) });
    }
  },
};
