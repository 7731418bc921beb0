// Unit: chaosd's logic against the Xen test double: pools and watermarks, memory never overcommitted, the journal and reconciliation after a crash, request validation over HTTP, the orderly stop.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Toolstack } from '../../../toolstack/domain.js';
import { XenStore } from '../../../toolstack/xen/xenstore.js';
import { XenStoreBackend } from '../../../toolstack/devices/xenstore-backend.js';
import { DomainStore } from '../../../toolstack/store.js';
import { ChaosError } from '../../../toolstack/errors.js';
import { parseJsonConfig } from '../../../toolstack/config/index.js';
import { Chaosd } from '../../../daemon/service.js';
import { Journal, reconcile, type JournalEntry } from '../../../daemon/journal.js';
import { checkClasses, type PoolClass } from '../../../daemon/pool.js';
import { apiHandler } from '../../../daemon/http.js';
import type { Log } from '../../../toolstack/log.js';
import { parsePool } from '../../../daemon/options.js';
import { FakeXen } from '../toolstack/fake-xen.js';

const SMALL: PoolClass = { name: 'small', memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1, low: 1, high: 3 };

function world(t: Test, xen = new FakeXen(), dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-chaosd-'))) {
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kernel = path.join(dir, 'noop');
  fs.writeFileSync(kernel, 'not really a kernel: the fake builds anything');
  const ts = new Toolstack({
    xen: xen as never, backend: new XenStoreBackend(new XenStore(xen as never)), store: new DomainStore(dir), log: pino({ level: 'silent' }),
    wrap: (err, domid) => new ChaosError('XEN_CALL', (err as Error).message, { call: (err as { call?: string }).call, domid, cause: err }),
  });
  const make = (classes: PoolClass[] = [SMALL], marginMiB = 0, refillQuietMs = 0) => new Chaosd({
    ts, journalDir: path.join(dir, 'chaosd'), classes, log: pino({ level: 'silent' }), marginMiB, parallel: 2, syncJournal: false,
    hostMiB: async () => 4096, refillRetryMs: 20, refillQuietMs,
  });
  const cfg = (name: string, over: Record<string, unknown> = {}) => parseJsonConfig(JSON.stringify({ name, type: 'pv', kernel, memory: 4, ...over }), 'test');
  return { xen, ts, dir, kernel, make, cfg };
}

const guests = (xen: FakeXen) => [...xen.domains.keys()].filter((d) => d !== 0);
const named = (xen: FakeXen, d: number) => xen.store.get(`/local/domain/${d}/name`);

t.test('pool classes and --pool specs are checked', async (t) => {
  t.same(parsePool('name=s,memory=4,low=1,high=2'), { name: 's', memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1, low: 1, high: 2 });
  t.throws(() => parsePool('memory=4,low=1'), /needs high=/);
  t.throws(() => parsePool('name=s,memory=4,colour=red,low=1,high=2'), /unknown key colour/);
  t.match(checkClasses([{ ...SMALL, low: 3, high: 2 }]), /watermarks/);
  t.match(checkClasses([SMALL, { ...SMALL, name: 'other' }]), /size of another pool/);
  t.equal(checkClasses([SMALL, { ...SMALL, name: 'big', memoryMiB: 8, maxMemoryMiB: 8 }]), undefined);
});

