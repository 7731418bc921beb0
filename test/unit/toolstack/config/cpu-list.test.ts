// Unit tests of xl's CPULIST syntax: single CPUs, ranges, exclusions, "all", and each refusal.
import t from 'tap';
import { MAX_CPU, parseCpuList } from '../../../../toolstack/config/cpu-list.js';
import { reject, rejection } from './spec-reject.js';

const cpus = (s: string) => parseCpuList(s, reject);

t.test('CPU numbers, ranges and exclusions become a sorted list without repeats', async (tt) => {
  tt.same(cpus('3'), [3]);
  tt.same(cpus('0-3'), [0, 1, 2, 3]);
  tt.same(cpus('0,2,5'), [0, 2, 5]);
  tt.same(cpus('0-3,5,^1'), [0, 2, 3, 5], 'the example of xl.cfg(5)');
  tt.same(cpus('^1,0-3'), [0, 2, 3], 'an exclusion applies wherever it is written');
  tt.same(cpus('5,1,3-4,1'), [1, 3, 4, 5]);
  tt.same(cpus('0-7,^2-5'), [0, 1, 6, 7], 'an excluded range');
  tt.same(cpus(' 1 , 2 '), [1, 2], 'spaces around items');
  tt.same(cpus(`${MAX_CPU}`), [MAX_CPU]);
  tt.same(cpus('2-2'), [2]);
});

t.test('"all", also with more CPUs named', async (tt) => {
  tt.equal(cpus('all'), 'all');
  tt.equal(cpus('all,3'), 'all');
});

t.test('refusals, each with a reason', async (tt) => {
  const cases: Array<[string, RegExp]> = [
    ['', /has an empty item/],
    ['1,', /has an empty item/],
    ['x', /"x" is not "all", a CPU number, a range such as 2-5 or an exclusion such as \^3$/],
    ['1-', /"1-" is not "all"/],
    ['-1', /"-1" is not "all"/],
    ['1.5', /"1\.5" is not/],
    ['^', /"\^" is not/],
    ['0x3', /"0x3" is not/],
    ['5-2', /the range "5-2", which runs backwards: write 2-5$/],
    [`0-${MAX_CPU + 1}`, new RegExp(`names CPU ${MAX_CPU + 1}, but CPU numbers go from 0 to ${MAX_CPU}$`)],
    ['^1', /leaves no CPU to run on$/],
    ['1,^1', /leaves no CPU to run on$/],
    ['all,^7', /excludes CPUs from "all", which lightvm cannot resolve/],
    ['node:1', /uses NUMA nodes \("node:1"\), which lightvm does not support: list the CPUs instead$/],
    ['nodes:0-3,^node:2', /uses NUMA nodes/],
    ['1,^node:2', /uses NUMA nodes \("\^node:2"\)/],
  ];
  for (const [text, says] of cases) {
    const r = rejection(() => cpus(text));
    tt.equal(r?.code, 'CONFIG_INVALID', `${JSON.stringify(text)}: refused`);
    tt.match(r?.reason, says, `${JSON.stringify(text)}: says why`);
    tt.match(r?.reason, new RegExp(`^${JSON.stringify(text).replace(/[\^$.*+?()[\]{}|\\]/g, '\\$&')} `), `${JSON.stringify(text)}: names the list`);
  }
});
