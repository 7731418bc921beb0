// Lab: stock xl creates the noop guest on real Xen; its ready mark reaches the console; pause, unpause, destroy, poweroff and crash behave.
import t from 'tap';
import { destroyOnTeardown, labOrSkip, noopConfig, READY, uniqueName, waitForConsole, waitForDomain, xlCreate, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();

t.test('xl create of noop shows its ready mark; pause, unpause and destroy work', { skip }, async (t) => {
  const name = uniqueName('noop');
  destroyOnTeardown(t, lab!, [name]);
  await xlCreate(lab!, noopConfig(name), name);
  const secs = await waitForConsole(lab!, name, `${READY} noop`);
  t.pass(`ready mark on the console ${secs.toFixed(2)} s after xl create returned`);

  let d = (await xlList(lab!)).find((x) => x.name === name);
  t.ok(d, 'listed by xl');
  t.equal(d!.memMiB, 4);
  t.notMatch(d!.state, /[cs]/, `neither crashed nor shut down (${d!.state})`);

  await lab!.sh(`xl pause ${name}`);
  d = (await xlList(lab!)).find((x) => x.name === name);
  t.match(d!.state, /p/, `paused (${d!.state})`);
  await lab!.sh(`xl unpause ${name}`);
  d = (await xlList(lab!)).find((x) => x.name === name);
  t.notMatch(d!.state, /p/, `running again (${d!.state})`);
  const cpu1 = d!.timeSec;
  await new Promise((r) => setTimeout(r, 3000));
  d = (await xlList(lab!)).find((x) => x.name === name);
  t.ok(d!.timeSec - cpu1 < 1, `an idle noop guest burns no CPU (${cpu1} s then ${d!.timeSec} s)`);

  await lab!.sh(`xl destroy ${name}`);
  t.notOk((await xlList(lab!)).find((x) => x.name === name), 'gone after destroy');
});

t.test('noop with "poweroff" on its command line shuts itself down', { skip }, async (t) => {
  const name = uniqueName('noop-off');
  destroyOnTeardown(t, lab!, [name]);
  await xlCreate(lab!, noopConfig(name, { extra: 'poweroff', more: ['on_poweroff = "preserve"'] }), name);
  await waitForConsole(lab!, name, `${READY} noop`);
  const d = await waitForDomain(lab!, name, (x) => !!x && x.state.includes('s'));
  t.match(d!.state, /s/, `shut down (${d!.state})`);
});

t.test('noop with "crash" on its command line crashes, and on_crash=preserve keeps it', { skip }, async (t) => {
  const name = uniqueName('noop-crash');
  destroyOnTeardown(t, lab!, [name]);
  await xlCreate(lab!, noopConfig(name, { extra: 'crash', more: ['on_crash = "preserve"'] }), name);
  const d = await waitForDomain(lab!, name, (x) => !!x && x.state.includes('c'));
  t.match(d!.state, /c/, `crashed (${d!.state})`);
});

t.test('a word that merely contains "poweroff" does not power off', { skip }, async (t) => {
  const name = uniqueName('noop-word');
  destroyOnTeardown(t, lab!, [name]);
  await xlCreate(lab!, noopConfig(name, { extra: 'nopoweroff', more: ['on_poweroff = "preserve"'] }), name);
  await waitForConsole(lab!, name, `${READY} noop`);
  await new Promise((r) => setTimeout(r, 2000));
  const d = (await xlList(lab!)).find((x) => x.name === name);
  t.ok(d && !/[sc]/.test(d.state), `still running (${d?.state})`);
});
