// Scenario: save and restore of a Linux guest (tinyx ticker), xl vs chaos, and chaos migrating it to localhost.
import { collect, type Scenario } from '../scenario.js';

const scenario: Scenario = {
  name: 'save-restore',
  description: 'save and restore of a Linux guest (tinyx ticker, 96 MiB), xl vs chaos, and chaos migrating it to localhost',
  tools: ['xl', 'chaos'],
  memoryMiB: () => 4096,
  estimateSeconds: (o) => 30 + (o.reps ?? (o.full ? 5 : 2)) * 25,
  async run(target, host, o) {
    const reps = o.reps ?? (o.full ? 5 : 2), tools = o.tools ?? ['xl', 'chaos'];
    let done = 0;
    return collect(target, 'save-restore.js', ['--reps', String(reps), '--tinyx', `${target.projectDir}/guests/tinyx/ticker`, '--memory', '96', '--tools', tools.join(',')], o, (m) => {
      o.progress(`${m.tool} ${m.metric} rep ${Number(m.rep) + 1}/${reps}: ${Number(m.value).toFixed(0)} ms`);
      if (m.metric === 'restore-to-tick') o.step?.(++done, reps * tools.length);
      return {
        scenario: 'save-restore', metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(),
        parameters: { tool: String(m.tool), guest: 'tinyx-ticker', memoryMiB: 96, rep: Number(m.rep), ...(m.bytes !== undefined ? { bytes: Number(m.bytes) } : {}) },
      };
    });
  },
};
export default scenario;
