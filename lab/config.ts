// Lab configuration: defaults, validation and the files the lab keeps in its state directory.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError } from './errors.js';

/** Root of this project: the code runs from dist/lab/, the sources sit in lab/. */
export const PROJECT_ROOT = (() => {
  const up = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  return path.basename(up) === 'dist' ? path.dirname(up) : up;
})();

/** Ports inside dom0; the host forwards 127.0.0.1:<host port> to them. */
export const DOM0_PORTS = { agent: 7000, api: 8080, dns: 53 } as const;

export interface LabConfig {
  /** Where the lab keeps its image, logs, token and the running QEMU's state. */
  stateDir: string;
  /** Memory given to the whole QEMU machine (Xen, dom0 and guests), MiB. */
  memoryMiB: number;
  /** Memory of dom0, MiB (Node runs there). */
  dom0MemoryMiB: number;
  /** Virtual CPUs of the QEMU machine, also dom0's vCPUs. */
  cpus: number;
  /** First host port; agent = base, chaosd API = base+1, jitsud DNS (udp) = base+2. */
  portBase: number;
  /** Seconds to wait for dom0's agent before calling the boot failed. */
  bootTimeoutSec: number;
  /**
   * The hypervisor: 'noxs' (the build of xen-patches/build.sh, the default), 'stock' (Debian's), or
   * an image file.
   */
  xenImage?: string;
  /** Extra Xen command-line words. */
  xenArgs: string[];
}

export const DEFAULTS: Omit<LabConfig, 'stateDir'> = {
  memoryMiB: 4096,
  dom0MemoryMiB: 1024,
  cpus: 2,
  portBase: 17000,
  bootTimeoutSec: 300,
  xenArgs: [],
};

export function defaultStateDir(): string {
  return path.join(PROJECT_ROOT, '.lab');
}

export interface HostPorts { agent: number; api: number; dns: number }

export function hostPorts(cfg: Pick<LabConfig, 'portBase'>): HostPorts {
  return { agent: cfg.portBase, api: cfg.portBase + 1, dns: cfg.portBase + 2 };
}

function int(name: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new LabError('EINVAL', `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/**
 * What the environment sets, as the `lab` command's options do (LIGHTVM_LAB_<OPTION>), so that
 * `npm test`, `npm run bench` and the demo boot the same lab as `lab up` would.
 */
export function envConfig(env: NodeJS.ProcessEnv = process.env): Partial<LabConfig> {
  const out: Partial<LabConfig> = {};
  if (env.LIGHTVM_LAB_PORT_BASE !== undefined && env.LIGHTVM_LAB_PORT_BASE !== '') out.portBase = int('LIGHTVM_LAB_PORT_BASE', env.LIGHTVM_LAB_PORT_BASE, 1024, 65533);
  if (env.LIGHTVM_LAB_XEN !== undefined && env.LIGHTVM_LAB_XEN !== '') out.xenImage = env.LIGHTVM_LAB_XEN;
  return out;
}

/** Validates a partial configuration and fills in defaults (then the environment's settings, then `input`'s). */
export function resolveConfig(input: Partial<LabConfig> = {}): LabConfig {
  const c = { ...DEFAULTS, stateDir: defaultStateDir(), ...envConfig(), ...stripUndefined(input) };
  const cfg: LabConfig = {
    stateDir: path.resolve(c.stateDir),
    memoryMiB: int('memory (MiB)', c.memoryMiB, 1024, 1 << 20),
    dom0MemoryMiB: int('dom0 memory (MiB)', c.dom0MemoryMiB, 512, 1 << 20),
    cpus: int('cpus', c.cpus, 1, 64),
    portBase: int('port base', c.portBase, 1024, 65533),
    bootTimeoutSec: int('boot timeout (s)', c.bootTimeoutSec, 10, 3600),
    xenImage: c.xenImage === undefined || c.xenImage === 'stock' || c.xenImage === 'noxs' ? c.xenImage : path.resolve(c.xenImage),
    xenArgs: c.xenArgs,
  };
  if (cfg.dom0MemoryMiB > cfg.memoryMiB - 256) {
    throw new LabError('EINVAL', `dom0 memory (${cfg.dom0MemoryMiB} MiB) must leave at least 256 MiB of the machine's ${cfg.memoryMiB} MiB to Xen and guests`);
  }
  for (const a of cfg.xenArgs) {
    if (typeof a !== 'string' || /\s/.test(a) || a === '') throw new LabError('EINVAL', `a Xen argument must be one word, got ${JSON.stringify(a)}`);
  }
  return cfg;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Paths inside the state directory. */
export function statePaths(stateDir: string) {
  return {
    dir: stateDir,
    state: path.join(stateDir, 'state.json'),
    serial: path.join(stateDir, 'serial.log'),
    qemuLog: path.join(stateDir, 'qemu.log'),
    token: path.join(stateDir, 'agent-token'),
    imageDir: path.join(stateDir, 'image'),
    xen: path.join(stateDir, 'image', 'xen'),
    share: path.join(stateDir, 'share'),
  };
}
