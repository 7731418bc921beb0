// Unit: the noxsd client's codec (protocol.h's layouts, byte for byte) and its handling of a fake noxsd: answers, refusals, hang-ups, silence.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ChaosError } from '../../../../toolstack/errors.js';
import { decodeResponse, encodeRequest, NOXSD, NoxsdClient, NoxsdError, type NoxsdRequest } from '../../../../toolstack/devices/noxsd-client.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../..');

/** A response as noxsd writes it (struct noxsd_resp). */
function resp(o: { err?: number; grant?: number; evtchn?: number; seq?: number; be?: number; fe?: number; feat?: number; ifname?: string; msg?: string } = {}): Buffer {
  const b = Buffer.alloc(128);
  b.writeInt32LE(o.err ?? 0, 0);
  b.writeUInt32LE(o.grant ?? 0, 4);
  b.writeUInt32LE(o.evtchn ?? 0, 8);
  b.writeUInt32LE(o.seq ?? 0, 12);
  b.writeUInt32LE(o.be ?? 0, 16);
  b.writeUInt32LE(o.fe ?? 0, 20);
  b.writeUInt32LE(o.feat ?? 0, 24);
  b.write(o.ifname ?? '', 32, 'latin1');
  b.write(o.msg ?? '', 48, 'latin1');
  return b;
}

