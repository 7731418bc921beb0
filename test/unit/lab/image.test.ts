// Unit tests of the dom0 image inputs: the host kernel, module load order, the base layer's manifest and the built guests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../../../lab/config.js';
import { DOM0_MODULES, PATCHED_XEN, XEN_BIN_DIR, XEN_GZ, baseManifest, chooseHypervisor, findKernel, guestImages, moduleClosure, type HostKernel } from '../../../lab/image.js';
import { LabError } from '../../../lab/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-image-test-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const DOM0_DIR = path.join(PROJECT_ROOT, 'lab', 'dom0');

t.test('guestImages: ELFs directly in guests/<app>/, and each tinyx app that has both its kernel and initramfs', async (tt) => {
  const g = path.join(tmp, 'guests');
  const put = (rel: string, data: string | Buffer) => {
    fs.mkdirSync(path.dirname(path.join(g, rel)), { recursive: true });
    fs.writeFileSync(path.join(g, rel), data);
  };
  const elf = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  put('Makefile', 'all:\n');
  put('noop/noop', elf);
  put('noop/noop.o', elf);
  put('noop/noop.c', '// noop\n');
  put('tinyx/Makefile', 'all:\n');
  put('tinyx/ticker/ticker.c', '// ticker\n');
  put('tinyx/ticker/vmlinuz', 'MZ bzImage');
  put('tinyx/ticker/initrd.gz', '\x1f\x8b');
  put('tinyx/build/ticker/init', elf); // an intermediate: not a guest
  put('tinyx/half/vmlinuz', 'MZ'); // no initrd.gz: not built, left out
  tt.same(guestImages(g), [
    { at: 'noop/noop', source: path.join(g, 'noop/noop') },
    { at: 'tinyx/ticker/vmlinuz', source: path.join(g, 'tinyx/ticker/vmlinuz') },
    { at: 'tinyx/ticker/initrd.gz', source: path.join(g, 'tinyx/ticker/initrd.gz') },
  ]);
  tt.same(guestImages(path.join(tmp, 'no-such-dir')), [], 'no guests directory: nothing');
});

let found: HostKernel | LabError;
try {
  found = findKernel();
} catch (err) {
  found = err as LabError;
}
if (found instanceof LabError) {
  t.test('the base layer', { skip: `${found.message}; the image tests need the host's Debian kernel and Xen packages (\`lab install\`)` }, async () => {});
} else {
  imageTests(found);
}

