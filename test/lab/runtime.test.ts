// Lab: the PV runtime's guests on real Xen: daytime answers TCP from dom0 and from another guest, survives checkpoint and save/restore, and reports bad XenStore data or a bad command line on its console.
import t, { type Test } from 'tap';
import type { Lab } from '../../lab/lab.js';
import { chaos, destroyOnTeardown, labOrSkip, PROJECT, putFile, READY, uniqueName, waitForConsole, xlCreate, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();

const DAYTIME_KERNEL = `${PROJECT}/guests/daytime/daytime`;
const SHARE = '/mnt/share';
// Guests of this issue live in 10.88.0.100-199; each run takes four addresses of its own.
const BASE = 100 + (process.pid % 24) * 4;
const ip = (i: number): string => `10.88.0.${BASE + i}`;
// RFC 867 leaves the format open; ours is "Weekday, Month D, YYYY HH:MM:SS-UTC".
const DAYTIME_LINE = /^(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, [A-Z][a-z]+ \d{1,2}, \d{4} (\d\d):(\d\d):(\d\d)-UTC\r\n$/;

function daytimeConfig(name: string, opts: { ip?: number; extra?: string; memory?: number; vif?: string } = {}): string {
  const cmdline = [opts.ip !== undefined ? `ip=${ip(opts.ip)}/24 gw=10.88.0.1` : '', opts.extra ?? ''].filter(Boolean).join(' ');
  return [
    `name = "${name}"`, 'type = "pv"', `kernel = "${DAYTIME_KERNEL}"`, `memory = ${opts.memory ?? 8}`, 'vcpus = 1',
    `vif = [ "${opts.vif ?? 'bridge=xenbr0'}" ]`, `extra = "${cmdline}"`, 'on_crash = "preserve"',
  ].join('\n') + '\n';
}

/** xl always runs a vif script; in the lab it is xendevd's no-op one (named here too, for labs booted before it was xl's default). */
async function xlVif(lab: Lab): Promise<string> {
  const has = await lab.run(['test', '-x', '/etc/xen/scripts/vif-xendevd']);
  return has.code === 0 ? 'bridge=xenbr0,script=vif-xendevd' : 'bridge=xenbr0';
}

/** dom0 has the bridge (the lab's boot makes it); an older lab gets one here. */
async function ensureBridge(lab: Lab): Promise<void> {
  await lab.sh('ip link show xenbr0 >/dev/null 2>&1 || { brctl addbr xenbr0 && ip addr add 10.88.0.1/24 dev xenbr0 && ip link set xenbr0 up; }');
}

/** Waits for xendevd to put the guest's vif on the bridge; without xendevd, does its job by hand. */
async function attachVif(lab: Lab, name: string): Promise<void> {
  const id = (await lab.sh(`xl domid ${name}`)).trim();
  const vif = `vif${id}.0`;
  const r = await lab.run(`i=0; until [ -e /sys/class/net/xenbr0/brif/${vif} ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`, { timeoutMs: 60_000 });
  if (r.code !== 0) {
    await lab.sh(`ip link set ${vif} up; brctl addif xenbr0 ${vif}; xenstore-write /local/domain/0/backend/vif/${id}/0/hotplug-status connected`);
  }
}

/** Asks a daytime server from dom0, retrying while it comes up; the line it answered. */
async function askDaytime(lab: Lab, addr: string, tries = 20): Promise<string> {
  // Into a file: $(...) would strip the line's end, which is part of what is checked.
  const out = `/tmp/daytime-${addr}-${process.pid}`;
  const r = await lab.run(`i=0; until nc -w 5 ${addr} 13 > ${out} && [ -s ${out} ]; do i=$((i+1)); [ $i -ge ${tries} ] && exit 1; sleep 1; done; cat ${out}; rm -f ${out}`, { timeoutMs: (tries * 7 + 30) * 1000 });
  if (r.code !== 0) throw new Error(`no daytime answer from ${addr} after ${tries} tries`);
  return r.stdout.toString();
}

/** Checks an answer is a daytime line within two minutes of dom0's clock. */
async function checkAnswer(t: Test, lab: Lab, line: string, what: string): Promise<void> {
  const m = DAYTIME_LINE.exec(line);
  t.ok(m, `${what}: an RFC 867 line (${JSON.stringify(line)})`);
  if (!m) return;
  const [h, mi, s] = (await lab.sh('date -u +%H:%M:%S')).trim().split(':').map(Number);
  const theirs = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
  const ours = h! * 3600 + mi! * 60 + s!;
  const diff = Math.min(Math.abs(ours - theirs), 86400 - Math.abs(ours - theirs));
  t.ok(diff < 120, `${what}: the guest's time is dom0's within 2 min (off by ${diff} s)`);
}

async function consoleLog(lab: Lab, name: string): Promise<string> {
  return (await lab.run(['cat', `/var/log/xen/console/guest-${name}.log`])).stdout.toString();
}

async function chaosCreate(t: Test, lab: Lab, name: string, cfg: string, args: string[] = []): Promise<void> {
  await putFile(lab, `/tmp/${name}.cfg`, cfg);
  const r = await chaos(lab, ['create', ...args, `/tmp/${name}.cfg`]);
  t.equal(r.code, 0, `chaos create ${name}${r.code ? `: ${r.stderr}` : ''}`);
}

t.test('daytime made by xl answers dom0 with the time', { skip }, async (t) => {
  const name = uniqueName('rt-day-xl');
  destroyOnTeardown(t, lab!, [name]);
  await ensureBridge(lab!);
  await xlCreate(lab!, daytimeConfig(name, { ip: 0, vif: await xlVif(lab!) }), name);
  await attachVif(lab!, name);
  await waitForConsole(lab!, name, `${READY} daytime`);
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(0)), 'nc from dom0');
});

