// Unit: comparison mode: result sets found by folder or run name, rows matched by what they measured, B ÷ A, and xl ÷ tool in each set.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { writeResults, type HostProps, type Sample } from '../../../bench/record.js';
import { CompareError, compareSets, keyOf, loadResultSet, renderComparison, toolRatios } from '../../../bench/compare.js';

const lab: HostProps = { kind: 'lab', cpu: 'EPYC', cores: 2, hostKernel: 'k', xen: '4.17.7', dom0Kernel: 'd', dom0MemoryMiB: 1024, commit: 'aaa111', node: 'v20' };
const real: HostProps = { ...lab, kind: 'real', commit: 'bbb222' };
const s = (host: HostProps, tool: string, running: number, value: number, rep = 0): Sample =>
  ({ scenario: 'create', metric: 'create-to-ready', value, unit: 'ms', host, at: '2026-01-01T00:00:00Z', parameters: { tool, running, rep } });

t.test('a measurement is keyed by scenario, metric and parameters, whatever the repetition', async (t) => {
  t.equal(keyOf(s(lab, 'xl', 10, 1, 0)), keyOf(s(lab, 'xl', 10, 2, 4)));
  t.not(keyOf(s(lab, 'xl', 10, 1)), keyOf(s(lab, 'xl', 0, 1)));
  t.equal(keyOf(s(lab, 'xl', 10, 1)), 'create | create-to-ready | running=10 tool=xl');
});

t.test('compareSets pairs medians; one-sided rows keep their side', async (t) => {
  const rows = compareSets([s(lab, 'xl', 0, 100), s(lab, 'xl', 0, 300, 1), s(lab, 'chaos', 0, 50)], [s(real, 'xl', 0, 10), s(real, 'chaos', 10, 4)]);
  const xl = rows.find((r) => r.key.includes('tool=xl'))!;
  t.equal(xl.a?.median, 200);
  t.equal(xl.b?.median, 10);
  t.ok(rows.some((r) => r.a && !r.b), 'chaos at N=0 only in A');
  t.ok(rows.some((r) => !r.a && r.b), 'chaos at N=10 only in B');
});

t.test('toolRatios: xl ÷ each other tool for the same measurement', async (t) => {
  const r = toolRatios([s(lab, 'xl', 0, 1000), s(lab, 'chaos', 0, 250), s(lab, 'chaos-cli', 0, 2000), s(lab, 'chaos', 10, 1)]);
  t.equal(r.get('create | create-to-ready | running=0 | xl ÷ chaos'), 4);
  t.equal(r.get('create | create-to-ready | running=0 | xl ÷ chaos-cli'), 0.5);
  t.equal(r.size, 2, 'no ratio without xl at the same N');
});

t.test('renderComparison: hosts, B ÷ A, the ratios side by side, a warning when the kinds of host differ', async (t) => {
  const a = { label: 'A1', dirs: ['x'], samples: [s(lab, 'xl', 0, 1000), s(lab, 'chaos', 0, 250)] };
  const b = { label: 'B1', dirs: ['y'], samples: [s(real, 'xl', 0, 100), s(real, 'chaos', 0, 20)] };
  const md = renderComparison(a, b);
  t.match(md, /# A1 \(A\) vs B1 \(B\)/);
  t.match(md, /- A: lab \(TCG\), EPYC, 2 cores, Xen 4\.17\.7, dom0 d, commit aaa111/);
  t.match(md, /- B: real Xen host/);
  t.match(md, /different kinds of host/);
  t.match(md, /\| create \| create-to-ready \| running=0 tool=xl \| 1000 ms \[1000–1000\] \| 100 ms \[100–100\] \| 0\.10x \|/);
  t.match(md, /\| create \| create-to-ready \| running=0 \| xl ÷ chaos \| 4\.00x \| 5\.00x \|/);
  t.notMatch(renderComparison(a, { ...a, label: 'A2' }), /different kinds of host/);
});

t.test('loadResultSet: a run folder, a folder of runs, a run by part of its name; clear errors otherwise', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-compare-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  writeResults(path.join(dir, '2026-01-01T00-00-00-aaa111'), 'create', [s(lab, 'xl', 0, 1)]);
  writeResults(path.join(dir, '2026-01-02T00-00-00-bbb222'), 'create', [s(real, 'xl', 0, 2)]);
  t.equal(loadResultSet('aaa111', dir).samples[0].value, 1, 'by commit id');
  t.equal(loadResultSet(path.join(dir, '2026-01-01T00-00-00-aaa111'), dir).samples[0].value, 1, 'by folder');
  t.equal(loadResultSet(dir, dir).samples[0].value, 2, 'a folder of runs: the newest');
  t.equal(loadResultSet('2026-01', dir).label, '2026-01-02T00-00-00-bbb222', 'several matches: the newest');
  t.throws(() => loadResultSet('ccc333', dir), CompareError);
  t.throws(() => loadResultSet('ccc333', dir), /no result set "ccc333".*runs there: 2026-01-02T00-00-00-bbb222, 2026-01-01T00-00-00-aaa111/);
  fs.mkdirSync(path.join(dir, 'empty'));
  t.throws(() => loadResultSet(path.join(dir, 'empty'), dir), /holds no benchmark samples/);
});
