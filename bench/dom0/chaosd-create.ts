// Runs in dom0: create-to-ready with N guests running for xl, chaos without a daemon and chaosd with shells, side by side; then a batch through chaosd (creates per second). One JSON line per sample.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { run } from './proc.js';

const CONSOLE_DIR = '/var/log/xen/console';
const MARK = 'LIGHTVM-READY';
const TOOLS = ['xl', 'chaos', 'chaosd'] as const;
type Tool = (typeof TOOLS)[number];
const DIST = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

interface Opts { tools: Tool[]; counts: number[]; reps: number; kernel: string; prefix: string; batch: number; high: number; timeoutMs: number }

function parseArgs(argv: string[]): Opts {
  const get = (k: string, d: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 && i + 1 < argv.length ? argv[i + 1] : d; };
  const counts = get('counts', '0,100').split(',').map(Number).sort((a, b) => a - b);
  const o: Opts = {
    tools: get('tools', TOOLS.join(',')).split(',') as Tool[], counts, reps: Number(get('reps', '3')), kernel: get('kernel', ''),
    prefix: get('prefix', 'bcd'), batch: Number(get('batch', '100')), high: Number(get('high', '8')), timeoutMs: 120_000,
  };
  for (const t of o.tools) if (!TOOLS.includes(t)) throw new Error(`unknown tool ${t}: one of ${TOOLS.join(', ')}`);
  if (counts.some((n) => !Number.isInteger(n) || n < 0 || n > 5000)) throw new Error('--counts takes whole numbers from 0 to 5000');
  if (!Number.isInteger(o.reps) || o.reps < 1 || o.reps > 100) throw new Error('--reps takes 1 to 100');
  if (!Number.isInteger(o.batch) || o.batch < 0 || o.batch > 5000) throw new Error('--batch takes 0 to 5000');
  if (!Number.isInteger(o.high) || o.high < 1 || o.high > 1000) throw new Error('--high takes 1 to 1000');
  if (!/^[a-z][a-z0-9]{0,10}$/.test(o.prefix)) throw new Error('--prefix: short, lower case letters and digits');
  if (!fs.existsSync(o.kernel)) throw new Error(`kernel ${o.kernel} does not exist`);
  return o;
}

const emit = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

/** Resolves with the time the ready mark appears in the guest's console log. */
function readyAt(name: string, timeoutMs: number): { promise: Promise<number>; cancel(): void } {
  const file = path.join(CONSOLE_DIR, `guest-${name}.log`);
  let poll: NodeJS.Timeout | undefined, timer: NodeJS.Timeout | undefined, watcher: fs.FSWatcher | undefined;
  const stop = () => { watcher?.close(); clearInterval(poll); clearTimeout(timer); };
  const promise = new Promise<number>((resolve, reject) => {
    const check = () => {
      try { if (fs.readFileSync(file, 'latin1').includes(MARK)) { const t = performance.now(); stop(); resolve(t); } } catch { /* not yet */ }
    };
    watcher = fs.watch(CONSOLE_DIR, (_e, f) => { if (f === path.basename(file)) check(); });
    poll = setInterval(check, 20);
    timer = setTimeout(() => { stop(); reject(new Error(`${name}: no ready mark within ${timeoutMs} ms`)); }, timeoutMs);
    check();
  });
  // Awaited only once the create call returns: a time-out while the call is still running must not be an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, cancel: stop };
}

class Daemon {
  private child: ChildProcess | undefined;
  readonly dir = `/run/lightvm-bench-chaosd-${process.pid}`;
  get sock() { return `${this.dir}/chaosd.sock`; }

