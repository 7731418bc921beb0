// Lab: the tinyx daytime VM on real Xen, on xenbr0 (bridged by xendevd): it answers TCP from dom0 with the time, and two of them reach each other.
import t from 'tap';
import type { Lab } from '../../lab/lab.js';
import { chaos, destroyOnTeardown, labOrSkip, putFile, READY, tinyxConfig, uniqueName, waitForConsole, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();

const LOG = '/var/log/lightvm/xendevd.log';
/** Guest addresses for these tests: 10.88.0.2-99 (10.88.0.100-199 belong to the unikernel tests). */
const address = (k: number) => `10.88.0.${2 + ((process.pid + k * 37) % 98)}`;
/** Creating a Linux VM under the lab's emulated CPU, shared with other work, can take minutes. */
const CREATE_MS = 900_000;

async function domid(l: Lab, name: string): Promise<number> {
  const d = (await xlList(l)).find((x) => x.name === name);
  if (!d) throw new Error(`${name} is not in xl list`);
  return d.id;
}

async function until(l: Lab, cond: string, timeoutSec = 60): Promise<boolean> {
  const r = await l.run(`i=0; until ${cond}; do i=$((i+1)); [ $i -gt ${timeoutSec * 10} ] && exit 1; sleep 0.1; done`, { timeoutMs: (timeoutSec + 30) * 1000 });
  return r.code === 0;
}

const onBridge = (vif: string) => `[ -e /sys/class/net/xenbr0/brif/${vif} ]`;
const read = async (l: Lab, node: string) => (await l.run(['xenstore-read', node])).stdout.toString().trim();
const be = (id: number) => `/local/domain/0/backend/vif/${id}/0`;

t.test('tinyx daytime made by chaos: its vif is on xenbr0 and connected, it answers TCP from dom0, destroy cleans up', { skip }, async (t) => {
  const name = uniqueName('xd-day');
  destroyOnTeardown(t, lab!, [name]);
  const ip = address(0);
  await putFile(lab!, `/tmp/${name}.cfg`, tinyxConfig(name, {
    app: 'daytime', extra: `ip=${ip}::10.88.0.1:255.255.255.0::eth0:off`, more: ['vif = [ "bridge=xenbr0" ]'],
  }));
  const c = await chaos(lab!, ['create', `/tmp/${name}.cfg`], CREATE_MS);
  t.equal(c.code, 0, `chaos create: ${c.stderr}`);
  const id = await domid(lab!, name);
  // chaos returns once xendevd has connected the vif.
  t.equal(await read(lab!, `${be(id)}/hotplug-status`), 'connected', 'hotplug-status connected when create returns');
  t.equal((await lab!.run(onBridge(`vif${id}.0`))).code, 0, `vif${id}.0 is on xenbr0`);
  t.equal((await lab!.sh(`echo $(( $(cat /sys/class/net/vif${id}.0/flags) & 1 ))`)).trim(), '1', 'the vif is up (IFF_UP)');

  await waitForConsole(lab!, name, `${READY} tinyx-daytime`, 400);
  const answer = await lab!.run(`nc -w 10 ${ip} 13 </dev/null`, { timeoutMs: 60_000 });
  t.equal(answer.code, 0, `nc ${ip} 13: ${answer.stderr}`);
  const text = answer.stdout.toString();
  t.match(text, /^[A-Z][a-z]+day, [A-Z][a-z]+ \d{2}, \d{4} \d{2}:\d{2}:\d{2}-UTC\r\n$/, `the time, RFC 867 style: ${JSON.stringify(text)}`);
  t.match(text, String(new Date().getUTCFullYear()), 'this year');

  const d = await chaos(lab!, ['destroy', name]);
  t.equal(d.code, 0, d.stderr);
  t.ok(await until(lab!, `! ${onBridge(`vif${id}.0`)} && ! [ -e /sys/class/net/vif${id}.0 ]`), 'the vif is off the bridge and gone');
  t.ok(await until(lab!, `grep -q '"domid":${id},"devid":0,"vif":"vif${id}.0".*"msg":"detached vif${id}.0"' ${LOG}`), 'xendevd logged the removal');
  t.equal((await lab!.run(['xenstore-exists', be(id)])).code === 0, false, 'no back-end node left behind');
});

t.test('two tinyx daytime VMs on xenbr0 reach each other: one asks the other for the time', { skip }, async (t) => {
  const server = uniqueName('xd-srv'), client = uniqueName('xd-cli');
  destroyOnTeardown(t, lab!, [server, client]);
  const ipServer = address(1), ipClient = address(2);
  await putFile(lab!, `/tmp/${server}.cfg`, tinyxConfig(server, {
    app: 'daytime', extra: `ip=${ipServer}::10.88.0.1:255.255.255.0::eth0:off`, more: ['vif = [ "bridge=xenbr0" ]'],
  }));
  await putFile(lab!, `/tmp/${client}.cfg`, tinyxConfig(client, {
    app: 'daytime', extra: `ip=${ipClient}::10.88.0.1:255.255.255.0::eth0:off daytime.ask=${ipServer}`, more: ['vif = [ "bridge=xenbr0" ]'],
  }));
  // One after the other: two Linux kernels unpacked at once on the lab's emulated CPU can take
  // longer than a create is given. (The client would retry until the server answered anyway.)
  for (const n of [server, client]) {
    const c = await chaos(lab!, ['create', `/tmp/${n}.cfg`], CREATE_MS);
    t.equal(c.code, 0, `chaos create ${n}: ${c.stderr}`);
  }
  await waitForConsole(lab!, client, `daytime: ${ipServer} says `, 600);
  const log = (await lab!.run(['cat', `/var/log/xen/console/guest-${client}.log`])).stdout.toString();
  t.match(log, new RegExp(`daytime: ${ipServer.replace(/\./g, '\\.')} says [A-Z][a-z]+day, .* \\d{2}:\\d{2}:\\d{2}-UTC`), 'the client got the server\'s time');
  await waitForConsole(lab!, client, `${READY} tinyx-daytime`, 120);
  const back = await lab!.run(`nc -w 10 ${ipClient} 13 </dev/null`, { timeoutMs: 60_000 });
  t.match(back.stdout.toString(), /-UTC\r\n$/, 'and then serves dom0 itself');
});

