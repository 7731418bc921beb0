// The toolstack's client of noxsd (dom0's noxs back-end): native/noxsd/protocol.h's fixed binary messages over its Unix socket.
import net from 'node:net';
import os from 'node:os';
import { ChaosError } from '../errors.js';

/** Mirrors native/noxsd/protocol.h: change both together. */
export const NOXSD = {
  MAGIC: 0x6473786e,
  VERSION: 1,
  SOCKET: '/run/lightvm/noxsd.sock',
  REQ_SIZE: 64,
  RESP_SIZE: 128,
  IFNAMSIZ: 16,
  MSG_SIZE: 80,
  OP: { PING: 1, POWER_ADD: 2, VIF_ADD: 3, DEV_REM: 4, DOMAIN_REM: 5, POWER_REQ: 6, STATUS: 7, COUNT: 8 },
} as const;

/** noxs.h's device types and noxs-devices.h's power requests and states. */
export const NOXS_DEV = { power: 1, vif: 2, vbd: 3 } as const;
export const NOXS_POWER = { poweroff: 1, reboot: 2, suspend: 3 } as const;
export const NOXS_STATE_CONNECTED = 4;
export const NOXS_POWER_F_SUSPEND = 1;

export type NoxsdOp = keyof typeof NOXSD.OP;
export type NoxsDevType = keyof typeof NOXS_DEV;

/** One request (struct noxsd_req); absent fields are zero. */
export interface NoxsdRequest {
  op: NoxsdOp;
  domid?: number;
  type?: NoxsDevType;
  id?: number;
  mtu?: number;
  arg?: number;
  /** "aa:bb:cc:dd:ee:ff" */
  mac?: string;
  bridge?: string;
  ifname?: string;
}

/** One response (struct noxsd_resp). */
export interface NoxsdResponse {
  err: number;
  grant: number;
  evtchn: number;
  seq: number;
  beState: number;
  feState: number;
  feFeatures: number;
  ifname: string;
  msg: string;
}

const OP_NAMES = Object.fromEntries(Object.entries(NOXSD.OP).map(([k, v]) => [v, k])) as Record<number, NoxsdOp>;
const IFNAME_RE = /^[A-Za-z0-9_.\-+@]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function bad(what: string): never {
  throw new ChaosError('INTERNAL', `noxsd request: ${what}`);
}

function u16(name: string, v: number | undefined, min = 0, max = 0xffff): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < min || n > max) bad(`${name} ${v} is not a whole number from ${min} to ${max}`);
  return n;
}

function writeName(buf: Buffer, off: number, name: string, v: string | undefined): void {
  if (v === undefined || v === '') return;
  if (!IFNAME_RE.test(v)) bad(`${name} ${JSON.stringify(v)} is not an interface name of at most 15 letters, digits or "_.-+@"`);
  buf.write(v, off, 'latin1');
}

/** struct noxsd_req, 64 bytes, little-endian; every field checked (the C side checks again). */
export function encodeRequest(r: NoxsdRequest): Buffer {
  const b = Buffer.alloc(NOXSD.REQ_SIZE);
  const op = NOXSD.OP[r.op];
  if (op === undefined) bad(`unknown op ${JSON.stringify(r.op)}`);
  b.writeUInt32LE(NOXSD.MAGIC, 0);
  b.writeUInt16LE(NOXSD.VERSION, 4);
  b.writeUInt16LE(op, 6);
  // Domain 0 has no devices of its own here: an ordinary guest id (below DOMID_FIRST_RESERVED); COUNT's 0 is every domain.
  b.writeUInt16LE(r.op === 'PING' ? u16('domid', r.domid) : r.op === 'COUNT' && !r.domid ? 0 : u16('domid', r.domid, 1, 0x7fef), 8);
  const type = r.type === undefined ? 0 : NOXS_DEV[r.type];
  if (type === undefined) bad(`unknown device type ${JSON.stringify(r.type)}`);
  b.writeUInt16LE(type, 10);
  b.writeUInt16LE(u16('id', r.id), 12);
  const mtu = r.mtu ?? 0;
  if (mtu !== 0) u16('mtu', mtu, 68);
  b.writeUInt16LE(mtu, 14);
  const arg = r.arg ?? 0;
  if (!Number.isInteger(arg) || arg < 0 || arg > 0xffffffff) bad(`arg ${arg} is not a 32-bit whole number`);
  b.writeUInt32LE(arg, 16);
  if (r.mac !== undefined) {
    if (!MAC_RE.test(r.mac)) bad(`mac ${JSON.stringify(r.mac)} is not six hex pairs separated by ":"`);
    const bytes = r.mac.split(':').map((x) => parseInt(x, 16));
    if (bytes[0]! & 1) bad(`mac ${r.mac} is a multicast address`);
    Buffer.from(bytes).copy(b, 20);
  }
  // pad (26..28) stays zero
  writeName(b, 28, 'bridge', r.bridge);
  writeName(b, 44, 'ifname', r.ifname);
  // pad2 (60..64) stays zero
  return b;
}

