// Unit: save images (header, checks of what a file or peer says), save/restore logic and the migration protocol against the Xen test double.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Toolstack } from '../../../toolstack/domain.js';
import { XenStore } from '../../../toolstack/xen/xenstore.js';
import { XenStoreBackend } from '../../../toolstack/devices/xenstore-backend.js';
import { DomainStore } from '../../../toolstack/store.js';
import { ChaosError } from '../../../toolstack/errors.js';
import type { DomainConfig } from '../../../toolstack/config/domain-config.js';
import { encodeSaveHeader, parseSaveMeta, pipeInto, readSaveHeader, restoreFromFile, saveToFile, SAVE_MAGIC, type SaveMeta } from '../../../toolstack/save.js';
import { loadToken, migrate, receiveOne } from '../../../toolstack/migrate.js';
import { loadNative } from '../../../toolstack/xen/native.js';
import { FakeXen } from './fake-xen.js';

const log = pino({ level: 'silent' });

function host(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-save-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const xen = new FakeXen();
  xen.pipe = () => loadNative().pipe();
  const ts = new Toolstack({
    xen, backend: new XenStoreBackend(new XenStore(xen)), store: new DomainStore(dir), log,
    wrap: (err, domid) => (err instanceof ChaosError ? err : new ChaosError('XEN_CALL', (err as Error).message, { call: (err as { call?: string }).call, domid, cause: err })),
  });
  return { xen, ts, dir };
}

function cfg(over: Partial<DomainConfig> = {}): DomainConfig {
  return {
    name: 'g1', type: 'pv', kernel: '/guests/ticker', cmdline: 'console=hvc0', memoryMiB: 96, maxMemoryMiB: 96, vcpus: 1, maxVcpus: 1,
    cpus: 'all', vifs: [], disks: [], onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy', devMethod: 'xenstore', ...over,
  } as DomainConfig;
}

function meta(over: Partial<SaveMeta> = {}): SaveMeta {
  return { version: 1, name: 'g1', uuid: '0f0e0d0c-0b0a-4908-8706-050403020100', config: cfg(), savedAt: '2026-12-01T00:00:00.000Z', host: 'lab', ...over };
}

t.test('a header round-trips, and the file position is left at the stream', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-hdr-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'img');
  fs.writeFileSync(f, Buffer.concat([encodeSaveHeader(meta()), Buffer.from('STREAM')]));
  const fd = fs.openSync(f, 'r');
  t.same(readSaveHeader(fd, f), meta());
  const rest = Buffer.alloc(6);
  fs.readSync(fd, rest, 0, 6, null);
  t.equal(rest.toString(), 'STREAM');
  fs.closeSync(fd);
});

t.test('files that are not save images, or are cut short, are refused with SAVE_INVALID and say why', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-hdr-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const check = (name: string, bytes: Buffer, re: RegExp) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, bytes);
    const fd = fs.openSync(f, 'r');
    try {
      t.throws(() => readSaveHeader(fd, f), { code: 'SAVE_INVALID', message: re }, name);
    } finally {
      fs.closeSync(fd);
    }
  };
  const len = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  check('xl-save', Buffer.from('Xen saved domain, xl format\n'), /is not a lightvm save image/);
  check('empty', Buffer.alloc(0), /ends inside its header/);
  check('zero-length', Buffer.concat([Buffer.from(SAVE_MAGIC), len(0)]), /says its metadata is 0 bytes/);
  check('huge-length', Buffer.concat([Buffer.from(SAVE_MAGIC), len(0xffffffff)]), /metadata is 4294967295 bytes/);
  check('cut', Buffer.concat([Buffer.from(SAVE_MAGIC), len(100), Buffer.from('{"version":1')]), /ends inside its metadata/);
  check('not-json', Buffer.concat([Buffer.from(SAVE_MAGIC), len(3), Buffer.from('{{{')]), /metadata is not JSON/);
});

