// migrate and migrate-receive: move a running domain to another host (or this one) over TCP, authenticated by a shared token file.
import net from 'node:net';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { open, type GlobalArgs } from '../context.js';
import { daemon } from '../daemon.js';

type MigrateArgs = GlobalArgs & { domain: string; host: string; port: number; 'token-file': string; live: boolean; json?: boolean };
type ReceiveArgs = GlobalArgs & { bind: string; port: number; 'token-file': string; once?: boolean; paused?: boolean; monitor: boolean; 'dev-method'?: 'xenstore' | 'noxs' };

const PORT = 8002;
const TOKEN = '/var/lib/lightvm/migrate-token';

function checkPort(p: number): void {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw Object.assign(new Error('--port takes a TCP port from 1 to 65535'), { usage: true });
}

export const migrate: CommandModule<GlobalArgs, MigrateArgs> = {
  command: 'migrate <domain> <host>',
  describe: 'move a running domain to the host where `chaos migrate-receive` listens',
  builder: (y) => y
    .positional('domain', { type: 'string', demandOption: true, describe: 'domain id or name' })
    .positional('host', { type: 'string', demandOption: true, describe: 'the receiving host (name or address; localhost works)' })
    .option('port', { type: 'number', default: PORT, describe: 'the receiver\'s TCP port' })
    .option('token-file', { type: 'string', default: TOKEN, describe: 'the token the receiver expects (copy the receiver\'s file here)' })
    .option('live', { type: 'boolean', default: false, describe: 'copy memory while the guest runs, then suspend it for the rest (needs log-dirty support in Xen)' })
    .option('json', { type: 'boolean', describe: 'print JSON' }) as never,
  handler: async (a) => {
    checkPort(a.port);
    type Result = { name: string; targetDomid: number; ms: number; downtimeMs?: number };
    let r: Result;
    const c = await daemon(a);
    if (c) {
      // chaosd sends it (and journals it gone); it reads the token file itself, as a path in its file system.
      const body = { host: String(a.host), port: a.port, tokenFile: path.resolve(a['token-file']), live: a.live };
      r = await c.request<Result>('POST', `/v1/domains/${encodeURIComponent(String(a.domain))}/migrate`, body);
      c.close();
    } else {
      const { ts, log } = await open(a);
      const m = await import('../../migrate.js');
      r = await m.migrate(ts, log, String(a.domain), { host: String(a.host), port: a.port, token: m.loadToken(a['token-file'], false), live: a.live });
    }
    if (a.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else process.stderr.write(`migrated ${r.name} to ${a.host} (domain ${r.targetDomid} there) in ${r.ms.toFixed(0)} ms${r.downtimeMs !== undefined ? `, ${r.downtimeMs.toFixed(0)} ms of it suspended` : ''}\n`);
  },
};

export const migrateReceive: CommandModule<GlobalArgs, ReceiveArgs> = {
  command: 'migrate-receive',
  describe: 'listen for domains sent by `chaos migrate` (one at a time)',
  builder: (y) => y
    .option('bind', { type: 'string', default: '127.0.0.1', describe: 'the address to listen on (0.0.0.0: every interface)' })
    .option('port', { type: 'number', default: PORT, describe: 'TCP port' })
    .option('token-file', { type: 'string', default: TOKEN, describe: 'the token senders must present; made (mode 0600) if missing' })
    .option('once', { type: 'boolean', describe: 'exit after the first migration, with its result as the exit code' })
    .option('paused', { alias: 'p', type: 'boolean', describe: 'leave incoming domains paused' })
    .option('dev-method', { type: 'string', choices: ['xenstore', 'noxs'], describe: 'take only domains saved with this device method (an incoming domain keeps its own; another is refused)' })
    .option('monitor', { type: 'boolean', default: true, describe: 'start the per-host monitor for incoming domains (--no-monitor: do not)' }) as never,
  handler: async (a) => {
    checkPort(a.port);
    const { ts, log } = await open(a);
    const m = await import('../../migrate.js');
    const { ChaosError } = await import('../../errors.js');
    const token = m.loadToken(a['token-file'], true);
    const server = net.createServer({ pauseOnConnect: false });
    let busy = false;
    const finished = new Promise<number>((resolve, reject) => {
      server.on('error', (err: NodeJS.ErrnoException) => reject(new ChaosError('MIGRATION', `cannot listen on ${a.bind}:${a.port}: ${err.code ?? err.message}`, { cause: err })));
      server.on('connection', (sock) => {
        // One migration at a time: each one holds a good share of the host's memory bandwidth.
        if (busy) { sock.end(JSON.stringify({ error: 'busy with another migration: try again' }) + '\n'); return; }
        busy = true;
        m.receiveOne(ts, log, sock, { token, paused: a.paused, ...(a['dev-method'] ? { devMethod: a['dev-method'] } : {}) })
          .then((r) => {
            process.stderr.write(`received ${r.name} (domain ${r.domid}) in ${r.ms.toFixed(0)} ms\n`);
            if (a.monitor) void import('./monitor.js').then((mon) => mon.ensureMonitor(a));
            if (a.once) resolve(0);
          })
          .catch((err: Error) => {
            process.stderr.write(`chaos: a migration failed: ${err.message}\n`);
            if (a.once) resolve(1);
          })
          .finally(() => { busy = false; });
      });
      server.listen(a.port, a.bind, () => process.stderr.write(`listening for migrations on ${a.bind}:${a.port}\n`));
    });
    const stop = () => server.close();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    const code = await finished;
    server.close();
    process.exitCode = code;
  },
};
