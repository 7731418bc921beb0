// Runs in dom0: drives the native addon through one scenario on real Xen and prints what happened as one JSON object.
//
// Usage: node native-probe.js <scenario> [name] [kernel]
//   host                      version, physinfo and the domain list
//   lifecycle <name> <kernel> create, limits, build (kernel by path), introduce, unpause, console ring, pause,
//                             event channels, foreign write, shutdown, destroy
//   bad-kernel <name>         build a domain from bytes that are not a kernel; destroy it
//   xs <name>                 XenStore batches, transactions, permissions, errors and watches under /lightvm-probe/<name>
//   refusals                  argument checks that must refuse before any Xen call
// Every domain it makes gets /local/domain/<id>/name = <name> (so `xl destroy <name>` finds it if this
// process dies) and is destroyed before it exits.
import { randomUUID } from 'node:crypto';
import { loadNative } from '../../../toolstack/xen/native.js';
import type { DomainInfo, XenNative } from '../../../toolstack/xen/types.js';

const xen: XenNative = loadNative();
const out: Record<string, unknown> = {};

function errorJson(err: unknown): Record<string, unknown> {
  const e = err as Record<string, unknown> & Error;
  return { name: e.name, message: e.message, call: e.call, errno: e.errno, code: e.code, domid: e.domid, detail: e.detail };
}

/** Runs `f`, recording its value or its error under `key`; never throws. */
async function step<T>(key: string, f: () => Promise<T>): Promise<T | undefined> {
  try {
    const v = await f();
    out[key] = v === undefined ? 'ok' : v;
    return v;
  } catch (err) {
    out[key] = { error: errorJson(err) };
    return undefined;
  }
}

async function info(domid: number): Promise<DomainInfo | undefined> {
  const [d] = await xen.domainGetInfoList(domid, 1);
  return d && d.domid === domid ? d : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until the domain is no longer listed (a destroyed domain lingers as dying until its pages are freed). */
async function waitGone(domid: number, timeoutMs = 20_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!(await info(domid))) return true;
    await sleep(100);
  }
  return false;
}

/** A domain with a name in XenStore, vCPUs and a memory limit: what every build needs first. */
async function makeDomain(name: string, memMiB: number): Promise<number> {
  const domid = await xen.domainCreate({ handle: randomUUID(), maxVcpus: 1, maxGrantFrames: 32, maxMaptrackFrames: 1024 });
  await xen.xsBatch([
    { op: 'mkdir', path: `/local/domain/${domid}` },
    { op: 'write', path: `/local/domain/${domid}/name`, value: name },
  ], true);
  await xen.domainMaxVcpus(domid, 1);
  // As xl does: the populated memory plus 1 MiB of slack for what the builder adds.
  await xen.domainSetMaxMem(domid, memMiB * 1024 + 1024);
  return domid;
}

async function destroy(domid: number): Promise<void> {
  await step('destroy', () => xen.domainDestroy(domid));
  out.gone = await waitGone(domid);
  await xen.xsBatch([{ op: 'rm', path: `/local/domain/${domid}` }], false).catch(() => undefined);
}

function flags(d: DomainInfo | undefined): unknown {
  return d && { paused: d.paused, running: d.running, blocked: d.blocked, shutdown: d.shutdown, shutdownReason: d.shutdownReason, dying: d.dying, nrPages: d.nrPages, maxMemKiB: d.maxMemKiB, nrOnlineVcpus: d.nrOnlineVcpus };
}

/**
 * Whether the call's promise was settled when the call returned (it ran on the JS thread): a
 * callback on a settled promise runs before a continuation queued after it.
 */
async function settledAtOnce(f: () => Promise<unknown>): Promise<boolean> {
  let settled = false;
  const p = f();
  p.then(() => { settled = true; }, () => { settled = true; });
  await null;
  const atOnce = settled;
  await p.catch(() => undefined);
  return atOnce;
}

