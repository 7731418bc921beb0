// The toolstack's own record of the domains it made (config, uuid, device method), one JSON file each, written atomically.
import fs from 'node:fs';
import path from 'node:path';
import type { DomainConfig } from './config/domain-config.js';

export interface DomainRecord {
  domid: number;
  name: string;
  uuid: string;
  config: DomainConfig;
  devMethod: 'xenstore' | 'noxs';
  createdAt: string;
  consoleMfn?: number;
  consolePort?: number;
  /** Set once an on_* "preserve" action has been applied, so it is reported once. */
  preserved?: boolean;
  /** When the toolstack restarted this domain's earlier incarnations (ms since the epoch), to stop restart loops. */
  restarts?: number[];
}

/** Runs `op`, which makes an entry in `dir`; makes the directory (0700) and runs it again only when it is missing: not two more system calls at every write. */
function makingDir(dir: string, op: () => void): void {
  try {
    op();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    op();
  }
}

export class DomainStore {
  private readonly dir: string;
  /**
   * names/<name> is a symbolic link whose target is the domid: finding a domain by name costs one
   * system call, not a scan of every domain, and giving a name costs one (a file written and renamed
   * into place took four, each about a millisecond in the lab's emulated dom0). Stores written before
   * hold regular files with the domid as text; they are still read.
   */
  private readonly names: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'domains');
    this.names = path.join(stateDir, 'names');
  }

  private file(domid: number): string {
    return path.join(this.dir, `${domid}.json`);
  }

  /** Writes to a temporary file and renames it: a crash leaves the old record or the new one, never half of one. */
  put(r: DomainRecord): void {
    const tmp = `${this.file(r.domid)}.${process.pid}.tmp`;
    const text = JSON.stringify(r, null, 2) + '\n';
    makingDir(this.dir, () => fs.writeFileSync(tmp, text, { mode: 0o600 }));
    fs.renameSync(tmp, this.file(r.domid));
    this.link(r.name, r.domid);
  }

  /** Points names/<name> at `domid`: made in one call; an entry already there is replaced atomically. */
  private link(name: string, domid: number): void {
    const at = path.join(this.names, name);
    try {
      makingDir(this.names, () => fs.symlinkSync(String(domid), at));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // The name was given before (to a domain gone since, or one this record replaces).
    const tmp = path.join(this.names, `.${name}.${process.pid}.tmp`);
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(String(domid), tmp);
    fs.renameSync(tmp, at);
  }

  /** The record of the domain this toolstack made with this name, if the index knows one. */
  byName(name: string): DomainRecord | undefined {
    if (name.includes('/') || name.startsWith('.')) return undefined;
    const domid = this.byNameFile(name);
    const r = domid === undefined ? undefined : this.get(domid);
    return r?.name === name ? r : undefined;
  }

  /** The record of `domid`, if it is for the domain with this uuid (domain ids are reused). */
  get(domid: number, uuid?: string): DomainRecord | undefined {
    try {
      const r = JSON.parse(fs.readFileSync(this.file(domid), 'utf8')) as DomainRecord;
      return uuid === undefined || r.uuid === uuid ? r : undefined;
    } catch {
      return undefined;
    }
  }

  remove(domid: number): void {
    const r = this.get(domid);
    fs.rmSync(this.file(domid), { force: true });
    if (r && this.byNameFile(r.name) === domid) fs.rmSync(path.join(this.names, r.name), { force: true });
  }

  /** The domid names/<name> points at: a link's target, or an older store's file. */
  private byNameFile(name: string): number | undefined {
    const at = path.join(this.names, name);
    let text: string;
    try {
      text = fs.readlinkSync(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
      try { text = fs.readFileSync(at, 'utf8').trim(); } catch { return undefined; }
    }
    return /^\d{1,5}$/.test(text) ? Number(text) : undefined;
  }

  all(): DomainRecord[] {
    if (!fs.existsSync(this.dir)) return [];
    return fs.readdirSync(this.dir).filter((f) => /^\d+\.json$/.test(f))
      .map((f) => this.get(Number(f.slice(0, -5)))).filter((r): r is DomainRecord => r !== undefined);
  }
}
