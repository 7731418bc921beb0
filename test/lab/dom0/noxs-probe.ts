// Runs in dom0: exercises the devctl hypercall (noxs) of the patched Xen and prints what happened as one JSON object.
//
// Usage: node noxs-probe.js <scenario> [domid]
//   available        whether this hypervisor has devctl
//   pages <domid>    page frames of dom0 and of a guest; the guest's page read through a read-only foreign mapping
//                    (Xen refuses dom0 a foreign mapping of itself), and a writable mapping of it tried
//   devices <domid>  dev_add / dev_enum / dev_rem round trip on the guest's page, with the page read back;
//                    a duplicate, a wrong type, an id that is not there
//   capacity <domid> fill the guest's page to its capacity, one more, then empty it
//   refusals         unknown version, unknown op, a bad device type, padding, a domain that does not exist
//   add <domid> <type> <id> <beDomid> <grant> <evtchn>   adds one device (for a guest to find on its page)
//   devices-list <domid>   the devices on a domain's page
import { Devctl, type NoxsDevice } from '../../../toolstack/xen/devctl.js';
import { loadDevctl, loadNative } from '../../../toolstack/xen/native.js';

const native = loadDevctl();
const xen = loadNative();
const devctl = new Devctl(native);
const N = native.noxs;
const out: Record<string, unknown> = {};

function errorJson(err: unknown): Record<string, unknown> {
  const e = err as Record<string, unknown> & Error;
  const cause = e.cause as Record<string, unknown> | undefined;
  return { message: e.message, code: e.code, errno: e.errno, call: e.call ?? cause?.call, errnoName: cause?.code ?? e.code };
}

/** Runs `f`, recording its value (or 'ok') or its error under `key`; never throws. */
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

/** The device page as a guest sees it, parsed from a read-only foreign mapping of `frame`. */
async function readPage(domid: number, frame: number) {
  const b = await xen.foreignRead(domid, frame, 0, 4096);
  const count = b.readUInt16LE(6);
  const devs = [];
  for (let i = 0; i < Math.min(count, N.PAGE_MAX_DEVS); i++) {
    const o = 16 + i * 16;
    devs.push({ type: b.readUInt16LE(o), id: b.readUInt16LE(o + 2), beDomid: b.readUInt16LE(o + 4), grant: b.readUInt32LE(o + 8), evtchn: b.readUInt32LE(o + 12) });
  }
  return { magic: b.readUInt32LE(0), version: b.readUInt16LE(4), count, generation: b.readUInt32LE(8), devs };
}

const sort = (l: NoxsDevice[]) => [...l].sort((a, b) => a.type.localeCompare(b.type) || a.id - b.id);