function imageTests(kernel: HostKernel): void {
  t.test('findKernel returns an installed kernel with its modules', async (tt) => {
    tt.match(kernel.version, /^\d+\.\d+\.\d+-\d+-amd64$/);
    tt.equal(kernel.vmlinuz, `/boot/vmlinuz-${kernel.version}`);
    tt.ok(fs.statSync(kernel.vmlinuz).isFile(), 'vmlinuz exists');
    tt.equal(kernel.modules, `/lib/modules/${kernel.version}`);
    tt.ok(fs.existsSync(path.join(kernel.modules, 'modules.dep')), 'modules.dep exists');
  });

  t.test('moduleClosure of xen-netback ends with xen-netback, dependencies first', async (tt) => {
    const { files, deps } = moduleClosure(kernel, ['xen-netback']);
    tt.ok(files.length >= 1);
    tt.match(path.basename(files.at(-1)!), /^xen-netback\.ko(\.xz|\.zst|\.gz)?$/, 'the module comes last');
    for (const f of files) {
      tt.ok(f.startsWith(kernel.modules + '/') && fs.existsSync(f), `${path.basename(f)} is a file of this kernel`);
      for (const d of deps.get(f) ?? []) tt.ok(files.indexOf(d) < files.indexOf(f), `${path.basename(d)} before ${path.basename(f)}`);
    }
  });

  const closure = moduleClosure(kernel, DOM0_MODULES);

  t.test('moduleClosure of all dom0 modules: every dependency loads before its user, no repeats', async (tt) => {
    const { files, deps } = closure;
    tt.equal(new Set(files).size, files.length, 'no module twice');
    tt.same([...deps.keys()].sort(), [...files].sort(), 'every file has a dependency list');
    let withDeps = 0;
    for (const f of files) {
      const ds = deps.get(f)!;
      if (ds.length) withDeps++;
      for (const d of ds) {
        if (files.indexOf(d) >= files.indexOf(f)) tt.fail(`${path.basename(d)} must load before ${path.basename(f)}`);
      }
    }
    tt.ok(withDeps > 0, 'some modules have dependencies (the order check is not vacuous)');
    // bridge needs stp and llc on Debian kernels; check against modules.dep itself.
    const bridge = files.find((f) => /\/bridge\.ko/.test(f))!;
    const dep = fs.readFileSync(path.join(kernel.modules, 'modules.dep'), 'utf8');
    const line = dep.split('\n').find((l) => l.startsWith(path.relative(kernel.modules, bridge) + ':'))!;
    for (const rel of line.split(':')[1].trim().split(/\s+/).filter(Boolean)) {
      tt.ok(files.indexOf(path.join(kernel.modules, rel)) < files.indexOf(bridge), `${path.basename(rel)} before bridge`);
    }
    for (const name of DOM0_MODULES) {
      tt.ok(files.some((f) => path.basename(f).replace(/\.ko.*$/, '').replaceAll('-', '_') === name.replaceAll('-', '_')), `${name} is in the closure`);
    }
  });

  t.test('moduleClosure names the module it cannot find', async (tt) => {
    tt.throws(() => moduleClosure(kernel, ['lightvm-no-such-module']),
      { name: 'LabError', code: 'EIMAGE', message: /kernel module lightvm-no-such-module not found/ });
  });

  // A copy of lab/dom0 so that a test can change one of its files without touching the project.
  const dom0Copy = path.join(tmp, 'dom0');
  fs.cpSync(DOM0_DIR, dom0Copy, { recursive: true });

  const base = baseManifest(kernel, dom0Copy);
  const entries = base.entries();
  const byPath = new Map(entries.map((e) => [e.path, e]));

  t.test('baseManifest lists parents before children, each path once', async (tt) => {
    tt.equal(byPath.size, entries.length, 'no path twice');
    const seen = new Set<string>();
    let bad = 0;
    for (const e of entries) {
      tt.notOk(e.path.startsWith('/') || e.path.split('/').includes('..'), `${e.path} is relative and stays inside`);
      const parent = path.posix.dirname(e.path);
      if (parent !== '.' && !seen.has(parent)) { bad++; tt.fail(`${e.path} comes before its parent ${parent}`); }
      if (parent !== '.' && byPath.get(parent)?.kind !== 'dir') { bad++; tt.fail(`the parent of ${e.path} is not a directory`); }
      seen.add(e.path);
    }
    tt.equal(bad, 0, `all ${entries.length} entries have their parent directory earlier`);
  });

  t.test('baseManifest holds init, busybox, node, xl, libgcc_s and the module list', async (tt) => {
    tt.match(byPath.get('init'), { kind: 'symlink', target: 'bin/busybox' }, 'init -> bin/busybox');
    tt.match(byPath.get('bin/busybox'), { kind: 'file', source: '/bin/busybox' });
    tt.match(byPath.get('usr/bin/node'), { kind: 'file', source: fs.realpathSync(process.execPath) }, 'node is this node');
    tt.match(byPath.get(`${XEN_BIN_DIR.slice(1)}/xl`), { kind: 'file' }, 'xl');
    tt.match(byPath.get('usr/sbin/xl'), { kind: 'symlink', target: `${XEN_BIN_DIR}/xl` });
    tt.ok(entries.some((e) => /(^|\/)libgcc_s\.so\.1$/.test(e.path)), 'libgcc_s (xl aborts without it)');
    tt.match(byPath.get('dev/console'), { kind: 'chardev', major: 5, minor: 1 });
    tt.match(byPath.get('tmp'), { kind: 'dir', mode: 0o1777 });
    tt.match(byPath.get('lib'), { kind: 'symlink', target: 'usr/lib' });
    tt.match(byPath.get('etc/lightvm/boot.sh'), { kind: 'data', mode: 0o755 });

    const modules = byPath.get('etc/lightvm/modules');
    tt.equal(modules?.kind, 'data', 'etc/lightvm/modules');
    if (modules?.kind !== 'data') return;
    const listed = modules.data.toString().trimEnd().split('\n');
    const { files } = closure;
    tt.equal(listed.length, files.length, 'one line per module file');
    for (const m of listed) {
      tt.match(m, /^\/usr\/lib\/modules\/.+\.ko/, `${m} is an absolute dom0 path`);
      tt.equal(byPath.get(m.slice(1))?.kind, 'file', `${path.basename(m)} is in the image`);
    }
    tt.ok(listed.some((m) => /\/xen-netback\.ko/.test(m)), 'xen-netback is listed');
  });

  t.test('every shared library node and xl need is in the image', async (tt) => {
    for (const e of entries) {
      if (e.kind !== 'symlink' || !e.target.startsWith('/usr/lib')) continue;
      tt.ok(byPath.has(e.target.slice(1)), `${e.path} -> ${e.target} resolves inside the image`);
    }
  });

  t.test('key() is stable and follows a changed data entry', async (tt) => {
    const k1 = base.key();
    tt.match(k1, /^[0-9a-f]{64}$/);
    tt.equal(base.key(), k1, 'same manifest, same key');
    tt.equal(baseManifest(kernel, dom0Copy).key(), k1, 'a second manifest from the same inputs, same key');

    const inittab = path.join(dom0Copy, 'inittab');
    fs.appendFileSync(inittab, '# changed by the test\n');
    const changed = baseManifest(kernel, dom0Copy);
    tt.not(changed.key(), k1, 'a changed etc/inittab changes the key');
    tt.equal(changed.entries().length, entries.length, 'same paths');

    const before = changed.key();
    changed.data('etc/lightvm/extra', 'x');
    tt.not(changed.key(), before, 'an added data entry changes the key');
  });
}

