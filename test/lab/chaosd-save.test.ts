// Lab: save, restore and migrate through chaosd on real Xen, by its REST API and by `chaos save/restore/migrate` routed to it, with the daytime guest (it suspends and answers on TCP).
import t, { type Test } from 'tap';
import type { Lab } from '../../lab/lab.js';
import { chaos, CHAOS, labOrSkip, putFile, READY, waitForConsole, xlList } from './fixture.js';
import { askDaytime, attachVif, checkAnswer, DAYTIME_KERNEL, daytimeConfig, ensureBridge, ip } from './daytime.js';
import { TestChaosd } from './chaosd-api.js';

const { lab, skip } = labOrSkip();
t.setTimeout(900_000);

const RESUMED_SAME = 'lightvm: resumed (suspend cancelled, same domain)';
const RESUMED_NEW = 'lightvm: resumed (new domain)';

async function domidOf(l: Lab, name: string): Promise<number | undefined> {
  return (await xlList(l)).find((d) => d.name === name)?.id;
}

/** A receiver for one migration (chaos migrate-receive --once, without chaosd), listening before this returns; its output file. */
async function receiver(l: Lab, d: TestChaosd, tag: string, port: number): Promise<string> {
  const out = `${d.dir}/recv-${tag}`;
  await l.sh(`(node ${CHAOS} --no-daemon --state-dir ${d.dir}/recv-state migrate-receive --once --no-monitor --port ${port} --token-file ${d.dir}/mtoken > ${out} 2>&1; echo "exit $?" >> ${out}) > /dev/null 2>&1 &`);
  await l.run(`i=0; until grep -q listening ${out}; do i=$((i+1)); [ $i -gt 900 ] && exit 1; sleep 0.1; done`, { timeoutMs: 120_000 });
  return out;
}

async function receiverExit(t: Test, l: Lab, out: string): Promise<void> {
  await l.run(`i=0; until grep -q '^exit' ${out}; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done`, { timeoutMs: 90_000 });
  t.match((await l.run(['cat', out])).stdout.toString(), /exit 0/, 'the receiver took the domain and exited 0');
}

