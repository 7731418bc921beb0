// Runs in dom0: save and restore of a Linux guest (tinyx ticker) or of a unikernel (daytime), xl vs chaos over XenStore vs chaos over noxs side by side, and chaos's migration to localhost; one JSON line per sample.
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

/**
 * The guest: tinyx (`--tinyx DIR`, Linux, ready at its console's "tick") or daytime (`--daytime
 * KERNEL`, lightvm's runtime with a vif, ready when it answers TCP from dom0 on xenbr0). Tools: xl,
 * chaos (devices over XenStore), chaos-noxs (over noxs: daytime only, Linux has no noxs client).
 */
interface Opts { reps: number; dir: string; daytime: string; memory: number; tools: string[] }

const TOOLS = ['xl', 'chaos', 'chaos-noxs'];
/** The daytime guest's address on the lab's bridge (10.88.0.1 is dom0's). */
const DAYTIME_IP = '10.88.0.250';

function parseArgs(argv: string[]): Opts {
  const get = (k: string, d: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 && i + 1 < argv.length ? argv[i + 1] : d; };
  const daytime = get('daytime', '');
  const o = { reps: Number(get('reps', '3')), dir: get('tinyx', ''), daytime, memory: Number(get('memory', daytime ? '8' : '96')), tools: get('tools', 'xl,chaos').split(',') };
  if (!Number.isInteger(o.reps) || o.reps < 1 || o.reps > 50) throw new Error('--reps takes 1 to 50');
  for (const t of o.tools) if (!TOOLS.includes(t)) throw new Error(`--tools: ${JSON.stringify(t)} is not one of ${TOOLS.join(', ')}`);
  if (daytime) {
    if (!fs.existsSync(daytime)) throw new Error(`--daytime ${daytime}: no such kernel`);
    if (!Number.isInteger(o.memory) || o.memory < 1 || o.memory > 4096) throw new Error('--memory takes 1 to 4096 MiB');
  } else {
    if (!fs.existsSync(path.join(o.dir, 'vmlinuz'))) throw new Error(`--tinyx ${o.dir}: no vmlinuz there`);
    if (!Number.isInteger(o.memory) || o.memory < 88 || o.memory > 4096) throw new Error('--memory takes 88 to 4096 MiB');
    if (o.tools.includes('chaos-noxs')) throw new Error('chaos-noxs needs --daytime: a Linux guest has no noxs client');
  }
  return o;
}

/** Asks the daytime guest for its line until it answers (a restored guest re-announces itself with a gratuitous ARP). */
async function waitForAnswer(timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = await new Promise<string>((resolve) => {
      let got = '';
      const s = net.connect({ host: DAYTIME_IP, port: 13 });
      const done = () => { s.destroy(); resolve(got); };
      s.setTimeout(1000, done);
      s.on('data', (b) => { got += b.toString('latin1'); if (got.includes('\n')) done(); });
      s.on('error', done);
      s.on('end', done);
    });
    if (/UTC\r?\n/.test(line)) return;
    if (Date.now() > deadline) throw new Error(`the daytime guest at ${DAYTIME_IP} did not answer within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
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

function cfgText(name: string, o: Opts, method?: 'xenstore' | 'noxs'): string {
  if (o.daytime) {
    // xl runs a vif script; the lab's is xendevd's no-op one (vif-xendevd) when installed.
    const script = method === undefined && fs.existsSync('/etc/xen/scripts/vif-xendevd') ? ',script=vif-xendevd' : '';
    return `name = "${name}"\ntype = "pv"\nkernel = "${o.daytime}"\nextra = "ip=${DAYTIME_IP}/24 gw=10.88.0.1"\nmemory = ${o.memory}\nvcpus = 1\n` +
      `vif = [ "bridge=xenbr0${script}" ]\n${method ? `dev_method = "${method}"\n` : ''}`;
  }
  return `name = "${name}"\ntype = "pv"\nkernel = "${o.dir}/vmlinuz"\nramdisk = "${o.dir}/initrd.gz"\nextra = "console=hvc0 quiet"\nmemory = ${o.memory}\nvcpus = 1\n`;
}

/** The guest is up: its console's tick (tinyx, after byte `from` of the log) or its TCP answer (daytime). */
async function ready(name: string, o: Opts, from = 0, timeoutMs = 60_000): Promise<void> {
  if (o.daytime) await waitForAnswer(timeoutMs);
  else await waitFor(name, from ? 'tick' : 'tick 1', from, timeoutMs);
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
    await ready(name, o, 0, 300_000);
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
        await ready(name, o, from);
        emit({ kind: 'sample', tool: 'xl', metric: READY_METRIC(o), value: performance.now() - t, rep });
        fs.rmSync(img, { force: true });
        progress(`xl save+restore rep ${rep + 1}/${o.reps}`);
      }
    } finally {
      await run('xl', ['destroy', name]);
      fs.rmSync(img, { force: true });
    }
  }

  for (const tool of ['chaos', 'chaos-noxs'] as const) {
    if (!o.tools.includes(tool)) continue;
    const method = tool === 'chaos-noxs' ? 'noxs' : 'xenstore';
    const name = `bsr-${tool}-${process.pid}`;
    await ts.create(parseXlConfig(cfgText(name, o, method), 'bench.cfg'));
    await ready(name, o, 0, 300_000);
    const img = path.join(IMAGE_DIR, `${name}.save`);
    const token = loadToken(path.join(STATE_DIR, 'migrate-token'), true);
    const server = net.createServer((sock) => { receiveOne(ts, log, sock, { token }).catch(() => undefined); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      for (let rep = 0; rep < o.reps; rep++) {
        let t = performance.now();
        const s = await saveToFile(ts, name, img);
        emit({ kind: 'sample', tool, metric: 'save', value: performance.now() - t, rep, bytes: s.bytes });
        const from = logSize(name);
        t = performance.now();
        const r = await restoreFromFile(ts, img);
        if (r.record.devMethod !== method) throw new Error(`${name} was restored over ${r.record.devMethod}, not ${method}`);
        emit({ kind: 'sample', tool, metric: 'restore', value: performance.now() - t, rep });
        await ready(name, o, from);
        emit({ kind: 'sample', tool, metric: READY_METRIC(o), value: performance.now() - t, rep });
        fs.rmSync(img, { force: true });
        const m = await migrate(ts, log, name, { host: '127.0.0.1', port, token });
        emit({ kind: 'sample', tool, metric: 'migrate-localhost', value: m.ms, rep });
        if (m.downtimeMs !== undefined) emit({ kind: 'sample', tool, metric: 'migrate-downtime', value: m.downtimeMs, rep });
        progress(`${tool} save+restore+migrate rep ${rep + 1}/${o.reps}`);
      }
    } finally {
      server.close();
      await ts.destroy(name).catch(() => undefined);
      fs.rmSync(img, { force: true });
    }
  }
}

/** From the restore call to the guest being up again: its tick (tinyx) or its answer (daytime). */
const READY_METRIC = (o: Opts): string => (o.daytime ? 'restore-to-answer' : 'restore-to-tick');

main().catch((err: Error) => { process.stderr.write(`save-restore: ${err.message}\n`); process.exit(1); });
