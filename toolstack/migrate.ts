// Migration between hosts over TCP: the sender streams a domain's config and memory, the receiver rebuilds it; the source runs on unless the target confirms.
//
// The conversation, one JSON object per line except for libxc's stream in step 3:
//   1. sender → {"hello":"lightvm-migrate","version":1,"token":…,"meta":{name,uuid,config,…}}
//   2. receiver → {"ready":true,"domid":N}: it prepared a shell named "<name>--incoming", or {"error":…}
//   3. sender → libxc's save stream (the guest is suspended when libxc asks, live or not)
//   4. receiver → {"restored":true} once libxc rebuilt the domain (still paused), or {"error":…}
//   5. sender destroys the source → {"go":true} (or {"abort":…} if it could not)
//   6. receiver renames the domain to its name, unpauses it → {"done":true,"domid":N}
// Until step 5 the source is intact: any failure before it resumes the source and the receiver
// destroys what it made. Both sides must hold the same token (a file only root can read).
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { ChaosError } from './errors.js';
import type { Log } from './log.js';
import type { Toolstack } from './domain.js';
import type { DevMethod } from './devices/backend.js';
import { configForRestore, metaOf, parseSaveMeta, pipeInto, sameDevMethod, savable } from './save.js';

export const MIGRATE_PORT = 8002;
export const TOKEN_FILE = '/var/lib/lightvm/migrate-token';
/** A control line is a config and a few fields. */
const MAX_LINE_BYTES = 1 << 20;
/** How long a peer may stay silent between steps (the stream itself is not timed: it may be large). */
const STEP_TIMEOUT_MS = 120_000;
const SUSPEND_TIMEOUT_MS = 30_000;

