// Lab: a tinyx VM (Debian's kernel, the ticker app as /init) made by chaos boots on real Xen, ticks, and is destroyed.
import t from 'tap';
import { chaos, destroyOnTeardown, labOrSkip, putFile, READY, tinyxConfig, TINYX_MEMORY, uniqueName, waitForConsole, waitForDomain, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();

t.test('a ticker VM made by chaos prints its ready mark, ticks, shows in xl list and is destroyed', { skip }, async (t) => {
  const name = uniqueName('tinyx');
  destroyOnTeardown(t, lab!, [name]);
  await putFile(lab!, `/tmp/${name}.cfg`, tinyxConfig(name));
  const c = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(c.code, 0, c.stderr);
  // Under TCG the builder's xz decompression of the kernel and Linux's boot take tens of seconds.
  const ready = await waitForConsole(lab!, name, `${READY} tinyx-ticker`, 300);
  t.comment(`ready mark ${ready.toFixed(1)} s after create returned`);
  await waitForConsole(lab!, name, 'tick 3', 60);
  t.pass('the ticker counts: tick 3 is on the console');

  const xl = (await xlList(lab!)).find((d) => d.name === name);
  t.ok(xl, 'xl list shows the domain with its name');
  t.equal(xl?.memMiB, TINYX_MEMORY, `${TINYX_MEMORY} MiB`);
  t.equal(xl?.vcpus, 1, 'one vCPU');

  const d = await chaos(lab!, ['destroy', name]);
  t.equal(d.code, 0, `chaos destroy: ${d.stderr}`);
  t.notOk(await waitForDomain(lab!, name, (x) => x === undefined), 'gone from xl list');
});

t.test('ticker.poweroff: the VM prints its ready mark, then powers itself off', { skip }, async (t) => {
  const name = uniqueName('tinyx-off');
  destroyOnTeardown(t, lab!, [name]);
  // on_poweroff = "preserve" keeps the domain as shut down ("s") so its end can be seen.
  await putFile(lab!, `/tmp/${name}.cfg`, tinyxConfig(name, { extra: 'ticker.poweroff', more: ['on_poweroff = "preserve"'] }));
  const c = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(c.code, 0, c.stderr);
  await waitForConsole(lab!, name, `${READY} tinyx-ticker`, 300);
  const d = await waitForDomain(lab!, name, (x) => x === undefined || /s/.test(x.state), 120);
  t.ok(d === undefined || /s/.test(d.state), `shut down (${d ? `state ${d.state}` : 'gone'})`);
  const log = (await lab!.run(['cat', `/var/log/xen/console/guest-${name}.log`])).stdout.toString();
  t.notMatch(log, /tick 1/, 'it never ticked');
});
