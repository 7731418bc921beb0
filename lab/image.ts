// Builds the dom0 image: a base layer (busybox, Xen tools, kernel modules, Node) and a project layer, each rebuilt only when its inputs change.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeCpio, type Entry } from './cpio.js';
import { LabError } from './errors.js';
import { PROJECT_ROOT, statePaths } from './config.js';

/** Bumped whenever the layout of a layer changes, so old layers are rebuilt. */
const LAYOUT_VERSION = 3;

export const XEN_BIN_DIR = '/usr/lib/xen-4.17/bin';
export const XEN_GZ = '/boot/xen-4.17-amd64.gz';

/** Kernel modules dom0 loads at boot (dependencies are added). */
export const DOM0_MODULES = [
  'xen-evtchn', 'xen-privcmd', 'xenfs', 'xen-gntdev', 'xen-gntalloc', 'xen-netback', 'xen-blkback',
  'virtio_pci', 'virtio_net', '9pnet_virtio', '9p', 'bridge', 'tun', 'loop',
];

export interface HostKernel { version: string; vmlinuz: string; modules: string }

/** The newest Debian kernel in /boot that has its modules installed. */
export function findKernel(): HostKernel {
  const found = fs.existsSync('/boot') ? fs.readdirSync('/boot').filter((f) => /^vmlinuz-.+-amd64$/.test(f)) : [];
  const usable = found
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => fs.existsSync(`/lib/modules/${v}/modules.dep`))
    .sort(compareVersions);
  const version = usable.at(-1);
  if (!version) throw new LabError('EMISSING', 'no Debian amd64 kernel with modules in /boot (package linux-image-amd64)');
  return { version, vmlinuz: `/boot/vmlinuz-${version}`, modules: `/lib/modules/${version}` };
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/), pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number(pa[i] ?? 0), y = Number(pb[i] ?? 0);
    if (!Number.isNaN(x) && !Number.isNaN(y) && x !== y) return x - y;
    if ((pa[i] ?? '') !== (pb[i] ?? '')) return (pa[i] ?? '') < (pb[i] ?? '') ? -1 : 1;
  }
  return 0;
}

/** The noxs hypervisor that xen-patches/build.sh builds (git-ignored); `--xen noxs` boots it. */
export const PATCHED_XEN = path.join(PROJECT_ROOT, 'xen-patches', '.cache', 'xen-noxs');
const PATCHED_XEN_BUILD = path.join(PROJECT_ROOT, 'xen-patches', 'build.sh');

export interface Hypervisor {
  file: string;
  /** Debian's, the patched noxs build, or a file the user named. */
  kind: 'stock' | 'noxs' | 'file';
  /** Something to tell the user, e.g. that the patched build is older than the patches. */
  warning?: string;
}

/**
 * The hypervisor to boot. `choice`: 'noxs' or undefined (lightvm's patched build, which must exist:
 * scripts/ensure-build.sh makes it), 'stock' (Debian's), or a file. The patched one is the default
 * so that every lab run, CI's included, tests noxs; every other test shows the patch breaks nothing.
 */
export function chooseHypervisor(stateDir: string, choice?: string): Hypervisor {
  if (choice === 'stock') return { file: hypervisorImage(stateDir), kind: 'stock' };
  if (choice === 'noxs' || choice === undefined) {
    if (!fs.existsSync(PATCHED_XEN)) {
      throw new LabError('EMISSING', `the patched hypervisor (${PATCHED_XEN}) is not built: run \`sh xen-patches/build.sh\``);
    }
    // build.sh --check compares the image with the inputs it was built from (a few small files).
    const check = spawnSync('sh', [PATCHED_XEN_BUILD, '--check'], { encoding: 'utf8' });
    const warning = check.status === 0 ? undefined
      : `the patched hypervisor is older than xen-patches/ (booting it anyway): \`sh xen-patches/build.sh\` rebuilds it`;
    return { file: PATCHED_XEN, kind: 'noxs', warning };
  }
  return { file: hypervisorImage(stateDir, choice), kind: 'file' };
}

