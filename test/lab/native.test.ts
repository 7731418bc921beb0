// Lab: the native addon on real Xen 4.17 in dom0: host queries, a noop guest built and run without xl, a bad kernel, XenStore and watches.
import t from 'tap';
import { destroyOnTeardown, labOrSkip, NOOP_KERNEL, PROJECT, READY, uniqueName } from './fixture.js';

const { lab, skip } = labOrSkip();
const PROBE = `${PROJECT}/dist/test/lab/dom0/native-probe.js`;

// The probe prints plain JSON; the assertions below check its shape.
type Json = Record<string, any>;

/** Runs one scenario of the dom0 probe and returns the JSON object it prints. */
async function probe(args: string[]): Promise<Json> {
  const r = await lab!.run(['node', PROBE, ...args], { timeoutMs: 180_000 });
  const text = r.stdout.toString();
  if (r.code !== 0) throw new Error(`native-probe ${args.join(' ')} exited ${r.code}: ${r.stderr.toString()}${text}`);
  const out = JSON.parse(text) as Json;
  if (out.fatal) throw new Error(`native-probe ${args.join(' ')} failed: ${JSON.stringify(out.fatal)} after ${text}`);
  return out;
}

t.test('version, physinfo and the domain list come from Xen 4.17', { skip }, async (t) => {
  const out = await probe(['host']);
  t.match(out.version, { major: 4, minor: 17 }, `Xen ${out.version.major}.${out.version.minor}${out.version.extra}`);
  t.match(out.version.capabilities, /xen-3\.0-x86_64/);
  t.equal(out.physinfo.nrCpus, 2, 'the lab machine has 2 CPUs');
  t.ok(out.physinfo.freePages > 0 && out.physinfo.freePages <= out.physinfo.totalPages, 'free pages within total');
  t.ok(out.physinfo.capabilities.includes('pv'), `PV capable (${out.physinfo.capabilities.join(' ')})`);
  const dom0 = (out.list as Json[]).find((d) => d.domid === 0);
  t.ok(dom0, 'dom0 is listed');
  t.match(dom0, { dying: false, shutdown: false, paused: false, hvm: false, nrOnlineVcpus: 2 });
  t.ok(dom0!.nrPages > 0 && dom0!.maxMemKiB > 0, 'dom0 holds memory');
  t.match(out.unpauseMissing, { error: { call: 'xc_domain_unpause', code: 'ESRCH', domid: 0x7fef } }, 'a call made on the JS thread that fails rejects with a NativeError, as one from the thread pool does');
  t.same(out.atOnce, { physinfo: true, listChanges: true, unpauseMissing: true, list: false }, 'physinfo, the list\'s changes and unpause settle on the JS thread, failure included; the full list still goes through the thread pool');
});

t.test('create, build and run the noop guest through the addon alone; pause, unpause, shutdown and destroy', { skip }, async (t) => {
  const name = uniqueName('native');
  destroyOnTeardown(t, lab!, [name]);
  const out = await probe(['lifecycle', name, NOOP_KERNEL]);
  t.ok(out.domid > 0, `domain ${out.domid} created`);
  t.match(out.created, { paused: true, nrOnlineVcpus: 0, maxMemKiB: 5 * 1024 }, 'a new domain is paused, its vCPUs not yet up, its memory limit set');
  t.equal(out.affinity, 'ok', 'vCPU 0 pinned to CPUs 0 and 1');
  t.equal(out.memmap, 'ok', 'memory map limit set');
  t.ok(out.ports.consolePort > 0 && out.ports.storePort > 0, 'console and store ports allocated');
  t.match(out.build, { guestOs: 'lightvm-noop', consoleMfn: Number, storeMfn: Number }, 'buildPv read the GUEST_OS note');
  t.not(out.build.consoleMfn, out.build.storeMfn, 'two distinct ring frames');
  t.pass(`buildPv took ${out.buildMs.toFixed(0)} ms in the lab`);
  t.match(out.built, { paused: true, nrPages: 1024, nrOnlineVcpus: 1 }, 'built: 4 MiB populated, one vCPU, still paused');
  t.equal(out.introduce, 'ok', 'introduced to xenstored');
  t.equal(out.unpause, 'ok');
  t.match(out.consoleRing, `${READY} noop`, 'the guest ran and wrote its ready mark to the console ring (read by foreignRead)');
  t.match(out.consoleRing, /cmdline 'native-probe'/, 'with the command line buildPv gave it');
  t.equal(out.unpaused.paused, false, 'unpaused');
  t.equal(out.paused.paused, true, 'domainPause sets the paused flag');
  t.equal(out.unpaused2.paused, false, 'domainUnpause clears it');
  t.ok(Number.isInteger(out.bind) && out.bind > 0, `bound dom0's end of the console channel (local port ${out.bind})`);
  t.equal(out.notify, 'ok');
  t.equal(out.unbind, 'ok');
  t.equal(out.foreignWrite, 'ok');
  t.equal(out.readBack, 'native-probe', 'foreignWrite then foreignRead round-trips through guest memory');
  t.equal(out.foreignAtOnce, true, 'a copy out of one guest page is made on the JS thread: its promise is settled when the call returns');
  t.equal(out.release, 'ok', 'released from xenstored');
  t.match(out.shutdownInfo, { shutdown: true, shutdownReason: 0 }, 'domainShutdown(poweroff) is visible in the flags');
  t.equal(out.destroy, 'ok');
  t.equal(out.gone, true, 'gone from the domain list after domainDestroy');
  // domainListChanges: every domain is new to a first call; against that list, the new domain alone
  // is added (with Xen's handle); once it is gone, the list is back to the first one.
  t.match(out.listBefore, { hasDom0: true, removed: 0 }, `the first list (${out.listBefore.count} domains) holds dom0, all of them new`);
  t.same(out.listAfterCreate.added, [{ domid: out.domid, handle: out.createdHandle }], 'the new domain alone is added, with its handle');
  t.same(out.listAfterCreate.removed, []);
  t.equal(out.listAfterCreate.count, out.listBefore.count + 1);
  t.same(out.listAfterDestroy, { added: [], removed: [], count: out.listBefore.count }, 'after the destroy, no change against the first list');
});