/** A NUL-terminated string of a fixed-size field; a field without its NUL is refused (a broken peer). */
function cString(b: Buffer, off: number, size: number, what: string): string {
  const field = b.subarray(off, off + size);
  const end = field.indexOf(0);
  if (end < 0) throw new ChaosError('DEVICE', `noxsd answered with a ${what} field that is not NUL-terminated`);
  return field.subarray(0, end).toString('latin1');
}

/** struct noxsd_resp, 128 bytes. */
export function decodeResponse(b: Buffer): NoxsdResponse {
  if (b.length !== NOXSD.RESP_SIZE) throw new ChaosError('DEVICE', `noxsd answered ${b.length} bytes, not ${NOXSD.RESP_SIZE}`);
  const err = b.readInt32LE(0);
  if (err > 0) throw new ChaosError('DEVICE', `noxsd answered a positive error ${err} (it must be 0 or a negative errno)`);
  return {
    err, grant: b.readUInt32LE(4), evtchn: b.readUInt32LE(8), seq: b.readUInt32LE(12), beState: b.readUInt32LE(16),
    feState: b.readUInt32LE(20), feFeatures: b.readUInt32LE(24), ifname: cString(b, 32, NOXSD.IFNAMSIZ, 'ifname'),
    msg: cString(b, 48, NOXSD.MSG_SIZE, 'msg').replace(/[^\x20-\x7e]/g, '?'),
  };
}

/** The errno name of a negative errno ("ENOENT"), or its number when Linux has no name for it. */
export function errnoName(err: number): string {
  for (const [k, v] of Object.entries(os.constants.errno)) if (v === -err) return k;
  return `errno ${-err}`;
}

/** A request noxsd refused (err < 0): a ChaosError DEVICE with errno and noxsd's own words. */
export class NoxsdError extends ChaosError {
  readonly errnoName: string;
  /** noxsd's answer as it came (err, msg and the rest), for callers that look at more than the errno. */
  readonly response: NoxsdResponse;
  constructor(req: NoxsdRequest, resp: NoxsdResponse) {
    const name = errnoName(resp.err);
    const dev = req.type !== undefined ? ` ${req.type} ${req.id ?? 0}` : '';
    super('DEVICE', `noxsd refused ${req.op}${dev} for domain ${req.domid ?? 0}: ${name}${resp.msg ? ` (${resp.msg})` : ''}`, {
      errno: -resp.err, ...(req.domid ? { domid: req.domid } : {}),
    });
    this.errnoName = name;
    this.response = resp;
  }
}

export interface NoxsdClientOptions {
  socket?: string;
  /** How long one request may wait for its answer. */
  timeoutMs?: number;
}

interface Pending { req: NoxsdRequest; resolve(r: NoxsdResponse): void; reject(e: Error): void; timer: NodeJS.Timeout }

/**
 * One connection to noxsd, opened on first use and kept; requests go out in order and each gets
 * the next response. The connection does not keep a process alive while no request is pending.
 * Errors: NOT_SUPPORTED when noxsd is not running, TIMEOUT when it does not answer, DEVICE when it
 * refuses (NoxsdError) or breaks the protocol.
 */
export class NoxsdClient {
  readonly socket: string;
  private readonly timeoutMs: number;
  private conn?: net.Socket;
  private connecting?: Promise<net.Socket>;
  private readonly pending: Pending[] = [];
  private inbuf: Buffer = Buffer.alloc(0);

  constructor(o: NoxsdClientOptions = {}) {
    this.socket = o.socket ?? NOXSD.SOCKET;
    this.timeoutMs = o.timeoutMs ?? 15_000;
  }

