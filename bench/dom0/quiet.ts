// Runs in dom0, for the benchmarks: waits until dom0's CPUs are idle, so that a measured create does not share them with the aftermath of the one before (xenconsoled's and xenstored's rescans after a destroy, a daemon's refill).
import fs from 'node:fs';

/** Idle and busy jiffies of all CPUs together, from /proc/stat's first line. */
function cpuTimes(): { idle: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'latin1').split('\n', 1)[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle time is idle + iowait.
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return { idle, total };
}

/**
 * Resolves once dom0 has been at least `idleShare` idle (all CPUs together) over a window of
 * `windowMs`, or after `maxMs` in any case; returns how long it waited and whether it found quiet.
 */
export async function untilQuiet(o: { windowMs?: number; idleShare?: number; maxMs?: number } = {}): Promise<{ waitedMs: number; quiet: boolean }> {
  const windowMs = o.windowMs ?? 200, share = o.idleShare ?? 0.9, maxMs = o.maxMs ?? 10_000;
  const t0 = performance.now();
  let prev = cpuTimes();
  for (;;) {
    await new Promise((r) => setTimeout(r, windowMs));
    const now = cpuTimes();
    const total = now.total - prev.total;
    if (total > 0 && (now.idle - prev.idle) / total >= share) return { waitedMs: performance.now() - t0, quiet: true };
    if (performance.now() - t0 >= maxMs) return { waitedMs: performance.now() - t0, quiet: false };
    prev = now;
  }
}