t.test('buildPv of bytes that are not a kernel fails in xc_dom_parse_image and leaves the domain to its caller', { skip }, async (t) => {
  const name = uniqueName('native-bad');
  destroyOnTeardown(t, lab!, [name]);
  const out = await probe(['bad-kernel', name]);
  t.match(out.build.error, {
    name: 'NativeError', call: 'xc_dom_parse_image', code: 'ENOEXEC', domid: out.domid,
    message: /^xc_dom_parse_image: Exec format error \(.*no loader found\)$/,
  }, `refused: ${out.build.error.message}`);
  t.equal(out.buildHereAtOnce, true, 'a build on the calling thread (onCallingThread) is settled when the call returns');
  t.match(out.buildHere.error, { name: 'NativeError', call: 'xc_dom_parse_image', code: 'ENOEXEC', domid: out.domid }, 'and fails as the same build on the thread pool does');
  t.equal(out.stillThere, true, 'the domain is still there after the failed builds');
  t.equal(out.destroy, 'ok');
  t.equal(out.gone, true, 'and gone once destroyed');
});

t.test('XenStore: transactions, reads of nothing, permissions, an aborted batch, and watches', { skip }, async (t) => {
  const name = uniqueName('native-xs');
  t.teardown(() => lab!.run(['xenstore-rm', `/lightvm-probe/${name}`]).catch(() => undefined));
  const out = await probe(['xs', name]);
  const base = `/lightvm-probe/${name}`;
  t.equal(out.write.committed, true, 'the writing transaction committed');
  t.same(out.read, { committed: true, results: ['one', null, ['a', 'b'], null, [{ domid: 0, read: false, write: false }, { domid: 5, read: true, write: false }]] },
    'read back: a value, null for a missing node, a directory, null for a missing directory, the permissions set');
  t.same(out.plain, { committed: true, results: ['two'] }, 'a batch outside a transaction');
  t.match(out.failed.error, { name: 'NativeError', call: 'xs_write', code: 'EINVAL', detail: `${base}/bad path` }, `a bad path fails the batch: ${out.failed.error.message}`);
  t.match(out.failed.error.message, `${base}/bad path`, 'the message names the path');
  t.same(out.afterFailed.results, [null], 'the write before the failure was rolled back with the transaction');
  t.ok(out.watch >= 1, `watch id ${out.watch}`);
  t.same(out.events[0], [base, 'probe-token'], 'a new watch fires once at once, with the caller\'s token');
  t.ok((out.events as string[][]).some(([p, tok]) => p === `${base}/w` && tok === 'probe-token'), 'a write under the path fires it');
  t.equal(out.unwatch, 'ok');
  t.equal(out.eventsAfterUnwatch, 0, 'no event after xsUnwatch');
  t.match(out.unwatchAgain.error, { call: 'xs_unwatch', code: 'ENOENT' }, 'unwatching twice is an error');
  t.ok(out.leftWatch >= 1, 'a watch left in place did not keep the probe from exiting');
  t.same(out.rm, { committed: true, results: [null] }, 'removed');
  t.same(out.afterRm.results, [null, null], 'nothing left under the test path');
});

t.test('the addon refuses an out-of-page foreign read before touching Xen', { skip }, async (t) => {
  const out = await probe(['refusals']);
  t.match(out.foreignRead.error, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /offset \+ length must be at most 4096/ });
  t.match(out.badUuid.error, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
  t.match(out.negativeDomid.error, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
});
