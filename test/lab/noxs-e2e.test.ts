// Lab: chaos over noxs end to end on the patched Xen: a daytime guest boots, answers, shows its console and obeys power requests; with xenstored stopped chaos still works and xl fails.
import t, { type Test } from 'tap';
import { chaos, labOrSkip, noopConfig, PROJECT, putFile, READY, uniqueName } from './fixture.js';
import { askDaytime, checkAnswer, daytimeConfig, ensureBridge, ip } from './daytime.js';

const { lab, skip: noLab } = labOrSkip();
/** The tests' own state directory: their records and monitor are theirs, whatever else runs in the lab. */
const STATE = `/tmp/lightvm-noxs-e2e-${process.pid}`;
/** In-process toolstack from the tree under test (a chaosd in the lab would be the image's). */
const OPTS = ['--no-daemon', '--state-dir', STATE];
const CHAOS = `node ${PROJECT}/dist/toolstack/cli/start.cjs ${OPTS.join(' ')}`;

type Row = { domid: number; name: string; state: string };

let skip: string | false = noLab;
if (!skip) {
  const r = await lab!.run(['node', `${PROJECT}/dist/test/lab/dom0/noxs-probe.js`, 'available'], { timeoutMs: 120_000 });
  const out = r.code === 0 ? (JSON.parse(r.stdout.toString()) as { available?: boolean }) : {};
  if (!out.available) skip = 'the lab runs a stock hypervisor without devctl (noxs): boot the patched one with `lab up --xen noxs`';
}

const c = (args: string[], timeoutMs?: number) => chaos(lab!, [...OPTS, ...args], timeoutMs);

async function list(): Promise<Row[]> {
  const r = await c(['list', '--json']);
  if (r.code !== 0) throw new Error(`chaos list: ${r.stderr}`);
  return JSON.parse(r.stdout) as Row[];
}

/** Destroys by name through chaos (xl does not know noxs domains by name). */
function destroyOnTeardown(t: Test, names: string[]): void {
  t.teardown(async () => {
    for (const n of names) await c(['destroy', n], 120_000).catch(() => undefined);
  });
}

/** Polls the guest's console ring (read straight from its page: xenconsoled does not know a noxs domain) until it holds `text`. */
async function waitForRing(name: string, text: string, timeoutSec = 180): Promise<string> {
  const deadline = Date.now() + timeoutSec * 1000;
  let last = '';
  for (;;) {
    const r = await c(['console', '--once', name]);
    last = r.code === 0 ? r.stdout : `(chaos console failed: ${r.stderr})`;
    if (r.code === 0 && last.includes(text)) return last;
    if (Date.now() > deadline) throw new Error(`"${text}" did not appear in ${name}'s console ring within ${timeoutSec} s; it holds: ${JSON.stringify(last.slice(-1500))}`);
    await new Promise((res) => setTimeout(res, 2000));
  }
}

t.test('noxsd runs in dom0', { skip }, async (t) => {
  const r = await lab!.run(['test', '-S', '/run/lightvm/noxsd.sock']);
  t.equal(r.code, 0, 'its socket /run/lightvm/noxsd.sock is there (lab boot starts noxsd)');
});

