// Unit tests of the QEMU command line, the host-port check and the test for "is this pid the lab's QEMU".
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { hostPorts, resolveConfig, type HostPorts } from '../../../lab/config.js';
import { LabError } from '../../../lab/errors.js';
import { checkPortsFree, dom0CommandLine, escapeModuleArgs, isLabQemu, qemuArgs, xenCommandLine, type BootFiles } from '../../../lab/qemu.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-qemu-test-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A real lab may use these on this machine: no test binds or names them. */
const RESERVED = [17000, 17001, 17002];

const files: BootFiles = {
  xen: '/state/image/xen', kernel: '/boot/vmlinuz-test', image: '/state/image/dom0.cpio',
  serialLog: '/state/serial.log', qemuLog: '/state/qemu.log',
};

/** The value following `flag` in argv (the first occurrence). */
function after(argv: string[], flag: string): string {
  const i = argv.indexOf(flag);
  if (i < 0 || i + 1 >= argv.length) throw new Error(`${flag} is not in ${argv.join(' ')}`);
  return argv[i + 1];
}

t.test('escapeModuleArgs doubles every comma and nothing else', async (tt) => {
  tt.equal(escapeModuleArgs('a,b'), 'a,,b');
  tt.equal(escapeModuleArgs(',x,,y,'), ',,x,,,,y,,');
  tt.equal(escapeModuleArgs('no commas here'), 'no commas here');
  tt.equal(escapeModuleArgs(''), '');
});

t.test('xenCommandLine: serial console, dom0 memory and vCPUs, extra words last', async (tt) => {
  const cfg = resolveConfig({ stateDir: tmp, dom0MemoryMiB: 768, cpus: 3, xenArgs: ['sched=credit', 'noreboot'] });
  const words = xenCommandLine(cfg).split(' ');
  tt.ok(words.includes('console=com1'));
  tt.ok(words.includes('dom0_mem=768M,max:768M'));
  tt.ok(words.includes('dom0_max_vcpus=3'));
  tt.ok(words.includes('bootscrub=false'));
  tt.same(words.slice(-2), ['sched=credit', 'noreboot']);
});

t.test('dom0CommandLine: hvc0 console; lightvm.share only with a share', async (tt) => {
  tt.match(dom0CommandLine(false), /(^| )console=hvc0( |$)/);
  tt.notMatch(dom0CommandLine(false), /lightvm\.share/);
  tt.match(dom0CommandLine(true), /(^| )lightvm\.share( |$)/);
});

t.test('qemuArgs: TCG, SMAP off, memory, cpus, Xen and its command line', async (tt) => {
  const cfg = resolveConfig({ stateDir: tmp, memoryMiB: 3000, cpus: 4, portBase: 30000 });
  const argv = qemuArgs(cfg, files, hostPorts(cfg));
  tt.match(after(argv, '-accel'), /^tcg(,|$)/, 'TCG, no KVM');
  tt.equal(after(argv, '-cpu'), 'max,-smap,-xsave');
  tt.equal(after(argv, '-m'), '3000');
  tt.equal(after(argv, '-smp'), '4');
  tt.equal(after(argv, '-kernel'), files.xen);
  tt.equal(after(argv, '-append'), xenCommandLine(cfg));
  tt.equal(after(argv, '-serial'), `file:${files.serialLog}`);
  tt.ok(argv.includes('-nodefaults') && argv.includes('-no-reboot'));
  tt.notOk(argv.includes('-virtfs'), 'no share, no virtfs');
  tt.notOk(argv.some((a) => /kvm/.test(a)), 'nothing asks for KVM');
});

t.test('qemuArgs: -initrd is the dom0 kernel with its arguments, then the image', async (tt) => {
  const cfg = resolveConfig({ stateDir: tmp, portBase: 30000 });
  const plain = after(qemuArgs(cfg, files, hostPorts(cfg)), '-initrd');
  tt.equal(plain, `${files.kernel} ${dom0CommandLine(false)},${files.image}`);

  const share = after(qemuArgs(cfg, { ...files, shareDir: '/state/share' }, hostPorts(cfg)), '-initrd');
  tt.equal(share, `${files.kernel} ${dom0CommandLine(true)},${files.image}`, 'share flag reaches dom0');

  // Paths chosen by the user (--state-dir) may hold commas; QEMU splits modules at single commas.
  const odd = { ...files, kernel: '/k,dir/vmlinuz', image: '/state,1/image/dom0.cpio' };
  const escaped = after(qemuArgs(cfg, odd, hostPorts(cfg)), '-initrd');
  tt.equal(escaped, `/k,,dir/vmlinuz ${dom0CommandLine(false)},/state,,1/image/dom0.cpio`, 'commas in paths are doubled');
  // Exactly one single comma remains: the separator between the two modules.
  tt.equal(escaped.replaceAll(',,', '').split(',').length, 2);
});

t.test('qemuArgs: only 127.0.0.1 ports come in, with restrict=on', async (tt) => {
  const cfg = resolveConfig({ stateDir: tmp, portBase: 31000 });
  const ports = hostPorts(cfg);
  const argv = qemuArgs(cfg, files, ports);
  const netdev = after(argv, '-netdev').split(',');
  tt.equal(netdev[0], 'user', 'user-mode network');
  tt.ok(netdev.includes('restrict=on'), 'restrict=on: dom0 reaches nothing outside');
  const fwd = netdev.filter((p) => p.startsWith('hostfwd='));
  tt.equal(fwd.length, 3, 'three forwards');
  for (const f of fwd) tt.match(f, /^hostfwd=(tcp|udp):127\.0\.0\.1:\d+-:\d+$/, `${f} binds 127.0.0.1 only`);
  tt.same(fwd.sort(), [
    'hostfwd=tcp:127.0.0.1:31000-:7000',
    'hostfwd=tcp:127.0.0.1:31001-:8080',
    'hostfwd=udp:127.0.0.1:31002-:53',
  ].sort(), 'agent tcp, API tcp, DNS udp');
  tt.equal(after(argv, '-device'), 'virtio-net-pci,netdev=net0');
});

