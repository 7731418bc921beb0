// Runs in dom0: create-to-ready with N guests running for xl, chaos in process (over XenStore or noxs) and chaosd with shells (over XenStore or noxs), side by side; then batches through chaosd (creates per second). One JSON line per sample.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { run } from './proc.js';
import { ReadyMarks, MARK } from './ready.js';
import { localImage } from './image.js';
import { untilQuiet } from './quiet.js';

const CONSOLE_DIR = '/var/log/xen/console';
/**
 * xl; chaos / chaos-noxs: the toolstack in this long-running process, devices over XenStore / noxs;
 * chaosd / chaosd-noxs: a request to chaosd, which takes a pre-made shell (over XenStore / noxs).
 */
const TOOLS = ['xl', 'chaos', 'chaos-noxs', 'chaosd', 'chaosd-noxs'] as const;
type Tool = (typeof TOOLS)[number];
type Method = 'xenstore' | 'noxs';
const DIST = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const STATE_DIR = '/var/lib/lightvm-bench';
const methodOf = (t: Tool): Method => (t.endsWith('-noxs') ? 'noxs' : 'xenstore');

interface Opts { tools: Tool[]; counts: number[]; reps: number; warmup: number; kernel: string; prefix: string; batch: number; high: number; background: Method; timeoutMs: number }

function parseArgs(argv: string[]): Opts {
  const get = (k: string, d: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 && i + 1 < argv.length ? argv[i + 1] : d; };
  const counts = get('counts', '0,100').split(',').map(Number).sort((a, b) => a - b);
  const o: Opts = {
    tools: get('tools', TOOLS.join(',')).split(',') as Tool[], counts, reps: Number(get('reps', '3')), warmup: Number(get('warmup', '0')), kernel: get('kernel', ''),
    prefix: get('prefix', 'bcd'), batch: Number(get('batch', '100')), high: Number(get('high', '8')), background: get('background', 'xenstore') as Method, timeoutMs: 120_000,
  };
  for (const t of o.tools) if (!TOOLS.includes(t)) throw new Error(`unknown tool ${t}: one of ${TOOLS.join(', ')}`);
  if (counts.some((n) => !Number.isInteger(n) || n < 0 || n > 5000)) throw new Error('--counts takes whole numbers from 0 to 5000');
  if (!Number.isInteger(o.reps) || o.reps < 1 || o.reps > 100) throw new Error('--reps takes 1 to 100');
  if (!Number.isInteger(o.warmup) || o.warmup < 0 || o.warmup > 100) throw new Error('--warmup takes 0 to 100');
  if (!Number.isInteger(o.batch) || o.batch < 0 || o.batch > 5000) throw new Error('--batch takes 0 to 5000');
  if (!Number.isInteger(o.high) || o.high < 1 || o.high > 1000) throw new Error('--high takes 1 to 1000');
  if (o.background !== 'xenstore' && o.background !== 'noxs') throw new Error('--background is xenstore or noxs');
  if (!/^[a-z][a-z0-9]{0,10}$/.test(o.prefix)) throw new Error('--prefix: short, lower case letters and digits');
  if (!fs.existsSync(o.kernel)) throw new Error(`kernel ${o.kernel} does not exist`);
  o.kernel = localImage(o.kernel);
  return o;
}

/** Set when stdout fails (its reader went away): the next line throws, and the run stops through its cleanup. */
let outputLost: Error | undefined;
// Without a handler the EPIPE would end the process at once and leave chaosd, its shells and the guests behind.
process.stdout.on('error', (err: Error) => { outputLost ??= err; });
const emit = (o: object) => {
  if (outputLost) throw new Error(`stdout failed (${outputLost.message}): stopping`);
  process.stdout.write(JSON.stringify(o) + '\n');
};
const progress = (message: string) => emit({ kind: 'progress', message });

/**
 * One chaosd, with one pool of noop-sized shells, over one device method. Its client keeps its
 * connection between requests, as a long-running client of the API (a service that boots a VM per
 * request) does: a measured create is one request on an open connection.
 */
