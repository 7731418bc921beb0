// create: build and start domains from an xl-style or JSON config, with key=value overrides, one or N numbered copies, through chaosd when it runs.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { ChaosError } from '../../errors.js';
import { mark, open, type GlobalArgs } from '../context.js';
import { daemon } from '../daemon.js';

type Args = GlobalArgs & { config: string; overrides?: string[]; paused?: boolean; console?: boolean; count?: number; parallel?: number; json?: boolean; monitor: boolean; 'dev-method'?: 'xenstore' | 'noxs' };

/** Creates chaosd runs at once for one `chaos create -n`: enough to keep its workers busy. */
const DAEMON_PARALLEL = 8;

/**
 * The config's settings as the JSON object of xl keys chaosd takes, overrides applied, relative
 * kernel and ramdisk paths made absolute (the daemon does not share our working directory).
 */
async function settingsObject(file: string, overrides: string[]): Promise<Record<string, unknown>> {
  const { parseXl, parseJsonSettings, applyOverrides } = await import('../../config/index.js');
  const text = await fs.readFile(file, 'utf8');
  const settings = applyOverrides(path.extname(file).toLowerCase() === '.json' ? parseJsonSettings(text, file) : parseXl(text, file), overrides);
  const obj: Record<string, unknown> = {};
  for (const s of settings) obj[s.key] = (s.key === 'kernel' || s.key === 'ramdisk') && typeof s.value === 'string' ? path.resolve(s.value) : s.value;
  return obj;
}

/** A progress bar on a terminal; nothing when stderr is a file or a pipe, or with --json. */
async function progress(total: number, quiet: boolean): Promise<{ tick(ok: boolean): void; stop(): void }> {
  if (quiet || total < 2 || !process.stderr.isTTY) return { tick: () => undefined, stop: () => undefined };
  const { default: cp } = await import('cli-progress');
  const bar = new cp.SingleBar({ format: 'creating [{bar}] {value}/{total} | {failed} failed | {eta_formatted} left', stream: process.stderr, hideCursor: true }, cp.Presets.shades_classic);
  let failed = 0;
  bar.start(total, 0, { failed });
  return { tick: (ok) => { if (!ok) failed++; bar.increment(1, { failed }); }, stop: () => bar.stop() };
}