t.test('metadata is checked field by field before anything is built from it', async (t) => {
  const bad = (m: unknown, re: RegExp, what: string) => t.throws(() => parseSaveMeta(JSON.stringify(m), 'img'), { code: 'SAVE_INVALID', message: re }, what);
  bad([], /not a JSON object/, 'an array');
  bad({ ...meta(), version: 2 }, /version 2 is not one this toolstack reads/, 'a newer version');
  bad({ ...meta(), name: '../etc' }, /domain name/, 'a name with a slash');
  bad({ ...meta(), uuid: 'x' }, /uuid/, 'a bad uuid');
  bad({ ...meta(), config: { ...cfg(), memoryMiB: -1 } }, /config\.memoryMiB must be a whole number from 1/, 'negative memory');
  bad({ ...meta(), config: { ...cfg(), memoryMiB: 1e12 } }, /config\.memoryMiB/, 'huge memory');
  bad({ ...meta(), config: { ...cfg(), maxMemoryMiB: 8 } }, /config\.maxMemoryMiB must be a whole number from 96/, 'maxmem below memory');
  bad({ ...meta(), config: { ...cfg(), vcpus: 4, maxVcpus: 2 } }, /config\.vcpus/, 'more vCPUs than the maximum');
  bad({ ...meta(), config: { ...cfg(), kernel: 7 } }, /config\.kernel must be a string/, 'a kernel that is not a path');
  bad({ ...meta(), config: { ...cfg(), cmdline: 'x'.repeat(2000) } }, /config\.cmdline/, 'an overlong command line');
  bad({ ...meta(), config: { ...cfg(), onCrash: 'explode' } }, /config\.onCrash is not an action/, 'an unknown action');
  bad({ ...meta(), config: { ...cfg(), cpus: [1, -1] } }, /config\.cpus/, 'a negative CPU');
  bad({ ...meta(), config: { ...cfg(), vifs: [{ mac: 'zz' }] } }, /vifs\[0\]\.mac is not a MAC address/, 'a bad MAC');
  bad({ ...meta(), config: { ...cfg(), vifs: [{ bridge: 'br0/../x' }] } }, /vifs\[0\]\.bridge is malformed/, 'a bridge name with a slash');
  bad({ ...meta(), config: { ...cfg(), disks: [{ vdev: 'xvda', target: 'a\u0000b' }] } }, /disks\[0\]\.target is not a plain string/, 'a NUL in a path');
  bad({ ...meta(), config: { ...cfg(), disks: Array(65).fill({ vdev: 'xvda' }) } }, /at most 64 devices/, 'too many disks');
  t.same(parseSaveMeta(JSON.stringify(meta()), 'img'), meta(), 'a good one passes unchanged');
});

t.test('save writes an image (mode 0600) and destroys the domain; restore brings it back under its name and uuid', async (t) => {
  const { xen, ts, dir } = host(t);
  const made = await ts.create(cfg());
  const file = path.join(dir, 'g1.save');
  const s = await saveToFile(ts, 'g1', file);
  t.equal(s.dom.domid, made.domid);
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.notOk(xen.domains.has(made.domid), 'destroyed after the save');
  t.same(fs.readdirSync(dir).filter((f) => f.includes('partial')), [], 'no partial file left');
  const { record } = await restoreFromFile(ts, file);
  t.equal(record.name, 'g1');
  t.equal(record.uuid, made.uuid, 'the uuid is kept');
  t.equal(xen.domains.get(record.domid)?.info.nrPages, 96 * 256, 'memory came from the stream');
  t.equal(xen.domains.get(record.domid)?.info.paused, false, 'running');
  t.ok(xen.introduced.has(record.domid));
  await t.rejects(restoreFromFile(ts, file), { code: 'NAME_IN_USE' }, 'a second restore under the same name is refused');
  const other = await restoreFromFile(ts, file, { name: 'g2', paused: true });
  t.not(other.record.uuid, made.uuid, 'a uuid in use is not reused');
  t.equal(xen.domains.get(other.record.domid)?.info.paused, true, '-p leaves it paused');
});

