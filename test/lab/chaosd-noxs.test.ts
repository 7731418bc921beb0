// Lab: chaosd --dev-method noxs on the patched Xen: shells hold their power device in noxsd, a create from a shell boots daytime over noxs (vif) and obeys reboot and poweroff through the power device (chaosd applies on_reboot and on_poweroff), kill -9 and SIGTERM leave no device behind in noxsd.
import t from 'tap';
import type { Lab } from '../../lab/lab.js';
import { TestChaosd } from './chaosd-api.js';
import { chaos, labOrSkip, PROJECT, READY } from './fixture.js';
import { askDaytime, checkAnswer, DAYTIME_KERNEL, ensureBridge, ip } from './daytime.js';
import { noxsSkip } from './noxs-chaos.js';

const { lab, skip: noLab } = labOrSkip();
const skip = await noxsSkip(lab, noLab);
// chaosd's node start took 4-5 minutes in a loaded lab (TCG, the tree over 9p): two starts, two boots.
t.setTimeout(3_600_000);

/** One class that fits daytime and the power probe (8 MiB, 1 vCPU); two shells keep the lab's dom0 light. */
const HIGH = 2;
const POOL = `name=d8,memory=8,vcpus=1,low=1,high=${HIGH}`;
const POWER_PROBE = `${PROJECT}/guests/power-probe/power-probe`;

/** noxsd's COUNT: devices of every domain, and of each domid given. */
async function noxsdCount(l: Lab, domids: number[]): Promise<{ total: number; of: Record<string, number> }> {
  const r = await l.run(['node', `${PROJECT}/dist/test/lab/dom0/noxsd-count.js`, ...domids.map(String)], { timeoutMs: 120_000 });
  const out = JSON.parse(r.stdout.toString() || '{}') as { total: number; of: Record<string, number>; fatal?: string };
  if (r.code !== 0 || out.fatal) throw new Error(`noxsd-count: ${out.fatal ?? r.stderr.toString()}`);
  return out;
}

