// Unit tests of the native addon without Xen: it loads, Xen calls fail as NativeErrors, bad arguments are refused first, errors read well.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ChaosError } from '../../../../toolstack/errors.js';
import { NATIVE_ADDON_PATH, isNativeError, loadNative, loadNativeAt, toChaosError } from '../../../../toolstack/xen/native.js';
import type { DomainIdList, NativeError, XenNative } from '../../../../toolstack/xen/types.js';

/** Every function of the XenNative contract: the addon must export each one. */
const FUNCTIONS: (keyof XenNative)[] = [
  'version', 'physinfo', 'domainCreate', 'domainMaxVcpus', 'domainSetMaxMem', 'domainSetMemmapLimit', 'vcpuSetAffinity',
  'domainPause', 'domainUnpause', 'domainShutdown', 'domainDestroy', 'domainGetInfoList', 'domainListChanges', 'evtchnAllocUnbound', 'buildPv',
  'xsBatch', 'xsIntroduceDomain', 'xsReleaseDomain', 'xsWatch', 'xsUnwatch', 'foreignRead', 'foreignWrite',
  'evtchnBindInterdomain', 'evtchnNotify', 'evtchnUnbind',
];

// A Xen dom0 running these tests as root would open the handles for real; the "no Xen here" checks
// only hold without the privcmd device.
const inDom0 = fs.existsSync('/dev/xen/privcmd');
const noXen = inDom0 ? 'this host is a Xen dom0: the calls would reach Xen' : false;

/** Awaits a promise that must reject, and returns what it rejected with. */
async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection, the call succeeded');
}

const xen = loadNative();
/** One entry of domainListChanges' packed list: u32 domid, 16 bytes handle. */
const idEntry = (domid: number) => { const b = Buffer.alloc(20); b.writeUInt32LE(domid, 0); return b; };
const goodBuild = { domid: 1, kernel: '/k', cmdline: '', memMiB: 4, maxVcpus: 1, consolePort: 1, consoleDomid: 0, storePort: 2, storeDomid: 0 };
const goodCreate = { handle: '5f0c5e0e-8d1c-4a53-9d2a-3b7a1c7e2f10', maxVcpus: 1, maxGrantFrames: 32, maxMaptrackFrames: 0 };

t.test('the addon is built, loads on this host, and offers the whole contract', async (t) => {
  t.ok(fs.existsSync(NATIVE_ADDON_PATH), `${NATIVE_ADDON_PATH} exists`);
  t.equal(loadNative(), xen, 'loaded once and cached');
  for (const f of FUNCTIONS) t.type(xen[f], 'function', f);
});

t.test('calls that need Xen reject with a NativeError of the handle that could not open', { skip: noXen }, async (t) => {
  const cases: [string, () => Promise<unknown>, string, number | undefined][] = [
    ['version', () => xen.version(), 'xc_interface_open', undefined],
    ['domainPause', () => xen.domainPause(3), 'xc_interface_open', 3],
    ['domainListChanges', () => xen.domainListChanges(), 'xencall_open', undefined],
    ['domainGetInfoList', () => xen.domainGetInfoList(0, 64), 'xencall_open', undefined],
    ['buildPv', () => xen.buildPv(goodBuild), 'xc_interface_open', 1],
    ['xsBatch', () => xen.xsBatch([{ op: 'read', path: '/x' }], true), 'xs_open', undefined],
    ['xsWatch', () => xen.xsWatch('/x', 't', () => undefined), 'xs_open', undefined],
    ['foreignRead', () => xen.foreignRead(4, 1, 0, 16), 'xenforeignmemory_open', 4],
    ['evtchnNotify', () => xen.evtchnNotify(1), 'xenevtchn_open', undefined],
  ];
  for (const [what, call, lib, domid] of cases) {
    const err = await rejection(call());
    t.ok(isNativeError(err), `${what}: a NativeError`);
    t.equal(err.name, 'NativeError', `${what}: named NativeError`);
    t.equal(err.call, lib, `${what}: call is ${lib}`);
    t.ok(typeof err.errno === 'number' && err.errno > 0, `${what}: errno ${err.errno}`);
    t.match(err.code, /^E[A-Z0-9]+$/, `${what}: code ${err.code}`);
    t.equal(err.domid, domid, `${what}: domid ${domid}`);
    t.ok(err.message.startsWith(`${lib}: `), `${what}: message "${err.message}" starts with the call`);
  }
});

