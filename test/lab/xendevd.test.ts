// Lab: xendevd on real Xen: vifs made by chaos and by xl join xenbr0 and are connected, removal cleans up, odd uevents are survived, a restart picks up vifs (tinyx-daytime.test.ts: guests on the bridge talking).
import t from 'tap';
import type { Lab } from '../../lab/lab.js';
import { chaos, destroyOnTeardown, labOrSkip, noopConfig, PROJECT, putFile, uniqueName, waitForDomain, xlCreate, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();

const PID_FILE = '/run/lightvm/xendevd.pid';
const LOG = '/var/log/lightvm/xendevd.log';

async function domid(l: Lab, name: string): Promise<number> {
  const d = (await xlList(l)).find((x) => x.name === name);
  if (!d) throw new Error(`${name} is not in xl list`);
  return d.id;
}

/** xendevd's pid if one runs (its pid file names a live xendevd). */
async function xendevdPid(l: Lab): Promise<number | undefined> {
  const r = await l.run(`p=$(cat ${PID_FILE} 2>/dev/null) && grep -q xendevd /proc/$p/cmdline 2>/dev/null && echo $p`);
  const p = Number(r.stdout.toString().trim());
  return r.code === 0 && p > 0 ? p : undefined;
}

/** Starts xendevd as dom0's boot does (from the project under test) and waits until it has scanned. */
async function startXendevd(l: Lab): Promise<number> {
  await l.sh(`mkdir -p /var/log/lightvm; setsid node ${PROJECT}/dist/daemon/xendevd.js --log-file ${LOG} </dev/null >/dev/null 2>>${LOG} &`);
  // Node starts slowly under TCG (and more so from the 9p tree): wait for the pid file, then for "ready".
  const r = await l.run(`i=0; until p=$(cat ${PID_FILE} 2>/dev/null) && grep -q "\\"pid\\":$p,.*xendevd ready" ${LOG}; do i=$((i+1)); [ $i -gt 1800 ] && exit 1; sleep 0.1; done; echo $p`, { timeoutMs: 240_000 });
  if (r.code !== 0) throw new Error(`xendevd did not start: ${(await l.run(`tail -5 ${LOG}`)).stdout}`);
  return Number(r.stdout.toString().trim());
}

/** Polls until `cond` (a shell test) holds; returns whether it did. */
async function until(l: Lab, cond: string, timeoutSec = 60): Promise<boolean> {
  const r = await l.run(`i=0; until ${cond}; do i=$((i+1)); [ $i -gt ${timeoutSec * 10} ] && exit 1; sleep 0.1; done`, { timeoutMs: (timeoutSec + 30) * 1000 });
  return r.code === 0;
}

/**
 * xl create, tried again (three times at most) when libxl gave up one of its own short waits that
 * come before or beside any hotplug (netback taking the back end, xenconsoled's tty): that happens
 * when the lab's emulated CPU is shared with much other work, and says nothing about xendevd.
 */
async function xlCreateVif(l: Lab, cfg: string, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await xlCreate(l, cfg, name);
      return;
    } catch (err) {
      if (attempt >= 3 || !/unable to add vif devices|console tty: timed out/.test((err as Error).message)) throw err;
      await l.run(['xl', 'destroy', name]).catch(() => undefined);
    }
  }
}

const onBridge = (vif: string) => `[ -e /sys/class/net/xenbr0/brif/${vif} ]`;
const read = async (l: Lab, node: string) => (await l.run(['xenstore-read', node])).stdout.toString().trim();
const be = (id: number) => `/local/domain/0/backend/vif/${id}/0`;

t.before(async () => {
  if (skip) return;
  // Labs booted before xendevd existed lack these; a lab booted now has them from dom0's boot.
  await lab!.sh(`[ -x /etc/xen/scripts/vif-xendevd ] || { printf '#!/bin/sh\\nexit 0\\n' > /etc/xen/scripts/vif-xendevd; chmod 755 /etc/xen/scripts/vif-xendevd; }`);
  // The xendevd under test is this project's: one started from elsewhere (the image's copy, when
  // the tests run from /mnt/project) is replaced.
  const pid = await xendevdPid(lab!);
  const cmdline = pid === undefined ? '' : (await lab!.run(`tr '\\0' ' ' < /proc/${pid}/cmdline`)).stdout.toString();
  if (pid !== undefined && !cmdline.includes(`${PROJECT}/dist/daemon/xendevd.js`)) {
    await lab!.sh(`kill -TERM ${pid}; i=0; while [ -e /proc/${pid} ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done`, 60_000);
  }
  if (await xendevdPid(lab!) === undefined) await startXendevd(lab!);
});