async function host(): Promise<void> {
  await step('version', () => xen.version());
  await step('physinfo', () => xen.physinfo());
  await step('list', () => xen.domainGetInfoList(0, 256));
  // DOMID_FIRST_RESERVED - 1: a valid id no domain of the lab has.
  await step('unpauseMissing', () => xen.domainUnpause(0x7fef));
  out.atOnce = {
    physinfo: await settledAtOnce(() => xen.physinfo()),
    // The addon's own function: the typed wrapper decodes in a then(), one more turn.
    listChanges: await settledAtOnce(() => (xen as unknown as { domainListChangesPacked(p: Buffer): Promise<unknown> }).domainListChangesPacked(Buffer.alloc(0))),
    unpauseMissing: await settledAtOnce(() => xen.domainUnpause(0x7fef)),
    list: await settledAtOnce(() => xen.domainGetInfoList(0, 256)),
  };
}

async function lifecycle(name: string, kernel: string): Promise<void> {
  const before = await xen.domainListChanges();
  out.listBefore = { count: before.list.count, hasDom0: before.added.some((d) => d.domid === 0), removed: before.removed.length };
  const domid = await makeDomain(name, 4);
  out.domid = domid;
  try {
    const made = await xen.domainListChanges(before.list);
    out.listAfterCreate = { added: made.added, removed: made.removed, count: made.list.count };
    out.createdHandle = (await info(domid))?.handle;
    out.created = flags(await info(domid));
    await step('affinity', () => xen.vcpuSetAffinity(domid, 0, [0, 1]));
    await step('memmap', () => xen.domainSetMemmapLimit(domid, 4 * 1024 + 1024));
    const consolePort = await xen.evtchnAllocUnbound(domid, 0);
    const storePort = await xen.evtchnAllocUnbound(domid, 0);
    out.ports = { consolePort, storePort };
    const t0 = performance.now();
    const built = await step('build', () => xen.buildPv({
      domid, kernel, cmdline: 'native-probe', memMiB: 4, maxVcpus: 1, consolePort, consoleDomid: 0, storePort, storeDomid: 0,
    }));
    out.buildMs = performance.now() - t0;
    if (!built) return;
    out.built = flags(await info(domid));
    await step('introduce', () => xen.xsIntroduceDomain(domid, built.storeMfn, storePort));

    await step('unpause', () => xen.domainUnpause(domid));
    // The guest writes its console ring at once; nobody drains it, so the text stays there to read.
    let ring = '';
    for (let i = 0; i < 100 && !ring.includes('LIGHTVM-READY'); i++) {
      await sleep(100);
      const page = await xen.foreignRead(domid, built.consoleMfn, 1024, 2048); // xencons_interface.out
      ring = page.toString('latin1').replace(/\0+/g, '');
    }
    out.consoleRing = ring;
    out.unpaused = flags(await info(domid));

    await step('pause', () => xen.domainPause(domid));
    out.paused = flags(await info(domid));
    await step('unpause2', () => xen.domainUnpause(domid));
    out.unpaused2 = flags(await info(domid));

    const local = await step('bind', () => xen.evtchnBindInterdomain(domid, consolePort));
    if (local !== undefined) {
      await step('notify', () => xen.evtchnNotify(local));
      await step('unbind', () => xen.evtchnUnbind(local));
    }
    // The console's input ring (offset 0): noop never reads it, so writing there disturbs nothing.
    await step('foreignWrite', () => xen.foreignWrite(domid, built.consoleMfn, 0, Buffer.from('native-probe')));
    out.foreignAtOnce = await settledAtOnce(() => xen.foreignRead(domid, built.consoleMfn, 0, 16));
    out.readBack = (await xen.foreignRead(domid, built.consoleMfn, 0, 12)).toString('latin1');

    await step('release', () => xen.xsReleaseDomain(domid));
    await step('shutdown', () => xen.domainShutdown(domid, 0));
    await sleep(200);
    out.shutdownInfo = flags(await info(domid));
  } finally {
    await destroy(domid);
  }
  const after = await xen.domainListChanges(before.list);
  out.listAfterDestroy = { added: after.added, removed: after.removed, count: after.list.count };
}

