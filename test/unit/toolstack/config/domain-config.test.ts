// Unit tests of DomainConfig validation: defaults, every key, every kind of bad value with its file, line, key and sentence, and checkFiles.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  CONFIG_KEYS, LIMITS, checkFiles, domainNameProblem, validateDomainConfig, type DomainConfig, type InputSetting,
} from '../../../../toolstack/config/domain-config.js';
import { parseXl } from '../../../../toolstack/config/xl-cfg.js';
import type { ErrorCode } from '../../../../toolstack/errors.js';
import { caught, caughtAsync, checkError } from './helpers.js';

const F = 'guest.cfg';
const BASE = 'name = "web1"\nkernel = "/boot/vmlinuz"\nmemory = 128\n';

function cfgOf(text: string): DomainConfig {
  return validateDomainConfig(parseXl(text, F), F);
}

/**
 * Checks the error for `text` added to a valid config from line 4 on (or for `text` alone when whole
 * is set); `line` null means the error must have no line.
 */
function bad(tt: Test, text: string, code: ErrorCode, key: string | undefined, says: RegExp, line: number | null = 4, whole = false): void {
  const err = caught(() => cfgOf(whole ? text : BASE + text));
  checkError(tt, err, { code, file: F, line: line ?? undefined, key, says }, text.replace(/\n/g, '\\n').slice(0, 80));
}

t.test('the smallest config: name, kernel and memory; everything else has its default', async (tt) => {
  tt.strictSame(cfgOf(BASE), {
    name: 'web1', type: 'pv', kernel: '/boot/vmlinuz', cmdline: '', memoryMiB: 128, maxMemoryMiB: 128, vcpus: 1, maxVcpus: 1,
    cpus: 'all', vifs: [], disks: [], onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy', devMethod: 'xenstore',
  });
});

t.test('every key set', async (tt) => {
  const cfg = cfgOf([
    'name = "db-2_x"', 'type = "pv"', 'builder = "generic"', 'kernel = "/k/vmlinuz"', 'ramdisk = "/k/initrd"',
    'cmdline = "console=hvc0 quiet"', 'memory = 256', 'maxmem = 1024', 'vcpus = 2', 'maxvcpus = 4', 'cpus = "0-3,^1"',
    'vif = [ "mac=00:16:3e:01:02:03,bridge=br0" ]', 'disk = [ "/img/db.raw,raw,xvda,rw" ]', 'on_poweroff = "preserve"',
    'on_reboot = "rename-restart"', 'on_crash = "coredump-restart"', 'uuid = "5F0A3B8E-6C1D-4F2A-9B7E-0D4C3A2B1E9F"',
    'dev_method = "noxs"',
  ].join('\n'));
  tt.strictSame(cfg, {
    name: 'db-2_x', type: 'pv', kernel: '/k/vmlinuz', ramdisk: '/k/initrd', cmdline: 'console=hvc0 quiet', memoryMiB: 256,
    maxMemoryMiB: 1024, vcpus: 2, maxVcpus: 4, cpus: [0, 2, 3],
    vifs: [{ mac: '00:16:3e:01:02:03', bridge: 'br0' }],
    disks: [{ target: '/img/db.raw', format: 'raw', vdev: 'xvda', vbd: 51712, mode: 'w', devtype: 'disk', directIoSafe: false, discard: true, trusted: true, specification: 'xen' }],
    onPoweroff: 'preserve', onReboot: 'rename-restart', onCrash: 'coredump-restart', uuid: '5f0a3b8e-6c1d-4f2a-9b7e-0d4c3a2b1e9f',
    devMethod: 'noxs',
  });
  tt.equal(CONFIG_KEYS.length, 20, 'the keys documented in docs/config.md');
});

