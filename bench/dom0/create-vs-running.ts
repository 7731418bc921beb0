// Runs in dom0: time from a create call to the guest's ready mark with N guests running, for xl and chaos side by side; one JSON line per sample.
import fs from 'node:fs';
import path from 'node:path';
import { run } from './proc.js';
import { ReadyMarks } from './ready.js';
import { localImage } from './image.js';

/** xl; chaos: the toolstack in this long-running process (as chaosd and jitsud use it); chaos-cli: the `chaos` command as a new process. */
const TOOLS = ['xl', 'chaos', 'chaos-cli'] as const;
type Tool = (typeof TOOLS)[number];
const CHAOS_CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../toolstack/cli/start.cjs');
const STATE_DIR = '/var/lib/lightvm-bench';

interface Opts { tools: Tool[]; counts: number[]; reps: number; kernel: string; memory: number; prefix: string; timeoutMs: number }

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
    tools: get('tools', 'xl').split(',') as Tool[], counts: [...counts].sort((a, b) => a - b), reps: Number(get('reps', '5')),
    kernel: get('kernel'), memory: Number(get('memory', '4')), prefix: get('prefix', 'bench'), timeoutMs: Number(get('timeout-ms', '120000')),
  };
  for (const t of opts.tools) if (!TOOLS.includes(t)) throw new Error(`unknown tool ${t}: one of ${TOOLS.join(', ')}`);
  if (!/^[a-z][a-z0-9-]{0,20}$/.test(opts.prefix)) throw new Error('--prefix must be short, lower case, letters, digits and dashes');
  if (!Number.isInteger(opts.reps) || opts.reps < 1 || opts.reps > 100) throw new Error('--reps takes 1 to 100');
  if (!fs.existsSync(opts.kernel)) throw new Error(`kernel ${opts.kernel} does not exist`);
  opts.kernel = localImage(opts.kernel);
  return opts;
}

function config(o: Opts, name: string): string {
  const file = `/tmp/${name}.cfg`;
  fs.writeFileSync(file, `name="${name}"\ntype="pv"\nkernel="${o.kernel}"\nmemory=${o.memory}\nvcpus=1\n`);
  return file;
}

type Toolstack = import('../../toolstack/domain.js').Toolstack;
let lib: { ts: Toolstack; names: import('../../daemon/names.js').NameIndex; loadConfig: (file: string) => Promise<import('../../toolstack/config/domain-config.js').DomainConfig> } | undefined;

async function library() {
  if (!lib) {
    const [{ openToolstack }, { pino }, { loadConfig }, { NameIndex }] = await Promise.all([
      import('../../toolstack/index.js'), import('pino'), import('../../toolstack/config/index.js'), import('../../daemon/names.js'),
    ]);
    const log = pino({ level: 'warn' }, pino.destination(2));
    const ts = openToolstack({ stateDir: STATE_DIR, log }).ts;
    // A long-running process keeps the names in use as chaosd does (a XenStore watch), not a read per domain per create.
    const names = new NameIndex(ts, log);
    await names.start();
    lib = { ts, names, loadConfig: (f) => loadConfig(f, []) };
  }
  return lib;
}

/** Creates `name` with `tool`; returns when the create call returned and when the guest's ready mark appeared. */
async function create(o: Opts, marks: ReadyMarks, tool: Tool, name: string): Promise<{ callMs: number; readyMs: number }> {
  const cfg = config(o, name);
  const l = tool === 'chaos' ? await library() : undefined;
  // The mark is read from the guest's console ring; a tool that does not say the domain's id has it searched for.
  const ready = marks.watch(name, tool === 'chaos' ? undefined : await marks.domids(), o.timeoutMs);
  const t0 = performance.now();
  try {
    if (tool === 'chaos') {
      const rec = await l!.ts.create(await l!.loadConfig(cfg), { taken: l!.names.snapshot() });
      l!.names.set(rec.domid, rec.uuid, rec.name);
      ready.found(rec.domid);
    } else {
      const r = tool === 'xl' ? await run('xl', ['create', '-q', cfg]) : await run('node', [CHAOS_CLI, '--state-dir', STATE_DIR, 'create', cfg]);
      if (r.code !== 0) throw new Error(`${tool} create ${name} failed: ${r.out.trim()}`);
      ready.returned();
    }
  } catch (err) {
    ready.cancel();
    throw err;
  }
  const tCall = performance.now();
  const tReady = await ready.promise;
  return { callMs: tCall - t0, readyMs: tReady - t0 };
}

async function destroy(tool: Tool, name: string): Promise<void> {
  if (tool === 'chaos') { await (await library()).ts.destroy(name); return; }
  const r = tool === 'xl' ? await run('xl', ['destroy', name]) : await run('node', [CHAOS_CLI, '--state-dir', STATE_DIR, 'destroy', name]);
  if (r.code !== 0) throw new Error(`${tool} destroy ${name} failed: ${r.out.trim()}`);
}

async function pauseUnpause(tool: Tool, name: string): Promise<number> {
  const t0 = performance.now();
  if (tool === 'chaos') {
    const { ts } = await library();
    await ts.pause(name);
    await ts.unpause(name);
  } else if (tool === 'xl') {
    for (const v of ['pause', 'unpause']) { const r = await run('xl', [v, name]); if (r.code !== 0) throw new Error(`xl ${v} ${name}: ${r.out.trim()}`); }
  } else {
    for (const v of ['pause', 'unpause']) { const r = await run('node', [CHAOS_CLI, v, name]); if (r.code !== 0) throw new Error(`chaos ${v} ${name}: ${r.out.trim()}`); }
  }
  return performance.now() - t0;
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
  // The N background guests come from the fastest path at hand; only the measured creates use the tool under test.
  const bgTool: Tool = o.tools.includes('chaos') ? 'chaos' : 'xl';
  const marks = new ReadyMarks([STATE_DIR]);
  process.on('SIGTERM', () => { void destroyAll(o.prefix).then(() => process.exit(143)); });
  await destroyAll(o.prefix);
  try {
    for (const n of o.counts) {
      const t0 = performance.now();
      while (bg.length < n) {
        const name = `${o.prefix}-bg-${bg.length}`;
        await create(o, marks, bgTool, name);
        bg.push(name);
      }
      emit({ kind: 'progress', message: `${n} guests running (made by ${bgTool} in ${((performance.now() - t0) / 1000).toFixed(1)} s)` });
      for (let rep = 0; rep < o.reps; rep++) {
        // Tools take turns within each repetition, so drift in the lab hits all of them alike.
        for (const tool of o.tools) {
          const name = `${o.prefix}-m-${tool}-${n}-${rep}`;
          const t = await create(o, marks, tool, name);
          emit({ kind: 'sample', tool, metric: 'create-to-ready', running: n, rep, value: t.readyMs });
          emit({ kind: 'sample', tool, metric: 'create-call', running: n, rep, value: t.callMs });
          emit({ kind: 'sample', tool, metric: 'pause-unpause', running: n, rep, value: await pauseUnpause(tool, name) });
          const d0 = performance.now();
          await destroy(tool, name);
          emit({ kind: 'sample', tool, metric: 'destroy', running: n, rep, value: performance.now() - d0 });
        }
      }
    }
  } finally {
    await destroyAll(o.prefix);
    marks.close();
  }
}

main().catch((err: Error) => { process.stderr.write(`create-vs-running: ${err.message}\n`); process.exitCode = 1; });
