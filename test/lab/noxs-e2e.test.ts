// Lab: chaos over noxs end to end on the patched Xen: a daytime guest boots, answers TCP, shows its console, reboots and powers off through its power device.
import t from 'tap';
import { labOrSkip, putFile, READY, uniqueName } from './fixture.js';
import { askDaytime, checkAnswer, daytimeConfig, ensureBridge, ip } from './daytime.js';
import { noxsChaos, noxsSkip, type Row } from './noxs-chaos.js';

const { lab, skip: noLab } = labOrSkip();
const skip = await noxsSkip(lab, noLab);
const nx = noxsChaos(lab!);

t.test('noxsd runs in dom0', { skip }, async (t) => {
  const r = await lab!.run(['test', '-S', '/run/lightvm/noxsd.sock']);
  t.equal(r.code, 0, 'its socket /run/lightvm/noxsd.sock is there (lab boot starts noxsd)');
});

t.test('a daytime guest over noxs: boots, answers TCP from dom0, console by ring, poweroff and reboot through the power device', { skip }, async (t) => {
  const name = uniqueName('nx-day');
  nx.destroyOnTeardown(t, [name]);
  await ensureBridge(lab!);
  await putFile(lab!, `/tmp/${name}.cfg`, daytimeConfig(name, { ip: 2 }));
  const made = await nx.c(['create', '--dev-method', 'noxs', `/tmp/${name}.cfg`]);
  t.equal(made.code, 0, `chaos create --dev-method noxs${made.code ? `: ${made.stderr}` : ''}`);
  if (made.code !== 0) return;

  const rec = JSON.parse((await nx.c(['list', '--long', '--json', name])).stdout)[0] as Row & { record?: unknown };
  t.match(rec?.record, { devMethod: 'noxs', config: { devMethod: 'noxs' } }, 'recorded as a noxs domain');
  const xs = await lab!.run(['xenstore-ls', `/local/domain/${rec?.domid}`]);
  t.not(xs.code, 0, `nothing in XenStore for domain ${rec?.domid} (${xs.stderr.toString().trim()})`);

  const ring = await nx.waitForRing(name, `${READY} daytime`);
  t.match(ring, /devices: noxs/, "the runtime found its devices on the noxs page (the console ring, read by chaos console --once)");
  t.notMatch(ring, /no power control/, 'it has power control');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'nc from dom0 to the noxs guest');
  const nif = await lab!.run(`ls /sys/class/net/xenbr0/brif/`);
  t.match(nif.stdout.toString(), /vif\d+\.0/, "noxsd put the guest's tap interface on xenbr0");

  // Reboot: the guest shuts down for reboot; the monitor chaos create started makes it again, over noxs.
  const before = (await nx.list()).find((d) => d.name === name);
  const rb = await nx.c(['reboot', '--wait', '--timeout', '120', name], 300_000);
  t.equal(rb.code, 0, `chaos reboot -w through the power device${rb.code ? `: ${rb.stderr}` : ''}`);
  t.match(rb.stderr, /rebooted/);
  let again: Row | undefined;
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    again = (await nx.list()).find((d) => d.name === name && d.domid !== before?.domid);
    if (again) break;
    await new Promise((res) => setTimeout(res, 3000));
  }
  t.ok(again, `made again after the reboot (domain ${before?.domid} -> ${again?.domid})`);
  if (again) {
    const rec2 = await nx.c(['list', '--long', '--json', name]);
    t.equal(JSON.parse(rec2.stdout)[0]?.record?.devMethod, 'noxs', 'still over noxs');
    await nx.waitForRing(name, `${READY} daytime`);
    await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'the rebooted guest answers');
  }

  const off = await nx.c(['shutdown', '--wait', '--timeout', '120', name], 300_000);
  t.equal(off.code, 0, `chaos shutdown -w through the power device${off.code ? `: ${off.stderr}` : ''}`);
  t.match(off.stderr, /shut down/);
});

