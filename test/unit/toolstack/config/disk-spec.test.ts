// Unit tests of diskspecs (xl-disk-configuration(5)): positional, named and deprecated forms, vdev encoding, and each refusal.
import t from 'tap';
import { parseDiskSpec, vbdNumber, type DiskConfig } from '../../../../toolstack/config/disk-spec.js';
import { reject, rejection } from './spec-reject.js';

const disk = (s: string) => parseDiskSpec(s, reject);
const DEFAULTS = { format: 'raw', mode: 'w', devtype: 'disk', directIoSafe: false, discard: true, trusted: true, specification: 'xen' } as const;
const d = (over: Partial<DiskConfig> & { vdev: string; vbd: number }): DiskConfig => ({ ...DEFAULTS, ...over });

t.test('the equivalent forms of xl-disk-configuration(5)', async (tt) => {
  const want = d({ target: '/dev/vg/guest-volume', vdev: 'hda', vbd: 768 });
  for (const spec of [
    '/dev/vg/guest-volume,,hda',
    '/dev/vg/guest-volume,raw,hda,rw',
    'format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume',
    'raw:/dev/vg/guest-volume,hda,w',
  ]) tt.strictSame(disk(spec), want, spec);
});

t.test('the equivalent CD-ROM forms of xl-disk-configuration(5)', async (tt) => {
  const want = d({ target: '/root/image.iso', vdev: 'hdc', vbd: 5632, mode: 'r', devtype: 'cdrom' });
  for (const spec of [
    '/root/image.iso,,hdc,cdrom',
    '/root/image.iso,,hdc,,cdrom',
    '/root/image.iso,raw,hdc,devtype=cdrom',
    'format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso',
    'raw:/root/image.iso,hdc:cdrom,ro',
  ]) tt.strictSame(disk(spec), want, spec);
});

t.test('empty CD-ROM drives', async (tt) => {
  const want = d({ vdev: 'hdc', vbd: 5632, mode: 'r', devtype: 'cdrom' });
  tt.strictSame(disk(',hdc:cdrom,r'), want, 'the deprecated xend form');
  tt.strictSame(disk(',,hdc,cdrom'), want);
  tt.strictSame(disk('vdev=hdc,devtype=cdrom,target='), want);
  tt.strictSame(disk(',,hdc,w,cdrom'), { ...want, mode: 'w' }, 'an explicit access wins over the CD-ROM default');
});

t.test('deprecated prefixes: formats, scripts and ones that are dropped', async (tt) => {
  tt.strictSame(disk('phy:/dev/vg/web,xvda,w'), d({ target: '/dev/vg/web', vdev: 'xvda', vbd: 51712 }));
  tt.strictSame(disk('file:/srv/web.img,xvda1,r'), d({ target: '/srv/web.img', vdev: 'xvda1', vbd: 51713, mode: 'r' }));
  tt.strictSame(disk('tap:aio:qcow:/x,xvda,r'), d({ target: '/x', format: 'qcow', vdev: 'xvda', vbd: 51712, mode: 'r' }), 'tap:aio:qcow: as the page shows');
  tt.strictSame(disk('tap2:vhd:/x.vhd,xvdb,w'), d({ target: '/x.vhd', format: 'vhd', vdev: 'xvdb', vbd: 51728 }));
  tt.strictSame(disk('qcow2:/x.qcow2,xvda,w'), d({ target: '/x.qcow2', format: 'qcow2', vdev: 'xvda', vbd: 51712 }));
  tt.strictSame(disk('nbd:host:1234,xvda,w'), d({ target: 'host:1234', script: 'block-nbd', vdev: 'xvda', vbd: 51712 }), 'a script prefix; the target is the script\'s, not a path');
  tt.strictSame(disk('iscsi:iqn.2001-04.com.example:disk,xvdb,w').script, 'block-iscsi');
  tt.strictSame(disk('C:/x,,xvda').target, '/dev/C:/x', 'an unknown prefix is part of the target');
});

