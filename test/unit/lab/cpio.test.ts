// Unit tests of the newc cpio writer, checked against the system's GNU cpio and a strict reading of the format.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { writeCpio, type Entry } from '../../../lab/cpio.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-cpio-test-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;

interface CpioRecord { offset: number; name: string; ino: number; mode: number; nlink: number; size: number; rdev: [number, number]; data: Buffer }

/** Reads every record of a newc archive, failing on anything the kernel's unpacker would not accept. */
function readNewc(buf: Buffer): { records: CpioRecord[]; end: number } {
  const records: CpioRecord[] = [];
  let o = 0;
  for (;;) {
    if (o % 4 !== 0) throw new Error(`record at unaligned offset ${o}`);
    const magic = buf.toString('ascii', o, o + 6);
    if (magic !== '070701') throw new Error(`bad magic ${JSON.stringify(magic)} at ${o}`);
    const f = (i: number) => {
      const s = buf.toString('ascii', o + 6 + i * 8, o + 14 + i * 8);
      if (!/^[0-9a-f]{8}$/.test(s)) throw new Error(`bad hex field ${i} ${JSON.stringify(s)} at ${o}`);
      return parseInt(s, 16);
    };
    const namesize = f(11), size = f(6);
    const name = buf.toString('utf8', o + 110, o + 110 + namesize);
    if (!name.endsWith('\0')) throw new Error(`name at ${o} is not NUL-terminated`);
    const dataAt = o + 110 + namesize + ((4 - ((110 + namesize) % 4)) % 4);
    const rec = { offset: o, name: name.slice(0, -1), ino: f(0), mode: f(1), nlink: f(4), size, rdev: [f(9), f(10)] as [number, number], data: buf.subarray(dataAt, dataAt + size) };
    records.push(rec);
    o = dataAt + size + ((4 - (size % 4)) % 4);
    if (rec.name === 'TRAILER!!!') return { records, end: o };
    if (o > buf.length) throw new Error('archive is truncated');
  }
}

