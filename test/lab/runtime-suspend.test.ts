// Lab: the PV runtime's daytime guest on real Xen keeps answering across a checkpoint (save -c) and a save and restore into a new domain, with xl and with chaos.
import t from 'tap';
import { chaos, destroyOnTeardown, labOrSkip, READY, uniqueName, waitForConsole, xlCreate, xlList } from './fixture.js';
import { askDaytime, attachVif, chaosCreate, checkAnswer, consoleLog, daytimeConfig, ensureBridge, ip, SHARE, xlVif } from './daytime.js';

const { lab, skip } = labOrSkip();

t.test('daytime made by xl answers after xl save -c, and after xl save and xl restore', { skip }, async (t) => {
  const name = uniqueName('rt-susp-xl');
  // Not on 9p (/mnt/share): it refuses libxc's writes from foreign mappings (EFAULT). An 8 MiB image fits dom0's RAM.
  const file = `/tmp/${name}.save`;
  destroyOnTeardown(t, lab!, [name]);
  t.teardown(async () => { await lab!.run(['rm', '-f', file]).catch(() => undefined); });
  await ensureBridge(lab!);
  await xlCreate(lab!, daytimeConfig(name, { ip: 2, vif: await xlVif(lab!) }), name);
  await attachVif(lab!, name);
  await waitForConsole(lab!, name, `${READY} daytime`);
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'before any suspend');

  await lab!.sh(`xl save -c ${name} ${file}`, 300_000);
  await waitForConsole(lab!, name, 'lightvm: resumed (suspend cancelled, same domain)');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'after a checkpoint (xl save -c)');

  await lab!.sh(`xl save ${name} ${file}`, 300_000);
  t.notOk((await xlList(lab!)).find((d) => d.name === name), 'the saved domain is gone');
  await lab!.sh(`xl restore ${file}`, 300_000);
  await attachVif(lab!, name);
  await waitForConsole(lab!, name, 'lightvm: resumed (new domain)');
  t.match(await consoleLog(lab!, name), /netfront vif\/0: reconnected/, 'netfront reconnected to the new back-end');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'after xl save and xl restore');
});

t.test('daytime made by chaos answers after chaos save -c', { skip }, async (t) => {
  const name = uniqueName('rt-susp-chaos');
  const file = `${SHARE}/${name}.save`;
  destroyOnTeardown(t, lab!, [name]);
  t.teardown(async () => { await lab!.run(['rm', '-f', file]).catch(() => undefined); });
  await ensureBridge(lab!);
  await chaosCreate(t, lab!, name, daytimeConfig(name, { ip: 3 }));
  await attachVif(lab!, name);
  await waitForConsole(lab!, name, `${READY} daytime`);
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(3)), 'before the checkpoint');
  const cp = await chaos(lab!, ['save', '-c', name, file]);
  t.equal(cp.code, 0, `chaos save -c${cp.code ? `: ${cp.stderr}` : ''}`);
  await waitForConsole(lab!, name, 'lightvm: resumed (suspend cancelled, same domain)');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(3)), 'after chaos save -c');
});
