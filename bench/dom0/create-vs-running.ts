// Runs in dom0: time from a create call to the guest's ready mark, with N guests already running; prints one JSON line per sample.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

const CONSOLE_DIR = '/var/log/xen/console';
const MARK = 'LIGHTVM-READY';

interface Opts { tool: string; counts: number[]; reps: number; kernel: string; memory: number; prefix: string; timeoutMs: number }

function parseArgs(argv: string[]): Opts {
  const get = (k: string, d?: string) => {
    const i = argv.indexOf(`--${k}`);
    if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
    if (d === undefined) throw new Error(`--${k} is required`);
    return d;
  };
  const counts = get('counts', '0,10').split(',').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 0 || n > 5000)) throw new Error('--counts takes whole numbers from 0 to 5000, comma separated');
  const opts = {
    tool: get('tool', 'xl'), counts: [...counts].sort((a, b) => a - b), reps: Number(get('reps', '5')),
    kernel: get('kernel'), memory: Number(get('memory', '4')), prefix: get('prefix', 'bench'), timeoutMs: Number(get('timeout-ms', '120000')),
  };
  if (opts.tool !== 'xl') throw new Error(`unknown tool ${opts.tool}: only xl exists so far`);
  if (!/^[a-z][a-z0-9-]{0,20}$/.test(opts.prefix)) throw new Error('--prefix must be short, lower case, letters, digits and dashes');
  if (!Number.isInteger(opts.reps) || opts.reps < 1 || opts.reps > 100) throw new Error('--reps takes 1 to 100');
  if (!fs.existsSync(opts.kernel)) throw new Error(`kernel ${opts.kernel} does not exist`);
  return opts;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (b) => { out += b; });
    c.stderr.on('data', (b) => { out += b; });
    c.on('close', (code) => resolve({ code, out }));
    c.on('error', (e) => resolve({ code: -1, out: String(e) }));
  });
}

/** Resolves with the time the ready mark appeared in the guest's console log (inotify, with a 20 ms poll as a safety net). */
function readyAt(name: string, timeoutMs: number): { promise: Promise<number>; cancel(): void } {
  const file = path.join(CONSOLE_DIR, `guest-${name}.log`);
  let watcher: fs.FSWatcher | undefined, poll: NodeJS.Timeout | undefined, timer: NodeJS.Timeout | undefined;
  const stop = () => { watcher?.close(); clearInterval(poll); clearTimeout(timer); };
  const promise = new Promise<number>((resolve, reject) => {
    const check = () => {
      try {
        if (fs.readFileSync(file, 'latin1').includes(MARK)) { const t = performance.now(); stop(); resolve(t); }
      } catch { /* not written yet */ }
    };
    watcher = fs.watch(CONSOLE_DIR, (_ev, f) => { if (f === path.basename(file)) check(); });
    poll = setInterval(check, 20);
    timer = setTimeout(() => { stop(); reject(new Error(`${name}: no ready mark within ${timeoutMs} ms`)); }, timeoutMs);
    check();
  });
  return { promise, cancel: stop };
}

function config(o: Opts, name: string): string {
  const file = `/tmp/${name}.cfg`;
  fs.writeFileSync(file, `name="${name}"\ntype="pv"\nkernel="${o.kernel}"\nmemory=${o.memory}\nvcpus=1\n`);
  return file;
}

async function xlCreate(o: Opts, name: string): Promise<{ callMs: number; readyMs: number }> {
  fs.rmSync(path.join(CONSOLE_DIR, `guest-${name}.log`), { force: true });
  const ready = readyAt(name, o.timeoutMs);
  const cfg = config(o, name);
  const t0 = performance.now();
  const r = await run('xl', ['create', '-q', cfg]);
  const tCall = performance.now();
  if (r.code !== 0) { ready.cancel(); throw new Error(`xl create ${name} failed: ${r.out.trim()}`); }
  const tReady = await ready.promise;
  return { callMs: tCall - t0, readyMs: tReady - t0 };
}

async function ours(prefix: string): Promise<string[]> {
  const r = await run('xl', ['list']);
  return r.out.split('\n').slice(1).map((l) => l.split(/\s+/)[0]).filter((n) => n && n.startsWith(`${prefix}-`));
}

async function destroyAll(prefix: string): Promise<void> {
  for (const n of await ours(prefix)) await run('xl', ['destroy', n]);
}

function emit(o: object): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const bg: string[] = [];
  process.on('SIGTERM', () => { void destroyAll(o.prefix).then(() => process.exit(143)); });
  await destroyAll(o.prefix);
  try {
    for (const n of o.counts) {
      const t0 = performance.now();
      while (bg.length < n) {
        const name = `${o.prefix}-bg-${bg.length}`;
        await xlCreate(o, name);
        bg.push(name);
      }
      emit({ kind: 'progress', message: `${n} guests running (made in ${((performance.now() - t0) / 1000).toFixed(1)} s)` });
      for (let rep = 0; rep < o.reps; rep++) {
        const name = `${o.prefix}-m-${n}-${rep}`;
        const t = await xlCreate(o, name);
        emit({ kind: 'sample', metric: 'create-to-ready', running: n, rep, value: t.readyMs });
        emit({ kind: 'sample', metric: 'create-call', running: n, rep, value: t.callMs });
        const d0 = performance.now();
        const r = await run('xl', ['destroy', name]);
        if (r.code !== 0) throw new Error(`xl destroy ${name} failed: ${r.out.trim()}`);
        emit({ kind: 'sample', metric: 'destroy', running: n, rep, value: performance.now() - d0 });
      }
    }
  } finally {
    await destroyAll(o.prefix);
  }
}

main().catch((err: Error) => { process.stderr.write(`create-vs-running: ${err.message}\n`); process.exitCode = 1; });
