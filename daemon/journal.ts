// chaosd's crash-safe journal: one JSON line per step of a shell's or VM's life, appended before the step's effect can be seen, replayed after a crash.
import fs from 'node:fs';
import path from 'node:path';
import type { DevMethod } from '../toolstack/devices/backend.js';

/**
 * The steps, keyed by the domain's uuid (Xen's handle, chosen before the domain exists, so a domain
 * made just before a crash is still found). A uuid's last entry says what it was at the crash:
 *   begin   a shell is being made (the domain may or may not exist)
 *   shell   an idle shell of pool class `cls`
 *   build   a create is finishing this domain as `name` (from a pool shell or from scratch)
 *   created the VM `name` runs and was reported created
 *   gone    destroyed, or never made
 * `dev`: the device method the domain is made with; a noxs shell holds a power device in noxsd,
 * which reconcile removes with the domain (absent in journals of older chaosd: the default method).
 */
export type JournalEntry =
  | { t: 'begin'; uuid: string; cls?: string; dev?: DevMethod }
  | { t: 'shell'; uuid: string; domid: number; cls: string; dev?: DevMethod }
  | { t: 'build'; uuid: string; name: string; domid?: number; dev?: DevMethod }
  | { t: 'created'; uuid: string; domid: number; name: string }
  | { t: 'gone'; uuid: string };

export type JournalState = Map<string, JournalEntry>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Checks one parsed line; a journal is written by chaosd only, but a torn or edited line must not crash the replay. */
function validEntry(e: unknown): e is JournalEntry {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as Record<string, unknown>;
  if (typeof o.uuid !== 'string' || !UUID_RE.test(o.uuid)) return false;
  const domid = o.domid === undefined || (Number.isInteger(o.domid) && (o.domid as number) > 0 && (o.domid as number) < 0x7ff0);
  if (o.dev !== undefined && o.dev !== 'xenstore' && o.dev !== 'noxs') return false;
  switch (o.t) {
    case 'begin': return o.cls === undefined || typeof o.cls === 'string';
    case 'shell': return o.domid !== undefined && domid && typeof o.cls === 'string';
    case 'build': return domid && typeof o.name === 'string';
    case 'created': return o.domid !== undefined && domid && typeof o.name === 'string';
    case 'gone': return true;
    default: return false;
  }
}

/**
 * An append-only file of JournalEntry lines. Every append is one write(2) of a whole line: once it
 * returns, the line is in the kernel's page cache, and a kill -9 of chaosd (the crash the journal is
 * for) loses nothing. It is not synced to disk by default: the journal is reconciled with the domains
 * Xen still runs, and what would lose unsynced lines (dom0 crashing or the power going) ends Xen and
 * every domain with it, so no line could matter after it. `sync` adds an fdatasync per line, for a
 * journal someone reads for other reasons. A line cut short (the last one) is ignored on replay.
 */
export class Journal {
  private fd: number | undefined;
  readonly file: string;

  constructor(dir: string, private readonly sync = false) {
    this.file = path.join(dir, 'journal.jsonl');
  }

  /** The last entry of every uuid in the file; `skipped` counts lines that could not be read. */
  replay(): { state: JournalState; skipped: number } {
    const state: JournalState = new Map();
    let skipped = 0;
    let text = '';
    try { text = fs.readFileSync(this.file, 'utf8'); } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let e: unknown;
      try { e = JSON.parse(line); } catch { skipped++; continue; }
      if (!validEntry(e)) { skipped++; continue; }
      state.set(e.uuid, e);
    }
    return { state, skipped };
  }

  /** Replaces the file with `entries` (written beside it, then renamed), and opens it for appends. */
  rewrite(entries: JournalEntry[]): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    this.close();
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, entries.map((e) => JSON.stringify(e) + '\n').join(''), { mode: 0o600 });
    const fd = fs.openSync(tmp, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    fs.renameSync(tmp, this.file);
    this.fd = fs.openSync(this.file, 'a', 0o600);
  }

  append(e: JournalEntry): void {
    if (this.fd === undefined) this.fd = fs.openSync(this.file, 'a', 0o600);
    fs.writeSync(this.fd, JSON.stringify(e) + '\n');
    if (this.sync) fs.fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** What reconciling a journal with the hypervisor decided for each journaled domain that Xen still has. */
export interface Reconciled {
  /** VMs reported created and still there: kept, with their names. */
  adopt: { uuid: string; domid: number; name: string }[];
  /** Shells and half-built domains: destroyed (with their devices of `dev`, when the journal says). */
  destroy: { uuid: string; domid: number; why: string; dev?: DevMethod }[];
}

/**
 * Decides, from the journal's last entry per uuid and Xen's domains (uuid -> domid), what is adopted
 * and what is destroyed. Pure, so it is tested without Xen. A uuid the journal knows but Xen does
 * not is simply gone; a domain Xen has that the journal never named is not chaosd's and is left alone.
 */
export function reconcile(state: JournalState, xen: Map<string, number>): Reconciled {
  const out: Reconciled = { adopt: [], destroy: [] };
  for (const [uuid, e] of state) {
    const domid = xen.get(uuid);
    if (domid === undefined || e.t === 'gone') continue;
    if (e.t === 'created') { out.adopt.push({ uuid, domid, name: e.name }); continue; }
    const dev = e.dev ? { dev: e.dev } : {};
    if (e.t === 'shell') out.destroy.push({ uuid, domid, why: 'an idle shell of the last run', ...dev });
    else if (e.t === 'build') out.destroy.push({ uuid, domid, why: `half-built as ${e.name}`, ...dev });
    else out.destroy.push({ uuid, domid, why: 'a shell that was being made', ...dev });
  }
  return out;
}