t.test('a daytime guest over noxs: boots, answers TCP from dom0, console by ring, poweroff and reboot through the power device', { skip }, async (t) => {
  const name = uniqueName('nx-day');
  destroyOnTeardown(t, [name]);
  await ensureBridge(lab!);
  await putFile(lab!, `/tmp/${name}.cfg`, daytimeConfig(name, { ip: 2 }));
  const made = await c(['create', '--dev-method', 'noxs', `/tmp/${name}.cfg`]);
  t.equal(made.code, 0, `chaos create --dev-method noxs${made.code ? `: ${made.stderr}` : ''}`);
  if (made.code !== 0) return;

  const rec = JSON.parse((await c(['list', '--long', '--json', name])).stdout)[0] as Row & { record?: unknown };
  t.match(rec?.record, { devMethod: 'noxs', config: { devMethod: 'noxs' } }, 'recorded as a noxs domain');
  const xs = await lab!.run(['xenstore-ls', `/local/domain/${rec?.domid}`]);
  t.not(xs.code, 0, `nothing in XenStore for domain ${rec?.domid} (${xs.stderr.toString().trim()})`);

  const ring = await waitForRing(name, `${READY} daytime`);
  t.match(ring, /devices: noxs/, "the runtime found its devices on the noxs page (the console ring, read by chaos console --once)");
  t.notMatch(ring, /no power control/, 'it has power control');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'nc from dom0 to the noxs guest');
  const nif = await lab!.run(`ls /sys/class/net/xenbr0/brif/`);
  t.match(nif.stdout.toString(), /vif\d+\.0/, "noxsd put the guest's tap interface on xenbr0");

  // Reboot: the guest shuts down for reboot; the monitor chaos create started makes it again, over noxs.
  const before = (await list()).find((d) => d.name === name);
  const rb = await c(['reboot', '--wait', '--timeout', '120', name], 300_000);
  t.equal(rb.code, 0, `chaos reboot -w through the power device${rb.code ? `: ${rb.stderr}` : ''}`);
  t.match(rb.stderr, /rebooted/);
  let again: Row | undefined;
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    again = (await list()).find((d) => d.name === name && d.domid !== before?.domid);
    if (again) break;
    await new Promise((res) => setTimeout(res, 3000));
  }
  t.ok(again, `made again after the reboot (domain ${before?.domid} -> ${again?.domid})`);
  if (again) {
    const rec2 = await c(['list', '--long', '--json', name]);
    t.equal(JSON.parse(rec2.stdout)[0]?.record?.devMethod, 'noxs', 'still over noxs');
    await waitForRing(name, `${READY} daytime`);
    await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'the rebooted guest answers');
  }

  const off = await c(['shutdown', '--wait', '--timeout', '120', name], 300_000);
  t.equal(off.code, 0, `chaos shutdown -w through the power device${off.code ? `: ${off.stderr}` : ''}`);
  t.match(off.stderr, /shut down/);
});

t.test('a noop guest over noxs has no power client: shutdown says so instead of waiting', { skip }, async (t) => {
  const name = uniqueName('nx-noop');
  destroyOnTeardown(t, [name]);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name));
  const made = await c(['create', '--dev-method', 'noxs', `/tmp/${name}.cfg`]);
  t.equal(made.code, 0, `created${made.code ? `: ${made.stderr}` : ''}`);
  await waitForRing(name, `${READY} noop`);
  const r = await c(['shutdown', name]);
  t.equal(r.code, 1);
  t.match(r.stderr, /does not listen to power requests.*\[GUEST_STATE\]/);
  const d = await c(['destroy', name]);
  t.equal(d.code, 0, 'destroyed');
  t.notOk((await list()).some((x) => x.name === name), 'gone from the list');
});