function run(cmd: string, args: string[], opts: { input?: Buffer; cwd?: string } = {}) {
  const r = spawnSync(cmd, args, { input: opts.input, cwd: opts.cwd, encoding: 'buffer' });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const source = path.join(tmp, 'source.bin');
const sourceBytes = Buffer.from(Array.from({ length: 1001 }, (_, i) => (i * 7) & 0xff)); // not a multiple of 4
fs.writeFileSync(source, sourceBytes);
fs.chmodSync(source, 0o751);
const emptySource = path.join(tmp, 'empty.bin');
fs.writeFileSync(emptySource, '');

/** The manifest under test, given as a generator so that any iterable works. */
function* manifest(): Generator<Entry> {
  yield { kind: 'dir', path: 'etc' };
  yield { kind: 'dir', path: '/secret', mode: 0o700 };             // leading slash is dropped
  yield { kind: 'dir', path: 'tmp', mode: 0o1777 };
  yield { kind: 'dir', path: 'bin' };
  yield { kind: 'file', path: 'bin/tool', source };                  // mode from the source file
  yield { kind: 'file', path: 'bin/tool-ro', source, mode: 0o444 }; // explicit mode wins
  yield { kind: 'file', path: 'etc/empty', source: emptySource };
  yield { kind: 'data', path: 'etc/motd', data: 'hello, lab\n' };
  yield { kind: 'data', path: 'secret/token', data: Buffer.from('abc'), mode: 0o600 };
  yield { kind: 'data', path: 'etc/motd', data: 'second copy, must be ignored\n', mode: 0o777 };
  yield { kind: 'symlink', path: 'bin/sh', target: 'tool' };
  yield { kind: 'symlink', path: 'etc/abs', target: '/secret/token' };
  yield { kind: 'dir', path: 'dev' };
  yield { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 };
  yield { kind: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 };
  yield { kind: 'symlink', path: 'bin/sh', target: 'not-this-one' };
  yield { kind: 'dir', path: '' };                                   // the root itself: skipped
}

const EXPECTED = ['etc', 'secret', 'tmp', 'bin', 'bin/tool', 'bin/tool-ro', 'etc/empty', 'etc/motd', 'secret/token',
  'bin/sh', 'etc/abs', 'dev', 'dev/console', 'dev/null'];

const archive = path.join(tmp, 'test.cpio');
const result = await writeCpio(archive, manifest());
const bytes = fs.readFileSync(archive);

t.test('returns the size written and the number of entries kept', async (tt) => {
  tt.equal(result.bytes, bytes.length, 'bytes equals the file size');
  tt.equal(result.files, EXPECTED.length, 'duplicates and the empty path are not counted');
  tt.notOk(fs.existsSync(archive + '.tmp'), 'no temporary file is left');
});

t.test('the archive is 4-byte aligned and ends with a TRAILER!!! record', async (tt) => {
  tt.equal(bytes.length % 4, 0, 'total size is a multiple of 4');
  const { records, end } = readNewc(bytes);
  const last = records.at(-1)!;
  tt.equal(last.name, 'TRAILER!!!');
  tt.same([last.mode, last.size, last.ino], [0, 0, 0], 'the trailer is empty');
  tt.equal(end, bytes.length, 'nothing follows the trailer');
  tt.same(records.slice(0, -1).map((r) => r.name), EXPECTED, 'records in the order given, first copy only');
  tt.equal(new Set(records.slice(0, -1).map((r) => r.ino)).size, EXPECTED.length, 'inode numbers are distinct');
});

t.test('headers carry the type, mode, size and device numbers', async (tt) => {
  const byName = new Map(readNewc(bytes).records.map((r) => [r.name, r]));
  const rec = (n: string) => byName.get(n)!;
  tt.equal(rec('etc').mode, 0o040755, 'directory, default 0755');
  tt.equal(rec('etc').nlink, 2, 'directories have two links');
  tt.equal(rec('secret').mode, 0o040700);
  tt.equal(rec('tmp').mode, 0o041777, 'sticky bit kept');
  tt.equal(rec('bin/tool').mode, 0o100751, "a file takes its source's mode");
  tt.equal(rec('bin/tool-ro').mode, 0o100444);
  tt.equal(rec('bin/tool').nlink, 1);
  tt.same(rec('bin/tool').data, sourceBytes, 'file contents');
  tt.equal(rec('etc/empty').size, 0);
  tt.equal(rec('etc/motd').mode, 0o100644, 'data defaults to 0644');
  tt.equal(rec('etc/motd').data.toString(), 'hello, lab\n', 'the first of two entries wins');
  tt.equal(rec('secret/token').mode, 0o100600);
  tt.equal(rec('bin/sh').mode, 0o120777, 'symlink');
  tt.equal(rec('bin/sh').data.toString(), 'tool', 'the first symlink target wins');
  tt.equal(rec('dev/console').mode, 0o020600, 'char device, default 0600');
  tt.same(rec('dev/console').rdev, [5, 1]);
  tt.equal(rec('dev/null').mode, 0o020666);
  tt.same(rec('dev/null').rdev, [1, 3]);
});

t.test('cpio -it lists what was written, in order', async (tt) => {
  const r = run('cpio', ['-it', '--quiet'], { input: bytes });
  tt.equal(r.code, 0, `cpio -it succeeds${r.code === 0 ? '' : `: ${r.stderr}`}`);
  tt.same(r.stdout.trimEnd().split('\n'), EXPECTED);
  const v = run('cpio', ['-itv', '--quiet'], { input: bytes });
  tt.match(v.stdout, /^lrwxrwxrwx .* bin\/sh -> tool$/m, 'symlink shown with its target');
  tt.match(v.stdout, /^crw------- .*\b5,\s+1\b.* dev\/console$/m, 'char device 5,1');
});

t.test('cpio -idv extracts contents, modes and symlink targets', async (tt) => {
  const dest = fs.mkdtempSync(path.join(tmp, 'extract-'));
  const r = run('cpio', ['-idv', '--no-absolute-filenames', '--quiet'], { input: bytes, cwd: dest });
  const mknodFailed = /dev\/(console|null).*(Operation not permitted|Permission denied)/.test(r.stderr);
  tt.ok(r.code === 0 || mknodFailed, `cpio -idv succeeds${r.code === 0 ? '' : `: ${r.stderr}`}`);
  const at = (p: string) => path.join(dest, p);
  const mode = (p: string) => fs.lstatSync(at(p)).mode & 0o7777;
  tt.same(fs.readFileSync(at('bin/tool')), sourceBytes, 'file from a source');
  tt.equal(fs.readFileSync(at('etc/motd'), 'utf8'), 'hello, lab\n', 'data, first copy');
  tt.equal(fs.readFileSync(at('secret/token'), 'utf8'), 'abc');
  tt.equal(fs.statSync(at('etc/empty')).size, 0, 'empty file');
  tt.equal(mode('bin/tool'), 0o751);
  tt.equal(mode('bin/tool-ro'), 0o444);
  tt.equal(mode('etc/motd'), 0o644);
  tt.equal(mode('secret/token'), 0o600);
  tt.equal(mode('secret'), 0o700);
  tt.equal(mode('tmp'), 0o1777);
  tt.ok(fs.lstatSync(at('bin/sh')).isSymbolicLink());
  tt.equal(fs.readlinkSync(at('bin/sh')), 'tool');
  tt.equal(fs.readlinkSync(at('etc/abs')), '/secret/token', 'an absolute target is kept as is');
  tt.same(fs.readFileSync(at('bin/sh')), sourceBytes, 'the relative symlink resolves inside the tree');

  if (!isRoot) {
    tt.comment('not root: cpio cannot mknod, device nodes are not checked after extraction');
  } else if (mknodFailed) {
    tt.comment('root without the right to mknod here (container): device nodes are not checked after extraction');
  } else {
    const st = fs.lstatSync(at('dev/null'));
    tt.ok(st.isCharacterDevice(), 'dev/null is a character device');
    tt.equal(Math.floor(st.rdev / 256) & 0xfff, 1, 'major 1');
    tt.equal(st.rdev & 0xff, 3, 'minor 3');
    tt.equal(st.mode & 0o7777, 0o666);
    tt.equal(fs.lstatSync(at('dev/console')).rdev & 0xff, 1, 'console minor 1');
  }
});

t.test('a path with .. is refused', async (tt) => {
  for (const p of ['../etc/passwd', 'a/../../b', 'a/..']) {
    const out = path.join(tmp, `escape-${p.replaceAll('/', '_')}.cpio`);
    await tt.rejects(writeCpio(out, [{ kind: 'dir', path: 'a' }, { kind: 'data', path: p, data: 'x' }]),
      { message: /path escapes the archive/ }, p);
    tt.notOk(fs.existsSync(out), `${p}: no archive is produced`);
  }
  const ok = path.join(tmp, 'dots.cpio');
  await writeCpio(ok, [{ kind: 'data', path: 'a..b', data: 'x' }, { kind: 'data', path: '.hidden', data: 'y' }]);
  tt.same(readNewc(fs.readFileSync(ok)).records.map((r) => r.name), ['a..b', '.hidden', 'TRAILER!!!'], 'dots inside a name are fine');
});

t.test('an empty manifest is just the trailer', async (tt) => {
  const out = path.join(tmp, 'empty.cpio');
  const r = await writeCpio(out, []);
  tt.same(r.files, 0);
  const buf = fs.readFileSync(out);
  tt.equal(buf.length, 124, '110-byte header + 11-byte name, padded to 124');
  tt.same(readNewc(buf).records.map((x) => x.name), ['TRAILER!!!']);
  tt.equal(run('cpio', ['-it', '--quiet'], { input: buf }).stdout, '');
});

t.test('a device number that does not fit the header is refused', async (tt) => {
  const out = path.join(tmp, 'bad-dev.cpio');
  await tt.rejects(writeCpio(out, [{ kind: 'chardev', path: 'dev/x', major: -1, minor: 0 }]), RangeError);
  tt.notOk(fs.existsSync(out));
});