t.test('pools fill to their high watermark; a create takes a shell, is named then, and the pool refills', async (t) => {
  const { xen, make, cfg } = world(t);
  const d = make();
  await d.start();
  await d.pools.settled();
  t.equal(d.poolLevels()[0].level, 3, 'filled to high');
  t.equal(guests(xen).length, 3);
  t.notOk(guests(xen).some((g) => named(xen, g) !== undefined), 'shells have no name');
  t.same(await d.list().then((l) => l.map((x) => x.name)), ['Domain-0'], 'shells are not listed as VMs');
  const shells = d.poolLevels()[0].shells;
  const c = await d.create(cfg('vm1'));
  t.equal(c.fromPool, 'small');
  t.ok(shells.includes(c.domid), 'the VM is one of the shells');
  t.equal(named(xen, c.domid), 'vm1');
  for (const p of ['check', 'queue', 'journal', 'build', 'connect', 'record', 'introduce', 'unpause', 'finish']) {
    t.ok(c.phases[p] >= 0, `the reply says how long ${p} took (${c.phases[p]} ms)`);
  }
  t.notOk('prepare' in c.phases, 'a create from a shell prepares nothing');
  // A name just given is in use for the next create (chaosd knows the names it gives).
  await t.rejects(d.create(cfg('vm1')), { code: 'NAME_IN_USE' });
  await d.pools.settled();
  t.equal(d.poolLevels()[0].level, 3, 'refilled');
  const big = await d.create(cfg('big', { memory: 16 }));
  t.equal(big.fromPool, null, 'a size no class has is built from scratch');
  t.equal(named(xen, big.domid), 'big');
  t.same((await d.list()).map((x) => x.name).sort(), ['Domain-0', 'big', 'vm1']);
  await d.stop();
});

t.test('a lone finish of a small guest builds on chaosd\'s thread; a large guest, or a second finish at once, builds off it', async (t) => {
  const { xen, make, cfg } = world(t);
  const d = make();
  await d.start();
  await d.pools.settled();
  const since = () => { const n = xen.buildsOnCallingThread.length; return () => xen.buildsOnCallingThread.slice(n); };
  let builds = since();
  await d.create(cfg('lone'));
  t.same(builds(), [true], 'a lone 4 MiB create: the build runs on the calling thread');
  builds = since();
  await d.create(cfg('large', { memory: 64 }));
  t.same(builds(), [false], 'a 64 MiB guest (its memory is populated by the build): on the thread pool');
  await d.pools.settled();
  builds = since();
  let open!: () => void;
  xen.buildGate = new Promise((r) => { open = r; });
  const both = Promise.all([d.create(cfg('two-a')), d.create(cfg('two-b'))]);
  while (xen.buildsOnCallingThread.length < 4) await new Promise((r) => setImmediate(r));
  open();
  xen.buildGate = undefined;
  await both;
  t.same(builds().sort(), [false, true], 'two at once: the first on the calling thread, the second off it');
  await d.stop();
});

t.test('after a create, refills above the low watermark wait for the quiet period; below it they do not', async (t) => {
  const { make, cfg } = world(t);
  const d = make([{ ...SMALL, low: 2, high: 3 }], 0, 300);
  await d.start();
  await d.pools.settled();
  t.equal(d.poolLevels()[0].level, 3);
  await d.create(cfg('q1'));
  await d.pools.settled();
  t.equal(d.poolLevels()[0].level, 2, 'at low, no refill yet: the new VM boots undisturbed');
  await d.create(cfg('q2'));
  await d.pools.settled();
  t.equal(d.poolLevels()[0].level, 2, 'below low: refilled to low at once');
  await new Promise((r) => setTimeout(r, 450));
  await d.pools.settled();
  t.equal(d.poolLevels()[0].level, 3, 'to high once the quiet period is over');
  await d.stop();
});

t.test('shells count against host memory: pools stop below their watermark rather than overcommit, and a create that does not fit is NO_MEMORY', async (t) => {
  const { xen, make, cfg } = world(t);
  xen.freePages = 10 * 256; // 10 MiB free
  const d = make([{ ...SMALL, low: 0, high: 5 }], 2);
  await d.start();
  await d.pools.settled();
  t.equal(d.poolLevels()[0].level, 2, 'two 4 MiB shells fit in 10 MiB with a 2 MiB margin, a third does not');
  t.equal(d.budget.reservedMiB, 8);
  await t.rejects(d.create(cfg('nope', { memory: 6 })), { code: 'NO_MEMORY' }, 'memory held for shells is not handed out twice');
  const n = guests(xen).length;
  const ok = await d.create(cfg('fits'));
  t.equal(ok.fromPool, 'small', 'a create of the class still gets a shell');
  t.equal(guests(xen).length, n, 'nothing else was made');
  await d.stop();
});

