// Lab: the guest runtime's noxs client: the transport it picks at boot, entries it refuses, and the power device over noxs (with noxsd).
import t, { type Test } from 'tap';
import { destroyOnTeardown, labOrSkip, PROJECT, READY, uniqueName, waitForConsole, waitForDomain, xlCreate } from './fixture.js';
import { askDaytime, checkAnswer, consoleLog, daytimeConfig, ensureBridge, ip, xlVif } from './daytime.js';

const { lab, skip: noLab } = labOrSkip();
const HELPER = `${PROJECT}/dist/test/lab/dom0/noxs-guest.js`;
const PROBE = `${PROJECT}/dist/test/lab/dom0/noxs-probe.js`;
const POWER_PROBE = `${PROJECT}/guests/power-probe/power-probe`;

type Json = Record<string, any>;

async function dom0(script: string, args: string[]): Promise<Json> {
  const r = await lab!.run(['node', script, ...args], { timeoutMs: 120_000 });
  const text = r.stdout.toString();
  const out = JSON.parse(text || '{}') as Json;
  if (r.code !== 0 || out.fatal) throw new Error(`${script} ${args.join(' ')} failed (${r.code}): ${out.fatal ?? ''} ${r.stderr.toString()}`);
  return out;
}

let devctl = false;
let noxsd = false;
if (!noLab) ({ devctl, noxsd } = await dom0(HELPER, ['available']));
const skipDevctl = noLab || (!devctl && 'the lab runs a stock hypervisor without devctl: boot the patched one (lab up --xen noxs)');
const skipNoxsd = skipDevctl || (!noxsd && 'noxsd is not running in dom0 (/run/lightvm/noxsd.sock)');

/** A paused power-probe guest that xl made (XenStore entries and all); its domid. */
async function pausedProbe(t: Test, prefix: string): Promise<{ name: string; domid: number }> {
  const name = uniqueName(prefix);
  destroyOnTeardown(t, lab!, [name]);
  const cfg = [`name = "${name}"`, 'type = "pv"', `kernel = "${POWER_PROBE}"`, 'memory = 1', 'vcpus = 1', 'on_poweroff = "preserve"', 'on_crash = "preserve"'].join('\n') + '\n';
  await xlCreate(lab!, cfg, name, ['-p']);
  return { name, domid: Number((await lab!.sh(`xl domid ${name}`)).trim()) };
}

t.test('daytime with an empty device page (or none) picks XenStore, says so, answers, and powers off through control/shutdown', { skip: noLab }, async (t) => {
  await ensureBridge(lab!);
  const name = uniqueName('rt-noxs-xs');
  destroyOnTeardown(t, lab!, [name]);
  await xlCreate(lab!, daytimeConfig(name, { ip: 0, vif: await xlVif(lab!), memory: 1 }), name);
  await waitForConsole(lab!, name, `${READY} daytime`, 300);
  const log = await consoleLog(lab!, name);
  const why = devctl ? 'no power or vif device on the page' : 'no devctl, stock Xen';
  t.match(log, `lightvm: devices: xenstore (noxs: ${why})`, `the one line names the transport and why (${devctl ? 'patched' : 'stock'} Xen)`);
  t.notMatch(log, /lightvm: devices: noxs/, 'not noxs');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(0)), 'dom0 asks it');
  await lab!.sh(`xl shutdown ${name}`);
  await waitForConsole(lab!, name, 'daytime: poweroff', 120);
  t.pass('xl shutdown reached it over XenStore');
});