/** A fake noxsd on a Unix socket: `answer` turns each 64-byte request into the bytes to send back (or null: hang up). */
async function fakeNoxsd(t: Test, answer: (req: Buffer, n: number) => Buffer | null | 'silent'): Promise<{ socket: string; seen: Buffer[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-noxsd-'));
  const socket = path.join(dir, 'noxsd.sock');
  const seen: Buffer[] = [];
  const conns = new Set<net.Socket>();
  const server = net.createServer((c) => {
    conns.add(c);
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 64) {
        const req = buf.subarray(0, 64);
        buf = buf.subarray(64);
        seen.push(Buffer.from(req));
        const a = answer(req, seen.length);
        if (a === null) { c.destroy(); return; }
        if (a !== 'silent') c.write(a);
      }
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(socket, r));
  t.teardown(() => new Promise<void>((r) => { server.close(() => r()); for (const c of conns) c.destroy(); fs.rmSync(dir, { recursive: true, force: true }); }));
  return { socket, seen };
}

t.test('protocol.h and this client agree on every number', async (t) => {
  const h = fs.readFileSync(path.join(ROOT, 'native/noxsd/protocol.h'), 'utf8');
  const def = (n: string) => Number(new RegExp(`#define ${n}\\s+(0x[0-9a-fA-F]+|\\d+)`).exec(h)?.[1]);
  t.equal(def('NOXSD_MAGIC'), NOXSD.MAGIC);
  t.equal(def('NOXSD_VERSION'), NOXSD.VERSION);
  t.equal(def('NOXSD_IFNAMSIZ'), NOXSD.IFNAMSIZ);
  for (const [k, v] of Object.entries(NOXSD.OP)) t.equal(def(`NOXSD_OP_${k}`), v, `NOXSD_OP_${k}`);
  t.match(h, /#define NOXSD_SOCKET\s+"\/run\/lightvm\/noxsd\.sock"/);
  t.match(h, /\/\* 64 bytes\. \*\/\s*struct noxsd_req/);
  t.match(h, /\/\* 128 bytes\. \*\/\s*struct noxsd_resp/);
  t.match(h, /char\s+msg\[80\]/);
});

t.test('a request is 64 bytes, each field at its offset, little-endian', async (t) => {
  const b = encodeRequest({ op: 'VIF_ADD', domid: 0x1234, id: 7, mtu: 9000, mac: '00:16:3e:0a:0b:0c', bridge: 'xenbr0', ifname: 'vif9.7' });
  t.equal(b.length, 64);
  t.equal(b.readUInt32LE(0), 0x6473786e, 'magic "nxsd"');
  t.equal(b.subarray(0, 4).toString('latin1'), 'nxsd');
  t.equal(b.readUInt16LE(4), 1, 'version');
  t.equal(b.readUInt16LE(6), 3, 'op VIF_ADD');
  t.equal(b.readUInt16LE(8), 0x1234, 'domid');
  t.equal(b.readUInt16LE(10), 0, 'type: none for VIF_ADD');
  t.equal(b.readUInt16LE(12), 7, 'id');
  t.equal(b.readUInt16LE(14), 9000, 'mtu');
  t.equal(b.readUInt32LE(16), 0, 'arg');
  t.same([...b.subarray(20, 26)], [0x00, 0x16, 0x3e, 0x0a, 0x0b, 0x0c], 'mac');
  t.equal(b.readUInt16LE(26), 0, 'pad');
  t.equal(b.subarray(28, 44).toString('latin1'), 'xenbr0' + '\0'.repeat(10), 'bridge, NUL-padded');
  t.equal(b.subarray(44, 60).toString('latin1'), 'vif9.7' + '\0'.repeat(10), 'ifname, NUL-padded');
  t.equal(b.readUInt32LE(60), 0, 'pad2');
  const p = encodeRequest({ op: 'POWER_REQ', domid: 5, id: 0, arg: 2 });
  t.equal(p.readUInt16LE(6), 6);
  t.equal(p.readUInt32LE(16), 2, 'arg: NOXS_POWER_REBOOT');
  const s = encodeRequest({ op: 'STATUS', domid: 5, type: 'vif', id: 1 });
  t.equal(s.readUInt16LE(10), 2, 'type NOXS_DEV_VIF');
  t.equal(encodeRequest({ op: 'PING' }).readUInt16LE(8), 0, 'PING needs no domain');
  const c = encodeRequest({ op: 'COUNT' });
  t.equal(c.readUInt16LE(6), 8, 'COUNT');
  t.equal(c.readUInt16LE(8), 0, 'COUNT of every domain: domid 0');
  t.equal(encodeRequest({ op: 'COUNT', domid: 12 }).readUInt16LE(8), 12, 'COUNT of one domain');
});

t.test('requests with bad fields are refused before they are sent', async (t) => {
  const bad = (r: NoxsdRequest, re: RegExp) => t.throws(() => encodeRequest(r), re, JSON.stringify(r));
  bad({ op: 'POWER_ADD', domid: 0, id: 0 }, /domid 0 is not a whole number from 1 to 32751/);
  bad({ op: 'POWER_ADD', domid: 0x7ff0, id: 0 }, /domid 32752/);
  bad({ op: 'POWER_ADD', domid: 3, id: 65536 }, /id 65536/);
  bad({ op: 'VIF_ADD', domid: 3, mac: '00:16:3e:0a:0b', bridge: 'xenbr0' }, /mac/);
  bad({ op: 'VIF_ADD', domid: 3, mac: '01:16:3e:0a:0b:0c', bridge: 'xenbr0' }, /multicast/);
  bad({ op: 'VIF_ADD', domid: 3, mac: '00:16:3e:0a:0b:0c', bridge: 'a-bridge-name-too-long' }, /bridge/);
  bad({ op: 'VIF_ADD', domid: 3, mac: '00:16:3e:0a:0b:0c', bridge: 'br/0' }, /bridge/);
  bad({ op: 'VIF_ADD', domid: 3, mac: '00:16:3e:0a:0b:0c', bridge: 'xenbr0', mtu: 67 }, /mtu 67/);
  bad({ op: 'STATUS', domid: 3, type: 'disk' as never }, /unknown device type/);
  bad({ op: 'COUNT', domid: 0x7ff0 }, /domid 32752/);
  bad({ op: 'NOPE' as never }, /unknown op/);
});

t.test('a response is decoded field by field; broken ones are refused', async (t) => {
  const r = decodeResponse(resp({ grant: 8, evtchn: 9, seq: 3, be: 4, fe: 4, feat: 1, ifname: 'vif3.0', msg: 'ok' }));
  t.same(r, { err: 0, grant: 8, evtchn: 9, seq: 3, beState: 4, feState: 4, feFeatures: 1, ifname: 'vif3.0', msg: 'ok' });
  t.equal(decodeResponse(resp({ err: -2, msg: 'no such device' })).err, -2);
  t.throws(() => decodeResponse(Buffer.alloc(127)), /127 bytes, not 128/);
  t.throws(() => decodeResponse(resp({ err: 5 })), /positive error 5/);
  const noNul = resp();
  noNul.fill(0x41, 32, 48);
  t.throws(() => decodeResponse(noNul), /ifname field that is not NUL-terminated/);
  const msgNoNul = resp();
  msgNoNul.fill(0x41, 48, 128);
  t.throws(() => decodeResponse(msgNoNul), /msg field/);
});

t.test('the client talks to a fake noxsd: answers in order, refusals as DEVICE errors with errno and message', async (t) => {
  const { socket, seen } = await fakeNoxsd(t, (req) => {
    const op = req.readUInt16LE(6);
    if (op === NOXSD.OP.POWER_ADD) return resp({ grant: 100 + req.readUInt16LE(8), evtchn: 7 });
    if (op === NOXSD.OP.POWER_REQ) return resp({ seq: req.readUInt32LE(16) * 10 });
    if (op === NOXSD.OP.DEV_REM) return resp({ err: -2, msg: 'vif 4 of domain 9 does not exist' });
    return resp();
  });
  const c = new NoxsdClient({ socket, timeoutMs: 5000 });
  t.teardown(() => c.close());
  await c.ping();
  // Pipelined on one connection: each answer goes to its own request.
  const [a, b, seq] = await Promise.all([c.powerAdd(3, 0), c.powerAdd(4, 0), c.powerReq(3, 0, 'reboot')]);
  t.same(a, { grant: 103, evtchn: 7 });
  t.same(b, { grant: 104, evtchn: 7 });
  t.equal(seq, 20, 'POWER_REQ answers the request number');
  const err = await c.devRem(9, 'vif', 4).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof NoxsdError, 'a refusal is a NoxsdError');
  t.equal((err as ChaosError).code, 'DEVICE');
  t.equal((err as NoxsdError).errnoName, 'ENOENT');
  t.equal((err as ChaosError).domid, 9);
  t.match((err as Error).message, /noxsd refused DEV_REM vif 4 for domain 9: ENOENT \(vif 4 of domain 9 does not exist\)/);
  await c.domainRem(9);
  t.equal(seen.length, 6, 'six requests reached noxsd');
  t.same(seen.map((r) => r.readUInt16LE(6)), [1, 2, 2, 6, 4, 5]);
});

t.test('silence is a TIMEOUT; a response split over several writes is put together', async (t) => {
  const { socket } = await fakeNoxsd(t, () => 'silent');
  const c = new NoxsdClient({ socket, timeoutMs: 300 });
  t.teardown(() => c.close());
  const e = await c.ping().then(() => undefined, (x: unknown) => x);
  t.equal((e as ChaosError).code, 'TIMEOUT', 'a noxsd that never answers: TIMEOUT');
  t.match((e as Error).message, /noxsd \(.*\) did not answer PING within 0\.3 s/);
  // In pieces: the client puts the 128 bytes together.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-noxsd-'));
  const sock2 = path.join(dir, 's');
  const srv = net.createServer((conn) => {
    conn.once('data', () => {
      const r = resp({ grant: 42, evtchn: 1 });
      conn.write(r.subarray(0, 10));
      setTimeout(() => conn.write(r.subarray(10, 100)), 20);
      setTimeout(() => conn.write(r.subarray(100)), 40);
    });
  });
  await new Promise<void>((r) => srv.listen(sock2, r));
  t.teardown(() => { srv.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const c2 = new NoxsdClient({ socket: sock2 });
  t.teardown(() => c2.close());
  t.same(await c2.powerAdd(2, 0), { grant: 42, evtchn: 1 });
});

t.test('noxsd not running: NOT_SUPPORTED naming the socket; noxsd hanging up: DEVICE; the next request reconnects', async (t) => {
  const missing = new NoxsdClient({ socket: path.join(os.tmpdir(), `no-noxsd-${process.pid}.sock`) });
  const e = await missing.ping().then(() => undefined, (x: unknown) => x);
  t.equal((e as ChaosError).code, 'NOT_SUPPORTED');
  t.match((e as Error).message, /noxsd, dom0's noxs back-end, and it is not running \(ENOENT on .*no-noxsd-/);
  let hangUp = true;
  const { socket } = await fakeNoxsd(t, () => (hangUp ? null : resp()));
  const c = new NoxsdClient({ socket });
  t.teardown(() => c.close());
  const h = await c.ping().then(() => undefined, (x: unknown) => x);
  t.equal((h as ChaosError).code, 'DEVICE');
  t.match((h as Error).message, /closed the connection before answering PING/);
  hangUp = false;
  await c.ping();
  t.pass('a new connection after the hang-up');
});

t.test('a response nobody asked for drops the connection', async (t) => {
  const { socket } = await fakeNoxsd(t, () => Buffer.concat([resp(), resp()]));
  const c = new NoxsdClient({ socket });
  t.teardown(() => c.close());
  await c.ping();
  // The second, unasked-for answer arrives with (or right after) the first: the connection is dropped, the next request reconnects.
  await new Promise((r) => setTimeout(r, 50));
  await c.ping().catch(() => undefined);
  await c.ping();
  t.pass('still usable');
});
