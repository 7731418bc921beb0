// Shared by the runtime's lab tests: daytime guest configs, the bridge, asking a daytime server from dom0 and checking its answer.
import type { Test } from 'tap';
import type { Lab } from '../../lab/lab.js';
import { chaos, PROJECT, putFile } from './fixture.js';

export const DAYTIME_KERNEL = `${PROJECT}/guests/daytime/daytime`;
export const SHARE = '/mnt/share';
// Guests of this issue live in 10.88.0.100-199; each run takes four addresses of its own.
const BASE = 100 + (process.pid % 24) * 4;
export const ip = (i: number): string => `10.88.0.${BASE + i}`;
// RFC 867 leaves the format open; ours is "Weekday, Month D, YYYY HH:MM:SS-UTC".
const DAYTIME_LINE = /^(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, [A-Z][a-z]+ \d{1,2}, \d{4} (\d\d):(\d\d):(\d\d)-UTC\r\n$/;

export function daytimeConfig(name: string, opts: { ip?: number; extra?: string; memory?: number; vif?: string } = {}): string {
  const cmdline = [opts.ip !== undefined ? `ip=${ip(opts.ip)}/24 gw=10.88.0.1` : '', opts.extra ?? ''].filter(Boolean).join(' ');
  return [
    `name = "${name}"`, 'type = "pv"', `kernel = "${DAYTIME_KERNEL}"`, `memory = ${opts.memory ?? 8}`, 'vcpus = 1',
    `vif = [ "${opts.vif ?? 'bridge=xenbr0'}" ]`, `extra = "${cmdline}"`, 'on_crash = "preserve"',
  ].join('\n') + '\n';
}

/** xl always runs a vif script; in the lab it is xendevd's no-op one (named here too, for labs booted before it was xl's default). */
export async function xlVif(lab: Lab): Promise<string> {
  const has = await lab.run(['test', '-x', '/etc/xen/scripts/vif-xendevd']);
  return has.code === 0 ? 'bridge=xenbr0,script=vif-xendevd' : 'bridge=xenbr0';
}

/** dom0 has the bridge (the lab's boot makes it); an older lab gets one here. */
export async function ensureBridge(lab: Lab): Promise<void> {
  await lab.sh('ip link show xenbr0 >/dev/null 2>&1 || { brctl addbr xenbr0 && ip addr add 10.88.0.1/24 dev xenbr0 && ip link set xenbr0 up; }');
}

/** Waits for xendevd to put the guest's vif on the bridge; without xendevd, does its job by hand. */
export async function attachVif(lab: Lab, name: string): Promise<void> {
  const id = (await lab.sh(`xl domid ${name}`)).trim();
  const vif = `vif${id}.0`;
  const r = await lab.run(`i=0; until [ -e /sys/class/net/xenbr0/brif/${vif} ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`, { timeoutMs: 60_000 });
  if (r.code !== 0) {
    await lab.sh(`ip link set ${vif} up; brctl addif xenbr0 ${vif}; xenstore-write /local/domain/0/backend/vif/${id}/0/hotplug-status connected`);
  }
}

/** Asks a daytime server from dom0, retrying while it comes up; the line it answered. */
export async function askDaytime(lab: Lab, addr: string, tries = 20): Promise<string> {
  // Into a file: $(...) would strip the line's end, which is part of what is checked.
  const out = `/tmp/daytime-${addr}-${process.pid}`;
  const r = await lab.run(`i=0; until nc -w 5 ${addr} 13 > ${out} && [ -s ${out} ]; do i=$((i+1)); [ $i -ge ${tries} ] && exit 1; sleep 1; done; cat ${out}; rm -f ${out}`, { timeoutMs: (tries * 7 + 30) * 1000 });
  if (r.code !== 0) throw new Error(`no daytime answer from ${addr} after ${tries} tries`);
  return r.stdout.toString();
}

/** Checks an answer is a daytime line close to dom0's clock (an answer read from a console log may be older). */
export async function checkAnswer(t: Test, lab: Lab, line: string, what: string, withinSec = 120): Promise<void> {
  const m = DAYTIME_LINE.exec(line);
  t.ok(m, `${what}: an RFC 867 line (${JSON.stringify(line)})`);
  if (!m) return;
  const [h, mi, s] = (await lab.sh('date -u +%H:%M:%S')).trim().split(':').map(Number);
  const theirs = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
  const ours = h! * 3600 + mi! * 60 + s!;
  const diff = Math.min(Math.abs(ours - theirs), 86400 - Math.abs(ours - theirs));
  t.ok(diff < withinSec, `${what}: the guest's time is dom0's within ${withinSec} s (off by ${diff} s)`);
}

export async function consoleLog(lab: Lab, name: string): Promise<string> {
  return (await lab.run(['cat', `/var/log/xen/console/guest-${name}.log`])).stdout.toString();
}

export async function chaosCreate(t: Test, lab: Lab, name: string, cfg: string, args: string[] = []): Promise<void> {
  await putFile(lab, `/tmp/${name}.cfg`, cfg);
  const r = await chaos(lab, ['create', ...args, `/tmp/${name}.cfg`]);
  t.equal(r.code, 0, `chaos create ${name}${r.code ? `: ${r.stderr}` : ''}`);
}
