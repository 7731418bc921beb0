// XenStore over xenstored's Unix socket, speaking its wire protocol directly so that a batch's requests are pipelined (one round trip, not one per operation).
import net from 'node:net';
import os from 'node:os';
import { getSystemErrorMap } from 'node:util';
import type { XsBatchResult, XsOp, XsPerm, XsResult } from './types.js';

/** Tells xenstored a new domain's store ring (xs_introduce_domain); only outside a transaction. */
export interface XsIntroduceOp { op: 'introduce'; path: '@introduceDomain'; domid: number; mfn: number; port: number }
/** What a wire batch carries: the addon's operations, and the introduction of a domain. */
export type XsWireOp = XsOp | XsIntroduceOp;

/*
 * Why: libxenstore waits for each reply before it sends the next request, and in a dom0 under an
 * emulated CPU one round trip costs milliseconds, so a create's transaction of some sixty nodes
 * cost a few hundred. xenstored answers the requests of one connection in order; sending them all
 * at once costs one round trip plus xenstored's own work.
 *
 * The wire format (xen/io/xs_wire.h): a 16-byte header {type, req_id, tx_id, len} in the host's
 * byte order (little-endian x86 here), then `len` bytes of payload, at most XENSTORE_PAYLOAD_MAX.
 * Errors come back as XS_ERROR with the errno's name ("ENOENT\0").
 */

export const XS_DIRECTORY = 1;
export const XS_READ = 2;
export const XS_GET_PERMS = 3;
export const XS_TRANSACTION_START = 6;
export const XS_INTRODUCE = 8;
export const XS_TRANSACTION_END = 7;
export const XS_WRITE = 11;
export const XS_MKDIR = 12;
export const XS_RM = 13;
export const XS_SET_PERMS = 14;
export const XS_WATCH_EVENT = 15;
export const XS_ERROR = 16;

export const HEADER_BYTES = 16;
export const PAYLOAD_MAX = 4096;
export const ABS_PATH_MAX = 3072;

/** An error shaped like the addon's (NativeError), so that the toolstack reports both alike. */
export class XsWireError extends Error {
  readonly name = 'NativeError';
  constructor(readonly call: string, readonly errno: number, readonly code: string, readonly detail?: string) {
    super(`${call}: ${errnoText(code)}${detail ? ` (${detail})` : ''}`);
  }
}

/** errno's text as strerror words it ("No such file or directory"), from Node's table of the system's errors. */
function errnoText(code: string): string {
  const text = getSystemErrorMap().get(-errnoOf(code))?.[1];
  return text ? text[0].toUpperCase() + text.slice(1) : code;
}

function errnoOf(code: string): number {
  const n = (os.constants.errno as Record<string, number | undefined>)[code === 'EQUOTA' ? 'EDQUOT' : code];
  return n ?? (os.constants.errno.EIO as number);
}

/** The libxenstore call an op stands for, for error messages (the same names the addon reports). */
const CALL: Record<XsWireOp['op'], string> = {
  introduce: 'xs_introduce_domain', read: 'xs_read', write: 'xs_write', mkdir: 'xs_mkdir', rm: 'xs_rm', directory: 'xs_directory',
  setPermissions: 'xs_set_permissions', getPermissions: 'xs_get_permissions',
};

/** "r0", "b5", "n0": one permission as the wire writes it (the first is the owner and everyone's default). */
export function encodePerm(p: XsPerm): string {
  const c = p.read && p.write ? 'b' : p.read ? 'r' : p.write ? 'w' : 'n';
  return `${c}${p.domid}`;
}

export function decodePerms(s: string): XsPerm[] {
  return s.split('\0').filter((x) => x !== '').map((x) => {
    const c = x[0], domid = Number(x.slice(1));
    if (!'rwbn'.includes(c) || !/^\d+$/.test(x.slice(1)) || domid > 0xffff) throw new XsWireError('xs_get_permissions', errnoOf('EIO'), 'EIO', `xenstored sent a malformed permission ${JSON.stringify(x)}`);
    return { domid, read: c === 'r' || c === 'b', write: c === 'w' || c === 'b' };
  });
}