/** Reads the token, making a random one (mode 0600) when the file does not exist yet. */
export function loadToken(file: string, create: boolean): string {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (!/^[A-Za-z0-9_-]{16,256}$/.test(t)) throw new ChaosError('MIGRATION', `the token in ${file} is malformed: it must be 16 to 256 letters, digits, "_" or "-"`);
    return t;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
      if (err instanceof ChaosError) throw err;
      throw new ChaosError('MIGRATION', `cannot read the migration token ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const t = crypto.randomBytes(24).toString('base64url');
  fs.mkdirSync(pathDir(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, t + '\n', { mode: 0o600, flag: 'wx' });
  return t;
}

function pathDir(f: string): string { return f.slice(0, Math.max(f.lastIndexOf('/'), 1)); }

function sameToken(a: unknown, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = crypto.createHash('sha256').update(a).digest(), y = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(x, y);
}

/** A socket read as JSON lines, or handed raw to a sink in between (the save stream). */
class Channel {
  private buf = Buffer.alloc(0);
  private waiter?: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
  private sink?: NodeJS.WritableStream;
  private closed?: Error;

  constructor(readonly sock: net.Socket, private readonly peer: string) {
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (err) => this.close(new ChaosError('MIGRATION', `the connection with ${peer} failed: ${err.message}`, { cause: err })));
    sock.on('close', () => this.close(new ChaosError('MIGRATION', `${peer} closed the connection`)));
  }

  private onData(chunk: Buffer): void {
    if (this.sink) {
      if (!this.sink.write(chunk)) { this.sock.pause(); this.sink.once('drain', () => this.sock.resume()); }
      return;
    }
    this.buf = Buffer.concat([this.buf, chunk]);
    this.pump();
  }

  private pump(): void {
    if (!this.waiter) return;
    const nl = this.buf.indexOf(10);
    if (nl < 0) {
      if (this.buf.length > MAX_LINE_BYTES) this.fail(new ChaosError('MIGRATION', `${this.peer} sent a line longer than ${MAX_LINE_BYTES} bytes`));
      return;
    }
    const line = this.buf.subarray(0, nl).toString('utf8');
    this.buf = this.buf.subarray(nl + 1);
    let msg: unknown;
    try { msg = JSON.parse(line); } catch { return this.fail(new ChaosError('MIGRATION', `${this.peer} sent something that is not a JSON line`)); }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return this.fail(new ChaosError('MIGRATION', `${this.peer} sent a line that is not a JSON object`));
    const w = this.waiter;
    this.waiter = undefined;
    clearTimeout(w.timer);
    w.resolve(msg as Record<string, unknown>);
  }

  private fail(err: Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) { clearTimeout(w.timer); w.reject(err); }
    this.sock.destroy();
  }

  private close(err: Error): void {
    this.closed ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    if (w) { clearTimeout(w.timer); w.reject(this.closed); }
    if (this.sink) (this.sink as unknown as { destroy?: () => void }).destroy?.();
  }

  /** The next message; a message with "error" becomes a MIGRATION error carrying the peer's words. */
  next(step: string, timeoutMs = STEP_TIMEOUT_MS): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new ChaosError('MIGRATION', `${this.peer} did not answer within ${timeoutMs / 1000} s (waiting for ${step})`)), timeoutMs);
      this.waiter = {
        resolve: (m) => {
          if (typeof m.error === 'string') reject(new ChaosError('MIGRATION', `${this.peer} refused at ${step}: ${m.error.slice(0, 2000)}`));
          else resolve(m);
        },
        reject, timer,
      };
      this.pump();
    });
  }

  send(msg: Record<string, unknown>): void {
    if (!this.sock.destroyed) this.sock.write(JSON.stringify(msg) + '\n');
  }

  /** From now on, received bytes go to `sink` (what was already buffered first). */
  rawTo(sink: NodeJS.WritableStream): void {
    this.sink = sink;
    if (this.buf.length) { sink.write(this.buf); this.buf = Buffer.alloc(0); }
  }

  /** Back to JSON lines. */
  endRaw(): void { this.sink = undefined; }

  /** Nothing received is waiting to be read (so the next bytes on the connection are the peer's next ones). */
  idle(): boolean { return this.buf.length === 0 && !this.sink; }
}

export interface MigrateOptions {
  host: string;
  port?: number;
  token: string;
  /** Pre-copy while the guest runs, then suspend; by default, suspend first (Xen as Debian builds it has no log-dirty mode for PV guests). */
  live?: boolean;
}

export interface MigrateResult { name: string; sourceDomid: number; targetDomid: number; ms: number; downtimeMs?: number }

/** Sends a domain this toolstack made to a receiver; on success the source is destroyed and the domain runs there. */
export async function migrate(ts: Toolstack, log: Log, ref: string | number, o: MigrateOptions): Promise<MigrateResult> {
  const t0 = performance.now();
  const { dom, rec } = await savable(ts, ref);
  const port = o.port ?? MIGRATE_PORT;
  const peer = `${o.host}:${port}`;
  const sock = await connect(o.host, port);
  const ch = new Channel(sock, peer);
  let suspendedAt: number | undefined;
  let sourceGone = false;
  let streaming = false;
  try {
    ch.send({ hello: 'lightvm-migrate', version: 1, token: o.token, meta: metaOf(rec, dom) });
    const ready = await ch.next('the shell for the domain');
    log.debug({ domid: dom.domid, peer, targetDomid: ready.domid }, 'receiver ready');
    streaming = true;
    const direct = socketFd(sock);
    if (direct !== undefined) {
      // libxc writes straight into the connection: nothing else writes to it until the stream ends.
      ({ suspendedAt } = await ts.saveStream(dom, direct, { live: o.live ?? false, suspendTimeoutMs: SUSPEND_TIMEOUT_MS }));
    } else {
      await pipeInto(ts, sock, async (wfd) => ({ suspendedAt } = await ts.saveStream(dom, wfd, { live: o.live ?? false, suspendTimeoutMs: SUSPEND_TIMEOUT_MS })));
    }
    streaming = false;
    await ch.next('the restore');
    // The target holds the whole domain, paused: the source can go.
    await ts.destroy(dom.domid);
    sourceGone = true;
    ch.send({ go: true });
    const done = await ch.next('the start of the domain');
    const end = performance.now();
    return { name: dom.name, sourceDomid: dom.domid, targetDomid: Number(done.domid), ms: end - t0, downtimeMs: suspendedAt === undefined ? undefined : end - suspendedAt };
  } catch (err) {
    if (!sourceGone) {
      // The source may be suspended if the stream broke after libxc asked for it.
      const i = await ts.find(dom.domid).catch(() => undefined);
      if (i?.shutdownReason === 'suspend') {
        await ts.resume(dom.domid).catch((e) => log.error({ domid: dom.domid, err: (e as Error).message }, 'could not resume the source after a failed migration'));
      }
      // In the middle of libxc's stream a message would read as stream data: breaking the connection says it.
      if (streaming) sock.destroy();
      else ch.send({ abort: (err as Error).message });
    }
    throw err instanceof ChaosError ? err : new ChaosError('MIGRATION', `migrating ${dom.name} to ${peer} failed: ${(err as Error).message}`, { cause: err, domid: dom.domid });
  } finally {
    sock.end();
  }
}

/**
 * The connection's descriptor, when Node exposes it (a TCP socket on Linux does), so that libxc can
 * write the stream itself instead of through a pipe and this thread: a copy that costs about as
 * much as the save. Nothing of Node's is written to the socket meanwhile (the receiver says nothing
 * until the stream ends), and the addon gives the descriptor back with its flags unchanged.
 */
function socketFd(sock: net.Socket): number | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd > 2 && sock.writableLength === 0 ? fd : undefined;
}

/**
 * The connection's descriptor with a way to stop and restart Node's reading of it (Node's own
 * pause() does not stop the kernel reads), when Node exposes them as it does for TCP on Linux.
 */
function pausableReader(sock: net.Socket): { fd: number; stop(): void; start(): void } | undefined {
  const h = (sock as unknown as { _handle?: { fd?: unknown; reading?: boolean; readStop?: () => number; readStart?: () => number } })._handle;
  const fd = h?.fd;
  if (!h || typeof fd !== 'number' || fd <= 2 || typeof h.readStop !== 'function' || typeof h.readStart !== 'function') return undefined;
  let stopped = false;
  return {
    fd,
    stop: () => { if (!stopped && !sock.destroyed) { h.reading = false; h.readStop!(); stopped = true; } },
    start: () => { if (stopped && !sock.destroyed) { h.reading = true; h.readStart!(); stopped = false; } },
  };
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => { s.destroy(); reject(new ChaosError('MIGRATION', `${host}:${port} did not accept a connection within 10 s`)); }, 10_000);
    s.once('connect', () => { clearTimeout(timer); s.setNoDelay(true); resolve(s); });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(new ChaosError('MIGRATION', `cannot reach the migration receiver at ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? err.message} (is \`chaos migrate-receive\` running there?)`, { cause: err }));
    });
  });
}

