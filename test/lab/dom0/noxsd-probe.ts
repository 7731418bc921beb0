// Runs in dom0: sends noxsd requests (native/noxsd/protocol.h, encoded here from that contract alone) over its socket and prints the answers as one JSON array.
//
// Usage: node noxsd-probe.js <socket> '<json array of requests>'
// A request is {op, domid?, type?, id?, mtu?, arg?, mac? ("aa:bb:.."), bridge?, ifname?, magic?, version?}; op is a
// number. All go over one connection, in order; an answer is {err, grant, evtchn, seq, beState, feState, feFeatures,
// ifname, msg}, and after the last one the probe reports whether noxsd closed the connection ({closed: true|false}).
import net from 'node:net';

interface Req { op: number; domid?: number; type?: number; id?: number; mtu?: number; arg?: number; mac?: string;
  bridge?: string; ifname?: string; magic?: number; version?: number }

function encode(r: Req): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(r.magic ?? 0x6473786e, 0);
  b.writeUInt16LE(r.version ?? 1, 4);
  b.writeUInt16LE(r.op, 6);
  b.writeUInt16LE(r.domid ?? 0, 8);
  b.writeUInt16LE(r.type ?? 0, 10);
  b.writeUInt16LE(r.id ?? 0, 12);
  b.writeUInt16LE(r.mtu ?? 0, 14);
  b.writeUInt32LE(r.arg ?? 0, 16);
  if (r.mac) Buffer.from(r.mac.split(':').map((x) => parseInt(x, 16))).copy(b, 20);
  if (r.bridge) b.write(r.bridge, 28, 15, 'latin1');
  if (r.ifname) b.write(r.ifname, 44, 15, 'latin1');
  return b;
}

function str(b: Buffer, off: number, len: number): string {
  const f = b.subarray(off, off + len);
  const end = f.indexOf(0);
  return f.subarray(0, end < 0 ? len : end).toString('latin1');
}

function decode(b: Buffer): Record<string, unknown> {
  return { err: b.readInt32LE(0), grant: b.readUInt32LE(4), evtchn: b.readUInt32LE(8), seq: b.readUInt32LE(12),
    beState: b.readUInt32LE(16), feState: b.readUInt32LE(20), feFeatures: b.readUInt32LE(24), ifname: str(b, 32, 16), msg: str(b, 48, 80) };
}

async function main(): Promise<void> {
  const [socket, json] = process.argv.slice(2);
  if (!socket || !json) throw new Error('usage: noxsd-probe.js <socket> <json requests>');
  const reqs = JSON.parse(json) as Req[];
  const sock = net.connect(socket);
  await new Promise<void>((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  let buf = Buffer.alloc(0);
  let closed = false;
  const waiters: (() => void)[] = [];
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); waiters.splice(0).forEach((w) => w()); });
  sock.on('close', () => { closed = true; waiters.splice(0).forEach((w) => w()); });
  sock.on('error', () => undefined);
  const out: Record<string, unknown>[] = [];
  for (const r of reqs) {
    sock.write(encode(r));
    while (buf.length < 128 && !closed) await new Promise<void>((res) => waiters.push(res));
    if (buf.length < 128) { out.push({ noAnswer: true }); break; }
    out.push(decode(buf.subarray(0, 128)));
    buf = buf.subarray(128);
  }
  // A connection noxsd ends is seen as closed within a moment; an open one stays open.
  if (!closed) await new Promise((res) => setTimeout(res, 300));
  out.push({ closed });
  sock.destroy();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e: Error) => { process.stdout.write(JSON.stringify([{ probeError: e.message }]) + '\n'); process.exit(1); });
