#!/usr/bin/env node
// chaosd: the lightvm daemon - pools of VM shells and the REST API on a Unix socket (and optionally TCP with a token). Exit codes: 0 stopped cleanly, 1 failure, 2 bad usage.
// First: V8's flags are set before the code below first runs.
import './v8-flags.js';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import http from 'node:http';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { pino } from 'pino';
import { openToolstack } from '../toolstack/index.js';
import { monitorHolder, ShutdownMonitor } from '../toolstack/monitor.js';
import type { Log } from '../toolstack/log.js';
import { Chaosd } from './service.js';
import { Workers } from './workers.js';
import { apiHandler } from './http.js';
import { DEFAULTS, settingsFrom, type DaemonSettings, type RawArgs } from './options.js';

/** How long an idle client connection is kept open (node's default is 5 s). */
const KEEP_ALIVE_MS = 60_000;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Whether something answers on the socket (another chaosd), as opposed to a file left by a crash. */
function answers(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(sock);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** Listens on the Unix socket with mode 0660, owned by root (our uid) and the configured group, from its first moment. */
async function listenUnix(server: http.Server, s: DaemonSettings, log: Log): Promise<void> {
  fs.mkdirSync(path.dirname(s.socket), { recursive: true, mode: 0o755 });
  if (fs.existsSync(s.socket)) {
    if (await answers(s.socket)) throw new Error(`another chaosd already listens on ${s.socket}`);
    fs.rmSync(s.socket, { force: true });
  }
  const old = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(s.socket, () => { server.off('error', reject); resolve(); });
    });
  } finally {
    process.umask(old);
  }
  fs.chmodSync(s.socket, 0o660);
  try {
    fs.chownSync(s.socket, process.getuid?.() ?? 0, s.gid);
  } catch (err) {
    log.warn({ socket: s.socket, gid: s.gid, err: (err as Error).message }, 'could not give the socket to the group: only its owner can use it');
  }
}