t.test('bad arguments are refused before any Xen call, with a sentence naming the argument', async (t) => {
  const cases: [string, () => Promise<unknown>, 'TypeError' | 'RangeError', string, RegExp][] = [
    ['bad UUID', () => xen.domainCreate({ ...goodCreate, handle: '5f0c5e0e-8d1c-4a53-9d2a-3b7a1c7e2f1' }), 'TypeError', 'ERR_INVALID_ARG_VALUE', /domainCreate: params\.handle must be a UUID/],
    ['UUID with a non-hex digit', () => xen.domainCreate({ ...goodCreate, handle: '5f0c5e0e-8d1c-4a53-9d2a-3b7a1c7e2f1g' }), 'TypeError', 'ERR_INVALID_ARG_VALUE', /params\.handle must be a UUID/],
    ['no params', () => (xen.domainCreate as (p?: unknown) => Promise<number>)(), 'TypeError', 'ERR_INVALID_ARG_TYPE', /domainCreate: params must be an object, got undefined/],
    ['missing maxVcpus', () => xen.domainCreate({ ...goodCreate, maxVcpus: undefined as unknown as number }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /params\.maxVcpus must be a number, got undefined/],
    ['wanted domid out of range', () => xen.domainCreate({ ...goodCreate, domid: 0x7ff0 }), 'RangeError', 'ERR_OUT_OF_RANGE', /params\.domid must be a whole number from 0 to 32751, got 32752/],
    ['negative domid', () => xen.domainPause(-1), 'RangeError', 'ERR_OUT_OF_RANGE', /domainPause: domid must be a whole number from 0 to 32751, got -1/],
    ['fractional domid', () => xen.domainDestroy(1.5), 'RangeError', 'ERR_OUT_OF_RANGE', /domid must be a whole number/],
    ['domid as a string', () => xen.domainUnpause('1' as unknown as number), 'TypeError', 'ERR_INVALID_ARG_TYPE', /domainUnpause: domid must be a number, got a string/],
    ['shutdown reason', () => xen.domainShutdown(1, 6), 'RangeError', 'ERR_OUT_OF_RANGE', /reason must be a whole number from 0 to 5/],
    ['max of zero domains', () => xen.domainGetInfoList(0, 0), 'RangeError', 'ERR_OUT_OF_RANGE', /max must be a whole number from 1/],
    ['earlier list not a Buffer', () => xen.domainListChanges({ packed: 'x', count: 0 } as unknown as DomainIdList), 'TypeError', 'ERR_INVALID_ARG_TYPE', /domainListChanges: previous must be a Buffer, got a string/],
    ['earlier list of part entries', () => xen.domainListChanges({ packed: Buffer.alloc(21), count: 1 }), 'TypeError', 'ERR_INVALID_ARG_VALUE', /domainListChanges: previous must be a whole number of 20-byte entries/],
    ['earlier list out of order', () => xen.domainListChanges({ packed: Buffer.concat([idEntry(5), idEntry(3)]), count: 2 }), 'TypeError', 'ERR_INVALID_ARG_VALUE', /previous must be sorted by domid/],
    ['earlier list too long', () => xen.domainListChanges({ packed: Buffer.alloc(20 * 0x7ff1), count: 0x7ff1 }), 'RangeError', 'ERR_OUT_OF_RANGE', /previous must be at most 655040 bytes, got 655060/],
    ['no CPUs', () => xen.vcpuSetAffinity(1, 0, []), 'TypeError', 'ERR_INVALID_ARG_VALUE', /cpus must name at least one CPU/],
    ['CPU as a string', () => xen.vcpuSetAffinity(1, 0, [0, 'x' as unknown as number]), 'TypeError', 'ERR_INVALID_ARG_TYPE', /cpus\[1\] must be a number/],
    ['offset + length past the page', () => xen.foreignRead(1, 1, 4000, 200), 'RangeError', 'ERR_OUT_OF_RANGE', /foreignRead: offset \+ length must be at most 4096 \(one page\), got 4000 \+ 200 = 4200/],
    ['length past the page', () => xen.foreignRead(1, 1, 0, 4097), 'RangeError', 'ERR_OUT_OF_RANGE', /length must be a whole number from 0 to 4096/],
    ['write past the page', () => xen.foreignWrite(1, 1, 4095, Buffer.alloc(2)), 'RangeError', 'ERR_OUT_OF_RANGE', /offset \+ length must be at most 4096/],
    ['write data not a Buffer', () => xen.foreignWrite(1, 1, 0, 'abc' as unknown as Buffer), 'TypeError', 'ERR_INVALID_ARG_TYPE', /data must be a Buffer, got a string/],
    ['mfn beyond 2^53', () => xen.foreignRead(1, 2 ** 53, 0, 1), 'RangeError', 'ERR_OUT_OF_RANGE', /mfn must be a whole number/],
    ['kernel neither path nor Buffer', () => xen.buildPv({ ...goodBuild, kernel: 5 as unknown as string }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /params\.kernel must be a file path or a Buffer, got 5/],
    ['empty kernel path', () => xen.buildPv({ ...goodBuild, kernel: '' }), 'TypeError', 'ERR_INVALID_ARG_VALUE', /params\.kernel must not be empty/],
    ['command line too long', () => xen.buildPv({ ...goodBuild, cmdline: 'x'.repeat(1024) }), 'RangeError', 'ERR_OUT_OF_RANGE', /params\.cmdline must be at most 1023 bytes, got 1024/],
    ['NUL in the command line', () => xen.buildPv({ ...goodBuild, cmdline: 'a\0b' }), 'TypeError', 'ERR_INVALID_ARG_VALUE', /params\.cmdline must not contain NUL/],
    ['onCallingThread not a boolean', () => xen.buildPv({ ...goodBuild, onCallingThread: 1 as unknown as boolean }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /params\.onCallingThread must be a boolean, got 1/],
    ['no memory', () => xen.buildPv({ ...goodBuild, memMiB: 0 }), 'RangeError', 'ERR_OUT_OF_RANGE', /params\.memMiB must be a whole number from 1/],
    ['ops not an array', () => xen.xsBatch({} as unknown as [], true), 'TypeError', 'ERR_INVALID_ARG_TYPE', /xsBatch: ops must be an array, got an object/],
    ['unknown op', () => xen.xsBatch([{ op: 'frob', path: '/a' } as unknown as { op: 'rm'; path: string }], false), 'TypeError', 'ERR_INVALID_ARG_VALUE', /ops\[0\]\.op must be one of read, write/],
    ['empty path', () => xen.xsBatch([{ op: 'read', path: '/a' }, { op: 'rm', path: '' }], false), 'TypeError', 'ERR_INVALID_ARG_VALUE', /ops\[1\]\.path must not be empty/],
    ['write without a value', () => xen.xsBatch([{ op: 'write', path: '/a' } as unknown as { op: 'rm'; path: string }], false), 'TypeError', 'ERR_INVALID_ARG_TYPE', /ops\[0\]\.value must be a string, got undefined/],
    ['no permissions', () => xen.xsBatch([{ op: 'setPermissions', path: '/a', perms: [] }], false), 'RangeError', 'ERR_OUT_OF_RANGE', /ops\[0\]\.perms must hold 1 to \d+ entries/],
    ['permission without read', () => xen.xsBatch([{ op: 'setPermissions', path: '/a', perms: [{ domid: 0, write: true } as unknown as { domid: number; read: boolean; write: boolean }] }], false), 'TypeError', 'ERR_INVALID_ARG_TYPE', /ops\[0\]\.perms\[0\]\.read must be a boolean/],
    ['transaction flag missing', () => (xen.xsBatch as (o: unknown) => Promise<unknown>)([]), 'TypeError', 'ERR_INVALID_ARG_TYPE', /transaction must be a boolean, got undefined/],
    ['watch without a callback', () => xen.xsWatch('/a', 't', 'f' as unknown as () => void), 'TypeError', 'ERR_INVALID_ARG_TYPE', /xsWatch: onEvent must be a function, got a string/],
    ['unwatch id 0', () => xen.xsUnwatch(0), 'RangeError', 'ERR_OUT_OF_RANGE', /xsUnwatch: id must be a whole number from 1/],
    ['introduce with a negative mfn', () => xen.xsIntroduceDomain(1, -1, 1), 'RangeError', 'ERR_OUT_OF_RANGE', /mfn must be a whole number from 0/],
  ];
  for (const [what, call, kind, code, message] of cases) {
    const err = await rejection(call());
    t.equal(err.constructor.name, kind, `${what}: a ${kind}`);
    t.equal(err.code, code, `${what}: ${code}`);
    t.match(err.message, message, `${what}: "${err.message}"`);
    t.notOk(isNativeError(err), `${what}: refused before any Xen call`);
  }
});

t.test('an unknown watch id is a NativeError of xs_unwatch, without touching XenStore', async (t) => {
  const err = await rejection(xen.xsUnwatch(123456));
  t.match(err, { call: 'xs_unwatch', errno: os.constants.errno.ENOENT, code: 'ENOENT', detail: 'no watch has id 123456' });
});

t.test('toChaosError: XEN_CALL with call, strerror, errno name and domid', async (t) => {
  const native = (props: Partial<NativeError> & { message: string }): NativeError =>
    Object.assign(new Error(props.message), { name: 'NativeError', ...props }) as NativeError;

  const e = toChaosError(native({ message: 'xc_domain_create: Cannot allocate memory', call: 'xc_domain_create', errno: 12, code: 'ENOMEM', domid: 7 }));
  t.ok(e instanceof ChaosError);
  t.equal(e.code, 'XEN_CALL');
  t.equal(e.message, 'xc_domain_create failed for domain 7: Cannot allocate memory (ENOMEM)');
  t.match(e, { call: 'xc_domain_create', errno: 12, domid: 7 });
  t.equal((e.cause as Error).message, 'xc_domain_create: Cannot allocate memory', 'the NativeError is the cause');

  const xs = toChaosError(native({ message: 'xs_write: Permission denied (/local/domain/9/x)', call: 'xs_write', errno: 13, code: 'EACCES', detail: '/local/domain/9/x' }), 9);
  t.equal(xs.message, 'xs_write failed for domain 9: Permission denied (EACCES): /local/domain/9/x', 'the domid comes from the caller; the detail follows');
  t.equal(xs.domid, 9);

  const bare = toChaosError(native({ message: 'xc_physinfo: Permission denied', call: 'xc_physinfo', errno: 13, code: 'EACCES' }));
  t.equal(bare.message, 'xc_physinfo failed: Permission denied (EACCES)', 'no domain, no "for domain"');

  const own = toChaosError(native({ message: 'xc_domain_pause: No such process', call: 'xc_domain_pause', errno: 3, code: 'ESRCH', domid: 4 }), 5);
  t.equal(own.domid, 4, "the error's own domid wins over the caller's");

  const same = new ChaosError('TIMEOUT', 'late');
  t.equal(toChaosError(same), same, 'a ChaosError passes through');

  const bug = toChaosError(new TypeError('domainPause: domid must be a number, got a string'), 2);
  t.equal(bug.code, 'INTERNAL', 'an argument the addon refused is a toolstack bug');
  t.match(bug.message, /domid must be a number/);
});

t.test('toChaosError of a real rejection from the addon', { skip: noXen }, async (t) => {
  const e = toChaosError(await rejection(xen.domainPause(3)));
  t.match(e.message, /^xc_interface_open failed for domain 3: .+ \(E[A-Z]+\)$/);
  t.equal(e.call, 'xc_interface_open');
});

t.test('loading fails with NATIVE_UNAVAILABLE and says how to build', async (t) => {
  const missing = path.join(os.tmpdir(), `lightvm-no-such-${process.pid}.node`);
  t.throws(() => loadNativeAt(missing), { name: 'ChaosError', code: 'NATIVE_UNAVAILABLE', message: /is not built .*npm run build/ });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-native-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const junk = path.join(dir, 'xen.node');
  fs.writeFileSync(junk, 'not a shared object');
  t.throws(() => loadNativeAt(junk), { code: 'NATIVE_UNAVAILABLE', message: /cannot be loaded here .*libxenctrl/ });
});
