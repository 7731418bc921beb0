// Writes "newc" cpio archives (the Linux initramfs format) from a manifest, owned by root, no staging copy.
import fs from 'node:fs';

export type Entry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; mode?: number; source: string }
  | { kind: 'data'; path: string; mode?: number; data: Buffer | string }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; mode?: number; major: number; minor: number };

const S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000, S_IFCHR = 0o020000;

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function header(name: string, mode: number, size: number, ino: number, rdev: [number, number] = [0, 0]): Buffer {
  const nameBuf = Buffer.from(name + '\0');
  const fields = [ino, mode, 0, 0, (mode & S_IFDIR) === S_IFDIR ? 2 : 1, 0, size, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
  const head = Buffer.from('070701' + fields.map(hex8).join(''), 'ascii');
  const pad = (4 - ((head.length + nameBuf.length) % 4)) % 4;
  return Buffer.concat([head, nameBuf, Buffer.alloc(pad)]);
}

function padTo4(n: number): Buffer { return Buffer.alloc((4 - (n % 4)) % 4); }

/**
 * Writes the archive to `out`. Paths are relative ("bin/sh"), parents before children;
 * a path given twice keeps its first entry, so callers can layer without tracking.
 */
export async function writeCpio(out: string, entries: Iterable<Entry>): Promise<{ bytes: number; files: number }> {
  const fd = fs.openSync(out + '.tmp', 'w');
  let bytes = 0, files = 0, ino = 1;
  const seen = new Set<string>();
  const put = (b: Buffer) => { fs.writeSync(fd, b); bytes += b.length; };
  try {
    for (const e of entries) {
      const p = e.path.replace(/^\/+/, '');
      if (p === '' || seen.has(p)) continue;
      if (p.split('/').includes('..')) throw new Error(`cpio: path escapes the archive: ${e.path}`);
      seen.add(p);
      files++;
      switch (e.kind) {
        case 'dir': put(header(p, S_IFDIR | (e.mode ?? 0o755), 0, ino++)); break;
        case 'symlink': {
          const t = Buffer.from(e.target);
          put(header(p, S_IFLNK | 0o777, t.length, ino++)); put(t); put(padTo4(t.length)); break;
        }
        case 'chardev': put(header(p, S_IFCHR | (e.mode ?? 0o600), 0, ino++, [e.major, e.minor])); break;
        case 'data': {
          const d = typeof e.data === 'string' ? Buffer.from(e.data) : e.data;
          put(header(p, S_IFREG | (e.mode ?? 0o644), d.length, ino++)); put(d); put(padTo4(d.length)); break;
        }
        case 'file': {
          const st = fs.statSync(e.source);
          put(header(p, S_IFREG | (e.mode ?? st.mode & 0o7777), st.size, ino++));
          const src = fs.openSync(e.source, 'r');
          try {
            const buf = Buffer.allocUnsafe(1 << 20);
            let left = st.size;
            while (left > 0) {
              const n = fs.readSync(src, buf, 0, Math.min(buf.length, left), null);
              if (n === 0) throw new Error(`cpio: ${e.source} shrank while being read`);
              fs.writeSync(fd, buf, 0, n); bytes += n; left -= n;
            }
          } finally { fs.closeSync(src); }
          put(padTo4(st.size));
          break;
        }
      }
    }
    put(header('TRAILER!!!', 0, 0, 0));
    put(padTo4(bytes));
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(out + '.tmp', { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(out + '.tmp', out);
  return { bytes, files };
}
