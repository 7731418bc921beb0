// Shared by the noxs lab tests: chaos from the tree under test with a state directory of its own, and why they skip on a stock hypervisor.
import type { Test } from 'tap';
import type { Lab } from '../../lab/lab.js';
import { chaos, PROJECT } from './fixture.js';

export type Row = { domid: number; name: string; state: string };

/** The tests' own state directory and in-process toolstack (a chaosd in the lab would run the image's code). */
export function noxsChaos(lab: Lab) {
  const state = `/tmp/lightvm-noxs-e2e-${process.pid}`;
  const opts = ['--no-daemon', '--state-dir', state];
  const c = (args: string[], timeoutMs?: number) => chaos(lab, [...opts, ...args], timeoutMs);
  return {
    c,
    /** The chaos command line for dom0 scripts. */
    shell: `node ${PROJECT}/dist/toolstack/cli/start.cjs ${opts.join(' ')}`,
    async list(): Promise<Row[]> {
      const r = await c(['list', '--json']);
      if (r.code !== 0) throw new Error(`chaos list: ${r.stderr}`);
      return JSON.parse(r.stdout) as Row[];
    },
    /** Destroys by name through chaos (xl does not know noxs domains by name). */
    destroyOnTeardown(t: Test, names: string[]): void {
      t.teardown(async () => {
        for (const n of names) await c(['destroy', n], 120_000).catch(() => undefined);
      });
    },
    /** Polls the guest's console ring (read straight from its page: xenconsoled does not know a noxs domain) until it holds `text`. */
    async waitForRing(name: string, text: string, timeoutSec = 240): Promise<string> {
      const deadline = Date.now() + timeoutSec * 1000;
      let last = '';
      for (;;) {
        const r = await c(['console', '--once', name]);
        last = r.code === 0 ? r.stdout : `(chaos console failed: ${r.stderr})`;
        if (r.code === 0 && last.includes(text)) return last;
        if (Date.now() > deadline) throw new Error(`"${text}" did not appear in ${name}'s console ring within ${timeoutSec} s; it holds: ${JSON.stringify(last.slice(-1500))}`);
        await new Promise((res) => setTimeout(res, 2000));
      }
    },
  };
}

/** Whether the lab's hypervisor has the devctl hypercall (noxs), as the dom0 probe finds; throws when the probe itself fails. */
export async function devctlAvailable(lab: Lab): Promise<boolean> {
  const r = await lab.run(['node', `${PROJECT}/dist/test/lab/dom0/noxs-probe.js`, 'available'], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`noxs-probe available exited ${r.code ?? r.signal}: ${r.stderr.toString().trim()}`);
  return (JSON.parse(r.stdout.toString()) as { available?: boolean }).available === true;
}

/** Why noxs tests skip: no lab, or a stock hypervisor (no devctl). */
export async function noxsSkip(lab: Lab | undefined, noLab: string | false): Promise<string | false> {
  if (noLab) return noLab;
  const available = await devctlAvailable(lab!).catch(() => false);
  return available ? false : 'the lab runs a stock hypervisor without devctl (noxs): boot the patched one with `lab up --xen noxs`';
}
