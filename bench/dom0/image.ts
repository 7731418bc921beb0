// The guest image a benchmark boots, copied into dom0's own filesystem: every tool then reads it from local storage as on a real host, not from the lab's 9p share (a stat there costs 15-30 ms under TCG).
import fs from 'node:fs';
import path from 'node:path';

const DIR = '/run/lightvm-bench-images';

/**
 * A copy of `file` under /run (tmpfs in dom0), named by its size and mtime so that a rebuilt image
 * is copied again; the copy is what every configuration's create names.
 */
export function localImage(file: string): string {
  const st = fs.statSync(file);
  if (!st.isFile()) throw new Error(`${file} is not a regular file`);
  fs.mkdirSync(DIR, { recursive: true, mode: 0o755 });
  const copy = path.join(DIR, `${path.basename(file)}-${st.size}-${Math.floor(st.mtimeMs)}`);
  if (!fs.existsSync(copy)) {
    const tmp = `${copy}.${process.pid}.tmp`;
    fs.copyFileSync(file, tmp);
    fs.renameSync(tmp, copy);
  }
  return copy;
}
