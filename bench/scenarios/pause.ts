// Scenario: pause and unpause of a running guest, each timed on its own: xl vs chaos (in process), and the chaos command in full mode.
import { collect, type Scenario } from '../scenario.js';

const scenario: Scenario = {
  name: 'pause',
  description: 'pause and unpause of a running noop guest, each on its own: xl vs chaos (the toolstack in a long-running process) over XenStore and over noxs; full mode adds the chaos command',
  tools: ['xl', 'chaos', 'chaos-noxs', 'chaos-cli'],
  memoryMiB: () => 2048,
  estimateSeconds: (o) => 15 + (o.reps ?? (o.full ? 20 : 5)) * (o.full ? 18 : 1.5),
  async run(target, host, o) {
    const reps = o.reps ?? (o.full ? 20 : 5);
    const tools = o.tools ?? (o.full ? ['xl', 'chaos', 'chaos-noxs', 'chaos-cli'] : ['xl', 'chaos', 'chaos-noxs']);
    return collect(target, 'pause.js', ['--reps', String(reps), '--tools', tools.join(','), '--kernel', `${target.projectDir}/guests/noop/noop`], o, (m) => ({
      scenario: 'pause', metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(),
      parameters: { tool: String(m.tool), guest: 'noop', memoryMiB: 4, rep: Number(m.rep) },
    }));
  },
};
export default scenario;