/** The request an op becomes: its type and payload. Throws (EINVAL) for a path or value the protocol cannot carry. */
export function encodeOp(op: XsWireOp): { type: number; payload: Buffer } {
  if (op.op === 'introduce') {
    for (const [k, max] of [['domid', 0x7fef], ['mfn', Number.MAX_SAFE_INTEGER], ['port', 0xffffffff]] as const) {
      if (!Number.isInteger(op[k]) || op[k] < 0 || op[k] > max) throw new XsWireError('xs_introduce_domain', errnoOf('EINVAL'), 'EINVAL', `${k} ${String(op[k])}: a whole number from 0 to ${max}`);
    }
    return { type: XS_INTRODUCE, payload: Buffer.from(`${op.domid}\0${op.mfn}\0${op.port}\0`) };
  }
  if (typeof op.path !== 'string' || op.path.length === 0 || Buffer.byteLength(op.path) > ABS_PATH_MAX || op.path.includes('\0')) {
    throw new XsWireError(CALL[op.op] ?? 'xs_batch', errnoOf('EINVAL'), 'EINVAL', `path ${JSON.stringify(op.path)}: 1 to ${ABS_PATH_MAX} bytes without NUL`);
  }
  const p = Buffer.from(`${op.path}\0`);
  let type: number, payload: Buffer;
  switch (op.op) {
    case 'read': type = XS_READ; payload = p; break;
    case 'directory': type = XS_DIRECTORY; payload = p; break;
    case 'getPermissions': type = XS_GET_PERMS; payload = p; break;
    case 'mkdir': type = XS_MKDIR; payload = p; break;
    case 'rm': type = XS_RM; payload = p; break;
    case 'write': type = XS_WRITE; payload = Buffer.concat([p, Buffer.from(op.value)]); break;
    case 'setPermissions':
      if (!Array.isArray(op.perms) || op.perms.length === 0) throw new XsWireError('xs_set_permissions', errnoOf('EINVAL'), 'EINVAL', `${op.path}: no permissions`);
      type = XS_SET_PERMS; payload = Buffer.concat([p, Buffer.from(op.perms.map((x) => `${encodePerm(x)}\0`).join(''))]);
      break;
    default: throw new XsWireError('xs_batch', errnoOf('EINVAL'), 'EINVAL', `unknown operation ${JSON.stringify((op as { op: unknown }).op)}`);
  }
  if (payload.length > PAYLOAD_MAX) throw new XsWireError(CALL[op.op], errnoOf('E2BIG'), 'E2BIG', `${op.path}: ${payload.length} bytes, more than XenStore's ${PAYLOAD_MAX}`);
  return { type, payload };
}

export function header(type: number, reqId: number, txId: number, len: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32LE(type, 0); h.writeUInt32LE(reqId, 4); h.writeUInt32LE(txId, 8); h.writeUInt32LE(len, 12);
  return h;
}

interface Reply { type: number; payload: Buffer }
interface Pending { resolve(r: Reply): void; reject(e: Error): void }

/** Splits a byte stream into whole messages; refuses a header whose length no xenstored sends. */
export class XsDecoder {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer, onMessage: (type: number, reqId: number, txId: number, payload: Buffer) => void): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= HEADER_BYTES) {
      const len = this.buf.readUInt32LE(12);
      if (len > PAYLOAD_MAX) throw new XsWireError('xs_read_reply', errnoOf('EIO'), 'EIO', `xenstored sent a message of ${len} bytes, more than ${PAYLOAD_MAX}`);
      if (this.buf.length < HEADER_BYTES + len) return;
      const type = this.buf.readUInt32LE(0), reqId = this.buf.readUInt32LE(4), txId = this.buf.readUInt32LE(8);
      const payload = this.buf.subarray(HEADER_BYTES, HEADER_BYTES + len);
      this.buf = this.buf.subarray(HEADER_BYTES + len);
      onMessage(type, reqId, txId, payload);
    }
  }
}

/**
 * One connection to xenstored, opened on first use and again after it drops. Requests of several
 * callers may be in flight at once (each has its own req_id); the socket is unref'd while idle so
 * that it never keeps a process alive.
 */
export class XsWire {
  private sock?: net.Socket;
  private connecting?: Promise<net.Socket>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** `socketPath`: xenstored's socket, as xenstored-probe.ts's findXenstoredSocket() finds it. */
  constructor(private readonly socketPath: string) {}