  async start(high: number): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    this.child = spawn('node', [`${DIST}/daemon/chaosd.js`, '--socket', this.sock, '--state-dir', `${this.dir}/state`,
      '--pool', `name=b4,memory=4,vcpus=1,low=${Math.max(1, Math.floor(high / 2))},high=${high}`, '--log-level', 'warn', '--log-file', `${this.dir}/chaosd.log`],
    { stdio: 'ignore' });
    await this.untilFull(300_000);
  }

  request<T = any>(method: string, p: string, body?: unknown): Promise<{ status: number; json: T }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.sock, method, path: p, agent: false, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => { try { resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }); } catch (e) { reject(e); } });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Waits until every pool is at its high watermark (the state a request normally finds). */
  async untilFull(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.request<{ level: number; high: number }[]>('GET', '/v1/pools').catch(() => undefined);
      if (r?.status === 200 && r.json.every((p) => p.level >= p.high)) return;
      if (Date.now() > deadline) throw new Error('chaosd\'s pools did not fill');
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

type Ts = import('../../toolstack/domain.js').Toolstack;
let lib: { ts: Ts; cfg: (name: string) => import('../../toolstack/config/domain-config.js').DomainConfig } | undefined;
async function library(o: Opts) {
  if (!lib) {
    const [{ openToolstack }, { pino }, { parseJsonConfig }] = await Promise.all([import('../../toolstack/index.js'), import('pino'), import('../../toolstack/config/index.js')]);
    const ts = openToolstack({ stateDir: '/var/lib/lightvm-bench', log: pino({ level: 'warn' }, pino.destination(2)) }).ts;
    lib = { ts, cfg: (name) => parseJsonConfig(JSON.stringify({ name, type: 'pv', kernel: o.kernel, memory: 4, vcpus: 1 }), name) };
  }
  return lib;
}

async function create(o: Opts, d: Daemon, tool: Tool, name: string): Promise<{ callMs: number; readyMs: number; fromPool?: boolean; phases?: Record<string, number> }> {
  fs.rmSync(path.join(CONSOLE_DIR, `guest-${name}.log`), { force: true });
  const l = tool === 'chaos' ? await library(o) : undefined;
  let cfgFile = '';
  if (tool === 'xl') { cfgFile = `/tmp/${name}.cfg`; fs.writeFileSync(cfgFile, `name="${name}"\ntype="pv"\nkernel="${o.kernel}"\nmemory=4\nvcpus=1\n`); }
  const ready = readyAt(name, o.timeoutMs);
  const t0 = performance.now();
  let fromPool: boolean | undefined;
  let phases: Record<string, number> | undefined;
  try {
    if (tool === 'xl') {
      let r = await run('xl', ['create', '-q', cfgFile]);
      // Under load libxl gives up waiting for xenconsoled's console tty (its own 10 s timeout) though the
      // guest was made: destroyed and made again, timed from the first attempt (the time xl took is counted).
      if (r.code !== 0 && /console tty: timed out/.test(r.out)) {
        emit({ kind: 'progress', message: `xl create ${name}: libxl timed out waiting for the console tty; destroyed and tried again (the time counts from the first attempt)` });
        await run('xl', ['destroy', name]);
        r = await run('xl', ['create', '-q', cfgFile]);
      }
      if (r.code !== 0) throw new Error(`xl create ${name}: ${r.out.trim()}`);
    }
    else if (tool === 'chaos') await l!.ts.create(l!.cfg(name));
    else {
      const r = await d.request('POST', '/v1/domains', { config: { name, type: 'pv', kernel: o.kernel, memory: 4, vcpus: 1 } });
      if (r.status !== 201) throw new Error(`chaosd create ${name}: ${JSON.stringify(r.json)}`);
      fromPool = r.json.fromPool !== null;
      phases = r.json.phases;
    }
  } catch (err) { ready.cancel(); throw err; }
  const tCall = performance.now();
  return { callMs: tCall - t0, readyMs: (await ready.promise) - t0, fromPool, phases };
}

async function destroy(d: Daemon, tool: Tool, name: string): Promise<void> {
  if (tool === 'chaosd') { const r = await d.request('DELETE', `/v1/domains/${name}`); if (r.status !== 200) throw new Error(`chaosd destroy ${name}: ${JSON.stringify(r.json)}`); return; }
  if (tool === 'chaos') { await (await library({} as Opts)).ts.destroy(name); return; }
  const r = await run('xl', ['destroy', name]);
  if (r.code !== 0) throw new Error(`xl destroy ${name}: ${r.out.trim()}`);
}

/** Runs `fn` over 0..n-1 with `k` in flight. */
async function pool(n: number, k: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(k, n) }, async () => { for (let i = next++; i < n; i = next++) await fn(i); }));
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const d = new Daemon();
  const bg: string[] = [];
  const cleanup = async () => {
    await pool(bg.length, 4, async (i) => { await d.request('DELETE', `/v1/domains/${bg[i]}`).catch(() => undefined); });
    await d.stop().catch(() => undefined);
  };
  process.on('SIGTERM', () => { void cleanup().then(() => process.exit(143)); });
  try {
    await d.start(o.high);
    emit({ kind: 'progress', message: `chaosd up, pool of ${o.high} shells full` });
    for (const n of o.counts) {
      // Background guests through chaosd, 4 at a time (the quickest way there); they stay running.
      const t0 = performance.now();
      const want = n - bg.length;
      const names = Array.from({ length: Math.max(0, want) }, (_, i) => `${o.prefix}-bg-${bg.length + i}`);
      await pool(names.length, 4, async (i) => {
        const r = await d.request('POST', '/v1/domains', { config: { name: names[i], type: 'pv', kernel: o.kernel, memory: 4, vcpus: 1 } });
        if (r.status !== 201) throw new Error(`background guest ${names[i]}: ${JSON.stringify(r.json)}`);
      });
      bg.push(...names);
      emit({ kind: 'progress', message: `${n} guests running (${((performance.now() - t0) / 1000).toFixed(0)} s)` });
      for (let rep = 0; rep < o.reps; rep++) {
        for (const tool of o.tools) {
          if (tool === 'chaosd') await d.untilFull(120_000);
          const name = `${o.prefix}-m-${tool}-${n}-${rep}`;
          const t = await create(o, d, tool, name);
          emit({ kind: 'sample', tool, metric: 'create-to-ready', running: n, rep, value: t.readyMs, ...(t.fromPool !== undefined ? { fromPool: t.fromPool } : {}) });
          emit({ kind: 'sample', tool, metric: 'create-call', running: n, rep, value: t.callMs });
          // Where chaosd says the time went (its reply's phases: checks, queue, journal, worker round trip, build steps, XenStore, introduce, unpause).
          for (const [phase, ms] of Object.entries(t.phases ?? {})) emit({ kind: 'sample', tool, metric: 'create-phase', running: n, rep, value: ms, phase });
          await destroy(d, tool, name);
        }
      }
    }
    await cleanup();
    bg.length = 0;
    if (o.batch > 0) {
      // A batch from a fresh daemon with full pools, N = 0: creates per second through the API.
      await d.start(o.high);
      emit({ kind: 'progress', message: `batch of ${o.batch} through chaosd` });
      const t0 = performance.now();
      const r = await d.request('POST', '/v1/domains/batch', { config: { name: `${o.prefix}-b`, type: 'pv', kernel: o.kernel, memory: 4, vcpus: 1 }, count: o.batch });
      const sec = (performance.now() - t0) / 1000;
      const created = (r.json.created ?? []) as { name: string }[];
      bg.push(...created.map((c) => c.name));
      if (r.status !== 200 || created.length !== o.batch) throw new Error(`batch: ${created.length} of ${o.batch} created: ${JSON.stringify(r.json.failed?.[0] ?? r.json)}`);
      emit({ kind: 'sample', tool: 'chaosd', metric: 'batch-creates-per-second', running: 0, rep: 0, value: o.batch / sec, batch: o.batch });
    }
  } finally {
    await cleanup();
  }
}

main().catch((err: Error) => { process.stderr.write(`chaosd-create: ${err.message}\n`); process.exitCode = 1; });
