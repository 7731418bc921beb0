// chaosd's REST API over HTTP/JSON (node:http): routes, body limits, bearer tokens for TCP, and ChaosError codes mapped to HTTP statuses.
import http from 'node:http';
import crypto from 'node:crypto';
import { ChaosError, type ErrorCode } from '../toolstack/errors.js';
import type { Log } from '../toolstack/log.js';
import type { Chaosd } from './service.js';
import { parseBatch, parseBody, parseCreate, parseEmpty, parseMigrate, parseRestore, parseSave, parseShutdown } from './requests.js';

/** The status each error code answers with: the client's mistakes are 4xx, the host's and Xen's failures 5xx. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  CONFIG_NOT_FOUND: 400, CONFIG_SYNTAX: 400, CONFIG_UNKNOWN_KEY: 400, CONFIG_INVALID: 400, KERNEL_INVALID: 400,
  REQUEST_INVALID: 400, SAVE_INVALID: 400, NOT_SUPPORTED: 400,
  DOMAIN_NOT_FOUND: 404, NAME_IN_USE: 409, GUEST_STATE: 409, NO_MEMORY: 422,
  UNAVAILABLE: 503, TIMEOUT: 504, MIGRATION: 502,
  DEVICE: 500, XENSTORE: 500, XEN_CALL: 500, NATIVE_UNAVAILABLE: 500, INTERNAL: 500,
};

export interface ApiOptions {
  /** Largest request body taken, bytes. */
  maxBodyBytes: number;
  /** When set, every request must carry `Authorization: Bearer <token>` (the TCP listener). */
  token?: string;
  /** The dev_method of a config that does not say (chaosd's --dev-method; default xenstore). */
  devMethod?: 'xenstore' | 'noxs';
}

type Handler = (m: RegExpExecArray, body: Record<string, unknown>, url: URL) => Promise<{ status?: number; json?: unknown; text?: string }>;

interface Route { method: string; re: RegExp; handler: Handler }

class HttpError extends ChaosError {
  constructor(readonly status: number, message: string) { super('REQUEST_INVALID', message); }
}

function routes(d: Chaosd, devMethod?: 'xenstore' | 'noxs'): Route[] {
  const ref = (m: RegExpExecArray) => decodeURIComponent(m[1]);
  const r = (method: string, path: string, handler: Handler): Route => ({ method, re: new RegExp(`^${path}$`), handler });
  const DOM = '/v1/domains/([^/]+)';
  return [
    r('GET', '/v1/health', async () => ({ json: await d.health() })),
    r('GET', '/v1/metrics', async () => ({ text: await d.metricsText() })),
    r('GET', '/v1/pools', async () => ({ json: d.poolLevels() })),
    r('GET', '/v1/domains', async () => ({ json: await d.list() })),
    r('POST', '/v1/domains', async (_m, b) => {
      const q = parseCreate(b, devMethod);
      return { status: 201, json: await d.create(q.config, { paused: q.paused }) };
    }),
    r('POST', '/v1/domains/batch', async (_m, b) => {
      const q = parseBatch(b, devMethod);
      return { json: await d.batch(q.configs, { paused: q.paused }) };
    }),
    r('POST', '/v1/restore', async (_m, b) => ({ status: 201, json: await d.restore(parseRestore(b)) })),
    r('GET', DOM, async (m) => ({ json: await d.get(ref(m)) })),
    r('DELETE', DOM, async (m, b) => { parseEmpty(b, 'destroy'); return { json: await d.destroy(ref(m)) }; }),
    r('POST', `${DOM}/pause`, async (m, b) => { parseEmpty(b, 'pause'); return { json: await d.pause(ref(m)) }; }),
    r('POST', `${DOM}/unpause`, async (m, b) => { parseEmpty(b, 'unpause'); return { json: await d.unpause(ref(m)) }; }),
    r('POST', `${DOM}/shutdown`, async (m, b) => ({ json: await d.shutdown(ref(m), parseShutdown(b)) })),
    r('POST', `${DOM}/save`, async (m, b) => ({ json: await d.save(ref(m), parseSave(b)) })),
    r('POST', `${DOM}/migrate`, async (m, b) => ({ json: await d.migrate(ref(m), parseMigrate(b)) })),
  ];
}

/** Reads the body, refusing one larger than `max` (413) without reading the rest. */
function readBody(req: http.IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) { reject(new HttpError(413, `the request body is ${declared} bytes; chaosd takes at most ${max}`)); return; }
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) { req.pause(); reject(new HttpError(413, `the request body is larger than ${max} bytes, the most chaosd takes`)); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function authorized(req: http.IncomingMessage, token: string): boolean {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const a = crypto.createHash('sha256').update(m[1]).digest();
  const b = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(a, b);
}

/** The request handler; each request gets a child logger with its method, path and an id. */
export function apiHandler(d: Chaosd, log: Log, o: ApiOptions): http.RequestListener {
  const table = routes(d, o.devMethod);
  let seq = 0;
  // pino says whether a level is on; a logger that cannot say is asked every line.
  const levels = log as Log & { isLevelEnabled?: (level: string) => boolean };
  const enabled = (level: string) => levels.isLevelEnabled?.(level) ?? true;
  return (req, res) => {
    const t0 = performance.now();
    // The request's logger is made when a line is written, not for every request: a pino child
    // costs up to a millisecond in the lab's emulated dom0, and at the usual levels a create writes none.
    const id = ++seq;
    let child: Log | undefined;
    const rlog = () => (child ??= log.child({ req: id, method: req.method, path: req.url }));
    const send = (status: number, body: unknown, text?: string) => {
      const payload = text ?? JSON.stringify(body) + '\n';
      res.writeHead(status, {
        'content-type': text !== undefined ? 'text/plain; version=0.0.4' : 'application/json',
        'content-length': Buffer.byteLength(payload),
        ...(status === 413 ? { connection: 'close' } : {}),
      });
      res.end(payload);
      if (enabled('debug')) rlog().debug({ status, ms: performance.now() - t0 }, 'request done');
    };
    const fail = (err: unknown) => {
      const e = err instanceof ChaosError ? err : new ChaosError('INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
      const status = err instanceof HttpError ? err.status : HTTP_STATUS[e.code] ?? 500;
      if (status >= 500) rlog().error({ code: e.code, err: e.message, stack: (err as Error)?.stack }, 'request failed');
      else rlog().info({ code: e.code, err: e.message, status }, 'request refused');
      send(status, { error: { code: e.code, message: e.message, ...(e.key ? { key: e.key } : {}), ...(e.domid !== undefined ? { domid: e.domid } : {}) } });
    };
    void (async () => {
      try {
        if (o.token !== undefined && !authorized(req, o.token)) throw new HttpError(401, 'this listener needs "Authorization: Bearer <token>" with chaosd\'s token');
        const url = new URL(req.url ?? '/', 'http://chaosd');
        const matching = table.filter((r) => r.re.test(url.pathname));
        if (matching.length === 0) throw new HttpError(404, `chaosd has no ${url.pathname}: see docs/chaosd.md`);
        const route = matching.find((r) => r.method === req.method);
        if (!route) throw new HttpError(405, `${url.pathname} takes ${[...new Set(matching.map((r) => r.method))].join(', ')}, not ${req.method}`);
        const body = parseBody(await readBody(req, o.maxBodyBytes));
        const out = await route.handler(route.re.exec(url.pathname)!, body, url);
        send(out.status ?? 200, out.json, out.text);
      } catch (err) {
        fail(err);
      }
    })();
  };
}
