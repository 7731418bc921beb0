// Lab: the PV runtime's daytime guest made by xl on real Xen: answers TCP from dom0 and from another guest; bad XenStore data or a bad command line give a clear console error, not a fault.
import t from 'tap';
import { destroyOnTeardown, labOrSkip, READY, uniqueName, waitForConsole, xlCreate } from './fixture.js';
import { askDaytime, attachVif, checkAnswer, consoleLog, daytimeConfig, ensureBridge, ip, xlVif } from './daytime.js';

const { lab, skip } = labOrSkip();

t.test('daytime made by xl answers dom0, and a second guest asks it', { skip }, async (t) => {
  const server = uniqueName('rt-day-a');
  const client = uniqueName('rt-day-b');
  destroyOnTeardown(t, lab!, [server, client]);
  await ensureBridge(lab!);
  const vif = await xlVif(lab!);
  await xlCreate(lab!, daytimeConfig(server, { ip: 0, vif }), server);
  await attachVif(lab!, server);
  await waitForConsole(lab!, server, `${READY} daytime`);
  await checkAnswer(t, lab!, await askDaytime(lab!, ip(0)), 'nc from dom0');

  await xlCreate(lab!, daytimeConfig(client, { ip: 1, vif, extra: `daytime.peer=${ip(0)}` }), client);
  await attachVif(lab!, client);
  await waitForConsole(lab!, client, `daytime: peer ${ip(0)} says: `);
  const said = /daytime: peer [\d.]+ says: (.*)\r?\n/.exec(await consoleLog(lab!, client));
  // The line was printed before we read the log: allow for a slow lab.
  await checkAnswer(t, lab!, `${said?.[1] ?? ''}\r\n`, 'the second guest asked the first', 600);
});

t.test('bad XenStore data and a bad command line end in a clear console error, not a fault', { skip }, async (t) => {
  const cases: { what: string; setup: (id: string) => string; expect: RegExp; extra?: string }[] = [
    { what: 'garbage backend-id', setup: (id) => `xenstore-write /local/domain/${id}/device/vif/0/backend-id 'zero!'`,
      expect: /netfront vif\/0: device\/vif\/0\/backend-id is 'zero!': want a domain id/ },
    { what: 'missing mac', setup: (id) => `xenstore-rm /local/domain/${id}/device/vif/0/mac`,
      expect: /netfront vif\/0: device\/vif\/0\/mac is missing: want a unicast MAC/ },
    { what: 'backend outside /local/domain', setup: (id) => `xenstore-write /local/domain/${id}/device/vif/0/backend /tool/../x`,
      expect: /netfront vif\/0: device\/vif\/0\/backend is '\/tool\/\.\.\/x': want a path under \/local\/domain\// },
    { what: 'bad ip= on the command line', setup: () => 'true', extra: 'ip=10.88.0.300/24',
      expect: /lightvm: net: ip=10\.88\.0\.300\/24 is not an IPv4 address with a prefix length/ },
  ];
  await ensureBridge(lab!);
  const vif = await xlVif(lab!);
  for (const c of cases) {
    const name = uniqueName('rt-bad');
    destroyOnTeardown(t, lab!, [name]);
    await xlCreate(lab!, daytimeConfig(name, { ...(c.extra ? { extra: c.extra } : { ip: 3 }), vif }), name, ['-p']);
    const id = (await lab!.sh(`xl domid ${name}`)).trim();
    await lab!.sh(c.setup(id));
    await lab!.sh(`xl unpause ${name}`);
    await waitForConsole(lab!, name, 'lightvm: fatal: daytime: no network', 90);
    const log = await consoleLog(lab!, name);
    t.match(log, c.expect, `${c.what}: the console says what is wrong`);
    t.notMatch(log, /exception|page fault|LIGHTVM-READY/, `${c.what}: no fault and no ready mark`);
    await lab!.run(['xl', 'destroy', name]);
  }
});
