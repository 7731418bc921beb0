// `npm start`: boots the lab and shows real Xen at work: host facts, guests created, listed, paused and destroyed, with timings.
import { Lab } from './lab.js';
import { LabError } from './errors.js';
import { DOM0_PROJECT_DIR } from './image.js';
import { parseXlInfo, parseXlList } from './xl.js';

const GUESTS = Number(process.env.LIGHTVM_DEMO_GUESTS ?? 5);
const KEEP = process.argv.includes('--keep');
const out = (s = '') => process.stdout.write(s + '\n');
const ms = (x: number) => `${x.toFixed(0)} ms`;

async function main(): Promise<number> {
  if (!Number.isInteger(GUESTS) || GUESTS < 1 || GUESTS > 200) throw new LabError('EINVAL', 'LIGHTVM_DEMO_GUESTS must be a whole number from 1 to 200');
  const lab = new Lab({ stateDir: process.env.LIGHTVM_LAB_STATE_DIR });
  out('lightvm demo: real Xen in QEMU on this machine (times are "in the lab": the CPU is emulated)');
  out();
  out('1. Booting the lab');
  const up = await lab.up({ reuse: true, log: (l) => out(`   ${l}`) });
  if (up.reused) out(`   reusing the lab already running (pid ${up.state.pid})`);
  try {
    out();
    out('2. The host, as Xen sees it');
    const info = parseXlInfo(await lab.sh('xl info'));
    const dom0 = (await lab.sh('uname -r')).trim();
    out(`   Xen ${info.xen_version} (${info.xen_caps.split(' ').find((c) => c.includes('x86_64')) ?? info.xen_caps}), scheduler ${info.xen_scheduler}`);
    out(`   ${info.nr_cpus} CPUs, ${info.total_memory} MiB of memory, ${info.free_memory} MiB free; dom0 runs Linux ${dom0}`);

    out();
    out(`3. Creating ${GUESTS} noop unikernels with xl (the time is from the create call to the guest's ready mark on its console)`);
    const names = Array.from({ length: GUESTS }, (_, i) => `demo-${i + 1}`);
    await lab.run(names.map((n) => `xl destroy ${n} 2>/dev/null`).join('; ')); // leftovers of an interrupted demo
    const times: number[] = [];
    for (const name of names) {
      const cfg = `name="${name}"\ntype="pv"\nkernel="${DOM0_PROJECT_DIR}/guests/noop/noop"\nmemory=4\nvcpus=1\n`;
      const log = `/var/log/xen/console/guest-${name}.log`;
      const r = await lab.run(`printf '%s' '${cfg}' > /tmp/${name}.cfg && xl create -q /tmp/${name}.cfg && ` +
        `i=0; until grep -q LIGHTVM-READY ${log} 2>/dev/null; do i=$((i+1)); [ $i -gt 2000 ] && exit 9; sleep 0.02; done`, { timeoutMs: 120_000 });
      if (r.code !== 0) throw new LabError('EBOOT', `creating ${name} failed: ${r.stderr.toString().trim() || `exit ${r.code}`}`);
      times.push(r.durationMs);
      out(`   ${name}: ready in ${ms(r.durationMs)}`);
    }
    const sorted = [...times].sort((a, b) => a - b);
    out(`   median ${ms(sorted[Math.floor(sorted.length / 2)])}, min ${ms(sorted[0])}, max ${ms(sorted.at(-1)!)}`);

    out();
    out('4. Listing');
    const list = parseXlList(await lab.sh('xl list'));
    for (const d of list) out(`   ${d.name.padEnd(12)} id ${String(d.id).padStart(3)}  ${String(d.memMiB).padStart(5)} MiB  ${d.state}`);
    const idle = (await lab.sh(`cat ${names.map((n) => `/var/log/xen/console/guest-${n}.log`).join(' ')}`)).split('\n').find((l) => l.includes('LIGHTVM-READY'));
    out(`   what a guest printed: ${idle?.trim()}`);

    out();
    out('5. Pausing and unpausing every guest');
    const pause = await lab.run(names.map((n) => `xl pause ${n}`).join(' && '));
    const paused = parseXlList(await lab.sh('xl list')).filter((d) => names.includes(d.name) && d.state.includes('p')).length;
    const unpause = await lab.run(names.map((n) => `xl unpause ${n}`).join(' && '));
    out(`   paused ${paused}/${GUESTS} in ${ms(pause.durationMs)} (${ms(pause.durationMs / GUESTS)} each), unpaused in ${ms(unpause.durationMs)}`);

    out();
    out('6. Destroying them');
    const destroy = await lab.run(names.map((n) => `xl destroy ${n}`).join(' && '));
    const left = parseXlList(await lab.sh('xl list')).filter((d) => names.includes(d.name)).length;
    out(`   destroyed ${GUESTS - left}/${GUESTS} in ${ms(destroy.durationMs)}; xl list shows ${left} of them`);
    if (pause.code || unpause.code || destroy.code || left) throw new LabError('EBOOT', 'a lifecycle step failed (see above)');
  } finally {
    if (!up.reused && !KEEP) {
      await lab.down();
      out();
      out('The lab is down again (npm start -- --keep leaves it up; `npx lab up|run|shell|down` drives it by hand).');
    }
  }
  return 0;
}

main().then((c) => { process.exitCode = c; }, (err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n${err instanceof LabError && err.details ? err.details + '\n' : ''}`);
  process.exitCode = 1;
});
