// Runs in dom0: for each runtime guest (noop, daytime), the smallest memory it boots in and the time from `xl create` to its ready mark; one JSON line per sample.
import fs from 'node:fs';
import { arg, emit, forgetConsole, intArg, progress, step, waitReady, writeConfig } from './common.js';
import { run } from './proc.js';

const GUESTS = ['noop', 'daytime'] as const;
type Guest = (typeof GUESTS)[number];
/** daytime needs a vif and an address: the guests use 10.88.0.100-199; the bench takes .199. */
const BENCH_IP = '10.88.0.199/24';
/** xl always runs a vif script: in the lab, xendevd's no-op one (named for labs booted before it was xl's default). */
const XENDEVD_SCRIPT = '/etc/xen/scripts/vif-xendevd';

function configText(guest: Guest, name: string, kernel: string, memoryMiB: number): string {
  const lines = [`name="${name}"`, 'type="pv"', `kernel="${kernel}"`, `memory=${memoryMiB}`, 'vcpus=1'];
  if (guest === 'daytime') lines.push(`vif=["bridge=xenbr0${fs.existsSync(XENDEVD_SCRIPT) ? ',script=vif-xendevd' : ''}"]`, `extra="ip=${BENCH_IP}"`);
  return lines.join('\n') + '\n';
}

/** Creates the guest with xl and waits for its ready mark: ms from the call to the mark, or undefined if it did not boot. */
async function boot(guest: Guest, kernel: string, memoryMiB: number, name: string, timeoutMs: number): Promise<number | undefined> {
  forgetConsole(name);
  const file = writeConfig(name, configText(guest, name, kernel, memoryMiB));
  const t0 = performance.now();
  try {
    const r = await run('xl', ['create', '-q', file]);
    if (r.code !== 0) return undefined;
    await waitReady(name, timeoutMs);
    return performance.now() - t0;
  } catch {
    return undefined;
  } finally {
    await run('xl', ['destroy', name]);
  }
}

async function main(argv: string[]): Promise<void> {
  const guests = arg(argv, 'guests', GUESTS.join(',')).split(',') as Guest[];
  for (const g of guests) if (!GUESTS.includes(g)) throw new Error(`unknown guest ${g}: one of ${GUESTS.join(', ')}`);
  const dir = arg(argv, 'guests-dir');
  const reps = intArg(argv, 'reps', 5, 1, 100);
  const maxMiB = intArg(argv, 'max-memory', 16, 1, 256);
  const total = guests.length * (1 + reps);
  let done = 0;
  for (const guest of guests) {
    const kernel = `${dir}/${guest}/${guest}`;
    if (!fs.existsSync(kernel)) throw new Error(`${kernel} does not exist: build the guests first`);
    let min: number | undefined;
    for (let m = 1; m <= maxMiB && min === undefined; m++) {
      progress(`${guest}: trying ${m} MiB`);
      if ((await boot(guest, kernel, m, `ukb-${guest}-min`, 30_000)) !== undefined) min = m;
    }
    step(++done, total);
    if (min === undefined) throw new Error(`${guest} booted in no size up to ${maxMiB} MiB`);
    emit({ kind: 'sample', guest, metric: 'min-memory', value: min, unit: 'MiB', memoryMiB: min });
    for (let rep = 1; rep <= reps; rep++) {
      const ms = await boot(guest, kernel, min, `ukb-${guest}-${rep}`, 60_000);
      if (ms === undefined) throw new Error(`${guest} did not boot in ${min} MiB on rep ${rep}`);
      emit({ kind: 'sample', guest, metric: 'create-to-ready', value: ms, unit: 'ms', memoryMiB: min, rep });
      step(++done, total);
    }
  }
}

main(process.argv.slice(2)).catch((err: Error) => { process.stderr.write(`${err.message}\n`); process.exit(1); });
