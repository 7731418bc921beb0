// Shared by the lab tests: the running lab (or why the tests skip), unique guest names, and cleanup of every domain made.
import type { Test } from 'tap';
import { Lab } from '../../lab/lab.js';
import { parseXlList, type XlDomain } from '../../lab/xl.js';
import { DOM0_PROJECT_DIR } from '../../lab/image.js';

/** The project in dom0: the image's copy, or (LIGHTVM_LAB_PROJECT=/mnt/project) the live tree for a quick edit-run loop. */
export const PROJECT = process.env.LIGHTVM_LAB_PROJECT ?? DOM0_PROJECT_DIR;
export const NOOP_KERNEL = `${PROJECT}/guests/noop/noop`;
export const READY = 'LIGHTVM-READY';

/** The lab `npm test` booted, or a reason to skip: lab tests never boot a lab of their own. */
export function labOrSkip(): { lab?: Lab; skip: string | false } {
  const lab = new Lab({ stateDir: process.env.LIGHTVM_LAB_STATE_DIR });
  if (!lab.state()) return { skip: `no lab is running in ${lab.config.stateDir}: run \`npm test\` (boots one) or \`lab up\` first` };
  return { lab, skip: false };
}

let seq = 0;
/** A domain name no other test (or earlier run) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}-${(seq++).toString(36)}`;
}

/** Destroys `names` when the test ends, whether it passed or not. */
export function destroyOnTeardown(t: Test, lab: Lab, names: string[]): void {
  t.teardown(async () => {
    for (const n of names) await lab.run(['xl', 'destroy', n], { timeoutMs: 60_000 }).catch(() => undefined);
  });
}

export async function xlList(lab: Lab): Promise<XlDomain[]> {
  return parseXlList(await lab.sh('xl list'));
}

/** Waits until a guest's console log (written by xenconsoled) holds `text`; returns the seconds it took. */
export async function waitForConsole(lab: Lab, name: string, text: string, timeoutSec = 120): Promise<number> {
  const t0 = performance.now();
  const log = `/var/log/xen/console/guest-${name}.log`;
  const script = `i=0; until grep -qF '${text}' ${log} 2>/dev/null; do i=$((i+1)); [ $i -gt ${timeoutSec * 20} ] && exit 1; sleep 0.05; done`;
  const r = await lab.run(script, { timeoutMs: (timeoutSec + 30) * 1000 });
  if (r.code !== 0) {
    const seen = await lab.run(['sh', '-c', `tail -c 2000 ${log} 2>&1`]).then((x) => x.stdout.toString()).catch(() => '');
    throw new Error(`"${text}" did not appear on ${name}'s console within ${timeoutSec} s; it shows: ${JSON.stringify(seen)}`);
  }
  return (performance.now() - t0) / 1000;
}

/** An xl config for the noop guest. */
export function noopConfig(name: string, opts: { extra?: string; memory?: number; more?: string[] } = {}): string {
  return [
    `name = "${name}"`, 'type = "pv"', `kernel = "${NOOP_KERNEL}"`, `memory = ${opts.memory ?? 4}`, 'vcpus = 1',
    ...(opts.extra ? [`extra = "${opts.extra}"`] : []), ...(opts.more ?? []),
  ].join('\n') + '\n';
}

/** The tinyx VMs' directory in dom0; each app has its `vmlinuz` and `initrd.gz` there. */
export const TINYX_DIR = `${PROJECT}/guests/tinyx`;
/** The smallest memory (MiB) a tinyx VM boots in reliably, measured in the lab: Debian's kernel alone takes 58 MiB. */
export const TINYX_MEMORY = 96;
/** The kernel command line tinyx VMs boot with. */
export const TINYX_CMDLINE = 'console=hvc0 quiet';

/** An xl config for a tinyx VM (Debian's kernel and one app as /init); `extra` is added to the command line. */
export function tinyxConfig(name: string, opts: { app?: string; extra?: string; memory?: number; more?: string[] } = {}): string {
  const dir = `${TINYX_DIR}/${opts.app ?? 'ticker'}`;
  return [
    `name = "${name}"`, 'type = "pv"', `kernel = "${dir}/vmlinuz"`, `ramdisk = "${dir}/initrd.gz"`,
    `extra = "${[TINYX_CMDLINE, opts.extra].filter(Boolean).join(' ')}"`, `memory = ${opts.memory ?? TINYX_MEMORY}`, 'vcpus = 1',
    ...(opts.more ?? []),
  ].join('\n') + '\n';
}

/** Writes a config file in dom0 and runs `xl create` on it; returns the config's path. */
export async function xlCreate(lab: Lab, cfg: string, name: string, args: string[] = []): Promise<string> {
  const file = `/tmp/${name}.cfg`;
  await lab.sh(`cat > ${file} <<'LIGHTVM_CFG'\n${cfg}LIGHTVM_CFG`);
  await lab.sh(['xl', 'create', '-q', ...args, file].join(' '), 180_000);
  return file;
}

/** Polls `xl list` until `pred` holds for the named domain (undefined: the domain is gone). */
export async function waitForDomain(lab: Lab, name: string, pred: (d: XlDomain | undefined) => boolean, timeoutSec = 60): Promise<XlDomain | undefined> {
  const deadline = Date.now() + timeoutSec * 1000;
  for (;;) {
    const d = (await xlList(lab)).find((x) => x.name === name);
    if (pred(d)) return d;
    if (Date.now() > deadline) throw new Error(`domain ${name} did not reach the expected state within ${timeoutSec} s (now: ${d ? d.state : 'gone'})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export const CHAOS = `${PROJECT}/dist/toolstack/cli/start.cjs`;

/** Runs the chaos CLI in dom0; returns exit code and output (does not throw on failure). */
export async function chaos(lab: Lab, args: string[], timeoutMs = 300_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await lab.run(['node', CHAOS, ...args], { timeoutMs });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Writes a file in dom0. */
export async function putFile(lab: Lab, file: string, text: string): Promise<void> {
  await lab.sh(`cat > ${file} <<'LIGHTVM_FILE'\n${text}LIGHTVM_FILE`);
}