t.test('an entry with a reserved grant is refused: the guest says which and why, and falls back to XenStore', { skip: skipDevctl }, async (t) => {
  const { name, domid } = await pausedProbe(t, 'rt-noxs-bad');
  t.equal((await dom0(PROBE, ['add', String(domid), 'power', '0', '0', '3', '5'])).add, 'ok', 'dom0 put power/0 with grant 3 on the page');
  await lab!.sh(`xl unpause ${name}`);
  await waitForConsole(lab!, name, `${READY} power-probe`, 120);
  const log = await consoleLog(lab!, name);
  t.match(log, 'lightvm: noxs: entry 0 (type 1 id 0 back-end 0 grant 3 port 5) ignored: grant reference is a reserved one', 'the entry and the reason');
  t.match(log, 'lightvm: devices: xenstore (noxs: no power or vif device on the page)', 'XenStore instead');
  t.match(log, 'power-probe: power control ready', 'power control over XenStore');
  await lab!.sh(`xl shutdown ${name}`);
  await waitForConsole(lab!, name, 'power-probe: poweroff', 60);
});

t.test('a power entry whose grant does not map: noxs is chosen, the guest says why and stays up without power control', { skip: skipDevctl }, async (t) => {
  const { name, domid } = await pausedProbe(t, 'rt-noxs-nomap');
  t.equal((await dom0(PROBE, ['add', String(domid), 'power', '0', '0', '4000', '5'])).add, 'ok', 'dom0 put power/0 with grant 4000, which it never gave, on the page');
  await lab!.sh(`xl unpause ${name}`);
  await waitForConsole(lab!, name, `${READY} power-probe`, 120);
  const log = await consoleLog(lab!, name);
  t.match(log, 'lightvm: devices: noxs (power/0)', 'noxs: the page has a power device');
  t.match(log, /lightvm: noxs power\/0: cannot map grant 4000 of domain 0 \(hypercall -?\d+, status -\d+\)/, 'the map failed and the status is shown');
  t.match(log, 'power-probe: no power control (I/O error)', 'no power control, no fault');
  t.notMatch(log, /fatal|page fault/, 'no fault');
  const d = (await lab!.sh('xl list')).split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
  t.match(d, /\s[-rb]{2}-{4}\s/, `still running, neither shut down nor crashed (${d.trim()})`);
});

t.test('power over noxs: found, mapped, connected; suspend offered; poweroff acknowledged and done', { skip: skipNoxsd }, async (t) => {
  const { name, domid } = await pausedProbe(t, 'rt-noxs-pwr');
  const added = await dom0(HELPER, ['power-add', String(domid), '0']);
  t.ok(added.grant > 0 && added.evtchn > 0, `noxsd made power/0 (grant ${added.grant}, port ${added.evtchn}) and it is on the page`);
  await lab!.sh(`xl unpause ${name}`);
  await waitForConsole(lab!, name, `${READY} power-probe`, 120);
  const log = await consoleLog(lab!, name);
  t.match(log, 'lightvm: devices: noxs (power/0)', 'the guest picked noxs');
  t.match(log, 'lightvm: noxs power/0: connected (back-end domain 0)', 'mapped its control page and bound its channel');
  t.match(log, 'power-probe: power control ready');
  const st = (await dom0(HELPER, ['status', String(domid), 'power', '0'])).status;
  t.equal(st.feState, 4, 'noxsd sees fe_state CONNECTED');
  t.equal(st.feFeatures, 1, 'and the suspend feature (NOXS_POWER_F_SUSPEND; save and restore: noxs-save.test)');

  // xl writes control/shutdown in XenStore: a guest on noxs does not watch it.
  await lab!.sh(`xl shutdown ${name}; sleep 5`);
  t.notMatch(await consoleLog(lab!, name), 'power-probe: poweroff', "XenStore's control/shutdown is not read over noxs");

  const off = await dom0(HELPER, ['power-req', String(domid), '0', 'poweroff']);
  t.equal(off.status.seq, off.seq, `poweroff (request ${off.seq}) acknowledged: fe_ack_seq ${off.status.seq}`);
  await waitForConsole(lab!, name, 'power-probe: poweroff', 60);
  const d = await waitForDomain(lab!, name, (x) => x === undefined || x.state.includes('s'), 60);
  t.ok(d === undefined || d.state.includes('s'), `the domain shut down (${d?.state ?? 'gone'})`);
  t.notMatch(await consoleLog(lab!, name), /xenstore:/, 'no XenStore message on its console');
});

