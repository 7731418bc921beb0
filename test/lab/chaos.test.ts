// Lab: the chaos CLI on real Xen: create, list, console, pause, unpause, shutdown, destroy, -n, bad kernels and names, interop with xl.
import t from 'tap';
import { chaos, destroyOnTeardown, labOrSkip, noopConfig, putFile, READY, uniqueName, waitForConsole, xlCreate, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();

t.test('chaos info reports the host', { skip }, async (t) => {
  const r = await chaos(lab!, ['info', '--json']);
  t.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  t.match(info.xenVersion, /^4\.17/);
  t.equal(info.nrCpus, 2);
});

t.test('a noop guest made by chaos boots, shows in xl list, pauses, unpauses, prints its console and is destroyed', { skip }, async (t) => {
  const name = uniqueName('chaos');
  destroyOnTeardown(t, lab!, [name]);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name));
  const c = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(c.code, 0, c.stderr);
  await waitForConsole(lab!, name, `${READY} noop`);
  const xl = (await xlList(lab!)).find((d) => d.name === name);
  t.ok(xl, 'xl list shows the domain with its name');
  t.equal(xl?.memMiB, 4);

  const l = JSON.parse((await chaos(lab!, ['list', '--json', name])).stdout);
  t.equal(l[0].name, name);
  t.equal(l[0].domid, xl?.id);

  t.equal((await chaos(lab!, ['pause', name])).code, 0);
  t.match((await xlList(lab!)).find((d) => d.name === name)?.state ?? '', /p/, 'paused, as xl sees it');
  t.equal((await chaos(lab!, ['unpause', name])).code, 0);
  t.notMatch((await xlList(lab!)).find((d) => d.name === name)?.state ?? 'p', /p/, 'running again');

  const con = await chaos(lab!, ['console', '--once', name]);
  t.match(con.stdout, `${READY} noop`, 'console --once reads the ring without xl');

  const d = await chaos(lab!, ['destroy', name]);
  t.equal(d.code, 0, d.stderr);
  t.notOk((await xlList(lab!)).find((x) => x.name === name), 'gone from xl list');
  t.equal(await lab!.run(`xenstore-exists /local/domain/${xl?.id}`).then((r) => r.code), 1, 'its XenStore home is removed');
});

t.test('domains made by xl appear in chaos list and chaos destroys them; xl destroys domains chaos made', { skip }, async (t) => {
  const byXl = uniqueName('by-xl'), byChaos = uniqueName('by-chaos');
  destroyOnTeardown(t, lab!, [byXl, byChaos]);
  await xlCreate(lab!, noopConfig(byXl), byXl);
  const names = JSON.parse((await chaos(lab!, ['list', '--json'])).stdout).map((d: { name: string }) => d.name);
  t.ok(names.includes(byXl), 'chaos list shows the xl domain');
  t.ok(names.includes('Domain-0'));
  t.equal((await chaos(lab!, ['destroy', byXl])).code, 0);
  t.notOk((await xlList(lab!)).find((d) => d.name === byXl));

  await putFile(lab!, `/tmp/${byChaos}.cfg`, noopConfig(byChaos));
  t.equal((await chaos(lab!, ['create', `/tmp/${byChaos}.cfg`])).code, 0);
  const x = await lab!.run(['xl', 'destroy', byChaos]);
  t.equal(x.code, 0, `xl destroy: ${x.stderr.toString()}`);
  t.notOk((await xlList(lab!)).find((d) => d.name === byChaos));
});

t.test('create -n 20 makes twenty numbered guests that all boot', { skip }, async (t) => {
  const base = uniqueName('many');
  const names = Array.from({ length: 20 }, (_, i) => `${base}-${i + 1}`);
  destroyOnTeardown(t, lab!, names);
  await putFile(lab!, `/tmp/${base}.cfg`, noopConfig(base));
  const r = await chaos(lab!, ['create', '-n', '20', '--json', `/tmp/${base}.cfg`], 600_000);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.equal(out.created.length, 20);
  t.same(out.failed, []);
  const listed = (await xlList(lab!)).map((d) => d.name);
  t.same(names.filter((n) => !listed.includes(n)), [], 'all twenty are listed');
  for (const n of [names[0], names[19]]) await waitForConsole(lab!, n, READY);
  const d = await chaos(lab!, ['destroy', ...names], 600_000);
  t.equal(d.code, 0, d.stderr);
});

