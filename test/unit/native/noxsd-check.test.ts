// noxsd's checks of untrusted input (native/noxsd/check.c) through its test binary: control requests laid out as protocol.h says, guest ring indices and tx requests.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../../../lab/config.js';

const BIN = path.join(PROJECT_ROOT, 'native', 'build', 'noxsd-check');
const { EPROTO, EINVAL, EOPNOTSUPP } = os.constants.errno;

/** A struct noxsd_req (protocol.h's offsets, written here independently of the C side). */
interface Req { magic?: number; version?: number; op: number; domid?: number; type?: number; id?: number; mtu?: number; arg?: number;
  mac?: number[]; pad?: number; bridge?: string | Buffer; ifname?: string | Buffer; pad2?: number }
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
  Buffer.from(r.mac ?? [0, 0, 0, 0, 0, 0]).copy(b, 20);
  b.writeUInt16LE(r.pad ?? 0, 26);
  if (r.bridge !== undefined) Buffer.from(r.bridge).copy(b, 28, 0, 16);
  if (r.ifname !== undefined) Buffer.from(r.ifname).copy(b, 44, 0, 16);
  b.writeUInt32LE(r.pad2 ?? 0, 60);
  return b;
}

function run(mode: string, input: Buffer | string): string[] {
  const r = spawnSync(BIN, [mode], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`noxsd-check ${mode} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trimEnd().split('\n');
}

const OP = { PING: 1, POWER_ADD: 2, VIF_ADD: 3, DEV_REM: 4, DOMAIN_REM: 5, POWER_REQ: 6, STATUS: 7, COUNT: 8 };
const MAC = [0x00, 0x16, 0x3e, 0x01, 0x02, 0x03];
const VIF = { op: OP.VIF_ADD, domid: 5, id: 0, mac: MAC, bridge: 'xenbr0' };

t.test('noxsd-check is built (scripts/build-native.sh)', async (t) => {
  t.ok(fs.existsSync(BIN), `${BIN} exists`);
});

t.test('requests: each field is checked, with the errno protocol.h promises and a sentence', async (t) => {
  const cases: [string, Req, number, RegExp?][] = [
    ['ping', { op: OP.PING }, 0],
    ['bad magic', { op: OP.PING, magic: 0x12345678 }, -EPROTO, /magic/],
    ['version 2', { op: OP.PING, version: 2 }, -EPROTO, /version 2/],
    ['version 0', { op: OP.PING, version: 0 }, -EPROTO, /version 0/],
    ['unknown op', { op: 99 }, -EOPNOTSUPP, /unknown op 99/],
    ['op 0', { op: 0 }, -EOPNOTSUPP, /unknown op 0/],
    ['padding', { op: OP.PING, pad: 1 }, -EINVAL, /padding/],
    ['padding 2', { op: OP.PING, pad2: 1 }, -EINVAL, /padding/],
    ['power_add', { op: OP.POWER_ADD, domid: 5 }, 0],
    ['power_add to dom0', { op: OP.POWER_ADD, domid: 0 }, -EINVAL, /dom0/],
    ['power_add to DOMID_SELF', { op: OP.POWER_ADD, domid: 0x7ff0 }, -EINVAL, /not an ordinary domain id/],
    ['power_add to the last ordinary domid', { op: OP.POWER_ADD, domid: 0x7fef }, 0],
    ['vif_add', VIF, 0],
    ['vif_add with an ifname and mtu', { ...VIF, ifname: 'web0', mtu: 9000 }, 0],
    ['vif_add mtu 68', { ...VIF, mtu: 68 }, 0],
    ['vif_add mtu 67', { ...VIF, mtu: 67 }, -EINVAL, /MTU 67/],
    ['vif_add multicast mac', { ...VIF, mac: [0x01, 0, 0x5e, 0, 0, 1] }, -EINVAL, /multicast/],
    ['vif_add zero mac', { ...VIF, mac: [0, 0, 0, 0, 0, 0] }, -EINVAL, /00:00:00:00:00:00/],
    ['vif_add no bridge', { ...VIF, bridge: '' }, -EINVAL, /no bridge/],
    ['vif_add bridge without NUL', { ...VIF, bridge: 'b'.repeat(16) }, -EINVAL, /bridge name is not NUL-terminated/],
    ['vif_add bridge with a slash', { ...VIF, bridge: 'a/b' }, -EINVAL, /bridge name "a\/b"/],
    ['vif_add ifname without NUL', { ...VIF, ifname: 'v'.repeat(16) }, -EINVAL, /interface name is not NUL-terminated/],
    ['vif_add ifname with a blank', { ...VIF, ifname: 'a b' }, -EINVAL, /interface name "a b"/],
    ['vif_add ifname ..', { ...VIF, ifname: '..' }, -EINVAL, /interface name/],
    ['vif_add ifname with a control character', { ...VIF, ifname: Buffer.from([0x76, 0x01, 0]) }, -EINVAL, /interface name/],
    ['vif_add to dom0', { ...VIF, domid: 0 }, -EINVAL, /dom0/],
    ['dev_rem vif', { op: OP.DEV_REM, domid: 5, type: 2, id: 1 }, 0],
    ['dev_rem power', { op: OP.DEV_REM, domid: 5, type: 1 }, 0],
    ['dev_rem vbd', { op: OP.DEV_REM, domid: 5, type: 3 }, -EOPNOTSUPP, /vbd/],
    ['dev_rem type 0', { op: OP.DEV_REM, domid: 5, type: 0 }, -EINVAL, /unknown device type 0/],
    ['status type 4', { op: OP.STATUS, domid: 5, type: 4 }, -EINVAL, /unknown device type 4/],
    ['domain_rem', { op: OP.DOMAIN_REM, domid: 7 }, 0],
    ['domain_rem dom0', { op: OP.DOMAIN_REM, domid: 0 }, -EINVAL, /dom0/],
    ['power_req suspend', { op: OP.POWER_REQ, domid: 5, arg: 3 }, 0],
    ['power_req 0', { op: OP.POWER_REQ, domid: 5, arg: 0 }, -EINVAL, /power request 0/],
    ['power_req 4', { op: OP.POWER_REQ, domid: 5, arg: 4 }, -EINVAL, /power request 4/],
    ['count of one domain', { op: OP.COUNT, domid: 5 }, 0],
    ['count of every domain (domid 0)', { op: OP.COUNT, domid: 0 }, 0],
    ['count of DOMID_SELF', { op: OP.COUNT, domid: 0x7ff0 }, -EINVAL, /not an ordinary domain id/],
  ];
  const out = run('req', Buffer.concat(cases.map(([, r]) => encode(r))));
  t.equal(out.length, cases.length, 'one verdict per 64-byte request');
  cases.forEach(([name, , err, msg], i) => {
    const m = /^(-?\d+) ?(.*)$/.exec(out[i] ?? '');
    t.equal(Number(m?.[1]), err, `${name}: err ${err}`);
    if (msg) t.match(m?.[2], msg, `${name}: says why`);
    else t.equal(m?.[2], '', `${name}: no message`);
  });
});

t.test('a request cut short is refused, not half-read', async (t) => {
  const r = spawnSync(BIN, ['req'], { input: encode({ op: OP.PING }).subarray(0, 40) });
  t.equal(r.status, 1);
  t.match(r.stderr.toString(), /40 trailing bytes/);
});

t.test('ring indices: a producer ahead by more than the ring is a violation, wrap-around is not', async (t) => {
  const out = run('lines', ['ring 0 0 256', 'ring 5 0 256', 'ring 256 0 256', 'ring 257 0 256', 'ring 2 4294967295 256',
    'ring 4294967295 2 256', 'ring 0 1 256'].join('\n') + '\n');
  t.same(out, ['0', '5', '256', '-1', '3', '-1', '-1']);
});

t.test('tx requests: offset+size within the page, an Ethernet header at least, no more_data/extra_info, id within the ring', async (t) => {
  const out = run('lines', ['tx 0 60 0 0 256', 'tx 4036 60 0 255 256', 'tx 4037 60 0 1 256', 'tx 0 13 0 1 256', 'tx 65535 65535 0 1 256',
    'tx 0 60 4 1 256', 'tx 0 60 8 1 256', 'tx 0 60 3 1 256', 'tx 0 60 0 256 256'].join('\n') + '\n');
  t.match(out[0], /^ok/);
  t.match(out[1], /^ok/, 'a packet ending exactly at the page end');
  t.match(out[2], /^drop .*4037 \+ size 60 passes the page's end/);
  t.match(out[3], /^drop .*shorter than an Ethernet header/);
  t.match(out[4], /^drop .*passes the page's end/, 'no 16-bit overflow');
  t.match(out[5], /^fatal .*more_data/);
  t.match(out[6], /^fatal .*extra_info/);
  t.match(out[7], /^ok/, 'checksum flags are fine');
  t.match(out[8], /^fatal .*id 256 is out of range/);
});

t.test('rx ids and interface names', async (t) => {
  const out = run('lines', ['rxid 255 256', 'rxid 256 256', 'ifname vif12.0', 'ifname ' + 'x'.repeat(15), 'ifname ' + 'x'.repeat(16),
    'ifname a:b', 'ifname .', 'default 1 0', 'default 32767 65535'].join('\n') + '\n');
  t.same(out, ['1', '0', '1', '1', '0', '0', '0', 'vif1.0', 'vif32767.65535']);
});