  /** Sends one request; resolves with the response when err is 0, rejects with NoxsdError otherwise. */
  async request(req: NoxsdRequest): Promise<NoxsdResponse> {
    const bytes = encodeRequest(req);
    const sock = await this.connect();
    return new Promise<NoxsdResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new ChaosError('TIMEOUT', `noxsd (${this.socket}) did not answer ${req.op} within ${(this.timeoutMs / 1000).toFixed(this.timeoutMs < 10_000 ? 1 : 0)} s`));
      }, this.timeoutMs);
      this.pending.push({
        req, timer, reject,
        resolve: (r) => (r.err === 0 ? resolve(r) : reject(new NoxsdError(req, r))),
      });
      sock.ref();
      sock.write(bytes);
    });
  }

  close(): void {
    this.fail(new ChaosError('DEVICE', 'the noxsd connection was closed by the toolstack'));
  }

  private connect(): Promise<net.Socket> {
    if (this.conn) return Promise.resolve(this.conn);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const s = net.createConnection(this.socket);
      s.once('connect', () => {
        s.off('error', onError);
        s.on('error', (err) => this.fail(new ChaosError('DEVICE', `the connection to noxsd (${this.socket}) failed: ${err.message}`, { cause: err })));
        s.on('close', () => this.fail(new ChaosError('DEVICE', `noxsd (${this.socket}) closed the connection${this.pending.length ? ` before answering ${this.pending[0]!.req.op} (a request it could not parse, or noxsd stopped)` : ''}`)));
        s.on('data', (d: Buffer) => this.onData(d));
        this.conn = s;
        this.connecting = undefined;
        resolve(s);
      });
      const onError = (err: NodeJS.ErrnoException) => {
        this.connecting = undefined;
        s.destroy();
        const down = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
        reject(new ChaosError(down ? 'NOT_SUPPORTED' : 'DEVICE', down
          ? `noxs needs noxsd, dom0's noxs back-end, and it is not running (${err.code} on ${this.socket}): start native/noxsd, or use dev_method "xenstore"`
          : `cannot connect to noxsd on ${this.socket}: ${err.message}`, { cause: err }));
      };
      s.once('error', onError);
    });
    return this.connecting;
  }

  private onData(d: Buffer): void {
    this.inbuf = this.inbuf.length ? Buffer.concat([this.inbuf, d]) : d;
    while (this.inbuf.length >= NOXSD.RESP_SIZE) {
      const one = this.inbuf.subarray(0, NOXSD.RESP_SIZE);
      this.inbuf = this.inbuf.subarray(NOXSD.RESP_SIZE);
      const p = this.pending.shift();
      if (!p) {
        this.fail(new ChaosError('DEVICE', `noxsd (${this.socket}) sent a response nobody asked for`));
        return;
      }
      clearTimeout(p.timer);
      try {
        p.resolve(decodeResponse(Buffer.from(one)));
      } catch (err) {
        p.reject(err as Error);
        this.fail(err as Error);
        return;
      }
    }
    if (this.pending.length === 0) this.conn?.unref();
  }

  /** Drops the connection and fails every pending request with `err`; the next request reconnects. */
  private fail(err: Error): void {
    const s = this.conn;
    this.conn = undefined;
    this.inbuf = Buffer.alloc(0);
    if (s) { s.removeAllListeners('close'); s.removeAllListeners('data'); s.on('error', () => undefined); s.destroy(); }
    for (const p of this.pending.splice(0)) { clearTimeout(p.timer); p.reject(err); }
  }

  // The ops, typed.
  async ping(): Promise<void> { await this.request({ op: 'PING' }); }

  async powerAdd(domid: number, id: number): Promise<{ grant: number; evtchn: number }> {
    const r = await this.request({ op: 'POWER_ADD', domid, id });
    return { grant: r.grant, evtchn: r.evtchn };
  }

  async vifAdd(domid: number, id: number, v: { mac: string; bridge: string; mtu?: number; ifname?: string }): Promise<{ grant: number; evtchn: number; ifname: string }> {
    const r = await this.request({ op: 'VIF_ADD', domid, id, mac: v.mac, bridge: v.bridge, ...(v.mtu ? { mtu: v.mtu } : {}), ...(v.ifname ? { ifname: v.ifname } : {}) });
    return { grant: r.grant, evtchn: r.evtchn, ifname: r.ifname };
  }

  async devRem(domid: number, type: NoxsDevType, id: number): Promise<void> { await this.request({ op: 'DEV_REM', domid, type, id }); }

  async domainRem(domid: number): Promise<void> { await this.request({ op: 'DOMAIN_REM', domid }); }

  async powerReq(domid: number, id: number, req: keyof typeof NOXS_POWER): Promise<number> {
    return (await this.request({ op: 'POWER_REQ', domid, id, arg: NOXS_POWER[req] })).seq;
  }

  async status(domid: number, type: NoxsDevType, id: number): Promise<NoxsdResponse> { return this.request({ op: 'STATUS', domid, type, id }); }

  /** How many devices noxsd holds for `domid`, or for every domain when it is 0 (absent). */
  async count(domid = 0): Promise<number> { return (await this.request({ op: 'COUNT', domid })).seq; }
}

export { OP_NAMES as NOXSD_OP_NAMES };
