// chaos's way to chaosd: an HTTP/JSON client on the daemon's Unix socket, used when the socket is there (unless --no-daemon).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type http from 'node:http';
import { ChaosError, ERROR_CODES, type ErrorCode } from '../errors.js';

export const DEFAULT_SOCKET = '/run/lightvm/chaosd.sock';

export interface DaemonArgs {
  daemon: boolean;
  'chaosd-socket': string;
}

export class ChaosdClient {
  /** No keep-alive: a short-lived CLI must not be held open by idle connections. */
  private agent: http.Agent | undefined;

  constructor(readonly socket: string) {}

  /** One request; a reply with an error status throws the daemon's ChaosError (its code and sentence). */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    // Loaded here, not at start-up: without chaosd (no socket) a command never needs HTTP. By require:
    // the bundle runs as a vm.Script, where this Node has no import() (scripts/bundle-cli.mjs checks).
    const { Agent, request } = createRequire(import.meta.url)('node:http') as typeof import('node:http');
    this.agent ??= new Agent({ keepAlive: false, maxSockets: 64 });
    const agent = this.agent;
    return new Promise<T>((resolve, reject) => {
      const req = request({
        socketPath: this.socket, method, path, agent,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try { json = JSON.parse(text); } catch { json = undefined; }
          if ((res.statusCode ?? 500) >= 400) {
            const e = (json as { error?: { code?: string; message?: string; key?: string; domid?: number } } | undefined)?.error;
            const code: ErrorCode = e?.code && e.code in ERROR_CODES ? (e.code as ErrorCode) : 'INTERNAL';
            reject(new ChaosError(code, e?.message ?? `chaosd answered ${res.statusCode}: ${text.slice(0, 200)}`, { ...(e?.key ? { key: e.key } : {}), ...(e?.domid !== undefined ? { domid: e.domid } : {}) }));
            return;
          }
          resolve((json ?? text) as T);
        });
        res.on('error', reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EACCES' ? 'permission denied (the socket is for root and its group)' : err.message;
        reject(new ChaosError('UNAVAILABLE', `cannot reach chaosd on ${this.socket}: ${why}`, { cause: err }));
      });
      req.end(payload);
    });
  }

  close(): void { this.agent?.destroy(); }
}

/**
 * The daemon to use, or undefined for the in-process toolstack: none with --no-daemon, none when
 * the socket does not exist, none when it is a file left by a daemon that is gone (connection refused).
 */
export async function daemon(a: DaemonArgs): Promise<ChaosdClient | undefined> {
  if (a.daemon === false) return undefined;
  const sock = a['chaosd-socket'];
  let st: fs.Stats;
  try { st = fs.statSync(sock); } catch { return undefined; }
  if (!st.isSocket()) return undefined;
  const c = new ChaosdClient(sock);
  try {
    await c.request('GET', '/v1/health');
    return c;
  } catch (err) {
    c.close();
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
    if (cause?.code === 'ECONNREFUSED' || cause?.code === 'ENOENT') return undefined;
    throw err;
  }
}
