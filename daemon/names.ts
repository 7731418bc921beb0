// chaosd's index of the names in use: kept up to date from the changes in Xen's domain list and a XenStore watch, so a create reads only what changed instead of every domain's name.
import type { DomainIdList, DomainListChanges } from '../toolstack/xen/types.js';
import type { Log } from '../toolstack/log.js';

/** What the index needs of the toolstack. */
export interface NameSource {
  /** Every domain's id and handle, and what came and went since `previous`. */
  listChanges(previous?: DomainIdList): Promise<DomainListChanges>;
  namesOf(domids: number[]): Promise<Map<number, string>>;
  namesInUse(): Promise<Set<string>>;
  watchNames(onChange: (domid?: number) => void): Promise<(() => Promise<void>) | undefined>;
}

/**
 * The names of every domain Xen runs (whoever made it). Each snapshot asks Xen what came and went
 * since the last one (one hypercall; the comparison of the lists is the addon's) and reads the names
 * of the new domains only. A domain is known by its id and Xen's handle, so a reused id is a new
 * domain; the watch reports a write to a domain's name or home, and that name is read again. A
 * snapshot's work grows with the changes, not with the number of domains. Without a watch (devices
 * not over XenStore, or the watch could not be set), every snapshot reads every name.
 */
export class NameIndex {
  /** The last list of domains, as the addon gave it, and its domains by id (their handles). */
  private list: DomainIdList | undefined;
  private readonly live = new Map<number, string>();
  /** Names read (or given by set()), by domid; `name` undefined: a domain with no name (a shell). */
  private readonly known = new Map<number, { handle: string; name: string | undefined }>();
  /** Live domains whose name is not known yet. */
  private readonly unread = new Set<number>();
  /** Domains set() before the list showed them: checked against the next list. */
  private readonly pending = new Set<number>();
  /** How many known domains carry each name (two toolstacks racing can make two of the same name). */
  private readonly counts = new Map<string, number>();
  /** The names in use: the set snapshots hand out, kept up to date in place. */
  private readonly names = new Set<string>();
  /** Events seen so far, and the last event of each domain: a read that overlaps an event of its domain is not kept. */
  private events = 0;
  private readonly lastEvent = new Map<number, number>();
  private everything = 0;
  /** Snapshots one at a time: each applies the changes since the one before. */
  private chain: Promise<unknown> = Promise.resolve();
  private unwatch: (() => Promise<void>) | undefined;
  private watching = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing = false;
  private readonly refreshDelayMs: number;

  /**
   * `refreshDelayMs`: how long after a watch event the index reads what changed on its own, off any
   * create's path (events that come meanwhile join the same read).
   */
  constructor(private readonly src: NameSource, private readonly log: Log, opts: { refreshDelayMs?: number } = {}) {
    this.refreshDelayMs = opts.refreshDelayMs ?? 200;
  }