t.test('named parameters, flags and spacing', async (tt) => {
  tt.strictSame(disk('format=qcow2,/x,xvda'), d({ target: '/x', format: 'qcow2', vdev: 'xvda', vbd: 51712 }), 'positionals fill the slots still unset');
  tt.strictSame(disk('/x, raw, xvda'), d({ target: '/x', vdev: 'xvda', vbd: 51712 }), 'white space before a parameter is ignored');
  tt.equal(disk('/x ,,xvda').target, '/x ', 'white space after it is kept, as the spec says');
  tt.strictSame(disk('vdev=xvda,target=/a,b c '), d({ target: '/a,b c ', vdev: 'xvda', vbd: 51712 }), 'target= takes the rest, commas and trailing spaces too');
  tt.strictSame(disk(',,xvda,target=/y'), d({ target: '/y', vdev: 'xvda', vbd: 51712 }), 'target= after an empty positional target');
  tt.strictSame(disk('/x,,xvda,'), d({ target: '/x', vdev: 'xvda', vbd: 51712 }), 'one trailing comma');
  tt.strictSame(disk('/x,,xvda,,'), d({ target: '/x', vdev: 'xvda', vbd: 51712 }), 'an empty access, then a trailing comma');
  tt.strictSame(disk('sda1,,xvda').target, '/dev/sda1', 'a relative target is in /dev');
  tt.strictSame(disk('/x,,xvdb:cdrom').devtype, 'cdrom', 'vdev:cdrom in the modern form too');
  const all = disk('/x,qed,xvda,ro,backend=stor1,backendtype=qdisk,script=block-drbd,specification=virtio,direct-io-safe,no-discard,untrusted');
  tt.strictSame(all, {
    target: '/x', format: 'qed', vdev: 'xvda', vbd: 51712, mode: 'r', devtype: 'disk', backend: 'stor1', backendtype: 'qdisk',
    script: 'block-drbd', directIoSafe: true, discard: false, trusted: false, specification: 'virtio',
  });
  tt.equal(disk('/x,,xvda,discard,trusted').discard, true);
  tt.equal(disk('/x,,xvda,access=r').mode, 'r');
  tt.equal(disk('/x,,xvda,r').mode, 'r');
  tt.equal(disk('/x,,xvda,w').mode, 'w');
  tt.equal(disk('/x,,xvda,backendtype=phy').backendtype, 'phy');
  tt.equal(disk('/x,,xvda,backendtype=standalone').backendtype, 'standalone');
});

t.test('vdev names and their xen-vbd-interface(7) numbers', async (tt) => {
  const cases: Array<[string, number]> = [
    ['xvda', 202 << 8], ['d0', 202 << 8], ['d0p0', 202 << 8], ['xvdb2', (202 << 8) | (1 << 4) | 2], ['d1p2', (202 << 8) | (1 << 4) | 2],
    ['xvdp15', (202 << 8) | (15 << 4) | 15], ['xvdq', (1 << 28) | (16 << 8)], ['xvda16', (1 << 28) | 16],
    ['xvdtq37', (1 << 28) | (536 << 8) | 37], ['d536p37', (1 << 28) | (536 << 8) | 37], ['xvdaa', (1 << 28) | (26 << 8)],
    ['sdb3', (8 << 8) | (1 << 4) | 3], ['hdc2', (22 << 8) | 2], ['hda', 3 << 8], ['hdb63', (3 << 8) | (1 << 6) | 63], ['hdd', (22 << 8) | (1 << 6)],
    ['51712', 51712], ['0xca00', 51712], ['0145000', 51712],
  ];
  for (const [vdev, n] of cases) tt.equal(vbdNumber(vdev), n, vdev);
  for (const vdev of ['xvd', 'xvda01', 'hde', 'hda64', 'sdq', 'sda16', 'd1p256', 'd1048576', 'xvdA', 'vda', 'xvda-1', '0', '0x20000000', 'd01']) {
    tt.type(vbdNumber(vdev), 'string', `${vdev} has no number`);
  }
});

