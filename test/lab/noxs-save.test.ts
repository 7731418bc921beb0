// Lab: save, checkpoint, restore and migration of a daytime guest made over noxs, on the patched Xen: it answers TCP from dom0 after each, its console shows it resumed, no XenStore on the way.
import t from 'tap';
import { putFile, labOrSkip, READY, uniqueName } from './fixture.js';
import { askDaytime, checkAnswer, daytimeConfig, ensureBridge, ip } from './daytime.js';
import { noxsChaos, noxsSkip, type Row } from './noxs-chaos.js';

const { lab, skip: noLab } = labOrSkip();
const skip = await noxsSkip(lab, noLab);
const nx = noxsChaos(lab!);
/** Images in dom0's RAM: a daytime guest's is its 8 MiB. */
const DIR = '/tmp';

t.test('a daytime guest over noxs: save -c keeps it running, save and restore bring it back in a new domain, migrate to localhost moves it, pause and unpause', { skip }, async (t) => {
  const name = uniqueName('nx-sv');
  const file = `${DIR}/${name}.save`;
  nx.destroyOnTeardown(t, [name, `${name}--incoming`]);
  t.teardown(() => lab!.run(['rm', '-f', file, `${DIR}/${name}.recv`]).then(() => undefined));
  await ensureBridge(lab!);
  await putFile(lab!, `/tmp/${name}.cfg`, daytimeConfig(name, { ip: 3 }));
  const made = await nx.c(['create', '--dev-method', 'noxs', `/tmp/${name}.cfg`]);
  t.equal(made.code, 0, `chaos create --dev-method noxs${made.code ? `: ${made.stderr}` : ''}`);
  if (made.code !== 0) return;
  await nx.waitForRing(name, `${READY} daytime`);
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(3)), 'it answers from dom0');
  const domidOf = async (): Promise<number | undefined> => (await nx.list()).find((d: Row) => d.name === name)?.domid;
  const first = await domidOf();

  // A checkpoint: the suspend is cancelled, the same domain runs on with the same devices.
  const cp = await nx.c(['save', '-c', '--json', name, file], 600_000);
  t.equal(cp.code, 0, `chaos save -c${cp.code ? `: ${cp.stderr}` : ''}`);
  if (cp.code !== 0) return;
  t.ok(JSON.parse(cp.stdout).bytes > 4 * 1048576, "the image holds the guest's memory");
  const meta = (await lab!.sh(`head -c 4096 ${file} | tail -c +20 | tr -d '\\000' | head -c 2000`));
  t.match(meta, /"devMethod":"noxs"/, "the image's config says dev_method noxs");
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(3)), 'after save -c it still answers');
  const ringCp = await nx.waitForRing(name, 'lightvm: resumed (suspend cancelled, same domain)', 120);
  t.match(ringCp, 'lightvm: suspending (noxs)', 'the guest suspended over noxs');
  t.equal(await domidOf(), first, 'the same domain');

  // Save and restore: a new domain, devices made again by noxsd, the guest re-reads its page.
  const sv = await nx.c(['save', name, file], 600_000);
  t.equal(sv.code, 0, `chaos save${sv.code ? `: ${sv.stderr}` : ''}`);
  if (sv.code !== 0) return;
  t.not((await lab!.run(['xl', 'list', String(first)])).code, 0, `the saved domain ${first} is gone`);
  const wrong = await nx.c(['restore', '--dev-method', 'xenstore', file], 600_000);
  t.equal(wrong.code, 1, 'restore --dev-method xenstore of a noxs image is refused');
  t.match(wrong.stderr, /saved with dev_method "noxs": it can only resume over "noxs".*\[CONFIG_INVALID\]/s, 'with a clear error');
  const rs = await nx.c(['restore', '--json', '--dev-method', 'noxs', file], 600_000);
  t.equal(rs.code, 0, `chaos restore${rs.code ? `: ${rs.stderr}` : ''}`);
  if (rs.code !== 0) return;
  const restored = JSON.parse(rs.stdout) as { domid: number };
  t.not(restored.domid, first, 'a new domain');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(3)), 'the restored guest answers');
  const ring = await nx.waitForRing(name, 'lightvm: resumed (new domain)', 120);
  t.equal(ring.match(/noxs power\/0: connected/g)?.length, 2, 'its power device was opened again in the new domain (at boot, after the restore; a checkpoint keeps it)');
  t.match(ring, 'netfront vif/0: reconnected', 'its vif reconnected from the new device page');
  const xs = await lab!.run(['xenstore-ls', `/local/domain/${restored.domid}`]);
  t.not(xs.code, 0, 'nothing in XenStore for the restored domain');

  // Migration to this host: the receiver makes the domain, noxsd its devices, the source goes.
  const port = 18500 + (process.pid % 400);
  const out = `${DIR}/${name}.recv`;
  await lab!.sh(`(${nx.shell} migrate-receive --once --dev-method noxs --port ${port} > ${out} 2>&1; echo "exit $?" >> ${out}) > /dev/null 2>&1 &`);
  await lab!.run(`i=0; until grep -q listening ${out}; do i=$((i+1)); [ $i -gt 3000 ] && exit 1; sleep 0.1; done`, { timeoutMs: 400_000 });
  const mg = await nx.c(['migrate', '--json', '--port', String(port), name, 'localhost'], 600_000);
  t.equal(mg.code, 0, `chaos migrate${mg.code ? `: ${mg.stderr}` : ''}`);
  if (mg.code !== 0) return;
  const m = JSON.parse(mg.stdout) as { sourceDomid: number; targetDomid: number };
  t.equal(m.sourceDomid, restored.domid);
  t.not(m.targetDomid, restored.domid, 'a new domain id');
  await lab!.run(`i=0; until grep -q '^exit' ${out}; do i=$((i+1)); [ $i -gt 1200 ] && exit 1; sleep 0.1; done`, { timeoutMs: 200_000 });
  t.match((await lab!.run(['cat', out])).stdout.toString(), /received .*\(domain \d+\)[\s\S]*exit 0/, 'the receiver took it and exited 0');
  const rows = await nx.list();
  t.equal(rows.find((d) => d.name === name)?.domid, m.targetDomid, 'listed under its own name');
  t.notOk(rows.find((d) => d.domid === restored.domid || d.name === `${name}--incoming`), 'the source and the temporary name are gone');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(3)), 'the migrated guest answers');

  // Pause and unpause of the migrated domain: no answer while paused, one after.
  t.equal((await nx.c(['pause', name], 600_000)).code, 0, 'chaos pause');
  const paused = await lab!.run(`nc -w 3 ${ip(3)} 13`, { timeoutMs: 30_000 });
  t.equal(paused.stdout.toString(), '', 'no answer while paused');
  t.equal((await nx.c(['unpause', name], 600_000)).code, 0, 'chaos unpause');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(3)), 'it answers after unpause');
});
