// Lab: chaos save, restore and migrate on real Xen with a Linux guest that suspends (tinyx ticker), and their failures with guests that do not.
import t, { type Test } from 'tap';
import type { Lab } from '../../lab/lab.js';
import { chaos, CHAOS, destroyOnTeardown, labOrSkip, noopConfig, putFile, READY, tinyxConfig, uniqueName, waitForConsole, waitForDomain, xlCreate, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();
/** Save images go to the share (the host's disk): dom0's root is RAM and a Linux guest's image is about its memory size. */
const SHARE = '/mnt/share';

/** The last "tick N" on the guest's console log. */
async function lastTick(lab: Lab, name: string): Promise<number> {
  const log = (await lab.run(['sh', '-c', `tail -c 4000 /var/log/xen/console/guest-${name}.log`])).stdout.toString();
  const ticks = [...log.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
  return ticks.length ? Math.max(...ticks) : 0;
}

async function domid(lab: Lab, name: string): Promise<number | undefined> {
  return (await xlList(lab)).find((d) => d.name === name)?.id;
}

/** A ticker made by chaos, booted and ticking. */
async function ticker(t: Test, name: string): Promise<void> {
  await putFile(lab!, `/tmp/${name}.cfg`, tinyxConfig(name));
  const c = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(c.code, 0, c.stderr);
  await waitForConsole(lab!, name, `${READY} tinyx-ticker`, 300);
  await waitForConsole(lab!, name, 'tick 2', 60);
}

t.test('save then restore: the image holds the guest, the domain is gone in between, and the guest goes on counting after restore', { skip }, async (t) => {
  const name = uniqueName('sr');
  const file = `${SHARE}/${name}.save`;
  destroyOnTeardown(t, lab!, [name]);
  t.teardown(() => lab!.run(['rm', '-f', file]).then(() => undefined));
  await ticker(t, name);

  const cp = await chaos(lab!, ['save', '-c', '--json', name, file]);
  t.equal(cp.code, 0, cp.stderr);
  const first = await domid(lab!, name);
  t.ok(first, 'save -c leaves the domain running');
  const n0 = await lastTick(lab!, name);
  await waitForConsole(lab!, name, `tick ${n0 + 2}`, 60);
  t.pass('after a checkpoint the guest keeps counting');

  const s = await chaos(lab!, ['save', '--json', name, file]);
  t.equal(s.code, 0, s.stderr);
  const saved = JSON.parse(s.stdout);
  t.equal(saved.name, name);
  t.ok(saved.bytes > 64 * 1048576, `the image holds the guest's memory (${(saved.bytes / 1048576).toFixed(1)} MiB)`);
  t.notOk(await domid(lab!, name), 'the saved domain is destroyed');
  const mode = (await lab!.run(['stat', '-c', '%a', file])).stdout.toString().trim();
  t.equal(mode, '600', 'only root may read the image: it holds the guest\'s memory');
  const before = await lastTick(lab!, name);

  const r = await chaos(lab!, ['restore', '--json', file]);
  t.equal(r.code, 0, r.stderr);
  const restored = JSON.parse(r.stdout);
  t.equal(restored.name, name);
  t.equal(await domid(lab!, name), restored.domid, 'xl list shows the restored domain under its name');
  await waitForConsole(lab!, name, `tick ${before + 2}`, 120);
  t.pass(`the guest counts on after restore (past tick ${before})`);

  const again = await chaos(lab!, ['restore', file]);
  t.equal(again.code, 1, 'restoring again while the name is in use fails');
  t.match(again.stderr, /NAME_IN_USE/);
});

t.test('migrate to localhost: the domain moves to a new domain id under its own name and keeps counting; the source is gone', { skip }, async (t) => {
  const name = uniqueName('mig');
  const out = `/tmp/${name}.recv`;
  destroyOnTeardown(t, lab!, [name, `${name}--incoming`]);
  await ticker(t, name);
  const src = await domid(lab!, name);
  const port = 18000 + (process.pid % 1000);
  // The receiver runs in the background of dom0 and exits after one migration (--once), with its result as exit code.
  await lab!.sh(`(node ${CHAOS} migrate-receive --once --port ${port} > ${out} 2>&1; echo "exit $?" >> ${out}) > /dev/null 2>&1 &`);
  await lab!.run(`i=0; until grep -q listening ${out}; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done`, { timeoutMs: 90_000 });
  const before = await lastTick(lab!, name);
  const m = await chaos(lab!, ['migrate', '--json', '--port', String(port), name, 'localhost']);
  t.equal(m.code, 0, m.stderr);
  const r = JSON.parse(m.stdout);
  t.equal(r.sourceDomid, src);
  t.not(r.targetDomid, src, 'a new domain id');
  t.equal(await domid(lab!, name), r.targetDomid, 'xl list shows the migrated domain under its own name');
  t.notOk((await xlList(lab!)).find((d) => d.id === src), 'the source domain is gone');
  t.notOk((await xlList(lab!)).find((d) => d.name === `${name}--incoming`), 'no domain keeps the temporary name');
  await waitForConsole(lab!, name, `tick ${before + 2}`, 120);
  t.pass('the guest counts on after the migration');
  await lab!.run(`i=0; until grep -q '^exit' ${out}; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done`, { timeoutMs: 60_000 });
  const recv = (await lab!.run(['cat', out])).stdout.toString();
  t.match(recv, /received .* \(domain \d+\)/, 'the receiver says what it received');
  t.match(recv, /exit 0/, 'and exits 0 after one migration');
});

t.test('failures leave the guest running: a guest that cannot suspend, no receiver, a wrong token; bad images and xl domains are refused', { skip }, async (t) => {
  const name = uniqueName('nosusp');
  const byXl = uniqueName('xl-save');
  destroyOnTeardown(t, lab!, [name, byXl]);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name));
  t.equal((await chaos(lab!, ['create', `/tmp/${name}.cfg`])).code, 0);
  await waitForConsole(lab!, name, `${READY} noop`);

  const s = await chaos(lab!, ['save', '--timeout', '3', name, `${SHARE}/${name}.save`]);
  t.equal(s.code, 1);
  // libxc checks the guest's memory frame list before it asks for a suspend: noop never publishes one.
  t.match(s.stderr, /cannot be saved: it never published the list of its memory frames.*\[NOT_SUPPORTED\]/s, 'noop cannot be saved: a clear error');
  t.equal((await lab!.run(['ls', `${SHARE}/${name}.save`])).code, 1, 'no image is left behind');
  t.notMatch((await xlList(lab!)).find((d) => d.name === name)?.state ?? 'gone', /[sd]|gone/, 'the guest is still there and not shut down');

  const none = await chaos(lab!, ['migrate', '--port', '1', name, '127.0.0.1']);
  t.equal(none.code, 1);
  t.match(none.stderr, /cannot reach the migration receiver at 127\.0\.0\.1:1.*\[MIGRATION\]/s);

  const port = 19000 + (process.pid % 1000);
  const out = `/tmp/${name}.recv`;
  await lab!.sh(`echo wrong-token-0123456789abcdef > /tmp/${name}.token; chmod 600 /tmp/${name}.token`);
  await lab!.sh(`(node ${CHAOS} migrate-receive --once --port ${port} > ${out} 2>&1; echo "exit $?" >> ${out}) > /dev/null 2>&1 &`);
  await lab!.run(`i=0; until grep -q listening ${out}; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done`, { timeoutMs: 90_000 });
  const wrong = await chaos(lab!, ['migrate', '--port', String(port), '--token-file', `/tmp/${name}.token`, name, 'localhost']);
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /did not present the migration token.*\[MIGRATION\]/s, 'the receiver refuses a sender without its token');
  t.ok((await xlList(lab!)).find((d) => d.name === name), 'the source is untouched');

  await putFile(lab!, `${SHARE}/${name}.junk`, 'not a save image\n');
  const junk = await chaos(lab!, ['restore', `${SHARE}/${name}.junk`]);
  t.equal(junk.code, 1);
  t.match(junk.stderr, /is not a lightvm save image.*\[SAVE_INVALID\]/s);
  await lab!.sh(`printf 'LIGHTVM-SAVE 1\\n\\000\\000\\000\\010{"versi' > ${SHARE}/${name}.cut; rm -f ${SHARE}/${name}.junk`);
  const cut = await chaos(lab!, ['restore', `${SHARE}/${name}.cut`]);
  t.match(cut.stderr, /ends inside its metadata.*\[SAVE_INVALID\]/s, 'truncated metadata is refused');
  await lab!.run(['rm', '-f', `${SHARE}/${name}.cut`]);
  const missing = await chaos(lab!, ['restore', `${SHARE}/${name}.nowhere`]);
  t.match(missing.stderr, /no such file.*\[SAVE_INVALID\]/s);

  await xlCreate(lab!, noopConfig(byXl), byXl);
  const x = await chaos(lab!, ['save', byXl, `${SHARE}/${byXl}.save`]);
  t.equal(x.code, 1);
  t.match(x.stderr, /was not made by chaos.*\[NOT_SUPPORTED\]/s, 'a domain xl made is not saved without its config');
  await waitForDomain(lab!, byXl, (d) => d !== undefined);
});
