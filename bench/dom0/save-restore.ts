// Runs in dom0: save and restore of a Linux guest (tinyx ticker), xl vs chaos side by side, and chaos's migration to localhost; one JSON line per sample.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { run } from './proc.js';
import { pino } from 'pino';
import { openToolstack } from '../../toolstack/index.js';
import { parseXlConfig } from '../../toolstack/config/index.js';
import { restoreFromFile, saveToFile } from '../../toolstack/save.js';
import { loadToken, migrate, receiveOne } from '../../toolstack/migrate.js';

const CONSOLE_DIR = '/var/log/xen/console';
const STATE_DIR = '/var/lib/lightvm-bench';
const IMAGE_DIR = '/var/lib/lightvm-bench/images';

interface Opts { reps: number; dir: string; memory: number; tools: string[] }

function parseArgs(argv: string[]): Opts {
  const get = (k: string, d: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 && i + 1 < argv.length ? argv[i + 1] : d; };
  const o = { reps: Number(get('reps', '3')), dir: get('tinyx', ''), memory: Number(get('memory', '96')), tools: get('tools', 'xl,chaos').split(',') };
  if (!Number.isInteger(o.reps) || o.reps < 1 || o.reps > 50) throw new Error('--reps takes 1 to 50');
  if (!fs.existsSync(path.join(o.dir, 'vmlinuz'))) throw new Error(`--tinyx ${o.dir}: no vmlinuz there`);
  if (!Number.isInteger(o.memory) || o.memory < 88 || o.memory > 4096) throw new Error('--memory takes 88 to 4096 MiB');
  return o;
}

const emit = (m: Record<string, unknown>) => process.stdout.write(JSON.stringify(m) + '\n');
const progress = (message: string) => emit({ kind: 'progress', message });

/** Waits until the guest's console log holds `text` after byte `from`. */
async function waitFor(name: string, text: string, from = 0, timeoutMs = 300_000): Promise<void> {
  const file = path.join(CONSOLE_DIR, `guest-${name}.log`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { if (fs.readFileSync(file, 'latin1').slice(from).includes(text)) return; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`${name}: "${text}" did not appear within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function logSize(name: string): number {
  try { return fs.statSync(path.join(CONSOLE_DIR, `guest-${name}.log`)).size; } catch { return 0; }
}

function cfgText(name: string, o: Opts): string {
  return `name = "${name}"\ntype = "pv"\nkernel = "${o.dir}/vmlinuz"\nramdisk = "${o.dir}/initrd.gz"\nextra = "console=hvc0 quiet"\nmemory = ${o.memory}\nvcpus = 1\n`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  fs.mkdirSync(IMAGE_DIR, { recursive: true, mode: 0o700 });
  const log = pino({ level: 'silent' });
  const { ts } = openToolstack({ stateDir: STATE_DIR, log });

  if (o.tools.includes('xl')) {
    const name = `bsr-xl-${process.pid}`;
    const cfg = path.join(IMAGE_DIR, `${name}.cfg`);
    fs.writeFileSync(cfg, cfgText(name, o));
    const c = await run('xl', ['create', '-q', cfg]);
    if (c.code !== 0) throw new Error(`xl create: ${c.out}`);
    await waitFor(name, 'tick 1');
    const img = path.join(IMAGE_DIR, `${name}.save`);
    try {
      for (let rep = 0; rep < o.reps; rep++) {
        let t = performance.now();
        const s = await run('xl', ['save', name, img]);
        if (s.code !== 0) throw new Error(`xl save: ${s.out}`);
        emit({ kind: 'sample', tool: 'xl', metric: 'save', value: performance.now() - t, rep, bytes: fs.statSync(img).size });
        const from = logSize(name);
        t = performance.now();
        const r = await run('xl', ['restore', img]);
        if (r.code !== 0) throw new Error(`xl restore: ${r.out}`);
        emit({ kind: 'sample', tool: 'xl', metric: 'restore', value: performance.now() - t, rep });
        await waitFor(name, 'tick', from, 60_000);
        emit({ kind: 'sample', tool: 'xl', metric: 'restore-to-tick', value: performance.now() - t, rep });
        fs.rmSync(img, { force: true });
        progress(`xl save+restore rep ${rep + 1}/${o.reps}`);
      }
    } finally {
      await run('xl', ['destroy', name]);
      fs.rmSync(img, { force: true });
    }
  }

  if (o.tools.includes('chaos')) {
    const name = `bsr-chaos-${process.pid}`;
    await ts.create(parseXlConfig(cfgText(name, o), 'bench.cfg'));
    await waitFor(name, 'tick 1');
    const img = path.join(IMAGE_DIR, `${name}.save`);
    const token = loadToken(path.join(STATE_DIR, 'migrate-token'), true);
    const server = net.createServer((sock) => { receiveOne(ts, log, sock, { token }).catch(() => undefined); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      for (let rep = 0; rep < o.reps; rep++) {
        let t = performance.now();
        const s = await saveToFile(ts, name, img);
        emit({ kind: 'sample', tool: 'chaos', metric: 'save', value: performance.now() - t, rep, bytes: s.bytes });
        const from = logSize(name);
        t = performance.now();
        await restoreFromFile(ts, img);
        emit({ kind: 'sample', tool: 'chaos', metric: 'restore', value: performance.now() - t, rep });
        await waitFor(name, 'tick', from, 60_000);
        emit({ kind: 'sample', tool: 'chaos', metric: 'restore-to-tick', value: performance.now() - t, rep });
        fs.rmSync(img, { force: true });
        const m = await migrate(ts, log, name, { host: '127.0.0.1', port, token });
        emit({ kind: 'sample', tool: 'chaos', metric: 'migrate-localhost', value: m.ms, rep });
        if (m.downtimeMs !== undefined) emit({ kind: 'sample', tool: 'chaos', metric: 'migrate-downtime', value: m.downtimeMs, rep });
        progress(`chaos save+restore+migrate rep ${rep + 1}/${o.reps}`);
      }
    } finally {
      server.close();
      await ts.destroy(name).catch(() => undefined);
      fs.rmSync(img, { force: true });
    }
  }
}

main().catch((err: Error) => { process.stderr.write(`save-restore: ${err.message}\n`); process.exit(1); });
