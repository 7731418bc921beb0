// Shared by chaosd's lab tests: a chaosd of the test's own in dom0 (private directory, socket, token) and its REST API over the lab's forwarded TCP port.
import crypto from 'node:crypto';
import http from 'node:http';
import type { Lab } from '../../lab/lab.js';
import { DOM0_PORTS } from '../../lab/config.js';
import { PROJECT } from './fixture.js';

export interface Reply { status: number; json: any }

/**
 * One request to chaosd's API over the lab's forwarded TCP port (host 127.0.0.1:<api> -> dom0:8080)
 * with a bearer token; `payload` is sent as it is (tests send malformed JSON too). The reply's body
 * is parsed as JSON when it is JSON (metrics are text).
 */
export function apiRequest(lab: Lab, token: string, method: string, p: string, payload?: string, timeoutMs = 600_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: lab.state()!.ports.api, method, path: p, agent: false, timeout: timeoutMs,
      headers: { authorization: `Bearer ${token}`, ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown = text;
        try { json = JSON.parse(text); } catch { /* metrics are text */ }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.end(payload);
  });
}

/** One chaosd of a test: everything under a private directory in dom0 (/run is shared between agent commands). */
export class TestChaosd {
  readonly id = `${process.pid.toString(36)}${crypto.randomBytes(2).toString('hex')}`;
  readonly dir: string;
  readonly token = crypto.randomBytes(24).toString('hex');

  constructor(private readonly lab: Lab, what: string) {
    this.dir = `/run/lightvm-${what}-${this.id}`;
  }

  get sock(): string { return `${this.dir}/chaosd.sock`; }

  /** One API request over the lab's forwarded TCP port (host 127.0.0.1:<api> -> dom0:8080), with the token. */
  api(method: string, p: string, body?: unknown, timeoutMs = 600_000): Promise<Reply> {
    return apiRequest(this.lab, this.token, method, p, body === undefined ? undefined : JSON.stringify(body), timeoutMs);
  }

  /** Starts chaosd in the background of dom0 (its pid in <dir>/pid) and waits until it answers (a loaded lab's node start can take minutes). */
  async start(extra: string[] = [], timeoutSec = 300): Promise<void> {
    const args = [`${PROJECT}/dist/daemon/chaosd.js`, '--socket', this.sock, '--state-dir', `${this.dir}/state`, ...extra,
      '--tcp-host', '0.0.0.0', '--tcp-port', String(DOM0_PORTS.api), '--token-file', `${this.dir}/token`, '--log-level', 'debug', '--log-file', `${this.dir}/chaosd.log`];
    await this.lab.sh(`mkdir -p ${this.dir} && chmod 755 ${this.dir} && umask 077 && printf %s ${this.token} > ${this.dir}/token && ` +
      `(setsid sh -c 'echo $$ > ${this.dir}/pid; exec node ${args.join(' ')}' </dev/null >>${this.dir}/out 2>&1 &)`);
    await this.waitFor('chaosd answers', async () => (await this.api('GET', '/v1/health').catch(() => undefined))?.json?.state === 'running', timeoutSec);
  }

  async waitFor(what: string, pred: () => Promise<boolean>, timeoutSec: number): Promise<void> {
    const deadline = Date.now() + timeoutSec * 1000;
    while (!(await pred())) {
      if (Date.now() > deadline) {
        const log = await this.lab.run(`tail -n 15 ${this.dir}/chaosd.log ${this.dir}/out`).then((r) => r.stdout.toString()).catch(() => '');
        throw new Error(`${what}: not within ${timeoutSec} s. chaosd's log ends:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** SIGTERM (then SIGKILL after a minute) and the directory removed; for teardowns, never throws. */
  async stop(): Promise<void> {
    await this.lab.run(`p=$(cat ${this.dir}/pid 2>/dev/null) && kill -TERM $p 2>/dev/null; for i in $(seq 60); do kill -0 $p 2>/dev/null || break; sleep 1; done; kill -9 $p 2>/dev/null; true`, { timeoutMs: 120_000 }).catch(() => undefined);
    await this.lab.run(`rm -rf ${this.dir}`).catch(() => undefined);
  }
}