t.test('a file that is not a PV kernel is refused clearly and leaves no domain', { skip }, async (t) => {
  const name = uniqueName('badk');
  destroyOnTeardown(t, lab!, [name]);
  const before = (await xlList(lab!)).length;
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name).replace(/kernel = ".*"/, 'kernel = "/etc/passwd"'));
  const r = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(r.code, 1);
  t.match(r.stderr, /\/etc\/passwd is not a kernel Xen can boot as a PV guest/);
  t.match(r.stderr, /KERNEL_INVALID/);
  t.equal((await xlList(lab!)).length, before, 'no domain is left behind');
});

t.test('a name in use is refused; a bad config names its file and line; usage errors exit 2', { skip }, async (t) => {
  const name = uniqueName('dup');
  destroyOnTeardown(t, lab!, [name]);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name));
  t.equal((await chaos(lab!, ['create', `/tmp/${name}.cfg`])).code, 0);
  const again = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(again.code, 1);
  t.match(again.stderr, /already exists.*NAME_IN_USE/s);

  await putFile(lab!, `/tmp/${name}-bad.cfg`, `name = "x"\nmemory = \n`);
  const bad = await chaos(lab!, ['create', `/tmp/${name}-bad.cfg`]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, new RegExp(`${name}-bad\\.cfg:2`), 'the message names the file and line');

  t.equal((await chaos(lab!, ['frobnicate'])).code, 2);
  t.equal((await chaos(lab!, ['destroy'])).code, 2);
  const missing = await chaos(lab!, ['destroy', 'no-such-domain']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no domain has the name "no-such-domain"/);
});

t.test('shutdown -w of a guest that ignores the request times out with a clear error', { skip }, async (t) => {
  const name = uniqueName('deaf');
  destroyOnTeardown(t, lab!, [name]);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name));
  t.equal((await chaos(lab!, ['create', `/tmp/${name}.cfg`])).code, 0);
  const r = await chaos(lab!, ['shutdown', '-w', '--timeout', '3', name]);
  t.equal(r.code, 1);
  t.match(r.stderr, /did not shut down within 3 s: the guest ignored the request/);
  t.equal((await lab!.sh(`xenstore-read /local/domain/$(xl domid ${name})/control/shutdown`)).trim(), 'poweroff', 'the request was written');
});

t.test('on_poweroff and on_crash are honoured by the per-host monitor that create starts', { skip }, async (t) => {
  const off = uniqueName('off'), keep = uniqueName('keep');
  destroyOnTeardown(t, lab!, [off, keep]);
  await putFile(lab!, `/tmp/${off}.cfg`, noopConfig(off, { extra: 'poweroff', more: ['on_poweroff = "destroy"'] }));
  await putFile(lab!, `/tmp/${keep}.cfg`, noopConfig(keep, { extra: 'crash', more: ['on_crash = "preserve"'] }));
  t.equal((await chaos(lab!, ['create', `/tmp/${off}.cfg`])).code, 0);
  t.equal((await chaos(lab!, ['create', `/tmp/${keep}.cfg`])).code, 0);
  const deadline = Date.now() + 120_000;
  let names: string[] = [];
  while (Date.now() < deadline) {
    names = (await xlList(lab!)).map((d) => d.name);
    if (!names.includes(off)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  t.notOk(names.includes(off), 'the guest that powered off was destroyed (on_poweroff=destroy)');
  t.match((await xlList(lab!)).find((d) => d.name === keep)?.state ?? '', /c/, 'the crashed guest is kept (on_crash=preserve)');
  // The monitor logs once the destroy has returned: the guest can leave xl list a moment before the line is written.
  let log = '';
  for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 500))) {
    log = await lab!.sh('cat /var/lib/lightvm/monitor.log');
    if (/applied destroy after poweroff/.test(log)) break;
  }
  t.match(log, /applied destroy after poweroff/, 'the monitor logged what it did');
});
