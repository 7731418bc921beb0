// Scenario: the runtime's guests (noop, daytime): the smallest memory each boots in, and `xl create` to ready mark at that size.
import { collect, type Scenario, type ScenarioOptions } from '../scenario.js';

const repsOf = (o: ScenarioOptions) => o.reps ?? (o.full ? 10 : 3);

const scenario: Scenario = {
  name: 'unikernels',
  description: 'PV runtime guests (noop, daytime with a vif): smallest memory (MiB) each boots in, and xl create to ready mark at that size',
  memoryMiB: () => 1024 + 64,
  estimateSeconds: (o) => 2 * (8 + repsOf(o)) * 4,
  async run(target, host, o) {
    return collect(target, 'unikernel-boot.js', ['--guests-dir', `${target.projectDir}/guests`, '--reps', String(repsOf(o))], o, (m) => ({
      scenario: 'unikernels', metric: String(m.metric), value: Number(m.value), unit: m.unit === 'MiB' ? 'MiB' : 'ms', host,
      at: new Date().toISOString(),
      parameters: { tool: 'xl', guest: String(m.guest), memoryMiB: Number(m.memoryMiB), ...(m.rep !== undefined ? { rep: Number(m.rep) } : {}) },
    }));
  },
};
export default scenario;