t.test('the command line: cmdline, or root= followed by extra', async (tt) => {
  tt.equal(cfgOf(`${BASE}root = "/dev/xvda1"\nextra = "console=hvc0"`).cmdline, 'root=/dev/xvda1 console=hvc0');
  tt.equal(cfgOf(`${BASE}extra = "console=hvc0"\nroot = "/dev/xvda1"`).cmdline, 'root=/dev/xvda1 console=hvc0', 'root first, wherever it is written');
  tt.equal(cfgOf(`${BASE}root = "/dev/xvda1"`).cmdline, 'root=/dev/xvda1');
  tt.equal(cfgOf(`${BASE}extra = "quiet"`).cmdline, 'quiet');
  tt.equal(cfgOf(`${BASE}extra = ""\nroot = ""`).cmdline, '', 'empty root and extra add nothing');
  tt.equal(cfgOf(`${BASE}cmdline = "a b"\nroot = "/dev/xvda1"\nextra = "quiet"`).cmdline, 'a b', 'cmdline wins: root and extra are ignored, as xl.cfg(5) says');
  tt.equal(cfgOf(`${BASE}cmdline = ""\nextra = "quiet"`).cmdline, '', 'even an empty cmdline wins');
  const longest = 'x'.repeat(LIMITS.cmdlineBytes);
  tt.equal(cfgOf(`${BASE}cmdline = "${longest}"`).cmdline, longest, `${LIMITS.cmdlineBytes} bytes fit`);
});

t.test('memory and maxmem', async (tt) => {
  tt.equal(cfgOf(BASE.replace('128', '1')).memoryMiB, 1, 'the smallest');
  tt.equal(cfgOf(BASE.replace('128', String(16 * 1024 * 1024))).memoryMiB, 16777216, '16 TiB, the largest');
  tt.equal(cfgOf(BASE.replace('128', '0x80')).memoryMiB, 128, 'hex');
  const c = cfgOf(`${BASE}maxmem = 128`);
  tt.equal(c.maxMemoryMiB, 128, 'maxmem may equal memory');
  tt.equal(cfgOf(`${BASE}maxmem = 512`).maxMemoryMiB, 512);
});

t.test('vcpus, maxvcpus and the legacy builder', async (tt) => {
  tt.same([cfgOf(`${BASE}vcpus = 3`).vcpus, cfgOf(`${BASE}vcpus = 3`).maxVcpus], [3, 3], 'maxvcpus defaults to vcpus');
  tt.same([cfgOf(`${BASE}maxvcpus = 8`).vcpus, cfgOf(`${BASE}maxvcpus = 8`).maxVcpus], [1, 8], 'vcpus defaults to 1');
  tt.equal(cfgOf(`${BASE}builder = "generic"`).type, 'pv', 'builder = "generic" is PV');
});

t.test('cpus: a CPULIST, a lone number, or one CPULIST per vCPU', async (tt) => {
  tt.same(cfgOf(`${BASE}cpus = "all"`).cpus, 'all');
  tt.same(cfgOf(`${BASE}cpus = "0-3,5,^1"`).cpus, [0, 2, 3, 5]);
  tt.same(cfgOf(`${BASE}cpus = 3`).cpus, [3]);
  const per = cfgOf(`${BASE}vcpus = 2\nmaxvcpus = 3\ncpus = ["2", "3-8,^5"]`);
  tt.same(per.cpusPerVcpu, [[2], [3, 4, 6, 7, 8], 'all'], 'one entry per vCPU; vCPUs the list leaves out are not pinned');
  tt.same(per.cpus, 'all', 'the union, which is every CPU when a vCPU is unpinned');
  const full = cfgOf(`${BASE}vcpus = 2\ncpus = [2, "4-5"]`);
  tt.same(full.cpusPerVcpu, [[2], [4, 5]]);
  tt.same(full.cpus, [2, 4, 5], 'the union of the entries');
  tt.notOk('cpusPerVcpu' in cfgOf(`${BASE}cpus = "1"`), 'only the list form sets cpusPerVcpu');
});

t.test('vif and disk lists are parsed entry by entry', async (tt) => {
  const c = cfgOf(`${BASE}vif = [ '', 'bridge=xenbr1,ip=10.0.0.2' ]\ndisk = [ 'phy:/dev/vg/web,xvda,w', ',,hdc,cdrom' ]`);
  tt.same(c.vifs, [{}, { bridge: 'xenbr1', ip: '10.0.0.2' }]);
  tt.same(c.disks.map((d) => [d.target, d.vdev, d.mode, d.devtype]), [['/dev/vg/web', 'xvda', 'w', 'disk'], [undefined, 'hdc', 'r', 'cdrom']]);
  tt.same(cfgOf(`${BASE}vif = []\ndisk = []`).vifs, []);
});

