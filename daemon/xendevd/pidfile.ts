// A pid file that is also a lock: made atomically with link(2), taken over only from a process that is gone.
import fs from 'node:fs';
import path from 'node:path';

export class AlreadyRunning extends Error {
  constructor(readonly pid: number, file: string) {
    super(`another xendevd is running (pid ${pid}, pid file ${file})`);
  }
}

/** The pid a pid file names, if it names a live process whose command line mentions `marker`. */
export function livePid(file: string, marker: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  if (!/^\d{1,10}$/.test(text.trim()) || !Number.isSafeInteger(pid) || pid <= 1) return undefined;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(marker) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes this process's pid to `file`, failing with AlreadyRunning if a live process named by
 * `marker` holds it. A stale file (its process gone, or another program's) is replaced.
 */
export function acquirePidFile(file: string, marker: string): { release(): void } {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, file);  // atomic: exactly one of two starting daemons wins
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
        const pid = livePid(file, marker);
        if (pid !== undefined && pid !== process.pid) throw new AlreadyRunning(pid, file);
        fs.rmSync(file, { force: true });
      }
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return {
    release() {
      // Only our own: a successor may have taken over a file we thought stale.
      if (livePid(file, marker) === process.pid || readPid(file) === process.pid) fs.rmSync(file, { force: true });
    },
  };
}

function readPid(file: string): number | undefined {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}
