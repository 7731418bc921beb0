// Unit: benchmark records and the doc docs/benchmarks.md is made of (medians, ratios, CSV quoting, the headline, the lab note, plots).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { readSamples, summarize, toCsv, writeResults, type HostProps, type Sample } from '../../../bench/record.js';
import { buildReport, comparisonTable, headlineSamples, latestResults, metricTable, runningTable, writeReport } from '../../../bench/report.js';
import { findScenarios, SCENARIOS } from '../../../bench/scenarios.js';

const host: HostProps = { kind: 'lab', cpu: 'x', cores: 2, hostKernel: 'k', xen: '4.17.7', dom0Kernel: 'd', dom0MemoryMiB: 1024, commit: 'abc', node: 'v20' };
const s = (tool: string, running: number, value: number, metric = 'create-to-ready'): Sample =>
  ({ scenario: 'create', metric, value, unit: 'ms', host, at: '2026-01-01T00:00:00Z', parameters: { tool, running, rep: 0 } });

t.test('summarize: median of odd and even counts, min, max; empty is an error', async (t) => {
  t.same(summarize([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  t.same(summarize([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4, n: 4 });
  t.throws(() => summarize([]), RangeError);
});

t.test('comparisonTable puts tools side by side with how many times faster than xl each is', async (t) => {
  const table = comparisonTable([s('xl', 0, 1000), s('xl', 0, 1200), s('chaos', 0, 250), s('xl', 10, 2000), s('chaos', 10, 500)], 'create-to-ready');
  const rows = table.split('\n');
  t.match(rows[0], /running guests \| xl median \(ms\) \[min–max\] \| chaos median/);
  t.match(rows[0], /xl ÷ chaos/);
  t.match(rows[2], /^\| 0 \| 1100 \[1000–1200\] \| 250 \[250–250\] \| 4\.40x \|$/);
  t.match(rows[3], /^\| 10 \| 2000 .* \| 4\.00x \|$/);
});

t.test('metricTable puts several tools side by side with xl ÷ each, and shows a metric one tool lacks as –', async (t) => {
  const m = (tool: string, metric: string, value: number) => ({ ...s(tool, 0, value, metric), parameters: { tool, rep: 0 } });
  const table = metricTable([m('xl', 'save', 3000), m('xl', 'save', 3400), m('chaos', 'save', 1600), m('chaos', 'migrate-localhost', 9000)]);
  t.match(table, /\| what \| xl median \[min–max\] \| chaos median \[min–max\] \| xl ÷ chaos \|/);
  t.match(table, /\| save \| 3200 ms \[3000–3400\] \| 1600 ms \[1600–1600\] \| 2\.00x \|/);
  t.match(table, /\| migrate-localhost \| – \| 9000 ms \[9000–9000\] \| – \|/);
});

t.test('metricTable keeps two guests apart: a row per guest and metric, and no ratio across guests', async (t) => {
  const m = (tool: string, guest: string, metric: string, value: number) => ({ ...s(tool, 0, value, metric), parameters: { tool, guest, rep: 0 } });
  const table = metricTable([
    m('xl', 'tinyx', 'save', 3000), m('chaos', 'tinyx', 'save', 1500),
    m('xl', 'daytime', 'save', 1000), m('chaos', 'daytime', 'save', 500), m('chaos-noxs', 'daytime', 'save', 250),
  ]);
  t.match(table, /\| tinyx: save \| 3000 ms \[3000–3000\] \| 1500 ms \[1500–1500\] \| – \| 2\.00x \| – \|/);
  t.match(table, /\| daytime: save \| 1000 ms \[1000–1000\] \| 500 ms \[500–500\] \| 250 ms \[250–250\] \| 2\.00x \| 4\.00x \|/);
});

t.test('metricTable without xl takes the stock vif-bridge script as the baseline: vif-bridge ÷ xendevd', async (t) => {
  const m = (tool: string, metric: string, value: number) => ({ ...s(tool, 0, value, metric), parameters: { tool, rep: 0 } });
  const table = metricTable([m('xendevd', 'vif-bridged', 300), m('vif-bridge', 'vif-bridged', 7500), m('xendevd', 'vif-connected', 500)]);
  t.match(table, /\| what \| xendevd median \[min–max\] \| vif-bridge median \[min–max\] \| vif-bridge ÷ xendevd \|/);
  t.match(table, /\| vif-bridged \| 300 ms \[300–300\] \| 7500 ms \[7500–7500\] \| 25\.00x \|/);
  t.match(table, /\| vif-connected \| 500 ms \[500–500\] \| – \| – \|/);
});

t.test('runningTable compares each N with the smallest; metricTable has a row per metric', async (t) => {
  t.match(runningTable([s('xl', 0, 100), s('xl', 100, 300)], 'create-to-ready'), /\| 100 \| 300 \| 300 \| 300 \| 1 \| 3\.00x \|/);
  const m = metricTable([{ ...s('x', 0, 5, 'node-bare'), parameters: { rep: 0 } }, { ...s('x', 0, 7, 'node-bare'), parameters: { rep: 1 } }]);
  t.match(m, /\| node-bare \| 6\.0 ms \| 5\.0 \| 7\.0 \| 2 \|/);
});

t.test('results round-trip through JSON lines; CSV quotes what needs quoting; the newest run wins', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-bench-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  writeResults(path.join(dir, '2026-01-01-a'), 'create', [s('xl', 0, 1)]);
  const { jsonl } = writeResults(path.join(dir, '2026-01-02-b'), 'create', [s('xl', 0, 2)]);
  t.same(readSamples(jsonl).map((x) => x.value), [2]);
  t.equal(latestResults(dir).get('create')?.samples[0].value, 2, 'the newer run is used');
  t.match(toCsv([{ ...s('xl', 0, 1), host: { ...host, xen: '4.17, "x"' } }]), /"4\.17, ""x"""/);
  fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"nope":1}\n');
  t.throws(() => readSamples(path.join(dir, 'bad.jsonl')), /not a benchmark sample/);
});

t.test('an unknown scenario is refused with the list of known ones; names are unique', async (t) => {
  t.throws(() => findScenarios(['nope']), /unknown scenario "nope"; known: image-sizes, fork-exec, pause, memory, xl-create, create, chaosd, save-restore, vif-hotplug, cli-startup/);
  t.equal(findScenarios(undefined).length, SCENARIOS.length);
  t.equal(new Set(SCENARIOS.map((x) => x.name)).size, SCENARIOS.length);
  t.same(findScenarios(['pause', 'create']).map((x) => x.name), ['pause', 'create']);
  for (const sc of SCENARIOS) t.ok(sc.memoryMiB({ full: true, progress: () => {} }) <= 8192, `${sc.name} fits a lab of 8 GiB in full mode`);
});

t.test('a newer run that compared fewer tools keeps the other tools from the older run', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-bench-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  writeResults(path.join(dir, '2026-01-01-a'), 'create', [s('xl', 0, 10), s('chaos', 0, 5), s('chaos-cli', 0, 50)]);
  writeResults(path.join(dir, '2026-01-02-b'), 'create', [s('xl', 0, 12), s('chaos', 0, 4)]);
  const r = latestResults(dir).get('create')!;
  t.same(r.samples.map((x) => `${x.parameters.tool}=${x.value}`).sort(), ['chaos-cli=50', 'chaos=4', 'xl=12']);
  t.equal(r.files.length, 2);
});

const at = (x: Sample, iso: string, h: Partial<HostProps> = {}): Sample => ({ ...x, at: iso, host: { ...host, ...h } });

t.test('the headline takes create-to-ready of every configuration from the newest scenario that measured it', async (t) => {
  const older = [at(s('xl', 0, 900), '2026-01-01T00:00:00Z'), at(s('xl', 10, 1000), '2026-01-01T00:00:00Z')].map((x) => ({ ...x, scenario: 'xl-create' }));
  const newer = [s('xl', 0, 800), s('chaos', 0, 200), s('chaos', 10, 400), s('xl', 10, 1200), s('xl', 0, 10, 'destroy')].map((x) => at(x, '2026-02-01T00:00:00Z'));
  const noxs = [at({ ...s('chaos-noxs', 0, 100), scenario: 'noxs' }, '2026-02-02T00:00:00Z')];
  const latest = new Map([['xl-create', { file: 'a', files: ['a'], samples: older }], ['create', { file: 'b', files: ['b'], samples: newer }], ['noxs', { file: 'c', files: ['c'], samples: noxs }]]);
  const head = headlineSamples(latest);
  t.same([...new Set(head.map((x) => x.parameters.tool))], ['xl', 'chaos', 'chaos-noxs'], 'xl first, then chaos, then any other configuration');
  t.ok(head.every((x) => x.metric === 'create-to-ready'));
  t.same(head.filter((x) => x.parameters.tool === 'xl').map((x) => x.value), [800, 1200], 'xl from the newer create scenario');
});

t.test('the doc: headline figure, lab note, ratios, the floor, a plot per scenario, no absolute claim without "lab"', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-bench-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const results = path.join(dir, 'results');
  writeResults(path.join(results, '2026-01-01-a'), 'create', [s('xl', 0, 1000), s('chaos', 0, 250), s('xl', 10, 2000), s('chaos', 10, 500)]);
  const fe = (v: number): Sample => ({ ...s('', 0, v, 'c-fork-exec-wait'), scenario: 'fork-exec', parameters: { rep: 0 } });
  writeResults(path.join(results, '2026-01-01-a'), 'fork-exec', [fe(2), fe(3)]);
  const { markdown, plots } = buildReport(results, dir, path.join(dir, 'docs'));
  t.match(markdown, /## Creation time against the number of running VMs\n\n\*\*Measured in the lab\*\*/);
  t.match(markdown, /!\[[^\]]*\]\(plots\/headline\.svg\)/);
  t.match(markdown, /chaos over xenstore goes from create to ready 4\.00x faster than xl at N=0 and 4\.00x faster than xl at N=10/);
  t.match(markdown, /in the same run: a create to ready mark by chaos at N=0 takes 100x the time of a fork\+exec\+wait of \/bin\/true/);
  t.same(plots.map((p) => p.file).sort(), ['create-create-to-ready.svg', 'fork-exec.svg', 'headline.svg']);
  const real = path.join(dir, 'real');
  writeResults(path.join(real, 'r'), 'create', [at(s('xl', 0, 10), '2026-01-01T00:00:00Z', { kind: 'real' })]);
  t.notMatch(buildReport(real, dir).markdown, /Measured in the lab/, 'a real host is not called the lab');
  t.match(buildReport(path.join(dir, 'none'), dir).markdown, /No results yet/);

  const doc = path.join(dir, 'docs', 'benchmarks.md'), plotsDir = path.join(dir, 'docs', 'plots');
  fs.mkdirSync(plotsDir, { recursive: true });
  fs.writeFileSync(path.join(plotsDir, 'gone.svg'), '<svg/>');
  const written = await writeReport(results, dir, doc, plotsDir);
  t.equal(written.length, 4);
  t.match(fs.readFileSync(path.join(plotsDir, 'headline.svg'), 'utf8'), /^<svg/);
  t.notOk(fs.existsSync(path.join(plotsDir, 'gone.svg')), 'a plot of a scenario no longer present is removed');
});
