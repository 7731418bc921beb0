// dom0 side of the vif-hotplug benchmark: xl makes noop guests with a vif whose hotplug is xendevd's (script vif-xendevd) or the stock vif-bridge script's; times each vif from its appearance to bridged and connected.
import fs from 'node:fs';
import { loadNative } from '../../toolstack/xen/native.js';
import { XenStore } from '../../toolstack/xen/xenstore.js';
import { LinuxHostNet } from '../../toolstack/xen/host-net.js';
import { parseUevent } from '../../daemon/xendevd/uevent.js';
import { arg, emit, intArg, noopConfigText, progress, step, writeConfig } from './common.js';
import { run } from './proc.js';

/** The hotplug agents compared, by the vif script xl is given for each. */
const SCRIPTS: Record<string, string> = { xendevd: 'vif-xendevd', 'vif-bridge': 'vif-bridge' };
const BRIDGE = 'xenbr0';
const TIMEOUT_MS = 120_000;

const argv = process.argv.slice(2);
const reps = intArg(argv, 'reps', 3, 1, 100);
const kernel = arg(argv, 'kernel');
const tools = arg(argv, 'tools', Object.keys(SCRIPTS).join(',')).split(',');
for (const t of tools) if (!SCRIPTS[t]) throw new Error(`unknown tool ${t}: one of ${Object.keys(SCRIPTS).join(', ')}`);

const xen = loadNative();
const xs = new XenStore(xen);
/**
 * Every vif the kernel announces (its uevent "add") is timed from that moment, before xl returns
 * and before it is known whose it is: waiting for xl would put xl's own return into the figure.
 */
const timings = new Map<string, Promise<{ bridgeMs: number; connectedMs: number }>>();
const source = new LinuxHostNet().listen((s) => {
  if (s.kind !== 'message' || s.senderPid !== 0) return;
  const t0 = performance.now();
  const p = parseUevent(s.data);
  if (!p.ok || p.event.action !== 'add' || p.event.env.get('SUBSYSTEM') !== 'net') return;
  const m = /^vif(\d+)\.(\d+)$/.exec(p.event.env.get('INTERFACE') ?? '');
  if (!m) return;
  const t = watch(m[0], `/local/domain/0/backend/vif/${m[1]}/${m[2]}`, t0);
  t.catch(() => undefined);  // another's vif may go away: only ours are awaited
  timings.set(m[0], t);
});

/**
 * Times the vif from `t0` to a port of the bridge (sysfs, polled every millisecond: cheap) and to
 * `hotplug-status = connected` (a XenStore watch: polling XenStore would load xenstored and slow
 * down the very agent being measured). Both in ms.
 */
async function watch(ifname: string, backend: string, t0: number): Promise<{ bridgeMs: number; connectedMs: number }> {
  let connectedAt: number | undefined, failed: string | undefined;
  const node = `${backend}/hotplug-status`;
  const check = async () => {
    if (connectedAt !== undefined || failed !== undefined) return;
    const s = await xs.read(node);
    if (s === 'connected') connectedAt ??= performance.now();
    else if (s === 'error') failed = `hotplug failed: ${await xs.read(`${backend}/hotplug-error`) ?? '?'}`;
  };
  const id = await xen.xsWatch(node, 'vif-hotplug', () => { void check(); });
  try {
    let bridgeAt: number | undefined;
    while (bridgeAt === undefined || connectedAt === undefined) {
      if (failed) throw new Error(`${ifname}: ${failed}`);
      if (performance.now() - t0 > TIMEOUT_MS) throw new Error(`${ifname}: not bridged and connected within ${TIMEOUT_MS / 1000} s`);
      if (bridgeAt === undefined && fs.existsSync(`/sys/class/net/${BRIDGE}/brif/${ifname}`)) bridgeAt = performance.now();
      else if (bridgeAt === undefined && !fs.existsSync(`/sys/class/net/${ifname}`)) throw new Error(`${ifname} went away`);
      await new Promise((r) => setTimeout(r, 1));
    }
    return { bridgeMs: bridgeAt - t0, connectedMs: connectedAt - t0 };
  } finally {
    await xen.xsUnwatch(id).catch(() => undefined);
  }
}

async function once(tool: string, rep: number): Promise<void> {
  const name = `bvh-${tool}-${process.pid}-${rep}`;
  const file = writeConfig(name, noopConfigText(name, kernel, 4) + `vif=["bridge=${BRIDGE},script=${SCRIPTS[tool]}"]\n`);
  try {
    // xl returns after the script ran (vif-bridge) or after its no-op (xendevd works on its own).
    const c = await run('xl', ['create', '-q', file]);
    if (c.code !== 0) throw new Error(`xl create (${tool}) failed: ${c.out.trim()}`);
    const id = Number((await run('xl', ['domid', name])).out.trim());
    if (!Number.isInteger(id) || id <= 0) throw new Error(`no domain id for ${name}`);
    const ifname = `vif${id}.0`;
    const timing = timings.get(ifname);
    if (!timing) throw new Error(`no uevent was seen for ${ifname}`);
    const r = await timing;
    emit({ kind: 'sample', tool, metric: 'vif-bridged', value: r.bridgeMs, rep });
    emit({ kind: 'sample', tool, metric: 'vif-connected', value: r.connectedMs, rep });
    progress(`${tool} rep ${rep + 1}/${reps}: bridged ${r.bridgeMs.toFixed(1)} ms, connected ${r.connectedMs.toFixed(1)} ms after the vif appeared`);
    timings.delete(ifname);
  } finally {
    await run('xl', ['destroy', name]);
    fs.rmSync(file, { force: true });
  }
}

async function main(): Promise<void> {
  let done = 0;
  // Interleaved, so that both agents see the same conditions (the emulated CPU's load drifts).
  for (let rep = 0; rep < reps; rep++) {
    for (const tool of tools) {
      // Under a loaded emulated CPU, xl's own wait for netback (before any hotplug) can time out: try again, twice at most.
      for (let attempt = 1; ; attempt++) {
        try {
          await once(tool, rep);
          break;
        } catch (err) {
          const msg = (err as Error).message;
          if (!msg.startsWith('xl create') || attempt >= 3) throw err;
          progress(`${tool} rep ${rep + 1}: ${msg.split('\n')[0]}; trying again`);
        }
      }
      step(++done, reps * tools.length);
    }
  }
}

main().then(() => { source.close(); }, (err: unknown) => {
  process.stderr.write(`vif-hotplug: ${(err as Error).message}\n`);
  source.close();
  process.exitCode = 1;
});