async function main(): Promise<void> {
  const [scenario, arg] = process.argv.slice(2);
  const domid = Number(arg);
  switch (scenario) {
    case 'available':
      out.available = await devctl.available();
      out.abi = N;
      break;
    case 'pages': {
      await step('frameSelf', () => devctl.pageFrame('self'));
      await step('frameDom0', () => devctl.pageFrame(0));
      const guest = await step('frameGuest', () => devctl.pageFrame(domid));
      if (guest !== undefined) {
        await step('guestPage', () => readPage(domid, guest));
        await step('guestPageWrite', () => xen.foreignWrite(domid, guest, 0, Buffer.from('noxs')));
        await step('guestPageAfterWrite', () => readPage(domid, guest));
      }
      break;
    }
    case 'devices': {
      const frame = await devctl.pageFrame(domid);
      const power: NoxsDevice = { type: 'power', id: 0, beDomid: 0, grant: 8, evtchn: 5 };
      const vif0: NoxsDevice = { type: 'vif', id: 0, beDomid: 0, grant: 9, evtchn: 6 };
      const vif1: NoxsDevice = { type: 'vif', id: 1, beDomid: 0, grant: 10, evtchn: 7 };
      await step('empty', () => devctl.list(domid));
      await step('pageEmpty', () => readPage(domid, frame));
      await step('addPower', () => devctl.add(domid, power));
      await step('addVif0', () => devctl.add(domid, vif0));
      await step('addVif1', () => devctl.add(domid, vif1));
      await step('listThree', async () => sort(await devctl.list(domid)));
      await step('pageThree', () => readPage(domid, frame));
      await step('addDuplicate', () => devctl.add(domid, { ...vif1, grant: 99 }));
      await step('remWrongType', () => devctl.remove(domid, 'vbd', 1));
      await step('remMissingId', () => devctl.remove(domid, 'vif', 7));
      await step('remVif1', () => devctl.remove(domid, 'vif', 1));
      await step('remVif1Again', () => devctl.remove(domid, 'vif', 1));
      await step('listTwo', async () => sort(await devctl.list(domid)));
      await step('enumMax1', () => native.devctl({ version: N.VERSION, op: N.OP_DEV_ENUM, domid, max: 1 }));
      await step('enumMax0', () => native.devctl({ version: N.VERSION, op: N.OP_DEV_ENUM, domid, max: 0 }));
      await step('remPower', () => devctl.remove(domid, 'power', 0));
      await step('remVif0', () => devctl.remove(domid, 'vif', 0));
      await step('listEnd', () => devctl.list(domid));
      await step('pageEnd', () => readPage(domid, frame));
      break;
    }
    case 'capacity': {
      out.capacity = devctl.capacity;
      let added = 0;
      for (let id = 0; id < devctl.capacity; id++) {
        const ok = await step('fill', () => devctl.add(domid, { type: 'vbd', id, beDomid: 0, grant: id, evtchn: id }));
        if (ok === undefined && out.fill !== 'ok') break;
        added++;
      }
      out.added = added;
      await step('overflow', () => devctl.add(domid, { type: 'vbd', id: devctl.capacity, beDomid: 0, grant: 0, evtchn: 0 }));
      await step('overflowOtherType', () => devctl.add(domid, { type: 'power', id: 0, beDomid: 0, grant: 0, evtchn: 0 }));
      const full = await step('listFull', () => devctl.list(domid));
      out.listFull = full ? { length: full.length, ids: full.map((d) => d.id).sort((a, b) => a - b).join(',') } : out.listFull;
      let removed = 0;
      for (let id = 0; id < added; id++) {
        const ok = await step('empty', () => devctl.remove(domid, 'vbd', id));
        if (ok === undefined && out.empty !== 'ok') break;
        removed++;
      }
      out.removed = removed;
      await step('listEnd', () => devctl.list(domid));
      break;
    }
    case 'refusals': {
      const req = { op: N.OP_GET, domid: N.DOMID_SELF };
      await step('version0', () => native.devctl({ ...req, version: 0 }));
      await step('version2', () => native.devctl({ ...req, version: N.VERSION + 1 }));
      await step('versionFfff', () => native.devctl({ ...req, version: 0xffff }));
      await step('unknownOp', () => native.devctl({ version: N.VERSION, op: 99, domid: N.DOMID_SELF }));
      await step('badType', () => native.devctl({ version: N.VERSION, op: N.OP_DEV_ADD, domid: 0, dev: { type: 9, id: 0 } }));
      await step('typeZero', () => native.devctl({ version: N.VERSION, op: N.OP_DEV_ADD, domid: 0, dev: { type: 0, id: 0 } }));
      await step('reservedBackend', () => native.devctl({ version: N.VERSION, op: N.OP_DEV_ADD, domid: 0, dev: { type: N.DEV_VIF, id: 0, beDomid: 0x7ff0 } }));
      await step('noSuchDomain', () => devctl.pageFrame(0x7fe0));
      await step('noSuchDomainAdd', () => devctl.add(0x7fe0, { type: 'vif', id: 0, beDomid: 0, grant: 0, evtchn: 0 }));
      await step('dom0ListAfter', () => devctl.list(0));
      break;
    }
    case 'add': {
      const [type, id, beDomid, grant, evtchn] = process.argv.slice(4);
      await step('add', () => devctl.add(domid, { type: type as NoxsDevice['type'], id: Number(id), beDomid: Number(beDomid), grant: Number(grant), evtchn: Number(evtchn) }));
      await step('list', () => devctl.list(domid));
      break;
    }
    case 'devices-list':
      await step('list', () => devctl.list(domid));
      break;
    default:
      throw new Error(`unknown scenario ${JSON.stringify(scenario)}`);
  }
}

main().then(
  () => { process.stdout.write(JSON.stringify(out) + '\n'); },
  (err: unknown) => { out.fatal = errorJson(err); process.stdout.write(JSON.stringify(out) + '\n'); },
);
