// Unit: the shutdown monitor's claim on a state directory (taken, refused while a live monitor holds it, taken over when it exits, stale files replaced) and its sweeps, against a stand-in toolstack.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import t from 'tap';
import { pino } from 'pino';
import { monitorHolder, monitorPidFile, ShutdownMonitor } from '../../../toolstack/monitor.js';
import type { Toolstack } from '../../../toolstack/domain.js';

const log = pino({ level: 'silent' });

/** A toolstack that counts sweeps and reports `mine` of its domains as made by it. */
function standIn(mine = 1) {
  const calls = { apply: 0 };
  const ts = {
    applyShutdownActions: async () => { calls.apply++; return []; },
    list: async () => [{ domid: 7 }],
    record: () => (mine > 0 ? {} : undefined),
  } as unknown as Toolstack;
  let fire: (() => void) | undefined;
  const xen = {
    xsWatch: async (_p: string, _tok: string, cb: () => void) => { fire = cb; return 1; },
    xsUnwatch: async () => undefined,
  } as never;
  return { ts, xen, calls, fire: () => fire?.() };
}

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'monitor-'));
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('takes the claim, sweeps at start and on the watch, gives the claim up on stop', async (t) => {
  const stateDir = dir();
  const s = standIn();
  const m = new ShutdownMonitor({ ts: s.ts, xen: s.xen, log, stateDir, pollMs: 60_000 });
  t.equal(await m.start(), true, 'claimed');
  t.equal(monitorHolder(stateDir), process.pid, 'the pid file names this process');
  t.equal(s.calls.apply, 1, 'one sweep at start');
  await wait(10);
  s.fire();
  await wait(10);
  t.equal(s.calls.apply, 2, 'a @releaseDomain event sweeps again');
  await m.stop();
  t.notOk(fs.existsSync(monitorPidFile(stateDir)), 'the pid file is gone');
});

t.test('a live monitor keeps the claim; when it exits, the next poll takes over', async (t) => {
  const stateDir = dir();
  // A process whose command line says "monitor", as `chaos monitor`'s does.
  const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'monitor'], { stdio: 'ignore' });
  await new Promise((r) => other.once('spawn', r));
  fs.writeFileSync(monitorPidFile(stateDir), String(other.pid));
  const s = standIn();
  const m = new ShutdownMonitor({ ts: s.ts, xen: s.xen, log, stateDir, pollMs: 50 });
  t.equal(await m.start(), false, 'not claimed while the other runs');
  await wait(150);
  t.equal(s.calls.apply, 0, 'no actions applied by the one without the claim');
  other.kill('SIGKILL');
  await new Promise((r) => other.once('exit', r));
  await wait(200);
  t.ok(m.holds, 'taken over once the holder is gone');
  t.ok(s.calls.apply >= 1, 'and it sweeps');
  t.equal(monitorHolder(stateDir), process.pid);
  await m.stop();
});

t.test('a stale pid file (a dead pid, or a live process that is no monitor) is replaced', async (t) => {
  for (const stale of ['999999999', '1', 'not a pid']) {
    const stateDir = dir();
    fs.writeFileSync(monitorPidFile(stateDir), stale);
    const s = standIn();
    const m = new ShutdownMonitor({ ts: s.ts, xen: s.xen, log, stateDir, pollMs: 60_000 });
    t.equal(await m.start(), true, `claimed over ${JSON.stringify(stale)}`);
    await m.stop();
  }
});

t.test('onIdle is called when no domain is ours', async (t) => {
  const stateDir = dir();
  const s = standIn(0);
  let idle = 0;
  const m = new ShutdownMonitor({ ts: s.ts, xen: s.xen, log, stateDir, pollMs: 60_000, onIdle: () => { idle++; } });
  await m.start();
  t.equal(idle, 1);
  await m.stop();
  const busy = standIn(1);
  let idle2 = 0;
  const m2 = new ShutdownMonitor({ ts: busy.ts, xen: busy.xen, log, stateDir, pollMs: 60_000, onIdle: () => { idle2++; } });
  await m2.start();
  t.equal(idle2, 0, 'not while a domain of ours runs');
  await m2.stop();
});