t.test('qemuArgs: a share directory becomes virtfs with its commas doubled', async (tt) => {
  const cfg = resolveConfig({ stateDir: tmp, portBase: 30000 });
  const argv = qemuArgs(cfg, { ...files, shareDir: '/a,b/share' }, hostPorts(cfg));
  tt.match(after(argv, '-virtfs'), /^local,path=\/a,,b\/share,mount_tag=share,/);
});

/** Listens on an ephemeral TCP port of 127.0.0.1 that no test must avoid. */
async function holdTcp(): Promise<net.Server> {
  for (;;) {
    const s = net.createServer();
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', resolve); });
    const port = (s.address() as net.AddressInfo).port;
    if (port > 2000 && port < 65000 && !RESERVED.some((r) => Math.abs(r - port) <= 2)) return s;
    await new Promise<void>((r) => s.close(() => r()));
  }
}

async function holdUdp(): Promise<dgram.Socket> {
  for (;;) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(0, '127.0.0.1', resolve); });
    const port = s.address().port;
    if (port > 2000 && port < 65000 && !RESERVED.some((r) => Math.abs(r - port) <= 2)) return s;
    await new Promise<void>((r) => s.close(() => r()));
  }
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try { await p; } catch (err) { return err; }
  return undefined;
}

t.test('checkPortsFree names a TCP port someone holds', async (tt) => {
  const s = await holdTcp();
  tt.teardown(() => new Promise<void>((r) => s.close(() => r())));
  const port = (s.address() as net.AddressInfo).port;

  const asAgent = await errorOf(checkPortsFree({ agent: port, api: port + 1, dns: port + 2 }));
  tt.ok(asAgent instanceof LabError, 'agent port held: LabError');
  tt.match(asAgent, { code: 'EPORTINUSE', message: new RegExp(`\\b${port} for agent \\(tcp\\)`) });
  tt.match(asAgent, { details: /--port-base/ }, 'says how to pick other ports');

  const asApi = await errorOf(checkPortsFree({ agent: port - 1, api: port, dns: port + 1 }));
  tt.match(asApi, { code: 'EPORTINUSE', message: new RegExp(`\\b${port} for chaosd API \\(tcp\\)`) });
});

t.test('checkPortsFree names the UDP port someone holds', async (tt) => {
  const s = await holdUdp();
  tt.teardown(() => new Promise<void>((r) => s.close(() => r())));
  const port = s.address().port;
  const err = await errorOf(checkPortsFree({ agent: port - 2, api: port - 1, dns: port }));
  tt.ok(err instanceof LabError);
  tt.match(err, { code: 'EPORTINUSE', message: new RegExp(`\\b${port} for jitsud DNS \\(udp\\)`) });
});

t.test('checkPortsFree passes when the ports are free', async (tt) => {
  // Find three ports nobody holds right now: hold them, let go, then check.
  let ports: HostPorts | undefined;
  for (let attempt = 0; attempt < 20 && !ports; attempt++) {
    const s = await holdTcp();
    const base = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const probe = await errorOf(Promise.all([bindTcp(base), bindTcp(base + 1), bindUdp(base + 2)]));
    if (probe === undefined) ports = { agent: base, api: base + 1, dns: base + 2 };
  }
  if (!ports) { tt.fail('could not find three free ports in a row'); return; }
  await tt.resolves(checkPortsFree(ports), `ports ${ports.agent}-${ports.dns} are free`);
  // The check lets go of what it bound: binding again works.
  await tt.resolves(Promise.all([bindTcp(ports.agent), bindTcp(ports.api), bindUdp(ports.dns)]), 'the check released its sockets');
});

/** Binds a port and releases it at once; rejects when it is taken. */
function bindTcp(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
  });
}

function bindUdp(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (err) => { s.close(); reject(err); });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve()));
  });
}

t.test('isLabQemu: false for this process and for a pid that does not exist', async (tt) => {
  tt.equal(isLabQemu(process.pid, path.join(tmp, 'serial.log')), false, 'this node process is no QEMU');
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  tt.equal(isLabQemu(pidMax + 1, path.join(tmp, 'serial.log')), false, 'pid above pid_max');
});

t.test('isLabQemu: true only for a live qemu-system process writing that serial log', async (tt) => {
  // A stand-in, not QEMU: node with argv[0] set to a qemu-system name and the serial argument QEMU would get.
  const serial = path.join(tmp, 'fake-serial.log');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', '--', '-serial', `file:${serial}`], {
    argv0: 'qemu-system-x86_64-standin', stdio: 'ignore',
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  tt.teardown(async () => { child.kill('SIGKILL'); await exited; });
  await new Promise<void>((r) => child.once('spawn', () => r()));
  const pid = child.pid!;
  tt.equal(isLabQemu(pid, serial), true, 'the stand-in looks like the lab QEMU');
  tt.equal(isLabQemu(pid, path.join(tmp, 'other-serial.log')), false, 'another serial log: not this lab');
  child.kill('SIGKILL');
  await exited;
  tt.equal(isLabQemu(pid, serial), false, 'gone once it exited');
});
