// Unit tests of the configuration entry points: a realistic config in xl and JSON, overrides, and loading files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  applyOverrides, loadConfig, parseJsonConfig, parseXl, parseXlConfig, type DomainConfig,
} from '../../../../toolstack/config/index.js';
import { FIXTURES, caught, caughtAsync, checkError } from './helpers.js';

const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

/** What web.cfg and web.json both describe. */
const WEB: DomainConfig = {
  name: 'web1',
  type: 'pv',
  kernel: '/var/lib/lightvm/kernels/vmlinuz-6.1',
  ramdisk: '/var/lib/lightvm/kernels/initrd-6.1.img',
  cmdline: 'root=/dev/xvda1 ro console=hvc0 quiet',
  memoryMiB: 512,
  maxMemoryMiB: 1024,
  vcpus: 2,
  maxVcpus: 4,
  cpus: [0, 2, 3],
  vifs: [
    { mac: '00:16:3e:5a:01:02', bridge: 'xenbr0', ip: '192.0.2.10', rate: { bytesPerSecond: 1_250_000, intervalUs: 20_000 } },
    { bridge: 'xenbr1', vifname: 'web1-back', mtu: 9000, trusted: false },
  ],
  disks: [
    { target: '/dev/vg0/web1-root', format: 'raw', vdev: 'xvda1', vbd: 51713, mode: 'w', devtype: 'disk', directIoSafe: false, discard: true, trusted: true, specification: 'xen' },
    { target: '/srv/images/web1-data.qcow2', format: 'qcow2', vdev: 'xvdb', vbd: 51728, mode: 'w', devtype: 'disk', directIoSafe: false, discard: true, trusted: true, specification: 'xen' },
    { target: '/srv/iso/tools.iso', format: 'raw', vdev: 'xvdc', vbd: 51744, mode: 'r', devtype: 'cdrom', directIoSafe: false, discard: true, trusted: true, specification: 'xen' },
  ],
  onPoweroff: 'destroy',
  onReboot: 'restart',
  onCrash: 'preserve',
  uuid: '3f1c9a52-8d4e-4b7a-9e21-6c0d5b8a7f34',
  devMethod: 'xenstore',
};

t.test('a realistic xl config parses into the expected DomainConfig', async (tt) => {
  tt.strictSame(parseXlConfig(fixture('web.cfg'), 'web.cfg'), WEB);
});

t.test('the same guest in JSON gives a deep-equal DomainConfig', async (tt) => {
  const fromXl = parseXlConfig(fixture('web.cfg'), 'web.cfg');
  const fromJson = parseJsonConfig(fixture('web.json'), 'web.json');
  tt.strictSame(fromJson, fromXl);
  tt.strictSame(parseJsonConfig('{"name":"a","kernel":"/k","memory":8}', 'a.json'), parseXlConfig('name="a";kernel="/k";memory=8', 'a.cfg'), 'the smallest guest too');
});