  /**
   * Runs a batch as the addon's xsBatch does: same results, same conflict and failure semantics.
   * `pipelined` (outside a transaction): every request is sent at once and xenstored applies them in
   * order; the first failure is reported, but the requests after it were applied too (for callers
   * that undo the whole batch on failure). Without it, a batch that writes stops at its first failure.
   */
  async xsBatch(ops: XsWireOp[], transaction: boolean, pipelined = false): Promise<XsBatchResult> {
    const reqs = ops.map(encodeOp);
    if (transaction && ops.some((o) => o.op === 'introduce')) throw new XsWireError('xs_introduce_domain', errnoOf('EINVAL'), 'EINVAL', 'a domain is introduced outside a transaction');
    if (!transaction) {
      // Reads are pipelined; a batch that writes stops at its first failure, as the addon's does.
      const readOnly = ops.every((o) => o.op === 'read' || o.op === 'directory' || o.op === 'getPermissions');
      if (readOnly || pipelined) {
        const replies = await Promise.all(reqs.map((r) => this.request(r.type, 0, r.payload)));
        return { committed: true, results: replies.map((r, i) => this.result(ops[i], r)) };
      }
      const results: XsResult[] = [];
      for (let i = 0; i < ops.length; i++) results.push(this.result(ops[i], await this.request(reqs[i].type, 0, reqs[i].payload)));
      return { committed: true, results };
    }
    const start = await this.request(XS_TRANSACTION_START, 0, Buffer.from('\0'));
    if (start.type === XS_ERROR) throw this.error('xs_transaction_start', start.payload);
    const tx = Number(start.payload.toString('latin1').replace(/\0.*$/s, ''));
    if (!Number.isInteger(tx) || tx <= 0 || tx > 0xffffffff) throw new XsWireError('xs_transaction_start', errnoOf('EIO'), 'EIO', `xenstored sent a malformed transaction id ${JSON.stringify(start.payload.toString('latin1'))}`);
    // All of the transaction's requests at once; its end only once they have all been answered.
    const replies = await Promise.all(reqs.map((r) => this.request(r.type, tx, r.payload)));
    const failed = replies.findIndex((r) => r.type === XS_ERROR);
    if (failed >= 0) {
      await this.request(XS_TRANSACTION_END, tx, Buffer.from('F\0')).catch(() => undefined);
      const code = this.code(replies[failed].payload);
      if (code === 'EAGAIN') return { committed: false, results: [] };
      throw this.error(CALL[ops[failed].op], replies[failed].payload, ops[failed].path);
    }
    const results = replies.map((r, i) => this.result(ops[i], r));
    const end = await this.request(XS_TRANSACTION_END, tx, Buffer.from('T\0'));
    if (end.type === XS_ERROR) {
      if (this.code(end.payload) === 'EAGAIN') return { committed: false, results: [] };
      throw this.error('xs_transaction_end', end.payload);
    }
    return { committed: true, results };
  }

  /** Closes the connection; requests in flight fail. */
  close(): void {
    this.sock?.destroy();
  }

  private result(op: XsWireOp, r: Reply): XsResult {
    if (r.type === XS_ERROR) {
      const code = this.code(r.payload);
      if (code === 'ENOENT' && (op.op === 'read' || op.op === 'directory')) return null;
      throw this.error(CALL[op.op], r.payload, op.path);
    }
    switch (op.op) {
      case 'read': return r.payload.toString('utf8');
      case 'directory': return r.payload.toString('utf8').split('\0').filter((x) => x !== '');
      case 'getPermissions': return decodePerms(r.payload.toString('latin1'));
      default: return undefined;
    }
  }

  private code(payload: Buffer): string {
    const s = payload.toString('latin1').replace(/\0.*$/s, '');
    return /^E[A-Z0-9]{1,20}$/.test(s) ? s : 'EIO';
  }

  private error(call: string, payload: Buffer, path?: string): XsWireError {
    const code = this.code(payload);
    return new XsWireError(call, errnoOf(code), code, path);
  }

  private async request(type: number, tx: number, payload: Buffer): Promise<Reply> {
    const sock = await this.connect();
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) sock.ref();
      sock.write(Buffer.concat([header(type, id, tx, payload.length), payload]));
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ path: this.socketPath });
      const decoder = new XsDecoder();
      const fail = (err: Error) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      };
      s.once('connect', () => { this.sock = s; this.connecting = undefined; s.unref(); resolve(s); });
      s.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk, (t, reqId, _tx, payload) => {
            if (t === XS_WATCH_EVENT) return; // no watches on this connection; ignore strays
            const p = this.pending.get(reqId);
            if (!p) return;
            this.pending.delete(reqId);
            if (this.pending.size === 0) s.unref();
            p.resolve({ type: t, payload: Buffer.from(payload) });
          });
        } catch (err) {
          s.destroy(err as Error);
        }
      });
      s.on('error', (err: NodeJS.ErrnoException) => {
        if (this.connecting && this.sock !== s) {
          this.connecting = undefined;
          reject(new XsWireError('xs_open', errnoOf(err.code ?? 'EIO'), err.code ?? 'EIO', `${this.socketPath}: ${err.message}`));
        }
        fail(new XsWireError('xs_talkv', errnoOf(err.code ?? 'EIO'), err.code ?? 'EIO', `the connection to xenstored failed: ${err.message}`));
      });
      s.on('close', () => {
        if (this.sock === s) this.sock = undefined;
        fail(new XsWireError('xs_talkv', errnoOf('EPIPE'), 'EPIPE', 'xenstored closed the connection'));
      });
    });
    return this.connecting;
  }
}