/** The hypervisor as QEMU's multiboot loader wants it: gunzipped, cached in the state dir. */
export function hypervisorImage(stateDir: string, override?: string): string {
  if (override) {
    if (!fs.existsSync(override)) throw new LabError('EMISSING', `hypervisor image ${override} does not exist`);
    return override;
  }
  if (!fs.existsSync(XEN_GZ)) throw new LabError('EMISSING', `${XEN_GZ} is missing (package xen-hypervisor-4.17-amd64)`);
  const out = statePaths(stateDir).xen;
  if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(XEN_GZ).mtimeMs) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out + '.tmp', zlib.gunzipSync(fs.readFileSync(XEN_GZ)));
    fs.renameSync(out + '.tmp', out);
  }
  return out;
}

/** Collects entries by path (first wins) and emits them parents-first. */
class Manifest {
  private readonly map = new Map<string, Entry>();

  add(e: Entry): void {
    const p = e.path.replace(/^\/+/, '');
    if (this.map.has(p)) return;
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.map.has(dir)) this.map.set(dir, { kind: 'dir', path: dir });
    }
    this.map.set(p, { ...e, path: p });
  }

  dir(p: string, mode = 0o755): void { this.add({ kind: 'dir', path: p, mode }); }
  file(p: string, source: string, mode?: number): void { this.add({ kind: 'file', path: p, source, mode }); }
  link(p: string, target: string): void { this.add({ kind: 'symlink', path: p, target }); }
  data(p: string, data: string | Buffer, mode?: number): void { this.add({ kind: 'data', path: p, data, mode }); }

  entries(): Entry[] {
    return [...this.map.keys()].sort().map((k) => this.map.get(k)!);
  }

  /** A digest of everything that would be written: paths, modes, sources' size and mtime. */
  key(): string {
    const h = crypto.createHash('sha256').update(`layout ${LAYOUT_VERSION}\n`);
    for (const e of this.entries()) {
      const { kind, path: p } = e;
      h.update(`${kind} ${p}`);
      if (e.kind === 'file') {
        const st = fs.statSync(e.source);
        h.update(` ${e.source} ${e.mode ?? ''} ${st.size} ${st.mtimeMs}`);
      } else if (e.kind === 'data') {
        h.update(` ${e.mode ?? ''} `).update(e.data);
      } else if (e.kind === 'symlink') {
        h.update(` -> ${e.target}`);
      } else {
        h.update(` ${JSON.stringify(e)}`);
      }
      h.update('\n');
    }
    return h.digest('hex');
  }
}

function isElf(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(4);
      fs.readSync(fd, b, 0, 4, 0);
      return b.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    } finally { fs.closeSync(fd); }
  } catch { return false; }
}

