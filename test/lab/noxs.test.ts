// Lab: noxs on the patched Xen (xen-patches/): every domain's device page and the devctl hypercall, driven from dom0.
import t, { type Test } from 'tap';
import { destroyOnTeardown, labOrSkip, noopConfig, PROJECT, uniqueName, waitForConsole, xlCreate } from './fixture.js';

const { lab, skip: noLab } = labOrSkip();
const PROBE = `${PROJECT}/dist/test/lab/dom0/noxs-probe.js`;
/** The test guest that calls devctl as an ordinary domain (guests/devctl-probe). */
const GUEST_PROBE = `${PROJECT}/guests/devctl-probe/devctl-probe`;

type Json = Record<string, any>;

/** Runs one scenario of the dom0 probe and returns the JSON object it prints. */
async function probe(args: string[]): Promise<Json> {
  const r = await lab!.run(['node', PROBE, ...args], { timeoutMs: 300_000 });
  const text = r.stdout.toString();
  if (r.code !== 0) throw new Error(`noxs-probe ${args.join(' ')} exited ${r.code}: ${r.stderr.toString()}${text}`);
  const out = JSON.parse(text) as Json;
  if (out.fatal) throw new Error(`noxs-probe ${args.join(' ')} failed: ${JSON.stringify(out.fatal)} after ${text}`);
  return out;
}

// The lab boots Debian's stock hypervisor unless told otherwise: then there is no devctl to test.
let skip: string | false = noLab;
if (!skip) {
  const out = await probe(['available']);
  if (!out.available) {
    skip = 'the lab runs a stock hypervisor without devctl (noxs): boot the patched one with `lab up --xen "$(xen-patches/build.sh)"`';
  }
}

/** Xen's errno name of a refused devctl call recorded by the probe. */
const refused = (v: Json | string | undefined) => (typeof v === 'object' ? v.error?.errnoName : undefined);

/** A paused noop guest (its vCPU never runs: its page is only ever touched by dom0 here); returns its domid. */
async function pausedGuest(t: Test, prefix: string): Promise<number> {
  const name = uniqueName(prefix);
  destroyOnTeardown(t, lab!, [name]);
  await xlCreate(lab!, noopConfig(name), name, ['-p']);
  return Number((await lab!.sh(`xl domid ${name}`)).trim());
}

t.test("get: dom0 and a guest each have a device page; the guest's is readable but not writable through a mapping", { skip }, async (t) => {
  const domid = await pausedGuest(t, 'noxs-page');
  const out = await probe(['pages', String(domid)]);
  t.ok(Number.isInteger(out.frameSelf) && out.frameSelf > 0, `dom0's own page (DOMID_SELF) is frame ${out.frameSelf}`);
  t.equal(out.frameDom0, out.frameSelf, 'asking for domain 0 by id gives the same frame');
  t.ok(Number.isInteger(out.frameGuest) && out.frameGuest > 0, `the guest's page is frame ${out.frameGuest}`);
  t.not(out.frameGuest, out.frameSelf, 'the guest has a page of its own');
  t.match(out.guestPage, { magic: 0x73786f6e, version: 1, count: 0, devs: [] }, "the guest's page starts empty, with the noxs header");
  t.equal(out.guestPageWrite?.error?.call, 'xenforeignmemory_map', `a writable mapping of the guest's page is refused (${JSON.stringify(out.guestPageWrite)})`);
  t.same(out.guestPageAfterWrite, out.guestPage, 'and the page is unchanged');
});

t.test('dev_add, dev_enum and dev_rem round-trip on a paused guest; removal matches type and id exactly', { skip }, async (t) => {
  const domid = await pausedGuest(t, 'noxs-dev');
  const out = await probe(['devices', String(domid)]);
  t.same(out.empty, [], 'a new guest has no devices');
  t.equal(out.pageEmpty.count, 0);
  for (const k of ['addPower', 'addVif0', 'addVif1']) t.equal(out[k], 'ok', `${k} accepted`);
  const three = [
    { type: 'power', id: 0, beDomid: 0, grant: 8, evtchn: 5 },
    { type: 'vif', id: 0, beDomid: 0, grant: 9, evtchn: 6 },
    { type: 'vif', id: 1, beDomid: 0, grant: 10, evtchn: 7 },
  ];
  t.same(out.listThree, three, 'dev_enum returns the three devices with every field');
  t.equal(out.pageThree.count, 3, 'the page itself (as the guest maps it) holds three entries');
  t.same(out.pageThree.devs.map((d: Json) => `${d.type}/${d.id}/${d.grant}/${d.evtchn}`).sort(), ['1/0/8/5', '2/0/9/6', '2/1/10/7'],
    'with the types, ids, grants and event channels dom0 gave');
  t.ok(out.pageThree.generation % 2 === 0 && out.pageThree.generation >= 6, `generation ${out.pageThree.generation}: even (no change under way), bumped twice per change`);
  t.equal(refused(out.addDuplicate), 'EEXIST', 'adding a type and id the page holds is refused (EEXIST)');
  t.equal(refused(out.remWrongType), 'ENOENT', 'removing an id that exists under another type is refused (ENOENT)');
  t.equal(refused(out.remMissingId), 'ENOENT', 'removing an id that does not exist is refused (ENOENT)');
  t.equal(out.remVif1, 'ok', 'removing vif 1 works');
  t.equal(refused(out.remVif1Again), 'ENOENT', 'and a second time it is not there');
  t.same(out.listTwo, three.slice(0, 2), 'vif 1 is gone, the others stay');
  t.equal(out.enumMax1.count, 2, 'dev_enum with room for one reports the full count');
  t.equal(out.enumMax1.devs.length, 1, 'but copies one entry');
  t.same(out.enumMax0, { count: 2, devs: [] }, 'room for none: the count only');
  t.equal(out.remPower, 'ok');
  t.equal(out.remVif0, 'ok');
  t.same(out.listEnd, [], 'all removed');
  t.match(out.pageEnd, { count: 0, devs: [] }, 'the page is empty again');
});

