// Lab: vif and vbd devices of domains made by chaos on real Xen: netback's vif, blkback on a loop device, teardown by chaos and by xl.
import t from 'tap';
import type { Lab } from '../../lab/lab.js';
import { chaos, destroyOnTeardown, labOrSkip, noopConfig, putFile, uniqueName, xlList } from './fixture.js';

const { lab, skip } = labOrSkip();

/** Polls a XenStore node until it holds `want`; returns what it last held. */
async function waitNode(l: Lab, node: string, want: string, timeoutSec = 60): Promise<string> {
  const script = `i=0; while :; do v=$(xenstore-read ${node} 2>/dev/null); [ "$v" = "${want}" ] && break; i=$((i+1)); [ $i -gt ${timeoutSec * 10} ] && break; sleep 0.1; done; echo "$v"`;
  return (await l.sh(script, (timeoutSec + 30) * 1000)).trim();
}

async function domid(l: Lab, name: string): Promise<number> {
  const d = (await xlList(l)).find((x) => x.name === name);
  if (!d) throw new Error(`${name} is not in xl list`);
  return d.id;
}

/** The loop devices bound to `file`, as losetup -a lists them. */
async function loopsOf(l: Lab, file: string): Promise<string[]> {
  const out = await l.sh('losetup -a');
  return out.split('\n').filter((x) => x.endsWith(` ${file}`)).map((x) => x.split(':')[0]);
}

const exists = async (l: Lab, node: string) => (await l.run(['xenstore-exists', node])).code === 0;

t.test('a vif and a file-backed disk: netback makes vif<domid>.0, blkback opens a loop device, both wait in InitWait; destroy undoes it all', { skip }, async (t) => {
  const name = uniqueName('dev');
  const img = `/tmp/${name}.img`;
  destroyOnTeardown(t, lab!, [name]);
  t.teardown(async () => {
    await lab!.sh(`for d in $(losetup -a | grep ' ${img}$' | cut -d: -f1); do losetup -d $d; done; rm -f ${img}`).catch(() => undefined);
  });
  await lab!.sh(`dd if=/dev/zero of=${img} bs=1M count=4 2>/dev/null`);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name, { more: ['vif = [ "bridge=xenbr0" ]', `disk = [ "${img},raw,xvda,w" ]`] }));
  const c = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(c.code, 0, c.stderr);
  const id = await domid(lab!, name);
  const vifBe = `/local/domain/0/backend/vif/${id}/0`, vbdBe = `/local/domain/0/backend/vbd/${id}/51712`;

  t.equal(await waitNode(lab!, `${vifBe}/state`, '2'), '2', 'netback reached InitWait (the noop guest never connects)');
  t.match(await lab!.sh('ip -o link'), new RegExp(`vif${id}\\.0[:@]`), `dom0 has vif${id}.0`);
  t.equal((await lab!.sh(`xenstore-read ${vifBe}/bridge`)).trim(), 'xenbr0', 'the bridge is recorded');
  t.equal(await waitNode(lab!, `${vbdBe}/state`, '2'), '2', 'blkback reached InitWait');
  const loops = await loopsOf(lab!, img);
  t.equal(loops.length, 1, 'one loop device holds the image');
  t.equal((await lab!.sh(`xenstore-read ${vbdBe}/node`)).trim(), loops[0], 'and the back end records it');
  t.match((await lab!.sh(`xenstore-read ${vbdBe}/physical-device`)).trim(), /^7:[0-9a-f]+$/, 'physical-device is the loop device\'s number');
  t.notOk(await exists(lab!, `/local/domain/0/error/backend/vbd/${id}`), 'blkback reported no error');

  const net = await lab!.sh(`xl network-list ${name}`);
  t.match(net, new RegExp(`^0\\s+0\\s+00:16:3e:[0-9a-f:]{8}\\s+0\\s+1\\s`, 'm'), 'xl network-list shows the vif with its MAC');
  t.match(await lab!.sh(`xl block-list ${name}`), /^51712\s+0\s/m, 'xl block-list shows the disk');

  const d = await chaos(lab!, ['destroy', name]);
  t.equal(d.code, 0, d.stderr);
  t.notOk(await exists(lab!, `/local/domain/0/backend/vif/${id}`), 'the vif back end is removed');
  t.notOk(await exists(lab!, `/local/domain/0/backend/vbd/${id}`), 'the vbd back end is removed');
  t.notOk(await exists(lab!, `/libxl/${id}`), 'libxl\'s record is removed');
  // netback and blkback tear down asynchronously once their nodes are gone.
  const gone = await lab!.run(`i=0; while ip -o link | grep -q 'vif${id}\\.0[:@]'; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done`, { timeoutMs: 60_000 });
  t.equal(gone.code, 0, `vif${id}.0 is gone from dom0`);
  const detached = await lab!.run(`i=0; while losetup -a | grep -q ' ${img}$'; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done`, { timeoutMs: 60_000 });
  t.equal(detached.code, 0, 'the loop device is detached');
});