class Daemon {
  private child: ChildProcess | undefined;
  private readonly agent = new http.Agent({ keepAlive: true });
  readonly dir: string;
  constructor(readonly method: Method) { this.dir = `/run/lightvm-bench-chaosd-${process.pid}-${method}`; }
  get sock() { return `${this.dir}/chaosd.sock`; }
  get stateDir() { return `${this.dir}/state`; }
  get running() { return this.child !== undefined && this.child.exitCode === null; }

  async start(high: number): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    this.child = spawn('node', [`${DIST}/daemon/chaosd.js`, '--socket', this.sock, '--state-dir', this.stateDir, '--dev-method', this.method,
      '--pool', `name=b4,memory=4,vcpus=1,low=${Math.max(1, Math.floor(high / 2))},high=${high}`, '--log-level', 'warn', '--log-file', `${this.dir}/chaosd.log`],
    { stdio: 'ignore' });
    await this.untilFull(300_000);
  }

  request<T = any>(method: string, p: string, body?: unknown): Promise<{ status: number; json: T }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.sock, method, path: p, agent: this.agent, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => { try { resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }); } catch (e) { reject(e); } });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Waits until every pool is at its high watermark (the state a request normally finds, and a quiet host for the others). */
  async untilFull(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child && this.child.exitCode !== null) throw new Error(`chaosd (${this.method}) exited with ${this.child.exitCode}: see ${this.dir}/chaosd.log`);
      const r = await this.request<{ level: number; high: number }[]>('GET', '/v1/pools').catch(() => undefined);
      if (r?.status === 200 && r.json.every((p) => p.level >= p.high)) return;
      if (Date.now() > deadline) throw new Error(`chaosd's (${this.method}) pools did not fill`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.agent.destroy();
    this.child!.kill('SIGTERM');
    await exited;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

type Ts = import('../../toolstack/domain.js').Toolstack;
type Cfg = import('../../toolstack/config/domain-config.js').DomainConfig;
let lib: { ts: Ts; names: import('../../daemon/names.js').NameIndex; cfg: (name: string, method: Method) => Cfg } | undefined;
async function library(o: Opts) {
  if (!lib) {
    const [{ openToolstack }, { pino }, { parseJsonConfig }, { NameIndex }] = await Promise.all([
      import('../../toolstack/index.js'), import('pino'), import('../../toolstack/config/index.js'), import('../../daemon/names.js'),
    ]);
    const log = pino({ level: 'warn' }, pino.destination(2));
    const ts = openToolstack({ stateDir: STATE_DIR, log }).ts;
    // A long-running process keeps the names in use as chaosd does (a XenStore watch), not a read per domain per create.
    const names = new NameIndex(ts, log);
    await names.start();
    lib = { ts, names, cfg: (name, method) => parseJsonConfig(JSON.stringify({ name, type: 'pv', kernel: o.kernel, memory: 4, vcpus: 1, dev_method: method }), name) };
  }
  return lib;
}

const daemonConfig = (o: Opts, name: string) => ({ name, type: 'pv', kernel: o.kernel, memory: 4, vcpus: 1 });

interface Result { callMs: number; readyMs: number; fromPool?: boolean; phases?: Record<string, number> }

async function create(o: Opts, marks: ReadyMarks, daemons: Map<Method, Daemon>, tool: Tool, name: string): Promise<Result> {
  const l = tool === 'chaos' || tool === 'chaos-noxs' ? await library(o) : undefined;
  let cfgFile = '';
  if (tool === 'xl') { cfgFile = `/tmp/${name}.cfg`; fs.writeFileSync(cfgFile, `name="${name}"\ntype="pv"\nkernel="${o.kernel}"\nmemory=4\nvcpus=1\n`); }
  let ready = marks.watch(name, tool === 'xl' ? await marks.domids() : undefined, o.timeoutMs);
  const t0 = performance.now();
  let fromPool: boolean | undefined;
  let phases: Record<string, number> | undefined;
  try {
    if (tool === 'xl') {
      let r = await run('xl', ['create', '-q', cfgFile]);
      // Under load libxl gives up waiting for xenconsoled's console tty (its own 10 s timeout) though the
      // guest was made: destroyed and made again, timed from the first attempt (the time xl took is counted).
      if (r.code !== 0 && /console tty: timed out/.test(r.out)) {
        progress(`xl create ${name}: libxl timed out waiting for the console tty; destroyed and tried again (the time counts from the first attempt)`);
        await run('xl', ['destroy', name]);
        // A new watch: the old one may have found the first attempt's domain, now destroyed.
        ready.cancel();
        ready = marks.watch(name, await marks.domids(), o.timeoutMs);
        r = await run('xl', ['create', '-q', cfgFile]);
      }
      if (r.code !== 0) throw new Error(`xl create ${name}: ${r.out.trim()}`);
      ready.returned();
    } else if (l) {
      const rec = await l.ts.create(l.cfg(name, methodOf(tool)), { taken: l.names.snapshot() });
      l.names.set(rec.domid, rec.uuid, rec.name);
      ready.found(rec.domid);
    } else {
      const r = await daemons.get(methodOf(tool))!.request('POST', '/v1/domains', { config: daemonConfig(o, name) });
      if (r.status !== 201) throw new Error(`${tool} create ${name}: ${JSON.stringify(r.json)}`);
      ready.found(r.json.domid);
      fromPool = r.json.fromPool !== null;
      // chaosd's create from its checks to its reply ('service'); the rest of callMs is HTTP, the request's parse and the reply.
      phases = { ...r.json.phases, service: r.json.ms };
    }
  } catch (err) { ready.cancel(); throw err; }
  const tCall = performance.now();
  return { callMs: tCall - t0, readyMs: (await ready.promise) - t0, fromPool, phases };
}

async function destroy(o: Opts, daemons: Map<Method, Daemon>, tool: Tool, name: string): Promise<void> {
  if (tool === 'chaosd' || tool === 'chaosd-noxs') {
    const r = await daemons.get(methodOf(tool))!.request('DELETE', `/v1/domains/${name}`);
    if (r.status !== 200) throw new Error(`${tool} destroy ${name}: ${JSON.stringify(r.json)}`);
    return;
  }
  if (tool !== 'xl') { await (await library(o)).ts.destroy(name); return; }
  const r = await run('xl', ['destroy', name]);
  if (r.code !== 0) throw new Error(`xl destroy ${name}: ${r.out.trim()}`);
}

/** Runs `fn` over 0..n-1 with `k` in flight. */
async function pool(n: number, k: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(k, n) }, async () => { for (let i = next++; i < n; i = next++) await fn(i); }));
}

