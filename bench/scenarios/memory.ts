// Scenario: memory per noop guest as Xen sees it (the host's free memory drop per guest, the guest's own pages, Xen's overhead), xl vs chaos.
import { collect, type Scenario, type ScenarioOptions } from '../scenario.js';

const countOf = (o: ScenarioOptions) => (o.counts?.length ? Math.max(1, ...o.counts) : (o.full ? 50 : 5));

const scenario: Scenario = {
  name: 'memory',
  description: 'memory per noop guest (4 MiB) in Xen\'s view: the drop in the host\'s free memory per guest, the pages the guest holds, and the rest (Xen\'s own), xl vs chaos',
  tools: ['xl', 'chaos'],
  memoryMiB: (o) => 1024 + 512 + countOf(o) * 6 + 256,
  estimateSeconds: (o) => 10 + countOf(o) * 2 * (o.reps ?? (o.full ? 2 : 1)) * 3,
  async run(target, host, o) {
    const count = countOf(o), reps = o.reps ?? (o.full ? 2 : 1);
    return collect(target, 'memory.js', ['--count', String(count), '--reps', String(reps), '--memory', '4', '--tools', (o.tools ?? ['xl', 'chaos']).join(','),
      '--kernel', `${target.projectDir}/guests/noop/noop`], o, (m) => ({
      scenario: 'memory', metric: String(m.metric), value: Number(m.value), unit: 'KiB', host, at: new Date().toISOString(),
      parameters: { tool: String(m.tool), guest: 'noop', memoryMiB: 4, guests: Number(m.count), rep: Number(m.rep) },
    }));
  },
};
export default scenario;
