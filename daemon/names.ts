// chaosd's index of the names in use: each domain's name read once, soon after a XenStore watch says it may have changed, and kept; instead of one read per domain at every create.
import type { DomainInfo } from '../toolstack/xen/types.js';
import type { Log } from '../toolstack/log.js';

/** What the index needs of the toolstack. */
export interface NameSource {
  allInfo(): Promise<DomainInfo[]>;
  namesOf(domids: number[]): Promise<Map<number, string>>;
  namesInUse(): Promise<Set<string>>;
  watchNames(onChange: (domid?: number) => void): Promise<(() => Promise<void>) | undefined>;
}

/**
 * The names of every domain Xen runs (whoever made it). A domain's name is read when the index
 * first sees it (by domid and Xen's handle, so a reused id is a new domain) and again after the
 * watch reports a write to its name or its home. Without a watch (devices not over XenStore, or
 * the watch could not be set), every snapshot reads every name, as a create did before.
 */
export class NameIndex {
  private readonly known = new Map<number, { handle: string; name: string | undefined }>();
  /** Events seen so far, and the last event of each domain: a read that overlaps an event of its domain is not kept. */
  private events = 0;
  private readonly lastEvent = new Map<number, number>();
  private everything = 0;
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
      this.known.clear();
    } else {
      this.lastEvent.set(domid, this.events);
      this.known.delete(domid);
    }
    this.scheduleRefresh();
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

  /** The names in use now: one hypercall for the list of domains, and a read of each domain not known yet. */
  async snapshot(): Promise<Set<string>> {
    if (!this.watching) return this.src.namesInUse();
    const started = this.events;
    const infos = await this.src.allInfo();
    const live = new Map(infos.map((i) => [i.domid, i.handle]));
    for (const [domid, k] of this.known) if (live.get(domid) !== k.handle) this.known.delete(domid);
    const unread = infos.filter((i) => !this.known.has(i.domid)).map((i) => i.domid);
    const read = await this.src.namesOf(unread);
    const names = new Set<string>();
    for (const domid of unread) {
      const name = read.get(domid);
      if (name !== undefined) names.add(name);
      // Kept only if no event about it came while it was read (else the next snapshot reads it again).
      if (this.everything <= started && (this.lastEvent.get(domid) ?? 0) <= started) this.known.set(domid, { handle: live.get(domid)!, name });
    }
    for (const k of this.known.values()) if (k.name !== undefined) names.add(k.name);
    // Events of domains that are gone are no longer needed.
    if (this.lastEvent.size > 4 * live.size + 64) for (const id of this.lastEvent.keys()) if (!live.has(id)) this.lastEvent.delete(id);
    return names;
  }

  /**
   * A name chaosd itself just gave (a create or restore it made): known at once, before the watch's
   * event for it arrives, so that a create of the same name right after it is refused.
   */
  set(domid: number, handle: string, name: string): void {
    if (this.watching) this.known.set(domid, { handle, name });
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