t.test('malformed diskspecs, each with a reason', async (tt) => {
  const cases: Array<[string, 'CONFIG_INVALID' | 'CONFIG_UNKNOWN_KEY', RegExp]> = [
    ['/img,xvda1,w', 'CONFIG_INVALID', /^format must be one of raw, qcow, qcow2, vhd, qed, not "xvda1" \(for the old order target,vdev,access, put a prefix such as "phy:" or "file:" before the target\)$/],
    ['/x', 'CONFIG_INVALID', /^vdev is required: say how the guest names the disk, e\.g\. xvda$/],
    ['/x,,,', 'CONFIG_INVALID', /^vdev is required/],
    ['', 'CONFIG_INVALID', /^vdev is required/],
    ['vdev=xvda', 'CONFIG_INVALID', /^the target is required: give the image file or block device \(only a CD-ROM drive may be empty\)$/],
    [',,xvda', 'CONFIG_INVALID', /^the target is required/],
    ['/x,,xvda,rw,extra', 'CONFIG_INVALID', /^"extra" is one positional parameter too many \(they are target, format, vdev and access\)$/],
    ['/x,,xvda,,,', 'CONFIG_INVALID', /^"" is one positional parameter too many/],
    ['phy:/x,raw,xvda,w', 'CONFIG_INVALID', /^"w" is one positional parameter too many \(after a deprecated prefix such as "phy:" they are target, vdev and access\)$/],
    ['phy:/x,raw,xvda', 'CONFIG_INVALID', /^vdev "raw" is not a virtual device name/],
    ['/x,,xvda,w!', 'CONFIG_INVALID', /^access must be r, ro, w or rw, not "w!"$/],
    ['/x,,xvda,r,access=w', 'CONFIG_INVALID', /^access is given twice$/],
    ['/x,,xvda,format=qcow2', 'CONFIG_INVALID', /^format is given twice$/],
    ['/x,,xvda,target=/y', 'CONFIG_INVALID', /^target is given twice$/],
    ['/x,,xvda,cdrom,cdrom', 'CONFIG_INVALID', /^the flag cdrom is given twice$/],
    ['/x,,xvd', 'CONFIG_INVALID', /^vdev "xvd" is not a virtual device name: it is not xvdX, hdX, sdX/],
    ['/x,,hde', 'CONFIG_INVALID', /^vdev "hde" is not a virtual device name: IDE names go from hda to hdd with partitions up to 63$/],
    ['/x,,sdq', 'CONFIG_INVALID', /SCSI names go from sda to sdp with partitions up to 15$/],
    ['/x,,xvda01', 'CONFIG_INVALID', /xvd disks go up to 1048575 and partitions up to 255, with no leading zeros$/],
    ['/x,,0', 'CONFIG_INVALID', /a numeric vdev must be from 1 to 536870911$/],
    ['/x,,xvda:disk', 'CONFIG_INVALID', /^"xvda:disk" gives the device type "disk"; the only one is cdrom$/],
    ['/x,,xvda,devtype=floppy', 'CONFIG_INVALID', /^devtype must be cdrom, not "floppy"$/],
    ['/x,vmdk,xvda', 'CONFIG_INVALID', /^format must be one of raw, qcow, qcow2, vhd, qed, not "vmdk"$/],
    ['/x,,xvda,backendtype=tap', 'CONFIG_INVALID', /^backendtype must be phy, qdisk or standalone, not "tap"$/],
    ['/x,,xvda,specification=scsi', 'CONFIG_INVALID', /^specification must be xen or virtio, not "scsi"$/],
    ['/x,,xvda,discard,no-discard', 'CONFIG_INVALID', /^discard and no-discard contradict each other: give one$/],
    ['/x,,xvda,trusted,untrusted', 'CONFIG_INVALID', /^trusted and untrusted contradict each other/],
    ['/x,,xvda,backend=a b', 'CONFIG_INVALID', /^backend "a b" is neither a domain id nor a domain name$/],
    ['/x,,xvda,script=a\0', 'CONFIG_INVALID', /^script contains a NUL character$/],
    ['/x\0,,xvda', 'CONFIG_INVALID', /^the target contains a NUL character$/],
    ['/x,,xvda,colo', 'CONFIG_INVALID', /^"colo" is for COLO replication, which lightvm does not support$/],
    ['/x,,xvda,colo-host=h', 'CONFIG_INVALID', /^"colo-host" is for COLO replication/],
    ['/x,,xvda,bogus=1', 'CONFIG_UNKNOWN_KEY', /^"bogus" is not a disk key \(keys: target, format, vdev/],
    ['/x,,xvda,acess=r', 'CONFIG_UNKNOWN_KEY', /^"acess" is not a disk key; did you mean "access"\?/],
    ['/x,,xvda,BOGUS=1', 'CONFIG_UNKNOWN_KEY', /"BOGUS" is not a disk key/],
  ];
  for (const [spec, code, says] of cases) {
    const r = rejection(() => disk(spec));
    tt.equal(r?.code, code, `${JSON.stringify(spec)}: ${code}`);
    tt.match(r?.reason, says, `${JSON.stringify(spec)}: says why`);
  }
});