t.test('JSON is validated the same way, with the key\'s line', async (tt) => {
  const text = fixture('web.json').replace('"memory": 512', '"memory": -512');
  checkError(tt, caught(() => parseJsonConfig(text, 'web.json')), { code: 'CONFIG_INVALID', file: 'web.json', line: 9, key: 'memory', says: /^memory must be a whole number of MiB from 1 to 16777216, not the number -512$/ }, 'negative memory in JSON');
  checkError(tt, caught(() => parseJsonConfig('{\n"name": "a",\n"kernel": "/k",\n"memory": 2.5\n}', 'g.json')), { code: 'CONFIG_INVALID', file: 'g.json', line: 4, key: 'memory', says: /not the number 2\.5$/ }, 'fractional memory in JSON');
  checkError(tt, caught(() => parseJsonConfig('{\n"name": "a",\n"kernel": "/k",\n"memory": 8,\n"vpcus": 2\n}', 'g.json')), { code: 'CONFIG_UNKNOWN_KEY', file: 'g.json', line: 5, key: 'vpcus', says: /did you mean "vcpus"\?$/ }, 'unknown key in JSON');
  checkError(tt, caught(() => parseJsonConfig('{"name": "a", "kernel": "/k", "memory": 8, "vif": {"mac": "x"}}', 'g.json')), { code: 'CONFIG_INVALID', file: 'g.json', line: 1, key: 'vif', says: /^vif must be a \[list\] of "vifspec" strings, not an object$/ }, 'object for a list');
  checkError(tt, caught(() => parseJsonConfig('{"name": "a", "kernel": "/k", "memory": 8, "vcpus": true}', 'g.json')), { code: 'CONFIG_INVALID', file: 'g.json', line: 1, key: 'vcpus', says: /not the boolean true$/ }, 'boolean for a number');
  const multi = '{\n"name": "a", "kernel": "/k", "memory": 8,\n"disk": [\n  "/a,,xvda",\n  "/b,,xvda9,x"\n]\n}';
  checkError(tt, caught(() => parseJsonConfig(multi, 'g.json')), { code: 'CONFIG_INVALID', file: 'g.json', line: 5, key: 'disk', says: /^disk\[1\] "\/b,,xvda9,x": access must be/ }, 'the line of the bad disk');
});

t.test('xl\'s own PV example, shipped with Xen, parses once given a name lightvm accepts', { skip: fs.existsSync('/etc/xen/xlexample.pvlinux') ? false : 'Xen\'s example configurations are not installed here (/etc/xen/xlexample.pvlinux)' }, async (tt) => {
  const text = fs.readFileSync('/etc/xen/xlexample.pvlinux', 'utf8');
  // Its name, "example.pvlinux", has a ".", which XenStore paths do not allow.
  checkError(tt, caught(() => parseXlConfig(text, 'xlexample.pvlinux')), { code: 'CONFIG_INVALID', file: 'xlexample.pvlinux', line: parseXl(text, 'x').find((s) => s.key === 'name')!.line, key: 'name', says: /contains "\."/ }, 'the dotted name');
  const cfg = parseXlConfig(text, 'xlexample.pvlinux', ['name="example-pvlinux"']);
  tt.equal(cfg.name, 'example-pvlinux');
  tt.equal(cfg.vifs.length, 1, 'its vif = [ \'\' ] is one interface with every default');
  tt.ok(cfg.disks.length >= 1 && cfg.memoryMiB > 0);
});

t.test('overrides replace a key in place or add it, like xl create cfg KEY=VALUE', async (tt) => {
  const base = parseXl('name = "a"\nkernel = "/k"\nmemory = 128\n', 'g.cfg');
  const s = applyOverrides(base, ['memory=64', 'name="x"; vcpus=2', 'vcpus=3']);
  tt.same(s.map((x) => [x.key, x.value]), [['name', 'x'], ['kernel', '/k'], ['memory', 64], ['vcpus', 3]], 'in place, added at the end, the later override wins');
  tt.same(s.map((x) => x.origin), ['name="x"; vcpus=2', undefined, 'memory=64', 'vcpus=3'], 'settings remember their override');
  tt.same(applyOverrides(base, []), base, 'no overrides: the same settings');
  tt.not(applyOverrides(base, []), base, 'a new array; the input is left alone');
  const cfg = parseXlConfig(fixture('web.cfg'), 'web.cfg', ['memory=256', 'cpus="all"', 'disk=[]', `vif=['bridge=br9']`]);
  tt.strictSame(cfg, { ...WEB, memoryMiB: 256, cpus: 'all', disks: [], vifs: [{ bridge: 'br9' }] });
  tt.equal(parseJsonConfig(fixture('web.json'), 'web.json', ['on_crash="destroy"']).onCrash, 'destroy', 'overrides apply to JSON configs too');
  tt.equal(parseXlConfig('kernel="/k"\nmemory=1', 'g.cfg', ['name="given"']).name, 'given', 'an override can supply a missing key');
});