/** chaosd's count of finished operations of one kind (its chaosd_phase_seconds histogram). */
async function opCount(d: TestChaosd, op: string): Promise<number> {
  const text = String((await d.api('GET', '/v1/metrics')).json);
  const m = new RegExp(`^chaosd_phase_seconds_count\\{phase="${op}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

t.test('save, restore and migrate through chaosd', { skip }, async (t) => {
  const l = lab!;
  const d = new TestChaosd(l, 'chaosd-save');
  const rest = `cds${d.id}-api`, cli = `cds${d.id}-cli`;
  t.teardown(async () => {
    await d.stop();
    for (const n of [rest, cli, `${rest}--incoming`, `${cli}--incoming`]) await l.run(['xl', 'destroy', n], { timeoutMs: 60_000 }).catch(() => undefined);
  });
  await ensureBridge(l);
  await d.start(['--no-pools']);
  const port = 18100 + (process.pid % 400) * 2;

  await t.test('by the REST API', async (t) => {
    const config = { name: rest, type: 'pv', kernel: DAYTIME_KERNEL, memory: 8, vcpus: 1, vif: ['bridge=xenbr0'], extra: `ip=${ip(0)}/24 gw=10.88.0.1` };
    const c = await d.api('POST', '/v1/domains', { config });
    t.equal(c.status, 201, JSON.stringify(c.json));
    await attachVif(l, rest);
    await waitForConsole(l, rest, `${READY} daytime`);
    await checkAnswer(t, l, await askDaytime(l, ip(0)), 'before any save');

    const file = `${d.dir}/${rest}.save`;
    const cp = await d.api('POST', `/v1/domains/${rest}/save`, { file, checkpoint: true });
    t.equal(cp.status, 200, `a checkpoint: ${JSON.stringify(cp.json)}`);
    t.equal(cp.json.domid, c.json.domid);
    t.ok(cp.json.bytes > 0, `an image of ${cp.json.bytes} bytes`);
    await waitForConsole(l, rest, RESUMED_SAME);
    t.equal(await domidOf(l, rest), c.json.domid, 'the guest goes on in the same domain');
    await checkAnswer(t, l, await askDaytime(l, ip(0)), 'after the checkpoint');

    const s = await d.api('POST', `/v1/domains/${rest}/save`, { file });
    t.equal(s.status, 200, `a save: ${JSON.stringify(s.json)}`);
    t.equal((await d.api('GET', `/v1/domains/${rest}`)).status, 404, 'the saved domain is gone');
    // A fresh console log for the restored domain (the old one's is complete).
    await l.run(['rm', '-f', `/var/log/xen/console/guest-${rest}.log`]);
    const r = await d.api('POST', '/v1/restore', { file });
    t.equal(r.status, 201, `a restore: ${JSON.stringify(r.json)}`);
    t.equal(r.json.name, rest, 'under its own name');
    t.not(r.json.domid, c.json.domid, 'in a new domain');
    await attachVif(l, rest);
    await waitForConsole(l, rest, RESUMED_NEW);
    await checkAnswer(t, l, await askDaytime(l, ip(0)), 'after save and restore');
    t.equal((await d.api('POST', '/v1/restore', { file })).json.error?.code, 'NAME_IN_USE', 'restoring it again while it runs is refused');

    const out = await receiver(l, d, 'api', port);
    const m = await d.api('POST', `/v1/domains/${rest}/migrate`, { host: 'localhost', port, tokenFile: `${d.dir}/mtoken` });
    t.equal(m.status, 200, `a migration: ${JSON.stringify(m.json)}`);
    t.equal(m.json.sourceDomid, r.json.domid);
    t.not(m.json.targetDomid, r.json.domid, 'to a new domain');
    await receiverExit(t, l, out);
    t.equal(await domidOf(l, rest), m.json.targetDomid, 'xl list shows it under its own name in the new domain');
    t.equal((await d.api('GET', `/v1/domains/${r.json.domid}`)).status, 404, 'the source domain is gone');
    await attachVif(l, rest);
    await checkAnswer(t, l, await askDaytime(l, ip(0)), 'after the migration');
  });

  await t.test('by chaos save, restore and migrate, routed to chaosd', async (t) => {
    const via = ['--chaosd-socket', d.sock];
    const cfg = `${d.dir}/${cli}.cfg`;
    await putFile(l, cfg, daytimeConfig(cli, { ip: 1 }));
    const before = { save: await opCount(d, 'save'), restore: await opCount(d, 'restore'), migrate: await opCount(d, 'migrate') };
    const c = await chaos(l, [...via, 'create', cfg]);
    t.equal(c.code, 0, c.stderr);
    await attachVif(l, cli);
    await waitForConsole(l, cli, `${READY} daytime`);

    const file = `${d.dir}/${cli}.save`;
    const cp = await chaos(l, [...via, 'save', '-c', '--json', cli, file]);
    t.equal(cp.code, 0, cp.stderr);
    t.equal(JSON.parse(cp.stdout).daemon, true, 'chaos save -c went through chaosd');
    await waitForConsole(l, cli, RESUMED_SAME);
    await checkAnswer(t, l, await askDaytime(l, ip(1)), 'after chaos save -c');

    const s = await chaos(l, [...via, 'save', '--json', cli, file]);
    t.equal(s.code, 0, s.stderr);
    t.equal(JSON.parse(s.stdout).daemon, true, 'chaos save went through chaosd');
    await l.run(['rm', '-f', `/var/log/xen/console/guest-${cli}.log`]);
    const r = await chaos(l, [...via, 'restore', '--json', file]);
    t.equal(r.code, 0, r.stderr);
    t.equal(JSON.parse(r.stdout).daemon, true, 'chaos restore went through chaosd');
    await attachVif(l, cli);
    await waitForConsole(l, cli, RESUMED_NEW);
    await checkAnswer(t, l, await askDaytime(l, ip(1)), 'after chaos save and chaos restore');

    const out = await receiver(l, d, 'cli', port + 1);
    const m = await chaos(l, [...via, 'migrate', '--json', '--port', String(port + 1), '--token-file', `${d.dir}/mtoken`, cli, 'localhost']);
    t.equal(m.code, 0, m.stderr);
    await receiverExit(t, l, out);
    t.equal(await domidOf(l, cli), JSON.parse(m.stdout).targetDomid, 'the migrated domain runs under its name');
    await attachVif(l, cli);
    await checkAnswer(t, l, await askDaytime(l, ip(1)), 'after chaos migrate');

    t.same({ save: await opCount(d, 'save'), restore: await opCount(d, 'restore'), migrate: await opCount(d, 'migrate') },
      { save: before.save + 2, restore: before.restore + 1, migrate: before.migrate + 1 }, 'chaosd did each of them (its metrics count them)');
  });
});
