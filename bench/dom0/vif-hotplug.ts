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

const xs = new XenStore(loadNative());
/** When the kernel announced each network interface (its uevent "add"), by name. */
const appeared = new Map<string, number>();
const source = new LinuxHostNet().listen((s) => {
  if (s.kind !== 'message' || s.senderPid !== 0) return;
  const t = performance.now();
  const p = parseUevent(s.data);
  if (!p.ok || p.event.action !== 'add' || p.event.env.get('SUBSYSTEM') !== 'net') return;
  const ifname = p.event.env.get('INTERFACE');
  if (ifname && /^vif\d+\.\d+$/.test(ifname)) appeared.set(ifname, t);
});

/** Polls until the vif is a port of the bridge and its back end says connected; the times from its appearance, ms. */
async function watch(ifname: string, backend: string): Promise<{ bridgeMs: number; connectedMs: number }> {
  const t0 = appeared.get(ifname);
  if (t0 === undefined) throw new Error(`no uevent was seen for ${ifname}`);
  let bridgeAt: number | undefined, connectedAt: number | undefined;
  while (bridgeAt === undefined || connectedAt === undefined) {
    if (performance.now() - t0 > TIMEOUT_MS) throw new Error(`${ifname}: not bridged and connected within ${TIMEOUT_MS / 1000} s`);
    if (bridgeAt === undefined && fs.existsSync(`/sys/class/net/${BRIDGE}/brif/${ifname}`)) bridgeAt = performance.now();
    if (connectedAt === undefined) {
      const s = await xs.read(`${backend}/hotplug-status`);
      if (s === 'connected') connectedAt = performance.now();
      else if (s === 'error') throw new Error(`${ifname}: hotplug failed: ${await xs.read(`${backend}/hotplug-error`) ?? '?'}`);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  return { bridgeMs: bridgeAt - t0, connectedMs: connectedAt - t0 };
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
    const r = await watch(ifname, `/local/domain/0/backend/vif/${id}/0`);
    emit({ kind: 'sample', tool, metric: 'vif-bridged', value: r.bridgeMs, rep });
    emit({ kind: 'sample', tool, metric: 'vif-connected', value: r.connectedMs, rep });
    progress(`${tool} rep ${rep + 1}/${reps}: bridged ${r.bridgeMs.toFixed(1)} ms, connected ${r.connectedMs.toFixed(1)} ms after the vif appeared`);
    appeared.delete(ifname);
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
      await once(tool, rep);
      step(++done, reps * tools.length);
    }
  }
}

main().then(() => { source.close(); }, (err: unknown) => {
  process.stderr.write(`vif-hotplug: ${(err as Error).message}\n`);
  source.close();
  process.exitCode = 1;
});