export const create: CommandModule<GlobalArgs, Args> = {
  command: 'create <config> [overrides..]',
  describe: 'create domains from a config file (xl .cfg or .json); key=value words override the file',
  builder: (y) => y
    .positional('config', { type: 'string', demandOption: true, describe: 'config file' })
    .positional('overrides', { type: 'string', array: true, describe: 'xl-style settings, e.g. memory=8 \'name="web"\'' })
    .option('paused', { alias: 'p', type: 'boolean', describe: 'leave the domain paused' })
    .option('console', { alias: 'c', type: 'boolean', describe: "attach to the guest's console once it runs" })
    .option('count', { alias: 'n', type: 'number', describe: 'create N copies named <name>-1 .. <name>-N' })
    .option('parallel', { type: 'number', describe: `with -n through chaosd: creates in flight at once (default ${DAEMON_PARALLEL}; in-process: 1)` })
    .option('json', { type: 'boolean', describe: 'print JSON' })
    .option('dev-method', { type: 'string', choices: ['xenstore', 'noxs'], describe: 'how the devices are set up: over XenStore, or noxs (no XenStore; needs the patched Xen and noxsd); overrides the config\'s dev_method' })
    .option('monitor', { type: 'boolean', default: true, describe: 'start the per-host monitor that applies on_poweroff/on_reboot/on_crash (--no-monitor: do not)' })
    .example('$0 create noop.cfg', 'one domain')
    .example('$0 create -n 20 noop.cfg memory=8', 'twenty, with 8 MiB each')
    .example('$0 create --dev-method noxs daytime.cfg', 'devices over noxs: works with xenstored stopped') as never,
  handler: async (a) => {
    const count = a.count ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > 10000) {
      throw Object.assign(new Error('-n takes a whole number from 1 to 10000'), { usage: true });
    }
    if (a.parallel !== undefined && (!Number.isInteger(a.parallel) || a.parallel < 1 || a.parallel > 256)) {
      throw Object.assign(new Error('--parallel takes a whole number from 1 to 256'), { usage: true });
    }
    if (a.console && count > 1) throw Object.assign(new Error('-c attaches to one console: it does not go with -n'), { usage: true });
    // --dev-method is the config's dev_method, given last so that it wins (in-process and through chaosd alike).
    const overrides = [...(a.overrides ?? []).map(String), ...(a['dev-method'] ? [`dev_method="${a['dev-method']}"`] : [])];
    const [{ loadConfig }, { checkFiles }] = await Promise.all([import('../../config/index.js'), import('../../config/domain-config.js')]);
    // Validated here too, so that mistakes are reported with the file's lines, daemon or not.
    const base = await loadConfig(a.config, overrides);
    await checkFiles(base);
    mark('config loaded');
    const c = await daemon(a);
    const names = Array.from({ length: count }, (_, i) => (count === 1 ? base.name : `${base.name}-${i + 1}`));
    let one: (i: number) => Promise<{ domid: number; name: string }>;
    let parallel = 1;
    if (c) {
      const obj = await settingsObject(a.config, overrides);
      one = (i) => c.request('POST', '/v1/domains', { config: { ...obj, name: names[i] }, ...(a.paused ? { paused: true } : {}) });
      parallel = a.parallel ?? DAEMON_PARALLEL;
    } else {
      const { ts } = await open(a);
      one = (i) => ts.create(count === 1 ? base : { ...base, name: names[i], uuid: undefined }, { paused: a.paused });
    }
    const made: { domid: number; name: string; ms: number }[] = [];
    const failed: { name: string; code: string; error: string }[] = [];
    const bar = await progress(count, !!a.json);
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < count; i = next++) {
        const t = performance.now();
        try {
          const r = await one(i);
          made.push({ domid: r.domid, name: r.name, ms: performance.now() - t });
          mark(`created ${r.name}`);
          bar.tick(true);
          if (!a.json && (count === 1 || !process.stderr.isTTY)) process.stderr.write(`created ${r.name} (domain ${r.domid}) in ${(performance.now() - t).toFixed(0)} ms\n`);
        } catch (err) {
          if (count === 1) throw err;
          failed.push({ name: names[i], code: (err as ChaosError).code ?? 'INTERNAL', error: (err as Error).message });
          bar.tick(false);
          if (!process.stderr.isTTY) process.stderr.write(`failed to create ${names[i]}: ${(err as Error).message}\n`);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
    } finally {
      bar.stop();
    }
    const totalMs = performance.now() - t0;
    made.sort((x, y) => x.name.localeCompare(y.name, undefined, { numeric: true }));
    if (made.length && a.monitor && !c) (await import('./monitor.js')).ensureMonitor(a);
    const per = made.length ? made.reduce((s, m) => s + m.ms, 0) / made.length : 0;
    if (a.json) process.stdout.write(JSON.stringify({ created: made, failed, totalMs, meanMs: per, daemon: !!c }, null, 2) + '\n');
    else if (count > 1) {
      for (const f of failed) if (process.stderr.isTTY) process.stderr.write(`failed to create ${f.name}: ${f.error}\n`);
      process.stderr.write(`${made.length} created, ${failed.length} failed in ${(totalMs / 1000).toFixed(1)} s: ${per.toFixed(0)} ms per VM (request to reply), ${(made.length / (totalMs / 1000)).toFixed(1)} VMs/s\n`);
    }
    if (failed.length) throw new ChaosError('INTERNAL', `${failed.length} of ${count} creates failed`);
    if (a.console) {
      const { console: con } = await import('./console.js');
      await (con.handler as (x: unknown) => Promise<void>)({ ...a, domain: String(made[0].domid) });
    }
  },
};