t.test('a journal line cut short is skipped; reconcile adopts created VMs and destroys shells and half-built domains', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-journal-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const j = new Journal(dir, false);
  const u = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  const entries: JournalEntry[] = [
    { t: 'begin', uuid: u(1), cls: 's' }, { t: 'shell', uuid: u(1), domid: 5, cls: 's' },
    { t: 'begin', uuid: u(2), cls: 's' }, { t: 'shell', uuid: u(2), domid: 6, cls: 's' }, { t: 'build', uuid: u(2), name: 'a', domid: 6 }, { t: 'created', uuid: u(2), domid: 6, name: 'a' },
    { t: 'build', uuid: u(3), name: 'b' },
    { t: 'begin', uuid: u(4), cls: 's' },
    { t: 'created', uuid: u(5), domid: 9, name: 'c' }, { t: 'gone', uuid: u(5) },
    { t: 'created', uuid: u(6), domid: 10, name: 'vanished' },
  ];
  for (const e of entries) j.append(e);
  fs.appendFileSync(j.file, '{"t":"created","uuid":"0000');
  const { state, skipped } = j.replay();
  t.equal(skipped, 1, 'the torn last line is skipped');
  const xen = new Map([[u(1), 5], [u(2), 6], [u(3), 7], [u(4), 8], [u(5), 9], ['11111111-0000-4000-8000-000000000000', 12]]);
  const r = reconcile(state, xen);
  t.same(r.adopt, [{ uuid: u(2), domid: 6, name: 'a' }]);
  t.same(r.destroy.map((x) => x.domid).sort(), [5, 7, 8], 'the idle shell, the half-built one and the one being made');
  t.notOk([...r.destroy, ...r.adopt].some((x) => x.domid === 12), 'a domain the journal never named is left alone');
  j.close();
});

t.test('after a crash (no stop), a new chaosd keeps every VM reported created, destroys the rest it made, and refills', async (t) => {
  const { xen, ts, dir, make, cfg } = world(t);
  const a = make();
  await a.start();
  await a.pools.settled();
  const made = [await a.create(cfg('keep1')), await a.create(cfg('keep2'))];
  await a.pools.settled();
  // A create cut short: the shell is claimed and journaled as building, then the process dies.
  const half = await ts.prepare(SMALL, { uuid: '22222222-0000-4000-8000-000000000000' });
  fs.appendFileSync(path.join(dir, 'chaosd', 'journal.jsonl'), JSON.stringify({ t: 'build', uuid: half.uuid, name: 'half', domid: half.domid }) + '\n');
  const foreign = await ts.create(cfg('by-someone-else'));
  const before = guests(xen);
  t.ok(before.includes(half.domid));
  const b = make();
  const r = await b.start();
  t.equal(r.adopted, 2);
  t.equal(r.destroyed, 4, 'three idle shells and the half-built domain');
  for (const m of made) t.equal(named(xen, m.domid), m.name, `${m.name} still runs under its name`);
  t.notOk(xen.domains.has(half.domid), 'the half-built domain is gone');
  t.ok(xen.domains.has(foreign.domid), 'a domain chaosd never journaled is left alone');
  await b.pools.settled();
  t.equal(b.poolLevels()[0].level, 3, 'pools back at their watermark');
  t.same((await b.list()).map((x) => x.name).sort(), ['Domain-0', 'by-someone-else', 'keep1', 'keep2']);
  const st = await b.stop();
  t.equal(st.shellsDestroyed, 3, 'stop destroys idle shells');
  t.same(guests(xen).sort((x, y) => x - y), [made[0].domid, made[1].domid, foreign.domid].sort((x, y) => x - y), 'and leaves VMs running');
  await t.rejects(b.create(cfg('late')), { code: 'UNAVAILABLE' });
});

