// Lab, on Debian's own Xen 4.17 (no noxs patch): chaos over XenStore works as before (noop guests, pause, -n, xl interop) and refuses noxs cleanly.
import t from 'tap';
import { destroyOnTeardown, labOrSkip, noopConfig, putFile, READY, uniqueName, waitForConsole, xlCreate, xlList } from '../fixture.js';
import { devctlAvailable, noxsChaos } from '../noxs-chaos.js';

// `npm test` boots a stock lab for this file after the main lab tests (test/run.ts, its stock phase).
const { lab, skip: noLab } = labOrSkip();
const skip = noLab || (lab!.state()?.config.xenImage !== 'stock'
  && `the lab in ${lab!.config.stateDir} does not run the stock hypervisor: \`npm test\` boots one for this file, or \`lab up --xen stock\``);
const nx = noxsChaos(lab!);
/** An assertion's message: the command, and what it said when it failed. */
const said = (what: string, r: { code: number | null; stderr: string }) => (r.code === 0 ? what : `${what}: ${r.stderr.trim()}`);

t.test("the hypervisor is Debian's Xen 4.17, without devctl", { skip }, async (t) => {
  const info = await lab!.sh('xl info');
  t.match(info, /^xen_major\s*: 4$/m, 'xen_major 4');
  t.match(info, /^xen_minor\s*: 17$/m, 'xen_minor 17');
  t.notMatch(info, /lightvm-noxs/, 'xen_extra does not carry the patched build\'s mark');
  t.equal(await devctlAvailable(lab!), false, 'the noxs probe finds no devctl hypercall');
});

t.test('chaos over XenStore: a noop guest boots, shows in xl list by name, pauses, unpauses and is destroyed', { skip }, async (t) => {
  const name = uniqueName('stock');
  destroyOnTeardown(t, lab!, [name]);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name));
  const made = await nx.c(['create', `/tmp/${name}.cfg`]);
  t.equal(made.code, 0, said('chaos create', made));
  if (made.code !== 0) return;
  t.match(await nx.waitForRing(name, `${READY} noop`), `${READY} noop`, 'its ready mark, read by chaos console --once');

  const xl = (await xlList(lab!)).find((d) => d.name === name);
  t.ok(xl, 'xl list shows the domain with its name');
  t.equal(xl?.memMiB, 4, 'with the 4 MiB its config asks for');
  const rec = JSON.parse((await nx.c(['list', '--long', '--json', name])).stdout)[0];
  t.equal(rec?.domid, xl?.id, 'chaos list gives the domain id xl shows');
  t.equal(rec?.record?.devMethod, 'xenstore', 'its devices were set up over XenStore');
  t.equal((await lab!.run(['xenstore-exists', `/local/domain/${xl?.id}/console/ring-ref`])).code, 0, 'its XenStore home holds its console ring');

  const p = await nx.c(['pause', name]);
  t.equal(p.code, 0, said('chaos pause', p));
  t.match((await xlList(lab!)).find((d) => d.name === name)?.state ?? '', /p/, 'paused, as xl sees it');
  const u = await nx.c(['unpause', name]);
  t.equal(u.code, 0, said('chaos unpause', u));
  t.notMatch((await xlList(lab!)).find((d) => d.name === name)?.state ?? 'p', /p/, 'running again');

  const d = await nx.c(['destroy', name]);
  t.equal(d.code, 0, said('chaos destroy', d));
  t.notOk((await xlList(lab!)).find((x) => x.name === name), 'gone from xl list');
});

t.test('create -n 3 makes three numbered guests that all boot', { skip }, async (t) => {
  const base = uniqueName('stock-n');
  const names = [1, 2, 3].map((i) => `${base}-${i}`);
  destroyOnTeardown(t, lab!, names);
  await putFile(lab!, `/tmp/${base}.cfg`, noopConfig(base));
  const r = await nx.c(['create', '-n', '3', '--json', `/tmp/${base}.cfg`]);
  t.equal(r.code, 0, said('chaos create -n 3', r));
  if (r.code !== 0) return;
  const out = JSON.parse(r.stdout) as { created: { name: string }[]; failed: unknown[] };
  t.same(out.created.map((c) => c.name).sort(), names, 'three created, numbered 1 to 3');
  t.same(out.failed, [], 'none failed');
  const listed = (await xlList(lab!)).map((d) => d.name);
  t.same(names.filter((n) => !listed.includes(n)), [], 'xl lists all three');
  // xenconsoled logs their consoles: on a stock hypervisor it knows every domain chaos made.
  for (const n of names) await waitForConsole(lab!, n, `${READY} noop`);
  const d = await nx.c(['destroy', ...names]);
  t.equal(d.code, 0, said('chaos destroy of the three', d));
  t.same((await xlList(lab!)).filter((x) => names.includes(x.name)), [], 'all three are gone');
});

t.test('a domain xl made shows in chaos list; xl destroys a domain chaos made', { skip }, async (t) => {
  const byXl = uniqueName('stock-xl'), byChaos = uniqueName('stock-chaos');
  destroyOnTeardown(t, lab!, [byXl, byChaos]);
  await xlCreate(lab!, noopConfig(byXl), byXl);
  const names = (await nx.list()).map((d) => d.name);
  t.ok(names.includes(byXl), 'chaos list shows the xl domain');
  t.ok(names.includes('Domain-0'), 'and Domain-0');

  await putFile(lab!, `/tmp/${byChaos}.cfg`, noopConfig(byChaos));
  const made = await nx.c(['create', `/tmp/${byChaos}.cfg`]);
  t.equal(made.code, 0, said('chaos create', made));
  const x = await lab!.run(['xl', 'destroy', byChaos]);
  t.equal(x.code, 0, said('xl destroy', { code: x.code, stderr: x.stderr.toString() }));
  t.notOk((await xlList(lab!)).find((d) => d.name === byChaos), 'gone from xl list');
  t.notOk((await nx.list()).find((d) => d.name === byChaos), 'gone from chaos list');
});

t.test('create --dev-method noxs is refused with a message naming devctl, and leaves no domain', { skip }, async (t) => {
  const name = uniqueName('stock-noxs');
  destroyOnTeardown(t, lab!, [name]);
  const before = (await xlList(lab!)).map((d) => d.id);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name));
  const r = await nx.c(['create', '--dev-method', 'noxs', `/tmp/${name}.cfg`]);
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.stderr, /dev_method "noxs" needs the devctl hypercall, and this hypervisor has none/);
  t.match(r.stderr, /NOT_SUPPORTED/);
  t.same((await xlList(lab!)).map((d) => d.id), before, 'xl lists the same domains as before');
  t.notOk((await nx.list()).find((d) => d.name === name), 'chaos list does not show it');
});
