// Unit: the runner records each scenario as it ends, keeps what a failed scenario measured, goes on after a failure, stops when the target is gone; the CLI's argument errors.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { readRunInfo, readSamples, expectedSeconds, type HostProps, type Sample } from '../../../bench/record.js';
import { runScenarios } from '../../../bench/runner.js';
import { Progress, duration } from '../../../bench/progress.js';
import { ScenarioError, type Scenario, type Target } from '../../../bench/scenario.js';
import { parseArgs, scenarioOptions, UsageError } from '../../../bench/cli.js';
import { localTarget, TargetError } from '../../../bench/target.js';

const host: HostProps = { kind: 'lab', cpu: 'x', cores: 2, hostKernel: 'k', xen: '4.17.7', dom0Kernel: 'd', dom0MemoryMiB: 1024, commit: 'abc', node: 'v20' };
const sample = (scenario: string, value: number): Sample => ({ scenario, metric: 'm', value, unit: 'ms', host, at: '2026-01-01T00:00:00Z', parameters: { rep: 0 } });
/** Runs nothing: the scenarios below never call it. */
const target: Target = { kind: 'lab', projectDir: '/p', scratch: { here: '/tmp', dom0: '/tmp' }, run: () => Promise.reject(new Error('unused')), sh: () => Promise.reject(new Error('unused')) };
const fake = (name: string, run: Scenario['run']): Scenario => ({ name, description: `${name} scenario`, memoryMiB: () => 0, run });
const quiet = () => new Progress([{ name: 'a', seconds: 1 }], { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream);

t.test('a failure part way keeps its samples, the next scenario still runs, run.json says what happened', async (t) => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-runner-')), 'run1');
  t.teardown(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));
  const scenarios = [
    fake('ok', async () => [sample('ok', 1), sample('ok', 2)]),
    fake('half', async () => { throw new ScenarioError('guest never came up', [sample('half', 5)]); }),
    fake('none', async () => { throw new Error('no kernel'); }),
    fake('after', async (_t, _h, o) => { o.step?.(1, 1); return [sample('after', 3)]; }),
  ];
  const r = await runScenarios({ scenarios, options: { full: false }, target, host, dir }, quiet());
  t.same(r.failures.map((f) => f.scenario), ['half', 'none']);
  t.same(readSamples(path.join(dir, 'half.jsonl')).map((x) => x.value), [5], 'what half measured is kept');
  t.notOk(fs.existsSync(path.join(dir, 'none.jsonl')), 'no empty file for a scenario that measured nothing');
  t.same(readSamples(path.join(dir, 'after.jsonl')).map((x) => x.value), [3]);
  const info = readRunInfo(dir)!;
  t.equal(info.mode, 'quick');
  t.equal(info.scenarios.half.error, 'guest never came up');
  t.equal(info.scenarios.ok.samples, 2);
  t.equal(info.scenarios.ok.description, 'ok scenario');
  t.same([...expectedSeconds(path.dirname(dir), 'quick').keys()].sort(), ['after', 'ok'], 'failed scenarios give no expected time');
  t.equal(expectedSeconds(path.dirname(dir), 'full').size, 0, 'a quick run says nothing of full mode');
});

t.test('an interruption stops the running scenario, keeps its samples, skips the rest; the dom0 command is told through the signal', async (t) => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-runner-')), 'run1');
  t.teardown(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));
  const stop = new AbortController();
  let sawSignal = false;
  const scenarios = [
    fake('first', async () => [sample('first', 1)]),
    fake('long', (_t, _h, o) => new Promise((_resolve, reject) => {
      // As collect() does when its dom0 command is cut off: the samples so far go with the error.
      o.signal?.addEventListener('abort', () => { sawSignal = true; reject(new ScenarioError('EABORTED', [sample('long', 7)])); });
      setImmediate(() => stop.abort());
    })),
    fake('later', async () => [sample('later', 3)]),
  ];
  const r = await runScenarios({ scenarios, options: { full: false, signal: stop.signal }, target, host, dir }, quiet());
  t.ok(sawSignal, 'the scenario saw the abort');
  t.same(readSamples(path.join(dir, 'long.jsonl')).map((x) => x.value), [7], 'what it measured before is kept');
  t.same(r.failures, [{ scenario: 'long', message: 'interrupted' }, { scenario: 'later', message: 'not run: interrupted' }]);
  t.notOk(fs.existsSync(path.join(dir, 'later.jsonl')));
  t.equal(readRunInfo(dir)!.scenarios.long.error, 'interrupted');
});