t.test('concurrent creates get unique names and ids; the same name twice at once is NAME_IN_USE', async (t) => {
  const { make, cfg } = world(t);
  const d = make([{ ...SMALL, low: 2, high: 4 }]);
  await d.start();
  const r = await d.batch(Array.from({ length: 30 }, (_, i) => cfg(`b-${i}`)));
  t.equal(r.created.length, 30);
  t.equal(new Set(r.created.map((c) => c.domid)).size, 30, 'unique ids');
  t.equal(new Set(r.created.map((c) => c.name)).size, 30, 'unique names');
  const both = await Promise.allSettled([d.create(cfg('twin')), d.create(cfg('twin'))]);
  t.same(both.map((x) => x.status).sort(), ['fulfilled', 'rejected']);
  t.match((both.find((x) => x.status === 'rejected') as PromiseRejectedResult).reason, { code: 'NAME_IN_USE' });
  await d.stop();
});

/** An API server on a Unix socket in `dir`, and a client for it. */
async function api(t: Test, d: Chaosd, dir: string, maxBodyBytes = 4096, log: Log = pino({ level: 'silent' }) as unknown as Log) {
  const sock = path.join(dir, 'api.sock');
  const srv = http.createServer(apiHandler(d, log, { maxBodyBytes }));
  await new Promise<void>((r) => srv.listen(sock, r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  return (method: string, p: string, body?: string) => new Promise<{ status: number; json: { error?: { code: string; message: string } } & Record<string, unknown> }>((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => { const txt = Buffer.concat(chunks).toString(); let json; try { json = JSON.parse(txt); } catch { json = { text: txt }; } resolve({ status: res.statusCode!, json }); });
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('request log lines: at debug every request says it is done, with its id; at info only refusals are written', async (t) => {
  for (const level of ['debug', 'info'] as const) {
    const { make, dir } = world(t);
    const d = make([{ ...SMALL, low: 0, high: 0 }]);
    await d.start();
    const lines: Record<string, unknown>[] = [];
    const sink = { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } };
    const call = await api(t, d, dir, 4096, pino({ level }, sink) as unknown as Log);
    t.equal((await call('GET', '/v1/pools')).status, 200);
    t.equal((await call('GET', '/v1/nowhere')).status, 404);
    const done = lines.filter((l) => l.msg === 'request done');
    const refused = lines.filter((l) => l.msg === 'request refused');
    if (level === 'debug') {
      t.match(done, [{ req: 1, method: 'GET', path: '/v1/pools', status: 200 }, { req: 2, method: 'GET', path: '/v1/nowhere', status: 404 }], 'debug: one line per request, with its id, method, path and status');
    } else {
      t.same(done, [], 'info: no line for a request that succeeded');
    }
    t.match(refused, [{ req: 2, path: '/v1/nowhere', status: 404, code: 'REQUEST_INVALID' }], `${level}: the refusal is written with the request's id`);
    await d.stop();
  }
});

t.test('bad requests get a 4xx naming the problem, and change nothing', async (t) => {
  const { xen, make, kernel, dir } = world(t);
  const d = make([{ ...SMALL, low: 0, high: 2 }]);
  await d.start();
  await d.pools.settled();
  const call = await api(t, d, dir);
  t.equal((await call('POST', '/v1/domains', JSON.stringify({ config: { name: 'taken', kernel, memory: 4 } }))).status, 201);
  await d.pools.settled();
  const before = JSON.stringify([...xen.domains.keys()]);
  const journal = fs.readFileSync(path.join(dir, 'chaosd', 'journal.jsonl'), 'utf8');
  const cases: [string, string, string, number, string, RegExp][] = [
    ['malformed JSON', '/v1/domains', '{"config": {', 400, 'REQUEST_INVALID', /not valid JSON/],
    ['an unknown field', '/v1/domains', JSON.stringify({ config: { name: 'x', kernel, memory: 4 }, colour: 'red' }), 400, 'REQUEST_INVALID', /no field "colour"/],
    ['an unknown config key', '/v1/domains', JSON.stringify({ config: { name: 'x', kernel, memory: 4, colour: 'red' } }), 400, 'CONFIG_UNKNOWN_KEY', /colour/],
    ['an oversized body', '/v1/domains', JSON.stringify({ config: { name: 'x', kernel, memory: 4, extra: 'a'.repeat(5000) } }), 413, 'REQUEST_INVALID', /at most 4096|larger than 4096/],
    ['more memory than the host has', '/v1/domains', JSON.stringify({ config: { name: 'x', kernel, memory: 8192 } }), 422, 'NO_MEMORY', /4096 MiB in all/],
    ['a missing kernel', '/v1/domains', JSON.stringify({ config: { name: 'x', kernel: '/nonexistent/vmlinuz', memory: 4 } }), 400, 'KERNEL_INVALID', /does not exist/],
    ['a name in use', '/v1/domains', JSON.stringify({ config: { name: 'taken', kernel, memory: 4 } }), 409, 'NAME_IN_USE', /taken/],
    ['a batch with a repeated name', '/v1/domains/batch', JSON.stringify({ configs: [{ name: 'r', kernel, memory: 4 }, { name: 'r', kernel, memory: 4 }] }), 400, 'REQUEST_INVALID', /given twice/],
    ['a body that is not an object', '/v1/domains', '[1,2]', 400, 'REQUEST_INVALID', /one JSON object/],
  ];
  for (const [what, p, body, status, code, msg] of cases) {
    const r = await call('POST', p, body);
    t.equal(r.status, status, `${what}: ${status}`);
    t.equal(r.json.error?.code, code, `${what}: ${code}`);
    t.match(r.json.error?.message, msg, `${what}: says why`);
  }
  t.equal((await call('GET', '/v1/nowhere')).status, 404);
  t.equal((await call('PUT', '/v1/domains')).status, 405);
  t.equal((await call('DELETE', '/v1/domains/no-such-vm')).json.error?.code, 'DOMAIN_NOT_FOUND');
  t.equal(JSON.stringify([...xen.domains.keys()]), before, 'no domain was made or destroyed');
  t.equal(fs.readFileSync(path.join(dir, 'chaosd', 'journal.jsonl'), 'utf8'), journal, 'nothing was journaled');
  const m = await call('GET', '/v1/metrics');
  t.match(m.json.text, /chaosd_pool_shells\{pool="small"\} 2/);
  t.match(m.json.text, /chaosd_failures_total\{op="create",reason="NAME_IN_USE"\} 1/);
  t.match(m.json.text, /chaosd_phase_seconds_count\{phase="create"\} 1/);
  await d.stop();
});

t.test('worker messages are checked on receipt: a request or reply of another version or shape is not taken', async (t) => {
  const { isReply, isRequest } = await import('../../../daemon/worker-protocol.js');
  t.ok(isRequest({ v: 1, id: 3, op: 'prepare', size: { memoryMiB: 4, maxMemoryMiB: 4, maxVcpus: 1 }, uuid: '00000000-0000-4000-8000-000000000001' }));
  t.ok(isRequest({ v: 1, id: 4, op: 'destroyShell', domid: 7 }));
  t.notOk(isRequest({ v: 2, id: 3, op: 'destroyShell', domid: 7 }), 'another version');
  t.notOk(isRequest({ v: 1, id: 3, op: 'format', domid: 7 }), 'an unknown op');
  t.notOk(isRequest({ v: 1, id: 3, op: 'finish', shell: {}, cfg: {} }), 'finish without paused');
  t.ok(isReply({ v: 1, id: 3, ok: false, error: { code: 'XEN_CALL', message: 'x' } }));
  t.notOk(isReply({ v: 1, id: 3, ok: false, error: 'x' }));
  t.notOk(isReply(null));
});

t.test('reservations made at the same moment never take the same memory twice', async (t) => {
  const { MemoryBudget } = await import('../../../daemon/pool.js');
  const b = new MemoryBudget(async () => { await new Promise((r) => setTimeout(r, 1)); return 10; }, 2);
  const got = await Promise.all(Array.from({ length: 5 }, () => b.reserve(4)));
  t.equal(got.filter(Boolean).length, 2, 'two of five 4 MiB reservations fit in 10 MiB with a 2 MiB margin');
  t.equal(b.reservedMiB, 8);
});