async function main(): Promise<void> {
  const a = await yargs(hideBin(process.argv))
    .scriptName('chaosd')
    .usage('$0 [options]\n\nThe lightvm daemon: pools of pre-created VM shells and the REST API (docs/chaosd.md).')
    .option('socket', { type: 'string', default: DEFAULTS.socket, describe: 'the API\'s Unix socket (mode 0660)' })
    .option('group', { type: 'string', default: 'root', describe: 'the group (name or gid) that may use the socket besides root' })
    .option('state-dir', { type: 'string', default: DEFAULTS.stateDir, describe: 'domain records (shared with chaos) and the journal (chaosd/)' })
    .option('pool', { type: 'string', array: true, describe: `a pool of shells, repeatable: name=N,memory=MiB[,maxmem=MiB][,vcpus=N],low=N,high=N (default: ${DEFAULTS.pool})` })
    // yargs reads --no-pools as pools=false: the option is `pools`, on by default.
    .option('pools', { type: 'boolean', default: true, describe: 'keep pools of shells (--no-pools: none, every create builds from scratch)' })
    .option('dev-method', { type: 'string', choices: ['xenstore', 'noxs'], default: 'xenstore', describe: 'devices of the shells, and of configs without dev_method: over XenStore, or noxs (patched Xen and noxsd)' })
    .option('margin-mib', { type: 'number', default: DEFAULTS.marginMiB, describe: 'free host memory chaosd never uses' })
    .option('parallel', { type: 'number', describe: 'creates that run at once (default: two per build worker, or per CPU)' })
    .option('workers', { type: 'number', describe: 'build worker processes, each with its own Xen handles (default: one per CPU; 0: build in this process)' })
    .option('max-body', { type: 'number', default: DEFAULTS.maxBodyBytes, describe: 'the largest request body, bytes' })
    .option('tcp-port', { type: 'number', describe: 'also listen on this TCP port (needs --token-file)' })
    .option('tcp-host', { type: 'string', default: '127.0.0.1', describe: 'the TCP listener\'s address' })
    .option('token-file', { type: 'string', describe: 'the bearer token TCP clients must send' })
    .option('log-level', { type: 'string', choices: LEVELS, default: 'info' })
    .option('log-file', { type: 'string', describe: 'append JSON logs here instead of stderr' })
    .strict()
    .help()
    .version(false)
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`chaosd: ${msg}\n`);
      process.exit(2);
    })
    .parseAsync();
  const s = settingsFrom(a as unknown as RawArgs);
  const dest = a['log-file'] ? pino.destination({ dest: a['log-file'], append: true, mkdir: true, sync: true }) : pino.destination({ dest: 2, sync: true });
  const log = pino({ level: a['log-level'], base: { pid: process.pid, unit: 'chaosd' } }, dest) as unknown as Log;

  const { ts, xen } = openToolstack({ stateDir: s.stateDir, log, devMethod: s.devMethod });
  // Build workers inherit the environment: their shells are made with the same method.
  process.env.LIGHTVM_CHAOSD_DEV_METHOD = s.devMethod;
  const workers = s.workers > 0 ? new Workers(s.workers, { stateDir: s.stateDir, logLevel: a['log-level'], ...(a['log-file'] ? { logFile: a['log-file'] } : {}) }, log.child({ unit: 'workers' })) : undefined;
  await workers?.start();
  const chaosd = new Chaosd({
    ts, journalDir: path.join(s.stateDir, 'chaosd'), classes: s.pools, log, marginMiB: s.marginMiB, parallel: s.parallel,
    hostMiB: async () => ((await xen.physinfo()).totalPages * 4) / 1024, ...(workers ? { builder: workers } : {}),
  });
  const t0 = performance.now();
  const rec = await chaosd.start();
  log.info({ ...rec, ms: performance.now() - t0 }, 'journal reconciled');
  // chaosd applies on_poweroff/on_reboot/on_crash for the domains of its state directory, as `chaos monitor` would.
  const monitor = new ShutdownMonitor({ ts, xen, log: log.child({ unit: 'monitor' }), stateDir: s.stateDir });
  if (!(await monitor.start())) log.info({ holder: monitorHolder(s.stateDir) }, 'a chaos monitor applies shutdown actions for now: chaosd takes over when it exits');

  const servers: http.Server[] = [];
  // A long-running client (a service that boots a VM per request) keeps its connection between
  // requests, a few seconds apart or more: node's 5 s would have it connect again for most of them.
  // The stop closes idle connections at once.
  const serverOptions = { keepAliveTimeout: KEEP_ALIVE_MS };
  const unix = http.createServer(serverOptions, apiHandler(chaosd, log.child({ listener: 'unix' }), { maxBodyBytes: s.maxBodyBytes, devMethod: s.devMethod }));
  await listenUnix(unix, s, log);
  servers.push(unix);
  if (s.tcp) {
    const tcp = http.createServer(serverOptions, apiHandler(chaosd, log.child({ listener: 'tcp' }), { maxBodyBytes: s.maxBodyBytes, token: s.tcp.token, devMethod: s.devMethod }));
    await new Promise<void>((resolve, reject) => { tcp.once('error', reject); tcp.listen(s.tcp!.port, s.tcp!.host, () => resolve()); });
    servers.push(tcp);
  }
  log.info({ socket: s.socket, tcp: s.tcp ? `${s.tcp.host}:${s.tcp.port}` : null, pools: s.pools.map((p) => p.name), parallel: s.parallel, workers: workers?.pids ?? [] }, 'chaosd listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: no new requests; finishing the work under way');
    for (const srv of servers) { srv.close(); srv.closeIdleConnections(); }
    await monitor.stop();
    const r = await chaosd.stop();
    await workers?.stop();
    fs.rmSync(s.socket, { force: true });
    log.info(r, 'chaosd stopped; running VMs are left running');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  const e = err as { usage?: boolean; code?: string; message?: string };
  process.stderr.write(`chaosd: ${e?.message ?? String(err)}${e?.code ? ` [${e.code}]` : ''}\n`);
  process.exit(e?.usage ? 2 : 1);
});
