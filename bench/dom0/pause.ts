// Runs in dom0: pause and unpause of a running noop guest, each timed on its own, xl vs chaos (in process) vs the chaos command, and chaos over noxs (a second guest, made over noxs).
import path from 'node:path';
import { run } from './proc.js';
import { arg, emit, intArg, noopConfigText, parseConfig, progress, STATE_DIR, step, toolstack } from './common.js';
import { ReadyMarks } from './ready.js';

const TOOLS = ['xl', 'chaos', 'chaos-cli', 'chaos-noxs'];
/** The `chaos` command as installed (the bundle), as in create-vs-running. */
const CHAOS_CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../toolstack/cli/start.cjs');

const argv = process.argv.slice(2);
const reps = intArg(argv, 'reps', 10, 1, 1000);
const kernel = arg(argv, 'kernel');
const tools = arg(argv, 'tools', 'xl,chaos').split(',');
for (const t of tools) if (!TOOLS.includes(t)) throw new Error(`unknown tool ${t}: one of ${TOOLS.join(', ')}`);

async function verb(tool: string, v: 'pause' | 'unpause', name: string): Promise<number> {
  const t0 = performance.now();
  if (tool === 'chaos' || tool === 'chaos-noxs') {
    await toolstack().ts[v](name);
  } else {
    const r = tool === 'xl' ? await run('xl', [v, name]) : await run('node', [CHAOS_CLI, '--state-dir', STATE_DIR, v, name]);
    if (r.code !== 0) throw new Error(`${tool} ${v} ${name}: ${r.out.trim()}`);
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const name = `bpause-${process.pid}`, noxsName = `bpause-${process.pid}-x`;
  const { ts } = toolstack();
  const marks = new ReadyMarks([STATE_DIR]);
  const made: string[] = [];
  try {
    // One guest per device method, made the fastest way; every tool of a method pauses the same running domain.
    for (const [n, method] of [[name, 'xenstore'], [noxsName, 'noxs']] as const) {
      if (method === 'noxs' && !tools.includes('chaos-noxs')) continue;
      const ready = marks.watch(n, undefined, 120_000);
      const rec = await ts.create({ ...parseConfig(noopConfigText(n, kernel, 4)), devMethod: method });
      made.push(n);
      ready.found(rec.domid);
      await ready.promise;
    }
    let done = 0;
    for (let rep = 0; rep < reps; rep++) {
      // Tools take turns within each repetition, so drift in the lab hits all of them alike.
      for (const tool of tools) {
        const target = tool === 'chaos-noxs' ? noxsName : name;
        emit({ kind: 'sample', tool, metric: 'pause', rep, value: await verb(tool, 'pause', target) });
        emit({ kind: 'sample', tool, metric: 'unpause', rep, value: await verb(tool, 'unpause', target) });
        step(++done, reps * tools.length);
      }
      if ((rep + 1) % 5 === 0 || rep + 1 === reps) progress(`pause/unpause rep ${rep + 1}/${reps}`);
    }
  } finally {
    for (const n of made) await ts.destroy(n).catch(() => run('xl', ['destroy', n]));
    marks.close();
  }
}

main().catch((err: Error) => { process.stderr.write(`pause: ${err.message}\n`); process.exitCode = 1; });
