// Scenario: save and restore of a Linux guest (tinyx ticker), xl vs chaos, and chaos migrating it to localhost; with chaos-noxs, the same for a daytime unikernel, xl vs chaos over XenStore vs chaos over noxs.
import type { Sample } from '../record.js';
import { collect, ScenarioError, type Scenario } from '../scenario.js';

const TINYX_TOOLS = ['xl', 'chaos'];

const scenario: Scenario = {
  name: 'save-restore',
  description: 'save and restore of a Linux guest (tinyx ticker, 96 MiB), xl vs chaos, and chaos migrating it to localhost; chaos-noxs: a daytime unikernel (8 MiB, one vif), xl vs chaos over XenStore vs over noxs',
  tools: ['xl', 'chaos', 'chaos-noxs'],
  memoryMiB: () => 4096,
  estimateSeconds: (o) => {
    const reps = o.reps ?? (o.full ? 5 : 2), tools = o.tools ?? ['xl', 'chaos'];
    return 30 + reps * 25 + (tools.includes('chaos-noxs') ? 60 + reps * 3 * 15 : 0);
  },
  async run(target, host, o) {
    const reps = o.reps ?? (o.full ? 5 : 2), tools = o.tools ?? ['xl', 'chaos'];
    const tinyx = tools.filter((t) => TINYX_TOOLS.includes(t));
    // noxs needs lightvm's runtime (Linux has no noxs client): daytime, with xl and chaos over XenStore beside it on the same guest.
    const daytime = tools.includes('chaos-noxs') ? [...tinyx, 'chaos-noxs'] : [];
    const total = reps * (tinyx.length + daytime.length);
    let done = 0;
    const pass = (guest: 'tinyx-ticker' | 'daytime', which: string[], args: string[], memoryMiB: number): Promise<Sample[]> =>
      collect(target, 'save-restore.js', ['--reps', String(reps), ...args, '--memory', String(memoryMiB), '--tools', which.join(',')], o, (m) => {
        o.progress(`${guest} ${m.tool} ${m.metric} rep ${Number(m.rep) + 1}/${reps}: ${Number(m.value).toFixed(0)} ms`);
        if (m.metric === 'restore-to-tick' || m.metric === 'restore-to-answer') o.step?.(++done, total);
        return {
          scenario: 'save-restore', metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(),
          parameters: { tool: String(m.tool), guest, memoryMiB, rep: Number(m.rep), ...(m.bytes !== undefined ? { bytes: Number(m.bytes) } : {}) },
        };
      });
    const samples: Sample[] = [];
    if (tinyx.length) samples.push(...await pass('tinyx-ticker', tinyx, ['--tinyx', `${target.projectDir}/guests/tinyx/ticker`], 96));
    if (daytime.length) {
      try {
        samples.push(...await pass('daytime', daytime, ['--daytime', `${target.projectDir}/guests/daytime/daytime`], 8));
      } catch (err) {
        // The tinyx pass's samples are kept with what the daytime pass measured.
        if (err instanceof ScenarioError) throw new ScenarioError(err.message, [...samples, ...err.partial]);
        throw err;
      }
    }
    return samples;
  },
};

export default scenario;