async function badKernel(name: string): Promise<void> {
  const domid = await makeDomain(name, 4);
  out.domid = domid;
  try {
    const consolePort = await xen.evtchnAllocUnbound(domid, 0);
    const storePort = await xen.evtchnAllocUnbound(domid, 0);
    const params = {
      domid, kernel: Buffer.from('#!/bin/sh\necho this is not a kernel\n'), cmdline: '', memMiB: 4, maxVcpus: 1,
      consolePort, consoleDomid: 0, storePort, storeDomid: 0,
    };
    await step('build', () => xen.buildPv(params));
    // The same build on the JS thread: it fails alike, and its promise is settled when the call returns.
    out.buildHereAtOnce = await settledAtOnce(() => xen.buildPv({ ...params, onCallingThread: true }));
    await step('buildHere', () => xen.buildPv({ ...params, onCallingThread: true }));
    out.stillThere = !!(await info(domid));
  } finally {
    await destroy(domid);
  }
}

async function xs(name: string): Promise<void> {
  const base = `/lightvm-probe/${name}`;
  try {
    await step('write', () => xen.xsBatch([
      { op: 'mkdir', path: base },
      { op: 'write', path: `${base}/a`, value: 'one' },
      { op: 'write', path: `${base}/b/c`, value: 'two' },
      { op: 'setPermissions', path: `${base}/a`, perms: [{ domid: 0, read: false, write: false }, { domid: 5, read: true, write: false }] },
    ], true));
    await step('read', () => xen.xsBatch([
      { op: 'read', path: `${base}/a` },
      { op: 'read', path: `${base}/missing` },
      { op: 'directory', path: base },
      { op: 'directory', path: `${base}/missing` },
      { op: 'getPermissions', path: `${base}/a` },
    ], true));
    await step('plain', () => xen.xsBatch([{ op: 'read', path: `${base}/b/c` }], false));
    // A bad path in the middle of a transaction: nothing of the batch may land.
    await step('failed', () => xen.xsBatch([
      { op: 'write', path: `${base}/x`, value: '1' },
      { op: 'write', path: `${base}/bad path`, value: '2' },
    ], true));
    await step('afterFailed', () => xen.xsBatch([{ op: 'read', path: `${base}/x` }], false));

    const events: [string, string][] = [];
    const id = await step('watch', () => xen.xsWatch(base, 'probe-token', (p, tok) => { events.push([p, tok]); }));
    if (id !== undefined) {
      for (let i = 0; i < 50 && events.length < 1; i++) await sleep(100);
      await xen.xsBatch([{ op: 'write', path: `${base}/w`, value: 'x' }], false);
      for (let i = 0; i < 50 && !events.some(([p]) => p === `${base}/w`); i++) await sleep(100);
      await step('unwatch', () => xen.xsUnwatch(id));
      const seen = events.length;
      await xen.xsBatch([{ op: 'write', path: `${base}/w2`, value: 'y' }], false);
      await sleep(500);
      out.events = events;
      out.eventsAfterUnwatch = events.length - seen;
    }
    await step('unwatchAgain', () => xen.xsUnwatch(id ?? 1));
    // Left in place on purpose: a watch must not keep the process alive (the caller sees the exit).
    await step('leftWatch', () => xen.xsWatch(`${base}/left`, 'left', () => undefined));
  } finally {
    await step('rm', () => xen.xsBatch([{ op: 'rm', path: base }], true));
    await step('afterRm', () => xen.xsBatch([{ op: 'read', path: `${base}/a` }, { op: 'directory', path: base }], false));
    await xen.xsBatch([{ op: 'rm', path: '/lightvm-probe' }], false).catch(() => undefined);
  }
}

async function refusals(): Promise<void> {
  await step('foreignRead', () => xen.foreignRead(1, 1, 4000, 200));
  await step('badUuid', () => xen.domainCreate({ handle: 'not-a-uuid', maxVcpus: 1, maxGrantFrames: 1, maxMaptrackFrames: 0 }));
  await step('negativeDomid', () => xen.domainPause(-1));
}

const [scenario, name = `probe-${process.pid}`, kernel = '/opt/lightvm/guests/noop/noop'] = process.argv.slice(2);
const scenarios: Record<string, () => Promise<void>> = {
  host, lifecycle: () => lifecycle(name, kernel), 'bad-kernel': () => badKernel(name), xs: () => xs(name), refusals,
};
const run = scenarios[scenario ?? ''];
if (!run) {
  process.stderr.write(`usage: native-probe <${Object.keys(scenarios).join('|')}> [name] [kernel]\n`);
  process.exit(2);
}
try {
  await run();
} catch (err) {
  out.fatal = errorJson(err);
}
process.stdout.write(JSON.stringify(out) + '\n');
