// Runs in dom0: puts noxs devices on a guest's page for the runtime's noxs tests (noxsd makes them, devctl adds them) and asks noxsd about them; prints one JSON object.
//
// Usage: node noxs-guest.js <command> [args]
//   available                       {devctl: has this hypervisor devctl?, noxsd: does noxsd answer PING?}
//   power-add <domid> <id>          a power device from noxsd, added to the guest's page
//   vif-add <domid> <id> <mac> <bridge>   a vif from noxsd (tap on bridge), added to the guest's page
//   power-page <domid> <id>         a power device from noxsd, not added to the page (its grant and port, for a test to misuse)
//   power-req <domid> <id> <kind> [sec]   kind poweroff|reboot|suspend; then polls STATUS until the guest acknowledges
//                                   (or sec, default 20, pass) and prints the request's seq and the last status;
//                                   a refusal by noxsd prints {err, msg}
//   status <domid> <type> <id>      noxsd's STATUS of one device
// noxsd's protocol (native/noxsd/protocol.h) is spoken here directly, so this helper depends on nothing but that contract.
import net from 'node:net';
import { Devctl } from '../../../toolstack/xen/devctl.js';

const SOCKET = '/run/lightvm/noxsd.sock';
const MAGIC = 0x6473786e;
const OP = { PING: 1, POWER_ADD: 2, VIF_ADD: 3, DEV_REM: 4, DOMAIN_REM: 5, POWER_REQ: 6, STATUS: 7 } as const;
const TYPE = { power: 1, vif: 2 } as const;
const KIND = { poweroff: 1, reboot: 2, suspend: 3 } as const;

interface Req { op: keyof typeof OP; domid?: number; type?: number; id?: number; arg?: number; mac?: string; bridge?: string }

function encode(r: Req): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt16LE(1, 4);
  b.writeUInt16LE(OP[r.op], 6);
  b.writeUInt16LE(r.domid ?? 0, 8);
  b.writeUInt16LE(r.type ?? 0, 10);
  b.writeUInt16LE(r.id ?? 0, 12);
  b.writeUInt32LE(r.arg ?? 0, 16);
  if (r.mac) {
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(r.mac)) throw new Error(`bad MAC ${r.mac}`);
    Buffer.from(r.mac.replace(/:/g, ''), 'hex').copy(b, 20);
  }
  if (r.bridge) b.write(r.bridge.slice(0, 15), 28, 'latin1');
  return b;
}

function decode(b: Buffer) {
  const str = (off: number, len: number) => { const f = b.subarray(off, off + len); const e = f.indexOf(0); return f.subarray(0, e < 0 ? len : e).toString('latin1'); };
  return {
    err: b.readInt32LE(0), grant: b.readUInt32LE(4), evtchn: b.readUInt32LE(8), seq: b.readUInt32LE(12),
    beState: b.readUInt32LE(16), feState: b.readUInt32LE(20), feFeatures: b.readUInt32LE(24), ifname: str(32, 16), msg: str(48, 80),
  };
}

/** One request on a fresh connection; rejects when noxsd is not there. */
function ask(r: Req): Promise<ReturnType<typeof decode>> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(SOCKET);
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`noxsd did not answer ${r.op} within 10 s`)); }, 10_000);
    s.on('connect', () => s.write(encode(r)));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 128) { clearTimeout(timer); s.destroy(); resolve(decode(got.subarray(0, 128))); }
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('close', () => { clearTimeout(timer); if (got.length < 128) reject(new Error(`noxsd closed the connection on ${r.op}`)); });
  });
}

async function checked(r: Req) {
  const a = await ask(r);
  if (a.err !== 0) throw new Error(`noxsd ${r.op}: error ${a.err}: ${a.msg}`);
  return a;
}

async function main(): Promise<Record<string, unknown>> {
  const [cmd, ...args] = process.argv.slice(2);
  const n = (i: number) => { const v = Number(args[i]); if (!Number.isInteger(v) || v < 0) throw new Error(`argument ${i + 1} (${args[i]}) is not a number`); return v; };
  const devctl = new Devctl();
  switch (cmd) {
    case 'available': {
      const noxsd = await ask({ op: 'PING' }).then((a) => a.err === 0, () => false);
      return { devctl: await devctl.available(), noxsd };
    }
    case 'power-add': {
      const a = await checked({ op: 'POWER_ADD', domid: n(0), id: n(1) });
      await devctl.add(n(0), { type: 'power', id: n(1), beDomid: 0, grant: a.grant, evtchn: a.evtchn });
      return { grant: a.grant, evtchn: a.evtchn };
    }
    case 'power-page': {
      const a = await checked({ op: 'POWER_ADD', domid: n(0), id: n(1) });
      return { grant: a.grant, evtchn: a.evtchn };
    }
    case 'vif-add': {
      const a = await checked({ op: 'VIF_ADD', domid: n(0), id: n(1), mac: args[2], bridge: args[3] });
      await devctl.add(n(0), { type: 'vif', id: n(1), beDomid: 0, grant: a.grant, evtchn: a.evtchn });
      return { grant: a.grant, evtchn: a.evtchn, ifname: a.ifname };
    }
    case 'power-req': {
      const kind = KIND[args[2] as keyof typeof KIND];
      if (!kind) throw new Error(`unknown request ${args[2]}`);
      const a = await ask({ op: 'POWER_REQ', domid: n(0), id: n(1), arg: kind });
      if (a.err !== 0) return { err: a.err, msg: a.msg };
      const deadline = Date.now() + (args[3] ? n(3) : 20) * 1000;
      let st = await ask({ op: 'STATUS', domid: n(0), type: TYPE.power, id: n(1) });
      while (st.err === 0 && st.seq !== a.seq && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        st = await ask({ op: 'STATUS', domid: n(0), type: TYPE.power, id: n(1) });
      }
      return { seq: a.seq, status: st };
    }
    case 'status': {
      const type = TYPE[args[1] as keyof typeof TYPE];
      if (!type) throw new Error(`unknown type ${args[1]}`);
      return { status: await ask({ op: 'STATUS', domid: n(0), type, id: n(2) }) };
    }
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

main().then(
  (out) => { process.stdout.write(JSON.stringify(out) + '\n'); },
  (err: Error) => { process.stdout.write(JSON.stringify({ fatal: err.message }) + '\n'); process.exitCode = 1; },
);
