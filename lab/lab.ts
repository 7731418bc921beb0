// The lab: boots real Xen with a Debian dom0 in QEMU, reports its state, runs commands in dom0 and shuts it down.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { LabError } from './errors.js';
import { hostPorts, PROJECT_ROOT, resolveConfig, statePaths, type HostPorts, type LabConfig } from './config.js';
import { ensurePackages } from './packages.js';
import { buildDom0Image, chooseHypervisor, type Dom0Image } from './image.js';
import { checkPortsFree, isLabQemu, sleep, startQemu, stopQemu } from './qemu.js';
import { pingAgent, runInLab, type RunResult } from './agent/client.js';
import type { RunRequest } from './agent/protocol.js';

/** What a running lab records in its state directory. */
export interface LabState {
  pid: number;
  startedAt: string;
  ports: HostPorts;
  config: LabConfig;
  imageBytes: number;
  bootSeconds: number;
}

export interface UpResult {
  state: LabState;
  /** The image booted; absent when a running lab was reused. */
  image?: Dom0Image;
  phases: { mark: string; seconds: number }[];
  reused: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
  onStdout?(b: Buffer): void;
  onStderr?(b: Buffer): void;
  stdin?: NodeJS.ReadableStream;
  /** Aborting it stops waiting and makes dom0's agent kill the command. */
  signal?: AbortSignal;
}

export type Log = (line: string) => void;

const MARK = 'LIGHTVM-LAB: ';

export class Lab {
  readonly config: LabConfig;
  private readonly paths: ReturnType<typeof statePaths>;

  constructor(config: Partial<LabConfig> = {}) {
    this.config = resolveConfig(config);
    this.paths = statePaths(this.config.stateDir);
  }

  /** The recorded state if its QEMU is still alive, else undefined (and a stale record is removed). */
  state(): LabState | undefined {
    let st: LabState;
    try {
      st = JSON.parse(fs.readFileSync(this.paths.state, 'utf8')) as LabState;
    } catch {
      return undefined;
    }
    if (!isLabQemu(st.pid, this.paths.serial)) {
      fs.rmSync(this.paths.state, { force: true });
      return undefined;
    }
    return st;
  }

  private requireState(): LabState {
    const st = this.state();
    if (!st) throw new LabError('ENOLAB', `no lab is running (state directory ${this.config.stateDir}); start one with \`lab up\``);
    return st;
  }

  private token(): string {
    return fs.readFileSync(this.paths.token, 'utf8').trim();
  }

  endpoint(): { host: string; port: number; token: string } {
    return { host: '127.0.0.1', port: this.requireState().ports.agent, token: this.token() };
  }