// Last: xenstored is stopped (SIGSTOP, so it keeps its state) for as short a time as possible, and
// continued by the same dom0 script on any exit, by a watchdog in dom0, and by the teardown.
t.test('with xenstored stopped, chaos over noxs creates, lists, pauses, unpauses and destroys; xl and chaos over xenstore fail within a bound', { skip }, async (t) => {
  const name = uniqueName('nx-nostore');
  const other = uniqueName('nx-xs');
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name));
  await putFile(lab!, `/tmp/${other}.cfg`, noopConfig(other));
  t.teardown(async () => {
    await lab!.run('kill -CONT $(cat /run/xen/xenstored.pid)').catch(() => undefined);
    for (const n of [`${name}-1`, `${name}-2`, other]) await c(['destroy', n], 120_000).catch(() => undefined);
  });
  // One script in dom0: one line per step (step, exit code, ms, output on one line).
  const script = `
pid=$(cat /run/xen/xenstored.pid) || exit 90
kill -0 "$pid" || exit 91
step() { n=$1; shift; s=$(date +%s%N); "$@" > /tmp/nx-$$.out 2>&1; rc=$?; e=$(date +%s%N); printf '%s\\t%s\\t%s\\t' "$n" "$rc" $(( (e - s) / 1000000 )); tr '\\n\\t' '  ' < /tmp/nx-$$.out | head -c 1500; echo; }
kill -STOP "$pid"
(sleep 300; kill -CONT "$pid") > /dev/null 2>&1 &
wd=$!
trap 'kill -CONT "$pid"; kill "$wd" 2>/dev/null; rm -f /tmp/nx-$$.out' EXIT
grep -q '^State:.*T' /proc/$pid/status && echo "stopped	0	0	xenstored is stopped"
# In the background, while chaos works: xl and chaos over xenstore, each given a bound.
( s=$(date +%s%N); timeout 30 xl list > /tmp/nx-xl-$$ 2>&1; rc=$?; e=$(date +%s%N); printf 'xl\\t%s\\t%s\\t%s\\n' "$rc" $(( (e - s) / 1000000 )) "$(tr '\\n\\t' '  ' < /tmp/nx-xl-$$ | head -c 500)" > /tmp/nx-xl-$$.res ) &
xl=$!
( s=$(date +%s%N); timeout 120 ${CHAOS} create /tmp/${other}.cfg > /tmp/nx-xs-$$ 2>&1; rc=$?; e=$(date +%s%N); printf 'chaos-xenstore\\t%s\\t%s\\t%s\\n' "$rc" $(( (e - s) / 1000000 )) "$(tr '\\n\\t' '  ' < /tmp/nx-xs-$$ | head -c 500)" > /tmp/nx-xs-$$.res ) &
xs=$!
step create ${CHAOS} create --no-monitor --dev-method noxs -n 2 /tmp/${name}.cfg
step pause ${CHAOS} pause ${name}-1
step list-paused ${CHAOS} list --json
step unpause ${CHAOS} unpause ${name}-1
step list-unpaused ${CHAOS} list --json
step destroy ${CHAOS} destroy ${name}-1 ${name}-2
wait $xl $xs
cat /tmp/nx-xl-$$.res /tmp/nx-xs-$$.res
rm -f /tmp/nx-xl-$$ /tmp/nx-xl-$$.res /tmp/nx-xs-$$ /tmp/nx-xs-$$.res
grep -q '^State:.*T' /proc/$pid/status && echo "still-stopped	0	0	xenstored was stopped to the end"
`;
  const r = await lab!.run(script, { timeoutMs: 600_000 });
  const out = r.stdout.toString();
  t.comment(out);
  t.equal(r.code, 0, `the dom0 script ran (${r.stderr.toString().slice(0, 300)})`);
  const steps = new Map(out.split('\n').filter(Boolean).map((l) => { const [n, rc, ms, text] = l.split('\t'); return [n!, { rc: Number(rc), ms: Number(ms), text: text ?? '' }]; }));
  const step = (n: string) => steps.get(n) ?? { rc: -1, ms: 0, text: '(did not run)' };
  t.ok(steps.has('stopped') && steps.has('still-stopped'), 'xenstored was stopped from before the first step to after the last');
  t.equal(step('create').rc, 0, `create -n 2 over noxs (${step('create').ms} ms): ${step('create').text}`);
  t.equal(step('pause').rc, 0, `pause: ${step('pause').text}`);
  const rows = (n: string): Row[] => { try { return JSON.parse(step(n).text) as Row[]; } catch { return []; } };
  const paused = rows('list-paused').find((d) => d.name === `${name}-1`);
  t.equal(step('list-paused').rc, 0, 'list');
  t.match(paused?.state, /p/, `listed by name, paused (${JSON.stringify(paused)})`);
  t.ok(rows('list-paused').some((d) => d.name === `${name}-2`), 'the second one is listed by name');
  t.equal(step('unpause').rc, 0, `unpause: ${step('unpause').text}`);
  t.notMatch(rows('list-unpaused').find((d) => d.name === `${name}-1`)?.state ?? 'p', /p/, 'unpaused');
  t.equal(step('destroy').rc, 0, `destroy: ${step('destroy').text}`);
  const xl = step('xl');
  t.not(xl.rc, 0, `xl list fails or times out without xenstored (exit ${xl.rc} after ${xl.ms} ms: ${xl.text})`);
  t.ok(xl.ms < 40_000, 'within its 30 s bound');
  const xs = step('chaos-xenstore');
  t.equal(xs.rc, 1, `chaos over xenstore fails (exit ${xs.rc} after ${xs.ms} ms)`);
  t.match(xs.text, /xenstored (is not answering|did not answer).*\[XENSTORE\]/, `with a clear message: ${xs.text}`);
  t.ok(xs.ms < 60_000, `within a bound (${xs.ms} ms, of which 6-9 s are node's start in the lab)`);

  // xenstored is back: xl answers again, and nothing of ours is left.
  const back = await lab!.run('timeout 60 xl list', { timeoutMs: 120_000 });
  t.equal(back.code, 0, 'xl list works again once xenstored continues');
  const left = await list();
  t.notOk(left.some((d) => d.name.startsWith(name)), 'the noxs guests are gone');
  t.notOk(left.some((d) => d.name === other), 'chaos over xenstore made nothing');
});