t.test('chaosd --dev-method noxs: pools of shells with their power device, creates over noxs, nothing left in noxsd', { skip }, async (t) => {
  const l = lab!;
  const d = new TestChaosd(l, 'chaosd-noxs');
  const PREFIX = `cn${d.id}`;
  const flags = ['--dev-method', 'noxs', '--pool', POOL, '--workers', '1'];
  const c = (args: string[], timeoutMs?: number) => chaos(l, ['--no-daemon', '--state-dir', `${d.dir}/state`, ...args], timeoutMs);
  const domains = async (): Promise<{ domid: number; name: string; shutdownReason?: string }[]> => {
    const r = await c(['list', '--json']);
    if (r.code !== 0) throw new Error(`chaos list: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const pools = async () => (await d.api('GET', '/v1/pools')).json as { level: number; shells: number[] }[];
  const full = () => d.waitFor('the pool fills', async () => (await pools().catch(() => [{ level: -1 }]))[0]?.level === HIGH, 300);
  const ring = async (name: string, text: string, timeoutSec = 240): Promise<string> => {
    const deadline = Date.now() + timeoutSec * 1000;
    for (;;) {
      const r = await c(['console', '--once', name]);
      if (r.code === 0 && r.stdout.includes(text)) return r.stdout;
      if (Date.now() > deadline) throw new Error(`"${text}" not in ${name}'s console ring within ${timeoutSec} s: ${JSON.stringify((r.stdout || r.stderr).slice(-1500))}`);
      await new Promise((res) => setTimeout(res, 2000));
    }
  };
  t.teardown(async () => {
    for (const dom of await domains().catch(() => [])) if (dom.name.startsWith(PREFIX)) await c(['destroy', String(dom.domid)], 120_000).catch(() => undefined);
    await d.stop();
  });

  await ensureBridge(l);
  await d.start(flags, 900);
  await full();
  const shells0 = (await pools())[0]!.shells;
  const held0 = await noxsdCount(l, shells0);
  t.same(shells0.map((s) => held0.of[s]), shells0.map(() => 1), `each idle shell (${shells0.join(', ')}) holds one device in noxsd: its power device`);

  await t.test('a create takes a shell: daytime boots over noxs with a vif and answers; the power device was made in prepare', async (t) => {
    const name = `${PREFIX}-day`;
    const r = await d.api('POST', '/v1/domains', { config: { name, type: 'pv', kernel: DAYTIME_KERNEL, memory: 8, vcpus: 1, vif: ['bridge=xenbr0'], extra: `ip=${ip(1)}/24 gw=10.88.0.1` } });
    t.equal(r.status, 201, JSON.stringify(r.json));
    if (r.status !== 201) return;
    t.equal(r.json.fromPool, 'd8', 'from a pool shell');
    t.ok(shells0.includes(r.json.domid), 'one of the shells that held a power device');
    t.ok(r.json.phases.devices >= 0 && !('prepare' in r.json.phases), `the create's device time (the vif) is ${r.json.phases.devices} ms; nothing was prepared`);
    t.same((await noxsdCount(l, [r.json.domid])).of[r.json.domid], 2, 'noxsd holds its power device and its vif');
    const out = await ring(name, `${READY} daytime`);
    t.match(out, /devices: noxs/, 'the runtime found its devices on the noxs page');
    t.notMatch(out, /no power control/, 'with power control');
    await checkAnswer(t, l, await askDaytime(l, ip(1)), 'daytime answers dom0 over the noxs vif');
    const metrics = (await d.api('GET', '/v1/metrics')).json as string;
    t.match(metrics, /chaosd_phase_seconds_count\{phase="prepare_devices"\} [1-9]/, 'the metrics time the shells\' devices in prepare');
    t.match(metrics, /chaosd_phase_seconds_count\{phase="finish_devices"\} [1-9]/, 'and what the finish adds apart');

    const rb = await d.api('POST', `/v1/domains/${name}/shutdown`, { reboot: true, waitSec: 120 });
    t.equal(rb.status, 200, `reboot through the power device: ${JSON.stringify(rb.json)}`);
    // chaosd applies on_reboot (restart, the default) as `chaos monitor` would: the same name in a new domain.
    let again: { domid: number; name: string } | undefined;
    await d.waitFor('the guest comes back in a new domain', async () => {
      again = (await domains()).find((x) => x.name === name && x.domid !== r.json.domid);
      return again !== undefined;
    }, 300);
    t.ok(again, `restarted as domain ${again?.domid}`);
    t.notOk((await domains()).some((x) => x.domid === r.json.domid), 'the old domain is gone');
    t.same((await noxsdCount(l, [r.json.domid])).of[r.json.domid], 0, 'noxsd holds nothing of the old domain');
    await checkAnswer(t, l, await askDaytime(l, ip(1)), 'the restarted daytime answers dom0 over its noxs vif');
    t.equal((await d.api('DELETE', `/v1/domains/${name}`)).status, 200, 'destroyed through the API');
    if (again) t.same((await noxsdCount(l, [again.domid])).of[again.domid], 0, 'noxsd holds nothing of it');
  });

  await t.test('the power probe from a shell powers off through its power device', async (t) => {
    await full();
    const name = `${PREFIX}-probe`;
    const r = await d.api('POST', '/v1/domains', { config: { name, type: 'pv', kernel: POWER_PROBE, memory: 8, vcpus: 1 } });
    t.equal(r.status, 201, JSON.stringify(r.json));
    if (r.status !== 201) return;
    t.equal(r.json.fromPool, 'd8', 'from a pool shell');
    await ring(name, 'power-probe: power control ready');
    const off = await d.api('POST', `/v1/domains/${name}/shutdown`, { reboot: false, waitSec: 120 });
    t.equal(off.status, 200, JSON.stringify(off.json));
    // on_poweroff is destroy (the default), which chaosd applies: the domain goes, and noxsd lets go of its devices.
    await d.waitFor('the powered-off guest is destroyed', async () => !(await domains()).some((x) => x.domid === r.json.domid), 300);
    const applied = (await l.run(`grep -h 'applied destroy after poweroff' ${d.dir}/chaosd.log | grep -c '"domid":${r.json.domid},'`)).stdout.toString().trim();
    t.equal(applied, '1', 'chaosd\'s log: it shut down for poweroff and chaosd applied on_poweroff (destroy)');
    t.equal((await d.api('GET', `/v1/domains/${name}`)).status, 404, 'chaosd no longer knows the name');
    t.same((await noxsdCount(l, [r.json.domid])).of[r.json.domid], 0, 'noxsd holds nothing of it');
  });

  await t.test('kill -9, restart: the old shells are destroyed and noxsd told to remove their power devices', async (t) => {
    await full();
    const old = (await pools())[0]!.shells;
    await l.sh(`kill -9 $(cat ${d.dir}/pid)`);
    t.same(Object.values((await noxsdCount(l, old)).of), old.map(() => 1), 'after the kill, the shells and their power devices are still there');
    await d.start(flags, 900);
    await full();
    const ids = new Set((await domains()).map((x) => x.domid));
    t.notOk(old.some((s) => ids.has(s)), `the old shells (${old.join(', ')}) are destroyed`);
    t.same(Object.values((await noxsdCount(l, old)).of), old.map(() => 0), 'noxsd holds nothing of them');
    // noxsd also reaps dead domains once a second ("(the domain died)"); "(request)" is chaosd's DOMAIN_REM,
    // sent before the domain is destroyed, so the reaper never gets there first.
    const log = (await l.run(`grep -E 'domain (${old.join('|')}) power 0 removed' /var/log/lightvm/noxsd.log | tail -n ${old.length}`)).stdout.toString();
    t.comment(log.trim());
    t.equal(log.match(/removed \(request\)/g)?.length, old.length, "chaosd's reconcile asked noxsd to remove each of them");
    const fresh = (await pools())[0]!.shells;
    t.same(Object.values((await noxsdCount(l, fresh)).of), fresh.map(() => 1), 'the new shells hold theirs');
  });

  await t.test('SIGTERM: the pool is destroyed and noxsd holds no device of it, nor any other', async (t) => {
    const last = (await pools())[0]!.shells;
    const pid = (await l.sh(`cat ${d.dir}/pid`)).trim();
    await l.sh(`kill -TERM ${pid}; for i in $(seq 120); do kill -0 ${pid} 2>/dev/null || exit 0; sleep 1; done; exit 1`, 180_000);
    const ids = new Set((await domains()).map((x) => x.domid));
    t.notOk(last.some((s) => ids.has(s)), `its shells (${last.join(', ')}) are destroyed`);
    const n = await noxsdCount(l, last);
    t.same(Object.values(n.of), last.map(() => 0), 'noxsd holds nothing of them');
    const log = (await l.run(`grep -E 'domain (${last.join('|')}) power 0 removed' /var/log/lightvm/noxsd.log | tail -n ${last.length}`)).stdout.toString();
    t.comment(log.trim());
    t.equal(log.match(/removed \(request\)/g)?.length, last.length, 'chaosd asked noxsd to remove each of them');
    t.equal(n.total, 0, 'noxsd holds no device at all (this test destroyed its VMs; a private lab has no other)');
  });
});
