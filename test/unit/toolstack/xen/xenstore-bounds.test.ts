// Unit: XenStore without a hang: the probe of xenstored's socket (answering, silent, refusing, absent) and the bound on each call.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ChaosError } from '../../../../toolstack/errors.js';
import { bounded, stuckXenStoreCalls, XenStore } from '../../../../toolstack/xen/xenstore.js';
import { probeXenstored } from '../../../../toolstack/xen/xenstored-probe.js';
import type { XenNative, XsBatchResult, XsOp } from '../../../../toolstack/xen/types.js';

function tmp(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-xsprobe-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A Unix socket server that answers each request header (or stays silent); returns its path and what it read. */
async function server(t: Test, answer: boolean): Promise<{ socket: string; got: Buffer[] }> {
  const socket = path.join(tmp(t), 'socket');
  const got: Buffer[] = [];
  const conns = new Set<net.Socket>();
  const s = net.createServer((c) => {
    conns.add(c);
    c.on('data', (d: Buffer) => {
      got.push(d);
      if (answer) {
        const body = Buffer.from('/local/domain/0\0');
        const h = Buffer.alloc(16);
        h.writeUInt32LE(10, 0); h.writeUInt32LE(d.readUInt32LE(4), 4); h.writeUInt32LE(body.length, 12);
        c.write(Buffer.concat([h, body]));
      }
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => s.listen(socket, r));
  t.teardown(() => { for (const c of conns) c.destroy(); s.close(); });
  return { socket, got };
}

t.test('probe: an answering xenstored is up; the request is XS_GET_DOMAIN_PATH "0"', async (t) => {
  const { socket, got } = await server(t, true);
  t.equal(await probeXenstored(2000, [socket]), 'up');
  const req = Buffer.concat(got);
  t.equal(req.readUInt32LE(0), 10, 'XS_GET_DOMAIN_PATH');
  t.equal(req.readUInt32LE(8), 0, 'no transaction');
  t.equal(req.readUInt32LE(12), 2);
  t.equal(req.subarray(16).toString('latin1'), '0\0');
});

t.test('probe: a silent one (stopped) is down after the bound; a refusing socket is down at once; no socket is unknown', async (t) => {
  const { socket } = await server(t, false);
  const t0 = performance.now();
  t.equal(await probeXenstored(300, [socket]), 'down');
  const ms = performance.now() - t0;
  t.ok(ms >= 250 && ms < 2000, `waited about the bound (${ms.toFixed(0)} ms)`);
  // A socket file nobody listens on: what a killed xenstored leaves (a process killed while listening).
  const dead = path.join(tmp(t), 'dead');
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(dead)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  t.ok(fs.statSync(dead).isSocket(), 'the killed listener left its socket file');
  const t1 = performance.now();
  t.equal(await probeXenstored(5000, [dead]), 'down', 'a socket with no listener: down');
  t.ok(performance.now() - t1 < 1000, 'at once');
  t.equal(await probeXenstored(2000, [path.join(tmp(t), 'absent')]), 'unknown', 'no socket: cannot tell');
});

/** A XenNative whose xsBatch never answers (a stopped xenstored) or answers at once. */
function native(hang: boolean): { xen: XenNative; calls: XsOp[][] } {
  const calls: XsOp[][] = [];
  const xen = {
    xsBatch: (ops: XsOp[]): Promise<XsBatchResult> => {
      calls.push(ops);
      return hang ? new Promise(() => undefined) : Promise.resolve({ committed: true, results: ops.map(() => 'v') });
    },
  } as unknown as XenNative;
  return { xen, calls };
}

t.test('a call xenstored never answers fails with XENSTORE within the bound, and is counted as stuck', async (t) => {
  const { xen } = native(true);
  const xs = new XenStore(xen, { timeoutMs: 200 });
  const before = stuckXenStoreCalls();
  const t0 = performance.now();
  const e = await xs.read('/local/domain/0/name').then(() => undefined, (x: unknown) => x);
  t.ok(e instanceof ChaosError);
  t.equal((e as ChaosError).code, 'XENSTORE');
  t.match((e as Error).message, /xenstored did not answer a request of 1 operation within 0 s: is xenstored running\?/);
  t.ok(performance.now() - t0 < 2000, 'within the bound');
  t.equal(stuckXenStoreCalls(), before + 1, 'one call left behind');
  const tr = await xs.transaction((b) => b.write('/a', 1)).then(() => undefined, (x: unknown) => x);
  t.equal((tr as ChaosError).code, 'XENSTORE', 'a transaction too');
});

t.test('bounded: a late answer is dropped and the stuck count goes back down', async (t) => {
  let finish: (v: number) => void = () => undefined;
  const p = new Promise<number>((r) => { finish = r; });
  const before = stuckXenStoreCalls();
  const e = await bounded(p, 50, 'x').then(() => undefined, (x: unknown) => x);
  t.equal((e as ChaosError).code, 'XENSTORE');
  t.equal(stuckXenStoreCalls(), before + 1);
  finish(1);
  await new Promise((r) => setTimeout(r, 10));
  t.equal(stuckXenStoreCalls(), before, 'settled late: no longer stuck');
  t.equal(await bounded(Promise.resolve(7), 50, 'x'), 7, 'an answer in time passes through');
  t.equal(await bounded(Promise.resolve(8), 0, 'x'), 8, 'no bound');
});

t.test('a probe that says down fails the call at once, with no native call; up lets calls through, probed once', async (t) => {
  const { xen, calls } = native(false);
  let state: 'up' | 'down' | 'unknown' = 'down';
  let probes = 0;
  const xs = new XenStore(xen, { timeoutMs: 1000, probe: async () => { probes++; return state; }, probeTimeoutMs: 100 });
  const e = await xs.read('/x').then(() => undefined, (x: unknown) => x);
  t.equal((e as ChaosError).code, 'XENSTORE');
  t.match((e as Error).message, /xenstored is not answering .*use dev_method "noxs"/);
  t.equal(calls.length, 0, 'no native call was made');
  const p0 = probes;
  t.equal(await xs.reachable(), false);
  t.equal(probes, p0, "a fresh 'down' is believed without probing again");
  state = 'up';
  const e2 = await xs.read('/x').then(() => undefined, (x: unknown) => x);
  t.equal((e2 as ChaosError).code, 'XENSTORE', 'for a few seconds');
  const xs2 = new XenStore(xen, { timeoutMs: 1000, probe: async () => { probes++; return state; }, probeTimeoutMs: 100 });
  t.equal(await xs2.read('/x'), 'v');
  t.equal(await xs2.read('/y'), 'v');
  t.equal(calls.length, 2);
  const n = probes;
  t.equal(await xs2.reachable(), true, 'up, remembered');
  t.equal(probes, n, 'not probed again while the answer is fresh');
  state = 'unknown';
  t.equal(await new XenStore(xen, { probe: async () => state }).reachable(), true, 'unknown: calls go through (bounded)');
  // A slow xenstored: an optional probe with a short bound says down, a call's probe (longer) waits and finds it up.
  const bounds: number[] = [];
  const slow = new XenStore(xen, { timeoutMs: 1000, probe: async (ms) => { bounds.push(ms); return ms < 50 ? 'down' : 'up'; }, probeTimeoutMs: 100 });
  t.equal(await slow.reachable(10), false, 'down within 10 ms');
  t.equal(await slow.read('/x'), 'v', "a call does not take the shorter probe's word: it probes with its own bound");
  t.same(bounds, [10, 100]);
});