export interface ReceiveOptions {
  token: string;
  /** Leave incoming domains paused. */
  paused?: boolean;
  /** The device method incoming domains must have been saved with (`--dev-method`); others are refused. */
  devMethod?: DevMethod;
}

/**
 * Takes one incoming domain on an accepted connection. Resolves with what arrived, or rejects
 * after telling the peer why; whatever was made for a failed migration is destroyed.
 */
export async function receiveOne(ts: Toolstack, log: Log, sock: net.Socket, o: ReceiveOptions): Promise<{ name: string; domid: number; ms: number }> {
  const t0 = performance.now();
  const peer = `${sock.remoteAddress ?? '?'}:${sock.remotePort ?? '?'}`;
  sock.setNoDelay(true);
  const ch = new Channel(sock, peer);
  let domid: number | undefined;
  let started = false;
  try {
    const hello = await ch.next('hello', 30_000);
    if (hello.hello !== 'lightvm-migrate' || hello.version !== 1) throw new ChaosError('MIGRATION', `${peer} does not speak lightvm-migrate version 1`);
    if (!sameToken(hello.token, o.token)) throw new ChaosError('MIGRATION', `${peer} did not present the migration token`);
    const meta = parseSaveMeta(JSON.stringify(hello.meta ?? null), `the migration from ${peer}`);
    // A temporary name: on a migration to this same host, the source still holds the real one.
    const incoming = `${meta.name}--incoming`;
    sameDevMethod(meta, o.devMethod, `the migration from ${peer}`);
    const cfg = await configForRestore(ts, meta, incoming);
    const reader = ch.idle() ? pausableReader(sock) : undefined;
    if (reader) {
      // libxc reads the stream straight from the connection: Node stops reading it before the
      // sender is told to start, and starts again once libxc has read the stream's end.
      try {
        const rec = await ts.restoreStream(cfg, reader.fd, {
          paused: true,
          onShell: (id) => { domid = id; reader.stop(); ch.send({ ready: true, domid: id }); },
        });
        domid = rec.domid;
      } finally {
        reader.start();
      }
    } else {
      const [rfd, wfd] = ts.pipe();
      const sink = new net.Socket({ fd: wfd, readable: false, writable: true });
      sink.on('error', () => undefined); // a broken pipe shows up as libxc's read error
      try {
        const rec = await ts.restoreStream(cfg, rfd, {
          paused: true,
          onShell: (id) => { domid = id; ch.send({ ready: true, domid: id }); ch.rawTo(sink); },
        });
        domid = rec.domid;
      } finally {
        ch.endRaw();
        sink.destroy();
        fs.closeSync(rfd);
      }
    }
    ch.send({ restored: true });
    const go = await ch.next('the go-ahead');
    if (go.go !== true) throw new ChaosError('MIGRATION', `${peer} called the migration off${typeof go.abort === 'string' ? `: ${go.abort.slice(0, 500)}` : ''}`);
    await ts.rename(domid, meta.name);
    if (!o.paused) await ts.unpause(domid);
    started = true;
    ch.send({ done: true, domid });
    log.info({ domid, name: meta.name, peer, ms: performance.now() - t0 }, 'domain migrated in');
    return { name: meta.name, domid, ms: performance.now() - t0 };
  } catch (err) {
    ch.send({ error: (err as Error).message, code: (err as ChaosError).code });
    if (domid !== undefined && !started) await ts.destroy(domid).catch(() => undefined);
    throw err;
  } finally {
    sock.end();
  }
}
