// Starts and stops the lab's QEMU machine (Xen under TCG) and checks that the host ports it forwards are free.
import fs from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { LabError } from './errors.js';
import { DOM0_PORTS, type HostPorts, type LabConfig } from './config.js';

export const QEMU = '/usr/bin/qemu-system-x86_64';

export interface BootFiles {
  xen: string; kernel: string; image: string; serialLog: string; qemuLog: string;
  /** Read-write exchange folder, /mnt/share in dom0. */
  shareDir?: string;
  /** This project's tree, read-only at /mnt/project in dom0: fresh builds run there without a reboot. */
  projectDir?: string;
}

/** QEMU's multiboot loader splits module lists at commas: a comma inside a path or arguments is written twice. */
export function escapeModuleArgs(args: string): string {
  return args.replaceAll(',', ',,');
}

export function xenCommandLine(cfg: LabConfig): string {
  return [
    'console=com1', 'com1=115200,8n1',
    `dom0_mem=${cfg.dom0MemoryMiB}M,max:${cfg.dom0MemoryMiB}M`, `dom0_max_vcpus=${cfg.cpus}`,
    // Scrubbing gigabytes of RAM under an emulated CPU costs minutes and buys a lab nothing.
    'bootscrub=false', 'loglvl=info', 'guest_loglvl=info',
    ...cfg.xenArgs,
  ].join(' ');
}

export function dom0CommandLine(share: boolean): string {
  return ['console=hvc0', 'earlyprintk=xen', 'quiet', ...(share ? ['lightvm.share'] : [])].join(' ');
}

export function qemuArgs(cfg: LabConfig, files: BootFiles, ports: HostPorts): string[] {
  const fwd = [
    `hostfwd=tcp:127.0.0.1:${ports.agent}-:${DOM0_PORTS.agent}`,
    `hostfwd=tcp:127.0.0.1:${ports.api}-:${DOM0_PORTS.api}`,
    `hostfwd=udp:127.0.0.1:${ports.dns}-:${DOM0_PORTS.dns}`,
  ];
  return [
    '-nodefaults', '-display', 'none', '-no-reboot', '-monitor', 'none',
    // No usable KVM here; SMAP must be off or dom0 faults in Xen's create_bounce_frame under TCG.
    // XSAVE must be off too: with it, Xen saves and restores vCPU state with XSAVE/XRSTOR, and under
    // TCG dom0's processes then crash at random (corrupt malloc state, corrupt xz output) whenever
    // Xen switches between dom0 and guests; a create/destroy loop of Linux guests showed 4 to 7
    // crashes a run with it and none without. Without XSAVE there is no AVX, and Xen uses FXSAVE.
    '-accel', 'tcg,thread=multi', '-cpu', 'max,-smap,-xsave',
    '-m', String(cfg.memoryMiB), '-smp', String(cfg.cpus),
    '-kernel', files.xen, '-append', xenCommandLine(cfg),
    '-initrd', `${escapeModuleArgs(files.kernel)} ${escapeModuleArgs(dom0CommandLine(!!files.shareDir))},${escapeModuleArgs(files.image)}`,
    '-serial', `file:${files.serialLog}`,
    // restrict=on: dom0 reaches nothing outside; only the forwarded 127.0.0.1 ports come in.
    '-netdev', `user,id=net0,restrict=on,${fwd.join(',')}`, '-device', 'virtio-net-pci,netdev=net0',
    ...(files.shareDir ? ['-virtfs', `local,path=${files.shareDir.replaceAll(',', ',,')},mount_tag=share,security_model=none,id=share`] : []),
    ...(files.projectDir ? ['-virtfs', `local,path=${files.projectDir.replaceAll(',', ',,')},mount_tag=project,security_model=none,readonly=on,id=project`] : []),
  ];
}

/** Throws EPORTINUSE naming the first forwarded port that something else holds on 127.0.0.1. */
export async function checkPortsFree(ports: HostPorts): Promise<void> {
  const tcp = (port: number) => new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  const udp = (port: number) => new Promise<boolean>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  const checks: [string, number, boolean][] = [
    ['agent (tcp)', ports.agent, await tcp(ports.agent)],
    ['chaosd API (tcp)', ports.api, await tcp(ports.api)],
    ['jitsud DNS (udp)', ports.dns, await udp(ports.dns)],
  ];
  const taken = checks.filter(([, , free]) => !free);
  if (taken.length) {
    throw new LabError('EPORTINUSE',
      `port(s) in use on 127.0.0.1: ${taken.map(([what, p]) => `${p} for ${what}`).join(', ')}`,
      { details: 'another lab may be running (see `lab status`), or pick other ports with --port-base' });
  }
}

export function startQemu(cfg: LabConfig, files: BootFiles, ports: HostPorts): { pid: number; exited: Promise<number | null> } {
  if (!fs.existsSync(QEMU)) throw new LabError('EMISSING', `${QEMU} is missing (package qemu-system-x86)`);
  fs.writeFileSync(files.serialLog, '');
  const log = fs.openSync(files.qemuLog, 'w');
  const child = spawn(QEMU, qemuArgs(cfg, files, ports), { detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  child.unref();
  if (child.pid === undefined) throw new LabError('EBOOT', `could not start ${QEMU}`);
  return { pid: child.pid, exited };
}

/** True when `pid` is a live (not zombie) QEMU that writes to this serial log. */
export function isLabQemu(pid: number, serialLog: string): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && cmd[0].includes('qemu-system') && cmd.includes(`file:${serialLog}`);
  } catch {
    return false;
  }
}

/** Ends QEMU: SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
export async function stopQemu(pid: number, serialLog: string, graceMs = 5000): Promise<void> {
  if (!isLabQemu(pid, serialLog)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (isLabQemu(pid, serialLog) && Date.now() < deadline) await sleep(100);
  if (isLabQemu(pid, serialLog)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    while (isLabQemu(pid, serialLog)) await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
