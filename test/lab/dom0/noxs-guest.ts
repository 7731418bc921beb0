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
// noxsd is spoken to through the toolstack's client (toolstack/devices/noxsd-client.ts), whose codec its unit
// test checks byte for byte against protocol.h; test/lab/noxsd.test.ts checks noxsd with an encoder of its own.
import { NOXS_POWER, NoxsdClient, NoxsdError, type NoxsdRequest, type NoxsdResponse } from '../../../toolstack/devices/noxsd-client.js';
import { Devctl } from '../../../toolstack/xen/devctl.js';

const TYPES = ['power', 'vif'] as const;

const client = new NoxsdClient({ timeoutMs: 10_000 });

/** One request; noxsd's refusal is an answer (err, msg), not an exception. Rejects when noxsd is not there. */
async function ask(r: NoxsdRequest): Promise<NoxsdResponse> {
  try { return await client.request(r); } catch (err) { if (err instanceof NoxsdError) return err.response; throw err; }
}

async function main(): Promise<Record<string, unknown>> {
  const [cmd, ...args] = process.argv.slice(2);
  const n = (i: number) => { const v = Number(args[i]); if (!Number.isInteger(v) || v < 0) throw new Error(`argument ${i + 1} (${args[i]}) is not a number`); return v; };
  const devctl = new Devctl();
  switch (cmd) {
    case 'available': {
      const noxsd = await client.ping().then(() => true, () => false);
      return { devctl: await devctl.available(), noxsd };
    }
    case 'power-add': {
      const a = await client.powerAdd(n(0), n(1));
      await devctl.add(n(0), { type: 'power', id: n(1), beDomid: 0, grant: a.grant, evtchn: a.evtchn });
      return { grant: a.grant, evtchn: a.evtchn };
    }
    case 'power-page': {
      const a = await client.powerAdd(n(0), n(1));
      return { grant: a.grant, evtchn: a.evtchn };
    }
    case 'vif-add': {
      const a = await client.vifAdd(n(0), n(1), { mac: args[2], bridge: args[3] });
      await devctl.add(n(0), { type: 'vif', id: n(1), beDomid: 0, grant: a.grant, evtchn: a.evtchn });
      return { grant: a.grant, evtchn: a.evtchn, ifname: a.ifname };
    }
    case 'power-req': {
      const kind = (Object.keys(NOXS_POWER) as (keyof typeof NOXS_POWER)[]).find((k) => k === args[2]);
      if (!kind) throw new Error(`unknown request ${args[2]}`);
      const a = await ask({ op: 'POWER_REQ', domid: n(0), id: n(1), arg: NOXS_POWER[kind] });
      if (a.err !== 0) return { err: a.err, msg: a.msg };
      const deadline = Date.now() + (args[3] ? n(3) : 20) * 1000;
      let st = await ask({ op: 'STATUS', domid: n(0), type: 'power', id: n(1) });
      while (st.err === 0 && st.seq !== a.seq && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        st = await ask({ op: 'STATUS', domid: n(0), type: 'power', id: n(1) });
      }
      return { seq: a.seq, status: st };
    }
    case 'status': {
      const type = TYPES.find((x) => x === args[1]);
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
).finally(() => client.close());
