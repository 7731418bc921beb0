// Lab: noxsd (dom0's noxs back-end) on real Xen, over its socket: power and vif devices for a paused noop guest, its refusals, tap clean-up, reaping when the domain dies, SIGTERM.
import t from 'tap';
import type { Lab } from '../../lab/lab.js';
import { destroyOnTeardown, labOrSkip, noopConfig, PROJECT, uniqueName, xlCreate, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();

const NOXSD = `${PROJECT}/native/build/noxsd`;
const PROBE = `${PROJECT}/dist/test/lab/dom0/noxsd-probe.js`;
// A noxsd of the test's own (socket, pid file, log), beside the one dom0's boot starts.
const TAG = `noxsd-test-${process.pid.toString(36)}`;
const SOCK = `/tmp/${TAG}/noxsd.sock`;
const PIDF = `/tmp/${TAG}/noxsd.pid`;
const LOG = `/tmp/${TAG}/noxsd.log`;

const OP = { PING: 1, POWER_ADD: 2, VIF_ADD: 3, DEV_REM: 4, DOMAIN_REM: 5, POWER_REQ: 6, STATUS: 7 };
const POWER = 1, VIF = 2;
const INITIALISING = 1;
const E = { EINVAL: -22, ENOENT: -2, ESRCH: -3, EEXIST: -17, ENODEV: -19, EOPNOTSUPP: -95, EPROTO: -71, ENOTCONN: -107 };

interface Answer { err: number; grant: number; evtchn: number; seq: number; beState: number; feState: number; feFeatures: number; ifname: string; msg: string }

/** Sends requests over one connection to `sock`; returns the answers and whether noxsd closed the connection after them. */
async function probe(l: Lab, reqs: object[], sock = SOCK): Promise<{ answers: Answer[]; closed: boolean }> {
  const r = await l.run(['node', PROBE, sock, JSON.stringify(reqs)], { timeoutMs: 120_000 });
  const out = JSON.parse(r.stdout.toString()) as (Answer & { closed?: boolean; probeError?: string; noAnswer?: boolean })[];
  if (out[0]?.probeError) throw new Error(`noxsd-probe: ${out[0].probeError}`);
  const last = out.pop()!;
  return { answers: out, closed: !!last.closed };
}

async function domid(l: Lab, name: string): Promise<number> {
  const d = (await xlList(l)).find((x) => x.name === name);
  if (!d) throw new Error(`${name} is not in xl list`);
  return d.id;
}

/** Polls until `cond` (a shell test) holds; returns whether it did. */
async function until(l: Lab, cond: string, timeoutSec = 30): Promise<boolean> {
  const r = await l.run(`i=0; until ${cond}; do i=$((i+1)); [ $i -gt ${timeoutSec * 10} ] && exit 1; sleep 0.1; done`, { timeoutMs: (timeoutSec + 30) * 1000 });
  return r.code === 0;
}

const log = async (l: Lab) => (await l.run(['cat', LOG])).stdout.toString();
const exists = (ifname: string) => `[ -e /sys/class/net/${ifname} ]`;

t.before(async () => {
  if (skip) return;
  await lab!.sh(`mkdir -p /tmp/${TAG}`);
  // Detached, noxsd returns once it listens (0) or has failed (1).
  const r = await lab!.run([NOXSD, '--socket', SOCK, '--log-file', LOG], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`noxsd did not start (exit ${r.code}): ${await log(lab!)}`);
});

t.teardown(async () => {
  if (skip) return;
  await lab!.run(`p=$(cat ${PIDF} 2>/dev/null) && kill -TERM $p 2>/dev/null; true`).catch(() => undefined);
});

t.test('noxsd starts: --help, a 0600 socket, a pid lock that refuses a second one', { skip }, async (t) => {
  t.match((await lab!.run([NOXSD, '--help'])).stdout.toString(), /--socket PATH/);
  const bad = await lab!.run([NOXSD, '--no-such-option']);
  t.equal(bad.code, 2, 'a bad option exits 2');
  t.equal((await lab!.sh(`stat -c %a ${SOCK}`)).trim(), '600', 'socket mode 0600');
  const pid = Number((await lab!.sh(`cat ${PIDF}`)).trim());
  t.ok(pid > 0 && (await lab!.run(`[ -d /proc/${pid} ]`)).code === 0, `pid file names a live process (${pid})`);
  const second = await lab!.run([NOXSD, '--socket', SOCK, '--foreground'], { timeoutMs: 60_000 });
  t.equal(second.code, 1, 'a second noxsd on the same socket refuses to start');
  t.match(second.stderr.toString(), /another noxsd holds/);
  const { answers } = await probe(lab!, [{ op: OP.PING }]);
  t.equal(answers[0]?.err, 0, 'PING answers');
  t.match(await log(lab!), /listening on/);
});

t.test('the noxsd dom0 starts at boot answers on /run/lightvm/noxsd.sock', { skip }, async (t) => {
  if ((await lab!.run('[ -x /opt/lightvm/native/build/noxsd ]')).code !== 0) {
    t.test('PING', { skip: 'this lab was booted from an image without noxsd (older than it): reboot the lab to test it' }, () => undefined);
    return;
  }
  const { answers } = await probe(lab!, [{ op: OP.PING }], '/run/lightvm/noxsd.sock');
  t.equal(answers[0]?.err, 0, 'PING answers');
});

t.test('power and vif devices for a paused guest; refusals; DEV_REM; reaped when the domain dies', { skip }, async (t) => {
  const name = uniqueName('noxsd');
  destroyOnTeardown(t, lab!, [name]);
  await xlCreate(lab!, noopConfig(name), name, ['-p']);
  const id = await domid(lab!, name);
  const vifName = `vif${id}.0`;
  const mac = '00:16:3e:4e:58:01';

  const first = await probe(lab!, [
    { op: OP.POWER_ADD, domid: id, id: 0 },
    { op: OP.STATUS, domid: id, type: POWER, id: 0 },
    { op: OP.VIF_ADD, domid: id, id: 0, mac, bridge: 'xenbr0' },
    { op: OP.STATUS, domid: id, type: VIF, id: 0 },
    { op: OP.VIF_ADD, domid: id, id: 1, mac: '00:16:3e:4e:58:02', bridge: 'xenbr0', ifname: `nxt${id}x`, mtu: 9000 },
    // refusals
    { op: 99, domid: id },
    { op: OP.POWER_ADD, domid: 0, id: 0 },
    { op: OP.VIF_ADD, domid: id, id: 2, mac: '01:00:5e:00:00:01', bridge: 'xenbr0' },
    { op: OP.VIF_ADD, domid: id, id: 2, mac: '00:16:3e:4e:58:03', bridge: 'nosuchbr9' },
    { op: OP.VIF_ADD, domid: id, id: 2, mac: '00:16:3e:4e:58:03', bridge: 'xenbr0', ifname: vifName },
    { op: OP.POWER_ADD, domid: id, id: 0 },
    { op: OP.VIF_ADD, domid: id, id: 0, mac, bridge: 'xenbr0', ifname: 'nxtdup0' },
    { op: OP.POWER_ADD, domid: 32000, id: 0 },
    { op: OP.POWER_REQ, domid: id, id: 0, arg: 1 },
    { op: OP.POWER_REQ, domid: id, id: 7, arg: 1 },
    { op: OP.DEV_REM, domid: id, type: VIF, id: 9 },
    { op: OP.DEV_REM, domid: id, type: 3, id: 0 },
    { op: OP.PING },
  ]);
  const a = first.answers;
  t.equal(a.length, 18, 'one answer per request');
  t.equal(a[0]!.err, 0, `POWER_ADD: ${a[0]!.msg}`);
  t.ok(a[0]!.grant > 0 && a[0]!.evtchn > 0, `POWER_ADD gives a grant (${a[0]!.grant}) and a port (${a[0]!.evtchn})`);
  t.equal(a[1]!.err, 0, 'STATUS power');
  t.equal(a[1]!.beState, INITIALISING, 'power be_state INITIALISING');
  t.equal(a[1]!.feState, 0, 'a paused guest has not touched the page');
  t.equal(a[1]!.grant, a[0]!.grant, 'STATUS names the same grant');
  t.equal(a[2]!.err, 0, `VIF_ADD: ${a[2]!.msg}`);
  t.equal(a[2]!.ifname, vifName, 'the tap is named vifD.I');
  t.ok(a[2]!.grant > 0 && a[2]!.evtchn > 0 && a[2]!.grant !== a[0]!.grant && a[2]!.evtchn !== a[0]!.evtchn, 'a grant and a port of its own');
  t.equal(a[3]!.beState, INITIALISING, 'vif be_state INITIALISING');
  t.equal(a[3]!.ifname, vifName, 'STATUS vif names the tap');
  t.equal(a[4]!.err, 0, `VIF_ADD with a name and MTU 9000: ${a[4]!.msg}`);
  t.equal(a[4]!.ifname, `nxt${id}x`);
  const refusals: [number, number, RegExp][] = [
    [5, E.EOPNOTSUPP, /unknown op 99/], [6, E.EINVAL, /dom0/], [7, E.EINVAL, /multicast/], [8, E.ENODEV, /bridge nosuchbr9 does not exist/],
    [9, E.EEXIST, new RegExp(`interface ${vifName.replace('.', '\\.')} already exists`)], [10, E.EEXIST, /already has power device 0/],
    [11, E.EEXIST, /already has vif device 0/], [12, E.ESRCH, /no domain 32000/], [13, E.ENOTCONN, /does not listen/],
    [14, E.ENOENT, /no power device 7/], [15, E.ENOENT, /no vif device 9/], [16, E.EOPNOTSUPP, /vbd/],
  ];
  for (const [i, err, msg] of refusals) {
    t.equal(a[i]!.err, err, `request ${i} refused with ${err}`);
    t.match(a[i]!.msg, msg, `request ${i} says why: ${a[i]!.msg}`);
  }
  t.equal(a[17]!.err, 0, 'the connection still works after refusals');
  t.equal(first.closed, false, 'refusals keep the connection');
  t.equal((await lab!.run(exists('nxtdup0'))).code, 1, 'a refused VIF_ADD leaves no tap');

  // The taps: on xenbr0, up, with the MTU asked for and Xen's vif MAC.
  t.equal((await lab!.run(`[ -e /sys/class/net/xenbr0/brif/${vifName} ]`)).code, 0, `${vifName} is on xenbr0`);
  t.equal((await lab!.run(`[ -e /sys/class/net/xenbr0/brif/nxt${id}x ]`)).code, 0, `nxt${id}x is on xenbr0`);
  t.match(await lab!.sh(`ip -o link show ${vifName}`), /[<,]UP[,>].*mtu 1500.*link\/ether fe:ff:ff:ff:ff:ff/, `${vifName} is up, MTU 1500, MAC fe:ff:ff:ff:ff:ff`);
  t.match(await lab!.sh(`ip -o link show nxt${id}x`), /mtu 9000/, 'MTU 9000 as asked');

  // DEV_REM takes the tap away; a second DEV_REM is refused.
  const rem = await probe(lab!, [{ op: OP.DEV_REM, domid: id, type: VIF, id: 1 }, { op: OP.DEV_REM, domid: id, type: VIF, id: 1 },
    { op: OP.STATUS, domid: id, type: VIF, id: 1 }]);
  t.equal(rem.answers[0]!.err, 0, 'DEV_REM');
  t.equal(rem.answers[1]!.err, E.ENOENT, 'the second DEV_REM: ENOENT');
  t.equal(rem.answers[2]!.err, E.ENOENT, 'STATUS of a removed device: ENOENT');
  t.equal((await lab!.run(exists(`nxt${id}x`))).code, 1, 'the tap is gone');

  // A bad magic is answered with EPROTO, then the connection closes.
  const bad = await probe(lab!, [{ op: OP.PING, magic: 0x11223344 }, { op: OP.PING }]);
  t.equal(bad.answers[0]!.err, E.EPROTO, 'bad magic: EPROTO');
  t.match(bad.answers[0]!.msg, /bad magic/);
  t.equal(bad.closed, true, 'then noxsd closes the connection');
  const badVersion = await probe(lab!, [{ op: OP.PING, version: 9 }]);
  t.equal(badVersion.answers[0]!.err, E.EPROTO, 'version 9: EPROTO');

  // The domain dies: noxsd notices by itself and takes its devices down.
  await lab!.sh(`xl destroy ${name}`, 120_000);
  t.ok(await until(lab!, `! ${exists(vifName)}`, 30), `${vifName} goes when the domain is destroyed`);
  const after = await probe(lab!, [{ op: OP.STATUS, domid: id, type: POWER, id: 0 }, { op: OP.STATUS, domid: id, type: VIF, id: 0 }]);
  t.equal(after.answers[0]!.err, E.ENOENT, 'the power device is gone');
  t.equal(after.answers[1]!.err, E.ENOENT, 'the vif is gone');
  t.match(await log(lab!), new RegExp(`domain ${id} vif 0 \\(${vifName.replace('.', '\\.')}\\) removed \\(the domain died\\)`), 'the log says why');
});

t.test('DOMAIN_REM removes every device of a domain; SIGTERM removes the rest and exits cleanly', { skip }, async (t) => {
  const names = [uniqueName('noxsd'), uniqueName('noxsd')];
  destroyOnTeardown(t, lab!, names);
  for (const n of names) await xlCreate(lab!, noopConfig(n), n, ['-p']);
  const [a, b] = [await domid(lab!, names[0]!), await domid(lab!, names[1]!)];
  const r = await probe(lab!, [
    { op: OP.POWER_ADD, domid: a, id: 0 }, { op: OP.VIF_ADD, domid: a, id: 3, mac: '00:16:3e:4e:58:10', bridge: 'xenbr0' },
    { op: OP.VIF_ADD, domid: b, id: 0, mac: '00:16:3e:4e:58:11', bridge: 'xenbr0' },
    { op: OP.DOMAIN_REM, domid: a }, { op: OP.DOMAIN_REM, domid: a },
    { op: OP.STATUS, domid: a, type: POWER, id: 0 }, { op: OP.STATUS, domid: b, type: VIF, id: 0 },
  ]);
  t.same(r.answers.map((x) => x.err), [0, 0, 0, 0, 0, E.ENOENT, 0], r.answers.map((x) => x.msg).join(' | '));
  t.equal((await lab!.run(exists(`vif${a}.3`))).code, 1, `vif${a}.3 is gone after DOMAIN_REM`);
  t.equal((await lab!.run(exists(`vif${b}.0`))).code, 0, `vif${b}.0 stays`);

  const pid = Number((await lab!.sh(`cat ${PIDF}`)).trim());
  await lab!.sh(`kill -TERM ${pid}`);
  t.ok(await until(lab!, `[ ! -d /proc/${pid} ]`, 30), 'noxsd exits on SIGTERM');
  t.equal((await lab!.run(exists(`vif${b}.0`))).code, 1, 'its taps are gone');
  t.equal((await lab!.run(`[ -e ${SOCK} ] || [ -e ${PIDF} ]`)).code, 1, 'socket and pid file removed');
  t.match(await log(lab!), /stopping \(Terminated\): removing 1 device\(s\)[\s\S]*stopped/);
});
