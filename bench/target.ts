// Where the benchmarks run: dom0 of the lab, or this machine when it is itself a Xen host's dom0 (`--host`); and that host's properties.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Lab, RunOptions } from '../lab/lab.js';
import type { RunResult } from '../lab/agent/client.js';
import { DOM0_PROJECT_DIR } from '../lab/image.js';
import { parseXlInfo } from '../lab/xl.js';
import { commitId, hostCpu, type HostProps } from './record.js';
import type { Target } from './scenario.js';

/** What a bad target looks like to the person running the benchmarks: one sentence, exit 1. */
export class TargetError extends Error {}

/** The tree dom0 mounts live (read-only) from the host: the code of this very commit. */
export const DOM0_LIVE_TREE = '/mnt/project';

/**
 * The lab's dom0. The image's copy of the project (/opt/lightvm, in RAM) is used when it holds the
 * same build as this tree; otherwise (the lab was booted from an older build, and the shared lab is
 * not rebooted for a benchmark) the live tree over 9p, so that results match the commit they carry.
 */
export async function labTarget(lab: Lab, projectDir?: string): Promise<Target & { projectNote: string }> {
  const dir = projectDir ?? (await sameBuild(lab) ? DOM0_PROJECT_DIR : DOM0_LIVE_TREE);
  const projectNote = dir === DOM0_PROJECT_DIR ? 'the image\'s copy (RAM)' : dir === DOM0_LIVE_TREE ? 'the live tree over 9p (the image is older than this build)' : dir;
  return {
    kind: 'lab', projectDir: dir, projectNote,
    scratch: { here: path.join(lab.shareDir, 'bench'), dom0: '/mnt/share/bench' },
    run: (cmd, opts) => lab.run(cmd, opts),
    sh: (cmd, t) => lab.sh(cmd, t),
  };
}

/** Whether the image's copy and the live tree hold the same built code (the dom0 scripts, the toolstack, the addon). */
async function sameBuild(lab: Lab): Promise<boolean> {
  const digest = (dir: string) =>
    `cd ${dir} 2>/dev/null && { find dist/bench dist/toolstack dist/daemon -name '*.js' 2>/dev/null | sort | xargs sha256sum; sha256sum native/build/Release/xen.node; } | sha256sum`;
  const r = await lab.run(`echo "$(${digest(DOM0_PROJECT_DIR)})"; echo "$(${digest(DOM0_LIVE_TREE)})"`, { timeoutMs: 120_000 });
  const [a, b] = r.stdout.toString().trim().split('\n');
  return r.code === 0 && !!a && a === b;
}

/** This machine as the Xen host: refused, with the reason, unless it is dom0 of a running Xen with xl. */
export async function localTarget(projectRoot: string): Promise<Target> {
  const caps = (() => { try { return fs.readFileSync('/proc/xen/capabilities', 'utf8'); } catch { return undefined; } })();
  if (caps === undefined) throw new TargetError('--host: this machine runs no Xen (no /proc/xen/capabilities); run the benchmarks in dom0 of a Xen host, or in the lab (without --host)');
  if (!caps.includes('control_d')) throw new TargetError('--host: this machine is a Xen guest, not dom0 (/proc/xen/capabilities has no control_d)');
  const t: Target = {
    kind: 'real', projectDir: projectRoot,
    scratch: { here: path.join(os.tmpdir(), 'lightvm-bench'), dom0: path.join(os.tmpdir(), 'lightvm-bench') },
    run: runLocal,
    async sh(cmd, timeoutMs = 120_000) {
      const r = await runLocal(cmd, { timeoutMs });
      if (r.code !== 0) throw new TargetError(`\`${cmd}\` failed (exit ${r.code ?? r.signal}): ${r.stderr.toString().trim()}`);
      return r.stdout.toString();
    },
  };
  const xl = await runLocal(['xl', 'info'], { timeoutMs: 30_000 });
  if (xl.code !== 0) throw new TargetError(`--host: \`xl info\` fails here (${xl.stderr.toString().trim() || `exit ${xl.code}`}): is xenstored running, and are you root?`);
  return t;
}

/** Runs a command on this machine with the same result shape as the lab's agent. */
export function runLocal(cmd: string | string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, args] = typeof cmd === 'string' ? ['/bin/sh', ['-c', cmd]] : [cmd[0], cmd.slice(1)];
  return new Promise((resolve) => {
    const t0 = performance.now();
    const out: Buffer[] = [], err: Buffer[] = [];
    let timedOut = false;
    const c = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env ? { ...process.env, ...opts.env } : process.env });
    const timer = opts.timeoutMs ? setTimeout(() => { timedOut = true; c.kill('SIGKILL'); }, opts.timeoutMs) : undefined;
    c.stdout.on('data', (b: Buffer) => { out.push(b); opts.onStdout?.(b); });
    c.stderr.on('data', (b: Buffer) => { err.push(b); opts.onStderr?.(b); });
    const done = (code: number | null, signal: string | null, extra?: string) => {
      clearTimeout(timer);
      if (extra) err.push(Buffer.from(extra));
      resolve({ code, signal, durationMs: performance.now() - t0, timedOut, stdout: Buffer.concat(out), stderr: Buffer.concat(err), stdoutTruncated: false, stderrTruncated: false });
    };
    c.on('error', (e) => done(127, null, `${file}: ${e.message}`));
    c.on('close', (code, signal) => done(code, signal));
  });
}

/** The properties stamped on every sample: what ran, where, on which Xen. */
export async function hostProps(target: Target & { projectNote?: string }, projectRoot: string, lab?: { dom0MemoryMiB: number; memoryMiB: number }): Promise<HostProps> {
  const info = parseXlInfo(await target.sh('xl info'));
  const dom0Mem = lab?.dom0MemoryMiB ?? Number((await target.sh('xl list 0')).split('\n')[1]?.split(/\s+/)[2] ?? 0);
  return {
    kind: target.kind,
    cpu: hostCpu(),
    cores: os.cpus().length, hostKernel: os.release(),
    xen: info.xen_version ?? `${info.xen_major}.${info.xen_minor}${info.xen_extra}`,
    dom0Kernel: (await target.sh('uname -r')).trim(), dom0MemoryMiB: dom0Mem,
    ...(lab ? { labMemoryMiB: lab.memoryMiB } : {}),
    commit: commitId(projectRoot), node: process.version,
    ...(target.projectNote ? { dom0Project: `${target.projectDir}: ${target.projectNote}` } : {}),
  };
}