  /** Sets the watch; on failure the index reads every name at each snapshot (and says so once). */
  async start(): Promise<void> {
    try {
      this.unwatch = await this.src.watchNames((domid) => this.changed(domid));
      this.watching = this.unwatch !== undefined;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'names: no XenStore watch; every create reads every domain\'s name');
    }
  }

  private changed(domid?: number): void {
    this.events++;
    if (domid === undefined) {
      this.everything = this.events;
      for (const id of [...this.known.keys()]) this.drop(id);
      for (const id of this.live.keys()) this.unread.add(id);
    } else {
      this.lastEvent.set(domid, this.events);
      this.drop(domid);
      if (this.live.has(domid)) this.unread.add(domid);
    }
    this.scheduleRefresh();
  }

  /** Forgets what the index knew of `domid`'s name. */
  private drop(domid: number): void {
    const k = this.known.get(domid);
    if (!k) return;
    this.known.delete(domid);
    this.pending.delete(domid);
    if (k.name === undefined) return;
    const n = (this.counts.get(k.name) ?? 1) - 1;
    if (n > 0) { this.counts.set(k.name, n); return; }
    this.counts.delete(k.name);
    this.names.delete(k.name);
  }

  private keep(domid: number, handle: string, name: string | undefined): void {
    this.drop(domid);
    this.known.set(domid, { handle, name });
    this.unread.delete(domid);
    if (name === undefined) return;
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    this.names.add(name);
  }

  /**
   * Reads the names that changed soon after the events, in the background: a create then finds them
   * known instead of reading them itself (after another toolstack made hundreds of domains, the first
   * create would otherwise read hundreds of names). One read at a time; a failed one is left to the
   * next snapshot.
   */
  private scheduleRefresh(): void {
    if (this.refreshTimer || !this.watching) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      if (!this.watching) return;
      if (this.refreshing) { this.scheduleRefresh(); return; }
      this.refreshing = true;
      this.snapshot()
        .catch((err) => this.log.debug({ err: (err as Error).message }, 'names: a background read failed; the next create reads them'))
        .finally(() => { this.refreshing = false; });
    }, this.refreshDelayMs);
    this.refreshTimer.unref();
  }

  /**
   * The names in use now. The set is the index's own, kept up to date after this call returns (a
   * caller checks names against it, it does not keep it as a record of one moment).
   */
  snapshot(): Promise<ReadonlySet<string>> {
    if (!this.watching) return this.src.namesInUse();
    const next = this.chain.then(() => this.update());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async update(): Promise<ReadonlySet<string>> {
    const started = this.events;
    const setBefore = [...this.pending];
    const ch = await this.src.listChanges(this.list);
    this.list = ch.list;
    for (const domid of ch.removed) {
      this.live.delete(domid);
      this.unread.delete(domid);
      this.drop(domid);
    }
    for (const { domid, handle } of ch.added) {
      this.live.set(domid, handle);
      // A domain this index was told of (set()) before the list showed it.
      if (this.known.get(domid)?.handle === handle) { this.pending.delete(domid); continue; }
      this.drop(domid);
      this.unread.add(domid);
    }
    // Told of, but not in a list asked for after: gone already (those told of since wait for the next list).
    for (const domid of setBefore) {
      if (!this.pending.has(domid)) continue;
      this.pending.delete(domid);
      if (this.live.get(domid) !== this.known.get(domid)?.handle) this.drop(domid);
    }
    let transient: string[] = [];
    if (this.unread.size > 0) {
      const ids = [...this.unread];
      const read = await this.src.namesOf(ids);
      for (const domid of ids) {
        const handle = this.live.get(domid);
        if (handle === undefined || !this.unread.has(domid)) continue;
        const name = read.get(domid);
        // Kept only if no event about it came while it was read (else the next snapshot reads it again).
        if (this.everything <= started && (this.lastEvent.get(domid) ?? 0) <= started) this.keep(domid, handle, name);
        else if (name !== undefined) transient.push(name);
      }
      transient = transient.filter((n) => !this.names.has(n));
    }
    // Events of domains that are gone are no longer needed.
    if (this.lastEvent.size > 4 * this.live.size + 64) for (const id of this.lastEvent.keys()) if (!this.live.has(id)) this.lastEvent.delete(id);
    return transient.length > 0 ? new Set([...this.names, ...transient]) : this.names;
  }

  /**
   * A name chaosd itself just gave (a create or restore it made), or a shell it made (no name): known
   * at once, before the watch's event for it arrives, so that a create of the same name right after
   * it is refused and no snapshot reads it.
   */
  set(domid: number, handle: string, name: string | undefined): void {
    if (!this.watching) return;
    this.keep(domid, handle, name);
    if (this.live.get(domid) !== handle) this.pending.add(domid);
  }

  /** How many domains' names the index holds (for tests and logs). */
  get size(): number { return this.known.size; }

  async stop(): Promise<void> {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const u = this.unwatch;
    this.unwatch = undefined;
    this.watching = false;
    await u?.().catch(() => undefined);
  }
}