  /** Boots the lab and returns when dom0's agent answers. With `reuse`, an already running lab is fine. */
  async up(opts: { log?: Log; install?: boolean; reuse?: boolean } = {}): Promise<UpResult> {
    const log = opts.log ?? (() => {});
    const running = this.state();
    if (running) {
      if (opts.reuse) return { state: running, phases: [], reused: true };
      throw new LabError('ERUNNING', `a lab is already running (pid ${running.pid}, agent on 127.0.0.1:${running.ports.agent}); \`lab down\` first`);
    }
    const t0 = performance.now();
    if (opts.install !== false) ensurePackages({ log });
    fs.mkdirSync(this.config.stateDir, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.config.stateDir, 0o700);
    const ports = hostPorts(this.config);
    await checkPortsFree(ports);

    // A fresh token each boot: whoever can read the state directory may command dom0, nobody else.
    const token = crypto.randomBytes(24).toString('hex');
    fs.writeFileSync(this.paths.token, token + '\n', { mode: 0o600 });
    log('building the dom0 image');
    const image = await buildDom0Image(this.config.stateDir, token);
    for (const [name, l] of Object.entries(image.layers)) {
      log(`  ${name} layer: ${mib(l.bytes)} ${l.rebuilt ? `rebuilt in ${(l.ms / 1000).toFixed(1)} s` : 'unchanged'}`);
    }
    const hv = chooseHypervisor(this.config.stateDir, this.config.xenImage);
    if (hv.warning) log(`warning: ${hv.warning}`);
    const xen = hv.file;
    fs.mkdirSync(this.paths.share, { recursive: true, mode: 0o700 });
    const files = { xen, kernel: image.kernel.vmlinuz, image: image.file, serialLog: this.paths.serial, qemuLog: this.paths.qemuLog, shareDir: this.paths.share, projectDir: PROJECT_ROOT };

    log(`booting ${hv.kind === 'noxs' ? 'the patched (noxs) ' : hv.kind === 'stock' ? "Debian's " : ''}Xen (${xen}) with dom0 kernel ${image.kernel.version}, ${this.config.memoryMiB} MiB, ${this.config.cpus} vCPUs`);
    const tBoot = performance.now();
    const qemu = startQemu(this.config, files, ports);
    let exitCode: number | null | undefined;
    void qemu.exited.then((c) => { exitCode = c; });

    const phases: { mark: string; seconds: number }[] = [];
    let seen = 0;
    let partial = '';
    const deadline = Date.now() + this.config.bootTimeoutSec * 1000;
    const failBoot = async (why: string): Promise<never> => {
      await stopQemu(qemu.pid, this.paths.serial, 2000);
      throw new LabError('EBOOT', why, { details: this.bootDetails() });
    };
    const endpoint = { host: '127.0.0.1', port: ports.agent, token };
    for (;;) {
      const chunk = readFrom(this.paths.serial, seen);
      seen += chunk.length;
      const text = partial + chunk.toString('latin1');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const i = line.indexOf(MARK);
        if (i < 0) continue;
        const mark = line.slice(i + MARK.length).replace(/ uptime=.*/, '').trim();
        const seconds = (performance.now() - tBoot) / 1000;
        phases.push({ mark, seconds });
        log(`  ${seconds.toFixed(1).padStart(6)} s  ${mark}`);
        if (mark.startsWith('FAILED')) await failBoot(`dom0 start-up failed: ${mark.slice('FAILED: '.length)}`);
      }
      if (/Panic on CPU|Reboot in five seconds|Kernel panic/.test(text)) await failBoot('Xen or the dom0 kernel panicked');
      if (exitCode !== undefined) throw new LabError('EBOOT', `QEMU exited (code ${exitCode}) before dom0 was ready`, { details: this.bootDetails() });
      if (phases.some((p) => p.mark === 'boot done') && await pingAgent(endpoint, 3000)) break;
      if (Date.now() > deadline) await failBoot(`dom0's agent did not answer within ${this.config.bootTimeoutSec} s`);
      await sleep(250);
    }
    const bootSeconds = (performance.now() - tBoot) / 1000;
    phases.push({ mark: 'agent answers', seconds: bootSeconds });
    const state: LabState = {
      pid: qemu.pid, startedAt: new Date().toISOString(), ports, config: this.config, imageBytes: image.bytes, bootSeconds,
    };
    fs.writeFileSync(this.paths.state, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    log(`lab up in ${((performance.now() - t0) / 1000).toFixed(1)} s (boot ${bootSeconds.toFixed(1)} s); agent on 127.0.0.1:${ports.agent}`);
    return { state, image, phases, reused: false };
  }

  /** Stops QEMU; true if a lab was running. Leaves no process behind. */
  async down(): Promise<boolean> {
    const st = this.state();
    if (!st) return false;
    await stopQemu(st.pid, this.paths.serial);
    fs.rmSync(this.paths.state, { force: true });
    fs.rmSync(this.paths.token, { force: true });
    return true;
  }

  /** Runs a command in dom0: a string goes to /bin/sh -c, an array is an argv. */
  async run(cmd: string | string[], opts: RunOptions = {}): Promise<RunResult> {
    const req: RunRequest = {
      ...(typeof cmd === 'string' ? { cmd } : { argv: cmd }),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      stdin: !!opts.stdin,
    };
    return runInLab(this.endpoint(), req, { onStdout: opts.onStdout, onStderr: opts.onStderr, stdin: opts.stdin, signal: opts.signal });
  }

  /** Runs a shell command in dom0 and returns its stdout; throws with stderr when it fails. */
  async sh(cmd: string, timeoutMs = 120_000): Promise<string> {
    const r = await this.run(cmd, { timeoutMs });
    if (r.code !== 0) {
      throw new LabError('EBOOT', `in dom0, \`${cmd}\` failed (${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}): ${r.stderr.toString().trim() || r.stdout.toString().trim()}`);
    }
    return r.stdout.toString();
  }

  /** The last lines of the serial console and of QEMU's own output, for failure reports. */
  bootDetails(lines = 25): string {
    const tail = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(none)');
    return `last lines of the serial console (${this.paths.serial}):\n${tail(this.paths.serial)}\nQEMU said (${this.paths.qemuLog}):\n${tail(this.paths.qemuLog)}`;
  }

  get serialLog(): string { return this.paths.serial; }
  get shareDir(): string { return this.paths.share; }
}

function readFrom(file: string, offset: number): Buffer {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= offset) return Buffer.alloc(0);
      const buf = Buffer.alloc(size - offset);
      const n = fs.readSync(fd, buf, 0, buf.length, offset);
      return buf.subarray(0, n);
    } finally { fs.closeSync(fd); }
  } catch { return Buffer.alloc(0); }
}

export function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