t.test('daytime over noxs (power and vif from noxsd, no XenStore device): its netfront connects, it answers dom0, and powers off through the power device', { skip: skipNoxsd }, async (t) => {
  await ensureBridge(lab!);
  const name = uniqueName('rt-noxs-day');
  destroyOnTeardown(t, lab!, [name]);
  const cfg = daytimeConfig(name, { ip: 1, memory: 1 }).replace(/^vif = .*$/m, 'vif = [ ]').replace(/^on_crash/m, 'on_poweroff = "preserve"\non_crash');
  await xlCreate(lab!, cfg, name, ['-p']);
  const domid = Number((await lab!.sh(`xl domid ${name}`)).trim());
  const mac = `00:16:3e:4e:${(domid >> 8).toString(16).padStart(2, '0')}:${(domid & 255).toString(16).padStart(2, '0')}`;
  const vif = await dom0(HELPER, ['vif-add', String(domid), '0', mac, 'xenbr0']);
  t.ok(vif.ifname, `noxsd made vif/0 (${vif.ifname}, grant ${vif.grant}, port ${vif.evtchn}) on xenbr0`);
  await dom0(HELPER, ['power-add', String(domid), '0']);
  await lab!.sh(`xl unpause ${name}`);
  await waitForConsole(lab!, name, `${READY} daytime`, 300);
  const log = await consoleLog(lab!, name);
  t.match(log, 'lightvm: devices: noxs (', 'the guest picked noxs');
  t.match(log, /lightvm: devices: noxs \((power\/0 vif\/0|vif\/0 power\/0)\)/, 'with its power and vif devices');
  t.match(log, `lightvm: net: ${ip(1)}/24 gw 10.88.0.1 mac ${mac}`, 'the MAC from the vif control page');
  const st = (await dom0(HELPER, ['status', String(domid), 'vif', '0'])).status;
  t.equal(st.feState, 4, 'noxsd sees the vif front-end CONNECTED');
  t.equal(st.beState, 4, 'and its own end CONNECTED');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(1)), 'dom0 asks it over the noxs vif');
  const off = await dom0(HELPER, ['power-req', String(domid), '0', 'poweroff']);
  t.equal(off.status.seq, off.seq, 'poweroff acknowledged');
  await waitForConsole(lab!, name, 'daytime: poweroff', 60);
  t.notMatch(await consoleLog(lab!, name), /xenstore:/, 'no XenStore message on its console');
});

t.test("a vif entry whose control page is a power device's is refused: the guest names the mismatch and stops as without a vif", { skip: skipNoxsd }, async (t) => {
  const name = uniqueName('rt-noxs-type');
  destroyOnTeardown(t, lab!, [name]);
  await xlCreate(lab!, daytimeConfig(name, { ip: 2, memory: 1 }).replace(/^vif = .*$/m, 'vif = [ ]'), name, ['-p']);
  const domid = Number((await lab!.sh(`xl domid ${name}`)).trim());
  const page = await dom0(HELPER, ['power-page', String(domid), '0']);
  t.equal((await dom0(PROBE, ['add', String(domid), 'vif', '0', '0', String(page.grant), String(page.evtchn)])).add, 'ok',
    `dom0 put vif/0 on the page with power/0's grant ${page.grant} and port ${page.evtchn}`);
  await lab!.sh(`xl unpause ${name}`);
  await waitForConsole(lab!, name, 'lightvm: fatal:', 120);
  const log = await consoleLog(lab!, name);
  t.match(log, 'lightvm: devices: noxs (vif/0)', 'noxs: the page has a vif');
  t.match(log, 'lightvm: noxs vif/0: control page refused: type differs from the device page\'s (magic 0x6c72746e version 1 type 1)', 'the header is checked against the entry');
  t.match(log, 'lightvm: net: vif 0 did not connect', 'netfront gives up');
  t.notMatch(log, /page fault|exception/, 'no fault');
});