t.test('--tools is narrowed to what each scenario compares; a scenario comparing none of them is skipped', async (t) => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-runner-')), 'run3');
  t.teardown(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));
  const seen: Record<string, string[] | undefined> = {};
  const scenarios: Scenario[] = [
    { ...fake('both', async (_t, _h, o) => { seen.both = o.tools; return []; }), tools: ['xl', 'chaos'] },
    { ...fake('other', async (_t, _h, o) => { seen.other = o.tools; return []; }), tools: ['xendevd'] },
    fake('any', async (_t, _h, o) => { seen.any = o.tools; return []; }),
  ];
  const r = await runScenarios({ scenarios, options: { full: false, tools: ['chaos', 'chaos-cli'] }, target, host, dir }, quiet());
  t.same(seen, { both: ['chaos'], any: ['chaos', 'chaos-cli'] });
  t.same(r.failures, []);
});

t.test('when the lab is gone, the rest is not run and is reported', async (t) => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-runner-')), 'run2');
  t.teardown(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));
  let ran = false;
  const scenarios = [
    fake('dies', async () => { throw new ScenarioError('the lab agent at 127.0.0.1:17000 closed the connection before the command finished', [sample('dies', 1)]); }),
    fake('later', async () => { ran = true; return []; }),
  ];
  const r = await runScenarios({ scenarios, options: { full: true }, target, host, dir }, quiet());
  t.notOk(ran);
  t.same(r.failures.map((f) => f.message), ['the lab agent at 127.0.0.1:17000 closed the connection before the command finished', 'not run: the target is gone']);
  t.same(readSamples(path.join(dir, 'dies.jsonl')).map((x) => x.value), [1]);
});

t.test('bad arguments are usage errors with a sentence', async (t) => {
  t.throws(() => parseArgs(['--nope']), UsageError);
  t.throws(() => parseArgs(['--compare', 'a']), /--compare takes two result sets/);
  t.throws(() => scenarioOptions(parseArgs(['--scenario', 'nope'])), /unknown scenario "nope"; known: /);
  t.throws(() => scenarioOptions(parseArgs(['--counts', '0,x'])), /--counts takes whole numbers/);
  t.throws(() => scenarioOptions(parseArgs(['--counts', '0,,10'])), /--counts takes whole numbers/);
  t.throws(() => scenarioOptions(parseArgs(['--reps', '0'])), /--reps takes a whole number/);
  t.throws(() => scenarioOptions(parseArgs(['--tools', 'xl,Bad Tool'])), /--tools takes tool names/);
  t.throws(() => scenarioOptions(parseArgs(['--scenario', 'pause', 'memory', '--tools', 'xl,foo'])), /--tools: foo is compared by none of these scenarios; they know xl, chaos, chaos-noxs, chaos-cli/);
  const ok = scenarioOptions(parseArgs(['--scenario', 'pause', '--counts', '0,10', '--tools', 'xl,chaos', '--full']));
  t.same(ok.options, { full: true, reps: undefined, counts: [0, 10], tools: ['xl', 'chaos'] });
  t.same(ok.scenarios.map((x) => x.name), ['pause']);
  t.equal(parseArgs(['--report']).report, '', '--report alone: the default results folder');
  t.equal(parseArgs(['--report', '/r']).report, '/r');
});

t.test('--host on a machine without Xen is refused with the reason', { skip: fs.existsSync('/proc/xen/capabilities') ? 'this machine runs Xen' : false }, async (t) => {
  await t.rejects(localTarget('/nonexistent'), TargetError);
  await t.rejects(localTarget('/nonexistent'), /this machine runs no Xen/);
});

t.test('durations read as minutes and seconds', async (t) => {
  t.equal(duration(42.4), '42 s');
  t.equal(duration(125), '2 min 05 s');
  t.equal(duration(-3), '0 s');
});
