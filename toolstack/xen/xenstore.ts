// XenStore for the toolstack: batches of operations run in one transaction, retried on conflict, each bounded in time.
import { ChaosError } from '../errors.js';
import type { XenNative, XsBatchResult, XsOp, XsPerm, XsResult } from './types.js';
import type { XsWireOp } from './xs-wire.js';

/** Collects operations; nothing touches XenStore until the batch runs. */
export class XsBatch {
  readonly ops: XsWireOp[] = [];
  write(path: string, value: string | number): this { this.ops.push({ op: 'write', path, value: String(value) }); return this; }
  mkdir(path: string): this { this.ops.push({ op: 'mkdir', path }); return this; }
  rm(path: string): this { this.ops.push({ op: 'rm', path }); return this; }
  read(path: string): this { this.ops.push({ op: 'read', path }); return this; }
  directory(path: string): this { this.ops.push({ op: 'directory', path }); return this; }
  perms(path: string, perms: XsPerm[]): this { this.ops.push({ op: 'setPermissions', path, perms }); return this; }
  /** Tells xenstored the domain's store ring (outside a transaction: XenStore.pipeline or batch). */
  introduce(domid: number, mfn: number, port: number): this { this.ops.push({ op: 'introduce', path: '@introduceDomain', domid, mfn, port }); return this; }
}

/** Requests sent to xenstored, by kind: each operation's name, transaction_start and transaction_end (a retried transaction counts again). */
export type XsOpCounts = Record<string, number>;

/** Conflicting transactions are normal under load; give up only after many tries. */
const MAX_TRIES = 16;

/** Native calls that timed out and may still be running on a libuv thread (they keep a process from exiting). */
let stuck = 0;
/** How many native XenStore calls gave up waiting and still run: a CLI exits explicitly when this is not 0. */
export function stuckXenStoreCalls(): number { return stuck; }

/**
 * Waits for a native call at most `ms`; on time out rejects with XENSTORE and counts the call as
 * stuck until it settles (a libxenstore request to a stopped xenstored never returns).
 */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return p;
  return new Promise<T>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      stuck++;
      reject(new ChaosError('XENSTORE', `xenstored did not answer ${what} within ${(ms / 1000).toFixed(0)} s: is xenstored running? (dev_method "noxs" works without it)`));
    }, ms);
    p.then((v) => { clearTimeout(timer); if (late) stuck--; else resolve(v); },
      (e: unknown) => { clearTimeout(timer); if (late) stuck--; else reject(e); });
  });
}

export interface XenStoreOptions {
  /** Bound on each native call (a batch or a transaction's try). Default: none (tests' doubles answer at once). */
  timeoutMs?: number;
  /**
   * Asked before the first call, and again after a failure: 'down' fails the call at once with a
   * clear XENSTORE error, without a native call that would hang (toolstack/xen/xenstored-probe.ts).
   */
  probe?: (timeoutMs: number) => Promise<'up' | 'down' | 'unknown'>;
  /** The probe's own bound. */
  probeTimeoutMs?: number;
  /**
   * What runs batches instead of the addon's libxenstore: xs-wire.ts's pipelined client of
   * xenstored's socket (openToolstack picks it when the socket is there). Same results and errors.
   */
  transport?: { xsBatch(ops: XsWireOp[], transaction: boolean, pipelined?: boolean): Promise<XsBatchResult> };
}

/** A probe's 'up' is trusted this long before xenstored is probed again. */
const PROBE_TTL_MS = 30_000;
/** And its 'down' this long. */
const DOWN_TTL_MS = 5_000;

export class XenStore {
  private probedAt = 0;
  private downAt = -Infinity;
  /** The bound of the probe that said 'down': a longer wait does not take a shorter one's word for it. */
  private downBoundMs = 0;
  private probing?: Promise<void>;
  private readonly counts: XsOpCounts = {};

  constructor(private readonly xen: XenNative, private readonly o: XenStoreOptions = {}) {}

  /** The requests this client has sent so far, by kind (a copy): for tests and for a create's debug log. */
  opCounts(): XsOpCounts {
    return { ...this.counts };
  }

  private count(ops: readonly XsWireOp[], transaction: boolean): void {
    const c = this.counts;
    for (const o of ops) c[o.op] = (c[o.op] ?? 0) + 1;
    if (transaction) {
      c.transaction_start = (c.transaction_start ?? 0) + 1;
      c.transaction_end = (c.transaction_end ?? 0) + 1;
    }
  }