t.test('a missing disk target, or one that is not a file or block device, is refused clearly and leaves no domain', { skip }, async (t) => {
  const name = uniqueName('baddisk');
  destroyOnTeardown(t, lab!, [name]);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name, { more: ['vif = [ "" ]', 'disk = [ "/tmp/no-such-image.img,raw,xvda,w" ]'] }));
  const r = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(r.code, 1);
  t.match(r.stderr, /the disk target \/tmp\/no-such-image\.img does not exist/);
  t.match(r.stderr, /CONFIG_INVALID/);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name, { more: ['disk = [ "/dev/null,raw,xvda,w" ]'] }));
  const n = await chaos(lab!, ['create', `/tmp/${name}.cfg`]);
  t.equal(n.code, 1);
  t.match(n.stderr, /\/dev\/null is neither a regular file nor a block device/);
  // Other tests may make domains meanwhile: look for this one by name.
  t.notOk((await xlList(lab!)).some((d) => d.name === name), 'no domain is left behind');
  t.notOk((await lab!.sh('losetup -a')).includes('no-such-image'), 'no loop device is left behind');
});

t.test('xl destroy of a chaos domain with devices removes its vif and back ends (the loop device is not detached by xl)', { skip }, async (t) => {
  const name = uniqueName('devxl');
  const img = `/tmp/${name}.img`;
  destroyOnTeardown(t, lab!, [name]);
  t.teardown(async () => {
    await lab!.sh(`for d in $(losetup -a | grep ' ${img}$' | cut -d: -f1); do losetup -d $d; done; rm -f ${img}`).catch(() => undefined);
  });
  await lab!.sh(`dd if=/dev/zero of=${img} bs=1M count=1 2>/dev/null`);
  await putFile(lab!, `/tmp/${name}.cfg`, noopConfig(name, { more: ['vif = [ "" ]', `disk = [ "${img},raw,xvda,w" ]`] }));
  t.equal((await chaos(lab!, ['create', `/tmp/${name}.cfg`])).code, 0);
  const id = await domid(lab!, name);
  t.equal(await waitNode(lab!, `/local/domain/0/backend/vif/${id}/0/state`, '2'), '2');
  const x = await lab!.run(['xl', 'destroy', name], { timeoutMs: 120_000 });
  // xl complains that it finds no hotplug script to run (chaos runs none), but destroys the domain and its devices.
  t.equal(x.code, 0, `xl destroy: ${x.stderr.toString()}`);
  t.notOk((await xlList(lab!)).find((d) => d.name === name), 'the domain is gone');
  t.notOk(await exists(lab!, `/local/domain/0/backend/vif/${id}`), 'the vif back end is removed');
  t.notOk(await exists(lab!, `/local/domain/0/backend/vbd/${id}`), 'the vbd back end is removed');
  const gone = await lab!.run(`i=0; while ip -o link | grep -q 'vif${id}\\.0[:@]'; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done`, { timeoutMs: 60_000 });
  t.equal(gone.code, 0, `vif${id}.0 is gone`);
  t.equal((await loopsOf(lab!, img)).length, 1, 'known gap: xl runs no script for the disk, so the loop device stays attached (the teardown detaches it)');
});