t.test('a restore under a new uuid keeps the MAC addresses the vifs had', async (t) => {
  const { xen, ts, dir } = host(t);
  const made = await ts.create(cfg({ vifs: [{}] as DomainConfig['vifs'] }));
  const mac = xen.store.get(`/local/domain/0/backend/vif/${made.domid}/0/mac`);
  t.match(mac, /^00:16:3e:/);
  const file = path.join(dir, 'v.save');
  await saveToFile(ts, 'g1', file, { checkpoint: true });
  const other = await restoreFromFile(ts, file, { name: 'g2' });
  t.not(other.record.uuid, made.uuid);
  t.equal(xen.store.get(`/local/domain/0/backend/vif/${other.record.domid}/0/mac`), mac, 'same MAC');
});

t.test('save -c leaves the domain running; a guest that will not suspend times out, is left running, and no image is written', async (t) => {
  const { xen, ts, dir } = host(t);
  const made = await ts.create(cfg());
  await saveToFile(ts, 'g1', path.join(dir, 'cp.save'), { checkpoint: true });
  t.equal(xen.domains.get(made.domid)?.info.shutdown, false, 'resumed after a checkpoint');
  t.ok(xen.calls.includes(`resume ${made.domid}`));

  xen.guestsSuspend = false;
  const file = path.join(dir, 'never.save');
  await t.rejects(saveToFile(ts, 'g1', file, { suspendTimeoutMs: 50 }), { code: 'TIMEOUT', message: /did not suspend within 0 s: the guest does not advertise suspend support/ });
  t.notOk(fs.existsSync(file), 'no image');
  t.same(fs.readdirSync(dir).filter((f) => f.includes('partial')), [], 'no partial file');
  t.ok(xen.domains.has(made.domid), 'the domain is still there');

  xen.store.set(`/local/domain/${made.domid}/control/feature-suspend`, '0');
  await t.rejects(saveToFile(ts, 'g1', file), { code: 'GUEST_STATE', message: /says it cannot suspend/ });
});

t.test('only domains chaos made can be saved, and never domain 0', async (t) => {
  const { xen, ts, dir } = host(t);
  await t.rejects(saveToFile(ts, 0, path.join(dir, 'x')), { code: 'GUEST_STATE' });
  const id = await xen.domainCreate({ handle: '11111111-2222-4333-8444-555555555555', maxVcpus: 1, maxGrantFrames: 1, maxMaptrackFrames: 1 });
  xen.store.set(`/local/domain/${id}/name`, 'by-xl');
  await t.rejects(saveToFile(ts, 'by-xl', path.join(dir, 'x')), { code: 'NOT_SUPPORTED', message: /was not made by chaos/ });
  await t.rejects(saveToFile(ts, 'nobody', path.join(dir, 'x')), { code: 'DOMAIN_NOT_FOUND' });
  await t.rejects(restoreFromFile(ts, path.join(dir, 'missing')), { code: 'SAVE_INVALID', message: /no such file/ });
});

t.test('pipeInto copies all a producer writes into a sink that stays open, and reports a producer\'s failure', async (t) => {
  const { ts } = host(t);
  const chunks: Buffer[] = [];
  const { Writable } = await import('node:stream');
  const sink = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); setTimeout(cb, 1); } });
  const data = Buffer.alloc(300_000, 7);
  // Off the JS thread, as libxc writes: a blocking write here would wait for a reader that cannot run.
  await pipeInto(ts, sink, (wfd) => new Promise<void>((resolve, reject) => fs.write(wfd, data, (err) => (err ? reject(err) : resolve()))));
  t.equal(Buffer.concat(chunks).length, data.length, 'every byte arrived before it resolved');
  t.notOk(sink.writableEnded, 'the sink is left open (a socket carries more after the stream)');
  await t.rejects(pipeInto(ts, sink, async () => { throw new ChaosError('TIMEOUT', 'no'); }), { code: 'TIMEOUT' });
});