t.test('daytime made by chaos: answers dom0 and a second guest, then survives save -c and save/restore', { skip }, async (t) => {
  const server = uniqueName('rt-day-a');
  const client = uniqueName('rt-day-b');
  const file = `${SHARE}/${server}.save`;
  destroyOnTeardown(t, lab!, [server, client]);
  t.teardown(async () => { await lab!.run(['rm', '-f', file]).catch(() => undefined); });
  await ensureBridge(lab!);

  await chaosCreate(t, lab!, server, daytimeConfig(server, { ip: 1 }));
  await attachVif(lab!, server);
  await waitForConsole(lab!, server, `${READY} daytime`);
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(1)), 'before any suspend');

  await chaosCreate(t, lab!, client, daytimeConfig(client, { ip: 2, extra: `daytime.peer=${ip(1)}` }));
  await attachVif(lab!, client);
  await waitForConsole(lab!, client, `daytime: peer ${ip(1)} says: `);
  const said = /daytime: peer [\d.]+ says: (.*)\r?\n/.exec(await consoleLog(lab!, client));
  await checkAnswer(t, lab!, `${said?.[1] ?? ''}\r\n`, 'the second guest asked the first');

  const cp = await chaos(lab!, ['save', '-c', server, file]);
  t.equal(cp.code, 0, `chaos save -c${cp.code ? `: ${cp.stderr}` : ''}`);
  await waitForConsole(lab!, server, 'lightvm: resumed (suspend cancelled, same domain)');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(1)), 'after a checkpoint (save -c)');

  const s = await chaos(lab!, ['save', server, file]);
  t.equal(s.code, 0, `chaos save${s.code ? `: ${s.stderr}` : ''}`);
  t.notOk((await xlList(lab!)).find((d) => d.name === server), 'the saved domain is gone');
  const r = await chaos(lab!, ['restore', file]);
  t.equal(r.code, 0, `chaos restore${r.code ? `: ${r.stderr}` : ''}`);
  await attachVif(lab!, server);
  await waitForConsole(lab!, server, 'lightvm: resumed (new domain)');
  t.match(await consoleLog(lab!, server), /netfront vif\/0: reconnected/, 'netfront reconnected to the new back-end');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(1)), 'after save and restore');
});

t.test('bad XenStore data and a bad command line end in a clear console error, not a fault', { skip }, async (t) => {
  const cases: { what: string; setup: (id: string) => string; expect: RegExp; extra?: string }[] = [
    { what: 'garbage backend-id', setup: (id) => `xenstore-write /local/domain/${id}/device/vif/0/backend-id 'zero!'`,
      expect: /netfront vif\/0: device\/vif\/0\/backend-id is 'zero!': want a domain id/ },
    { what: 'missing mac', setup: (id) => `xenstore-rm /local/domain/${id}/device/vif/0/mac`,
      expect: /netfront vif\/0: device\/vif\/0\/mac is missing: want a unicast MAC/ },
    { what: 'backend outside /local/domain', setup: (id) => `xenstore-write /local/domain/${id}/device/vif/0/backend /tool/../x`,
      expect: /netfront vif\/0: device\/vif\/0\/backend is '\/tool\/\.\.\/x': want a path under \/local\/domain\// },
    { what: 'bad ip= on the command line', setup: () => 'true', extra: 'ip=10.88.0.300/24',
      expect: /lightvm: net: ip=10\.88\.0\.300\/24 is not an IPv4 address with a prefix length/ },
  ];
  await ensureBridge(lab!);
  for (const c of cases) {
    const name = uniqueName('rt-bad');
    destroyOnTeardown(t, lab!, [name]);
    await chaosCreate(t, lab!, name, daytimeConfig(name, c.extra ? { extra: c.extra } : { ip: 3 }), ['-p']);
    const id = (await lab!.sh(`xl domid ${name}`)).trim();
    await lab!.sh(c.setup(id));
    await lab!.sh(`xl unpause ${name}`);
    await waitForConsole(lab!, name, 'lightvm: fatal: daytime: no network', 90);
    const log = await consoleLog(lab!, name);
    t.match(log, c.expect, `${c.what}: the console says what is wrong`);
    t.notMatch(log, /exception|page fault|LIGHTVM-READY/, `${c.what}: no fault and no ready mark`);
    await lab!.run(['xl', 'destroy', name]);
  }
});
