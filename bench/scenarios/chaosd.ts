// Scenario: create to ready mark with N guests running - xl, chaos in process over XenStore and over noxs, chaosd with shells over XenStore and over noxs (the full LightVM) - and chaosd's creates per second for a batch.
import type { Sample } from '../record.js';
import { collect, type Scenario, type ScenarioOptions } from '../scenario.js';

const TOOLS = ['xl', 'chaos', 'chaos-noxs', 'chaosd', 'chaosd-noxs'];

function countsOf(o: ScenarioOptions): number[] {
  return o.counts ?? (o.full ? [0, 100, 500, 1000] : [0, 20]);
}

// Quick mode stays small so that `npm run bench` ends in about 15 minutes in the lab.
const batchOf = (o: ScenarioOptions) => (o.full ? 500 : 20);
/**
 * Unmeasured creates per tool before the first sample. chaosd's create is steady after about ten
 * requests (before, V8 runs its code uncompiled: 108 against 80-90 ms a create in the lab); xl starts
 * afresh at every create and is warmed alike.
 */
const warmupOf = (o: ScenarioOptions) => (o.full ? 10 : 2);

const scenario: Scenario = {
  name: 'chaosd',
  description: 'xl vs chaos in process (over XenStore, over noxs) vs chaosd with pools of shells (over XenStore, over noxs: the full LightVM): create call or API request (on the client\'s open connection) to the guest\'s ready mark, read from its console ring, with N guests running (made by chaosd over XenStore); each measured create starts once the pools are full and dom0 is idle (90% over 200 ms, at most 10 s), after unmeasured creates by every tool (10 in --full, 2 in quick mode); creates per second for a batch through chaosd',
  // 4 MiB guests plus Xen's per-domain overhead, dom0, Xen, and two daemons' shells.
  memoryMiB: (o) => 1024 + 512 + Math.max(Math.max(...countsOf(o)), batchOf(o)) * 6 + 2 * 8 * 6 + 256,
  estimateSeconds: (o) => (countsOf(o).length * (o.reps ?? 3) + warmupOf(o)) * (o.tools ?? TOOLS).length * 3 + Math.max(...countsOf(o)) * 1 + batchOf(o) * 1.5,
  async run(target, host, o) {
    const reps = o.reps ?? 3;
    const tools = o.tools ?? TOOLS;
    const counts = countsOf(o);
    let done = 0;
    const total = counts.length * reps * tools.length;
    return collect(target, 'chaosd-create.js',
      ['--tools', tools.join(','), '--counts', counts.join(','), '--reps', String(reps), '--kernel', `${target.projectDir}/guests/noop/noop`,
        '--batch', String(batchOf(o)), '--high', '8', '--prefix', 'bcd', '--warmup', String(warmupOf(o))], o,
      (m): Sample => {
        const rate = m.metric === 'batch-creates-per-second';
        if (m.metric === 'create-to-ready') {
          o.progress(`${m.tool} N=${m.running} rep ${Number(m.rep) + 1}/${reps}: ${Number(m.value).toFixed(0)} ms`);
          o.step?.(++done, total);
        }
        return {
          scenario: 'chaosd', metric: String(m.metric), value: Number(m.value), unit: rate ? 'per-s' : 'ms', host, at: new Date().toISOString(),
          parameters: {
            tool: String(m.tool), guest: 'noop', memoryMiB: 4, running: Number(m.running), rep: Number(m.rep),
            ...(rate ? { batch: Number(m.batch) } : {}), ...(m.fromPool !== undefined ? { fromPool: Boolean(m.fromPool) } : {}),
            ...(m.phase !== undefined ? { phase: String(m.phase) } : {}),
          },
        };
      });
  },
};

export default scenario;
