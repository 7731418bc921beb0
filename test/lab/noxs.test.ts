// Lab: noxs on the patched Xen (xen-patches/): every domain's device page and the devctl hypercall, driven from dom0.
import t, { type Test } from 'tap';
import { destroyOnTeardown, labOrSkip, noopConfig, PROJECT, uniqueName, xlCreate } from './fixture.js';

const { lab, skip: noLab } = labOrSkip();
const PROBE = `${PROJECT}/dist/test/lab/dom0/noxs-probe.js`;

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