/** Paths of the shared libraries a binary needs, as the dynamic loader names them. */
function sharedLibraries(binary: string): string[] {
  const r = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (r.status !== 0) return []; // static binaries: "not a dynamic executable"
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    if (/not found/.test(line)) throw new LabError('EIMAGE', `${binary} needs a library that is not installed: ${line.trim()}`);
    const m = /(\/\S+) \(0x/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

/** Where a host path lands in dom0, which (like Debian 12) has lib -> usr/lib. */
function inImage(p: string): string {
  return p.replace(/^\/+/, '').replace(/^lib(64)?\//, 'usr/lib$1/');
}

/** Adds a binary and every library it loads, with the symlinks the loader follows. */
function addElf(m: Manifest, hostPath: string, at = hostPath): void {
  m.file(inImage(at), fs.realpathSync(hostPath));
  for (const lib of sharedLibraries(hostPath)) addLibrary(m, lib);
}

function addLibrary(m: Manifest, lib: string): void {
  const real = fs.realpathSync(lib);
  m.file(inImage(real), real);
  if (inImage(lib) !== inImage(real)) m.link(inImage(lib), '/' + inImage(real));
}

/** Module files, in load order, for the named modules and their dependencies. */
export function moduleClosure(kernel: HostKernel, names: readonly string[]): { files: string[]; deps: Map<string, string[]> } {
  const files: string[] = [];
  const deps = new Map<string, string[]>();
  const visit = (name: string) => {
    const r = spawnSync('modprobe', ['-S', kernel.version, '--show-depends', name], { encoding: 'utf8' });
    if (r.status !== 0) throw new LabError('EIMAGE', `kernel module ${name} not found for ${kernel.version}: ${r.stderr.trim()}`);
    const chain = r.stdout.split('\n').filter((l) => l.startsWith('insmod ')).map((l) => l.split(/\s+/)[1]);
    chain.forEach((f, i) => {
      if (!deps.has(f)) deps.set(f, chain.slice(0, i).reverse());
      if (!files.includes(f)) files.push(f);
    });
  };
  names.forEach(visit);
  return { files, deps };
}

export function baseManifest(kernel: HostKernel, dom0Dir: string): Manifest {
  const m = new Manifest();
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/lib/x86_64-linux-gnu', 'usr/lib64', 'etc/xen', 'proc', 'sys', 'dev', 'run', 'root',
    'var/lib/xen', 'var/lib/xenstored', 'var/log/xen/console', 'opt', 'mnt', 'etc/lightvm']) m.dir(d);
  m.dir('tmp', 0o1777);
  m.link('lib', 'usr/lib');
  m.link('lib64', 'usr/lib64');
  m.link('var/run', '../run');
  // The kernel opens /dev/console for init before devtmpfs is mounted.
  m.add({ kind: 'chardev', path: 'dev/console', major: 5, minor: 1 });
  m.add({ kind: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 });
  // busybox init is PID 1: it runs boot.sh, reaps orphans and respawns the agent.
  m.link('init', 'bin/busybox');
  for (const [at, name, mode] of [['etc/inittab', 'inittab', 0o644], ['etc/lightvm/boot.sh', 'boot.sh', 0o755], ['etc/lightvm/agent.sh', 'agent.sh', 0o755]] as const) {
    m.data(at, fs.readFileSync(path.join(dom0Dir, name)), mode);
  }

  // Real binaries first: busybox applets below only fill the names still free.
  addElf(m, process.execPath, '/usr/bin/node');
  addElf(m, '/bin/bash', '/bin/bash');
  // busybox has no `script`: util-linux's gives `lab shell` a pseudo-terminal in dom0.
  addElf(m, '/usr/bin/script');
  // Xen's hotplug scripts (vif-bridge, for the vif-hotplug benchmark) take their locks with util-linux's flock.
  addElf(m, '/usr/bin/flock');
  for (const name of fs.readdirSync(XEN_BIN_DIR).sort()) {
    const p = path.join(XEN_BIN_DIR, name);
    if (!isElf(p)) continue;
    addElf(m, p);
    m.link(`usr/sbin/${name}`, `${XEN_BIN_DIR}/${name}`);
  }
  addElf(m, '/usr/bin/xenstore');
  for (const t of ['read', 'write', 'ls', 'list', 'rm', 'exists', 'chmod', 'watch']) m.link(`usr/bin/xenstore-${t}`, 'xenstore');
  // Every Xen library, so that later native code finds what it links against.
  for (const f of fs.readdirSync('/usr/lib/x86_64-linux-gnu').filter((f) => /^libxen.*\.so\.\d/.test(f)).sort()) {
    addLibrary(m, path.join('/usr/lib/x86_64-linux-gnu', f));
  }
  // glibc loads libgcc_s at run time for pthread_cancel; xl aborts without it.
  addLibrary(m, '/lib/x86_64-linux-gnu/libgcc_s.so.1');

  m.file('bin/busybox', '/bin/busybox');
  const applets = execFileSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    const depth = a.split('/').length - 1;
    m.link(a, '../'.repeat(depth) + 'bin/busybox');
  }

  for (const f of ['xl.conf', 'oxenstored.conf']) if (fs.existsSync(`/etc/xen/${f}`)) m.file(`etc/xen/${f}`, `/etc/xen/${f}`);
  if (fs.existsSync('/etc/xen/scripts')) {
    for (const f of fs.readdirSync('/etc/xen/scripts').sort()) m.file(`etc/xen/scripts/${f}`, path.join('/etc/xen/scripts', f));
  }
  m.data('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  m.data('etc/group', 'root:x:0:\n');
  m.data('etc/hosts', '127.0.0.1 localhost\n::1 localhost\n');
  m.data('etc/nsswitch.conf', 'hosts: files\n');

  const mods = moduleClosure(kernel, DOM0_MODULES);
  const rel = (f: string) => path.relative(kernel.modules, f);
  for (const f of mods.files) m.file(inImage(f), f);
  // modules.dep lets busybox modprobe load further modules by hand; boot uses the ordered list.
  m.data(`usr/lib/modules/${kernel.version}/modules.dep`,
    mods.files.map((f) => `${rel(f)}:${mods.deps.get(f)!.map((d) => ' ' + rel(d)).join('')}\n`).join(''));
  m.data('etc/lightvm/modules', mods.files.map((f) => '/' + inImage(f)).join('\n') + '\n');
  return m;
}

/** Production dependencies of this project, as package directories. */
function productionPackages(): string[] {
  const r = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (r.status !== 0 && !r.stdout) throw new LabError('EIMAGE', `npm ls failed: ${r.stderr.trim()}`);
  return r.stdout.split('\n').filter((p) => p && p !== PROJECT_ROOT && fs.existsSync(p));
}

function addTree(m: Manifest, hostDir: string, at: string, skip: (rel: string) => boolean): void {
  for (const ent of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const host = path.join(hostDir, ent.name), rel = path.join(at, ent.name);
    if (skip(rel)) continue;
    if (ent.isDirectory()) addTree(m, host, rel, skip);
    else if (ent.isSymbolicLink()) m.link(rel, fs.readlinkSync(host));
    else if (ent.isFile()) m.file(rel, host);
  }
}

export const DOM0_PROJECT_DIR = '/opt/lightvm';

export function projectManifest(): Manifest {
  const m = new Manifest();
  const root = DOM0_PROJECT_DIR.slice(1);
  const dist = path.join(PROJECT_ROOT, 'dist');
  if (!fs.existsSync(path.join(dist, 'lab', 'agent', 'server.js'))) {
    throw new LabError('EIMAGE', 'the project is not built (dist/lab/agent/server.js is missing): run `npm run build`');
  }
  m.file(`${root}/package.json`, path.join(PROJECT_ROOT, 'package.json'));
  addTree(m, dist, `${root}/dist`, (rel) => /\.(map|d\.ts|tsbuildinfo)$/.test(rel));
  for (const pkg of productionPackages()) {
    addTree(m, pkg, path.join(root, path.relative(PROJECT_ROOT, pkg)), (rel) => /\/node_modules$/.test(rel) || /\.(md|map|d\.ts)$/.test(rel));
  }
  // The Xen addon: dom0 has the host's node and libxen*.so, so the host's build runs there as is.
  const addon = path.join(PROJECT_ROOT, 'native', 'build', 'Release', 'xen.node');
  if (!fs.existsSync(addon)) throw new LabError('EIMAGE', 'the native addon is not built (native/build/Release/xen.node is missing): run `npm run build`');
  m.file(`${root}/native/build/Release/xen.node`, addon);
  // noxsd, the dom0 noxs back-end that boot.sh starts: a C program over dom0's own libxen*.so, as the addon.
  const noxsd = path.join(PROJECT_ROOT, 'native', 'build', 'noxsd');
  if (!fs.existsSync(noxsd)) throw new LabError('EIMAGE', 'noxsd is not built (native/build/noxsd is missing): run `sh scripts/build-native.sh`');
  m.file(`${root}/native/build/noxsd`, noxsd, 0o755);
  for (const g of guestImages(path.join(PROJECT_ROOT, 'guests'))) m.file(`${root}/guests/${g.at}`, g.source);
  return m;
}

/** The tinyx VMs' files: Debian's kernel and the app's initramfs. */
export const TINYX_FILES = ['vmlinuz', 'initrd.gz'];

/**
 * Built guests under `guestsDir`, each as its path relative to it: every ELF directly inside
 * guests/<app>/, and the TINYX_FILES of every guests/tinyx/<app>/ that has them all.
 */
export function guestImages(guestsDir: string): { at: string; source: string }[] {
  const found: { at: string; source: string }[] = [];
  const dirs = (d: string) => fs.existsSync(d) ? fs.readdirSync(d).sort().filter((f) => fs.statSync(path.join(d, f)).isDirectory()) : [];
  for (const app of dirs(guestsDir)) {
    const dir = path.join(guestsDir, app);
    for (const f of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, f);
      if (fs.statSync(p).isFile() && !f.endsWith('.o') && isElf(p)) found.push({ at: `${app}/${f}`, source: p });
    }
  }
  const tinyx = path.join(guestsDir, 'tinyx');
  for (const app of dirs(tinyx)) {
    const files = TINYX_FILES.map((f) => path.join(tinyx, app, f));
    if (!files.every((p) => fs.existsSync(p) && fs.statSync(p).isFile())) continue; // not an app (build/), or not built
    TINYX_FILES.forEach((f, i) => found.push({ at: `tinyx/${app}/${f}`, source: files[i] }));
  }
  return found;
}

