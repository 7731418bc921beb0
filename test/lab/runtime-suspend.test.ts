// Lab: the PV runtime's daytime guest made by chaos on real Xen keeps answering across a checkpoint (save -c) and a save and restore into a new domain.
import t from 'tap';
import { chaos, destroyOnTeardown, labOrSkip, READY, uniqueName, waitForConsole, xlList } from './fixture.js';
import { askDaytime, attachVif, chaosCreate, checkAnswer, consoleLog, daytimeConfig, ensureBridge, ip, SHARE } from './daytime.js';

const { lab, skip } = labOrSkip();

t.test('daytime made by chaos answers dom0, then again after save -c and after save and restore', { skip }, async (t) => {
  const server = uniqueName('rt-susp');
  const file = `${SHARE}/${server}.save`;
  destroyOnTeardown(t, lab!, [server]);
  t.teardown(async () => { await lab!.run(['rm', '-f', file]).catch(() => undefined); });
  await ensureBridge(lab!);

  await chaosCreate(t, lab!, server, daytimeConfig(server, { ip: 2 }));
  await attachVif(lab!, server);
  await waitForConsole(lab!, server, `${READY} daytime`);
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'before any suspend');

  const cp = await chaos(lab!, ['save', '-c', server, file]);
  t.equal(cp.code, 0, `chaos save -c${cp.code ? `: ${cp.stderr}` : ''}`);
  await waitForConsole(lab!, server, 'lightvm: resumed (suspend cancelled, same domain)');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'after a checkpoint (save -c)');

  const s = await chaos(lab!, ['save', server, file]);
  t.equal(s.code, 0, `chaos save${s.code ? `: ${s.stderr}` : ''}`);
  t.notOk((await xlList(lab!)).find((d) => d.name === server), 'the saved domain is gone');
  const r = await chaos(lab!, ['restore', file]);
  t.equal(r.code, 0, `chaos restore${r.code ? `: ${r.stderr}` : ''}`);
  await attachVif(lab!, server);
  await waitForConsole(lab!, server, 'lightvm: resumed (new domain)');
  t.match(await consoleLog(lab!, server), /netfront vif\/0: reconnected/, 'netfront reconnected to the new back-end');
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(2)), 'after save and restore');
});
