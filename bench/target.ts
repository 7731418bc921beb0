// Where the benchmarks run: dom0 of the lab, or this machine when it is itself a Xen host's dom0 (`--host`); and that host's properties.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Lab, RunOptions } from '../lab/lab.js';
import type { RunResult } from '../lab/agent/client.js';
import { DOM0_PROJECT_DIR } from '../lab/image.js';
import { parseXlInfo } from '../lab/xl.js';
import { hostCpu, type HostProps } from './record.js';
import type { Target } from './scenario.js';

/** What a bad target looks like to the person running the benchmarks: one sentence, exit 1. */
export class TargetError extends Error { override name = 'TargetError'; }

/** The tree dom0 mounts live (read-only) from the host (`--dom0-project /mnt/project`). */
export const DOM0_LIVE_TREE = '/mnt/project';
/** Where this build's dist/ is staged in dom0's RAM when the lab's image holds an older one. */
export const DOM0_STAGED = '/var/lib/lightvm-bench/project';

/** The built code the dom0 scripts run: JavaScript under these folders of dist/. */
const CODE_DIRS = ['bench', 'toolstack', 'daemon', 'lab'];

/**
 * The lab's dom0. The image's copy of the project (/opt/lightvm, in RAM) is used when its dist/
 * is this build's; otherwise (the shared lab is not rebooted for a benchmark) this build's dist/ is
 * staged in dom0's RAM next to the image's node_modules, addon and guests, so that the results
 * carry the commit whose code ran, and no code loads over 9p during a measurement.
 */
export async function labTarget(lab: Lab, projectRoot: string, projectDir?: string): Promise<Target & { projectNote: string }> {
  let dir = projectDir, projectNote = projectDir ?? '';
  if (!dir) {
    const stale = await differingFiles(lab, projectRoot);
    if (stale.length === 0) { dir = DOM0_PROJECT_DIR; projectNote = 'the lab image\'s copy, this build'; }
    else { dir = await stageDist(lab, projectRoot); projectNote = `this build's dist/ staged in dom0's RAM (the image's differs in ${stale.length} files); node_modules, addon and guests from the lab's image`; }
  }
  return {
    kind: 'lab', projectDir: dir, projectNote,
    scratch: { here: path.join(lab.shareDir, 'bench'), dom0: '/mnt/share/bench' },
    run: (cmd, opts) => lab.run(cmd, opts),
    sh: (cmd, t) => lab.sh(cmd, t),
  };
}

function jsFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.c?js$/.test(e.name)) out.push(path.relative(root, p));
    }
  };
  for (const d of CODE_DIRS) walk(path.join(root, 'dist', d));
  return out.sort();
}

/** The built files whose content differs between this tree's dist/ and the lab image's (or that only one has). */
async function differingFiles(lab: Lab, projectRoot: string): Promise<string[]> {
  const here = new Map(jsFiles(projectRoot).map((f) => [f, crypto.createHash('sha256').update(fs.readFileSync(path.join(projectRoot, f))).digest('hex')]));
  const r = await lab.run(`cd ${DOM0_PROJECT_DIR} && find ${CODE_DIRS.map((d) => `dist/${d}`).join(' ')} \\( -name '*.js' -o -name '*.cjs' \\) 2>/dev/null | xargs sha256sum`, { timeoutMs: 120_000 });
  const there = new Map(r.stdout.toString().trim().split('\n').filter(Boolean).map((l) => { const [h, f] = l.split(/\s+/); return [f.replace(/^\.\//, ''), h] as const; }));
  return [...new Set([...here.keys(), ...there.keys()])].filter((f) => here.get(f) !== there.get(f));
}

/** Copies this build's dist/ (no maps or declarations) into dom0's RAM, beside links to the image's node_modules, addon and guests. */
async function stageDist(lab: Lab, projectRoot: string): Promise<string> {
  const share = path.join(lab.shareDir, 'bench', 'dist');
  fs.rmSync(share, { recursive: true, force: true });
  fs.cpSync(path.join(projectRoot, 'dist'), share, { recursive: true, filter: (src) => !/\.(map|d\.ts|tsbuildinfo)$/.test(src) && !src.includes(`${path.sep}dist${path.sep}test`) });
  fs.copyFileSync(path.join(projectRoot, 'package.json'), path.join(lab.shareDir, 'bench', 'package.json'));
  const links = ['node_modules', 'native', 'guests'].map((d) => `ln -s ${DOM0_PROJECT_DIR}/${d} ${DOM0_STAGED}/${d}`).join(' && ');
  await lab.sh(`rm -rf ${DOM0_STAGED} && mkdir -p ${DOM0_STAGED} && cp -r /mnt/share/bench/dist ${DOM0_STAGED}/dist && cp /mnt/share/bench/package.json ${DOM0_STAGED}/ && ${links}`, 300_000);
  return DOM0_STAGED;
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
    // Interrupted: SIGTERM, which the dom0 scripts answer by destroying their guests.
    const onAbort = () => c.kill('SIGTERM');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    c.stdout.on('data', (b: Buffer) => { out.push(b); opts.onStdout?.(b); });
    c.stderr.on('data', (b: Buffer) => { err.push(b); opts.onStderr?.(b); });
    const done = (code: number | null, signal: string | null, extra?: string) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (extra) err.push(Buffer.from(extra));
      resolve({ code, signal, durationMs: performance.now() - t0, timedOut, stdout: Buffer.concat(out), stderr: Buffer.concat(err), stdoutTruncated: false, stderrTruncated: false });
    };
    c.on('error', (e) => done(127, null, `${file}: ${e.message}`));
    c.on('close', (code, signal) => done(code, signal));
  });
}

/** The properties stamped on every sample: what ran, where, on which Xen. */
/** `commit`: the project's commit id as the run started (record.ts's commitId). */
export async function hostProps(target: Target & { projectNote?: string }, commit: string, lab?: { dom0MemoryMiB: number; memoryMiB: number }): Promise<HostProps> {
  const info = parseXlInfo(await target.sh('xl info'));
  const dom0Mem = lab?.dom0MemoryMiB ?? Number((await target.sh('xl list 0')).split('\n')[1]?.split(/\s+/)[2] ?? 0);
  return {
    kind: target.kind,
    cpu: hostCpu(),
    cores: os.cpus().length, hostKernel: os.release(),
    xen: info.xen_version ?? `${info.xen_major}.${info.xen_minor}${info.xen_extra}`,
    dom0Kernel: (await target.sh('uname -r')).trim(), dom0MemoryMiB: dom0Mem,
    ...(lab ? { labMemoryMiB: lab.memoryMiB } : {}),
    commit, node: process.version,
    ...(target.projectNote ? { dom0Project: `${target.projectDir}: ${target.projectNote}` } : {}),
  };
}