export interface BuiltLayer { file: string; bytes: number; rebuilt: boolean; ms: number }

async function buildLayer(name: string, m: Manifest, dir: string): Promise<BuiltLayer> {
  const t0 = performance.now();
  const file = path.join(dir, `${name}.cpio`);
  const keyFile = path.join(dir, `${name}.key`);
  const key = m.key();
  if (fs.existsSync(file) && fs.existsSync(keyFile) && fs.readFileSync(keyFile, 'utf8') === key) {
    return { file, bytes: fs.statSync(file).size, rebuilt: false, ms: performance.now() - t0 };
  }
  fs.mkdirSync(dir, { recursive: true });
  try {
    const { bytes } = await writeCpio(file, m.entries());
    fs.writeFileSync(keyFile, key);
    return { file, bytes, rebuilt: true, ms: performance.now() - t0 };
  } catch (err) {
    fs.rmSync(keyFile, { force: true });
    throw new LabError('EIMAGE', `could not write the ${name} layer of the dom0 image: ${(err as Error).message}`, { cause: err });
  }
}

export interface Dom0Image { file: string; bytes: number; layers: Record<string, BuiltLayer>; kernel: HostKernel }

/** Builds (incrementally) base + project layers and joins them with a per-boot secrets layer. */
export async function buildDom0Image(stateDir: string, token: string): Promise<Dom0Image> {
  const dir = statePaths(stateDir).imageDir;
  const kernel = findKernel();
  const base = await buildLayer('base', baseManifest(kernel, path.join(PROJECT_ROOT, 'lab', 'dom0')), dir);
  const project = await buildLayer('project', projectManifest(), dir);
  const secrets = new Manifest();
  secrets.data('etc/lightvm/agent-token', token, 0o600);
  const secretsFile = path.join(dir, 'secrets.cpio');
  await writeCpio(secretsFile, secrets.entries());
  fs.chmodSync(secretsFile, 0o600);
  // The kernel unpacks concatenated archives in order: one initramfs from three layers.
  const file = path.join(dir, 'dom0.cpio');
  // Copying the large base layer lets the kernel do the work; the small layers are appended.
  fs.copyFileSync(base.file, file + '.tmp');
  fs.chmodSync(file + '.tmp', 0o600);
  for (const f of [project.file, secretsFile]) fs.appendFileSync(file + '.tmp', fs.readFileSync(f));
  fs.renameSync(file + '.tmp', file);
  return { file, bytes: fs.statSync(file).size, layers: { base, project }, kernel };
}