t.test("chooseHypervisor: noxs (xen-patches/build.sh's build, the default), stock, or a file", async (tt) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightvm-hv-test-'));
  tt.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const file = path.join(stateDir, 'my-xen');
  fs.writeFileSync(file, 'an image');
  tt.same(chooseHypervisor(stateDir, file), { file, kind: 'file' }, 'a file is booted as it is');
  tt.throws(() => chooseHypervisor(stateDir, path.join(stateDir, 'none')), { code: 'EMISSING' }, 'a missing file is refused');
  if (!fs.existsSync(XEN_GZ)) { tt.comment(`${XEN_GZ} is missing: stock and default not checked`); return; }
  const stock = chooseHypervisor(stateDir, 'stock');
  tt.equal(stock.kind, 'stock');
  tt.equal(stock.file, path.join(stateDir, 'image', 'xen'), "Debian's, gunzipped into the state directory");
  if (fs.existsSync(PATCHED_XEN)) {
    tt.match(chooseHypervisor(stateDir, 'noxs'), { file: PATCHED_XEN, kind: 'noxs' }, "'noxs': the patched build");
    tt.same(chooseHypervisor(stateDir), chooseHypervisor(stateDir, 'noxs'), 'the default is the patched build');
  } else {
    tt.throws(() => chooseHypervisor(stateDir, 'noxs'), { code: 'EMISSING', message: /build\.sh/ }, "'noxs' without a build is refused, naming build.sh");
    tt.throws(() => chooseHypervisor(stateDir), { code: 'EMISSING' }, 'so is the default');
  }
});