t.test('dom0 has the bridge xenbr0 at 10.88.0.1/24 and xendevd runs', { skip }, async (t) => {
  t.equal((await lab!.run('[ -d /sys/class/net/xenbr0/bridge ]')).code, 0, 'xenbr0 is a bridge');
  t.match(await lab!.sh('ip -o -4 addr show dev xenbr0'), /inet 10\.88\.0\.1\/24/);
  t.ok(await xendevdPid(lab!), 'xendevd runs');
});

t.test('a vif made by chaos is on xenbr0, up and connected when create returns; destroy cleans up', { skip }, async (t) => {
  const name = uniqueName('xd-ch');
  destroyOnTeardown(t, lab!, [name]);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name, { more: ['vif = [ "bridge=xenbr0" ]'] }));
  const c = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(c.code, 0, `chaos create: ${c.stderr}`);
  const id = await domid(lab!, name);
  // chaos returns once xendevd has connected the vif.
  t.equal(await read(lab!, `${be(id)}/hotplug-status`), 'connected', 'hotplug-status connected when create returns');
  t.equal((await lab!.run(onBridge(`vif${id}.0`))).code, 0, `vif${id}.0 is on xenbr0`);
  t.equal((await lab!.sh(`echo $(( $(cat /sys/class/net/vif${id}.0/flags) & 1 ))`)).trim(), '1', 'the vif is up (IFF_UP)');
  const d = await chaos(lab!, ['destroy', name]);
  t.equal(d.code, 0, d.stderr);
  t.ok(await until(lab!, `! ${onBridge(`vif${id}.0`)} && ! [ -e /sys/class/net/vif${id}.0 ]`), 'the vif is off the bridge and gone');
  t.ok(await until(lab!, `grep -q '"domid":${id},"devid":0,"vif":"vif${id}.0".*"msg":"detached vif${id}.0"' ${LOG}`), 'xendevd logged the removal');
  t.equal((await lab!.run(['xenstore-exists', be(id)])).code === 0, false, 'no back-end node left behind');
});

t.test('a vif made by xl (its hotplug script the no-op vif-xendevd) is on xenbr0 and connected; xl destroy cleans up', { skip }, async (t) => {
  const name = uniqueName('xd-xl');
  destroyOnTeardown(t, lab!, [name]);
  await xlCreateVif(lab!, noopConfig(name, { more: ['vif = [ "bridge=xenbr0,script=vif-xendevd" ]'] }), name);
  const id = await domid(lab!, name);
  t.ok(await until(lab!, `[ "$(xenstore-read ${be(id)}/hotplug-status)" = connected ]`), 'hotplug-status connected');
  t.equal((await lab!.run(onBridge(`vif${id}.0`))).code, 0, `vif${id}.0 is on xenbr0`);
  t.equal(await read(lab!, `${be(id)}/script`), '/etc/xen/scripts/vif-xendevd', 'xl ran the no-op script');
  await lab!.sh(`xl destroy ${name}`, 120_000);
  t.ok(await until(lab!, `! [ -e /sys/class/net/vif${id}.0 ]`), 'the vif is gone');
  t.notOk(await waitForDomain(lab!, name, (x) => x === undefined), 'the domain is gone');
});