/** Waits (bounded) until xenconsoled has logged every background guest's mark, so that measuring starts on a settled host. */
async function consolesSettled(names: readonly string[], limitMs: number): Promise<number> {
  const t0 = performance.now();
  const left = new Set(names);
  while (left.size > 0 && performance.now() - t0 < limitMs) {
    for (const n of left) {
      try { if (fs.readFileSync(path.join(CONSOLE_DIR, `guest-${n}.log`), 'latin1').includes(MARK)) left.delete(n); } catch { /* not yet */ }
    }
    if (left.size > 0) await new Promise((r) => setTimeout(r, 500));
  }
  return left.size;
}

/** A chaosd's directory of this script (its pid in the name) whose run is over: what a killed run left. */
function deadDaemonDirs(): string[] {
  let entries: string[];
  try { entries = fs.readdirSync('/run'); } catch { return []; }
  return entries.flatMap((d) => {
    const m = /^lightvm-bench-chaosd-(\d+)-(?:xenstore|noxs)$/.exec(d);
    if (!m || Number(m[1]) === process.pid) return [];
    try { process.kill(Number(m[1]), 0); return []; } catch { return [`/run/${d}`]; }
  });
}

/**
 * Destroys every domain whose name starts with the prefix (what an interrupted run left): those xl
 * lists by name, and noxs guests, which have no name in XenStore, by the toolstack's records (this
 * script's state directory and those of its chaosds whose run died). Through the toolstack, so their
 * noxs devices go too.
 */
