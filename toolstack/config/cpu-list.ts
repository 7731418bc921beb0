// Reads xl's CPULIST syntax ("all", "0-3,5,^1") into an explicit, sorted list of host CPU numbers.
import type { Reject } from './report.js';

/** A set of host CPUs: every CPU, or exactly these (sorted, no repeats). */
export type CpuSet = number[] | 'all';

/**
 * The largest CPU number accepted. Not a Xen limit: a bound that keeps "0-4000000000" from building
 * a huge list. Xen itself refuses CPUs the host does not have.
 */
export const MAX_CPU = 4095;

const ITEM_HELP = '"all", a CPU number, a range such as 2-5 or an exclusion such as ^3';

/**
 * Parses one CPULIST. Exclusions apply to everything the list includes, wherever they are written.
 * "all" together with exclusions ("all,^7") and NUMA node items ("node:1") need the host's topology,
 * which a configuration file cannot know, so they are refused with a sentence saying so.
 */
export function parseCpuList(text: string, reject: Reject): CpuSet {
  const shown = JSON.stringify(text);
  const items = text.split(',').map((s) => s.trim());
  const include = new Set<number>();
  const exclude = new Set<number>();
  let all = false;
  for (const item of items) {
    if (item === '') {
      reject('CONFIG_INVALID', `${shown} is not a CPU list: it has an empty item; write items such as ${ITEM_HELP}, separated by ","`);
    }
    if (item === 'all') {
      all = true;
      continue;
    }
    if (/^\^?nodes?:/.test(item)) {
      reject('CONFIG_INVALID', `${shown} uses NUMA nodes ("${item}"), which lightvm does not support: list the CPUs instead`);
    }
    const m = /^(\^?)(\d+)(?:-(\d+))?$/.exec(item);
    if (!m) reject('CONFIG_INVALID', `${shown} is not a CPU list: "${item}" is not ${ITEM_HELP}`);
    const from = Number(m[2]);
    const to = m[3] === undefined ? from : Number(m[3]);
    if (from > MAX_CPU || to > MAX_CPU) {
      reject('CONFIG_INVALID', `${shown} names CPU ${Math.max(from, to)}, but CPU numbers go from 0 to ${MAX_CPU}`);
    }
    if (to < from) reject('CONFIG_INVALID', `${shown} has the range "${item}", which runs backwards: write ${to}-${from}`);
    const into = m[1] === '^' ? exclude : include;
    for (let cpu = from; cpu <= to; cpu++) into.add(cpu);
  }
  if (all) {
    if (exclude.size > 0) {
      reject('CONFIG_INVALID', `${shown} excludes CPUs from "all", which lightvm cannot resolve without knowing the host's CPUs: list the CPUs wanted instead`);
    }
    return 'all';
  }
  const cpus = [...include].filter((c) => !exclude.has(c)).sort((a, b) => a - b);
  if (cpus.length === 0) reject('CONFIG_INVALID', `${shown} leaves no CPU to run on`);
  return cpus;
}
