// Debian packages the lab needs on the host: checks what is missing and installs it with apt-get.
import { spawnSync } from 'node:child_process';
import { LabError } from './errors.js';

export interface LabPackage { name: string; why: string }

export const LAB_PACKAGES: readonly LabPackage[] = [
  { name: 'qemu-system-x86', why: 'runs the lab machine (TCG: no KVM needed)' },
  { name: 'xen-hypervisor-4.17-amd64', why: 'the Xen hypervisor the lab boots' },
  { name: 'xen-utils-4.17', why: 'xl, xenstored, xenconsoled and the Xen libraries for dom0' },
  { name: 'xen-utils-common', why: "Xen's hotplug scripts and man pages (xl.cfg is our config spec)" },
  { name: 'xenstore-utils', why: 'xenstore-read/-write/-ls for dom0' },
  { name: 'libxen-dev', why: "Xen's public headers, for guests and the native addon" },
  { name: 'linux-image-amd64', why: "dom0's kernel and its Xen back-end modules" },
  { name: 'busybox-static', why: "dom0's shell and userland" },
  { name: 'bash', why: "Xen's hotplug scripts in dom0 need bash" },
  { name: 'bsdutils', why: '`script`, which gives `lab shell` a terminal in dom0' },
  { name: 'kmod', why: 'resolves kernel module dependencies for the dom0 image' },
  { name: 'make', why: 'builds the guests' },
  { name: 'gcc', why: 'builds the guests' },
  { name: 'binutils', why: 'links the guests' },
  { name: 'libc6-dev', why: "static glibc for the tinyx VMs' programs (gcc only recommends it)" },
  { name: 'cpio', why: "writes the tinyx VMs' initramfs archives" },
  // xen-patches/build.sh: the patched (noxs) hypervisor, built from Debian's source package.
  { name: 'xz-utils', why: "decompresses Xen's source archives" },
  { name: 'patch', why: 'applies the noxs patches (xen-patches/) to Xen' },
  { name: 'flex', why: "builds the hypervisor (Kconfig's lexer)" },
  { name: 'bison', why: "builds the hypervisor (Kconfig's parser)" },
  { name: 'python3', why: 'builds the hypervisor (its generated headers)' },
  { name: 'dpkg-dev', why: "dpkg-source, with which guests/lwip/fetch.sh and xen-patches/build.sh unpack Debian's lwip and xen source packages" },
];

/** Packages of `wanted` that dpkg does not report as installed. */
export function missingPackages(wanted: readonly LabPackage[] = LAB_PACKAGES): LabPackage[] {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Abbrev}\n', ...wanted.map((p) => p.name)], { encoding: 'utf8' });
  if (r.error) throw new LabError('EMISSING', 'dpkg-query is not available: the lab needs a Debian (12) host', { cause: r.error });
  const installed = new Set(
    r.stdout.split('\n').filter((l) => /^\S+ ii/.test(l)).map((l) => l.split(' ')[0]),
  );
  return wanted.filter((p) => !installed.has(p.name));
}

export interface InstallOptions { log: (line: string) => void }

/** Installs whatever is missing; a no-op when all is there. Throws ENOTROOT or EINSTALL. */
export function ensurePackages(opts: InstallOptions, wanted: readonly LabPackage[] = LAB_PACKAGES): LabPackage[] {
  const missing = missingPackages(wanted);
  if (missing.length === 0) return [];
  const names = missing.map((p) => p.name);
  if (process.getuid?.() !== 0) {
    throw new LabError('ENOTROOT',
      `the lab needs ${names.length} Debian package(s) that are not installed, and installing them needs root`,
      { details: `install them with:\n  sudo apt-get install --no-install-recommends ${names.join(' ')}\nor run this command as root` });
  }
  opts.log(`installing ${names.length} Debian package(s) the lab needs:`);
  for (const p of missing) opts.log(`  ${p.name}: ${p.why}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8', env });
  if (update.status !== 0) {
    throw new LabError('EINSTALL', 'apt-get update failed', { details: tail(update.stderr || update.stdout) });
  }
  const r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...names], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    throw new LabError('EINSTALL', `apt-get could not install: ${names.join(' ')}`, { details: tail(r.stderr || r.stdout) });
  }
  const still = missingPackages(missing);
  if (still.length) throw new LabError('EINSTALL', `still not installed after apt-get: ${still.map((p) => p.name).join(' ')}`);
  return missing;
}

function tail(s: string, n = 15): string {
  return s.trimEnd().split('\n').slice(-n).join('\n');
}
