// Scenario: time from a vif appearing in dom0 to it being on the bridge and connected, xendevd vs Xen's stock vif-bridge script (both under xl).
import { collect, type Scenario } from '../scenario.js';

const scenario: Scenario = {
  name: 'vif-hotplug',
  description: 'vif hotplug: from the vif appearing (kernel uevent) to on the bridge and hotplug-status connected, xendevd vs the stock vif-bridge script, under xl',
  tools: ['xendevd', 'vif-bridge'],
  memoryMiB: () => 2048,
  estimateSeconds: (o) => 20 + (o.reps ?? (o.full ? 10 : 3)) * 2 * 20,
  async run(target, host, o) {
    const reps = o.reps ?? (o.full ? 10 : 3), tools = o.tools ?? ['xendevd', 'vif-bridge'];
    return collect(target, 'vif-hotplug.js', ['--reps', String(reps), '--kernel', `${target.projectDir}/guests/noop/noop`, '--tools', tools.join(',')], o, (m) => {
      return {
        scenario: 'vif-hotplug', metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(),
        parameters: { tool: String(m.tool), guest: 'noop', rep: Number(m.rep) },
      };
    });
  },
};
export default scenario;
