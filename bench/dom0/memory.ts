// Runs in dom0: memory per noop guest as Xen sees it: the drop in the host's free memory per guest, and the pages each guest holds.
import { run } from './proc.js';
import { arg, emit, forgetConsole, intArg, noopConfigText, parseConfig, progress, step, toolstack, waitReady, writeConfig } from './common.js';

const argv = process.argv.slice(2);
const count = intArg(argv, 'count', 10, 1, 1000);
const reps = intArg(argv, 'reps', 1, 1, 100);
const memory = intArg(argv, 'memory', 4, 1, 4096);
const kernel = arg(argv, 'kernel');
const tools = arg(argv, 'tools', 'xl,chaos').split(',');
for (const t of tools) if (!['xl', 'chaos'].includes(t)) throw new Error(`unknown tool ${t}: xl or chaos`);
const PAGE_KIB = 4;

/** Free pages of the host, and pages held by each domain (by domid). */
async function snapshot(): Promise<{ free: number; held: Map<number, number> }> {
  const { xen } = toolstack();
  const [phys, doms] = await Promise.all([xen.physinfo(), xen.domainGetInfoList(0, 4096)]);
  return { free: phys.freePages, held: new Map(doms.map((d) => [d.domid, d.nrPages])) };
}

async function create(tool: string, name: string): Promise<void> {
  forgetConsole(name);
  const text = noopConfigText(name, kernel, memory);
  if (tool === 'chaos') await toolstack().ts.create(parseConfig(text));
  else {
    const r = await run('xl', ['create', '-q', writeConfig(name, text)]);
    if (r.code !== 0) throw new Error(`xl create ${name}: ${r.out.trim()}`);
  }
  await waitReady(name);
}

/** Each guest is destroyed by the tool that made it (chaos keeps a record of its own). */
async function destroyAll(names: string[]): Promise<void> {
  for (const n of names) {
    if (n.includes('-chaos-')) { await toolstack().ts.destroy(n).catch((e: Error) => progress(`chaos destroy ${n}: ${e.message}`)); continue; }
    const r = await run('xl', ['destroy', n]);
    if (r.code !== 0 && !/not found|invalid domain/i.test(r.out)) progress(`xl destroy ${n}: ${r.out.trim()}`);
  }
}

/** Waits until the host's free memory stops rising (Xen may scrub freed pages in the background). */
async function settle(): Promise<void> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const { free } = await snapshot();
    if (free === last) return;
    last = free;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const names: string[] = [];
  let done = 0;
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const tool of tools) {
        await settle();
        const before = await snapshot();
        const made: number[] = [];
        for (let i = 0; i < count; i++) {
          const name = `bmem-${process.pid}-${tool}-${rep}-${i}`;
          names.push(name);
          await create(tool, name);
          made.push((await toolstack().ts.find(name)).domid);
        }
        const after = await snapshot();
        // Other users of the host (the lab is shared) may grow or shrink their domains meanwhile: their change is taken out.
        let others = 0;
        for (const [domid, pages] of after.held) if (!made.includes(domid)) others += pages - (before.held.get(domid) ?? 0);
        for (const [domid, pages] of before.held) if (!after.held.has(domid)) others -= pages;
        const ours = made.reduce((a, d) => a + (after.held.get(d) ?? 0), 0);
        const drop = before.free - after.free - others;
        emit({ kind: 'sample', tool, metric: 'host-memory-per-guest', rep, value: (drop * PAGE_KIB) / count, count, othersKiB: others * PAGE_KIB });
        emit({ kind: 'sample', tool, metric: 'guest-pages-per-guest', rep, value: (ours * PAGE_KIB) / count, count });
        emit({ kind: 'sample', tool, metric: 'xen-overhead-per-guest', rep, value: ((drop - ours) * PAGE_KIB) / count, count });
        progress(`${tool}: ${count} guests of ${memory} MiB took ${((drop * PAGE_KIB) / 1024).toFixed(1)} MiB of the host's memory`);
        await destroyAll(names.splice(0));
        step(++done, reps * tools.length);
      }
    }
  } finally {
    await destroyAll(names);
  }
}

main().catch((err: Error) => { process.stderr.write(`memory: ${err.message}\n`); process.exitCode = 1; });
