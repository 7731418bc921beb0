// The benchmark scenarios, one file each under bench/scenarios/; to add one, add its line to the list below.
import type { Scenario } from './scenario.js';

export type { Scenario, ScenarioOptions, Target } from './scenario.js';
export { ScenarioError } from './scenario.js';

/** Run in this order (cheap first); each module's default export is its Scenario. */
const MODULES = await Promise.all([
  import('./scenarios/image-sizes.js'),
  import('./scenarios/fork-exec.js'),
  import('./scenarios/pause.js'),
  import('./scenarios/memory.js'),
  import('./scenarios/xl-create.js'),
  import('./scenarios/create.js'),
  import('./scenarios/chaosd.js'),
  import('./scenarios/save-restore.js'),
  import('./scenarios/vif-hotplug.js'),
  import('./scenarios/cli-startup.js'),
  import('./scenarios/unikernels.js'),
]);

export const SCENARIOS: readonly Scenario[] = MODULES.map((m) => m.default);

export function findScenarios(names: readonly string[] | undefined): Scenario[] {
  if (!names || names.length === 0) return [...SCENARIOS];
  const dup = SCENARIOS.map((s) => s.name).find((n, i, all) => all.indexOf(n) !== i);
  if (dup) throw new Error(`two scenarios are named "${dup}"`);
  return names.map((n) => {
    const s = SCENARIOS.find((x) => x.name === n);
    if (!s) throw new RangeError(`unknown scenario "${n}"; known: ${SCENARIOS.map((x) => x.name).join(', ')}`);
    return s;
  });
}
