// console: attach to a guest's console (Ctrl-] leaves), or print what its console ring holds now (--once).
import type { CommandModule } from 'yargs';
import { ChaosError } from '../../errors.js';
import { open, type GlobalArgs } from '../context.js';

type Args = GlobalArgs & { domain: string; once?: boolean };

export const console: CommandModule<GlobalArgs, Args> = {
  command: 'console <domain>',
  describe: "attach to a guest's console (Ctrl-] to leave)",
  builder: (y) => y
    .positional('domain', { type: 'string', demandOption: true, describe: 'domain id or name' })
    .option('once', { type: 'boolean', describe: 'print what the console ring holds now and exit' }) as never,
  handler: async (a) => {
    const { ts, xen } = await open(a);
    const dom = await ts.find(String(a.domain));
    const con = await ts.backend.console(dom.domid);
    if (!con) throw new ChaosError('NOT_SUPPORTED', `${dom.name} (domain ${dom.domid}) has no console`, { domid: dom.domid });
    const { readConsoleRing, attachPty } = await import('../../console.js');
    if (a.once) {
      process.stdout.write(await readConsoleRing(xen, dom.domid, con.mfn));
      return;
    }
    if (!con.tty && ts.record(dom.domid)?.devMethod === 'noxs') {
      // xenconsoled does not know a noxs domain: chaos serves its ring itself while attached.
      const { followRing } = await import('../../console.js');
      process.stderr.write(`following ${dom.name}'s console ring (noxs: output only); Ctrl-] leaves\n`);
      const how = await followRing(xen, dom.domid, con.mfn, process.stdin, process.stdout);
      process.stderr.write(how === 'escape' ? '\ndisconnected\n' : `\n${dom.name} is gone\n`);
      return;
    }
    if (!con.tty) throw new ChaosError('NOT_SUPPORTED', `${dom.name} has no console pty (is xenconsoled running?); --once reads the ring directly`, { domid: dom.domid });
    process.stderr.write(`connected to ${dom.name}'s console (${con.tty}); Ctrl-] leaves\n`);
    const how = await attachPty(con.tty, process.stdin, process.stdout);
    process.stderr.write(how === 'escape' ? '\ndisconnected\n' : '\nthe console closed\n');
  },
};