t.test('a full page refuses one more device with ENOSPC', { skip }, async (t) => {
  const domid = await pausedGuest(t, 'noxs-full');
  const out = await probe(['capacity', String(domid)]);
  t.equal(out.capacity, 255, 'a page holds (4096 - 16) / 16 = 255 devices');
  t.equal(out.added, out.capacity, `all ${out.capacity} added (${JSON.stringify(out.fill)})`);
  t.equal(refused(out.overflow), 'ENOSPC', 'the next one is refused (ENOSPC)');
  t.equal(refused(out.overflowOtherType), 'ENOSPC', 'whatever its type');
  t.equal(out.listFull.length, 255, 'dev_enum lists every one');
  t.equal(out.listFull.ids, Array.from({ length: 255 }, (_, i) => i).join(','), 'ids 0..254, none lost or doubled');
  t.equal(out.removed, out.added, `all removed again (${JSON.stringify(out.empty)})`);
  t.same(out.listEnd, []);
});

t.test('bad requests are refused: unknown version, unknown op, bad type, reserved back-end, no such domain', { skip }, async (t) => {
  const out = await probe(['refusals']);
  t.equal(refused(out.version0), 'EINVAL', 'version 0: EINVAL');
  t.equal(refused(out.version2), 'EINVAL', 'version 2 (unknown): EINVAL');
  t.equal(refused(out.versionFfff), 'EINVAL', 'version 0xffff: EINVAL');
  t.equal(refused(out.unknownOp), 'EOPNOTSUPP', 'an unknown op: EOPNOTSUPP');
  t.equal(refused(out.badType), 'EINVAL', 'device type 9: EINVAL');
  t.equal(refused(out.typeZero), 'EINVAL', 'device type 0: EINVAL');
  t.equal(refused(out.reservedBackend), 'EINVAL', 'a back-end domid that is not an ordinary domain: EINVAL');
  t.equal(refused(out.noSuchDomain), 'ESRCH', 'get for a domain that does not exist: ESRCH');
  t.equal(refused(out.noSuchDomainAdd), 'ESRCH', 'dev_add for a domain that does not exist: ESRCH');
  t.match(out.noSuchDomain.error.message, /devctl failed for domain 32736/, 'the toolstack error names the call and the domain');
  t.same(out.dom0ListAfter, [], 'none of the refused requests left anything on dom0\'s page');
});

t.test('from a guest: its own page is readable, read-only, and shows what dom0 added; every other request is refused', { skip }, async (t) => {
  const name = uniqueName('noxs-guest');
  destroyOnTeardown(t, lab!, [name]);
  // Paused until dom0 has put one device on its page: the guest must find it there.
  await xlCreate(lab!, noopConfig(name, { extra: 'expect=1/3/0/77/5' }).replace(/^kernel = .*$/m, `kernel = "${GUEST_PROBE}"`), name, ['-p']);
  const domid = Number((await lab!.sh(`xl domid ${name}`)).trim());
  const added = await probe(['add', String(domid), 'power', '3', '0', '77', '5']);
  t.equal(added.add, 'ok', 'dom0 added power 3 (grant 77, event channel 5) to the paused guest\'s page');
  await lab!.sh(`xl unpause ${name}`);
  await waitForConsole(lab!, name, 'devctl-probe: done', 120);
  const log = await lab!.sh(`cat /var/log/xen/console/guest-${name}.log`);
  const result = (check: string) => new RegExp(`^devctl-probe: ${check} .*\\b(PASS|FAIL)\\s*$`, 'm').exec(log)?.[1];
  const expect: [string, string][] = [
    ['get-self', 'its own page: GET with DOMID_SELF works'],
    ['get-self-frame', 'and gives a frame'],
    ['page-map-ro', 'the guest maps the frame read-only'],
    ['page-header', 'and finds the noxs magic and version'],
    ['page-device', 'and the device dom0 added, every field'],
    ['page-map-rw-refused', 'a writable mapping is refused'],
    ['page-unmap', 'the guest gives the page its own frame back'],
    ['get-dom0', "asking for dom0's page: EPERM"],
    ['get-missing-domain', "asking for a domain that does not exist: EPERM (nothing is learnt)"],
    ['dev-add-self', 'dev_add on its own page: EPERM'],
    ['dev-add-dom0', "dev_add on dom0's page: EPERM"],
    ['dev-rem-self', 'dev_rem: EPERM'],
    ['dev-enum-self', 'dev_enum: EPERM'],
    ['unknown-version', 'an unknown version: EINVAL'],
    ['unknown-op', 'an unknown op: EOPNOTSUPP'],
  ];
  for (const [check, what] of expect) t.equal(result(check), 'PASS', `${what} (${check})`);
  t.match(log, /^devctl-probe: done, 15 checks, 0 failed/m, 'the guest counted 15 checks and no failure');
  t.match(log, /^SUCCESS/m);
  t.same((await probe(['devices-list', String(domid)])).list, [{ type: 'power', id: 3, beDomid: 0, grant: 77, evtchn: 5 }], "the guest's refused requests changed nothing on its page");
});