t.test('names', async (tt) => {
  for (const ok of ['a', 'web1', 'db-2_x', '_x', 'A'.repeat(64), '1a', 'x-']) tt.equal(domainNameProblem(ok), undefined, `${ok} is a name`);
  tt.match(domainNameProblem(''), /empty/);
  tt.match(domainNameProblem('a'.repeat(65)), /65 characters long; the limit is 64/);
  tt.match(domainNameProblem('web.1'), /contains "\.": a domain name may use only ASCII letters, digits, "-" and "_"/);
  tt.match(domainNameProblem('a b'), /contains " "/);
  tt.match(domainNameProblem('a/b'), /contains "\/"/);
  tt.match(domainNameProblem('café'), /contains "é"/);
  tt.match(domainNameProblem('-x'), /starts with "-", which would read as an option/);
  tt.match(domainNameProblem('42'), /all digits, which would read as a domain id/);
});

t.test('values of the wrong type', async (tt) => {
  bad(tt, 'name = "web1"\nkernel = "/k"\nmemory = "128"', 'CONFIG_INVALID', 'memory', /^memory must be a whole number of MiB from 1 to 16777216, not the string "128": write the number without quotes$/, 3, true);
  bad(tt, 'name = 5\nkernel = "/k"\nmemory = 1', 'CONFIG_INVALID', 'name', /^name must be a "string", not the number 5$/, 1, true);
  bad(tt, 'name = "a"\nkernel = ["/k"]\nmemory = 1', 'CONFIG_INVALID', 'kernel', /^kernel must be a "path" in quotes, not a list$/, 2, true);
  bad(tt, 'vcpus = [1]', 'CONFIG_INVALID', 'vcpus', /^vcpus must be a whole number of vCPUs from 1 to 4096, not a list$/);
  bad(tt, 'vif = "bridge=xenbr0"', 'CONFIG_INVALID', 'vif', /^vif must be a \[list\] of "vifspec" strings, not the string "bridge=xenbr0"$/);
  bad(tt, 'disk = [\n"/a,,xvda",\n 7 ]', 'CONFIG_INVALID', 'disk', /^disk\[1\] must be a "diskspec" string, not the number 7$/, 6);
  bad(tt, 'vif = [["bridge=x"]]', 'CONFIG_INVALID', 'vif', /^vif\[0\] must be a "vifspec" string, not a list$/);
  bad(tt, 'extra = 1', 'CONFIG_INVALID', 'extra', /^extra must be a "string", not the number 1$/);
  bad(tt, 'on_crash = 1', 'CONFIG_INVALID', 'on_crash', /^on_crash must be one of "destroy", .*, not the number 1$/);
  bad(tt, 'uuid = 5', 'CONFIG_INVALID', 'uuid', /^uuid must be a "UUID"/);
  bad(tt, 'cpus = [["1"]]', 'CONFIG_INVALID', 'cpus', /^cpus\[0\]: expected a "CPULIST" .* not a list$/);
  bad(tt, 'type = 0', 'CONFIG_INVALID', 'type', /^type must be "pv", not the number 0$/);
  bad(tt, 'dev_method = ["noxs"]', 'CONFIG_INVALID', 'dev_method', /^dev_method must be one of "xenstore", "noxs", not a list$/);
});

