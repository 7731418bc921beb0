// Unit tests of the readers of stock `xl info` and `xl list` output.
import t from 'tap';
import { parseXlInfo, parseXlList } from '../../../lab/xl.js';

// As Xen 4.17's xl prints it in the lab (values may contain colons; some are empty).
const XL_INFO = `host                   : (none)
release                : 6.1.0-56-amd64
version                : #1 SMP PREEMPT_DYNAMIC Debian 6.1.140-1 (2025-05-22)
machine                : x86_64
nr_cpus                : 2
max_cpu_id             : 1
nr_nodes               : 1
cores_per_socket       : 1
threads_per_core       : 1
cpu_mhz                : 2399.996
hw_caps                : 1f8bfbff:f7fa3203:2c100800:00000121:0000000f:009c07ab:00000008:00000100
virt_caps              : pv
total_memory           : 4095
free_memory            : 2958
sharing_freed_memory   : 0
sharing_used_memory    : 0
outstanding_claims     : 0
free_cpus              : 0
xen_major              : 4
xen_minor              : 17
xen_extra              : .5
xen_version            : 4.17.5
xen_caps               : xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64
xen_scheduler          : credit2
xen_pagesize           : 4096
platform_params        : virt_start=0xffff800000000000
xen_changeset          : 
xen_commandline        : placeholder console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2
cc_compiler            : x86_64-linux-gnu-gcc (Debian 12.2.0-14+deb12u1) 12.2.0
cc_compile_by          : pkg-xen-devel
cc_compile_domain      : lists.alioth.debian.org
cc_compile_date        : Mon Apr  7 12:00:00 UTC 2025
build_id               : 0123456789abcdef0123456789abcdef01234567
xend_config_format     : 4
`;

t.test('parseXlInfo reads every key', async (tt) => {
  const info = parseXlInfo(XL_INFO);
  tt.equal(Object.keys(info).length, 34);
  tt.equal(info.xen_version, '4.17.5');
  tt.equal(info.nr_cpus, '2');
  tt.equal(info.total_memory, '4095');
  tt.equal(info.free_memory, '2958');
  tt.equal(info.host, '(none)');
  tt.equal(info.xen_scheduler, 'credit2');
});

t.test('parseXlInfo keeps colons inside values and allows empty values', async (tt) => {
  const info = parseXlInfo(XL_INFO);
  tt.equal(info.hw_caps, '1f8bfbff:f7fa3203:2c100800:00000121:0000000f:009c07ab:00000008:00000100');
  tt.equal(info.xen_commandline, 'placeholder console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2');
  tt.equal(info.cc_compile_date, 'Mon Apr  7 12:00:00 UTC 2025', 'inner spacing kept');
  tt.equal(info.xen_changeset, '', 'empty value');
  tt.equal(info.version, '#1 SMP PREEMPT_DYNAMIC Debian 6.1.140-1 (2025-05-22)');
});

t.test('parseXlInfo ignores lines that are not "key : value"', async (tt) => {
  const info = parseXlInfo('libxl: error: something went wrong\n\nnot a pair\nnr_cpus : 8\n  indented : no\n');
  tt.same(info, { libxl: 'error: something went wrong', nr_cpus: '8' });
  tt.same(parseXlInfo(''), {});
});

// xl separates the last columns with tabs; names may contain dashes and dots.
const XL_LIST = [
  'Name                                        ID   Mem VCPUs\tState\tTime(s)',
  'Domain-0                                     0  1024     2     r-----      37.9',
  'noop-guest-1                                 1     4     1     -b----       0.1',
  'paused-vm.test                               2    32     1     --p---       0.0',
  'shutting-down                                3    16     1     ---s--       0.0',
  'crashed-vm                                   4    16     1     ----c-       1.5',
  '(null)                                       5     0     1     --p--d       0.2',
  '',
].join('\n');

t.test('parseXlList reads every domain row', async (tt) => {
  tt.same(parseXlList(XL_LIST), [
    { name: 'Domain-0', id: 0, memMiB: 1024, vcpus: 2, state: 'r-----', timeSec: 37.9 },
    { name: 'noop-guest-1', id: 1, memMiB: 4, vcpus: 1, state: '-b----', timeSec: 0.1 },
    { name: 'paused-vm.test', id: 2, memMiB: 32, vcpus: 1, state: '--p---', timeSec: 0 },
    { name: 'shutting-down', id: 3, memMiB: 16, vcpus: 1, state: '---s--', timeSec: 0 },
    { name: 'crashed-vm', id: 4, memMiB: 16, vcpus: 1, state: '----c-', timeSec: 1.5 },
    { name: '(null)', id: 5, memMiB: 0, vcpus: 1, state: '--p--d', timeSec: 0.2 },
  ]);
});

t.test('parseXlList skips the header, blank lines and anything malformed', async (tt) => {
  tt.same(parseXlList('Name ID Mem VCPUs State Time(s)\n'), [], 'header only');
  tt.same(parseXlList(''), []);
  const rows = parseXlList([
    'Name ID Mem VCPUs State Time(s)',
    'bad-state 1 4 1 -x---- 0.1',
    'short-state 2 4 1 -b--- 0.1',
    'no-id x 4 1 -b---- 0.1',
    'ok 3 4 1 -b---- 0.1',
  ].join('\n'));
  tt.same(rows.map((r) => r.name), ['ok']);
  // The first line is always the header, even when it looks like a row.
  tt.same(parseXlList('Domain-0 0 1024 2 r----- 1.0\n').length, 0);
});
