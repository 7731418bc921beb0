// Checks the tinyx daytime VM's initramfs without Xen: a newc archive holding a static /init with its ready mark and netfront as /modules/xen-netfront.ko.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const GUESTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'guests');
const DIR = join(GUESTS, 'tinyx', 'daytime');

/** The entries of a newc ("070701") cpio archive: name and data; every length is checked against the archive. */
function readNewc(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const pad4 = (n: number) => (n + 3) & ~3;
  let at = 0;
  for (;;) {
    if (at + 110 > buf.length) throw new Error(`truncated header at ${at}`);
    const magic = buf.toString('latin1', at, at + 6);
    if (magic !== '070701') throw new Error(`bad magic ${JSON.stringify(magic)} at ${at}`);
    const field = (i: number) => parseInt(buf.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const fileSize = field(6), nameSize = field(11);
    const nameEnd = at + 110 + nameSize;
    if (nameSize < 1 || nameEnd > buf.length) throw new Error(`bad name size at ${at}`);
    const name = buf.toString('latin1', at + 110, nameEnd - 1);
    const dataAt = pad4(nameEnd);
    if (dataAt + fileSize > buf.length) throw new Error(`bad file size for ${name}`);
    if (name === 'TRAILER!!!') return out;
    out.set(name, buf.subarray(dataAt, dataAt + fileSize));
    at = pad4(dataAt + fileSize);
  }
}

t.test('the daytime initramfs', async (t) => {
  if (!existsSync(join(DIR, 'initrd.gz'))) execFileSync('make', ['-s', '-C', join(GUESTS, 'tinyx')], { stdio: 'inherit' });
  const files = readNewc(gunzipSync(readFileSync(join(DIR, 'initrd.gz'))));
  t.same([...files.keys()].sort(), ['dev', 'init', 'modules', 'modules/xen-netfront.ko', 'proc', 'sys'], 'nothing but /init, its module and the mount points');
  const init = files.get('init')!;
  t.same([...init.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], '/init is an ELF file');
  t.equal(init.readUInt16LE(18), 62, 'x86-64');
  t.notOk(init.includes(Buffer.from('/lib64/ld-linux')), 'static: no dynamic loader named');
  t.ok(init.includes(Buffer.from('LIGHTVM-READY tinyx-daytime\n')), 'carries its ready mark');
  const ko = files.get('modules/xen-netfront.ko')!;
  t.same([...ko.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'the module is an (uncompressed) ELF object');
  t.ok(ko.includes(Buffer.from('vermagic=')), 'with a vermagic');
  const kver = (ko.toString('latin1').match(/vermagic=(\S+)/) ?? [])[1];
  t.ok(kver && readFileSync(join(DIR, 'vmlinuz')).includes(Buffer.from(kver)), `built for the kernel beside it (${kver})`);
});

t.test('the cpio reader refuses a cut-short archive', async (t) => {
  t.throws(() => readNewc(Buffer.from('070701')), /truncated header/);
  t.throws(() => readNewc(Buffer.alloc(120, 0x30)), /bad magic/);
});
