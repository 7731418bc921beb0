// Lab: the lab runs real Xen 4.17 with dom0 as its control domain, and the agent carries exit codes and output.
import t from 'tap';
import { labOrSkip, xlList } from './fixture.js';
import { parseXlInfo } from '../../lab/xl.js';

const { lab, skip } = labOrSkip();

t.test('xl info reports Xen 4.17 with memory for guests', { skip }, async (t) => {
  const info = parseXlInfo(await lab!.sh('xl info'));
  t.equal(info.xen_major, '4');
  t.equal(info.xen_minor, '17');
  t.match(info.xen_caps, /xen-3\.0-x86_64/, 'the hypervisor runs 64-bit PV guests');
  t.ok(Number(info.free_memory) >= 1024, `at least 1 GiB free for guests (${info.free_memory} MiB)`);
});

t.test('dom0 is the control domain and is listed by xl', { skip }, async (t) => {
  t.match(await lab!.sh('cat /proc/xen/capabilities'), /control_d/);
  const dom0 = (await xlList(lab!)).find((d) => d.id === 0);
  t.equal(dom0?.name, 'Domain-0');
  t.match(await lab!.sh('xenstore-read /local/domain/0/name'), /Domain-0/, 'xenstored answers');
});

t.test('the agent returns exit codes, stdout and stderr apart', { skip }, async (t) => {
  const r = await lab!.run('echo out; echo err >&2; exit 7');
  t.equal(r.code, 7);
  t.equal(r.stdout.toString(), 'out\n');
  t.equal(r.stderr.toString(), 'err\n');
  const argv = await lab!.run(['printf', '%s|', 'a b', "c'd"]);
  t.equal(argv.stdout.toString(), "a b|c'd|", 'an argv is passed without a shell');
});

t.test('dom0 gives the agent a pseudo-terminal, as `lab shell` needs', { skip }, async (t) => {
  const { runInLab } = await import('../../lab/agent/client.js');
  const r = await runInLab(lab!.endpoint(), { cmd: 'tty; exit 5', tty: true, timeoutMs: 30_000 });
  t.match(r.stdout.toString(), /\/dev\/pts\/\d+/, 'the command runs on a pty');
  t.equal(r.code, 5, 'its exit code crosses the pty');
});