t.test('memory out of range', async (tt) => {
  const m = (v: string) => `name = "a"\nkernel = "/k"\nmemory = ${v}`;
  bad(tt, m('0'), 'CONFIG_INVALID', 'memory', /^memory must be a whole number of MiB from 1 to 16777216, not the number 0$/, 3, true);
  bad(tt, m('16777217'), 'CONFIG_INVALID', 'memory', /not the number 16777217$/, 3, true);
  bad(tt, m('0xffffffffffff'), 'CONFIG_INVALID', 'memory', /not the number 281474976710655$/, 3, true);
  // Negative and fractional numbers cannot be written in xl syntax; JSON can, and settings from code can.
  const via = (value: unknown) => caught(() => validateDomainConfig([
    { key: 'name', value: 'a', line: 1 }, { key: 'kernel', value: '/k', line: 2 }, { key: 'memory', value, line: 3 },
  ], F));
  checkError(tt, via(-64), { code: 'CONFIG_INVALID', file: F, line: 3, key: 'memory', says: /not the number -64$/ }, 'negative memory');
  checkError(tt, via(1.5), { code: 'CONFIG_INVALID', file: F, line: 3, key: 'memory', says: /not the number 1\.5$/ }, 'fractional memory');
  checkError(tt, via(Number.NaN), { code: 'CONFIG_INVALID', file: F, line: 3, key: 'memory', says: /whole number of MiB .*, not NaN$/ }, 'NaN memory');
  checkError(tt, via(Infinity), { code: 'CONFIG_INVALID', file: F, line: 3, key: 'memory', says: /not the number Infinity$/ }, 'infinite memory');
  checkError(tt, via(true), { code: 'CONFIG_INVALID', file: F, line: 3, key: 'memory', says: /not the boolean true$/ }, 'boolean memory');
  checkError(tt, via(null), { code: 'CONFIG_INVALID', file: F, line: 3, key: 'memory', says: /not null$/ }, 'null memory');
  checkError(tt, via({}), { code: 'CONFIG_INVALID', file: F, line: 3, key: 'memory', says: /not an object$/ }, 'object memory');
});

t.test('limits that involve two keys', async (tt) => {
  bad(tt, 'maxmem = 64', 'CONFIG_INVALID', 'maxmem', /^maxmem \(64 MiB\) is less than memory \(128 MiB\): maxmem must be equal to memory or greater$/);
  bad(tt, 'maxmem = 0', 'CONFIG_INVALID', 'maxmem', /^maxmem must be a whole number of MiB from 1/);
  bad(tt, 'vcpus = 0', 'CONFIG_INVALID', 'vcpus', /^vcpus must be a whole number of vCPUs from 1 to 4096, not the number 0$/);
  bad(tt, 'vcpus = 4097', 'CONFIG_INVALID', 'vcpus', /not the number 4097$/);
  bad(tt, 'vcpus = 4\nmaxvcpus = 2', 'CONFIG_INVALID', 'maxvcpus', /^maxvcpus \(2\) is less than vcpus \(4\): maxvcpus must be equal to vcpus or greater$/, 5);
  bad(tt, 'maxvcpus = 0', 'CONFIG_INVALID', 'maxvcpus', /^maxvcpus must be a whole number of vCPUs/);
  bad(tt, 'vcpus = 2\ncpus = ["1", "2", "3"]', 'CONFIG_INVALID', 'cpus', /^cpus gives CPUs for 3 vCPUs, but the guest has at most 2 \(maxvcpus\)$/, 5);
  bad(tt, `cmdline = "${'x'.repeat(LIMITS.cmdlineBytes + 1)}"`, 'CONFIG_INVALID', 'cmdline', /^the kernel command line is 1024 bytes long; a PV guest can be given at most 1023$/);
  bad(tt, `root = "/dev/xvda1"\nextra = "${'é'.repeat(505)}"`, 'CONFIG_INVALID', 'extra', /^the kernel command line is 1026 bytes long/, 5);
  bad(tt, `root = "${'r'.repeat(1020)}"`, 'CONFIG_INVALID', 'root', /^the kernel command line is 1025 bytes long/);
});