t.test('unrelated and odd uevents leave xendevd running and working', { skip }, async (t) => {
  const before = await xendevdPid(lab!);
  t.ok(before, 'xendevd runs');
  const name = uniqueName('xd-odd');
  destroyOnTeardown(t, lab!, [name]);
  await xlCreateVif(lab!, noopConfig(name, { more: ['vif = [ "bridge=xenbr0,script=vif-xendevd" ]'] }), name);
  const id = await domid(lab!, name);
  t.ok(await until(lab!, onBridge(`vif${id}.0`)), 'attached');
  const fatal = async () => (await lab!.run(`grep -c '"level":60,.*"pid":${before},' ${LOG}`)).stdout.toString().trim();
  const fatalBefore = await fatal();
  // Real events of other devices, synthetic ones with odd arguments, and a repeated add and change of the vif's own device.
  await lab!.sh([
    'echo add > /sys/class/net/lo/uevent', 'echo change > /sys/class/net/xenbr0/uevent', 'echo remove > /sys/class/net/lo/uevent',
    `echo "add 00000000-0000-0000-0000-000000000000 XENBUS_PATH=../../etc vif=a/b" > /sys/bus/xen-backend/devices/vif-${id}-0/uevent`,
    `echo change > /sys/bus/xen-backend/devices/vif-${id}-0/uevent`,
    `echo add > /sys/bus/xen-backend/devices/vif-${id}-0/uevent`,
  ].join('; '));
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(await xendevdPid(lab!), before, 'the same xendevd still runs');
  t.equal((await lab!.run(onBridge(`vif${id}.0`))).code, 0, 'the vif is still on the bridge');
  t.equal(await read(lab!, `${be(id)}/hotplug-status`), 'connected', 'still connected');
  t.equal(await fatal(), fatalBefore, 'nothing fatal logged');
});

t.test('xendevd restarting while guests run: chaos refuses vifs meanwhile, and the restarted xendevd picks up the vifs that came', { skip }, async (t) => {
  const old = await xendevdPid(lab!);
  t.ok(old, 'xendevd runs');
  const name = uniqueName('xd-rs'), refused = uniqueName('xd-no');
  destroyOnTeardown(t, lab!, [name, refused]);
  // Prepared before the stop, so that xendevd is down as briefly as possible (other tests may share the lab).
  await putFile(lab!, `/tmp/${refused}.cfg`, noopConfig(refused, { more: ['vif = [ "bridge=xenbr0" ]'] }));
  await lab!.sh(`kill -TERM ${old}; i=0; while [ -e /proc/${old} ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done`, 60_000);
  t.equal((await lab!.run(`[ -e ${PID_FILE} ]`)).code, 1, 'SIGTERM: xendevd exited and removed its pid file');
  let started = false;
  try {
    await xlCreateVif(lab!, noopConfig(name, { more: ['vif = [ "bridge=xenbr0,script=vif-xendevd" ]'] }), name);
    const id = await domid(lab!, name);
    t.ok(await until(lab!, `[ -e /sys/class/net/vif${id}.0 ]`), `vif${id}.0 exists while xendevd is down`);
    t.equal((await lab!.run(onBridge(`vif${id}.0`))).code, 1, 'and is on no bridge');
    const c = await chaos(lab!, ['create', `/tmp/${refused}.cfg`]);
    t.equal(c.code, 1, 'chaos create of a guest with a vif fails');
    t.match(c.stderr, /xendevd is not running/, `a clear error: ${c.stderr.trim()}`);
    t.notOk((await xlList(lab!)).some((d) => d.name === refused), 'and leaves no domain behind');

    const pid = await startXendevd(lab!);
    started = true;
    t.not(pid, old, 'a new xendevd');
    t.ok(await until(lab!, onBridge(`vif${id}.0`)), `the new xendevd put vif${id}.0 on xenbr0`);
    t.ok(await until(lab!, `[ "$(xenstore-read ${be(id)}/hotplug-status)" = connected ]`), 'and marked it connected');
    t.match(await lab!.sh(`grep '"pid":${pid},' ${LOG} | grep '"why":"start"'`), new RegExp(`vif${id}\\.0`), 'found by its start-up scan');
  } finally {
    if (!started && await xendevdPid(lab!) === undefined) await startXendevd(lab!);
  }
});

t.test('a second xendevd refuses to start while one runs', { skip }, async (t) => {
  const r = await lab!.run(['node', `${PROJECT}/dist/daemon/xendevd.js`, '--log-level', 'silent'], { timeoutMs: 240_000 });
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr.toString(), /another xendevd is running/);
});