async function sweep(prefix: string): Promise<void> {
  const r = await run('xl', ['list']);
  const names = r.out.split('\n').slice(1).map((l) => l.split(/\s+/)[0]).filter((n) => n && n.startsWith(`${prefix}-`));
  await pool(names.length, 4, async (i) => { await run('xl', ['destroy', names[i]]); });
  const dead = deadDaemonDirs();
  const dirs = [STATE_DIR, ...dead.map((d) => `${d}/state`)].filter((d) => fs.existsSync(`${d}/domains`));
  if (dirs.length > 0) {
    const [{ openToolstack }, { DomainStore }, { pino }] = await Promise.all([import('../../toolstack/index.js'), import('../../toolstack/store.js'), import('pino')]);
    const log = pino({ level: 'silent' });
    for (const dir of dirs) {
      const store = new DomainStore(dir);
      const left = store.all().filter((rec) => rec.name.startsWith(`${prefix}-`));
      if (left.length === 0) continue;
      const ts = openToolstack({ stateDir: dir, log }).ts;
      const live = new Map((await ts.allInfo()).map((i) => [i.domid, i.handle]));
      for (const rec of left) {
        // Only the domain the record is of (ids are reused); a record of a domain gone is just removed.
        if (live.get(rec.domid) === rec.uuid) await ts.destroy(rec.domid).catch((err: Error) => progress(`sweep: ${rec.name} (domain ${rec.domid}): ${err.message}`));
        else store.remove(rec.domid);
      }
    }
  }
  for (const d of dead) fs.rmSync(d, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const daemons = new Map<Method, Daemon>();
  for (const t of o.tools) if (t.startsWith('chaosd')) daemons.set(methodOf(t), daemons.get(methodOf(t)) ?? new Daemon(methodOf(t)));
  // The background guests come from chaosd over the background method (the quickest way there).
  if (!daemons.has(o.background)) daemons.set(o.background, new Daemon(o.background));
  const marks = new ReadyMarks([STATE_DIR, ...[...daemons.values()].map((d) => d.stateDir)]);
  const bgd = daemons.get(o.background)!;
  const bg: string[] = [];
  let failures = 0;
  const cleanup = async () => {
    for (let i = 0; i < bg.length; i += 50) {
      const part = bg.slice(i, i + 50);
      await pool(part.length, 4, async (j) => { await bgd.request('DELETE', `/v1/domains/${part[j]}`).catch(() => undefined); });
    }
    bg.length = 0;
    for (const d of daemons.values()) await d.stop().catch(() => undefined);
    await sweep(o.prefix).catch(() => undefined);
  };
  process.on('SIGTERM', () => { void cleanup().then(() => process.exit(143)); });
  try {
    await sweep(o.prefix);
    // Side by side: nothing is measured yet, and the lab's slow node starts overlap.
    await Promise.all([...daemons.values()].map((d) => d.start(o.high)));
    progress(`chaosd up (${[...daemons.keys()].join(', ')}), pools of ${o.high} shells full`);
    // Unmeasured creates first, by every tool alike: a long-running tool (chaosd, the toolstack in
    // this process) serves its first requests with code V8 has not compiled yet, and the samples are
    // of the tool as it runs for a while; for xl they bring its binaries and libraries into the page cache.
    for (let w = 0; w < o.warmup; w++) {
      for (const tool of o.tools) {
        for (const d of daemons.values()) await d.untilFull(120_000);
        const name = `${o.prefix}-w-${tool.replace('chaosd', 'cd').replace('-noxs', 'x')}-${w}`;
        try {
          await create(o, marks, daemons, tool, name);
          await destroy(o, daemons, tool, name);
        } catch (err) {
          failures++;
          progress(`warm-up ${tool} ${w + 1}: ${(err as Error).message}`);
          await run('xl', ['destroy', name]).catch(() => undefined);
        }
      }
    }
    if (o.warmup > 0) progress(`${o.warmup} unmeasured create(s) per tool done`);
    for (const n of o.counts) {
      const t0 = performance.now();
      const names = Array.from({ length: Math.max(0, n - bg.length) }, (_, i) => `${o.prefix}-bg-${bg.length + i}`);
      for (let i = 0; i < names.length; i += 50) {
        const part = names.slice(i, i + 50);
        const r = await bgd.request('POST', '/v1/domains/batch', { configs: part.map((x) => daemonConfig(o, x)) });
        const made = ((r.json?.created ?? []) as { name: string }[]).map((c) => c.name);
        bg.push(...made);
        if (made.length !== part.length) throw new Error(`background guests: ${made.length} of ${part.length} made: ${JSON.stringify(r.json?.failed?.[0] ?? r.json)}`);
        progress(`${bg.length}/${n} background guests`);
      }
      const made = (performance.now() - t0) / 1000;
      const behind = o.background === 'xenstore' ? await consolesSettled(bg, Math.max(60_000, n * 300)) : 0;
      progress(`${n} guests running (made in ${made.toFixed(0)} s by chaosd over ${o.background}${behind ? `; xenconsoled still had not logged ${behind} of them` : ''})`);
      for (let rep = 0; rep < o.reps; rep++) {
        // Tools take turns within each repetition, so drift in the lab hits all of them alike.
        for (const tool of o.tools) {
          for (const d of daemons.values()) await d.untilFull(120_000);
          // And dom0 idle: the last destroy's aftermath (xenconsoled and xenstored rescan every domain
          // when one goes) and the refills are not charged to the next tool's create.
          const q = await untilQuiet();
          if (!q.quiet) progress(`dom0 was still busy after ${(q.waitedMs / 1000).toFixed(0)} s of waiting; ${tool} N=${n} rep ${rep + 1} is measured anyway`);
          const name = `${o.prefix}-m-${tool.replace('chaosd', 'cd').replace('-noxs', 'x')}-${n}-${rep}`;
          let t: Result;
          try {
            t = await create(o, marks, daemons, tool, name);
          } catch (err) {
            // One failed create loses one sample, not the run: said, counted, cleaned up.
            failures++;
            progress(`${tool} N=${n} rep ${rep + 1}: ${(err as Error).message}`);
            await run('xl', ['destroy', name]).catch(() => undefined);
            continue;
          }
          emit({ kind: 'sample', tool, metric: 'create-to-ready', running: n, rep, value: t.readyMs, ...(t.fromPool !== undefined ? { fromPool: t.fromPool } : {}) });
          emit({ kind: 'sample', tool, metric: 'create-call', running: n, rep, value: t.callMs });
          // Where chaosd says the time went (its reply's phases: checks, queue, journal, worker round trip, build steps, XenStore, introduce, unpause).
          for (const [phase, ms] of Object.entries(t.phases ?? {})) emit({ kind: 'sample', tool, metric: 'create-phase', running: n, rep, value: ms, phase });
          await destroy(o, daemons, tool, name);
        }
      }
    }
    await cleanup();
    if (o.batch > 0) {
      // A batch from a fresh daemon with full pools, N = 0: creates per second through the API, per device method measured.
      for (const d of [...daemons.values()].filter((x) => o.tools.includes(x.method === 'noxs' ? 'chaosd-noxs' : 'chaosd'))) {
        const tool = d.method === 'noxs' ? 'chaosd-noxs' : 'chaosd';
        await d.start(o.high);
        progress(`batch of ${o.batch} through ${tool}`);
        const t0 = performance.now();
        const r = await d.request('POST', '/v1/domains/batch', { config: daemonConfig(o, `${o.prefix}-b`), count: o.batch });
        const sec = (performance.now() - t0) / 1000;
        const created = (r.json.created ?? []) as { name: string }[];
        await pool(created.length, 4, async (i) => { await d.request('DELETE', `/v1/domains/${created[i].name}`).catch(() => undefined); });
        if (r.status !== 200 || created.length !== o.batch) {
          failures++;
          progress(`${tool} batch: ${created.length} of ${o.batch} created: ${JSON.stringify(r.json.failed?.[0] ?? r.json)}`);
        } else {
          emit({ kind: 'sample', tool, metric: 'batch-creates-per-second', running: 0, rep: 0, value: o.batch / sec, batch: o.batch });
        }
        await d.stop();
      }
    }
  } finally {
    await cleanup();
    marks.close();
  }
  if (failures > 0) throw new Error(`${failures} create(s) failed (said above); the samples of the others are kept`);
}

main().catch((err: Error) => { process.stderr.write(`chaosd-create: ${err.message}\n`); process.exitCode = 1; });
