// Unit: the XenStore wire client against a small in-memory xenstored on a Unix socket: pipelining, results, conflicts, errors, bounds.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  XsDecoder, XsWire, XsWireError, decodePerms, encodeOp, encodePerm, header,
  XS_DIRECTORY, XS_ERROR, XS_GET_PERMS, XS_INTRODUCE, XS_MKDIR, XS_READ, XS_RM, XS_SET_PERMS, XS_TRANSACTION_END, XS_TRANSACTION_START, XS_WRITE,
} from '../../../../toolstack/xen/xs-wire.js';
import { XenStore } from '../../../../toolstack/xen/xenstore.js';
import { findXenstoredSocket } from '../../../../toolstack/xen/xenstored-probe.js';
import type { XenNative } from '../../../../toolstack/xen/types.js';

/** A xenstored that answers only after 5 ms without new requests, so it can tell whether requests were pipelined. */
class FakeXenstored {
  readonly nodes = new Map<string, { value: string; perms: string }>([['/', { value: '', perms: 'n0' }]]);
  maxOutstanding = 0;
  requests = 0;
  conflicts = 0;
  ends: string[] = [];
  /** Payloads of XS_INTRODUCE, in the order they came. */
  introduced: string[] = [];
  /** What was requested, in order (type and path). */
  log: string[] = [];
  denyWrite?: string;
  garbage = false;
  private nextTx = 1;
  readonly server: net.Server;
  constructor(readonly sockPath: string) {
    this.server = net.createServer((c) => {
      const dec = new XsDecoder();
      let queue: Buffer[] = [];
      let timer: NodeJS.Timeout | undefined;
      c.on('data', (chunk: Buffer) => dec.push(chunk, (type, reqId, tx, payload) => {
        this.requests++;
        this.log.push(`${type} ${Buffer.from(payload).toString().split('\0')[0]}`);
        queue.push(this.answer(type, reqId, tx, Buffer.from(payload)));
        this.maxOutstanding = Math.max(this.maxOutstanding, queue.length);
        clearTimeout(timer);
        timer = setTimeout(() => {
          if (this.garbage) { c.write(header(XS_READ, 1, 0, 100000)); return; }
          c.write(Buffer.concat(queue)); queue = [];
        }, 5);
      }));
      c.on('error', () => undefined);
    });
  }
  listen(): Promise<void> { return new Promise((r) => this.server.listen(this.sockPath, r)); }
  close(): Promise<void> { return new Promise((r) => this.server.close(() => r())); }
  private reply(type: number, reqId: number, tx: number, s: string): Buffer {
    const p = Buffer.from(s);
    return Buffer.concat([header(type, reqId, tx, p.length), p]);
  }
  private err(reqId: number, tx: number, code: string): Buffer { return this.reply(XS_ERROR, reqId, tx, `${code}\0`); }
  private mk(p: string): void {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const q = '/' + parts.slice(0, i).join('/');
      if (!this.nodes.has(q)) this.nodes.set(q, { value: '', perms: 'n0' });
    }
  }
  private answer(type: number, reqId: number, tx: number, payload: Buffer): Buffer {
    const s = payload.toString();
    const [p, ...rest] = s.split('\0');
    switch (type) {
      case XS_TRANSACTION_START: return this.reply(type, reqId, 0, `${this.nextTx++}\0`);
      case XS_TRANSACTION_END:
        this.ends.push(p);
        if (p === 'T' && this.conflicts > 0) { this.conflicts--; return this.err(reqId, tx, 'EAGAIN'); }
        return this.reply(type, reqId, tx, 'OK\0');
      case XS_READ: { const n = this.nodes.get(p); return n ? this.reply(type, reqId, tx, n.value) : this.err(reqId, tx, 'ENOENT'); }
      case XS_WRITE: {
        if (p === this.denyWrite) return this.err(reqId, tx, 'EACCES');
        this.mk(p); this.nodes.get(p)!.value = s.slice(p.length + 1); return this.reply(type, reqId, tx, 'OK\0');
      }
      case XS_MKDIR: this.mk(p); return this.reply(type, reqId, tx, 'OK\0');
      case XS_RM: for (const k of [...this.nodes.keys()]) if (k === p || k.startsWith(`${p}/`)) this.nodes.delete(k); return this.reply(type, reqId, tx, 'OK\0');
      case XS_DIRECTORY: {
        if (!this.nodes.has(p)) return this.err(reqId, tx, 'ENOENT');
        const kids = [...this.nodes.keys()].filter((k) => k.startsWith(`${p === '/' ? '' : p}/`) && !k.slice(p.length + 1).includes('/')).map((k) => k.slice(k.lastIndexOf('/') + 1));
        return this.reply(type, reqId, tx, kids.map((k) => `${k}\0`).join(''));
      }
      case XS_SET_PERMS: { const n = this.nodes.get(p); if (!n) return this.err(reqId, tx, 'ENOENT'); n.perms = rest.filter(Boolean).join('\0'); return this.reply(type, reqId, tx, 'OK\0'); }
      case XS_GET_PERMS: { const n = this.nodes.get(p); return n ? this.reply(type, reqId, tx, `${n.perms}\0`) : this.err(reqId, tx, 'ENOENT'); }
      case XS_INTRODUCE: {
        if (tx !== 0) return this.err(reqId, tx, 'EINVAL');
        this.introduced.push(s);
        return this.reply(type, reqId, tx, 'OK\0');
      }
      default: return this.err(reqId, tx, 'EINVAL');
    }
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-xswire-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
async function fresh(t: { teardown(f: () => unknown): void }): Promise<{ xsd: FakeXenstored; wire: XsWire }> {
  const xsd = new FakeXenstored(path.join(dir, `xs${n++}.sock`));
  await xsd.listen();
  const wire = new XsWire(xsd.sockPath);
  t.teardown(async () => { wire.close(); await xsd.close(); });
  return { xsd, wire };
}

t.test('codec: permissions both ways, ops to requests, bounds refused before anything is sent', async (t) => {
  t.equal(encodePerm({ domid: 0, read: false, write: false }), 'n0');
  t.equal(encodePerm({ domid: 5, read: true, write: true }), 'b5');
  t.same(decodePerms('n0\0r7\0w3\0b9\0'), [
    { domid: 0, read: false, write: false }, { domid: 7, read: true, write: false }, { domid: 3, read: false, write: true }, { domid: 9, read: true, write: true }]);
  t.throws(() => decodePerms('x1\0'), { code: 'EIO' });
  t.same(encodeOp({ op: 'write', path: '/a', value: 'v' }), { type: XS_WRITE, payload: Buffer.from('/a\0v') });
  t.same(encodeOp({ op: 'setPermissions', path: '/a', perms: [{ domid: 0, read: false, write: false }, { domid: 4, read: true, write: false }] }).payload, Buffer.from('/a\0n0\0r4\0'));
  t.throws(() => encodeOp({ op: 'write', path: '/a', value: 'x'.repeat(5000) }), { code: 'E2BIG', call: 'xs_write' });
  t.throws(() => encodeOp({ op: 'read', path: '' }), { code: 'EINVAL' });
  t.throws(() => encodeOp({ op: 'read', path: 'a\0b' }), { code: 'EINVAL' });
  t.throws(() => encodeOp({ op: 'setPermissions', path: '/a', perms: [] }), { code: 'EINVAL' });
});

t.test('a transaction sends all its requests before the first answer, and lands', async (t) => {
  const { xsd, wire } = await fresh(t);
  const ops = Array.from({ length: 30 }, (_, i) => ({ op: 'write' as const, path: `/local/domain/7/n${i}`, value: String(i) }));
  const r = await wire.xsBatch(ops, true);
  t.equal(r.committed, true);
  t.equal(r.results.length, 30);
  t.equal(xsd.maxOutstanding, 30, 'the 30 writes were in flight together');
  t.same(xsd.ends, ['T']);
  t.equal(xsd.nodes.get('/local/domain/7/n29')?.value, '29');
});

t.test('reads are pipelined; missing nodes read and list as null; lists and permissions come back typed', async (t) => {
  const { xsd, wire } = await fresh(t);
  await wire.xsBatch([{ op: 'write', path: '/d/a', value: 'x' }, { op: 'write', path: '/d/b', value: 'y' },
    { op: 'setPermissions', path: '/d/a', perms: [{ domid: 0, read: false, write: false }, { domid: 3, read: true, write: false }] }], false);
  xsd.maxOutstanding = 0;
  const r = await wire.xsBatch([{ op: 'read', path: '/d/a' }, { op: 'read', path: '/nope' }, { op: 'directory', path: '/d' },
    { op: 'directory', path: '/nope' }, { op: 'getPermissions', path: '/d/a' }], false);
  t.same(r.results, ['x', null, ['a', 'b'], null, [{ domid: 0, read: false, write: false }, { domid: 3, read: true, write: false }]]);
  t.equal(xsd.maxOutstanding, 5);
});

t.test('a batch of writes outside a transaction stops at its first failure, as the addon does', async (t) => {
  const { xsd, wire } = await fresh(t);
  xsd.denyWrite = '/b';
  const err = await wire.xsBatch([{ op: 'write', path: '/a', value: '1' }, { op: 'write', path: '/b', value: '2' }, { op: 'write', path: '/c', value: '3' }], false).catch((e: unknown) => e);
  t.match(err, { name: 'NativeError', call: 'xs_write', code: 'EACCES', detail: '/b' });
  t.ok(err instanceof XsWireError);
  t.equal((err as Error).message, 'xs_write: Permission denied (/b)', "strerror's words, as the addon's errors read");
  t.ok(xsd.nodes.has('/a'));
  t.notOk(xsd.nodes.has('/c'), 'the write after the failure was not sent');
});

t.test('a pipelined batch outside a transaction sends every request at once, introduction included, in order; its first failure is reported', async (t) => {
  const { xsd, wire } = await fresh(t);
  const r = await wire.xsBatch([{ op: 'mkdir', path: '/h' }, { op: 'write', path: '/h/a', value: '1' },
    { op: 'setPermissions', path: '/h', perms: [{ domid: 5, read: false, write: false }] }, { op: 'introduce', path: '@introduceDomain', domid: 5, mfn: 4660, port: 3 }], false, true);
  t.same(r, { committed: true, results: [undefined, undefined, undefined, undefined] });
  t.equal(xsd.maxOutstanding, 4, 'the four requests were in flight together');
  t.same(xsd.log, [`${XS_MKDIR} /h`, `${XS_WRITE} /h/a`, `${XS_SET_PERMS} /h`, `${XS_INTRODUCE} 5`], 'in the order given');
  t.same(xsd.introduced, ['5\x004660\x003\x00'], 'xs_introduce_domain\'s payload: domid, mfn, port');
  xsd.denyWrite = '/b';
  const err = await wire.xsBatch([{ op: 'write', path: '/b', value: '2' }, { op: 'write', path: '/c', value: '3' }], false, true).catch((e: unknown) => e);
  t.match(err, { call: 'xs_write', code: 'EACCES', detail: '/b' });
  t.ok(xsd.nodes.has('/c'), 'the requests after the failure were applied (the caller undoes the whole batch)');
  t.throws(() => encodeOp({ op: 'introduce', path: '@introduceDomain', domid: -1, mfn: 1, port: 1 }), { code: 'EINVAL', call: 'xs_introduce_domain' });
  await t.rejects(wire.xsBatch([{ op: 'introduce', path: '@introduceDomain', domid: 5, mfn: 1, port: 1 }], true), { code: 'EINVAL' }, 'never inside a transaction');
});

t.test('XenStore counts the requests it sends by kind; a pipeline goes to the wire in one batch, to the addon around its introductions', async (t) => {
  const { xsd, wire } = await fresh(t);
  const xs = new XenStore({} as XenNative, { transport: wire });
  await xs.pipeline((b) => b.write('/p/a', 1).perms('/p', [{ domid: 0, read: false, write: false }]).introduce(9, 1, 2));
  await xs.transaction((b) => b.write('/p/b', 2));
  t.same(xs.opCounts(), { write: 2, setPermissions: 1, introduce: 1, transaction_start: 1, transaction_end: 1 });
  t.equal(xsd.introduced.length, 1);
  const calls: string[] = [];
  const addon = {
    xsBatch: async (ops: { op: string }[], tx: boolean) => { calls.push(`batch ${ops.map((o) => o.op).join(',')} ${tx}`); return { committed: true, results: ops.map(() => undefined) }; },
    xsIntroduceDomain: async (d: number, m: number, p: number) => { calls.push(`introduce ${d} ${m} ${p}`); },
  } as unknown as XenNative;
  const viaAddon = new XenStore(addon);
  t.same(await viaAddon.pipeline((b) => b.write('/x', 1).introduce(4, 5, 6).write('/y', 2)), [undefined, undefined, undefined]);
  t.same(calls, ['batch write false', 'introduce 4 5 6', 'batch write false'], 'the addon introduces in its place in the order');
  await t.rejects(viaAddon.transaction((b) => b.introduce(4, 5, 6)), { code: 'INTERNAL' });
});

t.test('a failure inside a transaction abandons it; a conflict (EAGAIN at the end) is committed: false, and XenStore re-runs it', async (t) => {
  const { xsd, wire } = await fresh(t);
  xsd.denyWrite = '/t/b';
  await t.rejects(wire.xsBatch([{ op: 'write', path: '/t/a', value: '1' }, { op: 'write', path: '/t/b', value: '2' }], true), { call: 'xs_write', code: 'EACCES' });
  t.same(xsd.ends, ['F'], 'abandoned');
  xsd.denyWrite = undefined;
  xsd.conflicts = 1;
  t.same(await wire.xsBatch([{ op: 'write', path: '/t/c', value: '3' }], true), { committed: false, results: [] });
  xsd.conflicts = 2;
  const xs = new XenStore({} as XenNative, { transport: wire });
  await xs.transaction((b) => b.write('/t/d', 4));
  t.same(xsd.ends.slice(1), ['T', 'T', 'T', 'T'], 'two conflicts, then the commit');
  t.equal(xsd.nodes.get('/t/d')?.value, '4');
});

t.test('a xenstored that sends an impossible length fails the requests in flight; the next batch reconnects', async (t) => {
  const { xsd, wire } = await fresh(t);
  xsd.garbage = true;
  await t.rejects(wire.xsBatch([{ op: 'read', path: '/' }], false), { call: 'xs_talkv', code: 'EIO' });
  xsd.garbage = false;
  t.same((await wire.xsBatch([{ op: 'write', path: '/r', value: 'ok' }, { op: 'read', path: '/r' }], true)).results, [undefined, 'ok']);
});

t.test('no xenstored: findXenstoredSocket() says so, and a batch fails with a clear xs_open error', async (t) => {
  const missing = path.join(dir, 'none.sock');
  t.equal(findXenstoredSocket([missing]), undefined);
  await t.rejects(new XsWire(missing).xsBatch([{ op: 'read', path: '/' }], false), { call: 'xs_open', code: 'ENOENT' });
});
