// Runs in dom0, for the benchmarks: the moment a guest's ready mark appears, read from its console ring itself (not xenconsoled's log, which falls behind with hundreds of guests and never serves noxs guests).
import { readConsoleRing } from '../../toolstack/console.js';
import { DomainStore } from '../../toolstack/store.js';
import { loadNative } from '../../toolstack/xen/native.js';
import { XsWire } from '../../toolstack/xen/xs-wire.js';
import { findXenstoredSocket } from '../../toolstack/xen/xenstored-probe.js';
import type { XenNative } from '../../toolstack/xen/types.js';

export const MARK = 'LIGHTVM-READY';
/** How often a watched ring is read: the resolution of every create-to-ready time. */
const POLL_MS = 5;
/** How often the domain list is searched for a domain whose id the tool does not say (xl): it appears long before its mark. */
const LOOK_MS = 20;
/** Domain ids go up to DOMID_FIRST_RESERVED (0x7ff0). */
const MAX_DOMAINS = 0x7ff0;
/** Domain infos asked for per hypercall. */
const LIST_PAGE = 256;

export interface ReadyWatch {
  /** performance.now() when the mark was first seen; rejects after the time-out. */
  promise: Promise<number>;
  /** The domain is known (the create call said so): no need to look for it by name. Checks at once. */
  found(domid: number): void;
  /** The create call returned without saying the id (xl): looks for the domain and its mark at once. */
  returned(): void;
  cancel(): void;
}

/**
 * Watches for ready marks. A domain is found by its id when the caller knows it, or else (xl, which
 * does not say) as a domain that was not there when the watch began and whose XenStore name is the
 * one expected. Its console page comes from XenStore (console/ring-ref) or, for a noxs domain, from
 * the toolstack's record in one of `stateDirs`. Every tool under test is watched the same way.
 */
export class ReadyMarks {
  private readonly xen: XenNative;
  private readonly xs: XsWire | undefined;
  private readonly stores: DomainStore[];

  constructor(stateDirs: readonly string[]) {
    this.xen = loadNative();
    const sock = findXenstoredSocket();
    this.xs = sock ? new XsWire(sock) : undefined;
    this.stores = stateDirs.map((d) => new DomainStore(d));
  }

  /** The ids of the domains there now (those a watch started now will not mistake for the new one). */
  async domids(): Promise<Set<number>> {
    return new Set(await this.listDomids());
  }

  /**
   * Every domain id, a page of LIST_PAGE at a time: the hypercall's buffer is as large as the page
   * asked for, and asking for every possible id (32752) every 20 ms while xl creates would load dom0
   * under the very create being measured.
   */
  private async listDomids(): Promise<number[]> {
    const ids: number[] = [];
    for (let first = 0; first < MAX_DOMAINS;) {
      const page = await this.xen.domainGetInfoList(first, LIST_PAGE);
      for (const d of page) ids.push(d.domid);
      if (page.length < LIST_PAGE) break;
      first = page[page.length - 1].domid + 1;
    }
    return ids;
  }

  /**
   * Starts watching for `name`'s mark. With `before` (the ids that existed before its create began),
   * the domain is searched for; without it, the watch waits for found() (tools that return the id do
   * not pay for a search running beside their create).
   */
  watch(name: string, before: ReadonlySet<number> | undefined, timeoutMs: number): ReadyWatch {
    let domid: number | undefined, mfn: number | undefined, stopped = false, lookNow = false;
    let timer: NodeJS.Timeout | undefined;
    // The wait between two polls, cut short when the create call returns (so the mark is seen when it
    // is there, not up to a poll later: for every tool alike).
    let wake: (() => void) | undefined;
    const nap = () => new Promise<void>((r) => {
      const t = setTimeout(r, POLL_MS);
      wake = () => { clearTimeout(t); r(); };
    });
    const stop = () => { stopped = true; clearTimeout(timer); wake?.(); };
    const promise = new Promise<number>((resolve, reject) => {
      timer = setTimeout(() => { stop(); reject(new Error(`${name}: no ready mark within ${timeoutMs} ms${domid === undefined ? ' (its domain was never found)' : mfn === undefined ? ` (domain ${domid}: its console page was never found)` : ''}`)); }, timeoutMs);
      let lastLook = 0;
      const tick = async () => {
        while (!stopped) {
          try {
            if (domid === undefined && before && (lookNow || performance.now() - lastLook >= LOOK_MS)) {
              lookNow = false;
              lastLook = performance.now();
              domid = await this.lookFor(name, before);
            }
            if (domid !== undefined && mfn === undefined) mfn = await this.consolePage(domid);
            if (domid !== undefined && mfn !== undefined && (await readConsoleRing(this.xen, domid, mfn)).includes(MARK)) {
              const t = performance.now();
              stop();
              resolve(t);
              return;
            }
          } catch { /* the domain is still being built, or went away: the time-out says so */ }
          await nap();
          wake = undefined;
        }
      };
      void tick();
    });
    // Awaited only once the create call returns: a time-out while the call still runs must not be an unhandled rejection.
    promise.catch(() => undefined);
    return {
      promise,
      found: (d) => { if (domid === undefined) domid = d; wake?.(); },
      returned: () => { lookNow = true; wake?.(); },
      cancel: stop,
    };
  }

  close(): void { this.xs?.close(); }

  /** A domain that is new since `before` and carries `name` in XenStore. */
  private async lookFor(name: string, before: ReadonlySet<number>): Promise<number | undefined> {
    if (!this.xs) return undefined;
    const fresh = (await this.listDomids()).filter((d) => !before.has(d));
    if (fresh.length === 0) return undefined;
    const names = await this.xs.xsBatch(fresh.map((d) => ({ op: 'read' as const, path: `/local/domain/${d}/name` })), false);
    const i = names.results.findIndex((v) => v === name);
    return i >= 0 ? fresh[i] : undefined;
  }

  /**
   * The console page's frame: the toolstack's record when there is one (chaos's and chaosd's domains:
   * a file read, not a request to xenstored, which is slow to answer with a thousand domains), else
   * XenStore's ring-ref (xl's domains).
   */
  private async consolePage(domid: number): Promise<number | undefined> {
    for (const s of this.stores) {
      const m = s.get(domid)?.consoleMfn;
      if (m !== undefined && m > 0) return m;
    }
    if (this.xs) {
      const [ref] = (await this.xs.xsBatch([{ op: 'read', path: `/local/domain/${domid}/console/ring-ref` }], false)).results;
      if (typeof ref === 'string' && /^\d+$/.test(ref)) return Number(ref);
    }
    return undefined;
  }
}
