// Scenario: time from a create call to the guest's ready mark with N guests running, xl vs chaos side by side (plus pause+unpause and destroy).
import type { Sample } from '../record.js';
import { collect, type Scenario, type ScenarioOptions } from '../scenario.js';

/** Quick: no guests and 10; full: up to 100. The lab's memory is sized for the largest. */
export function countsOf(o: ScenarioOptions): number[] {
  return o.counts ?? (o.full ? [0, 10, 50, 100] : [0, 10]);
}

/**
 * A create-vs-running scenario over `tools` (xl; chaos: the toolstack in a long-running process;
 * chaos-cli: the command). Quick mode leaves out the tools in `fullOnly` (the command's start-up
 * dominates it, and cli-startup measures that).
 */
export function createScenario(name: string, tools: string[], description: string, fullOnly: string[] = []): Scenario {
  const toolsOf = (o: ScenarioOptions) => o.tools ?? (o.full ? tools : tools.filter((t) => !fullOnly.includes(t)));
  return {
    name,
    description,
    tools,
    memoryMiB: (o) => 1024 /* dom0 */ + 512 /* Xen */ + Math.max(...countsOf(o)) * 6 + 256,
    estimateSeconds: (o) => {
      const reps = o.reps ?? (o.full ? 5 : 3), per: Record<string, number> = { xl: 4, chaos: 1.5, 'chaos-cli': 33 };
      return countsOf(o).length * reps * toolsOf(o).reduce((a, t) => a + (per[t] ?? 5), 0) + Math.max(...countsOf(o)) * 1.2;
    },
    async run(target, host, o) {
      const reps = o.reps ?? (o.full ? 5 : 3);
      const used = toolsOf(o), counts = countsOf(o);
      let done = 0;
      const total = counts.length * reps * used.length;
      return collect(target, 'create-vs-running.js',
        ['--tools', used.join(','), '--counts', counts.join(','), '--reps', String(reps), '--kernel', `${target.projectDir}/guests/noop/noop`, '--memory', '4', '--prefix', 'bench'], o,
        (m): Sample => {
          if (m.metric === 'create-to-ready') {
            o.progress(`${m.tool} N=${m.running} rep ${Number(m.rep) + 1}/${reps}: ${Number(m.value).toFixed(0)} ms`);
          }
          if (m.metric === 'destroy') o.step?.(++done, total);
          return {
            scenario: name, metric: String(m.metric), value: Number(m.value), unit: 'ms', host, at: new Date().toISOString(),
            parameters: { tool: String(m.tool), guest: 'noop', memoryMiB: 4, running: Number(m.running), rep: Number(m.rep) },
          };
        });
    },
  };
}

export default createScenario('create', ['xl', 'chaos', 'chaos-cli'],
  'xl vs chaos (toolstack in a long-running process) vs the chaos command (full mode): create to ready mark, pause+unpause, destroy, with N guests running', ['chaos-cli']);