t.test('a malformed override is a syntax error naming it', async (tt) => {
  checkError(tt, caught(() => applyOverrides([], ['memory='])), { code: 'CONFIG_SYNTAX', key: 'memory', says: /^expected a value after "="/ }, 'no value');
  tt.match((caught(() => applyOverrides([], ['memory='])) as Error).message, /^override "memory=": /);
  checkError(tt, caught(() => applyOverrides([], ['memory=64', 'name=x'])), { code: 'CONFIG_SYNTAX', key: 'name', says: /found the bare word x: strings must be quoted/ }, 'unquoted');
  checkError(tt, caught(() => applyOverrides([], ['memory'])), { code: 'CONFIG_SYNTAX', key: 'memory', says: /^expected "=" after the key "memory", found the end of the override$/ }, 'no "="');
  checkError(tt, caught(() => applyOverrides([], ['cpus="0-3"; cpus="1"'])), { code: 'CONFIG_SYNTAX', key: 'cpus', says: /is set twice: keep one of them$/ }, 'a key twice in one override');
});

t.test('a bad value from an override names the override', async (tt) => {
  const err = caught(() => parseXlConfig(fixture('web.cfg'), 'web.cfg', ['maxmem=100']));
  checkError(tt, err, { code: 'CONFIG_INVALID', file: 'web.cfg', line: undefined, key: 'maxmem', says: /^maxmem \(100 MiB\) is less than memory \(512 MiB\)/ }, 'override');
  tt.match((err as Error).message, /^override "maxmem=100": /);
});

t.test('loadConfig: xl or JSON by the file name; errors name the file', async (tt) => {
  tt.strictSame(await loadConfig(path.join(FIXTURES, 'web.cfg')), WEB);
  tt.strictSame(await loadConfig(path.join(FIXTURES, 'web.json')), WEB);
  tt.equal((await loadConfig(path.join(FIXTURES, 'guest.JSON'))).name, 'upper', '.JSON in capitals is JSON too');
  tt.equal((await loadConfig(path.join(FIXTURES, 'web.cfg'), ['vcpus=1'])).vcpus, 1, 'with overrides');

  const bad9 = path.join(FIXTURES, 'bad-line9.cfg');
  checkError(tt, await caughtAsync(() => loadConfig(bad9)), { code: 'CONFIG_INVALID', file: bad9, line: 9, key: 'disk', says: /^disk\[1\] "\/srv\/b\.img,,xvdb,rwx": access must be r, ro, w or rw, not "rwx"$/ }, 'a bad disk on line 9');
  const syntax = path.join(FIXTURES, 'syntax.cfg');
  checkError(tt, await caughtAsync(() => loadConfig(syntax)), { code: 'CONFIG_SYNTAX', file: syntax, line: 3, key: 'memory', says: /^expected a value after "="/ }, 'a syntax error');
});

t.test('loadConfig: a missing or unreadable file is CONFIG_NOT_FOUND', async (tt) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-cfg-'));
  tt.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'nope.cfg');
  const err = await caughtAsync(() => loadConfig(missing));
  tt.match(err, { code: 'CONFIG_NOT_FOUND', file: missing, message: `the configuration file ${missing} does not exist` });
  tt.ok((err as Error).cause, 'keeps the cause');
  tt.match(await caughtAsync(() => loadConfig(dir)), { code: 'CONFIG_NOT_FOUND', message: /is a directory, not a file$/ });
  tt.match(await caughtAsync(() => loadConfig(path.join(dir, 'nope.json'))), { code: 'CONFIG_NOT_FOUND', message: /nope\.json does not exist$/ });
  tt.match(await caughtAsync(() => loadConfig(path.join(missing, 'x.cfg'))), { code: 'CONFIG_NOT_FOUND', message: /does not exist$/ }, 'under a file that does not exist');
});
