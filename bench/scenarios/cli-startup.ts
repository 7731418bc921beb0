// Scenario: where a command's time goes: bare node, loading yargs, pino and the toolstack, chaos vs xl for list and info.
import { collect, type Scenario } from '../scenario.js';

const scenario: Scenario = {
  name: 'cli-startup',
  description: "where a command's time goes: bare node, loading yargs, pino and the toolstack, chaos vs xl for list and info",
  memoryMiB: () => 4096,
  estimateSeconds: (o) => (o.reps ?? (o.full ? 10 : 2)) * 60,
  async run(target, host, o) {
    const reps = o.reps ?? (o.full ? 10 : 2);
    let done = 0;
    const commands = new Set<string>(); // known exactly once the first repetition is over
    const samples = await collect(target, 'cli-startup.js', ['--reps', String(reps)], o, (m) => {
      commands.add(String(m.metric));
      o.step?.(++done, reps * commands.size);
      return { scenario: 'cli-startup', metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(), parameters: { rep: Number(m.rep) } };
    });
    o.progress(`${samples.length} samples`);
    return samples;
  },
};
export default scenario;