t.test('the migration token: made with mode 0600 when missing, refused when malformed', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-tok-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'sub', 'token');
  t.throws(() => loadToken(f, false), { code: 'MIGRATION', message: /cannot read the migration token/ });
  const tok = loadToken(f, true);
  t.match(tok, /^[A-Za-z0-9_-]{32}$/);
  t.equal(fs.statSync(f).mode & 0o777, 0o600);
  t.equal(loadToken(f, false), tok, 'read back');
  fs.writeFileSync(f, 'short\n');
  t.throws(() => loadToken(f, false), { code: 'MIGRATION', message: /malformed/ });
});

/** Two hosts (two test doubles) and a receiver on a loopback port that takes one connection. */
async function twoHosts(t: Test, token = 'a-token-of-twenty-chars') {
  const src = host(t), dst = host(t);
  const realPipe = () => loadNative().pipe();
  src.xen.pipe = realPipe;
  dst.xen.pipe = realPipe;
  const server = net.createServer();
  const received: Promise<{ name: string; domid: number }>[] = [];
  server.on('connection', (sock) => {
    const p = receiveOne(dst.ts, log, sock, { token });
    p.catch(() => undefined); // the tests look at failures when they come to them
    received.push(p);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  return { src, dst, port, received };
}

t.test('migrate: the domain arrives under its name and uuid, running, and the source is destroyed', async (t) => {
  const { src, dst, port, received } = await twoHosts(t);
  const made = await src.ts.create(cfg());
  const r = await migrate(src.ts, log, 'g1', { host: '127.0.0.1', port, token: 'a-token-of-twenty-chars' });
  t.equal(r.name, 'g1');
  t.equal(r.sourceDomid, made.domid);
  t.notOk(src.xen.domains.has(made.domid), 'source destroyed');
  const got = await received[0];
  t.equal(got.domid, r.targetDomid);
  const there = await dst.ts.find('g1');
  t.equal(there.domid, r.targetDomid, 'renamed from g1--incoming to g1');
  t.notMatch(there.state, /p/, 'running');
  t.equal(dst.ts.record(r.targetDomid)?.uuid, made.uuid, 'same uuid on another host');
  t.ok(r.downtimeMs !== undefined && r.downtimeMs >= 0);
});

t.test('migrate failures leave the source running: a wrong token, a name the target has, a guest that will not suspend', async (t) => {
  const { src, dst, port, received } = await twoHosts(t);
  const made = await src.ts.create(cfg());
  await t.rejects(migrate(src.ts, log, 'g1', { host: '127.0.0.1', port, token: 'not-the-token-at-all' }), { code: 'MIGRATION', message: /did not present the migration token/ });
  await t.rejects(received[0], { code: 'MIGRATION' });
  t.equal(src.xen.domains.get(made.domid)?.info.shutdown, false, 'source untouched');

  await dst.ts.create(cfg({ name: 'g1--incoming' }));
  await t.rejects(migrate(src.ts, log, 'g1', { host: '127.0.0.1', port, token: 'a-token-of-twenty-chars' }), { code: 'MIGRATION', message: /refused at the shell for the domain: .*already exists/ });
  await t.rejects(received[1], { code: 'NAME_IN_USE' });
  await dst.ts.destroy('g1--incoming');

  src.xen.guestsSuspend = false;
  const before = dst.xen.domains.size;
  const m = migrate(src.ts, log, 'g1', { host: '127.0.0.1', port, token: 'a-token-of-twenty-chars' });
  // The suspend timeout is 30 s in production; here the guest answers "shut down" instead, which fails at once.
  setTimeout(() => { const d = src.xen.domains.get(made.domid)!; d.info.shutdown = true; d.info.shutdownReason = 0; }, 20);
  await t.rejects(m, { code: 'GUEST_STATE', message: /instead of suspending/ });
  await t.rejects(received[2]);
  t.ok(src.xen.domains.has(made.domid), 'the source domain is not destroyed');
  t.equal(dst.xen.domains.size, before, 'the target destroyed what it made');

  src.xen.domains.get(made.domid)!.info.shutdown = false;
  await t.rejects(migrate(src.ts, log, 'g1', { host: '127.0.0.1', port: 1, token: 'x' }), { code: 'MIGRATION', message: /cannot reach the migration receiver at 127\.0\.0\.1:1/ });
});
