// Lab: bad boots fail clearly and leave nothing behind: a hypervisor that is not one, a port in use, a second `up`.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Lab } from '../../lab/lab.js';
import { LabError } from '../../lab/errors.js';
import { labOrSkip } from './fixture.js';

const { lab, skip } = labOrSkip();
// Far from the running lab's ports and from each other.
const PORT_BASE = 17000 + 100 + (process.pid % 200) * 3;

function tempStateDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-labfail-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a hypervisor image QEMU cannot boot ends in EBOOT with QEMU\'s words, and no QEMU is left', { skip }, async (t) => {
  const stateDir = tempStateDir(t);
  const bogus = path.join(stateDir, 'not-xen');
  fs.writeFileSync(bogus, 'this is not a multiboot kernel\n');
  const bad = new Lab({ stateDir, portBase: PORT_BASE, xenImage: bogus, bootTimeoutSec: 60 });
  const err = await bad.up({ install: false }).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof LabError, 'a LabError');
  t.equal((err as LabError).code, 'EBOOT');
  t.match((err as LabError).details ?? '', /QEMU said/, 'the details quote QEMU');
  t.equal(bad.state(), undefined, 'no lab is recorded as running');
  t.notOk(findQemu(path.join(stateDir, 'serial.log')), 'no QEMU process is left');
});

t.test('a forwarded port in use is refused before anything boots', { skip }, async (t) => {
  const stateDir = tempStateDir(t);
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(PORT_BASE + 1, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => holder.close(() => r())));
  const other = new Lab({ stateDir, portBase: PORT_BASE });
  const err = await other.up({ install: false }).then(() => undefined, (e: unknown) => e);
  t.equal((err as LabError).code, 'EPORTINUSE');
  t.match((err as LabError).message, new RegExp(`${PORT_BASE + 1}`), 'the message names the port');
  t.notOk(fs.existsSync(path.join(stateDir, 'serial.log')), 'QEMU never started');
});

t.test('a second `up` on a running lab is refused; with reuse it is the same lab', { skip }, async (t) => {
  const again = new Lab({ stateDir: lab!.config.stateDir });
  const err = await again.up({ install: false }).then(() => undefined, (e: unknown) => e);
  t.equal((err as LabError).code, 'ERUNNING');
  const reused = await again.up({ install: false, reuse: true });
  t.ok(reused.reused);
  t.equal(reused.state.pid, lab!.state()!.pid);
});

/** A live QEMU writing to this serial log, if any. */
function findQemu(serialLog: string): number | undefined {
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('qemu-system') && cmd.includes(serialLog)) return Number(pid);
    } catch { /* gone */ }
  }
  return undefined;
}