t.test('cpus syntax errors', async (tt) => {
  bad(tt, 'cpus = "0-"', 'CONFIG_INVALID', 'cpus', /^cpus: "0-" is not a CPU list: "0-" is not "all", a CPU number, a range such as 2-5 or an exclusion such as \^3$/);
  bad(tt, 'cpus = "3-1"', 'CONFIG_INVALID', 'cpus', /^cpus: "3-1" has the range "3-1", which runs backwards: write 1-3$/);
  bad(tt, 'cpus = "1,,2"', 'CONFIG_INVALID', 'cpus', /it has an empty item/);
  bad(tt, 'cpus = "^1"', 'CONFIG_INVALID', 'cpus', /^cpus: "\^1" leaves no CPU to run on$/);
  bad(tt, 'cpus = "all,^7"', 'CONFIG_INVALID', 'cpus', /excludes CPUs from "all", which lightvm cannot resolve without knowing the host's CPUs/);
  bad(tt, 'cpus = "node:1"', 'CONFIG_INVALID', 'cpus', /uses NUMA nodes \("node:1"\), which lightvm does not support/);
  bad(tt, 'cpus = "0-99999"', 'CONFIG_INVALID', 'cpus', /names CPU 99999, but CPU numbers go from 0 to 4095$/);
  bad(tt, 'cpus = []', 'CONFIG_INVALID', 'cpus', /^cpus: the list is empty/);
  bad(tt, 'vcpus = 2\ncpus = [\n"1",\n"x"]', 'CONFIG_INVALID', 'cpus', /^cpus\[1\]: "x" is not a CPU list/, 7);
});

t.test('vif errors name the entry and its line', async (tt) => {
  bad(tt, 'vif = [ "mac=00:16:3e:zz:00:01" ]', 'CONFIG_INVALID', 'vif', /^vif\[0\] "mac=00:16:3e:zz:00:01": the MAC address "00:16:3e:zz:00:01" is not six pairs of hex digits separated by ":"/);
  bad(tt, 'vif = [\n "",\n "mac=00:16:3e:00:00:01,brige=xenbr0" ]', 'CONFIG_UNKNOWN_KEY', 'vif', /^vif\[1\] ".*": "brige" is not a vif key; did you mean "bridge"\?/, 6);
  bad(tt, 'vif = [ "mac=00:16:3e:00:00:01", "mac=00:16:3E:00:00:01" ]', 'CONFIG_INVALID', 'vif', /^vif\[1\] has the MAC address 00:16:3e:00:00:01 of vif\[0\]: each interface needs its own$/);
  bad(tt, 'vif = [ "devid=1", "devid=1" ]', 'CONFIG_INVALID', 'vif', /^vif\[1\] has the devid 1 of vif\[0\]/);
});

t.test('disk errors name the entry and its line', async (tt) => {
  bad(tt, 'disk = [ "/img,,xvda,rwx" ]', 'CONFIG_INVALID', 'disk', /^disk\[0\] "\/img,,xvda,rwx": access must be r, ro, w or rw, not "rwx"$/);
  bad(tt, 'disk = [\n"/a,,xvda",\n"/b,,xvda1",\n"/c,,d0" ]', 'CONFIG_INVALID', 'disk', /^disk\[2\] is the same virtual device as disk\[0\] \(d0 and xvda\): give each disk its own vdev$/, 7);
  bad(tt, 'disk = [ "/a,,xvda,bogus=1" ]', 'CONFIG_UNKNOWN_KEY', 'disk', /"bogus" is not a disk key/);
});

t.test('on_* actions', async (tt) => {
  for (const a of ['destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart']) {
    tt.equal(cfgOf(`${BASE}on_crash = "${a}"`).onCrash, a);
  }
  bad(tt, 'on_reboot = "reboot"', 'CONFIG_INVALID', 'on_reboot', /^on_reboot must be one of destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, not "reboot"$/);
  bad(tt, 'on_reboot = "restrat"', 'CONFIG_INVALID', 'on_reboot', /not "restrat"; did you mean "restart"\?$/);
  bad(tt, 'on_poweroff = "halt"', 'CONFIG_INVALID', 'on_poweroff', /not "halt"$/);
  bad(tt, 'on_crash = "soft-reset"', 'CONFIG_INVALID', 'on_crash', /^on_crash "soft-reset" works only for HVM guests/);
});

t.test('uuid', async (tt) => {
  bad(tt, 'uuid = "5f0a3b8e6c1d4f2a9b7e0d4c3a2b1e9f"', 'CONFIG_INVALID', 'uuid', /is not a UUID: write 32 hex digits grouped 8-4-4-4-12 with "-"$/);
  bad(tt, 'uuid = "5f0a3b8e-6c1d-4f2a-9b7e-0d4c3a2b1e9g"', 'CONFIG_INVALID', 'uuid', /is not a UUID/);
  bad(tt, 'uuid = "00000000-0000-0000-0000-000000000000"', 'CONFIG_INVALID', 'uuid', /^uuid is the nil UUID, which is dom0's/);
});

t.test('type and builder', async (tt) => {
  bad(tt, 'type = "hvm"', 'CONFIG_INVALID', 'type', /^type "hvm" is not supported: lightvm runs only PV guests \(type = "pv"\)$/);
  bad(tt, 'type = "pvh"', 'CONFIG_INVALID', 'type', /^type "pvh" is not supported: lightvm runs only PV guests/);
  bad(tt, 'type = "PV"', 'CONFIG_INVALID', 'type', /^type must be "pv" \(lightvm runs only PV guests\), not "PV"$/);
  bad(tt, 'builder = "hvm"', 'CONFIG_INVALID', 'builder', /^builder "hvm" is not supported: lightvm runs only PV guests/);
  bad(tt, 'builder = "linux"', 'CONFIG_INVALID', 'builder', /^builder must be "generic" \(a PV guest\), not "linux"$/);
});

t.test('dev_method', async (tt) => {
  tt.equal(cfgOf(`${BASE}dev_method = "xenstore"`).devMethod, 'xenstore');
  bad(tt, 'dev_method = "noxenstore"', 'CONFIG_INVALID', 'dev_method', /^dev_method must be one of xenstore, noxs, not "noxenstore"/);
});

t.test('unknown keys: a suggestion when one is close, and xl keys named as such', async (tt) => {
  bad(tt, 'memroy = 5', 'CONFIG_UNKNOWN_KEY', 'memroy', /^"memroy" is not a key lightvm knows; did you mean "memory"\?$/);
  bad(tt, 'vpcus = 2', 'CONFIG_UNKNOWN_KEY', 'vpcus', /^"vpcus" is not a key lightvm knows; did you mean "vcpus"\?$/);
  bad(tt, 'kernal = "/k"', 'CONFIG_UNKNOWN_KEY', 'kernal', /did you mean "kernel"\?$/);
  bad(tt, 'on_shutdown = "destroy"', 'CONFIG_UNKNOWN_KEY', 'on_shutdown', /^"on_shutdown" is not a key lightvm knows/);
  bad(tt, 'flavour = "big"', 'CONFIG_UNKNOWN_KEY', 'flavour', /^"flavour" is not a key lightvm knows \(docs\/config.md lists them\)$/);
  bad(tt, 'pool = "fast"', 'CONFIG_UNKNOWN_KEY', 'pool', /^"pool" is an xl.cfg\(5\) key that lightvm does not support/);
  bad(tt, 'vnuma = [ ["pnode=0"] ]', 'CONFIG_UNKNOWN_KEY', 'vnuma', /^"vnuma" is an xl.cfg\(5\) key that lightvm does not support/);
  // Problems come in file order, whatever their kind.
  bad(tt, 'memroy = 5\nvcpus = 0', 'CONFIG_UNKNOWN_KEY', 'memroy', /memroy/);
  bad(tt, 'vcpus = 0\nmemroy = 5', 'CONFIG_INVALID', 'vcpus', /^vcpus must be/);
});

t.test('missing required keys', async (tt) => {
  bad(tt, 'kernel = "/k"\nmemory = 1', 'CONFIG_INVALID', 'name', /^name is required: give the domain a name, e.g. name = "web1"$/, null, true);
  bad(tt, 'name = "a"\nmemory = 1', 'CONFIG_INVALID', 'kernel', /^kernel is required: give the path of the guest's kernel/, null, true);
  bad(tt, 'name = "a"\nkernel = "/k"', 'CONFIG_INVALID', 'memory', /^memory is required: give the guest's memory in MiB, e.g. memory = 128$/, null, true);
  bad(tt, '', 'CONFIG_INVALID', 'name', /^name is required/, null, true);
  const err = caught(() => cfgOf('memory = 1'));
  tt.match((err as Error).message, /^guest\.cfg: name is required/, 'the place is the file alone');
});

t.test('other bad values', async (tt) => {
  bad(tt, 'name = "web 1"\nkernel = "/k"\nmemory = 1', 'CONFIG_INVALID', 'name', /^the name "web 1" contains " ": a domain name may use only ASCII letters, digits, "-" and "_", as it is used in XenStore paths$/, 1, true);
  bad(tt, 'name = ""\nkernel = "/k"\nmemory = 1', 'CONFIG_INVALID', 'name', /^the name is empty$/, 1, true);
  bad(tt, 'name = "a"\nkernel = ""\nmemory = 1', 'CONFIG_INVALID', 'kernel', /^kernel is empty: give the path of the file$/, 2, true);
  bad(tt, 'ramdisk = ""', 'CONFIG_INVALID', 'ramdisk', /^ramdisk is empty/);
});

t.test('a key twice among settings (e.g. built by code) is refused', async (tt) => {
  const s: InputSetting[] = [{ key: 'name', value: 'a', line: 1 }, { key: 'name', value: 'b', line: 5 }];
  checkError(tt, caught(() => validateDomainConfig(s, F)), { code: 'CONFIG_SYNTAX', file: F, line: 5, key: 'name', says: /^"name" is set twice, on line 1 and on line 5/ }, 'twice');
});

t.test('a setting from an override is named by the override, with no line', async (tt) => {
  const s: InputSetting[] = [...parseXl(BASE, F).filter((x) => x.key !== 'memory'), { key: 'memory', value: 0, line: 1, origin: 'memory=0' }];
  const err = caught(() => validateDomainConfig(s, F));
  checkError(tt, err, { code: 'CONFIG_INVALID', file: F, line: undefined, key: 'memory', says: /^memory must be a whole number/ }, 'override');
  tt.match((err as Error).message, /^override "memory=0": memory must/);
});

t.test('checkFiles: the kernel and ramdisk must be readable, non-empty regular files', async (tt) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-cfg-'));
  tt.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kernel = path.join(dir, 'vmlinuz');
  const ramdisk = path.join(dir, 'initrd');
  fs.writeFileSync(kernel, 'kernel');
  fs.writeFileSync(ramdisk, 'ramdisk');
  const cfg = cfgOf(`name = "a"\nkernel = "${kernel}"\nramdisk = "${ramdisk}"\nmemory = 1`);
  await tt.resolves(checkFiles(cfg), 'both present');

  const missing = await caughtAsync(() => checkFiles({ ...cfg, kernel: path.join(dir, 'nope') }));
  tt.match(missing, { code: 'KERNEL_INVALID', key: 'kernel', message: `the kernel ${path.join(dir, 'nope')} does not exist` });
  tt.match(await caughtAsync(() => checkFiles({ ...cfg, kernel: dir })), { code: 'KERNEL_INVALID', message: /is not a regular file$/ });
  fs.writeFileSync(path.join(dir, 'empty'), '');
  tt.match(await caughtAsync(() => checkFiles({ ...cfg, kernel: path.join(dir, 'empty') })), { code: 'KERNEL_INVALID', message: /is empty$/ });
  tt.match(await caughtAsync(() => checkFiles({ ...cfg, kernel: path.join(kernel, 'x') })), { code: 'KERNEL_INVALID', message: /does not exist$/ }, 'a path through a file');
  tt.match(await caughtAsync(() => checkFiles({ ...cfg, ramdisk: path.join(dir, 'nope') })), { code: 'CONFIG_INVALID', key: 'ramdisk', message: `the ramdisk ${path.join(dir, 'nope')} does not exist` });
});

const isRoot = process.getuid?.() === 0;
t.test('checkFiles: an unreadable kernel', { skip: isRoot ? 'root reads every file, so this is checked only when the tests run as another user' : false }, async (tt) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-cfg-'));
  tt.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const unreadable = path.join(dir, 'secret');
  fs.writeFileSync(unreadable, 'k', { mode: 0o000 });
  const cfg = cfgOf(`name = "a"\nkernel = "${unreadable}"\nmemory = 1`);
  tt.match(await caughtAsync(() => checkFiles(cfg)), { code: 'KERNEL_INVALID', key: 'kernel', message: /cannot be read \(EACCES\)$/ });
});