  /**
   * Whether xenstored answers within `timeoutMs` (true when there is no probe, or it cannot tell).
   * For callers to whom XenStore is optional (names of domains other toolstacks made).
   */
  async reachable(timeoutMs = this.o.probeTimeoutMs ?? 5000): Promise<boolean> {
    if (!this.o.probe) return true;
    if (Date.now() - this.probedAt < PROBE_TTL_MS) return true;
    // A 'down' is believed briefly too: several optional reads in a row wait for the probe once.
    // (A loaded xenstored may take more than an optional probe's 1.5 s: that 'down' must not fail a create.)
    if (Date.now() - this.downAt < DOWN_TTL_MS && this.downBoundMs >= timeoutMs) return false;
    const r = await this.o.probe(timeoutMs);
    if (r === 'down') { this.downAt = Date.now(); this.downBoundMs = timeoutMs; return false; }
    this.probedAt = Date.now();
    return true;
  }

  private gate(): Promise<void> {
    if (!this.o.probe || Date.now() - this.probedAt < PROBE_TTL_MS) return Promise.resolve();
    this.probing ??= (async () => {
      try {
        const t = this.o.probeTimeoutMs ?? 5000;
        if (!(await this.reachable(t))) {
          throw new ChaosError('XENSTORE', `xenstored is not answering (its socket refused the connection or nothing answered within ${(t / 1000).toFixed(0)} s): start xenstored, or use dev_method "noxs", which does not need it`);
        }
      } finally {
        this.probing = undefined;
      }
    })();
    return this.probing;
  }

  private async run(ops: XsWireOp[], transaction: boolean, pipelined = false): Promise<XsBatchResult> {
    await this.gate();
    if (transaction && ops.some((o) => o.op === 'introduce')) throw new ChaosError('INTERNAL', 'a domain is introduced to xenstored outside a transaction');
    this.count(ops, transaction);
    try {
      const r = await bounded(this.send(ops, transaction, pipelined), this.o.timeoutMs ?? 0, `a ${transaction ? 'transaction' : 'request'} of ${ops.length} operation${ops.length === 1 ? '' : 's'}`);
      // An answer is as good as a probe: a busy process (chaosd) does not probe again while calls succeed
      // (a probe is a new connection to xenstored, hundreds of ms in the lab, on a create's path).
      if (this.o.probe) this.probedAt = Date.now();
      return r;
    } catch (err) {
      // Probe again before the next call: xenstored may have stopped.
      this.probedAt = 0;
      throw err;
    }
  }

  /** The wire client takes every op in one batch; the addon takes an introduction as a call of its own, in its place in the order. */
  private async send(ops: XsWireOp[], transaction: boolean, pipelined: boolean): Promise<XsBatchResult> {
    if (this.o.transport) return this.o.transport.xsBatch(ops, transaction, pipelined);
    const results: XsResult[] = [];
    for (let i = 0; i < ops.length;) {
      const op = ops[i];
      if (op.op === 'introduce') {
        await this.xen.xsIntroduceDomain(op.domid, op.mfn, op.port);
        results.push(undefined);
        i++;
        continue;
      }
      let j = i;
      while (j < ops.length && ops[j].op !== 'introduce') j++;
      const r = await this.xen.xsBatch(ops.slice(i, j) as XsOp[], transaction);
      if (!r.committed) return r;
      results.push(...r.results);
      i = j;
    }
    return { committed: true, results };
  }

  /** Runs `build`'s operations atomically; re-runs the whole batch when another writer got in first. */
  async transaction(build: (b: XsBatch) => void): Promise<XsResult[]> {
    for (let i = 0; i < MAX_TRIES; i++) {
      const b = new XsBatch();
      build(b);
      const r = await this.run(b.ops, true);
      if (r.committed) return r.results;
    }
    throw new ChaosError('XENSTORE', `a XenStore transaction conflicted ${MAX_TRIES} times in a row; XenStore is overloaded`);
  }

  /** Runs operations one by one, outside any transaction (reads of a consistent-enough view). */
  async batch(build: (b: XsBatch) => void): Promise<XsResult[]> {
    const b = new XsBatch();
    build(b);
    return (await this.run(b.ops, false)).results;
  }

  /**
   * Runs operations outside any transaction, all sent at once (one round trip over the wire client),
   * applied by xenstored in order. On failure it throws the first failure, but operations after it may
   * have been applied: for callers that remove everything the batch wrote when it fails (a create).
   */
  async pipeline(build: (b: XsBatch) => void): Promise<XsResult[]> {
    const b = new XsBatch();
    build(b);
    return (await this.run(b.ops, false, true)).results;
  }

  async read(path: string): Promise<string | undefined> {
    const [v] = await this.batch((b) => b.read(path));
    return typeof v === 'string' ? v : undefined;
  }

  async directory(path: string): Promise<string[]> {
    const [v] = await this.batch((b) => b.directory(path));
    return Array.isArray(v) ? (v as string[]) : [];
  }

  async write(path: string, value: string | number): Promise<void> {
    await this.batch((b) => b.write(path, value));
  }

  async rm(path: string): Promise<void> {
    await this.batch((b) => b.rm(path));
  }
}
